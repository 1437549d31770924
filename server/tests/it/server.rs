//! The whole server over real TLS: discovery, JWKS, login and logout, sessions, throttling, the
//! mTLS listener, health and metrics.

use consentry_server::crypto::sha256;
use consentry_server::store::SessionRecordStore as _;
use reqwest::StatusCode;
use rustls_pki_types::pem::PemObject as _;

use crate::support::{TestDb, TestServer, add_customer, csrf_of, postgres_database};

fn cookie_value(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let v = v.to_str().ok()?;
            let rest = v.strip_prefix("__Host-consentry=")?;
            Some(rest.split(';').next()?.to_owned())
        })
}

#[tokio::test]
async fn discovery_and_jwks_are_served_over_tls() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let client = server.client_builder().build().unwrap();
    let doc: serde_json::Value = client
        .get(format!(
            "{}/.well-known/openid-configuration",
            server.public
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], server.public);
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", server.public));
    assert!(doc["mtls_endpoint_aliases"].is_object());
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["PS256", "ES256"])
    );

    let response = client
        .get(format!("{}/jwks", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let jwks: serde_json::Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"PS256") && algs.contains(&"ES256"), "{jwks}");
    for k in keys {
        assert_eq!(k["use"], "sig");
        assert!(k["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
        assert!(k.get("d").is_none(), "no private members: {k}");
    }
    // The mTLS listener serves discovery too, with or without a certificate.
    let doc2: serde_json::Value = client
        .get(format!("{}/.well-known/openid-configuration", server.mtls))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc2, doc);
    server.stop().await;
}

#[tokio::test]
async fn customer_logs_in_and_out_with_rotated_session_and_csrf() {
    let server = TestServer::start(TestDb::Sqlite).await;
    add_customer(&server, "dana", "dana-password-1").await;
    let browser = server.browser();
    let login = browser
        .get(format!("{}/login", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let pre_login_cookie = cookie_value(&login).expect("a session cookie for the form");
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(
        login.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let csrf = csrf_of(&login.text().await.unwrap());

    // Without the CSRF token the form is refused.
    let no_csrf = browser
        .post(format!("{}/login", server.public))
        .form(&[
            ("username", "dana"),
            ("password", "dana-password-1"),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::BAD_REQUEST);

    // Wrong password and unknown user: one generic answer.
    let mut bodies = Vec::new();
    for (user, pw) in [("dana", "wrong"), ("nobody", "dana-password-1")] {
        let r = browser
            .post(format!("{}/login", server.public))
            .form(&[("username", user), ("password", pw), ("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body = r.text().await.unwrap();
        let start = body.find("id=\"login-error\"").expect("error shown");
        bodies.push(body[start..start + 120].to_owned());
    }
    assert_eq!(
        bodies[0], bodies[1],
        "the same message for a wrong password and an unknown user"
    );

    let ok = browser
        .post(format!("{}/login", server.public))
        .form(&[
            ("username", "dana"),
            ("password", "dana-password-1"),
            ("csrf_token", &csrf),
            ("return_to", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()["location"], "/");
    let session_cookie = cookie_value(&ok).expect("session cookie re-issued at login");
    assert_ne!(
        session_cookie, pre_login_cookie,
        "session id rotated at login"
    );

    // The store holds the SHA-256 of the session id, never the id.
    let store = &server.state().store;
    let id = consentry_server::crypto::b64url_decode(&session_cookie).expect("cookie is base64url");
    let id = i128::from_le_bytes(id.try_into().expect("16 bytes"));
    assert!(
        store
            .load_session(&sha256(&id.to_le_bytes()), 0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .load_session(&id.to_le_bytes(), 0)
            .await
            .unwrap()
            .is_none()
    );

    let home = browser
        .get(format!("{}/", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("dana Example") && home.contains("id=\"logout-form\""),
        "{home}"
    );
    // The pre-login CSRF token no longer works: it was renewed at login.
    let stale = browser
        .post(format!("{}/logout", server.public))
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    let out = browser
        .post(format!("{}/logout", server.public))
        .form(&[("csrf_token", &csrf_of(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = browser
        .get(format!("{}/", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!after.contains("dana Example") && after.contains("Sign in"));
    server.stop().await;
}

#[tokio::test]
async fn a_session_ends_after_the_idle_time() {
    use consentry_server::clock::{Clock as _, FixedClock, SystemClock};
    let clock = std::sync::Arc::new(FixedClock::new(SystemClock.now()));
    let server = TestServer::start_with_clock(TestDb::Sqlite, clock.clone(), |c| {
        c.login.session_idle_secs = 600
    })
    .await;
    add_customer(&server, "hana", "hana-password-1").await;
    let browser = server.browser();
    let login = browser
        .get(format!("{}/login", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ok = browser
        .post(format!("{}/login", server.public))
        .form(&[
            ("username", "hana"),
            ("password", "hana-password-1"),
            ("csrf_token", &csrf_of(&login)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let home = || async {
        browser
            .get(format!("{}/", server.public))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    clock.advance(590);
    assert!(
        home().await.contains("hana Example"),
        "still signed in before the idle time"
    );
    clock.advance(700);
    assert!(
        !home().await.contains("hana Example"),
        "signed out after the idle time"
    );
    server.stop().await;
}

#[tokio::test]
async fn repeated_failures_throttle_the_account() {
    let server = TestServer::start_with(TestDb::Sqlite, |c| c.login.account_max_failures = 3).await;
    add_customer(&server, "erin", "erin-password-1").await;
    let browser = server.browser();
    let csrf = csrf_of(
        &browser
            .get(format!("{}/login", server.public))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let attempt = |pw: &'static str| {
        let browser = browser.clone();
        let url = format!("{}/login", server.public);
        let csrf = csrf.clone();
        async move {
            browser
                .post(url)
                .form(&[
                    ("username", "erin"),
                    ("password", pw),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        attempt("erin-password-1").await,
        StatusCode::TOO_MANY_REQUESTS,
        "throttled even with the right password"
    );

    // Concurrent guesses at another account cannot slip under the limit together.
    add_customer(&server, "ivan", "ivan-password-1").await;
    let url = format!("{}/login", server.public);
    let guesses = (0..12).map(|i| {
        let (browser, url, csrf) = (browser.clone(), url.clone(), csrf.clone());
        async move {
            let pw = format!("guess-{i}");
            browser
                .post(url)
                .form(&[
                    ("username", "ivan"),
                    ("password", pw.as_str()),
                    ("csrf_token", csrf.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(
        checked, 3,
        "only as many passwords checked as the limit allows: {statuses:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_mtls_listener_hands_the_certificate_to_handlers() {
    use consentry_server::tls::local_ca::{
        ClientSubject, ensure_local_pki, issue_client_certificate,
    };
    let server = TestServer::start(TestDb::Sqlite).await;
    let pki = ensure_local_pki(&server.data_dir.join("tls"), &[], 0).unwrap();
    let subject = ClientSubject {
        common_name: "tpp-one".to_owned(),
        organization: Some("TPP One Ltd".to_owned()),
        country: Some("GB".to_owned()),
        ..ClientSubject::default()
    };
    let now = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_secs() as i64;
    let (cert, key) = issue_client_certificate(&pki, &subject, now).unwrap();
    let identity = reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap();
    let with_cert = server.client_builder().identity(identity).build().unwrap();
    let seen: serde_json::Value = with_cert
        .get(format!("{}/tls/client-certificate", server.mtls))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        seen["subject"].as_str().unwrap().contains("CN=tpp-one"),
        "{seen}"
    );
    assert_eq!(seen["source"], "tls");
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    assert_eq!(
        seen["x5t#S256"],
        consentry_server::crypto::b64url(&sha256(&der))
    );

    let without = server.client_builder().build().unwrap();
    let r = without
        .get(format!("{}/tls/client-certificate", server.mtls))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn admin_listener_reports_health_readiness_and_metrics() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let http = reqwest::Client::new();
    let tls = server.client_builder().build().unwrap();
    tls.get(format!("{}/jwks", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(
        http.get(format!("{}/healthz", server.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let ready = http
        .get(format!("{}/readyz", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = http
        .get(format!("{}/metrics", server.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "http_requests_total{listener=\"public\",method=\"GET\",route=\"/jwks\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket{listener=\"public\""),
        "{metrics}"
    );

    // With the database gone, the server is alive but not ready.
    server.state().store.close().await;
    let not_ready = http
        .get(format!("{}/readyz", server.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        http.get(format!("{}/healthz", server.admin))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_pages_and_malformed_forms_get_pages_not_plain_text() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let browser = server.browser();
    let r = browser
        .get(format!("{}/no/such/page", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("id=\"error-title\""));
    browser
        .get(format!("{}/login", server.public))
        .send()
        .await
        .unwrap();
    let r = browser
        .post(format!("{}/login", server.public))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=only")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    server.stop().await;
}

/// Two nodes on one PostgreSQL: a login made on one is a session on the other, and both publish
/// the same keys. Nodes keep nothing a flow needs.
#[tokio::test]
async fn two_nodes_on_one_postgres_share_sessions_and_keys() {
    let Some(url) = postgres_database().await else {
        return;
    };
    let a = TestServer::start(TestDb::Postgres(url.clone())).await;
    let master = std::fs::read_to_string(a.data_dir.join("master.key")).unwrap();
    let b = TestServer::start_with(TestDb::Postgres(url), |c| {
        c.keys.master_key = Some(consentry_server::config::Secret::new(master.trim()));
    })
    .await;
    add_customer(&a, "frank", "frank-password-1").await;

    let ja: serde_json::Value = a
        .client_builder()
        .build()
        .unwrap()
        .get(format!("{}/jwks", a.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jb: serde_json::Value = b
        .client_builder()
        .build()
        .unwrap()
        .get(format!("{}/jwks", b.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ja, jb, "one set of keys for the deployment");

    let browser_a = a.browser();
    let login = browser_a
        .get(format!("{}/login", a.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ok = browser_a
        .post(format!("{}/login", a.public))
        .form(&[
            ("username", "frank"),
            ("password", "frank-password-1"),
            ("csrf_token", &csrf_of(&login)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_value(&ok).unwrap();

    // Node B (another port, its own CA) sees the same session from the cookie alone.
    let b_client = b.client_builder().build().unwrap();
    let home = b_client
        .get(format!("{}/", b.public))
        .header("cookie", format!("__Host-consentry={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("frank Example"), "{home}");
    a.stop().await;
    b.stop().await;
}
