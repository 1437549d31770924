//! The demo bank: three customers with a year of believable history, and an operator.
//!
//! [`generate`] is pure apart from the uuids it assigns: the same `now` gives the same people,
//! accounts, amounts and times (each customer draws from a PRNG with a fixed seed). Every customer
//! has a GBP current account (overdraft to -£500), a GBP savings account and a EUR account, all at
//! the demo sort code [`DEMO_SORT_CODE`]. Balances are running balances in booking order; booking
//! times are strictly increasing per account, and the two sides of a transfer share one instant.
//!
//! Demo passwords are fixed and documented (they are returned in [`DemoBank::credentials`]):
//! `alice-demo-2026`, `bob-demo-2026`, `carol-demo-2026`, `operator-demo-2026`.

mod history;
mod identifiers;
mod ledger;
mod profiles;

use crate::clock::UnixTime;
use crate::store::{BankSeed, Role, User};

use history::Customer;
pub use identifiers::{
    DEMO_IBAN_BANK, DEMO_SORT_CODE, SCHEME_IBAN, SCHEME_SORT_CODE, gb_iban, iban_is_valid,
};
use profiles::PROFILES;

/// The demo data, ready for `LedgerStore::seed_once`, and the logins to print.
#[derive(Debug, Clone)]
pub struct DemoBank {
    pub seed: BankSeed,
    pub credentials: Vec<DemoCredential>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCredential {
    pub username: String,
    pub password: String,
    pub display_name: String,
    pub role: Role,
}

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const CURRENT: usize = 0;
const SAVINGS: usize = 1;
const EURO: usize = 2;
/// The arranged overdraft of every current account.
const OVERDRAFT_MINOR: i64 = 50_000;

/// The demo bank as of `now`: a year of history up to `now`, nothing after it. `hash_password`
/// turns each demo password into its stored form.
pub fn generate(now: UnixTime, hash_password: &dyn Fn(&str) -> String) -> DemoBank {
    let mut seed = BankSeed::default();
    let mut credentials = Vec::new();
    for profile in &PROFILES {
        let customer = Customer::generate(profile, now);
        seed.users.push(User {
            id: customer.user_id.clone(),
            username: profile.username.to_owned(),
            display_name: profile.display_name.to_owned(),
            email: Some(profile.email.to_owned()),
            phone: Some(profile.phone.to_owned()),
            role: Role::Customer,
            password_hash: hash_password(profile.password),
            disabled_at: None,
            created_at: customer.accounts[CURRENT].opened_at,
        });
        credentials.push(DemoCredential {
            username: profile.username.to_owned(),
            password: profile.password.to_owned(),
            display_name: profile.display_name.to_owned(),
            role: Role::Customer,
        });
        seed.accounts.extend(customer.accounts);
        seed.transactions.extend(customer.transactions);
        seed.beneficiaries.extend(customer.beneficiaries);
    }
    let (username, password, display_name) =
        ("operator", "operator-demo-2026", "Demo Bank Operator");
    seed.users.push(User {
        id: new_id(),
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        email: Some("operator@example.com".to_owned()),
        phone: None,
        role: Role::Operator,
        password_hash: hash_password(password),
        disabled_at: None,
        created_at: now - 400 * DAY,
    });
    credentials.push(DemoCredential {
        username: username.to_owned(),
        password: password.to_owned(),
        display_name: display_name.to_owned(),
        role: Role::Operator,
    });
    DemoBank { seed, credentials }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;
    use crate::store::{Account, Transaction};

    /// 2026-03-14 15:09:26 UTC.
    const NOW: UnixTime = 1_773_500_966;

    fn bank() -> DemoBank {
        generate(NOW, &|password| format!("hashed:{password}"))
    }

    #[test]
    fn iban_check_digits() {
        assert!(iban_is_valid("GB82WEST12345698765432"));
        assert!(iban_is_valid("GB33BUKB20201555555555"));
        assert!(!iban_is_valid("GB83WEST12345698765432"));
        assert!(!iban_is_valid("GB82WEST12345698765433"));
        assert_eq!(
            gb_iban("WEST", "123456", "98765432"),
            "GB82WEST12345698765432"
        );
        assert_eq!(
            gb_iban("BUKB", "202015", "55555555"),
            "GB33BUKB20201555555555"
        );
        for account in bank()
            .seed
            .accounts
            .iter()
            .filter(|a| a.scheme_name == SCHEME_IBAN)
        {
            assert!(
                iban_is_valid(&account.identification),
                "{}",
                account.identification
            );
            assert_eq!(account.identification.len(), 22);
        }
    }

    #[test]
    fn customers_have_current_savings_and_euro_accounts() {
        let bank = bank();
        let customers: Vec<&User> = bank
            .seed
            .users
            .iter()
            .filter(|u| u.role == Role::Customer)
            .collect();
        assert_eq!(customers.len(), 3);
        assert_eq!(
            bank.seed
                .users
                .iter()
                .filter(|u| u.role == Role::Operator)
                .count(),
            1
        );
        for user in customers {
            let accounts: Vec<&Account> = bank
                .seed
                .accounts
                .iter()
                .filter(|a| a.owner_user_id == user.id)
                .collect();
            let has = |subtype: &str, currency: &str, scheme: &str| {
                accounts.iter().any(|a| {
                    a.account_subtype == subtype
                        && a.currency == currency
                        && a.scheme_name == scheme
                })
            };
            assert!(
                has("CurrentAccount", "GBP", SCHEME_SORT_CODE),
                "{}",
                user.username
            );
            assert!(has("Savings", "GBP", SCHEME_SORT_CODE), "{}", user.username);
            assert!(
                has("CurrentAccount", "EUR", SCHEME_IBAN),
                "{}",
                user.username
            );
            for a in accounts
                .iter()
                .filter(|a| a.scheme_name == SCHEME_SORT_CODE)
            {
                assert!(
                    a.identification.len() == 14
                        && a.identification.bytes().all(|b| b.is_ascii_digit())
                );
            }
            assert!(
                accounts
                    .iter()
                    .all(|a| a.opened_at < NOW - 365 * DAY && a.holder_name == user.display_name)
            );
            assert!(
                user.email
                    .as_deref()
                    .is_some_and(|e| e.ends_with("@example.com"))
            );
            assert!(
                user.phone
                    .as_deref()
                    .is_some_and(|p| p.starts_with("+447700900"))
            );
        }
        let beneficiaries: HashMap<&str, usize> =
            bank.seed
                .beneficiaries
                .iter()
                .fold(HashMap::new(), |mut m, b| {
                    *m.entry(b.account_id.as_str()).or_default() += 1;
                    m
                });
        for account in bank
            .seed
            .accounts
            .iter()
            .filter(|a| a.account_subtype == "CurrentAccount" && a.currency == "GBP")
        {
            assert!(
                (2..=4).contains(&beneficiaries[account.id.as_str()]),
                "{}",
                account.nickname
            );
        }
        assert!(
            bank.seed
                .beneficiaries
                .iter()
                .all(|b| b.identification.len() == 14)
        );
        assert!(bank.seed.clients.is_empty());
    }

    #[test]
    fn balances_are_running_sums_within_limits() {
        let bank = bank();
        for account in &bank.seed.accounts {
            let txs: Vec<&Transaction> = bank
                .seed
                .transactions
                .iter()
                .filter(|t| t.account_id == account.id)
                .collect();
            assert!(
                txs.windows(2).all(|w| w[0].booked_at < w[1].booked_at),
                "{} booking order",
                account.nickname
            );
            let floor = if account.account_subtype == "CurrentAccount" && account.currency == "GBP"
            {
                -50_000
            } else {
                0
            };
            let mut balance = 0;
            for t in &txs {
                balance += t.amount_minor;
                assert_eq!(t.balance_after_minor, balance);
                assert!(balance >= floor, "{} went to {balance}", account.nickname);
                assert_eq!(t.currency, account.currency);
                assert_eq!(t.status, "Booked");
            }
            assert_eq!(account.balance_minor, balance);
            assert_eq!(
                txs.last().map(|t| t.balance_after_minor),
                Some(account.balance_minor)
            );
        }
    }

    #[test]
    fn a_year_of_varied_history_up_to_now() {
        let bank = bank();
        let txs = &bank.seed.transactions;
        assert!(
            txs.iter()
                .all(|t| t.booked_at <= NOW && t.value_at <= NOW && t.booked_at >= NOW - 365 * DAY)
        );
        for account in bank
            .seed
            .accounts
            .iter()
            .filter(|a| a.account_subtype == "CurrentAccount" && a.currency == "GBP")
        {
            let days: BTreeSet<i64> = txs
                .iter()
                .filter(|t| t.account_id == account.id)
                .map(|t| t.booked_at.div_euclid(DAY))
                .collect();
            assert!(
                days.len() >= 300,
                "{} has {} days",
                account.holder_name,
                days.len()
            );
        }
        let codes: BTreeSet<&str> = txs.iter().map(|t| t.bank_code.as_str()).collect();
        for code in ["PMT", "DD", "SO", "CARD", "TFR", "INT", "SAL", "ATM", "BBF"] {
            assert!(codes.contains(code), "no {code} transaction");
        }
        assert!(
            txs.iter()
                .any(|t| t.description.starts_with("Refund") && t.amount_minor > 0)
        );
        assert!(
            txs.iter()
                .any(|t| t.currency == "EUR" && t.bank_code == "CARD")
        );
        assert!(
            txs.iter()
                .any(|t| t.description.starts_with("Exchange to EUR"))
        );
        // Both sides of each transfer at the same instant.
        let transfers: Vec<&Transaction> = txs.iter().filter(|t| t.bank_code == "TFR").collect();
        for t in &transfers {
            assert!(transfers.iter().any(|o| o.booked_at == t.booked_at
                && o.account_id != t.account_id
                && o.amount_minor.signum() == -t.amount_minor.signum()));
        }
    }

    #[test]
    fn generation_is_deterministic_apart_from_ids() {
        /// Everything but the ids, one line per account and transaction.
        fn shape(bank: &DemoBank) -> Vec<String> {
            let ident: HashMap<&str, &str> = bank
                .seed
                .accounts
                .iter()
                .map(|a| (a.id.as_str(), a.identification.as_str()))
                .collect();
            let accounts = bank.seed.accounts.iter().map(|a| {
                format!(
                    "{} {} {} {}",
                    a.identification, a.nickname, a.balance_minor, a.opened_at
                )
            });
            let transactions = bank.seed.transactions.iter().map(|t| {
                format!(
                    "{} {} {} {:?} {} {}",
                    ident[t.account_id.as_str()],
                    t.booked_at,
                    t.amount_minor,
                    t.description,
                    t.bank_code,
                    t.balance_after_minor
                )
            });
            accounts.chain(transactions).collect()
        }
        let (a, b) = (bank(), bank());
        assert_eq!(shape(&a), shape(&b));
        assert_ne!(a.seed.users[0].id, b.seed.users[0].id);
        assert_eq!(a.credentials, b.credentials);
    }

    #[test]
    fn credentials_match_users_and_hashes_come_from_the_callback() {
        let bank = bank();
        assert_eq!(bank.credentials.len(), 4);
        for c in &bank.credentials {
            let user = bank
                .seed
                .users
                .iter()
                .find(|u| u.username == c.username)
                .unwrap();
            assert_eq!(user.password_hash, format!("hashed:{}", c.password));
            assert_eq!(user.role, c.role);
            assert_eq!(user.display_name, c.display_name);
        }
        assert!(
            bank.credentials
                .iter()
                .any(|c| c.username == "alice" && c.password == "alice-demo-2026")
        );
        assert!(
            bank.credentials
                .iter()
                .any(|c| c.username == "operator" && c.role == Role::Operator)
        );
    }

    #[test]
    fn other_moments_also_hold_the_invariants() {
        for now in [1_700_000_000, 1_800_000_123] {
            let bank = generate(now, &|p| p.to_owned());
            for account in &bank.seed.accounts {
                let sum: i64 = bank
                    .seed
                    .transactions
                    .iter()
                    .filter(|t| t.account_id == account.id)
                    .map(|t| t.amount_minor)
                    .sum();
                assert_eq!(sum, account.balance_minor);
            }
            assert!(bank.seed.transactions.iter().all(|t| t.booked_at <= now));
        }
    }
}
