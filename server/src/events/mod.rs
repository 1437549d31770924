//! UK Open Banking event notifications (Event Notification API 3.1): what happened to a TPP's
//! resource, told to the TPP as a signed Security Event Token (RFC 8417).
//!
//! An event is written to the outbox (`store::EventStore`, table `ob_events`) in the same
//! transaction as the change it reports: a consent's status change ([`crate::store::ConsentStore`])
//! or a payment's ([`crate::store::EventOutbox`] in any store transaction). From there it reaches the
//! TPP two ways:
//! - pushed by the [`delivery`] worker to the client's registered `event_notification_uri`, with
//!   retries and exponential backoff, only to hosts the operator allowed
//!   (`events.callback_allowed_hosts`), over TLS trusting the web PKI and the server's client
//!   trust anchors;
//! - returned by aggregated polling (`POST /open-banking/v3.1/events` on the resource listener,
//!   [`polling`]) until the TPP acknowledges it.
//!
//! SETs are signed (JWS, PS256, the server's current key, `typ` `secevent+jwt`) when they are
//! sent, not when the event happens, so a rotated key never leaves unverifiable events behind.
//! They are not encrypted: the Event Notification API makes JWE optional and this server does not
//! offer it.

pub mod config;
pub mod delivery;
pub mod polling;
pub mod set;

use std::fmt;
use std::str::FromStr;

pub use config::EventsConfig;

use crate::clock::UnixTime;
use crate::consent::{ConsentKind, UnknownValue};

/// The UK OB API version the resource links of events name.
pub const OB_VERSION: &str = "v3.1";
const AISP_PATH: &str = "/open-banking/v3.1/aisp";
const PISP_PATH: &str = "/open-banking/v3.1/pisp";

/// The event types this server sends (the member names of a SET's `events` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A resource changed (a consent's or a payment's status); the TPP may read it again.
    ResourceUpdate,
    /// A consent's authorisation was revoked (by the customer, an operator or the TPP).
    ConsentAuthorizationRevoked,
}

impl EventType {
    pub const ALL: [EventType; 2] = [
        EventType::ResourceUpdate,
        EventType::ConsentAuthorizationRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ResourceUpdate => "urn:uk:org:openbanking:events:resource-update",
            EventType::ConsentAuthorizationRevoked => {
                "urn:uk:org:openbanking:events:consent-authorization-revoked"
            }
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

/// The resource an event is about: the SET's subject (`rty`, `rid`) and where it is read
/// (`resource_path`, under the resource listener's base URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// `http://openbanking.org.uk/rty`: `account-access-consent`, `domestic-payment-consent`,
    /// `domestic-payment`.
    pub resource_type: String,
    /// `http://openbanking.org.uk/rid`.
    pub resource_id: String,
    /// The path of the resource, e.g. `/open-banking/v3.1/pisp/domestic-payments/{id}`.
    pub path: String,
}

impl ResourceRef {
    /// A consent of `kind`.
    pub fn consent(kind: ConsentKind, id: &str) -> Self {
        let (resource_type, path) = match kind {
            ConsentKind::AccountAccess => (
                "account-access-consent",
                format!("{AISP_PATH}/account-access-consents/{id}"),
            ),
            ConsentKind::DomesticPayment => (
                "domestic-payment-consent",
                format!("{PISP_PATH}/domestic-payment-consents/{id}"),
            ),
        };
        Self {
            resource_type: resource_type.to_owned(),
            resource_id: id.to_owned(),
            path,
        }
    }

    /// A domestic payment.
    pub fn domestic_payment(id: &str) -> Self {
        Self {
            resource_type: "domestic-payment".to_owned(),
            resource_id: id.to_owned(),
            path: format!("{PISP_PATH}/domestic-payments/{id}"),
        }
    }
}

/// An event to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The TPP told: the client that owns the resource (the SET's `aud`).
    pub client_id: String,
    pub event_type: EventType,
    pub resource: ResourceRef,
    /// The SET's `txn`: the interaction id of the request that made the change, when there was
    /// one; otherwise the event's own jti.
    pub txn: Option<String>,
    /// When the change happened (`toe`).
    pub at: UnixTime,
}

impl NewEvent {
    /// `resource-update` about `resource`, for `client_id`.
    pub fn resource_update(client_id: &str, resource: ResourceRef, at: UnixTime) -> Self {
        Self {
            client_id: client_id.to_owned(),
            event_type: EventType::ResourceUpdate,
            resource,
            txn: None,
            at,
        }
    }

    /// The event a consent moving to `status` makes: `consent-authorization-revoked` for
    /// Revoked, `resource-update` for any other change.
    pub fn consent_status(
        client_id: &str,
        kind: ConsentKind,
        consent_id: &str,
        status: crate::consent::ConsentStatus,
        at: UnixTime,
    ) -> Self {
        let event_type = match status {
            crate::consent::ConsentStatus::Revoked => EventType::ConsentAuthorizationRevoked,
            _ => EventType::ResourceUpdate,
        };
        Self {
            event_type,
            ..Self::resource_update(client_id, ResourceRef::consent(kind, consent_id), at)
        }
    }
}

/// Checks a client's `event_notification_uri` at registration: an absolute https URL without
/// credentials or fragment. Whether the server may reach its host is the operator's allow-list,
/// checked when an event is pushed.
pub fn check_callback_uri(uri: &url::Url) -> Result<(), String> {
    if uri.scheme() != "https" {
        return Err("event_notification_uri must be https".to_owned());
    }
    if uri.host_str().is_none_or(str::is_empty) {
        return Err("event_notification_uri must name a host".to_owned());
    }
    if !uri.username().is_empty() || uri.password().is_some() {
        return Err("event_notification_uri must not carry credentials".to_owned());
    }
    if uri.fragment().is_some() {
        return Err("event_notification_uri must not have a fragment".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::ConsentStatus;

    #[test]
    fn event_types_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
        }
        assert!(
            "urn:uk:org:openbanking:events:other"
                .parse::<EventType>()
                .is_err()
        );
    }

    #[test]
    fn consent_changes_name_the_consent_resource() {
        for (status, expected) in [
            (ConsentStatus::Authorised, EventType::ResourceUpdate),
            (ConsentStatus::Rejected, EventType::ResourceUpdate),
            (ConsentStatus::Consumed, EventType::ResourceUpdate),
            (ConsentStatus::Expired, EventType::ResourceUpdate),
            (
                ConsentStatus::Revoked,
                EventType::ConsentAuthorizationRevoked,
            ),
        ] {
            let e = NewEvent::consent_status("tpp", ConsentKind::AccountAccess, "c1", status, 7);
            assert_eq!(e.event_type, expected, "{status}");
            assert_eq!(e.resource.resource_type, "account-access-consent");
            assert_eq!(
                e.resource.path,
                "/open-banking/v3.1/aisp/account-access-consents/c1"
            );
            assert_eq!((e.client_id.as_str(), e.at, e.txn), ("tpp", 7, None));
        }
        let p = ResourceRef::consent(ConsentKind::DomesticPayment, "p1");
        assert_eq!(
            p.path,
            "/open-banking/v3.1/pisp/domestic-payment-consents/p1"
        );
        assert_eq!(
            ResourceRef::domestic_payment("d1").path,
            "/open-banking/v3.1/pisp/domestic-payments/d1"
        );
    }

    #[test]
    fn callback_uris_are_plain_https() {
        let ok =
            url::Url::parse("https://tpp.example/open-banking/v3.1/event-notifications").unwrap();
        assert!(check_callback_uri(&ok).is_ok());
        for bad in [
            "http://tpp.example/events",
            "https://user:pw@tpp.example/events",
            "https://tpp.example/events#x",
            "mailto:ops@tpp.example",
        ] {
            let uri = url::Url::parse(bad).unwrap();
            assert!(check_callback_uri(&uri).is_err(), "{bad}");
        }
    }
}
