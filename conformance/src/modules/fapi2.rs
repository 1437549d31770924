//! FAPI 2.0 Security Profile and Message Signing modules beyond the happy path: requests without
//! or with a 64-character nonce, a state outside the pushed request, an unregistered redirect
//! URI, `response_type=token`, an expired code, client assertions at the PAR endpoint (its URL as
//! `aud`, `iat`/`nbf` ahead of time), a request object valid from 8 seconds ahead and unsigned
//! parameters where the plan wants them signed. Shared helpers for pushed flows live here too.

use serde_json::{Map, Value, json};

use super::Outcome;
use super::flows::{check_callback, check_token_response, redeem};
use super::par::request_uri_of;
use crate::env::{
    Check, Env, Failure, Landing, Reply, Tpp, VERIFIER, ensure, fail, form_log, now, snippet,
    transport,
};

type ModuleResult = Result<Outcome, Failure>;

/// What a PAR request carries besides client authentication.
pub(super) enum Body {
    /// A request object when the variant signs requests, else the parameters themselves.
    AsVariant,
    /// The parameters as form fields, whatever the variant.
    Plain,
}

/// The PAR form: `auth` (client authentication), then the request as `body` says.
pub(super) fn par_form(
    env: &Env,
    tpp: &Tpp,
    params: &Map<String, Value>,
    auth: Vec<(String, String)>,
    body: Body,
) -> Vec<(String, String)> {
    let mut form = auth;
    let request = match body {
        Body::AsVariant if env.variant.signed_requests() => Some(env.request_object(tpp, params)),
        Body::AsVariant | Body::Plain => None,
    };
    match request {
        Some(jwt) => form.push(("request".to_owned(), jwt)),
        None => {
            for (k, v) in params {
                if k != "client_id" {
                    form.push((
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    ));
                }
            }
        }
    }
    form
}

/// The DPoP proof the harness sends to `url` by default: one by the run's key in DPoP variants.
pub(super) fn default_dpop(env: &Env, url: &str) -> Option<String> {
    env.variant
        .dpop()
        .then(|| env.dpop_proof(&env.dpop_key(), "POST", url, None))
}

/// Posts `form` to the PAR endpoint over `tpp`'s TLS client, with `dpop` as its DPoP header.
pub(super) async fn post_par(
    env: &Env,
    tpp: &Tpp,
    form: &[(String, String)],
    dpop: Option<String>,
) -> Result<Reply, Failure> {
    let url = env.endpoint("pushed_authorization_request_endpoint");
    let mut req = tpp.mtls.post(&url).form(form);
    if let Some(proof) = dpop {
        req = req.header("DPoP", proof);
    }
    env.send(req, Some(form_log(form))).await.map_err(transport)
}

/// The authorization URL for a pushed request: `client_id`, `request_uri` and `extra`.
pub(super) fn pushed_url(
    env: &Env,
    tpp: &Tpp,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> Result<String, Failure> {
    let endpoint = env.discovery["authorization_endpoint"]
        .as_str()
        .unwrap_or_default();
    let mut url = url::Url::parse(endpoint).map_err(|e| {
        fail(
            "CheckDiscoveryEndpoint",
            format!("authorization_endpoint: {e}"),
        )
    })?;
    url.query_pairs_mut()
        .append_pair("client_id", &tpp.client_id)
        .append_pair("request_uri", request_uri);
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    Ok(url.to_string())
}

/// Browses `url` to the client and returns the code of a successful response to `sent`.
pub(super) async fn code_from(
    env: &Env,
    tpp: &Tpp,
    sent: &Map<String, Value>,
    url: &str,
) -> Result<String, Failure> {
    match env.browse(url, true).await? {
        Landing::Callback { params, .. } => check_callback(env, tpp, sent, &params),
        Landing::ErrorPage { status, body } => Err(fail(
            "CallAuthorizationEndpoint",
            format!("error page {status}: {}", snippet(&body)),
        )),
    }
}

/// Redeems `code` and checks the token response to `sent`; returns its body.
async fn finish(
    env: &Env,
    tpp: &Tpp,
    sent: &Map<String, Value>,
    code: &str,
) -> Result<Value, Failure> {
    let reply = redeem(env, tpp, code, VERIFIER).await?;
    let body = check_token_response(env, tpp, &reply, sent.get("nonce"))?;
    super::obuk::request_protected_resource(env, tpp, &body).await?;
    Ok(body)
}

/// A PAR response of `reply` for the authorization of `sent`, through to the token response.
async fn complete_pushed(
    env: &Env,
    tpp: &Tpp,
    sent: &Map<String, Value>,
    reply: &Reply,
) -> Result<Value, Failure> {
    let url = pushed_url(env, tpp, &request_uri_of(reply)?, &[])?;
    let code = code_from(env, tpp, sent, &url).await?;
    finish(env, tpp, sent, &code).await
}

/// `n` random alphanumeric characters (as the suite makes states and nonces).
fn random_alnum(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out.extend(
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .chars()
                .take(n - out.len()),
        );
    }
    out
}

/// An id token requested without a nonce carries none (OpenID Connect Core 3.1.3.7).
pub(super) fn check_no_nonce(claims: &Map<String, Value>) -> Check {
    ensure(
        !claims.contains_key("nonce"),
        "ValidateIdTokenNonce",
        || {
            format!(
                "no nonce was requested, but the id_token has nonce {}",
                claims["nonce"]
            )
        },
    )
}

/// An error response from the PAR endpoint: `status` one of `statuses` and `error` one of
/// `errors`, else `condition` fails.
pub(super) fn check_endpoint_error(
    reply: &Reply,
    statuses: &[u16],
    errors: &[&str],
    condition: &'static str,
) -> Check {
    ensure(statuses.contains(&reply.status), condition, || {
        format!(
            "status {} ({}), expected one of {statuses:?}",
            reply.status,
            snippet(&reply.body)
        )
    })?;
    let error = reply.error();
    ensure(
        error.as_deref().is_some_and(|e| errors.contains(&e)),
        condition,
        || format!("error {error:?}, expected one of {errors:?}"),
    )
}

/// An error redirect back to the client: `state` echoed (the one in the pushed request) and
/// `error` one of `errors`.
pub(super) fn check_error_callback(
    sent: &Map<String, Value>,
    got: &Map<String, Value>,
    errors: &[&str],
    condition: &'static str,
) -> Check {
    ensure(
        !got.contains_key("code"),
        "RejectAuthCodeInAuthorizationResponse",
        || "the response carries a code".to_owned(),
    )?;
    let error = got.get("error").and_then(Value::as_str);
    ensure(
        error.is_some(),
        "EnsureErrorFromAuthorizationEndpointResponse",
        || format!("no error in the response: {got:?}"),
    )?;
    ensure(
        got.get("state") == sent.get("state"),
        "CheckStateInAuthorizationResponse",
        || {
            format!(
                "state sent {:?}, received {:?}",
                sent.get("state"),
                got.get("state")
            )
        },
    )?;
    ensure(
        error.is_some_and(|e| errors.contains(&e)),
        condition,
        || format!("error {error:?}, expected one of {errors:?}"),
    )
}

pub(super) async fn without_nonce(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.remove("nonce");
    let url = env.authorization_url(&env.tpp1, &p).await?;
    let code = code_from(env, &env.tpp1, &p, &url).await?;
    let body = finish(env, &env.tpp1, &p, &code).await?;
    let id_token = body["id_token"]
        .as_str()
        .ok_or_else(|| fail("ExtractIdTokenFromTokenResponse", "no id_token"))?;
    let claims = env.verify_server_jwt(id_token, "ValidateIdTokenSignature")?;
    check_no_nonce(&claims)?;
    Ok(Outcome::Passed)
}

pub(super) async fn nonce_64_chars(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert("nonce".to_owned(), json!(random_alnum(64)));
    let url = env.authorization_url(&env.tpp1, &p).await?;
    let code = code_from(env, &env.tpp1, &p, &url).await?;
    // The token response's id token must carry the nonce exactly.
    finish(env, &env.tpp1, &p, &code).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn different_state_outside(env: &Env) -> ModuleResult {
    let tpp = &env.tpp1;
    let p = env.auth_params(tpp).await?;
    let reply = env.push(tpp, &p, None, None).await.map_err(transport)?;
    let outer = random_alnum(10);
    let url = pushed_url(env, tpp, &request_uri_of(&reply)?, &[("state", &outer)])?;
    // Three ways are right: an error page, invalid_request with the pushed state, or success
    // with the pushed state.
    match env.browse(&url, true).await? {
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { params, .. } if params.contains_key("error") => {
            check_error_callback(
                &p,
                &params,
                &["invalid_request"],
                "EnsureInvalidRequestError",
            )?;
            Ok(Outcome::Passed)
        }
        Landing::Callback { params, .. } => {
            let code = check_callback(env, tpp, &p, &params)?;
            finish(env, tpp, &p, &code).await?;
            Ok(Outcome::Passed)
        }
    }
}

pub(super) async fn tolerate_unregistered_redirect(env: &Env) -> ModuleResult {
    let tpp = &env.tpp1;
    let base = tpp.redirect_uri.split('?').next().unwrap_or_default();
    let bad = format!("{}/{}", base.trim_end_matches('/'), random_alnum(10));
    let mut p = env.auth_params(tpp).await?;
    p.insert("redirect_uri".to_owned(), json!(bad));
    let reply = env.push(tpp, &p, None, None).await.map_err(transport)?;
    if !(200..300).contains(&reply.status) {
        check_endpoint_error(
            &reply,
            &[400],
            &["invalid_request", "invalid_request_object"],
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
        )?;
        return Ok(Outcome::Passed);
    }
    let url = pushed_url(env, tpp, &request_uri_of(&reply)?, &[])?;
    match env.browse(&url, true).await? {
        // An error page saying the redirect URI is not valid.
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { params, url, .. } => {
            // Allowed (RFC 9126 section 2.4): then to the redirect URI of the request, and the
            // flow completes with it.
            ensure(
                url.starts_with(&bad),
                "CheckCallbackAtRequestedRedirectUri",
                || format!("the server redirected to {url}, not to {bad}"),
            )?;
            let code = check_callback(env, tpp, &p, &params)?;
            let reply = env
                .token(
                    tpp,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", &bad),
                        ("code_verifier", VERIFIER),
                    ],
                    true,
                )
                .await?;
            check_token_response(env, tpp, &reply, p.get("nonce"))?;
            Ok(Outcome::Passed)
        }
    }
}

pub(super) async fn response_type_token(env: &Env) -> ModuleResult {
    let tpp = &env.tpp1;
    let mut p = env.auth_params(tpp).await?;
    p.insert("response_type".to_owned(), json!("token"));
    let reply = env.push(tpp, &p, None, None).await.map_err(transport)?;
    if !(200..300).contains(&reply.status) {
        ensure(
            (400..500).contains(&reply.status),
            "EnsureHttpStatusCodeIs4xx",
            || format!("PAR answered {}", reply.status),
        )?;
        let errors = [
            "unsupported_response_type",
            "invalid_request",
            "unauthorized_client",
        ];
        return Ok(
            match check_endpoint_error(
                &reply,
                &[reply.status],
                &errors,
                "EnsurePARUnsupportedResponseTypeOrInvalidRequestOrUnauthorizedClientError",
            ) {
                Ok(()) => Outcome::Passed,
                Err(f) => Outcome::Warning(format!("{}: {}", f.condition, f.message)),
            },
        );
    }
    let url = pushed_url(env, tpp, &request_uri_of(&reply)?, &[])?;
    match env.browse(&url, true).await? {
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { params, .. } => {
            ensure(
                !params.contains_key("access_token"),
                "RejectAccessTokenInAuthorizationResponse",
                || "an access token came through the browser".to_owned(),
            )?;
            check_error_callback(
                &p,
                &params,
                &["unsupported_response_type", "invalid_request"],
                "EnsureUnsupportedResponseTypeOrInvalidRequestError",
            )?;
            Ok(Outcome::Passed)
        }
    }
}

pub(super) async fn expired_code(env: &Env) -> ModuleResult {
    let tpp = &env.tpp1;
    let p = env.auth_params(tpp).await?;
    let url = env.authorization_url(tpp, &p).await?;
    let code = code_from(env, tpp, &p, &url).await?;
    // A code lives at most 60 seconds; 2 more for clock skew.
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;
    let reply = redeem(env, tpp, &code, VERIFIER).await?;
    ensure(
        reply.status != 200,
        "ServerAllowedExpiredAuthorizationCode",
        || "a code 62 seconds old was redeemed".to_owned(),
    )?;
    ensure(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "CheckTokenEndpointReturnedJsonContentType",
        || format!("content-type {:?}", reply.header("content-type")),
    )?;
    check_endpoint_error(
        &reply,
        &[400],
        &["invalid_grant"],
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
    )?;
    Ok(Outcome::Passed)
}

/// A PAR request of client 1 for its usual parameters, authenticated by `assertion`.
async fn par_with_assertion(
    env: &Env,
    params: &Map<String, Value>,
    assertion: String,
) -> Result<Reply, Failure> {
    let tpp = &env.tpp1;
    let auth = vec![
        ("client_id".to_owned(), tpp.client_id.clone()),
        (
            "client_assertion_type".to_owned(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion".to_owned(), assertion),
    ];
    let form = par_form(env, tpp, params, auth, Body::AsVariant);
    let url = env.endpoint("pushed_authorization_request_endpoint");
    post_par(env, tpp, &form, default_dpop(env, &url)).await
}

pub(super) async fn par_url_as_audience(env: &Env) -> ModuleResult {
    // The PAR endpoint's own name (not an mTLS alias), as the suite takes it.
    let par = env.discovery["pushed_authorization_request_endpoint"]
        .as_str()
        .map_or_else(
            || env.endpoint("pushed_authorization_request_endpoint"),
            str::to_owned,
        );
    let p = env.auth_params(&env.tpp1).await?;
    let assertion = env.assertion(&env.tpp1, json!(par), |_| {});
    let reply = par_with_assertion(env, &p, assertion).await?;
    check_endpoint_error(
        &reply,
        &[400, 401],
        &["invalid_client", "invalid_request"],
        "CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest",
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn assertion_8_seconds_ahead(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let ahead = now() + 8;
    let assertion = env.assertion(&env.tpp1, json!(env.issuer), |c| {
        c.insert("iat".to_owned(), json!(ahead));
        c.insert("nbf".to_owned(), json!(ahead));
    });
    let reply = par_with_assertion(env, &p, assertion).await?;
    if reply.status != 201 {
        return Ok(Outcome::Warning(format!(
            "CheckPAREndpointResponse201WithNoError: an assertion 8 seconds ahead was refused \
             ({} {}): the PAR endpoint allows no clock skew",
            reply.status,
            snippet(&reply.body)
        )));
    }
    complete_pushed(env, &env.tpp1, &p, &reply).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn assertion_over_60_seconds_ahead(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let now = now();
    let assertion = env.assertion(&env.tpp1, json!(env.issuer), |c| {
        c.insert("iat".to_owned(), json!(now + 62));
        c.insert("nbf".to_owned(), json!(now + 62));
        c.insert("exp".to_owned(), json!(now + 60 + 62));
    });
    let reply = par_with_assertion(env, &p, assertion).await?;
    check_endpoint_error(
        &reply,
        &[400, 401],
        &["invalid_client", "invalid_request"],
        "CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest",
    )?;
    Ok(Outcome::Passed)
}

/// A request object of `params` like [`Env::request_object`], with `adjust` applied.
fn request_object_with(
    env: &Env,
    tpp: &Tpp,
    params: &Map<String, Value>,
    adjust: impl FnOnce(&mut Map<String, Value>),
) -> String {
    let now = now();
    let mut claims = params.clone();
    claims.insert("iss".to_owned(), json!(tpp.client_id));
    claims.insert("aud".to_owned(), json!(env.issuer));
    claims.insert("nbf".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(now + 300));
    claims.insert("jti".to_owned(), json!(uuid::Uuid::new_v4().to_string()));
    adjust(&mut claims);
    tpp.sign(&Value::Object(claims), Some("oauth-authz-req+jwt"))
}

pub(super) async fn request_object_nbf_8_seconds_ahead(env: &Env) -> ModuleResult {
    let tpp = &env.tpp1;
    let p = env.auth_params(tpp).await?;
    let ahead = now() + 8;
    let jwt = request_object_with(env, tpp, &p, |c| {
        c.insert("nbf".to_owned(), json!(ahead));
    });
    let reply = env
        .push(tpp, &p, Some(jwt), None)
        .await
        .map_err(transport)?;
    if reply.status != 201 {
        return Ok(Outcome::Warning(format!(
            "CheckPAREndpointResponse201WithNoError: a request object valid from 8 seconds ahead \
             was refused ({} {}): the PAR endpoint allows no clock skew",
            reply.status,
            snippet(&reply.body)
        )));
    }
    complete_pushed(env, tpp, &p, &reply).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn unsigned_request_at_par(env: &Env) -> ModuleResult {
    let tpp = &env.tpp1;
    let p = env.auth_params(tpp).await?;
    let form = par_form(env, tpp, &p, env.client_auth(tpp, None), Body::Plain);
    let url = env.endpoint("pushed_authorization_request_endpoint");
    let reply = post_par(env, tpp, &form, default_dpop(env, &url)).await?;
    if !(200..300).contains(&reply.status) {
        check_endpoint_error(
            &reply,
            &[400],
            &["invalid_request"],
            "EnsurePARInvalidRequestError",
        )?;
        return Ok(Outcome::Passed);
    }
    let url = pushed_url(env, tpp, &request_uri_of(&reply)?, &[])?;
    match env.browse(&url, true).await? {
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { params, .. } => {
            check_error_callback(
                &p,
                &params,
                &[
                    "invalid_request_object",
                    "invalid_request",
                    "invalid_request_uri",
                ],
                "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObjectOrInvalidRequestUri",
            )?;
            Ok(Outcome::Passed)
        }
    }
}

/// The conditions of this file against recorded good and bad responses.
/// The OpenID standard claims this module may ask for (OIDC Core 5.1).
const STANDARD_CLAIMS: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
];

/// test-claims-parameter-identity-claims: every supported standard claim asked for in the id
/// token and at userinfo; userinfo answers 200 JSON with the id token's `sub`; a requested claim
/// found in neither is a warning.
pub(super) async fn claims_parameter_identity_claims(env: &Env) -> ModuleResult {
    if env.discovery["claims_parameter_supported"] != json!(true) {
        return Ok(Outcome::Skipped(
            "claims_parameter_supported is not true".to_owned(),
        ));
    }
    let supported: Vec<&str> = env.discovery["claims_supported"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|c| STANDARD_CLAIMS.contains(c))
        .collect();
    if supported.is_empty() {
        return Ok(Outcome::Skipped(
            "claims_supported names no standard claim".to_owned(),
        ));
    }
    let requested: Map<String, Value> = supported
        .iter()
        .map(|c| ((*c).to_owned(), Value::Null))
        .collect();
    let mut params = env.auth_params(&env.tpp1).await?;
    // Added to the claims the profile asks for already (the UK OB consent and acr), as the
    // suite's AddAllSupportedStandardClaimsToAuthorizationEndpointRequestIdTokenAndUserinfoClaims
    // adds them.
    let mut claims = params.get("claims").cloned().unwrap_or_else(|| json!({}));
    for member in ["id_token", "userinfo"] {
        let asked = claims[member].as_object().cloned().unwrap_or_default();
        let mut merged = requested.clone();
        merged.extend(asked);
        claims[member] = Value::Object(merged);
    }
    env.request_claims(&env.tpp1, &mut params, claims);
    let body = super::flows::full_flow(env, &env.tpp1, &params).await?;
    let id_token = body["id_token"].as_str().unwrap_or_default();
    let id_claims = env.verify_server_jwt(id_token, "ValidateIdTokenSignature")?;
    let access_token = body["access_token"].as_str().unwrap_or_default();

    let url = env.endpoint("userinfo_endpoint");
    ensure(!url.is_empty(), "CheckDiscEndpointUserinfoEndpoint", || {
        "no userinfo_endpoint".to_owned()
    })?;
    let request = if env.variant.dpop() {
        env.tpp1
            .mtls
            .get(&url)
            .header("Authorization", format!("DPoP {access_token}"))
            .header(
                "DPoP",
                env.dpop_proof(&env.dpop_key(), "GET", &url, Some(access_token)),
            )
    } else {
        env.tpp1
            .mtls
            .get(&url)
            .header("Authorization", format!("Bearer {access_token}"))
    };
    let reply = env
        .send(request, None)
        .await
        .map_err(crate::env::transport)?;
    identity_claims_verdict(&reply, &id_claims, &supported)
}

/// UserInfo's answer for the id token of `id_claims`: 200 JSON with the id token's `sub`; a
/// `requested` claim found in neither is a warning.
fn identity_claims_verdict(
    reply: &Reply,
    id_claims: &Map<String, Value>,
    requested: &[&str],
) -> ModuleResult {
    ensure(reply.status == 200, "EnsureHttpStatusCodeIs200", || {
        format!("userinfo answered {}: {}", reply.status, reply.body)
    })?;
    ensure(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "EnsureContentTypeJson",
        || format!("content-type {:?}", reply.header("content-type")),
    )?;
    let userinfo = reply.json();
    ensure(
        id_claims
            .get("sub")
            .is_some_and(|sub| *sub == userinfo["sub"]),
        "VerifyUserInfoAndIdTokenInTokenEndpointSameSub",
        || {
            format!(
                "userinfo sub {} but id token sub {:?}",
                userinfo["sub"],
                id_claims.get("sub")
            )
        },
    )?;
    let missing: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|c| id_claims.get(*c).is_none() && userinfo.get(*c).is_none())
        .collect();
    if missing.is_empty() {
        Ok(Outcome::Passed)
    } else {
        Ok(Outcome::Warning(format!(
            "EnsureIdentityClaimsContainRequestedClaims: not returned (the customer may have none): {missing:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests fail by panicking"
    )]

    use serde_json::{Value, json};

    use super::{
        Outcome, check_endpoint_error, check_error_callback, check_no_nonce,
        identity_claims_verdict, random_alnum,
    };
    use crate::env::Reply;
    use crate::modules::testkit::{
        JSON, bare as reply, condition, map, reply as recorded, reply_text,
    };

    #[test]
    fn an_id_token_for_a_request_without_nonce_has_none() {
        assert!(check_no_nonce(&map(json!({"iss": "i", "sub": "s"}))).is_ok());
        let f = check_no_nonce(&map(json!({"iss": "i", "nonce": "n"}))).unwrap_err();
        assert_eq!(f.condition, "ValidateIdTokenNonce");
    }

    #[test]
    fn endpoint_errors_need_the_status_and_the_error() {
        let good = reply(400, json!({"error": "invalid_client"}));
        let errors = ["invalid_client", "invalid_request"];
        assert!(check_endpoint_error(&good, &[400, 401], &errors, "C").is_ok());
        for bad in [
            reply(201, json!({"request_uri": "urn:x", "expires_in": 60})),
            reply(500, json!({"error": "invalid_client"})),
            reply(400, json!({"error": "server_error"})),
            reply(400, json!({})),
        ] {
            assert_eq!(
                check_endpoint_error(&bad, &[400, 401], &errors, "C")
                    .unwrap_err()
                    .condition,
                "C"
            );
        }
    }

    #[test]
    fn error_callbacks_need_the_pushed_state_and_an_expected_error() {
        let sent = map(json!({"state": "inner"}));
        let errors = ["invalid_request"];
        let good = map(json!({"error": "invalid_request", "state": "inner", "iss": "i"}));
        assert!(check_error_callback(&sent, &good, &errors, "C").is_ok());
        let condition = |got: Value| {
            check_error_callback(&sent, &map(got), &errors, "C")
                .unwrap_err()
                .condition
        };
        assert_eq!(
            condition(json!({"error": "invalid_request", "state": "outer"})),
            "CheckStateInAuthorizationResponse"
        );
        assert_eq!(
            condition(json!({"error": "access_denied", "state": "inner"})),
            "C"
        );
        assert_eq!(
            condition(json!({"code": "c", "state": "inner"})),
            "RejectAuthCodeInAuthorizationResponse"
        );
        assert_eq!(
            condition(json!({"state": "inner"})),
            "EnsureErrorFromAuthorizationEndpointResponse"
        );
    }

    #[test]
    fn random_values_have_the_length_asked_for() {
        for n in [10, 32, 64, 100] {
            let s = random_alnum(n);
            assert_eq!(s.len(), n);
            assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
        }
        assert_ne!(random_alnum(64), random_alnum(64));
    }

    #[test]
    fn userinfo_answers_for_the_id_tokens_subject() {
        let id_claims = map(json!({"sub": "u1", "name": "Ada Lovelace"}));
        let requested = ["name", "email"];
        let judged = |r: &Reply| identity_claims_verdict(r, &id_claims, &requested);
        let both = recorded(
            200,
            &[JSON],
            json!({"sub": "u1", "email": "ada@example.com"}),
        );
        assert!(matches!(judged(&both), Ok(Outcome::Passed)));
        let no_email = recorded(200, &[JSON], json!({"sub": "u1"}));
        assert!(matches!(
            judged(&no_email),
            Ok(Outcome::Warning(w)) if w.contains("email") && !w.contains("name")
        ));
        assert_eq!(
            condition(judged(&recorded(200, &[JSON], json!({"sub": "u2"})))),
            "VerifyUserInfoAndIdTokenInTokenEndpointSameSub"
        );
        assert_eq!(
            condition(judged(&recorded(
                401,
                &[JSON],
                json!({"error": "invalid_token"})
            ))),
            "EnsureHttpStatusCodeIs200"
        );
        assert_eq!(
            condition(judged(&reply_text(
                200,
                &[("content-type", "application/jwt")],
                "e30.e30."
            ))),
            "EnsureContentTypeJson"
        );
        // An id token without sub matches no userinfo answer.
        let no_sub = map(json!({"name": "Ada Lovelace"}));
        assert_eq!(
            condition(identity_claims_verdict(&no_email, &no_sub, &requested)),
            "VerifyUserInfoAndIdTokenInTokenEndpointSameSub"
        );
    }
}
