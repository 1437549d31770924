//! `[sca]`: the one-time code second factor and the SMS gateway that carries it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::config::Secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaConfig {
    /// Digits in a one-time code (4 to 10).
    pub otp_length: u32,
    /// How long a one-time code can be used, in seconds.
    pub otp_ttl_secs: i64,
    /// Wrong entries of one code before it is spent.
    pub otp_max_attempts: i64,
    /// Codes sent to one customer per `otp_send_window_secs`, counted on every node.
    pub otp_max_sends: i64,
    /// The window `otp_max_sends` counts in, in seconds.
    pub otp_send_window_secs: i64,
    pub sms: SmsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsConfig {
    /// Where codes are posted (`{"to", "from", "text"}` as JSON). https, or http to a loopback
    /// address. Unset (the default): no SMS codes, so a password login reaches `ca` only.
    pub gateway_url: Option<Url>,
    /// Sent as `Authorization: Bearer ...` when set.
    pub gateway_token: Option<Secret>,
    /// The `from` of each message, and the name the message gives the bank.
    pub sender: String,
    /// Time allowed for the gateway to accept a message, connection included, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for ScaConfig {
    fn default() -> Self {
        Self {
            otp_length: 6,
            otp_ttl_secs: 300,
            otp_max_attempts: 5,
            otp_max_sends: 5,
            otp_send_window_secs: 900,
            sms: SmsConfig::default(),
        }
    }
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            gateway_url: None,
            gateway_token: None,
            sender: "Consentry".to_owned(),
            timeout_ms: 5000,
        }
    }
}

impl SmsConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Whether `url` may carry codes in clear text: only to this machine.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl ScaConfig {
    /// The first bad value, as (key, message).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(4..=10).contains(&self.otp_length) {
            return Err(("sca.otp_length", "must be between 4 and 10".to_owned()));
        }
        if !(30..=1800).contains(&self.otp_ttl_secs) {
            return Err((
                "sca.otp_ttl_secs",
                "must be between 30 and 1800 seconds".to_owned(),
            ));
        }
        if !(1..=10).contains(&self.otp_max_attempts) {
            return Err((
                "sca.otp_max_attempts",
                "must be between 1 and 10".to_owned(),
            ));
        }
        if self.otp_max_sends < 1 {
            return Err(("sca.otp_max_sends", "must be at least 1".to_owned()));
        }
        if self.otp_send_window_secs < 1 {
            return Err((
                "sca.otp_send_window_secs",
                "must be a positive number of seconds".to_owned(),
            ));
        }
        let sms = &self.sms;
        if let Some(url) = &sms.gateway_url {
            let secure = url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url));
            if !secure || url.host().is_none() {
                return Err((
                    "sca.sms.gateway_url",
                    "must be an https URL, or http to a loopback address".to_owned(),
                ));
            }
        }
        if sms.sender.trim().is_empty() || sms.sender.chars().any(char::is_control) {
            return Err((
                "sca.sms.sender",
                "must be a name without control characters".to_owned(),
            ));
        }
        if !(100..=60_000).contains(&sms.timeout_ms) {
            return Err((
                "sca.sms.timeout_ms",
                "must be between 100 and 60000 milliseconds".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]
    use super::*;

    #[test]
    fn gateways_in_clear_text_are_local_only() {
        let mut c = ScaConfig::default();
        for (url, ok) in [
            ("https://sms.example/send", true),
            ("http://127.0.0.1:9901/messages", true),
            ("http://[::1]:9901/messages", true),
            ("http://localhost/messages", true),
            ("http://sms.example/send", false),
            ("ftp://sms.example/", false),
        ] {
            c.sms.gateway_url = Some(Url::parse(url).unwrap());
            assert_eq!(c.validate().is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn out_of_range_values_name_their_key() {
        let mut c = ScaConfig {
            otp_length: 3,
            ..ScaConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().0, "sca.otp_length");
        c.otp_length = 6;
        c.otp_max_attempts = 0;
        assert_eq!(c.validate().unwrap_err().0, "sca.otp_max_attempts");
        c.otp_max_attempts = 5;
        c.sms.sender = "Bank\n".to_owned();
        assert_eq!(c.validate().unwrap_err().0, "sca.sms.sender");
    }
}
