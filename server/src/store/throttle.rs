//! Fixed-window counters in the database, so that every node sees the same attempt counts.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[async_trait]
pub trait ThrottleStore {
    /// Counts one hit on `bucket` and returns the hits in the current window, this one included.
    /// A window older than `window` seconds at `now` starts afresh. One statement: concurrent hits
    /// are all counted.
    async fn hit(&self, bucket: &str, window: i64, now: UnixTime) -> StoreResult<i64>;
    /// Hits in the current window, without counting one.
    async fn hits(&self, bucket: &str, window: i64, now: UnixTime) -> StoreResult<i64>;
    async fn clear(&self, bucket: &str) -> StoreResult<()>;
    /// Removes windows that ended before `before`.
    async fn delete_stale_windows(&self, before: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
impl ThrottleStore for Store {
    async fn hit(&self, bucket: &str, window: i64, now: UnixTime) -> StoreResult<i64> {
        let (hits,): (i64,) = with_pool!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO throttle (bucket, window_start, hits) VALUES ($1, $2, 1) \
                 ON CONFLICT (bucket) DO UPDATE SET \
                   hits = CASE WHEN throttle.window_start <= $3 THEN 1 ELSE throttle.hits + 1 END, \
                   window_start = CASE WHEN throttle.window_start <= $3 THEN $2 ELSE throttle.window_start END \
                 RETURNING hits",
            )
            .bind(bucket)
            .bind(now)
            .bind(now - window)
            .fetch_one(pool)
            .await?
        });
        Ok(hits)
    }

    async fn hits(&self, bucket: &str, window: i64, now: UnixTime) -> StoreResult<i64> {
        let row: Option<(i64,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT hits FROM throttle WHERE bucket = $1 AND window_start > $2")
                .bind(bucket)
                .bind(now - window)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map_or(0, |(h,)| h))
    }

    async fn clear(&self, bucket: &str) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM throttle WHERE bucket = $1")
                .bind(bucket)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn delete_stale_windows(&self, before: UnixTime) -> StoreResult<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("DELETE FROM throttle WHERE window_start < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
