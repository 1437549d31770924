//! Pushing events to the clients' `event_notification_uri` (UK OB Real Time Event Notification):
//! a worker on every node takes due events from the outbox under a lease, POSTs each signed SET
//! (`Content-Type: application/jwt`), and records the outcome. A 2xx answer delivers the event;
//! anything else is tried again after an exponentially growing wait, up to
//! `events.max_attempts`, after which the event is left to aggregated polling.
//!
//! Only URLs the operator allowed are contacted (`events.callback_allowed_hosts`, checked by
//! [`check_outbound`] like `jwks_uri` fetching): https, no redirects, no proxy, a bounded time.
//! A node that stops mid-push (or dies) leaves the events it held to be taken again when the
//! lease ends, so every event is pushed at least once; a receiver may see one twice and tells
//! them apart by `jti`.

use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt as _;
use rustls_pki_types::CertificateDer;

use super::EventsConfig;
use super::set::{self, SET_CONTENT_TYPE};
use crate::app::{App, AppState};
use crate::clock::UnixTime;
use crate::protocol::client::Client;
use crate::registration::jwks_fetch::{
    HostPattern, OutboundRefusal, check_outbound, error_chain, outbound_client,
};
use crate::store::{AttemptOutcome, ClientStore as _, EventRecord, EventStore as _, StoreResult};

/// Pushes at most this many events at once per node.
const CONCURRENT_PUSHES: usize = 8;
/// How often old events are deleted, in seconds.
const CLEANUP_EVERY: i64 = 3600;

/// What one delivery pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Events taken for pushing.
    pub claimed: usize,
    pub delivered: usize,
    /// Pushes that failed (to be tried again, or given up).
    pub failed: usize,
    /// Events with nowhere allowed to go: left to polling.
    pub not_sent: usize,
}

/// Pushes due events. One per node, shared by its worker task.
pub struct Deliverer {
    /// `Err` says why no request can be made (the HTTP client could not be built).
    http: Result<reqwest::Client, String>,
    allowed: Vec<HostPattern>,
    config: EventsConfig,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("enabled", &self.enabled())
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// A deliverer for `config`, trusting the web PKI and `roots` (the server's trust anchors for
    /// TPP certificates: UK OB TPPs serve their callbacks with certificates of those anchors).
    pub fn new(config: &EventsConfig, roots: Vec<CertificateDer<'static>>) -> Self {
        let allowed = config.allowed_hosts().unwrap_or_else(|e| {
            tracing::error!(error = %e, "events.callback_allowed_hosts: event push is off");
            Vec::new()
        });
        Self {
            http: outbound_client(config.timeout(), roots, true),
            allowed,
            config: config.clone(),
        }
    }

    /// Whether any event can be pushed at all (some host is allowed).
    pub fn enabled(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Takes the events due now and pushes them; returns what happened. Does nothing when no
    /// host is allowed: events then wait for polling (and are pushed if pushing is turned on
    /// before they are acknowledged).
    pub async fn deliver_due(&self, app: &App) -> StoreResult<PassReport> {
        if !self.enabled() {
            return Ok(PassReport::default());
        }
        let now = app.clock.now();
        let lease_until = now + self.config.lease_secs;
        let events = app
            .store
            .claim_due_events(now, lease_until, self.config.batch_size)
            .await?;
        let mut report = PassReport {
            claimed: events.len(),
            ..PassReport::default()
        };
        let mut outcomes = futures_util::stream::iter(events)
            .map(|event| async move {
                let outcome = self.attempt(app, &event).await;
                let recorded = app
                    .store
                    .finish_attempt(&event.jti, lease_until, &outcome, app.clock.now())
                    .await;
                (event, outcome, recorded)
            })
            .buffer_unordered(CONCURRENT_PUSHES);
        while let Some((event, outcome, recorded)) = outcomes.next().await {
            if let Err(e) = recorded {
                tracing::warn!(jti = %event.jti, error = %e, "could not record an event push");
            }
            let label = match &outcome {
                AttemptOutcome::Delivered => {
                    report.delivered += 1;
                    tracing::debug!(jti = %event.jti, client_id = %event.client_id, "event delivered");
                    "delivered"
                }
                AttemptOutcome::Failed { error, retry_at } => {
                    report.failed += 1;
                    match retry_at {
                        Some(at) => tracing::info!(
                            jti = %event.jti, client_id = %event.client_id, error = %error,
                            retry_at = at, "event push failed; it will be tried again"
                        ),
                        None => tracing::warn!(
                            jti = %event.jti, client_id = %event.client_id, error = %error,
                            "event push failed for the last time; it is left to polling"
                        ),
                    }
                    "failed"
                }
                AttemptOutcome::NotSent { reason } => {
                    report.not_sent += 1;
                    tracing::debug!(jti = %event.jti, client_id = %event.client_id, %reason, "event not pushed");
                    "not_sent"
                }
            };
            metrics::counter!("event_pushes_total", "outcome" => label).increment(1);
        }
        Ok(report)
    }

    /// One push of `event`.
    async fn attempt(&self, app: &App, event: &EventRecord) -> AttemptOutcome {
        let uri = match callback_of(app, &event.client_id).await {
            Ok(uri) => uri,
            Err(reason) => return AttemptOutcome::NotSent { reason },
        };
        match check_outbound(&self.allowed, &uri) {
            Ok(()) => {}
            Err(OutboundRefusal::NotHttps) => {
                return AttemptOutcome::NotSent {
                    reason: "the event_notification_uri is not https".to_owned(),
                };
            }
            Err(OutboundRefusal::HostNotAllowed(host)) => {
                return AttemptOutcome::NotSent {
                    reason: format!("host {host} is not in events.callback_allowed_hosts"),
                };
            }
        }
        let result = self.push(app, event, &uri).await;
        match result {
            Ok(()) => AttemptOutcome::Delivered,
            Err(error) => {
                let failures = event.attempts + 1;
                let retry_at = (failures < i64::from(self.config.max_attempts))
                    .then(|| app.clock.now() + self.config.backoff(failures));
                AttemptOutcome::Failed { error, retry_at }
            }
        }
    }

    async fn push(&self, app: &App, event: &EventRecord, uri: &url::Url) -> Result<(), String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let now = app.clock.now();
        let token = set::sign(
            &app.keys,
            event,
            app.config.server.issuer.as_str(),
            &app.config.resource_base_url(),
            now,
        )
        .await
        .map_err(|e| format!("cannot sign the event: {e}"))?;
        let response = http
            .post(uri.clone())
            .header(reqwest::header::CONTENT_TYPE, SET_CONTENT_TYPE)
            .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
            .body(token)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered HTTP {}", status.as_u16()))
        }
    }
}

/// The `event_notification_uri` of an active client, or why there is none.
async fn callback_of(app: &App, client_id: &str) -> Result<url::Url, String> {
    let record = app
        .store
        .client(client_id)
        .await
        .map_err(|e| format!("cannot read the client: {e}"))?
        .ok_or_else(|| "the client no longer exists".to_owned())?;
    let client = Client::from_record(record).map_err(|e| e.to_string())?;
    client
        .metadata
        .event_notification_uri
        .ok_or_else(|| "the client registered no event_notification_uri".to_owned())
}

/// The delivery worker of a node: a pass every `events.poll_interval_ms`, and old events deleted
/// every hour, until `stopped` resolves. A push in flight then is abandoned; its event is taken
/// again when the lease ends, by this node after a restart or by another.
pub async fn run(
    state: AppState,
    deliverer: Arc<Deliverer>,
    stopped: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(stopped);
    if !deliverer.enabled() {
        tracing::info!(
            "event notifications are not pushed (events.callback_allowed_hosts is empty); \
             clients receive them by polling"
        );
    }
    let interval = state.config.events.poll_interval();
    let mut cleaned_at: Option<UnixTime> = None;
    loop {
        let pass = async {
            if let Err(e) = deliverer.deliver_due(&state).await {
                tracing::warn!(error = %e, "event delivery pass failed");
            }
            let now = state.clock.now();
            if cleaned_at.is_none_or(|at| now - at >= CLEANUP_EVERY) {
                cleaned_at = Some(now);
                let before = now - state.config.events.retention_secs;
                match state.store.delete_events_before(before).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "old event notifications deleted"),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not delete old event notifications")
                    }
                }
            }
        };
        tokio::select! {
            () = &mut stopped => return Ok(()),
            () = pass => {}
        }
        tokio::select! {
            () = &mut stopped => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}
