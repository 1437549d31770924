//! Load benchmark of `GET /open-banking/v3.1/aisp/accounts` on the resource listener, over real
//! mTLS on loopback, with a certificate-bound access token of an Authorised account-access
//! consent.
//!
//! `cargo bench -p consentry-resource-apis --bench accounts` starts the server in a child process
//! (this executable started again with `CONSENTRY_ACCOUNTS_BENCH_DIR` set) with the default
//! configuration (SQLite in a temporary directory) except cheap argon2. The child registers a TPP
//! (client certificate from the local CA), seeds a customer with three accounts, creates an
//! account-access consent, authorises two of the accounts for it and issues a certificate-bound
//! access token for it through the stores, and tells the parent the token. The parent then runs,
//! for each worker count of `BENCH_WORKERS`, `BENCH_SECS` seconds of workers each sending one
//! request after another on its own kept-alive connection, and reports requests a second,
//! latency percentiles measured per request, the server process's CPU time per request, how busy
//! the whole machine was, and the server's own mean time per request from its `/metrics`.
//!
//! Settings (environment): `BENCH_SECS` (5), `BENCH_WORKERS` ("8,32"), `BENCH_HTTP1=1` (HTTP/1.1
//! instead of the HTTP/2 that ALPN picks), `BENCH_INPROCESS=1` (server in this process),
//! `BENCH_DATABASE_URL` (a PostgreSQL server: a database of its own is created),
//! `BENCH_SERVER_LOG` (the server's log filter, "warn").
//!
//! Under `cargo test` (no `--bench` argument, or `--test`/`--list`) it prints one line and exits.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails by panicking"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use consentry_server::clock::{Clock as _, SystemClock};
use consentry_server::config::{Config, Secret};
use consentry_server::consent::{Actor, ConsentKind, ConsentStatus};
use consentry_server::crypto::{b64url, random_token, secret_hash, sha256};
use consentry_server::registration::metadata::{ClientMetadata, new_client};
use consentry_server::serve::{self, Listeners, Running};
use consentry_server::store::{
    AccessTokenRecord, Account, Authorisation, BankSeed, ClientStore as _, ConnectOptions,
    ConsentRecord, ConsentStore as _, GrantRecord, GrantStore as _, LedgerStore as _, Role, Store,
    TokenStore as _, User,
};
use consentry_server::tls::local_ca::ensure_local_pki;
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;
use tokio::net::TcpListener;

#[path = "../../server/benches/common/measure.rs"]
mod measure;
use measure::{cpu_seconds, env_flag, env_or, machine_busy_seconds};

const SERVER_ENV: &str = "CONSENTRY_ACCOUNTS_BENCH_DIR";
const SERVER_DB_ENV: &str = "CONSENTRY_ACCOUNTS_BENCH_DB";
const PATH: &str = "/open-banking/v3.1/aisp/accounts";

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Some(dir) = std::env::var_os(SERVER_ENV) {
        if let Err(e) = server_process(PathBuf::from(dir)) {
            eprintln!("accounts bench server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        println!(
            "accounts: a load benchmark, not a test; skipped (run `cargo bench -p consentry-resource-apis --bench accounts`)"
        );
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("accounts: skipped: only `cargo bench` (which passes --bench) runs it");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = runtime.block_on(run()) {
        eprintln!("accounts bench failed: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The server

fn bench_config(dir: &Path, database_url: Option<&str>) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_owned();
    config.storage.database_url = database_url.map(|u| Secret::new(u.to_owned()));
    config.login.argon2_memory_kib = 64;
    config.login.argon2_iterations = 1;
    config.server.shutdown_grace_secs = 2;
    config.telemetry.log_level =
        std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned());
    config
}

async fn start_server(dir: &Path, database_url: Option<&str>) -> Result<Running> {
    let mut config = bench_config(dir, database_url);
    let bind = || TcpListener::bind("127.0.0.1:0");
    let (public, mtls, admin, resource) =
        (bind().await?, bind().await?, bind().await?, bind().await?);
    let url = |l: &TcpListener| -> Result<url::Url> {
        Ok(url::Url::parse(&format!(
            "https://localhost:{}",
            l.local_addr()?.port()
        ))?)
    };
    config.server.public_addr = public.local_addr()?;
    config.server.mtls_addr = mtls.local_addr()?;
    config.server.admin_addr = admin.local_addr()?;
    config.server.resource_addr = resource.local_addr()?;
    config.server.issuer = url(&public)?;
    config.server.mtls_base_url = Some(url(&mtls)?);
    config.server.resource_base_url = Some(url(&resource)?);
    let prepared = serve::prepare(config, Arc::new(SystemClock)).await?;
    Ok(serve::start_with(
        prepared,
        Listeners {
            public,
            mtls,
            admin,
            resource: Some(resource),
        },
        consentry_resource_apis::router,
    )?)
}

/// The DER of the first certificate of a PEM text.
fn pem_der(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(body)?)
}

/// Registers a TPP, seeds a customer, authorises a consent and issues a certificate-bound access
/// token for it; writes the TPP's certificate and key to `dir/bench-client.pem`; returns the
/// token.
async fn set_up(dir: &Path, store: &Store) -> Result<String> {
    let now = SystemClock.now();
    let pki = ensure_local_pki(&dir.join("tls"), &[], now)?;
    let client_id = "bench-tpp";
    let identity = consentry_server::registration::test_client::new_identity(
        &pki,
        client_id,
        "Bench TPP Ltd",
        now,
    )?;
    let metadata = json!({
        "client_id": client_id, "client_name": "Bench TPP", "profile": "fapi1-advanced",
        "redirect_uris": ["https://tpp.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code id_token"], "scope": "openid accounts payments",
        "jwks": {"keys": [identity.public_jwk]}, "tls_client_certificate_bound_access_tokens": true,
    });
    let parsed = ClientMetadata::parse(&metadata.to_string())
        .and_then(|m| {
            let profile = m.profile();
            m.validate(profile)
        })
        .map_err(|e| format!("client metadata: {e:?}"))?;
    let client = new_client(parsed, now).map_err(|e| format!("client: {e:?}"))?;
    store.insert_client(&client.record).await?;
    std::fs::write(
        dir.join("bench-client.pem"),
        format!("{}{}", identity.cert_pem, identity.key_pem),
    )?;
    let thumbprint = b64url(&sha256(&pem_der(&identity.cert_pem)?));

    let user_id = uuid::Uuid::new_v4().to_string();
    let account = |n: u32| Account {
        id: format!("bench-acc-{n}"),
        owner_user_id: user_id.clone(),
        account_type: "Personal".to_owned(),
        account_subtype: "CurrentAccount".to_owned(),
        currency: "GBP".to_owned(),
        nickname: format!("Account {n}"),
        scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
        identification: format!("4000000000000{n}"),
        holder_name: "Bench Customer".to_owned(),
        balance_minor: 123_456 * i64::from(n),
        opened_at: now - 86_400 * i64::from(n),
    };
    let seed = BankSeed {
        users: vec![User {
            id: user_id.clone(),
            username: "bench-psu".to_owned(),
            display_name: "Bench Customer".to_owned(),
            email: None,
            phone: None,
            role: Role::Customer,
            password_hash: "unused".to_owned(),
            disabled_at: None,
            created_at: now,
        }],
        accounts: (1..=3).map(account).collect(),
        ..BankSeed::default()
    };
    store.seed_once("bench-customer", &seed).await?;

    let consent_id = format!("aac-{}", uuid::Uuid::new_v4());
    let consent = ConsentRecord {
        id: consent_id.clone(),
        kind: ConsentKind::AccountAccess.as_str().to_owned(),
        client_id: client_id.to_owned(),
        status: ConsentStatus::AwaitingAuthorisation.as_str().to_owned(),
        status_updated_at: now,
        created_at: now,
        expires_at: Some(now + 30 * 86_400),
        user_id: None,
        permissions: Some(r#"["ReadAccountsDetail","ReadBalances"]"#.to_owned()),
        tx_from: None,
        tx_to: None,
        debtor_account_id: None,
        amount_minor: None,
        currency: None,
        body: r#"{"Data":{"Permissions":["ReadAccountsDetail","ReadBalances"]},"Risk":{}}"#
            .to_owned(),
        idempotency_key: None,
        request_hash: None,
        authorised_at: None,
        last_used_at: None,
    };
    store
        .insert_consent(&consent, &Actor::Tpp(client_id.to_owned()))
        .await?;
    let chosen = ["bench-acc-1".to_owned(), "bench-acc-2".to_owned()];
    let authorised = store
        .authorise_consent(
            &consent_id,
            &Authorisation {
                user_id: &user_id,
                account_ids: &chosen,
                debtor_account_id: None,
            },
            now,
        )
        .await?;
    if !authorised {
        return Err("the consent was not authorised".into());
    }
    let grant = GrantRecord {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: client_id.to_owned(),
        subject: Some(user_id.clone()),
        scope: "openid accounts".to_owned(),
        claims: None,
        acr: Some("urn:openbanking:psd2:sca".to_owned()),
        amr: None,
        auth_time: Some(now),
        consent_id: Some(consent_id),
        created_at: now,
        expires_at: now + 86_400,
        revoked_at: None,
    };
    store.insert_grant(&grant).await?;
    let token = random_token();
    store
        .insert_access_token(&AccessTokenRecord {
            token_hash: secret_hash(&token),
            grant_id: grant.id,
            client_id: client_id.to_owned(),
            subject: Some(user_id),
            scope: grant.scope,
            cnf_x5t: Some(thumbprint),
            cnf_jkt: None,
            refresh_token_hash: None,
            issued_at: now,
            expires_at: now + 86_400,
            revoked_at: None,
        })
        .await?;
    Ok(token)
}

/// The child process: starts, sets up, says `READY <resource port> <admin port> <token>`, serves
/// until its standard input closes.
fn server_process(dir: PathBuf) -> Result<()> {
    let database_url = std::env::var(SERVER_DB_ENV).ok();
    consentry_server::telemetry::init_tracing(&bench_config(&dir, None).telemetry);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let running = start_server(&dir, database_url.as_deref()).await?;
        let token = set_up(&dir, &running.state.store).await?;
        let resource = running.resource_addr.ok_or("no resource listener")?;
        println!(
            "READY {} {} {token}",
            resource.port(),
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
    InProcess(Box<Running>),
}

struct Server {
    resource: String,
    admin: String,
    token: String,
    pid: u32,
    handle: Handle,
}

impl Server {
    async fn spawn(dir: &Path, database_url: Option<&str>, in_process: bool) -> Result<Server> {
        if in_process {
            let running = start_server(dir, database_url).await?;
            let token = set_up(dir, &running.state.store).await?;
            let resource = running.resource_addr.ok_or("no resource listener")?;
            return Ok(Server {
                resource: format!("https://localhost:{}", resource.port()),
                admin: format!("http://{}", running.admin_addr),
                token,
                pid: std::process::id(),
                handle: Handle::InProcess(Box::new(running)),
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
        let parts: Vec<&str> = line
            .strip_prefix("READY ")
            .ok_or_else(|| format!("unexpected line from the server: {line}"))?
            .split(' ')
            .collect();
        let [resource, admin, token] = parts[..] else {
            return Err(format!("unexpected line from the server: {line}").into());
        };
        Ok(Server {
            resource: format!("https://localhost:{resource}"),
            admin: format!("http://127.0.0.1:{admin}"),
            token: token.to_owned(),
            pid,
            handle: Handle::Child(child),
        })
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
                    let _ = child.kill().await;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// The server's `http_request_duration_seconds` sum and count on the resource listener.
async fn server_time(admin: &str) -> Option<(f64, f64)> {
    let text = reqwest::get(format!("{admin}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let (mut sum, mut count) = (0.0, 0.0);
    for line in text.lines() {
        if !line.contains("listener=\"resource\"") {
            continue;
        }
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if line.starts_with("http_request_duration_seconds_sum") {
            sum += value;
        } else if line.starts_with("http_request_duration_seconds_count") {
            count += value;
        }
    }
    Some((sum, count))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn client(ca: &[u8], identity: &[u8], http1: bool) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca)?)
        .identity(reqwest::Identity::from_pem(identity)?)
        .pool_max_idle_per_host(1);
    if http1 {
        builder = builder.http1_only();
    }
    Ok(builder.build()?)
}

/// One phase: `workers` each on its own connection for `secs` seconds; latencies in µs.
async fn phase(
    url: &str,
    token: &str,
    clients: &[reqwest::Client],
    secs: f64,
) -> Result<(Vec<u32>, usize, f64)> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in clients {
        let (c, url, token) = (c.clone(), url.to_owned(), token.to_owned());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut failures = 0_usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = match c.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => r.status() == reqwest::StatusCode::OK && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        });
    }
    let mut all = Vec::new();
    let mut failures = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, f) = done?;
        all.extend(l);
        failures += f;
    }
    Ok((all, failures, started.elapsed().as_secs_f64()))
}

async fn run() -> Result<()> {
    let secs: f64 = env_or("BENCH_SECS", 5.0_f64).max(0.5);
    let workers: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "8,32".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect();
    let http1 = env_flag("BENCH_HTTP1");
    let in_process = env_flag("BENCH_INPROCESS");
    let dir = tempfile::tempdir()?;
    let database_url = match std::env::var("BENCH_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let name = format!("consentry_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect(&base, &ConnectOptions::default()).await?;
            admin
                .execute_raw(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.close().await;
            let mut url = url::Url::parse(&base)?;
            url.set_path(&format!("/{name}"));
            Some(url.to_string())
        }
        _ => None,
    };
    let server = Server::spawn(dir.path(), database_url.as_deref(), in_process).await?;
    let ca = std::fs::read(dir.path().join("tls/ca.crt"))?;
    let identity = std::fs::read(dir.path().join("bench-client.pem"))?;
    let url = format!("{}{PATH}", server.resource);
    println!(
        "GET {PATH}: mTLS, certificate-bound token, {} kept-alive connections, server {}, {}",
        if http1 { "HTTP/1.1" } else { "HTTP/2 (ALPN)" },
        if in_process {
            "in this process"
        } else {
            "in a child process"
        },
        if database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
    );
    // One check that the request is what is measured.
    let probe = client(&ca, &identity, http1)?
        .get(&url)
        .bearer_auth(&server.token)
        .send()
        .await?;
    let status = probe.status();
    let body: serde_json::Value = probe.json().await?;
    if status != reqwest::StatusCode::OK
        || body["Data"]["Account"].as_array().map(Vec::len) != Some(2)
    {
        return Err(format!("the probe failed: {status} {body}").into());
    }
    for &n in &workers {
        let clients: Vec<reqwest::Client> = (0..n)
            .map(|_| client(&ca, &identity, http1))
            .collect::<Result<_>>()?;
        // Warm up: connections, handshakes, caches.
        phase(&url, &server.token, &clients, 1.0).await?;
        let (cpu0, busy0, timing0) = (
            cpu_seconds(server.pid),
            machine_busy_seconds(),
            server_time(&server.admin).await,
        );
        let (mut latencies, failures, elapsed) = phase(&url, &server.token, &clients, secs).await?;
        let (cpu1, busy1, timing1) = (
            cpu_seconds(server.pid),
            machine_busy_seconds(),
            server_time(&server.admin).await,
        );
        latencies.sort_unstable();
        let count = latencies.len();
        let rate = count as f64 / elapsed;
        let server_mean = match (timing0, timing1) {
            (Some((s0, c0)), Some((s1, c1))) if c1 > c0 => {
                format!("{:.3} ms", (s1 - s0) / (c1 - c0) * 1000.0)
            }
            _ => "n/a".to_owned(),
        };
        println!(
            "workers {n:>3}: {rate:>8.0} req/s  p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  \
             failures {failures}  server CPU {:.0} µs/req  machine busy {:.0}% of {} cores  server mean {server_mean}",
            percentile(&latencies, 50.0),
            percentile(&latencies, 90.0),
            percentile(&latencies, 99.0),
            percentile(&latencies, 100.0),
            (cpu1 - cpu0) / count.max(1) as f64 * 1e6,
            (busy1 - busy0)
                / elapsed
                / std::thread::available_parallelism().map_or(1.0, |p| p.get() as f64)
                * 100.0,
            std::thread::available_parallelism().map_or(1, |p| p.get()),
        );
    }
    server.stop().await;
    Ok(())
}
