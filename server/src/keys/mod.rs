//! Keys: the master key that seals secrets at rest, and the signing keys behind every JWS the
//! server issues (id tokens, JARM responses, signed introspection, event notifications).
//!
//! - [`MasterKey`] (`master`): AES-256-GCM sealing; [`open_master_key`] applies the start-up rules
//!   (configured key, or the key file next to the database, checked against a value the database
//!   records so a wrong key is refused instead of silently creating new keys).
//! - Signing keys (`jwk`, `manager`): PS256 and ES256 keys generated with josekit, named by their
//!   RFC 7638 thumbprint, the private half sealed under the master key with the kid as associated
//!   data. [`KeyManager`] publishes the JWKS, hands out the current [`SigningKey`] and rotates with
//!   overlap: a new key is published `publish_lead` seconds before it signs, and a retired key stays
//!   published `max_signed_lifetime` seconds after it stops signing.

pub(crate) mod jwk;
mod manager;
mod master;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use manager::{KeyInfo, KeyManager, KeyPolicy, KeyState, RotationReport, SigningKey};
pub use master::{MASTER_KEY_CHECK, MasterKey, open_master_key};

use crate::clock::UnixTime;
use crate::store::StoreError;

/// The JWS algorithms the server signs with (FAPI allows PS256 and ES256 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SigningAlg {
    PS256,
    ES256,
}

impl SigningAlg {
    /// Every supported algorithm, in the order keys are listed.
    pub const ALL: [SigningAlg; 2] = [SigningAlg::PS256, SigningAlg::ES256];

    /// The JOSE name (`alg` header value).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::PS256 => "PS256",
            SigningAlg::ES256 => "ES256",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "PS256" => Ok(SigningAlg::PS256),
            "ES256" => Ok(SigningAlg::ES256),
            other => Err(KeyError::UnsupportedAlg(one_line(other))),
        }
    }
}

/// Everything that can go wrong with keys. Messages are one line and never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a valid master key: expected 32 bytes as base64url, base64 or 64 hex characters")]
    MalformedMasterKey,
    #[error(
        "keys.master_key is not a valid master key: expected 32 bytes as base64url, base64 or 64 hex characters"
    )]
    ConfiguredMasterKeyInvalid,
    #[error(
        "the master key file {path} is not a valid master key: expected 32 bytes as base64url, base64 or 64 hex characters"
    )]
    MasterKeyFileInvalid { path: String },
    #[error("cannot {action} the master key file {path}: {reason}")]
    MasterKeyFileIo {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("the master key does not match this database (the key came from {origin})")]
    MasterKeyMismatch { origin: String },
    #[error(
        "this database was created with a master key but {path} is missing and keys.master_key is not set"
    )]
    MasterKeyMissing { path: String },
    #[error("sealed data cannot be opened: wrong master key, wrong binding, or tampered data")]
    Unseal,
    #[error("unsupported signing algorithm {0:?} (supported: PS256, ES256)")]
    UnsupportedAlg(String),
    #[error("keys.rsa_bits must be at least 2048, not {0}")]
    WeakRsaKey(u32),
    #[error("invalid key policy: {0}")]
    InvalidPolicy(String),
    #[error("cannot generate a {alg} key: {reason}")]
    Generate { alg: SigningAlg, reason: String },
    #[error("no {0} signing key is active; the server creates one at start-up")]
    NoSigningKey(SigningAlg),
    #[error("the private key {kid} cannot be opened with this master key")]
    KeyUnavailable { kid: String },
    #[error("the stored key {kid} is not valid: {what}")]
    CorruptKey { kid: String, what: String },
    #[error("a {alg} rotation is already pending: key {kid} starts signing at {}; rotate again after that", crate::clock::rfc3339(*.activates_at))]
    RotationPending {
        alg: SigningAlg,
        kid: String,
        activates_at: UnixTime,
    },
    #[error("the {0} key was rotated by another process at the same time; list the keys and retry")]
    ConcurrentRotation(SigningAlg),
    #[error("signing with key {kid} failed: {reason}")]
    Sign { kid: String, reason: String },
    #[error("key storage: {0}")]
    Store(#[from] StoreError),
}

/// `e` rendered on one line, for messages built from other errors.
pub(crate) fn one_line(e: impl fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algs_round_trip_through_their_jose_names() {
        for alg in SigningAlg::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlg>().unwrap(), alg);
            assert_eq!(serde_json::to_string(&alg).unwrap(), format!("\"{alg}\""));
        }
        assert!(matches!(
            "RS256".parse::<SigningAlg>(),
            Err(KeyError::UnsupportedAlg(_))
        ));
    }

    #[test]
    fn one_line_collapses_newlines() {
        assert_eq!(one_line("a\nb  c\r\n"), "a b c");
    }
}
