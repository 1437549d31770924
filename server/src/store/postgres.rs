//! PostgreSQL: the multi-node backend. Every node is stateless; everything shared lives here.

use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{ConnectOptions, StoreResult};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

pub(super) async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<PgPool> {
    let connect = PgConnectOptions::from_str(url)?.application_name("consentry");
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await?;
    Ok(pool)
}
