//! Storage: one trait per aggregate, implemented once for both backends.
//!
//! `Store` holds either a SQLite or a PostgreSQL pool. Every method body is written once and
//! expanded by [`with_pool!`] into a SQLite arm and a PostgreSQL arm, each type-checked against its
//! own driver, so the two implementations cannot drift. SQL uses `$n` placeholders, which both
//! drivers accept, and only portable types: `BIGINT` Unix seconds for time, text, bytes.
//! Backend-specific set-up (pragmas, connection options, migrations) lives in `sqlite` and
//! `postgres`. The contract suite in `tests/it/store_contract.rs` runs against both.

mod challenges;
mod clients;
mod codes;
mod consents;
mod events;
mod grants;
mod jtis;
mod keys;
mod ledger;
mod meta;
mod par;
mod payments;
mod postgres;
mod sessions;
mod sqlite;
mod throttle;
mod tokens;
mod users;

use std::path::Path;
use std::time::Duration;

pub use challenges::{ChallengeRecord, ChallengeStore};
pub use clients::{ClientRecord, ClientStatus, ClientStore};
pub use codes::{CodeRecord, CodeStore, IssuedTokens, Redemption};
pub use consents::{
    Authorisation, ConsentHistoryEntry, ConsentInsert, ConsentRecord, ConsentStore,
};
pub use events::{AttemptOutcome, EventOutbox, EventRecord, EventStore};
pub use grants::{EXPIRED_ROWS_KEPT_FOR, GrantRecord, GrantStore, OAuthCleanup};
pub use jtis::{JtiKind, JtiStore};
pub use keys::{KeyStore, SigningKeyRecord};
pub use ledger::{Account, BankSeed, Beneficiary, LedgerStore, Transaction};
pub use meta::MetaStore;
pub use par::{ParRecord, ParStore};
pub use payments::{
    Creditor, NewPayment, PaymentHistoryEntry, PaymentOutcome, PaymentRecord, PaymentStatus,
    PaymentStore, SETTLEMENT_OWNER, settlement_account_id,
};
pub use sessions::SessionRecordStore;
pub use throttle::ThrottleStore;
pub use tokens::{AccessTokenRecord, RefreshTokenRecord, TokenStore};
pub use users::{Role, User, UserStore};

/// The one storage error. sqlx errors are mapped into it in `From<sqlx::Error>` below, nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict on {constraint}")]
    Conflict { constraint: String },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                constraint: db
                    .constraint()
                    .map_or_else(|| db.message().to_owned(), str::to_owned),
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(e.to_string()),
            other => StoreError::Other(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(format!("migration failed: {e}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names: `postgres://` or `postgresql://` for PostgreSQL,
    /// `sqlite:` for SQLite.
    pub fn of_url(url: &str) -> Option<Backend> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "sqlite" => Some(Backend::Sqlite),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    /// Readers and the one writer: see `sqlite`.
    Sqlite(sqlite::SqliteDb),
    Postgres(sqlx::PgPool),
}

/// The database behind every store trait.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
}

/// Runs `$body` with `$pool` bound to the concrete pool: the body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// When SQLite waits for the disk (`PRAGMA synchronous`, in WAL mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// Every commit is on disk before it is acknowledged (fsync of the WAL at each commit).
    #[default]
    Full,
    /// Commits are written but not synced; the WAL is synced at checkpoints. The database stays
    /// consistent, but a power cut or OS crash may lose the last commits already acknowledged
    /// (a crash of the process alone loses nothing). Single-use values consumed in those commits
    /// could then be used again.
    Normal,
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// PostgreSQL: the pool size. SQLite: the readers; writes go through one connection.
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite only.
    pub sqlite_synchronous: Synchronous,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            sqlite_synchronous: Synchronous::Full,
        }
    }
}

impl Store {
    /// Opens the database the URL names and applies pending migrations.
    pub async fn open(url: &str, options: &ConnectOptions) -> StoreResult<Store> {
        let store = Self::connect(url, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating it.
    pub async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<Store> {
        let pool = match Backend::of_url(url) {
            Some(Backend::Sqlite) => Pool::Sqlite(sqlite::connect(url, options).await?),
            Some(Backend::Postgres) => Pool::Postgres(postgres::connect(url, options).await?),
            None => {
                return Err(StoreError::Other(
                    "the database URL must start with sqlite: or postgres://".to_owned(),
                ));
            }
        };
        Ok(Store { pool })
    }

    /// The URL of a SQLite database file in `dir`.
    pub fn sqlite_url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations of this backend that the database has not seen.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.pool {
            Pool::Sqlite(db) => db.migrate().await?,
            Pool::Postgres(pool) => postgres::MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    /// A round trip to the database, for readiness checks.
    pub async fn ping(&self) -> StoreResult<()> {
        with_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    /// Runs SQL text as it is, outside any store trait: administration such as creating a database.
    pub async fn execute_raw(&self, sql: &str) -> StoreResult<()> {
        with_pool!(self, |pool| sqlx::raw_sql(sql)
            .execute(pool)
            .await
            .map(drop)?);
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(db) => db.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
