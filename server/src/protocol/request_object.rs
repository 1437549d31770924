//! Signed request objects (JAR, RFC 9101) under the FAPI rules (FAPI 1.0 Advanced 5.2.2,
//! FAPI 2.0 Message Signing 5.3.1): signed with PS256 or ES256 by a key of the client, `iss` the
//! client, `aud` this issuer, `exp` and `nbf` present with a lifetime of at most 60 minutes, and
//! no `request` or `request_uri` inside.

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::protocol::error::ErrorCode;
use crate::protocol::jose;
use crate::registration::metadata::Profile;

/// Tolerated clock difference with the client, in seconds. The conformance suite expects an
/// `nbf` 8 seconds ahead to be accepted.
pub const CLOCK_SKEW: i64 = 10;
/// The longest a request object may be valid: `exp - nbf`, in seconds.
pub const MAX_LIFETIME: i64 = 3600;
/// How long ago `nbf` may lie: `now - nbf`, in seconds.
pub const MAX_NBF_AGE: i64 = 3600;
/// The media type of a request object (RFC 9101 section 10.2), for the `typ` header.
pub const TYP: &str = "oauth-authz-req+jwt";

/// Members that, when present, must be JSON strings.
const STRING_CLAIMS: &[&str] = &[
    "iss",
    "client_id",
    "response_type",
    "response_mode",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "login_hint",
    "id_token_hint",
    "acr_values",
    "ui_locales",
    "claims_locales",
    "display",
    "dpop_jkt",
    "jti",
];

/// Whom the request object is checked against.
#[derive(Debug, Clone, Copy)]
pub struct RequestObjectContext<'a> {
    /// This server's issuer identifier, the required `aud`.
    pub issuer: &'a str,
    /// The client the request is for (authenticated at PAR, or the `client_id` parameter).
    pub client_id: &'a str,
    /// The client's JWKS, `{"keys": [...]}`.
    pub client_jwks: &'a Value,
    pub profile: Profile,
    pub allowed_algs: &'a [SigningAlg],
}

/// Why a request object was refused.
pub type RequestObjectError = jose::JwtRejection;

fn reject(description: impl Into<String>) -> RequestObjectError {
    jose::JwtRejection::reject(ErrorCode::InvalidRequestObject, description)
}

/// Whether a `typ` header value names `oauth-authz-req+jwt`: compared case-insensitively, with
/// the `application/` prefix optional (RFC 7515 section 4.1.9).
fn is_request_object_typ(typ: &str) -> bool {
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    typ.eq_ignore_ascii_case(TYP)
}

/// A NumericDate claim: `Ok(None)` when absent, refused when not a number.
fn date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, RequestObjectError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => jose::numeric_date(value)
            .map(Some)
            .ok_or_else(|| reject(format!("the request object's {name} is not a number"))),
    }
}

/// Verifies `jwt` as a request object of `ctx.client_id` and returns its claims.
pub fn validate_request_object(
    jwt: &str,
    ctx: &RequestObjectContext<'_>,
    now: UnixTime,
) -> Result<Map<String, Value>, RequestObjectError> {
    let verified = jose::verify_jws(jwt, ctx.client_jwks, ctx.allowed_algs).map_err(|e| {
        jose::JwtRejection::from_jose(&e, ErrorCode::InvalidRequestObject, "request object")
    })?;
    match verified.header.get("typ") {
        None => {}
        Some(Value::String(typ)) if is_request_object_typ(typ) => {}
        Some(_) => return Err(reject(format!("the request object's typ must be {TYP}"))),
    }
    let claims = verified.claims;

    if let Some(name) = STRING_CLAIMS
        .iter()
        .find(|name| claims.get(**name).is_some_and(|v| !v.is_string()))
    {
        return Err(reject(format!(
            "the request object's {name} is not a string"
        )));
    }
    if claims.get("claims").is_some_and(|v| !v.is_object()) {
        return Err(reject("the request object's claims is not a JSON object"));
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err(reject(
            "a request object must not contain request or request_uri",
        ));
    }

    if claims.get("iss").and_then(Value::as_str) != Some(ctx.client_id) {
        return Err(reject("the request object's iss must be the client_id"));
    }
    if claims
        .get("client_id")
        .is_some_and(|v| v.as_str() != Some(ctx.client_id))
    {
        return Err(reject("the request object's client_id is not the client's"));
    }
    let aud_ok = claims
        .get("aud")
        .and_then(jose::audiences)
        .is_some_and(|auds| auds.contains(&ctx.issuer));
    if !aud_ok {
        return Err(reject(
            "the request object's aud must be the issuer identifier",
        ));
    }

    let exp = date(&claims, "exp")?.ok_or_else(|| reject("the request object has no exp"))?;
    if exp <= now - CLOCK_SKEW {
        return Err(reject("the request object has expired"));
    }
    let nbf = date(&claims, "nbf")?;
    if nbf.is_none() && ctx.profile.is_fapi() {
        return Err(reject("the request object has no nbf"));
    }
    date(&claims, "iat")?;
    match nbf {
        Some(nbf) => {
            if nbf > now + CLOCK_SKEW {
                return Err(reject("the request object is not valid yet (nbf)"));
            }
            if now - nbf > MAX_NBF_AGE {
                return Err(reject("the request object's nbf is over 60 minutes old"));
            }
            if exp - nbf > MAX_LIFETIME {
                return Err(reject(
                    "the request object's lifetime (exp - nbf) exceeds 60 minutes",
                ));
            }
        }
        // Plain OpenID Connect without nbf: the lifetime counts from now.
        None => {
            if exp - now > MAX_LIFETIME + CLOCK_SKEW {
                return Err(reject("the request object's exp is over 60 minutes away"));
            }
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::jose::testkit::*;

    const NOW: UnixTime = 1_700_000_000;
    const ISSUER: &str = "https://as.example.com";
    const ALGS: &[SigningAlg] = &[SigningAlg::PS256, SigningAlg::ES256];

    fn claims() -> Value {
        json!({
            "iss": "client1",
            "aud": ISSUER,
            "client_id": "client1",
            "response_type": "code",
            "scope": "openid accounts",
            "redirect_uri": "https://client.example.org/cb?dummy1=lorem&dummy2=ipsum",
            "state": "s".repeat(128),
            "nonce": "n".repeat(43),
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
            "exp": NOW + 300,
            "nbf": NOW,
            "iat": NOW,
            "jti": "jti-1",
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

    fn check_profile(
        jwt: &str,
        profile: Profile,
    ) -> Result<Map<String, Value>, RequestObjectError> {
        let jwks = client1_jwks();
        let ctx = RequestObjectContext {
            issuer: ISSUER,
            client_id: "client1",
            client_jwks: &jwks,
            profile,
            allowed_algs: ALGS,
        };
        validate_request_object(jwt, &ctx, NOW)
    }

    fn check(jwt: &str) -> Result<Map<String, Value>, RequestObjectError> {
        check_profile(jwt, Profile::Fapi1Advanced)
    }

    fn ps256(claims: &Value) -> String {
        sign(&KEYS.client1_rsa, "PS256", json!({}), claims)
    }

    fn refused(jwt: &str) {
        let err = check(jwt).unwrap_err().into_oauth();
        assert_eq!(err.code, ErrorCode::InvalidRequestObject, "{err}");
    }

    fn refused_because(changes: Value) {
        refused(&ps256(&with(changes)));
    }

    #[test]
    fn a_valid_request_object_is_accepted_with_either_algorithm() {
        let c = check(&ps256(&claims())).unwrap();
        assert_eq!(c["state"].as_str().unwrap().len(), 128);
        assert_eq!(c["nonce"], "n".repeat(43));
        let es = sign(&KEYS.client1_ec, "ES256", json!({}), &claims());
        assert!(check(&es).is_ok());
        for profile in [
            Profile::Fapi2Security,
            Profile::Fapi2MessageSigning,
            Profile::Oidc,
        ] {
            assert!(check_profile(&ps256(&claims()), profile).is_ok());
        }
    }

    #[test]
    fn typ_may_be_absent_or_the_request_object_media_type() {
        for typ in [
            "oauth-authz-req+jwt",
            "application/oauth-authz-req+jwt",
            "OAuth-Authz-Req+JWT",
            "Application/oauth-authz-req+jwt",
        ] {
            let jwt = sign(&KEYS.client1_rsa, "PS256", json!({ "typ": typ }), &claims());
            assert!(check(&jwt).is_ok(), "typ {typ} was refused");
        }
        for typ in [
            json!("JWT"),
            json!("dpop+jwt"),
            json!("application/jwt"),
            json!(1),
        ] {
            let jwt = sign(&KEYS.client1_rsa, "PS256", json!({ "typ": typ }), &claims());
            refused(&jwt);
        }
    }

    #[test]
    fn multiple_aud_with_the_issuer_is_accepted() {
        let jwt = ps256(&with(json!({ "aud": ["https://other.example", ISSUER] })));
        assert!(check(&jwt).is_ok());
    }

    #[test]
    fn a_bad_aud_is_refused() {
        refused_because(json!({ "aud": "https://other.example" }));
        refused_because(json!({ "aud": ["https://other.example"] }));
        refused_because(json!({ "aud": format!("{ISSUER}/") }));
        refused_because(json!({ "aud": format!("{ISSUER}/par") }));
        refused_because(json!({ "aud": [] }));
        refused_because(json!({ "aud": 1 }));
        refused_because(json!({ "aud": null }));
    }

    #[test]
    fn a_wrong_or_missing_iss_is_refused() {
        refused_because(json!({ "iss": "client2" }));
        refused_because(json!({ "iss": null }));
        refused_because(json!({ "iss": ["client1"] }));
    }

    #[test]
    fn a_client_id_claim_must_be_the_clients() {
        refused_because(json!({ "client_id": "client2" }));
        refused_because(json!({ "client_id": 1 }));
        assert!(check(&ps256(&with(json!({ "client_id": null })))).is_ok());
    }

    #[test]
    fn an_expired_request_object_is_refused() {
        refused_because(json!({ "exp": NOW - 60, "nbf": NOW - 300 }));
        refused_because(json!({ "exp": NOW - CLOCK_SKEW, "nbf": NOW - 300 }));
        // Within the skew it is still accepted.
        let jwt = ps256(&with(json!({ "exp": NOW - 5, "nbf": NOW - 300 })));
        assert!(check(&jwt).is_ok());
    }

    #[test]
    fn missing_or_non_numeric_exp_and_nbf_are_refused() {
        refused_because(json!({ "exp": null }));
        refused_because(json!({ "nbf": null }));
        refused_because(json!({ "exp": (NOW + 300).to_string() }));
        refused_because(json!({ "nbf": NOW.to_string() }));
        refused_because(json!({ "iat": "yesterday" }));
    }

    #[test]
    fn exp_over_60_minutes_after_nbf_is_refused() {
        refused_because(json!({ "exp": NOW + 70 * 60 }));
        refused_because(json!({ "exp": NOW + MAX_LIFETIME + 1 }));
        let jwt = ps256(&with(json!({ "exp": NOW + MAX_LIFETIME })));
        assert!(check(&jwt).is_ok());
    }

    #[test]
    fn nbf_over_60_minutes_old_is_refused() {
        refused_because(json!({ "nbf": NOW - 70 * 60, "exp": NOW + 60 }));
        // Within the lifetime and not expired: refused for the age of nbf alone.
        refused_because(json!({ "nbf": NOW - MAX_NBF_AGE - 1, "exp": NOW - 5 }));
        let jwt = ps256(&with(json!({ "nbf": NOW - MAX_NBF_AGE, "exp": NOW })));
        assert!(check(&jwt).is_ok());
    }

    #[test]
    fn nbf_8_seconds_ahead_is_accepted_60_seconds_is_not() {
        let jwt = ps256(&with(json!({ "nbf": NOW + 8, "iat": NOW + 8 })));
        assert!(check(&jwt).is_ok());
        refused_because(json!({ "nbf": NOW + 60 }));
    }

    #[test]
    fn plain_oidc_may_omit_nbf_but_not_exp() {
        let no_nbf = ps256(&with(json!({ "nbf": null })));
        assert!(check_profile(&no_nbf, Profile::Oidc).is_ok());
        for profile in [Profile::Fapi2Security, Profile::Fapi2MessageSigning] {
            assert!(check_profile(&no_nbf, profile).is_err());
        }
        let far = ps256(&with(json!({ "nbf": null, "exp": NOW + 2 * 3600 })));
        assert!(check_profile(&far, Profile::Oidc).is_err());
        let no_exp = ps256(&with(json!({ "exp": null })));
        assert!(check_profile(&no_exp, Profile::Oidc).is_err());
    }

    #[test]
    fn request_or_request_uri_inside_is_refused() {
        refused_because(json!({ "request_uri": "urn:ietf:params:oauth:request_uri:abc" }));
        refused_because(json!({ "request": "eyJ..." }));
    }

    #[test]
    fn parameters_that_must_be_strings_are_strings() {
        refused_because(json!({ "scope": ["openid"] }));
        refused_because(json!({ "redirect_uri": { "uri": "x" } }));
        refused_because(json!({ "state": 5 }));
        refused_because(json!({ "nonce": true }));
        refused_because(json!({ "response_type": ["code"] }));
        refused_because(json!({ "claims": "{}" }));
        let ok = ps256(&with(json!({ "claims": { "id_token": { "acr": null } } })));
        assert!(check(&ok).is_ok());
    }

    #[test]
    fn rs256_and_none_are_refused() {
        let rs = sign(&KEYS.client1_rsa, "RS256", json!({}), &claims());
        refused(&rs);
        let none = sign_raw(&KEYS.client1_rsa, &json!({ "alg": "none" }), &claims());
        refused(&none);
        let err = check(&none).unwrap_err();
        assert!(!err.key_refresh_may_help());
    }

    #[test]
    fn an_invalid_signature_is_refused() {
        refused(&corrupt_signature(&ps256(&claims())));
        let es = sign(&KEYS.client1_ec, "ES256", json!({}), &claims());
        refused(&corrupt_signature(&es));
    }

    #[test]
    fn a_request_object_signed_with_another_clients_key_is_refused() {
        // With the other client's kid: reported as an unknown key (refetch, then refuse).
        let other = sign(&KEYS.client2_rsa, "PS256", json!({}), &claims());
        let err = check(&other).unwrap_err();
        assert!(err.key_refresh_may_help());
        assert_eq!(err.into_oauth().code, ErrorCode::InvalidRequestObject);
        // Without a kid, or pretending to be client1's key: the signature does not verify.
        let no_kid = sign(&KEYS.client2_ec, "ES256", json!({ "kid": null }), &claims());
        let err = check(&no_kid).unwrap_err();
        assert!(!err.key_refresh_may_help());
        let forged_kid = sign(
            &KEYS.client2_rsa,
            "PS256",
            json!({ "kid": KEYS.client1_rsa.kid }),
            &claims(),
        );
        refused(&forged_kid);
    }

    #[test]
    fn algorithms_outside_the_allowed_list_are_refused() {
        let es = sign(&KEYS.client1_ec, "ES256", json!({}), &claims());
        let jwks = client1_jwks();
        let ctx = RequestObjectContext {
            issuer: ISSUER,
            client_id: "client1",
            client_jwks: &jwks,
            profile: Profile::Fapi2MessageSigning,
            allowed_algs: &[SigningAlg::PS256],
        };
        assert!(validate_request_object(&es, &ctx, NOW).is_err());
    }

    #[test]
    fn a_malformed_request_object_is_refused() {
        refused("not-a-jwt");
        refused("a.b.c");
        let unsigned = ps256(&claims());
        let (input, _) = unsigned.rsplit_once('.').unwrap();
        refused(&format!("{input}."));
    }

    #[test]
    fn errors_become_invalid_request_object() {
        let err: crate::protocol::error::OAuthError = check("a.b").unwrap_err().into();
        assert_eq!(err.code.as_str(), "invalid_request_object");
    }
}
