//! Pushed authorization requests (RFC 9126), keyed by the SHA-256 of their `request_uri`.
//!
//! A request_uri may be read several times while the customer authenticates and consents (FAPI
//! allows reuse until the authorization completes); completing the authorization consumes it once.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ParRecord {
    /// SHA-256 of the request_uri.
    pub request_uri_hash: Vec<u8>,
    pub client_id: String,
    /// The validated authorization request, JSON.
    pub params: String,
    /// The DPoP key thumbprint the pushed request was bound to, if any.
    pub dpop_jkt: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub consumed_at: Option<UnixTime>,
}

#[async_trait]
pub trait ParStore {
    async fn insert_par(&self, par: &ParRecord) -> StoreResult<()>;
    /// The pushed request if it was pushed by `client_id` and is neither consumed nor expired at
    /// `now`. Reading does not consume it.
    async fn par(
        &self,
        request_uri_hash: &[u8],
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<ParRecord>>;
    /// Consumes the pushed request if it is unconsumed and unexpired at `now`; true for exactly one
    /// of any number of concurrent calls.
    async fn consume_par(&self, request_uri_hash: &[u8], now: UnixTime) -> StoreResult<bool>;
}

const PAR_COLUMNS: &str =
    "request_uri_hash, client_id, params, dpop_jkt, created_at, expires_at, consumed_at";

#[async_trait]
impl ParStore for Store {
    async fn insert_par(&self, p: &ParRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO par_requests (request_uri_hash, client_id, params, dpop_jkt, \
                 created_at, expires_at, consumed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&p.request_uri_hash)
            .bind(&p.client_id)
            .bind(&p.params)
            .bind(&p.dpop_jkt)
            .bind(p.created_at)
            .bind(p.expires_at)
            .bind(p.consumed_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(())
    }

    async fn par(
        &self,
        request_uri_hash: &[u8],
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<ParRecord>> {
        let sql = format!(
            "SELECT {PAR_COLUMNS} FROM par_requests WHERE request_uri_hash = $1 AND client_id = $2 \
             AND consumed_at IS NULL AND expires_at > $3"
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(request_uri_hash)
            .bind(client_id)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    async fn consume_par(&self, request_uri_hash: &[u8], now: UnixTime) -> StoreResult<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE par_requests SET consumed_at = $2 \
                 WHERE request_uri_hash = $1 AND consumed_at IS NULL AND expires_at > $2",
            )
            .bind(request_uri_hash)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
