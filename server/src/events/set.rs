//! Security Event Tokens in the UK OB event notification format (`OBEventNotification2`): the
//! claims of a stored event, and the signed JWT that carries them.

use josekit::jws::JwsHeader;
use josekit::jwt::JwtPayload;
use serde_json::{Map, Value, json};
use url::Url;

use super::OB_VERSION;
use crate::clock::UnixTime;
use crate::keys::{KeyError, KeyManager, SigningAlg};
use crate::store::{EventRecord, StoreError};

/// The `typ` of a SET (RFC 8417 section 2.3).
pub const SET_TYP: &str = "secevent+jwt";
/// The media type a SET is pushed with.
pub const SET_CONTENT_TYPE: &str = "application/jwt";
/// The algorithm SETs are signed with (the UK OB message signing algorithm).
pub const SET_ALG: SigningAlg = SigningAlg::PS256;
const OB_NS: &str = "http://openbanking.org.uk";

/// Why a SET could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the SET claims are not a JSON object")]
    NotAnObject,
}

/// The absolute URL of a resource path under the resource listener's base URL.
pub fn resource_url(resource_base: &Url, path: &str) -> String {
    format!("{}{path}", resource_base.as_str().trim_end_matches('/'))
}

/// The claims of the SET of `event`, issued by `issuer` at `iat`: `iss`, `iat`, `jti`, `aud` (the
/// client), `sub` (the resource URL), `txn`, `toe` (when it happened) and `events` with one
/// member, whose `subject` names the resource (`rid`, `rty`) and links to it (`rlk`).
pub fn claims(
    event: &EventRecord,
    issuer: &str,
    resource_base: &Url,
    iat: UnixTime,
) -> Result<Map<String, Value>, SetError> {
    let event_type = event.event_type()?;
    let link = resource_url(resource_base, &event.resource_path);
    let subject = json!({
        "subject_type": format!("{OB_NS}/rid_{OB_NS}/rty"),
        format!("{OB_NS}/rid"): event.resource_id,
        format!("{OB_NS}/rty"): event.resource_type,
        format!("{OB_NS}/rlk"): [{"version": OB_VERSION, "link": link}],
    });
    let claims = json!({
        "iss": issuer,
        "iat": iat,
        "jti": event.jti,
        "aud": event.client_id,
        "sub": link,
        "txn": event.txn,
        "toe": event.created_at,
        "events": { event_type.as_str(): { "subject": subject } },
    });
    match claims {
        Value::Object(map) => Ok(map),
        _ => Err(SetError::NotAnObject),
    }
}

/// The signed SET of `event`: a compact JWS with the server's current PS256 key, `typ`
/// `secevent+jwt`, issued now.
pub async fn sign(
    keys: &KeyManager,
    event: &EventRecord,
    issuer: &str,
    resource_base: &Url,
    now: UnixTime,
) -> Result<String, SetError> {
    let payload = JwtPayload::from_map(claims(event, issuer, resource_base, now)?)
        .map_err(|_| SetError::NotAnObject)?;
    let mut header = JwsHeader::new();
    header.set_token_type(SET_TYP);
    let key = keys.signing_key(SET_ALG).await?;
    Ok(key.sign_jwt(&header, &payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EventRecord {
        EventRecord {
            seq: 1,
            jti: "j1".into(),
            client_id: "tpp".into(),
            event_type: "urn:uk:org:openbanking:events:resource-update".into(),
            resource_type: "account-access-consent".into(),
            resource_id: "c1".into(),
            resource_path: "/open-banking/v3.1/aisp/account-access-consents/c1".into(),
            txn: "t1".into(),
            created_at: 100,
            next_attempt_at: None,
            attempts: 0,
            delivered_at: None,
            acknowledged_at: None,
            last_error: None,
        }
    }

    #[test]
    fn claims_follow_the_uk_ob_event_notification_shape() {
        let base = Url::parse("https://rs.bank.example:8445/").unwrap();
        let c = Value::Object(claims(&record(), "https://as.bank.example", &base, 200).unwrap());
        let link = "https://rs.bank.example:8445/open-banking/v3.1/aisp/account-access-consents/c1";
        assert_eq!(
            c,
            json!({
                "iss": "https://as.bank.example",
                "iat": 200,
                "jti": "j1",
                "aud": "tpp",
                "sub": link,
                "txn": "t1",
                "toe": 100,
                "events": {
                    "urn:uk:org:openbanking:events:resource-update": {
                        "subject": {
                            "subject_type": "http://openbanking.org.uk/rid_http://openbanking.org.uk/rty",
                            "http://openbanking.org.uk/rid": "c1",
                            "http://openbanking.org.uk/rty": "account-access-consent",
                            "http://openbanking.org.uk/rlk": [{"version": "v3.1", "link": link}],
                        }
                    }
                }
            })
        );
    }

    #[test]
    fn an_unknown_stored_type_is_corrupt_data() {
        let mut r = record();
        r.event_type = "urn:other".into();
        let base = Url::parse("https://rs.example").unwrap();
        assert!(matches!(
            claims(&r, "https://as.example", &base, 1),
            Err(SetError::Store(StoreError::Corrupt(_)))
        ));
    }
}
