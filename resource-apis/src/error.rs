//! The one error of the resource APIs, in the UK Open Banking 3.1 shape:
//! `{"Code", "Id", "Message", "Errors": [{"ErrorCode", "Message", "Path"}]}`, with the status the
//! specification gives. Token failures keep their RFC 6750 / RFC 9449 `WWW-Authenticate`
//! challenge. Nothing internal reaches the body: the cause of a 500 is logged, the body says only
//! that something went wrong.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use consentry_server::http::error::InternalCause;
use consentry_server::protocol::error::{ErrorCode, OAuthError};
use consentry_server::store::StoreError;
use serde_json::json;

const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// A UK OB `ErrorCode` (the `UK.OBIE.` namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObErrorCode {
    FieldExpected,
    FieldInvalid,
    FieldInvalidDate,
    FieldMissing,
    FieldUnexpected,
    HeaderInvalid,
    HeaderMissing,
    ResourceConsentMismatch,
    ResourceInvalidConsentStatus,
    ResourceInvalidFormat,
    ResourceNotFound,
    RulesDuplicateReference,
    RulesInsufficientFunds,
    SignatureInvalid,
    SignatureInvalidClaim,
    SignatureMalformed,
    SignatureMissing,
    SignatureMissingClaim,
    UnsupportedAccountIdentifier,
    UnsupportedCurrency,
    UnsupportedScheme,
    Unauthorized,
    Forbidden,
    MethodNotAllowed,
    NotAcceptable,
    UnsupportedMediaType,
    TooManyRequests,
    UnexpectedError,
}

impl ObErrorCode {
    pub fn as_str(self) -> &'static str {
        use ObErrorCode::*;
        match self {
            FieldExpected => "UK.OBIE.Field.Expected",
            FieldInvalid => "UK.OBIE.Field.Invalid",
            FieldInvalidDate => "UK.OBIE.Field.InvalidDate",
            FieldMissing => "UK.OBIE.Field.Missing",
            FieldUnexpected => "UK.OBIE.Field.Unexpected",
            HeaderInvalid => "UK.OBIE.Header.Invalid",
            HeaderMissing => "UK.OBIE.Header.Missing",
            ResourceConsentMismatch => "UK.OBIE.Resource.ConsentMismatch",
            ResourceInvalidConsentStatus => "UK.OBIE.Resource.InvalidConsentStatus",
            ResourceInvalidFormat => "UK.OBIE.Resource.InvalidFormat",
            ResourceNotFound => "UK.OBIE.Resource.NotFound",
            RulesDuplicateReference => "UK.OBIE.Rules.DuplicateReference",
            RulesInsufficientFunds => "UK.OBIE.Rules.InsufficientFunds",
            SignatureInvalid => "UK.OBIE.Signature.Invalid",
            SignatureInvalidClaim => "UK.OBIE.Signature.InvalidClaim",
            SignatureMalformed => "UK.OBIE.Signature.Malformed",
            SignatureMissing => "UK.OBIE.Signature.Missing",
            SignatureMissingClaim => "UK.OBIE.Signature.MissingClaim",
            UnsupportedAccountIdentifier => "UK.OBIE.Unsupported.AccountIdentifier",
            UnsupportedCurrency => "UK.OBIE.Unsupported.Currency",
            UnsupportedScheme => "UK.OBIE.Unsupported.Scheme",
            Unauthorized => "UK.OBIE.Unauthorized",
            Forbidden => "UK.OBIE.Forbidden",
            MethodNotAllowed => "UK.OBIE.MethodNotAllowed",
            NotAcceptable => "UK.OBIE.NotAcceptable",
            UnsupportedMediaType => "UK.OBIE.UnsupportedMediaType",
            TooManyRequests => "UK.OBIE.TooManyRequests",
            UnexpectedError => "UK.OBIE.UnexpectedError",
        }
    }
}

/// One entry of `Errors`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObErrorDetail {
    pub code: ObErrorCode,
    pub message: String,
    /// The JSON path or header the error is about, when there is one.
    pub path: Option<String>,
}

/// An error response of the resource APIs.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub errors: Vec<ObErrorDetail>,
    /// Headers of a token refusal (`WWW-Authenticate`, `DPoP-Nonce`).
    pub auth_headers: Vec<(HeaderName, HeaderValue)>,
    /// Logged, never sent.
    pub internal: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ObErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            errors: vec![ObErrorDetail {
                code,
                message: message.clone(),
                path: None,
            }],
            message,
            auth_headers: Vec::new(),
            internal: None,
        }
    }

    /// 400 with one error about `path`.
    pub fn field(code: ObErrorCode, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).at(path)
    }

    /// 400 about a header.
    pub fn header(code: ObErrorCode, name: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message).at(name)
    }

    pub fn bad_request(code: ObErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ObErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ObErrorCode::ResourceNotFound,
            message,
        )
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ObErrorCode::UnexpectedError,
            "Something went wrong on our side; try again later",
        );
        e.internal = Some(cause.to_string());
        e
    }

    /// Sets the `Path` of the (last) error entry.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        if let Some(last) = self.errors.last_mut() {
            last.path = Some(path.into());
        }
        self
    }

    /// Adds another entry to `Errors`.
    pub fn and(mut self, detail: ObErrorDetail) -> Self {
        self.errors.push(detail);
        self
    }

    fn code_line(&self) -> String {
        format!(
            "{} {}",
            self.status.as_u16(),
            self.status
                .canonical_reason()
                .unwrap_or("Error")
                .replace(' ', "")
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        let description = e
            .description()
            .unwrap_or("the access token is not valid")
            .to_owned();
        let (status, code) = match e.code {
            ErrorCode::InvalidToken => (StatusCode::UNAUTHORIZED, ObErrorCode::Unauthorized),
            ErrorCode::InsufficientScope => (StatusCode::FORBIDDEN, ObErrorCode::Forbidden),
            ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => {
                return ApiError::internal(description);
            }
            _ => (StatusCode::BAD_REQUEST, ObErrorCode::HeaderInvalid),
        };
        // The OAuth mapping decides the challenge (scheme, error, DPoP nonce): take its headers.
        let oauth = e.into_response();
        let mut out = ApiError::new(status, code, description);
        for name in [header::WWW_AUTHENTICATE, DPOP_NONCE] {
            if let Some(value) = oauth.headers().get(&name) {
                out.auth_headers.push((name, value.clone()));
            }
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "Code": self.code_line(),
            "Id": uuid::Uuid::new_v4().to_string(),
            "Message": self.message,
            "Errors": self.errors.iter().map(|d| {
                let mut entry = json!({"ErrorCode": d.code.as_str(), "Message": d.message});
                if let Some(path) = &d.path {
                    entry["Path"] = json!(path);
                }
                entry
            }).collect::<Vec<_>>(),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().extend(self.auth_headers);
        if let Some(cause) = self.internal {
            // Logged once by the telemetry middleware, never sent.
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
