//! The endpoints that take the tokens the token endpoint issued, through the real TLS listeners:
//! UserInfo with certificate-bound and DPoP-bound tokens, introspection (JSON and RFC 9701 JWT),
//! revocation, and the refresh_token grant.

use consentry_server::crypto::random_token;
use consentry_server::store::{AccessTokenRecord, GrantRecord, GrantStore as _, TokenStore as _};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fapi::{
    CHALLENGE, DpopKey, REDIRECT, Tpp, VERIFIER, browse, half_hash, now, post_token,
    response_params, verify_server_jwt,
};
use crate::support::{TestDb, TestServer, add_customer};

/// PAR, login and consent, code exchange: the token response for `tpp`, bound to its
/// certificate, or to `dpop` when given.
pub(crate) async fn tokens(
    server: &TestServer,
    tpp: &Tpp,
    scope: &str,
    claims: Option<Value>,
    dpop: Option<&DpopKey>,
) -> Value {
    let client = tpp.mtls(server);
    let par_url = format!("{}/par", server.mtls);
    let mut form = tpp.auth_params(&server.public);
    for (k, v) in [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("nonce", "nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ] {
        form.push((k.to_owned(), v.to_owned()));
    }
    if let Some(c) = claims {
        form.push(("claims".to_owned(), c.to_string()));
    }
    let mut request = client.post(&par_url).form(&form);
    if let Some(key) = dpop {
        request = request.header("DPoP", key.proof("POST", &par_url));
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let request_uri = r.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let location = browse(
        server,
        &format!(
            "{}/authorize?client_id={}&request_uri={}",
            server.public,
            tpp.client_id,
            consentry_server::protocol::redirect::urlencode(&request_uri)
        ),
        true,
    )
    .await;
    let code = response_params(&location)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut form = tpp.auth_params(&server.public);
    form.extend([
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ]);
    let proof = dpop.map(|key| key.proof("POST", &format!("{}/token", server.mtls)));
    let (status, _, body) = post_token(server, &client, &form, proof).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(crate) fn str_of<'a>(body: &'a Value, member: &str) -> &'a str {
    body[member]
        .as_str()
        .unwrap_or_else(|| panic!("{member} in {body}"))
}

/// GET `url` with `Authorization: <authorization>` and an optional DPoP proof.
pub(crate) async fn get_with(
    client: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    dpop: Option<String>,
) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(a) = authorization {
        request = request.header("Authorization", a);
    }
    if let Some(p) = dpop {
        request = request.header("DPoP", p);
    }
    request.send().await.unwrap()
}

pub(crate) async fn error_of(r: reqwest::Response) -> (StatusCode, Option<String>, String) {
    let status = r.status();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    (status, challenge, str_of(&body, "error").to_owned())
}

/// POST to introspection or revocation as `tpp`, over its certificate.
async fn back_channel(
    server: &TestServer,
    tpp: &Tpp,
    path: &str,
    params: &[(&str, &str)],
    accept: Option<&str>,
) -> reqwest::Response {
    let mut form = tpp.auth_params(&server.public);
    form.extend(
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let mut request = tpp
        .mtls(server)
        .post(format!("{}{path}", server.mtls))
        .form(&form);
    if let Some(a) = accept {
        request = request.header("Accept", a);
    }
    request.send().await.unwrap()
}

pub(crate) async fn introspect(server: &TestServer, tpp: &Tpp, token: &str) -> Value {
    let r = back_channel(server, tpp, "/introspect", &[("token", token)], None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

pub(crate) async fn revoke(server: &TestServer, tpp: &Tpp, params: &[(&str, &str)]) {
    let r = back_channel(server, tpp, "/revoke", params, None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "", "RFC 7009: an empty body");
}

fn refresh_form(tpp: &Tpp, server: &TestServer, refresh_token: &str) -> Vec<(String, String)> {
    let mut form = tpp.auth_params(&server.public);
    form.extend([
        ("grant_type".to_owned(), "refresh_token".to_owned()),
        ("refresh_token".to_owned(), refresh_token.to_owned()),
    ]);
    form
}

#[tokio::test]
async fn userinfo_needs_the_certificate_the_token_is_bound_to() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "ui-client", "fapi2-security", json!({})).await;
    let other = Tpp::register(&server, "ui-other", "fapi2-security", json!({})).await;
    let body = tokens(
        &server,
        &tpp,
        "openid accounts",
        Some(json!({"userinfo": {"name": null, "email": {"essential": true}}})),
        None,
    )
    .await;
    let access = str_of(&body, "access_token");
    let id_token = verify_server_jwt(&server, str_of(&body, "id_token")).await;
    let url = format!("{}/userinfo", server.mtls);
    let bearer = format!("Bearer {access}");
    let client = tpp.mtls(&server);

    let r = get_with(&client, &url, Some(&bearer), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let made = r.headers()["x-fapi-interaction-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let claims: Value = r.json().await.unwrap();
    assert_eq!(claims["sub"], id_token["sub"], "{claims}");
    let name = str_of(&claims, "name");
    assert!(
        name.starts_with("psu-") && name.ends_with(" Example"),
        "{name}"
    );
    assert!(
        claims.get("email").is_none(),
        "the user has no email: {claims}"
    );
    assert_eq!(
        claims.as_object().unwrap().len(),
        2,
        "only what was asked: {claims}"
    );

    // A new FAPI interaction id when the client sent none; the client's own echoed.
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    let id = "93bac548-d2de-4546-b106-880a5018460d";
    let r = client
        .get(&url)
        .header("Authorization", &bearer)
        .header("x-fapi-interaction-id", id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-fapi-interaction-id"], id);

    // The scheme is case-insensitive; POST works too.
    let r = get_with(&client, &url, Some(&format!("bEARER {access}")), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = client
        .post(&url)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Without the certificate, with another one, or on the public listener: invalid_token.
    let no_cert = server.client_builder().build().unwrap();
    for (client, url) in [
        (&no_cert, url.clone()),
        (&other.mtls(&server), url.clone()),
        (&no_cert, format!("{}/userinfo", server.public)),
    ] {
        let (status, challenge, error) =
            error_of(get_with(client, &url, Some(&bearer), None).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "{url}"
        );
        assert!(challenge.unwrap().starts_with("Bearer "), "{url}");
    }

    // The token outside the Authorization header is refused, even with the header too.
    for authorization in [None, Some(bearer.as_str())] {
        let r = get_with(
            &client,
            &format!("{url}?access_token={access}"),
            authorization,
            None,
        )
        .await;
        assert_eq!(
            error_of(r).await,
            (StatusCode::BAD_REQUEST, None, "invalid_request".to_owned())
        );
    }
    let r = client
        .post(&url)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, None, "invalid_request".to_owned())
    );

    // No token, an unknown one, another scheme, the DPoP scheme for a token not bound by DPoP.
    for authorization in [
        None,
        Some("Bearer unknown-token".to_owned()),
        Some(format!("Basic {access}")),
        Some(format!("DPoP {access}")),
    ] {
        let (status, challenge, error) =
            error_of(get_with(&client, &url, authorization.as_deref(), None).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        assert!(challenge.is_some());
    }

    // A token without openid (client_credentials) has no user to describe.
    let mut cc = tpp.auth_params(&server.public);
    cc.extend([
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("scope".to_owned(), "accounts".to_owned()),
    ]);
    let (status, _, body) = post_token(&server, &client, &cc, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r = get_with(
        &client,
        &url,
        Some(&format!("Bearer {}", str_of(&body, "access_token"))),
        None,
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (
            StatusCode::FORBIDDEN,
            Some("Bearer error=\"insufficient_scope\"".to_owned()),
            "insufficient_scope".to_owned()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn dpop_bound_tokens_need_a_proof_for_the_token_at_userinfo() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(
        &server,
        "ui-dpop",
        "fapi2-security",
        json!({"dpop_bound_access_tokens": true}),
    )
    .await;
    let key = DpopKey::new();
    let body = tokens(&server, &tpp, "openid accounts", None, Some(&key)).await;
    assert_eq!(body["token_type"], "DPoP");
    let access = str_of(&body, "access_token");
    let public = format!("{}/userinfo", server.public);
    let mtls = format!("{}/userinfo", server.mtls);
    let dpop = format!("DPoP {access}");
    let client = server.client_builder().build().unwrap();

    for (authorization, proof, why) in [
        (dpop.as_str(), None, "no proof"),
        (
            dpop.as_str(),
            Some(key.proof("GET", &public)),
            "a proof without ath",
        ),
        (
            dpop.as_str(),
            Some(key.proof_for("GET", &public, Some("another-token"))),
            "a proof with the wrong ath",
        ),
        (
            dpop.as_str(),
            Some(DpopKey::new().proof_for("GET", &public, Some(access))),
            "a proof by another key",
        ),
        (
            dpop.as_str(),
            Some(key.proof_for("GET", &mtls, Some(access))),
            "a proof for the other listener's URL",
        ),
        (
            dpop.as_str(),
            Some(key.proof_for("POST", &public, Some(access))),
            "a proof for another method",
        ),
        (
            &format!("Bearer {access}"),
            Some(key.proof_for("GET", &public, Some(access))),
            "a DPoP-bound token presented as Bearer",
        ),
    ] {
        let (status, challenge, error) =
            error_of(get_with(&client, &public, Some(authorization), proof).await).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "{why}"
        );
        assert!(challenge.unwrap().starts_with("DPoP "), "{why}");
    }

    let proof = key.proof_for("GET", &public, Some(access));
    let r = get_with(&client, &public, Some(&dpop), Some(proof.clone())).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap()["sub"].is_string());
    let (status, _, _) = error_of(get_with(&client, &public, Some(&dpop), Some(proof)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a proof is used once");

    // The mTLS listener serves DPoP clients too, with proofs naming its URL.
    let r = get_with(
        &client,
        &mtls,
        Some(&format!("dpop {access}")),
        Some(key.proof_for("GET", &mtls, Some(access))),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let answer = introspect(&server, &tpp, access).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert!(answer["cnf"]["jkt"].is_string() && answer["cnf"].get("x5t#S256").is_none());
    server.stop().await;
}

#[tokio::test]
async fn introspection_answers_a_client_about_its_own_tokens_only() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "in-client", "fapi2-security", json!({})).await;
    let other = Tpp::register(&server, "in-other", "fapi2-security", json!({})).await;
    let body = tokens(&server, &tpp, "openid accounts", None, None).await;
    let (access, refresh) = (
        str_of(&body, "access_token"),
        str_of(&body, "refresh_token"),
    );
    let id_token = verify_server_jwt(&server, str_of(&body, "id_token")).await;

    let answer = introspect(&server, &tpp, access).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "openid accounts");
    assert_eq!(answer["client_id"], "in-client");
    assert_eq!(answer["sub"], id_token["sub"]);
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["cnf"], json!({"x5t#S256": tpp.thumbprint}));
    let (iat, exp) = (
        answer["iat"].as_i64().unwrap(),
        answer["exp"].as_i64().unwrap(),
    );
    assert!(iat <= now() && exp > now() && exp > iat, "{answer}");
    assert!(answer.get("consent_id").is_none());

    // Refresh tokens too; a wrong or unknown hint changes nothing.
    for hint in ["refresh_token", "access_token", "pct", ""] {
        let r = back_channel(
            &server,
            &tpp,
            "/introspect",
            &[("token", refresh), ("token_type_hint", hint)],
            None,
        )
        .await;
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["active"], true, "{hint}: {answer}");
        assert_eq!(answer["sub"], id_token["sub"]);
        assert!(answer.get("token_type").is_none());
        assert_eq!(answer["cnf"]["x5t#S256"], tpp.thumbprint.as_str());
    }

    // Another client's token, an unknown one: inactive, nothing more.
    for (caller, token) in [(&other, access), (&other, refresh), (&tpp, "unknown-token")] {
        assert_eq!(
            introspect(&server, caller, token).await,
            json!({"active": false})
        );
    }

    // RFC 9701: a JWT signed by the server for the caller.
    let r = back_channel(
        &server,
        &tpp,
        "/introspect",
        &[("token", access)],
        Some("application/token-introspection+jwt"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/token-introspection+jwt"
    );
    assert_eq!(r.headers()["cache-control"], "no-store");
    let jwt = r.text().await.unwrap();
    let header = josekit::jwt::decode_header(&jwt).unwrap();
    assert_eq!(header.claim("typ"), Some(&json!("token-introspection+jwt")));
    assert_eq!(header.claim("alg"), Some(&json!("PS256")));
    let claims = verify_server_jwt(&server, &jwt).await;
    assert_eq!(claims["iss"], server.public.as_str());
    assert_eq!(claims["aud"], "in-client");
    assert!(claims["iat"].is_i64());
    assert_eq!(
        claims["token_introspection"],
        introspect(&server, &tpp, access).await
    );

    // A revoked access token is inactive; the refresh token lives on.
    revoke(&server, &tpp, &[("token", access)]).await;
    assert_eq!(
        introspect(&server, &tpp, access).await,
        json!({"active": false})
    );
    assert_eq!(introspect(&server, &tpp, refresh).await["active"], true);

    // The request needs a token and an authenticated client.
    let r = back_channel(&server, &tpp, "/introspect", &[], None).await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, None, "invalid_request".to_owned())
    );
    let r = tpp
        .mtls(&server)
        .post(format!("{}/introspect", server.mtls))
        .form(&[("token", access), ("client_id", "in-client")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.2, "invalid_client");
    server.stop().await;
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_access_tokens_and_the_refresh_grant() {
    revoke_refresh_token(false).await;
}

/// With rotation, the access token issued with the first refresh token dies too: revocation
/// ends the whole grant, not only what the last refresh token issued.
#[tokio::test]
async fn revoking_a_rotated_refresh_token_ends_every_access_token_of_the_grant() {
    revoke_refresh_token(true).await;
}

async fn revoke_refresh_token(rotate: bool) {
    let server = TestServer::start_with(TestDb::Sqlite, |c| {
        c.tokens.rotate_refresh_tokens = rotate;
    })
    .await;
    let tpp = Tpp::register(&server, "rv-client", "fapi2-security", json!({})).await;
    let other = Tpp::register(&server, "rv-other", "fapi2-security", json!({})).await;
    let client = tpp.mtls(&server);
    let body = tokens(&server, &tpp, "openid accounts", None, None).await;
    let first = str_of(&body, "access_token").to_owned();
    let mut refresh = str_of(&body, "refresh_token").to_owned();
    let (status, _, body) = post_token(
        &server,
        &client,
        &refresh_form(&tpp, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = str_of(&body, "access_token").to_owned();
    if rotate {
        refresh = str_of(&body, "refresh_token").to_owned();
    }
    let userinfo = |token: String| {
        let client = client.clone();
        let url = format!("{}/userinfo", server.mtls);
        async move {
            get_with(&client, &url, Some(&format!("Bearer {token}")), None)
                .await
                .status()
        }
    };
    assert_eq!(userinfo(second.clone()).await, StatusCode::OK);

    // Another client's revocation, unknown tokens, odd hints: 200, and nothing happens.
    revoke(&server, &other, &[("token", &refresh)]).await;
    revoke(&server, &other, &[("token", &second)]).await;
    revoke(&server, &tpp, &[("token", "unknown-token")]).await;
    revoke(
        &server,
        &tpp,
        &[("token", "unknown-token"), ("token_type_hint", "pct")],
    )
    .await;
    assert_eq!(introspect(&server, &tpp, &refresh).await["active"], true);
    assert_eq!(userinfo(second.clone()).await, StatusCode::OK);

    // The owner revokes it (a misleading hint is only a hint).
    revoke(
        &server,
        &tpp,
        &[("token", &refresh), ("token_type_hint", "access_token")],
    )
    .await;
    for token in [&first, &second] {
        assert_eq!(userinfo(token.clone()).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            introspect(&server, &tpp, token).await,
            json!({"active": false})
        );
    }
    assert_eq!(
        introspect(&server, &tpp, &refresh).await,
        json!({"active": false})
    );
    let (status, _, body) = post_token(
        &server,
        &client,
        &refresh_form(&tpp, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // Revoking again is still 200.
    revoke(&server, &tpp, &[("token", &refresh)]).await;
    let r = back_channel(
        &server,
        &tpp,
        "/revoke",
        &[("token_type_hint", "refresh_token")],
        None,
    )
    .await;
    assert_eq!(
        error_of(r).await,
        (StatusCode::BAD_REQUEST, None, "invalid_request".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn refresh_token_grant_end_to_end() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "rt-client", "fapi2-security", json!({})).await;
    let other = Tpp::register(&server, "rt-other", "fapi2-security", json!({})).await;
    let client = tpp.mtls(&server);
    let body = tokens(&server, &tpp, "openid accounts", None, None).await;
    let refresh = str_of(&body, "refresh_token").to_owned();
    let first_id = verify_server_jwt(&server, str_of(&body, "id_token")).await;

    let (status, headers, body) = post_token(
        &server,
        &client,
        &refresh_form(&tpp, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid accounts");
    let access = str_of(&body, "access_token");
    let id = verify_server_jwt(&server, str_of(&body, "id_token")).await;
    assert_eq!(id["sub"], first_id["sub"]);
    assert_eq!(id["aud"], "rt-client");
    assert_eq!(id["iss"], server.public.as_str());
    assert_eq!(id["at_hash"], half_hash(access));
    let answer = introspect(&server, &tpp, access).await;
    assert_eq!(answer["cnf"]["x5t#S256"], tpp.thumbprint.as_str());
    let refresh = body["refresh_token"]
        .as_str()
        .unwrap_or(&refresh)
        .to_owned();

    // Not without the certificate the refresh token is bound to.
    let (status, _, body) = post_token(
        &server,
        &other.mtls(&server),
        &refresh_form(&tpp, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (status, _, body) = post_token(
        &server,
        &server.client_builder().build().unwrap(),
        &refresh_form(&tpp, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.get("access_token").is_none());

    // Not by another client.
    let (status, _, body) = post_token(
        &server,
        &other.mtls(&server),
        &refresh_form(&other, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    // The refresh token still works for its holder after those refusals.
    let (status, _, body) = post_token(
        &server,
        &client,
        &refresh_form(&tpp, &server, &refresh),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}

#[tokio::test]
async fn signed_userinfo_and_the_consent_of_the_grant() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(
        &server,
        "signed-ui",
        "fapi1-advanced",
        json!({"userinfo_signed_response_alg": "PS256"}),
    )
    .await;
    // A grant for an Open Banking consent, as the consent step records it.
    let user = add_customer(&server, "erin", "erin-password-1").await;
    let now = now();
    let grant = GrantRecord {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: tpp.client_id.clone(),
        subject: Some(user.clone()),
        scope: "openid accounts".to_owned(),
        claims: Some(
            json!({"userinfo": {"openbanking_intent_id": {"essential": true}, "name": null}})
                .to_string(),
        ),
        acr: None,
        amr: None,
        auth_time: Some(now),
        consent_id: Some("urn-consent-42".to_owned()),
        created_at: now,
        expires_at: now + 3600,
        revoked_at: None,
    };
    let store = &server.state().store;
    store.insert_grant(&grant).await.unwrap();
    let access = random_token();
    store
        .insert_access_token(&AccessTokenRecord {
            token_hash: consentry_server::crypto::secret_hash(&access),
            grant_id: grant.id.clone(),
            client_id: tpp.client_id.clone(),
            subject: Some(user.clone()),
            scope: grant.scope.clone(),
            cnf_x5t: Some(tpp.thumbprint.clone()),
            cnf_jkt: None,
            refresh_token_hash: None,
            issued_at: now,
            expires_at: now + 300,
            revoked_at: None,
        })
        .await
        .unwrap();

    let r = get_with(
        &tpp.mtls(&server),
        &format!("{}/userinfo", server.mtls),
        Some(&format!("Bearer {access}")),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/jwt");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let claims = verify_server_jwt(&server, &r.text().await.unwrap()).await;
    assert_eq!(claims["iss"], server.public.as_str());
    assert_eq!(claims["aud"], "signed-ui");
    assert_eq!(claims["sub"], user.as_str());
    assert_eq!(claims["name"], "erin Example");
    assert_eq!(claims["openbanking_intent_id"], "urn-consent-42");

    let answer = introspect(&server, &tpp, &access).await;
    assert_eq!(answer["consent_id"], "urn-consent-42");
    assert_eq!(answer["sub"], user.as_str());
    server.stop().await;
}

#[tokio::test]
async fn discovery_advertises_what_is_served() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let client = server.client_builder().build().unwrap();
    let doc: Value = client
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
    let aliases = &doc["mtls_endpoint_aliases"];
    assert_eq!(
        doc["userinfo_endpoint"],
        format!("{}/userinfo", server.public)
    );
    assert_eq!(
        aliases["userinfo_endpoint"],
        format!("{}/userinfo", server.mtls)
    );
    for (name, path) in [
        ("introspection_endpoint", "/introspect"),
        ("revocation_endpoint", "/revoke"),
    ] {
        assert_eq!(doc[name], format!("{}{path}", server.mtls));
        assert_eq!(aliases[name], doc[name]);
        let methods = &doc[format!("{name}_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt"))
        );
    }
    assert_eq!(
        doc["introspection_signing_alg_values_supported"],
        json!(["PS256"])
    );
    assert_eq!(
        doc["userinfo_signing_alg_values_supported"],
        json!(["PS256", "ES256"])
    );

    // Every advertised URL answers as an OAuth endpoint, not with "not found".
    for url in [
        &doc["userinfo_endpoint"],
        &aliases["userinfo_endpoint"],
        &doc["introspection_endpoint"],
        &doc["revocation_endpoint"],
    ] {
        let r = client
            .post(url.as_str().unwrap())
            .form(&[("token", "t")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{url}");
        let error = r.json::<Value>().await.unwrap()["error"].clone();
        assert!(
            error == "invalid_token" || error == "invalid_client",
            "{url}: {error}"
        );
    }
    server.stop().await;
}
