//! DPoP proof validation (RFC 9449 section 4.3): a pure function of the request's DPoP header
//! values, method, URL, optional access token and key binding, and `now`. No I/O.
//!
//! Server nonces (RFC 9449 section 8) are [`DpopNonces`]: stateless, so that every node accepts
//! the nonce any node issued.
//!
//! What is left to the caller: the `jti` replay check (a database-backed store keyed by the
//! returned `jti`, kept until `iat` + the past leeway), sending the current nonce in `DPoP-Nonce`
//! headers, and the `WWW-Authenticate` challenge of a refusal at a resource server
//! ([`crate::protocol::error::Challenge::DPoP`]).

use std::fmt;
use std::str::FromStr as _;

use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, PS256};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::crypto::{b64url, b64url_decode, constant_time_eq, hmac_sha256, sha256};
use crate::keys::SigningAlg;
use crate::protocol::error::{ErrorCode, OAuthError};

/// The `typ` header every DPoP proof carries (RFC 9449 section 4.2).
pub const DPOP_JWT_TYPE: &str = "dpop+jwt";

/// Longest proof accepted, in bytes: a PS256 proof with an 8192-bit key fits with room to spare.
pub const MAX_PROOF_LEN: usize = 8192;

/// Longest `jti` accepted, in bytes: the caller stores it for replay detection.
pub const MAX_JTI_LEN: usize = 256;

/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// How strict validation is. `iat_leeway_future` doubles as the clock-skew allowance for the
/// optional `exp` and `nbf` claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// The signature algorithms accepted (FAPI 2.0: PS256 and ES256; nothing else exists here).
    pub allowed_algs: Vec<SigningAlg>,
    /// How old a proof's `iat` may be, in seconds (proof lifetime plus clock skew).
    pub iat_leeway_past: i64,
    /// How far in the future a proof's `iat` may be, in seconds (clock skew).
    pub iat_leeway_future: i64,
    /// Whether every proof must carry the current server nonce (`use_dpop_nonce` otherwise).
    pub require_nonce: bool,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            allowed_algs: SigningAlg::ALL.to_vec(),
            iat_leeway_past: 60 + 10,
            iat_leeway_future: 15,
            require_nonce: false,
        }
    }
}

/// The parts of one HTTP request that DPoP validation looks at.
#[derive(Clone)]
pub struct DpopRequest<'a> {
    /// Every `DPoP` header value the request carried (header names match case-insensitively).
    pub headers: Vec<&'a str>,
    /// The request method, compared exactly with `htm`.
    pub method: &'a str,
    /// The absolute URL the server was reached at; query and fragment are ignored.
    pub url: &'a str,
    /// At a resource server: the access token presented, checked against `ath`.
    pub access_token: Option<&'a str>,
    /// The key the request is bound to (PAR `dpop_jkt`, the code's jkt, the token's `cnf.jkt`).
    pub expected_jkt: Option<&'a str>,
    /// The server's nonces, when nonces are in use.
    pub nonce: Option<&'a DpopNonces>,
}

impl fmt::Debug for DpopRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopRequest")
            .field("headers", &self.headers.len())
            .field("method", &self.method)
            .field("url", &self.url)
            .field("access_token", &self.access_token.map(|_| "<redacted>"))
            .field("expected_jkt", &self.expected_jkt)
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// Server-issued DPoP nonces without server state. Time is cut into windows of `window_secs`;
/// the nonce of a window is the base64url HMAC-SHA256 of the window's number under a key that
/// every node derives from the master key ([`DpopNonces::KEY_PURPOSE`]). A nonce is accepted in
/// the window it was issued in and in the next one, so it lives between one and two windows, on
/// whichever node the next request reaches.
#[derive(Clone)]
pub struct DpopNonces {
    key: Zeroizing<[u8; 32]>,
    window_secs: i64,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("key", &"<redacted>")
            .field("window_secs", &self.window_secs)
            .finish()
    }
}

impl DpopNonces {
    /// The purpose the nonce key is derived for from the master key.
    pub const KEY_PURPOSE: &'static str = "dpop-nonce";

    /// Nonces under `key`, a new one every `window_secs` (at least one second).
    pub fn new(key: Zeroizing<[u8; 32]>, window_secs: i64) -> Self {
        Self {
            key,
            window_secs: window_secs.max(1),
        }
    }

    fn window(&self, now: UnixTime) -> i64 {
        now.div_euclid(self.window_secs)
    }

    fn of_window(&self, window: i64) -> String {
        let mut message = b"consentry dpop nonce ".to_vec();
        message.extend_from_slice(&window.to_be_bytes());
        b64url(&hmac_sha256(self.key.as_slice(), &message))
    }

    /// The nonce to hand out at `now` (in `DPoP-Nonce`).
    pub fn current(&self, now: UnixTime) -> String {
        self.of_window(self.window(now))
    }

    /// Whether `nonce` was issued in this window or the previous one.
    pub fn accepts(&self, nonce: &str, now: UnixTime) -> bool {
        let window = self.window(now);
        [window, window.saturating_sub(1)]
            .into_iter()
            .any(|w| constant_time_eq(nonce.as_bytes(), self.of_window(w).as_bytes()))
    }
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// RFC 7638 thumbprint (base64url SHA-256) of the proof's public key.
    pub jkt: String,
    /// The proof's `jti`, for the caller's replay store.
    pub jti: String,
    /// The proof's `iat` (a fractional value rounded down).
    pub iat: UnixTime,
}

/// Validates the DPoP proof of a request.
///
/// - `Ok(None)`: the request carried no `DPoP` header and is not bound to a key; the caller
///   decides (a Bearer or mTLS request, or a refusal where DPoP is required).
/// - `Ok(Some(proof))`: exactly one proof, valid for this request. The caller still checks that
///   `proof.jti` was not seen before.
/// - `Err`: `invalid_dpop_proof` (or `use_dpop_nonce` when the policy requires the current server
///   nonce and the otherwise valid proof lacks it), with a one-line description. A request URL
///   that is not an absolute http(s) URL is a server fault (`server_error`).
pub fn validate_proof(
    req: &DpopRequest<'_>,
    policy: &DpopPolicy,
    now: UnixTime,
) -> Result<Option<DpopProof>, OAuthError> {
    let proof = match req.headers.as_slice() {
        [] if req.expected_jkt.is_some() => {
            return Err(refuse(
                "the request is bound to a DPoP key but carries no DPoP proof",
            ));
        }
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(refuse("the request carries more than one DPoP header")),
    };
    check_proof(proof, req, policy, now).map(Some)
}

fn check_proof(
    proof: &str,
    req: &DpopRequest<'_>,
    policy: &DpopPolicy,
    now: UnixTime,
) -> Result<DpopProof, OAuthError> {
    let proof = proof.trim_matches([' ', '\t']);
    if proof.len() > MAX_PROOF_LEN {
        return Err(refuse("the DPoP proof is too long"));
    }

    // Structure: a compact JWS, header and payload JSON objects.
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse("the DPoP proof is not a compact JWS of three parts"));
    };
    let header = json_object(header_b64)
        .ok_or_else(|| refuse("the DPoP proof header is not a base64url JSON object"))?;
    let claims = json_object(payload_b64)
        .ok_or_else(|| refuse("the DPoP proof payload is not a base64url JSON object"))?;
    let signature = strict_b64url(signature_b64)
        .ok_or_else(|| refuse("the DPoP proof signature is not base64url"))?;

    // Header: typ, alg, no crit, a public jwk of the alg's key type.
    match header.get("typ") {
        None => return Err(refuse("the DPoP proof header has no typ")),
        Some(Value::String(typ)) if typ == DPOP_JWT_TYPE => {}
        Some(_) => return Err(refuse("the DPoP proof typ is not dpop+jwt")),
    }
    let alg = match header.get("alg") {
        None => return Err(refuse("the DPoP proof header has no alg")),
        Some(Value::String(alg)) => alg.as_str(),
        Some(_) => return Err(refuse("the DPoP proof alg is not a string")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(refuse("the DPoP proof is unsigned (alg none)"));
    }
    let alg = SigningAlg::from_str(alg)
        .ok()
        .filter(|alg| policy.allowed_algs.contains(alg))
        .ok_or_else(|| {
            let allowed: Vec<&str> = policy.allowed_algs.iter().map(|a| a.as_str()).collect();
            refuse(format!(
                "the DPoP proof alg is not one of {}",
                allowed.join(", ")
            ))
        })?;
    if header.contains_key("crit") {
        return Err(refuse(
            "the DPoP proof has critical header parameters this server does not support",
        ));
    }
    let jwk = match header.get("jwk") {
        None => return Err(refuse("the DPoP proof header has no jwk")),
        Some(Value::Object(jwk)) => jwk,
        Some(_) => return Err(refuse("the DPoP proof jwk is not a JSON object")),
    };
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(refuse(format!(
            "the DPoP proof jwk is not a public key (it has the private member {member})"
        )));
    }
    let verifier = verifier(alg, jwk)?;
    let signing_input = &proof[..header_b64.len() + 1 + payload_b64.len()];
    verifier
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| refuse("the DPoP proof signature does not verify with its jwk"))?;
    let jkt = jwk_thumbprint(jwk)
        .ok_or_else(|| refuse("the DPoP proof jwk lacks the members of its thumbprint"))?;

    // Claims.
    let jti = string_claim(&claims, "jti")?;
    if jti.is_empty() {
        return Err(refuse("the DPoP proof jti is empty"));
    }
    if jti.len() > MAX_JTI_LEN {
        return Err(refuse("the DPoP proof jti is too long"));
    }
    if string_claim(&claims, "htm")? != req.method {
        return Err(refuse(
            "the DPoP proof htm does not match the request method",
        ));
    }
    let expected_htu = normalize_htu(req.url).ok_or_else(|| {
        OAuthError::internal("DPoP validation was given a request URL that is not absolute http(s)")
    })?;
    let htu = normalize_htu(string_claim(&claims, "htu")?)
        .ok_or_else(|| refuse("the DPoP proof htu is not an absolute http(s) URL"))?;
    if htu != expected_htu {
        return Err(refuse("the DPoP proof htu does not match the request URL"));
    }
    let iat = numeric_date(&claims, "iat")?.ok_or_else(|| refuse("the DPoP proof has no iat"))?;
    if iat < now.saturating_sub(policy.iat_leeway_past) {
        return Err(refuse("the DPoP proof iat is too far in the past"));
    }
    if iat > now.saturating_add(policy.iat_leeway_future) {
        return Err(refuse("the DPoP proof iat is in the future"));
    }
    if let Some(exp) = numeric_date(&claims, "exp")?
        && exp.saturating_add(policy.iat_leeway_future) < now
    {
        return Err(refuse("the DPoP proof has expired (exp)"));
    }
    if let Some(nbf) = numeric_date(&claims, "nbf")?
        && nbf > now.saturating_add(policy.iat_leeway_future)
    {
        return Err(refuse("the DPoP proof is not valid yet (nbf)"));
    }

    // Binding to the access token and to the expected key.
    if let Some(token) = req.access_token {
        let ath = match claims.get("ath") {
            None => return Err(refuse("the DPoP proof has no ath for the access token")),
            Some(Value::String(ath)) => ath,
            Some(_) => return Err(refuse("the DPoP proof ath is not a string")),
        };
        let expected = b64url(&sha256(token.as_bytes()));
        if !constant_time_eq(ath.as_bytes(), expected.as_bytes()) {
            return Err(refuse("the DPoP proof ath does not match the access token"));
        }
    }
    if let Some(expected) = req.expected_jkt
        && jkt != expected
    {
        return Err(refuse(
            "the DPoP proof is signed by another key than the one the request is bound to",
        ));
    }

    // Last, so that `use_dpop_nonce` only ever asks to retry an otherwise valid proof.
    if policy.require_nonce {
        match claims.get("nonce") {
            Some(Value::String(nonce))
                if req.nonce.is_some_and(|nonces| nonces.accepts(nonce, now)) => {}
            None => {
                return Err(OAuthError::new(
                    ErrorCode::UseDpopNonce,
                    "the DPoP proof must carry the server nonce",
                ));
            }
            Some(_) => {
                return Err(OAuthError::new(
                    ErrorCode::UseDpopNonce,
                    "the DPoP proof nonce is not the current server nonce",
                ));
            }
        }
    }

    Ok(DpopProof {
        jkt,
        jti: jti.to_owned(),
        iat,
    })
}

/// The form of an `htu` (or request URL) that comparisons use: scheme and host lower-cased, the
/// default port (https 443, http 80) dropped, an empty path made `/`, dot segments resolved, query
/// and fragment removed; the rest of the path is kept exactly (case and percent-encoding). `None`
/// for anything but an absolute http(s) URL, or one with whitespace, control characters or
/// backslashes (which URL parsers disagree about).
pub fn normalize_htu(url: &str) -> Option<String> {
    if url.is_empty()
        || url
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_ascii_control() || c == '\\')
    {
        return None;
    }
    let mut parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return None;
    }
    parsed.host()?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.into())
}

/// The RFC 7638 thumbprint (base64url SHA-256 over the required members in lexicographic order)
/// of an RSA or EC JWK; `None` for another key type or a missing member.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    crate::keys::jwk::thumbprint(jwk)
}

fn refuse(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// Base64url without padding, as JWS requires (RFC 7515 section 2).
fn strict_b64url(s: &str) -> Option<Vec<u8>> {
    if s.contains('=') {
        return None;
    }
    b64url_decode(s)
}

fn json_object(segment: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&strict_b64url(segment)?).ok()
}

fn string_claim<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<&'c str, OAuthError> {
    match claims.get(name) {
        None => Err(refuse(format!("the DPoP proof has no {name}"))),
        Some(Value::String(value)) => Ok(value),
        Some(_) => Err(refuse(format!("the DPoP proof {name} is not a string"))),
    }
}

/// A JWT NumericDate claim (RFC 7519 section 2): a JSON number, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, OAuthError> {
    let not_a_date = || refuse(format!("the DPoP proof {name} is not a NumericDate"));
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or_else(not_a_date),
        Some(_) => Err(not_a_date()),
    }
}

/// A verifier for `alg` from the proof's public JWK, after checking the key type matches it.
fn verifier(alg: SigningAlg, jwk: &Map<String, Value>) -> Result<Box<dyn JwsVerifier>, OAuthError> {
    let kty = jwk.get("kty").and_then(Value::as_str);
    match (alg, kty) {
        (SigningAlg::ES256, Some("EC")) => {
            if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err(refuse(
                    "the DPoP proof jwk is not a P-256 key as ES256 needs",
                ));
            }
            // Exactly 32 bytes each, so that one key has one encoding (and one thumbprint).
            for coordinate in ["x", "y"] {
                let len = jwk
                    .get(coordinate)
                    .and_then(Value::as_str)
                    .and_then(strict_b64url)
                    .map(|bytes| bytes.len());
                if len != Some(32) {
                    return Err(refuse(format!(
                        "the DPoP proof jwk {coordinate} is not a P-256 coordinate"
                    )));
                }
            }
        }
        (SigningAlg::PS256, Some("RSA")) => {}
        _ => return Err(refuse("the DPoP proof jwk key type does not match its alg")),
    }
    let invalid = || {
        refuse(format!(
            "the DPoP proof jwk is not a usable {alg} public key"
        ))
    };
    let key = Jwk::from_map(jwk.clone()).map_err(|_| invalid())?;
    Ok(match alg {
        SigningAlg::ES256 => Box::new(ES256.verifier_from_jwk(&key).map_err(|_| invalid())?),
        SigningAlg::PS256 => Box::new(PS256.verifier_from_jwk(&key).map_err(|_| invalid())?),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use josekit::jwk::alg::ec::EcCurve;
    use josekit::jws::{HS256, JwsSigner, RS256};
    use serde_json::json;

    use super::*;

    const NOW: UnixTime = 1_750_000_000;
    const URL: &str = "https://as.example.com/token";
    /// The access token of RFC 9449 section 7.1.
    const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

    struct Key {
        private: Jwk,
        public: Map<String, Value>,
    }

    impl Key {
        fn new(private: Jwk) -> Self {
            let public = private
                .as_ref()
                .iter()
                .filter(|(name, _)| !PRIVATE_MEMBERS.contains(&name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Self { private, public }
        }

        fn jkt(&self) -> String {
            jwk_thumbprint(&self.public).unwrap()
        }
    }

    static EC: LazyLock<Key> =
        LazyLock::new(|| Key::new(Jwk::generate_ec_key(EcCurve::P256).unwrap()));
    static EC_OTHER: LazyLock<Key> =
        LazyLock::new(|| Key::new(Jwk::generate_ec_key(EcCurve::P256).unwrap()));
    static RSA: LazyLock<Key> = LazyLock::new(|| Key::new(Jwk::generate_rsa_key(2048).unwrap()));

    #[derive(Clone, Copy)]
    enum SignWith {
        Es256(&'static LazyLock<Key>),
        Ps256(&'static LazyLock<Key>),
        Rs256(&'static LazyLock<Key>),
        Hs256,
        Unsigned,
    }

    /// A DPoP proof under construction: any header and claims, signed with any key.
    struct Proof {
        header: Map<String, Value>,
        claims: Map<String, Value>,
        sign_with: SignWith,
    }

    fn unique_jti() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!("jti-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    }

    impl Proof {
        fn new(alg: &str, key: &'static LazyLock<Key>, sign_with: SignWith) -> Self {
            let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": key.public});
            let claims = json!({"jti": unique_jti(), "htm": "POST", "htu": URL, "iat": NOW});
            Self {
                header: header.as_object().unwrap().clone(),
                claims: claims.as_object().unwrap().clone(),
                sign_with,
            }
        }

        fn es256() -> Self {
            Self::new("ES256", &EC, SignWith::Es256(&EC))
        }

        fn ps256() -> Self {
            Self::new("PS256", &RSA, SignWith::Ps256(&RSA))
        }

        fn header(mut self, name: &str, value: Value) -> Self {
            self.header.insert(name.to_owned(), value);
            self
        }

        fn without_header(mut self, name: &str) -> Self {
            self.header.remove(name);
            self
        }

        fn claim(mut self, name: &str, value: Value) -> Self {
            self.claims.insert(name.to_owned(), value);
            self
        }

        fn without_claim(mut self, name: &str) -> Self {
            self.claims.remove(name);
            self
        }

        fn sign_with(mut self, sign_with: SignWith) -> Self {
            self.sign_with = sign_with;
            self
        }

        fn sign(&self) -> String {
            let input = format!(
                "{}.{}",
                b64url(&serde_json::to_vec(&self.header).unwrap()),
                b64url(&serde_json::to_vec(&self.claims).unwrap())
            );
            let signature = match self.sign_with {
                SignWith::Es256(key) => ES256
                    .signer_from_jwk(&key.private)
                    .unwrap()
                    .sign(input.as_bytes()),
                SignWith::Ps256(key) => PS256
                    .signer_from_jwk(&key.private)
                    .unwrap()
                    .sign(input.as_bytes()),
                SignWith::Rs256(key) => RS256
                    .signer_from_jwk(&key.private)
                    .unwrap()
                    .sign(input.as_bytes()),
                SignWith::Hs256 => HS256
                    .signer_from_bytes([7u8; 32])
                    .unwrap()
                    .sign(input.as_bytes()),
                SignWith::Unsigned => Ok(Vec::new()),
            }
            .unwrap();
            format!("{input}.{}", b64url(&signature))
        }
    }

    fn request(proof: &str) -> DpopRequest<'_> {
        DpopRequest {
            headers: vec![proof],
            method: "POST",
            url: URL,
            access_token: None,
            expected_jkt: None,
            nonce: None,
        }
    }

    fn validate(req: &DpopRequest<'_>) -> Result<Option<DpopProof>, OAuthError> {
        validate_proof(req, &DpopPolicy::default(), NOW)
    }

    fn accepted(req: &DpopRequest<'_>) -> DpopProof {
        match validate(req) {
            Ok(Some(proof)) => proof,
            other => panic!("expected an accepted proof, got {other:?}"),
        }
    }

    fn accepted_proof(proof: &Proof) -> DpopProof {
        accepted(&request(&proof.sign()))
    }

    #[track_caller]
    fn refused_with(req: &DpopRequest<'_>, policy: &DpopPolicy, code: ErrorCode, words: &str) {
        let error = validate_proof(req, policy, NOW).unwrap_err();
        let description = error.description().unwrap();
        assert_eq!(error.code, code, "{error}");
        assert!(description.contains(words), "{error}");
        assert!(!description.contains(['\r', '\n']), "{error}");
    }

    #[track_caller]
    fn refused(req: &DpopRequest<'_>, words: &str) {
        refused_with(
            req,
            &DpopPolicy::default(),
            ErrorCode::InvalidDpopProof,
            words,
        );
    }

    #[track_caller]
    fn refused_proof(proof: &Proof, words: &str) {
        refused(&request(&proof.sign()), words);
    }

    /// Replaces the `index`th dot-separated part of a compact JWS.
    fn replace_part(jws: &str, index: usize, part: &str) -> String {
        let mut parts: Vec<&str> = jws.split('.').collect();
        parts[index] = part;
        parts.join(".")
    }

    // Accepted proofs.

    #[test]
    fn a_valid_es256_proof_is_accepted_with_its_jkt_jti_and_iat() {
        let proof = Proof::es256().claim("jti", json!("e1j3V_bKic8-LAEB"));
        assert_eq!(
            accepted_proof(&proof),
            DpopProof {
                jkt: EC.jkt(),
                jti: "e1j3V_bKic8-LAEB".to_owned(),
                iat: NOW,
            }
        );
    }

    #[test]
    fn a_valid_ps256_proof_is_accepted() {
        assert_eq!(accepted_proof(&Proof::ps256()).jkt, RSA.jkt());
    }

    #[test]
    fn jti_is_returned_and_not_checked_for_replay_here() {
        let proof = Proof::es256().sign();
        let first = accepted(&request(&proof));
        let second = accepted(&request(&proof));
        assert_eq!(first, second);
    }

    #[test]
    fn extra_header_members_and_claims_are_accepted() {
        let proof = Proof::es256()
            .header("tx_id", json!(NOW + 3600))
            .header("kid", json!("some-key"))
            .claim("tx_id_key", json!(NOW + 3600))
            .claim("aud", json!("https://as.example.com"));
        accepted_proof(&proof);
    }

    // The DPoP header itself.

    #[test]
    fn no_dpop_header_is_left_to_the_caller() {
        let req = DpopRequest {
            headers: Vec::new(),
            ..request("")
        };
        assert_eq!(validate(&req), Ok(None));
    }

    #[test]
    fn no_dpop_header_on_a_key_bound_request_is_refused() {
        let jkt = EC.jkt();
        let req = DpopRequest {
            headers: Vec::new(),
            expected_jkt: Some(&jkt),
            ..request("")
        };
        refused(&req, "carries no DPoP proof");
    }

    #[test]
    fn two_dpop_headers_are_refused_even_when_both_are_valid() {
        let (a, b) = (Proof::es256().sign(), Proof::es256().sign());
        let req = DpopRequest {
            headers: vec![&a, &b],
            ..request("")
        };
        refused(&req, "more than one DPoP header");
        let req = DpopRequest {
            headers: vec![&a, &a],
            ..request("")
        };
        refused(&req, "more than one DPoP header");
    }

    #[test]
    fn two_proofs_joined_in_one_header_value_are_refused() {
        let joined = format!("{}, {}", Proof::es256().sign(), Proof::es256().sign());
        refused(&request(&joined), "three parts");
    }

    #[test]
    fn surrounding_whitespace_of_the_header_value_is_ignored() {
        let proof = format!(" {}\t", Proof::es256().sign());
        accepted(&request(&proof));
    }

    // Malformed JWTs.

    #[test]
    fn a_proof_without_its_signature_part_is_refused() {
        // The conformance suite's "not well-formed": header and payload only.
        let proof = Proof::es256().sign();
        let two_parts = proof.rsplit_once('.').unwrap().0;
        refused(&request(two_parts), "three parts");
    }

    #[test]
    fn malformed_compact_serialisations_are_refused() {
        let proof = Proof::es256().sign();
        refused(&request(""), "three parts");
        refused(&request(".."), "header is not");
        refused(&request("not-a-jwt"), "three parts");
        refused(&request(&format!("{proof}.extra")), "three parts");
        refused(&request(&replace_part(&proof, 0, "!!!")), "header is not");
        refused(
            &request(&replace_part(&proof, 0, &b64url(b"not json"))),
            "header is not",
        );
        refused(
            &request(&replace_part(&proof, 0, &b64url(b"[1, 2]"))),
            "header is not",
        );
        refused(
            &request(&replace_part(&proof, 1, &b64url(b"{\"jti\":"))),
            "payload is not",
        );
        refused(&request(&replace_part(&proof, 2, "%%")), "signature is not");
    }

    #[test]
    fn padded_base64_segments_are_refused() {
        let proof = Proof::es256().sign();
        let header = proof.split('.').next().unwrap();
        let padded = replace_part(&proof, 0, &format!("{header}="));
        refused(&request(&padded), "header is not");
    }

    #[test]
    fn an_oversized_proof_is_refused() {
        let proof = Proof::es256()
            .claim("padding", json!("x".repeat(MAX_PROOF_LEN)))
            .sign();
        refused(&request(&proof), "too long");
    }

    // Header: typ, alg, jwk.

    #[test]
    fn a_proof_without_typ_is_refused() {
        refused_proof(&Proof::es256().without_header("typ"), "no typ");
    }

    #[test]
    fn a_proof_with_another_typ_is_refused() {
        for typ in [
            json!("dpop+jwt+wrongyousee"),
            json!("JWT"),
            json!("DPOP+JWT"),
            json!(1),
        ] {
            refused_proof(&Proof::es256().header("typ", typ), "typ is not dpop+jwt");
        }
    }

    #[test]
    fn a_proof_without_alg_is_refused() {
        // As the conformance suite does it: rename `alg` after signing.
        let proof = Proof::es256().sign();
        let header = proof.split('.').next().unwrap();
        let renamed = String::from_utf8(b64url_decode(header).unwrap())
            .unwrap()
            .replace("\"alg\"", "\"alg2\"");
        refused(
            &request(&replace_part(&proof, 0, &b64url(renamed.as_bytes()))),
            "no alg",
        );
        refused_proof(&Proof::es256().without_header("alg"), "no alg");
    }

    #[test]
    fn an_rs256_proof_is_refused() {
        let proof = Proof::new("RS256", &RSA, SignWith::Rs256(&RSA));
        refused_proof(&proof, "alg is not one of PS256, ES256");
    }

    #[test]
    fn an_unsigned_proof_is_refused() {
        // The conformance suite's header: no jwk, and an empty signature.
        let unsigned = Proof::es256()
            .header("alg", json!("none"))
            .without_header("jwk")
            .sign_with(SignWith::Unsigned);
        refused_proof(&unsigned, "unsigned");
        let unsigned = Proof::es256()
            .header("alg", json!("none"))
            .sign_with(SignWith::Unsigned);
        refused_proof(&unsigned, "unsigned");
    }

    #[test]
    fn an_hs256_proof_is_refused() {
        let proof = Proof::es256()
            .header("alg", json!("HS256"))
            .header("jwk", json!({"kty": "oct", "k": b64url(&[7u8; 32])}))
            .sign_with(SignWith::Hs256);
        refused_proof(&proof, "alg is not one of");
    }

    #[test]
    fn other_algs_are_refused() {
        for alg in [
            json!("ES384"),
            json!("RS512"),
            json!("EdDSA"),
            json!("es256"),
            json!(7),
        ] {
            refused_proof(&Proof::es256().header("alg", alg), "alg is not");
        }
    }

    #[test]
    fn only_the_policys_algs_are_accepted() {
        let policy = DpopPolicy {
            allowed_algs: vec![SigningAlg::ES256],
            ..DpopPolicy::default()
        };
        let proof = Proof::ps256().sign();
        refused_with(
            &request(&proof),
            &policy,
            ErrorCode::InvalidDpopProof,
            "alg is not one of ES256",
        );
        let proof = Proof::es256().sign();
        assert!(validate_proof(&request(&proof), &policy, NOW).is_ok());
    }

    #[test]
    fn a_proof_with_crit_is_refused() {
        let proof = Proof::es256()
            .header("crit", json!(["exp"]))
            .header("exp", json!(NOW));
        refused_proof(&proof, "critical header");
    }

    #[test]
    fn a_proof_without_jwk_is_refused() {
        refused_proof(&Proof::es256().without_header("jwk"), "no jwk");
        refused_proof(
            &Proof::es256().header("jwk", json!(EC.jkt())),
            "jwk is not a JSON object",
        );
    }

    #[test]
    fn a_proof_carrying_its_private_key_is_refused() {
        let private = EC.private.as_ref().clone();
        let proof = Proof::es256().header("jwk", Value::Object(private));
        refused_proof(&proof, "not a public key (it has the private member d)");
        let private = RSA.private.as_ref().clone();
        let proof = Proof::ps256().header("jwk", Value::Object(private));
        refused_proof(&proof, "not a public key");
    }

    #[test]
    fn every_private_jwk_member_is_refused() {
        for member in PRIVATE_MEMBERS {
            let mut jwk = EC.public.clone();
            jwk.insert(member.to_owned(), json!("AQAB"));
            let proof = Proof::es256().header("jwk", Value::Object(jwk));
            refused_proof(&proof, &format!("private member {member}"));
        }
    }

    #[test]
    fn a_jwk_of_another_key_type_than_the_alg_is_refused() {
        let proof = Proof::es256().header("jwk", Value::Object(RSA.public.clone()));
        refused_proof(&proof, "key type does not match its alg");
        let proof = Proof::ps256().header("jwk", Value::Object(EC.public.clone()));
        refused_proof(&proof, "key type does not match its alg");
        let p384 = Key::new(Jwk::generate_ec_key(EcCurve::P384).unwrap());
        let proof = Proof::es256().header("jwk", Value::Object(p384.public));
        refused_proof(&proof, "not a P-256 key");
    }

    #[test]
    fn an_invalid_ec_point_is_refused() {
        let mut jwk = EC.public.clone();
        jwk.insert("y".to_owned(), json!(b64url(&[1u8; 32])));
        let proof = Proof::es256().header("jwk", Value::Object(jwk));
        refused_proof(&proof, "not a usable ES256 public key");
        let mut jwk = EC.public.clone();
        jwk.insert("x".to_owned(), json!(b64url(&[1u8; 33])));
        let proof = Proof::es256().header("jwk", Value::Object(jwk));
        refused_proof(&proof, "x is not a P-256 coordinate");
    }

    #[test]
    fn a_short_rsa_key_is_refused() {
        let weak = Key::new(Jwk::generate_rsa_key(1024).unwrap());
        let proof = Proof::ps256().header("jwk", Value::Object(weak.public));
        refused_proof(&proof, "not a usable PS256 public key");
    }

    // Signature.

    #[test]
    fn a_bad_signature_is_refused() {
        for proof in [Proof::es256().sign(), Proof::ps256().sign()] {
            let signature = b64url_decode(proof.rsplit('.').next().unwrap()).unwrap();
            let mut flipped = signature.clone();
            flipped[10] ^= 0x01;
            let tampered = replace_part(&proof, 2, &b64url(&flipped));
            refused(&request(&tampered), "signature does not verify");
        }
    }

    #[test]
    fn a_changed_payload_is_refused() {
        let proof = Proof::es256().sign();
        let other = Proof::es256().claim("htm", json!("GET")).sign();
        let swapped = replace_part(&proof, 1, other.split('.').nth(1).unwrap());
        refused(&request(&swapped), "signature does not verify");
    }

    #[test]
    fn a_proof_signed_by_another_key_than_its_jwk_is_refused() {
        let proof = Proof::es256().sign_with(SignWith::Es256(&EC_OTHER));
        refused_proof(&proof, "signature does not verify");
    }

    // Claims: jti, htm, htu, iat.

    #[test]
    fn a_proof_without_jti_is_refused() {
        refused_proof(&Proof::es256().without_claim("jti"), "no jti");
        refused_proof(&Proof::es256().claim("jti", json!("")), "jti is empty");
        refused_proof(
            &Proof::es256().claim("jti", json!(12)),
            "jti is not a string",
        );
        refused_proof(
            &Proof::es256().claim("jti", json!("j".repeat(MAX_JTI_LEN + 1))),
            "jti is too long",
        );
    }

    #[test]
    fn a_proof_without_htm_is_refused() {
        refused_proof(&Proof::es256().without_claim("htm"), "no htm");
    }

    #[test]
    fn a_proof_with_another_htm_is_refused() {
        for htm in ["PUT", "GET", "post", "POST "] {
            refused_proof(
                &Proof::es256().claim("htm", json!(htm)),
                "htm does not match the request method",
            );
        }
    }

    #[test]
    fn a_proof_without_htu_is_refused() {
        refused_proof(&Proof::es256().without_claim("htu"), "no htu");
        refused_proof(
            &Proof::es256().claim("htu", json!(null)),
            "htu is not a string",
        );
    }

    #[test]
    fn a_proof_with_another_htu_is_refused() {
        for htu in [
            "https://as.example.com/tokenohnonotagain",
            "https://as.example.com/token/",
            "https://as.example.com/Token",
            "https://as.example.com/par",
            "http://as.example.com/token",
            "https://as.example.com:8443/token",
            "https://evil.example.com/token",
            "https://user@as.example.com/token",
        ] {
            refused_proof(
                &Proof::es256().claim("htu", json!(htu)),
                "htu does not match the request URL",
            );
        }
    }

    #[test]
    fn a_proof_with_an_unusable_htu_is_refused() {
        for htu in [
            "/token",
            "as.example.com/token",
            "ftp://as.example.com/token",
            "https://as.example.com/to\nken",
            "https:\\\\as.example.com\\token",
            "",
        ] {
            refused_proof(
                &Proof::es256().claim("htu", json!(htu)),
                "htu is not an absolute http(s) URL",
            );
        }
    }

    #[test]
    fn htu_query_and_fragment_are_ignored() {
        let htu = format!(
            "{URL}?allthedoorsonthisspaceshiphavebeen#programmedtohaveacheeryandsunnydisposition"
        );
        accepted_proof(&Proof::es256().claim("htu", json!(htu)));
        // and the request's own query too.
        let proof = Proof::es256().sign();
        let req = DpopRequest {
            url: "https://as.example.com/token?x=1",
            ..request(&proof)
        };
        accepted(&req);
    }

    #[test]
    fn htu_scheme_and_host_compare_case_insensitively() {
        for htu in [
            "HTTPS://AS.EXAMPLE.COM/token",
            "Https://As.Example.Com/token",
        ] {
            accepted_proof(&Proof::es256().claim("htu", json!(htu)));
        }
    }

    #[test]
    fn htu_with_the_default_port_is_accepted() {
        accepted_proof(&Proof::es256().claim("htu", json!("https://as.example.com:443/token")));
        let proof = Proof::es256()
            .claim("htu", json!("http://localhost:80/token"))
            .sign();
        let req = DpopRequest {
            url: "http://localhost/token",
            ..request(&proof)
        };
        accepted(&req);
        // A non-default port is kept on both sides.
        let proof = Proof::es256()
            .claim("htu", json!("https://localhost:8443/token"))
            .sign();
        let req = DpopRequest {
            url: "https://LOCALHOST:8443/token",
            ..request(&proof)
        };
        accepted(&req);
    }

    #[test]
    fn a_request_url_that_is_not_absolute_is_a_server_fault() {
        let proof = Proof::es256().sign();
        let req = DpopRequest {
            url: "/token",
            ..request(&proof)
        };
        assert_eq!(validate(&req).unwrap_err().code, ErrorCode::ServerError);
    }

    #[test]
    fn a_proof_without_iat_is_refused() {
        refused_proof(&Proof::es256().without_claim("iat"), "no iat");
        refused_proof(
            &Proof::es256().claim("iat", json!(NOW.to_string())),
            "iat is not a NumericDate",
        );
        refused_proof(
            &Proof::es256().claim("iat", json!(u64::MAX)),
            "iat is not a NumericDate",
        );
    }

    #[test]
    fn an_iat_one_hour_off_is_refused() {
        refused_proof(
            &Proof::es256().claim("iat", json!(NOW - 3600)),
            "iat is too far in the past",
        );
        refused_proof(
            &Proof::es256().claim("iat", json!(NOW + 3600)),
            "iat is in the future",
        );
    }

    #[test]
    fn an_iat_ten_seconds_before_or_after_now_is_accepted() {
        // ensure-dpopproof-with-iat-10seconds-{before,after}-succeeds
        assert_eq!(
            accepted_proof(&Proof::es256().claim("iat", json!(NOW - 10))).iat,
            NOW - 10
        );
        assert_eq!(
            accepted_proof(&Proof::es256().claim("iat", json!(NOW + 10))).iat,
            NOW + 10
        );
    }

    #[test]
    fn iat_leeways_are_inclusive_bounds() {
        let policy = DpopPolicy::default();
        let past = NOW - policy.iat_leeway_past;
        let future = NOW + policy.iat_leeway_future;
        accepted_proof(&Proof::es256().claim("iat", json!(past)));
        accepted_proof(&Proof::es256().claim("iat", json!(future)));
        refused_proof(
            &Proof::es256().claim("iat", json!(past - 1)),
            "too far in the past",
        );
        refused_proof(
            &Proof::es256().claim("iat", json!(future + 1)),
            "in the future",
        );
    }

    #[test]
    fn a_fractional_iat_is_rounded_down() {
        let proof = Proof::es256().claim("iat", json!(NOW as f64 + 0.75));
        assert_eq!(accepted_proof(&proof).iat, NOW);
    }

    #[test]
    fn nbf_and_exp_are_accepted_when_current() {
        // check-dpop-proof-nbf-exp: nbf now, exp five minutes ahead.
        let proof = Proof::es256()
            .claim("nbf", json!(NOW))
            .claim("exp", json!(NOW + 300));
        accepted_proof(&proof);
    }

    #[test]
    fn an_expired_or_not_yet_valid_proof_is_refused() {
        refused_proof(&Proof::es256().claim("exp", json!(NOW - 60)), "expired");
        refused_proof(
            &Proof::es256().claim("nbf", json!(NOW + 60)),
            "not valid yet",
        );
        refused_proof(
            &Proof::es256().claim("exp", json!("soon")),
            "exp is not a NumericDate",
        );
    }

    // Access token hash.

    #[test]
    fn ath_is_the_base64url_sha256_of_the_access_token() {
        // RFC 9449 section 7.1.
        assert_eq!(
            b64url(&sha256(TOKEN.as_bytes())),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn a_matching_ath_is_accepted_with_an_access_token() {
        let proof = Proof::es256()
            .claim("ath", json!("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"))
            .claim("htm", json!("GET"))
            .sign();
        let req = DpopRequest {
            method: "GET",
            access_token: Some(TOKEN),
            ..request(&proof)
        };
        accepted(&req);
    }

    #[test]
    fn a_proof_without_ath_is_refused_with_an_access_token() {
        let proof = Proof::es256().sign();
        let req = DpopRequest {
            access_token: Some(TOKEN),
            ..request(&proof)
        };
        refused(&req, "no ath");
    }

    #[test]
    fn a_wrong_ath_is_refused() {
        for ath in [
            json!(b64url(&sha256(b"another token"))),
            json!("fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo="),
            json!(TOKEN),
            json!(1),
        ] {
            let proof = Proof::es256().claim("ath", ath).sign();
            let req = DpopRequest {
                access_token: Some(TOKEN),
                ..request(&proof)
            };
            refused(&req, "ath");
        }
    }

    #[test]
    fn ath_is_ignored_without_an_access_token() {
        accepted_proof(&Proof::es256().claim("ath", json!("not the hash of anything")));
    }

    // Key binding.

    #[test]
    fn a_proof_by_the_expected_key_is_accepted() {
        let proof = Proof::es256().sign();
        let jkt = EC.jkt();
        let req = DpopRequest {
            expected_jkt: Some(&jkt),
            ..request(&proof)
        };
        assert_eq!(accepted(&req).jkt, jkt);
    }

    #[test]
    fn a_proof_by_another_key_than_the_expected_one_is_refused() {
        let proof = Proof::new("ES256", &EC_OTHER, SignWith::Es256(&EC_OTHER)).sign();
        let jkt = EC.jkt();
        let req = DpopRequest {
            expected_jkt: Some(&jkt),
            ..request(&proof)
        };
        refused(&req, "signed by another key");
        let proof = Proof::ps256().sign();
        let req = DpopRequest {
            expected_jkt: Some(&jkt),
            ..request(&proof)
        };
        refused(&req, "signed by another key");
    }

    // Server nonces.

    const WINDOW: i64 = 120;

    fn nonce_policy() -> DpopPolicy {
        DpopPolicy {
            require_nonce: true,
            ..DpopPolicy::default()
        }
    }

    fn nonces() -> DpopNonces {
        DpopNonces::new(Zeroizing::new([42u8; 32]), WINDOW)
    }

    /// A proof carrying `nonce`, validated at `now` against [`nonces`] under the nonce policy.
    fn with_nonce(nonce: Value, now: UnixTime) -> Result<Option<DpopProof>, OAuthError> {
        let proof = Proof::es256()
            .claim("nonce", nonce)
            .claim("iat", json!(now))
            .sign();
        let nonces = nonces();
        let req = DpopRequest {
            nonce: Some(&nonces),
            ..request(&proof)
        };
        validate_proof(&req, &nonce_policy(), now)
    }

    #[test]
    fn the_current_nonce_is_accepted_when_required() {
        let current = nonces().current(NOW);
        assert!(matches!(with_nonce(json!(current), NOW), Ok(Some(_))));
    }

    #[test]
    fn a_nonce_lives_through_its_window_and_the_next() {
        let window_start = NOW - NOW.rem_euclid(WINDOW);
        let issued = nonces().current(window_start);
        for later in [0, 1, WINDOW - 1, WINDOW, 2 * WINDOW - 1] {
            assert!(
                with_nonce(json!(issued), window_start + later).is_ok(),
                "{later} s after issue"
            );
        }
        for later in [2 * WINDOW, 3 * WINDOW, 100 * WINDOW] {
            let e = with_nonce(json!(issued), window_start + later).unwrap_err();
            assert_eq!(e.code, ErrorCode::UseDpopNonce, "{later} s after issue");
        }
        // A nonce of a later window is not accepted early.
        let future = nonces().current(window_start + 2 * WINDOW);
        let e = with_nonce(json!(future), window_start).unwrap_err();
        assert_eq!(e.code, ErrorCode::UseDpopNonce);
    }

    #[test]
    fn nonces_change_with_the_window_and_the_key() {
        let n = nonces();
        assert_eq!(n.current(NOW), n.current(NOW));
        assert_ne!(n.current(NOW), n.current(NOW + 2 * WINDOW));
        let other = DpopNonces::new(Zeroizing::new([43u8; 32]), WINDOW);
        assert_ne!(n.current(NOW), other.current(NOW));
        assert!(!n.accepts(&other.current(NOW), NOW));
        // Usable as a header value and a JSON string: base64url, 256 bits.
        let current = n.current(NOW);
        assert_eq!(b64url_decode(&current).map(|b| b.len()), Some(32));
        assert!(!format!("{n:?}").contains(&format!("{:?}", [42u8; 32])));
    }

    #[test]
    fn a_missing_nonce_asks_for_one() {
        let proof = Proof::es256().sign();
        let nonces = nonces();
        let req = DpopRequest {
            nonce: Some(&nonces),
            ..request(&proof)
        };
        refused_with(
            &req,
            &nonce_policy(),
            ErrorCode::UseDpopNonce,
            "server nonce",
        );
        // No nonce source: nothing is accepted, the caller's error carries one.
        let proof = Proof::es256()
            .claim("nonce", json!(nonces.current(NOW)))
            .sign();
        let req = DpopRequest {
            nonce: None,
            ..request(&proof)
        };
        refused_with(
            &req,
            &nonce_policy(),
            ErrorCode::UseDpopNonce,
            "not the current",
        );
    }

    #[test]
    fn a_stale_or_foreign_nonce_asks_for_a_new_one() {
        let stale = nonces().current(NOW - 3 * WINDOW);
        for nonce in [json!(stale), json!(""), json!(1), json!("n-0")] {
            let e = with_nonce(nonce.clone(), NOW).unwrap_err();
            assert_eq!(e.code, ErrorCode::UseDpopNonce, "{nonce}");
            assert!(e.description().unwrap().contains("not the current"), "{e}");
        }
    }

    #[test]
    fn an_invalid_proof_is_refused_before_asking_for_a_nonce() {
        let proof = Proof::es256().claim("htm", json!("GET")).sign();
        let nonces = nonces();
        let req = DpopRequest {
            nonce: Some(&nonces),
            ..request(&proof)
        };
        refused_with(&req, &nonce_policy(), ErrorCode::InvalidDpopProof, "htm");
    }

    #[test]
    fn nonces_are_ignored_when_not_required() {
        let proof = Proof::es256().claim("nonce", json!("n-0")).sign();
        let nonces = nonces();
        let req = DpopRequest {
            nonce: Some(&nonces),
            ..request(&proof)
        };
        accepted(&req);
    }

    // Thumbprints and htu normalisation.

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 section 3.1.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn rfc9449_example_ec_thumbprint() {
        // RFC 9449 sections 4.1 and 6.1: the example proof key and its `cnf.jkt`.
        let jwk = json!({
            "kty": "EC",
            "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
            "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
            "crv": "P-256"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        );
    }

    #[test]
    fn thumbprints_need_the_required_members_of_rsa_or_ec() {
        let missing_y = json!({"kty": "EC", "crv": "P-256", "x": "AA"});
        assert_eq!(jwk_thumbprint(missing_y.as_object().unwrap()), None);
        let oct = json!({"kty": "oct", "k": "AA"});
        assert_eq!(jwk_thumbprint(oct.as_object().unwrap()), None);
        // Members outside the thumbprint do not change it.
        let mut with_extras = EC.public.clone();
        with_extras.insert("kid".to_owned(), json!("k1"));
        with_extras.insert("use".to_owned(), json!("sig"));
        assert_eq!(jwk_thumbprint(&with_extras), Some(EC.jkt()));
    }

    #[test]
    fn normalize_htu_examples() {
        let n = |url: &str| normalize_htu(url);
        let expected = Some("https://as.example.com/token".to_owned());
        assert_eq!(n("https://as.example.com/token"), expected);
        assert_eq!(n("HTTPS://AS.Example.COM:443/token?a=b#frag"), expected);
        assert_eq!(n("https://as.example.com/a/../token"), expected);
        assert_eq!(
            n("https://as.example.com"),
            Some("https://as.example.com/".to_owned())
        );
        assert_eq!(
            n("http://as.example.com:80/x"),
            Some("http://as.example.com/x".to_owned())
        );
        assert_eq!(
            n("https://as.example.com:80/x"),
            Some("https://as.example.com:80/x".to_owned())
        );
        assert_eq!(
            n("https://as.example.com/Token"),
            Some("https://as.example.com/Token".to_owned())
        );
        assert_eq!(
            n("https://[::1]:8443/token"),
            Some("https://[::1]:8443/token".to_owned())
        );
        for bad in [
            "",
            "/token",
            "urn:x:y",
            "mailto:a@b",
            "file:///etc/passwd",
            "https:// as/x",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_debug_redacts_the_access_token() {
        let req = DpopRequest {
            access_token: Some(TOKEN),
            ..request("")
        };
        assert!(!format!("{req:?}").contains(TOKEN));
    }
}
