//! Races through the real listeners: concurrent redemptions of one authorization code yield
//! exactly one token response, on each database.

use consentry_server::crypto::secret_hash;
use consentry_server::store::TokenStore as _;
use reqwest::StatusCode;
use serde_json::json;

use crate::fapi::{CHALLENGE, REDIRECT, Tpp, VERIFIER, browse, now, response_params};
use crate::support::{TestDb, TestServer, postgres_database};

async fn one_code_many_redemptions(db: TestDb, racers: usize) {
    let server = TestServer::start(db).await;
    let tpp = Tpp::register(&server, "racer", "fapi2-security", json!({})).await;
    let client = tpp.mtls(&server);
    let mut form = tpp.auth_params(&server.public);
    for (k, v) in [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "accounts"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ] {
        form.push((k.to_owned(), v.to_owned()));
    }
    let par: serde_json::Value = client
        .post(format!("{}/par", server.mtls))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request_uri = par["request_uri"].as_str().unwrap();
    let url = format!(
        "{}/authorize?client_id={}&request_uri={}",
        server.public,
        tpp.client_id,
        consentry_server::protocol::redirect::urlencode(request_uri)
    );
    let code = response_params(&browse(&server, &url, true).await)["code"]
        .as_str()
        .unwrap()
        .to_owned();

    let requests = (0..racers).map(|_| {
        let mut f = tpp.auth_params(&server.public);
        f.extend([
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
        ]);
        let request = client.post(format!("{}/token", server.mtls)).form(&f);
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let issued: Vec<&serde_json::Value> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(issued.len(), 1, "exactly one token response: {results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
    }
    // The other redemptions were reuse: the token that was issued is revoked with its grant.
    let token = issued[0]["access_token"].as_str().unwrap();
    assert!(
        server
            .state()
            .store
            .access_token(&secret_hash(token), now())
            .await
            .unwrap()
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn concurrent_code_redemptions_issue_once_on_sqlite() {
    one_code_many_redemptions(TestDb::Sqlite, 100).await;
}

#[tokio::test]
async fn concurrent_code_redemptions_issue_once_on_postgres() {
    let Some(url) = postgres_database().await else {
        return;
    };
    one_code_many_redemptions(TestDb::Postgres(url), 100).await;
}
