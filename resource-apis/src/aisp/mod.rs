//! Account information: account-access consents and the account, balance, transaction and
//! beneficiary resources they open.

use axum::Router;

use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
}
