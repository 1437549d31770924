//! A registered client as the protocol sees it: its record's metadata parsed and typed.

use serde_json::Value;
use url::Url;

use super::encryption::IdTokenEncryption;
use super::error::{ErrorCode, OAuthError};
use super::jose::JwtRejection;
use crate::app::App;
use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::registration::metadata::{AuthMethod, ClientMetadata, Profile};
use crate::store::{ClientRecord, ClientStatus};

#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: Option<String>,
    pub profile: Profile,
    pub metadata: ClientMetadata,
    pub secret_hash: Option<Vec<u8>>,
}

impl Client {
    /// The client of a stored record; a suspended client is `unauthorized_client`.
    pub fn from_record(record: ClientRecord) -> Result<Self, OAuthError> {
        if record.status != ClientStatus::Active {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client is suspended",
            ));
        }
        let metadata = ClientMetadata::parse(&record.metadata).map_err(|e| {
            OAuthError::internal(format!("stored metadata of {}: {e}", record.client_id))
        })?;
        let profile = metadata.profile();
        Ok(Self {
            client_id: record.client_id,
            name: record.client_name,
            profile,
            metadata,
            secret_hash: record.secret_hash,
        })
    }

    pub fn auth_method(&self) -> AuthMethod {
        self.metadata
            .token_endpoint_auth_method
            .unwrap_or(AuthMethod::PrivateKeyJwt)
    }

    /// The client's inline JWKS (`jwks`); an empty set when it registered none.
    pub fn jwks(&self) -> Value {
        self.metadata
            .jwks
            .clone()
            .unwrap_or_else(|| serde_json::json!({ "keys": [] }))
    }

    /// The URL the client publishes its key set at, when it registered one instead of `jwks`.
    pub fn jwks_uri(&self) -> Option<&Url> {
        self.metadata.jwks_uri.as_ref()
    }

    /// Whether client authentication needs the client's key set (`private_key_jwt`, and the
    /// certificates of `self_signed_tls_client_auth`).
    pub fn authenticates_with_keys(&self) -> bool {
        matches!(
            self.auth_method(),
            AuthMethod::PrivateKeyJwt | AuthMethod::SelfSignedTlsClientAuth
        )
    }

    /// How the client's id tokens are encrypted (`id_token_encrypted_response_alg` and `_enc`),
    /// if at all. Values this server does not support are a fault of the stored registration.
    pub fn id_token_encryption(&self) -> Result<Option<IdTokenEncryption>, OAuthError> {
        IdTokenEncryption::from_metadata(&self.metadata.other).map_err(|e| {
            OAuthError::internal(format!("stored metadata of {}: {e}", self.client_id))
        })
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.metadata.grant_types.iter().any(|g| g == grant_type)
    }

    pub fn allows_response_type(&self, response_type: &str) -> bool {
        self.metadata
            .response_types
            .iter()
            .any(|r| r == response_type)
    }

    /// The scopes the client may ask for; all of `openid accounts payments` when it registered
    /// no `scope`.
    pub fn allowed_scopes(&self) -> Vec<String> {
        self.metadata
            .scope
            .as_deref()
            .unwrap_or("openid accounts payments")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    fn alg(value: Option<&String>) -> SigningAlg {
        match value.map(String::as_str) {
            Some("ES256") => SigningAlg::ES256,
            _ => SigningAlg::PS256,
        }
    }

    pub fn id_token_alg(&self) -> SigningAlg {
        Self::alg(self.metadata.id_token_signed_response_alg.as_ref())
    }

    pub fn jarm_alg(&self) -> SigningAlg {
        Self::alg(self.metadata.authorization_signed_response_alg.as_ref())
    }

    /// Whether access tokens must be bound to the client certificate.
    pub fn mtls_bound(&self) -> bool {
        self.metadata
            .tls_client_certificate_bound_access_tokens
            .unwrap_or(self.profile != Profile::Oidc && !self.dpop_bound())
    }

    pub fn dpop_bound(&self) -> bool {
        self.metadata.dpop_bound_access_tokens.unwrap_or(false)
    }
}

/// What a client's key set is wanted for: decides the error when it cannot be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// `invalid_client`.
    ClientAuthentication,
    /// `invalid_request_object`.
    RequestObject,
    /// A server error (logged): the id token cannot be delivered.
    IdTokenEncryption,
}

/// The client's key set: its `jwks`, or the one at its `jwks_uri` (cached; with `refresh`, asked
/// for again, at most once a minute). An empty set when it registered neither.
pub async fn client_jwks(
    app: &App,
    client: &Client,
    purpose: KeyPurpose,
    refresh: bool,
    now: UnixTime,
) -> Result<Value, OAuthError> {
    let Some(uri) = client.jwks_uri() else {
        return Ok(client.jwks());
    };
    let fetched = if refresh {
        app.jwks_fetcher.refetch(uri, now).await
    } else {
        app.jwks_fetcher.keys(uri, now).await
    };
    fetched.map_err(|e| {
        let description = "the client's key set cannot be obtained from its jwks_uri";
        match purpose {
            KeyPurpose::IdTokenEncryption => OAuthError::internal(format!(
                "jwks_uri {uri} of client {}: {e}",
                client.client_id
            )),
            KeyPurpose::ClientAuthentication | KeyPurpose::RequestObject => {
                tracing::warn!(client_id = %client.client_id, jwks_uri = %uri, error = %e, "jwks_uri fetch failed");
                let code = if purpose == KeyPurpose::RequestObject {
                    ErrorCode::InvalidRequestObject
                } else {
                    ErrorCode::InvalidClient
                };
                OAuthError::new(code, description)
            }
        }
    })
}

/// Runs `use_keys` with the client's key set. When it fails for want of a key and the set came
/// from a `jwks_uri`, the set is fetched again (the client may have rotated) and, if it changed,
/// `use_keys` runs once more.
pub async fn with_client_keys<T>(
    app: &App,
    client: &Client,
    purpose: KeyPurpose,
    now: UnixTime,
    use_keys: impl Fn(&Value) -> Result<T, JwtRejection>,
) -> Result<T, OAuthError> {
    let keys = client_jwks(app, client, purpose, false, now).await?;
    match use_keys(&keys) {
        Err(rejection) if rejection.key_refresh_may_help() && client.jwks_uri().is_some() => {
            match client_jwks(app, client, purpose, true, now).await {
                Ok(fresh) if fresh != keys => use_keys(&fresh).map_err(JwtRejection::into_oauth),
                // Unchanged, or not to be had now: the first answer stands.
                _ => Err(rejection.into_oauth()),
            }
        }
        other => other.map_err(JwtRejection::into_oauth),
    }
}
