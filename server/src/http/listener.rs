//! The listeners: accept loop, TLS handshake, HTTP/1.1 and HTTP/2 serving, graceful shutdown.
//!
//! Every request gets a [`ConnectionInfo`] and a [`ClientCertificate`] in its extensions. This is
//! the one place the client certificate is resolved: from a trusted proxy's RFC 9440 headers, or
//! from the TLS connection. The raw `Client-Cert` / `Client-Cert-Chain` headers never reach the
//! router, so nothing downstream can trust a header by mistake.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::client_cert::{
    CLIENT_CERT, CLIENT_CERT_CHAIN, CertificateSource, ClientCertificate, PeerCertificate,
    from_proxy_headers,
};

/// The connection a request arrived on.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    /// The TCP peer (the proxy, behind one).
    pub peer_addr: SocketAddr,
    /// `TLSv1.2` or `TLSv1.3`; `None` on a plain listener.
    pub tls_version: Option<&'static str>,
    /// The IANA name of the negotiated suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
}

/// How a listener behaves.
#[derive(Clone, Debug)]
pub struct ListenerOptions {
    /// `public`, `mtls` or `admin`: for logs.
    pub name: &'static str,
    /// Peers whose RFC 9440 `Client-Cert` headers are believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Time in-flight requests get to finish after shutdown is requested.
    pub shutdown_grace: Duration,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            name: "public",
            trusted_proxies: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl ListenerOptions {
    pub fn named(name: &'static str) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }
}

/// Serves `router` over TLS until `shutdown` completes, then stops accepting, lets in-flight
/// requests finish (at most `shutdown_grace`) and returns.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    options: ListenerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve(
        listener,
        Some(TlsAcceptor::from(tls)),
        router,
        options,
        shutdown,
    )
    .await
}

/// [`serve_tls`] without TLS, for the local admin port (metrics, health).
pub async fn serve_plain(
    listener: TcpListener,
    router: Router,
    options: ListenerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve(listener, None, router, options, shutdown).await
}

struct Shared {
    router: Router,
    options: ListenerOptions,
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    options: ListenerOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let local_addr = listener.local_addr()?;
    let name = options.name;
    let shared = Arc::new(Shared { router, options });
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(listener = name, addr = %local_addr, tls = acceptor.is_some(), "listening");

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(finished) = connections.join_next() => {
                if let Err(e) = finished
                    && e.is_panic()
                {
                    tracing::error!(listener = name, "a connection task panicked");
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer_addr)) => {
                    let task = connection(tcp, peer_addr, acceptor.clone(), Arc::clone(&shared), graceful.watcher());
                    connections.spawn(task);
                }
                Err(e) if is_connection_error(&e) => {
                    tracing::debug!(listener = name, error = %e, "accept failed for one connection");
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::error!(listener = name, error = %e, "accept failed; retrying in a second");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            },
        }
    }

    drop(listener);
    tracing::info!(
        listener = name,
        open = connections.len(),
        "shutting down: no new connections"
    );
    let grace = shared.options.shutdown_grace;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            open = connections.len(),
            ?grace,
            "closing connections still open after the grace period"
        );
    }
    connections.shutdown().await;
    tracing::info!(listener = name, "stopped");
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One connection: the TLS handshake (bounded), then HTTP until the peer or shutdown ends it.
async fn connection(
    tcp: TcpStream,
    peer_addr: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    watcher: Watcher,
) {
    let name = shared.options.name;
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = acceptor else {
        let info = ConnectionInfo {
            peer_addr,
            tls_version: None,
            cipher_suite: None,
        };
        return serve_connection(TokioIo::new(tcp), info, None, &shared, watcher).await;
    };

    let stream =
        match tokio::time::timeout(shared.options.handshake_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(listener = name, %peer_addr, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(listener = name, %peer_addr, "TLS handshake timed out");
                return;
            }
        };
    let (_, session) = stream.get_ref();
    let info = ConnectionInfo {
        peer_addr,
        tls_version: session.protocol_version().map(version_name),
        cipher_suite: session.negotiated_cipher_suite().map(|s| {
            let suite = s.suite();
            suite
                .as_str()
                .map_or_else(|| format!("{suite:?}"), str::to_owned)
        }),
    };
    let certificate = session.peer_certificates().and_then(|chain| match PeerCertificate::from_chain(chain.to_vec()) {
        Ok(certificate) => Some(Arc::new(certificate)),
        Err(e) => {
            // The verifier only accepts chains that parse, so this does not happen.
            tracing::warn!(listener = name, %peer_addr, error = %e, "ignoring an unreadable client certificate");
            None
        }
    });
    serve_connection(TokioIo::new(stream), info, certificate, &shared, watcher).await;
}

fn version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        other => other.as_str().unwrap_or("unknown"),
    }
}

/// What every request of one connection shares.
struct ConnectionContext {
    name: &'static str,
    info: ConnectionInfo,
    tls_certificate: Option<Arc<PeerCertificate>>,
    trusted_proxy: bool,
}

async fn serve_connection<I>(
    io: TokioIo<I>,
    info: ConnectionInfo,
    tls_certificate: Option<Arc<PeerCertificate>>,
    shared: &Shared,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer_ip = info.peer_addr.ip().to_canonical();
    let context = Arc::new(ConnectionContext {
        name: shared.options.name,
        trusted_proxy: shared
            .options
            .trusted_proxies
            .iter()
            .any(|p| p.to_canonical() == peer_ip),
        info,
        tls_certificate,
    });
    let router = shared.router.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        let certificate = resolve_certificate(&mut request, &context);
        request.extensions_mut().insert(context.info.clone());
        request.extensions_mut().insert(certificate);
        router.clone().oneshot(request)
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    if let Err(e) = watcher.watch(builder.serve_connection(io, service)).await {
        tracing::debug!(listener = shared.options.name, error = %e, "connection ended with an error");
    }
}

/// The certificate of a request, and the removal of the RFC 9440 headers. On a connection from a
/// trusted proxy only the proxy's `Client-Cert` header counts: the TLS certificate of that
/// connection is the proxy's own, never the client's, so no header means no certificate. From
/// any other peer only the TLS connection's certificate counts and the headers are dropped.
fn resolve_certificate(
    request: &mut Request<Body>,
    context: &ConnectionContext,
) -> ClientCertificate {
    let headers = request.headers_mut();
    let carries_header =
        headers.contains_key(CLIENT_CERT) || headers.contains_key(CLIENT_CERT_CHAIN);
    let resolved = if context.trusted_proxy {
        let certificate = match from_proxy_headers(headers) {
            Ok(certificate) => certificate.map(Arc::new),
            Err(e) => {
                tracing::warn!(listener = context.name, peer = %context.info.peer_addr, error = %e, "ignoring a malformed client certificate header from a trusted proxy");
                None
            }
        };
        ClientCertificate {
            certificate,
            source: CertificateSource::ProxyHeader,
        }
    } else {
        if carries_header {
            tracing::debug!(listener = context.name, peer = %context.info.peer_addr, "dropping client certificate headers from a peer that is not a trusted proxy");
        }
        ClientCertificate {
            certificate: context.tls_certificate.clone(),
            source: CertificateSource::Tls,
        }
    };
    headers.remove(CLIENT_CERT);
    headers.remove(CLIENT_CERT_CHAIN);
    resolved
}
