//! Small cryptographic helpers shared by every part of the server: random values from the OS
//! CSPRNG, hashing of secrets before they are stored, constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest as _, Sha256};

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS generator failing is not recoverable; every caller needs real randomness.
    #[expect(
        clippy::expect_used,
        reason = "no secure fallback exists when the OS CSPRNG fails"
    )]
    OsRng
        .try_fill_bytes(&mut out)
        .expect("the operating system's random number generator failed");
    out
}

/// A URL-safe random token carrying 256 bits.
pub fn random_token() -> String {
    b64url(&random_bytes::<32>())
}

/// A new random identifier (UUID v4) for stored records.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The stored form of a high-entropy secret (session id, token, code): its SHA-256.
/// Low-entropy secrets (passwords) use argon2id instead, in `sca::password`.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    sha256(secret.as_bytes()).to_vec()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_differ_and_carry_256_bits() {
        let a = random_token();
        let b = random_token();
        assert_ne!(a, b);
        assert_eq!(b64url_decode(&a).map(|v| v.len()), Some(32));
    }

    #[test]
    fn constant_time_eq_compares_contents_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
