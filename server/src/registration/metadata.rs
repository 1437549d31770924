//! RFC 7591 client metadata, parsed into a typed value and checked against the client's profile.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::clock::UnixTime;
use crate::protocol::encryption::{ALG_MEMBER, ENC_MEMBER, EncryptionError, IdTokenEncryption};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::userinfo::SIGNED_RESPONSE_ALG as USERINFO_ALG_MEMBER;
use crate::store::{ClientRecord, ClientStatus};

/// Which rules a client is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    #[serde(rename = "fapi1-advanced")]
    Fapi1Advanced,
    #[serde(rename = "fapi2-security")]
    Fapi2Security,
    #[serde(rename = "fapi2-message-signing")]
    Fapi2MessageSigning,
    #[serde(rename = "oidc")]
    Oidc,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Fapi1Advanced => "fapi1-advanced",
            Profile::Fapi2Security => "fapi2-security",
            Profile::Fapi2MessageSigning => "fapi2-message-signing",
            Profile::Oidc => "oidc",
        }
    }

    pub fn is_fapi(self) -> bool {
        self != Profile::Oidc
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    PrivateKeyJwt,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
}

impl AuthMethod {
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::ClientSecretJwt
        )
    }
}

/// The form of a client's access tokens (`access_token_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum AccessTokenFormat {
    /// A random reference (256 bits) the server looks up: nothing readable in the token.
    #[default]
    Opaque,
    /// A JWT access token (RFC 9068, `typ` `at+jwt`) signed by the server; it is recorded like an
    /// opaque one, so introspection and revocation answer for it the same way.
    Jwt,
}

impl TryFrom<String> for AccessTokenFormat {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "opaque" => Ok(Self::Opaque),
            "jwt" => Ok(Self::Jwt),
            _ => Err(format!(
                "must be opaque or jwt, not {:?}",
                value.chars().take(32).collect::<String>()
            )),
        }
    }
}

const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];
const RESPONSE_TYPES: &[&str] = &["code", "code id_token"];
const FAPI_ALGS: &[&str] = &["PS256", "ES256"];
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The metadata a client registers with. Members this server does not interpret (`logo_uri`,
/// `contacts`, ...) are kept as they came.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<String>,
    /// `opaque` or `jwt`; absent: the server's `tokens.access_token_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_format: Option<AccessTokenFormat>,
    /// Where the server pushes the client's event notifications (UK OB `POST
    /// /event-notifications`): https, to a host in `events.callback_allowed_hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_notification_uri: Option<Url>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn bad(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

impl ClientMetadata {
    /// The metadata of a JSON document; a member of the wrong type or value is named.
    pub fn parse(json: &str) -> Result<Self, OAuthError> {
        let mut de = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                bad(format!("client metadata is not valid: {inner}"))
            } else {
                bad(format!(
                    "client metadata member {path} is not valid: {inner}"
                ))
            }
        })
    }

    /// Fills defaults and checks the metadata against its profile (`default_profile` when it
    /// names none).
    pub fn validate(mut self, default_profile: Profile) -> Result<Self, OAuthError> {
        let profile = *self.profile.get_or_insert(default_profile);
        let method = *self
            .token_endpoint_auth_method
            .get_or_insert(AuthMethod::PrivateKeyJwt);
        if self.grant_types.is_empty() {
            self.grant_types.push("authorization_code".to_owned());
        }
        if self.response_types.is_empty()
            && self.grant_types.iter().any(|g| g == "authorization_code")
        {
            self.response_types.push("code".to_owned());
        }
        if let Some(g) = self
            .grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(bad(format!("grant type {g} is not supported")));
        }
        if let Some(r) = self
            .response_types
            .iter()
            .find(|r| !RESPONSE_TYPES.contains(&r.as_str()))
        {
            return Err(bad(format!("response type {r} is not supported")));
        }
        if profile.is_fapi() && method.uses_secret() {
            return Err(bad(
                "FAPI clients authenticate with private_key_jwt, tls_client_auth or self_signed_tls_client_auth",
            ));
        }
        if self.grant_types.iter().any(|g| g == "authorization_code") {
            if self.redirect_uris.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRedirectUri,
                    "redirect_uris is required",
                ));
            }
            for uri in &self.redirect_uris {
                check_redirect_uri(uri, profile)?;
            }
        }
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return Err(bad("jwks and jwks_uri cannot both be given"));
        }
        if let Some(jwks) = &self.jwks {
            check_public_jwks(jwks)?;
        }
        if let Some(uri) = &self.jwks_uri
            && uri.scheme() != "https"
        {
            return Err(bad("jwks_uri must be https"));
        }
        let has_keys = self.jwks.is_some() || self.jwks_uri.is_some();
        match method {
            AuthMethod::PrivateKeyJwt | AuthMethod::SelfSignedTlsClientAuth if !has_keys => {
                return Err(bad(
                    "this token_endpoint_auth_method needs jwks or jwks_uri",
                ));
            }
            AuthMethod::TlsClientAuth => {
                let named = [
                    &self.tls_client_auth_subject_dn,
                    &self.tls_client_auth_san_dns,
                    &self.tls_client_auth_san_uri,
                    &self.tls_client_auth_san_ip,
                    &self.tls_client_auth_san_email,
                ]
                .iter()
                .filter(|v| v.is_some())
                .count();
                if named != 1 {
                    return Err(bad(
                        "tls_client_auth needs exactly one of tls_client_auth_subject_dn or a tls_client_auth_san_* value",
                    ));
                }
            }
            _ => {}
        }
        if profile.is_fapi() {
            for (name, alg) in [
                (
                    "token_endpoint_auth_signing_alg",
                    &self.token_endpoint_auth_signing_alg,
                ),
                (
                    "id_token_signed_response_alg",
                    &self.id_token_signed_response_alg,
                ),
                (
                    "request_object_signing_alg",
                    &self.request_object_signing_alg,
                ),
                (
                    "authorization_signed_response_alg",
                    &self.authorization_signed_response_alg,
                ),
            ] {
                if let Some(alg) = alg
                    && !FAPI_ALGS.contains(&alg.as_str())
                {
                    return Err(bad(format!("{name} must be PS256 or ES256")));
                }
            }
        }
        if let Some(uri) = &self.event_notification_uri {
            crate::events::check_callback_uri(uri).map_err(bad)?;
        }
        check_userinfo_signing(&self.other)?;
        self.check_id_token_encryption(has_keys)?;
        Ok(self)
    }

    /// `id_token_encrypted_response_alg` and `_enc` (OpenID Connect Registration 2): algorithms
    /// the server encrypts with, `enc` only with `alg`, and `enc` filled in as `A128CBC-HS256`
    /// when only `alg` is given. Encryption needs the client's keys.
    fn check_id_token_encryption(&mut self, has_keys: bool) -> Result<(), OAuthError> {
        let Some(encryption) = IdTokenEncryption::from_metadata(&self.other)
            .map_err(|e| bad(encryption_problem(&e)))?
        else {
            return Ok(());
        };
        if !has_keys {
            return Err(bad(format!(
                "{ALG_MEMBER} needs jwks or jwks_uri holding a key to encrypt to"
            )));
        }
        self.other
            .insert(ENC_MEMBER.to_owned(), Value::from(encryption.enc.as_str()));
        Ok(())
    }

    pub fn profile(&self) -> Profile {
        self.profile.unwrap_or(Profile::Fapi1Advanced)
    }
}

/// What is wrong with the id token encryption members, in the words of the registration.
fn encryption_problem(e: &EncryptionError) -> String {
    match e {
        EncryptionError::Unsupported { member, value } => {
            let supported = if *member == ALG_MEMBER {
                "RSA-OAEP-256 or ECDH-ES"
            } else {
                "A128CBC-HS256 or A256GCM"
            };
            format!("{member} {value:?} is not supported: use {supported}")
        }
        EncryptionError::EncWithoutAlg => {
            format!("{ENC_MEMBER} is given without {ALG_MEMBER}")
        }
        other => other.to_string(),
    }
}

/// `userinfo_signed_response_alg`: absent for plain JSON, else an algorithm the server signs with
/// (PS256 or ES256, which every profile allows); `none` is not offered.
fn check_userinfo_signing(members: &Map<String, Value>) -> Result<(), OAuthError> {
    match members.get(USERINFO_ALG_MEMBER) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(alg)) if FAPI_ALGS.contains(&alg.as_str()) => Ok(()),
        Some(Value::String(alg)) if alg.eq_ignore_ascii_case("none") => Err(bad(format!(
            "{USERINFO_ALG_MEMBER} none is not supported: omit it for plain JSON responses, or \
             use PS256 or ES256"
        ))),
        Some(Value::String(alg)) => Err(bad(format!(
            "{USERINFO_ALG_MEMBER} {:?} is not supported: use PS256 or ES256",
            alg.chars().take(32).collect::<String>()
        ))),
        Some(_) => Err(bad(format!("{USERINFO_ALG_MEMBER} must be a string"))),
    }
}

fn check_redirect_uri(uri: &str, profile: Profile) -> Result<(), OAuthError> {
    let invalid = |why: &str| {
        OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            format!("redirect URI {uri}: {why}"),
        )
    };
    let url = Url::parse(uri).map_err(|_| invalid("not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment"));
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if profile == Profile::Oidc && loopback => Ok(()),
        _ => Err(invalid("must be https")),
    }
}

fn check_public_jwks(jwks: &Value) -> Result<(), OAuthError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("jwks must be an object with a keys array"))?;
    if keys.is_empty() {
        return Err(bad("jwks has no keys"));
    }
    for key in keys {
        let obj = key
            .as_object()
            .ok_or_else(|| bad("every jwks key must be an object"))?;
        if !obj.contains_key("kty") {
            return Err(bad("every jwks key needs kty"));
        }
        if PRIVATE_JWK_MEMBERS.iter().any(|m| obj.contains_key(*m)) {
            return Err(bad("jwks must hold public keys only"));
        }
    }
    Ok(())
}

/// A validated client ready to store, with its secret when the method uses one (shown once).
pub struct NewClient {
    pub record: ClientRecord,
    pub secret: Option<String>,
}

/// Turns validated metadata into a client record: a random `client_id` unless one is given, and a
/// random secret, stored as its hash, for secret-based methods.
pub fn new_client(metadata: ClientMetadata, now: UnixTime) -> Result<NewClient, OAuthError> {
    let mut metadata = metadata;
    let client_id = metadata
        .client_id
        .take()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if client_id.is_empty()
        || client_id.len() > 255
        || client_id.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(bad(
            "client_id must be 1 to 255 printable characters without spaces",
        ));
    }
    let secret = metadata
        .token_endpoint_auth_method
        .is_some_and(AuthMethod::uses_secret)
        .then(crate::crypto::random_token);
    let json = serde_json::to_string(&metadata).map_err(OAuthError::internal)?;
    Ok(NewClient {
        record: ClientRecord {
            client_id,
            client_name: metadata.client_name.clone(),
            profile: metadata.profile().as_str().to_owned(),
            metadata: json,
            secret_hash: secret.as_deref().map(crate::crypto::secret_hash),
            status: ClientStatus::Active,
            created_at: now,
            updated_at: now,
        },
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::json!({
            "client_name": "TPP",
            "redirect_uris": ["https://tpp.example/cb?x=1"],
            "jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "k"}]},
        })
    }

    fn validate(v: Value) -> Result<ClientMetadata, OAuthError> {
        ClientMetadata::parse(&v.to_string())?.validate(Profile::Fapi1Advanced)
    }

    #[test]
    fn defaults_are_filled() {
        let m = validate(base()).unwrap();
        assert_eq!(
            m.token_endpoint_auth_method,
            Some(AuthMethod::PrivateKeyJwt)
        );
        assert_eq!(m.grant_types, ["authorization_code"]);
        assert_eq!(m.response_types, ["code"]);
        assert_eq!(m.profile(), Profile::Fapi1Advanced);
    }

    #[test]
    fn fapi_refuses_secrets_weak_algs_and_private_keys() {
        let mut v = base();
        v["token_endpoint_auth_method"] = "client_secret_basic".into();
        assert_eq!(
            validate(v).unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );

        let mut v = base();
        v["id_token_signed_response_alg"] = "RS256".into();
        assert!(validate(v).is_err());

        let mut v = base();
        v["jwks"]["keys"][0]["d"] = "secret".into();
        assert!(
            validate(v)
                .unwrap_err()
                .description()
                .unwrap_or_default()
                .contains("public")
        );
    }

    #[test]
    fn redirect_uris_are_https_without_fragment() {
        let mut v = base();
        v["redirect_uris"] = serde_json::json!(["http://tpp.example/cb"]);
        assert_eq!(validate(v).unwrap_err().code, ErrorCode::InvalidRedirectUri);
        let mut v = base();
        v["redirect_uris"] = serde_json::json!(["https://tpp.example/cb#frag"]);
        assert_eq!(validate(v).unwrap_err().code, ErrorCode::InvalidRedirectUri);
        let mut v = base();
        v["redirect_uris"] = serde_json::json!([]);
        assert_eq!(validate(v).unwrap_err().code, ErrorCode::InvalidRedirectUri);
    }

    #[test]
    fn tls_client_auth_names_exactly_one_identity() {
        let mut v = base();
        v["token_endpoint_auth_method"] = "tls_client_auth".into();
        assert!(validate(v.clone()).is_err());
        v["tls_client_auth_subject_dn"] = "CN=tpp,O=TPP Ltd,C=GB".into();
        assert!(validate(v.clone()).is_ok());
        v["tls_client_auth_san_dns"] = "tpp.example".into();
        assert!(validate(v).is_err());
    }

    #[test]
    fn oidc_secret_clients_get_a_hashed_secret() {
        let mut v = base();
        v["profile"] = "oidc".into();
        v["token_endpoint_auth_method"] = "client_secret_basic".into();
        let m = validate(v).unwrap();
        let c = new_client(m, 100).unwrap();
        let secret = c.secret.unwrap();
        assert_eq!(
            c.record.secret_hash,
            Some(crate::crypto::secret_hash(&secret))
        );
        assert!(!c.record.metadata.contains(&secret));
        assert_eq!(c.record.profile, "oidc");
    }

    #[track_caller]
    fn refused(v: Value, words: &[&str]) {
        let e = validate(v).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata, "{e}");
        let description = e.description().unwrap_or_default();
        for w in words {
            assert!(description.contains(w), "{w:?} not in {description:?}");
        }
    }

    #[test]
    fn id_token_encryption_needs_supported_algorithms() {
        let mut v = base();
        v["id_token_encrypted_response_alg"] = "RSA-OAEP-256".into();
        let m = validate(v.clone()).unwrap();
        assert_eq!(
            m.other[ENC_MEMBER], "A128CBC-HS256",
            "enc defaults to A128CBC-HS256 (OpenID Connect Registration 2)"
        );
        v["id_token_encrypted_response_alg"] = "ECDH-ES".into();
        v["id_token_encrypted_response_enc"] = "A256GCM".into();
        assert_eq!(validate(v.clone()).unwrap().other[ENC_MEMBER], "A256GCM");

        let mut bad_alg = v.clone();
        bad_alg["id_token_encrypted_response_alg"] = "RSA1_5".into();
        refused(
            bad_alg,
            &["id_token_encrypted_response_alg", "RSA1_5", "RSA-OAEP-256"],
        );
        let mut bad_enc = v.clone();
        bad_enc["id_token_encrypted_response_enc"] = "A128GCM".into();
        refused(
            bad_enc,
            &["id_token_encrypted_response_enc", "A128GCM", "A256GCM"],
        );
        let mut enc_only = base();
        enc_only["id_token_encrypted_response_enc"] = "A256GCM".into();
        refused(enc_only, &["without id_token_encrypted_response_alg"]);
        let mut not_text = base();
        not_text["id_token_encrypted_response_alg"] = serde_json::json!(["ECDH-ES"]);
        refused(not_text, &["not a string"]);
    }

    #[test]
    fn id_token_encryption_needs_keys_to_encrypt_to() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("jwks");
        v["token_endpoint_auth_method"] = "tls_client_auth".into();
        v["tls_client_auth_subject_dn"] = "CN=tpp".into();
        assert!(validate(v.clone()).is_ok());
        v["id_token_encrypted_response_alg"] = "RSA-OAEP-256".into();
        refused(v, &["jwks"]);
    }

    #[test]
    fn userinfo_responses_are_signed_with_ps256_or_es256_or_not_at_all() {
        for profile in ["fapi1-advanced", "fapi2-security", "oidc"] {
            let mut v = base();
            v["profile"] = profile.into();
            assert!(validate(v.clone()).is_ok(), "absent: plain JSON");
            for alg in ["PS256", "ES256"] {
                v["userinfo_signed_response_alg"] = alg.into();
                assert!(validate(v.clone()).is_ok(), "{profile} {alg}");
            }
            v["userinfo_signed_response_alg"] = "RS256".into();
            refused(
                v.clone(),
                &["userinfo_signed_response_alg", "RS256", "PS256 or ES256"],
            );
            v["userinfo_signed_response_alg"] = "none".into();
            refused(v.clone(), &["none", "omit"]);
            v["userinfo_signed_response_alg"] = 256.into();
            refused(v, &["must be a string"]);
        }
    }

    #[test]
    fn access_token_format_is_opaque_or_jwt_and_kept() {
        assert_eq!(validate(base()).unwrap().access_token_format, None);
        for (value, format) in [
            ("opaque", AccessTokenFormat::Opaque),
            ("jwt", AccessTokenFormat::Jwt),
        ] {
            let mut v = base();
            v["access_token_format"] = value.into();
            let m = validate(v).unwrap();
            assert_eq!(m.access_token_format, Some(format));
            let stored = new_client(m, 1).unwrap().record.metadata;
            let back = ClientMetadata::parse(&stored).unwrap();
            assert_eq!(back.access_token_format, Some(format), "{stored}");
        }
        for value in [
            serde_json::json!("JWT"),
            serde_json::json!("reference"),
            serde_json::json!(1),
        ] {
            let mut v = base();
            v["access_token_format"] = value;
            refused(v, &["access_token_format"]);
        }
    }

    #[test]
    fn event_notification_uri_is_https_and_kept() {
        let mut v = base();
        v["event_notification_uri"] = "https://tpp.example/event-notifications".into();
        let m = validate(v.clone()).unwrap();
        let stored = new_client(m, 1).unwrap().record.metadata;
        let back = ClientMetadata::parse(&stored).unwrap();
        assert_eq!(
            back.event_notification_uri.map(String::from).as_deref(),
            Some("https://tpp.example/event-notifications")
        );
        v["event_notification_uri"] = "http://tpp.example/event-notifications".into();
        refused(v.clone(), &["event_notification_uri", "https"]);
        v["event_notification_uri"] = "not a url".into();
        refused(v, &["event_notification_uri"]);
    }

    #[test]
    fn unknown_members_are_kept() {
        let mut v = base();
        v["logo_uri"] = "https://tpp.example/logo.png".into();
        let c = new_client(validate(v).unwrap(), 1).unwrap();
        assert!(c.record.metadata.contains("logo_uri"));
    }
}
