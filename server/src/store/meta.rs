//! Server-wide named values: the master-key check, the demo marker.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};

#[async_trait]
pub trait MetaStore {
    async fn meta(&self, name: &str) -> StoreResult<Option<String>>;
    /// Sets `name` unless it is set already; returns whether this call set it.
    async fn put_meta_if_absent(&self, name: &str, value: &str) -> StoreResult<bool>;
}

#[async_trait]
impl MetaStore for Store {
    async fn meta(&self, name: &str) -> StoreResult<Option<String>> {
        let value: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT value FROM server_meta WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(value.map(|(v,)| v))
    }

    async fn put_meta_if_absent(&self, name: &str, value: &str) -> StoreResult<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query("INSERT INTO server_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(value)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
