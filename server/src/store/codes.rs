//! Authorization codes, stored only as the SHA-256 of the code. A code is redeemed once: the
//! conditional update that consumes it and the insert of the tokens it buys share one transaction.

use async_trait::async_trait;

use super::grants::grant_is_active;
use super::tokens::{
    AccessTokenRecord, INSERT_ACCESS_TOKEN, INSERT_REFRESH_TOKEN, RefreshTokenRecord,
    bind_access_token, bind_refresh_token, check_belongs,
};
use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: String,
    /// The redirect_uri of the authorization request, to compare with the token request's.
    pub redirect_uri: String,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub state: Option<String>,
    /// The DPoP key thumbprint the authorization request was bound to (`dpop_jkt`), if any.
    pub dpop_jkt: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub consumed_at: Option<UnixTime>,
}

/// The tokens a code redemption issues.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access: AccessTokenRecord,
    pub refresh: Option<RefreshTokenRecord>,
}

/// The outcome of [`CodeStore::redeem_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The code was consumed and the tokens stored.
    Issued,
    /// The code had been redeemed before: a replay. The caller revokes the grant (RFC 6749 §4.1.2).
    AlreadyUsed {
        grant_id: String,
    },
    Expired,
    /// The code is unused and unexpired but its grant has been revoked or has expired.
    GrantInactive {
        grant_id: String,
    },
    Unknown,
}

#[async_trait]
pub trait CodeStore {
    async fn insert_code(&self, code: &CodeRecord) -> StoreResult<()>;
    /// The code, whatever its state: for validating a token request before redeeming.
    async fn code(&self, code_hash: &[u8]) -> StoreResult<Option<CodeRecord>>;
    /// Consumes the code and stores `issue`, in one transaction: the tokens are stored only if this
    /// call consumed the code, so of concurrent redemptions exactly one gets [`Redemption::Issued`].
    /// The tokens must belong to the code's grant and client, or the call fails with a conflict
    /// and consumes nothing.
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixTime,
        issue: &IssuedTokens,
    ) -> StoreResult<Redemption>;
}

const INSERT_CODE: &str = "INSERT INTO authorization_codes (code_hash, grant_id, client_id, \
     redirect_uri, code_challenge, nonce, state, dpop_jkt, created_at, expires_at, consumed_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Binds a [`CodeRecord`] to [`INSERT_CODE`]'s placeholders, for either backend.
macro_rules! bind_code {
    ($query:expr, $c:expr) => {
        $query
            .bind(&$c.code_hash)
            .bind(&$c.grant_id)
            .bind(&$c.client_id)
            .bind(&$c.redirect_uri)
            .bind(&$c.code_challenge)
            .bind(&$c.nonce)
            .bind(&$c.state)
            .bind(&$c.dpop_jkt)
            .bind($c.created_at)
            .bind($c.expires_at)
            .bind($c.consumed_at)
    };
}

const CODE_COLUMNS: &str = "code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce, \
     state, dpop_jkt, created_at, expires_at, consumed_at";

#[async_trait]
impl CodeStore for Store {
    async fn insert_code(&self, c: &CodeRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_code!(sqlx::query(INSERT_CODE), c)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn code(&self, code_hash: &[u8]) -> StoreResult<Option<CodeRecord>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM authorization_codes WHERE code_hash = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(code_hash)
            .fetch_optional(pool)
            .await?))
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixTime,
        issue: &IssuedTokens,
    ) -> StoreResult<Redemption> {
        // The one statement that consumes the code. It is the transaction's first, and a write:
        // SQLite takes its write lock before reading anything, and in PostgreSQL concurrent
        // redemptions queue on the row and re-check `consumed_at IS NULL` once the first commits.
        let consume = format!(
            "UPDATE authorization_codes SET consumed_at = $2 \
             WHERE code_hash = $1 AND consumed_at IS NULL AND expires_at > $2 AND {} \
             RETURNING grant_id, client_id",
            grant_is_active("authorization_codes", "$2")
        );
        let mut issued = vec![(
            issue.access.grant_id.as_str(),
            issue.access.client_id.as_str(),
        )];
        if let Some(r) = &issue.refresh {
            issued.push((r.grant_id.as_str(), r.client_id.as_str()));
        }
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let consumed: Option<(String, String)> = sqlx::query_as(&consume)
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some((grant_id, client_id)) = consumed {
                check_belongs(
                    "authorization_codes",
                    (&grant_id, &client_id),
                    issued.iter().copied(),
                )?;
                if let Some(refresh) = &issue.refresh {
                    bind_refresh_token!(sqlx::query(INSERT_REFRESH_TOKEN), refresh)
                        .execute(&mut *tx)
                        .await?;
                }
                bind_access_token!(sqlx::query(INSERT_ACCESS_TOKEN), issue.access)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Redemption::Issued
            } else {
                // Not consumed by this call: say why, from the row as it is now.
                let row: Option<(String, Option<UnixTime>, UnixTime)> = sqlx::query_as(
                    "SELECT grant_id, consumed_at, expires_at FROM authorization_codes \
                     WHERE code_hash = $1",
                )
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.rollback().await?;
                match row {
                    None => Redemption::Unknown,
                    Some((grant_id, Some(_), _)) => Redemption::AlreadyUsed { grant_id },
                    Some((_, None, expires_at)) if expires_at <= now => Redemption::Expired,
                    Some((grant_id, None, _)) => Redemption::GrantInactive { grant_id },
                }
            }
        }))
    }
}
