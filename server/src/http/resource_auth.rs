//! Access tokens presented to the protected endpoints (userinfo, the resource APIs).
//!
//! A token travels only in the `Authorization` header (RFC 6750 section 2.1), under the `Bearer`
//! or the `DPoP` scheme (RFC 9449 section 7.1), matched case-insensitively; FAPI refuses the query
//! and form-body methods. The token must be valid and presented by its holder: a token bound to a
//! certificate (RFC 8705 `cnf.x5t#S256`) needs that certificate on the connection, a token bound
//! to a DPoP key (`cnf.jkt`) needs the `DPoP` scheme and a proof by that key for this request and
//! this token (`ath`). When server nonces are on, that proof carries the current nonce, or the
//! request is refused with 401 `use_dpop_nonce` (RFC 9449 section 9).

use axum::http::{HeaderMap, Method, Uri, header};

use super::client_cert::PeerCertificate;
use super::oauth::{dpop_proof, mtls_url};
use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{constant_time_eq, secret_hash};
use crate::protocol::error::{Challenge, ErrorCode, OAuthError};
use crate::store::{AccessTokenRecord, TokenStore as _};

/// The listener a request came in on, which decides the URL a DPoP proof must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The issuer's listener.
    Public,
    /// The mTLS listener (`mtls_endpoint_aliases`).
    Mtls,
    /// The resource API listener.
    Resource,
}

impl Listener {
    /// The absolute URL of `path` on this listener.
    pub fn url(self, app: &App, path: &str) -> String {
        match self {
            Listener::Public => format!(
                "{}{path}",
                app.config.server.issuer.as_str().trim_end_matches('/')
            ),
            Listener::Mtls => mtls_url(app, path),
            Listener::Resource => format!(
                "{}{path}",
                app.config
                    .resource_base_url()
                    .as_str()
                    .trim_end_matches('/')
            ),
        }
    }
}

/// The authorization scheme a token came under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    DPoP,
}

impl Scheme {
    fn challenge(self) -> Challenge {
        match self {
            Scheme::Bearer => Challenge::Bearer,
            Scheme::DPoP => Challenge::DPoP,
        }
    }
}

/// The token of an `Authorization` header.
#[derive(PartialEq, Eq)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("scheme", &self.scheme)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// What a request to a protected endpoint carries that bears on its access token.
#[derive(Debug)]
pub struct ResourceRequest<'a> {
    pub listener: Listener,
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub certificate: Option<&'a PeerCertificate>,
    /// Whether the request body is a form with an `access_token` member.
    pub token_in_body: bool,
}

/// The access token of the request, once it is found valid at `now` and presented by its
/// holder. Failures are `invalid_request` (400) for a token outside the header, else
/// `invalid_token` (401) with the challenge of the token's scheme.
pub async fn access_token(
    app: &App,
    request: &ResourceRequest<'_>,
    now: UnixTime,
) -> Result<AccessTokenRecord, OAuthError> {
    if query_carries_token(request.uri) || request.token_in_body {
        return Err(OAuthError::invalid_request(
            "an access token is accepted only in the Authorization header",
        ));
    }
    let presented = presented_token(request.headers)?;
    let record = app
        .store
        .access_token(&secret_hash(presented.token), now)
        .await?
        .ok_or_else(|| invalid_token(presented.scheme, "the access token is not valid"))?;
    match (&record.cnf_jkt, presented.scheme) {
        (None, Scheme::Bearer) => {}
        (Some(_), Scheme::Bearer) => {
            return Err(invalid_token(
                Scheme::DPoP,
                "the access token is DPoP-bound: present it under the DPoP scheme with a proof",
            ));
        }
        (None, Scheme::DPoP) => {
            return Err(invalid_token(
                Scheme::Bearer,
                "the access token is not DPoP-bound: present it under the Bearer scheme",
            ));
        }
        (Some(jkt), Scheme::DPoP) => {
            let url = request.listener.url(app, request.uri.path());
            let proof = dpop_proof(
                app,
                request.headers,
                request.method.as_str(),
                &url,
                Some(presented.token),
                Some(jkt),
                now,
            )
            .await
            .map_err(|e| match e.code {
                ErrorCode::InvalidDpopProof => invalid_token(
                    Scheme::DPoP,
                    e.description().unwrap_or("the DPoP proof is not valid"),
                ),
                // 401 with `DPoP error="use_dpop_nonce"`; the response carries the nonce.
                ErrorCode::UseDpopNonce => e.with_challenge(Challenge::DPoP),
                _ => e,
            })?;
            if proof.is_none() {
                return Err(invalid_token(Scheme::DPoP, "a DPoP proof is required"));
            }
        }
    }
    if let Some(x5t) = &record.cnf_x5t {
        let holder = request
            .certificate
            .is_some_and(|c| constant_time_eq(c.thumbprint_sha256().as_bytes(), x5t.as_bytes()));
        if !holder {
            return Err(invalid_token(
                presented.scheme,
                "the access token is bound to a client certificate this request does not present",
            ));
        }
    }
    Ok(record)
}

/// The challenge a refusal concerning `token` carries.
pub fn challenge_for(token: &AccessTokenRecord) -> Challenge {
    if token.cnf_jkt.is_some() {
        Challenge::DPoP
    } else {
        Challenge::Bearer
    }
}

/// Whether a request body is a form with an `access_token` member (RFC 6750 section 2.2, which
/// FAPI does not allow).
pub fn form_carries_token(headers: &HeaderMap, body: &[u8]) -> bool {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    is_form && url::form_urlencoded::parse(body).any(|(k, _)| k == "access_token")
}

fn query_carries_token(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token")
    })
}

/// The scheme and token of the `Authorization` header.
pub fn presented_token(headers: &HeaderMap) -> Result<Presented<'_>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => {
            return Err(invalid_token(
                Scheme::Bearer,
                "the request carries no access token",
            ));
        }
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "the request carries more than one Authorization header",
            ));
        }
    };
    let value = value
        .to_str()
        .map_err(|_| OAuthError::invalid_request("the Authorization header is not valid text"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        return Err(invalid_token(
            Scheme::Bearer,
            "the Authorization header carries no Bearer or DPoP access token",
        ));
    };
    let token = token.trim_matches(' ');
    if !is_b64token(token) {
        return Err(invalid_token(scheme, "the access token is malformed"));
    }
    Ok(Presented { scheme, token })
}

/// RFC 6750 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn invalid_token(scheme: Scheme, description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description).with_challenge(scheme.challenge())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_authorization(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn schemes_match_case_insensitively() {
        for (value, scheme) in [
            ("Bearer abc-._~+/==", Scheme::Bearer),
            ("bEARER abc", Scheme::Bearer),
            ("DPoP abc", Scheme::DPoP),
            ("dpop  abc ", Scheme::DPoP),
        ] {
            let headers = with_authorization(&[value]);
            let presented = presented_token(&headers).unwrap();
            assert_eq!(presented.scheme, scheme, "{value}");
            assert!(presented.token.starts_with("abc"), "{value}");
        }
    }

    #[test]
    fn other_schemes_and_malformed_tokens_are_invalid_token() {
        for value in [
            "Basic YTpi",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ==",
            "abc",
        ] {
            let headers = with_authorization(&[value]);
            let e = presented_token(&headers).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidToken, "{value}");
        }
        assert_eq!(
            presented_token(&HeaderMap::new()).unwrap_err().code,
            ErrorCode::InvalidToken
        );
        let twice = with_authorization(&["Bearer a", "Bearer b"]);
        assert_eq!(
            presented_token(&twice).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn tokens_outside_the_header_are_seen() {
        let uri: Uri = "/userinfo?x=1&access_token=abc".parse().unwrap();
        assert!(query_carries_token(&uri));
        let uri: Uri = "/userinfo?x=access_token".parse().unwrap();
        assert!(!query_carries_token(&uri));

        let mut headers = HeaderMap::new();
        assert!(!form_carries_token(&headers, b"access_token=abc"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        assert!(form_carries_token(&headers, b"a=1&access_token=abc"));
        assert!(!form_carries_token(&headers, b"a=access_token"));
    }
}
