//! Redirect URIs: exact string match against the registered ones, query included (RFC 9700
//! section 2.1, FAPI). No normalisation, no prefix or pattern matching.

use super::error::{ErrorCode, OAuthError};

/// A redirect URI that is registered for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// The requested URI if it is one of `registered`, byte for byte.
    pub fn registered(requested: &str, registered: &[String]) -> Result<Self, OAuthError> {
        if registered.iter().any(|r| r == requested) {
            Ok(Self(requested.to_owned()))
        } else {
            Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "redirect_uri is not registered for this client",
            ))
        }
    }

    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This URI with `params` added to its query (response_mode=query), keeping its own query.
    pub fn with_query(&self, params: &[(&str, &str)]) -> String {
        let mut out = self.0.clone();
        let mut sep = if out.contains('?') { '&' } else { '?' };
        for (k, v) in params {
            out.push(sep);
            out.push_str(&urlencode(k));
            out.push('=');
            out.push_str(&urlencode(v));
            sep = '&';
        }
        out
    }

    /// This URI with `params` in its fragment (response_mode=fragment).
    pub fn with_fragment(&self, params: &[(&str, &str)]) -> String {
        let encoded: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        format!("{}#{}", self.0, encoded.join("&"))
    }
}

/// `application/x-www-form-urlencoded` encoding of one component.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Vec<String> {
        vec![
            "https://tpp.example/cb".to_owned(),
            "https://tpp.example/cb2?dummy1=lorem&dummy2=ipsum".to_owned(),
        ]
    }

    #[test]
    fn only_exact_matches_are_registered() {
        assert!(RedirectUri::registered("https://tpp.example/cb", &reg()).is_ok());
        assert!(
            RedirectUri::registered("https://tpp.example/cb2?dummy1=lorem&dummy2=ipsum", &reg())
                .is_ok()
        );
        for bad in [
            "https://tpp.example/cb/",
            "https://TPP.example/cb",
            "https://tpp.example/cb?x=1",
            "https://tpp.example/cb2?dummy2=ipsum&dummy1=lorem",
            "https://tpp.example/cb2",
            "https://tpp.example:443/cb",
            "http://tpp.example/cb",
        ] {
            assert!(RedirectUri::registered(bad, &reg()).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_keep_the_registered_query() {
        let r =
            RedirectUri::registered("https://tpp.example/cb2?dummy1=lorem&dummy2=ipsum", &reg())
                .unwrap();
        assert_eq!(
            r.with_query(&[("code", "a b"), ("state", "x&y")]),
            "https://tpp.example/cb2?dummy1=lorem&dummy2=ipsum&code=a+b&state=x%26y"
        );
        let r = RedirectUri::registered("https://tpp.example/cb", &reg()).unwrap();
        assert_eq!(
            r.with_query(&[("code", "c")]),
            "https://tpp.example/cb?code=c"
        );
        assert_eq!(
            r.with_fragment(&[("code", "c"), ("id_token", "a.b.c")]),
            "https://tpp.example/cb#code=c&id_token=a.b.c"
        );
    }
}
