//! UK Open Banking consents, the accounts chosen for them, and their history. Every status change
//! is one conditional update (the status it leaves is part of the `WHERE`), its history row and
//! the event notification for the consent's client, in one transaction, so two racing changes
//! cannot both happen and no change goes unreported.

use async_trait::async_trait;

use super::events::EventOutbox as _;
use super::{Store, StoreError, StoreResult, with_pool};
use crate::clock::UnixTime;
use crate::consent::{Actor, ConsentKind, ConsentStatus};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsentRecord {
    pub id: String,
    /// [`ConsentKind`] as text.
    pub kind: String,
    pub client_id: String,
    /// [`ConsentStatus`] as text.
    pub status: String,
    pub status_updated_at: UnixTime,
    pub created_at: UnixTime,
    /// `ExpirationDateTime`; `None` for an open-ended consent.
    pub expires_at: Option<UnixTime>,
    /// The customer who authorised or rejected it.
    pub user_id: Option<String>,
    /// Account access: the permissions, a JSON array of names.
    pub permissions: Option<String>,
    /// Account access: the transaction period.
    pub tx_from: Option<UnixTime>,
    pub tx_to: Option<UnixTime>,
    /// Payments: the debtor account, fixed by the TPP or chosen by the customer.
    pub debtor_account_id: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    /// What the TPP submitted (`Data` and `Risk`), JSON.
    pub body: String,
    pub idempotency_key: Option<String>,
    /// Hex SHA-256 of the request body.
    pub request_hash: Option<String>,
    pub authorised_at: Option<UnixTime>,
    pub last_used_at: Option<UnixTime>,
}

impl ConsentRecord {
    pub fn kind(&self) -> StoreResult<ConsentKind> {
        self.kind
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("consent kind: {e}")))
    }

    pub fn status(&self) -> StoreResult<ConsentStatus> {
        self.status
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("consent status: {e}")))
    }

    /// The status as of `now`: an Authorised or waiting consent past its expiry is Expired, even
    /// before housekeeping records it.
    pub fn status_at(&self, now: UnixTime) -> StoreResult<ConsentStatus> {
        let status = self.status()?;
        Ok(match (status, self.expires_at) {
            (ConsentStatus::AwaitingAuthorisation | ConsentStatus::Authorised, Some(expiry))
                if expiry <= now =>
            {
                ConsentStatus::Expired
            }
            _ => status,
        })
    }
}

/// One status change of a consent.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsentHistoryEntry {
    pub status: String,
    pub at: UnixTime,
    pub actor: String,
}

/// What [`ConsentStore::insert_consent`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentInsert {
    Inserted,
    /// The client already created a consent of this kind under this idempotency key: that one.
    Existing(Box<ConsentRecord>),
}

/// What the customer approved on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorisation<'a> {
    pub user_id: &'a str,
    /// Account access: the accounts chosen (at least one).
    pub account_ids: &'a [String],
    /// Payments: the debtor account, when the consent did not fix it.
    pub debtor_account_id: Option<&'a str>,
}

#[async_trait]
pub trait ConsentStore {
    /// Stores a new consent (status as given, normally AwaitingAuthorisation) and its first history
    /// row. Under an idempotency key the client already used for this kind, stores nothing and
    /// returns the existing consent.
    async fn insert_consent(&self, c: &ConsentRecord, actor: &Actor) -> StoreResult<ConsentInsert>;
    async fn consent(&self, id: &str) -> StoreResult<Option<ConsentRecord>>;
    /// The accounts chosen for an account-access consent.
    async fn consent_accounts(&self, id: &str) -> StoreResult<Vec<String>>;
    /// The status changes, oldest first. Within one second the lifecycle decides the order: a
    /// consent is created, then authorised, then ends.
    async fn consent_history(&self, id: &str) -> StoreResult<Vec<ConsentHistoryEntry>>;
    /// Every consent the customer authorised or rejected, newest first.
    async fn consents_of_user(&self, user_id: &str) -> StoreResult<Vec<ConsentRecord>>;
    /// AwaitingAuthorisation -> Authorised with the customer's choices, if the consent is still
    /// waiting and unexpired at `now`; returns whether this call authorised it. The client's
    /// `resource-update` event is stored with the change.
    async fn authorise_consent(
        &self,
        id: &str,
        authorisation: &Authorisation<'_>,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Moves the consent to `to` if its status is one `to` is reachable from; returns whether this
    /// call changed it. Moving to Revoked, Rejected, Expired or Consumed also revokes the grants
    /// bound to the consent and their tokens, in the same transaction, except that Consumed
    /// leaves the grant alive for reading the payment it made. The client's event
    /// (`consent-authorization-revoked` for Revoked, else `resource-update`) is stored with the
    /// change.
    async fn transition_consent(
        &self,
        id: &str,
        to: ConsentStatus,
        actor: &Actor,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Records a use of the consent at most once a minute (for the customer's dashboard).
    async fn touch_consent(&self, id: &str, now: UnixTime) -> StoreResult<()>;
    /// Marks consents past their expiry Expired (and revokes their grants); returns their ids.
    async fn expire_consents(&self, now: UnixTime) -> StoreResult<Vec<String>>;
}

const CONSENT_COLUMNS: &str = "id, kind, client_id, status, status_updated_at, created_at, \
     expires_at, user_id, permissions, tx_from, tx_to, debtor_account_id, amount_minor, currency, \
     body, idempotency_key, request_hash, authorised_at, last_used_at";

const INSERT_HISTORY: &str = "INSERT INTO ob_consent_history (id, consent_id, status, at, actor) VALUES ($1, $2, $3, $4, $5)";

/// Revokes the grants bound to a consent and their tokens; `$1` the consent id, `$2` now.
/// Refresh tokens before access tokens, the order every other transaction locks them in.
const REVOKE_CONSENT_GRANTS: [&str; 3] = [
    "UPDATE grants SET revoked_at = $2 WHERE consent_id = $1 AND revoked_at IS NULL",
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL \
     AND grant_id IN (SELECT id FROM grants WHERE consent_id = $1)",
    "UPDATE access_tokens SET revoked_at = $2 WHERE revoked_at IS NULL \
     AND grant_id IN (SELECT id FROM grants WHERE consent_id = $1)",
];

fn status_list(statuses: &[ConsentStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl ConsentStore for Store {
    async fn insert_consent(&self, c: &ConsentRecord, actor: &Actor) -> StoreResult<ConsentInsert> {
        let sql = format!(
            "INSERT INTO ob_consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
             ON CONFLICT (client_id, kind, idempotency_key) DO NOTHING"
        );
        let existing = format!(
            "SELECT {CONSENT_COLUMNS} FROM ob_consents \
             WHERE client_id = $1 AND kind = $2 AND idempotency_key = $3"
        );
        let actor = actor.to_string();
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(&sql)
                .bind(&c.id)
                .bind(&c.kind)
                .bind(&c.client_id)
                .bind(&c.status)
                .bind(c.status_updated_at)
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(&c.user_id)
                .bind(&c.permissions)
                .bind(c.tx_from)
                .bind(c.tx_to)
                .bind(&c.debtor_account_id)
                .bind(c.amount_minor)
                .bind(&c.currency)
                .bind(&c.body)
                .bind(&c.idempotency_key)
                .bind(&c.request_hash)
                .bind(c.authorised_at)
                .bind(c.last_used_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if inserted {
                sqlx::query(INSERT_HISTORY)
                    .bind(crate::crypto::new_id())
                    .bind(&c.id)
                    .bind(&c.status)
                    .bind(c.created_at)
                    .bind(&actor)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                ConsentInsert::Inserted
            } else {
                let found: ConsentRecord = sqlx::query_as(&existing)
                    .bind(&c.client_id)
                    .bind(&c.kind)
                    .bind(&c.idempotency_key)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.rollback().await?;
                ConsentInsert::Existing(Box::new(found))
            }
        }))
    }

    async fn consent(&self, id: &str) -> StoreResult<Option<ConsentRecord>> {
        let sql = format!("SELECT {CONSENT_COLUMNS} FROM ob_consents WHERE id = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    async fn consent_accounts(&self, id: &str) -> StoreResult<Vec<String>> {
        let rows: Vec<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as(
            "SELECT account_id FROM ob_consent_accounts WHERE consent_id = $1 ORDER BY account_id"
        )
        .bind(id)
        .fetch_all(pool)
        .await?
        });
        Ok(rows.into_iter().map(|(a,)| a).collect())
    }

    async fn consent_history(&self, id: &str) -> StoreResult<Vec<ConsentHistoryEntry>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT status, at, actor FROM ob_consent_history WHERE consent_id = $1 \
             ORDER BY at, CASE status WHEN 'AwaitingAuthorisation' THEN 0 \
             WHEN 'Authorised' THEN 1 ELSE 2 END"
        )
        .bind(id)
        .fetch_all(pool)
        .await?))
    }

    async fn consents_of_user(&self, user_id: &str) -> StoreResult<Vec<ConsentRecord>> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM ob_consents WHERE user_id = $1 \
             ORDER BY created_at DESC, id"
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_all(pool)
            .await?))
    }

    async fn authorise_consent(
        &self,
        id: &str,
        a: &Authorisation<'_>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let authorised = ConsentStatus::Authorised.as_str();
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE ob_consents SET status = $2, status_updated_at = $3, authorised_at = $3, \
                 user_id = $4, debtor_account_id = COALESCE(debtor_account_id, $5) \
                 WHERE id = $1 AND status = 'AwaitingAuthorisation' \
                 AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(id)
            .bind(authorised)
            .bind(now)
            .bind(a.user_id)
            .bind(a.debtor_account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !changed {
                tx.rollback().await?;
                return Ok(false);
            }
            for account in a.account_ids {
                sqlx::query(
                    "INSERT INTO ob_consent_accounts (consent_id, account_id) VALUES ($1, $2)",
                )
                .bind(id)
                .bind(account)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(INSERT_HISTORY)
                .bind(crate::crypto::new_id())
                .bind(id)
                .bind(authorised)
                .bind(now)
                .bind(Actor::Psu(a.user_id.to_owned()).to_string())
                .execute(&mut *tx)
                .await?;
            tx.enqueue_consent_event(id, ConsentStatus::Authorised, now)
                .await?;
            tx.commit().await?;
            true
        }))
    }

    async fn transition_consent(
        &self,
        id: &str,
        to: ConsentStatus,
        actor: &Actor,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let from = to.reachable_from();
        if from.is_empty() {
            return Ok(false);
        }
        let sql = format!(
            "UPDATE ob_consents SET status = $2, status_updated_at = $3 \
             WHERE id = $1 AND status IN ({})",
            status_list(from)
        );
        let actor = actor.to_string();
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(&sql)
                .bind(id)
                .bind(to.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !changed {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(INSERT_HISTORY)
                .bind(crate::crypto::new_id())
                .bind(id)
                .bind(to.as_str())
                .bind(now)
                .bind(&actor)
                .execute(&mut *tx)
                .await?;
            if to != ConsentStatus::Consumed {
                for sql in REVOKE_CONSENT_GRANTS {
                    sqlx::query(sql)
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.enqueue_consent_event(id, to, now).await?;
            tx.commit().await?;
            true
        }))
    }

    async fn touch_consent(&self, id: &str, now: UnixTime) -> StoreResult<()> {
        with_pool!(self, |pool| sqlx::query(
            "UPDATE ob_consents SET last_used_at = $2 WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < $3)"
        )
        .bind(id)
        .bind(now)
        .bind(now - 60)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(())
    }

    async fn expire_consents(&self, now: UnixTime) -> StoreResult<Vec<String>> {
        let due: Vec<(String,)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT id FROM ob_consents WHERE expires_at <= $1 \
             AND status IN ('AwaitingAuthorisation', 'Authorised')"
        )
        .bind(now)
        .fetch_all(pool)
        .await?);
        let mut expired = Vec::new();
        for (id,) in due {
            if self
                .transition_consent(&id, ConsentStatus::Expired, &Actor::System, now)
                .await?
            {
                expired.push(id);
            }
        }
        Ok(expired)
    }
}
