//! Access and refresh tokens, stored only as the SHA-256 of the token (`crate::crypto::secret_hash`).
//!
//! A token is valid while it is neither revoked nor expired and its grant is neither revoked nor
//! expired. Every write that depends on a refresh token's validity starts with a conditional update
//! of that refresh token's row: it is the lock that revocation and rotation queue on, so a token
//! derived from a refresh token cannot outlive that refresh token's revocation.

use async_trait::async_trait;

use super::grants::{GrantRecord, INSERT_GRANT, bind_grant, grant_is_active};
use super::{Store, StoreError, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccessTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: String,
    /// The user id; `None` for client_credentials.
    pub subject: Option<String>,
    pub scope: String,
    /// mTLS binding (RFC 8705): base64url SHA-256 thumbprint of the client certificate.
    pub cnf_x5t: Option<String>,
    /// DPoP binding (RFC 9449): JWK SHA-256 thumbprint of the proof key.
    pub cnf_jkt: Option<String>,
    /// SHA-256 of the refresh token this token was issued from, if any: revoking that refresh
    /// token revokes this one too.
    pub refresh_token_hash: Option<Vec<u8>>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: String,
    pub scope: String,
    pub cnf_x5t: Option<String>,
    pub cnf_jkt: Option<String>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// SHA-256 of the refresh token that replaced this one on rotation.
    pub replaced_by_hash: Option<Vec<u8>>,
}

#[async_trait]
pub trait TokenStore {
    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StoreResult<()>;
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> StoreResult<()>;
    /// Inserts a client_credentials grant and its access token in one transaction.
    async fn insert_client_credentials_token(
        &self,
        grant: &GrantRecord,
        token: &AccessTokenRecord,
    ) -> StoreResult<()>;
    /// The access token if it is valid at `now` (see the module documentation).
    async fn access_token(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> StoreResult<Option<AccessTokenRecord>>;
    /// The refresh token if it is valid at `now`.
    async fn refresh_token(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> StoreResult<Option<RefreshTokenRecord>>;
    /// Rotation, in one transaction: revokes `old_hash` and records `new` as its replacement only
    /// if it is still valid at `now`, then inserts `new` and `access` (whose `refresh_token_hash`
    /// should name `new`). False, and nothing written, when the old token was no longer valid: of
    /// concurrent rotations of one token exactly one succeeds. `new` and `access` must belong to
    /// the old token's grant and client, or the call fails with a conflict.
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        now: UnixTime,
        new: &RefreshTokenRecord,
        access: &AccessTokenRecord,
    ) -> StoreResult<bool>;
    /// Refresh without rotation: inserts `access` only if the refresh token is valid at `now`, in
    /// one transaction that holds the refresh token's row, so a revocation of that refresh token
    /// either comes first (false) or also revokes `access`. `access` must belong to the refresh
    /// token's grant and client.
    async fn issue_from_refresh(
        &self,
        refresh_hash: &[u8],
        now: UnixTime,
        access: &AccessTokenRecord,
    ) -> StoreResult<bool>;
    /// Revokes the access token; returns whether this call revoked it.
    async fn revoke_access_token(&self, token_hash: &[u8], now: UnixTime) -> StoreResult<bool>;
    /// Revokes the refresh token and every access token issued from it, in one transaction;
    /// returns how many tokens this call revoked (the refresh token included).
    async fn revoke_refresh_token(&self, token_hash: &[u8], now: UnixTime) -> StoreResult<u64>;
}

pub(super) const INSERT_ACCESS_TOKEN: &str = "INSERT INTO access_tokens (token_hash, grant_id, \
     client_id, subject, scope, cnf_x5t, cnf_jkt, refresh_token_hash, issued_at, expires_at, \
     revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Binds an [`AccessTokenRecord`] to [`INSERT_ACCESS_TOKEN`]'s placeholders, for either backend.
macro_rules! bind_access_token {
    ($query:expr, $t:expr) => {
        $query
            .bind(&$t.token_hash)
            .bind(&$t.grant_id)
            .bind(&$t.client_id)
            .bind(&$t.subject)
            .bind(&$t.scope)
            .bind(&$t.cnf_x5t)
            .bind(&$t.cnf_jkt)
            .bind(&$t.refresh_token_hash)
            .bind($t.issued_at)
            .bind($t.expires_at)
            .bind($t.revoked_at)
    };
}
pub(super) use bind_access_token;

pub(super) const INSERT_REFRESH_TOKEN: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, \
     client_id, scope, cnf_x5t, cnf_jkt, issued_at, expires_at, revoked_at, replaced_by_hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Binds a [`RefreshTokenRecord`] to [`INSERT_REFRESH_TOKEN`]'s placeholders, for either backend.
macro_rules! bind_refresh_token {
    ($query:expr, $t:expr) => {
        $query
            .bind(&$t.token_hash)
            .bind(&$t.grant_id)
            .bind(&$t.client_id)
            .bind(&$t.scope)
            .bind(&$t.cnf_x5t)
            .bind(&$t.cnf_jkt)
            .bind($t.issued_at)
            .bind($t.expires_at)
            .bind($t.revoked_at)
            .bind(&$t.replaced_by_hash)
    };
}
pub(super) use bind_refresh_token;

const ACCESS_TOKEN_COLUMNS: &str = "token_hash, grant_id, client_id, subject, scope, cnf_x5t, \
     cnf_jkt, refresh_token_hash, issued_at, expires_at, revoked_at";

const REFRESH_TOKEN_COLUMNS: &str = "token_hash, grant_id, client_id, scope, cnf_x5t, cnf_jkt, \
     issued_at, expires_at, revoked_at, replaced_by_hash";

/// Fails unless every `(grant_id, client_id)` pair is `expected`: tokens are issued only into the
/// grant (and for the client) of the artefact they are derived from.
pub(super) fn check_belongs<'a>(
    table: &str,
    expected: (&str, &str),
    issued: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> StoreResult<()> {
    if issued.into_iter().all(|pair| pair == expected) {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            constraint: format!("{table}.grant_id"),
        })
    }
}

#[async_trait]
impl TokenStore for Store {
    async fn insert_access_token(&self, t: &AccessTokenRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_access_token!(sqlx::query(INSERT_ACCESS_TOKEN), t)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn insert_refresh_token(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_refresh_token!(sqlx::query(INSERT_REFRESH_TOKEN), t)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn insert_client_credentials_token(
        &self,
        g: &GrantRecord,
        t: &AccessTokenRecord,
    ) -> StoreResult<()> {
        check_belongs(
            "access_tokens",
            (&g.id, &g.client_id),
            [(t.grant_id.as_str(), t.client_id.as_str())],
        )?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            bind_grant!(sqlx::query(INSERT_GRANT), g)
                .execute(&mut *tx)
                .await?;
            bind_access_token!(sqlx::query(INSERT_ACCESS_TOKEN), t)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?
        });
        Ok(())
    }

    async fn access_token(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> StoreResult<Option<AccessTokenRecord>> {
        let sql = format!(
            "SELECT {ACCESS_TOKEN_COLUMNS} FROM access_tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND expires_at > $2 AND {}",
            grant_is_active("access_tokens", "$2")
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    async fn refresh_token(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let sql = format!(
            "SELECT {REFRESH_TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1 \
             AND revoked_at IS NULL AND expires_at > $2 AND {}",
            grant_is_active("refresh_tokens", "$2")
        );
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(token_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        now: UnixTime,
        new: &RefreshTokenRecord,
        access: &AccessTokenRecord,
    ) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE refresh_tokens SET revoked_at = $2, replaced_by_hash = $3 \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND {} \
             RETURNING grant_id, client_id",
            grant_is_active("refresh_tokens", "$2")
        );
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let old: Option<(String, String)> = sqlx::query_as(&sql)
                .bind(old_hash)
                .bind(now)
                .bind(&new.token_hash)
                .fetch_optional(&mut *tx)
                .await?;
            match old {
                None => {
                    tx.rollback().await?;
                    false
                }
                Some((grant_id, client_id)) => {
                    check_belongs(
                        "refresh_tokens",
                        (&grant_id, &client_id),
                        [
                            (new.grant_id.as_str(), new.client_id.as_str()),
                            (access.grant_id.as_str(), access.client_id.as_str()),
                        ],
                    )?;
                    bind_refresh_token!(sqlx::query(INSERT_REFRESH_TOKEN), new)
                        .execute(&mut *tx)
                        .await?;
                    bind_access_token!(sqlx::query(INSERT_ACCESS_TOKEN), access)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    true
                }
            }
        }))
    }

    async fn issue_from_refresh(
        &self,
        refresh_hash: &[u8],
        now: UnixTime,
        access: &AccessTokenRecord,
    ) -> StoreResult<bool> {
        // A write that changes nothing: it takes the refresh token's row (SQLite's write lock)
        // and re-checks validity after any revocation or rotation it had to wait for.
        let sql = format!(
            "UPDATE refresh_tokens SET revoked_at = revoked_at \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND {} \
             RETURNING grant_id, client_id",
            grant_is_active("refresh_tokens", "$2")
        );
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let refresh: Option<(String, String)> = sqlx::query_as(&sql)
                .bind(refresh_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            match refresh {
                None => {
                    tx.rollback().await?;
                    false
                }
                Some((grant_id, client_id)) => {
                    check_belongs(
                        "refresh_tokens",
                        (&grant_id, &client_id),
                        [(access.grant_id.as_str(), access.client_id.as_str())],
                    )?;
                    bind_access_token!(sqlx::query(INSERT_ACCESS_TOKEN), access)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    true
                }
            }
        }))
    }

    async fn revoke_access_token(&self, token_hash: &[u8], now: UnixTime) -> StoreResult<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE access_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    async fn revoke_refresh_token(&self, token_hash: &[u8], now: UnixTime) -> StoreResult<u64> {
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The refresh token's row first: rotation and refresh hold it while they insert.
            let refresh = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let access = sqlx::query(
                "UPDATE access_tokens SET revoked_at = $2 \
                 WHERE refresh_token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            refresh + access
        }))
    }
}
