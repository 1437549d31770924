//! The bundled UK Open Banking Read/Write API 3.1 resource server: account-access and
//! domestic-payment consents, the account and transaction APIs, domestic payments, and event
//! notifications polling, served on the resource listener (mTLS). Requests are checked by
//! [`auth`] (token, holder of key, consent) and [`fapi`] (FAPI headers); errors take the UK OB
//! shape of [`error`].

pub mod aisp;
pub mod auth;
pub mod core_banking;
pub mod error;
pub mod events;
pub mod fapi;
pub mod jws;
pub mod openapi;
pub mod payments_bank;
pub mod pisp;

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use consentry_server::app::AppState;

use crate::core_banking::{AccountData, LedgerBank};
use crate::error::{ApiError, ObErrorCode};
use crate::payments_bank::{LedgerPayments, PaymentExecution};

/// Where the UK OB APIs live on the resource listener.
pub const OB_BASE: &str = "/open-banking/v3.1";
pub const AISP: &str = "/open-banking/v3.1/aisp";
pub const PISP: &str = "/open-banking/v3.1/pisp";

/// The state every resource handler shares.
#[derive(Clone)]
pub struct Api {
    pub app: AppState,
    pub accounts: Arc<dyn AccountData>,
    /// What this node remembers of grants and consents (see [`auth::Memos`]).
    pub memos: Arc<auth::Memos>,
    pub payments: Arc<dyn PaymentExecution>,
}

impl Api {
    /// The APIs over the bundled ledger.
    pub fn bundled(app: AppState) -> Self {
        let bank = Arc::new(LedgerBank::new(app.store.clone()));
        let payments = Arc::new(LedgerPayments::new(app.store.clone()));
        Self {
            app,
            accounts: bank,
            memos: Arc::default(),
            payments,
        }
    }
}

/// The resource listener's routes, over the bundled ledger. Give it to
/// `consentry_server::serve::start_with`.
pub fn router(app: AppState) -> Router {
    routes(Api::bundled(app))
}

/// The resource listener's routes over `api`.
pub fn routes(api: Api) -> Router {
    Router::new()
        .route(openapi::PATH, axum::routing::get(openapi::document_handler))
        .merge(aisp::routes())
        .merge(pisp::routes(&api))
        .merge(events::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            fapi::headers,
        ))
        .with_state(api)
}

/// The absolute URL of `path_and_query` on the resource listener: what `Links` carry.
pub fn self_link(api: &Api, path_and_query: &str) -> String {
    consentry_server::http::resource_auth::Listener::Resource.url(&api.app, path_and_query)
}

async fn not_found() -> ApiError {
    ApiError::not_found("there is no such resource")
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ObErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on this resource"),
    )
}
