//! FAPI 1.0 Advanced modules, and those of them the FAPI 2.0 plans share: what the server makes
//! of parameters inside and outside the request object, request objects it must refuse, client
//! authentication at the token endpoint, and the access token at the protected resource.
//!
//! The protected resource is the UserInfo endpoint (on the mTLS listener) in the `plain_fapi`
//! profile, and the UK OB `accounts` in `openbanking_uk`, where the `x-fapi-interaction-id`
//! echo is checked too (see `obuk`).

use serde_json::{Map, Value, json};

use super::Outcome;
use super::flows::{check_callback, check_token_response, code_for, full_flow, redeem};
use super::par::request_uri_of;
use crate::env::{
    Check, Env, Failure, Landing, Reply, Tpp, VERIFIER, b64url, ensure, fail, now, snippet,
    transport,
};
use crate::plan::Plan;

type ModuleResult = Result<Outcome, Failure>;

/// An authorization request as the suite builds it: the parameters of the authorization endpoint
/// request (`outer`) and the claims of the request object, or the pushed parameters of an
/// unsigned PAR request (`inner`). Only `inner` counts; `outer` is what travels outside.
pub(super) struct Request {
    pub outer: Map<String, Value>,
    pub inner: Map<String, Value>,
    /// Replaces the request object the variant would sign from `inner`.
    pub jwt: Option<String>,
    /// Parameters of `outer` sent outside whatever the request object holds.
    pub expose: &'static [&'static str],
}

impl Request {
    /// The variant's request for `tpp`, the same inside and outside.
    pub async fn new(env: &Env, tpp: &Tpp) -> Result<Request, Failure> {
        let params = env.auth_params(tpp).await?;
        Ok(Request {
            outer: params.clone(),
            inner: params,
            jwt: None,
            expose: &[],
        })
    }

    /// Sets `key` both inside and outside.
    pub fn set(&mut self, key: &str, value: Value) {
        self.outer.insert(key.to_owned(), value.clone());
        self.inner.insert(key.to_owned(), value);
    }
}

/// What came of sending a request.
pub(super) enum Sent {
    /// The PAR endpoint did not accept it (any status outside 2xx).
    ParRefused(Reply),
    /// Where the browser ended up.
    Landed(Landing),
}

/// Sends `request` from `tpp` the variant's way: pushed, then to the authorization endpoint with
/// the `request_uri` (repeating parameters outside as the suite does, unless `duplicates` is
/// false); or by value.
pub(super) async fn send_request(
    env: &Env,
    tpp: &Tpp,
    request: &Request,
    duplicates: bool,
) -> Result<Sent, Failure> {
    let url = if env.variant.pushed() {
        let reply = env
            .push(tpp, &request.inner, request.jwt.clone(), None)
            .await
            .map_err(transport)?;
        if !(200..300).contains(&reply.status) {
            return Ok(Sent::ParRefused(reply));
        }
        let request_uri = request_uri_of(&reply)?;
        env.redirect_to_authorization_endpoint(
            "request_uri",
            &request_uri,
            &request.outer,
            &request.inner,
            duplicates,
            request.expose,
        )?
    } else {
        let jwt = request
            .jwt
            .clone()
            .unwrap_or_else(|| env.request_object(tpp, &request.inner));
        env.redirect_to_authorization_endpoint(
            "request",
            &jwt,
            &request.outer,
            &request.inner,
            true,
            request.expose,
        )?
    };
    Ok(Sent::Landed(env.browse(&url, true).await?))
}

/// The claims of a request object of `tpp` for `inner` as the suite makes them (`iss`, `aud` the
/// issuer, `nbf` now, `exp` in 5 minutes, a `jti`), then `adjust`ed.
pub(super) fn request_object_claims(
    env: &Env,
    tpp: &Tpp,
    inner: &Map<String, Value>,
    adjust: impl FnOnce(&mut Map<String, Value>),
) -> Map<String, Value> {
    let now = now();
    let mut claims = inner.clone();
    claims.insert("iss".to_owned(), json!(tpp.client_id));
    claims.insert("aud".to_owned(), json!(env.issuer));
    claims.insert("nbf".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(now + 300));
    claims.insert("jti".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
    adjust(&mut claims);
    claims
}

/// A request object of `tpp` for `inner` with `adjust`ed claims, signed.
pub(super) fn adjusted_request_object(
    env: &Env,
    tpp: &Tpp,
    inner: &Map<String, Value>,
    adjust: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let claims = request_object_claims(env, tpp, inner, adjust);
    tpp.sign(&Value::Object(claims), Some("oauth-authz-req+jwt"))
}

/// The refusals a module accepts.
pub(super) struct Refusal {
    /// Errors the PAR endpoint may answer, with 400.
    pub par: &'static [&'static str],
    pub par_condition: &'static str,
    /// Errors the authorization endpoint may send back to the client.
    pub callback: &'static [&'static str],
    pub callback_condition: &'static str,
    /// Whether a plain (not JARM) error response is acceptable in a JARM variant.
    pub plain_error_for_jarm: bool,
}

/// Expects `sent` to be refused as `refusal` allows: a 400 from PAR, an error page (the suite
/// asks for a screenshot), or an error response at the client.
pub(super) fn expect_refused(
    env: &Env,
    request: &Request,
    sent: Sent,
    refusal: &Refusal,
) -> ModuleResult {
    match sent {
        Sent::ParRefused(reply) => par_error(&reply, refusal.par, refusal.par_condition),
        Sent::Landed(Landing::ErrorPage { .. }) => Ok(Outcome::Passed),
        Sent::Landed(Landing::Callback {
            params, fragment, ..
        }) => {
            error_response(
                env,
                request.inner.get("state"),
                &params,
                fragment,
                refusal.plain_error_for_jarm,
            )?;
            let error = params
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default();
            ensure(
                refusal.callback.contains(&error),
                refusal.callback_condition,
                || format!("error {error}, expected one of {:?}", refusal.callback),
            )?;
            Ok(Outcome::Passed)
        }
    }
}

/// A PAR error response: 400 with one of `errors`.
pub(super) fn par_error(reply: &Reply, errors: &[&str], condition: &'static str) -> ModuleResult {
    ensure(reply.status == 400, condition, || {
        format!(
            "PAR answered {} ({}), expected 400",
            reply.status,
            snippet(&reply.body)
        )
    })?;
    let error = reply.error().unwrap_or_default();
    ensure(errors.contains(&error.as_str()), condition, || {
        format!("PAR error {error:?}, expected one of {errors:?}")
    })?;
    Ok(Outcome::Passed)
}

/// The checks of every error response at the client: an `error`
/// (`EnsureErrorFromAuthorizationEndpointResponse`), the request's state echoed
/// (`CheckStateInAuthorizationResponse`), a hybrid response's error in the fragment
/// (`RejectErrorInUrlQuery`), and a JARM variant's error as JARM unless plain is allowed.
fn error_response(
    env: &Env,
    state: Option<&Value>,
    got: &Map<String, Value>,
    fragment: bool,
    plain_error_for_jarm: bool,
) -> Check {
    ensure(
        got.get("error").is_some_and(Value::is_string),
        "EnsureErrorFromAuthorizationEndpointResponse",
        || format!("the server accepted the request: {}", keys(got)),
    )?;
    ensure(
        got.get("state") == state,
        "CheckStateInAuthorizationResponse",
        || format!("state sent {state:?}, received {:?}", got.get("state")),
    )?;
    if env.variant.plan == Plan::Fapi1Advanced && !env.variant.jarm() {
        ensure(fragment, "RejectErrorInUrlQuery", || {
            "the error of a hybrid request came in the query".to_owned()
        })?;
    }
    if env.variant.jarm() && !plain_error_for_jarm {
        ensure(
            got.contains_key("jarm_aud"),
            "ExtractJARMFromURLQuery",
            || format!("a plain error response in a JARM variant: {}", keys(got)),
        )?;
    }
    Ok(())
}

fn keys(got: &Map<String, Value>) -> String {
    got.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// A successful authorization response for `inner`, redeemed: the callback checks, the code in
/// the fragment of a hybrid response (`RejectAuthCodeInUrlQuery`), and the token response.
pub(super) async fn complete(
    env: &Env,
    tpp: &Tpp,
    inner: &Map<String, Value>,
    landing: Landing,
) -> Result<Value, Failure> {
    let (got, fragment) = match landing {
        Landing::Callback {
            params, fragment, ..
        } => (params, fragment),
        Landing::ErrorPage { status, body } => {
            return Err(fail(
                "CallAuthorizationEndpoint",
                format!("error page {status}: {}", snippet(&body)),
            ));
        }
    };
    let code = check_callback(env, tpp, inner, &got)?;
    code_in_fragment(env, fragment)?;
    let reply = redeem(env, tpp, &code, VERIFIER).await?;
    let body = check_token_response(env, tpp, &reply, inner.get("nonce"))?;
    super::obuk::request_protected_resource(env, tpp, &body).await?;
    Ok(body)
}

/// The code of a hybrid (FAPI 1 `code id_token`) response comes in the fragment, never the query
/// (`RejectAuthCodeInUrlQuery`).
fn code_in_fragment(env: &Env, fragment: bool) -> Check {
    if env.variant.plan == Plan::Fapi1Advanced && !env.variant.jarm() {
        ensure(fragment, "RejectAuthCodeInUrlQuery", || {
            "the code of a hybrid response came in the query".to_owned()
        })?;
    }
    Ok(())
}

/// Fails unless the PAR endpoint accepted the request: for modules whose suite class does not
/// allow a refusal there.
pub(super) fn landed(sent: Sent) -> Result<Landing, Failure> {
    match sent {
        Sent::Landed(l) => Ok(l),
        Sent::ParRefused(reply) => Err(fail(
            "CheckPAREndpointResponse201WithNoError",
            format!("PAR answered {}: {}", reply.status, snippet(&reply.body)),
        )),
    }
}

pub(super) fn has_error(landing: &Landing) -> bool {
    matches!(landing, Landing::Callback { params, .. } if params.contains_key("error"))
}

/// `openid_connect` variants (FAPI 1 always is).
pub(super) fn openid(v: &crate::plan::Variant) -> bool {
    v.openid
}

pub(super) async fn with_64_char_nonce(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    let nonce = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    r.set("nonce", json!(nonce));
    let landing = match send_request(env, &env.tpp1, &r, true).await? {
        Sent::ParRefused(reply) => {
            return par_error(&reply, &["invalid_request"], "EnsurePARInvalidRequestError");
        }
        Sent::Landed(Landing::ErrorPage { .. }) => return Ok(Outcome::Passed),
        Sent::Landed(l) => l,
    };
    if let Landing::Callback {
        params, fragment, ..
    } = &landing
        && params.contains_key("error")
    {
        return long_nonce_refused(env, r.inner.get("state"), params, *fragment);
    }
    // Accepted: the nonce must come back whole in the id tokens.
    complete(env, &env.tpp1, &r.inner, landing).await?;
    Ok(Outcome::Passed)
}

/// A 64-character nonce refused at the client: a proper error response, where `invalid_request`
/// passes and another error is a warning (refusing so long a nonce is allowed).
fn long_nonce_refused(
    env: &Env,
    state: Option<&Value>,
    params: &Map<String, Value>,
    fragment: bool,
) -> ModuleResult {
    error_response(env, state, params, fragment, false)?;
    let error = params
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(if error == "invalid_request" {
        Outcome::Passed
    } else {
        Outcome::Warning(format!(
            "EnsureInvalidRequestError: a 64-character nonce refused with {error}"
        ))
    })
}

pub(super) async fn response_mode_query(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.set("response_mode", json!("query"));
    let landing = match send_request(env, &env.tpp1, &r, true).await? {
        Sent::ParRefused(reply) => {
            return par_error(
                &reply,
                &["invalid_request", "invalid_request_object"],
                "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            );
        }
        Sent::Landed(l) => l,
    };
    response_mode_query_verdict(r.inner.get("state"), &landing)
}

/// Where a request with `response_mode=query` landed: an error page; an `invalid_request` error
/// (in the query or the fragment) with the `state`; or a successful response in the fragment,
/// never a code in the query.
fn response_mode_query_verdict(state: Option<&Value>, landing: &Landing) -> ModuleResult {
    let Landing::Callback {
        params, fragment, ..
    } = landing
    else {
        return Ok(Outcome::Passed);
    };
    let fragment = *fragment;
    ensure(
        fragment || !params.contains_key("code"),
        "RejectAuthCodeInUrlQuery",
        || "the authorization code came in the query".to_owned(),
    )?;
    if let Some(error) = params.get("error").and_then(Value::as_str) {
        // The server chose where to send the error: query and fragment are both allowed here.
        ensure(
            params.get("state") == state,
            "CheckStateInAuthorizationResponse",
            || format!("state {:?}", params.get("state")),
        )?;
        ensure(
            error == "invalid_request",
            "EnsureInvalidRequestError",
            || format!("error {error}, expected invalid_request"),
        )?;
        return Ok(Outcome::Passed);
    }
    ensure(
        fragment && params.contains_key("id_token"),
        "CheckAuthorizationResponseWhenResponseModeQuery",
        || "a successful response in the url query".to_owned(),
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn different_nonce_outside(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    let other: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(10)
        .collect();
    r.outer.insert("nonce".to_owned(), json!(other));
    let landing = landed(send_request(env, &env.tpp1, &r, true).await?)?;
    if has_error(&landing) {
        let refusal = Refusal {
            par: &[],
            par_condition: "CheckPAREndpointResponse201WithNoError",
            callback: &["invalid_request"],
            callback_condition: "EnsureInvalidRequestError",
            plain_error_for_jarm: false,
        };
        return expect_refused(env, &r, Sent::Landed(landing), &refusal);
    }
    if matches!(landing, Landing::ErrorPage { .. }) {
        return Ok(Outcome::Passed);
    }
    // Accepted: the id tokens must carry the nonce of the request object.
    complete(env, &env.tpp1, &r.inner, landing).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn state_only_outside(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.inner.remove("state");
    let landing = landed(send_request(env, &env.tpp1, &r, true).await?)?;
    match state_only_outside_verdict(r.outer.get("state"), &landing)? {
        // check_callback also refuses an s_hash without a state in the request.
        None => complete(env, &env.tpp1, &r.inner, landing)
            .await
            .map(|_| Outcome::Passed),
        Some(outcome) => Ok(outcome),
    }
}

/// Where a request whose state was only outside the request object landed: an error page or an
/// error (with no state but the outer one) ends the module; a successful response must carry no
/// state, and is then to be completed (`None`).
fn state_only_outside_verdict(
    outer_state: Option<&Value>,
    landing: &Landing,
) -> Result<Option<Outcome>, Failure> {
    let Landing::Callback { params, .. } = landing else {
        return Ok(Some(Outcome::Passed));
    };
    let Some(error) = params.get("error") else {
        ensure(
            !params.contains_key("state"),
            "VerifyNoStateInAuthorizationResponse",
            || "the state sent only outside the request object came back".to_owned(),
        )?;
        return Ok(None);
    };
    let error = error.as_str().unwrap_or_default();
    // A state in the error response can only be the one sent outside.
    if params.contains_key("state") {
        ensure(
            params.get("state") == outer_state,
            "CheckStateInAuthorizationResponse",
            || format!("state {:?}", params.get("state")),
        )?;
    }
    ensure(
        [
            "invalid_request",
            "invalid_request_object",
            "invalid_request_uri",
            "access_denied",
        ]
        .contains(&error),
        "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
        || format!("error {error}"),
    )?;
    Ok(Some(Outcome::Passed))
}

pub(super) async fn redirect_uri_in_authorization_request(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.outer.remove("redirect_uri");
    r.inner.remove("redirect_uri");
    match send_request(env, &env.tpp1, &r, true).await? {
        Sent::ParRefused(reply) => par_error(
            &reply,
            &["invalid_request", "invalid_request_object"],
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
        ),
        Sent::Landed(Landing::ErrorPage { .. }) => Ok(Outcome::Passed),
        // Permitted with one registered redirect URI: the server used it.
        Sent::Landed(l) => {
            complete(env, &env.tpp1, &r.inner, l).await?;
            Ok(Outcome::Passed)
        }
    }
}

/// Sends `r` and expects the refusal of a request object the server cannot use.
async fn refused(env: &Env, r: &Request, refusal: &Refusal) -> ModuleResult {
    let sent = send_request(env, &env.tpp1, r, true).await?;
    expect_refused(env, r, sent, refusal)
}

pub(super) async fn request_object_without_scope(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.inner.remove("scope");
    refused(
        env,
        &r,
        &Refusal {
            par: &["invalid_request", "invalid_request_object"],
            par_condition: "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            callback: &[
                "invalid_request",
                "invalid_request_object",
                "invalid_request_uri",
                "access_denied",
            ],
            callback_condition:
                "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
            plain_error_for_jarm: false,
        },
    )
    .await
}

pub(super) async fn request_object_without_nonce(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.inner.remove("nonce");
    refused(
        env,
        &r,
        &Refusal {
            par: &["invalid_request", "invalid_request_object"],
            par_condition: "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            callback: &[
                "invalid_request",
                "invalid_request_object",
                "invalid_request_uri",
            ],
            callback_condition: "EnsureInvalidRequestInvalidRequestObjectOrInvalidRequestUriError",
            plain_error_for_jarm: false,
        },
    )
    .await
}

pub(super) async fn request_object_without_redirect_uri(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.inner.remove("redirect_uri");
    refused(
        env,
        &r,
        &Refusal {
            par: &["invalid_request", "invalid_request_object"],
            par_condition: "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            callback: &["invalid_request", "invalid_request_object"],
            callback_condition: "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObject",
            plain_error_for_jarm: false,
        },
    )
    .await
}

/// The refusal of a request object that cannot be used: `invalid_request_object` from PAR or
/// by value, `invalid_request_uri` at the authorization endpoint after PAR.
fn unusable_request_object(env: &Env, plain_error_for_jarm: bool) -> Refusal {
    let (callback, callback_condition): (&'static [&'static str], _) = if env.variant.pushed() {
        (&["invalid_request_uri"], "EnsureInvalidRequestUriError")
    } else {
        (
            &["invalid_request_object"],
            "EnsureInvalidRequestObjectError",
        )
    };
    Refusal {
        par: &["invalid_request_object"],
        par_condition: "EnsurePARInvalidRequestObjectError",
        callback,
        callback_condition,
        plain_error_for_jarm,
    }
}

pub(super) async fn request_object_nbf_over_60(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    let nbf = now() - 70 * 60;
    r.jwt = Some(adjusted_request_object(env, &env.tpp1, &r.inner, |c| {
        c.insert("nbf".to_owned(), json!(nbf));
    }));
    refused(env, &r, &unusable_request_object(env, false)).await
}

pub(super) async fn request_object_alg_none(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    let claims = request_object_claims(env, &env.tpp1, &r.inner, |_| {});
    let header = json!({"alg": "none"}).to_string();
    let payload = Value::Object(claims).to_string();
    r.jwt = Some(format!(
        "{}.{}.",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    ));
    // The suite sends the state outside as well, for the error response.
    r.expose = &["state"];
    let mut refusal = unusable_request_object(env, env.variant.pushed());
    // Whatever the request method, the suite expects invalid_request_object at the client.
    refusal.callback = &["invalid_request_object"];
    refusal.callback_condition = "EnsureInvalidRequestObjectError";
    refused(env, &r, &refusal).await
}

pub(super) async fn request_object_invalid_signature(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    let jwt = adjusted_request_object(env, &env.tpp1, &r.inner, |_| {});
    r.jwt = Some(invalidate_signature(&jwt).ok_or_else(|| {
        fail(
            "InvalidateRequestObjectSignature",
            "the request object is not a JWS",
        )
    })?);
    let mut refusal = unusable_request_object(env, env.variant.pushed());
    refusal.callback = &["invalid_request_object"];
    refusal.callback_condition = "EnsureInvalidRequestObjectError";
    refused(env, &r, &refusal).await
}

/// `jws` with every byte of its signature flipped (`AbstractInvalidateJwsSignature`).
fn invalidate_signature(jws: &str) -> Option<String> {
    use base64::Engine as _;
    let (signing_input, signature) = jws.rsplit_once('.')?;
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .ok()?;
    for b in &mut bytes {
        *b ^= 0x5A;
    }
    Some(format!("{signing_input}.{}", b64url(&bytes)))
}

/// The token endpoint's refusal of a client that did not authenticate properly: JSON, 400 (401
/// allowed for `invalid_client`), `invalid_client` or `invalid_request`.
pub(super) fn client_refused(reply: &Reply, condition: &'static str) -> ModuleResult {
    ensure(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "CheckTokenEndpointReturnedJsonContentType",
        || format!("content type {:?}", reply.header("content-type")),
    )?;
    let error = reply.error().unwrap_or_default();
    let status_ok = reply.status == 400 || (reply.status == 401 && error == "invalid_client");
    ensure(
        status_ok,
        "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        || format!("status {} for error {error:?}", reply.status),
    )?;
    ensure(
        error == "invalid_client" || error == "invalid_request",
        condition,
        || format!("error {error:?}, expected invalid_client or invalid_request"),
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn client_assertion_in_token_endpoint(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let auth = vec![("client_id".to_owned(), env.tpp1.client_id.clone())];
    let reply = env
        .token_authenticated(
            &env.tpp1,
            auth,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &env.tpp1.redirect_uri),
                ("code_verifier", VERIFIER),
            ],
            true,
        )
        .await?;
    client_refused(
        &reply,
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
    )
}

pub(super) async fn client_assertion_wrong_sub(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let assertion = env.assertion(&env.tpp1, json!(env.issuer), super::checks::wrong_sub);
    let reply = env
        .token_authenticated(
            &env.tpp1,
            assertion_auth(&env.tpp1, assertion),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &env.tpp1.redirect_uri),
                ("code_verifier", VERIFIER),
            ],
            true,
        )
        .await?;
    client_refused(
        &reply,
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
    )
}

/// Client authentication parameters carrying `assertion`.
pub(super) fn assertion_auth(tpp: &Tpp, assertion: String) -> Vec<(String, String)> {
    vec![
        ("client_id".to_owned(), tpp.client_id.clone()),
        (
            "client_assertion_type".to_owned(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion".to_owned(), assertion),
    ]
}

/// A request to the protected resource over `client` with `token` under the scheme `token_type`
/// (with a DPoP proof by `key` for a DPoP token: the run's key, or another for a test), plus
/// `headers`; with `in_query`, the token goes only in the query (`DisallowAccessTokenInQuery`).
/// The resource is the UK OB `accounts` in that profile, else the UserInfo endpoint on the mTLS
/// listener.
pub(super) async fn call_resource(
    env: &Env,
    client: &reqwest::Client,
    (token, token_type): (&str, &str),
    headers: &[(&str, String)],
    in_query: bool,
    key: &josekit::jwk::Jwk,
) -> Result<Reply, Failure> {
    let url = super::obuk::resource_url(env)?;
    let mut req = if in_query {
        let mut with_token = url::Url::parse(&url)
            .map_err(|e| fail("GetResourceEndpointConfiguration", e.to_string()))?;
        with_token
            .query_pairs_mut()
            .append_pair("access_token", token);
        client.get(with_token.as_str())
    } else {
        let mut req = client
            .get(&url)
            .header("Authorization", format!("{token_type} {token}"));
        if token_type.eq_ignore_ascii_case("dpop") {
            req = req.header("DPoP", env.dpop_proof(key, "GET", &url, Some(token)));
        }
        req
    };
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    env.send(req, None).await.map_err(transport)
}

/// A successful resource response: 200 or 201, a `Date` within 5 minutes, JSON.
pub(super) fn resource_ok(reply: &Reply) -> Check {
    ensure(
        reply.status == 200 || reply.status == 201,
        "EnsureHttpStatusCodeIs200or201",
        || format!("status {}: {}", reply.status, snippet(&reply.body)),
    )?;
    let date = reply.header("date").unwrap_or_default();
    ensure(
        parse_http_date(date).is_some_and(|d| (d - now()).abs() <= 300),
        "CheckForDateHeaderInResourceResponse",
        || format!("Date {date:?}"),
    )?;
    ensure(
        reply
            .header("content-type")
            .and_then(|c| c.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")),
        "EnsureResourceResponseReturnedJsonContentType",
        || format!("content type {:?}", reply.header("content-type")),
    )
}

pub(super) fn access_token(body: &Value) -> Result<(String, String), Failure> {
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| fail("ExtractAccessTokenFromTokenResponse", "no access_token"))?;
    let token_type = body["token_type"].as_str().unwrap_or("Bearer");
    Ok((token.to_owned(), token_type.to_owned()))
}

/// The resource checks of the happy path (the suite's `requestProtectedResource` and
/// `verifyAccessTokenWithResourceEndpoint`), with the token responses of client 1 (`first`) and
/// client 2 (`second`): in the UK OB profile first the TLS of the account-request and accounts
/// endpoints; each token works with its own certificate or DPoP key and the FAPI headers (the
/// interaction id echoed, in the UK OB profile); client 1's is refused in the query and accepted
/// with an IPv6 customer address and other `Accept` values; client 2's is refused over client
/// 1's certificate or with another DPoP key.
pub(super) async fn happy_path_resource_checks(env: &Env, first: &Value, second: &Value) -> Check {
    let (token1, type1) = access_token(first)?;
    let (token2, type2) = access_token(second)?;
    let obuk = env.variant.profile == crate::plan::Profile::OpenBankingUk;
    if obuk {
        for url in super::obuk::resource_endpoints(env)? {
            super::tls::fapi_tls_at(env, &url).await?;
        }
    }
    let key = env.dpop_key();
    let interaction = uuid::Uuid::new_v4().to_string();
    let mut headers = vec![
        ("x-fapi-auth-date", http_date(now())),
        ("x-fapi-customer-ip-address", "198.51.100.119".to_owned()),
        ("x-fapi-interaction-id", interaction.clone()),
    ];
    let reply = call_resource(
        env,
        &env.tpp1.mtls,
        (&token1, &type1),
        &headers,
        false,
        &key,
    )
    .await?;
    resource_ok(&reply)?;
    if obuk {
        super::obuk::interaction_id_checks(&reply, Some(&interaction))?;
    }

    token_in_query_refused(
        &call_resource(env, &env.tpp1.mtls, (&token1, &type1), &headers, true, &key).await?,
    )?;

    headers.retain(|(n, _)| *n != "x-fapi-customer-ip-address");
    headers.push(("x-fapi-customer-ip-address", "2001:db8::1:0".to_owned()));
    let mut utf8 = headers.clone();
    utf8.push(("Accept", "application/json;charset=UTF-8".to_owned()));
    utf8.push(("Accept-Charset", "UTF-8".to_owned()));
    resource_ok(&call_resource(env, &env.tpp1.mtls, (&token1, &type1), &utf8, false, &key).await?)?;
    let mut permissive = headers.clone();
    permissive.push((
        "Accept",
        "application/json, application/*+json, */*".to_owned(),
    ));
    resource_ok(
        &call_resource(
            env,
            &env.tpp1.mtls,
            (&token1, &type1),
            &permissive,
            false,
            &key,
        )
        .await?,
    )?;

    let second_headers = [("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())];
    let reply = call_resource(
        env,
        &env.tpp2.mtls,
        (&token2, &type2),
        &second_headers,
        false,
        &key,
    )
    .await?;
    resource_ok(&reply)?;
    if obuk {
        super::obuk::interaction_id_checks(&reply, None)?;
    }
    // Client 1's certificate, or client 1's DPoP key: another key than the token's.
    let other_key =
        josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .map_err(transport)?
            .to_jwk_key_pair();
    crossed_token_refused(
        &call_resource(
            env,
            &env.tpp1.mtls,
            (&token2, &type2),
            &second_headers,
            false,
            &other_key,
        )
        .await?,
    )
}

/// The resource's answer to an access token sent only in the query: 400, 401 or 414.
fn token_in_query_refused(reply: &Reply) -> Check {
    ensure(
        [400, 401, 414].contains(&reply.status),
        "DisallowAccessTokenInQuery",
        || {
            format!(
                "a token in the query got {}: {}",
                reply.status,
                snippet(&reply.body)
            )
        },
    )
}

/// The resource's answer to client 2's token presented over client 1's certificate: 4xx.
fn crossed_token_refused(reply: &Reply) -> Check {
    ensure(
        (400..500).contains(&reply.status),
        "EnsureHttpStatusCodeIs4xx",
        || {
            format!(
                "client 2's token over client 1's certificate got {}",
                reply.status
            )
        },
    )
}

/// access-token-type-header-case-sensitivity: the token type with its case inverted is accepted
/// by the protected resource. In the UK OB profile that is `accounts`, for OpenID and plain OAuth
/// tokens alike; otherwise the UserInfo endpoint, which only an OpenID token may call: with
/// `plain_oauth` and `plain_fapi` no resource of Consentry takes the token (the account APIs
/// need a consent, which only the UK OB profile binds), so the module is skipped there.
pub(super) async fn access_token_type_case(env: &Env) -> ModuleResult {
    if !env.variant.openid && env.variant.profile == crate::plan::Profile::PlainFapi {
        return Ok(Outcome::Skipped(
            "plain_fapi with plain_oauth: the UserInfo endpoint needs an openid token and the \
             account APIs a UK OB consent; the module runs with fapi_profile=openbanking_uk"
                .to_owned(),
        ));
    }
    let body = full_flow(env, &env.tpp1, &env.auth_params(&env.tpp1).await?).await?;
    let (token, token_type) = access_token(&body)?;
    let inverted: String = token_type
        .chars()
        .map(|c| {
            if c.is_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let headers = [("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())];
    let key = env.dpop_key();
    resource_ok(
        &call_resource(
            env,
            &env.tpp1.mtls,
            (&token, &inverted),
            &headers,
            false,
            &key,
        )
        .await?,
    )?;
    Ok(Outcome::Passed)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
pub(super) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `t` as an HTTP date (RFC 9110 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
pub(super) fn http_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = usize::try_from(days.rem_euclid(7))
        .ok()
        .and_then(|i| WEEKDAYS.get(i))
        .copied()
        .unwrap_or_default();
    let month = usize::try_from(month - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or_default();
    format!(
        "{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An IMF-fixdate as seconds since the epoch.
pub(super) fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = i64::try_from(MONTHS.iter().position(|m| m == month)? + 1).ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    Some(
        days_from_civil(year.parse().ok()?, month, day.parse().ok()?) * 86_400
            + h * 3600
            + m * 60
            + sec,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use serde_json::{Value, json};

    use super::{
        Outcome, Request, Sent, access_token, client_refused, code_in_fragment,
        crossed_token_refused, expect_refused, http_date, invalidate_signature, landed,
        long_nonce_refused, par_error, parse_http_date, resource_ok, response_mode_query_verdict,
        state_only_outside_verdict, token_in_query_refused, unusable_request_object,
    };
    use crate::env::now;
    use crate::modules::testkit::{
        FAPI1, FAPI1_JARM, JSON, callback, condition, error_page, fixture, map, oauth_error, reply,
        reply_text, token_issued,
    };

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        for t in [0, 784_111_777, 951_782_400, 1_700_000_000, 4_102_444_799] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{t}");
        }
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    /// Two blocks of the registry grow side by side: a module name must not come twice.
    #[test]
    fn module_names_are_unique_in_every_variant() {
        let mut variants = Vec::new();
        for auth in ["private_key_jwt", "mtls"] {
            for mode in ["plain_response", "jarm"] {
                for method in ["by_value", "pushed"] {
                    variants.push(format!("fapi1-advanced-final[client_auth_type={auth}][fapi_response_mode={mode}][fapi_auth_request_method={method}]"));
                }
            }
            for plan in [
                "fapi2-security-profile-final",
                "fapi2-message-signing-final",
            ] {
                for sc in ["mtls", "dpop"] {
                    for oid in ["openid_connect", "plain_oauth"] {
                        variants.push(format!(
                            "{plan}[client_auth_type={auth}][sender_constrain={sc}][openid={oid}]"
                        ));
                    }
                }
            }
        }
        for v in variants {
            let v = crate::plan::Variant::parse(&v).unwrap();
            let mut names: Vec<String> = crate::modules::selected(&v)
                .iter()
                .map(|m| m.name(&v))
                .collect();
            let count = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), count, "a module name comes twice in {v}");
        }
    }

    #[test]
    fn an_invalidated_signature_differs_in_every_byte() {
        let jws = "aGVhZGVy.cGF5bG9hZA.AAEC";
        let bad = invalidate_signature(jws).unwrap();
        assert!(bad.starts_with("aGVhZGVy.cGF5bG9hZA."));
        assert_eq!(bad, "aGVhZGVy.cGF5bG9hZA.WltY");
        assert_eq!(invalidate_signature(&bad).unwrap(), jws);
    }

    #[test]
    fn par_errors_need_400_and_a_listed_error() {
        let errors = ["invalid_request", "invalid_request_object"];
        for error in errors {
            assert!(matches!(
                par_error(&oauth_error(400, error), &errors, "C"),
                Ok(Outcome::Passed)
            ));
        }
        for bad in [
            oauth_error(401, "invalid_request"),
            oauth_error(400, "invalid_client"),
            oauth_error(500, "server_error"),
            reply_text(
                400,
                &[("content-type", "text/html")],
                "<h1>Bad request</h1>",
            ),
        ] {
            assert_eq!(condition(par_error(&bad, &errors, "C")), "C");
        }
    }

    /// Client 1's request with the state `s1` inside and outside.
    fn request() -> Request {
        let params = map(json!({"state": "s1", "nonce": "n1", "response_type": "code id_token"}));
        Request {
            outer: params.clone(),
            inner: params,
            jwt: None,
            expose: &[],
        }
    }

    #[test]
    fn unusable_request_objects_end_in_a_proper_refusal() {
        let f = fixture(FAPI1);
        let r = request();
        let refusal = unusable_request_object(&f.env, false);
        let judged = |sent: Sent| expect_refused(&f.env, &r, sent, &refusal);
        let refused = json!({"error": "invalid_request_object", "state": "s1"});
        assert!(matches!(
            judged(Sent::Landed(callback(refused.clone(), true))),
            Ok(Outcome::Passed)
        ));
        assert!(matches!(
            judged(Sent::Landed(error_page())),
            Ok(Outcome::Passed)
        ));
        assert!(matches!(
            judged(Sent::ParRefused(oauth_error(400, "invalid_request_object"))),
            Ok(Outcome::Passed)
        ));
        assert_eq!(
            condition(judged(Sent::ParRefused(oauth_error(
                400,
                "invalid_request"
            )))),
            "EnsurePARInvalidRequestObjectError"
        );
        // A server that skipped the check: the request went through.
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"code": "c", "id_token": "x", "state": "s1"}),
                true
            )))),
            "EnsureErrorFromAuthorizationEndpointResponse"
        );
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"error": "invalid_request_object"}),
                true
            )))),
            "CheckStateInAuthorizationResponse"
        );
        assert_eq!(
            condition(judged(Sent::Landed(callback(refused, false)))),
            "RejectErrorInUrlQuery"
        );
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"error": "invalid_request", "state": "s1"}),
                true
            )))),
            "EnsureInvalidRequestObjectError"
        );
    }

    #[test]
    fn a_jarm_variant_wants_its_errors_as_jarm() {
        let f = fixture(FAPI1_JARM);
        let r = request();
        // Pushed: the request_uri is what the authorization endpoint refuses.
        let refusal = unusable_request_object(&f.env, false);
        let judged =
            |got: Value| expect_refused(&f.env, &r, Sent::Landed(callback(got, false)), &refusal);
        assert!(matches!(
            judged(json!({"error": "invalid_request_uri", "state": "s1", "jarm_aud": "c1"})),
            Ok(Outcome::Passed)
        ));
        assert_eq!(
            condition(judged(
                json!({"error": "invalid_request_uri", "state": "s1"})
            )),
            "ExtractJARMFromURLQuery"
        );
        let plain_allowed = unusable_request_object(&f.env, true);
        assert!(
            expect_refused(
                &f.env,
                &r,
                Sent::Landed(callback(
                    json!({"error": "invalid_request_uri", "state": "s1"}),
                    false
                )),
                &plain_allowed
            )
            .is_ok()
        );
    }

    #[test]
    fn hybrid_codes_come_in_the_fragment() {
        let f = fixture(FAPI1);
        assert!(code_in_fragment(&f.env, true).is_ok());
        assert_eq!(
            condition(code_in_fragment(&f.env, false)),
            "RejectAuthCodeInUrlQuery"
        );
        let jarm = fixture(FAPI1_JARM);
        assert!(code_in_fragment(&jarm.env, false).is_ok());
    }

    #[test]
    fn a_refusal_at_par_fails_modules_that_need_the_request_pushed() {
        assert!(landed(Sent::Landed(error_page())).is_ok());
        assert_eq!(
            condition(landed(Sent::ParRefused(oauth_error(
                400,
                "invalid_request"
            )))),
            "CheckPAREndpointResponse201WithNoError"
        );
    }

    #[test]
    fn a_64_character_nonce_may_be_refused_with_invalid_request() {
        let f = fixture(FAPI1);
        let state = json!("s1");
        let judged =
            |got: Value, fragment| long_nonce_refused(&f.env, Some(&state), &map(got), fragment);
        assert!(matches!(
            judged(json!({"error": "invalid_request", "state": "s1"}), true),
            Ok(Outcome::Passed)
        ));
        assert!(matches!(
            judged(json!({"error": "server_error", "state": "s1"}), true),
            Ok(Outcome::Warning(w)) if w.starts_with("EnsureInvalidRequestError")
        ));
        assert_eq!(
            condition(judged(
                json!({"error": "invalid_request", "state": "s2"}),
                true
            )),
            "CheckStateInAuthorizationResponse"
        );
        assert_eq!(
            condition(judged(
                json!({"error": "invalid_request", "state": "s1"}),
                false
            )),
            "RejectErrorInUrlQuery"
        );
    }

    #[test]
    fn response_mode_query_never_puts_a_code_in_the_query() {
        let state = json!("s1");
        let judged = |landing| response_mode_query_verdict(Some(&state), &landing);
        assert!(matches!(judged(error_page()), Ok(Outcome::Passed)));
        assert!(matches!(
            judged(callback(
                json!({"code": "c", "id_token": "x", "state": "s1"}),
                true
            )),
            Ok(Outcome::Passed)
        ));
        assert!(matches!(
            judged(callback(
                json!({"error": "invalid_request", "state": "s1"}),
                false
            )),
            Ok(Outcome::Passed)
        ));
        // A server that honoured response_mode=query for a hybrid response.
        assert_eq!(
            condition(judged(callback(
                json!({"code": "c", "id_token": "x", "state": "s1"}),
                false
            ))),
            "RejectAuthCodeInUrlQuery"
        );
        assert_eq!(
            condition(judged(callback(
                json!({"error": "access_denied", "state": "s1"}),
                true
            ))),
            "EnsureInvalidRequestError"
        );
        assert_eq!(
            condition(judged(callback(json!({"error": "invalid_request"}), true))),
            "CheckStateInAuthorizationResponse"
        );
        assert_eq!(
            condition(judged(callback(
                json!({"id_token": "x", "state": "s1"}),
                false
            ))),
            "CheckAuthorizationResponseWhenResponseModeQuery"
        );
    }

    #[test]
    fn a_state_only_outside_the_request_object_is_not_used() {
        let outer = json!("outer");
        let judged = |landing| state_only_outside_verdict(Some(&outer), &landing);
        assert!(matches!(judged(error_page()), Ok(Some(Outcome::Passed))));
        assert!(matches!(
            judged(callback(
                json!({"error": "invalid_request", "state": "outer"}),
                true
            )),
            Ok(Some(Outcome::Passed))
        ));
        assert!(matches!(
            judged(callback(json!({"error": "access_denied"}), true)),
            Ok(Some(Outcome::Passed))
        ));
        // Accepted without a state: the module completes the flow.
        assert!(matches!(
            judged(callback(json!({"code": "c", "id_token": "x"}), true)),
            Ok(None)
        ));
        // A server that used the state from outside the request object.
        assert_eq!(
            condition(judged(callback(
                json!({"code": "c", "state": "outer"}),
                true
            ))),
            "VerifyNoStateInAuthorizationResponse"
        );
        assert_eq!(
            condition(judged(callback(
                json!({"error": "invalid_request", "state": "other"}),
                true
            ))),
            "CheckStateInAuthorizationResponse"
        );
        assert_eq!(
            condition(judged(callback(json!({"error": "server_error"}), true))),
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError"
        );
    }

    #[test]
    fn token_endpoint_refusals_of_client_authentication() {
        let c = "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest";
        for (status, error) in [
            (400, "invalid_client"),
            (401, "invalid_client"),
            (400, "invalid_request"),
        ] {
            assert!(client_refused(&oauth_error(status, error), c).is_ok());
        }
        let html = reply_text(
            400,
            &[("content-type", "text/html")],
            "<h1>invalid_client</h1>",
        );
        assert_eq!(
            condition(client_refused(&html, c)),
            "CheckTokenEndpointReturnedJsonContentType"
        );
        for bad in [token_issued(), oauth_error(401, "invalid_request")] {
            assert_eq!(
                condition(client_refused(&bad, c)),
                "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError"
            );
        }
        assert_eq!(
            condition(client_refused(&oauth_error(400, "invalid_grant"), c)),
            c
        );
    }

    #[test]
    fn resource_responses_are_200_json_and_dated() {
        let now = http_date(now());
        let stale = http_date(super::now() - 600);
        assert!(resource_ok(&reply(200, &[JSON, ("date", &now)], json!({"sub": "u1"}))).is_ok());
        assert!(
            resource_ok(&reply(
                201,
                &[
                    ("content-type", "application/json; charset=utf-8"),
                    ("date", &now)
                ],
                json!({})
            ))
            .is_ok()
        );
        let bad = [
            (
                reply(
                    401,
                    &[JSON, ("date", &now)],
                    json!({"error": "invalid_token"}),
                ),
                "EnsureHttpStatusCodeIs200or201",
            ),
            (
                reply(200, &[JSON], json!({"sub": "u1"})),
                "CheckForDateHeaderInResourceResponse",
            ),
            (
                reply(200, &[JSON, ("date", &stale)], json!({"sub": "u1"})),
                "CheckForDateHeaderInResourceResponse",
            ),
            (
                reply_text(
                    200,
                    &[("content-type", "text/html"), ("date", &now)],
                    "<p>u1</p>",
                ),
                "EnsureResourceResponseReturnedJsonContentType",
            ),
        ];
        for (recorded, expected) in bad {
            assert_eq!(condition(resource_ok(&recorded)), expected);
        }
    }

    #[test]
    fn access_tokens_in_the_query_or_over_another_certificate_are_refused() {
        for status in [400, 401, 414] {
            assert!(token_in_query_refused(&oauth_error(status, "invalid_request")).is_ok());
        }
        let claims = reply(200, &[JSON], json!({"sub": "u1"}));
        assert_eq!(
            condition(token_in_query_refused(&claims)),
            "DisallowAccessTokenInQuery"
        );
        assert_eq!(
            condition(token_in_query_refused(&oauth_error(
                403,
                "insufficient_scope"
            ))),
            "DisallowAccessTokenInQuery"
        );
        assert!(crossed_token_refused(&oauth_error(401, "invalid_token")).is_ok());
        assert_eq!(
            condition(crossed_token_refused(&claims)),
            "EnsureHttpStatusCodeIs4xx"
        );
    }

    #[test]
    fn token_responses_carry_an_access_token() {
        assert_eq!(
            access_token(&json!({"access_token": "at"})).unwrap(),
            ("at".to_owned(), "Bearer".to_owned())
        );
        assert_eq!(
            access_token(&json!({"access_token": "at", "token_type": "DPoP"}))
                .unwrap()
                .1,
            "DPoP"
        );
        assert_eq!(
            condition(access_token(&json!({"token_type": "Bearer"}))),
            "ExtractAccessTokenFromTokenResponse"
        );
    }
}
