//! The detached JWS of UK Open Banking message signing (Read/Write API 3.1 profile, "Message
//! Signing"): `x-jws-signature: BASE64URL(header)..BASE64URL(signature)`, the HTTP body being the
//! payload (RFC 7515 appendix F).
//!
//! The protected header carries `alg` (PS256 or ES256), the `kid` of a key in the signer's key
//! set, and the Open Banking claims, all named in `crit`:
//! - `http://openbanking.org.uk/iat`: when it was signed, a number, not in the future beyond
//!   [`CLOCK_SKEW`];
//! - `http://openbanking.org.uk/iss`: who signed. A TPP may give its `client_id` or, when its
//!   registration carries `org_id` and `software_id` (from its software statement),
//!   `<org_id>/<software_id>` as the Open Banking directory spells it. The bank signs with its
//!   issuer identifier.
//! - `http://openbanking.org.uk/tan`: the trust anchor, [`TRUST_ANCHOR`] (Open Banking's own).
//!
//! Two payload encodings are accepted. Up to version 3.1.3, `"b64": false` (RFC 7797) is in the
//! header and in `crit`, and the body is signed as it is. From 3.1.4 `b64` is left out, and the
//! body is signed base64url-encoded like any JWS payload. `"b64": true` is refused: it is what
//! "left out" means, and 3.1.3 forbade it. The bank signs its responses the 3.1.3 way, as the
//! `/open-banking/v3.1` paths promise.
//!
//! These are plain functions over bytes, JSON and keys; finding the TPP's keys and the bank's
//! key is the caller's.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use consentry_server::clock::UnixTime;
use consentry_server::keys::SigningAlg;
use consentry_server::protocol::jose::{signature_verifies, usable};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ObErrorCode};

pub use consentry_server::protocol::client_assertion::CLOCK_SKEW;

/// The request and response header.
pub const HEADER: &str = "x-jws-signature";
pub const IAT: &str = "http://openbanking.org.uk/iat";
pub const ISS: &str = "http://openbanking.org.uk/iss";
pub const TAN: &str = "http://openbanking.org.uk/tan";
/// The trust anchor this bank accepts and names: the Open Banking directory.
pub const TRUST_ANCHOR: &str = "openbanking.org.uk";
/// The algorithms accepted and used (FAPI: PS256 and ES256; Open Banking signs with PS256).
pub const ALGS: [SigningAlg; 2] = [SigningAlg::PS256, SigningAlg::ES256];

/// Why a signature was refused. Each maps to its `UK.OBIE.Signature.*` code, status 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the request has no x-jws-signature header")]
    Missing,
    #[error("x-jws-signature is malformed: {0}")]
    Malformed(&'static str),
    #[error("the JOSE header of x-jws-signature has no {0}")]
    MissingClaim(&'static str),
    #[error("x-jws-signature: {0}")]
    InvalidClaim(String),
    /// The `kid` names no key of the signer: a signer with a `jwks_uri` may have rotated.
    #[error("x-jws-signature names a kid the TPP has not registered")]
    UnknownKid,
    #[error("x-jws-signature does not verify: {0}")]
    Invalid(&'static str),
}

impl JwsError {
    pub fn code(&self) -> ObErrorCode {
        match self {
            JwsError::Missing => ObErrorCode::SignatureMissing,
            JwsError::Malformed(_) => ObErrorCode::SignatureMalformed,
            JwsError::MissingClaim(_) => ObErrorCode::SignatureMissingClaim,
            JwsError::InvalidClaim(_) => ObErrorCode::SignatureInvalidClaim,
            JwsError::UnknownKid | JwsError::Invalid(_) => ObErrorCode::SignatureInvalid,
        }
    }

    /// Whether fetching the signer's key set again could help.
    pub fn key_refresh_may_help(&self) -> bool {
        *self == JwsError::UnknownKid
    }
}

impl From<JwsError> for ApiError {
    fn from(e: JwsError) -> Self {
        ApiError::header(e.code(), HEADER, e.to_string())
    }
}

/// What a signature must say besides verifying.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The `http://openbanking.org.uk/iss` values accepted.
    pub issuers: &'a [String],
    pub trust_anchor: &'a str,
    pub now: UnixTime,
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub kid: String,
    pub alg: SigningAlg,
    pub iss: String,
    pub iat: i64,
    /// Whether the payload was signed unencoded (`"b64": false`).
    pub unencoded: bool,
}

fn invalid_claim(message: impl Into<String>) -> JwsError {
    JwsError::InvalidClaim(message.into())
}

/// The JWS signing input: `BASE64URL(header) || '.' || payload`, the payload as it is when
/// `unencoded`, else base64url-encoded.
fn signing_input(header_b64: &str, body: &[u8], unencoded: bool) -> Vec<u8> {
    let mut input = Vec::with_capacity(header_b64.len() + 1 + body.len() * 4 / 3 + 4);
    input.extend_from_slice(header_b64.as_bytes());
    input.push(b'.');
    if unencoded {
        input.extend_from_slice(body);
    } else {
        input.extend_from_slice(URL_SAFE_NO_PAD.encode(body).as_bytes());
    }
    input
}

fn string_claim<'h>(
    header: &'h Map<String, Value>,
    name: &'static str,
) -> Result<&'h str, JwsError> {
    match header.get(name) {
        None => Err(JwsError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid_claim(format!("{name} must be a string"))),
    }
}

/// Checks the JOSE header; returns the algorithm, whether the payload is unencoded, and `kid`.
fn check_header<'h>(
    header: &'h Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<(SigningAlg, bool, &'h str), JwsError> {
    let alg_name = string_claim(header, "alg")?;
    let alg = ALGS
        .into_iter()
        .find(|a| a.as_str() == alg_name)
        .ok_or_else(|| {
            let shown: String = alg_name.chars().take(16).collect();
            invalid_claim(format!(
                "the algorithm {shown} is not accepted (PS256, ES256)"
            ))
        })?;
    let kid = string_claim(header, "kid")?;
    let unencoded = match header.get("b64") {
        None => false,
        Some(Value::Bool(false)) => true,
        Some(_) => {
            return Err(invalid_claim(
                "b64 must be false, or left out (Read/Write API 3.1.4 and later)",
            ));
        }
    };
    let crit: Vec<&str> = match header.get("crit") {
        None => return Err(JwsError::MissingClaim("crit")),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str())
            .collect::<Option<_>>()
            .ok_or_else(|| invalid_claim("crit must be an array of strings"))?,
        Some(_) => return Err(invalid_claim("crit must be an array of strings")),
    };
    let mut wanted = vec![IAT, ISS, TAN];
    if unencoded {
        wanted.push("b64");
    }
    if let Some(missing) = wanted.iter().find(|w| !crit.contains(w)) {
        return Err(invalid_claim(format!("crit must name {missing}")));
    }
    if let Some(extra) = crit.iter().find(|c| !wanted.contains(c)) {
        let shown: String = extra.chars().take(64).collect();
        return Err(invalid_claim(format!(
            "crit names {shown}, which this server does not understand"
        )));
    }

    let iat = match header.get(IAT) {
        None => return Err(JwsError::MissingClaim(IAT)),
        Some(value) => consentry_server::protocol::jose::numeric_date(value)
            .ok_or_else(|| invalid_claim(format!("{IAT} must be a number")))?,
    };
    if iat > expected.now + CLOCK_SKEW {
        return Err(invalid_claim(format!("{IAT} is in the future")));
    }
    let iss = string_claim(header, ISS)?;
    if !expected.issuers.iter().any(|i| i == iss) {
        return Err(invalid_claim(format!("{ISS} does not name the TPP")));
    }
    if string_claim(header, TAN)? != expected.trust_anchor {
        return Err(invalid_claim(format!(
            "{TAN} must be {}",
            expected.trust_anchor
        )));
    }
    if let Some(typ) = header.get("typ")
        && typ.as_str() != Some("JOSE")
    {
        return Err(invalid_claim("typ must be JOSE"));
    }
    if let Some(cty) = header.get("cty")
        && !matches!(cty.as_str(), Some("json" | "application/json"))
    {
        return Err(invalid_claim("cty must be application/json"));
    }
    Ok((alg, unencoded, kid))
}

/// Verifies the detached JWS `jws` over `body` with a key of `jwks` (`{"keys": [...]}`).
pub fn verify_detached(
    jws: &str,
    body: &[u8],
    jwks: &Value,
    expected: &Expected<'_>,
) -> Result<Verified, JwsError> {
    let mut parts = jws.trim().split('.');
    let (Some(header_b64), Some(payload), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed(
            "a detached JWS is header..signature, three parts",
        ));
    };
    if !payload.is_empty() {
        return Err(JwsError::Malformed(
            "the payload part must be empty: the body is the payload",
        ));
    }
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|v| match v {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .ok_or(JwsError::Malformed(
            "the header is not a base64url JSON object",
        ))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| JwsError::Malformed("the signature is not base64url"))?;
    let (alg, unencoded, kid) = check_header(&header, expected)?;

    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwsError::Invalid("the TPP's key set is not a JWKS"))?;
    let named: Vec<&Map<String, Value>> = keys
        .iter()
        .filter_map(Value::as_object)
        .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        .collect();
    if named.is_empty() {
        return Err(JwsError::UnknownKid);
    }
    let input = signing_input(header_b64, body, unencoded);
    let verified = named
        .into_iter()
        .filter(|k| usable(k, alg))
        .any(|k| signature_verifies(k, alg, &input, &signature));
    if !verified {
        return Err(JwsError::Invalid(
            "the signature does not match the body and the key",
        ));
    }
    Ok(Verified {
        kid: kid.to_owned(),
        alg,
        iss: string_claim(&header, ISS)?.to_owned(),
        iat: consentry_server::protocol::jose::numeric_date(&header[IAT]).unwrap_or_default(),
        unencoded,
    })
}

/// The header the bank signs responses with (3.1.3 style: `b64` false).
pub fn response_header(alg: SigningAlg, kid: &str, iss: &str, now: UnixTime) -> Map<String, Value> {
    let header = json!({
        "alg": alg.as_str(),
        "kid": kid,
        "typ": "JOSE",
        "cty": "application/json",
        "b64": false,
        IAT: now,
        ISS: iss,
        TAN: TRUST_ANCHOR,
        "crit": ["b64", IAT, ISS, TAN],
    });
    match header {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The detached JWS of `body` under `header`, signed by `sign` (which returns the raw signature
/// of the signing input). The payload is unencoded when the header says `"b64": false`.
pub fn sign_detached<E>(
    header: &Map<String, Value>,
    body: &[u8],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    let header_b64 = URL_SAFE_NO_PAD.encode(Value::Object(header.clone()).to_string());
    let unencoded = header.get("b64") == Some(&Value::Bool(false));
    let signature = sign(&signing_input(&header_b64, body, unencoded))?;
    Ok(format!(
        "{header_b64}..{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use josekit::jwk::{Jwk, KeyPair as _};
    use josekit::jws::{ES256, JwsSigner as _, PS256, RS256};

    use super::*;

    const NOW: UnixTime = 1_700_000_000;
    const BODY: &[u8] = br#"{"Data":{"Initiation":{"InstructedAmount":{"Amount":"10.50","Currency":"GBP"}}},"Risk":{}}"#;

    struct Keys {
        rsa: Jwk,
        ec: Jwk,
        other_rsa: Jwk,
        jwks: Value,
    }

    fn public(jwk: Jwk, kid: &str, alg: &str) -> Value {
        let mut jwk = jwk;
        jwk.set_key_id(kid);
        jwk.set_key_use("sig");
        jwk.set_algorithm(alg);
        Value::Object(jwk.as_ref().clone())
    }

    static KEYS: LazyLock<Keys> = LazyLock::new(|| {
        let rsa = RsaKeyPair::generate(2048).unwrap();
        let ec = EcKeyPair::generate(EcCurve::P256).unwrap();
        let other = RsaKeyPair::generate(2048).unwrap();
        Keys {
            jwks: json!({ "keys": [
                public(rsa.to_jwk_public_key(), "tpp-rsa", "PS256"),
                public(ec.to_jwk_public_key(), "tpp-ec", "ES256"),
            ]}),
            rsa: rsa.to_jwk_private_key(),
            ec: ec.to_jwk_private_key(),
            other_rsa: other.to_jwk_private_key(),
        }
    });

    fn issuers() -> Vec<String> {
        vec!["client-1".to_owned(), "org1/software1".to_owned()]
    }

    fn header(alg: &str, kid: &str) -> Map<String, Value> {
        let mut h = response_header(SigningAlg::PS256, kid, "client-1", NOW - 5);
        h.insert("alg".into(), alg.into());
        h
    }

    fn with(mut h: Map<String, Value>, changes: Value) -> Map<String, Value> {
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                h.remove(name);
            } else {
                h.insert(name.clone(), value.clone());
            }
        }
        h
    }

    fn sign_with(key: &Jwk, header: &Map<String, Value>, body: &[u8]) -> String {
        let alg = header["alg"].as_str().unwrap().to_owned();
        sign_detached(header, body, |input| match alg.as_str() {
            "PS256" => PS256.signer_from_jwk(key).unwrap().sign(input),
            "ES256" => ES256.signer_from_jwk(key).unwrap().sign(input),
            "RS256" => RS256.signer_from_jwk(key).unwrap().sign(input),
            "none" => Ok(Vec::new()),
            other => panic!("no signer for {other}"),
        })
        .unwrap()
    }

    fn verify(jws: &str, body: &[u8]) -> Result<Verified, JwsError> {
        let issuers = issuers();
        let expected = Expected {
            issuers: &issuers,
            trust_anchor: TRUST_ANCHOR,
            now: NOW,
        };
        verify_detached(jws, body, &KEYS.jwks, &expected)
    }

    fn code(r: Result<Verified, JwsError>) -> &'static str {
        r.unwrap_err().code().as_str()
    }

    #[test]
    fn a_good_signature_verifies_with_either_algorithm() {
        let keys = &*KEYS;
        let jws = sign_with(&keys.rsa, &header("PS256", "tpp-rsa"), BODY);
        assert!(jws.contains(".."), "detached: {jws}");
        let v = verify(&jws, BODY).unwrap();
        assert_eq!(
            (v.kid.as_str(), v.alg, v.iss.as_str(), v.iat, v.unencoded),
            ("tpp-rsa", SigningAlg::PS256, "client-1", NOW - 5, true)
        );
        let jws = sign_with(&keys.ec, &header("ES256", "tpp-ec"), BODY);
        assert_eq!(verify(&jws, BODY).unwrap().alg, SigningAlg::ES256);
        // The software statement form of iss.
        let h = with(header("PS256", "tpp-rsa"), json!({ ISS: "org1/software1" }));
        assert!(verify(&sign_with(&keys.rsa, &h, BODY), BODY).is_ok());
    }

    #[test]
    fn b64_left_out_signs_the_encoded_body() {
        let keys = &*KEYS;
        let h = with(
            header("PS256", "tpp-rsa"),
            json!({ "b64": null, "crit": [IAT, ISS, TAN] }),
        );
        let jws = sign_with(&keys.rsa, &h, BODY);
        assert!(!verify(&jws, BODY).unwrap().unencoded);
        // The same header over the raw body (what b64 false would sign) does not verify.
        let raw = sign_detached(&h, BODY, |input| {
            let (head, _) = input.split_at(input.iter().position(|b| *b == b'.').unwrap());
            let mut raw = head.to_vec();
            raw.push(b'.');
            raw.extend_from_slice(BODY);
            PS256.signer_from_jwk(&keys.rsa).unwrap().sign(&raw)
        })
        .unwrap();
        assert_eq!(code(verify(&raw, BODY)), "UK.OBIE.Signature.Invalid");
    }

    #[test]
    fn a_tampered_body_or_signature_fails() {
        let keys = &*KEYS;
        let jws = sign_with(&keys.rsa, &header("PS256", "tpp-rsa"), BODY);
        let tampered = String::from_utf8(BODY.to_vec())
            .unwrap()
            .replace("10.50", "99.50");
        assert_eq!(
            code(verify(&jws, tampered.as_bytes())),
            "UK.OBIE.Signature.Invalid"
        );
        let mut with_space = BODY.to_vec();
        with_space.push(b' ');
        assert_eq!(code(verify(&jws, &with_space)), "UK.OBIE.Signature.Invalid");
        let (head, sig) = jws.split_once("..").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        bytes[7] ^= 1;
        let flipped = format!("{head}..{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(code(verify(&flipped, BODY)), "UK.OBIE.Signature.Invalid");
    }

    #[test]
    fn a_wrong_or_unknown_kid_fails() {
        let keys = &*KEYS;
        // Signed by another key under a registered kid.
        let jws = sign_with(&keys.other_rsa, &header("PS256", "tpp-rsa"), BODY);
        assert_eq!(
            verify(&jws, BODY),
            Err(JwsError::Invalid(
                "the signature does not match the body and the key"
            ))
        );
        // A kid nobody registered: worth a refetch of the key set.
        let jws = sign_with(&keys.other_rsa, &header("PS256", "someone-else"), BODY);
        let err = verify(&jws, BODY).unwrap_err();
        assert_eq!(err, JwsError::UnknownKid);
        assert!(err.key_refresh_may_help());
        assert_eq!(err.code().as_str(), "UK.OBIE.Signature.Invalid");
        // The kid of the EC key with a PS256 signature: the key does not fit the algorithm.
        let jws = sign_with(&keys.rsa, &header("PS256", "tpp-ec"), BODY);
        assert_eq!(code(verify(&jws, BODY)), "UK.OBIE.Signature.Invalid");
        let no_kid = sign_with(
            &keys.rsa,
            &with(header("PS256", "tpp-rsa"), json!({ "kid": null })),
            BODY,
        );
        assert_eq!(verify(&no_kid, BODY), Err(JwsError::MissingClaim("kid")));
    }

    #[test]
    fn each_open_banking_claim_is_required_and_critical() {
        let keys = &*KEYS;
        for claim in [IAT, ISS, TAN] {
            let h = with(header("PS256", "tpp-rsa"), json!({ claim: null }));
            let jws = sign_with(&keys.rsa, &h, BODY);
            assert_eq!(verify(&jws, BODY), Err(JwsError::MissingClaim(claim)));

            let crit: Vec<&str> = ["b64", IAT, ISS, TAN]
                .into_iter()
                .filter(|c| *c != claim)
                .collect();
            let h = with(header("PS256", "tpp-rsa"), json!({ "crit": crit }));
            let jws = sign_with(&keys.rsa, &h, BODY);
            assert_eq!(
                code(verify(&jws, BODY)),
                "UK.OBIE.Signature.InvalidClaim",
                "crit without {claim}"
            );
        }
        let h = with(header("PS256", "tpp-rsa"), json!({ "crit": null }));
        assert_eq!(
            verify(&sign_with(&keys.rsa, &h, BODY), BODY),
            Err(JwsError::MissingClaim("crit"))
        );
        // b64 false must be critical; an extension we do not know must not be.
        for crit in [
            json!([IAT, ISS, TAN]),
            json!(["b64", IAT, ISS, TAN, "exp"]),
            json!("b64"),
        ] {
            let h = with(header("PS256", "tpp-rsa"), json!({ "crit": crit }));
            assert_eq!(
                code(verify(&sign_with(&keys.rsa, &h, BODY), BODY)),
                "UK.OBIE.Signature.InvalidClaim",
                "{crit}"
            );
        }
    }

    #[test]
    fn claim_values_are_checked() {
        let keys = &*KEYS;
        for changes in [
            json!({ IAT: NOW + 60 }),
            json!({ IAT: "1700000000" }),
            json!({ ISS: "client-2" }),
            json!({ ISS: 7 }),
            json!({ TAN: "example.com" }),
            json!({ "typ": "JWT" }),
            json!({ "cty": "text/plain" }),
        ] {
            let h = with(header("PS256", "tpp-rsa"), changes.clone());
            assert_eq!(
                code(verify(&sign_with(&keys.rsa, &h, BODY), BODY)),
                "UK.OBIE.Signature.InvalidClaim",
                "{changes}"
            );
        }
        // A little ahead of our clock is tolerated.
        let h = with(header("PS256", "tpp-rsa"), json!({ IAT: NOW + 5 }));
        assert!(verify(&sign_with(&keys.rsa, &h, BODY), BODY).is_ok());
    }

    #[test]
    fn b64_true_is_refused() {
        let keys = &*KEYS;
        let h = with(header("PS256", "tpp-rsa"), json!({ "b64": true }));
        let jws = sign_with(&keys.rsa, &h, BODY);
        assert_eq!(code(verify(&jws, BODY)), "UK.OBIE.Signature.InvalidClaim");
    }

    #[test]
    fn alg_none_rs256_and_hs256_are_refused() {
        let keys = &*KEYS;
        for alg in ["none", "RS256"] {
            let jws = sign_with(&keys.rsa, &header(alg, "tpp-rsa"), BODY);
            assert_eq!(
                code(verify(&jws, BODY)),
                "UK.OBIE.Signature.InvalidClaim",
                "{alg}"
            );
        }
        let h = header("HS256", "tpp-rsa");
        let jws = sign_detached(&h, BODY, |_| Ok::<_, ()>(b"mac".to_vec())).unwrap();
        assert_eq!(code(verify(&jws, BODY)), "UK.OBIE.Signature.InvalidClaim");
    }

    #[test]
    fn malformed_values_are_refused() {
        let keys = &*KEYS;
        let good = sign_with(&keys.rsa, &header("PS256", "tpp-rsa"), BODY);
        let (head, sig) = good.split_once("..").unwrap();
        let body_b64 = URL_SAFE_NO_PAD.encode(BODY);
        for jws in [
            String::new(),
            "abc".to_owned(),
            format!("{head}.{sig}"),
            format!("{head}.{body_b64}.{sig}"),
            format!("{head}..{sig}.x"),
            format!("!!..{sig}"),
            format!("{head}..***"),
            format!("{}..{sig}", URL_SAFE_NO_PAD.encode("[1]")),
        ] {
            assert_eq!(
                code(verify(&jws, BODY)),
                "UK.OBIE.Signature.Malformed",
                "{jws}"
            );
        }
    }

    #[test]
    fn the_response_header_verifies_as_the_bank_signs_it() {
        let keys = &*KEYS;
        let h = response_header(SigningAlg::ES256, "tpp-ec", "client-1", NOW);
        assert_eq!(h["crit"], json!(["b64", IAT, ISS, TAN]));
        assert_eq!(h[TAN], TRUST_ANCHOR);
        let jws = sign_with(&keys.ec, &h, BODY);
        assert!(verify(&jws, BODY).unwrap().unencoded);
    }
}
