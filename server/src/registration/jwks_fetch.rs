//! Fetching the key sets clients publish at their `jwks_uri` (RFC 7591 section 2).
//!
//! A `jwks_uri` is a URL the client chose, so fetching it is a request the client makes this
//! server send. Only what the operator allowed goes out: https, to a host listed in
//! `clients.jwks_uri_allowed_hosts` (exact, or `*.example.com` for its subdomains), checked before
//! any connection is made. Redirects are not followed, the answer must arrive within
//! `clients.jwks_fetch_timeout_ms`, and a body larger than `clients.jwks_max_bytes` is refused
//! while it streams in.
//!
//! Key sets are cached per URI for `clients.jwks_cache_secs`. When a JWT names a key the cached
//! set lacks, [`JwksFetcher::refetch`] asks again, at most once per [`REFETCH_INTERVAL`] per URI,
//! so a stream of made-up `kid`s cannot turn into a stream of requests. Concurrent lookups of one
//! URI wait for a single request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde_json::Value;
use url::{Host, Url};

use crate::clock::UnixTime;
use crate::config::ClientsConfig;

/// The shortest time between two requests for one URI made because a key was missing.
pub const REFETCH_INTERVAL: i64 = 60;
/// Beyond this many cached URIs, stale entries are dropped before a new one is added.
const MAX_CACHED_URIS: usize = 4096;
/// JWK members that only private or symmetric keys have.
const PRIVATE_JWK_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a client's key set could not be had from its `jwks_uri`. One line, for logs; clients see
/// a generic description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("the jwks_uri is not https")]
    NotHttps,
    #[error("the jwks_uri host {0} is not in clients.jwks_uri_allowed_hosts")]
    HostNotAllowed(String),
    #[error("fetching jwks_uri is not available: {0}")]
    Unavailable(String),
    #[error("the jwks_uri did not answer within {0} ms")]
    Timeout(u128),
    #[error("the jwks_uri answer is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the jwks_uri answered with HTTP status {0}")]
    Status(u16),
    #[error("the jwks_uri could not be reached: {0}")]
    Network(String),
    #[error("the jwks_uri did not return a JWKS: {0}")]
    NotJwks(&'static str),
    #[error("the jwks_uri was asked less than {REFETCH_INTERVAL} seconds ago and gave no keys")]
    RecentlyFailed,
}

/// One entry of `clients.jwks_uri_allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This host exactly: a lower-case DNS name or a normalised IP address.
    Exact(String),
    /// Any host ending with this suffix (which starts with a dot): `*.example.com` allows
    /// `a.example.com` and `a.b.example.com`, not `example.com`.
    Subdomains(String),
}

impl HostPattern {
    /// Parses `example.com`, `*.example.com`, `192.0.2.1`, `::1` or `[::1]`.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let p = pattern.trim().to_ascii_lowercase();
        let p = p.trim_end_matches('.');
        let bare = p
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(p);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(HostPattern::Exact(ip.to_string()));
        }
        let (wildcard, name) = match p.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, p),
        };
        let valid_label = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        // A DNS name's last label is never all digits; such a name could only be (part of) an
        // IP address, which `*.` must not reach.
        let numeric_tld = name
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()));
        if name.is_empty() || !name.split('.').all(valid_label) || numeric_tld {
            return Err(format!(
                "{pattern:?} is not a host name, an IP address or *.domain"
            ));
        }
        Ok(if wildcard {
            HostPattern::Subdomains(format!(".{name}"))
        } else {
            HostPattern::Exact(name.to_owned())
        })
    }

    fn matches(&self, host: &UriHost) -> bool {
        match (self, host) {
            (HostPattern::Exact(exact), UriHost::Name(h) | UriHost::Ip(h)) => exact == h,
            // Only DNS names have subdomains: `*.0.0.1` must not reach 127.0.0.1.
            (HostPattern::Subdomains(suffix), UriHost::Name(h)) => {
                h.len() > suffix.len() && h.ends_with(suffix.as_str())
            }
            (HostPattern::Subdomains(_), UriHost::Ip(_)) => false,
        }
    }
}

/// A URL's host as [`HostPattern`]s compare it: DNS names lower case without a trailing dot, IP
/// addresses normalised and without brackets.
enum UriHost {
    Name(String),
    Ip(String),
}

impl UriHost {
    fn of(uri: &Url) -> Option<Self> {
        Some(match uri.host()? {
            Host::Domain(name) => {
                UriHost::Name(name.to_ascii_lowercase().trim_end_matches('.').to_owned())
            }
            Host::Ipv4(ip) => UriHost::Ip(ip.to_string()),
            Host::Ipv6(ip) => UriHost::Ip(ip.to_string()),
        })
    }

    fn as_str(&self) -> &str {
        match self {
            UriHost::Name(h) | UriHost::Ip(h) => h,
        }
    }
}

/// Why a request to a URL a client chose may not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundRefusal {
    NotHttps,
    /// The host (normalised; empty when the URL has none) is not in the allow-list.
    HostNotAllowed(String),
}

/// The operator's rule for every request the server sends to a URL a client chose (`jwks_uri`,
/// event notification callbacks): https, to a host `allowed` lists. Checked before any connection.
pub fn check_outbound(allowed: &[HostPattern], uri: &Url) -> Result<(), OutboundRefusal> {
    if uri.scheme() != "https" {
        return Err(OutboundRefusal::NotHttps);
    }
    let Some(host) = UriHost::of(uri) else {
        return Err(OutboundRefusal::HostNotAllowed(String::new()));
    };
    if !allowed.iter().any(|p| p.matches(&host)) {
        return Err(OutboundRefusal::HostNotAllowed(host.as_str().to_owned()));
    }
    Ok(())
}

/// How the fetcher behaves: from `[clients]` in the configuration.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub allowed_hosts: Vec<HostPattern>,
    pub timeout: Duration,
    pub max_bytes: u64,
    pub cache_secs: i64,
}

impl FetchSettings {
    pub fn from_config(config: &ClientsConfig) -> Result<Self, String> {
        Ok(Self {
            allowed_hosts: config
                .jwks_uri_allowed_hosts
                .iter()
                .map(|h| HostPattern::parse(h))
                .collect::<Result<_, _>>()?,
            timeout: Duration::from_millis(config.jwks_fetch_timeout_ms),
            max_bytes: config.jwks_max_bytes,
            cache_secs: config.jwks_cache_secs,
        })
    }
}

/// The cached state of one URI.
#[derive(Debug, Default)]
struct Slot {
    keys: Option<Value>,
    /// When `keys` were fetched.
    fetched_at: UnixTime,
    /// When a request was last made, whatever came of it.
    attempted_at: Option<UnixTime>,
}

/// Fetches and caches clients' `jwks_uri` key sets. Cheap to share behind the app state.
pub struct JwksFetcher {
    /// `None` when no host is allowed (nothing is ever fetched) or the HTTP client could not be
    /// built (the reason is in `unavailable`).
    http: Option<reqwest::Client>,
    unavailable: String,
    settings: FetchSettings,
    cache: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl std::fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksFetcher")
            .field("enabled", &self.http.is_some())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl JwksFetcher {
    /// A fetcher trusting the public web PKI (the Mozilla roots of `webpki-roots`).
    pub fn new(settings: FetchSettings) -> Result<Self, FetchError> {
        Self::with_roots(settings, Vec::new(), true)
    }

    /// A fetcher trusting `extra_roots`, and the web PKI as well when `web_pki` is set.
    pub fn with_roots(
        settings: FetchSettings,
        extra_roots: Vec<CertificateDer<'static>>,
        web_pki: bool,
    ) -> Result<Self, FetchError> {
        if settings.allowed_hosts.is_empty() {
            return Ok(Self::disabled(settings, "no host is allowed".to_owned()));
        }
        let http = outbound_client(settings.timeout, extra_roots, web_pki)
            .map_err(FetchError::Unavailable)?;
        Ok(Self {
            http: Some(http),
            unavailable: String::new(),
            settings,
            cache: Mutex::default(),
        })
    }

    /// The fetcher of a configuration. A client that cannot be built is logged and leaves a
    /// fetcher that refuses every URI with the reason.
    pub fn from_config(config: &ClientsConfig) -> Self {
        let settings = match FetchSettings::from_config(config) {
            Ok(settings) => settings,
            Err(e) => {
                tracing::error!(error = %e, "clients.jwks_uri_allowed_hosts: jwks_uri fetching is disabled");
                return Self::disabled(
                    FetchSettings {
                        allowed_hosts: Vec::new(),
                        timeout: Duration::from_millis(config.jwks_fetch_timeout_ms),
                        max_bytes: config.jwks_max_bytes,
                        cache_secs: config.jwks_cache_secs,
                    },
                    e,
                );
            }
        };
        let fallback = settings.clone();
        Self::new(settings).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot build the jwks_uri HTTP client: jwks_uri fetching is disabled");
            Self::disabled(fallback, e.to_string())
        })
    }

    /// A fetcher that makes no requests at all.
    pub fn disabled(settings: FetchSettings, reason: String) -> Self {
        Self {
            http: None,
            unavailable: reason,
            settings,
            cache: Mutex::default(),
        }
    }

    pub fn settings(&self) -> &FetchSettings {
        &self.settings
    }

    /// Whether `uri` may be fetched at all: https, and a host the operator allowed.
    pub fn check_allowed(&self, uri: &Url) -> Result<(), FetchError> {
        check_outbound(&self.settings.allowed_hosts, uri).map_err(|refusal| match refusal {
            OutboundRefusal::NotHttps => FetchError::NotHttps,
            OutboundRefusal::HostNotAllowed(host) => FetchError::HostNotAllowed(host),
        })
    }

    /// The key set at `uri`: from the cache while it is younger than `jwks_cache_secs`, else
    /// fetched.
    pub async fn keys(&self, uri: &Url, now: UnixTime) -> Result<Value, FetchError> {
        self.check_allowed(uri)?;
        let slot = self.slot(uri, now);
        let mut slot = slot.lock().await;
        if let Some(keys) = &slot.keys
            && now - slot.fetched_at < self.settings.cache_secs
        {
            return Ok(keys.clone());
        }
        self.fetch_into(&mut slot, uri, now).await
    }

    /// The key set at `uri` asked for again because a key was missing: a request is made only
    /// when none was made in the last [`REFETCH_INTERVAL`] seconds; otherwise the cached set.
    pub async fn refetch(&self, uri: &Url, now: UnixTime) -> Result<Value, FetchError> {
        self.check_allowed(uri)?;
        let slot = self.slot(uri, now);
        let mut slot = slot.lock().await;
        if let Some(at) = slot.attempted_at
            && now - at < REFETCH_INTERVAL
        {
            return slot.keys.clone().ok_or(FetchError::RecentlyFailed);
        }
        self.fetch_into(&mut slot, uri, now).await
    }

    async fn fetch_into(
        &self,
        slot: &mut Slot,
        uri: &Url,
        now: UnixTime,
    ) -> Result<Value, FetchError> {
        slot.attempted_at = Some(now);
        let keys = self.fetch(uri).await?;
        slot.keys = Some(keys.clone());
        slot.fetched_at = now;
        Ok(keys)
    }

    /// The cache slot of `uri`, made when missing (dropping stale entries when the cache is full).
    fn slot(&self, uri: &Url, now: UnixTime) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = cache.get(uri.as_str()) {
            return Arc::clone(slot);
        }
        if cache.len() >= MAX_CACHED_URIS {
            let ttl = self.settings.cache_secs.max(REFETCH_INTERVAL);
            // An entry in use (locked) stays; an idle one goes once it is stale.
            cache.retain(|_, slot| {
                slot.try_lock()
                    .map_or(true, |s| s.attempted_at.is_some_and(|at| now - at < ttl))
            });
        }
        Arc::clone(cache.entry(uri.as_str().to_owned()).or_default())
    }

    /// One GET of `uri`, within the timeout and the size limit.
    async fn fetch(&self, uri: &Url) -> Result<Value, FetchError> {
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| FetchError::Unavailable(self.unavailable.clone()))?;
        let timeout = self.settings.timeout;
        let max = self.settings.max_bytes;
        let request = async {
            let mut response = http
                .get(uri.clone())
                .header(
                    reqwest::header::ACCEPT,
                    "application/jwk-set+json, application/json",
                )
                .send()
                .await
                .map_err(|e| network(&e, timeout))?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            if response.content_length().is_some_and(|len| len > max) {
                return Err(FetchError::TooLarge(max));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| network(&e, timeout))? {
                if (body.len() + chunk.len()) as u64 > max {
                    // Dropping the response closes the connection: the rest is never read.
                    return Err(FetchError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            parse_jwks(&body)
        };
        tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| FetchError::Timeout(timeout.as_millis()))?
    }
}

fn network(e: &reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout(timeout.as_millis());
    }
    FetchError::Network(error_chain(e))
}

/// An error and its causes on one line: reqwest's own message rarely says what went wrong.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// An HTTP client for requests to URLs clients chose: https only (TLS 1.2/1.3 as the listeners),
/// trusting `extra_roots` and the web PKI when `web_pki` is set, no redirects, no proxy, and
/// `timeout` for the connection and for the whole request. The error says why it cannot be built.
pub fn outbound_client(
    timeout: Duration,
    extra_roots: Vec<CertificateDer<'static>>,
    web_pki: bool,
) -> Result<reqwest::Client, String> {
    outbound_builder(timeout, extra_roots, web_pki)?
        .https_only(true)
        .build()
        .map_err(|e| e.to_string())
}

/// [`outbound_client`] before it is built, for callers that decide about clear text themselves.
pub fn outbound_builder(
    timeout: Duration,
    extra_roots: Vec<CertificateDer<'static>>,
    web_pki: bool,
) -> Result<reqwest::ClientBuilder, String> {
    let unavailable = |e: &dyn std::fmt::Display| e.to_string();
    let mut roots = rustls::RootCertStore::empty();
    if web_pki {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for root in extra_roots {
        roots.add(root).map_err(|e| unavailable(&e))?;
    }
    // The provider is named here, so the client does not depend on a process-wide default.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(crate::tls::PROTOCOL_VERSIONS)
        .map_err(|e| unavailable(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("consentry/", env!("CARGO_PKG_VERSION"))))
}

/// A JWKS: a JSON object whose `keys` is an array of objects with a `kty`, public keys only.
fn parse_jwks(body: &[u8]) -> Result<Value, FetchError> {
    let jwks: Value = serde_json::from_slice(body).map_err(|_| FetchError::NotJwks("not JSON"))?;
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(FetchError::NotJwks("no keys array"))?;
    for key in keys {
        let key = key
            .as_object()
            .ok_or(FetchError::NotJwks("a key is not an object"))?;
        if !key.get("kty").is_some_and(Value::is_string) {
            return Err(FetchError::NotJwks("a key has no kty"));
        }
        if PRIVATE_JWK_MEMBERS.iter().any(|m| key.contains_key(*m)) {
            return Err(FetchError::NotJwks("it holds a private or symmetric key"));
        }
    }
    Ok(jwks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(hosts: &[&str]) -> FetchSettings {
        FetchSettings {
            allowed_hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            timeout: Duration::from_millis(500),
            max_bytes: 1024,
            cache_secs: 300,
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn host_patterns_parse_and_normalise() {
        assert_eq!(
            HostPattern::parse("Keys.Example.COM.").unwrap(),
            HostPattern::Exact("keys.example.com".into())
        );
        assert_eq!(
            HostPattern::parse("*.example.com").unwrap(),
            HostPattern::Subdomains(".example.com".into())
        );
        assert_eq!(
            HostPattern::parse("[::1]").unwrap(),
            HostPattern::Exact("::1".into())
        );
        assert_eq!(
            HostPattern::parse("127.0.0.1").unwrap(),
            HostPattern::Exact("127.0.0.1".into())
        );
        for bad in [
            "",
            "*",
            "*.",
            "a.*.com",
            "https://example.com",
            "example.com:443",
            "example.com/jwks",
            "user@example.com",
            "exa mple.com",
            "a..b",
            "*.0.0.1",
            "*.1",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn only_https_to_allowed_hosts_is_fetched() {
        let f = JwksFetcher::with_roots(
            settings(&["keys.example.com", "*.bank.test", "127.0.0.1", "::1"]),
            Vec::new(),
            false,
        )
        .unwrap();
        for ok in [
            "https://keys.example.com/jwks",
            "https://KEYS.example.com:8443/jwks",
            "https://a.bank.test/jwks",
            "https://a.b.bank.test/jwks",
            "https://127.0.0.1:9999/jwks",
            "https://[::1]/jwks",
        ] {
            assert_eq!(f.check_allowed(&url(ok)), Ok(()), "{ok}");
        }
        assert_eq!(
            f.check_allowed(&url("http://keys.example.com/jwks")),
            Err(FetchError::NotHttps)
        );
        for refused in [
            "https://example.com/jwks",
            "https://keys.example.com.evil.test/jwks",
            "https://bank.test/jwks",
            "https://evilbank.test/jwks",
            "https://127.0.0.2/jwks",
            "https://[::2]/jwks",
        ] {
            assert!(
                matches!(
                    f.check_allowed(&url(refused)),
                    Err(FetchError::HostNotAllowed(_))
                ),
                "{refused}"
            );
        }
    }

    #[test]
    fn subdomain_patterns_never_match_ip_addresses() {
        // Built directly: the parser already refuses such a pattern.
        let mut settings = settings(&[]);
        settings.allowed_hosts = vec![HostPattern::Subdomains(".0.0.1".into())];
        let f = JwksFetcher::with_roots(settings, Vec::new(), false).unwrap();
        assert_eq!(
            f.check_allowed(&url("https://127.0.0.1/jwks")),
            Err(FetchError::HostNotAllowed("127.0.0.1".into()))
        );
    }

    #[tokio::test]
    async fn with_no_allowed_host_nothing_is_fetched() {
        let f = JwksFetcher::new(settings(&[])).unwrap();
        assert!(f.http.is_none());
        assert!(matches!(
            f.keys(&url("https://keys.example.com/jwks"), 0).await,
            Err(FetchError::HostNotAllowed(_))
        ));
        assert!(matches!(
            f.refetch(&url("https://keys.example.com/jwks"), 0).await,
            Err(FetchError::HostNotAllowed(_))
        ));
    }

    #[test]
    fn bodies_must_be_public_jwks() {
        assert!(parse_jwks(br#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#).is_ok());
        assert!(parse_jwks(br#"{"keys":[]}"#).is_ok());
        for bad in [
            &b"not json"[..],
            br#"[]"#,
            br#"{"keys":{}}"#,
            br#"{"keys":[1]}"#,
            br#"{"keys":[{"n":"AQAB"}]}"#,
            br#"{"keys":[{"kty":"RSA","d":"secret"}]}"#,
            br#"{"keys":[{"kty":"oct","k":"secret"}]}"#,
        ] {
            assert!(
                matches!(parse_jwks(bad), Err(FetchError::NotJwks(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
