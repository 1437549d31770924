//! Start-up and shutdown of `consentry serve`: data directory, database, master key, signing keys,
//! TLS material, the three listeners, background clean-up, and a graceful stop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::app::{App, AppState};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::http::listener::{ListenerOptions, serve_plain, serve_tls};
use crate::http::routes;
use crate::keys::{KeyManager, KeyPolicy, open_master_key};
use crate::protocol::client_auth::ClientTrust;
use crate::store::{ConnectOptions, SessionRecordStore as _, Store, ThrottleStore as _};
use crate::tls::local_ca::{LocalPki, ensure_local_pki};
use crate::tls::{ClientAuth, TlsMaterial, load_pem_files, server_config};

/// A start-up failure: one line naming the cause.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {path}: {cause}")]
    DataDir {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot open the database (storage.database_url): {0}")]
    Database(String),
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot listen on {addr} ({key}): {cause}")]
    Bind {
        addr: SocketAddr,
        key: &'static str,
        cause: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// Everything prepared before the listeners open.
pub struct Prepared {
    pub state: AppState,
    pub tls: TlsMaterial,
    /// The generated local PKI, when no certificate was configured.
    pub local_pki: Option<LocalPki>,
    /// Signing keys created by this start (first start).
    pub created_keys: Vec<String>,
    /// Pushes event notifications; its worker runs while the server does.
    pub events: Arc<crate::events::delivery::Deliverer>,
}

impl Prepared {
    /// Replaces the SMS gateway before the server starts (the demo's console phone). False if the
    /// state is already shared.
    pub fn set_sms_gateway(&mut self, sms: crate::sca::sms::SharedSmsGateway) -> bool {
        match Arc::get_mut(&mut self.state.0) {
            Some(app) => {
                app.sms = Some(sms);
                true
            }
            None => false,
        }
    }
}

/// Opens the database (applying migrations) and nothing else: for commands that only need data.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    ensure_data_dir(&config.storage.data_dir)?;
    let options = ConnectOptions {
        max_connections: config.storage.max_connections,
        sqlite_synchronous: config.storage.sqlite_synchronous,
        ..ConnectOptions::default()
    };
    Store::open(&config.database_url(), &options)
        .await
        .map_err(|e| StartError::Database(e.to_string()))
}

fn ensure_data_dir(dir: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(dir).map_err(|cause| StartError::DataDir {
        path: dir.to_owned(),
        cause,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // The directory holds the master key file and private keys: owner only.
        if let Ok(meta) = std::fs::metadata(dir)
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    Ok(())
}

pub fn key_policy(config: &Config) -> KeyPolicy {
    KeyPolicy {
        rsa_bits: config.keys.rsa_bits,
        publish_lead: config.keys.publish_lead_secs,
        max_signed_lifetime: config.tokens.max_signed_lifetime(),
        cache_ttl: config.keys.cache_secs,
    }
}

/// Opens the store and the master key and returns the key manager, for `consentry keys`.
pub async fn open_keys(
    config: &Config,
    clock: SharedClock,
) -> Result<(Store, Arc<KeyManager>), StartError> {
    let store = open_store(config).await?;
    let master = open_master_key(
        &store,
        config.keys.master_key.as_ref().map(|s| s.expose()),
        &config.storage.data_dir.join("master.key"),
    )
    .await?;
    let keys = Arc::new(KeyManager::new(
        store.clone(),
        master,
        key_policy(config),
        clock,
    ));
    Ok((store, keys))
}

/// Prepares a server: database, master key, signing keys (created on first start), TLS material
/// (configured files, or the local PKI generated on first start).
pub async fn prepare(config: Config, clock: SharedClock) -> Result<Prepared, StartError> {
    // TLS files first: an unreadable certificate should stop start-up before anything is written.
    let configured_tls = match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert), Some(key)) => Some(load_pem_files(cert, key)?),
        _ => None,
    };
    let (store, keys) = open_keys(&config, clock.clone()).await?;
    let created_keys = keys.ensure_keys().await?;
    let (tls, local_pki) = match configured_tls {
        Some(material) => (material, None),
        None => {
            let mut names = vec![
                config
                    .server
                    .issuer
                    .host_str()
                    .unwrap_or("localhost")
                    .to_owned(),
            ];
            if let Some(host) = config.mtls_base_url().host_str() {
                names.push(host.to_owned());
            }
            let pki = ensure_local_pki(&config.storage.data_dir.join("tls"), &names, clock.now())?;
            (pki.server.clone(), Some(pki))
        }
    };
    let passwords = App::password_hasher(&config)
        .map_err(|e| StartError::Config(format!("login.argon2_*: {e}")))?;
    let anchors = trust_anchors(&config, local_pki.as_ref())?;
    let trust = ClientTrust::new(anchors.clone())
        .map_err(|e| StartError::Config(format!("tls.client_ca_files: {e}")))?;
    let events = Arc::new(crate::events::delivery::Deliverer::new(
        &config.events,
        anchors,
    ));
    let state = App::new(config, store, keys, clock, passwords)
        .with_client_trust(trust)
        .into_state();
    Ok(Prepared {
        state,
        tls,
        local_pki,
        created_keys,
        events,
    })
}

/// The anchors `tls_client_auth` certificates must chain to: the local CA (its own, or the one a
/// previous start generated) and the configured `tls.client_ca_files`. Event notification
/// callbacks are trusted when served with their certificates too.
fn trust_anchors(
    config: &Config,
    local: Option<&LocalPki>,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, StartError> {
    use rustls_pki_types::pem::PemObject as _;
    let mut anchors = Vec::new();
    let local_ca = config.storage.data_dir.join("tls").join("ca.crt");
    let mut files: Vec<PathBuf> = config.tls.client_ca_files.clone();
    if local.is_some() || local_ca.exists() {
        files.push(local_ca);
    }
    for file in files {
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(&file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                StartError::Config(format!(
                    "tls.client_ca_files: cannot read {}: {e}",
                    file.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(StartError::Config(format!(
                "tls.client_ca_files: {} holds no certificate",
                file.display()
            )));
        }
        anchors.extend(certs);
    }
    Ok(anchors)
}

/// The listening sockets, bound before anything is served. The resource API listener is bound
/// only by a process that serves the resource APIs (see [`start_with`]).
pub struct Listeners {
    pub public: TcpListener,
    pub mtls: TcpListener,
    pub admin: TcpListener,
    pub resource: Option<TcpListener>,
}

impl Listeners {
    /// Binds the configured addresses; a port in use names the address and its configuration key.
    pub async fn bind(config: &Config) -> Result<Listeners, StartError> {
        let s = &config.server;
        Ok(Listeners {
            public: bind(s.public_addr, "server.public_addr").await?,
            mtls: bind(s.mtls_addr, "server.mtls_addr").await?,
            admin: bind(s.admin_addr, "server.admin_addr").await?,
            resource: Some(bind(s.resource_addr, "server.resource_addr").await?),
        })
    }
}

async fn bind(addr: SocketAddr, key: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|cause| StartError::Bind { addr, key, cause })
}

/// A running server.
pub struct Running {
    pub public_addr: SocketAddr,
    pub mtls_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// Where the resource APIs are served, when they are.
    pub resource_addr: Option<SocketAddr>,
    pub state: AppState,
    stop: watch::Sender<bool>,
    tasks: JoinSet<std::io::Result<()>>,
}

impl Running {
    /// Asks every listener to stop accepting and waits until in-flight requests have finished.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while let Some(result) = self.tasks.join_next().await {
            match result {
                Ok(Err(e)) => tracing::error!(error = %e, "listener stopped with an error"),
                Err(e) if e.is_panic() => tracing::error!("listener task panicked"),
                _ => {}
            }
        }
        self.state.store.close().await;
    }

    /// Resolves when `signal` fires or a listener stops on its own, then shuts down gracefully.
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) {
        tokio::select! {
            () = signal => tracing::info!("shutting down: in-flight requests may finish"),
            Some(result) = self.tasks.join_next() => {
                tracing::error!(?result, "a listener stopped unexpectedly; shutting down");
            }
        }
        self.shutdown().await;
    }
}

fn tracked(router: Router, listener: &'static str) -> Router {
    router.layer(axum::middleware::from_fn(move |req, next| {
        crate::telemetry::track(listener, req, next)
    }))
}

/// Starts serving on the given sockets, without resource APIs (a resource listener, if given,
/// answers 404).
pub fn start(prepared: Prepared, listeners: Listeners) -> Result<Running, StartError> {
    start_with(prepared, listeners, |_| Router::new())
}

/// Starts serving on the given sockets, with `resource_routes` on the resource listener (mTLS,
/// like the token endpoint). The resource API crate provides them; this crate cannot name it.
pub fn start_with(
    prepared: Prepared,
    listeners: Listeners,
    resource_routes: impl FnOnce(AppState) -> Router,
) -> Result<Running, StartError> {
    crate::telemetry::init_metrics();
    let state = prepared.state;
    let public_addr = local_addr(&listeners.public)?;
    let mtls_addr = local_addr(&listeners.mtls)?;
    let admin_addr = local_addr(&listeners.admin)?;
    let resource_addr = listeners.resource.as_ref().map(local_addr).transpose()?;
    let public_tls = server_config(&prepared.tls, ClientAuth::None)?;
    let mtls_tls = server_config(&prepared.tls, ClientAuth::Request)?;
    let (stop, stopped) = watch::channel(false);
    let grace = Duration::from_secs(state.config.server.shutdown_grace_secs);
    let options = |name: &'static str| ListenerOptions {
        name,
        trusted_proxies: state.config.server.trusted_proxies.clone(),
        shutdown_grace: grace,
        ..ListenerOptions::default()
    };
    let until_stopped = || {
        let mut rx = stopped.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut tasks = JoinSet::new();
    tasks.spawn(serve_tls(
        listeners.public,
        public_tls,
        tracked(routes::public(state.clone()), "public"),
        options("public"),
        until_stopped(),
    ));
    tasks.spawn(serve_tls(
        listeners.mtls,
        mtls_tls,
        tracked(routes::mtls(state.clone()), "mtls"),
        options("mtls"),
        until_stopped(),
    ));
    if let Some(resource) = listeners.resource {
        tasks.spawn(serve_tls(
            resource,
            server_config(&prepared.tls, ClientAuth::Request)?,
            tracked(resource_routes(state.clone()), "resource"),
            options("resource"),
            until_stopped(),
        ));
    }
    tasks.spawn(serve_plain(
        listeners.admin,
        tracked(routes::admin(state.clone()), "admin"),
        options("admin"),
        until_stopped(),
    ));
    tasks.spawn(housekeeping(state.clone(), until_stopped()));
    tasks.spawn(crate::events::delivery::run(
        state.clone(),
        prepared.events,
        until_stopped(),
    ));
    Ok(Running {
        public_addr,
        mtls_addr,
        admin_addr,
        resource_addr,
        state,
        stop,
        tasks,
    })
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|e| StartError::Config(format!("listener address: {e}")))
}

/// Removes expired sessions, stale throttle windows and expired OAuth artefacts, and marks consents
/// past their expiry Expired, every ten minutes; settles due payments every two seconds.
async fn housekeeping(
    state: AppState,
    stopped: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(stopped);
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    // Payments settle a few seconds after they are made; their status change (and its event)
    // should not wait for the ten-minute sweep.
    let mut settle = tokio::time::interval(Duration::from_secs(2));
    settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut stopped => return Ok(()),
            _ = settle.tick() => {
                let now = state.clock.now();
                if let Err(e) = crate::store::PaymentStore::settle_due_payments(&state.store, now).await {
                    tracing::warn!(error = %e, "could not settle due payments");
                }
            }
            _ = tick.tick() => {
                let now = state.clock.now();
                if let Err(e) = state.store.delete_expired_sessions(now).await {
                    tracing::warn!(error = %e, "could not delete expired sessions");
                }
                if let Err(e) = state.store.delete_stale_windows(now - 86_400).await {
                    tracing::warn!(error = %e, "could not delete stale throttle windows");
                }
                // Kept a day past expiry: a customer asking about a code can still be answered.
                if let Err(e) = crate::store::ChallengeStore::delete_expired_challenges(&state.store, now - 86_400).await {
                    tracing::warn!(error = %e, "could not delete expired one-time codes");
                }
                if let Err(e) = crate::store::ConsentStore::expire_consents(&state.store, now).await {
                    tracing::warn!(error = %e, "could not mark expired consents");
                }
                if let Err(e) = crate::store::OAuthCleanup::delete_expired_oauth(&state.store, now).await {
                    tracing::warn!(error = %e, "could not delete expired OAuth codes, tokens and jtis");
                }
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives right after start-up is not lost (and does
/// not kill the process): call it before opening the listeners. Needs a Tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = int.recv() => {},
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
