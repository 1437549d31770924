//! UK Open Banking consents: what a TPP asks for (account access or a domestic payment), the
//! statuses a consent moves through, and the permission rules of Read/Write API 3.1. Plain data
//! and rules; storage is `store::ConsentStore`, HTTP is the resource API crate and the consent
//! pages.

pub mod permissions;

use std::fmt;
use std::str::FromStr;

pub use permissions::{Permission, PermissionError, validate_permissions};

/// What a consent is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentKind {
    AccountAccess,
    DomesticPayment,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::AccountAccess => "account-access",
            ConsentKind::DomesticPayment => "domestic-payment",
        }
    }

    /// The scope a client_credentials token needs to manage this kind of consent, and the scope
    /// an authorization for it grants.
    pub fn scope(self) -> &'static str {
        match self {
            ConsentKind::AccountAccess => "accounts",
            ConsentKind::DomesticPayment => "payments",
        }
    }
}

impl fmt::Display for ConsentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConsentKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "account-access" => Ok(ConsentKind::AccountAccess),
            "domestic-payment" => Ok(ConsentKind::DomesticPayment),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

/// The status of a consent (UK OB 3.1 `Data.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsentStatus {
    AwaitingAuthorisation,
    Authorised,
    Rejected,
    Revoked,
    Consumed,
    Expired,
}

impl ConsentStatus {
    pub const ALL: [ConsentStatus; 6] = [
        ConsentStatus::AwaitingAuthorisation,
        ConsentStatus::Authorised,
        ConsentStatus::Rejected,
        ConsentStatus::Revoked,
        ConsentStatus::Consumed,
        ConsentStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::AwaitingAuthorisation => "AwaitingAuthorisation",
            ConsentStatus::Authorised => "Authorised",
            ConsentStatus::Rejected => "Rejected",
            ConsentStatus::Revoked => "Revoked",
            ConsentStatus::Consumed => "Consumed",
            ConsentStatus::Expired => "Expired",
        }
    }

    /// Whether no further change can happen.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            ConsentStatus::AwaitingAuthorisation | ConsentStatus::Authorised
        )
    }

    /// The statuses a consent may move to `self` from.
    pub fn reachable_from(self) -> &'static [ConsentStatus] {
        use ConsentStatus::*;
        match self {
            AwaitingAuthorisation => &[],
            Authorised | Rejected => &[AwaitingAuthorisation],
            Revoked => &[AwaitingAuthorisation, Authorised],
            Consumed => &[Authorised],
            Expired => &[AwaitingAuthorisation, Authorised],
        }
    }
}

impl fmt::Display for ConsentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConsentStatus {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        ConsentStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

/// Who changed a consent, as recorded in its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Tpp(String),
    Psu(String),
    Operator(String),
    System,
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Tpp(id) => write!(f, "tpp:{id}"),
            Actor::Psu(id) => write!(f, "psu:{id}"),
            Actor::Operator(id) => write!(f, "operator:{id}"),
            Actor::System => f.write_str("system"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_transitions_are_the_specifications() {
        for s in ConsentStatus::ALL {
            assert_eq!(s.as_str().parse::<ConsentStatus>(), Ok(s));
        }
        assert!("authorised".parse::<ConsentStatus>().is_err());
        assert_eq!(
            ConsentStatus::Consumed.reachable_from(),
            &[ConsentStatus::Authorised]
        );
        assert!(
            !ConsentStatus::Authorised
                .reachable_from()
                .contains(&ConsentStatus::Rejected)
        );
        assert!(ConsentStatus::Revoked.is_final());
        assert!(!ConsentStatus::Authorised.is_final());
        assert_eq!(Actor::Tpp("c1".into()).to_string(), "tpp:c1");
    }
}
