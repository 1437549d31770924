//! Keys on real databases: the master-key start-up rules, signing-key creation, the JWKS, signing,
//! rotation with overlap, restarts. Every test runs on SQLite and, when configured, PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use consentry_server::clock::{FixedClock, SharedClock, UnixTime};
use consentry_server::crypto::b64url_decode;
use consentry_server::keys::{
    KeyError, KeyManager, KeyPolicy, KeyState, MASTER_KEY_CHECK, MasterKey, SigningAlg,
    open_master_key,
};
use consentry_server::store::{KeyStore as _, MetaStore as _, Store};
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsHeader, PS256};
use josekit::jwt::{self, JwtPayload};
use serde_json::Value;

use crate::support::all_stores;

const T0: UnixTime = 1_800_000_000;
const LEAD: i64 = 3_600;
const LIFETIME: i64 = 600;

fn policy() -> KeyPolicy {
    KeyPolicy {
        rsa_bits: 2048,
        publish_lead: LEAD,
        max_signed_lifetime: LIFETIME,
        cache_ttl: 30,
    }
}

fn manager(store: &Store, master: &MasterKey, clock: &Arc<FixedClock>) -> KeyManager {
    let clock: SharedClock = clock.clone();
    KeyManager::new(store.clone(), master.clone(), policy(), clock)
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn payload(subject: &str) -> JwtPayload {
    let mut payload = JwtPayload::new();
    payload.set_subject(subject);
    payload.set_issuer("https://bank.example");
    payload
}

/// Verifies `token` with the JWKS entry its header names, as a relying party would.
fn verify(token: &str, jwks: &Value) -> Result<JwtPayload, String> {
    let header: Value =
        serde_json::from_slice(&b64url_decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} is not published"))?;
    let jwk = Jwk::from_map(jwk.as_object().unwrap().clone()).map_err(|e| e.to_string())?;
    let result = match header["alg"].as_str() {
        Some("PS256") => jwt::decode_with_verifier(token, &PS256.verifier_from_jwk(&jwk).unwrap()),
        Some("ES256") => jwt::decode_with_verifier(token, &ES256.verifier_from_jwk(&jwk).unwrap()),
        other => return Err(format!("unexpected alg {other:?}")),
    };
    result
        .map(|(payload, _)| payload)
        .map_err(|e| e.to_string())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn master_key_is_created_once_with_mode_0600_and_reused() {
    for (name, store, _guard) in all_stores().await {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data").join("master.key");

        let first = open_master_key(&store, None, &file).await.unwrap();
        assert!(file.exists(), "{name}");
        #[cfg(unix)]
        assert_eq!(mode(&file), 0o600, "{name}");
        assert!(
            store.meta(MASTER_KEY_CHECK).await.unwrap().is_some(),
            "{name}"
        );
        let written = std::fs::read(&file).unwrap();
        assert_eq!(
            String::from_utf8(written.clone()).unwrap().trim(),
            first.encode().as_str()
        );

        let second = open_master_key(&store, None, &file).await.unwrap();
        assert_eq!(second.encode(), first.encode(), "{name}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            written,
            "{name}: the key file was rewritten"
        );

        // The same key given as configuration (here as hex) is accepted too.
        let configured = hex_of(&first);
        let third = open_master_key(&store, Some(&configured), &dir.path().join("unused.key"))
            .await
            .unwrap();
        assert_eq!(third.encode(), first.encode(), "{name}");
        assert!(!dir.path().join("unused.key").exists(), "{name}");
    }
}

fn hex_of(key: &MasterKey) -> String {
    b64url_decode(&key.encode())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn a_master_key_that_does_not_match_is_refused_and_nothing_is_regenerated() {
    for (name, store, _guard) in all_stores().await {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let key = open_master_key(&store, None, &file).await.unwrap();
        let check = store.meta(MASTER_KEY_CHECK).await.unwrap();
        let original = std::fs::read(&file).unwrap();

        // A different configured key.
        let other = MasterKey::generate();
        let err = open_master_key(&store, Some(&other.encode()), &file)
            .await
            .unwrap_err();
        assert!(
            matches!(err, KeyError::MasterKeyMismatch { .. }),
            "{name}: {err}"
        );
        assert!(
            err.to_string()
                .contains("the master key does not match this database"),
            "{name}: {err}"
        );

        // A configured value that is not a key at all.
        let err = open_master_key(&store, Some("hunter2"), &file)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("keys.master_key"), "{name}: {err}");
        assert!(!err.to_string().contains("hunter2"), "{name}: {err}");

        // The key file is gone: refused, and no new file is made.
        let missing = dir.path().join("elsewhere.key");
        let err = open_master_key(&store, None, &missing).await.unwrap_err();
        assert!(
            matches!(err, KeyError::MasterKeyMissing { .. }),
            "{name}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("is missing and keys.master_key is not set"),
            "{name}: {message}"
        );
        assert!(message.contains("elsewhere.key"), "{name}: {message}");
        assert!(!missing.exists(), "{name}");

        // A file holding another key.
        let stranger = dir.path().join("stranger.key");
        std::fs::write(&stranger, MasterKey::generate().encode().as_bytes()).unwrap();
        let err = open_master_key(&store, None, &stranger).await.unwrap_err();
        assert!(
            matches!(err, KeyError::MasterKeyMismatch { .. }),
            "{name}: {err}"
        );

        // A corrupt file is named and left alone.
        std::fs::write(&file, b"this is not a key\n").unwrap();
        let err = open_master_key(&store, None, &file).await.unwrap_err();
        assert!(
            matches!(err, KeyError::MasterKeyFileInvalid { .. }),
            "{name}: {err}"
        );
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{name}: {err}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            b"this is not a key\n",
            "{name}"
        );

        // Nothing above touched the recorded check, and the original key still opens.
        assert_eq!(store.meta(MASTER_KEY_CHECK).await.unwrap(), check, "{name}");
        std::fs::write(&file, &original).unwrap();
        assert_eq!(
            open_master_key(&store, None, &file).await.unwrap().encode(),
            key.encode(),
            "{name}"
        );
        assert!(!err.to_string().contains('\n'), "{name}: one line");
    }
}

#[tokio::test]
async fn keys_without_a_check_still_refuse_a_missing_key_file() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        manager(&store, &MasterKey::generate(), &clock)
            .ensure_keys()
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let err = open_master_key(&store, None, &file).await.unwrap_err();
        assert!(
            matches!(err, KeyError::MasterKeyMissing { .. }),
            "{name}: {err}"
        );
        assert!(!file.exists(), "{name}");
    }
}

#[tokio::test]
async fn a_fresh_database_accepts_a_configured_key_and_records_its_check() {
    for (name, store, _guard) in all_stores().await {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let key = MasterKey::generate();
        let opened = open_master_key(
            &store,
            Some(&format!("  {}\n", key.encode().as_str())),
            &file,
        )
        .await
        .unwrap();
        assert_eq!(opened.encode(), key.encode(), "{name}");
        assert!(!file.exists(), "{name}: a configured key writes no file");
        assert!(
            store.meta(MASTER_KEY_CHECK).await.unwrap().is_some(),
            "{name}"
        );
        // Now the database belongs to that key.
        let err = open_master_key(&store, None, &file).await.unwrap_err();
        assert!(
            matches!(err, KeyError::MasterKeyMissing { .. }),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn ensure_keys_creates_one_key_per_alg_once() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        let keys = manager(&store, &MasterKey::generate(), &clock);
        let created = keys.ensure_keys().await.unwrap();
        assert_eq!(created.len(), 2, "{name}");
        assert!(keys.ensure_keys().await.unwrap().is_empty(), "{name}");
        assert_eq!(store.list_keys().await.unwrap().len(), 2, "{name}");

        let jwks = keys.jwks().await.unwrap();
        let published = jwks["keys"].as_array().unwrap();
        assert_eq!(published.len(), 2, "{name}");
        let mut algs = Vec::new();
        for jwk in published {
            let kid = jwk["kid"].as_str().unwrap();
            assert!(created.iter().any(|c| c == kid), "{name}");
            assert_eq!(jwk["use"], "sig", "{name}");
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(
                    jwk.get(private).is_none(),
                    "{name}: {kid} publishes {private}"
                );
            }
            match jwk["alg"].as_str().unwrap() {
                "PS256" => {
                    assert_eq!(jwk["kty"], "RSA");
                    let n = b64url_decode(jwk["n"].as_str().unwrap()).unwrap();
                    assert!(
                        n.len() * 8 >= 2048,
                        "{name}: RSA modulus of {} bits",
                        n.len() * 8
                    );
                }
                "ES256" => {
                    assert_eq!(jwk["kty"], "EC");
                    assert_eq!(jwk["crv"], "P-256");
                }
                other => panic!("{name}: unexpected alg {other}"),
            }
            algs.push(jwk["alg"].as_str().unwrap().to_owned());
        }
        algs.sort();
        assert_eq!(algs, ["ES256", "PS256"], "{name}");

        let listed = keys.list().await.unwrap();
        assert_eq!(listed.len(), 2, "{name}");
        assert!(
            listed
                .iter()
                .all(|k| k.state == KeyState::Active && k.activates_at == T0),
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_first_starts_create_one_key_per_alg() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        let master = MasterKey::generate();
        let (a, b) = (
            manager(&store, &master, &clock),
            manager(&store, &master, &clock),
        );
        let (ra, rb) = tokio::join!(a.ensure_keys(), b.ensure_keys());
        assert_eq!(ra.unwrap().len() + rb.unwrap().len(), 2, "{name}");
        assert_eq!(store.list_keys().await.unwrap().len(), 2, "{name}");
        assert_eq!(
            kids(&a.jwks().await.unwrap()),
            kids(&b.jwks().await.unwrap()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn signed_jwts_verify_with_the_published_key_of_their_kid() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        let keys = manager(&store, &MasterKey::generate(), &clock);
        keys.ensure_keys().await.unwrap();
        let jwks = keys.jwks().await.unwrap();
        for alg in SigningAlg::ALL {
            let key = keys.signing_key(alg).await.unwrap();
            assert_eq!(key.alg, alg);
            let mut header = JwsHeader::new();
            header.set_token_type("JWT");
            header.set_key_id("ignored");
            let token = key.sign_jwt(&header, &payload("alice")).unwrap();
            let verified = verify(&token, &jwks).unwrap_or_else(|e| panic!("{name} {alg}: {e}"));
            assert_eq!(verified.subject(), Some("alice"));

            let decoded: Value =
                serde_json::from_slice(&b64url_decode(token.split('.').next().unwrap()).unwrap())
                    .unwrap();
            assert_eq!(decoded["kid"], key.kid.as_str(), "{name}");
            assert_eq!(decoded["alg"], alg.as_str(), "{name}");
            assert_eq!(decoded["typ"], "JWT", "{name}");

            // Arbitrary bytes too (detached content such as signed introspection responses).
            let jws = key
                .sign_jws_bytes(&JwsHeader::new(), b"{\"active\":true}")
                .unwrap();
            assert_eq!(jws.split('.').count(), 3);
            assert!(
                !format!("{key:?}").contains("\"d\""),
                "{name}: Debug leaks key material"
            );
        }
    }
}

#[tokio::test]
async fn rotation_publishes_first_then_switches_then_unpublishes() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0 - 10_000));
        let keys = manager(&store, &MasterKey::generate(), &clock);
        keys.ensure_keys().await.unwrap();
        let old_ps = keys.signing_key(SigningAlg::PS256).await.unwrap().kid;
        let old_es = keys.signing_key(SigningAlg::ES256).await.unwrap().kid;

        clock.set(T0);
        let reports = keys
            .rotate(&[SigningAlg::ES256, SigningAlg::PS256])
            .await
            .unwrap();
        assert_eq!(reports.len(), 2, "{name}");
        for report in &reports {
            assert_eq!(report.activates_at, T0 + LEAD, "{name}");
            assert_eq!(report.retires_at, T0 + LEAD, "{name}");
            assert_eq!(report.unpublish_at, T0 + LEAD + LIFETIME, "{name}");
            let old = if report.alg == SigningAlg::PS256 {
                &old_ps
            } else {
                &old_es
            };
            assert_eq!(&report.retiring_kid, old, "{name}");
            assert_ne!(&report.new_kid, old, "{name}");
        }
        let new_ps = reports
            .iter()
            .find(|r| r.alg == SigningAlg::PS256)
            .unwrap()
            .new_kid
            .clone();
        let new_es = reports
            .iter()
            .find(|r| r.alg == SigningAlg::ES256)
            .unwrap()
            .new_kid
            .clone();

        // t0: the new keys are published, the old ones still sign.
        let published = kids(&keys.jwks().await.unwrap());
        for kid in [&old_ps, &old_es, &new_ps, &new_es] {
            assert!(published.contains(kid), "{name}: {kid} not published at t0");
        }
        assert_eq!(
            keys.signing_key(SigningAlg::PS256).await.unwrap().kid,
            old_ps,
            "{name}"
        );
        assert_eq!(
            keys.signing_key(SigningAlg::ES256).await.unwrap().kid,
            old_es,
            "{name}"
        );
        let old_token = keys
            .signing_key(SigningAlg::PS256)
            .await
            .unwrap()
            .sign_jwt(&JwsHeader::new(), &payload("t0"))
            .unwrap();
        let states = state_of(&keys).await;
        assert_eq!(states[&old_ps], KeyState::Active, "{name}");
        assert_eq!(states[&new_ps], KeyState::Next, "{name}");

        // A second rotation while this one is pending is refused.
        let err = keys.rotate(&[SigningAlg::PS256]).await.unwrap_err();
        assert!(
            matches!(err, KeyError::RotationPending { .. }),
            "{name}: {err}"
        );
        clock.set(T0 + LEAD - 1);
        assert!(
            matches!(
                keys.rotate(&[SigningAlg::ES256]).await,
                Err(KeyError::RotationPending { .. })
            ),
            "{name}"
        );
        assert_eq!(
            keys.signing_key(SigningAlg::PS256).await.unwrap().kid,
            old_ps,
            "{name}"
        );
        assert_eq!(
            store.list_keys().await.unwrap().len(),
            4,
            "{name}: a refused rotation created a key"
        );

        // t0 + lead: the new keys sign, the old ones are still published.
        clock.set(T0 + LEAD);
        assert_eq!(
            keys.signing_key(SigningAlg::PS256).await.unwrap().kid,
            new_ps,
            "{name}"
        );
        assert_eq!(
            keys.signing_key(SigningAlg::ES256).await.unwrap().kid,
            new_es,
            "{name}"
        );
        let published = kids(&keys.jwks().await.unwrap());
        assert!(
            published.contains(&old_ps) && published.contains(&old_es),
            "{name}"
        );
        let states = state_of(&keys).await;
        assert_eq!(states[&old_ps], KeyState::Retired, "{name}");
        assert_eq!(states[&new_ps], KeyState::Active, "{name}");

        // The last second of the overlap: what the old key signed still verifies.
        clock.set(T0 + LEAD + LIFETIME - 1);
        let jwks = keys.jwks().await.unwrap();
        assert!(
            kids(&jwks).contains(&old_ps) && kids(&jwks).contains(&old_es),
            "{name}"
        );
        assert_eq!(
            verify(&old_token, &jwks).unwrap().subject(),
            Some("t0"),
            "{name}"
        );

        // Overlap over: the old keys are gone.
        clock.set(T0 + LEAD + LIFETIME);
        let jwks = keys.jwks().await.unwrap();
        let mut published = kids(&jwks);
        published.sort();
        let mut expected = vec![new_ps.clone(), new_es.clone()];
        expected.sort();
        assert_eq!(published, expected, "{name}");
        assert!(verify(&old_token, &jwks).is_err(), "{name}");
        assert_eq!(state_of(&keys).await[&old_ps], KeyState::Expired, "{name}");

        // And the next rotation is allowed again.
        let again = keys.rotate(&[SigningAlg::PS256]).await.unwrap();
        assert_eq!(again[0].retiring_kid, new_ps, "{name}");
    }
}

async fn state_of(keys: &KeyManager) -> std::collections::HashMap<String, KeyState> {
    keys.list()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect()
}

#[tokio::test]
async fn another_process_rotating_is_picked_up_after_the_cache_ttl() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        let master = MasterKey::generate();
        let server = manager(&store, &master, &clock);
        server.ensure_keys().await.unwrap();
        let before = kids(&server.jwks().await.unwrap());

        // `consentry keys rotate` in another process.
        let cli = manager(&store, &master, &clock);
        let report = cli.rotate(&[SigningAlg::ES256]).await.unwrap().remove(0);

        assert_eq!(
            kids(&server.jwks().await.unwrap()),
            before,
            "{name}: served from the cache"
        );
        clock.advance(policy().cache_ttl);
        assert!(
            kids(&server.jwks().await.unwrap()).contains(&report.new_kid),
            "{name}"
        );
        clock.set(report.activates_at);
        assert_eq!(
            server.signing_key(SigningAlg::ES256).await.unwrap().kid,
            report.new_kid,
            "{name}"
        );
    }
}

#[tokio::test]
async fn concurrent_rotations_of_one_alg_leave_one_next_key() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        let master = MasterKey::generate();
        let (a, b) = (
            manager(&store, &master, &clock),
            manager(&store, &master, &clock),
        );
        a.ensure_keys().await.unwrap();
        let (ra, rb) = tokio::join!(
            a.rotate(&[SigningAlg::ES256]),
            b.rotate(&[SigningAlg::ES256])
        );
        let outcomes = [ra, rb];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "{name}: {outcomes:?}"
        );
        assert!(
            outcomes.iter().any(|r| matches!(
                r,
                Err(KeyError::ConcurrentRotation(_) | KeyError::RotationPending { .. })
            )),
            "{name}: {outcomes:?}"
        );
        let next = a
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.state == KeyState::Next)
            .count();
        assert_eq!(next, 1, "{name}");
    }
}

#[tokio::test]
async fn a_restart_serves_the_same_keys() {
    for (name, store, _guard) in all_stores().await {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master.key");
        let clock = Arc::new(FixedClock::new(T0));
        let master = open_master_key(&store, None, &file).await.unwrap();
        let first = manager(&store, &master, &clock);
        first.ensure_keys().await.unwrap();
        let jwks = first.jwks().await.unwrap();
        let token = first
            .signing_key(SigningAlg::ES256)
            .await
            .unwrap()
            .sign_jwt(&JwsHeader::new(), &payload("x"))
            .unwrap();
        drop(first);

        clock.advance(5);
        let master = open_master_key(&store, None, &file).await.unwrap();
        let second = manager(&store, &master, &clock);
        assert!(second.ensure_keys().await.unwrap().is_empty(), "{name}");
        assert_eq!(second.jwks().await.unwrap(), jwks, "{name}");
        for alg in SigningAlg::ALL {
            let kid = second.signing_key(alg).await.unwrap().kid;
            assert!(kids(&jwks).contains(&kid), "{name}");
        }
        assert!(
            verify(&token, &second.jwks().await.unwrap()).is_ok(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn another_master_key_cannot_open_the_keys_and_regenerates_nothing() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        manager(&store, &MasterKey::generate(), &clock)
            .ensure_keys()
            .await
            .unwrap();
        let stored = store.list_keys().await.unwrap();

        let wrong = manager(&store, &MasterKey::generate(), &clock);
        let err = wrong.ensure_keys().await.unwrap_err();
        assert!(
            matches!(err, KeyError::KeyUnavailable { .. }),
            "{name}: {err}"
        );
        for alg in SigningAlg::ALL {
            let err = wrong.signing_key(alg).await.unwrap_err();
            assert!(
                matches!(err, KeyError::KeyUnavailable { .. }),
                "{name}: {err}"
            );
        }
        let after = store.list_keys().await.unwrap();
        assert_eq!(after.len(), stored.len(), "{name}: keys were regenerated");
        assert!(
            after
                .iter()
                .zip(&stored)
                .all(|(a, b)| a.kid == b.kid && a.private_jwk == b.private_jwk),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_sealed_key_moved_to_another_row_does_not_open() {
    for (name, store, _guard) in all_stores().await {
        let clock = Arc::new(FixedClock::new(T0));
        let master = MasterKey::generate();
        let keys = manager(&store, &master, &clock);
        keys.ensure_keys().await.unwrap();
        let ps = keys.signing_key(SigningAlg::PS256).await.unwrap().kid;
        let es = keys.signing_key(SigningAlg::ES256).await.unwrap().kid;
        // Both ES256 keys: rotate so there is a second ES256 key, then give the new row the old
        // row's sealed private key.
        clock.set(T0 + 1);
        let next = keys
            .rotate(&[SigningAlg::ES256])
            .await
            .unwrap()
            .remove(0)
            .new_kid;
        store
            .execute_raw(&format!(
                "UPDATE signing_keys SET private_jwk = (SELECT private_jwk FROM signing_keys WHERE kid = '{es}') \
                 WHERE kid = '{next}'"
            ))
            .await
            .unwrap();
        let restarted = manager(&store, &master, &clock);
        let err = restarted.ensure_keys().await.unwrap_err();
        assert!(
            matches!(&err, KeyError::KeyUnavailable { kid } if *kid == next),
            "{name}: {err}"
        );
        // The untouched keys still sign.
        assert_eq!(
            restarted.signing_key(SigningAlg::PS256).await.unwrap().kid,
            ps,
            "{name}"
        );
        assert_eq!(
            restarted.signing_key(SigningAlg::ES256).await.unwrap().kid,
            es,
            "{name}"
        );
    }
}

#[tokio::test]
async fn weak_rsa_policies_are_refused() {
    for (name, store, _guard) in all_stores().await {
        let clock: SharedClock = Arc::new(FixedClock::new(T0));
        let weak = KeyPolicy {
            rsa_bits: 1024,
            ..policy()
        };
        let keys = KeyManager::new(store.clone(), MasterKey::generate(), weak, clock);
        assert!(
            matches!(keys.ensure_keys().await, Err(KeyError::WeakRsaKey(1024))),
            "{name}"
        );
        assert!(store.list_keys().await.unwrap().is_empty(), "{name}");
    }
}
