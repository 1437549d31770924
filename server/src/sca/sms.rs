//! The SMS gateway: the bank's provider, reached over HTTP. Each message is one JSON POST
//! (`{"to", "from", "text"}`), with the configured bearer token; any 2xx means accepted. The text
//! holds a one-time code, so neither it nor the gateway's answer is ever logged.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use url::Url;

use super::config::SmsConfig;
use crate::config::Secret;
use crate::registration::jwks_fetch::outbound_builder;

/// Why a message was not accepted. One line, without the message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS gateway could not be reached: {0}")]
    Network(String),
    #[error("the SMS gateway did not answer in time")]
    Timeout,
    #[error("the SMS gateway answered with HTTP status {0}")]
    Status(u16),
    #[error("the SMS gateway client cannot be built: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait SmsGateway: Send + Sync + fmt::Debug {
    /// Hands `text` to the gateway for `to` (E.164). Returns once the gateway has accepted it.
    async fn send(&self, to: &str, text: &str) -> Result<(), SmsError>;
}

pub type SharedSmsGateway = Arc<dyn SmsGateway>;

pub struct HttpSmsGateway {
    http: Result<reqwest::Client, String>,
    url: Url,
    token: Option<Secret>,
    sender: String,
}

impl fmt::Debug for HttpSmsGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSmsGateway")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpSmsGateway {
    /// The configured gateway, if one is configured.
    pub fn from_config(config: &SmsConfig) -> Option<Self> {
        let url = config.gateway_url.clone()?;
        let http = outbound_builder(config.timeout(), Vec::new(), true).and_then(|b| {
            b.https_only(url.scheme() == "https")
                .build()
                .map_err(|e| e.to_string())
        });
        Some(Self {
            http,
            url,
            token: config.gateway_token.clone(),
            sender: config.sender.clone(),
        })
    }
}

#[async_trait]
impl SmsGateway for HttpSmsGateway {
    async fn send(&self, to: &str, text: &str) -> Result<(), SmsError> {
        let http = self
            .http
            .as_ref()
            .map_err(|e| SmsError::Unavailable(e.clone()))?;
        let mut request = http
            .post(self.url.clone())
            .json(&json!({"to": to, "from": self.sender, "text": text}));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                SmsError::Timeout
            } else {
                // Without the URL's query, which may carry a credential.
                SmsError::Network(e.without_url().to_string())
            }
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SmsError::Status(status.as_u16()))
        }
    }
}
