//! Account-access permissions (UK OB Account and Transaction API 3.1) and the rules for combining
//! them.

use std::fmt;
use std::str::FromStr;

use super::UnknownValue;

macro_rules! permissions {
    ($($name:ident => $words:literal,)*) => {
        /// One permission of an account-access consent.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $($name,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$name => stringify!($name),)*
                }
            }

            /// What the permission lets the TPP see, in words a customer understands.
            pub fn in_words(self) -> &'static str {
                match self {
                    $(Permission::$name => $words,)*
                }
            }
        }
    };
}

permissions! {
    ReadAccountsBasic => "The type, currency and nickname of your accounts",
    ReadAccountsDetail => "Your account names, numbers and sort codes",
    ReadBalances => "Your account balances",
    ReadBeneficiariesBasic => "The people and businesses you have set up to pay",
    ReadBeneficiariesDetail => "The names and account details of people and businesses you have set up to pay",
    ReadDirectDebits => "Your Direct Debits",
    ReadOffers => "Offers the bank has made to you",
    ReadPAN => "Your full card numbers",
    ReadParty => "The names and details of the account holders",
    ReadPartyPSU => "Your own name and details",
    ReadProducts => "The products your accounts are",
    ReadScheduledPaymentsBasic => "Payments you have scheduled",
    ReadScheduledPaymentsDetail => "Payments you have scheduled, with who they are to",
    ReadStandingOrdersBasic => "Your standing orders",
    ReadStandingOrdersDetail => "Your standing orders, with who they are to",
    ReadStatementsBasic => "Your statements",
    ReadStatementsDetail => "Your statements, with their details",
    ReadTransactionsBasic => "Your transactions: amounts and dates",
    ReadTransactionsCredits => "Money coming into your accounts",
    ReadTransactionsDebits => "Money going out of your accounts",
    ReadTransactionsDetail => "Your transactions, with who they were to or from and references",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

/// Why a set of permissions is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    #[error("Permissions must not be empty")]
    Empty,
    #[error("{0:?} is not a permission")]
    Unknown(String),
    #[error("{0} is given more than once")]
    Repeated(Permission),
    #[error(
        "ReadTransactionsBasic or ReadTransactionsDetail needs ReadTransactionsCredits or ReadTransactionsDebits"
    )]
    TransactionsWithoutDirection,
    #[error(
        "ReadTransactionsCredits and ReadTransactionsDebits need ReadTransactionsBasic or ReadTransactionsDetail"
    )]
    DirectionWithoutTransactions,
}

/// Parses and checks the `Permissions` of an account-access consent request against the
/// specification's combination rules; returns them sorted.
pub fn validate_permissions<S: AsRef<str>>(
    values: &[S],
) -> Result<Vec<Permission>, PermissionError> {
    if values.is_empty() {
        return Err(PermissionError::Empty);
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let p: Permission = v
            .as_ref()
            .parse()
            .map_err(|UnknownValue(s)| PermissionError::Unknown(s))?;
        if out.contains(&p) {
            return Err(PermissionError::Repeated(p));
        }
        out.push(p);
    }
    use Permission::*;
    let has = |p: Permission| out.contains(&p);
    let listing = has(ReadTransactionsBasic) || has(ReadTransactionsDetail);
    let direction = has(ReadTransactionsCredits) || has(ReadTransactionsDebits);
    if listing && !direction {
        return Err(PermissionError::TransactionsWithoutDirection);
    }
    if direction && !listing {
        return Err(PermissionError::DirectionWithoutTransactions);
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_follow_the_specification() {
        assert_eq!(
            validate_permissions(&["ReadBalances", "ReadAccountsBasic"]),
            Ok(vec![
                Permission::ReadAccountsBasic,
                Permission::ReadBalances
            ])
        );
        assert_eq!(
            validate_permissions::<&str>(&[]),
            Err(PermissionError::Empty)
        );
        assert_eq!(
            validate_permissions(&["ReadAccountsbasic"]),
            Err(PermissionError::Unknown("ReadAccountsbasic".into()))
        );
        assert_eq!(
            validate_permissions(&["ReadBalances", "ReadBalances"]),
            Err(PermissionError::Repeated(Permission::ReadBalances))
        );
        assert_eq!(
            validate_permissions(&["ReadTransactionsDetail"]),
            Err(PermissionError::TransactionsWithoutDirection)
        );
        assert_eq!(
            validate_permissions(&["ReadTransactionsDebits"]),
            Err(PermissionError::DirectionWithoutTransactions)
        );
        assert!(
            validate_permissions(&["ReadTransactionsBasic", "ReadTransactionsCredits"]).is_ok()
        );
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
            assert!(!p.in_words().is_empty());
        }
    }
}
