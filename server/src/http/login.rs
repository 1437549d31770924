//! The customer's login and logout pages. Sessions live in the database (tower-sessions), the
//! cookie is `__Host-` prefixed, `Secure`, `HttpOnly`, `SameSite=Lax`; the session id changes at
//! login; every form carries a CSRF token.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use super::error::PageError;
use super::extract::{ClientAddr, PageForm};
use super::pages::{PageMeta, render};
use super::session::DbSessionStore;
use super::{csrf, routes};
use crate::app::AppState;
use crate::clock::UnixTime;
use crate::sca::login::{LoginOutcome, authenticate};

pub const SESSION_COOKIE: &str = "__Host-consentry";
const USER_KEY: &str = "user";

/// Who is signed in, as kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    /// Random per login: tells one login from the next even within the same second.
    #[serde(default)]
    pub login_id: String,
    /// The consents a one-time code was entered for during this login (dynamic linking).
    #[serde(default)]
    pub sca_linked: Vec<String>,
}

pub fn session_layer(state: &AppState) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(DbSessionStore::new(
        state.store.clone(),
        state.clock.clone(),
    ))
    .with_name(SESSION_COOKIE)
    .with_secure(true)
    .with_http_only(true)
    .with_same_site(SameSite::Lax)
    .with_path("/")
    .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
        state.config.login.session_idle_secs,
    )))
}

pub async fn signed_in(session: &Session) -> Result<Option<SessionUser>, PageError> {
    Ok(session.get::<SessionUser>(USER_KEY).await?)
}

/// Replaces the signed-in customer (a login that gained a factor).
pub async fn store_signed_in(session: &Session, user: &SessionUser) -> Result<(), PageError> {
    Ok(session.insert(USER_KEY, user).await?)
}

/// Only paths on this server: `/x`, never `//host` or `/\host`, which browsers treat as absolute.
fn safe_return_to(return_to: Option<&str>) -> String {
    match return_to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.contains(['\r', '\n']) =>
        {
            p.to_owned()
        }
        _ => routes::HOME.to_owned(),
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: PageMeta,
    user: Option<SessionUser>,
    csrf: String,
}

pub async fn home(State(_): State<AppState>, session: Session) -> Result<Response, PageError> {
    let user = signed_in(&session).await?;
    let csrf = if user.is_some() {
        csrf::token(&session).await?
    } else {
        String::new()
    };
    Ok(render(
        StatusCode::OK,
        &HomePage {
            page: PageMeta::new("Welcome"),
            user,
            csrf,
        },
    ))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: PageMeta,
    csrf: String,
    return_to: String,
    username: String,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    signed_out: Option<String>,
}

pub async fn login_page(
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let page = LoginPage {
        page: PageMeta::new("Sign in"),
        csrf: csrf::token(&session).await?,
        return_to: safe_return_to(q.return_to.as_deref()),
        username: String::new(),
        error: None,
        notice: q.signed_out.is_some().then_some("You have signed out."),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf_token: String,
    return_to: Option<String>,
}

pub async fn login_submit(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(addr): ClientAddr,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    csrf::verify(&session, &form.csrf_token).await?;
    let return_to = safe_return_to(form.return_to.as_deref());
    let now = state.clock.now();
    let outcome = authenticate(
        &state.store,
        &state.passwords,
        &state.throttle,
        &form.username,
        &form.password,
        addr,
        now,
    )
    .await
    .map_err(PageError::internal)?;
    let (status, error) = match outcome {
        LoginOutcome::Success(user) => {
            session.cycle_id().await?;
            let signed = SessionUser {
                user_id: user.id,
                username: user.username,
                display_name: user.display_name,
                auth_time: now,
                amr: vec!["pwd".to_owned()],
                login_id: crate::crypto::random_token(),
                sca_linked: Vec::new(),
            };
            session.insert(USER_KEY, &signed).await?;
            csrf::renew(&session).await?;
            tracing::info!(user_id = %signed.user_id, "login succeeded");
            return Ok(Redirect::to(&return_to).into_response());
        }
        LoginOutcome::Rejected => (
            StatusCode::UNAUTHORIZED,
            "The username or password is not correct.",
        ),
        LoginOutcome::Throttled => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts. Wait a few minutes and try again.",
        ),
    };
    let page = LoginPage {
        page: PageMeta::new("Sign in"),
        csrf: csrf::token(&session).await?,
        return_to,
        username: form.username,
        error: Some(error),
        notice: None,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: String,
}

pub async fn logout(
    session: Session,
    PageForm(form): PageForm<LogoutForm>,
) -> Result<Response, PageError> {
    csrf::verify(&session, &form.csrf_token).await?;
    session.flush().await?;
    Ok(Redirect::to(&format!("{}?signed_out=1", routes::LOGIN)).into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

    #[test]
    fn return_to_stays_on_this_server() {
        assert_eq!(safe_return_to(Some("/authorize?x=1")), "/authorize?x=1");
        assert_eq!(safe_return_to(Some("//evil.example/")), "/");
        assert_eq!(safe_return_to(Some("/\\evil.example/")), "/");
        assert_eq!(safe_return_to(Some("https://evil.example/")), "/");
        assert_eq!(safe_return_to(Some("/x\r\nSet-Cookie: a")), "/");
        assert_eq!(safe_return_to(None), "/");
    }
}
