//! The one application state every handler shares.

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::keys::KeyManager;
use crate::protocol::client_auth::ClientTrust;
use crate::sca::login::ThrottlePolicy;
use crate::sca::password::PasswordHasher;
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
        Self {
            config,
            store,
            keys,
            clock,
            passwords,
            throttle,
            client_trust: ClientTrust::default(),
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

    pub fn with_client_trust(mut self, trust: ClientTrust) -> Self {
        self.client_trust = trust;
        self
    }

    pub fn into_state(self) -> AppState {
        AppState(Arc::new(self))
    }
}
