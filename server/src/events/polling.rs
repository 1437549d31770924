//! Aggregated polling (UK OB Event Notification API 3.1, `POST /events`, after
//! draft-ietf-secevent-http-poll): a client acknowledges the events it processed (`ack`), reports
//! those it could not (`setErrs`), and receives the ones still waiting as signed SETs.
//!
//! An event waits for its client until acknowledged (positively or with an error) or pushed
//! successfully; acknowledged events are never returned again. A client only ever sees and
//! acknowledges its own events. Long polling is not offered: `returnImmediately` is accepted and
//! every answer is immediate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::set;
use crate::app::App;
use crate::clock::UnixTime;
use crate::store::EventStore as _;

/// The longest `jti`, error code and description accepted (the specification's limits).
const MAX_JTI: usize = 128;
const MAX_ERR: usize = 40;
const MAX_DESCRIPTION: usize = 256;

/// `OBEventPolling1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PollRequest {
    /// How many SETs to return at most; 0: none (acknowledge only). Absent: the server's limit.
    pub max_events: Option<i64>,
    pub return_immediately: Option<bool>,
    #[serde(default)]
    pub ack: Vec<String>,
    #[serde(default)]
    pub set_errs: BTreeMap<String, SetErr>,
}

/// A negative acknowledgement (`OBEventPolling1/setErrs/<jti>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetErr {
    /// A Security Event Token Delivery Error Code (`jwtIss`, `jwtAud`, ...).
    pub err: String,
    pub description: String,
}

/// `OBEventPollingResponse1`: SETs by jti, and whether more are waiting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResponse {
    pub sets: BTreeMap<String, String>,
    pub more_available: bool,
}

/// What is wrong with a polling request: the member and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PollError {
    pub path: String,
    pub message: String,
}

/// Why polling could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum PollFailure {
    #[error("{0}")]
    Invalid(#[from] PollError),
    #[error("{0}")]
    Internal(String),
}

impl PollRequest {
    /// Checks the members against the specification's limits.
    pub fn check(&self) -> Result<(), PollError> {
        let invalid = |path: String, message: &str| PollError {
            path,
            message: message.to_owned(),
        };
        if self.max_events.is_some_and(|n| n < 0) {
            return Err(invalid("maxEvents".into(), "must not be negative"));
        }
        for (i, jti) in self.ack.iter().enumerate() {
            if jti.is_empty() || jti.len() > MAX_JTI {
                return Err(invalid(format!("ack[{i}]"), "must be 1 to 128 characters"));
            }
        }
        for (jti, e) in &self.set_errs {
            if jti.is_empty() || jti.len() > MAX_JTI {
                return Err(invalid(
                    "setErrs".into(),
                    "every jti must be 1 to 128 characters",
                ));
            }
            if e.err.is_empty() || e.err.len() > MAX_ERR {
                return Err(invalid(
                    format!("setErrs.{jti}.err"),
                    "must be 1 to 40 characters",
                ));
            }
            if e.description.is_empty() || e.description.chars().count() > MAX_DESCRIPTION {
                return Err(invalid(
                    format!("setErrs.{jti}.description"),
                    "must be 1 to 256 characters",
                ));
            }
        }
        Ok(())
    }
}

/// Answers one polling request of `client_id` at `now`: acknowledgements first, then up to
/// `maxEvents` (capped by `events.max_events_per_poll`) waiting events, signed now.
pub async fn poll(
    app: &App,
    client_id: &str,
    request: &PollRequest,
    now: UnixTime,
) -> Result<PollResponse, PollFailure> {
    request.check()?;
    let internal = |e: &dyn std::fmt::Display| PollFailure::Internal(e.to_string());
    let acks: Vec<(String, Option<String>)> = request
        .ack
        .iter()
        .map(|jti| (jti.clone(), None))
        .chain(request.set_errs.iter().map(|(jti, e)| {
            let reported = format!("client reported {}: {}", e.err, e.description);
            (jti.clone(), Some(reported))
        }))
        .collect();
    app.store
        .acknowledge_events(client_id, &acks, now)
        .await
        .map_err(|e| internal(&e))?;

    let cap = app.config.events.max_events_per_poll;
    let wanted = request
        .max_events
        .map_or(cap, |n| u32::try_from(n).unwrap_or(u32::MAX).min(cap));
    // One more than returned tells whether more are waiting.
    let mut waiting = app
        .store
        .pending_events(client_id, wanted.saturating_add(1))
        .await
        .map_err(|e| internal(&e))?;
    let more_available = waiting.len() > wanted as usize;
    waiting.truncate(wanted as usize);
    let issuer = app.config.server.issuer.as_str();
    let resource_base = app.config.resource_base_url();
    let mut sets = BTreeMap::new();
    for event in &waiting {
        let token = set::sign(&app.keys, event, issuer, &resource_base, now)
            .await
            .map_err(|e| internal(&e))?;
        sets.insert(event.jti.clone(), token);
    }
    Ok(PollResponse {
        sets,
        more_available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> PollRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn requests_parse_in_the_specification_shape() {
        let r = parse(
            r#"{"returnImmediately": true, "maxEvents": 1, "ack": ["a"],
                "setErrs": {"b": {"err": "jwtIss", "description": "Issuer is invalid"}}}"#,
        );
        assert_eq!(r.max_events, Some(1));
        assert_eq!(r.ack, ["a"]);
        assert_eq!(r.set_errs["b"].err, "jwtIss");
        assert!(r.check().is_ok());
        assert_eq!(parse("{}"), PollRequest::default());
        assert!(serde_json::from_str::<PollRequest>(r#"{"maxevents": 1}"#).is_err());
    }

    #[test]
    fn limits_are_checked() {
        assert_eq!(
            parse(r#"{"maxEvents": -1}"#).check().unwrap_err().path,
            "maxEvents"
        );
        assert_eq!(
            parse(r#"{"ack": ["a", ""]}"#).check().unwrap_err().path,
            "ack[1]"
        );
        let long = "x".repeat(41);
        let r = parse(&format!(
            r#"{{"setErrs": {{"j": {{"err": "{long}", "description": "d"}}}}}}"#
        ));
        assert_eq!(r.check().unwrap_err().path, "setErrs.j.err");
    }

    #[test]
    fn responses_use_the_specification_names() {
        let r = PollResponse {
            sets: BTreeMap::from([("j".to_owned(), "e.y.s".to_owned())]),
            more_available: true,
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"sets": {"j": "e.y.s"}, "moreAvailable": true})
        );
    }
}
