//! A registered client as the protocol sees it: its record's metadata parsed and typed.

use serde_json::Value;

use super::error::{ErrorCode, OAuthError};
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
