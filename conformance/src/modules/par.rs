//! Pushed authorization request modules (RFC 9126): the lifetime of a `request_uri`, what a
//! pushed request object must not contain, an authorization request with no duplicated
//! parameters, and the client assertion audiences the PAR endpoint accepts or refuses.

use serde_json::{Map, Value, json};

use super::Outcome;
use super::fapi1::{
    Request, Sent, adjusted_request_object, assertion_auth, complete, par_error, request_uri_of,
    send_request,
};
use super::flows::{check_callback, check_token_response};
use crate::env::{Env, Failure, Landing, Reply, VERIFIER, ensure, fail, snippet, transport};
use crate::plan::Variant;

type ModuleResult = Result<Outcome, Failure>;

/// FAPI 1 with PAR.
pub(super) fn fapi1_pushed(v: &Variant) -> bool {
    !v.plan.is_fapi2() && v.pushed()
}

/// FAPI 1 with PAR and private_key_jwt.
pub(super) fn fapi1_pushed_private_key_jwt(v: &Variant) -> bool {
    fapi1_pushed(v) && v.client_auth == crate::plan::ClientAuth::PrivateKeyJwt
}

/// PAR with signed request objects (FAPI 1 pushed, FAPI 2 message signing).
pub(super) fn pushed_signed(v: &Variant) -> bool {
    v.pushed() && v.signed_requests()
}

/// The suite waits this long at most for a `request_uri` to expire.
const MAX_WAIT_SECS: u64 = 30 * 60;

pub(super) async fn expired_request_uri(env: &Env) -> ModuleResult {
    let r = Request::new(env, &env.tpp1);
    let reply = env
        .push(&env.tpp1, &r.inner, None, None)
        .await
        .map_err(transport)?;
    let request_uri = request_uri_of(&reply)?;
    let expires_in = reply.json()["expires_in"]
        .as_u64()
        .ok_or_else(|| fail("CheckForPARResponseExpiresIn", "no expires_in"))?;
    if expires_in > MAX_WAIT_SECS {
        return Ok(Outcome::Skipped(format!(
            "the request_uri lives {expires_in} s: too long to wait for it to expire"
        )));
    }
    // A second more than its lifetime: the server counts whole seconds.
    tokio::time::sleep(std::time::Duration::from_secs(expires_in + 1)).await;
    let url = env.redirect_to_authorization_endpoint(
        "request_uri",
        &request_uri,
        &r.outer,
        &r.inner,
        true,
        &[],
    )?;
    match env.browse(&url, true).await? {
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { params, .. } => {
            let error = params
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default();
            ensure(
                error == "invalid_request_uri",
                "EnsureInvalidRequestUriError",
                || {
                    if error.is_empty() {
                        "the expired request_uri was accepted".to_owned()
                    } else {
                        format!("error {error}, expected invalid_request_uri")
                    }
                },
            )?;
            Ok(Outcome::Passed)
        }
    }
}

pub(super) async fn par_url_as_request_object_aud(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1);
    let par_url = env.discovery["pushed_authorization_request_endpoint"].clone();
    r.jwt = Some(adjusted_request_object(env, &env.tpp1, &r.inner, |c| {
        c.insert("aud".to_owned(), par_url);
    }));
    let sent = send_request(env, &env.tpp1, &r, true).await?;
    match sent {
        Sent::ParRefused(reply) => par_error(
            &reply,
            &["invalid_request_object"],
            "EnsurePARInvalidRequestObjectError",
        ),
        Sent::Landed(Landing::ErrorPage { .. }) => Ok(Outcome::Passed),
        Sent::Landed(Landing::Callback { params, .. }) => {
            let error = params.get("error").and_then(Value::as_str);
            ensure(
                error == Some("invalid_request_uri"),
                "EnsureInvalidRequestUriError",
                || format!("error {error:?}, expected invalid_request_uri"),
            )?;
            Ok(Outcome::Passed)
        }
    }
}

/// Pushes `r` and expects the PAR endpoint itself to refuse it with one of `errors`.
async fn refused_at_par(
    env: &Env,
    r: &Request,
    errors: &[&str],
    condition: &'static str,
) -> ModuleResult {
    let reply = env
        .push(&env.tpp1, &r.inner, r.jwt.clone(), None)
        .await
        .map_err(transport)?;
    par_error(&reply, errors, condition)
}

pub(super) async fn invalid_redirect_uri(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1);
    r.set("redirect_uri", json!("https://junk.io/junk/callback"));
    refused_at_par(
        env,
        &r,
        &["invalid_request", "invalid_request_object"],
        "EnsurePARInvalidRequestOrInvalidRequestObjectError",
    )
    .await
}

pub(super) async fn request_uri_in_request_object(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1);
    r.set(
        "request_uri",
        json!("urn%3Aexample%3Abwc4JK-ESC0w8acc191e-Y1LTC2"),
    );
    refused_at_par(
        env,
        &r,
        &["invalid_request_object"],
        "EnsurePARInvalidRequestObjectError",
    )
    .await
}

pub(super) async fn without_duplicate_parameters(env: &Env) -> ModuleResult {
    let r = Request::new(env, &env.tpp1);
    match send_request(env, &env.tpp1, &r, false).await? {
        Sent::ParRefused(reply) => Err(fail(
            "CheckPAREndpointResponse201WithNoError",
            format!("PAR answered {}: {}", reply.status, snippet(&reply.body)),
        )),
        Sent::Landed(landing) => {
            complete(env, &env.tpp1, &r.inner, landing).await?;
            Ok(Outcome::Passed)
        }
    }
}

/// Client 1's whole flow with its client assertions naming `par_aud` at the PAR endpoint and
/// `token_aud` at the token endpoint (by value, only the token endpoint's counts).
async fn flow_with_assertion_audiences(
    env: &Env,
    par_aud: Value,
    token_aud: Value,
) -> ModuleResult {
    let tpp = &env.tpp1;
    let r = Request::new(env, tpp);
    let url = if env.variant.pushed() {
        let assertion = env.assertion(tpp, par_aud, |_| {});
        let reply = env
            .push_authenticated(tpp, &r.inner, None, assertion_auth(tpp, assertion))
            .await
            .map_err(transport)?;
        let request_uri = request_uri_of(&reply)?;
        env.redirect_to_authorization_endpoint(
            "request_uri",
            &request_uri,
            &r.outer,
            &r.inner,
            true,
            &[],
        )?
    } else {
        env.authorization_url(tpp, &r.inner).await?
    };
    let got = match env.browse(&url, true).await? {
        Landing::Callback { params, .. } => params,
        Landing::ErrorPage { status, body } => {
            return Err(fail(
                "CallAuthorizationEndpoint",
                format!("error page {status}: {}", snippet(&body)),
            ));
        }
    };
    let code = check_callback(env, tpp, &r.inner, &got)?;
    let assertion = env.assertion(tpp, token_aud, |_| {});
    let reply = env
        .token_authenticated(
            tpp,
            assertion_auth(tpp, assertion),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &tpp.redirect_uri),
                ("code_verifier", VERIFIER),
            ],
            true,
        )
        .await?;
    check_token_response(env, tpp, &reply, r.inner.get("nonce"))?;
    Ok(Outcome::Passed)
}

pub(super) async fn par_url_as_assertion_aud(env: &Env) -> ModuleResult {
    let par_url = env.discovery["pushed_authorization_request_endpoint"].clone();
    flow_with_assertion_audiences(env, par_url, json!(env.issuer)).await
}

pub(super) async fn token_url_as_assertion_aud(env: &Env) -> ModuleResult {
    let token_url = env.discovery["token_endpoint"].clone();
    flow_with_assertion_audiences(env, token_url, json!(env.issuer)).await
}

pub(super) async fn array_as_assertion_aud(env: &Env) -> ModuleResult {
    let aud = json!([env.issuer, env.endpoint("token_endpoint")]);
    flow_with_assertion_audiences(env, aud.clone(), aud).await
}

/// A PAR request of client 1 whose assertion is `adjust`ed, which must be refused: 400 (401
/// allowed for `invalid_client`) with `invalid_client` or `invalid_request`.
async fn assertion_refused_at_par(
    env: &Env,
    adjust: impl FnOnce(&mut Map<String, Value>),
) -> ModuleResult {
    let tpp = &env.tpp1;
    let r = Request::new(env, tpp);
    let assertion = env.assertion(tpp, json!(env.issuer), adjust);
    let reply = env
        .push_authenticated(tpp, &r.inner, None, assertion_auth(tpp, assertion))
        .await
        .map_err(transport)?;
    par_client_refused(&reply)
}

fn par_client_refused(reply: &Reply) -> ModuleResult {
    let error = reply.error().unwrap_or_default();
    ensure(
        reply.status == 400 || (reply.status == 401 && error == "invalid_client"),
        "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        || {
            format!(
                "status {} for error {error:?}: {}",
                reply.status,
                snippet(&reply.body)
            )
        },
    )?;
    ensure(
        error == "invalid_client" || error == "invalid_request",
        "EnsurePARInvalidClientOrInvalidRequestError",
        || format!("error {error:?}, expected invalid_client or invalid_request"),
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn assertion_wrong_aud(env: &Env) -> ModuleResult {
    assertion_refused_at_par(env, |c| {
        c.insert(
            "aud".to_owned(),
            json!("https://fapidev-rs.authlete.net/api/userinfo"),
        );
    })
    .await
}

pub(super) async fn assertion_wrong_iss(env: &Env) -> ModuleResult {
    assertion_refused_at_par(env, |c| {
        c.insert("iss".to_owned(), json!("wrong-issuer-value"));
    })
    .await
}

pub(super) async fn assertion_wrong_sub(env: &Env) -> ModuleResult {
    assertion_refused_at_par(env, |c| {
        c.insert("sub".to_owned(), json!("wrong-sub-value"));
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    fn variant(s: &str) -> Variant {
        Variant::parse(s).unwrap()
    }

    #[test]
    fn applicability() {
        let par_jwt = variant(
            "fapi1-advanced-final[client_auth_type=private_key_jwt][fapi_auth_request_method=pushed]",
        );
        let par_mtls =
            variant("fapi1-advanced-final[client_auth_type=mtls][fapi_auth_request_method=pushed]");
        let by_value = variant(
            "fapi1-advanced-final[client_auth_type=private_key_jwt][fapi_auth_request_method=by_value]",
        );
        let fapi2 = variant("fapi2-security-profile-final[client_auth_type=private_key_jwt]");
        let signing = variant("fapi2-message-signing-final[client_auth_type=mtls]");
        assert!(fapi1_pushed_private_key_jwt(&par_jwt));
        assert!(!fapi1_pushed_private_key_jwt(&par_mtls));
        assert!(!fapi1_pushed(&by_value) && !fapi1_pushed(&fapi2));
        assert!(pushed_signed(&par_mtls) && pushed_signed(&signing));
        assert!(!pushed_signed(&fapi2) && !pushed_signed(&by_value));
    }

    #[test]
    fn refusals_of_client_authentication_at_par() {
        let reply = |status: u16, error: &str| Reply {
            status,
            headers: reqwest::header::HeaderMap::new(),
            location: None,
            body: json!({ "error": error }).to_string(),
        };
        assert!(par_client_refused(&reply(401, "invalid_client")).is_ok());
        assert!(par_client_refused(&reply(400, "invalid_request")).is_ok());
        let condition = |r: ModuleResult| r.unwrap_err().condition;
        assert_eq!(
            condition(par_client_refused(&reply(401, "invalid_request"))),
            "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError"
        );
        assert_eq!(
            condition(par_client_refused(&reply(400, "invalid_grant"))),
            "EnsurePARInvalidClientOrInvalidRequestError"
        );
        assert_eq!(
            condition(par_client_refused(&reply(201, ""))),
            "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError"
        );
    }
}
