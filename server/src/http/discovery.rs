//! The OpenID Provider metadata (OpenID Connect Discovery, RFC 8414) and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::routes;
use crate::app::AppState;
use crate::config::Config;
use crate::keys::SigningAlg;
use crate::protocol::authorize::{SUPPORTED_ACRS, SUPPORTED_SCOPES};
use crate::protocol::error::OAuthError;
use crate::protocol::introspect;

/// Builds the metadata from the configuration and the route constants. It advertises only what is
/// served. The back-channel endpoints live on the mTLS listener, which also serves callers without
/// a certificate (DPoP clients), so the plain names and `mtls_endpoint_aliases` point there alike.
pub fn document(config: &Config) -> Value {
    let issuer = config.server.issuer.as_str().trim_end_matches('/');
    let mtls = config
        .mtls_base_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let token = format!("{mtls}{}", routes::TOKEN);
    let par = format!("{mtls}{}", routes::PAR);
    let introspection = format!("{mtls}{}", routes::INTROSPECT);
    let revocation = format!("{mtls}{}", routes::REVOKE);
    let mut mtls_aliases = Map::new();
    mtls_aliases.insert("token_endpoint".to_owned(), json!(token));
    mtls_aliases.insert(
        "pushed_authorization_request_endpoint".to_owned(),
        json!(par),
    );
    // UserInfo is served on both listeners: the public one for DPoP-bound tokens, the mTLS one
    // for certificate-bound tokens (RFC 8705 section 5).
    mtls_aliases.insert(
        "userinfo_endpoint".to_owned(),
        json!(format!("{mtls}{}", routes::USERINFO)),
    );
    mtls_aliases.insert("introspection_endpoint".to_owned(), json!(introspection));
    mtls_aliases.insert("revocation_endpoint".to_owned(), json!(revocation));
    let client_auth_methods = [
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "client_secret_basic",
        "client_secret_post",
    ];
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{}", routes::JWKS),
        "authorization_endpoint": format!("{issuer}{}", routes::AUTHORIZE),
        "token_endpoint": token,
        "pushed_authorization_request_endpoint": par,
        "userinfo_endpoint": format!("{issuer}{}", routes::USERINFO),
        "introspection_endpoint": introspection,
        "revocation_endpoint": revocation,
        "require_pushed_authorization_requests": false,
        "mtls_endpoint_aliases": mtls_aliases,
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code", "code id_token"],
        "response_modes_supported": ["query", "fragment", "form_post", "jwt", "query.jwt", "fragment.jwt", "form_post.jwt"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "id_token_encryption_alg_values_supported": ["RSA-OAEP-256", "ECDH-ES"],
        "id_token_encryption_enc_values_supported": ["A128CBC-HS256", "A256GCM"],
        "request_object_signing_alg_values_supported": algs,
        "authorization_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": client_auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": client_auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_signing_alg_values_supported": [introspect::SIGNING_ALG.as_str()],
        "revocation_endpoint_auth_methods_supported": client_auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": algs,
        "tls_client_certificate_bound_access_tokens": true,
        "dpop_signing_alg_values_supported": algs,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": true,
        "claims_supported": ["sub", "acr", "amr", "auth_time", "openbanking_intent_id", "name", "email", "phone_number"],
        "acr_values_supported": SUPPORTED_ACRS,
        "code_challenge_methods_supported": ["S256"],
    })
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let mut response = Json(document(&state.config)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

pub async fn jwks(State(state): State<AppState>) -> Result<Response, OAuthError> {
    let jwks = state.keys.jwks().await.map_err(OAuthError::internal)?;
    let mut response = Json(jwks).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
