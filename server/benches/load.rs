//! Load benchmark of the whole server over real TLS on loopback.
//!
//! `cargo bench -p consentry-server --bench load` runs two kinds of phases:
//!
//! 1. `client_credentials`: `POST /token` on the mTLS listener with `private_key_jwt`, over
//!    kept-alive connections (one per worker), for each worker count of `BENCH_WORKERS`.
//! 2. `fapi1_flow`: complete FAPI 1.0 Advanced hybrid flows: PAR with a signed request object,
//!    `/authorize` with a browser already logged in, the consent page, the approval, and the
//!    code exchange at `/token`, for each worker count of `BENCH_FLOW_WORKERS`.
//!
//! The server runs in a child process (this executable started again with
//! `CONSENTRY_LOAD_SERVER_DIR` set) with the default configuration (SQLite in a temporary
//! directory, 16 reading connections and one writer, `synchronous` full) except cheap argon2, so
//! that its CPU time is measured apart from the load generator's; both share the machine's cores,
//! and each phase reports how busy the whole machine was. Every client assertion and request object is PS256-signed before
//! its phase starts (a worker only sends), so the clients' signing is not in the figures; a phase
//! stops early when its pre-signed pool runs out, and says so. Latencies are measured by the
//! client per request; the server's own mean time per route comes from its `/metrics`.
//!
//! Settings (environment): `BENCH_SECS` (10) per phase, `BENCH_WORKERS` ("16,64"),
//! `BENCH_FLOW_WORKERS` ("16"), `BENCH_TPPS` (4 registered clients, workers spread over them),
//! `BENCH_CC_POOL_RATE` (4500) and `BENCH_FLOW_POOL_RATE` (700): the rates the first pool of each
//! kind is sized for (later pools follow the measured rate), `BENCH_HTTP1=1` (HTTP/1.1 instead of
//! the HTTP/2 that ALPN picks), `BENCH_INPROCESS=1` (server in this process), `BENCH_DIR` (where
//! the temporary data directory goes; its file system decides what an fsync costs),
//! `BENCH_DB_CONNECTIONS` (`storage.max_connections`), `BENCH_SQLITE_SYNCHRONOUS` (`full`, the
//! default, or `normal`: `storage.sqlite_synchronous`), `BENCH_DATABASE_URL` (a PostgreSQL server
//! to use instead of SQLite: a database of its own is created and dropped), `BENCH_SERVER_LOG`
//! (the server's log filter, "warn,sqlx::query=error": no slow-statement warnings),
//! `BENCH_PERF=DIR` (records `perf record -F 499 --call-graph dwarf` of the server process for
//! each phase into DIR as `{phase}.perf.data`, and writes `{phase}.perf.txt`: the functions with
//! at least 1% of the server's samples, callees included, the first answer to "where does the
//! time go"; perf's overhead lowers the phase's figures). Arguments that do not start with `-`
//! select phases by name.
//!
//! Under `cargo test` (no `--bench` argument, or `--test`/`--list`) it prints one line and exits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails by panicking"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use consentry_server::app::App;
use consentry_server::clock::{Clock as _, SystemClock};
use consentry_server::config::{Config, Secret};
use consentry_server::crypto::b64url;
use consentry_server::protocol::redirect::urlencode;
use consentry_server::registration::metadata::{ClientMetadata, Profile, new_client};
use consentry_server::serve::{self, Listeners, Running};
use consentry_server::store::{
    ClientStore as _, ConnectOptions, Role, Store, User, UserStore as _,
};
use consentry_server::tls::local_ca::{ClientSubject, ensure_local_pki, issue_client_certificate};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::PS256;
use josekit::jws::alg::rsassa_pss::RsassaPssJwsSigner;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;
use tokio::net::TcpListener;

#[path = "common/measure.rs"]
mod measure;
use measure::{cpu_seconds, env_flag, env_or, machine_busy_seconds};

/// Set in the child process: the data directory of the server it runs.
const SERVER_ENV: &str = "CONSENTRY_LOAD_SERVER_DIR";
/// Set in the child process when the database is PostgreSQL: its URL.
const SERVER_DB_ENV: &str = "CONSENTRY_LOAD_SERVER_DB";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const REDIRECT: &str = "https://tpp.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "load-password-1";

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

fn now() -> i64 {
    SystemClock.now()
}

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect()
}

struct Settings {
    secs: f64,
    cc_workers: Vec<usize>,
    flow_workers: Vec<usize>,
    tpps: usize,
    cc_pool_rate: f64,
    flow_pool_rate: f64,
    http1: bool,
    in_process: bool,
    base_dir: PathBuf,
    /// A PostgreSQL server to use instead of SQLite; the benchmark makes a database of its own.
    postgres: Option<String>,
    perf_dir: Option<PathBuf>,
}

impl Settings {
    fn from_env() -> Self {
        Self {
            secs: env_or("BENCH_SECS", 10.0_f64).max(0.5),
            cc_workers: env_list("BENCH_WORKERS", "16,64"),
            flow_workers: env_list("BENCH_FLOW_WORKERS", "16"),
            tpps: env_or("BENCH_TPPS", 4_usize).max(1),
            cc_pool_rate: env_or("BENCH_CC_POOL_RATE", 4500.0),
            flow_pool_rate: env_or("BENCH_FLOW_POOL_RATE", 700.0),
            http1: env_flag("BENCH_HTTP1"),
            in_process: env_flag("BENCH_INPROCESS"),
            base_dir: std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
            postgres: std::env::var("BENCH_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            perf_dir: std::env::var_os("BENCH_PERF").map(PathBuf::from),
        }
    }
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Some(dir) = std::env::var_os(SERVER_ENV) {
        if let Err(e) = server_process(PathBuf::from(dir)) {
            eprintln!("load bench server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        println!(
            "load: a load benchmark, not a test; skipped (run `cargo bench -p consentry-server --bench load`)"
        );
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "load: skipped: only `cargo bench` (which passes --bench) runs the load benchmark"
        );
        return;
    }
    let filters: Vec<String> = args.into_iter().filter(|a| !a.starts_with('-')).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run(Settings::from_env(), filters)) {
        eprintln!("load bench failed: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The server

/// The server's configuration: production defaults except cheap argon2 and the settings below.
fn bench_config(dir: &Path, database_url: Option<&str>) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_owned();
    config.storage.database_url = database_url.map(Secret::new);
    config.storage.max_connections = env_or("BENCH_DB_CONNECTIONS", config.storage.max_connections);
    if let Ok(mode) = std::env::var("BENCH_SQLITE_SYNCHRONOUS") {
        config.storage.sqlite_synchronous =
            serde_json::from_value(json!(mode.trim().to_ascii_lowercase()))
                .expect("BENCH_SQLITE_SYNCHRONOUS is full or normal");
    }
    // Logins happen before the timed phases; argon2 is not what is measured.
    config.login.argon2_memory_kib = 64;
    config.login.argon2_iterations = 1;
    config.server.shutdown_grace_secs = 2;
    config.telemetry.log_level =
        std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn,sqlx::query=error".to_owned());
    config
}

/// Binds the three listeners on loopback, prepares and starts a server on `dir`.
async fn start_server(dir: &Path, database_url: Option<&str>) -> Result<Running> {
    let mut config = bench_config(dir, database_url);
    let public = TcpListener::bind("127.0.0.1:0").await?;
    let mtls = TcpListener::bind("127.0.0.1:0").await?;
    let admin = TcpListener::bind("127.0.0.1:0").await?;
    config.server.public_addr = public.local_addr()?;
    config.server.mtls_addr = mtls.local_addr()?;
    config.server.admin_addr = admin.local_addr()?;
    config.server.issuer = url::Url::parse(&format!(
        "https://localhost:{}",
        config.server.public_addr.port()
    ))?;
    config.server.mtls_base_url = Some(url::Url::parse(&format!(
        "https://localhost:{}",
        config.server.mtls_addr.port()
    ))?);
    let prepared = serve::prepare(config, Arc::new(SystemClock)).await?;
    Ok(serve::start(
        prepared,
        Listeners {
            public,
            mtls,
            admin,
            resource: None,
        },
    )?)
}

/// The child process: serves until its standard input closes (the benchmark ended or died).
fn server_process(dir: PathBuf) -> Result<()> {
    let database_url = std::env::var(SERVER_DB_ENV).ok();
    consentry_server::telemetry::init_tracing(&bench_config(&dir, None).telemetry);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let running = start_server(&dir, database_url.as_deref()).await?;
        println!(
            "READY {} {} {}",
            running.public_addr.port(),
            running.mtls_addr.port(),
            running.admin_addr.port()
        );
        tokio::task::spawn_blocking(|| {
            use std::io::Read as _;
            let mut buf = [0_u8; 256];
            while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
        })
        .await?;
        running.shutdown().await;
        Ok(())
    })
}

enum Handle {
    Child(tokio::process::Child),
    InProcess(Running),
}

struct Server {
    public: String,
    mtls: String,
    admin: String,
    /// The process whose CPU time is the server's.
    pid: u32,
    handle: Handle,
}

impl Server {
    async fn spawn(dir: &Path, database_url: Option<&str>, in_process: bool) -> Result<Server> {
        if in_process {
            let running = start_server(dir, database_url).await?;
            return Ok(Server {
                public: format!("https://localhost:{}", running.public_addr.port()),
                mtls: format!("https://localhost:{}", running.mtls_addr.port()),
                admin: format!("http://{}", running.admin_addr),
                pid: std::process::id(),
                handle: Handle::InProcess(running),
            });
        }
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command.env(SERVER_ENV, dir);
        if let Some(url) = database_url {
            command.env(SERVER_DB_ENV, url);
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("the server process is gone")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| "the server did not start within 60 s")??
            .ok_or("the server exited before it was ready")?;
        let ports: Vec<u16> = line
            .strip_prefix("READY ")
            .ok_or_else(|| format!("unexpected line from the server: {line}"))?
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let [public, mtls, admin] = ports[..] else {
            return Err(format!("unexpected line from the server: {line}").into());
        };
        Ok(Server {
            public: format!("https://localhost:{public}"),
            mtls: format!("https://localhost:{mtls}"),
            admin: format!("http://127.0.0.1:{admin}"),
            pid,
            handle: Handle::Child(child),
        })
    }

    fn separate(&self) -> bool {
        matches!(self.handle, Handle::Child(_))
    }

    async fn stop(self) {
        match self.handle {
            Handle::InProcess(running) => running.shutdown().await,
            Handle::Child(mut child) => {
                drop(child.stdin.take());
                if tokio::time::timeout(Duration::from_secs(15), child.wait())
                    .await
                    .is_err()
                {
                    eprintln!("the server did not stop within 15 s; killing it");
                    let _ = child.kill().await;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Set-up: PKI, clients, customers

/// A registered client (TPP): its PS256 key and its client certificate from the local CA.
struct Tpp {
    client_id: String,
    kid: String,
    signer: RsassaPssJwsSigner,
    identity: reqwest::Identity,
}

impl Tpp {
    fn signing_input(&self, claims: &Value, typ: Option<&str>) -> String {
        let mut header = json!({"alg": "PS256", "kid": self.kid});
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        format!(
            "{}.{}",
            b64url(&serde_json::to_vec(&header).expect("JSON")),
            b64url(&serde_json::to_vec(claims).expect("JSON"))
        )
    }

    /// A PS256 JWT (josekit, that is OpenSSL).
    fn sign(&self, claims: Value, typ: Option<&str>) -> String {
        use josekit::jws::JwsSigner as _;
        let input = self.signing_input(&claims, typ);
        let signature = self.signer.sign(input.as_bytes()).expect("PS256 signing");
        format!("{input}.{}", b64url(&signature))
    }

    fn assertion(&self, aud: &str, now: i64) -> String {
        self.sign(
            json!({"iss": self.client_id, "sub": self.client_id, "aud": aud,
                   "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 300}),
            None,
        )
    }

    /// A FAPI 1.0 hybrid request object (`code id_token`, PKCE, nonce, state).
    fn request_object(&self, issuer: &str, now: i64) -> String {
        let state = uuid::Uuid::new_v4().simple().to_string();
        self.sign(
            json!({"iss": self.client_id, "aud": issuer, "client_id": self.client_id,
                   "response_type": "code id_token", "redirect_uri": REDIRECT,
                   "scope": "openid accounts", "state": state, "nonce": format!("n-{state}"),
                   "code_challenge": CHALLENGE, "code_challenge_method": "S256",
                   "nbf": now, "exp": now + 300}),
            Some("oauth-authz-req+jwt"),
        )
    }
}

struct Setup {
    tpps: Vec<Arc<Tpp>>,
    usernames: Vec<String>,
    ca_pem: Vec<u8>,
}

/// Creates the local PKI, registers the clients and the customers, before the server starts.
async fn set_up(
    dir: &Path,
    database_url: Option<&str>,
    tpps: usize,
    users: usize,
) -> Result<Setup> {
    let config = bench_config(dir, database_url);
    std::fs::create_dir_all(dir)?;
    let pki = ensure_local_pki(&dir.join("tls"), &["localhost".to_owned()], now())?;
    let store = serve::open_store(&config).await?;
    let made: Vec<Result<(Tpp, String)>> = std::thread::scope(|s| {
        let pki = &pki;
        let handles: Vec<_> = (0..tpps)
            .map(|i| s.spawn(move || make_tpp(pki, &format!("load-tpp-{i}"))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("TPP thread"))
            .collect()
    });
    let mut registered = Vec::new();
    for result in made {
        let (tpp, metadata) = result?;
        let parsed = ClientMetadata::parse(&metadata)
            .and_then(|m| m.validate(Profile::Fapi1Advanced))
            .map_err(|e| format!("client metadata: {e}"))?;
        let new = new_client(parsed, now()).map_err(|e| format!("client: {e}"))?;
        store.insert_client(&new.record).await?;
        registered.push(Arc::new(tpp));
    }
    let hasher = App::password_hasher(&config)?;
    let hash = hasher.hash(PASSWORD).await?;
    let mut usernames = Vec::new();
    for i in 0..users {
        let username = format!("load-psu-{i}");
        store
            .insert_user(&User {
                id: uuid::Uuid::new_v4().to_string(),
                username: username.clone(),
                display_name: format!("Load Customer {i}"),
                email: None,
                phone: None,
                role: Role::Customer,
                password_hash: hash.clone(),
                disabled_at: None,
                created_at: now(),
            })
            .await?;
        usernames.push(username);
    }
    store.close().await;
    Ok(Setup {
        tpps: registered,
        usernames,
        ca_pem: pki.ca_cert_pem.clone().into_bytes(),
    })
}

fn make_tpp(
    pki: &consentry_server::tls::local_ca::LocalPki,
    client_id: &str,
) -> Result<(Tpp, String)> {
    let kid = format!("{client_id}-key");
    let mut key = RsaKeyPair::generate(2048)?.to_jwk_key_pair();
    key.set_key_id(&kid);
    key.set_algorithm("PS256");
    let mut public = key.to_public_key()?;
    public.set_key_id(&kid);
    public.set_algorithm("PS256");
    public.set_key_use("sig");

    let (cert, cert_key) = issue_client_certificate(
        pki,
        &ClientSubject {
            common_name: client_id.to_owned(),
            organization: Some("Load Test TPP Ltd".to_owned()),
            country: Some("GB".to_owned()),
            ..ClientSubject::default()
        },
        now(),
    )?;
    let metadata = json!({
        "client_id": client_id,
        "client_name": format!("{client_id} app"),
        "profile": "fapi1-advanced",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code", "code id_token"],
        "scope": "openid accounts payments",
        "jwks": {"keys": [serde_json::to_value(public.as_ref())?]},
        "token_endpoint_auth_method": "private_key_jwt",
        "tls_client_certificate_bound_access_tokens": true,
    });
    let tpp = Tpp {
        client_id: client_id.to_owned(),
        signer: PS256.signer_from_jwk(&key)?,
        kid,
        identity: reqwest::Identity::from_pem(format!("{cert}{cert_key}").as_bytes())?,
    };
    Ok((tpp, metadata.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Pre-signed pools

/// Items made before a phase and handed out once each.
struct Pool<T> {
    items: Vec<T>,
    next: AtomicUsize,
}

impl<T> Pool<T> {
    fn take(&self) -> Option<&T> {
        self.items.get(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

/// Makes `count` items on every core; returns them and how long it took.
fn presign<T: Send>(count: usize, make: impl Fn() -> T + Sync) -> (Vec<T>, Duration) {
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let make = &make;
    let items = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..count)
                        .step_by(threads)
                        .map(|_| make())
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    });
    (items, started.elapsed())
}

/// One pool per TPP (a worker uses the pool of its TPP), `total` items in all.
fn presign_pools<T: Send>(
    tpps: &[Arc<Tpp>],
    total: usize,
    make: impl Fn(&Tpp) -> T + Sync,
) -> (Vec<Arc<Pool<T>>>, Duration) {
    let per = total.div_ceil(tpps.len());
    let mut spent = Duration::ZERO;
    let pools = tpps
        .iter()
        .map(|tpp| {
            let (items, took) = presign(per, || make(tpp));
            spent += took;
            Arc::new(Pool {
                items,
                next: AtomicUsize::new(0),
            })
        })
        .collect();
    (pools, spent)
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// Latencies in microseconds.
#[derive(Default, Clone)]
struct Samples(Vec<u32>);

impl Samples {
    fn push(&mut self, d: Duration) {
        self.0
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    fn merge(all: impl IntoIterator<Item = Samples>) -> Samples {
        let mut v: Vec<u32> = all.into_iter().flat_map(|s| s.0).collect();
        v.sort_unstable();
        Samples(v)
    }

    /// From sorted samples.
    fn percentile(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        f64::from(self.0[rank.clamp(1, self.0.len()) - 1]) / 1000.0
    }

    fn mean(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.iter().map(|&u| f64::from(u)).sum::<f64>() / self.0.len() as f64 / 1000.0
    }

    fn summary(&self) -> String {
        format!(
            "mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.mean(),
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(100.0)
        )
    }
}

/// The server's own request timing: `http_request_duration_seconds` sum and count per route.
async fn server_timings(admin: &str) -> BTreeMap<String, (f64, f64)> {
    let mut out = BTreeMap::new();
    let Ok(response) = reqwest::get(format!("{admin}/metrics")).await else {
        return out;
    };
    let Ok(text) = response.text().await else {
        return out;
    };
    for line in text.lines() {
        let (kind, rest) = if let Some(r) = line.strip_prefix("http_request_duration_seconds_sum{")
        {
            (0, r)
        } else if let Some(r) = line.strip_prefix("http_request_duration_seconds_count{") {
            (1, r)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
                .unwrap_or_default()
        };
        let key = format!(
            "{} {} {}",
            label("listener"),
            label("method"),
            label("route")
        );
        let value: f64 = value.trim().parse().unwrap_or(0.0);
        let entry = out.entry(key).or_insert((0.0, 0.0));
        if kind == 0 {
            entry.0 = value;
        } else {
            entry.1 = value;
        }
    }
    out
}

/// The server's SQLite writer counters (`sqlite_group_commits_total`, `sqlite_group_units_total`):
/// how many commits (fsyncs) its writes took. Empty on PostgreSQL.
async fn server_counters(admin: &str) -> BTreeMap<String, f64> {
    let Ok(response) = reqwest::get(format!("{admin}/metrics")).await else {
        return BTreeMap::new();
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("sqlite_"))
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_owned(), v.trim().parse().ok()?)))
        .collect()
}

/// What a phase measured around its workers.
struct Around {
    started: Instant,
    server_cpu: f64,
    own_cpu: f64,
    machine_cpu: f64,
    timings: BTreeMap<String, (f64, f64)>,
    counters: BTreeMap<String, f64>,
    /// `perf record` and the file it writes.
    perf: Option<(std::process::Child, PathBuf)>,
}

impl Around {
    async fn begin(server: &Server, settings: &Settings, phase: &str) -> Around {
        let timings = server_timings(&server.admin).await;
        let counters = server_counters(&server.admin).await;
        let perf = settings.perf_dir.as_ref().and_then(|dir| {
            let _ = std::fs::create_dir_all(dir);
            let out = dir.join(format!("{phase}.perf.data"));
            std::process::Command::new("perf")
                .args([
                    "record",
                    "-F",
                    "499",
                    "--call-graph",
                    "dwarf,16384",
                    "-q",
                    "-o",
                ])
                .arg(&out)
                .args(["-p", &server.pid.to_string(), "--", "sleep"])
                .arg(format!("{}", settings.secs))
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(|e| eprintln!("perf record could not start: {e}"))
                .ok()
                .map(|child| (child, out))
        });
        Around {
            started: Instant::now(),
            server_cpu: cpu_seconds(server.pid),
            own_cpu: cpu_seconds(std::process::id()),
            machine_cpu: machine_busy_seconds(),
            timings,
            counters,
            perf,
        }
    }

    /// Prints the CPU use and the server's time per route since `begin`.
    async fn end(self, server: &Server, completed: usize, unit: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let server_cpu = cpu_seconds(server.pid) - self.server_cpu;
        let own_cpu = cpu_seconds(std::process::id()) - self.own_cpu;
        let machine_cpu = machine_busy_seconds() - self.machine_cpu;
        let after = server_timings(&server.admin).await;
        if let Some((mut perf, data)) = self.perf {
            let _ = perf.wait();
            perf_summary(&data);
        }
        let per = |cpu: f64| {
            if completed == 0 {
                0.0
            } else {
                cpu * 1000.0 / completed as f64
            }
        };
        if server.separate() {
            println!(
                "  CPU: server {:.2} cores ({:.3} ms CPU per {unit}), load generator {:.2} cores ({:.3} ms per {unit})",
                server_cpu / elapsed,
                per(server_cpu),
                own_cpu / elapsed,
                per(own_cpu),
            );
        } else {
            println!(
                "  CPU: server and load generator together {:.2} cores ({:.3} ms CPU per {unit})",
                own_cpu / elapsed,
                per(own_cpu),
            );
        }
        println!(
            "  machine: {:.2} of {} cores busy; besides the server and the load generator: {:.2} cores \
             (the database server if not SQLite, anything else running on the machine)",
            machine_cpu / elapsed,
            std::thread::available_parallelism().map_or(0, usize::from),
            ((machine_cpu - own_cpu - if server.separate() { server_cpu } else { 0.0 }) / elapsed)
                .max(0.0),
        );
        let counters = server_counters(&server.admin).await;
        let delta = |name: &str| {
            counters.get(name).copied().unwrap_or(0.0)
                - self.counters.get(name).copied().unwrap_or(0.0)
        };
        let (commits, units) = (
            delta("sqlite_group_commits_total"),
            delta("sqlite_group_units_total"),
        );
        if commits > 0.0 {
            println!(
                "  SQLite writer: {units:.0} writes in {commits:.0} group commits ({:.1} writes and {:.2} commits per {unit})",
                units / commits,
                commits / completed.max(1) as f64
            );
        }
        println!("  server-side time per request (its own metrics, mean):");
        for (route, (sum, count)) in &after {
            let (sum0, count0) = self.timings.get(route).copied().unwrap_or((0.0, 0.0));
            let n = count - count0;
            if n > 0.0 {
                println!(
                    "    {route:<34} {:>8} requests, {:.3} ms",
                    n as u64,
                    (sum - sum0) * 1000.0 / n
                );
            }
        }
    }
}

/// Writes next to a `perf record` file the functions with at least 1% of its samples, callees
/// included (`perf report --children`), one per line.
fn perf_summary(data: &Path) {
    let report = std::process::Command::new("perf")
        .args([
            "report",
            "--children",
            "--sort",
            "sym",
            "--stdio",
            "-g",
            "none",
        ])
        .args(["--percent-limit", "1", "-i"])
        .arg(data)
        .stderr(std::process::Stdio::null())
        .output();
    match report {
        Ok(out) => {
            let text: String = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(|l| format!("{l}\n"))
                .collect();
            let path = data.with_extension("txt");
            match std::fs::write(&path, text) {
                Ok(()) => println!("  perf: {} and {}", data.display(), path.display()),
                Err(e) => eprintln!("perf summary {}: {e}", path.display()),
            }
        }
        Err(e) => eprintln!("perf report could not run: {e}"),
    }
}

/// How a phase ends: at its deadline, or when a pre-signed pool ran out.
struct Stop {
    deadline: Instant,
    exhausted: AtomicBool,
}

impl Stop {
    fn new(secs: f64) -> Arc<Stop> {
        Arc::new(Stop {
            deadline: Instant::now() + Duration::from_secs_f64(secs),
            exhausted: AtomicBool::new(false),
        })
    }

    fn over(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    fn take<'a, T>(&self, pool: &'a Pool<T>) -> Option<&'a T> {
        let item = pool.take();
        if item.is_none() {
            self.exhausted.store(true, Ordering::Relaxed);
        }
        item
    }
}

#[derive(Default)]
struct Errors {
    count: usize,
    first: Vec<String>,
}

impl Errors {
    fn add(&mut self, what: String) {
        self.count += 1;
        if self.first.len() < 3 {
            self.first.push(what);
        }
    }

    fn merge(all: impl IntoIterator<Item = Errors>) -> Errors {
        let mut out = Errors::default();
        for e in all {
            out.count += e.count;
            for f in e.first {
                if out.first.len() < 3 {
                    out.first.push(f);
                }
            }
        }
        out
    }

    fn print(&self) {
        for e in &self.first {
            println!("    error: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The load

struct Ctx {
    settings: Settings,
    server: Server,
    setup: Setup,
    issuer: String,
}

impl Ctx {
    fn client_builder(&self) -> Result<reqwest::ClientBuilder> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.setup.ca_pem)?)
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", ([127, 0, 0, 1], 0).into())
            .pool_max_idle_per_host(4)
            .timeout(Duration::from_secs(30));
        if self.settings.http1 {
            builder = builder.http1_only();
        }
        Ok(builder)
    }

    fn mtls_client(&self, tpp: &Tpp) -> Result<reqwest::Client> {
        Ok(self
            .client_builder()?
            .identity(tpp.identity.clone())
            .build()?)
    }
}

async fn run(settings: Settings, filters: Vec<String>) -> Result<()> {
    let selected =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let started = Instant::now();
    let users = settings.flow_workers.iter().copied().max().unwrap_or(0);
    let dir = tempfile::Builder::new()
        .prefix("consentry-load-")
        .tempdir_in(&settings.base_dir)?;
    let database = match &settings.postgres {
        Some(base) => Some(create_database(base).await?),
        None => None,
    };
    let database_url = database.as_ref().map(|(_, url)| url.as_str());
    let setup = set_up(dir.path(), database_url, settings.tpps, users).await?;
    let server = Server::spawn(dir.path(), database_url, settings.in_process).await?;
    let issuer = server.public.clone();
    println!(
        "load: server {} (pid {}), data in {} ({}, {} connections), {} TPPs, PS256 client keys, {} s per phase; set-up took {:.1} s",
        if server.separate() {
            "in its own process"
        } else {
            "in this process"
        },
        server.pid,
        dir.path().display(),
        database.as_ref().map_or_else(
            || format!(
                "SQLite, synchronous {:?}",
                bench_config(dir.path(), None).storage.sqlite_synchronous
            ),
            |_| "PostgreSQL".to_owned()
        ),
        bench_config(dir.path(), None).storage.max_connections,
        settings.tpps,
        settings.secs,
        started.elapsed().as_secs_f64()
    );
    let signing_us = signing_cost(&setup.tpps[0], &issuer);
    println!(
        "load: client-side PS256 signing (josekit/OpenSSL, RSA-2048) costs {signing_us:.0} us per JWT on one core; \
         every JWT a phase sends is signed before it on all cores, none during it"
    );
    let ctx = Ctx {
        settings,
        server,
        setup,
        issuer,
    };
    let mut cc_rate = None;
    for workers in ctx.settings.cc_workers.clone() {
        if selected("client_credentials") {
            cc_rate = Some(client_credentials(&ctx, workers, cc_rate).await?);
        }
    }
    let mut flow_rate = None;
    for workers in ctx.settings.flow_workers.clone() {
        if selected("fapi1_flow") {
            flow_rate = Some(fapi1_flows(&ctx, workers, flow_rate).await?);
        }
    }
    ctx.server.stop().await;
    if let (Some(base), Some((name, _))) = (&ctx.settings.postgres, &database) {
        let admin = Store::connect(base, &ConnectOptions::default()).await?;
        admin.execute_raw(&format!("DROP DATABASE {name}")).await?;
        admin.close().await;
    }
    println!("load: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A fresh database on the PostgreSQL server of `base`: its name and URL.
async fn create_database(base: &str) -> Result<(String, String)> {
    let name = format!("consentry_load_{}", uuid::Uuid::new_v4().simple());
    let admin = Store::connect(base, &ConnectOptions::default()).await?;
    admin
        .execute_raw(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await;
    let mut url = url::Url::parse(base)?;
    url.set_path(&format!("/{name}"));
    Ok((name, url.to_string()))
}

/// Microseconds per PS256 client assertion on one core.
fn signing_cost(tpp: &Tpp, aud: &str) -> f64 {
    const N: u32 = 200;
    let t = Instant::now();
    for _ in 0..N {
        std::hint::black_box(tpp.assertion(aud, now()));
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(N)
}

fn pool_size(rate: f64, secs: f64, workers: usize) -> usize {
    (rate * secs) as usize + 4 * workers
}

/// Phase 1: `client_credentials` with `private_key_jwt` over mTLS, connections kept alive.
async fn client_credentials(ctx: &Ctx, workers: usize, measured: Option<f64>) -> Result<f64> {
    let secs = ctx.settings.secs;
    let token_url = format!("{}/token", ctx.server.mtls);
    let tpps = &ctx.setup.tpps;
    let rate = measured.map_or(ctx.settings.cc_pool_rate, |r| r * 1.3);
    let total = pool_size(rate, secs, workers);
    let (pools, signing) = presign_pools(tpps, total + workers, |tpp| {
        tpp.assertion(&ctx.issuer, now())
    });
    println!(
        "\nclient_credentials, {workers} workers: pre-signed {} PS256 client assertions in {:.1} s ({:.0}/s on all cores)",
        pools.len() * pools[0].items.len(),
        signing.as_secs_f64(),
        (pools.len() * pools[0].items.len()) as f64 / signing.as_secs_f64()
    );

    // One connection per worker, opened (TLS handshake with the client certificate) and warmed
    // by one request before the clock starts.
    let mut clients = Vec::new();
    let mut version = String::new();
    for w in 0..workers {
        let t = w % tpps.len();
        let client = ctx.mtls_client(&tpps[t])?;
        let assertion = pools[t].take().ok_or("pool too small")?;
        let r = client
            .post(&token_url)
            .form(&cc_form(&tpps[t], assertion))
            .send()
            .await?;
        version = format!("{:?}", r.version());
        let status = r.status();
        if !status.is_success() {
            return Err(format!("warm-up token request: {status}: {}", r.text().await?).into());
        }
        clients.push((t, client));
    }

    let around = Around::begin(
        &ctx.server,
        &ctx.settings,
        &format!("client_credentials-{workers}"),
    )
    .await;
    let stop = Stop::new(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (t, client) in clients {
        let (stop, pool, tpp, url) = (
            Arc::clone(&stop),
            Arc::clone(&pools[t]),
            Arc::clone(&tpps[t]),
            token_url.clone(),
        );
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = Errors::default();
            while !stop.over() {
                let Some(assertion) = stop.take(&pool) else {
                    break;
                };
                let t0 = Instant::now();
                match client
                    .post(&url)
                    .form(&cc_form(&tpp, assertion))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => match r.bytes().await {
                        Ok(body) if body.starts_with(b"{\"access_token\"") => {
                            samples.push(t0.elapsed())
                        }
                        Ok(body) => errors.add(format!(
                            "unexpected body {}",
                            String::from_utf8_lossy(&body)
                        )),
                        Err(e) => errors.add(e.to_string()),
                    },
                    Ok(r) => errors.add(format!(
                        "{}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    )),
                    Err(e) => errors.add(e.to_string()),
                }
            }
            (samples, errors)
        });
    }
    let (samples, errors) = join(tasks).await?;
    let samples = Samples::merge(samples);
    let elapsed = around.started.elapsed().as_secs_f64();
    let rate = samples.0.len() as f64 / elapsed;
    println!(
        "  POST /token grant_type=client_credentials, private_key_jwt + mTLS ({version}, keep-alive): \
         {} ok, {} errors in {:.2} s{}: {:.0} requests/s",
        samples.0.len(),
        errors.count,
        elapsed,
        if stop.exhausted.load(Ordering::Relaxed) && elapsed < secs {
            " (stopped early: the pre-signed pool ran out; raise BENCH_CC_POOL_RATE)"
        } else {
            ""
        },
        rate
    );
    println!("  latency: {}", samples.summary());
    errors.print();
    around.end(&ctx.server, samples.0.len(), "request").await;
    Ok(rate)
}

fn cc_form<'a>(tpp: &'a Tpp, assertion: &'a str) -> [(&'static str, &'a str); 5] {
    [
        ("client_id", tpp.client_id.as_str()),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
        ("grant_type", "client_credentials"),
        ("scope", "accounts"),
    ]
}

async fn join<T: Send + 'static>(
    mut tasks: tokio::task::JoinSet<(T, Errors)>,
) -> Result<(Vec<T>, Errors)> {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (r, e) = joined?;
        results.push(r);
        errors.push(e);
    }
    Ok((results, Errors::merge(errors)))
}

/// What one flow needs signed: the PAR assertion, the request object, the token assertion.
struct FlowJwts {
    par_assertion: String,
    request_object: String,
    token_assertion: String,
}

const STAGES: [&str; 5] = [
    "PAR (POST /par)",
    "authorize (GET /authorize)",
    "consent page (GET /authorize/resume)",
    "approve (POST /authorize/decision)",
    "token (POST /token, code)",
];

/// Per-flow stage timings, then the whole flow.
type FlowSamples = ([Samples; 5], Samples);

/// Phase 2: complete FAPI 1.0 hybrid flows with logged-in browsers.
async fn fapi1_flows(ctx: &Ctx, workers: usize, measured: Option<f64>) -> Result<f64> {
    let secs = ctx.settings.secs;
    let tpps = &ctx.setup.tpps;
    let rate = measured.map_or(ctx.settings.flow_pool_rate, |r| r * 1.3);
    let total = pool_size(rate, secs, workers);
    let issuer = ctx.issuer.as_str();
    let (pools, signing) = presign_pools(tpps, total, |tpp| {
        let now = now();
        FlowJwts {
            par_assertion: tpp.assertion(issuer, now),
            request_object: tpp.request_object(issuer, now),
            token_assertion: tpp.assertion(issuer, now),
        }
    });
    let flows = pools.len() * pools[0].items.len();
    println!(
        "\nfapi1_flow, {workers} workers: pre-signed {flows} flows (3 PS256 JWTs each) in {:.1} s ({:.0} JWTs/s on all cores)",
        signing.as_secs_f64(),
        (3 * flows) as f64 / signing.as_secs_f64()
    );

    // Each worker: a TPP connection and a browser that logs in once, before the clock starts.
    let login_started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        let t = w % tpps.len();
        let mtls = ctx.mtls_client(&tpps[t])?;
        let browser = ctx.client_builder()?.cookie_store(true).build()?;
        let username = ctx.setup.usernames[w].clone();
        let public = ctx.server.public.clone();
        let mtls_base = ctx.server.mtls.clone();
        set.spawn(async move {
            let page = browser
                .get(format!("{public}/login?return_to=%2F"))
                .send()
                .await?
                .text()
                .await?;
            let r = browser
                .post(format!("{public}/login"))
                .form(&[
                    ("username", username.as_str()),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf_of(&page)?),
                    ("return_to", "/"),
                ])
                .send()
                .await?;
            if r.status() != reqwest::StatusCode::SEE_OTHER {
                return Err(Error::from(format!("login of {username}: {}", r.status())));
            }
            // Open the mTLS connection.
            mtls.get(format!("{mtls_base}/jwks"))
                .send()
                .await?
                .bytes()
                .await?;
            Ok((t, mtls, browser))
        });
    }
    let mut agents = Vec::new();
    while let Some(joined) = set.join_next().await {
        agents.push(joined??);
    }
    println!(
        "  {workers} browsers logged in and {workers} mTLS connections opened in {:.1} s (not timed)",
        login_started.elapsed().as_secs_f64()
    );

    let around = Around::begin(&ctx.server, &ctx.settings, &format!("fapi1_flow-{workers}")).await;
    let stop = Stop::new(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (t, mtls, browser) in agents {
        let flow = Flow {
            client_id: tpps[t].client_id.clone(),
            public: ctx.server.public.clone(),
            mtls_base: ctx.server.mtls.clone(),
            mtls,
            browser,
        };
        let (stop, pool) = (Arc::clone(&stop), Arc::clone(&pools[t]));
        tasks.spawn(async move {
            let mut stages: [Samples; 5] = Default::default();
            let mut whole = Samples::default();
            let mut errors = Errors::default();
            while !stop.over() {
                let Some(jwts) = stop.take(&pool) else {
                    break;
                };
                let t0 = Instant::now();
                match flow.run(jwts).await {
                    Ok(times) => {
                        for (s, d) in stages.iter_mut().zip(times) {
                            s.push(d);
                        }
                        whole.push(t0.elapsed());
                    }
                    Err(e) => errors.add(e.to_string()),
                }
            }
            ((stages, whole), errors)
        });
    }
    let (results, errors): (Vec<FlowSamples>, Errors) = join(tasks).await?;
    let elapsed = around.started.elapsed().as_secs_f64();
    let mut stage_samples: Vec<Vec<Samples>> = vec![Vec::new(); 5];
    let mut wholes = Vec::new();
    for (stages, whole) in results {
        for (i, s) in stages.into_iter().enumerate() {
            stage_samples[i].push(s);
        }
        wholes.push(whole);
    }
    let whole = Samples::merge(wholes);
    let rate = whole.0.len() as f64 / elapsed;
    println!(
        "  PAR + authorize + consent + approve + token (code id_token): {} flows ok, {} errors in {:.2} s{}: {:.0} flows/s ({:.0} HTTP requests/s)",
        whole.0.len(),
        errors.count,
        elapsed,
        if stop.exhausted.load(Ordering::Relaxed) && elapsed < secs {
            " (stopped early: the pre-signed pool ran out; raise BENCH_FLOW_POOL_RATE)"
        } else {
            ""
        },
        rate,
        rate * 5.0
    );
    println!("  per flow: {}", whole.summary());
    for (name, samples) in STAGES.iter().zip(stage_samples) {
        let s = Samples::merge(samples);
        println!(
            "    {name:<38} mean {:.2} ms, p50 {:.2} ms, p99 {:.2} ms",
            s.mean(),
            s.percentile(50.0),
            s.percentile(99.0)
        );
    }
    errors.print();
    around.end(&ctx.server, whole.0.len(), "flow").await;
    Ok(rate)
}

/// One worker's agents: the TPP's mTLS connection and the customer's browser.
struct Flow {
    client_id: String,
    public: String,
    mtls_base: String,
    mtls: reqwest::Client,
    browser: reqwest::Client,
}

impl Flow {
    async fn run(&self, jwts: &FlowJwts) -> Result<[Duration; 5]> {
        let mut times = [Duration::ZERO; 5];
        let mut t = Instant::now();
        let mut lap = |i: usize| {
            let now = Instant::now();
            times[i] = now - t;
            t = now;
        };

        let r = self
            .mtls
            .post(format!("{}/par", self.mtls_base))
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &jwts.par_assertion),
                ("request", &jwts.request_object),
            ])
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        let request_uri = body["request_uri"]
            .as_str()
            .ok_or_else(|| format!("PAR: {status}: {body}"))?
            .to_owned();
        lap(0);

        let r = self
            .browser
            .get(format!(
                "{}/authorize?client_id={}&request_uri={}",
                self.public,
                self.client_id,
                urlencode(&request_uri)
            ))
            .send()
            .await?;
        expect_redirect(&r, "authorize")?;
        drop(r.bytes().await?);
        lap(1);

        let r = self
            .browser
            .get(format!("{}/authorize/resume", self.public))
            .send()
            .await?;
        let status = r.status();
        let page = r.text().await?;
        if status != reqwest::StatusCode::OK {
            return Err(format!("consent page: {status}").into());
        }
        let csrf = csrf_of(&page)?;
        lap(2);

        let r = self
            .browser
            .post(format!("{}/authorize/decision", self.public))
            .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")])
            .send()
            .await?;
        let location = expect_redirect(&r, "decision")?;
        drop(r.bytes().await?);
        let url = url::Url::parse(&location)?;
        let fragment: BTreeMap<String, String> =
            url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let code = fragment
            .get("code")
            .filter(|_| fragment.contains_key("id_token"))
            .ok_or_else(|| format!("no code and id_token in {location}"))?;
        lap(3);

        let r = self
            .mtls
            .post(format!("{}/token", self.mtls_base))
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &jwts.token_assertion),
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !(body["access_token"].is_string() && body["id_token"].is_string()) {
            return Err(format!("token: {status}: {body}").into());
        }
        lap(4);
        Ok(times)
    }
}

fn expect_redirect(r: &reqwest::Response, step: &str) -> Result<String> {
    if r.status() != reqwest::StatusCode::SEE_OTHER {
        return Err(format!("{step}: {} instead of a redirect", r.status()).into());
    }
    Ok(r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{step}: no location"))?
        .to_owned())
}

/// The value of `name="csrf_token"` in a page.
fn csrf_of(html: &str) -> Result<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .map(|i| i + marker.len())
        .ok_or("the page has no CSRF token")?;
    Ok(html[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned())
}
