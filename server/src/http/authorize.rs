//! The authorization endpoint and the consent step. The validated request waits in the session
//! while the customer logs in; the consent page approves or refuses; the decision issues the
//! code and sends the browser back in the client's response mode.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_sessions::Session;

use super::error::PageError;
use super::extract::PageForm;
use super::login::{SessionUser, signed_in};
use super::oauth::{REQUEST_URI_PREFIX, request_object_claims};
use super::pages::{PageMeta, render};
use super::{csrf, routes};
use crate::app::{App, AppState};
use crate::clock::UnixTime;
use crate::protocol::authorize::{
    AuthorizationRequest, AuthorizeError, ErrorTarget, Params, ResponseType, Source,
    params_from_pairs, validate,
};
use crate::protocol::client::Client;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::response::{Delivery, ResponseParams};
use crate::protocol::token::{sign_claims, sign_id_token};
use crate::store::{
    ClientStore as _, CodeRecord, CodeStore as _, GrantRecord, GrantStore as _, ParStore as _,
};

const PENDING_KEY: &str = "pending_authorization";

/// An authorization waiting for the customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    request: AuthorizationRequest,
    /// The pushed request it came from, consumed when the authorization completes.
    par_hash: Option<Vec<u8>>,
    /// `prompt=login` or an exceeded `max_age`: the login that was current when the request
    /// came (`login_id`) does not count; a new one is needed.
    stale_login: Option<String>,
}

impl Pending {
    /// The signed-in customer, if their login counts for this authorization.
    fn user(&self, user: Option<SessionUser>) -> Option<SessionUser> {
        user.filter(|u| self.stale_login.as_deref() != Some(u.login_id.as_str()))
    }
}

impl Pending {
    fn target(&self) -> ErrorTarget {
        ErrorTarget {
            client_id: self.request.client_id.clone(),
            redirect_uri: self.request.redirect_uri.clone(),
            response_mode: self.request.response_mode,
            state: self.request.state.clone(),
        }
    }
}

async fn load_client(app: &App, client_id: &str) -> Result<Client, PageError> {
    let record = app.store.client(client_id).await?.ok_or_else(|| {
        PageError::BadRequest("The application is not known to this bank.".to_owned())
    })?;
    Client::from_record(record).map_err(|e| match e.code {
        ErrorCode::ServerError => PageError::internal(e),
        _ => PageError::BadRequest("The application cannot sign in customers.".to_owned()),
    })
}

/// GET /authorize
pub async fn authorize_get(
    State(state): State<AppState>,
    session: Session,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    authorize(&state.0, &session, pairs).await
}

/// POST /authorize (form-encoded parameters)
pub async fn authorize_post(
    State(state): State<AppState>,
    session: Session,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    authorize(&state.0, &session, pairs).await
}

async fn authorize(
    app: &App,
    session: &Session,
    pairs: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let now = app.clock.now();
    super::oauth::single_valued(&pairs).map_err(|e| {
        PageError::BadRequest(format!(
            "The request is not valid: {}.",
            e.description().unwrap_or("a parameter is repeated")
        ))
    })?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let client_id = get("client_id").ok_or_else(|| {
        PageError::BadRequest("The request names no application (client_id).".to_owned())
    })?;
    let client = load_client(app, client_id).await?;

    let (outcome, par_hash) = if let Some(request_uri) = get("request_uri") {
        // Pushed: only the pushed parameters count.
        let hash = crate::crypto::secret_hash(request_uri);
        let record = if request_uri.starts_with(REQUEST_URI_PREFIX) {
            app.store.par(&hash, &client.client_id, now).await?
        } else {
            None
        };
        let record = record.ok_or_else(|| PageError::BadRequest("The request_uri is not valid: it is unknown, expired, used, or for another application (invalid_request_uri).".to_owned()))?;
        let request: AuthorizationRequest =
            serde_json::from_str(&record.params).map_err(PageError::internal)?;
        (Ok(request), Some(hash))
    } else if let Some(jwt) = get("request") {
        // By value: only the parameters inside the request object count.
        let claims = request_object_claims(app, &client, jwt, now)
            .await
            .map_err(|e| {
                PageError::BadRequest(format!("The request object is not valid ({}).", e))
            })?;
        if claims
            .get("client_id")
            .and_then(Value::as_str)
            .is_some_and(|id| id != client.client_id)
        {
            return Err(PageError::BadRequest(
                "The request object is for another application.".to_owned(),
            ));
        }
        (validate(&client, &claims, Source::RequestObject), None)
    } else {
        let params: Params = params_from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        (validate(&client, &params, Source::Plain), None)
    };
    let request = match outcome {
        Ok(r) => r,
        Err(AuthorizeError::Page(message)) => return Err(PageError::BadRequest(message)),
        Err(AuthorizeError::Redirect { target, error }) => {
            return deliver_error(app, &client, &target, &error, now).await;
        }
    };

    let user = signed_in(session).await?;
    let too_old = |u: &SessionUser| request.max_age.is_some_and(|m| now - u.auth_time > m);
    let fresh_login =
        request.prompt.iter().any(|p| p == "login") || user.as_ref().is_some_and(too_old);
    let stale_login = if fresh_login {
        user.as_ref().map(|u| u.login_id.clone())
    } else {
        None
    };
    let pending = Pending {
        request,
        par_hash,
        stale_login,
    };
    if pending.request.prompt.iter().any(|p| p == "none") {
        let error = if pending.user(user).is_none() {
            OAuthError::new(ErrorCode::LoginRequired, "the customer must log in")
        } else {
            OAuthError::new(ErrorCode::ConsentRequired, "the customer must approve")
        };
        return deliver_error(app, &client, &pending.target(), &error, now).await;
    }
    session.insert(PENDING_KEY, &pending).await?;
    Ok(Redirect::to(routes::AUTHORIZE_RESUME).into_response())
}

fn login_url() -> String {
    format!(
        "{}?return_to={}",
        routes::LOGIN,
        crate::protocol::redirect::urlencode(routes::AUTHORIZE_RESUME)
    )
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    page: PageMeta,
    csrf: String,
    client_name: String,
    user_name: String,
    scopes: Vec<(&'static str, String)>,
}

fn describe_scope(scope: &str) -> (&'static str, String) {
    match scope {
        "openid" => (
            "openid",
            "Confirm who you are (your customer identifier)".to_owned(),
        ),
        "accounts" => ("accounts", "See information about your accounts".to_owned()),
        "payments" => ("payments", "Make a payment you approve".to_owned()),
        "fundsconfirmations" => (
            "fundsconfirmations",
            "Check whether funds are available".to_owned(),
        ),
        _ => ("other", scope.to_owned()),
    }
}

/// GET /authorize/resume: after login, the consent step.
pub async fn resume(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let app = &state.0;
    let pending: Pending = session.get(PENDING_KEY).await?.ok_or_else(|| {
        PageError::BadRequest(
            "There is no authorization in progress. Start again from the application.".to_owned(),
        )
    })?;
    let Some(user) = pending.user(signed_in(&session).await?) else {
        return Ok(Redirect::to(&login_url()).into_response());
    };
    let client = load_client(app, &pending.request.client_id).await?;
    let page = ConsentPage {
        page: PageMeta::new("Allow access"),
        csrf: csrf::token(&session).await?,
        client_name: client
            .name
            .clone()
            .unwrap_or_else(|| client.client_id.clone()),
        user_name: user.display_name,
        scopes: pending
            .request
            .scope
            .iter()
            .map(|s| describe_scope(s))
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf_token: String,
    decision: String,
}

/// POST /authorize/decision: approve or refuse (also the cancel button of the login page).
pub async fn decision(
    State(state): State<AppState>,
    session: Session,
    PageForm(form): PageForm<DecisionForm>,
) -> Result<Response, PageError> {
    let app = &state.0;
    let now = app.clock.now();
    csrf::verify(&session, &form.csrf_token).await?;
    let pending: Pending = session.remove(PENDING_KEY).await?.ok_or_else(|| {
        PageError::BadRequest(
            "There is no authorization in progress. Start again from the application.".to_owned(),
        )
    })?;
    let client = load_client(app, &pending.request.client_id).await?;
    if form.decision != "approve" {
        let error = OAuthError::new(ErrorCode::AccessDenied, "the customer refused");
        return deliver_error(app, &client, &pending.target(), &error, now).await;
    }
    let Some(user) = pending.user(signed_in(&session).await?) else {
        return Err(PageError::BadRequest(
            "Sign in before approving.".to_owned(),
        ));
    };
    if let Some(hash) = &pending.par_hash
        && !app.store.consume_par(hash, now).await?
    {
        return Err(PageError::BadRequest(
            "This request has already been completed or has expired (invalid_request_uri)."
                .to_owned(),
        ));
    }
    let r = &pending.request;
    let acr = r
        .requested_acrs()
        .into_iter()
        .find(|a| a == "urn:openbanking:psd2:ca");
    let grant = GrantRecord {
        id: crate::crypto::new_id(),
        client_id: client.client_id.clone(),
        subject: Some(user.user_id.clone()),
        scope: r.scope.join(" "),
        claims: r.claims.as_ref().map(Value::to_string),
        acr,
        amr: Some(serde_json::to_string(&user.amr).map_err(PageError::internal)?),
        auth_time: Some(user.auth_time),
        consent_id: None,
        created_at: now,
        expires_at: now + app.config.tokens.refresh_token_secs,
        revoked_at: None,
    };
    app.store.insert_grant(&grant).await?;
    let code = crate::crypto::random_token();
    app.store
        .insert_code(&CodeRecord {
            code_hash: crate::crypto::secret_hash(&code),
            grant_id: grant.id.clone(),
            client_id: client.client_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            code_challenge: r.code_challenge.clone(),
            nonce: r.nonce.clone(),
            state: r.state.clone(),
            dpop_jkt: r.dpop_jkt.clone(),
            created_at: now,
            expires_at: now + app.config.tokens.authorization_code_secs,
            consumed_at: None,
        })
        .await?;
    let id_token = if r.response_type == ResponseType::CodeIdToken {
        let front = Some((code.as_str(), r.state.as_deref()));
        Some(
            sign_id_token(app, &client, &grant, r.nonce.as_deref(), front, None, now)
                .await
                .map_err(|e| PageError::internal(e.internal.unwrap_or_default()))?,
        )
    } else {
        None
    };
    let issuer = app.config.server.issuer.as_str().trim_end_matches('/');
    let params = ResponseParams::success(
        &r.redirect_uri,
        r.response_mode,
        &code,
        id_token.as_deref(),
        r.state.as_deref(),
        issuer,
    );
    tracing::info!(client_id = %client.client_id, user_id = %user.user_id, "authorization approved");
    deliver(app, &client, params, now).await
}

async fn deliver_error(
    app: &App,
    client: &Client,
    target: &ErrorTarget,
    error: &OAuthError,
    now: UnixTime,
) -> Result<Response, PageError> {
    let issuer = app.config.server.issuer.as_str().trim_end_matches('/');
    deliver(
        app,
        client,
        ResponseParams::error(target, error, issuer),
        now,
    )
    .await
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage {
    page: PageMeta,
    action: String,
    fields: Vec<(String, String)>,
}

async fn deliver(
    app: &App,
    client: &Client,
    params: ResponseParams,
    now: UnixTime,
) -> Result<Response, PageError> {
    let jarm = if params.mode.is_jarm() {
        let issuer = app.config.server.issuer.as_str().trim_end_matches('/');
        let claims = params.jarm_claims(issuer, &client.client_id, now);
        Some(
            sign_claims(app, client.jarm_alg(), claims)
                .await
                .map_err(|e| PageError::internal(e.internal.unwrap_or_default()))?,
        )
    } else {
        None
    };
    Ok(match params.deliver(jarm.as_deref()) {
        Delivery::Redirect(url) => Redirect::to(&url).into_response(),
        Delivery::FormPost { action, fields } => render(
            StatusCode::OK,
            &FormPostPage {
                page: PageMeta::new("Returning to the application"),
                action,
                fields,
            },
        ),
    })
}
