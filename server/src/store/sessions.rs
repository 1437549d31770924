//! Login sessions. The cookie carries the session id; the database holds only its SHA-256, so a
//! copy of the database does not let anyone ride a session.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[async_trait]
pub trait SessionRecordStore {
    /// Inserts a new session; returns false when the id hash is taken (the caller draws another id).
    async fn create_session(
        &self,
        id_hash: &[u8],
        data: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;
    async fn save_session(
        &self,
        id_hash: &[u8],
        data: &str,
        expires_at: UnixTime,
    ) -> StoreResult<()>;
    /// The session's data, if it exists and has not expired at `now`.
    async fn load_session(&self, id_hash: &[u8], now: UnixTime) -> StoreResult<Option<String>>;
    async fn delete_session(&self, id_hash: &[u8]) -> StoreResult<()>;
    /// Deletes every session expired at `now`; returns how many.
    async fn delete_expired_sessions(&self, now: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
impl SessionRecordStore for Store {
    async fn create_session(
        &self,
        id_hash: &[u8],
        data: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id_hash) DO NOTHING",
            )
            .bind(id_hash)
            .bind(data)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    async fn save_session(
        &self,
        id_hash: &[u8],
        data: &str,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(id_hash)
            .bind(data)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    async fn load_session(&self, id_hash: &[u8], now: UnixTime) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT data FROM sessions WHERE id_hash = $1 AND expires_at > $2")
                .bind(id_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(d,)| d))
    }

    async fn delete_session(&self, id_hash: &[u8]) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: UnixTime) -> StoreResult<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
