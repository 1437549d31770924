//! Account information: account-access consents and the account, balance, transaction and
//! beneficiary resources they open.

pub mod access;
pub mod consents;
pub mod paging;
pub mod resources;
pub mod shape;

use axum::Router;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::{get, post};

use crate::Api;
use crate::error::{ApiError, ObErrorCode};

pub const CONSENTS: &str = "/open-banking/v3.1/aisp/account-access-consents";
pub const CONSENT: &str = "/open-banking/v3.1/aisp/account-access-consents/{ConsentId}";
pub const ACCOUNTS: &str = "/open-banking/v3.1/aisp/accounts";
pub const ACCOUNT: &str = "/open-banking/v3.1/aisp/accounts/{AccountId}";
pub const BALANCES: &str = "/open-banking/v3.1/aisp/balances";
pub const ACCOUNT_BALANCES: &str = "/open-banking/v3.1/aisp/accounts/{AccountId}/balances";
pub const TRANSACTIONS: &str = "/open-banking/v3.1/aisp/transactions";
pub const ACCOUNT_TRANSACTIONS: &str = "/open-banking/v3.1/aisp/accounts/{AccountId}/transactions";
pub const BENEFICIARIES: &str = "/open-banking/v3.1/aisp/beneficiaries";
pub const ACCOUNT_BENEFICIARIES: &str =
    "/open-banking/v3.1/aisp/accounts/{AccountId}/beneficiaries";

pub fn routes() -> Router<Api> {
    Router::new()
        .route(CONSENTS, post(consents::create))
        .route(CONSENT, get(consents::read).delete(consents::delete))
        .route(ACCOUNTS, get(resources::accounts))
        .route(ACCOUNT, get(resources::accounts))
        .route(BALANCES, get(resources::balances))
        .route(ACCOUNT_BALANCES, get(resources::balances))
        .route(TRANSACTIONS, get(resources::transactions))
        .route(ACCOUNT_TRANSACTIONS, get(resources::transactions))
        .route(BENEFICIARIES, get(resources::beneficiaries))
        .route(ACCOUNT_BENEFICIARIES, get(resources::beneficiaries))
}

pub use crate::self_link;

/// The one path parameter of a resource (`{ConsentId}`, `{AccountId}`), refused in the UK OB
/// shape when it cannot be read.
#[derive(Debug, Clone)]
pub struct PathId(pub String);

impl FromRequestParts<Api> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let Path(id) = <Path<String> as FromRequestParts<Api>>::from_request_parts(parts, api)
            .await
            .map_err(|e| {
                ApiError::bad_request(ObErrorCode::FieldInvalid, e.body_text()).at("path")
            })?;
        if id.is_empty() || id.len() > 128 {
            return Err(ApiError::not_found("there is no such resource"));
        }
        Ok(PathId(id))
    }
}

/// Absent on a route without a path parameter (the bulk resources).
impl OptionalFromRequestParts<Api> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Option<Self>, ApiError> {
        let present =
            <Path<String> as OptionalFromRequestParts<Api>>::from_request_parts(parts, api)
                .await
                .ok()
                .flatten()
                .is_some();
        if present {
            <PathId as FromRequestParts<Api>>::from_request_parts(parts, api)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}
