//! Encrypted id tokens (OpenID Connect Core 10.2, OpenID Connect Registration 2): a client that
//! registered `id_token_encrypted_response_alg` gets its signed id token nested in a compact JWE
//! (`cty: JWT`) encrypted to one of its keys.
//!
//! Supported: `RSA-OAEP-256` (to an RSA key of at least 2048 bits) and `ECDH-ES` (to an EC or OKP
//! key), with `A128CBC-HS256` (the default when `id_token_encrypted_response_enc` is absent) or
//! `A256GCM`. The key is taken from the client's JWKS: its `kty` fits the algorithm, its `use` is
//! `enc` or absent, its `alg` absent or the same; keys marked `use: enc` are preferred.

use josekit::jwe::{ECDH_ES, JweEncrypter, JweHeader, RSA_OAEP_256};
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

use super::client::{Client, KeyPurpose, with_client_keys};
use super::error::OAuthError;
use super::jose::JwtRejection;
use crate::app::App;
use crate::clock::UnixTime;

/// The registration member naming the key management algorithm.
pub const ALG_MEMBER: &str = "id_token_encrypted_response_alg";
/// The registration member naming the content encryption algorithm.
pub const ENC_MEMBER: &str = "id_token_encrypted_response_enc";

/// Why an id token could not be encrypted. Messages name algorithms, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptionError {
    #[error("{member} {value} is not supported")]
    Unsupported { member: &'static str, value: String },
    #[error("{0} is not a string")]
    NotAString(&'static str),
    #[error("{ENC_MEMBER} is given without {ALG_MEMBER}")]
    EncWithoutAlg,
    #[error("the client's key set is not a JWKS")]
    BadJwks,
    #[error("no key of the client can receive {0}")]
    NoKey(&'static str),
    #[error("the JWE could not be made: {0}")]
    Jose(String),
}

/// The key management algorithm (`alg` of the JWE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyManagement {
    RsaOaep256,
    EcdhEs,
}

impl KeyManagement {
    pub fn parse(value: &str) -> Result<Self, EncryptionError> {
        match value {
            "RSA-OAEP-256" => Ok(KeyManagement::RsaOaep256),
            "ECDH-ES" => Ok(KeyManagement::EcdhEs),
            other => Err(EncryptionError::Unsupported {
                member: ALG_MEMBER,
                value: other.chars().take(32).collect(),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyManagement::RsaOaep256 => "RSA-OAEP-256",
            KeyManagement::EcdhEs => "ECDH-ES",
        }
    }

    fn fits_kty(self, kty: &str) -> bool {
        match self {
            KeyManagement::RsaOaep256 => kty == "RSA",
            KeyManagement::EcdhEs => kty == "EC" || kty == "OKP",
        }
    }

    fn encrypter(self, jwk: &Jwk) -> Option<Box<dyn JweEncrypter>> {
        match self {
            KeyManagement::RsaOaep256 => RSA_OAEP_256
                .encrypter_from_jwk(jwk)
                .ok()
                .map(|e| Box::new(e) as Box<dyn JweEncrypter>),
            KeyManagement::EcdhEs => ECDH_ES
                .encrypter_from_jwk(jwk)
                .ok()
                .map(|e| Box::new(e) as Box<dyn JweEncrypter>),
        }
    }
}

/// The content encryption algorithm (`enc` of the JWE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentEncryption {
    /// The OpenID Connect default.
    #[default]
    A128CbcHs256,
    A256Gcm,
}

impl ContentEncryption {
    pub fn parse(value: &str) -> Result<Self, EncryptionError> {
        match value {
            "A128CBC-HS256" => Ok(ContentEncryption::A128CbcHs256),
            "A256GCM" => Ok(ContentEncryption::A256Gcm),
            other => Err(EncryptionError::Unsupported {
                member: ENC_MEMBER,
                value: other.chars().take(32).collect(),
            }),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncryption::A128CbcHs256 => "A128CBC-HS256",
            ContentEncryption::A256Gcm => "A256GCM",
        }
    }
}

/// How a client's id tokens are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdTokenEncryption {
    pub alg: KeyManagement,
    pub enc: ContentEncryption,
}

impl IdTokenEncryption {
    /// What the client's registration members ask for: `None` when it asked for no encryption.
    pub fn from_metadata(members: &Map<String, Value>) -> Result<Option<Self>, EncryptionError> {
        let text = |name: &'static str| match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(EncryptionError::NotAString(name)),
        };
        let (alg, enc) = (text(ALG_MEMBER)?, text(ENC_MEMBER)?);
        match (alg, enc) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(EncryptionError::EncWithoutAlg),
            (Some(alg), enc) => Ok(Some(Self {
                alg: KeyManagement::parse(alg)?,
                enc: enc
                    .map(ContentEncryption::parse)
                    .transpose()?
                    .unwrap_or_default(),
            })),
        }
    }
}

/// The client's keys that may receive `alg`, keys marked `use: enc` first.
fn candidate_keys(
    jwks: &Value,
    alg: KeyManagement,
) -> Result<Vec<&Map<String, Value>>, EncryptionError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(EncryptionError::BadJwks)?;
    let absent_or = |key: &Map<String, Value>, name: &str, wanted: &str| match key.get(name) {
        None | Some(Value::Null) => true,
        Some(value) => value.as_str() == Some(wanted),
    };
    let mut fitting: Vec<&Map<String, Value>> = keys
        .iter()
        .filter_map(Value::as_object)
        .filter(|key| {
            key.get("kty")
                .and_then(Value::as_str)
                .is_some_and(|kty| alg.fits_kty(kty))
        })
        .filter(|key| absent_or(key, "use", "enc") && absent_or(key, "alg", alg.as_str()))
        .collect();
    // A stable sort keeps the client's order among keys of one kind.
    fitting.sort_by_key(|key| key.get("use").is_none());
    Ok(fitting)
}

/// Nests the compact JWT `jwt` in a compact JWE to a key of `jwks` (`{"keys": [...]}`).
pub fn encrypt_jwt(
    jwt: &str,
    jwks: &Value,
    how: IdTokenEncryption,
) -> Result<String, EncryptionError> {
    let (key, encrypter) = candidate_keys(jwks, how.alg)?
        .into_iter()
        .find_map(|key| {
            let jwk = Jwk::from_map(key.clone()).ok()?;
            let encrypter = how.alg.encrypter(&jwk)?;
            Some((jwk, encrypter))
        })
        .ok_or(EncryptionError::NoKey(how.alg.as_str()))?;
    let mut header = JweHeader::new();
    header.set_algorithm(how.alg.as_str());
    header.set_content_encryption(how.enc.as_str());
    header.set_content_type("JWT");
    if let Some(kid) = key.key_id() {
        header.set_key_id(kid);
    }
    josekit::jwe::serialize_compact(jwt.as_bytes(), &header, encrypter.as_ref())
        .map_err(|e| EncryptionError::Jose(e.to_string()))
}

/// The id token as the client receives it: `signed` as it is, or encrypted to the client's key
/// when it registered `id_token_encrypted_response_alg`. A key set from a `jwks_uri` without a
/// fitting key is fetched again once. Failures are server errors: the registration asked for
/// something the client's keys cannot give.
pub async fn encrypt_id_token(
    app: &App,
    client: &Client,
    signed: String,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let Some(how) = client.id_token_encryption()? else {
        return Ok(signed);
    };
    with_client_keys(app, client, KeyPurpose::IdTokenEncryption, now, |jwks| {
        encrypt_jwt(&signed, jwks, how).map_err(|e| {
            let error = OAuthError::internal(format!(
                "encrypting the id token of {}: {e}",
                client.client_id
            ));
            match e {
                EncryptionError::NoKey(_) => JwtRejection::UnknownKey(error),
                _ => JwtRejection::Rejected(error),
            }
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use josekit::jwe::JweDecrypter;
    use josekit::jwk::KeyPair as _;
    use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
    use josekit::jwk::alg::rsa::RsaKeyPair;
    use serde_json::json;

    use super::*;

    const JWT: &str = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";

    struct Pair {
        private: Jwk,
        public: Value,
    }

    fn pair(private: Jwk, mut public: Jwk, kid: &str, key_use: Option<&str>) -> Pair {
        public.set_key_id(kid);
        if let Some(u) = key_use {
            public.set_key_use(u);
        }
        Pair {
            private,
            public: Value::Object(public.as_ref().clone()),
        }
    }

    static RSA: LazyLock<Pair> = LazyLock::new(|| {
        let p = RsaKeyPair::generate(2048).unwrap();
        pair(
            p.to_jwk_private_key(),
            p.to_jwk_public_key(),
            "rsa-enc",
            Some("enc"),
        )
    });

    static EC: LazyLock<Pair> = LazyLock::new(|| {
        let p = EcKeyPair::generate(EcCurve::P256).unwrap();
        pair(
            p.to_jwk_private_key(),
            p.to_jwk_public_key(),
            "ec-enc",
            None,
        )
    });

    fn decrypt(jwe: &str, decrypter: &dyn JweDecrypter) -> (String, JweHeader) {
        let (payload, header) = josekit::jwe::deserialize_compact(jwe, decrypter).unwrap();
        (String::from_utf8(payload).unwrap(), header)
    }

    fn members(alg: Option<&str>, enc: Option<&str>) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(a) = alg {
            m.insert(ALG_MEMBER.into(), a.into());
        }
        if let Some(e) = enc {
            m.insert(ENC_MEMBER.into(), e.into());
        }
        m
    }

    #[test]
    fn rsa_oaep_256_with_a256gcm_round_trips() {
        let how = IdTokenEncryption {
            alg: KeyManagement::RsaOaep256,
            enc: ContentEncryption::A256Gcm,
        };
        let jwks = json!({ "keys": [EC.public, RSA.public] });
        let jwe = encrypt_jwt(JWT, &jwks, how).unwrap();
        assert_eq!(jwe.split('.').count(), 5);
        let decrypter = RSA_OAEP_256.decrypter_from_jwk(&RSA.private).unwrap();
        let (payload, header) = decrypt(&jwe, &decrypter);
        assert_eq!(payload, JWT);
        assert_eq!(header.algorithm(), Some("RSA-OAEP-256"));
        assert_eq!(header.content_encryption(), Some("A256GCM"));
        assert_eq!(header.content_type(), Some("JWT"));
        assert_eq!(header.key_id(), Some("rsa-enc"));
    }

    #[test]
    fn ecdh_es_with_the_default_enc_round_trips() {
        let how = IdTokenEncryption::from_metadata(&members(Some("ECDH-ES"), None))
            .unwrap()
            .unwrap();
        assert_eq!(how.enc, ContentEncryption::A128CbcHs256);
        let jwks = json!({ "keys": [RSA.public, EC.public] });
        let jwe = encrypt_jwt(JWT, &jwks, how).unwrap();
        let decrypter = ECDH_ES.decrypter_from_jwk(&EC.private).unwrap();
        let (payload, header) = decrypt(&jwe, &decrypter);
        assert_eq!(payload, JWT);
        assert_eq!(header.algorithm(), Some("ECDH-ES"));
        assert_eq!(header.content_encryption(), Some("A128CBC-HS256"));
        assert_eq!(header.content_type(), Some("JWT"));
        assert_eq!(header.key_id(), Some("ec-enc"));
    }

    #[test]
    fn without_a_fitting_key_nothing_is_encrypted() {
        let rsa = IdTokenEncryption {
            alg: KeyManagement::RsaOaep256,
            enc: ContentEncryption::A256Gcm,
        };
        let ecdh = IdTokenEncryption {
            alg: KeyManagement::EcdhEs,
            ..rsa
        };
        // Only an EC key for RSA-OAEP-256, only an RSA key for ECDH-ES.
        assert_eq!(
            encrypt_jwt(JWT, &json!({ "keys": [EC.public] }), rsa),
            Err(EncryptionError::NoKey("RSA-OAEP-256"))
        );
        assert_eq!(
            encrypt_jwt(JWT, &json!({ "keys": [RSA.public] }), ecdh),
            Err(EncryptionError::NoKey("ECDH-ES"))
        );
        // Signing keys and keys for another algorithm are not used.
        let mut sig = RSA.public.clone();
        sig["use"] = "sig".into();
        let mut other_alg = RSA.public.clone();
        other_alg["alg"] = "RSA-OAEP".into();
        assert_eq!(
            encrypt_jwt(JWT, &json!({ "keys": [sig, other_alg] }), rsa),
            Err(EncryptionError::NoKey("RSA-OAEP-256"))
        );
        assert_eq!(
            encrypt_jwt(JWT, &json!({ "keys": [] }), rsa),
            Err(EncryptionError::NoKey("RSA-OAEP-256"))
        );
        assert_eq!(
            encrypt_jwt(JWT, &json!({}), rsa),
            Err(EncryptionError::BadJwks)
        );
    }

    #[test]
    fn keys_marked_for_encryption_come_first() {
        let how = IdTokenEncryption {
            alg: KeyManagement::RsaOaep256,
            enc: ContentEncryption::A256Gcm,
        };
        let other = RsaKeyPair::generate(2048).unwrap();
        let mut unmarked = other.to_jwk_public_key();
        unmarked.set_key_id("unmarked");
        let jwks = json!({ "keys": [Value::Object(unmarked.as_ref().clone()), RSA.public] });
        let jwe = encrypt_jwt(JWT, &jwks, how).unwrap();
        let decrypter = RSA_OAEP_256.decrypter_from_jwk(&RSA.private).unwrap();
        assert_eq!(decrypt(&jwe, &decrypter).1.key_id(), Some("rsa-enc"));
    }

    #[test]
    fn registration_members_are_parsed_strictly() {
        assert_eq!(IdTokenEncryption::from_metadata(&Map::new()), Ok(None));
        assert_eq!(
            IdTokenEncryption::from_metadata(&members(Some("RSA-OAEP-256"), Some("A256GCM"))),
            Ok(Some(IdTokenEncryption {
                alg: KeyManagement::RsaOaep256,
                enc: ContentEncryption::A256Gcm,
            }))
        );
        for (alg, enc) in [
            (Some("RSA1_5"), None),
            (Some("RSA-OAEP"), None),
            (Some("dir"), None),
            (Some("RSA-OAEP-256"), Some("A128GCM")),
            (Some("ECDH-ES"), Some("A256CBC-HS512")),
        ] {
            assert!(
                matches!(
                    IdTokenEncryption::from_metadata(&members(alg, enc)),
                    Err(EncryptionError::Unsupported { .. })
                ),
                "{alg:?} {enc:?}"
            );
        }
        assert_eq!(
            IdTokenEncryption::from_metadata(&members(None, Some("A256GCM"))),
            Err(EncryptionError::EncWithoutAlg)
        );
        let mut not_text = Map::new();
        not_text.insert(ALG_MEMBER.into(), json!(1));
        assert_eq!(
            IdTokenEncryption::from_metadata(&not_text),
            Err(EncryptionError::NotAString(ALG_MEMBER))
        );
    }
}
