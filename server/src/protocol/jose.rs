//! Verifying compact JWS (RFC 7515) that clients send — request objects, client assertions —
//! against the client's registered JWKS.
//!
//! The protected header is read first and trusted for nothing but choosing how to verify: an
//! `alg` outside the caller's allow-list (`none`, `RS256`, `HS256`, ...) is refused before any
//! key is looked at, and keys are chosen by `kid` or, without one, by key type, `use` and `alg`.
//! Errors are a small [`JoseError`] that each caller maps to its own OAuth error code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::keys::SigningAlg;

/// Why a JWS was not accepted. Messages are one line and carry nothing from the key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not a compact JWS: not three parts, bad base64url, header or payload not a JSON object,
    /// an unusable header member.
    #[error("the JWT is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not one the caller allows (the value is shortened to 32 characters).
    #[error("the JWT algorithm {0} is not allowed")]
    AlgNotAllowed(String),
    /// The client's key set is not a JWKS (`{"keys": [...]}`).
    #[error("the client's key set is not a JWKS")]
    BadJwks,
    /// The header names a `kid` the client's key set does not hold. A client with a `jwks_uri`
    /// may have rotated: refetch once and retry.
    #[error("no key of the client has the kid of the JWT")]
    UnknownKid,
    /// No `kid`, and no key of the client fits the algorithm. Refetching may help too.
    #[error("no key of the client can verify {0}")]
    NoUsableKey(SigningAlg),
    /// Keys were tried and none verified the signature.
    #[error("the JWT signature is invalid")]
    BadSignature,
}

impl JoseError {
    /// Whether the key set may simply be stale, so one refetch of a `jwks_uri` is worthwhile.
    pub fn key_refresh_may_help(&self) -> bool {
        matches!(self, JoseError::UnknownKid | JoseError::NoUsableKey(_))
    }
}

/// A JWS whose signature verified with a key of the client.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    pub alg: SigningAlg,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// The three parts of a compact JWS, decoded but not verified.
struct Parts<'a> {
    header: Map<String, Value>,
    payload: Vec<u8>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the JWS signing input.
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JoseError::Malformed(what))
}

fn json_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, JoseError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JoseError::Malformed(what)),
    }
}

fn split(token: &str) -> Result<Parts<'_>, JoseError> {
    let mut dots = token.match_indices('.').map(|(i, _)| i);
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else {
        return Err(JoseError::Malformed("a JWS has three dot-separated parts"));
    };
    let (header_b64, payload_b64, signature_b64) = (
        &token[..first],
        &token[first + 1..second],
        &token[second + 1..],
    );
    let header = json_object(
        &b64(header_b64, "the header is not base64url")?,
        "the header is not a JSON object",
    )?;
    Ok(Parts {
        header,
        payload: b64(payload_b64, "the payload is not base64url")?,
        signing_input: &token[..second],
        signature: b64(signature_b64, "the signature is not base64url")?,
    })
}

/// A JWT refused by one of the validators built on [`verify_jws`] (request objects, client
/// assertions): the OAuth error to answer with, and whether refetching the client's keys could
/// help (a client with a `jwks_uri` may have rotated them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtRejection {
    /// No key of the client matched (unknown `kid`, or no key fitting the algorithm).
    UnknownKey(crate::protocol::error::OAuthError),
    /// Refused for good.
    Rejected(crate::protocol::error::OAuthError),
}

impl JwtRejection {
    pub fn key_refresh_may_help(&self) -> bool {
        matches!(self, JwtRejection::UnknownKey(_))
    }

    /// The error to answer with.
    pub fn into_oauth(self) -> crate::protocol::error::OAuthError {
        match self {
            JwtRejection::UnknownKey(e) | JwtRejection::Rejected(e) => e,
        }
    }

    /// A final refusal with `code`.
    pub fn reject(code: crate::protocol::error::ErrorCode, description: impl Into<String>) -> Self {
        JwtRejection::Rejected(crate::protocol::error::OAuthError::new(code, description))
    }

    /// A verification failure of `what` (`"request object"`, `"client assertion"`) as `code`.
    pub fn from_jose(e: &JoseError, code: crate::protocol::error::ErrorCode, what: &str) -> Self {
        let error = crate::protocol::error::OAuthError::new(code, format!("{what}: {e}"));
        if e.key_refresh_may_help() {
            JwtRejection::UnknownKey(error)
        } else {
            JwtRejection::Rejected(error)
        }
    }
}

impl From<JwtRejection> for crate::protocol::error::OAuthError {
    fn from(e: JwtRejection) -> Self {
        e.into_oauth()
    }
}

/// The protected header of `token`, decoded and **not** verified.
pub fn decode_unverified_header(token: &str) -> Result<Map<String, Value>, JoseError> {
    split(token).map(|parts| parts.header)
}

/// The claims of `token`, decoded and **not** verified: only for choosing which client's keys
/// to verify with.
pub fn decode_unverified_claims(token: &str) -> Result<Map<String, Value>, JoseError> {
    let parts = split(token)?;
    json_object(&parts.payload, "the payload is not a JSON object")
}

fn shorten(s: &str) -> String {
    s.chars().take(32).collect()
}

/// The header's `alg`, if it is one of `allowed`.
fn header_alg(
    header: &Map<String, Value>,
    allowed: &[SigningAlg],
) -> Result<SigningAlg, JoseError> {
    let name = match header.get("alg") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(JoseError::Malformed("the alg header is not a string")),
        None => return Err(JoseError::Malformed("the header has no alg")),
    };
    allowed
        .iter()
        .copied()
        .find(|alg| alg.as_str() == name)
        .ok_or_else(|| JoseError::AlgNotAllowed(shorten(name)))
}

fn kty_of(alg: SigningAlg) -> &'static str {
    match alg {
        SigningAlg::PS256 => "RSA",
        SigningAlg::ES256 => "EC",
    }
}

/// Whether `key` may verify `alg`: its `kty` fits, its `use` is absent or `sig`, its `alg` absent
/// or equal.
/// Whether `key` (a JWK) may verify `alg`: its `kty` fits, and its `use` and `alg`, when given,
/// say `sig` and `alg`.
pub fn usable(key: &Map<String, Value>, alg: SigningAlg) -> bool {
    let absent_or = |name: &str, wanted: &str| match key.get(name) {
        None | Some(Value::Null) => true,
        Some(value) => value.as_str() == Some(wanted),
    };
    key.get("kty").and_then(Value::as_str) == Some(kty_of(alg))
        && absent_or("use", "sig")
        && absent_or("alg", alg.as_str())
}

/// Client keys already imported into OpenSSL, so that a client's key is parsed once rather than
/// on every request (importing an RSA key costs more than verifying with it).
///
/// An entry is found by the algorithm and the key's full JSON text, so a key that changes (a
/// rotation, a refetched `jwks_uri`) is simply a different entry: nothing here can verify with a
/// key other than the one given. Keys that cannot verify the algorithm are remembered as `None`.
/// The cache is bounded: when full it starts again empty.
mod verifier_cache {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex, PoisonError};

    use josekit::jwk::Jwk;
    use josekit::jws::{ES256, JwsVerifier, PS256};
    use serde_json::{Map, Value};

    use crate::keys::SigningAlg;

    /// Keys remembered at most; a few per registered client is the expected use.
    const CAPACITY: usize = 4096;

    type Entry = Option<Arc<dyn JwsVerifier>>;

    static VERIFIERS: LazyLock<Mutex<HashMap<(SigningAlg, String), Entry>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));

    fn import(key: &Map<String, Value>, alg: SigningAlg) -> Entry {
        let jwk = Jwk::from_map(key.clone()).ok()?;
        match alg {
            SigningAlg::PS256 => PS256
                .verifier_from_jwk(&jwk)
                .ok()
                .map(|v| Arc::new(v) as Arc<dyn JwsVerifier>),
            SigningAlg::ES256 => ES256
                .verifier_from_jwk(&jwk)
                .ok()
                .map(|v| Arc::new(v) as Arc<dyn JwsVerifier>),
        }
    }

    /// The verifier of `key` for `alg`, imported the first time it is asked for.
    pub(super) fn verifier(key: &Map<String, Value>, alg: SigningAlg) -> Entry {
        let Ok(text) = serde_json::to_string(key) else {
            return import(key, alg);
        };
        let id = (alg, text);
        if let Some(entry) = VERIFIERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return entry.clone();
        }
        // Imported outside the lock: two requests may both import a new key, and one keeps it.
        let entry = import(key, alg);
        let mut cache = VERIFIERS.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(id, entry.clone());
        entry
    }

    #[cfg(test)]
    pub(super) fn cached(key: &Map<String, Value>, alg: SigningAlg) -> bool {
        let text = serde_json::to_string(key).unwrap_or_default();
        VERIFIERS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&(alg, text))
    }
}

fn verifies(key: &Map<String, Value>, alg: SigningAlg, parts: &Parts<'_>) -> bool {
    signature_verifies(key, alg, parts.signing_input.as_bytes(), &parts.signature)
}

/// Whether `signature` over `input` verifies with `key` for `alg`, through the cache of imported
/// keys (for signatures that are not compact JWS, such as detached ones).
pub fn signature_verifies(
    key: &Map<String, Value>,
    alg: SigningAlg,
    input: &[u8],
    signature: &[u8],
) -> bool {
    verifier_cache::verifier(key, alg).is_some_and(|v| v.verify(input, signature).is_ok())
}

/// Verifies the compact JWS `token` with a key of `jwks` (`{"keys": [...]}`), accepting only the
/// algorithms in `allowed`, and returns its header and claims.
pub fn verify_jws(
    token: &str,
    jwks: &Value,
    allowed: &[SigningAlg],
) -> Result<VerifiedJwt, JoseError> {
    let parts = split(token)?;
    let alg = header_alg(&parts.header, allowed)?;
    if parts.header.contains_key("crit") {
        // RFC 7515 section 4.1.11: we understand no extension, so none may be critical.
        return Err(JoseError::Malformed(
            "critical header extensions are not supported",
        ));
    }
    let kid = match parts.header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JoseError::Malformed("the kid header is not a string")),
    };
    let keys: Vec<&Map<String, Value>> = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JoseError::BadJwks)?
        .iter()
        .filter_map(Value::as_object)
        .collect();
    let candidates: Vec<&Map<String, Value>> = match kid {
        Some(kid) => {
            let named: Vec<_> = keys
                .into_iter()
                .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .collect();
            if named.is_empty() {
                return Err(JoseError::UnknownKid);
            }
            named.into_iter().filter(|k| usable(k, alg)).collect()
        }
        None => {
            let fitting: Vec<_> = keys.into_iter().filter(|k| usable(k, alg)).collect();
            if fitting.is_empty() {
                return Err(JoseError::NoUsableKey(alg));
            }
            fitting
        }
    };
    if !candidates.iter().any(|key| verifies(key, alg, &parts)) {
        return Err(JoseError::BadSignature);
    }
    let claims = json_object(&parts.payload, "the payload is not a JSON object")?;
    Ok(VerifiedJwt {
        alg,
        header: parts.header,
        claims,
    })
}

/// A JWT NumericDate (RFC 7519 section 2): a JSON number of seconds, fractions dropped. `None`
/// for anything else (strings included).
pub fn numeric_date(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        }),
        _ => None,
    }
}

/// The audiences of an `aud` claim: a string, or an array of strings. `None` when the claim has
/// another shape.
pub fn audiences(value: &Value) -> Option<Vec<&str>> {
    match value {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Signing helpers for tests: client keys generated once, and JWS with arbitrary header and
/// claims (including algorithms the server refuses).
#[cfg(test)]
pub(crate) mod testkit {
    use std::sync::LazyLock;

    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use josekit::jwk::{Jwk, KeyPair as _};
    use josekit::jws::{ES256, JwsSigner, PS256, RS256};
    use serde_json::{Map, Value, json};

    use crate::crypto::b64url;

    pub struct TestKey {
        pub kid: String,
        /// The private JWK, without `alg`, so any algorithm of its type can sign with it.
        pub private: Jwk,
        /// The public JWK as registered: `kid`, `use: sig`, `alg`.
        pub public: Value,
    }

    fn rsa(kid: &str) -> TestKey {
        let pair = RsaKeyPair::generate(2048).unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        public.set_key_use("sig");
        public.set_algorithm("PS256");
        TestKey {
            kid: kid.to_owned(),
            private: pair.to_jwk_private_key(),
            public: Value::Object(public.as_ref().clone()),
        }
    }

    fn ec(kid: &str) -> TestKey {
        let pair = EcKeyPair::generate(EcCurve::P256).unwrap();
        let mut public = pair.to_jwk_public_key();
        public.set_key_id(kid);
        public.set_key_use("sig");
        public.set_algorithm("ES256");
        TestKey {
            kid: kid.to_owned(),
            private: pair.to_jwk_private_key(),
            public: Value::Object(public.as_ref().clone()),
        }
    }

    pub struct Keys {
        pub client1_rsa: TestKey,
        pub client1_ec: TestKey,
        pub client2_rsa: TestKey,
        pub client2_ec: TestKey,
    }

    /// Generated once per test binary (RSA generation is slow).
    pub static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
        client1_rsa: rsa("client1-rsa"),
        client1_ec: ec("client1-ec"),
        client2_rsa: rsa("client2-rsa"),
        client2_ec: ec("client2-ec"),
    });

    /// `{"keys": [...]}` of the public halves.
    pub fn jwks(keys: &[&TestKey]) -> Value {
        json!({ "keys": keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>() })
    }

    pub fn client1_jwks() -> Value {
        jwks(&[&KEYS.client1_rsa, &KEYS.client1_ec])
    }

    /// Encodes `header` and `claims` as given and signs with `key` under the header's `alg`
    /// (`PS256`, `ES256`, `RS256`; `none` gives an empty signature).
    pub fn sign_raw(key: &TestKey, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature = match header["alg"].as_str().unwrap() {
            "PS256" => PS256
                .signer_from_jwk(&key.private)
                .unwrap()
                .sign(input.as_bytes()),
            "ES256" => ES256
                .signer_from_jwk(&key.private)
                .unwrap()
                .sign(input.as_bytes()),
            "RS256" => RS256
                .signer_from_jwk(&key.private)
                .unwrap()
                .sign(input.as_bytes()),
            "none" => Ok(Vec::new()),
            other => panic!("no test signer for {other}"),
        }
        .unwrap();
        format!("{input}.{}", b64url(&signature))
    }

    /// Signs `claims` with `key` under `alg`, with `kid` in the header, plus `extra` header
    /// members (a `null` member removes it).
    pub fn sign(key: &TestKey, alg: &str, extra: Value, claims: &Value) -> String {
        let mut header = Map::new();
        header.insert("alg".into(), alg.into());
        header.insert("kid".into(), key.kid.clone().into());
        if let Value::Object(extra) = extra {
            for (name, value) in extra {
                if value.is_null() {
                    header.remove(&name);
                } else {
                    header.insert(name, value);
                }
            }
        }
        sign_raw(key, &Value::Object(header), claims)
    }

    /// Flips one bit of the decoded signature, keeping the token well-formed.
    pub fn corrupt_signature(token: &str) -> String {
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut bytes = crate::crypto::b64url_decode(signature).unwrap();
        bytes[10] ^= 0x01;
        format!("{input}.{}", b64url(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testkit::*;
    use super::*;
    use crate::crypto::b64url;

    const BOTH: &[SigningAlg] = &[SigningAlg::PS256, SigningAlg::ES256];

    fn claims() -> Value {
        json!({ "iss": "client1", "n": 1 })
    }

    #[test]
    fn ps256_and_es256_verify_with_the_clients_keys() {
        let keys = &*KEYS;
        for (key, alg) in [(&keys.client1_rsa, "PS256"), (&keys.client1_ec, "ES256")] {
            let token = sign(key, alg, json!({}), &claims());
            let jwt = verify_jws(&token, &client1_jwks(), BOTH).unwrap();
            assert_eq!(jwt.alg.as_str(), alg);
            assert_eq!(jwt.claims["iss"], "client1");
            assert_eq!(jwt.header["kid"], key.kid.as_str());
        }
    }

    #[test]
    fn an_imported_key_is_reused_and_a_changed_key_under_the_same_kid_is_not() {
        let keys = &*KEYS;
        let token = sign(&keys.client1_rsa, "PS256", json!({}), &claims());
        let registered = jwks(&[&keys.client1_rsa]);
        for _ in 0..3 {
            assert!(verify_jws(&token, &registered, BOTH).is_ok());
        }
        let public = keys.client1_rsa.public.as_object().unwrap();
        assert!(verifier_cache::cached(public, SigningAlg::PS256));
        // The client rotated: its key set names the same kid with another key. The key imported
        // before must not verify for it.
        let mut rotated = keys.client2_rsa.public.clone();
        rotated["kid"] = keys.client1_rsa.kid.clone().into();
        assert_eq!(
            verify_jws(&token, &json!({ "keys": [rotated] }), BOTH),
            Err(JoseError::BadSignature)
        );
        // A key that cannot verify the algorithm is remembered as such, and still refused.
        let mut short = keys.client1_rsa.public.clone();
        short["n"] = b64url(&[0xff; 64]).into();
        for _ in 0..2 {
            assert_eq!(
                verify_jws(&token, &json!({ "keys": [short.clone()] }), BOTH),
                Err(JoseError::BadSignature)
            );
        }
    }

    #[test]
    fn without_kid_every_fitting_key_is_tried() {
        let keys = &*KEYS;
        let token = sign(
            &keys.client1_rsa,
            "PS256",
            json!({ "kid": null }),
            &claims(),
        );
        // Another RSA key first: it is tried and fails, then the right one verifies.
        let set = jwks(&[&keys.client2_rsa, &keys.client1_ec, &keys.client1_rsa]);
        assert!(verify_jws(&token, &set, BOTH).is_ok());
        let only_ec = jwks(&[&keys.client1_ec]);
        assert_eq!(
            verify_jws(&token, &only_ec, BOTH),
            Err(JoseError::NoUsableKey(SigningAlg::PS256))
        );
        let wrong_rsa = jwks(&[&keys.client2_rsa]);
        assert_eq!(
            verify_jws(&token, &wrong_rsa, BOTH),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn keys_for_encryption_or_another_alg_are_not_candidates() {
        let keys = &*KEYS;
        let token = sign(
            &keys.client1_rsa,
            "PS256",
            json!({ "kid": null }),
            &claims(),
        );
        let mut enc = keys.client1_rsa.public.clone();
        enc["use"] = "enc".into();
        assert_eq!(
            verify_jws(&token, &json!({ "keys": [enc] }), BOTH),
            Err(JoseError::NoUsableKey(SigningAlg::PS256))
        );
        let mut rs256 = keys.client1_rsa.public.clone();
        rs256["alg"] = "RS256".into();
        assert_eq!(
            verify_jws(&token, &json!({ "keys": [rs256] }), BOTH),
            Err(JoseError::NoUsableKey(SigningAlg::PS256))
        );
        let mut bare = keys.client1_rsa.public.clone();
        let bare_map = bare.as_object_mut().unwrap();
        bare_map.remove("use");
        bare_map.remove("alg");
        assert!(verify_jws(&token, &json!({ "keys": [bare] }), BOTH).is_ok());
    }

    #[test]
    fn an_unknown_kid_is_reported_for_a_refetch() {
        let keys = &*KEYS;
        let token = sign(&keys.client2_rsa, "PS256", json!({}), &claims());
        let err = verify_jws(&token, &client1_jwks(), BOTH).unwrap_err();
        assert_eq!(err, JoseError::UnknownKid);
        assert!(err.key_refresh_may_help());
        assert!(!JoseError::BadSignature.key_refresh_may_help());
    }

    #[test]
    fn a_kid_naming_a_key_of_another_type_fails() {
        let keys = &*KEYS;
        // ES256 signature claiming the RSA key's kid.
        let token = sign(
            &keys.client1_ec,
            "ES256",
            json!({ "kid": keys.client1_rsa.kid }),
            &claims(),
        );
        assert_eq!(
            verify_jws(&token, &client1_jwks(), BOTH),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn a_changed_signature_or_payload_fails() {
        let keys = &*KEYS;
        for (key, alg) in [(&keys.client1_rsa, "PS256"), (&keys.client1_ec, "ES256")] {
            let token = sign(key, alg, json!({}), &claims());
            assert_eq!(
                verify_jws(&corrupt_signature(&token), &client1_jwks(), BOTH),
                Err(JoseError::BadSignature)
            );
            let parts: Vec<&str> = token.split('.').collect();
            let other_payload = b64url(json!({ "iss": "client2" }).to_string().as_bytes());
            let swapped = format!("{}.{other_payload}.{}", parts[0], parts[2]);
            assert_eq!(
                verify_jws(&swapped, &client1_jwks(), BOTH),
                Err(JoseError::BadSignature)
            );
        }
    }

    #[test]
    fn algorithms_outside_the_allow_list_are_refused_before_keys() {
        let keys = &*KEYS;
        let rs256 = sign(&keys.client1_rsa, "RS256", json!({}), &claims());
        // Even with a key set that is not a JWKS: the alg is checked first.
        assert_eq!(
            verify_jws(&rs256, &json!(null), BOTH),
            Err(JoseError::AlgNotAllowed("RS256".into()))
        );
        let none = sign_raw(&keys.client1_rsa, &json!({ "alg": "none" }), &claims());
        assert_eq!(
            verify_jws(&none, &client1_jwks(), BOTH),
            Err(JoseError::AlgNotAllowed("none".into()))
        );
        let hs256 = format!(
            "{}.{}.{}",
            b64url(br#"{"alg":"HS256"}"#),
            b64url(claims().to_string().as_bytes()),
            b64url(b"mac")
        );
        assert_eq!(
            verify_jws(&hs256, &client1_jwks(), BOTH),
            Err(JoseError::AlgNotAllowed("HS256".into()))
        );
        let es256 = sign(&keys.client1_ec, "ES256", json!({}), &claims());
        assert_eq!(
            verify_jws(&es256, &client1_jwks(), &[SigningAlg::PS256]),
            Err(JoseError::AlgNotAllowed("ES256".into()))
        );
        let lower = format!(
            "{}.{}.{}",
            b64url(br#"{"alg":"ps256"}"#),
            b64url(claims().to_string().as_bytes()),
            b64url(b"sig")
        );
        assert!(matches!(
            verify_jws(&lower, &client1_jwks(), BOTH),
            Err(JoseError::AlgNotAllowed(_))
        ));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let keys = &*KEYS;
        let good = sign(&keys.client1_rsa, "PS256", json!({}), &claims());
        let parts: Vec<&str> = good.split('.').collect();
        let header = b64url(br#"{"alg":"PS256"}"#);
        let cases = [
            String::new(),
            "abc".to_owned(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{good}.extra"),
            format!("{}.{}.{}.{}.{}", parts[0], parts[1], parts[2], "a", "b"),
            format!("!!.{}.{}", parts[1], parts[2]),
            format!("{}.{}.***", parts[0], parts[1]),
            format!("{}.{}.{}", b64url(b"[1,2]"), parts[1], parts[2]),
            format!("{}.{}.{}", b64url(b"not json"), parts[1], parts[2]),
            format!("{}.{}.{}", b64url(br#"{"alg":7}"#), parts[1], parts[2]),
            format!("{}.{}.{}", b64url(br#"{"kid":"x"}"#), parts[1], parts[2]),
            format!(
                "{}.{}.{}",
                b64url(br#"{"alg":"PS256","kid":3}"#),
                parts[1],
                parts[2]
            ),
            format!(
                "{}.{}.{}",
                b64url(br#"{"alg":"PS256","crit":["exp"]}"#),
                parts[1],
                parts[2]
            ),
            format!("{header}.{}.{}", "%%", parts[2]),
        ];
        for token in &cases {
            assert!(
                matches!(
                    verify_jws(token, &client1_jwks(), BOTH),
                    Err(JoseError::Malformed(_))
                ),
                "{token} was not refused as malformed"
            );
        }
        // A signed payload that is not an object.
        let array = sign(&keys.client1_rsa, "PS256", json!({}), &json!([1, 2]));
        assert!(matches!(
            verify_jws(&array, &client1_jwks(), BOTH),
            Err(JoseError::Malformed(_))
        ));
    }

    #[test]
    fn a_key_set_that_is_not_a_jwks_is_refused() {
        let keys = &*KEYS;
        let token = sign(&keys.client1_rsa, "PS256", json!({}), &claims());
        for set in [json!(null), json!({}), json!({ "keys": {} }), json!([])] {
            assert_eq!(verify_jws(&token, &set, BOTH), Err(JoseError::BadJwks));
        }
    }

    #[test]
    fn unverified_decoding_reads_header_and_claims() {
        let keys = &*KEYS;
        let token = sign(
            &keys.client1_ec,
            "ES256",
            json!({ "typ": "JWT" }),
            &claims(),
        );
        let header = decode_unverified_header(&token).unwrap();
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(decode_unverified_claims(&token).unwrap()["n"], 1);
        assert!(decode_unverified_header("a.b").is_err());
    }

    #[test]
    fn numeric_dates_and_audiences() {
        assert_eq!(numeric_date(&json!(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(numeric_date(&json!(1_700_000_000.75)), Some(1_700_000_000));
        assert_eq!(numeric_date(&json!("1700000000")), None);
        assert_eq!(numeric_date(&json!(null)), None);
        assert_eq!(audiences(&json!("a")), Some(vec!["a"]));
        assert_eq!(audiences(&json!(["a", "b"])), Some(vec!["a", "b"]));
        assert_eq!(audiences(&json!(["a", 1])), None);
        assert_eq!(audiences(&json!(1)), None);
    }
}
