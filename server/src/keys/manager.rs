//! The signing-key lifecycle: creation at first start, the published JWKS, the key that signs now,
//! and rotation with overlap.
//!
//! A key is *published* from its creation until `unpublish_at`, and *signs* from `activates_at`
//! until `retires_at`. Rotation creates the next key `publish_lead` seconds before it signs, so
//! relying parties that cache the JWKS see it first; the key it replaces retires at that moment and
//! stays published `max_signed_lifetime` longer, so everything it signed still verifies.
//!
//! Every node reads the keys from the database; decrypted keys are cached in memory for at most
//! `cache_ttl` seconds, so a rotation made elsewhere (another node, `consentry keys rotate`) is
//! picked up. Keep `cache_ttl` well below `publish_lead`.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use josekit::jws::{JwsHeader, JwsSigner};
use josekit::jwt::JwtPayload;
use serde::Serialize;
use serde_json::{Map, Value};

use super::jwk::{self, MIN_RSA_BITS};
use super::{KeyError, MasterKey, SigningAlg, one_line};
use crate::clock::{SharedClock, UnixTime};
use crate::store::{KeyStore as _, SigningKeyRecord, Store, StoreError};

/// How keys are made and how long they overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicy {
    /// RSA modulus size for PS256 keys; at least 2048.
    pub rsa_bits: u32,
    /// Seconds a new key is published before it signs.
    pub publish_lead: i64,
    /// The longest lifetime of anything signed: a retired key stays published this long after it
    /// stops signing.
    pub max_signed_lifetime: i64,
    /// Seconds the decrypted keys are cached before the database is read again.
    pub cache_ttl: i64,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            rsa_bits: MIN_RSA_BITS,
            publish_lead: 86_400,
            max_signed_lifetime: 86_400,
            cache_ttl: 60,
        }
    }
}

impl KeyPolicy {
    pub fn validate(&self) -> Result<(), KeyError> {
        if self.rsa_bits < MIN_RSA_BITS {
            return Err(KeyError::WeakRsaKey(self.rsa_bits));
        }
        for (name, value) in [
            ("keys.publish_lead", self.publish_lead),
            ("keys.max_signed_lifetime", self.max_signed_lifetime),
            ("keys.cache_ttl", self.cache_ttl),
        ] {
            if value < 0 {
                return Err(KeyError::InvalidPolicy(format!(
                    "{name} must not be negative, not {value}"
                )));
            }
        }
        Ok(())
    }
}

/// A key that can sign now. Cheap to clone; `Debug` shows only its kid and alg.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    signer: Arc<dyn JwsSigner>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A compact JWT of `payload`; the header gets this key's `kid` and `alg`.
    pub fn sign_jwt(&self, header: &JwsHeader, payload: &JwtPayload) -> Result<String, KeyError> {
        josekit::jwt::encode_with_signer(payload, &self.header(header), &*self.signer)
            .map_err(|e| self.failed(e))
    }

    /// A compact JWS over arbitrary bytes; the header gets this key's `kid` and `alg`.
    pub fn sign_jws_bytes(&self, header: &JwsHeader, payload: &[u8]) -> Result<String, KeyError> {
        josekit::jws::serialize_compact(payload, &self.header(header), &*self.signer)
            .map_err(|e| self.failed(e))
    }

    /// The raw signature of `signing_input` under this key's alg: for JWS forms josekit does not
    /// build, such as a detached unencoded payload (RFC 7797), whose header the caller makes.
    pub fn sign_bytes(&self, signing_input: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer.sign(signing_input).map_err(|e| self.failed(e))
    }

    fn header(&self, header: &JwsHeader) -> JwsHeader {
        let mut header = header.clone();
        header.set_key_id(self.kid.clone());
        header.set_algorithm(self.alg.as_str());
        header
    }

    fn failed(&self, e: josekit::JoseError) -> KeyError {
        KeyError::Sign {
            kid: self.kid.clone(),
            reason: one_line(e),
        }
    }
}

/// Where a key is in its life at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing (and published).
    Active,
    /// No longer signing, still published so what it signed verifies.
    Retired,
    /// Neither signing nor published.
    Expired,
}

impl KeyState {
    fn at(
        now: UnixTime,
        activates_at: UnixTime,
        retires_at: Option<UnixTime>,
        unpublish_at: Option<UnixTime>,
    ) -> Self {
        if unpublish_at.is_some_and(|t| t <= now) {
            KeyState::Expired
        } else if retires_at.is_some_and(|t| t <= now) {
            KeyState::Retired
        } else if activates_at > now {
            KeyState::Next
        } else {
            KeyState::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

/// One key as `consentry keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
    pub retires_at: Option<UnixTime>,
    pub unpublish_at: Option<UnixTime>,
}

/// What one rotation scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    pub alg: SigningAlg,
    pub new_kid: String,
    /// When the new key starts signing (it is published at once).
    pub activates_at: UnixTime,
    pub retiring_kid: String,
    /// When the old key stops signing: the same moment.
    pub retires_at: UnixTime,
    /// When the old key leaves the JWKS.
    pub unpublish_at: UnixTime,
}

/// A stored key as loaded into memory.
struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    public_jwk: Map<String, Value>,
    created_at: UnixTime,
    activates_at: UnixTime,
    retires_at: Option<UnixTime>,
    unpublish_at: Option<UnixTime>,
    sealed_private_jwk: Vec<u8>,
    /// Decrypted at load for every key that signs now or later; `None` for retired keys and keys
    /// that failed to open (those are opened again on demand, to report the error).
    signer: Option<Arc<dyn JwsSigner>>,
}

impl LoadedKey {
    fn signs_at(&self, now: UnixTime) -> bool {
        self.activates_at <= now && self.retires_at.is_none_or(|t| t > now)
    }

    fn may_sign_from(&self, now: UnixTime) -> bool {
        self.retires_at.is_none_or(|t| t > now)
    }

    fn published_at(&self, now: UnixTime) -> bool {
        self.created_at <= now && self.unpublish_at.is_none_or(|t| t > now)
    }
}

struct Snapshot {
    loaded_at: UnixTime,
    /// Ordered by alg, activates_at, kid.
    keys: Vec<LoadedKey>,
}

/// Signing keys for the whole server: JWKS, current signing key, rotation. Share it behind `Arc`.
pub struct KeyManager {
    store: Store,
    master: MasterKey,
    policy: KeyPolicy,
    clock: SharedClock,
    cache: RwLock<Option<Arc<Snapshot>>>,
    reloading: tokio::sync::Mutex<()>,
}

impl fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyManager")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    pub fn new(store: Store, master: MasterKey, policy: KeyPolicy, clock: SharedClock) -> Self {
        Self {
            store,
            master,
            policy,
            clock,
            cache: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn policy(&self) -> &KeyPolicy {
        &self.policy
    }

    /// A secret for `purpose` derived from the master key (see [`MasterKey::derive`]), shared by
    /// every node without being stored.
    pub fn derived_secret(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        self.master.derive(purpose)
    }

    /// Creates a key, signing from now, for every algorithm that has none; returns the new kids.
    /// Existing keys are kept. Fails if a key that signs now or later cannot be opened with this
    /// master key, so a wrong key stops start-up instead of the first signature.
    pub async fn ensure_keys(&self) -> Result<Vec<String>, KeyError> {
        self.policy.validate()?;
        let now = self.clock.now();
        let existing = self.store.list_keys().await?;
        let mut created = Vec::new();
        for alg in SigningAlg::ALL {
            if existing.iter().any(|k| k.alg == alg.as_str()) {
                continue;
            }
            let record = self.new_record(alg, now, now).await?;
            if self.store.insert_first_key(&record).await? {
                tracing::info!(kid = %record.kid, %alg, "created a signing key");
                created.push(record.kid);
            }
        }
        self.invalidate_cache();
        let snapshot = self.snapshot().await?;
        for key in snapshot
            .keys
            .iter()
            .filter(|k| k.signer.is_none() && k.may_sign_from(now))
        {
            self.open(key)?;
        }
        Ok(created)
    }

    /// The JWKS document: every key published now (including a next key that does not sign yet),
    /// public members only, ordered by alg, activation and kid.
    pub async fn jwks(&self) -> Result<Value, KeyError> {
        let snapshot = self.snapshot().await?;
        let now = self.clock.now();
        let keys: Vec<Value> = snapshot
            .keys
            .iter()
            .filter(|k| k.published_at(now))
            .map(|k| Value::Object(k.public_jwk.clone()))
            .collect();
        Ok(serde_json::json!({ "keys": keys }))
    }

    /// The key that signs with `alg` now: the latest activated one that has not retired.
    pub async fn signing_key(&self, alg: SigningAlg) -> Result<SigningKey, KeyError> {
        let snapshot = self.snapshot().await?;
        let now = self.clock.now();
        let key = snapshot
            .keys
            .iter()
            .filter(|k| k.alg == alg && k.signs_at(now))
            .max_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)))
            .ok_or(KeyError::NoSigningKey(alg))?;
        let signer = match &key.signer {
            Some(signer) => Arc::clone(signer),
            None => self.open(key)?,
        };
        Ok(SigningKey {
            kid: key.kid.clone(),
            alg,
            signer,
        })
    }

    /// Schedules a rotation for each of `algs`: a new key published now that signs from
    /// `now + publish_lead`, when the current key retires; the current key leaves the JWKS
    /// `max_signed_lifetime` later. Refused for an alg whose previous rotation is still pending.
    /// All algs are checked before any is rotated.
    pub async fn rotate(&self, algs: &[SigningAlg]) -> Result<Vec<RotationReport>, KeyError> {
        self.policy.validate()?;
        let mut algs = algs.to_vec();
        algs.sort();
        algs.dedup();
        let now = self.clock.now();
        let records = self.store.list_keys().await?;
        let mut plans = Vec::new();
        for alg in algs {
            let of_alg = || records.iter().filter(move |k| k.alg == alg.as_str());
            if let Some(pending) = of_alg()
                .filter(|k| k.activates_at > now)
                .max_by_key(|k| k.activates_at)
            {
                return Err(KeyError::RotationPending {
                    alg,
                    kid: pending.kid.clone(),
                    activates_at: pending.activates_at,
                });
            }
            let current = of_alg()
                .filter(|k| k.activates_at <= now && k.retires_at.is_none_or(|t| t > now))
                .max_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)))
                .ok_or(KeyError::NoSigningKey(alg))?;
            plans.push((alg, current.kid.clone()));
        }

        let result = self.rotate_planned(plans, now).await;
        self.invalidate_cache();
        result
    }

    async fn rotate_planned(
        &self,
        plans: Vec<(SigningAlg, String)>,
        now: UnixTime,
    ) -> Result<Vec<RotationReport>, KeyError> {
        let mut reports = Vec::new();
        for (alg, retiring_kid) in plans {
            let activates_at = now.saturating_add(self.policy.publish_lead);
            let next = self.new_record(alg, activates_at, now).await?;
            let retires_at = activates_at;
            let unpublish_at = retires_at.saturating_add(self.policy.max_signed_lifetime);
            match self
                .store
                .rotate_key(&next, &retiring_kid, retires_at, unpublish_at)
                .await
            {
                Err(StoreError::Conflict { .. }) => return Err(KeyError::ConcurrentRotation(alg)),
                other => other?,
            }
            tracing::info!(
                %alg,
                new_kid = %next.kid,
                activates_at,
                retiring_kid = %retiring_kid,
                unpublish_at,
                "scheduled a signing key rotation"
            );
            reports.push(RotationReport {
                alg,
                new_kid: next.kid,
                activates_at,
                retiring_kid,
                retires_at,
                unpublish_at,
            });
        }
        Ok(reports)
    }

    /// Every stored key with its state now, ordered by alg, activation and kid.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let now = self.clock.now();
        let mut infos: Vec<KeyInfo> = self
            .store
            .list_keys()
            .await?
            .into_iter()
            .filter_map(|k| {
                let alg = known_alg(&k)?;
                Some(KeyInfo {
                    state: KeyState::at(now, k.activates_at, k.retires_at, k.unpublish_at),
                    kid: k.kid,
                    alg,
                    created_at: k.created_at,
                    activates_at: k.activates_at,
                    retires_at: k.retires_at,
                    unpublish_at: k.unpublish_at,
                })
            })
            .collect();
        infos.sort_by(|a, b| (a.alg, a.activates_at, &a.kid).cmp(&(b.alg, b.activates_at, &b.kid)));
        Ok(infos)
    }

    /// Drops the cached keys; the next call reads the database.
    pub fn invalidate_cache(&self) {
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// A new key record for `alg`, its private half sealed under the master key bound to its kid.
    async fn new_record(
        &self,
        alg: SigningAlg,
        activates_at: UnixTime,
        now: UnixTime,
    ) -> Result<SigningKeyRecord, KeyError> {
        let rsa_bits = self.policy.rsa_bits;
        let generated = tokio::task::spawn_blocking(move || jwk::generate(alg, rsa_bits))
            .await
            .map_err(|e| KeyError::Generate {
                alg,
                reason: one_line(e),
            })??;
        let public_jwk =
            serde_json::to_string(&generated.public_jwk).map_err(|e| KeyError::Generate {
                alg,
                reason: one_line(e),
            })?;
        let private_jwk = self
            .master
            .seal(generated.private_jwk.as_bytes(), generated.kid.as_bytes());
        Ok(SigningKeyRecord {
            kid: generated.kid,
            alg: alg.as_str().to_owned(),
            public_jwk,
            private_jwk,
            created_at: now,
            activates_at,
            retires_at: None,
            unpublish_at: None,
        })
    }

    /// The cached keys, or fresh ones when the cache is empty or older than `cache_ttl`.
    async fn snapshot(&self) -> Result<Arc<Snapshot>, KeyError> {
        if let Some(snapshot) = self.fresh_cached() {
            return Ok(snapshot);
        }
        let _one_reload_at_a_time = self.reloading.lock().await;
        if let Some(snapshot) = self.fresh_cached() {
            return Ok(snapshot);
        }
        let snapshot = Arc::new(self.load().await?);
        *self.cache.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    fn fresh_cached(&self) -> Option<Arc<Snapshot>> {
        let now = self.clock.now();
        let cached = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        let age = now.saturating_sub(cached.loaded_at);
        (0..self.policy.cache_ttl).contains(&age).then_some(cached)
    }

    /// Reads every key, decrypting those that sign now or later (reusing signers already open).
    async fn load(&self) -> Result<Snapshot, KeyError> {
        let now = self.clock.now();
        let previous = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut keys = Vec::new();
        for record in self.store.list_keys().await? {
            let Some(alg) = known_alg(&record) else {
                continue;
            };
            let public_jwk = match serde_json::from_str::<Map<String, Value>>(&record.public_jwk) {
                Ok(jwk) if jwk::thumbprint(&jwk).as_deref() == Some(record.kid.as_str()) => {
                    jwk::public_members(&jwk)
                }
                _ => {
                    tracing::error!(kid = %record.kid, "skipping a stored key whose public JWK does not match its kid");
                    continue;
                }
            };
            let mut key = LoadedKey {
                kid: record.kid,
                alg,
                public_jwk,
                created_at: record.created_at,
                activates_at: record.activates_at,
                retires_at: record.retires_at,
                unpublish_at: record.unpublish_at,
                sealed_private_jwk: record.private_jwk,
                signer: None,
            };
            if key.may_sign_from(now) {
                let reused = previous
                    .as_ref()
                    .and_then(|p| p.keys.iter().find(|k| k.kid == key.kid))
                    .filter(|k| k.sealed_private_jwk == key.sealed_private_jwk)
                    .and_then(|k| k.signer.clone());
                key.signer = match reused {
                    Some(signer) => Some(signer),
                    None => match self.open(&key) {
                        Ok(signer) => Some(signer),
                        Err(e) => {
                            tracing::error!(kid = %key.kid, error = %e, "cannot open a signing key");
                            None
                        }
                    },
                };
            }
            keys.push(key);
        }
        keys.sort_by(|a, b| (a.alg, a.activates_at, &a.kid).cmp(&(b.alg, b.activates_at, &b.kid)));
        Ok(Snapshot {
            loaded_at: now,
            keys,
        })
    }

    /// Decrypts a key's private half and builds its signer.
    fn open(&self, key: &LoadedKey) -> Result<Arc<dyn JwsSigner>, KeyError> {
        let private_jwk = self
            .master
            .open(&key.sealed_private_jwk, key.kid.as_bytes())
            .map_err(|_| KeyError::KeyUnavailable {
                kid: key.kid.clone(),
            })?;
        jwk::signer(key.alg, &key.kid, &private_jwk)
    }
}

fn known_alg(record: &SigningKeyRecord) -> Option<SigningAlg> {
    let alg = record.alg.parse().ok();
    if alg.is_none() {
        tracing::warn!(kid = %record.kid, alg = %record.alg, "ignoring a stored key of an unknown algorithm");
    }
    alg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::store::ConnectOptions;

    async fn sqlite() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(&dir.path().join("keys.db"));
        (
            Store::open(&url, &ConnectOptions::default()).await.unwrap(),
            dir,
        )
    }

    #[tokio::test]
    async fn the_latest_activated_key_signs_and_ties_go_to_the_greatest_kid() {
        let (store, _dir) = sqlite().await;
        let clock = Arc::new(FixedClock::new(50));
        let policy = KeyPolicy {
            cache_ttl: 0,
            ..KeyPolicy::default()
        };
        let keys = KeyManager::new(store.clone(), MasterKey::generate(), policy, clock.clone());
        let mut kids = Vec::new();
        for activates_at in [100, 500, 500, 2_000] {
            let record = keys
                .new_record(SigningAlg::ES256, activates_at, 0)
                .await
                .unwrap();
            store.insert_key(&record).await.unwrap();
            kids.push(record.kid);
        }
        let tied = kids[1].clone().max(kids[2].clone());

        assert!(matches!(
            keys.signing_key(SigningAlg::ES256).await,
            Err(KeyError::NoSigningKey(SigningAlg::ES256))
        ));
        assert!(matches!(
            keys.signing_key(SigningAlg::PS256).await,
            Err(KeyError::NoSigningKey(SigningAlg::PS256))
        ));
        clock.set(100);
        assert_eq!(
            keys.signing_key(SigningAlg::ES256).await.unwrap().kid,
            kids[0]
        );
        clock.set(1_999);
        assert_eq!(keys.signing_key(SigningAlg::ES256).await.unwrap().kid, tied);
        clock.set(2_000);
        assert_eq!(
            keys.signing_key(SigningAlg::ES256).await.unwrap().kid,
            kids[3]
        );
        // Every created key is published; none has an unpublish time.
        assert_eq!(
            keys.jwks().await.unwrap()["keys"].as_array().unwrap().len(),
            4
        );
    }

    #[tokio::test]
    async fn the_cache_serves_until_its_ttl_or_an_invalidation() {
        let (store, _dir) = sqlite().await;
        let clock = Arc::new(FixedClock::new(1_000));
        let policy = KeyPolicy {
            cache_ttl: 60,
            ..KeyPolicy::default()
        };
        let keys = KeyManager::new(store.clone(), MasterKey::generate(), policy, clock.clone());
        assert_eq!(
            keys.jwks().await.unwrap()["keys"].as_array().unwrap().len(),
            0
        );
        let record = keys
            .new_record(SigningAlg::ES256, 1_000, 1_000)
            .await
            .unwrap();
        store.insert_key(&record).await.unwrap();

        clock.set(1_059);
        assert_eq!(
            keys.jwks().await.unwrap()["keys"].as_array().unwrap().len(),
            0,
            "cached"
        );
        keys.invalidate_cache();
        assert_eq!(
            keys.jwks().await.unwrap()["keys"].as_array().unwrap().len(),
            1
        );

        let second = keys
            .new_record(SigningAlg::ES256, 1_100, 1_059)
            .await
            .unwrap();
        store.insert_key(&second).await.unwrap();
        clock.set(1_118);
        assert_eq!(
            keys.jwks().await.unwrap()["keys"].as_array().unwrap().len(),
            1,
            "cached"
        );
        clock.set(1_119);
        assert_eq!(
            keys.jwks().await.unwrap()["keys"].as_array().unwrap().len(),
            2,
            "reloaded after the ttl"
        );
    }

    #[tokio::test]
    async fn private_keys_are_sealed_bound_to_their_kid() {
        let (store, _dir) = sqlite().await;
        let master = MasterKey::generate();
        let keys = KeyManager::new(
            store,
            master.clone(),
            KeyPolicy::default(),
            Arc::new(FixedClock::new(0)),
        );
        let record = keys.new_record(SigningAlg::PS256, 0, 0).await.unwrap();
        assert!(!String::from_utf8_lossy(&record.private_jwk).contains("\"d\""));
        assert!(!record.public_jwk.contains("\"d\""));
        let opened = master
            .open(&record.private_jwk, record.kid.as_bytes())
            .unwrap();
        let private: Map<String, Value> = serde_json::from_slice(&opened).unwrap();
        assert!(private.contains_key("d"));
        assert!(master.open(&record.private_jwk, b"another kid").is_err());
    }

    #[test]
    fn states_follow_the_timeline() {
        let (activates, retires, unpublish) = (100, 200, 300);
        let at = |now| KeyState::at(now, activates, Some(retires), Some(unpublish));
        assert_eq!(at(99), KeyState::Next);
        assert_eq!(at(100), KeyState::Active);
        assert_eq!(at(199), KeyState::Active);
        assert_eq!(at(200), KeyState::Retired);
        assert_eq!(at(299), KeyState::Retired);
        assert_eq!(at(300), KeyState::Expired);
        assert_eq!(KeyState::at(1_000_000, 100, None, None), KeyState::Active);
    }

    #[test]
    fn policy_validation() {
        assert!(KeyPolicy::default().validate().is_ok());
        let weak = KeyPolicy {
            rsa_bits: 1024,
            ..KeyPolicy::default()
        };
        assert!(matches!(weak.validate(), Err(KeyError::WeakRsaKey(1024))));
        let negative = KeyPolicy {
            publish_lead: -1,
            ..KeyPolicy::default()
        };
        assert!(matches!(
            negative.validate(),
            Err(KeyError::InvalidPolicy(_))
        ));
    }
}
