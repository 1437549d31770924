//! SQLite: the embedded default. One file, WAL journal, foreign keys on, and by default a full
//! fsync on commit so that a killed process or a power cut loses nothing it acknowledged.
//!
//! Reads and writes take different paths through [`SqliteDb`]:
//!
//! - A statement that starts with `SELECT` runs on a pool of read-only (`query_only`)
//!   connections, concurrently; in WAL mode readers never wait for the writer.
//! - Every other statement, and every transaction, runs on the one writer connection. Writers
//!   queue for it in the process, in order, instead of several connections racing for SQLite's
//!   write lock and sleeping in its busy handler.
//! - The writer commits in groups. Each unit of work (a statement, or a transaction of a store
//!   method, which becomes a `SAVEPOINT` unless it is the first of its group) runs inside one
//!   outer transaction; the units that queued while it ran share it, and one `COMMIT`, one fsync,
//!   ends it once they are done. A unit's caller hears of its success only once that commit is
//!   durable, and of a failure if it is not: nothing is acknowledged before it is on disk, as
//!   when each unit committed alone. A unit that fails is undone alone (back to its savepoint,
//!   or SQLite backed out the failed statement); an error that may have ended the outer
//!   transaction fails every unit of the group.
//!
//! Units run one at a time, in the order they came, each seeing the effects of those before it
//! (committed or about to be), exactly as if each had committed on its own: a conditional
//! statement that consumes a single-use value still succeeds for exactly one caller.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteQueryResult, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Either, Execute, Executor, Sqlite};
use tokio::sync::{Mutex, OwnedMutexGuard, Semaphore, SemaphorePermit, watch};

use super::{ConnectOptions, StoreResult, Synchronous};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a connection waits for a lock another process holds (the CLI on the same file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Page cache per connection, in KiB (SQLite's negative `cache_size`). It matters for the writer:
/// a reader's cache is emptied whenever another connection has committed. No `mmap_size`: in WAL
/// mode a reader also unmaps the whole mapping then, and the `munmap` calls with their TLB
/// shootdowns cost more than the reads they save.
const CACHE_KIB: &str = "-16384";

fn base_options(url: &str, options: &ConnectOptions) -> StoreResult<SqliteConnectOptions> {
    let synchronous = match options.sqlite_synchronous {
        Synchronous::Full => SqliteSynchronous::Full,
        Synchronous::Normal => SqliteSynchronous::Normal,
    };
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("temp_store", "memory")
        .pragma("cache_size", CACHE_KIB))
}

pub(super) async fn connect(url: &str, options: &ConnectOptions) -> StoreResult<SqliteDb> {
    let base = base_options(url, options)?;
    // The writer first: it creates the file and switches it to WAL.
    let conn = base.clone().connect().await?;
    let readers = Readers {
        options: base.pragma("query_only", "ON"),
        idle: std::sync::Mutex::new(Vec::new()),
        permits: Semaphore::new(usize::try_from(options.max_connections).unwrap_or(1).max(1)),
        acquire_timeout: options.acquire_timeout,
    };
    // Fails early on a database that cannot be read.
    drop(readers.acquire().await?);
    Ok(SqliteDb {
        readers: Arc::new(readers),
        writer: Arc::new(Writer {
            state: Arc::new(Mutex::new(WriterState {
                conn,
                closed: false,
                group: None,
                groups: 0,
                abandoned: None,
            })),
            acquire_timeout: options.acquire_timeout,
        }),
    })
}

/// The read-only connections, opened when first needed and kept. Unlike sqlx's pool this does
/// not ping a connection each time it is handed back: a SQLite connection does not go stale, its
/// thread runs one command after the other, and each ping is a round trip to that thread.
struct Readers {
    options: SqliteConnectOptions,
    /// Connections not in use; the last one returned is the next one used.
    idle: std::sync::Mutex<Vec<SqliteConnection>>,
    /// One per connection that may be open.
    permits: Semaphore,
    acquire_timeout: Duration,
}

/// A reader connection in use; back to the idle ones when dropped.
struct Reader<'a> {
    conn: Option<SqliteConnection>,
    readers: &'a Readers,
    _permit: SemaphorePermit<'a>,
}

impl Readers {
    async fn acquire(&self) -> Result<Reader<'_>, sqlx::Error> {
        let permit = tokio::time::timeout(self.acquire_timeout, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        Ok(Reader {
            conn: Some(conn),
            readers: self,
            _permit: permit,
        })
    }

    async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(
            &mut *self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for conn in idle {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

impl Reader<'_> {
    fn conn(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !self.readers.permits.is_closed()
        {
            self.readers
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(conn);
        }
    }
}

/// The SQLite database: a pool of readers and the writer. `&SqliteDb` is an `Executor` that sends
/// each statement to the right one, and [`SqliteDb::begin`] opens a transaction on the writer, so
/// store code is the same for both backends.
#[derive(Clone)]
pub(crate) struct SqliteDb {
    readers: Arc<Readers>,
    writer: Arc<Writer>,
}

impl std::fmt::Debug for SqliteDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDb").finish_non_exhaustive()
    }
}

/// Whether `sql` only reads: a single `SELECT`. Anything else goes to the writer.
fn reads_only(sql: &str) -> bool {
    let sql = sql.trim_start();
    sql.get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("select"))
        && sql[6..]
            .chars()
            .next()
            .is_some_and(|c| !(c.is_ascii_alphanumeric() || c == '_'))
}

impl SqliteDb {
    /// Opens a transaction on the writer: the store's unit of work, a savepoint of the group.
    pub(crate) async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        let mut state = self.writer.enter().await?;
        let scope = if state.take_fresh() {
            Scope::Group
        } else {
            if let Err(e) = state.run("SAVEPOINT unit").await {
                state.abort_group(&e).await;
                return Err(e);
            }
            Scope::Savepoint
        };
        Ok(WriteTx {
            state,
            writer: Arc::clone(&self.writer),
            scope,
            ended: false,
        })
    }

    /// Applies the migrations on the writer, outside any group.
    pub(super) async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let mut state = self.writer.lock().await?;
        state.undo_abandoned().await;
        state.commit_group().await;
        if state.closed {
            return Err(sqlx::Error::PoolClosed.into());
        }
        MIGRATOR.run(&mut state.conn).await
    }

    /// Commits what is pending and refuses further work.
    pub(super) async fn close(&self) {
        if let Ok(mut state) = self.writer.lock().await {
            state.undo_abandoned().await;
            state.commit_group().await;
            state.closed = true;
        }
        self.readers.close().await;
    }
}

/// The writer connection and the group of units its open transaction holds.
struct Writer {
    state: Arc<Mutex<WriterState>>,
    acquire_timeout: Duration,
}

struct WriterState {
    conn: SqliteConnection,
    closed: bool,
    /// The open outer transaction, if any.
    group: Option<Group>,
    /// Groups opened so far: the id of the next one.
    groups: u64,
    /// A transaction was dropped without a commit or a rollback: it must be undone before
    /// anything else runs.
    abandoned: Option<Scope>,
}

/// What a transaction of a store method spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// A savepoint inside the group.
    Savepoint,
    /// The whole group: it was the first unit of a new group, which is undone with it if it
    /// fails (one round trip less each way than a savepoint).
    Group,
}

/// An outer transaction and the units that joined it.
struct Group {
    id: u64,
    /// Its outcome, sent once: `Ok` when committed, else why not.
    outcome: watch::Sender<Option<Result<(), String>>>,
    members: usize,
    /// Nothing has run in it yet.
    fresh: bool,
}

/// A unit's place in a group: the group's outcome is the unit's.
struct Membership {
    outcome: watch::Receiver<Option<Result<(), String>>>,
}

impl Membership {
    async fn wait(mut self) -> Result<(), sqlx::Error> {
        let outcome = match self.outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            // The group was dropped without an outcome: the process is going down.
            Err(_) => None,
        };
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(group_failed(&why)),
            None => Err(group_failed("the group ended without a commit")),
        }
    }
}

fn group_failed(why: &str) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!(
        "the database did not commit: {why}"
    )))
}

/// SQLite primary result codes after which the transaction is still as it was before the failed
/// statement (SQLite backed out that statement alone): constraint violations, SQL errors, type
/// and range errors. Any other failure (I/O, full disk, busy, out of memory) may have rolled the
/// whole transaction back.
fn statement_level(e: &sqlx::Error) -> bool {
    const SQLITE_ERROR: i64 = 1;
    const SQLITE_TOOBIG: i64 = 18;
    const SQLITE_CONSTRAINT: i64 = 19;
    const SQLITE_MISMATCH: i64 = 20;
    const SQLITE_RANGE: i64 = 25;
    match e {
        sqlx::Error::Database(db) => {
            db.code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|code| {
                    matches!(
                        code & 0xff,
                        SQLITE_ERROR
                            | SQLITE_TOOBIG
                            | SQLITE_CONSTRAINT
                            | SQLITE_MISMATCH
                            | SQLITE_RANGE
                    )
                })
        }
        // Raised before or after SQLite ran anything.
        sqlx::Error::RowNotFound
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::Encode(_)
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. } => true,
        _ => false,
    }
}

impl Writer {
    async fn lock(&self) -> Result<OwnedMutexGuard<WriterState>, sqlx::Error> {
        tokio::time::timeout(self.acquire_timeout, Arc::clone(&self.state).lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)
    }

    /// Locks the writer with a group open and nothing abandoned in it.
    async fn enter(&self) -> Result<OwnedMutexGuard<WriterState>, sqlx::Error> {
        let mut state = self.lock().await?;
        if state.closed {
            return Err(sqlx::Error::PoolClosed);
        }
        state.undo_abandoned().await;
        if state.group.is_none() {
            state.run("BEGIN IMMEDIATE").await?;
            let (outcome, _) = watch::channel(None);
            state.groups += 1;
            state.group = Some(Group {
                id: state.groups,
                outcome,
                members: 0,
                fresh: true,
            });
        }
        Ok(state)
    }

    /// Makes the unit that just ran in the open group a member of it. The first member asks for
    /// the commit, which waits for the lock behind the units queued by then: they join first.
    fn join(self: &Arc<Self>, state: &mut WriterState) -> Result<Membership, sqlx::Error> {
        let Some(group) = state.group.as_mut() else {
            return Err(group_failed("the group ended before the unit did"));
        };
        group.members += 1;
        if group.members == 1 {
            let id = group.id;
            let writer = Arc::clone(self);
            // A task of its own, so that the commit happens even if this caller goes away.
            tokio::spawn(async move { writer.commit(Some(id)).await });
        }
        Ok(Membership {
            outcome: group.outcome.subscribe(),
        })
    }

    /// Commits the group `id` (any open group with `None`) if it is still open.
    async fn commit(&self, id: Option<u64>) {
        // No time limit: the members of the group wait for this.
        let mut state = Arc::clone(&self.state).lock_owned().await;
        state.undo_abandoned().await;
        if state
            .group
            .as_ref()
            .is_some_and(|g| id.is_none_or(|id| id == g.id))
        {
            state.commit_group().await;
        }
    }

    /// Ends a statement that ran as a unit of its own: its result once the group is committed.
    async fn settle<T>(
        self: &Arc<Self>,
        mut state: OwnedMutexGuard<WriterState>,
        result: Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        if let Err(e) = &result
            && !statement_level(e)
        {
            state.abort_group(e).await;
            return result;
        }
        let membership = self.join(&mut state)?;
        drop(state);
        membership.wait().await?;
        result
    }
}

impl WriterState {
    async fn run(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut self.conn).await.map(drop)
    }

    /// Whether nothing has run in the open group yet; from now on something has.
    fn take_fresh(&mut self) -> bool {
        self.group
            .as_mut()
            .is_some_and(|g| std::mem::take(&mut g.fresh))
    }

    /// Undoes a transaction: back to its savepoint, or the whole group it alone ran in. When
    /// that fails, the whole group is rolled back and its members fail.
    async fn undo(&mut self, scope: Scope) -> Result<(), sqlx::Error> {
        let undone = match scope {
            Scope::Group => self.run("ROLLBACK").await,
            Scope::Savepoint => match self.run("ROLLBACK TO unit").await {
                Ok(()) => self.run("RELEASE unit").await,
                Err(e) => Err(e),
            },
        };
        match (scope, undone) {
            (Scope::Group, Ok(())) => {
                if let Some(group) = self.group.take() {
                    group.outcome.send_replace(Some(Ok(())));
                }
                Ok(())
            }
            (Scope::Savepoint, Ok(())) => Ok(()),
            (_, Err(e)) => {
                self.abort_group(&e).await;
                Err(e)
            }
        }
    }

    async fn undo_abandoned(&mut self) {
        if let Some(scope) = self.abandoned.take() {
            let _ = self.undo(scope).await;
        }
    }

    /// Rolls the whole group back and fails its members.
    async fn abort_group(&mut self, cause: &sqlx::Error) {
        if let Some(group) = self.group.take() {
            // Nothing to do if SQLite has rolled back already.
            let _ = self.run("ROLLBACK").await;
            tracing::warn!(error = %cause, units = group.members, "SQLite group transaction rolled back");
            group
                .outcome
                .send_replace(Some(Err(format!("rolled back after: {cause}"))));
        }
    }

    async fn commit_group(&mut self) {
        if let Some(group) = self.group.take() {
            let committed = self.run("COMMIT").await;
            if committed.is_err() {
                let _ = self.run("ROLLBACK").await;
            }
            metrics::counter!("sqlite_group_commits_total").increment(1);
            metrics::counter!("sqlite_group_units_total").increment(group.members as u64);
            group
                .outcome
                .send_replace(Some(committed.map_err(|e| e.to_string())));
        }
    }
}

/// A transaction of a store method on the writer: a savepoint in the open group. `&mut *tx` is
/// the connection; [`WriteTx::commit`] returns once the group it joined is committed. Dropped
/// without a commit or a rollback, it is rolled back before the writer runs anything else.
pub(crate) struct WriteTx {
    state: OwnedMutexGuard<WriterState>,
    writer: Arc<Writer>,
    scope: Scope,
    /// Committed or rolled back: nothing to undo when dropped.
    ended: bool,
}

impl WriteTx {
    /// Commits into the group, and returns once the group is committed. The savepoint is not
    /// released (a round trip saved): savepoints nest, a later unit's `ROLLBACK TO unit` names
    /// its own, the innermost, and the group's `COMMIT` releases them all.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.end()?.wait().await
    }

    pub(crate) async fn rollback(mut self) -> Result<(), sqlx::Error> {
        let undone = self.state.undo(self.scope).await;
        if undone.is_err() || self.scope == Scope::Group {
            // Nothing of another unit was seen, or the group is gone.
            self.ended = true;
            return undone;
        }
        // What it read came from the group: it stands only if the group commits.
        self.end()?.wait().await
    }

    /// Joins the group and lets the writer go.
    fn end(mut self) -> Result<Membership, sqlx::Error> {
        self.ended = true;
        let writer = Arc::clone(&self.writer);
        writer.join(&mut self.state)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.state.conn
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.state.conn
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        self.state.abandoned = Some(self.scope);
        // Undo it now rather than when the next writer comes, so that the write lock is not held
        // meanwhile (another process may want it).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = Arc::clone(&self.writer);
            runtime.spawn(async move { writer.commit(None).await });
        }
    }
}

impl<'c> Executor<'c> for &'c SqliteDb {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        let read = reads_only(query.sql());
        let (readers, writer) = (&self.readers, &self.writer);
        let all = async move {
            if read {
                let mut reader = readers.acquire().await?;
                return reader
                    .conn()?
                    .fetch_many(query)
                    .try_collect::<Vec<_>>()
                    .await;
            }
            let mut state = writer.enter().await?;
            state.take_fresh();
            let result = state.conn.fetch_many(query).try_collect::<Vec<_>>().await;
            writer.settle(state, result).await
        };
        Box::pin(
            futures_util::stream::once(all).flat_map(|result| match result {
                Ok(items) => futures_util::stream::iter(items.into_iter().map(Ok)).left_stream(),
                Err(e) => futures_util::stream::iter([Err(e)]).right_stream(),
            }),
        )
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        let read = reads_only(query.sql());
        let (readers, writer) = (&self.readers, &self.writer);
        Box::pin(async move {
            if read {
                let mut reader = readers.acquire().await?;
                return reader.conn()?.fetch_optional(query).await;
            }
            let mut state = writer.enter().await?;
            state.take_fresh();
            let result = state.conn.fetch_optional(query).await;
            writer.settle(state, result).await
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::sqlite::SqliteStatement<'q>, sqlx::Error>>
    where
        'c: 'e,
    {
        let readers = &self.readers;
        Box::pin(async move {
            let mut reader = readers.acquire().await?;
            reader.conn()?.prepare_with(sql, parameters).await
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>>
    where
        'c: 'e,
    {
        let readers = &self.readers;
        Box::pin(async move {
            let mut reader = readers.acquire().await?;
            reader.conn()?.describe(sql).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sqlx::Row as _;

    use super::{Scope, SqliteDb, connect, reads_only, statement_level};
    use crate::store::{ConnectOptions, Store};

    async fn open(dir: &tempfile::TempDir) -> SqliteDb {
        let url = Store::sqlite_url(&dir.path().join("t.db"));
        let db = connect(&url, &ConnectOptions::default()).await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            .execute(&db)
            .await
            .unwrap();
        db
    }

    async fn keys(db: &SqliteDb) -> Vec<String> {
        sqlx::query("SELECT k FROM t ORDER BY k")
            .fetch_all(db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// Inserts the row `key`.
    async fn try_put<'e>(
        executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
        key: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO t (k, v) VALUES ($1, 0)")
            .bind(key)
            .execute(executor)
            .await
            .map(drop)
    }

    async fn put<'e>(executor: impl sqlx::Executor<'e, Database = sqlx::Sqlite>, key: &str) {
        try_put(executor, key).await.unwrap();
    }

    async fn groups(db: &SqliteDb) -> u64 {
        db.writer.state.lock().await.groups
    }

    #[tokio::test]
    async fn concurrent_writes_share_commits_and_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(open(&dir).await);
        let before = groups(&db).await;
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let db = Arc::clone(&db);
                tokio::spawn(async move {
                    let key = format!("k{i:03}");
                    let inserted = sqlx::query("INSERT INTO t (k, v) VALUES ($1, $2)")
                        .bind(&key)
                        .bind(i)
                        .execute(&*db)
                        .await
                        .unwrap()
                        .rows_affected();
                    // Acknowledged means committed: a reader sees it.
                    let (seen,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t WHERE k = $1")
                        .bind(&key)
                        .fetch_one(&*db)
                        .await
                        .unwrap();
                    (inserted, seen)
                })
            })
            .collect();
        for w in writes {
            assert_eq!(w.await.unwrap(), (1, 1));
        }
        let commits = groups(&db).await - before;
        assert!(commits < 200, "{commits} commits for 200 writes");
        db.close().await;
        drop(db);
        let reopened = open(&dir).await;
        assert_eq!(keys(&reopened).await.len(), 200);
    }

    #[tokio::test]
    async fn of_concurrent_claims_of_one_key_exactly_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(open(&dir).await);
        let claims: Vec<_> = (0..100)
            .map(|i| {
                let db = Arc::clone(&db);
                tokio::spawn(async move {
                    sqlx::query(
                        "INSERT INTO t (k, v) VALUES ('once', $1) ON CONFLICT (k) DO NOTHING",
                    )
                    .bind(i)
                    .execute(&*db)
                    .await
                    .unwrap()
                    .rows_affected()
                })
            })
            .collect();
        let mut won = 0;
        for c in claims {
            won += c.await.unwrap();
        }
        assert_eq!(won, 1);
    }

    /// A transaction that fails, one rolled back and one dropped half way are undone; the units
    /// committed in the same groups are not.
    #[tokio::test]
    async fn a_failed_unit_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(open(&dir).await);
        put(&*db, "taken").await;
        let mut tasks = Vec::new();
        for i in 0..30 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                match i % 4 {
                    // Commits.
                    0 => {
                        let mut tx = db.begin().await?;
                        try_put(&mut *tx, &format!("ok{i:02}")).await?;
                        tx.commit().await
                    }
                    // Its second statement violates the key: the error drops the transaction.
                    1 => {
                        let mut tx = db.begin().await?;
                        try_put(&mut *tx, &format!("failed{i:02}")).await?;
                        try_put(&mut *tx, "taken").await?;
                        tx.commit().await
                    }
                    // Rolled back.
                    2 => {
                        let mut tx = db.begin().await?;
                        try_put(&mut *tx, &format!("rolledback{i:02}")).await?;
                        tx.rollback().await
                    }
                    // A statement of its own.
                    _ => try_put(&*db, &format!("single{i:02}")).await,
                }
            }));
        }
        let mut failed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => {}
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => failed += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(failed, 8);
        let keys = keys(&db).await;
        assert!(
            keys.iter()
                .all(|k| k == "taken" || k.starts_with("ok") || k.starts_with("single")),
            "{keys:?}"
        );
        assert_eq!(keys.len(), 1 + 8 + 7);
    }

    #[tokio::test]
    async fn a_transaction_dropped_while_open_is_undone_before_the_next_unit() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir).await;
        // Alone in its group: undone with the group.
        let mut tx = db.begin().await.unwrap();
        assert_eq!(tx.scope, Scope::Group);
        put(&mut *tx, "dropped1").await;
        drop(tx);
        put(&db, "after1").await;
        assert_eq!(keys(&db).await, ["after1"]);

        // Behind a unit of the same group (the group's commit cannot run before this test
        // yields: the runtime has one thread): back to its savepoint.
        let mut state = db.writer.enter().await.unwrap();
        state.take_fresh();
        put(&mut state.conn, "before2").await;
        let before = db.writer.join(&mut state).unwrap();
        drop(state);
        let mut tx = db.begin().await.unwrap();
        assert_eq!(tx.scope, Scope::Savepoint);
        put(&mut *tx, "dropped2").await;
        drop(tx);
        put(&db, "after2").await;
        before.wait().await.unwrap();
        assert_eq!(keys(&db).await, ["after1", "after2", "before2"]);
    }

    /// A transaction behind another unit of its group sees that unit's change, and what its
    /// statements report is their own: a conditional update that changes nothing says 0 rows.
    #[tokio::test]
    async fn the_first_statement_of_a_transaction_reports_its_own_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir).await;
        for (i, first) in ["execute", "fetch_optional", "fetch_all"]
            .iter()
            .enumerate()
        {
            // A change by another unit of the group just before (see the test above).
            let mut state = db.writer.enter().await.unwrap();
            state.take_fresh();
            put(&mut state.conn, &format!("a{i}")).await;
            let before = db.writer.join(&mut state).unwrap();
            drop(state);

            let mut tx = db.begin().await.unwrap();
            assert_eq!(tx.scope, Scope::Savepoint);
            let update = sqlx::query("UPDATE t SET v = 1 WHERE k = 'none' RETURNING k");
            match *first {
                "execute" => assert_eq!(update.execute(&mut *tx).await.unwrap().rows_affected(), 0),
                "fetch_optional" => {
                    assert!(update.fetch_optional(&mut *tx).await.unwrap().is_none())
                }
                _ => assert!(update.fetch_all(&mut *tx).await.unwrap().is_empty()),
            }
            let changed = sqlx::query("UPDATE t SET v = v + 1 WHERE k LIKE 'a%'")
                .execute(&mut *tx)
                .await
                .unwrap();
            assert_eq!(changed.rows_affected(), i as u64 + 1);
            tx.rollback().await.unwrap();
            before.wait().await.unwrap();
        }
        let (changed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t WHERE v <> 0")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(changed, 0, "every transaction was rolled back");
        assert_eq!(keys(&db).await, ["a0", "a1", "a2"]);
    }

    #[tokio::test]
    async fn only_failures_that_leave_the_transaction_intact_are_statement_level() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir).await;
        put(&db, "k").await;
        let duplicate = try_put(&db, "k").await.unwrap_err();
        assert!(statement_level(&duplicate), "{duplicate}");
        let no_table = sqlx::query("INSERT INTO missing VALUES (1)")
            .execute(&db)
            .await
            .unwrap_err();
        assert!(statement_level(&no_table), "{no_table}");
        assert!(!statement_level(&sqlx::Error::PoolTimedOut));
        assert!(!statement_level(&sqlx::Error::Io(std::io::Error::other(
            "disk"
        ))));
        // The failures above were the units' own: the group went on.
        put(&db, "after").await;
        assert_eq!(keys(&db).await, ["after", "k"]);
    }

    #[tokio::test]
    async fn readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir).await;
        let mut reader = db.readers.acquire().await.unwrap();
        let refused = sqlx::query("INSERT INTO t (k, v) VALUES ('x', 1)")
            .execute(reader.conn().unwrap())
            .await;
        assert!(refused.is_err());
    }

    #[tokio::test]
    async fn a_closed_database_refuses_work() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir).await;
        db.close().await;
        assert!(
            sqlx::query("INSERT INTO t (k, v) VALUES ('x', 1)")
                .execute(&db)
                .await
                .is_err()
        );
        assert!(sqlx::query("SELECT 1").execute(&db).await.is_err());
    }

    #[test]
    fn only_a_select_goes_to_the_readers() {
        assert!(reads_only("SELECT 1"));
        assert!(reads_only("  select\n* FROM t"));
        assert!(reads_only("SELECT(1)"));
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1 RETURNING a",
            "DELETE FROM t",
            "WITH x AS (SELECT 1) DELETE FROM t",
            "SELECTED",
            "select_x",
            "SELEC",
            "",
            "PRAGMA wal_checkpoint",
            "-- SELECT\nDELETE FROM t",
        ] {
            assert!(!reads_only(sql), "{sql}");
        }
    }
}
