//! The outbox of event notifications (`ob_events`). Events are written by the transaction that
//! makes the change they report ([`EventOutbox`]); nodes take due events for pushing with one
//! conditional update each ([`EventStore::claim_due_events`]), so two nodes never push one event
//! at the same time, and a node that stops mid-push leaves its events to be taken again when its
//! lease ends.

use async_trait::async_trait;

use super::{Store, StoreError, StoreResult, with_pool};
use crate::clock::UnixTime;
use crate::consent::{ConsentKind, ConsentStatus};
use crate::events::{EventType, NewEvent};

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRecord {
    /// The order events were stored in.
    pub seq: i64,
    pub jti: String,
    pub client_id: String,
    /// [`EventType`] as text.
    pub event_type: String,
    pub resource_type: String,
    pub resource_id: String,
    pub resource_path: String,
    pub txn: String,
    pub created_at: UnixTime,
    pub next_attempt_at: Option<UnixTime>,
    pub attempts: i64,
    pub delivered_at: Option<UnixTime>,
    pub acknowledged_at: Option<UnixTime>,
    pub last_error: Option<String>,
}

impl EventRecord {
    pub fn event_type(&self) -> StoreResult<EventType> {
        self.event_type
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("event type: {e}")))
    }
}

/// What became of one push, for [`EventStore::finish_attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The client answered 2xx.
    Delivered,
    /// The push failed; try again at `retry_at`, or never (`None`: attempts used up).
    Failed {
        error: String,
        retry_at: Option<UnixTime>,
    },
    /// Nothing was sent and nothing will be (no callback URL, a host not allowed): the event
    /// waits for polling.
    NotSent { reason: String },
}

const EVENT_COLUMNS: &str = "seq, jti, client_id, event_type, resource_type, resource_id, \
     resource_path, txn, created_at, next_attempt_at, attempts, delivered_at, acknowledged_at, \
     last_error";

const INSERT_EVENT: &str = "INSERT INTO ob_events (jti, client_id, event_type, resource_type, \
     resource_id, resource_path, txn, created_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";

/// Writing events inside a store transaction, so that an event is stored if and only if the
/// change it reports commits. Implemented for the connection of a transaction of either backend:
/// inside `with_pool!`, call it on the transaction itself.
///
/// ```ignore
/// use crate::store::EventOutbox as _;
/// let mut tx = pool.begin().await?;
/// // ... the change ...
/// let event = NewEvent::resource_update(&client_id, ResourceRef::domestic_payment(&id), now);
/// tx.enqueue_event(&event).await?;
/// tx.commit().await?;
/// ```
#[async_trait]
pub trait EventOutbox: Send {
    /// Puts `event` in the outbox; returns its jti.
    async fn enqueue_event(&mut self, event: &NewEvent) -> StoreResult<String>;
    /// Puts in the outbox the event of consent `consent_id` moving to `status` at `now`, for the
    /// client that owns the consent.
    async fn enqueue_consent_event(
        &mut self,
        consent_id: &str,
        status: ConsentStatus,
        now: UnixTime,
    ) -> StoreResult<String>;
}

/// The [`EventOutbox`] of a backend's connection: one body, compiled per driver.
macro_rules! event_outbox {
    ($conn:ty) => {
        #[async_trait]
        impl EventOutbox for $conn {
            async fn enqueue_event(&mut self, event: &NewEvent) -> StoreResult<String> {
                let jti = crate::crypto::new_id();
                sqlx::query(INSERT_EVENT)
                    .bind(&jti)
                    .bind(&event.client_id)
                    .bind(event.event_type.as_str())
                    .bind(&event.resource.resource_type)
                    .bind(&event.resource.resource_id)
                    .bind(&event.resource.path)
                    .bind(event.txn.as_deref().unwrap_or(&jti))
                    .bind(event.at)
                    .execute(&mut *self)
                    .await?;
                Ok(jti)
            }

            async fn enqueue_consent_event(
                &mut self,
                consent_id: &str,
                status: ConsentStatus,
                now: UnixTime,
            ) -> StoreResult<String> {
                let (client_id, kind): (String, String) =
                    sqlx::query_as("SELECT client_id, kind FROM ob_consents WHERE id = $1")
                        .bind(consent_id)
                        .fetch_one(&mut *self)
                        .await?;
                let kind: ConsentKind = kind
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("consent kind: {e}")))?;
                let event = NewEvent::consent_status(&client_id, kind, consent_id, status, now);
                self.enqueue_event(&event).await
            }
        }
    };
}

event_outbox!(sqlx::SqliteConnection);
event_outbox!(sqlx::PgConnection);

#[async_trait]
pub trait EventStore {
    /// Puts one event in the outbox on its own (outside any other change); returns its jti.
    async fn insert_event(&self, event: &NewEvent) -> StoreResult<String>;
    async fn event(&self, jti: &str) -> StoreResult<Option<EventRecord>>;
    /// Takes up to `limit` events whose push is due at `now`, holding them until `lease_until`:
    /// each is taken by one conditional update, so of two nodes asking at once each event goes
    /// to one. The lease is the event's `next_attempt_at` until [`Self::finish_attempt`].
    async fn claim_due_events(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>>;
    /// Records what became of a push of an event taken with lease `lease_until`. A delivery is
    /// always recorded; a failure only while the lease is still this node's (another node may
    /// have taken the event over). Returns whether the record changed.
    async fn finish_attempt(
        &self,
        jti: &str,
        lease_until: UnixTime,
        outcome: &AttemptOutcome,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// The client's events not yet acknowledged nor pushed, in the order they were stored, at
    /// most `limit`.
    async fn pending_events(&self, client_id: &str, limit: u32) -> StoreResult<Vec<EventRecord>>;
    /// Marks the client's events acknowledged (aggregated polling `ack`, or `setErrs` with the
    /// error it reported); the events of other clients are left alone. Returns how many changed.
    async fn acknowledge_events(
        &self,
        client_id: &str,
        acks: &[(String, Option<String>)],
        now: UnixTime,
    ) -> StoreResult<u64>;
    /// Deletes events that happened before `before`; returns how many.
    async fn delete_events_before(&self, before: UnixTime) -> StoreResult<u64>;
}

#[async_trait]
impl EventStore for Store {
    async fn insert_event(&self, event: &NewEvent) -> StoreResult<String> {
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let jti = tx.enqueue_event(event).await?;
            tx.commit().await?;
            jti
        }))
    }

    async fn event(&self, jti: &str) -> StoreResult<Option<EventRecord>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM ob_events WHERE jti = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(jti)
            .fetch_optional(pool)
            .await?))
    }

    async fn claim_due_events(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        // The outer `next_attempt_at <= $1` is checked again on the row as it is when it is
        // updated: a row another node took meanwhile no longer matches and is skipped.
        let sql = format!(
            "UPDATE ob_events SET next_attempt_at = $2 \
             WHERE jti IN (SELECT jti FROM ob_events WHERE next_attempt_at <= $1 \
                           ORDER BY next_attempt_at, seq LIMIT $3) \
             AND next_attempt_at <= $1 \
             RETURNING {EVENT_COLUMNS}"
        );
        let mut events: Vec<EventRecord> = with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(now)
            .bind(lease_until)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?);
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    async fn finish_attempt(
        &self,
        jti: &str,
        lease_until: UnixTime,
        outcome: &AttemptOutcome,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let n = match outcome {
            AttemptOutcome::Delivered => with_pool!(self, |pool| sqlx::query(
                "UPDATE ob_events SET delivered_at = COALESCE(delivered_at, $2), \
                 next_attempt_at = NULL, attempts = attempts + 1, last_error = NULL \
                 WHERE jti = $1"
            )
            .bind(jti)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()),
            AttemptOutcome::Failed { error, retry_at } => with_pool!(self, |pool| sqlx::query(
                "UPDATE ob_events SET next_attempt_at = $3, attempts = attempts + 1, \
                 last_error = $4 WHERE jti = $1 AND next_attempt_at = $2"
            )
            .bind(jti)
            .bind(lease_until)
            .bind(*retry_at)
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected()),
            AttemptOutcome::NotSent { reason } => with_pool!(self, |pool| sqlx::query(
                "UPDATE ob_events SET next_attempt_at = NULL, last_error = $3 \
                 WHERE jti = $1 AND next_attempt_at = $2"
            )
            .bind(jti)
            .bind(lease_until)
            .bind(reason)
            .execute(pool)
            .await?
            .rows_affected()),
        };
        Ok(n == 1)
    }

    async fn pending_events(&self, client_id: &str, limit: u32) -> StoreResult<Vec<EventRecord>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM ob_events WHERE client_id = $1 \
             AND acknowledged_at IS NULL AND delivered_at IS NULL \
             ORDER BY seq LIMIT $2"
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(client_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?))
    }

    async fn acknowledge_events(
        &self,
        client_id: &str,
        acks: &[(String, Option<String>)],
        now: UnixTime,
    ) -> StoreResult<u64> {
        if acks.is_empty() {
            return Ok(0);
        }
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut changed = 0;
            for (jti, error) in acks {
                // An acknowledged event is not pushed any more either.
                changed += sqlx::query(
                    "UPDATE ob_events SET acknowledged_at = $3, next_attempt_at = NULL, \
                     last_error = COALESCE($4, last_error) \
                     WHERE client_id = $1 AND jti = $2 AND acknowledged_at IS NULL",
                )
                .bind(client_id)
                .bind(jti)
                .bind(now)
                .bind(error)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            changed
        }))
    }

    async fn delete_events_before(&self, before: UnixTime) -> StoreResult<u64> {
        Ok(with_pool!(self, |pool| sqlx::query(
            "DELETE FROM ob_events WHERE created_at < $1"
        )
        .bind(before)
        .execute(pool)
        .await?
        .rows_affected()))
    }
}
