//! The configuration, in the shape the OpenID Foundation suite takes (`server.discoveryUrl`,
//! `client`, `client2`, `mtls`, `mtls2`, `resource`, `browser`), so one file drives both.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub server: Server,
    pub client: ClientConfig,
    pub client2: ClientConfig,
    pub mtls: Mtls,
    pub mtls2: Mtls,
    #[serde(default)]
    pub resource: Option<Value>,
    /// How the browser gets through the login and consent pages.
    pub browser: Vec<BrowserFlow>,
    /// Our extension: where a harness run may trust the server (its CA, PEM).
    #[serde(default)]
    pub server_ca: Option<String>,
    /// Our extension: the URL of an SMS inbox's `/messages` (`consentry-conformance sms-inbox`)
    /// that the server's SMS gateway points at. A browser step typing `$sms_code` reads the
    /// one-time code of the page's reference from there; the suite's browser has no such thing.
    #[serde(default)]
    pub sms_inbox: Option<String>,
}

/// The UK Open Banking endpoints the suite reads from `resource` (`FAPIOBGetResourceEndpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObEndpoint {
    /// `resourceUrlAccountRequests`: where account-access consents are created.
    AccountRequests,
    /// `resourceUrlAccountsResource`: where `accounts` is read.
    AccountsResource,
}

impl Config {
    /// A string member of `resource`, when present and not empty.
    pub fn resource_string(&self, key: &str) -> Option<&str> {
        self.resource
            .as_ref()
            .and_then(|r| r.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The base URL of `endpoint` as the suite takes it: its own member, else
    /// `resource.resourceUrl`. The suite appends the resource name to it as it is, so a base
    /// ends in `/`.
    pub fn ob_base_url(&self, endpoint: ObEndpoint) -> Option<&str> {
        let own = match endpoint {
            ObEndpoint::AccountRequests => "resourceUrlAccountRequests",
            ObEndpoint::AccountsResource => "resourceUrlAccountsResource",
        };
        self.resource_string(own)
            .or_else(|| self.resource_string("resourceUrl"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    #[serde(rename = "discoveryUrl")]
    pub discovery_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientConfig {
    pub client_id: String,
    #[serde(default)]
    pub scope: Option<String>,
    /// The client's private JWKS: the first key signs.
    pub jwks: Value,
    /// Our extension: the redirect URI the harness registers and uses.
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mtls {
    pub cert: String,
    pub key: String,
    #[serde(default)]
    pub ca: Option<String>,
}

/// One browser flow: for URLs matching `match`, the tasks in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserFlow {
    #[serde(rename = "match")]
    pub matches: String,
    pub tasks: Vec<BrowserTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BrowserTask {
    pub task: String,
    #[serde(rename = "match")]
    pub matches: String,
    /// `["text", "id", ELEMENT_ID, VALUE]` or `["click", "id", ELEMENT_ID]`, as the suite writes
    /// them; `"optional"` as a fifth member of a click means the element may be absent.
    pub commands: Vec<Vec<Value>>,
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return part.is_empty() || rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches(
            "https://h/login*",
            "https://h/login?return_to=x"
        ));
        assert!(glob_matches(
            "https://h/*/resume",
            "https://h/authorize/resume"
        ));
        assert!(!glob_matches("https://h/login*", "https://other/login"));
        assert!(glob_matches("*", "anything"));
        assert!(!glob_matches("https://h/a", "https://h/ab"));
    }
}
