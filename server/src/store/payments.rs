//! UK Open Banking domestic payments and the bundled ledger postings behind them.
//!
//! [`PaymentStore::make_payment`] does everything a payment is in one transaction: it claims the
//! client's idempotency key and the consent (unique keys on `ob_payments`), moves the consent
//! Authorised -> Consumed by a conditional update, debits the debtor account by a conditional
//! update that refuses to go below zero, credits the creditor (an account of this bank, or the
//! bank's settlement account of the currency), and records both postings and the first status.
//! Any refusal rolls all of it back. Concurrent submissions of one key wait on the unique key
//! and then find the payment the first one made.

use async_trait::async_trait;

use super::events::EventOutbox as _;
use super::{Account, Store, StoreError, StoreResult, with_pool};
use crate::clock::UnixTime;
use crate::consent::{Actor, ConsentStatus};
use crate::events::{NewEvent, ResourceRef};

/// The status of a domestic payment (UK OB 3.1 `OBTransactionIndividualStatus1Code`, the values
/// the bundled bank uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    AcceptedSettlementInProcess,
    AcceptedSettlementCompleted,
    Rejected,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::AcceptedSettlementInProcess => "AcceptedSettlementInProcess",
            PaymentStatus::AcceptedSettlementCompleted => "AcceptedSettlementCompleted",
            PaymentStatus::Rejected => "Rejected",
        }
    }
}

impl std::str::FromStr for PaymentStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> StoreResult<Self> {
        [
            PaymentStatus::AcceptedSettlementInProcess,
            PaymentStatus::AcceptedSettlementCompleted,
            PaymentStatus::Rejected,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("payment status {s:?}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentRecord {
    pub id: String,
    pub consent_id: String,
    pub client_id: String,
    pub idempotency_key: String,
    /// Hex SHA-256 of the request body (canonical JSON).
    pub request_hash: String,
    /// [`PaymentStatus`] as text.
    pub status: String,
    pub status_updated_at: UnixTime,
    pub created_at: UnixTime,
    /// When the payment becomes AcceptedSettlementCompleted.
    pub settles_at: UnixTime,
    pub debtor_account_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// What the TPP submitted (`Data` and `Risk`), JSON.
    pub body: String,
    pub debit_transaction_id: Option<String>,
    pub credit_transaction_id: Option<String>,
}

impl PaymentRecord {
    pub fn status(&self) -> StoreResult<PaymentStatus> {
        self.status.parse()
    }
}

/// One status change of a payment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PaymentHistoryEntry {
    pub status: String,
    pub at: UnixTime,
}

/// Where a payment goes, as the TPP named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Creditor<'a> {
    /// `UK.OBIE.SortCodeAccountNumber` or `UK.OBIE.IBAN`.
    pub scheme_name: &'a str,
    pub identification: &'a str,
    pub name: &'a str,
}

/// A payment to make.
#[derive(Debug, Clone, Copy)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub consent_id: &'a str,
    pub client_id: &'a str,
    pub idempotency_key: &'a str,
    pub request_hash: &'a str,
    /// The customer who authorised the consent: the debtor account must be theirs.
    pub payer_user_id: &'a str,
    pub debtor_account_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub body: &'a str,
    pub creditor: Creditor<'a>,
    /// The description of both postings (the payment's reference).
    pub reference: &'a str,
    pub now: UnixTime,
}

/// What [`PaymentStore::make_payment`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The payment was made now.
    Made(Box<PaymentRecord>),
    /// The client made a payment under this idempotency key before, with the same request: that
    /// one. Nothing was posted again.
    Replayed(Box<PaymentRecord>),
    /// The client used this idempotency key for a different request.
    KeyReused,
    /// Another payment was already made under this consent.
    ConsentAlreadyUsed,
    /// The consent is not Authorised (or expired, or not the client's).
    ConsentNotAuthorised,
    /// The debtor account's balance does not cover the amount.
    InsufficientFunds,
    /// The debtor account is gone, not the payer's, or in another currency.
    DebtorAccountUnusable,
}

/// The owner of the settlement accounts: a disabled customer, created with the first account.
pub const SETTLEMENT_OWNER: &str = "system-settlement";
/// The scheme of settlement accounts: never one a TPP can name.
const SETTLEMENT_SCHEME: &str = "Consentry.Settlement";

/// The settlement account of `currency`: where payments to other banks are credited.
pub fn settlement_account_id(currency: &str) -> String {
    format!("settlement-{currency}")
}

#[async_trait]
pub trait PaymentStore {
    /// Makes the payment, to be settled at `settles_at`, or finds why not; see the module
    /// documentation.
    async fn make_payment(
        &self,
        p: &NewPayment<'_>,
        settles_at: UnixTime,
    ) -> StoreResult<PaymentOutcome>;
    async fn payment(&self, id: &str) -> StoreResult<Option<PaymentRecord>>;
    /// Every status of a payment, oldest first.
    async fn payment_history(&self, id: &str) -> StoreResult<Vec<PaymentHistoryEntry>>;
    /// AcceptedSettlementInProcess -> AcceptedSettlementCompleted, if its `settles_at` is not after
    /// `now`; the change is recorded at `settles_at`. Returns whether this call settled it.
    async fn settle_payment(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Settles every payment due at `now`; returns their ids.
    async fn settle_due_payments(&self, now: UnixTime) -> StoreResult<Vec<String>>;
    /// A ledger account by id (settlement accounts included).
    async fn ledger_account(&self, id: &str) -> StoreResult<Option<Account>>;
    /// The customer account with this scheme and identification, if this bank holds one.
    async fn ledger_account_by_identification(
        &self,
        scheme_name: &str,
        identification: &str,
    ) -> StoreResult<Option<Account>>;
}

const PAYMENT_COLUMNS: &str = "id, consent_id, client_id, idempotency_key, request_hash, status, \
     status_updated_at, created_at, settles_at, debtor_account_id, amount_minor, currency, body, \
     debit_transaction_id, credit_transaction_id";

const ACCOUNT_COLUMNS: &str = "id, owner_user_id, account_type, account_subtype, currency, \
     nickname, scheme_name, identification, holder_name, balance_minor, opened_at";

const INSERT_PAYMENT_HISTORY: &str =
    "INSERT INTO ob_payment_history (id, payment_id, status, at) VALUES ($1, $2, $3, $4)";

/// Adds `$2` to the balance of account `$1`, unless `$3` is false and the balance would go
/// below zero; returns the new balance and the holder.
const POST_TO_ACCOUNT: &str = "UPDATE ledger_accounts SET balance_minor = balance_minor + $2 \
     WHERE id = $1 AND ($3 OR balance_minor + $2 >= 0) RETURNING balance_minor";

const INSERT_POSTING: &str = "INSERT INTO ledger_transactions (id, account_id, amount_minor, \
     currency, status, booked_at, value_at, description, counterparty, bank_code, \
     balance_after_minor) VALUES ($1, $2, $3, $4, 'Booked', $5, $5, $6, $7, 'PMT', $8)";

/// One side of a payment in the ledger.
struct Leg<'a> {
    account_id: &'a str,
    amount_minor: i64,
    counterparty: &'a str,
    transaction_id: String,
}

#[async_trait]
impl PaymentStore for Store {
    async fn make_payment(
        &self,
        p: &NewPayment<'_>,
        settles_at: UnixTime,
    ) -> StoreResult<PaymentOutcome> {
        let insert = format!(
            "INSERT INTO ob_payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, \
             $8, $9, $10, $11, $12, NULL, NULL) ON CONFLICT DO NOTHING"
        );
        let existing = format!(
            "SELECT {PAYMENT_COLUMNS} FROM ob_payments WHERE client_id = $1 AND idempotency_key = $2"
        );
        let in_process = PaymentStatus::AcceptedSettlementInProcess.as_str();
        let settlement = settlement_account_id(p.currency);
        let outcome = with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The claim: a second submission of the key (or of the consent) stops here, after
            // the first one's transaction has ended.
            let claimed = sqlx::query(&insert)
                .bind(p.id)
                .bind(p.consent_id)
                .bind(p.client_id)
                .bind(p.idempotency_key)
                .bind(p.request_hash)
                .bind(in_process)
                .bind(p.now)
                .bind(settles_at)
                .bind(p.debtor_account_id)
                .bind(p.amount_minor)
                .bind(p.currency)
                .bind(p.body)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !claimed {
                // Read in the transaction: it saw the payment that took the key or the consent.
                let found: Option<PaymentRecord> = sqlx::query_as(&existing)
                    .bind(p.client_id)
                    .bind(p.idempotency_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.rollback().await?;
                return Ok(match found {
                    Some(first) if first.request_hash == p.request_hash => {
                        PaymentOutcome::Replayed(Box::new(first))
                    }
                    Some(_) => PaymentOutcome::KeyReused,
                    None => PaymentOutcome::ConsentAlreadyUsed,
                });
            }
            let consumed = sqlx::query(
                "UPDATE ob_consents SET status = 'Consumed', status_updated_at = $3 \
                 WHERE id = $1 AND client_id = $2 AND kind = 'domestic-payment' \
                 AND status = 'Authorised' AND (expires_at IS NULL OR expires_at > $3)",
            )
            .bind(p.consent_id)
            .bind(p.client_id)
            .bind(p.now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !consumed {
                tx.rollback().await?;
                return Ok(PaymentOutcome::ConsentNotAuthorised);
            }
            sqlx::query(
                "INSERT INTO ob_consent_history (id, consent_id, status, at, actor) \
                 VALUES ($1, $2, 'Consumed', $3, $4)",
            )
            .bind(crate::crypto::new_id())
            .bind(p.consent_id)
            .bind(p.now)
            .bind(Actor::Tpp(p.client_id.to_owned()).to_string())
            .execute(&mut *tx)
            .await?;
            tx.enqueue_consent_event(p.consent_id, ConsentStatus::Consumed, p.now)
                .await?;

            let debtor: Option<(String, String, String)> = sqlx::query_as(
                "SELECT owner_user_id, currency, holder_name FROM ledger_accounts WHERE id = $1",
            )
            .bind(p.debtor_account_id)
            .fetch_optional(&mut *tx)
            .await?;
            let debtor_name = match debtor {
                Some((owner, currency, holder))
                    if owner == p.payer_user_id && currency == p.currency =>
                {
                    holder
                }
                _ => {
                    tx.rollback().await?;
                    return Ok(PaymentOutcome::DebtorAccountUnusable);
                }
            };
            let internal: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM ledger_accounts WHERE scheme_name = $1 AND identification = $2 \
                 AND currency = $3 AND owner_user_id <> $4 ORDER BY id LIMIT 1",
            )
            .bind(p.creditor.scheme_name)
            .bind(p.creditor.identification)
            .bind(p.currency)
            .bind(SETTLEMENT_OWNER)
            .fetch_optional(&mut *tx)
            .await?;
            let creditor_account = match internal {
                Some((id,)) => id,
                None => {
                    sqlx::query(
                        "INSERT INTO users (id, username, display_name, role, password_hash, \
                         disabled_at, created_at) VALUES ($1, 'system:settlement', \
                         'Settlement (payments to other banks)', 'customer', '!', $2, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(SETTLEMENT_OWNER)
                    .bind(p.now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO ledger_accounts (id, owner_user_id, account_type, \
                         account_subtype, currency, nickname, scheme_name, identification, \
                         holder_name, balance_minor, opened_at) VALUES ($1, $2, 'Business', \
                         'CurrentAccount', $3, 'Settlement', $4, $3, 'Settlement', 0, $5) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&settlement)
                    .bind(SETTLEMENT_OWNER)
                    .bind(p.currency)
                    .bind(SETTLEMENT_SCHEME)
                    .bind(p.now)
                    .execute(&mut *tx)
                    .await?;
                    settlement.clone()
                }
            };

            let debit = Leg {
                account_id: p.debtor_account_id,
                amount_minor: -p.amount_minor,
                counterparty: p.creditor.name,
                transaction_id: crate::crypto::new_id(),
            };
            let credit = Leg {
                account_id: &creditor_account,
                amount_minor: p.amount_minor,
                counterparty: &debtor_name,
                transaction_id: crate::crypto::new_id(),
            };
            // Rows are locked in id order, so two payments between the same accounts in opposite
            // directions cannot deadlock.
            let legs = if debit.account_id <= credit.account_id {
                [&debit, &credit]
            } else {
                [&credit, &debit]
            };
            for leg in legs {
                let may_go_negative = leg.amount_minor > 0;
                let balance: Option<(i64,)> = sqlx::query_as(POST_TO_ACCOUNT)
                    .bind(leg.account_id)
                    .bind(leg.amount_minor)
                    .bind(may_go_negative)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((balance_after,)) = balance else {
                    tx.rollback().await?;
                    return Ok(PaymentOutcome::InsufficientFunds);
                };
                sqlx::query(INSERT_POSTING)
                    .bind(&leg.transaction_id)
                    .bind(leg.account_id)
                    .bind(leg.amount_minor)
                    .bind(p.currency)
                    .bind(p.now)
                    .bind(p.reference)
                    .bind(leg.counterparty)
                    .bind(balance_after)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE ob_payments SET debit_transaction_id = $2, credit_transaction_id = $3 \
                 WHERE id = $1",
            )
            .bind(p.id)
            .bind(&debit.transaction_id)
            .bind(&credit.transaction_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(INSERT_PAYMENT_HISTORY)
                .bind(crate::crypto::new_id())
                .bind(p.id)
                .bind(in_process)
                .bind(p.now)
                .execute(&mut *tx)
                .await?;
            tx.enqueue_event(&NewEvent::resource_update(
                p.client_id,
                ResourceRef::domestic_payment(p.id),
                p.now,
            ))
            .await?;
            tx.commit().await?;
            PaymentOutcome::Made(Box::new(PaymentRecord {
                id: p.id.to_owned(),
                consent_id: p.consent_id.to_owned(),
                client_id: p.client_id.to_owned(),
                idempotency_key: p.idempotency_key.to_owned(),
                request_hash: p.request_hash.to_owned(),
                status: in_process.to_owned(),
                status_updated_at: p.now,
                created_at: p.now,
                settles_at,
                debtor_account_id: p.debtor_account_id.to_owned(),
                amount_minor: p.amount_minor,
                currency: p.currency.to_owned(),
                body: p.body.to_owned(),
                debit_transaction_id: Some(debit.transaction_id),
                credit_transaction_id: Some(credit.transaction_id),
            }))
        });
        Ok(outcome)
    }

    async fn payment(&self, id: &str) -> StoreResult<Option<PaymentRecord>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM ob_payments WHERE id = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    async fn payment_history(&self, id: &str) -> StoreResult<Vec<PaymentHistoryEntry>> {
        Ok(with_pool!(self, |pool| sqlx::query_as(
            "SELECT status, at FROM ob_payment_history WHERE payment_id = $1 ORDER BY at, id"
        )
        .bind(id)
        .fetch_all(pool)
        .await?))
    }

    async fn settle_payment(&self, id: &str, now: UnixTime) -> StoreResult<bool> {
        let completed = PaymentStatus::AcceptedSettlementCompleted.as_str();
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE ob_payments SET status = $2, status_updated_at = settles_at \
                 WHERE id = $1 AND status = 'AcceptedSettlementInProcess' AND settles_at <= $3",
            )
            .bind(id)
            .bind(completed)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if changed {
                sqlx::query(
                    "INSERT INTO ob_payment_history (id, payment_id, status, at) \
                     SELECT $1, id, status, settles_at FROM ob_payments WHERE id = $2",
                )
                .bind(crate::crypto::new_id())
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let (client_id,): (String,) =
                    sqlx::query_as("SELECT client_id FROM ob_payments WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.enqueue_event(&NewEvent::resource_update(
                    &client_id,
                    ResourceRef::domestic_payment(id),
                    now,
                ))
                .await?;
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            changed
        }))
    }

    async fn settle_due_payments(&self, now: UnixTime) -> StoreResult<Vec<String>> {
        let due: Vec<(String,)> = with_pool!(self, |pool| sqlx::query_as(
            "SELECT id FROM ob_payments WHERE status = 'AcceptedSettlementInProcess' \
             AND settles_at <= $1 ORDER BY settles_at, id"
        )
        .bind(now)
        .fetch_all(pool)
        .await?);
        let mut settled = Vec::new();
        for (id,) in due {
            if self.settle_payment(&id, now).await? {
                settled.push(id);
            }
        }
        Ok(settled)
    }

    async fn ledger_account(&self, id: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE id = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    async fn ledger_account_by_identification(
        &self,
        scheme_name: &str,
        identification: &str,
    ) -> StoreResult<Option<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM ledger_accounts WHERE scheme_name = $1 \
             AND identification = $2 AND owner_user_id <> $3 ORDER BY id LIMIT 1"
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(scheme_name)
            .bind(identification)
            .bind(SETTLEMENT_OWNER)
            .fetch_optional(pool)
            .await?))
    }
}
