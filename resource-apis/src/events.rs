//! Aggregated event polling (UK OB Event Notification API 3.1): `POST /open-banking/v3.1/events`
//! with a client credentials token. The TPP acknowledges (`ack`) or rejects (`setErrs`) the SETs it
//! received and gets the ones still waiting for it as signed SETs (`sets`, `moreAvailable`), 201
//! as the specification's Swagger has it. The rules live in `consentry_server::events::polling`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use consentry_server::events::polling::{PollFailure, PollRequest, poll};

use crate::Api;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ObErrorCode};

/// The aggregated polling resource.
pub const EVENTS: &str = "/open-banking/v3.1/events";
/// Scopes whose client credentials tokens may poll: `accounts` and `fundsconfirmations` (3.1.4
/// onwards), `payments` (4.0), `eventpolling` (3.1.2).
pub const POLLING_SCOPES: [&str; 4] =
    ["accounts", "payments", "fundsconfirmations", "eventpolling"];

pub fn routes() -> Router<Api> {
    Router::new().route(EVENTS, post(poll_events))
}

async fn poll_events(State(api): State<Api>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let scope = POLLING_SCOPES
        .into_iter()
        .find(|s| caller.token.scope.split(' ').any(|t| t == *s))
        .unwrap_or(POLLING_SCOPES[0]);
    caller.require_client_token(scope)?;
    let request: PollRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            ObErrorCode::FieldInvalid,
            format!("the request is not a valid OBEventPolling1: {e}"),
        )
    })?;
    let response = poll(&api.app, caller.client_id(), &request, caller.now)
        .await
        .map_err(|e| match e {
            PollFailure::Invalid(e) => {
                ApiError::field(ObErrorCode::FieldInvalid, e.path, e.message)
            }
            PollFailure::Internal(cause) => ApiError::internal(cause),
        })?;
    Ok((StatusCode::CREATED, axum::Json(response)).into_response())
}
