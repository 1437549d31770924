//! The FAPI and UK OB headers every resource request and response carries:
//! `x-fapi-interaction-id` echoed (or a new UUID), `x-fapi-auth-date` and
//! `x-fapi-customer-ip-address` checked when present, `Accept` negotiated to JSON, a JSON
//! `Content-Type` on bodies, and a `Date` on every response.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use consentry_server::clock::UnixTime;

use crate::Api;
use crate::error::{ApiError, ObErrorCode};

pub use consentry_server::http::fapi::INTERACTION_ID;
use consentry_server::http::fapi::presented_interaction_id;
pub const AUTH_DATE: HeaderName = HeaderName::from_static("x-fapi-auth-date");
pub const CUSTOMER_IP: HeaderName = HeaderName::from_static("x-fapi-customer-ip-address");

/// The interaction id of a request, as handlers see it (request extension).
#[derive(Debug, Clone)]
pub struct InteractionId(pub String);

/// The middleware: checks the headers, runs the handler, stamps the response.
pub async fn headers(State(api): State<Api>, mut request: Request, next: Next) -> Response {
    let now = api.app.clock.now();
    let interaction = match interaction_id(request.headers()) {
        Ok(id) => id,
        Err(e) => return stamp(e.into_response(), None, now),
    };
    if let Err(e) = check_request(request.method(), request.headers()) {
        return stamp(e.into_response(), Some(&interaction), now);
    }
    request
        .extensions_mut()
        .insert(InteractionId(interaction.clone()));
    let response = next.run(request).await;
    stamp(response, Some(&interaction), now)
}

fn stamp(mut response: Response<Body>, interaction: Option<&str>, now: UnixTime) -> Response {
    let headers = response.headers_mut();
    if let Some(v) = interaction.and_then(|i| HeaderValue::from_str(i).ok()) {
        headers.insert(INTERACTION_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(now)) {
        headers.insert(header::DATE, v);
    }
    response
}

/// The request's interaction id, or a new UUID. A present one must be printable and short.
pub fn interaction_id(headers: &HeaderMap) -> Result<String, ApiError> {
    match presented_interaction_id(headers) {
        Ok(Some(id)) => Ok(id.to_owned()),
        Ok(None) => Ok(uuid::Uuid::new_v4().to_string()),
        Err(e) => Err(ApiError::header(
            ObErrorCode::HeaderInvalid,
            "x-fapi-interaction-id",
            e.to_string(),
        )),
    }
}

fn check_request(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(v) = headers.get(CUSTOMER_IP) {
        let ok = v
            .to_str()
            .ok()
            .is_some_and(|s| s.trim().parse::<std::net::IpAddr>().is_ok());
        if !ok {
            return Err(ApiError::header(
                ObErrorCode::HeaderInvalid,
                "x-fapi-customer-ip-address",
                "x-fapi-customer-ip-address must be an IPv4 or IPv6 address",
            ));
        }
    }
    if let Some(v) = headers.get(AUTH_DATE) {
        let ok = v
            .to_str()
            .ok()
            .is_some_and(|s| parse_http_date(s).is_some());
        if !ok {
            return Err(ApiError::header(
                ObErrorCode::HeaderInvalid,
                "x-fapi-auth-date",
                "x-fapi-auth-date must be an HTTP date (RFC 7231), e.g. Sun, 10 Sep 2017 19:43:31 GMT",
            ));
        }
    }
    if !accepts_json(headers) {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            ObErrorCode::NotAcceptable,
            "these APIs answer only application/json",
        ));
    }
    if (method == Method::POST || method == Method::PUT) && !is_json_body(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ObErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        ));
    }
    Ok(())
}

/// Whether `Accept` (absent, or any of its ranges) admits `application/json`.
pub fn accepts_json(headers: &HeaderMap) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return true;
    }
    values.iter().flat_map(|v| v.split(',')).any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        !refused && matches!(media.as_str(), "application/json" | "application/*" | "*/*")
    })
}

fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// An RFC 7231 IMF-fixdate.
pub fn http_date(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(HTTP_DATE).ok())
        .unwrap_or_default()
}

/// Parses an RFC 7231 IMF-fixdate.
pub fn parse_http_date(s: &str) -> Option<UnixTime> {
    time::PrimitiveDateTime::parse(s.trim(), HTTP_DATE)
        .ok()
        .map(|d| d.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn accept_variants_the_suite_sends_are_json() {
        assert!(accepts_json(&HeaderMap::new()));
        for ok in [
            "application/json",
            "application/json;charset=UTF-8",
            "application/json, application/*+json, */*",
            "*/*",
        ] {
            assert!(accepts_json(&with(header::ACCEPT, ok)), "{ok}");
        }
        for refused in ["application/xml", "text/html", "application/json;q=0"] {
            assert!(!accepts_json(&with(header::ACCEPT, refused)), "{refused}");
        }
    }

    #[test]
    fn customer_addresses_of_both_families_are_accepted() {
        for ok in ["198.51.100.7", "2001:db8::1"] {
            assert!(check_request(&Method::GET, &with(CUSTOMER_IP, ok)).is_ok());
        }
        let e = check_request(&Method::GET, &with(CUSTOMER_IP, "not-an-ip")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn dates_round_trip_and_bad_auth_dates_are_refused() {
        assert_eq!(http_date(1_505_072_611), "Sun, 10 Sep 2017 19:43:31 GMT");
        assert_eq!(
            parse_http_date("Sun, 10 Sep 2017 19:43:31 GMT"),
            Some(1_505_072_611)
        );
        assert!(check_request(&Method::GET, &with(AUTH_DATE, "yesterday")).is_err());
        assert!(
            check_request(
                &Method::GET,
                &with(AUTH_DATE, "Sun, 10 Sep 2017 19:43:31 GMT")
            )
            .is_ok()
        );
    }

    #[test]
    fn interaction_ids_are_echoed_or_made() {
        let id = "93bac548-d2de-4546-b106-880a5018460d";
        assert_eq!(interaction_id(&with(INTERACTION_ID, id)).unwrap(), id);
        let made = interaction_id(&HeaderMap::new()).unwrap();
        assert!(uuid::Uuid::parse_str(&made).is_ok());
        assert!(interaction_id(&with(INTERACTION_ID, "a b")).is_err());
    }

    #[test]
    fn bodies_must_be_json() {
        assert!(check_request(&Method::POST, &HeaderMap::new()).is_err());
        let json = with(header::CONTENT_TYPE, "application/json; charset=utf-8");
        assert!(check_request(&Method::POST, &json).is_ok());
    }
}
