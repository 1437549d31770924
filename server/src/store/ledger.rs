//! The bundled core-banking ledger: accounts, booked transactions, beneficiaries. The resource APIs
//! read it through the core-banking adapter; the demo seeds it.

use async_trait::async_trait;

use super::clients::{INSERT_CLIENT, bind_client};
use super::users::{INSERT_USER, bind_user};
use super::{ClientRecord, Store, StoreResult, User, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub owner_user_id: String,
    /// `Personal` or `Business`.
    pub account_type: String,
    /// `CurrentAccount`, `Savings`, ...
    pub account_subtype: String,
    pub currency: String,
    pub nickname: String,
    /// `UK.OBIE.SortCodeAccountNumber` or `UK.OBIE.IBAN`.
    pub scheme_name: String,
    pub identification: String,
    pub holder_name: String,
    pub balance_minor: i64,
    pub opened_at: UnixTime,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Transaction {
    pub id: String,
    pub account_id: String,
    /// Credits positive, debits negative, in minor units.
    pub amount_minor: i64,
    pub currency: String,
    pub status: String,
    pub booked_at: UnixTime,
    pub value_at: UnixTime,
    pub description: String,
    pub counterparty: Option<String>,
    pub bank_code: String,
    pub balance_after_minor: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Beneficiary {
    pub id: String,
    pub account_id: String,
    pub reference: String,
    pub name: String,
    pub scheme_name: String,
    pub identification: String,
    pub created_at: UnixTime,
}

/// Everything a first start of a bank writes at once.
#[derive(Debug, Clone, Default)]
pub struct BankSeed {
    pub users: Vec<User>,
    pub accounts: Vec<Account>,
    pub transactions: Vec<Transaction>,
    pub beneficiaries: Vec<Beneficiary>,
    pub clients: Vec<ClientRecord>,
}

#[async_trait]
pub trait LedgerStore {
    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<Account>>;
    /// Transactions of an account booked in `[from, to)`, newest first.
    async fn transactions(
        &self,
        account_id: &str,
        from: UnixTime,
        to: UnixTime,
    ) -> StoreResult<Vec<Transaction>>;
    async fn beneficiaries(&self, account_id: &str) -> StoreResult<Vec<Beneficiary>>;
    /// Writes `seed` in one transaction unless `marker` is already recorded; returns whether it wrote.
    async fn seed_once(&self, marker: &str, seed: &BankSeed) -> StoreResult<bool>;
}

#[async_trait]
impl LedgerStore for Store {
    async fn accounts_of(&self, user_id: &str) -> StoreResult<Vec<Account>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, owner_user_id, account_type, account_subtype, currency, nickname, scheme_name, \
                 identification, holder_name, balance_minor, opened_at FROM ledger_accounts \
                 WHERE owner_user_id = $1 ORDER BY opened_at, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        }))
    }

    async fn transactions(
        &self,
        account_id: &str,
        from: UnixTime,
        to: UnixTime,
    ) -> StoreResult<Vec<Transaction>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, account_id, amount_minor, currency, status, booked_at, value_at, description, \
                 counterparty, bank_code, balance_after_minor FROM ledger_transactions \
                 WHERE account_id = $1 AND booked_at >= $2 AND booked_at < $3 ORDER BY booked_at DESC, id DESC",
            )
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        }))
    }

    async fn beneficiaries(&self, account_id: &str) -> StoreResult<Vec<Beneficiary>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, account_id, reference, name, scheme_name, identification, created_at \
                 FROM ledger_beneficiaries WHERE account_id = $1 ORDER BY name, id",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await?
        }))
    }

    async fn seed_once(&self, marker: &str, seed: &BankSeed) -> StoreResult<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let fresh = sqlx::query(
                "INSERT INTO server_meta (name, value) VALUES ($1, 'seeded') ON CONFLICT (name) DO NOTHING",
            )
            .bind(marker)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                return Ok(false);
            }
            for u in &seed.users {
                bind_user!(sqlx::query(INSERT_USER), u)
                    .execute(&mut *tx)
                    .await?;
            }
            for a in &seed.accounts {
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, owner_user_id, account_type, account_subtype, currency, \
                     nickname, scheme_name, identification, holder_name, balance_minor, opened_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&a.id)
                .bind(&a.owner_user_id)
                .bind(&a.account_type)
                .bind(&a.account_subtype)
                .bind(&a.currency)
                .bind(&a.nickname)
                .bind(&a.scheme_name)
                .bind(&a.identification)
                .bind(&a.holder_name)
                .bind(a.balance_minor)
                .bind(a.opened_at)
                .execute(&mut *tx)
                .await?;
            }
            for t in &seed.transactions {
                sqlx::query(
                    "INSERT INTO ledger_transactions (id, account_id, amount_minor, currency, status, booked_at, \
                     value_at, description, counterparty, bank_code, balance_after_minor) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&t.id)
                .bind(&t.account_id)
                .bind(t.amount_minor)
                .bind(&t.currency)
                .bind(&t.status)
                .bind(t.booked_at)
                .bind(t.value_at)
                .bind(&t.description)
                .bind(&t.counterparty)
                .bind(&t.bank_code)
                .bind(t.balance_after_minor)
                .execute(&mut *tx)
                .await?;
            }
            for b in &seed.beneficiaries {
                sqlx::query(
                    "INSERT INTO ledger_beneficiaries (id, account_id, reference, name, scheme_name, \
                     identification, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&b.id)
                .bind(&b.account_id)
                .bind(&b.reference)
                .bind(&b.name)
                .bind(&b.scheme_name)
                .bind(&b.identification)
                .bind(b.created_at)
                .execute(&mut *tx)
                .await?;
            }
            for c in &seed.clients {
                bind_client!(sqlx::query(INSERT_CLIENT), c)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }
}
