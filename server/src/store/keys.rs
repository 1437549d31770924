//! Signing keys, their private halves sealed under the master key (see `crate::keys`).

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    /// Public JWK, JSON.
    pub public_jwk: String,
    /// Private JWK sealed with AES-256-GCM under the master key, the kid as associated data.
    pub private_jwk: Vec<u8>,
    pub created_at: UnixTime,
    /// From this moment the key signs (and is the newest for its alg).
    pub activates_at: UnixTime,
    /// From this moment the key no longer signs; set when a successor is created.
    pub retires_at: Option<UnixTime>,
    /// From this moment the key is no longer published in the JWKS.
    pub unpublish_at: Option<UnixTime>,
}

#[async_trait]
pub trait KeyStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Inserts `next` and schedules the retirement of `retiring` in one transaction.
    async fn rotate_key(
        &self,
        next: &SigningKeyRecord,
        retiring: &str,
        retires_at: UnixTime,
        unpublish_at: UnixTime,
    ) -> StoreResult<()>;
    /// Inserts `key` unless a key of its `alg` exists already; returns whether it did. Concurrent
    /// calls (nodes starting together) are serialised, so at most one first key per alg is created.
    async fn insert_first_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
}

const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, \
     activates_at, retires_at, unpublish_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Binds a [`SigningKeyRecord`] to [`INSERT_KEY`]'s placeholders, for either backend.
macro_rules! bind_key {
    ($query:expr, $k:expr) => {
        $query
            .bind(&$k.kid)
            .bind(&$k.alg)
            .bind(&$k.public_jwk)
            .bind(&$k.private_jwk)
            .bind($k.created_at)
            .bind($k.activates_at)
            .bind($k.retires_at)
            .bind($k.unpublish_at)
    };
}

#[async_trait]
impl KeyStore for Store {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kid, alg, public_jwk, private_jwk, created_at, activates_at, retires_at, unpublish_at \
                 FROM signing_keys ORDER BY alg, activates_at, kid",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    async fn insert_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_key!(sqlx::query(INSERT_KEY), k)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn rotate_key(
        &self,
        k: &SigningKeyRecord,
        retiring: &str,
        retires_at: UnixTime,
        unpublish_at: UnixTime,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let retired = sqlx::query(
                "UPDATE signing_keys SET retires_at = $2, unpublish_at = $3 WHERE kid = $1 AND retires_at IS NULL",
            )
            .bind(retiring)
            .bind(retires_at)
            .bind(unpublish_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if retired != 1 {
                return Err(super::StoreError::Conflict {
                    constraint: "signing_keys.retires_at".to_owned(),
                });
            }
            bind_key!(sqlx::query(INSERT_KEY), k)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?
        });
        Ok(())
    }

    async fn insert_first_key(&self, k: &SigningKeyRecord) -> StoreResult<bool> {
        let inserted = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // Takes a row lock that every concurrent caller queues on (a write lock in SQLite), so
            // the count below sees any key a caller ahead of us committed.
            sqlx::query(
                "INSERT INTO server_meta (name, value) VALUES ('signing_keys_lock', '') \
                 ON CONFLICT (name) DO UPDATE SET value = server_meta.value",
            )
            .execute(&mut *tx)
            .await?;
            let (existing,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM signing_keys WHERE alg = $1")
                    .bind(&k.alg)
                    .fetch_one(&mut *tx)
                    .await?;
            if existing > 0 {
                false
            } else {
                bind_key!(sqlx::query(INSERT_KEY), k)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                true
            }
        });
        Ok(inserted)
    }
}
