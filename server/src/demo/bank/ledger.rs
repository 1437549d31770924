//! The running ledger of one customer's three accounts: balances, floors and booking order.

use crate::clock::UnixTime;
use crate::store::Transaction;

use super::new_id;

pub(super) struct Ledger {
    pub(super) now: UnixTime,
    pub(super) start: UnixTime,
    pub(super) ids: [String; 3],
    pub(super) currencies: [&'static str; 3],
    pub(super) floors: [i64; 3],
    pub(super) balances: [i64; 3],
    pub(super) last: [UnixTime; 3],
    pub(super) transactions: Vec<Transaction>,
}

impl Ledger {
    pub(super) fn push(
        &mut self,
        account: usize,
        at: UnixTime,
        amount: i64,
        description: String,
        counterparty: Option<&str>,
        code: &str,
    ) {
        self.balances[account] += amount;
        self.last[account] = at;
        self.transactions.push(Transaction {
            id: new_id(),
            account_id: self.ids[account].clone(),
            amount_minor: amount,
            currency: self.currencies[account].to_owned(),
            status: "Booked".to_owned(),
            booked_at: at,
            value_at: at,
            description,
            counterparty: counterparty.map(str::to_owned),
            bank_code: code.to_owned(),
            balance_after_minor: self.balances[account],
        });
    }

    /// The instant to book at, or `None` if `at` is outside the year of history.
    fn slot(&self, at: UnixTime, accounts: &[usize]) -> Option<UnixTime> {
        if at <= self.start {
            return None;
        }
        let at = accounts.iter().fold(at, |t, &a| t.max(self.last[a] + 1));
        (at <= self.now).then_some(at)
    }

    /// Books one entry unless it would take the account below its floor.
    pub(super) fn post(
        &mut self,
        account: usize,
        at: UnixTime,
        amount: i64,
        description: String,
        counterparty: Option<&str>,
        code: &str,
    ) -> bool {
        let Some(at) = self.slot(at, &[account]) else {
            return false;
        };
        if amount < 0 && self.balances[account] + amount < self.floors[account] {
            return false;
        }
        self.push(account, at, amount, description, counterparty, code);
        true
    }

    /// Moves money between two accounts of the customer, both sides at the same instant.
    #[expect(
        clippy::too_many_arguments,
        reason = "both sides of a transfer are described here"
    )]
    pub(super) fn transfer(
        &mut self,
        from: usize,
        to: usize,
        at: UnixTime,
        debit: i64,
        credit: i64,
        out: String,
        into: String,
        holder: &str,
    ) -> bool {
        let Some(at) = self.slot(at, &[from, to]) else {
            return false;
        };
        if debit <= 0 || self.balances[from] - debit < self.floors[from] {
            return false;
        }
        self.push(from, at, -debit, out, Some(holder), "TFR");
        self.push(to, at, credit, into, Some(holder), "TFR");
        true
    }
}
