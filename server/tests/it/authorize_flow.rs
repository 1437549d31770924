//! The authorization endpoint's interaction rules: prompt, cancel on the login page, a pushed
//! request reused before it completes.

use reqwest::StatusCode;
use serde_json::json;

use crate::fapi::{CHALLENGE, REDIRECT, Tpp, response_params};
use crate::support::{TestDb, TestServer, add_customer, csrf_of};

async fn push(server: &TestServer, tpp: &Tpp, extra: &[(&str, &str)]) -> String {
    let mut form = tpp.auth_params(&server.public);
    for (k, v) in [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid accounts"),
        ("state", "st"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .chain(extra)
    {
        form.push(((*k).to_owned(), (*v).to_owned()));
    }
    let r = tpp
        .mtls(server)
        .post(format!("{}/par", server.mtls))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    format!(
        "{}/authorize?client_id={}&request_uri={}",
        server.public,
        tpp.client_id,
        consentry_server::protocol::redirect::urlencode(body["request_uri"].as_str().unwrap())
    )
}

async fn log_in(server: &TestServer, browser: &reqwest::Client, user: &str) -> reqwest::Response {
    let page = browser
        .get(format!(
            "{}/login?return_to=%2Fauthorize%2Fresume",
            server.public
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    browser
        .post(format!("{}/login", server.public))
        .form(&[
            ("username", user),
            ("password", "flow-password-1"),
            ("csrf_token", &csrf_of(&page)),
            ("return_to", "/authorize/resume"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "prompt-client", "fapi2-security", json!({})).await;
    let url = push(&server, &tpp, &[("prompt", "none")]).await;
    let r = server.browser().get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let params = response_params(r.headers()["location"].to_str().unwrap());
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st");
    assert_eq!(params["iss"], server.public.as_str());
    server.stop().await;
}

#[tokio::test]
async fn prompt_login_asks_a_signed_in_customer_to_log_in_again() {
    let server = TestServer::start(TestDb::Sqlite).await;
    add_customer(&server, "gail", "flow-password-1").await;
    let tpp = Tpp::register(&server, "login-client", "fapi2-security", json!({})).await;
    let browser = server.browser();
    assert_eq!(
        log_in(&server, &browser, "gail").await.status(),
        StatusCode::SEE_OTHER
    );

    // Without prompt=login the existing session goes straight to consent.
    let url = push(&server, &tpp, &[]).await;
    browser.get(&url).send().await.unwrap();
    let consent = browser
        .get(format!("{}/authorize/resume", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), StatusCode::OK, "signed in: consent page");

    // With prompt=login the customer logs in again first.
    let url = push(&server, &tpp, &[("prompt", "login")]).await;
    browser.get(&url).send().await.unwrap();
    let r = browser
        .get(format!("{}/authorize/resume", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"),
        "a fresh login is needed"
    );
    server.stop().await;
}

#[tokio::test]
async fn cancel_on_the_login_page_is_access_denied() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "cancel-client", "fapi2-security", json!({})).await;
    let browser = server.browser();
    let url = push(&server, &tpp, &[]).await;
    browser.get(&url).send().await.unwrap();
    let r = browser
        .get(format!("{}/authorize/resume", server.public))
        .send()
        .await
        .unwrap();
    let login_url = format!(
        "{}{}",
        server.public,
        r.headers()["location"].to_str().unwrap()
    );
    let page = browser
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"login-cancel\""));
    let r = browser
        .post(format!("{}/authorize/decision", server.public))
        .form(&[
            ("csrf_token", csrf_of(&page).as_str()),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let params = response_params(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        (Some("access_denied"), Some("st"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pushed_request_can_be_reused_until_it_completes() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "reuse-client", "fapi2-security", json!({})).await;
    let url = push(&server, &tpp, &[]).await;
    // Two browsers start from the same request_uri; both reach the login step.
    for _ in 0..2 {
        let r = server.browser().get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/authorize/resume");
    }
    // Another client cannot use it.
    let other = Tpp::register(&server, "thief-client", "fapi2-security", json!({})).await;
    let stolen = url.replace(
        "client_id=reuse-client",
        &format!("client_id={}", other.client_id),
    );
    assert_eq!(
        server.browser().get(&stolen).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    server.stop().await;
}
