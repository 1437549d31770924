//! Authorization responses: the parameters of a success or an error, and how they travel in the
//! client's response mode (query, fragment, form post, or a signed JARM `response` JWT). The
//! `iss` parameter (RFC 9207) is in every plain response; a JARM JWT carries it as its `iss`.

use serde_json::{Map, Value, json};

use super::authorize::{ErrorTarget, ResponseMode};
use super::error::OAuthError;
use super::redirect::RedirectUri;
use crate::clock::UnixTime;

/// How long a JARM response JWT is valid.
pub const JARM_LIFETIME: i64 = 300;

/// Where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A 303 to this URL.
    Redirect(String),
    /// An auto-submitting form POSTing `fields` to `action`.
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// The pieces of an authorization response before it is delivered.
#[derive(Debug, Clone)]
pub struct ResponseParams {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(String, String)>,
}

impl ResponseParams {
    pub fn success(
        redirect_uri: &str,
        mode: ResponseMode,
        code: &str,
        id_token: Option<&str>,
        state: Option<&str>,
        issuer: &str,
    ) -> Self {
        let mut params = vec![("code".to_owned(), code.to_owned())];
        if let Some(t) = id_token {
            params.push(("id_token".to_owned(), t.to_owned()));
        }
        if let Some(s) = state {
            params.push(("state".to_owned(), s.to_owned()));
        }
        if !mode.is_jarm() {
            params.push(("iss".to_owned(), issuer.to_owned()));
        }
        Self {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        }
    }

    pub fn error(target: &ErrorTarget, error: &OAuthError, issuer: &str) -> Self {
        let mut params = vec![("error".to_owned(), error.code.as_str().to_owned())];
        if let Some(d) = error.description() {
            params.push(("error_description".to_owned(), d.to_owned()));
        }
        if let Some(s) = &target.state {
            params.push(("state".to_owned(), s.clone()));
        }
        if !target.response_mode.is_jarm() {
            params.push(("iss".to_owned(), issuer.to_owned()));
        }
        Self {
            redirect_uri: target.redirect_uri.clone(),
            mode: target.response_mode,
            params,
        }
    }

    /// The claims of the JARM response JWT: the parameters plus `iss`, `aud`, `exp`.
    pub fn jarm_claims(&self, issuer: &str, client_id: &str, now: UnixTime) -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), json!(issuer));
        claims.insert("aud".to_owned(), json!(client_id));
        claims.insert("exp".to_owned(), json!(now + JARM_LIFETIME));
        claims.insert("iat".to_owned(), json!(now));
        for (k, v) in &self.params {
            claims.insert(k.clone(), json!(v));
        }
        claims
    }

    /// Delivers the parameters, or for JARM the signed `response` JWT, in the response mode.
    pub fn deliver(&self, jarm_jwt: Option<&str>) -> Delivery {
        let redirect = RedirectUri::from_stored(self.redirect_uri.clone());
        let pairs: Vec<(&str, &str)> = match (self.mode.is_jarm(), jarm_jwt) {
            (true, Some(jwt)) => vec![("response", jwt)],
            _ => self
                .params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
        };
        match self.mode {
            ResponseMode::Query | ResponseMode::QueryJwt => {
                Delivery::Redirect(redirect.with_query(&pairs))
            }
            ResponseMode::Fragment | ResponseMode::FragmentJwt => {
                Delivery::Redirect(redirect.with_fragment(&pairs))
            }
            ResponseMode::FormPost | ResponseMode::FormPostJwt => Delivery::FormPost {
                action: self.redirect_uri.clone(),
                fields: pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            },
        }
    }
}

/// The left half of the SHA-256 of `value`, base64url: `c_hash`, `s_hash`, `at_hash` for the
/// SHA-256 algorithms (PS256, ES256).
pub fn half_hash(value: &str) -> String {
    let digest = crate::crypto::sha256(value.as_bytes());
    crate::crypto::b64url(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::ErrorCode;

    #[test]
    fn plain_responses_carry_iss_and_keep_the_state_whole() {
        let state = "x".repeat(128);
        let r = ResponseParams::success(
            "https://c/cb?a=1",
            ResponseMode::Query,
            "abc",
            None,
            Some(&state),
            "https://as",
        );
        match r.deliver(None) {
            Delivery::Redirect(url) => {
                assert!(url.starts_with("https://c/cb?a=1&code=abc&state="), "{url}");
                assert!(url.contains(&state));
                assert!(url.ends_with("&iss=https%3A%2F%2Fas"), "{url}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hybrid_goes_in_the_fragment_and_jarm_in_one_parameter() {
        let r = ResponseParams::success(
            "https://c/cb",
            ResponseMode::Fragment,
            "abc",
            Some("h.p.s"),
            None,
            "https://as",
        );
        assert_eq!(
            r.deliver(None),
            Delivery::Redirect(
                "https://c/cb#code=abc&id_token=h.p.s&iss=https%3A%2F%2Fas".to_owned()
            )
        );
        let r = ResponseParams::success(
            "https://c/cb",
            ResponseMode::QueryJwt,
            "abc",
            None,
            Some("s"),
            "https://as",
        );
        let claims = r.jarm_claims("https://as", "client", 100);
        assert_eq!(claims["code"], "abc");
        assert_eq!(claims["state"], "s");
        assert_eq!(claims["aud"], "client");
        assert_eq!(claims["exp"], 400);
        assert!(
            !r.params.iter().any(|(k, _)| k == "iss"),
            "iss is inside the JWT"
        );
        assert_eq!(
            r.deliver(Some("j.w.t")),
            Delivery::Redirect("https://c/cb?response=j.w.t".to_owned())
        );
    }

    #[test]
    fn errors_carry_state_and_iss() {
        let target = ErrorTarget {
            client_id: "c".to_owned(),
            redirect_uri: "https://c/cb".to_owned(),
            response_mode: ResponseMode::Query,
            state: Some("st".to_owned()),
        };
        let r = ResponseParams::error(
            &target,
            &OAuthError::new(ErrorCode::AccessDenied, "the user refused"),
            "https://as",
        );
        assert_eq!(
            r.deliver(None),
            Delivery::Redirect(
                "https://c/cb?error=access_denied&error_description=the+user+refused&state=st&iss=https%3A%2F%2Fas".to_owned()
            )
        );
    }

    #[test]
    fn half_hash_is_the_left_half_of_sha256() {
        // Computed independently: base64url(sha256(token)[..16]) with Python hashlib.
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNZpTvRAXZ4kUHcs9kRw"),
            "AcnxFH8Dzsvr4PpWaSBL6w"
        );
    }
}
