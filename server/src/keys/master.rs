//! The master key: 32 random bytes that seal secrets at rest (private signing keys, and whatever
//! else must not sit in the database in clear) with AES-256-GCM.
//!
//! The database records a check value sealed under the key, so a start with a different key is
//! refused instead of minting new keys that would orphan the old ones.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use super::KeyError;
use crate::crypto::{b64url, b64url_decode, random_bytes};
use crate::store::{KeyStore as _, MetaStore as _, Store};

/// The `server_meta` name of the master-key check value.
pub const MASTER_KEY_CHECK: &str = "master_key_check";
const CHECK_AAD: &[u8] = b"consentry master key check";
const CHECK_PLAINTEXT: &[u8] = b"consentry master key check v1";

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The key that seals secrets at rest. Zeroized on drop; `Debug` never shows it.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// A new key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(Zeroizing::new(random_bytes::<32>()))
    }

    /// A key written as base64url (padding optional), standard base64, or 64 hex characters.
    /// Surrounding whitespace (a trailing newline in a file) is ignored.
    pub fn parse(encoded: &str) -> Result<Self, KeyError> {
        let s = encoded.trim();
        let bytes: Zeroizing<Vec<u8>> = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
        {
            Zeroizing::new(hex::decode(s).map_err(|_| KeyError::MalformedMasterKey)?)
        } else {
            [URL_SAFE_NO_PAD, URL_SAFE, STANDARD, STANDARD_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(s).ok())
                .map(Zeroizing::new)
                .ok_or(KeyError::MalformedMasterKey)?
        };
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(KeyError::MalformedMasterKey);
        }
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    /// The key as base64url without padding, the form written to the key file.
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(b64url(self.0.as_slice()))
    }

    /// A 32-byte key for one `purpose` (HMAC-SHA256 of the purpose under this key): the same on
    /// every node that shares the master key, and unrelated to the keys of other purposes.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let label = format!("consentry derived key v1: {purpose}");
        Zeroizing::new(crate::crypto::hmac_sha256(
            self.0.as_slice(),
            label.as_bytes(),
        ))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.0.as_slice()))
    }

    /// Seals `plaintext` bound to `aad`: `1 || nonce (12 bytes) || ciphertext and tag`, with a
    /// fresh random nonce per call.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>();
        #[expect(
            clippy::expect_used,
            reason = "AES-GCM encryption only fails for plaintexts over 64 GiB, which nothing seals"
        )]
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-256-GCM encryption of a small plaintext");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Opens what [`MasterKey::seal`] produced with the same `aad`; fails on a wrong key, a wrong
    /// `aad`, or any change to the sealed bytes.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let [version, rest @ ..] = sealed else {
            return Err(KeyError::Unseal);
        };
        if *version != SEAL_VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| KeyError::Unseal)
    }

    fn check_value(&self) -> String {
        b64url(&self.seal(CHECK_PLAINTEXT, CHECK_AAD))
    }

    fn matches_check(&self, check: &str) -> bool {
        b64url_decode(check.trim())
            .and_then(|sealed| self.open(&sealed, CHECK_AAD).ok())
            .is_some_and(|plain| plain.as_slice() == CHECK_PLAINTEXT)
    }
}

/// Where the master key came from, for messages.
enum Origin<'a> {
    Configured,
    File(&'a Path),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Configured => f.write_str("keys.master_key"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The master key for this database, by the start-up rules:
///
/// - a configured key (`keys.master_key`, its environment variable or `_FILE`) is used as given and
///   must parse;
/// - otherwise `default_file` is read if it exists;
/// - if it does not exist and the database already has a master key (its check value, or signing
///   keys), start-up is refused: nothing is ever regenerated over existing data;
/// - on a fresh database a key is generated and written to `default_file` (mode 0600, never
///   overwriting), then its check value is recorded.
///
/// Whatever the source, the key must open the check value the database holds; the first process
/// to record a check wins, and every other one verifies against it.
pub async fn open_master_key(
    store: &Store,
    configured: Option<&str>,
    default_file: &Path,
) -> Result<MasterKey, KeyError> {
    let check = store.meta(MASTER_KEY_CHECK).await?;
    let (key, origin) = match configured {
        Some(value) => (
            MasterKey::parse(value).map_err(|_| KeyError::ConfiguredMasterKeyInvalid)?,
            Origin::Configured,
        ),
        None => {
            let key = match read_key_file(default_file).await? {
                Some(key) => key,
                None => {
                    if check.is_some() || !store.list_keys().await?.is_empty() {
                        return Err(KeyError::MasterKeyMissing {
                            path: default_file.display().to_string(),
                        });
                    }
                    create_key_file(default_file).await?
                }
            };
            (key, Origin::File(default_file))
        }
    };
    let mismatch = || KeyError::MasterKeyMismatch {
        origin: origin.to_string(),
    };
    match check {
        Some(check) if key.matches_check(&check) => Ok(key),
        Some(_) => Err(mismatch()),
        None => {
            if store
                .put_meta_if_absent(MASTER_KEY_CHECK, &key.check_value())
                .await?
            {
                tracing::info!(source = %origin, "recorded the master key check in the database");
                return Ok(key);
            }
            // Another node recorded its check between our read and our write.
            match store.meta(MASTER_KEY_CHECK).await? {
                Some(check) if key.matches_check(&check) => Ok(key),
                _ => Err(mismatch()),
            }
        }
    }
}

/// The key in `path`, or `None` if there is no such file.
async fn read_key_file(path: &Path) -> Result<Option<MasterKey>, KeyError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let text = std::str::from_utf8(&bytes).map_err(|_| file_invalid(path))?;
            MasterKey::parse(text)
                .map(Some)
                .map_err(|_| file_invalid(path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_io("read", path, &e)),
    }
}

/// Generates a key and writes it to `path`, which must not exist (mode 0600 on Unix). If another
/// process created the file first, its key is used instead.
async fn create_key_file(path: &Path) -> Result<MasterKey, KeyError> {
    use tokio::io::AsyncWriteExt as _;

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| file_io("create the directory of", path, &e))?;
    }
    let key = MasterKey::generate();
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = match options.open(path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return read_key_file(path).await?.ok_or_else(|| file_invalid(path));
        }
        Err(e) => return Err(file_io("create", path, &e)),
    };
    let mut contents = key.encode();
    contents.push('\n');
    file.write_all(contents.as_bytes())
        .await
        .map_err(|e| file_io("write", path, &e))?;
    file.sync_all()
        .await
        .map_err(|e| file_io("write", path, &e))?;
    tracing::warn!(
        path = %path.display(),
        "generated a new master key; back this file up: without it the signing keys cannot be opened"
    );
    Ok(key)
}

fn file_invalid(path: &Path) -> KeyError {
    KeyError::MasterKeyFileInvalid {
        path: path.display().to_string(),
    }
}

fn file_io(action: &'static str, path: &Path, e: &std::io::Error) -> KeyError {
    KeyError::MasterKeyFileIo {
        action,
        path: path.display().to_string(),
        reason: super::one_line(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"kid-1");
        assert_eq!(sealed[0], SEAL_VERSION);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + b"secret".len() + TAG_LEN);
        assert_eq!(key.open(&sealed, b"kid-1").unwrap().as_slice(), b"secret");
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let key = MasterKey::generate();
        assert_ne!(key.seal(b"same", b""), key.seal(b"same", b""));
    }

    #[test]
    fn open_fails_on_tampering_wrong_aad_or_wrong_key() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"secret", b"kid-1");
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(
                matches!(key.open(&tampered, b"kid-1"), Err(KeyError::Unseal)),
                "byte {i}"
            );
        }
        assert!(key.open(&sealed[..sealed.len() - 1], b"kid-1").is_err());
        assert!(key.open(&[], b"kid-1").is_err());
        assert!(key.open(&sealed, b"kid-2").is_err());
        assert!(MasterKey::generate().open(&sealed, b"kid-1").is_err());
    }

    #[test]
    fn parse_accepts_base64url_base64_and_hex() {
        let bytes: [u8; 32] =
            std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(0xF8));
        let forms = [
            URL_SAFE_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            hex::encode(bytes),
            hex::encode_upper(bytes),
            format!("  {}\n", URL_SAFE_NO_PAD.encode(bytes)),
        ];
        for form in forms {
            let key = MasterKey::parse(&form).unwrap_or_else(|e| panic!("{form:?}: {e}"));
            assert_eq!(*key.0, bytes, "{form:?}");
        }
        // The standard and URL-safe alphabets differ for these bytes, so both were exercised.
        assert_ne!(
            STANDARD.encode(bytes).trim_end_matches('='),
            URL_SAFE_NO_PAD.encode(bytes)
        );
    }

    #[test]
    fn parse_rejects_wrong_lengths_and_garbage() {
        for bad in [
            "",
            "not a key",
            &b64url(&[7u8; 31]),
            &b64url(&[7u8; 33]),
            &hex::encode([7u8; 31]),
            &"z".repeat(64),
        ] {
            assert!(
                matches!(MasterKey::parse(bad), Err(KeyError::MalformedMasterKey)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn encode_round_trips_and_debug_is_redacted() {
        let key = MasterKey::generate();
        assert_eq!(*MasterKey::parse(&key.encode()).unwrap().0, *key.0);
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }

    #[test]
    fn check_value_matches_only_its_key() {
        let key = MasterKey::generate();
        let check = key.check_value();
        assert!(key.matches_check(&check));
        assert!(!MasterKey::generate().matches_check(&check));
        assert!(!key.matches_check("garbage"));
    }
}
