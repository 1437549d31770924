//! TLS listeners on real sockets: FAPI cipher suites and versions, optional client certificates,
//! RFC 9440 proxy headers, graceful shutdown, and the local PKI.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use consentry_server::clock::{Clock as _, SystemClock};
use consentry_server::http::client_cert::ClientCertificate;
use consentry_server::http::listener::{ConnectionInfo, ListenerOptions, serve_tls};
use consentry_server::tls::local_ca::{
    ClientSubject, LocalPki, ensure_local_pki, issue_client_certificate,
};
use consentry_server::tls::{self, ClientAuth, TlsMaterial};
use http::HeaderMap;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::support;

/// A generous bound so that a bug fails the test instead of hanging it; never a synchronisation.
const BOUND: Duration = Duration::from_secs(20);

fn now() -> i64 {
    SystemClock.now()
}

fn make_pki() -> (tempfile::TempDir, LocalPki) {
    support::init();
    let dir = tempfile::tempdir().unwrap();
    let pki = ensure_local_pki(
        &dir.path().join("tls"),
        &["consentry.test".to_owned()],
        now(),
    )
    .unwrap();
    (dir, pki)
}

/// A client certificate and key (PEM) from the local CA.
fn client_identity(pki: &LocalPki, common_name: &str) -> (String, String) {
    let subject = ClientSubject {
        common_name: common_name.to_owned(),
        organization: Some("Acme TPP Ltd".to_owned()),
        organizational_unit: Some("0015800001041RbAAI".to_owned()),
        country: Some("GB".to_owned()),
        dns_names: vec!["tpp.example".to_owned()],
    };
    issue_client_certificate(pki, &subject, now()).unwrap()
}

fn der_of(cert_pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()
}

fn thumbprint(cert_pem: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(der_of(cert_pem).as_ref()))
}

fn sf_bytes(der: &[u8]) -> String {
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

/// Reports what the listener resolved for the request.
async fn whoami(
    certificate: ClientCertificate,
    Extension(info): Extension<ConnectionInfo>,
    headers: HeaderMap,
) -> Json<Value> {
    let cert = certificate.certificate.as_deref();
    Json(json!({
        "subject": cert.map_or("none", |c| c.subject_dn()),
        "thumbprint": cert.map_or("none", |c| c.thumbprint_sha256()),
        "chain_len": cert.map_or(0, |c| c.chain().len()),
        "source": certificate.source.as_str(),
        "tls_version": info.tls_version,
        "cipher_suite": info.cipher_suite,
        "saw_cert_headers": headers.contains_key("client-cert") || headers.contains_key("client-cert-chain"),
    }))
}

struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl TestServer {
    async fn start(
        tls: Arc<rustls::ServerConfig>,
        router: Router,
        options: ListenerOptions,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_tls(listener, tls, router, options, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    async fn whoami(pki: &LocalPki, options: ListenerOptions) -> Self {
        let config = tls::server_config(&pki.server, ClientAuth::Request).unwrap();
        Self::start(config, Router::new().route("/whoami", get(whoami)), options).await
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(BOUND, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

struct ClientOptions<'a> {
    identity: Option<&'a (String, String)>,
    suites: Option<Vec<SupportedCipherSuite>>,
    versions: &'a [&'static SupportedProtocolVersion],
    alpn: &'a [&'a [u8]],
}

impl Default for ClientOptions<'_> {
    fn default() -> Self {
        Self {
            identity: None,
            suites: None,
            versions: rustls::DEFAULT_VERSIONS,
            alpn: &[b"http/1.1"],
        }
    }
}

fn client_config(pki: &LocalPki, options: &ClientOptions<'_>) -> rustls::ClientConfig {
    let mut provider = aws_lc_rs::default_provider();
    if let Some(suites) = &options.suites {
        provider.cipher_suites.clone_from(suites);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der_of(&pki.ca_cert_pem)).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(options.versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match options.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![der_of(cert)],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = options.alpn.iter().map(|p| p.to_vec()).collect();
    config
}

fn http_client(config: rustls::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .unwrap()
}

async fn get_json(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
) -> (reqwest::Version, Value) {
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = tokio::time::timeout(BOUND, request.send())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let version = response.version();
    (version, response.json().await.unwrap())
}

#[tokio::test]
async fn the_mtls_listener_reports_the_client_certificate_when_one_is_presented() {
    let (_dir, pki) = make_pki();
    let server = TestServer::whoami(&pki, ListenerOptions::named("mtls")).await;
    let identity = client_identity(&pki, "tpp-1");

    // With a certificate, over HTTP/2.
    let with_cert = http_client(client_config(
        &pki,
        &ClientOptions {
            identity: Some(&identity),
            alpn: &[b"h2", b"http/1.1"],
            ..Default::default()
        },
    ));
    let (version, body) = get_json(&with_cert, &server.url("/whoami"), &[]).await;
    assert_eq!(version, reqwest::Version::HTTP_2);
    assert_eq!(
        body["subject"],
        "C=GB, O=Acme TPP Ltd, OU=0015800001041RbAAI, CN=tpp-1"
    );
    assert_eq!(body["thumbprint"], thumbprint(&identity.0));
    assert_eq!(body["source"], "tls");
    assert_eq!(body["chain_len"], 1);
    assert_eq!(body["tls_version"], "TLSv1.3");

    // Without one the handshake still completes, over HTTP/1.1.
    let without_cert = http_client(client_config(&pki, &ClientOptions::default()));
    let (version, body) = get_json(&without_cert, &server.url("/whoami"), &[]).await;
    assert_eq!(version, reqwest::Version::HTTP_11);
    assert_eq!(body["subject"], "none");
    assert_eq!(body["thumbprint"], "none");

    server.stop().await;
}

#[tokio::test]
async fn the_public_listener_does_not_ask_for_a_certificate() {
    let (_dir, pki) = make_pki();
    let config = tls::server_config(&pki.server, ClientAuth::None).unwrap();
    let server = TestServer::start(
        config,
        Router::new().route("/whoami", get(whoami)),
        ListenerOptions::default(),
    )
    .await;
    let identity = client_identity(&pki, "tpp-1");
    let client = http_client(client_config(
        &pki,
        &ClientOptions {
            identity: Some(&identity),
            ..Default::default()
        },
    ));
    let (_, body) = get_json(&client, &server.url("/whoami"), &[]).await;
    assert_eq!(body["subject"], "none");
    server.stop().await;
}

#[tokio::test]
async fn tls12_allows_only_the_fapi_suites_and_tls13_works() {
    let (_dir, pki) = make_pki();
    let server = TestServer::whoami(&pki, ListenerOptions::named("mtls")).await;
    let identity = client_identity(&pki, "tpp-12");

    for suite in [
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ] {
        let client = http_client(client_config(
            &pki,
            &ClientOptions {
                identity: Some(&identity),
                suites: Some(vec![suite]),
                versions: &[&rustls::version::TLS12],
                ..Default::default()
            },
        ));
        let (_, body) = get_json(&client, &server.url("/whoami"), &[]).await;
        assert_eq!(body["tls_version"], "TLSv1.2");
        assert_eq!(body["cipher_suite"], suite.suite().as_str().unwrap());
        // The TLS 1.2 CertificateVerify was checked with the client's key, and the certificate seen.
        assert_eq!(body["thumbprint"], thumbprint(&identity.0));
    }

    for suite in [
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ] {
        let config = client_config(
            &pki,
            &ClientOptions {
                suites: Some(vec![suite]),
                versions: &[&rustls::version::TLS12],
                ..Default::default()
            },
        );
        let tcp = TcpStream::connect(server.addr).await.unwrap();
        let connected = tokio::time::timeout(
            BOUND,
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(ServerName::try_from("localhost").unwrap(), tcp),
        )
        .await
        .unwrap();
        let error = connected
            .err()
            .unwrap_or_else(|| panic!("{:?} was negotiated", suite.suite()));
        assert!(error.to_string().contains("HandshakeFailure"), "{error}");
    }

    let tls13 = http_client(client_config(
        &pki,
        &ClientOptions {
            versions: &[&rustls::version::TLS13],
            ..Default::default()
        },
    ));
    let (_, body) = get_json(&tls13, &server.url("/whoami"), &[]).await;
    assert_eq!(body["tls_version"], "TLSv1.3");
    assert!(body["cipher_suite"].as_str().unwrap().starts_with("TLS13_"));

    server.stop().await;
}

#[tokio::test]
async fn only_tls12_and_tls13_are_enabled() {
    let versions: Vec<_> = tls::PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
    assert_eq!(
        versions,
        [
            rustls::ProtocolVersion::TLSv1_3,
            rustls::ProtocolVersion::TLSv1_2
        ]
    );

    // rustls clients cannot offer TLS 1.0/1.1; OpenSSL can, where it is installed.
    let Ok(openssl) = which("openssl") else {
        eprintln!("SKIPPING the TLS 1.1 handshake: no openssl binary");
        return;
    };
    let (_dir, pki) = make_pki();
    let server = TestServer::whoami(&pki, ListenerOptions::named("mtls")).await;
    let run = |args: &[&str]| {
        let mut command = tokio::process::Command::new(&openssl);
        command
            .args([
                "s_client",
                "-connect",
                &server.addr.to_string(),
                "-servername",
                "localhost",
            ])
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        async move {
            tokio::time::timeout(BOUND, command.output())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let tls11 = run(&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]).await;
    let tls11_text = String::from_utf8_lossy(&tls11.stderr).to_string()
        + &String::from_utf8_lossy(&tls11.stdout);
    assert!(
        !tls11.status.success(),
        "TLS 1.1 was accepted: {tls11_text}"
    );
    // rustls answers a ClientHello without TLS 1.2 or 1.3 with a fatal alert.
    assert!(
        tls11_text.contains("alert handshake failure")
            || tls11_text.contains("alert protocol version"),
        "{tls11_text}"
    );
    // The same tool with TLS 1.2 succeeds, so the failure above is the server's refusal.
    let tls12 = run(&["-tls1_2"]).await;
    assert!(
        tls12.status.success(),
        "{}",
        String::from_utf8_lossy(&tls12.stderr)
    );
    server.stop().await;
}

fn which(binary: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(binary))
        .find(|path| path.is_file())
        .ok_or(())
}

/// Presents someone else's certificate with its own key: the CertificateVerify signature fails.
#[tokio::test]
async fn a_certificate_without_its_private_key_is_refused() {
    #[derive(Debug)]
    struct Impostor(Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Impostor {
        fn resolve(
            &self,
            _: &[&[u8]],
            _: &[rustls::SignatureScheme],
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(Arc::clone(&self.0))
        }
        fn has_certs(&self) -> bool {
            true
        }
    }

    let (_dir, pki) = make_pki();
    let server = TestServer::whoami(&pki, ListenerOptions::named("mtls")).await;
    let (victim_cert, _) = client_identity(&pki, "victim");
    let (_, impostor_key) = client_identity(&pki, "impostor");
    let provider = Arc::new(aws_lc_rs::default_provider());
    let key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::from_pem_slice(impostor_key.as_bytes()).unwrap())
        .unwrap();
    let certified = Arc::new(rustls::sign::CertifiedKey::new(
        vec![der_of(&victim_cert)],
        key,
    ));

    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der_of(&pki.ca_cert_pem)).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(Impostor(Arc::clone(&certified))));
        let result =
            tokio::time::timeout(BOUND, http_client(config).get(server.url("/whoami")).send())
                .await
                .unwrap();
        assert!(
            result.is_err(),
            "{:?}: the impostor got a response",
            version.version
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn client_cert_headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
    let (_dir, pki) = make_pki();
    let tls_identity = client_identity(&pki, "tls-client");
    let (forwarded_cert, _) = client_identity(&pki, "forwarded-client");
    let forwarded = vec![
        ("client-cert", sf_bytes(der_of(&forwarded_cert).as_ref())),
        (
            "client-cert-chain",
            sf_bytes(der_of(&pki.ca_cert_pem).as_ref()),
        ),
    ];
    let no_cert = http_client(client_config(&pki, &ClientOptions::default()));
    let with_cert = http_client(client_config(
        &pki,
        &ClientOptions {
            identity: Some(&tls_identity),
            ..Default::default()
        },
    ));

    // Not a trusted proxy: the headers are dropped before the router and never believed.
    let server = TestServer::whoami(&pki, ListenerOptions::named("mtls")).await;
    let (_, body) = get_json(&no_cert, &server.url("/whoami"), &forwarded).await;
    assert_eq!(
        (body["subject"].as_str(), body["source"].as_str()),
        (Some("none"), Some("tls"))
    );
    assert_eq!(body["saw_cert_headers"], false);
    let (_, body) = get_json(&with_cert, &server.url("/whoami"), &forwarded).await;
    assert_eq!(body["thumbprint"], thumbprint(&tls_identity.0));
    assert_eq!(body["source"], "tls");
    assert_eq!(body["saw_cert_headers"], false);
    server.stop().await;

    // 127.0.0.1 trusted: the forwarded certificate and chain count.
    let options = ListenerOptions {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..ListenerOptions::named("mtls")
    };
    let server = TestServer::whoami(&pki, options).await;
    let (_, body) = get_json(&with_cert, &server.url("/whoami"), &forwarded).await;
    assert_eq!(
        body["subject"],
        "C=GB, O=Acme TPP Ltd, OU=0015800001041RbAAI, CN=forwarded-client"
    );
    assert_eq!(body["thumbprint"], thumbprint(&forwarded_cert));
    assert_eq!(body["chain_len"], 2);
    assert_eq!(body["source"], "proxy_header");
    assert_eq!(body["saw_cert_headers"], false);

    // Without the header there is no certificate: the TLS certificate of a proxy's connection
    // is the proxy's own and is never credited to the client.
    let (_, body) = get_json(&with_cert, &server.url("/whoami"), &[]).await;
    assert_eq!(
        (body["subject"].as_str(), body["source"].as_str()),
        (Some("none"), Some("proxy_header"))
    );

    // A malformed header from the proxy means no certificate, not an error page.
    for bad in [":not base64!:", ":YWJj:", "plain"] {
        let (_, body) = get_json(
            &with_cert,
            &server.url("/whoami"),
            &[("client-cert", bad.to_owned())],
        )
        .await;
        assert_eq!(
            (body["subject"].as_str(), body["source"].as_str()),
            (Some("none"), Some("proxy_header")),
            "{bad}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_then_refuses_connections() {
    let (_dir, pki) = make_pki();
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let router = Router::new().route(
        "/slow",
        get({
            let (entered, release) = (Arc::clone(&entered), Arc::clone(&release));
            move || async move {
                entered.notify_one();
                release.notified().await;
                "finished after shutdown"
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, triggered) = oneshot::channel::<()>();
    let (seen_tx, seen) = oneshot::channel::<()>();
    let config = tls::server_config(&pki.server, ClientAuth::Request).unwrap();
    let server = tokio::spawn(serve_tls(
        listener,
        config,
        router,
        ListenerOptions::default(),
        async move {
            let _ = triggered.await;
            let _ = seen_tx.send(());
        },
    ));

    let client = http_client(client_config(&pki, &ClientOptions::default()));
    let url = format!("https://127.0.0.1:{}/slow", addr.port());
    let request = tokio::spawn(async move { client.get(url).send().await?.text().await });
    tokio::time::timeout(BOUND, entered.notified())
        .await
        .unwrap();

    trigger.send(()).unwrap();
    tokio::time::timeout(BOUND, seen).await.unwrap().unwrap();
    // On this single-threaded runtime the server closed its listener before yielding.
    let refused = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    assert!(
        !server.is_finished(),
        "the server returned while a request was in flight"
    );

    release.notify_one();
    let body = tokio::time::timeout(BOUND, request)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(body, "finished after shutdown");
    tokio::time::timeout(BOUND, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        TcpStream::connect(addr).await.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

#[tokio::test]
async fn the_shutdown_grace_bounds_the_wait_for_a_stuck_request() {
    let (_dir, pki) = make_pki();
    let entered = Arc::new(Notify::new());
    let router = Router::new().route(
        "/stuck",
        get({
            let entered = Arc::clone(&entered);
            move || async move {
                entered.notify_one();
                std::future::pending::<()>().await;
            }
        }),
    );
    let options = ListenerOptions {
        shutdown_grace: Duration::from_millis(200),
        ..ListenerOptions::default()
    };
    let server = TestServer::start(
        tls::server_config(&pki.server, ClientAuth::None).unwrap(),
        router,
        options,
    )
    .await;
    let client = http_client(client_config(&pki, &ClientOptions::default()));
    let request = tokio::spawn(client.get(server.url("/stuck")).send());
    tokio::time::timeout(BOUND, entered.notified())
        .await
        .unwrap();
    server.stop().await;
    assert!(
        tokio::time::timeout(BOUND, request)
            .await
            .unwrap()
            .unwrap()
            .is_err()
    );
}

#[test]
fn the_local_pki_is_made_once_and_never_overwritten() {
    let (dir, pki) = make_pki();
    let tls_dir = dir.path().join("tls");
    assert_eq!(pki.dir, tls_dir);
    assert!(pki.ca_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let read_all = || {
        ["ca.crt", "ca.key", "server.crt", "server.key"]
            .map(|f| std::fs::read(tls_dir.join(f)).unwrap())
    };
    let before = read_all();

    let again = ensure_local_pki(&tls_dir, &["other.test".to_owned()], now()).unwrap();
    assert_eq!(again.ca_cert_pem, pki.ca_cert_pem);
    assert_eq!(again.server.cert_chain, pki.server.cert_chain[..1]);
    assert_eq!(read_all(), before);

    use std::os::unix::fs::PermissionsExt as _;
    for key in ["ca.key", "server.key"] {
        let mode = std::fs::metadata(tls_dir.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }

    // The server certificate: issued by the local CA, for the names asked and the loopback ones.
    let leaf = consentry_server::http::client_cert::PeerCertificate::from_chain(
        pki.server.cert_chain.clone(),
    )
    .unwrap();
    assert!(
        leaf.issuer_dn().ends_with("CN=Consentry Local CA"),
        "{}",
        leaf.issuer_dn()
    );
    assert_eq!(
        leaf.san_dns(),
        ["consentry.test".to_owned(), "localhost".to_owned()]
    );
    let ips: Vec<String> = leaf.san_ips().iter().map(ToString::to_string).collect();
    assert_eq!(ips, ["127.0.0.1", "::1"]);
    let years = (leaf.not_after() - leaf.not_before()) / (365 * 24 * 3600);
    assert_eq!(years, 2);
}

#[test]
fn a_partial_local_pki_is_an_error_naming_what_is_missing() {
    let (dir, _pki) = make_pki();
    let tls_dir = dir.path().join("tls");
    std::fs::remove_file(tls_dir.join("server.key")).unwrap();
    let error = ensure_local_pki(&tls_dir, &[], now())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("server.key") && error.contains("missing"),
        "{error}"
    );
    assert!(
        !tls_dir.join("server.key").exists(),
        "the key was regenerated"
    );
}

#[test]
fn a_corrupt_local_pki_file_is_an_error_naming_the_file() {
    let (dir, _pki) = make_pki();
    let tls_dir = dir.path().join("tls");
    std::fs::write(tls_dir.join("ca.key"), "not a key").unwrap();
    let error = ensure_local_pki(&tls_dir, &[], now())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&tls_dir.join("ca.key").display().to_string()),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(tls_dir.join("ca.key")).unwrap(),
        "not a key"
    );
}

#[test]
fn load_pem_files_names_the_file_and_the_cause() {
    support::init();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let error = tls::load_pem_files(&missing, &missing)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "cannot read TLS certificate {}: No such file or directory",
            missing.display()
        )
    );

    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let error = TlsMaterial::load_pem_files(&empty, &empty)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "TLS certificate {} contains no certificate",
            empty.display()
        )
    );

    let (_pki_dir, pki) = make_pki();
    let cert_only = dir.path().join("cert.pem");
    std::fs::write(&cert_only, &pki.ca_cert_pem).unwrap();
    let error = TlsMaterial::load_pem_files(&cert_only, &cert_only)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "TLS private key {} contains no private key",
            cert_only.display()
        )
    );
}

#[test]
fn the_server_certificate_must_be_rsa() {
    support::init();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let material = TlsMaterial {
        cert_chain: vec![cert.der().clone()],
        key: PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
    };
    let error = tls::server_config(&material, ClientAuth::None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("must be RSA"), "{error}");
}
