//! Runs every plan-variant of the FAPI plans against a freshly started Consentry (SQLite, demo
//! customer, two registered test clients per variant with different keys and certificate
//! subjects). Passes only if every module passes or is listed in `expected-failures.json`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::sync::Arc;

use consentry_conformance::config::Config;
use consentry_conformance::plan::{ClientAuth, Plan, Variant};
use consentry_conformance::report;
use consentry_server::clock::{Clock as _, SharedClock, SystemClock};
use consentry_server::store::{
    ClientRecord, ClientStatus, ClientStore as _, Role, User, UserStore as _,
};
use consentry_server::tls::local_ca::{ClientSubject, ensure_local_pki, issue_client_certificate};
use josekit::jwk::alg::rsa::RsaKeyPair;
use serde_json::{Value, json};

const USER: &str = "conformance-psu";
const PASSWORD: &str = "conformance-password-1";

struct Server {
    running: consentry_server::serve::Running,
    dir: tempfile::TempDir,
    public: String,
    ca: String,
}

async fn start() -> Server {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = consentry_server::config::Config::default();
    config.storage.data_dir = dir.path().to_owned();
    config.login.argon2_memory_kib = 64;
    config.login.argon2_iterations = 1;
    // Every module of every variant logs the same customer in, many at once: throttling is
    // tested in the server's own suite, not here.
    config.login.address_max_failures = 100_000;
    config.login.account_max_failures = 100_000;
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mtls = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (pp, mp) = (
        public.local_addr().unwrap().port(),
        mtls.local_addr().unwrap().port(),
    );
    config.server.issuer = url::Url::parse(&format!("https://localhost:{pp}")).unwrap();
    config.server.mtls_addr = mtls.local_addr().unwrap();
    config.server.mtls_base_url =
        Some(url::Url::parse(&format!("https://localhost:{mp}")).unwrap());
    let clock: SharedClock = Arc::new(SystemClock);
    let prepared = consentry_server::serve::prepare(config, clock)
        .await
        .unwrap();
    let state = prepared.state.clone();
    let running = consentry_server::serve::start(
        prepared,
        consentry_server::serve::Listeners {
            public,
            mtls,
            admin,
        },
    )
    .unwrap();
    let user = User {
        id: consentry_server::crypto::new_id(),
        username: USER.to_owned(),
        display_name: "Conformance Customer".to_owned(),
        email: None,
        phone: None,
        role: Role::Customer,
        password_hash: state.passwords.hash(PASSWORD).await.unwrap(),
        disabled_at: None,
        created_at: SystemClock.now(),
    };
    state.store.insert_user(&user).await.unwrap();
    let ca = std::fs::read_to_string(dir.path().join("tls/ca.crt")).unwrap();
    Server {
        running,
        dir,
        public: format!("https://localhost:{pp}"),
        ca,
    }
}

/// Registers a client for `variant`, returns its harness config (private JWKS) and mTLS material.
async fn register(server: &Server, variant: &Variant, id: &str, redirect: &str) -> (Value, Value) {
    let mut key = RsaKeyPair::generate(2048).unwrap().to_jwk_key_pair();
    key.set_key_id(format!("{id}-key"));
    key.set_algorithm("PS256");
    key.set_key_use("sig");
    let mut public = key.to_public_key().unwrap();
    public.set_key_id(format!("{id}-key"));
    let pki = ensure_local_pki(&server.dir.path().join("tls"), &[], SystemClock.now()).unwrap();
    let subject = ClientSubject {
        common_name: id.to_owned(),
        organization: Some(format!("{id} Ltd")),
        country: Some("GB".to_owned()),
        ..ClientSubject::default()
    };
    let (cert, cert_key) = issue_client_certificate(&pki, &subject, SystemClock.now()).unwrap();
    let profile = match variant.plan {
        Plan::Fapi1Advanced => "fapi1-advanced",
        Plan::Fapi2Security => "fapi2-security",
        Plan::Fapi2MessageSigning => "fapi2-message-signing",
    };
    let mut metadata = json!({
        "client_id": id,
        "client_name": id,
        "profile": profile,
        "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code", "code id_token"],
        "scope": "openid accounts",
        "jwks": {"keys": [serde_json::to_value(public.as_ref()).unwrap()]},
        "token_endpoint_auth_method": "private_key_jwt",
    });
    if variant.client_auth == ClientAuth::Mtls {
        metadata["token_endpoint_auth_method"] = json!("tls_client_auth");
        metadata["tls_client_auth_subject_dn"] = json!(format!("CN={id},O={id} Ltd,C=GB"));
    }
    if variant.dpop() {
        metadata["dpop_bound_access_tokens"] = json!(true);
    }
    server
        .running
        .state
        .store
        .insert_client(&ClientRecord {
            client_id: id.to_owned(),
            client_name: Some(id.to_owned()),
            profile: profile.to_owned(),
            metadata: metadata.to_string(),
            secret_hash: None,
            status: ClientStatus::Active,
            created_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
    let private = serde_json::to_value(key.as_ref()).unwrap();
    (
        json!({"client_id": id, "scope": "openid accounts", "jwks": {"keys": [private]}, "redirect_uri": redirect}),
        json!({"cert": cert, "key": cert_key, "ca": server.ca}),
    )
}

async fn config_for(server: &Server, variant: &Variant, n: usize) -> Config {
    let (client, mtls) = register(
        server,
        variant,
        &format!("conf-{n}-a"),
        "https://tpp.example/callback",
    )
    .await;
    let (client2, mtls2) = register(
        server,
        variant,
        &format!("conf-{n}-b"),
        "https://tpp.example/callback?dummy1=lorem&dummy2=ipsum",
    )
    .await;
    let p = &server.public;
    serde_json::from_value(json!({
        "alias": format!("ci-{n}"),
        "server": {"discoveryUrl": format!("{p}/.well-known/openid-configuration")},
        "client": client, "client2": client2, "mtls": mtls, "mtls2": mtls2,
        "server_ca": server.ca,
        "browser": [{
            "match": format!("{p}/authorize*"),
            "tasks": [
                {"task": "Login", "match": format!("{p}/login*"), "commands": [["text", "id", "username", USER], ["text", "id", "password", PASSWORD], ["click", "id", "login-submit"]]},
                {"task": "Consent", "match": format!("{p}/authorize/resume*"), "commands": [["click", "id", "consent-approve"]]}
            ]
        }]
    }))
    .unwrap()
}

fn variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for auth in ["private_key_jwt", "mtls"] {
        for mode in ["plain_response", "jarm"] {
            for method in ["by_value", "pushed"] {
                out.push(format!("fapi1-advanced-final[client_auth_type={auth}][fapi_response_mode={mode}][fapi_auth_request_method={method}][fapi_profile=plain_fapi]"));
            }
        }
        for plan in [
            "fapi2-security-profile-final",
            "fapi2-message-signing-final",
        ] {
            for sc in ["mtls", "dpop"] {
                for oid in ["openid_connect", "plain_oauth"] {
                    out.push(format!("{plan}[client_auth_type={auth}][sender_constrain={sc}][openid={oid}][fapi_profile=plain_fapi]"));
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
        .map(|(v, c)| report::run(c, v, None, 6));
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
    server.running.shutdown().await;
}
