//! One-time codes of the second factor: sent, tried, spent. See `sca::otp` for the rules.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ChallengeRecord {
    pub id: String,
    pub user_id: String,
    /// How the code travelled: `sms`.
    pub method: String,
    /// The short tag the page and the message both show.
    pub reference: String,
    /// Where the code went, masked (`•••• 0461`).
    pub destination: String,
    /// HMAC of the code, keyed from the master key and bound to `id`.
    pub code_hash: Vec<u8>,
    /// What the code authorises: the consent id named in the message.
    pub linked_to: Option<String>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub consumed_at: Option<UnixTime>,
}

#[async_trait]
pub trait ChallengeStore {
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StoreResult<()>;
    /// Counts one entry against the challenge and returns it as it stands after the count, if it
    /// is unspent, unexpired at `now` and had entries left. Concurrent entries each take one of
    /// the remaining attempts; none goes uncounted.
    async fn attempt_challenge(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<ChallengeRecord>>;
    /// Spends the challenge if it is unspent and unexpired at `now`: true for exactly one of any
    /// number of concurrent calls.
    async fn consume_challenge(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Deletes challenges that expired before `before`.
    async fn delete_expired_challenges(&self, before: UnixTime) -> StoreResult<u64>;
}

const COLUMNS: &str = "id, user_id, method, reference, destination, code_hash, linked_to, \
     attempts, max_attempts, created_at, expires_at, consumed_at";

#[async_trait]
impl ChallengeStore for Store {
    async fn insert_challenge(&self, c: &ChallengeRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO sca_challenges ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(&c.id)
                .bind(&c.user_id)
                .bind(&c.method)
                .bind(&c.reference)
                .bind(&c.destination)
                .bind(&c.code_hash)
                .bind(&c.linked_to)
                .bind(c.attempts)
                .bind(c.max_attempts)
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(c.consumed_at)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn attempt_challenge(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<ChallengeRecord>> {
        let sql = format!(
            "UPDATE sca_challenges SET attempts = attempts + 1 \
             WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2 \
             AND attempts < max_attempts RETURNING {COLUMNS}"
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    async fn consume_challenge(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE sca_challenges SET consumed_at = $2 \
                 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    async fn delete_expired_challenges(&self, before: UnixTime) -> StoreResult<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM sca_challenges WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
