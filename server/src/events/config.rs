//! `[events]`: where and how event notifications are pushed, and how long they are kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::registration::jwks_fetch::HostPattern;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct EventsConfig {
    /// Hosts the server pushes event notifications to: `tpp.example.com` exactly, or
    /// `*.example.com` for its subdomains (the rule of `clients.jwks_uri_allowed_hosts`). Empty
    /// (the default): nothing is pushed; events wait for aggregated polling.
    pub callback_allowed_hosts: Vec<String>,
    /// Push attempts per event before the server gives up (the event stays available to polling).
    pub max_attempts: u32,
    /// The wait after the first failed push, in seconds; it doubles after each failure.
    pub retry_base_secs: i64,
    /// The longest wait between two pushes of one event, in seconds.
    pub retry_max_secs: i64,
    /// Time allowed for one push, connection included, in milliseconds.
    pub timeout_ms: u64,
    /// How often a node looks for events due, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a node holds the events it is pushing before another node may take them over,
    /// in seconds. Longer than `timeout_ms`.
    pub lease_secs: i64,
    /// Events one node takes per look.
    pub batch_size: u32,
    /// The most SETs one aggregated polling response returns.
    pub max_events_per_poll: u32,
    /// Events are deleted this many seconds after they happened, whatever became of them.
    pub retention_secs: i64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            callback_allowed_hosts: Vec::new(),
            max_attempts: 10,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            timeout_ms: 10_000,
            poll_interval_ms: 2_000,
            lease_secs: 120,
            batch_size: 20,
            max_events_per_poll: 100,
            retention_secs: 30 * 86_400,
        }
    }
}

impl EventsConfig {
    /// The allowed hosts, parsed.
    pub fn allowed_hosts(&self) -> Result<Vec<HostPattern>, String> {
        self.callback_allowed_hosts
            .iter()
            .map(|h| HostPattern::parse(h))
            .collect()
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// The wait before the next push of an event that has failed `failures` times (at least 1).
    pub fn backoff(&self, failures: i64) -> i64 {
        let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
        self.retry_base_secs
            .saturating_mul(1_i64 << doublings)
            .min(self.retry_max_secs)
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.allowed_hosts()
            .map_err(|e| ("events.callback_allowed_hosts", e))?;
        let check = |ok: bool, key: &'static str, message: &str| {
            if ok {
                Ok(())
            } else {
                Err((key, message.to_owned()))
            }
        };
        check(
            (1..=100).contains(&self.max_attempts),
            "events.max_attempts",
            "must be between 1 and 100",
        )?;
        check(
            (1..=86_400).contains(&self.retry_base_secs),
            "events.retry_base_secs",
            "must be between 1 and 86400 seconds",
        )?;
        check(
            (self.retry_base_secs..=7 * 86_400).contains(&self.retry_max_secs),
            "events.retry_max_secs",
            "must be between events.retry_base_secs and 604800 seconds",
        )?;
        check(
            (100..=60_000).contains(&self.timeout_ms),
            "events.timeout_ms",
            "must be between 100 and 60000 milliseconds",
        )?;
        check(
            (10..=600_000).contains(&self.poll_interval_ms),
            "events.poll_interval_ms",
            "must be between 10 and 600000 milliseconds",
        )?;
        check(
            self.lease_secs <= 86_400
                && u64::try_from(self.lease_secs)
                    .is_ok_and(|lease| lease.saturating_mul(1000) > self.timeout_ms),
            "events.lease_secs",
            "must be longer than events.timeout_ms and at most 86400 seconds",
        )?;
        check(
            (1..=1000).contains(&self.batch_size),
            "events.batch_size",
            "must be between 1 and 1000",
        )?;
        check(
            (1..=10_000).contains(&self.max_events_per_poll),
            "events.max_events_per_poll",
            "must be between 1 and 10000",
        )?;
        check(
            self.retention_secs >= 86_400,
            "events.retention_secs",
            "must be at least 86400 seconds",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = EventsConfig::default();
        let waits: Vec<i64> = (1..=9).map(|n| c.backoff(n)).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(c.backoff(0), 30);
        assert_eq!(c.backoff(i64::MAX), 3600);
    }

    #[test]
    fn values_are_checked_with_their_key() {
        assert_eq!(EventsConfig::default().validate(), Ok(()));
        let mut c = EventsConfig {
            callback_allowed_hosts: vec!["https://tpp.example".into()],
            ..EventsConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "events.callback_allowed_hosts");
        c.callback_allowed_hosts = vec!["*.tpp.example".into(), "127.0.0.1".into()];
        assert_eq!(c.validate(), Ok(()));
        c.lease_secs = 5;
        assert_eq!(c.validate().unwrap_err().0, "events.lease_secs");
        c.lease_secs = 120;
        c.retry_max_secs = 1;
        assert_eq!(c.validate().unwrap_err().0, "events.retry_max_secs");
    }
}
