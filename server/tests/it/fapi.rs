//! FAPI flows end to end through the real TLS listeners, as a TPP drives them: PAR, the browser's
//! trip through login and consent, the token endpoint with client certificates, DPoP.

use consentry_server::crypto::{b64url, secret_hash, sha256};
use consentry_server::store::{ClientRecord, ClientStatus, ClientStore as _, TokenStore as _};
use consentry_server::tls::local_ca::{ClientSubject, ensure_local_pki, issue_client_certificate};
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::{ES256, JwsHeader, PS256};
use josekit::jwt::JwtPayload;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::support::{TestDb, TestServer, add_customer, csrf_of};

pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub(crate) const REDIRECT: &str = "https://tpp.example/cb";

pub(crate) fn now() -> i64 {
    std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .unwrap()
        .as_secs() as i64
}

/// A TPP: its signing key, its certificate, its registration.
pub(crate) struct Tpp {
    pub(crate) client_id: String,
    key: Jwk,
    identity: reqwest::Identity,
    pub(crate) thumbprint: String,
}

impl Tpp {
    pub(crate) async fn register(
        server: &TestServer,
        client_id: &str,
        profile: &str,
        extra: Value,
    ) -> Tpp {
        let mut key = RsaKeyPair::generate(2048).unwrap().to_jwk_key_pair();
        key.set_key_id(format!("{client_id}-key"));
        key.set_algorithm("PS256");
        let mut public = key.to_public_key().unwrap();
        public.set_key_id(format!("{client_id}-key"));
        public.set_algorithm("PS256");
        public.set_key_use("sig");
        let pki = ensure_local_pki(&server.data_dir.join("tls"), &[], now()).unwrap();
        let subject = ClientSubject {
            common_name: client_id.to_owned(),
            organization: Some("Test TPP Ltd".to_owned()),
            country: Some("GB".to_owned()),
            ..ClientSubject::default()
        };
        let (cert, cert_key) = issue_client_certificate(&pki, &subject, now()).unwrap();
        let der = {
            use rustls_pki_types::pem::PemObject as _;
            rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()
        };
        let mut metadata = json!({
            "client_id": client_id,
            "client_name": format!("{client_id} app"),
            "profile": profile,
            "redirect_uris": [REDIRECT, "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code", "code id_token"],
            "scope": "openid accounts payments",
            "jwks": {"keys": [serde_json::to_value(public.as_ref()).unwrap()]},
            "token_endpoint_auth_method": "private_key_jwt",
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut metadata, extra) {
            m.extend(e);
        }
        server
            .state()
            .store
            .insert_client(&ClientRecord {
                client_id: client_id.to_owned(),
                client_name: Some(format!("{client_id} app")),
                profile: profile.to_owned(),
                metadata: metadata.to_string(),
                secret_hash: None,
                status: ClientStatus::Active,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
        Tpp {
            client_id: client_id.to_owned(),
            key,
            identity: reqwest::Identity::from_pem(format!("{cert}{cert_key}").as_bytes()).unwrap(),
            thumbprint: b64url(&sha256(&der)),
        }
    }

    pub(crate) fn mtls(&self, server: &TestServer) -> reqwest::Client {
        server
            .client_builder()
            .identity(self.identity.clone())
            .build()
            .unwrap()
    }

    pub(crate) fn sign(&self, claims: Value, typ: Option<&str>) -> String {
        let mut header = JwsHeader::new();
        header.set_key_id(self.key.key_id().unwrap());
        if let Some(t) = typ {
            header.set_token_type(t);
        }
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        let payload = JwtPayload::from_map(map).unwrap();
        josekit::jwt::encode_with_signer(
            &payload,
            &header,
            &PS256.signer_from_jwk(&self.key).unwrap(),
        )
        .unwrap()
    }

    pub(crate) fn assertion(&self, aud: &str) -> String {
        let now = now();
        self.sign(
            json!({"iss": self.client_id, "sub": self.client_id, "aud": aud, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60}),
            None,
        )
    }

    pub(crate) fn auth_params(&self, aud: &str) -> Vec<(String, String)> {
        vec![
            ("client_id".to_owned(), self.client_id.clone()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), self.assertion(aud)),
        ]
    }
}

/// A DPoP key and proofs made with it.
pub(crate) struct DpopKey(Jwk);

impl DpopKey {
    /// The RFC 7638 thumbprint of the key: the `cnf.jkt` of tokens bound to it.
    pub(crate) fn jkt(&self) -> String {
        let public = self.0.to_public_key().unwrap();
        consentry_server::protocol::dpop::jwk_thumbprint(public.as_ref()).unwrap()
    }

    pub(crate) fn new() -> Self {
        DpopKey(
            EcKeyPair::generate(EcCurve::P256)
                .unwrap()
                .to_jwk_key_pair(),
        )
    }

    pub(crate) fn proof(&self, method: &str, url: &str) -> String {
        self.proof_for(method, url, None)
    }

    /// A proof for a request that presents `access_token` (its hash as `ath`).
    pub(crate) fn proof_for(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        self.proof_with_nonce(method, url, access_token, None)
    }

    /// A proof carrying the server's `nonce` when given.
    pub(crate) fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type("dpop+jwt");
        header.set_jwk(self.0.to_public_key().unwrap());
        let mut claims = Map::new();
        claims.insert("jti".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
        claims.insert("htm".to_owned(), json!(method));
        claims.insert("htu".to_owned(), json!(url));
        claims.insert("iat".to_owned(), json!(now()));
        if let Some(token) = access_token {
            claims.insert("ath".to_owned(), json!(b64url(&sha256(token.as_bytes()))));
        }
        if let Some(nonce) = nonce {
            claims.insert("nonce".to_owned(), json!(nonce));
        }
        let payload = JwtPayload::from_map(claims).unwrap();
        josekit::jwt::encode_with_signer(
            &payload,
            &header,
            &ES256.signer_from_jwk(&self.0).unwrap(),
        )
        .unwrap()
    }
}

/// Drives the browser from the authorization URL to the client's redirect: login and consent.
pub(crate) async fn browse(server: &TestServer, authorize_url: &str, approve: bool) -> String {
    let username = format!("psu-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    add_customer(server, &username, "psu-password-1").await;
    let browser = server.browser();
    let r = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let r = browser
        .get(format!("{}/authorize/resume", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login_url = format!(
        "{}{}",
        server.public,
        r.headers()["location"].to_str().unwrap()
    );
    let login = browser
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("id=\"login-cancel\""),
        "a pending authorization can be cancelled from the login page"
    );
    let r = browser
        .post(format!("{}/login", server.public))
        .form(&[
            ("username", username.as_str()),
            ("password", "psu-password-1"),
            ("csrf_token", &csrf_of(&login)),
            ("return_to", "/authorize/resume"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let consent = browser
        .get(format!("{}/authorize/resume", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent.contains("id=\"consent-approve\""), "{consent}");
    let decision = if approve { "approve" } else { "deny" };
    let r = browser
        .post(format!("{}/authorize/decision", server.public))
        .form(&[
            ("csrf_token", csrf_of(&consent).as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    r.headers()["location"].to_str().unwrap().to_owned()
}

pub(crate) fn response_params(location: &str) -> Map<String, Value> {
    let url = url::Url::parse(location).unwrap();
    let part = url
        .fragment()
        .map(str::to_owned)
        .unwrap_or_else(|| url.query().unwrap_or_default().to_owned());
    url::form_urlencoded::parse(part.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

pub(crate) async fn verify_server_jwt(server: &TestServer, jwt: &str) -> Map<String, Value> {
    let jwks: Value = server
        .client_builder()
        .build()
        .unwrap()
        .get(format!("{}/jwks", server.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = josekit::jwt::decode_header(jwt).unwrap();
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .expect("kid in the header")
        .to_owned();
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid published");
    let jwk = Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let (payload, _) = match alg.as_str() {
        "PS256" => josekit::jwt::decode_with_verifier(jwt, &PS256.verifier_from_jwk(&jwk).unwrap())
            .unwrap(),
        "ES256" => josekit::jwt::decode_with_verifier(jwt, &ES256.verifier_from_jwk(&jwk).unwrap())
            .unwrap(),
        other => panic!("unexpected alg {other}"),
    };
    payload.claims_set().clone()
}

pub(crate) fn half_hash(s: &str) -> String {
    b64url(&sha256(s.as_bytes())[..16])
}

pub(crate) async fn post_token(
    server: &TestServer,
    client: &reqwest::Client,
    form: &[(String, String)],
    dpop: Option<String>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = client.post(format!("{}/token", server.mtls)).form(form);
    if let Some(p) = dpop {
        req = req.header("DPoP", p);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.unwrap())
}

#[tokio::test]
async fn fapi2_par_with_mtls_and_private_key_jwt() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "fapi2-client", "fapi2-security", json!({})).await;
    let client = tpp.mtls(&server);
    let issuer = server.public.clone();

    let mut form = tpp.auth_params(&issuer);
    for (k, v) in [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "openid accounts"),
        ("state", "state-123"),
        ("nonce", "nonce-123"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ] {
        form.push((k.to_owned(), v.to_owned()));
    }
    let r = client
        .post(format!("{}/par", server.mtls))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let par: Value = r.json().await.unwrap();
    let request_uri = par["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert!((60..=90).contains(&par["expires_in"].as_i64().unwrap()));

    // The same assertion twice is a replay.
    let replay = client
        .post(format!("{}/par", server.mtls))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let authorize = format!(
        "{}/authorize?client_id={}&request_uri={}",
        server.public,
        tpp.client_id,
        consentry_server::protocol::redirect::urlencode(&request_uri)
    );
    let location = browse(&server, &authorize, true).await;
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    let params = response_params(&location);
    assert_eq!(params["state"], "state-123");
    assert_eq!(
        params["iss"],
        issuer.as_str(),
        "RFC 9207 iss in the response"
    );
    let code = params["code"].as_str().unwrap().to_owned();

    // The request_uri is spent once the authorization completed.
    let again = server.browser().get(&authorize).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    let token_form = |tpp: &Tpp, verifier: &str| {
        let mut f = tpp.auth_params(&issuer);
        f.extend([
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("redirect_uri".to_owned(), REDIRECT.to_owned()),
            ("code_verifier".to_owned(), verifier.to_owned()),
        ]);
        f
    };
    // A wrong verifier is refused and does not spend the code.
    let (status, _, body) =
        post_token(&server, &client, &token_form(&tpp, &"x".repeat(43)), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let (status, headers, body) =
        post_token(&server, &client, &token_form(&tpp, VERIFIER), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid accounts");
    let access = body["access_token"].as_str().unwrap().to_owned();
    let record = server
        .state()
        .store
        .access_token(&secret_hash(&access), now())
        .await
        .unwrap()
        .expect("stored hashed");
    assert_eq!(
        record.cnf_x5t.as_deref(),
        Some(tpp.thumbprint.as_str()),
        "bound to the client certificate"
    );
    let id = verify_server_jwt(&server, body["id_token"].as_str().unwrap()).await;
    assert_eq!(id["aud"], tpp.client_id.as_str());
    assert_eq!(id["nonce"], "nonce-123");
    assert_eq!(id["at_hash"], half_hash(&access));
    assert!(body["refresh_token"].is_string());

    // A second redemption fails and revokes what the first issued.
    let (status, _, body) = post_token(&server, &client, &token_form(&tpp, VERIFIER), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert!(
        server
            .state()
            .store
            .access_token(&secret_hash(&access), now())
            .await
            .unwrap()
            .is_none(),
        "revoked after reuse"
    );
    server.stop().await;
}

#[tokio::test]
async fn fapi1_hybrid_by_value_and_jarm() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "fapi1-client", "fapi1-advanced", json!({})).await;
    let issuer = server.public.clone();
    let state = "s".repeat(128);
    let nonce = "n".repeat(43);
    let request_object = |response_type: &str, mode: Option<&str>| {
        let now = now();
        let mut claims = json!({
            "iss": tpp.client_id, "aud": [issuer.clone(), "https://other.example"], "client_id": tpp.client_id,
            "response_type": response_type, "redirect_uri": "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum",
            "scope": "accounts openid", "state": state, "nonce": nonce,
            "code_challenge": CHALLENGE, "code_challenge_method": "S256", "nbf": now, "exp": now + 300,
        });
        if let Some(m) = mode {
            claims["response_mode"] = json!(m);
        }
        tpp.sign(claims, Some("oauth-authz-req+jwt"))
    };

    // Hybrid: code and id_token in the fragment, with c_hash and s_hash.
    let url = format!(
        "{}/authorize?client_id={}&response_type=code%20id_token&scope=openid&request={}",
        server.public,
        tpp.client_id,
        request_object("code id_token", None)
    );
    let location = browse(&server, &url, true).await;
    assert!(
        location.starts_with("https://tpp.example/cb?dummy1=lorem&dummy2=ipsum#"),
        "{location}"
    );
    let params = response_params(&location);
    assert_eq!(
        params["state"],
        state.as_str(),
        "a long state comes back whole"
    );
    let code = params["code"].as_str().unwrap();
    let id = verify_server_jwt(&server, params["id_token"].as_str().unwrap()).await;
    assert_eq!(id["c_hash"], half_hash(code));
    assert_eq!(id["s_hash"], half_hash(&state));
    assert_eq!(id["nonce"], nonce.as_str());
    assert_eq!(id["iss"], issuer.as_str());

    // Tokens need the client certificate (mTLS holder of key).
    let mut form = tpp.auth_params(&format!("{}/token", server.mtls));
    form.extend([
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ]);
    let no_cert = server.client_builder().build().unwrap();
    let (status, _, body) = post_token(&server, &no_cert, &form, None).await;
    assert!(status.is_client_error(), "{body}");
    let mut form2 = tpp.auth_params(&format!("{}/token", server.mtls));
    form2.extend(form.iter().skip(3).cloned());
    let (status, _, body) = post_token(&server, &tpp.mtls(&server), &form2, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // JARM: the response is one signed JWT in the query.
    let url = format!(
        "{}/authorize?client_id={}&request={}",
        server.public,
        tpp.client_id,
        request_object("code", Some("jwt"))
    );
    let location = browse(&server, &url, true).await;
    let params = response_params(&location);
    let jarm = verify_server_jwt(&server, params["response"].as_str().unwrap()).await;
    assert_eq!(jarm["iss"], issuer.as_str());
    assert_eq!(jarm["aud"], tpp.client_id.as_str());
    assert_eq!(jarm["state"], state.as_str());
    assert!(jarm["code"].is_string());

    // Refusal on the consent page: access_denied back to the client.
    let url = format!(
        "{}/authorize?client_id={}&request={}",
        server.public,
        tpp.client_id,
        request_object("code id_token", None)
    );
    let location = browse(&server, &url, false).await;
    assert_eq!(response_params(&location)["error"], "access_denied");

    // Plain parameters without a request object are refused to the redirect URI.
    let plain = server
        .browser()
        .get(format!(
            "{}/authorize?client_id={}&response_type=code%20id_token&redirect_uri={}&scope=openid&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
            server.public,
            tpp.client_id,
            consentry_server::protocol::redirect::urlencode(REDIRECT)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response_params(plain.headers()["location"].to_str().unwrap())["error"],
        "invalid_request"
    );

    // An unregistered redirect URI is an error page, never a redirect.
    let now = now();
    let bad = tpp.sign(
        json!({"iss": tpp.client_id, "aud": issuer, "response_type": "code id_token", "redirect_uri": "https://evil.example/cb",
               "scope": "openid", "nonce": "n", "code_challenge": CHALLENGE, "code_challenge_method": "S256", "nbf": now, "exp": now + 300}),
        None,
    );
    let r = server
        .browser()
        .get(format!(
            "{}/authorize?client_id={}&request={bad}",
            server.public, tpp.client_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    server.stop().await;
}

#[tokio::test]
async fn fapi2_par_with_dpop_binds_code_and_tokens() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(
        &server,
        "dpop-client",
        "fapi2-security",
        json!({"dpop_bound_access_tokens": true}),
    )
    .await;
    let client = tpp.mtls(&server);
    let key = DpopKey::new();
    let par_url = format!("{}/par", server.mtls);
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
    let r = client
        .post(&par_url)
        .header("DPoP", key.proof("POST", &par_url))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let request_uri = r.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let location = browse(
        &server,
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
    let token_url = format!("{}/token", server.mtls);
    let token_form = || {
        let mut f = tpp.auth_params(&server.public);
        f.extend([
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("code_verifier".to_owned(), VERIFIER.to_owned()),
        ]);
        f
    };
    // Another key than the one the PAR request bound is refused.
    let (status, _, body) = post_token(
        &server,
        &client,
        &token_form(),
        Some(DpopKey::new().proof("POST", &token_url)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let (status, _, body) = post_token(
        &server,
        &client,
        &token_form(),
        Some(key.proof("POST", &token_url)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let record = server
        .state()
        .store
        .access_token(&secret_hash(body["access_token"].as_str().unwrap()), now())
        .await
        .unwrap()
        .unwrap();
    assert!(record.cnf_jkt.is_some() && record.cnf_x5t.is_none());

    // A proof replayed is refused.
    let proof = key.proof("POST", &token_url);
    let mut cc = tpp.auth_params(&server.public);
    cc.push(("grant_type".to_owned(), "client_credentials".to_owned()));
    let (status, _, _) = post_token(&server, &client, &cc, Some(proof.clone())).await;
    assert_eq!(status, StatusCode::OK);
    let mut cc = tpp.auth_params(&server.public);
    cc.push(("grant_type".to_owned(), "client_credentials".to_owned()));
    let (status, _, body) = post_token(&server, &client, &cc, Some(proof)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
    server.stop().await;
}

#[tokio::test]
async fn client_credentials_and_client_authentication_failures() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "cc-client", "fapi1-advanced", json!({})).await;
    let other = Tpp::register(&server, "other-client", "fapi1-advanced", json!({})).await;
    let client = tpp.mtls(&server);
    let mut form = tpp.auth_params(&server.public);
    form.extend([
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("scope".to_owned(), "accounts".to_owned()),
    ]);
    let (status, _, body) = post_token(&server, &client, &form, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "accounts");
    assert!(body.get("id_token").is_none() && body.get("refresh_token").is_none());

    // The body's client_id disagrees with the assertion: invalid_client (with a challenge).
    let mut form = tpp.auth_params(&server.public);
    form[0].1 = other.client_id.clone();
    form.push(("grant_type".to_owned(), "client_credentials".to_owned()));
    let r = client
        .post(format!("{}/token", server.mtls))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");

    // Signed with another client's key.
    let mut form = other.auth_params(&server.public);
    form[0].1 = tpp.client_id.clone();
    form[2].1 = other.sign(
        json!({"iss": tpp.client_id, "sub": tpp.client_id, "aud": server.public, "jti": "j1", "exp": now() + 60}),
        None,
    );
    form.push(("grant_type".to_owned(), "client_credentials".to_owned()));
    let (status, _, body) = post_token(&server, &client, &form, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );

    // Unknown grant types and malformed bodies are RFC 6749 JSON errors.
    let mut form = tpp.auth_params(&server.public);
    form.push(("grant_type".to_owned(), "password".to_owned()));
    let (status, _, body) = post_token(&server, &client, &form, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let r = client
        .post(format!("{}/token", server.mtls))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    server.stop().await;
}
