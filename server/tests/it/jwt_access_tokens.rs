//! JWT access tokens (RFC 9068) and DPoP server nonces (RFC 9449 section 8) through the real TLS
//! listeners: a JWT access token verifies against the server's JWKS and still answers to the
//! database (introspection, revocation, userinfo); with nonces on, the token, PAR and resource
//! endpoints ask for the server's nonce and accept it on any node.

use consentry_server::config::AccessTokenFormat;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::fapi::{CHALLENGE, DpopKey, REDIRECT, Tpp, now, post_token, verify_server_jwt};
use crate::support::{TestDb, TestServer};
use crate::token_endpoints::{error_of, get_with, introspect, revoke, str_of, tokens};

/// A member of the header of a compact JWT.
fn header_member(jwt: &str, name: &str) -> Option<Value> {
    josekit::jwt::decode_header(jwt)
        .unwrap()
        .claim(name)
        .cloned()
}

/// A client_credentials token response for `tpp` over its certificate, with an optional proof.
async fn client_credentials(
    server: &TestServer,
    tpp: &Tpp,
    scope: &str,
    dpop: Option<String>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut form = tpp.auth_params(&server.public);
    form.extend([
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("scope".to_owned(), scope.to_owned()),
    ]);
    post_token(server, &tpp.mtls(server), &form, dpop).await
}

/// Checks the RFC 9068 header and the claims every JWT access token carries; returns the claims.
async fn verified_access_token(server: &TestServer, jwt: &str, scope: &str) -> Map<String, Value> {
    assert_eq!(jwt.split('.').count(), 3, "a compact JWS: {jwt}");
    assert_eq!(header_member(jwt, "typ"), Some(json!("at+jwt")));
    assert_eq!(header_member(jwt, "alg"), Some(json!("PS256")));
    let claims = verify_server_jwt(server, jwt).await;
    assert_eq!(claims["iss"], server.public.as_str());
    let resources = server.state().config.resource_base_url();
    assert_eq!(
        claims["aud"],
        resources.as_str().trim_end_matches('/'),
        "the resource APIs by default"
    );
    assert_eq!(claims["scope"], scope);
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - now()).abs() < 30, "{iat}");
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 600);
    assert!(claims["jti"].as_str().unwrap().len() >= 22, "{claims:?}");
    claims
}

#[tokio::test]
async fn jwt_access_tokens_verify_and_answer_to_the_database() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(
        &server,
        "jwt-client",
        "fapi2-security",
        json!({"access_token_format": "jwt"}),
    )
    .await;
    let opaque = Tpp::register(&server, "opaque-client", "fapi2-security", json!({})).await;

    // client_credentials: the client is the subject; the token is bound to its certificate.
    let (status, _, body) = client_credentials(&server, &tpp, "accounts", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let cc_token = str_of(&body, "access_token");
    let claims = verified_access_token(&server, cc_token, "accounts").await;
    assert_eq!(claims["sub"], "jwt-client");
    assert_eq!(claims["client_id"], "jwt-client");
    assert_eq!(claims["cnf"], json!({"x5t#S256": tpp.thumbprint}));
    assert!(claims.get("auth_time").is_none() && claims.get("acr").is_none());

    // Introspection answers a JWT access token as it answers an opaque one.
    let (status, _, body) = client_credentials(&server, &opaque, "accounts", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let opaque_token = str_of(&body, "access_token");
    assert_eq!(
        opaque_token.split('.').count(),
        1,
        "opaque by default: {opaque_token}"
    );
    let of_jwt = introspect(&server, &tpp, cc_token).await;
    let of_opaque = introspect(&server, &opaque, opaque_token).await;
    let members = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        members(&of_jwt),
        members(&of_opaque),
        "{of_jwt} {of_opaque}"
    );
    assert_eq!(of_jwt["active"], true);
    assert_eq!(of_jwt["client_id"], "jwt-client");
    assert_eq!(of_jwt["scope"], "accounts");
    assert_eq!(of_jwt["exp"], claims["exp"]);
    assert_eq!(of_jwt["iat"], claims["iat"]);
    assert_eq!(of_jwt["cnf"], claims["cnf"]);
    assert_eq!(
        introspect(&server, &opaque, cc_token).await,
        json!({"active": false}),
        "another client learns nothing of it"
    );

    // An authorization code flow: the user is the subject, with when and how they logged in.
    let body = tokens(&server, &tpp, "openid accounts", None, None).await;
    let access = str_of(&body, "access_token");
    let claims = verified_access_token(&server, access, "openid accounts").await;
    let id_token = verify_server_jwt(&server, str_of(&body, "id_token")).await;
    assert_eq!(claims["sub"], id_token["sub"]);
    assert_ne!(claims["sub"], "jwt-client");
    assert_eq!(claims["client_id"], "jwt-client");
    assert_eq!(claims["auth_time"], id_token["auth_time"]);
    assert!(claims["auth_time"].is_i64(), "{claims:?}");
    if let Some(acr) = id_token.get("acr") {
        assert_eq!(&claims["acr"], acr);
    }
    assert_eq!(claims["cnf"], json!({"x5t#S256": tpp.thumbprint}));
    assert_eq!(
        id_token["at_hash"],
        crate::fapi::half_hash(access),
        "at_hash covers the JWT"
    );
    let refresh_token = str_of(&body, "refresh_token");
    assert_eq!(
        refresh_token.split('.').count(),
        1,
        "refresh tokens stay opaque"
    );

    // Userinfo takes it, over the certificate it is bound to.
    let userinfo = format!("{}/userinfo", server.mtls);
    let bearer = format!("Bearer {access}");
    let client = tpp.mtls(&server);
    let r = get_with(&client, &userinfo, Some(&bearer), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["sub"], claims["sub"]);
    let answer = introspect(&server, &tpp, access).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["sub"], claims["sub"]);

    // Revoked: the signature still verifies, but the database says no, at once.
    revoke(
        &server,
        &tpp,
        &[("token", access), ("token_type_hint", "access_token")],
    )
    .await;
    let (status, challenge, error) =
        error_of(get_with(&client, &userinfo, Some(&bearer), None).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert!(challenge.unwrap().starts_with("Bearer "));
    assert_eq!(
        introspect(&server, &tpp, access).await,
        json!({"active": false})
    );
    verify_server_jwt(&server, access).await;
    server.stop().await;
}

#[tokio::test]
async fn the_server_default_and_audience_apply_to_clients_that_chose_nothing() {
    let server = TestServer::start_with(TestDb::Sqlite, |c| {
        c.tokens.access_token_format = AccessTokenFormat::Jwt;
        c.tokens.access_token_audience = Some("https://rs.bank.example".to_owned());
    })
    .await;
    let chose_nothing = Tpp::register(&server, "default-client", "fapi1-advanced", json!({})).await;
    let chose_opaque = Tpp::register(
        &server,
        "opaque-client",
        "fapi1-advanced",
        json!({"access_token_format": "opaque"}),
    )
    .await;
    let (status, _, body) = client_credentials(&server, &chose_nothing, "payments", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify_server_jwt(&server, str_of(&body, "access_token")).await;
    assert_eq!(claims["aud"], "https://rs.bank.example");
    assert_eq!(claims["scope"], "payments");
    let (status, _, body) = client_credentials(&server, &chose_opaque, "payments", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(str_of(&body, "access_token").split('.').count(), 1);
    server.stop().await;
}

/// The `DPoP-Nonce` header of a response, which must be there.
fn nonce_of(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn dpop_nonces_are_asked_for_and_accepted_at_token_par_and_userinfo() {
    let server = TestServer::start_with(TestDb::Sqlite, |c| c.tokens.dpop_nonce = true).await;
    let tpp = Tpp::register(
        &server,
        "nonce-client",
        "fapi2-security",
        json!({"dpop_bound_access_tokens": true, "access_token_format": "jwt"}),
    )
    .await;
    let key = DpopKey::new();
    let token_url = format!("{}/token", server.mtls);

    // Token endpoint: no nonce, then a made-up one, then the server's.
    let (status, headers, body) = client_credentials(
        &server,
        &tpp,
        "accounts",
        Some(key.proof("POST", &token_url)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")),
        "{body}"
    );
    let nonce = nonce_of(&headers);
    assert_eq!(headers["cache-control"], "no-store");
    let made_up = key.proof_with_nonce("POST", &token_url, None, Some("made-up"));
    let (status, headers, body) =
        client_credentials(&server, &tpp, "accounts", Some(made_up)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
    );
    nonce_of(&headers);
    let proof = key.proof_with_nonce("POST", &token_url, None, Some(&nonce));
    let (status, headers, body) = client_credentials(&server, &tpp, "accounts", Some(proof)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(!nonce_of(&headers).is_empty(), "successes carry the nonce");
    let access = str_of(&body, "access_token").to_owned();
    let claims = verify_server_jwt(&server, &access).await;
    assert_eq!(claims["cnf"], json!({"jkt": key.jkt()}));

    // Requests without DPoP are not concerned.
    let mtls_client = Tpp::register(&server, "mtls-client", "fapi2-security", json!({})).await;
    let (status, _, body) = client_credentials(&server, &mtls_client, "accounts", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // PAR.
    let par_url = format!("{}/par", server.mtls);
    let par = |proof: String| {
        let mut form = tpp.auth_params(&server.public);
        for (k, v) in [
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid accounts"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ] {
            form.push((k.to_owned(), v.to_owned()));
        }
        tpp.mtls(&server)
            .post(&par_url)
            .header("DPoP", proof)
            .form(&form)
            .send()
    };
    let r = par(key.proof("POST", &par_url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let nonce = nonce_of(r.headers());
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "use_dpop_nonce");
    let r = par(key.proof_with_nonce("POST", &par_url, None, Some(&nonce)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    nonce_of(r.headers());

    // Userinfo (a resource): 401 with the DPoP challenge, then the nonce is accepted. The token
    // has no openid scope, so passing the proof check ends in insufficient_scope.
    let userinfo = format!("{}/userinfo", server.public);
    let authorization = format!("DPoP {access}");
    let plain = server.client_builder().build().unwrap();
    let r = get_with(
        &plain,
        &userinfo,
        Some(&authorization),
        Some(key.proof_for("GET", &userinfo, Some(&access))),
    )
    .await;
    let nonce = nonce_of(r.headers());
    let (status, challenge, error) = error_of(r).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::UNAUTHORIZED, "use_dpop_nonce")
    );
    assert_eq!(challenge.as_deref(), Some("DPoP error=\"use_dpop_nonce\""));
    let r = get_with(
        &plain,
        &userinfo,
        Some(&authorization),
        Some(key.proof_with_nonce("GET", &userinfo, Some(&access), Some(&nonce))),
    )
    .await;
    nonce_of(r.headers());
    let (status, _, error) = error_of(r).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_dpop_nonce_from_one_node_is_accepted_by_another() {
    let first = TestServer::start_with(TestDb::Sqlite, |c| c.tokens.dpop_nonce = true).await;
    let master_key = std::fs::read_to_string(first.data_dir.join("master.key")).unwrap();
    let database = first.data_dir.join("consentry.db");
    let second = TestServer::start_with(TestDb::Sqlite, |c| {
        c.tokens.dpop_nonce = true;
        c.keys.master_key = Some(consentry_server::config::Secret::new(master_key.trim()));
        c.storage.database_url = Some(consentry_server::config::Secret::new(
            consentry_server::store::Store::sqlite_url(&database),
        ));
    })
    .await;
    let tpp = Tpp::register(
        &first,
        "two-nodes",
        "fapi2-security",
        json!({"dpop_bound_access_tokens": true}),
    )
    .await;
    let key = DpopKey::new();
    let (status, headers, _) = client_credentials(
        &first,
        &tpp,
        "accounts",
        Some(key.proof("POST", &format!("{}/token", first.mtls))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let nonce = nonce_of(&headers);

    // The second node: its own listener and CA, the same database and master key. A DPoP client
    // needs no certificate there.
    let token_url = format!("{}/token", second.mtls);
    let mut form = tpp.auth_params(&second.public);
    form.push(("grant_type".to_owned(), "client_credentials".to_owned()));
    let plain = second.client_builder().build().unwrap();
    let proof = key.proof_with_nonce("POST", &token_url, None, Some(&nonce));
    let (status, headers, body) = post_token(&second, &plain, &form, Some(proof)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    nonce_of(&headers);
    second.stop().await;
    first.stop().await;
}
