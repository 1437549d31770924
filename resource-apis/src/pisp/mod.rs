//! Payment initiation (UK OB Read/Write API 3.1): domestic-payment consents, funds confirmation
//! and domestic payments.
//!
//! Tokens: consents are created and read with a client_credentials token (`payments` scope);
//! funds confirmation and payment submission need the authorization-code token of the consent;
//! a payment is read by its client with either.
//!
//! Every POST carries `x-idempotency-key` (1 to 40 characters, no surrounding spaces) and an
//! `x-jws-signature` of its body by the TPP ([`crate::jws`], checked in [`signing`]). A key
//! replayed with the same body (canonical JSON) answers with what the first request made; with
//! another body it is refused. Keys are remembered for as long as what they made (UK OB asks for
//! at least 24 hours). Every response of these endpoints is signed by the bank.
//!
//! An identifier that names nothing is a 400 (`UK.OBIE.Resource.NotFound`), as the 3.1 profile
//! asks; a consent or payment of another TPP is a 403.

mod consents;
pub mod initiation;
mod payments;
pub mod signing;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use consentry_server::clock::UnixTime;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, ObErrorCode};
use crate::{Api, PISP};

const IDEMPOTENCY_KEY: &str = "x-idempotency-key";
pub const X_IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static(IDEMPOTENCY_KEY);
/// The longest idempotency key (UK OB 3.1: Max40Text).
pub const MAX_IDEMPOTENCY_KEY: usize = 40;

pub fn routes(api: &Api) -> Router<Api> {
    let consents = format!("{PISP}/domestic-payment-consents");
    let payments = format!("{PISP}/domestic-payments");
    Router::new()
        .route(&consents, post(consents::create))
        .route(&format!("{consents}/{{consent_id}}"), get(consents::read))
        .route(
            &format!("{consents}/{{consent_id}}/funds-confirmation"),
            get(consents::funds_confirmation),
        )
        .route(&payments, post(payments::create))
        .route(&format!("{payments}/{{payment_id}}"), get(payments::read))
        .route(
            &format!("{payments}/{{payment_id}}/payment-details"),
            get(payments::details),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            signing::sign_response,
        ))
}

/// The request's `x-idempotency-key`.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let name = IDEMPOTENCY_KEY;
    let mut values = headers.get_all(&X_IDEMPOTENCY_KEY).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => {
            return Err(ApiError::header(
                ObErrorCode::HeaderMissing,
                name,
                "x-idempotency-key is required on this request",
            ));
        }
        (Some(v), None) => v.to_str().unwrap_or_default(),
        (Some(_), Some(_)) => {
            return Err(ApiError::header(
                ObErrorCode::HeaderInvalid,
                name,
                "x-idempotency-key is given more than once",
            ));
        }
    };
    let printable = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if value.is_empty() || value.len() > MAX_IDEMPOTENCY_KEY || value.trim() != value || !printable
    {
        return Err(ApiError::header(
            ObErrorCode::HeaderInvalid,
            name,
            format!(
                "x-idempotency-key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters, not \
                 starting or ending with a space"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// The refusal of a key used before for another request.
pub fn idempotency_key_reused() -> ApiError {
    ApiError::header(
        ObErrorCode::HeaderInvalid,
        IDEMPOTENCY_KEY,
        "this x-idempotency-key was used for a different request",
    )
}

/// The body as a JSON object.
pub fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::bad_request(
            ObErrorCode::ResourceInvalidFormat,
            "the request body must be a JSON object",
        )),
    }
}

/// Hex SHA-256 of the request in canonical JSON (members sorted, no spaces): what tells a replay
/// of an idempotency key from another request under it.
pub fn request_hash(request: &Map<String, Value>) -> String {
    let canonical = sorted(&Value::Object(request.clone())).to_string();
    hex::encode(consentry_server::crypto::sha256(canonical.as_bytes()))
}

/// `value` with the members of every object in name order (maps keep insertion order here).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                members
                    .into_iter()
                    .map(|(name, v)| (name.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

pub use crate::self_link;

/// An ISODateTime.
pub fn datetime(t: UnixTime) -> String {
    consentry_server::clock::rfc3339(t)
}

/// A 400 about an identifier that names nothing (UK OB 3.1: 400, not 404).
pub fn no_such(what: &str) -> ApiError {
    ApiError::bad_request(
        ObErrorCode::ResourceNotFound,
        format!("there is no {what} with this id"),
    )
}

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A stored request body (`Data` and `Risk`) as JSON.
pub fn stored_body(json: &str) -> ApiResult<Value> {
    serde_json::from_str(json).map_err(|e| ApiError::internal(format!("stored body: {e}")))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use serde_json::json;

    use super::*;

    fn with_key(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_IDEMPOTENCY_KEY, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn idempotency_keys() {
        assert_eq!(idempotency_key(&with_key(&["abc-123"])).unwrap(), "abc-123");
        assert_eq!(
            idempotency_key(&with_key(&[&"k".repeat(40)]))
                .unwrap()
                .len(),
            40
        );
        let code = |h: &HeaderMap| idempotency_key(h).unwrap_err().errors[0].code.as_str();
        assert_eq!(code(&with_key(&[])), "UK.OBIE.Header.Missing");
        for bad in ["", " abc", "abc ", &"k".repeat(41)] {
            assert_eq!(code(&with_key(&[bad])), "UK.OBIE.Header.Invalid", "{bad:?}");
        }
        assert_eq!(code(&with_key(&["a", "b"])), "UK.OBIE.Header.Invalid");
    }

    #[test]
    fn the_request_hash_ignores_member_order_and_spacing() {
        let a = json_object(br#"{"Data": {"b": 1, "a": "x"}, "Risk": {}}"#).unwrap();
        let b = json_object(br#"{"Risk":{},"Data":{"a":"x","b":1}}"#).unwrap();
        let c = json_object(br#"{"Risk":{},"Data":{"a":"y","b":1}}"#).unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        assert_ne!(request_hash(&a), request_hash(&c));
        assert!(json_object(b"[1]").is_err());
        assert!(json_object(b"{").is_err());
        assert_eq!(json!(a)["Data"]["a"], "x");
    }
}
