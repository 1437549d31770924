//! Runs every plan-variant of the FAPI plans, `plain_fapi` and `openbanking_uk`, against a freshly
//! started Consentry with its resource APIs (SQLite, the demo bank's customers and accounts, two
//! registered test clients per variant with different keys and certificate subjects). Passes
//! only if every module passes or is listed in `expected-failures.json`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;

use consentry_conformance::config::Config;
use consentry_conformance::plan::Variant;
use consentry_conformance::suite_config::{self, ClientMaterial, SuiteConfig};
use consentry_conformance::{report, sms_inbox};
use consentry_server::clock::{Clock as _, SharedClock, SystemClock};
use consentry_server::registration::test_client::new_identity;
use consentry_server::store::{ClientRecord, ClientStatus, ClientStore as _};
use consentry_server::tls::local_ca::ensure_local_pki;

/// A customer of the demo bank, with accounts to share.
const USER: &str = "alice";
const PASSWORD: &str = "alice-demo-2026";

struct Server {
    running: consentry_server::serve::Running,
    /// The server's SMS gateway: the one-time codes of the UK OB flows land here.
    inbox: sms_inbox::Inbox,
    dir: tempfile::TempDir,
    public: String,
    mtls: String,
    resource: String,
    ca: String,
}

async fn start() -> Server {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let inbox = sms_inbox::start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = consentry_server::config::Config::default();
    // alice has a phone, so every flow binding a UK OB consent sends her a one-time code
    // through the inbox, where the browser step reads it back.
    config.sca.sms.gateway_url = Some(url::Url::parse(&inbox.url()).unwrap());
    config.storage.data_dir = dir.path().to_owned();
    config.login.argon2_memory_kib = 64;
    config.login.argon2_iterations = 1;
    // Every module of every variant logs the same customer in, many at once: throttling is
    // tested in the server's own suite, not here.
    config.login.address_max_failures = 100_000;
    config.login.account_max_failures = 100_000;
    // So for the one-time codes each UK OB flow sends her.
    config.sca.otp_max_sends = 1_000_000;
    // A short request_uri lifetime keeps par-attempt-to-use-expired-request_uri's wait short.
    config.tokens.request_uri_secs = 20;
    let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
    let (public, mtls, admin, resource) = (
        bind().await.unwrap(),
        bind().await.unwrap(),
        bind().await.unwrap(),
        bind().await.unwrap(),
    );
    let base = |l: &tokio::net::TcpListener| {
        format!("https://localhost:{}", l.local_addr().unwrap().port())
    };
    let (public_base, mtls_base, resource_base) = (base(&public), base(&mtls), base(&resource));
    config.server.issuer = url::Url::parse(&public_base).unwrap();
    config.server.mtls_addr = mtls.local_addr().unwrap();
    config.server.mtls_base_url = Some(url::Url::parse(&mtls_base).unwrap());
    config.server.resource_addr = resource.local_addr().unwrap();
    config.server.resource_base_url = Some(url::Url::parse(&resource_base).unwrap());
    let clock: SharedClock = Arc::new(SystemClock);
    let prepared = consentry_server::serve::prepare(config, clock)
        .await
        .unwrap();
    // The demo bank: customers with accounts, which the UK OB consent page offers to share.
    let demo = consentry_server::demo::seed(&prepared).await.unwrap();
    assert!(
        demo.credentials
            .iter()
            .any(|c| c.username == USER && c.password == PASSWORD)
    );
    let running = consentry_server::serve::start_with(
        prepared,
        consentry_server::serve::Listeners {
            public,
            mtls,
            admin,
            resource: Some(resource),
        },
        consentry_resource_apis::router,
    )
    .unwrap();
    let ca = std::fs::read_to_string(dir.path().join("tls/ca.crt")).unwrap();
    Server {
        running,
        inbox,
        dir,
        public: public_base,
        mtls: mtls_base,
        resource: resource_base,
        ca,
    }
}

/// Registers a client for `variant` on the server and returns its material.
async fn register(server: &Server, variant: &Variant, id: &str, redirect: &str) -> ClientMaterial {
    let pki = ensure_local_pki(&server.dir.path().join("tls"), &[], SystemClock.now()).unwrap();
    let identity = new_identity(&pki, id, &format!("{id} Ltd"), SystemClock.now()).unwrap();
    let material = ClientMaterial {
        client_id: id.to_owned(),
        private_jwk: identity.private_jwk,
        public_jwk: identity.public_jwk,
        cert_pem: identity.cert_pem,
        key_pem: identity.key_pem,
        subject_dn: identity.subject_dn,
    };
    let metadata = suite_config::client_metadata(variant, &material, &[redirect.to_owned()]);
    server
        .running
        .state
        .store
        .insert_client(&ClientRecord {
            client_id: id.to_owned(),
            client_name: Some(id.to_owned()),
            profile: suite_config::profile(variant).to_owned(),
            metadata: metadata.to_string(),
            secret_hash: None,
            status: ClientStatus::Active,
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
    material
}

async fn config_for(server: &Server, variant: &Variant, n: usize) -> Config {
    let redirects = [
        "https://tpp.example/callback",
        "https://tpp.example/callback?dummy1=lorem&dummy2=ipsum",
    ];
    let a = register(server, variant, &format!("conf-{n}-a"), redirects[0]).await;
    let b = register(server, variant, &format!("conf-{n}-b"), redirects[1]).await;
    let alias = format!("ci-{n}");
    let discovery = format!("{}/.well-known/openid-configuration", server.public);
    let json = suite_config::config_json(&SuiteConfig {
        alias: &alias,
        discovery_url: &discovery,
        public_base: &server.public,
        clients: [&a, &b],
        redirect_uris: redirects,
        resource: suite_config::resource(variant, &server.mtls, &server.resource),
        ca_pem: &server.ca,
        username: USER,
        password: PASSWORD,
        include_server_ca: true,
        sms_inbox: Some(&server.inbox.url()),
    });
    serde_json::from_value(json).unwrap()
}

/// Every variant of the three plans, in both profiles. The suite lets `openbanking_uk` combine
/// with `plain_oauth` (no variant restriction; the id token checks then have no id token).
fn variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for profile in ["plain_fapi", "openbanking_uk"] {
        for auth in ["private_key_jwt", "mtls"] {
            for mode in ["plain_response", "jarm"] {
                for method in ["by_value", "pushed"] {
                    out.push(format!("fapi1-advanced-final[client_auth_type={auth}][fapi_response_mode={mode}][fapi_auth_request_method={method}][fapi_profile={profile}]"));
                }
            }
            for plan in [
                "fapi2-security-profile-final",
                "fapi2-message-signing-final",
            ] {
                for sc in ["mtls", "dpop"] {
                    for oid in ["openid_connect", "plain_oauth"] {
                        out.push(format!("{plan}[client_auth_type={auth}][sender_constrain={sc}][openid={oid}][fapi_profile={profile}]"));
                    }
                }
            }
        }
    }
    out.iter().map(|v| Variant::parse(v).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_plan_variant_passes() {
    let server = start().await;
    let expected = report::parse_expected(include_str!("../../expected-failures.json")).unwrap();
    let variants = variants();
    let mut configs = Vec::new();
    for (n, v) in variants.iter().enumerate() {
        configs.push(config_for(&server, v, n).await);
    }
    let runs = variants
        .iter()
        .zip(&configs)
        .map(|(v, c)| report::run(c, v, None, 3));
    let results = futures_util::future::join_all(runs).await;
    let mut all_ok = true;
    let mut totals = (0, 0);
    for (v, reports) in variants.iter().zip(&results) {
        let verdict = report::verdict(v, reports, &expected);
        for line in &verdict.lines {
            println!("{line}");
        }
        totals.0 += reports.iter().filter(|r| r.result == "PASSED").count();
        totals.1 += reports.iter().filter(|r| r.result == "FAILED").count();
        all_ok &= verdict.ok;
    }
    println!(
        "all plans: {} modules passed, {} failed",
        totals.0, totals.1
    );
    assert!(
        all_ok,
        "some module failed that is not an expected failure (see the lines above)"
    );
    // The UK OB flows went through the one-time code page, not around it.
    assert!(
        !server.inbox.is_empty(),
        "no one-time code was sent to the SMS inbox"
    );
    server.running.shutdown().await;
    server.inbox.shutdown().await.unwrap();
}
