//! Customers (PSUs) and bank operators.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, StoreResult, with_pool};
use crate::clock::UnixTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Operator => "operator",
        }
    }
}

impl TryFrom<String> for Role {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "customer" => Ok(Role::Customer),
            "operator" => Ok(Role::Operator),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    pub disabled_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

#[async_trait]
pub trait UserStore {
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, role: Role) -> StoreResult<Vec<User>>;
    async fn set_password_hash(&self, id: &str, password_hash: &str) -> StoreResult<()>;
}

pub(super) const INSERT_USER: &str = "INSERT INTO users (id, username, display_name, email, phone, role, \
     password_hash, disabled_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Binds a [`User`] to [`INSERT_USER`]'s placeholders, for either backend.
macro_rules! bind_user {
    ($query:expr, $u:expr) => {
        $query
            .bind(&$u.id)
            .bind(&$u.username)
            .bind(&$u.display_name)
            .bind(&$u.email)
            .bind(&$u.phone)
            .bind($u.role.as_str())
            .bind(&$u.password_hash)
            .bind($u.disabled_at)
            .bind($u.created_at)
    };
}
pub(super) use bind_user;

const USER_COLUMNS: &str =
    "id, username, display_name, email, phone, role, password_hash, disabled_at, created_at";

#[async_trait]
impl UserStore for Store {
    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        with_pool!(self, |pool| {
            bind_user!(sqlx::query(INSERT_USER), u)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(pool)
            .await?))
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?))
    }

    async fn list_users(&self, role: Role) -> StoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE role = $1 ORDER BY username");
        Ok(with_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(role.as_str())
            .fetch_all(pool)
            .await?))
    }

    async fn set_password_hash(&self, id: &str, password_hash: &str) -> StoreResult<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(id)
                .bind(password_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }
}
