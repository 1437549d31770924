//! Pushed authorization request modules (RFC 9126): the lifetime of a `request_uri`, what a
//! pushed request object must not contain, an authorization request with no duplicated
//! parameters, and the client assertion audiences the PAR endpoint accepts or refuses.

use serde_json::{Map, Value, json};

use super::Outcome;
use super::checks::{par_wrong_aud, wrong_iss, wrong_sub};
use super::fapi1::{
    Request, Sent, adjusted_request_object, assertion_auth, complete, landed, par_error,
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

/// The shortest `expires_in` the suite accepts (`CheckForPARResponseExpiresIn`): less leaves the
/// client no time to use the `request_uri`. PAR 2.2 only says "short"; the bounds are the suite's.
const MIN_EXPIRES_IN: i64 = 5;
/// `expires_in` must be under a year (`CheckForPARResponseExpiresIn`).
const MAX_EXPIRES_IN: i64 = 365 * 24 * 60 * 60;
/// The bits of Shannon entropy a `request_uri` must exceed (`EnsureMinimumRequestUriEntropy`,
/// JAR 10.2: a cryptographic random value of 128 bits or more).
const MIN_REQUEST_URI_ENTROPY: f64 = 128.0;

/// What a successful PAR response gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pushed {
    pub request_uri: String,
    pub expires_in: u64,
}

/// A successful PAR response (PAR 2.2) as the suite's `processParResponse` checks it: 201 with no
/// error, a `request_uri`, an `expires_in` from 5 seconds to under a year, and a `request_uri` of
/// more than 128 bits of Shannon entropy.
pub(crate) fn par_response(reply: &Reply) -> Result<Pushed, Failure> {
    ensure(
        reply.status == 201,
        "CheckPAREndpointResponse201WithNoError",
        || format!("PAR answered {}: {}", reply.status, snippet(&reply.body)),
    )?;
    let body = reply.json();
    let request_uri = body["request_uri"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            fail(
                "CheckForRequestUriValue",
                "no request_uri in the PAR response",
            )
        })?;
    let expires_in = body["expires_in"].as_i64().ok_or_else(|| {
        fail(
            "CheckForPARResponseExpiresIn",
            format!(
                "expires_in {} is not a number of seconds",
                body["expires_in"]
            ),
        )
    })?;
    ensure(
        (MIN_EXPIRES_IN..MAX_EXPIRES_IN).contains(&expires_in),
        "CheckForPARResponseExpiresIn",
        || format!("expires_in {expires_in}: not from {MIN_EXPIRES_IN} s to under a year"),
    )?;
    let entropy = shannon_entropy(request_uri);
    ensure(
        entropy > MIN_REQUEST_URI_ENTROPY,
        "EnsureMinimumRequestUriEntropy",
        || format!("request_uri {request_uri:?} carries {entropy:.1} bits, expected over 128"),
    )?;
    Ok(Pushed {
        request_uri: request_uri.to_owned(),
        expires_in: u64::try_from(expires_in).unwrap_or_default(),
    })
}

/// The `request_uri` of a successful PAR response ([`par_response`]).
pub(crate) fn request_uri_of(reply: &Reply) -> Result<String, Failure> {
    par_response(reply).map(|p| p.request_uri)
}

/// The Shannon entropy of `s` in bits: the bits per character of its character frequencies times
/// its length, as the suite's `AbstractEnsureMinimumEntropy` estimates it.
fn shannon_entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::<char, u32>::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n: u32 = counts.values().sum();
    let n = f64::from(n);
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = f64::from(k) / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// The authorization endpoint's answer to a `request_uri` it must not honour: an error page, or
/// `invalid_request_uri` back at the client (`EnsureInvalidRequestUriError`).
fn request_uri_refused(landing: &Landing) -> ModuleResult {
    let Landing::Callback { params, .. } = landing else {
        return Ok(Outcome::Passed);
    };
    let error = params.get("error").and_then(Value::as_str);
    ensure(
        error == Some("invalid_request_uri"),
        "EnsureInvalidRequestUriError",
        || match error {
            None => "the server accepted the request_uri".to_owned(),
            Some(e) => format!("error {e}, expected invalid_request_uri"),
        },
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn expired_request_uri(env: &Env) -> ModuleResult {
    let r = Request::new(env, &env.tpp1).await?;
    let reply = env
        .push(&env.tpp1, &r.inner, None, None)
        .await
        .map_err(transport)?;
    let Pushed {
        request_uri,
        expires_in,
    } = par_response(&reply)?;
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
    request_uri_refused(&env.browse(&url, true).await?)
}

/// The refusal of a request object whose `aud` is the PAR endpoint: `invalid_request_object` from
/// PAR, or the `request_uri` refused at the authorization endpoint.
fn par_url_aud_refused(sent: &Sent) -> ModuleResult {
    match sent {
        Sent::ParRefused(reply) => par_error(
            reply,
            &["invalid_request_object"],
            "EnsurePARInvalidRequestObjectError",
        ),
        Sent::Landed(landing) => request_uri_refused(landing),
    }
}

pub(super) async fn par_url_as_request_object_aud(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    let par_url = env.discovery["pushed_authorization_request_endpoint"].clone();
    r.jwt = Some(adjusted_request_object(env, &env.tpp1, &r.inner, |c| {
        c.insert("aud".to_owned(), par_url);
    }));
    par_url_aud_refused(&send_request(env, &env.tpp1, &r, true).await?)
}

/// Pushes `r` and judges the PAR endpoint's answer by `judge`: it must refuse the request itself.
async fn refused_at_par(env: &Env, r: &Request, judge: fn(&Reply) -> ModuleResult) -> ModuleResult {
    let reply = env
        .push(&env.tpp1, &r.inner, r.jwt.clone(), None)
        .await
        .map_err(transport)?;
    judge(&reply)
}

/// PAR's refusal of an unregistered redirect URI: 400 `invalid_request` or
/// `invalid_request_object`.
fn invalid_redirect_uri_refused(reply: &Reply) -> ModuleResult {
    par_error(
        reply,
        &["invalid_request", "invalid_request_object"],
        "EnsurePARInvalidRequestOrInvalidRequestObjectError",
    )
}

/// PAR's refusal of a request object holding a `request_uri`: 400 `invalid_request_object`.
fn request_uri_in_request_object_refused(reply: &Reply) -> ModuleResult {
    par_error(
        reply,
        &["invalid_request_object"],
        "EnsurePARInvalidRequestObjectError",
    )
}

pub(super) async fn invalid_redirect_uri(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.set("redirect_uri", json!("https://junk.io/junk/callback"));
    refused_at_par(env, &r, invalid_redirect_uri_refused).await
}

pub(super) async fn request_uri_in_request_object(env: &Env) -> ModuleResult {
    let mut r = Request::new(env, &env.tpp1).await?;
    r.set(
        "request_uri",
        json!("urn%3Aexample%3Abwc4JK-ESC0w8acc191e-Y1LTC2"),
    );
    refused_at_par(env, &r, request_uri_in_request_object_refused).await
}

pub(super) async fn without_duplicate_parameters(env: &Env) -> ModuleResult {
    let r = Request::new(env, &env.tpp1).await?;
    let landing = landed(send_request(env, &env.tpp1, &r, false).await?)?;
    complete(env, &env.tpp1, &r.inner, landing).await?;
    Ok(Outcome::Passed)
}

/// Client 1's whole flow with its client assertions naming `par_aud` at the PAR endpoint and
/// `token_aud` at the token endpoint (by value, only the token endpoint's counts).
async fn flow_with_assertion_audiences(
    env: &Env,
    par_aud: Value,
    token_aud: Value,
) -> ModuleResult {
    let tpp = &env.tpp1;
    let r = Request::new(env, tpp).await?;
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
    let r = Request::new(env, tpp).await?;
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
    assertion_refused_at_par(env, par_wrong_aud).await
}

pub(super) async fn assertion_wrong_iss(env: &Env) -> ModuleResult {
    assertion_refused_at_par(env, wrong_iss).await
}

pub(super) async fn assertion_wrong_sub(env: &Env) -> ModuleResult {
    assertion_refused_at_par(env, wrong_sub).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;
    use crate::modules::testkit::{JSON, callback, condition, error_page, oauth_error, reply};

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
        assert!(par_client_refused(&oauth_error(401, "invalid_client")).is_ok());
        assert!(par_client_refused(&oauth_error(400, "invalid_client")).is_ok());
        assert!(par_client_refused(&oauth_error(400, "invalid_request")).is_ok());
        assert_eq!(
            condition(par_client_refused(&oauth_error(401, "invalid_request"))),
            "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError"
        );
        assert_eq!(
            condition(par_client_refused(&oauth_error(400, "invalid_grant"))),
            "EnsurePARInvalidClientOrInvalidRequestError"
        );
        // A server that did not check the assertion's aud, iss or sub: the request was pushed.
        assert_eq!(
            condition(par_client_refused(&pushed(GOOD_REQUEST_URI, json!(90)))),
            "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError"
        );
    }

    /// A request_uri as Consentry makes them: the RFC 9126 prefix and 256 random bits.
    const GOOD_REQUEST_URI: &str =
        "urn:ietf:params:oauth:request_uri:Wm9U3q0dR1s8vXfJ2kQ7hPzL5cY6nB4aT1eG0oI9uMw";

    /// A recorded PAR success: 201, JSON, `request_uri` and `expires_in`.
    fn pushed(request_uri: &str, expires_in: Value) -> Reply {
        reply(
            201,
            &[JSON, ("cache-control", "no-store")],
            json!({"request_uri": request_uri, "expires_in": expires_in}),
        )
    }

    #[test]
    fn par_responses_are_checked_as_the_suite_processes_them() {
        assert_eq!(
            par_response(&pushed(GOOD_REQUEST_URI, json!(90))).unwrap(),
            Pushed {
                request_uri: GOOD_REQUEST_URI.to_owned(),
                expires_in: 90
            }
        );
        assert_eq!(
            request_uri_of(&pushed(GOOD_REQUEST_URI, json!(5))).unwrap(),
            GOOD_REQUEST_URI
        );
        let bad = [
            (
                oauth_error(400, "invalid_request"),
                "CheckPAREndpointResponse201WithNoError",
            ),
            // 200 is not the 201 Created of PAR 2.2.
            (
                reply(
                    200,
                    &[JSON],
                    json!({"request_uri": GOOD_REQUEST_URI, "expires_in": 90}),
                ),
                "CheckPAREndpointResponse201WithNoError",
            ),
            (
                reply(201, &[JSON], json!({"expires_in": 90})),
                "CheckForRequestUriValue",
            ),
            (pushed("", json!(90)), "CheckForRequestUriValue"),
            (
                reply(201, &[JSON], json!({"request_uri": GOOD_REQUEST_URI})),
                "CheckForPARResponseExpiresIn",
            ),
            (
                pushed(GOOD_REQUEST_URI, json!("90")),
                "CheckForPARResponseExpiresIn",
            ),
            (
                pushed(GOOD_REQUEST_URI, json!(4)),
                "CheckForPARResponseExpiresIn",
            ),
            (
                pushed(GOOD_REQUEST_URI, json!(-60)),
                "CheckForPARResponseExpiresIn",
            ),
            (
                pushed(GOOD_REQUEST_URI, json!(365 * 24 * 60 * 60)),
                "CheckForPARResponseExpiresIn",
            ),
            // A counter is no random value.
            (
                pushed("urn:example:par:42", json!(90)),
                "EnsureMinimumRequestUriEntropy",
            ),
            (
                pushed("8f14e45fceea167a", json!(90)),
                "EnsureMinimumRequestUriEntropy",
            ),
        ];
        for (recorded, expected) in bad {
            assert_eq!(
                condition(par_response(&recorded)),
                expected,
                "{}",
                recorded.body
            );
        }
    }

    #[test]
    fn entropy_is_estimated_as_the_suite_does() {
        // Rosetta Code's example: 1.846439344671 bits a character.
        assert!((shannon_entropy("1223334444") - 18.464_393_446_71).abs() < 1e-9);
        assert!(shannon_entropy("aaaaaaaa").abs() < 1e-12);
        assert!(shannon_entropy(GOOD_REQUEST_URI) > MIN_REQUEST_URI_ENTROPY);
    }

    #[test]
    fn an_expired_request_uri_must_not_be_honoured() {
        assert!(matches!(
            request_uri_refused(&error_page()),
            Ok(Outcome::Passed)
        ));
        let refused = callback(json!({"error": "invalid_request_uri", "state": "s"}), true);
        assert!(matches!(request_uri_refused(&refused), Ok(Outcome::Passed)));
        // A server that does not expire request_uris: the flow went through.
        let accepted = callback(json!({"code": "c", "state": "s", "id_token": "x"}), true);
        assert_eq!(
            condition(request_uri_refused(&accepted)),
            "EnsureInvalidRequestUriError"
        );
        let other = callback(json!({"error": "access_denied", "state": "s"}), true);
        assert_eq!(
            condition(request_uri_refused(&other)),
            "EnsureInvalidRequestUriError"
        );
    }

    #[test]
    fn a_request_object_with_the_par_url_as_aud_is_refused() {
        let passes = |sent: Sent| matches!(par_url_aud_refused(&sent), Ok(Outcome::Passed));
        assert!(passes(Sent::ParRefused(oauth_error(
            400,
            "invalid_request_object"
        ))));
        assert!(passes(Sent::Landed(error_page())));
        assert!(passes(Sent::Landed(callback(
            json!({"error": "invalid_request_uri"}),
            true
        ))));
        assert_eq!(
            condition(par_url_aud_refused(&Sent::ParRefused(oauth_error(
                400,
                "invalid_request"
            )))),
            "EnsurePARInvalidRequestObjectError"
        );
        assert_eq!(
            condition(par_url_aud_refused(&Sent::ParRefused(oauth_error(
                401,
                "invalid_request_object"
            )))),
            "EnsurePARInvalidRequestObjectError"
        );
        assert_eq!(
            condition(par_url_aud_refused(&Sent::Landed(callback(
                json!({"code": "c", "state": "s"}),
                true
            )))),
            "EnsureInvalidRequestUriError"
        );
    }

    #[test]
    fn par_refuses_a_bad_redirect_uri_and_a_nested_request_uri() {
        for error in ["invalid_request", "invalid_request_object"] {
            assert!(invalid_redirect_uri_refused(&oauth_error(400, error)).is_ok());
        }
        for bad in [
            pushed(GOOD_REQUEST_URI, json!(90)),
            oauth_error(400, "invalid_client"),
            oauth_error(401, "invalid_request"),
        ] {
            assert_eq!(
                condition(invalid_redirect_uri_refused(&bad)),
                "EnsurePARInvalidRequestOrInvalidRequestObjectError"
            );
        }
        assert!(
            request_uri_in_request_object_refused(&oauth_error(400, "invalid_request_object"))
                .is_ok()
        );
        for bad in [
            pushed(GOOD_REQUEST_URI, json!(90)),
            oauth_error(400, "invalid_request"),
        ] {
            assert_eq!(
                condition(request_uri_in_request_object_refused(&bad)),
                "EnsurePARInvalidRequestObjectError"
            );
        }
    }
}
