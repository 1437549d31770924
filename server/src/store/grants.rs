//! Grants: one authorization each, what a customer approved for a client (or a client_credentials
//! grant, without a subject). Codes and tokens hang off a grant; revoking it revokes them all, and
//! a token is only honoured while its grant is neither revoked nor expired.

use async_trait::async_trait;

use super::{Store, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GrantRecord {
    pub id: String,
    pub client_id: String,
    /// The user id; `None` for a client_credentials grant.
    pub subject: Option<String>,
    /// Space-separated scope values granted.
    pub scope: String,
    /// The `claims` request parameter, JSON.
    pub claims: Option<String>,
    pub acr: Option<String>,
    /// Authentication methods, a JSON array.
    pub amr: Option<String>,
    pub auth_time: Option<UnixTime>,
    pub consent_id: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

#[async_trait]
pub trait GrantStore {
    async fn insert_grant(&self, grant: &GrantRecord) -> StoreResult<()>;
    /// The grant, whatever its state (revoked and expired ones included).
    async fn grant(&self, id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Revokes the grant and every access and refresh token of it, in one transaction; returns how
    /// many tokens this call revoked. Idempotent: a second call revokes nothing more (0).
    async fn revoke_grant(&self, id: &str, now: UnixTime) -> StoreResult<u64>;
}

/// How long an expired row is kept before [`OAuthCleanup::delete_expired_oauth`] removes it: a
/// day, so that a replayed artefact still meets its row (and is told apart from an unknown one)
/// and clock skew between nodes cannot reopen a jti.
pub const EXPIRED_ROWS_KEPT_FOR: i64 = 86_400;

#[async_trait]
pub trait OAuthCleanup {
    /// Deletes codes, tokens, pushed requests and jtis that expired more than
    /// [`EXPIRED_ROWS_KEPT_FOR`] before `now`, and grants as old that nothing refers to any more;
    /// returns how many rows.
    async fn delete_expired_oauth(&self, now: UnixTime) -> StoreResult<u64>;
}

pub(super) const INSERT_GRANT: &str = "INSERT INTO grants (id, client_id, subject, scope, claims, acr, \
     amr, auth_time, consent_id, created_at, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Binds a [`GrantRecord`] to [`INSERT_GRANT`]'s placeholders, for either backend.
macro_rules! bind_grant {
    ($query:expr, $g:expr) => {
        $query
            .bind(&$g.id)
            .bind(&$g.client_id)
            .bind(&$g.subject)
            .bind(&$g.scope)
            .bind(&$g.claims)
            .bind(&$g.acr)
            .bind(&$g.amr)
            .bind($g.auth_time)
            .bind(&$g.consent_id)
            .bind($g.created_at)
            .bind($g.expires_at)
            .bind($g.revoked_at)
    };
}
pub(super) use bind_grant;

const GRANT_COLUMNS: &str = "id, client_id, subject, scope, claims, acr, amr, auth_time, consent_id, \
     created_at, expires_at, revoked_at";

/// SQL condition: the grant that `table.grant_id` names is neither revoked nor expired at `now`
/// (a placeholder such as `$2`).
pub(super) fn grant_is_active(table: &str, now: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM grants WHERE grants.id = {table}.grant_id \
         AND grants.revoked_at IS NULL AND grants.expires_at > {now})"
    )
}

#[async_trait]
impl GrantStore for Store {
    async fn insert_grant(&self, g: &GrantRecord) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_grant!(sqlx::query(INSERT_GRANT), g)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn grant(&self, id: &str) -> StoreResult<Option<GrantRecord>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    async fn revoke_grant(&self, id: &str, now: UnixTime) -> StoreResult<u64> {
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            // The grant first: a write, so SQLite takes its write lock before anything is read,
            // and concurrent revocations of one grant queue on its row in PostgreSQL. Refresh
            // tokens before access tokens, the order every other transaction locks them in.
            sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let refresh = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let access = sqlx::query(
                "UPDATE access_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            refresh + access
        }))
    }
}

#[async_trait]
impl OAuthCleanup for Store {
    async fn delete_expired_oauth(&self, now: UnixTime) -> StoreResult<u64> {
        let before = now - EXPIRED_ROWS_KEPT_FOR;
        // Children before the grants they reference; a grant goes only once nothing refers to it.
        const DELETES: [&str; 6] = [
            "DELETE FROM access_tokens WHERE expires_at < $1",
            "DELETE FROM refresh_tokens WHERE expires_at < $1",
            "DELETE FROM authorization_codes WHERE expires_at < $1",
            "DELETE FROM grants WHERE expires_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM access_tokens WHERE access_tokens.grant_id = grants.id) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE refresh_tokens.grant_id = grants.id) \
             AND NOT EXISTS (SELECT 1 FROM authorization_codes \
                             WHERE authorization_codes.grant_id = grants.id)",
            "DELETE FROM par_requests WHERE expires_at < $1",
            "DELETE FROM used_jtis WHERE expires_at < $1",
        ];
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let mut deleted = 0;
            for sql in DELETES {
                deleted += sqlx::query(sql)
                    .bind(before)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            deleted
        }))
    }
}
