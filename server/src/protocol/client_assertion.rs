//! `private_key_jwt` client authentication (RFC 7523 section 2.2 and 3, OpenID Connect Core 9)
//! under the FAPI rules: PS256 or ES256 only, `iss` = `sub` = the client, a `jti`, a short `exp`,
//! and an `aud` that is this server. FAPI 2.0 accepts only the issuer identifier as a plain string
//! (FAPI 2.0 Security Profile 5.3.2.1); FAPI 1.0 and plain OpenID Connect also accept the token
//! or PAR endpoint URL (or its mTLS alias), or an array holding one of these.
//!
//! Single use of the `jti` is the caller's: it records the returned `jti` until `exp` in the
//! database, inside the transaction of the request.

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::protocol::error::ErrorCode;
use crate::protocol::jose;
use crate::registration::metadata::Profile;

/// The only `client_assertion_type` (RFC 7523 section 2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Tolerated clock difference with the client, in seconds: `iat`/`nbf` 8 seconds ahead are
/// accepted, 60 seconds ahead are not.
pub const CLOCK_SKEW: i64 = 10;
/// The longest an assertion may be valid, in seconds: `exp - iat`, or `exp - now` without `iat`.
pub const MAX_LIFETIME: i64 = 600;
/// The longest `jti` stored for replay detection.
pub const MAX_JTI_LEN: usize = 512;

/// The URLs an assertion's `aud` may name.
#[derive(Debug, Clone, Copy)]
pub struct AssertionAudiences<'a> {
    pub issuer: &'a str,
    pub token_endpoint: &'a str,
    pub token_endpoint_mtls: &'a str,
    pub par_endpoint: &'a str,
    pub par_endpoint_mtls: &'a str,
    /// The endpoint the assertion was presented at (introspection, revocation, ...).
    pub this_endpoint: &'a str,
}

impl AssertionAudiences<'_> {
    /// Whether `aud` is one of the accepted URLs for a FAPI 1.0 or OpenID Connect client.
    fn names_this_server(&self, aud: &str) -> bool {
        [
            self.issuer,
            self.token_endpoint,
            self.token_endpoint_mtls,
            self.par_endpoint,
            self.par_endpoint_mtls,
            self.this_endpoint,
        ]
        .iter()
        .any(|url| !url.is_empty() && *url == aud)
    }
}

/// The client an assertion is checked against.
#[derive(Debug, Clone, Copy)]
pub struct AssertionContext<'a> {
    pub client_id: &'a str,
    /// The client's JWKS, `{"keys": [...]}`.
    pub client_jwks: &'a Value,
    pub profile: Profile,
    pub audiences: AssertionAudiences<'a>,
    pub allowed_algs: &'a [SigningAlg],
}

/// An assertion that verified: the caller records `jti` until `exp` and refuses a second use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAssertion {
    pub jti: String,
    pub exp: i64,
}

/// Why an assertion was refused. Both carry an `invalid_client` error.
pub type AssertionError = jose::JwtRejection;

fn reject(description: impl Into<String>) -> AssertionError {
    jose::JwtRejection::reject(ErrorCode::InvalidClient, description)
}

/// The client an assertion claims to come from (`sub`, or `iss`), **unverified**: for finding
/// the client when the request carries no `client_id`. `None` when the two disagree.
pub fn assertion_client_id(assertion: &str) -> Option<String> {
    let claims = jose::decode_unverified_claims(assertion).ok()?;
    let iss = claims.get("iss").and_then(Value::as_str);
    let sub = claims.get("sub").and_then(Value::as_str);
    match (iss, sub) {
        (Some(iss), Some(sub)) if iss != sub => None,
        (Some(id), _) | (None, Some(id)) => Some(id.to_owned()),
        (None, None) => None,
    }
}

/// A NumericDate claim: `Ok(None)` when absent, refused when not a number.
fn date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AssertionError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => jose::numeric_date(value)
            .map(Some)
            .ok_or_else(|| reject(format!("the client assertion's {name} is not a number"))),
    }
}

fn aud_accepted(aud: Option<&Value>, ctx: &AssertionContext<'_>) -> bool {
    let Some(aud) = aud else {
        return false;
    };
    match ctx.profile {
        // FAPI 2.0: the issuer identifier, as a string, and nothing else.
        Profile::Fapi2Security | Profile::Fapi2MessageSigning => {
            aud.as_str() == Some(ctx.audiences.issuer)
        }
        Profile::Fapi1Advanced | Profile::Oidc => jose::audiences(aud)
            .is_some_and(|auds| auds.iter().any(|a| ctx.audiences.names_this_server(a))),
    }
}

/// Verifies a `private_key_jwt` client assertion of `ctx.client_id`.
pub fn validate_client_assertion(
    assertion: &str,
    assertion_type: &str,
    ctx: &AssertionContext<'_>,
    now: UnixTime,
) -> Result<ValidatedAssertion, AssertionError> {
    if assertion_type != JWT_BEARER {
        return Err(reject(format!(
            "client_assertion_type must be {JWT_BEARER}"
        )));
    }
    let claims = jose::verify_jws(assertion, ctx.client_jwks, ctx.allowed_algs)
        .map_err(|e| {
            jose::JwtRejection::from_jose(&e, ErrorCode::InvalidClient, "client assertion")
        })?
        .claims;

    if claims.get("iss").and_then(Value::as_str) != Some(ctx.client_id) {
        return Err(reject("the client assertion's iss must be the client_id"));
    }
    if claims.get("sub").and_then(Value::as_str) != Some(ctx.client_id) {
        return Err(reject("the client assertion's sub must be the client_id"));
    }
    if !aud_accepted(claims.get("aud"), ctx) {
        return Err(reject(match ctx.profile {
            Profile::Fapi2Security | Profile::Fapi2MessageSigning => {
                "the client assertion's aud must be the issuer identifier as a string"
            }
            Profile::Fapi1Advanced | Profile::Oidc => {
                "the client assertion's aud must name this server"
            }
        }));
    }
    let jti = match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti.clone(),
        Some(Value::String(jti)) if !jti.is_empty() => {
            return Err(reject("the client assertion's jti is too long"));
        }
        _ => return Err(reject("the client assertion has no jti")),
    };

    let exp = date(&claims, "exp")?.ok_or_else(|| reject("the client assertion has no exp"))?;
    if exp <= now - CLOCK_SKEW {
        return Err(reject("the client assertion has expired"));
    }
    let iat = date(&claims, "iat")?;
    let nbf = date(&claims, "nbf")?;
    if iat.is_some_and(|iat| iat > now + CLOCK_SKEW) {
        return Err(reject("the client assertion's iat is in the future"));
    }
    if nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW) {
        return Err(reject("the client assertion is not valid yet (nbf)"));
    }
    let too_long = match iat {
        Some(iat) => exp - iat > MAX_LIFETIME,
        None => exp - now > MAX_LIFETIME + CLOCK_SKEW,
    };
    if too_long {
        return Err(reject("the client assertion's lifetime exceeds 10 minutes"));
    }
    Ok(ValidatedAssertion { jti, exp })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::jose::testkit::*;

    const NOW: UnixTime = 1_700_000_000;
    const ISSUER: &str = "https://as.example.com";
    const TOKEN: &str = "https://as.example.com/token";
    const TOKEN_MTLS: &str = "https://mtls.as.example.com/token";
    const PAR: &str = "https://as.example.com/par";
    const PAR_MTLS: &str = "https://mtls.as.example.com/par";
    const ALGS: &[SigningAlg] = &[SigningAlg::PS256, SigningAlg::ES256];

    const FAPI2: [Profile; 2] = [Profile::Fapi2Security, Profile::Fapi2MessageSigning];
    const FAPI1_OIDC: [Profile; 2] = [Profile::Fapi1Advanced, Profile::Oidc];
    const ALL: [Profile; 4] = [
        Profile::Fapi1Advanced,
        Profile::Fapi2Security,
        Profile::Fapi2MessageSigning,
        Profile::Oidc,
    ];

    fn claims() -> Value {
        json!({
            "iss": "client1",
            "sub": "client1",
            "aud": ISSUER,
            "jti": "4b3c7f1e-assertion",
            "iat": NOW,
            "exp": NOW + 60,
        })
    }

    fn with(changes: Value) -> Value {
        let mut c = claims();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                c.as_object_mut().unwrap().remove(name);
            } else {
                c[name] = value.clone();
            }
        }
        c
    }

    fn check_at(
        assertion: &str,
        profile: Profile,
        this_endpoint: &str,
    ) -> Result<ValidatedAssertion, AssertionError> {
        let jwks = client1_jwks();
        let ctx = AssertionContext {
            client_id: "client1",
            client_jwks: &jwks,
            profile,
            audiences: AssertionAudiences {
                issuer: ISSUER,
                token_endpoint: TOKEN,
                token_endpoint_mtls: TOKEN_MTLS,
                par_endpoint: PAR,
                par_endpoint_mtls: PAR_MTLS,
                this_endpoint,
            },
            allowed_algs: ALGS,
        };
        validate_client_assertion(assertion, JWT_BEARER, &ctx, NOW)
    }

    fn check(assertion: &str, profile: Profile) -> Result<ValidatedAssertion, AssertionError> {
        check_at(assertion, profile, TOKEN)
    }

    fn ps256(claims: &Value) -> String {
        sign(&KEYS.client1_rsa, "PS256", json!({}), claims)
    }

    fn accepted(changes: Value, profiles: &[Profile]) {
        let assertion = ps256(&with(changes.clone()));
        for profile in profiles {
            assert!(
                check(&assertion, *profile).is_ok(),
                "{changes} refused for {profile:?}"
            );
        }
    }

    fn refused(assertion: &str, profiles: &[Profile]) {
        for profile in profiles {
            let err = check(assertion, *profile).unwrap_err().into_oauth();
            assert_eq!(err.code, ErrorCode::InvalidClient, "{err}");
        }
    }

    fn refused_because(changes: Value, profiles: &[Profile]) {
        refused(&ps256(&with(changes)), profiles);
    }

    #[test]
    fn a_valid_assertion_returns_its_jti_and_exp() {
        for profile in ALL {
            let ok = check(&ps256(&claims()), profile).unwrap();
            assert_eq!(
                ok,
                ValidatedAssertion {
                    jti: "4b3c7f1e-assertion".into(),
                    exp: NOW + 60
                }
            );
            let es = sign(&KEYS.client1_ec, "ES256", json!({}), &claims());
            assert!(check(&es, profile).is_ok());
        }
    }

    #[test]
    fn the_assertion_type_must_be_jwt_bearer() {
        let jwks = client1_jwks();
        let ctx = AssertionContext {
            client_id: "client1",
            client_jwks: &jwks,
            profile: Profile::Fapi1Advanced,
            audiences: AssertionAudiences {
                issuer: ISSUER,
                token_endpoint: TOKEN,
                token_endpoint_mtls: TOKEN_MTLS,
                par_endpoint: PAR,
                par_endpoint_mtls: PAR_MTLS,
                this_endpoint: TOKEN,
            },
            allowed_algs: ALGS,
        };
        for kind in [
            "",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            "URN:IETF:PARAMS:OAUTH:CLIENT-ASSERTION-TYPE:JWT-BEARER",
        ] {
            let err = validate_client_assertion(&ps256(&claims()), kind, &ctx, NOW).unwrap_err();
            assert_eq!(err.into_oauth().code, ErrorCode::InvalidClient);
        }
    }

    #[test]
    fn iss_as_aud_is_accepted() {
        accepted(json!({ "aud": ISSUER }), &ALL);
    }

    #[test]
    fn array_aud_is_accepted_for_fapi1_and_refused_for_fapi2() {
        accepted(json!({ "aud": [ISSUER] }), &FAPI1_OIDC);
        accepted(
            json!({ "aud": ["https://other.example", TOKEN] }),
            &FAPI1_OIDC,
        );
        refused_because(json!({ "aud": [ISSUER] }), &FAPI2);
        refused_because(json!({ "aud": [ISSUER, TOKEN] }), &FAPI2);
    }

    #[test]
    fn endpoint_urls_as_aud_are_accepted_for_fapi1_and_refused_for_fapi2() {
        for url in [TOKEN, TOKEN_MTLS, PAR, PAR_MTLS] {
            accepted(json!({ "aud": url }), &FAPI1_OIDC);
            refused_because(json!({ "aud": url }), &FAPI2);
        }
    }

    #[test]
    fn the_presenting_endpoint_is_an_accepted_aud_outside_fapi2() {
        let introspect = "https://as.example.com/introspect";
        let assertion = ps256(&with(json!({ "aud": introspect })));
        assert!(check_at(&assertion, Profile::Fapi1Advanced, introspect).is_ok());
        assert!(check_at(&assertion, Profile::Fapi1Advanced, TOKEN).is_err());
        assert!(check_at(&assertion, Profile::Fapi2Security, introspect).is_err());
    }

    #[test]
    fn a_wrong_aud_is_refused() {
        for aud in [
            json!("https://other.example"),
            json!(format!("{ISSUER}/")),
            json!(["https://other.example"]),
            json!([]),
            json!(1),
            json!(""),
            json!(null),
        ] {
            refused_because(json!({ "aud": aud }), &ALL);
        }
    }

    #[test]
    fn an_empty_configured_alias_matches_nothing() {
        let jwks = client1_jwks();
        let ctx = AssertionContext {
            client_id: "client1",
            client_jwks: &jwks,
            profile: Profile::Fapi1Advanced,
            audiences: AssertionAudiences {
                issuer: ISSUER,
                token_endpoint: TOKEN,
                token_endpoint_mtls: "",
                par_endpoint: PAR,
                par_endpoint_mtls: "",
                this_endpoint: TOKEN,
            },
            allowed_algs: ALGS,
        };
        let assertion = ps256(&with(json!({ "aud": "" })));
        assert!(validate_client_assertion(&assertion, JWT_BEARER, &ctx, NOW).is_err());
    }

    #[test]
    fn a_missing_or_wrong_sub_is_refused() {
        refused_because(json!({ "sub": null }), &ALL);
        refused_because(json!({ "sub": "client2" }), &ALL);
        refused_because(json!({ "sub": 1 }), &ALL);
    }

    #[test]
    fn a_missing_or_wrong_iss_is_refused() {
        refused_because(json!({ "iss": null }), &ALL);
        refused_because(json!({ "iss": "client2" }), &ALL);
        refused_because(json!({ "iss": "client2", "sub": "client2" }), &ALL);
    }

    #[test]
    fn jti_is_required() {
        refused_because(json!({ "jti": null }), &ALL);
        refused_because(json!({ "jti": "" }), &ALL);
        refused_because(json!({ "jti": 7 }), &ALL);
        refused_because(json!({ "jti": "j".repeat(MAX_JTI_LEN + 1) }), &ALL);
    }

    #[test]
    fn an_assertion_expired_5_minutes_ago_is_refused() {
        refused_because(json!({ "iat": NOW - 360, "exp": NOW - 300 }), &ALL);
        refused_because(json!({ "iat": NOW - 60, "exp": NOW - CLOCK_SKEW }), &ALL);
        accepted(json!({ "iat": NOW - 60, "exp": NOW - 5 }), &ALL);
    }

    #[test]
    fn exp_is_required_and_numeric() {
        refused_because(json!({ "exp": null }), &ALL);
        refused_because(json!({ "exp": (NOW + 60).to_string() }), &ALL);
        refused_because(json!({ "iat": "now" }), &ALL);
        refused_because(json!({ "nbf": "now" }), &ALL);
    }

    #[test]
    fn an_absurdly_long_lived_assertion_is_refused() {
        refused_because(json!({ "exp": NOW + 3600 }), &ALL);
        refused_because(json!({ "iat": null, "exp": NOW + 3600 }), &ALL);
        refused_because(json!({ "iat": NOW - 100, "exp": NOW + MAX_LIFETIME }), &ALL);
        accepted(json!({ "exp": NOW + MAX_LIFETIME }), &ALL);
        accepted(json!({ "iat": null, "exp": NOW + MAX_LIFETIME }), &ALL);
    }

    #[test]
    fn iat_or_nbf_8_seconds_ahead_is_accepted_60_seconds_is_not() {
        accepted(json!({ "iat": NOW + 8, "exp": NOW + 68 }), &ALL);
        accepted(json!({ "nbf": NOW + 8 }), &ALL);
        refused_because(json!({ "iat": NOW + 60, "exp": NOW + 120 }), &ALL);
        refused_because(json!({ "nbf": NOW + 60 }), &ALL);
    }

    #[test]
    fn rs256_and_none_are_invalid_client() {
        let rs = sign(&KEYS.client1_rsa, "RS256", json!({}), &claims());
        refused(&rs, &ALL);
        let none = sign_raw(&KEYS.client1_rsa, &json!({ "alg": "none" }), &claims());
        refused(&none, &ALL);
    }

    #[test]
    fn an_invalid_signature_is_refused() {
        refused(&corrupt_signature(&ps256(&claims())), &ALL);
    }

    #[test]
    fn an_unknown_kid_asks_for_a_refetch_then_is_invalid_client() {
        let other = sign(&KEYS.client2_ec, "ES256", json!({}), &claims());
        let err = check(&other, Profile::Fapi2Security).unwrap_err();
        assert!(err.key_refresh_may_help());
        assert_eq!(err.into_oauth().code, ErrorCode::InvalidClient);
        let forged = sign(
            &KEYS.client2_ec,
            "ES256",
            json!({ "kid": KEYS.client1_ec.kid }),
            &claims(),
        );
        let err = check(&forged, Profile::Fapi2Security).unwrap_err();
        assert!(!err.key_refresh_may_help());
    }

    #[test]
    fn a_malformed_assertion_is_invalid_client() {
        refused("", &ALL);
        refused("x.y.z", &ALL);
        let err: crate::protocol::error::OAuthError = check("x", Profile::Oidc).unwrap_err().into();
        assert_eq!(err.code.as_str(), "invalid_client");
    }

    #[test]
    fn the_claimed_client_is_read_unverified() {
        assert_eq!(
            assertion_client_id(&ps256(&claims())).as_deref(),
            Some("client1")
        );
        let only_sub = ps256(&with(json!({ "iss": null })));
        assert_eq!(assertion_client_id(&only_sub).as_deref(), Some("client1"));
        let only_iss = ps256(&with(json!({ "sub": null })));
        assert_eq!(assertion_client_id(&only_iss).as_deref(), Some("client1"));
        let differ = ps256(&with(json!({ "sub": "client2" })));
        assert_eq!(assertion_client_id(&differ), None);
        assert_eq!(
            assertion_client_id(&ps256(&with(json!({ "iss": null, "sub": null })))),
            None
        );
        assert_eq!(assertion_client_id("garbage"), None);
    }
}
