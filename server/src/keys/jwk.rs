//! Signing-key material as JWKs: generation, RFC 7638 thumbprints, the public projection, and
//! signers built from a private JWK.

use std::sync::Arc;

use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::{ES256, JwsSigner, PS256};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::{KeyError, SigningAlg, one_line};
use crate::crypto::{b64url, sha256};

/// The smallest RSA modulus FAPI accepts.
pub(crate) const MIN_RSA_BITS: u32 = 2048;

/// Members a published JWK may carry; everything else (notably `d`, `p`, `q`, `dp`, `dq`, `qi`) is
/// dropped when projecting to the public key.
const PUBLIC_MEMBERS: [&str; 9] = ["kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"];

/// A freshly generated key pair.
pub(crate) struct GeneratedKey {
    pub kid: String,
    /// Public members plus `kid`, `use`, `alg`.
    pub public_jwk: Map<String, Value>,
    /// The whole private JWK as JSON, to be sealed.
    pub private_jwk: Zeroizing<String>,
}

/// Generates a key pair for `alg` (CPU-bound: RSA takes a noticeable fraction of a second).
pub(crate) fn generate(alg: SigningAlg, rsa_bits: u32) -> Result<GeneratedKey, KeyError> {
    let failed = |e: josekit::JoseError| KeyError::Generate {
        alg,
        reason: one_line(e),
    };
    let mut jwk = match alg {
        SigningAlg::PS256 => {
            if rsa_bits < MIN_RSA_BITS {
                return Err(KeyError::WeakRsaKey(rsa_bits));
            }
            RsaKeyPair::generate(rsa_bits)
                .map_err(failed)?
                .to_jwk_key_pair()
        }
        SigningAlg::ES256 => EcKeyPair::generate(EcCurve::P256)
            .map_err(failed)?
            .to_jwk_key_pair(),
    };
    let kid = thumbprint(jwk.as_ref()).ok_or_else(|| KeyError::Generate {
        alg,
        reason: "the generated key lacks the members of its thumbprint".to_owned(),
    })?;
    jwk.set_key_id(kid.clone());
    jwk.set_key_use("sig");
    jwk.set_algorithm(alg.as_str());
    let public_jwk = public_members(jwk.as_ref());
    let private_jwk = Zeroizing::new(jwk.to_string());
    Ok(GeneratedKey {
        kid,
        public_jwk,
        private_jwk,
    })
}

/// The RFC 7638 thumbprint (base64url SHA-256 of the required members in lexicographic order), or
/// `None` for a key type we do not sign with or a missing member.
pub(crate) fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let required: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json escapes exactly as RFC 7638 (via RFC 7159) requires; these values are
        // base64url and key-type names, which need no escaping anyway.
        canonical.push_str(&serde_json::to_string(name).ok()?);
        canonical.push(':');
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(b64url(&sha256(canonical.as_bytes())))
}

/// Only the public members of `jwk` (see [`PUBLIC_MEMBERS`]).
pub(crate) fn public_members(jwk: &Map<String, Value>) -> Map<String, Value> {
    jwk.iter()
        .filter(|(name, _)| PUBLIC_MEMBERS.contains(&name.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A signer for `alg` from the private JWK JSON. Errors say nothing about the key's contents.
pub(crate) fn signer(
    alg: SigningAlg,
    kid: &str,
    private_jwk: &[u8],
) -> Result<Arc<dyn JwsSigner>, KeyError> {
    let corrupt = |what: &str| KeyError::CorruptKey {
        kid: kid.to_owned(),
        what: what.to_owned(),
    };
    let jwk = Jwk::from_bytes(private_jwk).map_err(|_| corrupt("the private key is not a JWK"))?;
    if jwk.key_id() != Some(kid) {
        return Err(corrupt("the private key belongs to another kid"));
    }
    let signer: Arc<dyn JwsSigner> = match alg {
        SigningAlg::PS256 => Arc::new(
            PS256
                .signer_from_jwk(&jwk)
                .map_err(|_| corrupt("the private key is not a PS256 key"))?,
        ),
        SigningAlg::ES256 => Arc::new(
            ES256
                .signer_from_jwk(&jwk)
                .map_err(|_| corrupt("the private key is not an ES256 key"))?,
        ),
    };
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use josekit::jws::JwsHeader;
    use josekit::jwt::{self, JwtPayload};
    use serde_json::json;

    use super::*;

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
            thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn thumbprint_needs_the_required_members() {
        assert_eq!(
            thumbprint(
                json!({"kty": "EC", "crv": "P-256", "x": "AA"})
                    .as_object()
                    .unwrap()
            ),
            None
        );
        assert_eq!(
            thumbprint(json!({"kty": "oct", "k": "AA"}).as_object().unwrap()),
            None
        );
    }

    #[test]
    fn generated_keys_sign_and_publish_only_public_members() {
        for alg in SigningAlg::ALL {
            let key = generate(alg, MIN_RSA_BITS).unwrap();
            assert_eq!(key.public_jwk["kid"], key.kid.as_str());
            assert_eq!(key.public_jwk["alg"], alg.as_str());
            assert_eq!(key.public_jwk["use"], "sig");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(
                    !key.public_jwk.contains_key(private),
                    "{alg} publishes {private}"
                );
            }
            assert_eq!(
                thumbprint(&key.public_jwk).as_deref(),
                Some(key.kid.as_str())
            );

            let signer = signer(alg, &key.kid, key.private_jwk.as_bytes()).unwrap();
            let mut payload = JwtPayload::new();
            payload.set_subject("alice");
            let token = jwt::encode_with_signer(&payload, &JwsHeader::new(), &*signer).unwrap();
            let public = Jwk::from_map(key.public_jwk.clone()).unwrap();
            let (decoded, header) = match alg {
                SigningAlg::PS256 => {
                    jwt::decode_with_verifier(&token, &PS256.verifier_from_jwk(&public).unwrap())
                }
                SigningAlg::ES256 => {
                    jwt::decode_with_verifier(&token, &ES256.verifier_from_jwk(&public).unwrap())
                }
            }
            .unwrap();
            assert_eq!(decoded.subject(), Some("alice"));
            assert_eq!(header.key_id(), Some(key.kid.as_str()));
        }
    }

    #[test]
    fn rsa_keys_below_2048_bits_are_refused() {
        assert!(matches!(
            generate(SigningAlg::PS256, 1024),
            Err(KeyError::WeakRsaKey(1024))
        ));
    }

    #[test]
    fn signer_refuses_a_key_of_another_kid_or_alg() {
        let key = generate(SigningAlg::ES256, MIN_RSA_BITS).unwrap();
        assert!(signer(SigningAlg::ES256, "other", key.private_jwk.as_bytes()).is_err());
        assert!(signer(SigningAlg::PS256, &key.kid, key.private_jwk.as_bytes()).is_err());
        assert!(signer(SigningAlg::ES256, &key.kid, b"{not json").is_err());
    }
}
