//! The one OAuth error type. Its variants are the error codes of RFC 6749, 6750, 9126, 9449, 7591
//! and OpenID Connect; `crate::http::error` maps it to status, body and headers in one place.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InvalidRequestObject,
    InvalidRequestUri,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
    InvalidDpopProof,
    UseDpopNonce,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidSoftwareStatement,
    UnapprovedSoftwareStatement,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            InvalidRequestObject => "invalid_request_object",
            InvalidRequestUri => "invalid_request_uri",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
            InvalidDpopProof => "invalid_dpop_proof",
            UseDpopNonce => "use_dpop_nonce",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            InteractionRequired => "interaction_required",
            InvalidRedirectUri => "invalid_redirect_uri",
            InvalidClientMetadata => "invalid_client_metadata",
            InvalidSoftwareStatement => "invalid_software_statement",
            UnapprovedSoftwareStatement => "unapproved_software_statement",
        }
    }
}

/// How the client authenticated (or tried to), which decides the `WWW-Authenticate` challenge of
/// a 401 `invalid_client` (RFC 6749 section 5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    None,
    Basic,
    Bearer,
    DPoP,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    description: Option<String>,
    pub challenge: Challenge,
    /// The cause of a server error: logged once, never sent.
    pub internal: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: Some(sanitize(&description.into())),
            challenge: Challenge::None,
            internal: None,
        }
    }

    pub fn bare(code: ErrorCode) -> Self {
        Self {
            code,
            description: None,
            challenge: Challenge::None,
            internal: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// A server fault: the client sees a generic `server_error`, the cause is logged.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self {
            code: ErrorCode::ServerError,
            description: Some("the server could not complete the request".to_owned()),
            challenge: Challenge::None,
            internal: Some(cause.to_string()),
        }
    }

    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{}: {d}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

impl std::error::Error for OAuthError {}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => Self {
                code: ErrorCode::TemporarilyUnavailable,
                description: Some("the server is temporarily unavailable".to_owned()),
                challenge: Challenge::None,
                internal: Some(e.to_string()),
            },
            other => Self::internal(other),
        }
    }
}

/// RFC 6749 allows only `%x20-21 / %x23-5B / %x5D-7E` in `error_description`: no control
/// characters (CR, LF, TAB), no `"` and no `\`.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' => c,
            '"' => '\'',
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_carry_no_control_characters_or_quotes() {
        let e = OAuthError::invalid_request("bad\r\nvalue\t\"x\"\\ é");
        assert_eq!(e.description(), Some("bad  value 'x'   "));
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = OAuthError::internal("disk on fire at /var/lib");
        assert_eq!(e.code, ErrorCode::ServerError);
        assert!(!e.description().unwrap_or_default().contains("disk"));
        assert_eq!(e.internal.as_deref(), Some("disk on fire at /var/lib"));
    }
}
