//! Errors as HTTP responses, each kind mapped in exactly one place: [`OAuthError`] as RFC 6749 JSON
//! with the right status, `WWW-Authenticate` and `Cache-Control: no-store`; [`PageError`] as an
//! HTML page. The cause of a 5xx travels in the response extensions as [`InternalCause`] for the
//! telemetry middleware to log once; it is never in the body.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::protocol::error::{Challenge, ErrorCode, OAuthError};

/// The cause of a server-side failure, for the log.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

#[derive(Serialize)]
struct OAuthErrorBody<'a> {
    error: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        // A resource asking for a DPoP nonce answers 401 with its challenge (RFC 9449 section 9);
        // the token and PAR endpoints answer 400 (section 8).
        let status = match (self.code, self.challenge) {
            (ErrorCode::UseDpopNonce, Challenge::DPoP) => StatusCode::UNAUTHORIZED,
            (code, _) => status_of(code),
        };
        let body = OAuthErrorBody {
            error: self.code.as_str(),
            error_description: self.description(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        let scheme = match self.challenge {
            Challenge::None if status == StatusCode::UNAUTHORIZED => Some("Bearer"),
            Challenge::None => None,
            Challenge::Basic => Some("Basic"),
            Challenge::Bearer => Some("Bearer"),
            Challenge::DPoP => Some("DPoP"),
        };
        // RFC 6750 section 3: a challenge on 401, and on 403 insufficient_scope from a resource.
        let challenged = status == StatusCode::UNAUTHORIZED
            || (self.code == ErrorCode::InsufficientScope && self.challenge != Challenge::None);
        if let Some(scheme) = scheme
            && challenged
        {
            let value = format!("{scheme} error=\"{}\"", self.code.as_str());
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(cause) = self.internal {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

/// A failure on an HTML page: rendered as a page, never as JSON and never as a redirect.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("the form has expired; go back, reload the page and try again")]
    Csrf,
    #[error("too many attempts; try again in a few minutes")]
    TooManyRequests,
    #[error("internal: {0}")]
    Internal(String),
}

impl PageError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        PageError::Internal(cause.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) | PageError::Csrf => StatusCode::BAD_REQUEST,
            PageError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError::internal(e)
    }
}

impl From<tower_sessions::session::Error> for PageError {
    fn from(e: tower_sessions::session::Error) -> Self {
        PageError::internal(format!("session: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: super::pages::PageMeta,
    status: u16,
    title: &'a str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (title, message) = match &self {
            PageError::Internal(_) => (
                "Something went wrong",
                "The server could not complete your request. Please try again later.".to_owned(),
            ),
            PageError::NotFound => (
                "Page not found",
                "There is nothing at this address.".to_owned(),
            ),
            PageError::TooManyRequests => ("Too many attempts", self.to_string()),
            PageError::Csrf => ("Form expired", self.to_string()),
            PageError::BadRequest(_) => ("Request not valid", self.to_string()),
        };
        let page = ErrorPage {
            page: super::pages::PageMeta::new(title),
            status: status.as_u16(),
            title,
            message,
        };
        let mut response = super::pages::render(status, &page);
        if let PageError::Internal(cause) = self {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}
