//! JWT ids already seen, against replay of client assertions and DPoP proofs. A jti is claimed by
//! one unique insert: of concurrent claims exactly one succeeds.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

/// What kind of JWT a jti belongs to; each kind has its own issuer namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiKind {
    /// A `private_key_jwt` client assertion; the issuer is the client_id.
    ClientAssertion,
    /// A DPoP proof; the issuer is the JWK SHA-256 thumbprint of the proof key.
    Dpop,
}

impl JtiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JtiKind::ClientAssertion => "client_assertion",
            JtiKind::Dpop => "dpop",
        }
    }
}

#[async_trait]
pub trait JtiStore {
    /// Records `jti` as used by `issuer`, to be remembered until at least `expires_at`; true the
    /// first time, false on a replay.
    async fn use_jti(
        &self,
        kind: JtiKind,
        issuer: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;
}

#[async_trait]
impl JtiStore for Store {
    async fn use_jti(
        &self,
        kind: JtiKind,
        issuer: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> StoreResult<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO used_jtis (kind, issuer, jti, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (kind, issuer, jti) DO NOTHING",
            )
            .bind(kind.as_str())
            .bind(issuer)
            .bind(jti)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
