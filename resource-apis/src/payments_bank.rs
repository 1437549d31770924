//! The core-banking side of payments: finding accounts, confirming funds, executing a payment and
//! settling it. A bank plugs its own in; the bundled implementation, [`LedgerPayments`], posts to
//! the ledger in our database.
//!
//! Executing a payment consumes the consent and books both postings in **one** transaction, so a
//! payment is made exactly once per consent and per idempotency key, however many submissions
//! race. An adapter over an external core-banking system cannot share that transaction: it must
//! make its booking idempotent on the payment id (which a replay of the same submission keeps).

use async_trait::async_trait;
use consentry_server::clock::UnixTime;
use consentry_server::store::{
    Account, NewPayment, PaymentOutcome, PaymentStore as _, Store, StoreResult,
};

/// How long the bundled bank takes to settle a payment, in seconds: a payment is
/// AcceptedSettlementInProcess when made and AcceptedSettlementCompleted this much later. At
/// least one second, so the two statuses of its history never share a timestamp.
pub const SETTLEMENT_DELAY_SECS: i64 = 5;

#[async_trait]
pub trait PaymentExecution: Send + Sync + 'static {
    /// The customer account with this scheme and identification, if this bank holds it.
    async fn find_account(
        &self,
        scheme_name: &str,
        identification: &str,
    ) -> StoreResult<Option<Account>>;
    /// Whether the account's available funds cover `amount_minor` of `currency`; `None` when
    /// the account is unknown or in another currency.
    async fn funds_available(
        &self,
        account_id: &str,
        amount_minor: i64,
        currency: &str,
    ) -> StoreResult<Option<bool>>;
    /// Makes the payment (consent consumed, debtor debited, creditor credited) or says why not.
    async fn execute(&self, payment: &NewPayment<'_>) -> StoreResult<PaymentOutcome>;
    /// Brings the payment's status up to date at `now`; returns whether it changed.
    async fn settle(&self, payment_id: &str, now: UnixTime) -> StoreResult<bool>;
}

/// The bundled core banking: our own ledger tables.
#[derive(Debug, Clone)]
pub struct LedgerPayments {
    pub store: Store,
    /// Seconds from a payment to its settlement (at least 1).
    pub settlement_delay: i64,
}

impl LedgerPayments {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            settlement_delay: SETTLEMENT_DELAY_SECS,
        }
    }
}

#[async_trait]
impl PaymentExecution for LedgerPayments {
    async fn find_account(
        &self,
        scheme_name: &str,
        identification: &str,
    ) -> StoreResult<Option<Account>> {
        self.store
            .ledger_account_by_identification(scheme_name, identification)
            .await
    }

    async fn funds_available(
        &self,
        account_id: &str,
        amount_minor: i64,
        currency: &str,
    ) -> StoreResult<Option<bool>> {
        Ok(self
            .store
            .ledger_account(account_id)
            .await?
            .filter(|a| a.currency == currency)
            .map(|a| a.balance_minor >= amount_minor))
    }

    async fn execute(&self, payment: &NewPayment<'_>) -> StoreResult<PaymentOutcome> {
        let settles_at = payment.now + self.settlement_delay.max(1);
        self.store.make_payment(payment, settles_at).await
    }

    async fn settle(&self, payment_id: &str, now: UnixTime) -> StoreResult<bool> {
        self.store.settle_payment(payment_id, now).await
    }
}
