//! Configurations for a plan-variant: the client metadata a deployment registers for the harness
//! or the OpenID Foundation suite, and the config JSON both runners read. Key material is made by
//! the caller (it has the CA); this module only shapes it.

use serde_json::{Value, json};

use crate::plan::{ClientAuth, Plan, Variant};

/// One test client's material.
pub struct ClientMaterial {
    pub client_id: String,
    /// The private JWK (with kid), for the runner.
    pub private_jwk: Value,
    /// The public JWK, for registration.
    pub public_jwk: Value,
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate subject as an RFC 4514 string, for `tls_client_auth`.
    pub subject_dn: String,
}

/// The server profile a plan tests.
pub fn profile(variant: &Variant) -> &'static str {
    match variant.plan {
        Plan::Fapi1Advanced => "fapi1-advanced",
        Plan::Fapi2Security => "fapi2-security",
        Plan::Fapi2MessageSigning => "fapi2-message-signing",
    }
}

/// RFC 7591 metadata (with our `profile`) for a test client of `variant`.
pub fn client_metadata(variant: &Variant, m: &ClientMaterial, redirect_uris: &[String]) -> Value {
    let mut metadata = json!({
        "client_id": m.client_id,
        "client_name": format!("Conformance {}", m.client_id),
        "profile": profile(variant),
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code", "code id_token"],
        "scope": "openid accounts",
        "jwks": {"keys": [m.public_jwk]},
        "token_endpoint_auth_method": "private_key_jwt",
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
    });
    if variant.client_auth == ClientAuth::Mtls {
        metadata["token_endpoint_auth_method"] = json!("tls_client_auth");
        metadata["tls_client_auth_subject_dn"] = json!(m.subject_dn);
    }
    if variant.dpop() {
        metadata["dpop_bound_access_tokens"] = json!(true);
    } else {
        metadata["tls_client_certificate_bound_access_tokens"] = json!(true);
    }
    metadata
}

/// The browser steps through our login and consent pages, keyed on their element ids.
pub fn browser_steps(public_base: &str, username: &str, password: &str) -> Value {
    json!([{
        "match": format!("{public_base}/authorize*"),
        "tasks": [
            {"task": "Login", "match": format!("{public_base}/login*"),
             "commands": [["text", "id", "username", username], ["text", "id", "password", password], ["click", "id", "login-submit"]]},
            {"task": "Consent", "match": format!("{public_base}/authorize/resume*"),
             "commands": [["click", "id", "consent-approve"]]},
            {"task": "Verify Complete", "match": "*/test/*/callback*", "commands": [["wait", "id", "submission_complete", 10]]}
        ]
    }])
}

/// The config JSON in the suite's shape for two clients.
pub struct SuiteConfig<'a> {
    pub alias: &'a str,
    pub discovery_url: &'a str,
    pub public_base: &'a str,
    pub clients: [&'a ClientMaterial; 2],
    pub redirect_uris: [&'a str; 2],
    pub ca_pem: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// The harness trusts the server through this CA; the real suite needs no such member.
    pub include_server_ca: bool,
}

pub fn config_json(c: &SuiteConfig<'_>) -> Value {
    let client = |m: &ClientMaterial, redirect: &str| json!({"client_id": m.client_id, "scope": "openid accounts", "jwks": {"keys": [m.private_jwk]}, "redirect_uri": redirect});
    let mtls = |m: &ClientMaterial| json!({"cert": m.cert_pem, "key": m.key_pem, "ca": c.ca_pem});
    let mut config = json!({
        "alias": c.alias,
        "description": format!("Consentry {}", c.alias),
        "server": {"discoveryUrl": c.discovery_url},
        "client": client(c.clients[0], c.redirect_uris[0]),
        "client2": client(c.clients[1], c.redirect_uris[1]),
        "mtls": mtls(c.clients[0]),
        "mtls2": mtls(c.clients[1]),
        "resource": {"resourceUrl": format!("{}/", c.public_base)},
        "browser": browser_steps(c.public_base, c.username, c.password),
    });
    if c.include_server_ca {
        config["server_ca"] = json!(c.ca_pem);
    }
    config
}
