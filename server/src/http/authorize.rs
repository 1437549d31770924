//! The authorization endpoint and the consent step. The validated request waits in the session
//! while the customer logs in; the consent page approves or refuses; the decision issues the
//! code and sends the browser back in the client's response mode.
//!
//! A request that binds a UK Open Banking consent (`openbanking_intent_id`) gets the consent's
//! own page instead of the plain scope approval: the permissions and period of an account-access
//! consent with the customer's accounts to choose, or a payment's payee, amount and reference
//! with the account to pay from. Approving authorises the consent with those choices and binds
//! the grant to it; refusing rejects it.

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
use super::otp;
use super::pages::{PageMeta, render};
use super::{csrf, routes};
use crate::app::{App, AppState};
use crate::clock::UnixTime;
use crate::consent::{Actor, ConsentKind, ConsentStatus, Permission};
use crate::protocol::authorize::{
    AuthorizationRequest, AuthorizeError, ErrorTarget, Params, ResponseType, Source, check_intent,
    params_from_pairs, validate,
};
use crate::protocol::client::Client;
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::response::{Delivery, ResponseParams};
use crate::protocol::token::{sign_claims, sign_id_token};
use crate::sca::otp::Purpose;
use crate::sca::step_up::{Bound, LoginState, StepUp, step_up};
use crate::store::{
    Account, Authorisation, ClientStore as _, CodeRecord, CodeStore as _, ConsentRecord,
    ConsentStore as _, GrantRecord, GrantStore as _, LedgerStore as _, ParStore as _,
    UserStore as _,
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
    /// The UK Open Banking consent the request binds (`openbanking_intent_id`), checked at the
    /// authorization endpoint and again at every later step.
    #[serde(default)]
    consent_id: Option<String>,
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
    let consent_id = request.intent_id().map(str::to_owned);
    let pending = Pending {
        request,
        par_hash,
        stale_login,
        consent_id,
    };
    // The consent is the requesting client's and waits for authorisation, or the client hears
    // why at once: the OpenID Foundation suite accepts invalid_request for another client's
    // consent (ensure-server-handles-non-matching-intent-id).
    if let Some(id) = &pending.consent_id {
        let consent = app.store.consent(id).await?;
        if let Err(error) = check_intent(&pending.request, consent.as_ref(), now) {
            if let Some(cause) = &error.internal {
                return Err(PageError::internal(cause));
            }
            let reason = error.description().unwrap_or_default();
            tracing::info!(client_id = %client.client_id, reason, "consent not bound");
            return deliver_error(app, &client, &pending.target(), &error, now).await;
        }
    }
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

/// One of the customer's accounts as a choice on a consent page.
#[derive(Debug, Clone, PartialEq)]
struct AccountChoice {
    id: String,
    name: String,
    detail: String,
    checked: bool,
}

impl AccountChoice {
    fn of(account: &Account, checked: bool) -> Self {
        let kind = match account.account_subtype.as_str() {
            "CurrentAccount" => "Current account",
            "Savings" => "Savings account",
            "CreditCard" => "Credit card",
            "Loan" => "Loan",
            "Mortgage" => "Mortgage",
            "ChargeCard" => "Charge card",
            "PrePaidCard" => "Prepaid card",
            "EMoney" => "E-money account",
            other => other,
        };
        let digits: Vec<char> = account.identification.chars().collect();
        let last4: String = digits[digits.len().saturating_sub(4)..].iter().collect();
        AccountChoice {
            id: account.id.clone(),
            name: account.nickname.clone(),
            detail: format!("{kind} ending {last4}, {}", account.currency),
            checked,
        }
    }
}

#[derive(Template)]
#[template(path = "consent_accounts.html")]
struct AccountAccessPage {
    page: PageMeta,
    csrf: String,
    client_name: String,
    user_name: String,
    consent_id: String,
    permissions: Vec<&'static str>,
    period: String,
    expiry: String,
    accounts: Vec<AccountChoice>,
    error: Option<&'static str>,
    blocked: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "consent_payment.html")]
struct PaymentPage {
    page: PageMeta,
    csrf: String,
    client_name: String,
    user_name: String,
    consent_id: String,
    payment: Initiation,
    debtor_fixed: Option<AccountChoice>,
    debtors: Vec<AccountChoice>,
    error: Option<&'static str>,
    blocked: Option<&'static str>,
}

/// A bound consent as the customer decides on it: what it asks for and which of the customer's
/// accounts may be chosen.
enum ConsentView {
    Accounts {
        permissions: Vec<&'static str>,
        period: String,
        expiry: String,
        /// Every account of the customer: any may be shared.
        accounts: Vec<Account>,
    },
    Payment {
        initiation: Box<Initiation>,
        /// The debtor the TPP fixed, when it is one of the customer's accounts.
        fixed: Option<Account>,
        /// The accounts the customer may pay from when the TPP fixed none: those in the
        /// payment's currency.
        eligible: Vec<Account>,
        /// Why the payment cannot be approved by this customer, if it cannot.
        blocked: Option<&'static str>,
    },
}

/// What the consent page shows of a payment's `Data.Initiation` (UK OB 3.1).
#[derive(Debug, Clone, PartialEq)]
struct Initiation {
    payee: String,
    payee_account: String,
    amount: String,
    currency: String,
    reference: Option<String>,
    details: Option<String>,
    debtor_given: bool,
}

impl Initiation {
    fn parse(body: &str) -> Result<Self, String> {
        let body: Value = serde_json::from_str(body).map_err(|e| format!("consent body: {e}"))?;
        let i = body
            .pointer("/Data/Initiation")
            .ok_or("consent body without Data.Initiation")?;
        let text = |path: &str| {
            i.pointer(path)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let required = |path: &str| text(path).ok_or(format!("consent Initiation without {path}"));
        let scheme = required("/CreditorAccount/SchemeName")?;
        let identification = required("/CreditorAccount/Identification")?;
        Ok(Initiation {
            payee: text("/CreditorAccount/Name").unwrap_or_else(|| identification.clone()),
            payee_account: describe_account_id(&scheme, &identification),
            amount: required("/InstructedAmount/Amount")?,
            currency: required("/InstructedAmount/Currency")?,
            reference: text("/RemittanceInformation/Reference"),
            details: text("/RemittanceInformation/Unstructured"),
            debtor_given: i.get("DebtorAccount").is_some_and(|d| !d.is_null()),
        })
    }
}

/// An account identification in words: a UK sort code and account number split, an IBAN as is.
fn describe_account_id(scheme: &str, identification: &str) -> String {
    let scheme = scheme.trim_start_matches("UK.OBIE.");
    match scheme {
        "SortCodeAccountNumber"
            if identification.len() == 14 && identification.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!(
                "Sort code {}-{}-{}, account {}",
                &identification[0..2],
                &identification[2..4],
                &identification[4..6],
                &identification[6..]
            )
        }
        "SortCodeAccountNumber" => format!("Sort code and account number {identification}"),
        "IBAN" => format!("IBAN {identification}"),
        other => format!("{other} {identification}"),
    }
}

fn formatted(t: UnixTime, format: &[time::format_description::BorrowedFormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(format).ok())
        .unwrap_or_else(|| t.to_string())
}

fn day(t: UnixTime) -> String {
    formatted(
        t,
        time::macros::format_description!("[day padding:none] [month repr:long] [year]"),
    )
}

fn day_and_time(t: UnixTime) -> String {
    formatted(
        t,
        time::macros::format_description!(
            "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
        ),
    )
}

/// The transaction period of an account-access consent in words.
fn period_in_words(from: Option<UnixTime>, to: Option<UnixTime>) -> String {
    match (from, to) {
        (Some(f), Some(t)) => format!("From {} to {}", day(f), day(t)),
        (Some(f), None) => format!("From {} onwards", day(f)),
        (None, Some(t)) => format!("Up to {}", day(t)),
        (None, None) => "All dates".to_owned(),
    }
}

async fn consent_view(
    app: &App,
    consent: &ConsentRecord,
    user: &SessionUser,
) -> Result<ConsentView, PageError> {
    let accounts = app.store.accounts_of(&user.user_id).await?;
    Ok(match consent.kind()? {
        ConsentKind::AccountAccess => {
            let names: Vec<String> =
                serde_json::from_str(consent.permissions.as_deref().unwrap_or("[]"))
                    .map_err(|e| PageError::internal(format!("consent permissions: {e}")))?;
            let permissions = names
                .iter()
                .map(|n| n.parse::<Permission>().map(Permission::in_words))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PageError::internal(format!("consent permissions: {e}")))?;
            ConsentView::Accounts {
                permissions,
                period: period_in_words(consent.tx_from, consent.tx_to),
                expiry: consent.expires_at.map_or_else(
                    || "When you withdraw it".to_owned(),
                    |t| format!("On {}", day_and_time(t)),
                ),
                accounts,
            }
        }
        ConsentKind::DomesticPayment => {
            let initiation =
                Box::new(Initiation::parse(&consent.body).map_err(PageError::internal)?);
            let in_currency = |a: &Account| a.currency.eq_ignore_ascii_case(&initiation.currency);
            let (fixed, eligible, blocked) = match &consent.debtor_account_id {
                Some(id) => match accounts.iter().find(|a| &a.id == id) {
                    Some(a) if in_currency(a) => (Some(a.clone()), Vec::new(), None),
                    Some(_) => (
                        None,
                        Vec::new(),
                        Some("The payment is set to come from an account in another currency."),
                    ),
                    None => (
                        None,
                        Vec::new(),
                        Some("The payment is set to come from an account that is not yours."),
                    ),
                },
                // The TPP named a debtor account that is not one of this bank's.
                None if initiation.debtor_given => (
                    None,
                    Vec::new(),
                    Some("The payment is set to come from an account that is not yours."),
                ),
                None => {
                    let eligible: Vec<Account> = accounts
                        .iter()
                        .filter(|a| in_currency(a))
                        .cloned()
                        .collect();
                    let blocked = eligible
                        .is_empty()
                        .then_some("You have no account in the payment's currency to pay from.");
                    (None, eligible, blocked)
                }
            };
            ConsentView::Payment {
                initiation,
                fixed,
                eligible,
                blocked,
            }
        }
    })
}

/// What the customer sent from a consent page.
#[derive(Debug, Default)]
struct DecisionForm {
    csrf_token: Option<String>,
    decision: Option<String>,
    consent_id: Option<String>,
    accounts: Vec<String>,
    debtors: Vec<String>,
}

impl DecisionForm {
    fn parse(pairs: Vec<(String, String)>) -> Self {
        let mut form = DecisionForm::default();
        for (name, value) in pairs {
            match name.as_str() {
                "csrf_token" => form.csrf_token = Some(value),
                "decision" => form.decision = Some(value),
                "consent_id" => form.consent_id = Some(value),
                "account" => form.accounts.push(value),
                "debtor_account" => form.debtors.push(value),
                _ => {}
            }
        }
        form
    }
}

/// The customer's choice on a consent page, checked against what the page offered: the accounts
/// to share (at least one, all the customer's) or the account to pay from.
#[derive(Debug, PartialEq)]
enum Choice {
    Made {
        accounts: Vec<String>,
        debtor: Option<String>,
    },
    /// Nothing chosen: the page again, with this message.
    Again(&'static str),
}

fn check_choice(view: &ConsentView, form: &DecisionForm) -> Result<Choice, PageError> {
    let foreign = || PageError::BadRequest("The form names an account you cannot choose.".into());
    match view {
        ConsentView::Accounts { accounts, .. } => {
            if !form.debtors.is_empty() {
                return Err(foreign());
            }
            let mut chosen = form.accounts.clone();
            chosen.sort();
            chosen.dedup();
            if chosen.iter().any(|c| !accounts.iter().any(|a| &a.id == c)) {
                return Err(foreign());
            }
            if chosen.is_empty() {
                return Ok(Choice::Again("Choose at least one account to share."));
            }
            Ok(Choice::Made {
                accounts: chosen,
                debtor: None,
            })
        }
        ConsentView::Payment {
            fixed,
            eligible,
            blocked,
            ..
        } => {
            if !form.accounts.is_empty() || form.debtors.len() > 1 {
                return Err(foreign());
            }
            if blocked.is_some() {
                return Err(PageError::BadRequest(
                    "This payment cannot be approved from your accounts.".into(),
                ));
            }
            let debtor = match (fixed, form.debtors.first()) {
                (Some(f), None) => f.id.clone(),
                (Some(f), Some(d)) if *d == f.id => f.id.clone(),
                (Some(_), Some(_)) => return Err(foreign()),
                (None, None) => return Ok(Choice::Again("Choose the account to pay from.")),
                (None, Some(d)) if eligible.iter().any(|a| &a.id == d) => d.clone(),
                (None, Some(_)) => return Err(foreign()),
            };
            Ok(Choice::Made {
                accounts: Vec::new(),
                debtor: Some(debtor),
            })
        }
    }
}

struct PageContext {
    csrf: String,
    client_name: String,
    user_name: String,
}

/// Renders the page of a bound consent; `chosen` are the accounts ticked (all when `None`, the
/// first eligible debtor for a payment) and `error` says why it shows again.
fn consent_page(
    context: PageContext,
    consent: &ConsentRecord,
    view: ConsentView,
    chosen: Option<&DecisionForm>,
    error: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let PageContext {
        csrf,
        client_name,
        user_name,
    } = context;
    match view {
        ConsentView::Accounts {
            permissions,
            period,
            expiry,
            accounts,
        } => {
            let checked = |a: &Account| chosen.is_none_or(|f| f.accounts.contains(&a.id));
            let blocked = accounts
                .is_empty()
                .then_some("You have no accounts to share.");
            render(
                status,
                &AccountAccessPage {
                    page: PageMeta::new("Share account information"),
                    csrf,
                    client_name,
                    user_name,
                    consent_id: consent.id.clone(),
                    permissions,
                    period,
                    expiry,
                    accounts: accounts
                        .iter()
                        .map(|a| AccountChoice::of(a, checked(a)))
                        .collect(),
                    error,
                    blocked,
                },
            )
        }
        ConsentView::Payment {
            initiation,
            fixed,
            eligible,
            blocked,
        } => {
            let checked = |i: usize, a: &Account| match chosen {
                None => i == 0,
                Some(f) => f.debtors.contains(&a.id),
            };
            render(
                status,
                &PaymentPage {
                    page: PageMeta::new("Approve a payment"),
                    csrf,
                    client_name,
                    user_name,
                    consent_id: consent.id.clone(),
                    payment: *initiation,
                    debtor_fixed: fixed.as_ref().map(|a| AccountChoice::of(a, true)),
                    debtors: eligible
                        .iter()
                        .enumerate()
                        .map(|(i, a)| AccountChoice::of(a, checked(i, a)))
                        .collect(),
                    error,
                    blocked,
                },
            )
        }
    }
}

fn client_name(client: &Client) -> String {
    client
        .name
        .clone()
        .unwrap_or_else(|| client.client_id.clone())
}

/// The bound consent, still the client's and still waiting; else the page saying it can no
/// longer be approved.
async fn waiting_consent(
    app: &App,
    pending: &Pending,
    id: &str,
    now: UnixTime,
) -> Result<ConsentRecord, PageError> {
    let consent = app.store.consent(id).await?;
    match check_intent(&pending.request, consent.as_ref(), now) {
        Ok(_) => consent.ok_or_else(|| PageError::internal("checked consent vanished")),
        Err(e) if e.code == ErrorCode::InvalidRequest => Err(no_longer_waiting()),
        Err(e) => Err(PageError::internal(e.internal.unwrap_or_default())),
    }
}

fn no_longer_waiting() -> PageError {
    PageError::BadRequest(
        "This request can no longer be approved: it has expired or has already been answered. \
         Return to the application and start again."
            .to_owned(),
    )
}

/// The way to the one-time code page, when this authorization needs SCA that the login has not
/// reached yet and the customer has a second factor (see [`step_up`]).
async fn sca_step(
    app: &App,
    session: &Session,
    pending: &Pending,
    user: &SessionUser,
    client: &Client,
    consent: Option<&ConsentRecord>,
) -> Result<Option<Response>, PageError> {
    let bound = match consent {
        Some(c) => Some(Bound {
            consent_id: &c.id,
            kind: c.kind()?,
        }),
        None => None,
    };
    let second_factor = app.sms.is_some()
        && app
            .store
            .user_by_id(&user.user_id)
            .await?
            .is_some_and(|u| u.phone.is_some_and(|p| !p.trim().is_empty()));
    let login = LoginState {
        amr: &user.amr,
        linked: &user.sca_linked,
    };
    let StepUp::Required { linked_to } = step_up(
        &pending.request.requested_acrs(),
        bound,
        &login,
        second_factor,
    ) else {
        return Ok(None);
    };
    let words = purpose_words(client, consent)?;
    let purpose = Purpose { words, linked_to };
    Ok(Some(
        otp::begin(session, purpose, routes::AUTHORIZE_RESUME).await?,
    ))
}

/// What a one-time code authorises, in the words of its message: the payee and amount of a
/// payment, the TPP of anything else. Names a TPP chose are shortened to fit a text message.
fn purpose_words(client: &Client, consent: Option<&ConsentRecord>) -> Result<String, PageError> {
    let short = |s: &str| -> String {
        let s = s.trim();
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(39).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    let tpp = short(&client_name(client));
    Ok(match consent {
        Some(c) if c.kind()? == ConsentKind::DomesticPayment => {
            let i = Initiation::parse(&c.body).map_err(PageError::internal)?;
            format!(
                "pay {} {} to {} through {tpp}",
                i.currency,
                i.amount,
                short(&i.payee)
            )
        }
        Some(_) => format!("let {tpp} see your account information"),
        None => format!("sign in to {tpp}"),
    })
}

/// GET /authorize/resume: after login, the consent step.
pub async fn resume(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let app = &state.0;
    let now = app.clock.now();
    let pending: Pending = session.get(PENDING_KEY).await?.ok_or_else(no_pending)?;
    let Some(user) = pending.user(signed_in(&session).await?) else {
        return Ok(Redirect::to(&login_url()).into_response());
    };
    let client = load_client(app, &pending.request.client_id).await?;
    let consent = match &pending.consent_id {
        Some(id) => Some(waiting_consent(app, &pending, id, now).await?),
        None => None,
    };
    if let Some(step) = sca_step(app, &session, &pending, &user, &client, consent.as_ref()).await? {
        return Ok(step);
    }
    // An essential acr this login did not reach fails the authorization before the customer is
    // asked anything more.
    if let Err(error) = pending.request.acr_for(&user.amr) {
        session.remove::<Pending>(PENDING_KEY).await?;
        return deliver_error(app, &client, &pending.target(), &error, now).await;
    }
    let context = PageContext {
        csrf: csrf::token(&session).await?,
        client_name: client_name(&client),
        user_name: user.display_name.clone(),
    };
    if let Some(consent) = consent {
        let view = consent_view(app, &consent, &user).await?;
        return Ok(consent_page(
            context,
            &consent,
            view,
            None,
            None,
            StatusCode::OK,
        ));
    }
    let page = ConsentPage {
        page: PageMeta::new("Allow access"),
        csrf: context.csrf,
        client_name: context.client_name,
        user_name: context.user_name,
        scopes: pending
            .request
            .scope
            .iter()
            .map(|s| describe_scope(s))
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

fn no_pending() -> PageError {
    PageError::BadRequest(
        "There is no authorization in progress. Start again from the application.".to_owned(),
    )
}

/// POST /authorize/decision: approve or refuse (also the cancel button of the login page).
pub async fn decision(
    State(state): State<AppState>,
    session: Session,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let app = &state.0;
    let now = app.clock.now();
    let form = DecisionForm::parse(pairs);
    csrf::verify(&session, form.csrf_token.as_deref().ok_or(PageError::Csrf)?).await?;
    let pending: Pending = session.get(PENDING_KEY).await?.ok_or_else(no_pending)?;
    if form
        .consent_id
        .as_ref()
        .is_some_and(|id| pending.consent_id.as_ref() != Some(id))
    {
        return Err(PageError::BadRequest(
            "This page is out of date: another authorization has started since. Return to the \
             application and start again."
                .to_owned(),
        ));
    }
    let client = load_client(app, &pending.request.client_id).await?;
    let user = pending.user(signed_in(&session).await?);
    if form.decision.as_deref() != Some("approve") {
        session.remove::<Pending>(PENDING_KEY).await?;
        // The customer refused: the consent is Rejected. A cancel before login identifies no
        // customer and leaves the consent waiting (anyone holding the link could cancel).
        if let (Some(id), Some(user)) = (&pending.consent_id, &user)
            && app
                .store
                .transition_consent(
                    id,
                    ConsentStatus::Rejected,
                    &Actor::Psu(user.user_id.clone()),
                    now,
                )
                .await?
        {
            tracing::info!(client_id = %client.client_id, consent_id = %id, "consent rejected");
        }
        let error = OAuthError::new(ErrorCode::AccessDenied, "the customer refused");
        return deliver_error(app, &client, &pending.target(), &error, now).await;
    }
    let Some(user) = user else {
        return Err(PageError::BadRequest(
            "Sign in before approving.".to_owned(),
        ));
    };
    let consent = match &pending.consent_id {
        Some(id) => Some(waiting_consent(app, &pending, id, now).await?),
        None => None,
    };
    // Approving cannot skip the second factor the consent step asked for.
    if let Some(step) = sca_step(app, &session, &pending, &user, &client, consent.as_ref()).await? {
        return Ok(step);
    }
    let acr = match pending.request.acr_for(&user.amr) {
        Ok(acr) => acr,
        Err(error) => {
            session.remove::<Pending>(PENDING_KEY).await?;
            return deliver_error(app, &client, &pending.target(), &error, now).await;
        }
    };
    // A bound consent: what the customer chose, checked against what they may choose.
    let bound = match consent {
        None => None,
        Some(consent) => {
            let view = consent_view(app, &consent, &user).await?;
            match check_choice(&view, &form)? {
                Choice::Made { accounts, debtor } => Some((consent, accounts, debtor)),
                Choice::Again(message) => {
                    let context = PageContext {
                        csrf: csrf::token(&session).await?,
                        client_name: client_name(&client),
                        user_name: user.display_name.clone(),
                    };
                    return Ok(consent_page(
                        context,
                        &consent,
                        view,
                        Some(&form),
                        Some(message),
                        StatusCode::BAD_REQUEST,
                    ));
                }
            }
        }
    };
    session.remove::<Pending>(PENDING_KEY).await?;
    if let Some(hash) = &pending.par_hash
        && !app.store.consume_par(hash, now).await?
    {
        return Err(PageError::BadRequest(
            "This request has already been completed or has expired (invalid_request_uri)."
                .to_owned(),
        ));
    }
    if let Some((consent, accounts, debtor)) = &bound {
        let authorisation = Authorisation {
            user_id: &user.user_id,
            account_ids: accounts,
            debtor_account_id: debtor.as_deref(),
        };
        if !app
            .store
            .authorise_consent(&consent.id, &authorisation, now)
            .await?
        {
            return Err(no_longer_waiting());
        }
        tracing::info!(client_id = %client.client_id, consent_id = %consent.id, "consent authorised");
    }
    let r = &pending.request;
    let grant = GrantRecord {
        id: crate::crypto::new_id(),
        client_id: client.client_id.clone(),
        subject: Some(user.user_id.clone()),
        scope: r.scope.join(" "),
        claims: r.claims.as_ref().map(Value::to_string),
        acr,
        amr: Some(serde_json::to_string(&user.amr).map_err(PageError::internal)?),
        auth_time: Some(user.auth_time),
        consent_id: bound.as_ref().map(|(c, _, _)| c.id.clone()),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn account(id: &str, currency: &str) -> Account {
        Account {
            id: id.to_owned(),
            owner_user_id: "u1".to_owned(),
            account_type: "Personal".to_owned(),
            account_subtype: "CurrentAccount".to_owned(),
            currency: currency.to_owned(),
            nickname: format!("{id} nick"),
            scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
            identification: "12345612345678".to_owned(),
            holder_name: "A Customer".to_owned(),
            balance_minor: 0,
            opened_at: 0,
        }
    }

    fn form(accounts: &[&str], debtors: &[&str]) -> DecisionForm {
        DecisionForm {
            accounts: accounts.iter().map(|a| (*a).to_owned()).collect(),
            debtors: debtors.iter().map(|a| (*a).to_owned()).collect(),
            ..DecisionForm::default()
        }
    }

    fn initiation(debtor_given: bool) -> Box<Initiation> {
        Box::new(Initiation {
            payee: "Payee".to_owned(),
            payee_account: "x".to_owned(),
            amount: "1.00".to_owned(),
            currency: "GBP".to_owned(),
            reference: None,
            details: None,
            debtor_given,
        })
    }

    #[test]
    fn account_choices_are_the_customers_and_at_least_one() {
        let view = ConsentView::Accounts {
            permissions: vec![],
            period: String::new(),
            expiry: String::new(),
            accounts: vec![account("a1", "GBP"), account("a2", "EUR")],
        };
        assert_eq!(
            check_choice(&view, &form(&["a2", "a1", "a2"], &[])).unwrap(),
            Choice::Made {
                accounts: vec!["a1".to_owned(), "a2".to_owned()],
                debtor: None
            }
        );
        assert!(matches!(
            check_choice(&view, &form(&[], &[])),
            Ok(Choice::Again(_))
        ));
        for bad in [form(&["a1", "other"], &[]), form(&["a1"], &["a1"])] {
            assert!(matches!(
                check_choice(&view, &bad),
                Err(PageError::BadRequest(_))
            ));
        }
    }

    #[test]
    fn a_debtor_is_fixed_or_chosen_among_the_eligible() {
        let open = ConsentView::Payment {
            initiation: initiation(false),
            fixed: None,
            eligible: vec![account("a1", "GBP"), account("a3", "GBP")],
            blocked: None,
        };
        assert_eq!(
            check_choice(&open, &form(&[], &["a3"])).unwrap(),
            Choice::Made {
                accounts: vec![],
                debtor: Some("a3".to_owned())
            }
        );
        assert!(matches!(
            check_choice(&open, &form(&[], &[])),
            Ok(Choice::Again(_))
        ));
        for bad in [
            form(&[], &["a2"]),
            form(&[], &["a1", "a3"]),
            form(&["a1"], &["a1"]),
        ] {
            assert!(check_choice(&open, &bad).is_err());
        }
        let fixed = ConsentView::Payment {
            initiation: initiation(true),
            fixed: Some(account("a1", "GBP")),
            eligible: vec![],
            blocked: None,
        };
        assert_eq!(
            check_choice(&fixed, &form(&[], &[])).unwrap(),
            Choice::Made {
                accounts: vec![],
                debtor: Some("a1".to_owned())
            }
        );
        assert!(check_choice(&fixed, &form(&[], &["a3"])).is_err());
        let blocked = ConsentView::Payment {
            initiation: initiation(true),
            fixed: None,
            eligible: vec![],
            blocked: Some("no"),
        };
        assert!(check_choice(&blocked, &form(&[], &[])).is_err());
    }

    #[test]
    fn payment_initiation_in_words() {
        let body = json!({"Data": {"Initiation": {
            "InstructionIdentification": "i1", "EndToEndIdentification": "e1",
            "InstructedAmount": {"Amount": "165.88", "Currency": "GBP"},
            "CreditorAccount": {"SchemeName": "UK.OBIE.SortCodeAccountNumber",
                "Identification": "08080021325698", "Name": "ACME Inc"},
            "RemittanceInformation": {"Reference": "FRESCO-101", "Unstructured": "Internal ops code 5120101"}
        }}, "Risk": {}});
        let i = Initiation::parse(&body.to_string()).unwrap();
        assert_eq!(
            (i.payee.as_str(), i.payee_account.as_str()),
            ("ACME Inc", "Sort code 08-08-00, account 21325698")
        );
        assert_eq!((i.amount.as_str(), i.currency.as_str()), ("165.88", "GBP"));
        assert_eq!(i.reference.as_deref(), Some("FRESCO-101"));
        assert!(!i.debtor_given);
        assert_eq!(
            describe_account_id("UK.OBIE.IBAN", "GB29NWBK60161331926819"),
            "IBAN GB29NWBK60161331926819"
        );
        assert!(Initiation::parse(r#"{"Data": {}}"#).is_err());
        assert!(
            Initiation::parse(&json!({"Data": {"Initiation": {"InstructedAmount": {"Amount": "1", "Currency": "GBP"}}}}).to_string())
                .is_err(),
            "no creditor"
        );
    }

    #[test]
    fn periods_and_account_labels_in_words() {
        assert_eq!(
            period_in_words(Some(1_704_067_200), Some(1_711_843_200)),
            "From 1 January 2024 to 31 March 2024"
        );
        assert_eq!(period_in_words(None, None), "All dates");
        assert_eq!(
            day_and_time(1_704_067_200 + 3_660),
            "1 January 2024, 01:01 UTC"
        );
        let choice = AccountChoice::of(&account("a1", "GBP"), true);
        assert_eq!(choice.detail, "Current account ending 5678, GBP");
    }
}
