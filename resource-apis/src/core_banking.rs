//! The core-banking adapter: what the resource APIs need from the bank's systems of record. A
//! bank plugs its own in; the bundled implementation, [`LedgerBank`], reads and posts to the
//! ledger in our database (what the demo seeds).

use async_trait::async_trait;
use consentry_server::clock::UnixTime;
use consentry_server::store::{
    Account, Beneficiary, LedgerStore as _, Store, StoreResult, Transaction,
};

/// Reading accounts, balances, transactions and beneficiaries.
#[async_trait]
pub trait AccountData: Send + Sync + 'static {
    /// The customer's accounts.
    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<Account>>;
    /// Transactions of an account booked in `[from, to)`, newest first.
    async fn transactions(
        &self,
        account_id: &str,
        from: UnixTime,
        to: UnixTime,
    ) -> StoreResult<Vec<Transaction>>;
    async fn beneficiaries(&self, account_id: &str) -> StoreResult<Vec<Beneficiary>>;
}

/// The bundled core banking: our own ledger tables.
#[derive(Debug, Clone)]
pub struct LedgerBank {
    pub store: Store,
}

impl LedgerBank {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[async_trait]
impl AccountData for LedgerBank {
    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<Account>> {
        self.store.accounts_of(user_id).await
    }

    async fn transactions(
        &self,
        account_id: &str,
        from: UnixTime,
        to: UnixTime,
    ) -> StoreResult<Vec<Transaction>> {
        self.store.transactions(account_id, from, to).await
    }

    async fn beneficiaries(&self, account_id: &str) -> StoreResult<Vec<Beneficiary>> {
        self.store.beneficiaries(account_id).await
    }
}
