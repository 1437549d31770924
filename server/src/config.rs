//! The one typed configuration: defaults, then `consentry.toml`, then `CONSENTRY_SECTION__KEY`
//! environment variables. A secret may also come from a file: `CONSENTRY_SECTION__KEY_FILE` (or
//! `key_file = "..."` in TOML) names a file whose contents are the value. Unknown keys are reported;
//! a bad value stops start-up with a message naming the key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

pub use crate::registration::metadata::AccessTokenFormat;

/// A value that must never be printed: `Debug`, `Display` and `Serialize` show `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub tls: TlsConfig,
    pub keys: KeysConfig,
    pub tokens: TokensConfig,
    pub login: LoginConfig,
    pub clients: ClientsConfig,
    pub events: crate::events::EventsConfig,
    pub sca: crate::sca::config::ScaConfig,
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// The issuer identifier: an https URL with no query or fragment. Every endpoint URL in the
    /// discovery document is built from it.
    pub issuer: Url,
    /// The public listener: discovery, JWKS, authorization endpoint, login and consent pages.
    pub public_addr: SocketAddr,
    /// The mTLS listener: token, PAR, introspection, revocation, userinfo.
    pub mtls_addr: SocketAddr,
    /// The base URL at which the mTLS listener is reached; by default the issuer's host with the
    /// mTLS listener's port.
    pub mtls_base_url: Option<Url>,
    /// The resource API listener (mTLS): the bundled UK Open Banking account and payment APIs.
    pub resource_addr: SocketAddr,
    /// The base URL at which the resource listener is reached; by default the issuer's host with
    /// the resource listener's port.
    pub resource_base_url: Option<Url>,
    /// The local admin listener (plain HTTP): `/metrics`, `/healthz`, `/readyz`.
    pub admin_addr: SocketAddr,
    /// Reverse proxies trusted to pass the client certificate in the RFC 9440 `Client-Cert`
    /// header. Empty (the default) means the header is never trusted.
    pub trusted_proxies: Vec<IpAddr>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT, in seconds.
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// Where the SQLite database, the generated TLS material, the master key file and demo files
    /// live.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; by default `sqlite://{data_dir}/consentry.db`.
    pub database_url: Option<Secret>,
    /// PostgreSQL: the connection pool size. SQLite: the connections that read; every write goes
    /// through one more, in turn, with the writes queued at the same moment committed together.
    pub max_connections: u32,
    /// SQLite only: `full` (the default) syncs every commit to disk before it is acknowledged;
    /// `normal` does not, which is faster and keeps the database consistent, but a power cut or
    /// an OS crash may lose the last acknowledged commits (and with them the record that a code,
    /// request URI or assertion was used). A crash of the server process alone loses nothing.
    pub sqlite_synchronous: crate::store::Synchronous,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM server certificate chain (RSA). Without it, a local CA and a certificate for the
    /// issuer's host are generated in `{data_dir}/tls/` on first start.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// PEM files of the certificate authorities whose client certificates `tls_client_auth`
    /// clients may present (eIDAS QWAC issuers, directory CAs). The local CA is always trusted.
    pub client_ca_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KeysConfig {
    /// The 32-byte master key (base64url, base64 or hex) sealing signing keys at rest. Without it,
    /// `{data_dir}/master.key` is used, created with mode 0600 on first start.
    pub master_key: Option<Secret>,
    /// RSA modulus size for new PS256 keys.
    pub rsa_bits: u32,
    /// How long a new key is published before it signs, in seconds.
    pub publish_lead_secs: i64,
    /// How often a node re-reads keys from the database, in seconds.
    pub cache_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokensConfig {
    pub access_token_secs: i64,
    pub id_token_secs: i64,
    pub refresh_token_secs: i64,
    pub authorization_code_secs: i64,
    pub request_uri_secs: i64,
    /// Whether each refresh issues a new refresh token and retires the old one.
    pub rotate_refresh_tokens: bool,
    /// The form of the access tokens of clients that registered no `access_token_format`:
    /// `opaque` (random references, the default) or `jwt` (RFC 9068 JWTs signed by the server).
    /// Either way the token is recorded, so revocation takes effect at once.
    pub access_token_format: AccessTokenFormat,
    /// The `aud` of JWT access tokens: the resource server's identifier. By default the resource
    /// listener's base URL (`server.resource_base_url`).
    pub access_token_audience: Option<String>,
    /// Whether DPoP proofs at the token, PAR and resource endpoints must carry a server nonce
    /// (RFC 9449 section 8); the nonce comes in the `DPoP-Nonce` header of every response there.
    pub dpop_nonce: bool,
    /// How often the server's DPoP nonce changes, in seconds: a nonce is accepted for one to two
    /// of these, on every node (it is derived from the master key, not stored).
    pub dpop_nonce_secs: i64,
}

impl TokensConfig {
    /// The longest lifetime of anything the server signs: a retired key stays published this long.
    pub fn max_signed_lifetime(&self) -> i64 {
        self.access_token_secs
            .max(self.id_token_secs)
            .max(self.request_uri_secs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginConfig {
    /// A login session ends after this many seconds without a request.
    pub session_idle_secs: i64,
    /// argon2id memory in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// argon2id lanes (OWASP: 1).
    pub argon2_parallelism: u32,
    /// Failed logins of one account allowed per window before it is throttled.
    pub account_max_failures: i64,
    /// Failed logins from one address allowed per window before it is throttled.
    pub address_max_failures: i64,
    /// The throttling window, in seconds.
    pub throttle_window_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientsConfig {
    /// Hosts whose `jwks_uri` the server fetches: `keys.example.com` exactly, or
    /// `*.example.com` for its subdomains. Empty (the default): no `jwks_uri` is ever fetched.
    pub jwks_uri_allowed_hosts: Vec<String>,
    /// Time allowed for fetching a `jwks_uri`, connection included, in milliseconds.
    pub jwks_fetch_timeout_ms: u64,
    /// The largest `jwks_uri` answer accepted, in bytes.
    pub jwks_max_bytes: u64,
    /// How long a fetched key set is used before it is fetched again, in seconds.
    pub jwks_cache_secs: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// A tracing filter (`info`, `consentry_server=debug,info`); `RUST_LOG` overrides it.
    pub log_level: String,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            issuer: default_issuer(),
            public_addr: addr("127.0.0.1:8443"),
            mtls_addr: addr("127.0.0.1:8444"),
            mtls_base_url: None,
            resource_addr: addr("127.0.0.1:8445"),
            resource_base_url: None,
            admin_addr: addr("127.0.0.1:9464"),
            trusted_proxies: Vec::new(),
            shutdown_grace_secs: 30,
        }
    }
}

#[expect(clippy::expect_used, reason = "a constant URL that parses")]
fn default_issuer() -> Url {
    Url::parse("https://localhost:8443").expect("constant URL")
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            max_connections: 16,
            sqlite_synchronous: crate::store::Synchronous::Full,
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            master_key: None,
            rsa_bits: 2048,
            publish_lead_secs: 3600,
            cache_secs: 30,
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_secs: 600,
            id_token_secs: 600,
            refresh_token_secs: 90 * 24 * 3600,
            authorization_code_secs: 60,
            request_uri_secs: 90,
            rotate_refresh_tokens: false,
            access_token_format: AccessTokenFormat::Opaque,
            access_token_audience: None,
            dpop_nonce: false,
            dpop_nonce_secs: 120,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            session_idle_secs: 1800,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            account_max_failures: 5,
            address_max_failures: 50,
            throttle_window_secs: 900,
        }
    }
}

impl Default for ClientsConfig {
    fn default() -> Self {
        Self {
            jwks_uri_allowed_hosts: Vec::new(),
            jwks_fetch_timeout_ms: 5000,
            jwks_max_bytes: 64 * 1024,
            jwks_cache_secs: 300,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_level: "info".to_owned(),
        }
    }
}

/// A configuration that failed to load: one line, naming the key or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("configuration file {path} is not valid TOML: {cause}")]
    Syntax { path: PathBuf, cause: String },
    #[error("configuration key {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("cannot read {key} from file {path}: {cause}")]
    SecretFile {
        key: String,
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// A loaded configuration with what the loader noticed.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Keys present in the file or environment that the configuration does not know.
    pub unknown_keys: Vec<String>,
    /// The file read, if any.
    pub file: Option<PathBuf>,
}

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "CONSENTRY_CONFIG";
const ENV_PREFIX: &str = "CONSENTRY_";
const DEFAULT_FILE: &str = "consentry.toml";

impl Config {
    /// Loads the configuration. `explicit` (from `--config` or `CONSENTRY_CONFIG`) must exist;
    /// otherwise `consentry.toml` in the working directory is read when present. `env` is the
    /// process environment (passed in so tests control it).
    pub fn load(
        explicit: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let explicit = explicit.map(Path::to_path_buf).or_else(|| {
            env.iter()
                .find(|(k, _)| k == CONFIG_ENV)
                .map(|(_, v)| PathBuf::from(v))
        });
        let (mut tree, file) = match explicit {
            Some(path) => (read_toml(&path)?, Some(path)),
            None if Path::new(DEFAULT_FILE).exists() => (
                read_toml(Path::new(DEFAULT_FILE))?,
                Some(PathBuf::from(DEFAULT_FILE)),
            ),
            None => (toml::Table::new(), None),
        };
        let defaults =
            toml::Table::try_from(Config::default()).map_err(|e| ConfigError::Invalid {
                key: "(defaults)".to_owned(),
                message: e.to_string(),
            })?;
        overlay_env(&mut tree, &defaults, &env)?;
        resolve_secret_files(&mut tree)?;

        let mut unknown_keys = Vec::new();
        let mut note_unknown = |path: serde_ignored::Path<'_>| unknown_keys.push(path.to_string());
        let de = serde_ignored::Deserializer::new(toml::Value::Table(tree), &mut note_unknown);
        let config: Config =
            serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Invalid {
                key: e.path().to_string(),
                message: e.inner().message().to_owned(),
            })?;
        config.validate()?;
        Ok(Loaded {
            config,
            unknown_keys,
            file,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.to_owned(),
            message: message.to_owned(),
        };
        let issuer = &self.server.issuer;
        if issuer.scheme() != "https" {
            return Err(invalid("server.issuer", "must be an https URL"));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(invalid("server.issuer", "must have no query or fragment"));
        }
        if issuer.host_str().is_none() {
            return Err(invalid("server.issuer", "must have a host"));
        }
        if let Some(url) = &self.server.mtls_base_url
            && url.scheme() != "https"
        {
            return Err(invalid("server.mtls_base_url", "must be an https URL"));
        }
        if let Some(url) = &self.server.resource_base_url
            && url.scheme() != "https"
        {
            return Err(invalid("server.resource_base_url", "must be an https URL"));
        }
        if let Some(url) = &self.storage.database_url
            && crate::store::Backend::of_url(url.expose()).is_none()
        {
            return Err(invalid(
                "storage.database_url",
                "must start with sqlite: or postgres://",
            ));
        }
        if self.storage.max_connections == 0 {
            return Err(invalid("storage.max_connections", "must be at least 1"));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(invalid(
                "tls.cert_file",
                "tls.cert_file and tls.key_file go together",
            ));
        }
        if self.keys.rsa_bits < 2048 {
            return Err(invalid("keys.rsa_bits", "must be at least 2048"));
        }
        if self.keys.publish_lead_secs < 0 || self.keys.cache_secs < 0 {
            return Err(invalid(
                "keys.publish_lead_secs",
                "durations cannot be negative",
            ));
        }
        if self.keys.publish_lead_secs > 0 && self.keys.cache_secs >= self.keys.publish_lead_secs {
            // Every node must have re-read the keys before a new one starts signing.
            return Err(invalid(
                "keys.cache_secs",
                "must be shorter than keys.publish_lead_secs",
            ));
        }
        let t = &self.tokens;
        for (key, value) in [
            ("tokens.access_token_secs", t.access_token_secs),
            ("tokens.id_token_secs", t.id_token_secs),
            ("tokens.refresh_token_secs", t.refresh_token_secs),
            ("tokens.authorization_code_secs", t.authorization_code_secs),
            ("tokens.request_uri_secs", t.request_uri_secs),
            ("login.session_idle_secs", self.login.session_idle_secs),
            (
                "login.throttle_window_secs",
                self.login.throttle_window_secs,
            ),
        ] {
            if value <= 0 {
                return Err(invalid(key, "must be a positive number of seconds"));
            }
        }
        if t.authorization_code_secs > 60 {
            return Err(invalid(
                "tokens.authorization_code_secs",
                "FAPI allows at most 60 seconds",
            ));
        }
        if !(10..=600).contains(&t.request_uri_secs) {
            return Err(invalid(
                "tokens.request_uri_secs",
                "must be between 10 and 600 seconds",
            ));
        }
        if !(10..=3600).contains(&t.dpop_nonce_secs) {
            return Err(invalid(
                "tokens.dpop_nonce_secs",
                "must be between 10 and 3600 seconds",
            ));
        }
        if t.access_token_audience
            .as_deref()
            .is_some_and(|aud| aud.trim().is_empty() || aud.chars().any(char::is_control))
        {
            return Err(invalid(
                "tokens.access_token_audience",
                "must be a non-empty identifier without control characters",
            ));
        }
        if self.login.argon2_memory_kib < 8 * self.login.argon2_parallelism.max(1)
            || self.login.argon2_iterations == 0
            || self.login.argon2_parallelism == 0
        {
            return Err(invalid(
                "login.argon2_memory_kib",
                "argon2 parameters out of range",
            ));
        }
        if self.login.account_max_failures < 1 || self.login.address_max_failures < 1 {
            return Err(invalid("login.account_max_failures", "must be at least 1"));
        }
        let c = &self.clients;
        for host in &c.jwks_uri_allowed_hosts {
            crate::registration::jwks_fetch::HostPattern::parse(host)
                .map_err(|e| invalid("clients.jwks_uri_allowed_hosts", &e))?;
        }
        if !(100..=60_000).contains(&c.jwks_fetch_timeout_ms) {
            return Err(invalid(
                "clients.jwks_fetch_timeout_ms",
                "must be between 100 and 60000 milliseconds",
            ));
        }
        if !(1024..=1024 * 1024).contains(&c.jwks_max_bytes) {
            return Err(invalid(
                "clients.jwks_max_bytes",
                "must be between 1024 and 1048576 bytes",
            ));
        }
        if !(1..=86_400).contains(&c.jwks_cache_secs) {
            return Err(invalid(
                "clients.jwks_cache_secs",
                "must be between 1 and 86400 seconds",
            ));
        }
        self.events
            .validate()
            .map_err(|(key, message)| invalid(key, &message))?;
        self.sca
            .validate()
            .map_err(|(key, message)| invalid(key, &message))?;
        tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level)
            .map_err(|e| invalid("telemetry.log_level", &e.to_string()))?;
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.storage.database_url {
            Some(url) => url.expose().to_owned(),
            None => crate::store::Store::sqlite_url(&self.storage.data_dir.join("consentry.db")),
        }
    }

    /// The base URL of the mTLS listener, where `mtls_endpoint_aliases` point.
    pub fn mtls_base_url(&self) -> Url {
        if let Some(url) = &self.server.mtls_base_url {
            return url.clone();
        }
        let mut url = self.server.issuer.clone();
        let _ = url.set_port(Some(self.server.mtls_addr.port()));
        url
    }

    /// The base URL of the resource API listener.
    pub fn resource_base_url(&self) -> Url {
        if let Some(url) = &self.server.resource_base_url {
            return url.clone();
        }
        let mut url = self.server.issuer.clone();
        let _ = url.set_port(Some(self.server.resource_addr.port()));
        url
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

fn read_toml(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
        path: path.to_owned(),
        cause,
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            cause: e.message().to_owned(),
        })
}

/// Applies `CONSENTRY_SECTION__KEY=value` variables. The value is read as the type the default
/// has at that key (integer, boolean, list), as a string where the default has none.
fn overlay_env(
    tree: &mut toml::Table,
    defaults: &toml::Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if name == CONFIG_ENV || !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let key = path.join(".");
        let value = typed_env_value(lookup(defaults, &path), raw).map_err(|message| {
            ConfigError::Invalid {
                key: format!("{key} (from {name})"),
                message,
            }
        })?;
        insert_path(tree, &path, value);
    }
    Ok(())
}

fn lookup<'a>(table: &'a toml::Table, path: &[String]) -> Option<&'a toml::Value> {
    let (first, rest) = path.split_first()?;
    let value = table.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        toml::Value::Table(t) => lookup(t, rest),
        _ => None,
    }
}

fn insert_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return;
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    if let toml::Value::Table(t) = entry {
        insert_path(t, rest, value);
    }
}

fn typed_env_value(default: Option<&toml::Value>, raw: &str) -> Result<toml::Value, String> {
    Ok(match default {
        Some(toml::Value::Integer(_)) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("{raw:?} is not a whole number"))?,
        ),
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
            raw.trim()
                .parse()
                .map_err(|_| format!("{raw:?} is not true or false"))?,
        ),
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

/// The keys whose values are secrets: each may instead be given as `{key}_file`, a file holding
/// the value (from TOML or `CONSENTRY_SECTION__KEY_FILE`).
pub const SECRET_KEYS: &[&[&str]] = &[
    &["storage", "database_url"],
    &["keys", "master_key"],
    &["sca", "sms", "gateway_token"],
];

fn resolve_secret_files(tree: &mut toml::Table) -> Result<(), ConfigError> {
    for path in SECRET_KEYS {
        let Some((name, sections)) = path.split_last() else {
            continue;
        };
        let mut table = Some(&mut *tree);
        for section in sections {
            table = match table.and_then(|t| t.get_mut(*section)) {
                Some(toml::Value::Table(t)) => Some(t),
                _ => None,
            };
        }
        let Some(table) = table else {
            continue;
        };
        let file_key = format!("{name}_file");
        let Some(file) = table.remove(&file_key) else {
            continue;
        };
        let key = path.join(".");
        let toml::Value::String(file) = file else {
            return Err(ConfigError::Invalid {
                key: format!("{key}_file"),
                message: "must be a path".to_owned(),
            });
        };
        let text = std::fs::read_to_string(&file).map_err(|cause| ConfigError::SecretFile {
            key: key.clone(),
            path: PathBuf::from(&file),
            cause,
        })?;
        table.insert(
            (*name).to_owned(),
            toml::Value::String(text.trim_end_matches(['\n', '\r']).to_owned()),
        );
    }
    Ok(())
}

/// The environment variables this configuration would read, for documentation and `--help`.
pub fn env_names() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Ok(defaults) = toml::Table::try_from(Config::default()) {
        for (section, value) in &defaults {
            if let toml::Value::Table(t) = value {
                for key in t.keys() {
                    out.insert(
                        format!(
                            "{ENV_PREFIX}{}__{}",
                            section.to_ascii_uppercase(),
                            key.to_ascii_uppercase()
                        ),
                        format!("{section}.{key}"),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_load_without_a_file() {
        let loaded = Config::load(None, env(&[])).unwrap();
        assert_eq!(
            loaded.config.server.issuer.as_str(),
            "https://localhost:8443/"
        );
        assert_eq!(loaded.config.server.public_addr.port(), 8443);
        assert_eq!(loaded.config.server.mtls_addr.port(), 8444);
        assert!(loaded.unknown_keys.is_empty());
        assert_eq!(
            loaded.config.mtls_base_url().as_str(),
            "https://localhost:8444/"
        );
    }

    #[test]
    fn file_then_environment_with_types_from_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "c.toml",
            "[server]\nissuer = \"https://bank.test\"\npublic_addr = \"0.0.0.0:9443\"\n[tokens]\naccess_token_secs = 300\n",
        );
        let loaded = Config::load(
            Some(&file),
            env(&[
                ("CONSENTRY_TOKENS__ACCESS_TOKEN_SECS", "120"),
                ("CONSENTRY_SERVER__TRUSTED_PROXIES", "10.0.0.1, ::1"),
                ("CONSENTRY_STORAGE__DATA_DIR", "/var/lib/consentry"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        let c = loaded.config;
        assert_eq!(c.server.issuer.as_str(), "https://bank.test/");
        assert_eq!(c.server.public_addr.port(), 9443);
        assert_eq!(c.tokens.access_token_secs, 120);
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/consentry"));
        assert_eq!(c.database_url(), "sqlite:///var/lib/consentry/consentry.db");
    }

    #[test]
    fn unknown_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "c.toml",
            "[server]\nisuer = \"https://x\"\n[nonsense]\na = 1\n",
        );
        let loaded =
            Config::load(Some(&file), env(&[("CONSENTRY_LOGIN__COLOUR", "blue")])).unwrap();
        let mut keys = loaded.unknown_keys;
        keys.sort();
        assert_eq!(keys, vec!["login.colour", "nonsense", "server.isuer"]);
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "c.toml",
            "[server]\npublic_addr = \"not an address\"\n",
        );
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(err.contains("server.public_addr"), "{err}");

        let err = Config::load(None, env(&[("CONSENTRY_TOKENS__ID_TOKEN_SECS", "ten")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokens.id_token_secs"), "{err}");

        let err = Config::load(
            None,
            env(&[("CONSENTRY_SERVER__ISSUER", "http://insecure")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("server.issuer") && err.contains("https"),
            "{err}"
        );

        let err = Config::load(
            None,
            env(&[("CONSENTRY_TOKENS__AUTHORIZATION_CODE_SECS", "600")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("tokens.authorization_code_secs"), "{err}");
    }

    #[test]
    fn access_token_format_and_dpop_nonces_are_configured_in_tokens() {
        let c = Config::load(None, env(&[])).unwrap().config;
        assert_eq!(c.tokens.access_token_format, AccessTokenFormat::Opaque);
        assert_eq!(c.tokens.access_token_audience, None);
        assert!(!c.tokens.dpop_nonce, "DPoP nonces are off by default");

        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "c.toml",
            "[tokens]\naccess_token_format = \"jwt\"\naccess_token_audience = \"https://rs.bank.test\"\n",
        );
        let c = Config::load(
            Some(&file),
            env(&[
                ("CONSENTRY_TOKENS__DPOP_NONCE", "true"),
                ("CONSENTRY_TOKENS__DPOP_NONCE_SECS", "60"),
            ]),
        )
        .unwrap()
        .config;
        assert_eq!(c.tokens.access_token_format, AccessTokenFormat::Jwt);
        assert_eq!(
            c.tokens.access_token_audience.as_deref(),
            Some("https://rs.bank.test")
        );
        assert!(c.tokens.dpop_nonce);
        assert_eq!(c.tokens.dpop_nonce_secs, 60);

        for (key, value, named) in [
            (
                "CONSENTRY_TOKENS__ACCESS_TOKEN_FORMAT",
                "signed",
                "tokens.access_token_format",
            ),
            (
                "CONSENTRY_TOKENS__DPOP_NONCE_SECS",
                "5",
                "tokens.dpop_nonce_secs",
            ),
            (
                "CONSENTRY_TOKENS__ACCESS_TOKEN_AUDIENCE",
                " ",
                "tokens.access_token_audience",
            ),
        ] {
            let err = Config::load(None, env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{err}");
        }
    }

    #[test]
    fn key_caches_refresh_before_a_new_key_signs() {
        let err = Config::load(
            None,
            env(&[
                ("CONSENTRY_KEYS__PUBLISH_LEAD_SECS", "60"),
                ("CONSENTRY_KEYS__CACHE_SECS", "60"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("keys.cache_secs"), "{err}");
        assert!(Config::load(None, env(&[("CONSENTRY_KEYS__PUBLISH_LEAD_SECS", "0")])).is_ok());
    }

    #[test]
    fn jwks_uri_fetching_is_off_by_default_and_validated() {
        let c = Config::load(None, env(&[])).unwrap().config.clients;
        assert!(c.jwks_uri_allowed_hosts.is_empty());
        assert_eq!(c.jwks_fetch_timeout_ms, 5000);
        assert_eq!(c.jwks_max_bytes, 65536);
        assert_eq!(c.jwks_cache_secs, 300);

        let loaded = Config::load(
            None,
            env(&[
                (
                    "CONSENTRY_CLIENTS__JWKS_URI_ALLOWED_HOSTS",
                    "keys.tpp.example, *.directory.example",
                ),
                ("CONSENTRY_CLIENTS__JWKS_CACHE_SECS", "60"),
            ]),
        )
        .unwrap();
        assert_eq!(
            loaded.config.clients.jwks_uri_allowed_hosts,
            ["keys.tpp.example", "*.directory.example"]
        );
        assert_eq!(loaded.config.clients.jwks_cache_secs, 60);

        for (name, value, key) in [
            (
                "CONSENTRY_CLIENTS__JWKS_URI_ALLOWED_HOSTS",
                "https://keys.tpp.example/jwks",
                "clients.jwks_uri_allowed_hosts",
            ),
            (
                "CONSENTRY_CLIENTS__JWKS_URI_ALLOWED_HOSTS",
                "*",
                "clients.jwks_uri_allowed_hosts",
            ),
            (
                "CONSENTRY_CLIENTS__JWKS_FETCH_TIMEOUT_MS",
                "0",
                "clients.jwks_fetch_timeout_ms",
            ),
            (
                "CONSENTRY_CLIENTS__JWKS_MAX_BYTES",
                "10",
                "clients.jwks_max_bytes",
            ),
            (
                "CONSENTRY_CLIENTS__JWKS_CACHE_SECS",
                "0",
                "clients.jwks_cache_secs",
            ),
        ] {
            let err = Config::load(None, env(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn malformed_toml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "broken.toml", "[server\nissuer=");
        let err = Config::load(Some(&file), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("broken.toml") && err.contains("not valid TOML"),
            "{err}"
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/consentry.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/consentry.toml"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = write(
            dir.path(),
            "mk",
            "c2VjcmV0LW1hc3Rlci1rZXktdGhhdC1pcy0zMi1ieXRlcw\n",
        );
        let db_file = write(
            dir.path(),
            "db",
            "postgres://consentry:hunter2@127.0.0.1/consentry\n",
        );
        let gw_file = write(dir.path(), "gw", "gw-s3cret\n");
        let loaded = Config::load(
            None,
            env(&[
                (
                    "CONSENTRY_KEYS__MASTER_KEY_FILE",
                    key_file.to_str().unwrap(),
                ),
                (
                    "CONSENTRY_STORAGE__DATABASE_URL_FILE",
                    db_file.to_str().unwrap(),
                ),
                (
                    "CONSENTRY_SCA__SMS__GATEWAY_TOKEN_FILE",
                    gw_file.to_str().unwrap(),
                ),
                (
                    "CONSENTRY_SCA__SMS__GATEWAY_URL",
                    "https://sms.bank.example/send",
                ),
            ]),
        )
        .unwrap();
        let c = &loaded.config;
        assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
        assert_eq!(
            c.sca.sms.gateway_token.as_ref().unwrap().expose(),
            "gw-s3cret"
        );
        assert_eq!(
            c.sca.sms.gateway_url.as_ref().unwrap().as_str(),
            "https://sms.bank.example/send"
        );
        assert_eq!(
            c.keys.master_key.as_ref().unwrap().expose(),
            "c2VjcmV0LW1hc3Rlci1rZXktdGhhdC1pcy0zMi1ieXRlcw"
        );
        assert!(c.database_url().contains("hunter2"));
        let shown = c.to_redacted_toml();
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("c2VjcmV0")
                && !shown.contains("gw-s3cret"),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"));
        assert!(!format!("{c:?}").contains("hunter2"));

        let err = Config::load(
            None,
            env(&[("CONSENTRY_KEYS__MASTER_KEY_FILE", "/nonexistent/mk")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("keys.master_key") && err.contains("/nonexistent/mk"),
            "{err}"
        );
    }

    #[test]
    fn env_names_cover_every_key() {
        let names = env_names();
        assert_eq!(
            names.get("CONSENTRY_SERVER__ISSUER").map(String::as_str),
            Some("server.issuer")
        );
        assert!(names.contains_key("CONSENTRY_LOGIN__ARGON2_MEMORY_KIB"));
    }
}
