//! What the condition tests share: an [`Env`] built from recorded metadata (no request is made),
//! a server key to sign recorded id tokens and JARM responses with, and recorded replies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support fails by panicking"
)]

use josekit::jwk::Jwk;
use josekit::jwk::alg::rsa::RsaKeyPair;
use serde_json::{Map, Value, json};

use crate::env::{Env, Failure, Landing, Reply, now};
use crate::plan::Variant;

pub const ISSUER: &str = "https://as.example";

pub const FAPI2: &str = "fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=mtls][openid=openid_connect][fapi_profile=plain_fapi]";
pub const FAPI2_DPOP: &str = "fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=dpop][openid=openid_connect][fapi_profile=plain_fapi]";
pub const FAPI1: &str = "fapi1-advanced-final[client_auth_type=private_key_jwt][fapi_response_mode=plain_response][fapi_auth_request_method=by_value][fapi_profile=plain_fapi]";
pub const FAPI1_OBUK: &str = "fapi1-advanced-final[client_auth_type=private_key_jwt][fapi_response_mode=plain_response][fapi_auth_request_method=by_value][fapi_profile=openbanking_uk]";
pub const FAPI2_OBUK: &str = "fapi2-security-profile-final[client_auth_type=private_key_jwt][sender_constrain=dpop][openid=openid_connect][fapi_profile=openbanking_uk]";
/// The UK OB base URL of the recorded configurations (`resource.resourceUrl`).
pub const RESOURCE: &str = "https://rs.example/open-banking/v3.1/aisp/";
pub const FAPI1_JARM: &str = "fapi1-advanced-final[client_auth_type=private_key_jwt][fapi_response_mode=jarm][fapi_auth_request_method=pushed][fapi_profile=plain_fapi]";

pub struct Fixture {
    pub env: Env,
    pub server_key: Jwk,
}

/// An environment for `plan` whose issuer is [`ISSUER`]; client 1 is `c1` with an RSA key `ck`,
/// the server signs with the RSA key `sk` (PS256).
pub fn fixture(plan: &str) -> Fixture {
    fixture_with(plan, json!({"issuer": ISSUER}))
}

pub fn fixture_with(plan: &str, discovery: Value) -> Fixture {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let pki = consentry_server::tls::local_ca::ensure_local_pki(dir.path(), &[], now()).unwrap();
    let subject = consentry_server::tls::local_ca::ClientSubject {
        common_name: "c".to_owned(),
        ..Default::default()
    };
    let (cert, key) =
        consentry_server::tls::local_ca::issue_client_certificate(&pki, &subject, now()).unwrap();
    let mut client_key = RsaKeyPair::generate(2048).unwrap().to_jwk_key_pair();
    client_key.set_key_id("ck");
    let client = json!({"client_id": "c1", "jwks": {"keys": [serde_json::to_value(client_key.as_ref()).unwrap()]}});
    let mtls = json!({"cert": cert, "key": key});
    let config = serde_json::from_value(json!({
        "server": {"discoveryUrl": format!("{ISSUER}/.well-known/openid-configuration")},
        "client": client, "client2": client, "mtls": mtls, "mtls2": mtls, "browser": [],
        "resource": {"resourceUrl": RESOURCE},
    }))
    .unwrap();
    let mut server_key = RsaKeyPair::generate(2048).unwrap().to_jwk_key_pair();
    server_key.set_key_id("sk");
    server_key.set_algorithm("PS256");
    let mut public = server_key.to_public_key().unwrap();
    public.set_key_id("sk");
    let jwks = json!({"keys": [serde_json::to_value(public.as_ref()).unwrap()]});
    let env = Env::from_parts(config, Variant::parse(plan).unwrap(), discovery, jwks).unwrap();
    Fixture { env, server_key }
}

impl Fixture {
    /// `claims` signed by the server's key, PS256 with `kid` `sk`.
    pub fn sign(&self, claims: Value) -> String {
        let mut header = Map::new();
        header.insert("alg".to_owned(), json!("PS256"));
        header.insert("kid".to_owned(), json!("sk"));
        self.sign_with_header(header, claims)
    }

    /// `claims` signed by the server's key under exactly `header` (its `alg`: PS256 or RS256).
    pub fn sign_with_header(&self, header: Map<String, Value>, claims: Value) -> String {
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or("PS256")
            .to_owned();
        crate::env::sign_jws(&self.server_key, &alg, &header, &map(claims))
    }
}

pub fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// The name of the condition that failed; panics when it passed.
pub fn condition<T: std::fmt::Debug>(r: Result<T, Failure>) -> &'static str {
    r.expect_err("the condition must fail").condition
}

/// A recorded reply: `status`, `headers` and a JSON `body`.
pub fn reply(status: u16, headers: &[(&'static str, &str)], body: Value) -> Reply {
    reply_text(status, headers, &body.to_string())
}

/// A recorded reply with no headers.
pub fn bare(status: u16, body: Value) -> Reply {
    reply(status, &[], body)
}

/// A recorded reply whose body is `body` as it is.
pub fn reply_text(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, value.parse().unwrap());
    }
    Reply {
        status,
        headers: map,
        location: None,
        body: body.to_owned(),
    }
}

/// The JSON content type of an OAuth endpoint's answer.
pub const JSON: (&str, &str) = ("content-type", "application/json");

/// An OAuth error response as a server sends it: `status`, JSON, `error`.
pub fn oauth_error(status: u16, error: &str) -> Reply {
    reply(
        status,
        &[JSON, ("cache-control", "no-store")],
        json!({"error": error, "error_description": "recorded"}),
    )
}

/// A token endpoint's successful answer (a Bearer token, no id token).
pub fn token_issued() -> Reply {
    reply(
        200,
        &[JSON, ("cache-control", "no-store")],
        json!({"access_token": "Kz~8mXK1EalYznwH-LC-1fBAo", "token_type": "Bearer", "expires_in": 300}),
    )
}

/// Where the browser landed: back at the client with `params` (in the fragment or the query).
pub fn callback(params: Value, fragment: bool) -> Landing {
    Landing::Callback {
        params: map(params),
        fragment,
        url: "https://tpp.example/callback".to_owned(),
    }
}

/// An error page of the server.
pub fn error_page() -> Landing {
    Landing::ErrorPage {
        status: 400,
        body: "<html><body><h1>Invalid request</h1></body></html>".to_owned(),
    }
}
