//! PKCE (RFC 7636), S256 only: `plain` is refused everywhere (FAPI).

use crate::crypto::{b64url, constant_time_eq, sha256};

use super::error::OAuthError;

/// The characters RFC 7636 allows in a verifier (and so in an S256 challenge): unreserved.
fn unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 code challenge: base64url of a SHA-256, 43 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method`; both are required.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, OAuthError> {
        let challenge =
            challenge.ok_or_else(|| OAuthError::invalid_request("code_challenge is required"))?;
        match method {
            Some("S256") => {}
            Some("plain") => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method plain is not allowed",
                ));
            }
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256",
                ));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method is required",
                ));
            }
        }
        if challenge.len() != 43 || !unreserved(challenge) {
            return Err(OAuthError::invalid_request(
                "code_challenge is not an S256 challenge",
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    /// A challenge read back from storage (already validated when stored).
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (43 to 128 unreserved characters) hashes to this challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        (43..=128).contains(&verifier.len())
            && unreserved(verifier)
            && constant_time_eq(
                b64url(&sha256(verifier.as_bytes())).as_bytes(),
                self.0.as_bytes(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_example_verifies() {
        let c = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();
        assert!(c.verify(VERIFIER));
        assert!(!c.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert!(!c.verify(""));
    }

    #[test]
    fn plain_missing_and_malformed_challenges_are_refused() {
        assert!(CodeChallenge::parse(Some(CHALLENGE), Some("plain")).is_err());
        assert!(CodeChallenge::parse(Some(CHALLENGE), None).is_err());
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some("short"), Some("S256")).is_err());
        assert!(
            CodeChallenge::parse(Some(&format!("{}+", &CHALLENGE[..42])), Some("S256")).is_err()
        );
    }

    #[test]
    fn verifiers_outside_the_grammar_never_verify() {
        let long = "a".repeat(129);
        let c = CodeChallenge::from_stored(b64url(&sha256(long.as_bytes())));
        assert!(!c.verify(&long), "over 128 characters");
        let spaced = format!("{} ", &VERIFIER[..43]);
        let c = CodeChallenge::from_stored(b64url(&sha256(spaced.as_bytes())));
        assert!(!c.verify(&spaced), "space is not unreserved");
    }
}
