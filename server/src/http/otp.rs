//! The one-time code page: the second factor of a login that must reach SCA. Whoever needs the
//! step (the authorization flow) puts an [`OtpStep`] in the session and sends the browser here;
//! the page sends a code to the customer's phone, checks what they enter, and on success adds
//! the method to the login (`amr`, `auth_time`, the consent the code was linked to) before going
//! back. The session id changes when the login gains the factor.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::error::PageError;
use super::extract::PageForm;
use super::login::{SessionUser, signed_in, store_signed_in};
use super::pages::{PageMeta, render};
use super::{csrf, routes};
use crate::app::App;
use crate::app::AppState;
use crate::sca::otp::{self, Otp, Purpose, SendOutcome, VerifyOutcome};
use crate::store::UserStore as _;

const STEP_KEY: &str = "sca_step";

/// A second-factor step in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtpStep {
    /// Completes "a code to …" (see [`Purpose::words`]).
    pub words: String,
    pub linked_to: Option<String>,
    /// Where to go once the code is right: a path on this server.
    pub return_to: String,
    /// The code sent, once sent.
    pub sent: Option<Sent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sent {
    pub challenge_id: String,
    pub reference: String,
    pub destination: String,
}

/// Starts the step for the signed-in customer and answers with the way to the page.
pub async fn begin(
    session: &Session,
    purpose: Purpose,
    return_to: &str,
) -> Result<Response, PageError> {
    // Coming back to the same step (a reload, the back button) keeps the code already out.
    let current: Option<OtpStep> = session.get(STEP_KEY).await?;
    let same = current.as_ref().is_some_and(|s| {
        s.words == purpose.words && s.linked_to == purpose.linked_to && s.return_to == return_to
    });
    if !same {
        let step = OtpStep {
            words: purpose.words,
            linked_to: purpose.linked_to,
            return_to: return_to.to_owned(),
            sent: None,
        };
        session.insert(STEP_KEY, &step).await?;
    }
    Ok(Redirect::to(routes::LOGIN_OTP).into_response())
}

#[derive(Template)]
#[template(path = "otp.html")]
struct OtpPage {
    page: PageMeta,
    csrf: String,
    sent: Option<Sent>,
    purpose: String,
    return_to: String,
    error: Option<String>,
}

async fn page(
    session: &Session,
    step: &OtpStep,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page = OtpPage {
        page: PageMeta::new("Confirm it is you"),
        csrf: csrf::token(session).await?,
        sent: step.sent.clone(),
        purpose: step.words.clone(),
        return_to: step.return_to.clone(),
        error,
    };
    Ok(render(status, &page))
}

fn nothing_to_confirm() -> PageError {
    PageError::BadRequest(
        "There is nothing to confirm. Start again from the application.".to_owned(),
    )
}

fn otp(app: &App) -> Result<Otp<'_>, PageError> {
    let gateway = app
        .sms
        .as_deref()
        .ok_or_else(|| PageError::internal("a code step began without an SMS gateway"))?;
    Ok(Otp {
        store: &app.store,
        gateway,
        key: app.keys.derived_secret(otp::KEY_PURPOSE),
        config: &app.config.sca,
    })
}

/// Sends a code for `step` and records it there; the error to show when none went out.
async fn send(
    app: &App,
    session: &Session,
    user: &SessionUser,
    step: &mut OtpStep,
) -> Result<Option<(String, StatusCode)>, PageError> {
    let customer = app
        .store
        .user_by_id(&user.user_id)
        .await?
        .ok_or_else(|| PageError::internal("the signed-in customer is gone"))?;
    let otp = otp(app)?;
    let purpose = Purpose {
        words: step.words.clone(),
        linked_to: step.linked_to.clone(),
    };
    let outcome = otp.send(&customer, &purpose, app.clock.now()).await?;
    let error = match outcome {
        SendOutcome::Sent(challenge) => {
            tracing::info!(user_id = %user.user_id, challenge_id = %challenge.id, "one-time code sent");
            step.sent = Some(Sent {
                challenge_id: challenge.id,
                reference: challenge.reference,
                destination: challenge.destination,
            });
            None
        }
        SendOutcome::NoPhone => Some((
            "There is no phone number to send a code to. Contact the bank.".to_owned(),
            StatusCode::CONFLICT,
        )),
        SendOutcome::Throttled => Some((
            "Too many codes have been sent. Wait a few minutes and try again.".to_owned(),
            StatusCode::TOO_MANY_REQUESTS,
        )),
        SendOutcome::NotSent(e) => {
            tracing::warn!(user_id = %user.user_id, error = %e, "one-time code not sent");
            Some((
                "The code could not be sent just now. Try again in a moment.".to_owned(),
                StatusCode::SERVICE_UNAVAILABLE,
            ))
        }
    };
    if error.is_some() {
        step.sent = None;
    }
    session.insert(STEP_KEY, &*step).await?;
    Ok(error)
}

/// GET /login/otp: sends the code if none is out yet, and asks for it.
pub async fn otp_page(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let Some(user) = signed_in(&session).await? else {
        return Ok(Redirect::to(routes::LOGIN).into_response());
    };
    let mut step: OtpStep = session
        .get(STEP_KEY)
        .await?
        .ok_or_else(nothing_to_confirm)?;
    if step.sent.is_none()
        && let Some((error, status)) = send(&state, &session, &user, &mut step).await?
    {
        return page(&session, &step, Some(error), status).await;
    }
    page(&session, &step, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct OtpForm {
    csrf_token: String,
    #[serde(default)]
    otp: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

/// POST /login/otp: checks the code, or sends a new one (`action=resend`).
pub async fn otp_submit(
    State(state): State<AppState>,
    session: Session,
    PageForm(form): PageForm<OtpForm>,
) -> Result<Response, PageError> {
    csrf::verify(&session, &form.csrf_token).await?;
    let Some(mut user) = signed_in(&session).await? else {
        return Ok(Redirect::to(routes::LOGIN).into_response());
    };
    let mut step: OtpStep = session
        .get(STEP_KEY)
        .await?
        .ok_or_else(nothing_to_confirm)?;
    if form.action.as_deref() == Some("resend") {
        step.sent = None;
        if let Some((error, status)) = send(&state, &session, &user, &mut step).await? {
            return page(&session, &step, Some(error), status).await;
        }
        return Ok(Redirect::to(routes::LOGIN_OTP).into_response());
    }
    let Some(sent) = step.sent.clone() else {
        return Ok(Redirect::to(routes::LOGIN_OTP).into_response());
    };
    let now = state.clock.now();
    let otp = otp(&state)?;
    let entered = form.otp.unwrap_or_default();
    let outcome = otp
        .verify(&sent.challenge_id, &user.user_id, &entered, now)
        .await?;
    let error = match outcome {
        VerifyOutcome::Verified(challenge) => {
            if !user.amr.iter().any(|m| m == otp::AMR) {
                user.amr.push(otp::AMR.to_owned());
            }
            user.auth_time = now;
            if let Some(id) = challenge.linked_to
                && !user.sca_linked.contains(&id)
            {
                user.sca_linked.push(id);
            }
            session.remove::<OtpStep>(STEP_KEY).await?;
            // The login is stronger now: a new session id, as at login.
            session.cycle_id().await?;
            store_signed_in(&session, &user).await?;
            csrf::renew(&session).await?;
            tracing::info!(user_id = %user.user_id, "one-time code verified");
            return Ok(Redirect::to(&step.return_to).into_response());
        }
        VerifyOutcome::Wrong { attempts_left } if attempts_left > 0 => format!(
            "That code is not right. You can try {attempts_left} more time{}.",
            if attempts_left == 1 { "" } else { "s" }
        ),
        VerifyOutcome::Wrong { .. } | VerifyOutcome::Spent => {
            step.sent = None;
            session.insert(STEP_KEY, &step).await?;
            "That code can no longer be used. Send a new code.".to_owned()
        }
    };
    tracing::info!(user_id = %user.user_id, "one-time code refused");
    page(&session, &step, Some(error), StatusCode::BAD_REQUEST).await
}
