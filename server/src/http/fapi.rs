//! The FAPI interaction id (`x-fapi-interaction-id`): a protected resource echoes the one the
//! client sent, or makes a UUID for the request (FAPI 1 Baseline 6.2.1, UK OB). The resource
//! APIs and UserInfo share the rule.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");

/// Why a presented interaction id is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InteractionIdError {
    #[error("x-fapi-interaction-id must be a UUID")]
    Malformed,
    #[error("x-fapi-interaction-id is given more than once")]
    Repeated,
}

/// The interaction id the request carries (`None` when it carries none). A present one must be
/// printable ASCII, at most 128 characters, and given once.
pub fn presented_interaction_id(headers: &HeaderMap) -> Result<Option<&str>, InteractionIdError> {
    let mut values = headers.get_all(INTERACTION_ID).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => {
            let s = v.to_str().unwrap_or_default().trim();
            if s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                Err(InteractionIdError::Malformed)
            } else {
                Ok(Some(s))
            }
        }
        (Some(_), Some(_)) => Err(InteractionIdError::Repeated),
    }
}

/// Middleware for UserInfo: the response carries the request's interaction id, or a new one
/// when the request's is missing or unusable (UserInfo answers its own errors; an id is never a
/// reason to refuse it).
pub async fn interaction_id(request: Request, next: Next) -> Response {
    let id = presented_interaction_id(request.headers())
        .ok()
        .flatten()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut response = next.run(request).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(INTERACTION_ID, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(INTERACTION_ID, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn ids_are_taken_once_and_printable() {
        let id = "93bac548-d2de-4546-b106-880a5018460d";
        assert_eq!(presented_interaction_id(&with(&[id])), Ok(Some(id)));
        assert_eq!(presented_interaction_id(&with(&[])), Ok(None));
        assert_eq!(
            presented_interaction_id(&with(&["a b"])),
            Err(InteractionIdError::Malformed)
        );
        assert_eq!(
            presented_interaction_id(&with(&[id, id])),
            Err(InteractionIdError::Repeated)
        );
    }
}
