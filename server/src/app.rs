//! The one application state every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::keys::KeyManager;
use crate::protocol::client_auth::ClientTrust;
use crate::registration::jwks_fetch::JwksFetcher;
use crate::sca::login::ThrottlePolicy;
use crate::sca::password::PasswordHasher;
use crate::sca::sms::{HttpSmsGateway, SharedSmsGateway};
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub keys: Arc<KeyManager>,
    pub clock: SharedClock,
    pub passwords: PasswordHasher,
    pub throttle: ThrottlePolicy,
    /// Trust anchors for `tls_client_auth` certificates.
    pub client_trust: ClientTrust,
    /// Fetches and caches the key sets of clients that registered a `jwks_uri`.
    pub jwks_fetcher: JwksFetcher,
    /// Carries one-time codes; none without `sca.sms.gateway_url`.
    pub sms: Option<SharedSmsGateway>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        keys: Arc<KeyManager>,
        clock: SharedClock,
        passwords: PasswordHasher,
    ) -> Self {
        let l = &config.login;
        let throttle = ThrottlePolicy {
            account_max_failures: l.account_max_failures,
            address_max_failures: l.address_max_failures,
            window_secs: l.throttle_window_secs,
        };
        let jwks_fetcher = JwksFetcher::from_config(&config.clients);
        let sms =
            HttpSmsGateway::from_config(&config.sca.sms).map(|g| Arc::new(g) as SharedSmsGateway);
        Self {
            config,
            store,
            keys,
            clock,
            passwords,
            throttle,
            client_trust: ClientTrust::default(),
            jwks_fetcher,
            sms,
        }
    }

    pub fn password_hasher(
        config: &Config,
    ) -> Result<PasswordHasher, crate::sca::password::PasswordError> {
        let l = &config.login;
        PasswordHasher::new(
            l.argon2_memory_kib,
            l.argon2_iterations,
            l.argon2_parallelism,
        )
    }

    /// Replaces the configured SMS gateway (tests, or a gateway that is not plain HTTP).
    pub fn with_sms_gateway(mut self, sms: Option<SharedSmsGateway>) -> Self {
        self.sms = sms;
        self
    }

    pub fn with_client_trust(mut self, trust: ClientTrust) -> Self {
        self.client_trust = trust;
        self
    }

    /// Replaces the `jwks_uri` fetcher (tests: one trusting a local CA).
    pub fn with_jwks_fetcher(mut self, fetcher: JwksFetcher) -> Self {
        self.jwks_fetcher = fetcher;
        self
    }

    pub fn into_state(self) -> AppState {
        AppState(Arc::new(self))
    }
}
