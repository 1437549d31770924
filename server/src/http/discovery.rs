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
use crate::protocol::error::OAuthError;

/// Builds the metadata from the configuration and the route constants. It advertises only what is
/// served; `mtls_endpoint_aliases` lists the endpoints of the mTLS listener that clients call with
/// their certificate.
pub fn document(config: &Config) -> Value {
    let issuer = config.server.issuer.as_str().trim_end_matches('/');
    let algs: Vec<&str> = [SigningAlg::PS256, SigningAlg::ES256]
        .iter()
        .map(|a| a.as_str())
        .collect();
    let mtls_aliases = Map::new();
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{}", routes::JWKS),
        "id_token_signing_alg_values_supported": algs,
        "mtls_endpoint_aliases": mtls_aliases,
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
