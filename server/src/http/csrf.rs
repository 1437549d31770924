//! CSRF protection for every form: a random token kept in the session, embedded in the form, and
//! compared in constant time when the form comes back.

use tower_sessions::Session;

use super::error::PageError;

const KEY: &str = "csrf";

/// The session's CSRF token, created on first use.
pub async fn token(session: &Session) -> Result<String, PageError> {
    if let Some(t) = session.get::<String>(KEY).await? {
        return Ok(t);
    }
    let t = crate::crypto::random_token();
    session.insert(KEY, &t).await?;
    Ok(t)
}

/// A fresh token, for after the session id has changed (login).
pub async fn renew(session: &Session) -> Result<String, PageError> {
    let t = crate::crypto::random_token();
    session.insert(KEY, &t).await?;
    Ok(t)
}

/// Fails unless `submitted` is the session's token.
pub async fn verify(session: &Session, submitted: &str) -> Result<(), PageError> {
    let expected = session.get::<String>(KEY).await?.ok_or(PageError::Csrf)?;
    if crate::crypto::constant_time_eq(expected.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        Err(PageError::Csrf)
    }
}
