//! tower-sessions backed by our database on both backends. The cookie holds the session id; the
//! database row is keyed by its SHA-256, so the stored data cannot be used to ride a session.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::clock::SharedClock;
use crate::store::{SessionRecordStore, Store};

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
    clock: SharedClock,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

impl DbSessionStore {
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self { store, clock }
    }
}

fn id_hash(id: &Id) -> [u8; 32] {
    crate::crypto::sha256(&id.0.to_le_bytes())
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = encode(record)?;
        // A 128-bit random id colliding is vanishingly rare; if it happens, draw another.
        for _ in 0..8 {
            let created = self
                .store
                .create_session(
                    &id_hash(&record.id),
                    &data,
                    record.expiry_date.unix_timestamp(),
                )
                .await
                .map_err(backend)?;
            if created {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend(
            "could not allocate a session id".to_owned(),
        ))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store
            .save_session(
                &id_hash(&record.id),
                &encode(record)?,
                record.expiry_date.unix_timestamp(),
            )
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = self
            .store
            .load_session(&id_hash(id), self.clock.now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data =
            serde_json::from_str(&data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        // The expiry is renewed by the session layer on every request (inactivity expiry); the
        // stored `expires_at` has already been checked against the clock.
        let expiry_date = self.clock.now_datetime() + time::Duration::minutes(1);
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .delete_session(&id_hash(id))
            .await
            .map_err(backend)
    }
}
