//! Passwords, hashed with argon2id (OWASP parameters by default, configurable). Hashing and
//! verification are CPU-heavy and run on the blocking pool.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 parameters not valid: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing task failed")]
    Join,
}

#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password with the current parameters: verifying an unknown user's
    /// password against it costs what a real verification costs.
    dummy: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, PasswordError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut hasher = Self {
            params,
            dummy: String::new(),
        };
        hasher.dummy = hasher.hash_now(&crate::crypto::random_token())?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string of `password`, computed on this thread.
    pub fn hash_now(&self, password: &str) -> Result<String, PasswordError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let this = self.clone();
        let password = zeroize::Zeroizing::new(password.to_owned());
        tokio::task::spawn_blocking(move || this.hash_now(&password))
            .await
            .map_err(|_| PasswordError::Join)?
    }

    /// Whether `password` matches `phc`; with `None`, the same work against a dummy hash, so that
    /// an unknown username takes as long as a wrong password.
    pub async fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, PasswordError> {
        let this = self.clone();
        let password = zeroize::Zeroizing::new(password.to_owned());
        let phc = phc.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let target = phc.as_deref().unwrap_or(&this.dummy);
            let ok = this
                .argon2()
                .verify_password(password.as_bytes(), target)
                .is_ok();
            ok && phc.is_some()
        })
        .await
        .map_err(|_| PasswordError::Join)
    }

    /// Whether `phc` was made with other parameters than the current ones (rehash after login).
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let p = &self.params;
        let wanted = format!(
            "$argon2id$v=19$m={},t={},p={}$",
            p.m_cost(),
            p.t_cost(),
            p.p_cost()
        );
        !phc.starts_with(&wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_do_not() {
        let h = PasswordHasher::new(64, 1, 1).unwrap();
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify("correct horse", Some(&phc)).await.unwrap());
        assert!(!h.verify("Correct horse", Some(&phc)).await.unwrap());
        assert!(
            !h.verify("correct horse", None).await.unwrap(),
            "no user never verifies"
        );
        assert!(!h.verify("x", Some("not a phc string")).await.unwrap());
    }

    #[tokio::test]
    async fn parameter_changes_ask_for_a_rehash() {
        let old = PasswordHasher::new(64, 1, 1).unwrap();
        let new = PasswordHasher::new(128, 2, 1).unwrap();
        let phc = old.hash("pw").await.unwrap();
        assert!(new.needs_rehash(&phc));
        assert!(!old.needs_rehash(&phc));
        assert!(
            new.verify("pw", Some(&phc)).await.unwrap(),
            "old hashes still verify"
        );
    }

    #[test]
    fn owasp_defaults_are_accepted() {
        assert!(PasswordHasher::new(19456, 2, 1).is_ok());
        assert!(PasswordHasher::new(1, 0, 1).is_err());
    }
}
