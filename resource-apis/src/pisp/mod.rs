//! Payment initiation: domestic-payment consents, funds confirmation and domestic payments.

use axum::Router;

use crate::Api;

pub fn routes() -> Router<Api> {
    Router::new()
}
