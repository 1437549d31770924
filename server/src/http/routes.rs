//! Every route of the server, in one file. The path constants are shared with the discovery
//! document builder, so what is advertised and what is served cannot drift.

use axum::Router;
use axum::middleware::map_response_with_state;
use axum::routing::{get, post};

use super::{authorize, discovery, health, login, oauth, otp, pages, tls_info};
use crate::app::AppState;

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks";
pub const HOME: &str = "/";
pub const LOGIN: &str = "/login";
pub const LOGIN_OTP: &str = "/login/otp";
pub const LOGOUT: &str = "/logout";
pub const ASSETS: &str = "/assets/{file}";
/// On the mTLS listener: what the server sees of the caller's client certificate.
pub const CLIENT_CERTIFICATE: &str = "/tls/client-certificate";
pub const AUTHORIZE: &str = "/authorize";
/// Where the browser continues an authorization after login: the consent step.
pub const AUTHORIZE_RESUME: &str = "/authorize/resume";
pub const AUTHORIZE_DECISION: &str = "/authorize/decision";
pub const PAR: &str = "/par";
pub const TOKEN: &str = "/token";
pub const USERINFO: &str = "/userinfo";
pub const INTROSPECT: &str = "/introspect";
pub const REVOKE: &str = "/revoke";
pub const METRICS: &str = "/metrics";
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";

/// The public listener: discovery, keys, login pages. Only the pages carry the session layer, so
/// discovery, JWKS and assets never touch the session table.
pub fn public(state: AppState) -> Router {
    let pages = Router::new()
        .route(HOME, get(login::home))
        .route(LOGIN, get(login::login_page).post(login::login_submit))
        .route(LOGIN_OTP, get(otp::otp_page).post(otp::otp_submit))
        .route(LOGOUT, post(login::logout))
        .route(
            AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(AUTHORIZE_RESUME, get(authorize::resume))
        .route(AUTHORIZE_DECISION, post(authorize::decision))
        .layer(login::session_layer(&state));
    Router::new()
        .route(DISCOVERY, get(discovery::openid_configuration))
        .route(JWKS, get(discovery::jwks))
        .route(ASSETS, get(pages::serve_asset))
        .route(
            USERINFO,
            get(oauth::userinfo_public)
                .post(oauth::userinfo_public)
                .layer(map_response_with_state(
                    state.clone(),
                    oauth::dpop_nonce_header,
                ))
                .layer(axum::middleware::from_fn(super::fapi::interaction_id)),
        )
        .merge(pages)
        .fallback(|| async { super::error::PageError::NotFound })
        .with_state(state)
}

/// The mTLS listener: endpoints that authenticate clients by certificate.
pub fn mtls(state: AppState) -> Router {
    // The endpoints that take DPoP proofs hand out the server's DPoP nonce, when it is on.
    let dpop = Router::new()
        .route(PAR, post(oauth::par))
        .route(TOKEN, post(oauth::token))
        .route(
            USERINFO,
            get(oauth::userinfo_mtls)
                .post(oauth::userinfo_mtls)
                .layer(axum::middleware::from_fn(super::fapi::interaction_id)),
        )
        .layer(map_response_with_state(
            state.clone(),
            oauth::dpop_nonce_header,
        ));
    Router::new()
        .route(DISCOVERY, get(discovery::openid_configuration))
        .route(JWKS, get(discovery::jwks))
        .route(CLIENT_CERTIFICATE, get(tls_info::client_certificate))
        .merge(dpop)
        .route(INTROSPECT, post(oauth::introspect))
        .route(REVOKE, post(oauth::revoke))
        .fallback(|| async {
            crate::protocol::error::OAuthError::invalid_request("unknown endpoint")
        })
        .with_state(state)
}

/// The local admin listener: metrics and health.
pub fn admin(state: AppState) -> Router {
    Router::new()
        .route(METRICS, get(health::metrics))
        .route(HEALTHZ, get(health::healthz))
        .route(READYZ, get(health::readyz))
        .with_state(state)
}
