//! Registered OAuth clients (TPPs): RFC 7591 metadata as JSON, a profile, and a secret hash for the
//! few plain-OIDC clients that use one.

use async_trait::async_trait;

use super::{Store, StoreError, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Active,
    Suspended,
}

impl ClientStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Active => "active",
            ClientStatus::Suspended => "suspended",
        }
    }
}

impl TryFrom<String> for ClientStatus {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "active" => Ok(ClientStatus::Active),
            "suspended" => Ok(ClientStatus::Suspended),
            other => Err(StoreError::Corrupt(format!(
                "unknown client status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRecord {
    pub client_id: String,
    pub client_name: Option<String>,
    pub profile: String,
    /// RFC 7591 metadata, JSON.
    pub metadata: String,
    /// SHA-256 of the client secret, for the methods that use one.
    pub secret_hash: Option<Vec<u8>>,
    #[sqlx(try_from = "String")]
    pub status: ClientStatus,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

#[async_trait]
pub trait ClientStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()>;
    async fn client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>>;
}

const CLIENT_COLUMNS: &str =
    "client_id, client_name, profile, metadata, secret_hash, status, created_at, updated_at";

pub(super) const INSERT_CLIENT: &str = "INSERT INTO clients (client_id, client_name, profile, metadata, \
     secret_hash, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Binds a [`ClientRecord`] to [`INSERT_CLIENT`]'s placeholders, for either backend.
macro_rules! bind_client {
    ($query:expr, $c:expr) => {
        $query
            .bind(&$c.client_id)
            .bind(&$c.client_name)
            .bind(&$c.profile)
            .bind(&$c.metadata)
            .bind(&$c.secret_hash)
            .bind($c.status.as_str())
            .bind($c.created_at)
            .bind($c.updated_at)
    };
}
pub(super) use bind_client;

#[async_trait]
impl ClientStore for Store {
    async fn insert_client(&self, c: &ClientRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_client!(sqlx::query(INSERT_CLIENT), c)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(client_id)
            .fetch_optional(pool)
            .await?))
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?))
    }
}
