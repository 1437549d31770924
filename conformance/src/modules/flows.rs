//! Authorization and token flows: the happy paths and the refusals the plans test.

use serde_json::{Map, Value, json};

use super::Outcome;
use super::par::request_uri_of;
use crate::env::{
    CHALLENGE, Check, Env, Failure, Landing, Reply, Tpp, VERIFIER, ensure, fail, half_hash, now,
    snippet, transport,
};
use crate::plan::{ClientAuth, Plan};

type ModuleResult = Result<Outcome, Failure>;

/// Checks an authorization response against the request: code, state echoed exactly, `iss`
/// (RFC 9207) where the plan needs it, and the front-channel id token of a hybrid response.
pub(super) fn check_callback(
    env: &Env,
    tpp: &Tpp,
    sent: &Map<String, Value>,
    got: &Map<String, Value>,
) -> Result<String, Failure> {
    if let Some(error) = got.get("error") {
        return Err(fail(
            "CheckAuthorizationEndpointResponse",
            format!(
                "error {error}: {}",
                got.get("error_description").cloned().unwrap_or_default()
            ),
        ));
    }
    let code = got
        .get("code")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("ExtractAuthorizationCode", "no code in the response"))?
        .to_owned();
    ensure(
        got.get("state") == sent.get("state"),
        "CheckMatchingStateParameter",
        || {
            format!(
                "state sent {:?}, received {:?}",
                sent.get("state"),
                got.get("state")
            )
        },
    )?;
    if env.variant.plan.is_fapi2() && !env.variant.jarm() {
        ensure(
            got.get("iss") == Some(&json!(env.issuer)),
            "CheckIssInAuthorizationResponse",
            || format!("iss {:?}", got.get("iss")),
        )?;
    }
    if env.variant.jarm() {
        ensure(
            got.get("jarm_aud") == Some(&json!(tpp.client_id)),
            "ValidateJARMAud",
            || format!("aud {:?}", got.get("jarm_aud")),
        )?;
    }
    if sent.get("response_type") == Some(&json!("code id_token")) {
        let id_token = got
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("ExtractIdToken", "no id_token in the hybrid response"))?;
        let claims = env.verify_server_jwt(id_token, "ValidateIdTokenSignature")?;
        ensure(
            claims.get("aud") == Some(&json!(tpp.client_id)),
            "ValidateIdTokenAud",
            || format!("aud {:?}", claims.get("aud")),
        )?;
        ensure(
            claims.get("iss") == Some(&json!(env.issuer)),
            "ValidateIdTokenIss",
            || format!("iss {:?}", claims.get("iss")),
        )?;
        ensure(
            claims.get("nonce") == sent.get("nonce"),
            "ValidateIdTokenNonce",
            || format!("nonce {:?}", claims.get("nonce")),
        )?;
        super::obuk::check_id_token(env, tpp, &claims)?;
        ensure(
            claims.get("c_hash") == Some(&json!(half_hash(&code))),
            "ValidateCHash",
            || "c_hash does not match the code".to_owned(),
        )?;
        match sent.get("state").and_then(Value::as_str) {
            Some(state) => ensure(
                claims.get("s_hash") == Some(&json!(half_hash(state))),
                "ValidateSHash",
                || "s_hash does not match the state".to_owned(),
            )?,
            None => ensure(claims.get("s_hash").is_none(), "CheckNoSHash", || {
                "s_hash without a state".to_owned()
            })?,
        }
    }
    Ok(code)
}

/// Checks a successful token response: 200, `Cache-Control: no-store`, the token type of the
/// variant, and a verifiable id token for OpenID requests.
pub(super) fn check_token_response(
    env: &Env,
    tpp: &Tpp,
    reply: &Reply,
    nonce: Option<&Value>,
) -> Result<Value, Failure> {
    ensure(reply.status == 200, "CallTokenEndpoint", || {
        format!(
            "token endpoint answered {}: {}",
            reply.status,
            snippet(&reply.body)
        )
    })?;
    ensure(
        reply
            .header("cache-control")
            .is_some_and(|c| c.contains("no-store")),
        "CheckTokenEndpointCacheHeaders",
        || "no Cache-Control: no-store".to_owned(),
    )?;
    let body = reply.json();
    ensure(
        body["access_token"].is_string(),
        "CheckIfTokenEndpointResponseError",
        || "no access_token".to_owned(),
    )?;
    let want = if env.variant.dpop() { "DPoP" } else { "Bearer" };
    ensure(
        body["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case(want)),
        "CheckTokenTypeIsBearer",
        || format!("token_type {}", body["token_type"]),
    )?;
    if env.variant.openid {
        let id_token = body["id_token"]
            .as_str()
            .ok_or_else(|| fail("ExtractIdTokenFromTokenResponse", "no id_token"))?;
        let claims = env.verify_server_jwt(id_token, "ValidateIdTokenSignature")?;
        ensure(
            claims.get("aud") == Some(&json!(tpp.client_id)),
            "ValidateIdTokenAud",
            || format!("aud {:?}", claims.get("aud")),
        )?;
        ensure(
            claims
                .get("exp")
                .and_then(Value::as_i64)
                .is_some_and(|e| e > now()),
            "ValidateIdTokenExp",
            || "expired".to_owned(),
        )?;
        if let Some(n) = nonce {
            ensure(
                claims.get("nonce") == Some(n),
                "ValidateIdTokenNonce",
                || format!("nonce {:?}", claims.get("nonce")),
            )?;
        }
        super::obuk::check_id_token(env, tpp, &claims)?;
        let at = body["access_token"].as_str().unwrap_or_default();
        if let Some(at_hash) = claims.get("at_hash") {
            ensure(*at_hash == json!(half_hash(at)), "ValidateAtHash", || {
                "at_hash does not match".to_owned()
            })?;
        }
    }
    Ok(body)
}

pub(super) async fn redeem(
    env: &Env,
    tpp: &Tpp,
    code: &str,
    verifier: &str,
) -> Result<Reply, Failure> {
    env.token(
        tpp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &tpp.redirect_uri),
            ("code_verifier", verifier),
        ],
        true,
    )
    .await
}

/// Authorization and token exchange for `tpp` with `params`, then (UK OB profile) the protected
/// resource as the suite calls it after every flow; returns the token response body.
pub(super) async fn full_flow(
    env: &Env,
    tpp: &Tpp,
    params: &Map<String, Value>,
) -> Result<Value, Failure> {
    let got = env.authorize(tpp, params).await?;
    let code = check_callback(env, tpp, params, &got)?;
    let reply = redeem(env, tpp, &code, VERIFIER).await?;
    let body = check_token_response(env, tpp, &reply, params.get("nonce"))?;
    super::obuk::request_protected_resource(env, tpp, &body).await?;
    Ok(body)
}

pub(super) async fn discovery(env: &Env) -> ModuleResult {
    let d = &env.discovery;
    let has = |k: &str, v: &str| d[k].as_array().is_some_and(|a| a.iter().any(|x| x == v));
    ensure(
        d["issuer"]
            .as_str()
            .is_some_and(|i| env.config.server.discovery_url.starts_with(i)),
        "CheckDiscoveryIssuer",
        || format!("issuer {}", d["issuer"]),
    )?;
    ensure(
        d["jwks_uri"].is_string()
            && d["authorization_endpoint"].is_string()
            && d["token_endpoint"].is_string(),
        "CheckDiscoveryEndpoints",
        || "endpoints missing".to_owned(),
    )?;
    if env.variant.sender_constrain == crate::plan::SenderConstrain::Mtls {
        ensure(
            d["tls_client_certificate_bound_access_tokens"] == json!(true),
            "CheckDiscEndpointTlsClientCertificateBoundAccessTokens",
            || "not true".to_owned(),
        )?;
    } else {
        ensure(
            has("dpop_signing_alg_values_supported", "PS256")
                || has("dpop_signing_alg_values_supported", "ES256"),
            "CheckDiscEndpointDpopSigningAlgValuesSupported",
            || "no PS256/ES256".to_owned(),
        )?;
    }
    for k in [
        "id_token_signing_alg_values_supported",
        "token_endpoint_auth_signing_alg_values_supported",
    ] {
        ensure(
            has(k, "PS256") || has(k, "ES256"),
            "FAPICheckDiscEndpointSigningAlgValuesSupported",
            || format!("{k} lacks PS256/ES256"),
        )?;
    }
    let auth = match env.variant.client_auth {
        ClientAuth::PrivateKeyJwt => "private_key_jwt",
        ClientAuth::Mtls => "tls_client_auth",
    };
    ensure(
        has("token_endpoint_auth_methods_supported", auth),
        "CheckDiscEndpointTokenEndpointAuthMethodsSupported",
        || format!("{auth} not supported"),
    )?;
    if env.variant.pushed() {
        ensure(
            d["pushed_authorization_request_endpoint"].is_string(),
            "CheckDiscEndpointPAREndpoint",
            || "no PAR endpoint".to_owned(),
        )?;
        ensure(
            has("code_challenge_methods_supported", "S256"),
            "CheckDiscEndpointCodeChallengeMethodsSupportedContainsS256",
            || "no S256".to_owned(),
        )?;
    }
    if env.variant.plan == Plan::Fapi1Advanced {
        ensure(
            d["request_parameter_supported"] == json!(true),
            "CheckDiscRequestParameterSupported",
            || "request_parameter_supported is not true".to_owned(),
        )?;
        let rt = if env.variant.jarm() {
            "code"
        } else {
            "code id_token"
        };
        ensure(
            has("response_types_supported", rt),
            "CheckDiscEndpointResponseTypesSupported",
            || format!("{rt} not supported"),
        )?;
        if env.variant.jarm() {
            ensure(
                has("response_modes_supported", "jwt"),
                "CheckDiscEndpointResponseModesSupported",
                || "jwt not supported".to_owned(),
            )?;
        }
        ensure(
            has("request_object_signing_alg_values_supported", "PS256")
                || has("request_object_signing_alg_values_supported", "ES256"),
            "CheckDiscEndpointRequestObjectSigningAlgValuesSupported",
            || "no PS256/ES256".to_owned(),
        )?;
    } else {
        ensure(
            d["authorization_response_iss_parameter_supported"] == json!(true),
            "CheckDiscEndpointAuthorizationResponseIssParameterSupported",
            || "not true".to_owned(),
        )?;
    }
    if env.variant.profile == crate::plan::Profile::OpenBankingUk {
        super::obuk::discovery_checks(d)?;
    }
    Ok(Outcome::Passed)
}

pub(super) async fn fapi1_happy_path(env: &Env) -> ModuleResult {
    let first = full_flow(env, &env.tpp1, &env.auth_params(&env.tpp1).await?).await?;
    // Client 2: a 128-character state, a 43-character nonce, a redirect URI with a query.
    let mut p = env.auth_params(&env.tpp2).await?;
    p.insert("state".to_owned(), json!("s".repeat(128)));
    p.insert("nonce".to_owned(), json!("n".repeat(43)));
    let second = full_flow(env, &env.tpp2, &p).await?;
    super::fapi1::happy_path_resource_checks(env, &first, &second).await?;
    Ok(Outcome::Passed)
}

/// happy-flow: both clients through the whole flow; then, where a protected resource takes the
/// tokens (the UK OB `accounts`, or UserInfo for OpenID tokens), the resource checks of the
/// suite's happy flow, as in FAPI 1.
pub(super) async fn fapi2_happy_flow(env: &Env) -> ModuleResult {
    let first = full_flow(env, &env.tpp1, &env.auth_params(&env.tpp1).await?).await?;
    let second = full_flow(env, &env.tpp2, &env.auth_params(&env.tpp2).await?).await?;
    if env.variant.openid || env.variant.profile == crate::plan::Profile::OpenBankingUk {
        super::fapi1::happy_path_resource_checks(env, &first, &second).await?;
    }
    Ok(Outcome::Passed)
}

/// Expects the server to refuse: an error page, or a redirect carrying one of `errors`.
async fn expect_refusal(
    env: &Env,
    tpp: &Tpp,
    url: &str,
    errors: &[&str],
    condition: &'static str,
) -> ModuleResult {
    let _ = tpp;
    refusal_verdict(&env.browse(url, true).await?, errors, condition)
}

/// Where a refused request landed: an error page or one of `errors` passes, another error is a
/// warning, and a response without an error (the server accepted the request) fails `condition`.
fn refusal_verdict(landing: &Landing, errors: &[&str], condition: &'static str) -> ModuleResult {
    match landing {
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { params, .. } => match params.get("error").and_then(Value::as_str) {
            Some(e) if errors.contains(&e) => Ok(Outcome::Passed),
            Some(e) => Ok(Outcome::Warning(format!(
                "{condition}: refused with {e}, expected one of {errors:?}"
            ))),
            None => Err(fail(
                condition,
                format!("the server accepted the request: {params:?}"),
            )),
        },
    }
}

/// The customer's refusal at the login or consent page: `access_denied` back at the client with
/// the request's `state`.
fn access_denied(landing: &Landing, state: Option<&Value>) -> ModuleResult {
    match landing {
        Landing::Callback { params, .. } => {
            ensure(
                params.get("error") == Some(&json!("access_denied")),
                "CheckErrorFromAuthorizationEndpointErrorAccessDenied",
                || format!("{params:?}"),
            )?;
            ensure(
                params.get("state") == state,
                "CheckStateInAuthorizationResponse",
                || "state not echoed".to_owned(),
            )?;
            Ok(Outcome::Passed)
        }
        Landing::ErrorPage { status, .. } => Err(fail(
            "CheckErrorFromAuthorizationEndpointErrorAccessDenied",
            format!("error page {status} instead of access_denied"),
        )),
    }
}

pub(super) async fn user_rejects(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let url = env.authorization_url(&env.tpp1, &p).await?;
    access_denied(&env.browse(&url, false).await?, p.get("state"))
}

pub(super) async fn unregistered_redirect(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert(
        "redirect_uri".to_owned(),
        json!("https://attacker.example/callback"),
    );
    if env.variant.pushed() {
        let r = env
            .push(&env.tpp1, &p, None, None)
            .await
            .map_err(transport)?;
        if r.status == 400 {
            return Ok(Outcome::Passed);
        }
    }
    let url = env.authorization_url(&env.tpp1, &p).await;
    let Ok(url) = url else {
        return Ok(Outcome::Passed);
    };
    match env.browse(&url, true).await? {
        Landing::ErrorPage { .. } => Ok(Outcome::Passed),
        Landing::Callback { url, .. } => {
            Err(fail("EnsureErrorPage", format!("redirected to {url}")))
        }
    }
}

pub(super) async fn without_state(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.remove("state");
    full_flow(env, &env.tpp1, &p).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn other_scope_order(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    let reversed: Vec<&str> = p["scope"]
        .as_str()
        .unwrap_or_default()
        .split(' ')
        .rev()
        .collect();
    p.insert("scope".to_owned(), json!(reversed.join(" ")));
    full_flow(env, &env.tpp1, &p).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn long_nonce(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    if !p.contains_key("nonce") {
        return Ok(Outcome::Skipped("no nonce in this variant".to_owned()));
    }
    p.insert("nonce".to_owned(), json!("n".repeat(384)));
    full_flow(env, &env.tpp1, &p).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn long_state(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert("state".to_owned(), json!("s".repeat(384)));
    full_flow(env, &env.tpp1, &p).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn response_type_code_without_jarm(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert("response_type".to_owned(), json!("code"));
    p.remove("response_mode");
    refused(
        env,
        &env.tpp1,
        &p,
        None,
        &[
            "invalid_request",
            "unsupported_response_type",
            "invalid_request_object",
        ],
        "EnsureInvalidRequestError",
    )
    .await
}

pub(super) async fn without_request_object(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let endpoint = env.discovery["authorization_endpoint"]
        .as_str()
        .unwrap_or_default();
    let mut url =
        url::Url::parse(endpoint).map_err(|e| fail("CheckDiscoveryEndpoint", e.to_string()))?;
    for (k, v) in &p {
        url.query_pairs_mut()
            .append_pair(k, v.as_str().unwrap_or_default());
    }
    expect_refusal(
        env,
        &env.tpp1,
        url.as_str(),
        &["invalid_request", "request_not_supported"],
        "EnsureInvalidRequestError",
    )
    .await
}

pub(super) async fn fapi2_hybrid_refused(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert("response_type".to_owned(), json!("code id_token"));
    refused(
        env,
        &env.tpp1,
        &p,
        None,
        &["unsupported_response_type", "invalid_request"],
        "EnsureUnsupportedResponseTypeOrInvalidRequestError",
    )
    .await
}

pub(super) async fn fapi2_unpushed_refused(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let endpoint = env.discovery["authorization_endpoint"]
        .as_str()
        .unwrap_or_default();
    let mut url =
        url::Url::parse(endpoint).map_err(|e| fail("CheckDiscoveryEndpoint", e.to_string()))?;
    for (k, v) in &p {
        url.query_pairs_mut()
            .append_pair(k, v.as_str().unwrap_or_default());
    }
    expect_refusal(
        env,
        &env.tpp1,
        url.as_str(),
        &["invalid_request", "invalid_request_object"],
        "EnsureInvalidRequestError",
    )
    .await
}

/// Sends `params` (with `request_object` replacing the variant's own when given) the variant's
/// way and expects a refusal: a 400 from PAR, an error page, or a redirect with one of `errors`.
async fn refused(
    env: &Env,
    tpp: &Tpp,
    params: &Map<String, Value>,
    request_object: Option<String>,
    errors: &[&str],
    condition: &'static str,
) -> ModuleResult {
    if env.variant.pushed() {
        let r = env
            .push(tpp, params, request_object, None)
            .await
            .map_err(transport)?;
        if r.status == 400 {
            let e = r.error().unwrap_or_default();
            return Ok(
                if errors.contains(&e.as_str()) || e.starts_with("invalid_request") {
                    Outcome::Passed
                } else {
                    Outcome::Warning(format!("{condition}: PAR refused with {e}"))
                },
            );
        }
        ensure(r.status == 201, condition, || {
            format!("PAR answered {}: {}", r.status, snippet(&r.body))
        })?;
        let request_uri = request_uri_of(&r)?;
        let endpoint = env.discovery["authorization_endpoint"]
            .as_str()
            .unwrap_or_default();
        let mut url = url::Url::parse(endpoint).map_err(|e| fail(condition, e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", &tpp.client_id)
            .append_pair("request_uri", &request_uri);
        let mut all = errors.to_vec();
        all.push("invalid_request_uri");
        return expect_refusal(env, tpp, url.as_str(), &all, condition).await;
    }
    let jwt = request_object.unwrap_or_else(|| env.request_object(tpp, params));
    let endpoint = env.discovery["authorization_endpoint"]
        .as_str()
        .unwrap_or_default();
    let mut url = url::Url::parse(endpoint).map_err(|e| fail(condition, e.to_string()))?;
    url.query_pairs_mut()
        .append_pair("client_id", &tpp.client_id)
        .append_pair(
            "response_type",
            params["response_type"].as_str().unwrap_or("code"),
        )
        .append_pair("scope", params["scope"].as_str().unwrap_or("openid"))
        .append_pair(
            "redirect_uri",
            params["redirect_uri"].as_str().unwrap_or_default(),
        )
        .append_pair("request", &jwt);
    expect_refusal(env, tpp, url.as_str(), errors, condition).await
}

/// A request object of `tpp` with `adjust` applied to its claims.
fn adjusted_request_object(
    env: &Env,
    tpp: &Tpp,
    params: &Map<String, Value>,
    adjust: impl FnOnce(&mut Map<String, Value>),
    alg: Option<&str>,
) -> String {
    let now = now();
    let mut claims = params.clone();
    claims.insert("iss".to_owned(), json!(tpp.client_id));
    claims.insert("aud".to_owned(), json!(env.issuer));
    claims.insert("nbf".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(now + 300));
    adjust(&mut claims);
    tpp.sign_with(
        &Value::Object(claims),
        Some("oauth-authz-req+jwt"),
        alg.unwrap_or(tpp.alg),
    )
}

async fn request_object_refused(
    env: &Env,
    adjust: impl FnOnce(&mut Map<String, Value>),
) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let jwt = adjusted_request_object(env, &env.tpp1, &p, adjust, None);
    refused(
        env,
        &env.tpp1,
        &p,
        Some(jwt),
        &["invalid_request_object", "invalid_request"],
        "EnsureInvalidRequestObjectError",
    )
    .await
}

pub(super) async fn request_object_without_exp(env: &Env) -> ModuleResult {
    request_object_refused(env, |c| {
        c.remove("exp");
    })
    .await
}

pub(super) async fn request_object_without_nbf(env: &Env) -> ModuleResult {
    request_object_refused(env, |c| {
        c.remove("nbf");
    })
    .await
}

pub(super) async fn expired_request_object(env: &Env) -> ModuleResult {
    let now = now();
    request_object_refused(env, |c| {
        c.insert("nbf".to_owned(), json!(now - 600));
        c.insert("exp".to_owned(), json!(now - 300));
    })
    .await
}

pub(super) async fn request_object_bad_aud(env: &Env) -> ModuleResult {
    request_object_refused(env, |c| {
        c.insert("aud".to_owned(), json!("https://not-the-issuer.example"));
    })
    .await
}

pub(super) async fn request_object_exp_over_60(env: &Env) -> ModuleResult {
    let now = now();
    request_object_refused(env, |c| {
        c.insert("exp".to_owned(), json!(now + 3660));
    })
    .await
}

pub(super) async fn request_object_rs256(env: &Env) -> ModuleResult {
    // RS256 with the client's own RSA key: the server must refuse the algorithm.
    let p = env.auth_params(&env.tpp1).await?;
    let now = now();
    let mut claims = p.clone();
    claims.insert("iss".to_owned(), json!(env.tpp1.client_id));
    claims.insert("aud".to_owned(), json!(env.issuer));
    claims.insert("nbf".to_owned(), json!(now));
    claims.insert("exp".to_owned(), json!(now + 300));
    let mut header = josekit::jws::JwsHeader::new();
    if let Some(kid) = env.tpp1.key.key_id() {
        header.set_key_id(kid);
    }
    let payload = josekit::jwt::JwtPayload::from_map(claims).unwrap_or_default();
    let Ok(signer) = josekit::jws::RS256.signer_from_jwk(&env.tpp1.key_for_any_alg()) else {
        return Ok(Outcome::Skipped("the client's key is not RSA".to_owned()));
    };
    let jwt = josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap_or_default();
    refused(
        env,
        &env.tpp1,
        &p,
        Some(jwt),
        &["invalid_request_object", "invalid_request"],
        "EnsureInvalidRequestObjectError",
    )
    .await
}

pub(super) async fn request_object_other_key(env: &Env) -> ModuleResult {
    // Client 1's request, signed with client 2's key.
    let p = env.auth_params(&env.tpp1).await?;
    let jwt = adjusted_request_object(
        env,
        &env.tpp2,
        &p,
        |c| {
            c.insert("iss".to_owned(), json!(env.tpp1.client_id));
        },
        None,
    );
    refused(
        env,
        &env.tpp1,
        &p,
        Some(jwt),
        &["invalid_request_object", "invalid_request"],
        "EnsureInvalidRequestObjectError",
    )
    .await
}

pub(super) async fn request_object_multiple_aud(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let jwt = adjusted_request_object(
        env,
        &env.tpp1,
        &p,
        |c| {
            c.insert(
                "aud".to_owned(),
                json!([env.issuer, "https://other.example/"]),
            );
        },
        None,
    );
    let url = if env.variant.pushed() {
        let r = env
            .push(&env.tpp1, &p, Some(jwt), None)
            .await
            .map_err(transport)?;
        let request_uri = request_uri_of(&r)?;
        let mut url = url::Url::parse(
            env.discovery["authorization_endpoint"]
                .as_str()
                .unwrap_or_default(),
        )
        .map_err(transport)?;
        url.query_pairs_mut()
            .append_pair("client_id", &env.tpp1.client_id)
            .append_pair("request_uri", &request_uri);
        url.to_string()
    } else {
        let mut url = url::Url::parse(
            env.discovery["authorization_endpoint"]
                .as_str()
                .unwrap_or_default(),
        )
        .map_err(transport)?;
        url.query_pairs_mut()
            .append_pair("client_id", &env.tpp1.client_id)
            .append_pair(
                "response_type",
                p["response_type"].as_str().unwrap_or("code"),
            )
            .append_pair("scope", p["scope"].as_str().unwrap_or("openid"))
            .append_pair("redirect_uri", &env.tpp1.redirect_uri)
            .append_pair("request", &jwt);
        url.to_string()
    };
    match env.browse(&url, true).await? {
        Landing::Callback { params, .. } => {
            check_callback(env, &env.tpp1, &p, &params)?;
            Ok(Outcome::Passed)
        }
        Landing::ErrorPage { status, body } => Err(fail(
            "CheckAuthorizationEndpointResponse",
            format!("error page {status}: {}", snippet(&body)),
        )),
    }
}

pub(super) async fn code_for(env: &Env, tpp: &Tpp) -> Result<String, Failure> {
    let p = env.auth_params(tpp).await?;
    let got = env.authorize(tpp, &p).await?;
    check_callback(env, tpp, &p, &got)
}

fn expect_error(
    reply: &Reply,
    status: &[u16],
    error: &str,
    condition: &'static str,
) -> ModuleResult {
    ensure(status.contains(&reply.status), condition, || {
        format!(
            "status {} ({}), expected {status:?}",
            reply.status,
            snippet(&reply.body)
        )
    })?;
    ensure(reply.error().as_deref() == Some(error), condition, || {
        format!("error {:?}, expected {error}", reply.error())
    })?;
    Ok(Outcome::Passed)
}

pub(super) async fn valid_pkce(env: &Env) -> ModuleResult {
    full_flow(env, &env.tpp1, &env.auth_params(&env.tpp1).await?).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn incorrect_pkce(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let reply = redeem(env, &env.tpp1, &code, &"x".repeat(43)).await?;
    expect_error(
        &reply,
        &[400],
        "invalid_grant",
        "CheckTokenEndpointReturnedInvalidGrant",
    )
}

pub(super) async fn pkce_verifier_required(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let reply = env
        .token(
            &env.tpp1,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &env.tpp1.redirect_uri),
            ],
            true,
        )
        .await?;
    verifier_missing_refused(&reply)
}

/// The token endpoint's refusal of a code redeemed without its PKCE verifier: 400 with
/// `invalid_grant` or `invalid_request`.
fn verifier_missing_refused(reply: &Reply) -> ModuleResult {
    ensure(
        reply.status == 400,
        "CheckTokenEndpointHttpStatus400",
        || format!("status {}", reply.status),
    )?;
    ensure(
        matches!(
            reply.error().as_deref(),
            Some("invalid_grant" | "invalid_request")
        ),
        "CheckTokenEndpointReturnedInvalidGrant",
        || format!("{:?}", reply.error()),
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn client_id_in_token_endpoint(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let url = env.endpoint("token_endpoint");
    let mut form = env.client_auth(&env.tpp1, None);
    form[0].1 = env.tpp2.client_id.clone();
    form.extend([
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ]);
    let mut req = env.tpp1.mtls.post(&url).form(&form);
    if env.variant.dpop() {
        req = req.header("DPoP", env.dpop_proof(&env.dpop_key(), "POST", &url, None));
    }
    let reply = env.send(req, None).await.map_err(transport)?;
    ensure(
        reply.status == 400 || reply.status == 401,
        "EnsureInvalidClientError",
        || format!("status {}", reply.status),
    )?;
    ensure(
        matches!(
            reply.error().as_deref(),
            Some("invalid_client" | "invalid_grant")
        ),
        "EnsureInvalidClientError",
        || format!("{:?}", reply.error()),
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn code_bound_to_client(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let reply = redeem(env, &env.tpp2, &code, VERIFIER).await?;
    expect_error(
        &reply,
        &[400],
        "invalid_grant",
        "CheckTokenEndpointReturnedInvalidGrant",
    )
}

pub(super) async fn code_reuse(env: &Env) -> ModuleResult {
    let code = code_for(env, &env.tpp1).await?;
    let first = redeem(env, &env.tpp1, &code, VERIFIER).await?;
    check_token_response(env, &env.tpp1, &first, None)?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let second = redeem(env, &env.tpp1, &code, VERIFIER).await?;
    reused_code_refused(&second)?;
    // The reuse revoked what the first redemption issued (RFC 6749 section 4.1.2): the access
    // token no longer works at userinfo.
    let url = env.endpoint("userinfo_endpoint");
    if url.is_empty() {
        return Ok(Outcome::Passed);
    }
    let token = first.json()["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let request = if env.variant.dpop() {
        env.tpp1
            .mtls
            .get(&url)
            .header("Authorization", format!("DPoP {token}"))
            .header(
                "DPoP",
                env.dpop_proof(&env.dpop_key(), "GET", &url, Some(&token)),
            )
    } else {
        env.tpp1
            .mtls
            .get(&url)
            .header("Authorization", format!("Bearer {token}"))
    };
    let reply = env.send(request, None).await.map_err(transport)?;
    tokens_revoked_after_reuse(&reply)?;
    Ok(Outcome::Passed)
}

/// The token endpoint's answer to a code redeemed a second time: 400 `invalid_grant`.
fn reused_code_refused(reply: &Reply) -> ModuleResult {
    expect_error(
        reply,
        &[400],
        "invalid_grant",
        "CheckTokenEndpointReturnedInvalidGrant",
    )
}

/// The resource's answer to the access token of a code that was then reused: 401, revoked.
fn tokens_revoked_after_reuse(reply: &Reply) -> Check {
    ensure(
        reply.status == 401,
        "EnsureTokensRevokedAfterCodeReuse",
        || {
            format!(
                "the first access token still works after the code was reused: {}",
                reply.status
            )
        },
    )
}

pub(super) async fn holder_of_key_required(env: &Env) -> ModuleResult {
    super::tls::fapi_tls(env).await?;
    if env.variant.client_auth == ClientAuth::Mtls {
        // Without a certificate an mTLS client cannot even authenticate: covered by that.
        let code = code_for(env, &env.tpp1).await?;
        let reply = env
            .token(
                &env.tpp1,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", VERIFIER),
                ],
                false,
            )
            .await?;
        ensure(
            (400..500).contains(&reply.status),
            "ValidateErrorResponseFromTokenEndpoint",
            || format!("status {}", reply.status),
        )?;
        return Ok(Outcome::Passed);
    }
    let code = code_for(env, &env.tpp1).await?;
    let reply = env
        .token(
            &env.tpp1,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
            false,
        )
        .await?;
    ensure(
        (400..500).contains(&reply.status),
        "ValidateErrorResponseFromTokenEndpoint",
        || format!("a token without the certificate: status {}", reply.status),
    )?;
    Ok(Outcome::Passed)
}

async fn pushed_url(env: &Env, tpp: &Tpp, params: &Map<String, Value>) -> Result<String, Failure> {
    env.authorization_url(tpp, params).await
}

pub(super) async fn par_reuse(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let url = pushed_url(env, &env.tpp1, &p).await?;
    match env.browse(&url, true).await? {
        Landing::Callback { params, .. } => {
            check_callback(env, &env.tpp1, &p, &params)?;
        }
        Landing::ErrorPage { status, .. } => {
            return Err(fail(
                "CallAuthorizationEndpoint",
                format!("error page {status}"),
            ));
        }
    }
    expect_refusal(
        env,
        &env.tpp1,
        &url,
        &["invalid_request_uri", "invalid_request"],
        "EnsureInvalidRequestUriError",
    )
    .await
}

pub(super) async fn par_reuse_before_completion(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let url = pushed_url(env, &env.tpp1, &p).await?;
    // Visit it once without completing (a fresh browser), then complete it in another.
    let first = env.tpp1.plain.get(&url).send().await.map_err(transport)?;
    ensure(
        first.status().is_redirection() || first.status().is_success(),
        "CallAuthorizationEndpoint",
        || format!("first visit {}", first.status()),
    )?;
    match env.browse(&url, true).await? {
        Landing::Callback { params, .. } => {
            check_callback(env, &env.tpp1, &p, &params)?;
            Ok(Outcome::Passed)
        }
        Landing::ErrorPage { status, .. } => Err(fail(
            "CallAuthorizationEndpoint",
            format!("error page {status} on reuse before completion"),
        )),
    }
}

pub(super) async fn par_other_client(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let url = pushed_url(env, &env.tpp1, &p).await?;
    let stolen = url.replace(
        &format!("client_id={}", env.tpp1.client_id),
        &format!("client_id={}", env.tpp2.client_id),
    );
    expect_refusal(
        env,
        &env.tpp2,
        &stolen,
        &["invalid_request_uri", "invalid_request"],
        "EnsureInvalidRequestUriError",
    )
    .await
}

pub(super) async fn par_with_request_uri(env: &Env) -> ModuleResult {
    let url = env.endpoint("pushed_authorization_request_endpoint");
    let mut form = env.client_auth(&env.tpp1, None);
    form.push((
        "request_uri".to_owned(),
        "urn:ietf:params:oauth:request_uri:abc".to_owned(),
    ));
    for (k, v) in env.auth_params(&env.tpp1).await? {
        if k != "client_id" {
            form.push((k, v.as_str().unwrap_or_default().to_owned()));
        }
    }
    let reply = env
        .send(env.tpp1.mtls.post(&url).form(&form), None)
        .await
        .map_err(transport)?;
    expect_error(
        &reply,
        &[400],
        "invalid_request",
        "EnsurePAREndpointInvalidRequestError",
    )
}

pub(super) async fn par_get(env: &Env) -> ModuleResult {
    let url = env.endpoint("pushed_authorization_request_endpoint");
    let reply = env
        .send(env.tpp1.mtls.get(&url), None)
        .await
        .map_err(transport)?;
    ensure(
        reply.status == 405,
        "CheckPAREndpointInvalidHttpMethod",
        || format!("GET answered {}", reply.status),
    )?;
    Ok(Outcome::Passed)
}

pub(super) async fn par_pkce_required(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.remove("code_challenge");
    p.remove("code_challenge_method");
    refused(
        env,
        &env.tpp1,
        &p,
        None,
        &["invalid_request"],
        "EnsurePAREndpointInvalidRequestError",
    )
    .await
}

pub(super) async fn par_plain_pkce(env: &Env) -> ModuleResult {
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert("code_challenge".to_owned(), json!(VERIFIER));
    p.insert("code_challenge_method".to_owned(), json!("plain"));
    refused(
        env,
        &env.tpp1,
        &p,
        None,
        &["invalid_request"],
        "EnsurePAREndpointInvalidRequestError",
    )
    .await
}

pub(super) async fn dpop_code_binding(env: &Env) -> ModuleResult {
    // The PAR request carried a DPoP proof: the code is bound to that key; another key fails.
    let code = code_for(env, &env.tpp1).await?;
    let url = env.endpoint("token_endpoint");
    let other = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
        .map_err(transport)?
        .to_jwk_key_pair();
    let mut form = env.client_auth(&env.tpp1, None);
    form.extend([
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.clone()),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ]);
    let req = env
        .tpp1
        .mtls
        .post(&url)
        .form(&form)
        .header("DPoP", env.dpop_proof(&other, "POST", &url, None));
    other_dpop_key_refused(&env.send(req, None).await.map_err(transport)?)?;
    let reply = redeem(env, &env.tpp1, &code, VERIFIER).await?;
    check_token_response(env, &env.tpp1, &reply, None)?;
    Ok(Outcome::Passed)
}

/// The token endpoint's answer to a code bound to one DPoP key redeemed with a proof by another:
/// 400.
fn other_dpop_key_refused(reply: &Reply) -> Check {
    ensure(
        reply.status == 400,
        "EnsureTokenEndpointFailsWithMismatchedDpopJkt",
        || format!("another key got {}", reply.status),
    )
}

pub(super) async fn refresh_token(env: &Env) -> ModuleResult {
    let p = env.auth_params(&env.tpp1).await?;
    let body = full_flow(env, &env.tpp1, &p).await?;
    let Some(refresh) = body["refresh_token"].as_str() else {
        return Ok(Outcome::Skipped(
            "the server issued no refresh token".to_owned(),
        ));
    };
    let reply = env
        .token(
            &env.tpp1,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            true,
        )
        .await?;
    check_token_response(env, &env.tpp1, &reply, None)?;
    // Without the bound certificate.
    if env.variant.client_auth == ClientAuth::PrivateKeyJwt {
        let reply = env
            .token(
                &env.tpp1,
                &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
                false,
            )
            .await?;
        ensure(
            (400..500).contains(&reply.status),
            "EnsureRefreshTokenBoundToCertificate",
            || format!("status {}", reply.status),
        )?;
    }
    // Another client's refresh token.
    let reply = env
        .token(
            &env.tpp2,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            true,
        )
        .await?;
    expect_error(
        &reply,
        &[400],
        "invalid_grant",
        "CheckTokenEndpointReturnedInvalidGrant",
    )?;
    let _ = CHALLENGE;
    Ok(Outcome::Passed)
}

/// The conditions replayed against recorded good and bad responses: each must pass the good one
/// and fail the bad one with its own name, so the harness is shown able to fail.
#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests fail by panicking"
    )]

    use serde_json::{Value, json};

    use super::{
        access_denied, check_callback, check_token_response, other_dpop_key_refused,
        refusal_verdict, reused_code_refused, tokens_revoked_after_reuse, verifier_missing_refused,
    };
    use crate::env::{Exchange, Reply, half_hash, now};
    use crate::modules::Outcome;
    use crate::modules::testkit::{
        FAPI1, FAPI1_JARM, FAPI2, ISSUER, JSON, callback, condition, error_page, fixture,
        fixture_with, map, oauth_error, reply as recorded, token_issued,
    };
    use crate::plan::Variant;

    #[test]
    fn fapi2_callbacks_need_the_state_and_iss() {
        let f = fixture(FAPI2);
        let sent = map(json!({"state": "s1", "response_type": "code"}));
        let good = map(json!({"code": "c", "state": "s1", "iss": ISSUER}));
        assert_eq!(
            check_callback(&f.env, &f.env.tpp1, &sent, &good).unwrap(),
            "c"
        );
        let truncated = map(json!({"code": "c", "state": "s", "iss": ISSUER}));
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &truncated)),
            "CheckMatchingStateParameter"
        );
        let no_iss = map(json!({"code": "c", "state": "s1"}));
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &no_iss)),
            "CheckIssInAuthorizationResponse"
        );
        let error = map(json!({"error": "access_denied", "state": "s1"}));
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &error)),
            "CheckAuthorizationEndpointResponse"
        );
    }

    #[test]
    fn hybrid_id_tokens_are_checked_hash_by_hash() {
        let f = fixture(FAPI1);
        let sent = map(json!({"state": "s1", "nonce": "n1", "response_type": "code id_token"}));
        let claims = |c_hash: &str, s_hash: Option<&str>| {
            let mut c = json!({"iss": ISSUER, "aud": "c1", "nonce": "n1", "exp": now() + 60, "c_hash": c_hash});
            if let Some(s) = s_hash {
                c["s_hash"] = json!(s);
            }
            c
        };
        let good = f.sign(claims(&half_hash("code-1"), Some(&half_hash("s1"))));
        let got = |t: &str| map(json!({"code": "code-1", "state": "s1", "id_token": t}));
        assert!(check_callback(&f.env, &f.env.tpp1, &sent, &got(&good)).is_ok());
        let bad_c = f.sign(claims(&half_hash("other"), Some(&half_hash("s1"))));
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &got(&bad_c))),
            "ValidateCHash"
        );
        let bad_s = f.sign(claims(&half_hash("code-1"), Some(&half_hash("s2"))));
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &got(&bad_s))),
            "ValidateSHash"
        );
        let forged = format!("{}x", &good[..good.len() - 1]);
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &got(&forged))),
            "ValidateIdTokenSignature"
        );
    }

    fn reply(status: u16, cache: Option<&str>, body: Value) -> Reply {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(c) = cache {
            headers.insert("cache-control", c.parse().unwrap());
        }
        Reply {
            status,
            headers,
            location: None,
            body: body.to_string(),
        }
    }

    #[test]
    fn token_responses_need_no_store_the_right_type_and_a_valid_id_token() {
        let f = fixture(FAPI2);
        let id_token = f.sign(json!({"iss": ISSUER, "aud": "c1", "exp": now() + 60, "nonce": "n", "at_hash": half_hash("at")}));
        let body = |t: &str| json!({"access_token": "at", "token_type": t, "id_token": id_token});
        let n = json!("n");
        assert!(
            check_token_response(
                &f.env,
                &f.env.tpp1,
                &reply(200, Some("no-store"), body("Bearer")),
                Some(&n)
            )
            .is_ok()
        );
        assert_eq!(
            condition(check_token_response(
                &f.env,
                &f.env.tpp1,
                &reply(200, None, body("Bearer")),
                None
            )),
            "CheckTokenEndpointCacheHeaders"
        );
        assert_eq!(
            condition(check_token_response(
                &f.env,
                &f.env.tpp1,
                &reply(200, Some("no-store"), body("DPoP")),
                None
            )),
            "CheckTokenTypeIsBearer"
        );
        assert_eq!(
            condition(check_token_response(
                &f.env,
                &f.env.tpp1,
                &reply(400, Some("no-store"), json!({"error": "invalid_grant"})),
                None
            )),
            "CallTokenEndpoint"
        );
        let wrong_nonce = json!("other");
        assert_eq!(
            condition(check_token_response(
                &f.env,
                &f.env.tpp1,
                &reply(200, Some("no-store"), body("Bearer")),
                Some(&wrong_nonce)
            )),
            "ValidateIdTokenNonce"
        );
    }

    fn good_discovery() -> Value {
        let e = |p: &str| format!("{ISSUER}{p}");
        json!({
            "issuer": ISSUER, "jwks_uri": e("/jwks"), "authorization_endpoint": e("/authorize"),
            "token_endpoint": e("/token"), "pushed_authorization_request_endpoint": e("/par"),
            "tls_client_certificate_bound_access_tokens": true,
            "id_token_signing_alg_values_supported": ["PS256", "ES256"],
            "token_endpoint_auth_signing_alg_values_supported": ["PS256"],
            "request_object_signing_alg_values_supported": ["PS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"],
            "code_challenge_methods_supported": ["S256"], "request_parameter_supported": true,
            "response_types_supported": ["code", "code id_token"], "response_modes_supported": ["jwt"],
            "authorization_response_iss_parameter_supported": true, "dpop_signing_alg_values_supported": ["ES256"],
        })
    }

    async fn discovery_condition(
        plan: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Option<&'static str> {
        let mut d = good_discovery();
        edit(&mut d);
        let f = fixture_with(plan, d);
        match super::discovery(&f.env).await {
            Ok(super::Outcome::Passed) => None,
            Err(failure) => Some(failure.condition),
            Ok(other) => panic!("unexpected outcome {other:?}"),
        }
    }

    #[tokio::test]
    async fn discovery_conditions_fail_on_what_they_check() {
        assert_eq!(discovery_condition(FAPI1, |_| {}).await, None);
        assert_eq!(discovery_condition(FAPI2, |_| {}).await, None);
        assert_eq!(
            discovery_condition(FAPI1, |d| d["tls_client_certificate_bound_access_tokens"] =
                json!(false))
            .await,
            Some("CheckDiscEndpointTlsClientCertificateBoundAccessTokens")
        );
        assert_eq!(
            discovery_condition(FAPI2, |d| d["id_token_signing_alg_values_supported"] =
                json!(["RS256"]))
            .await,
            Some("FAPICheckDiscEndpointSigningAlgValuesSupported")
        );
        assert_eq!(
            discovery_condition(FAPI1, |d| d["token_endpoint_auth_methods_supported"] =
                json!(["client_secret_basic"]))
            .await,
            Some("CheckDiscEndpointTokenEndpointAuthMethodsSupported")
        );
        assert_eq!(
            discovery_condition(FAPI1, |d| d["request_parameter_supported"] = json!(false)).await,
            Some("CheckDiscRequestParameterSupported")
        );
        assert_eq!(
            discovery_condition(FAPI1, |d| d["response_types_supported"] = json!(["code"])).await,
            Some("CheckDiscEndpointResponseTypesSupported")
        );
        assert_eq!(
            discovery_condition(
                FAPI2,
                |d| d["authorization_response_iss_parameter_supported"] = json!(false)
            )
            .await,
            Some("CheckDiscEndpointAuthorizationResponseIssParameterSupported")
        );
        assert_eq!(
            discovery_condition(FAPI2, |d| d["issuer"] = json!("https://other.example")).await,
            Some("CheckDiscoveryIssuer")
        );
    }

    #[test]
    fn expected_errors_are_checked_by_status_and_code() {
        let good = reply(400, None, json!({"error": "invalid_grant"}));
        assert!(super::expect_error(&good, &[400], "invalid_grant", "C").is_ok());
        let wrong_code = reply(400, None, json!({"error": "invalid_request"}));
        assert_eq!(
            condition(super::expect_error(
                &wrong_code,
                &[400],
                "invalid_grant",
                "C"
            )),
            "C"
        );
        let accepted = reply(200, None, json!({"access_token": "x"}));
        assert_eq!(
            condition(super::expect_error(&accepted, &[400], "invalid_grant", "C")),
            "C"
        );
    }

    #[test]
    fn hybrid_id_tokens_need_the_nonce_aud_iss_and_the_servers_signature() {
        let f = fixture(FAPI1);
        let sent = map(json!({"state": "s1", "nonce": "n1", "response_type": "code id_token"}));
        let good = || {
            json!({"iss": ISSUER, "aud": "c1", "nonce": "n1", "exp": now() + 60, "sub": "u1",
                   "c_hash": half_hash("code-1"), "s_hash": half_hash("s1")})
        };
        let judged = |id_token: &str| {
            let got = map(json!({"code": "code-1", "state": "s1", "id_token": id_token}));
            check_callback(&f.env, &f.env.tpp1, &sent, &got)
        };
        let with = |claim: &str, value: Value| {
            let mut claims = good();
            claims[claim] = value;
            f.sign(claims)
        };
        assert!(judged(&f.sign(good())).is_ok());
        assert_eq!(
            condition(judged(&with("nonce", json!("n2")))),
            "ValidateIdTokenNonce"
        );
        let mut no_nonce = good();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert_eq!(condition(judged(&f.sign(no_nonce))), "ValidateIdTokenNonce");
        assert_eq!(
            condition(judged(&with("aud", json!("c2")))),
            "ValidateIdTokenAud"
        );
        assert_eq!(
            condition(judged(&with("iss", json!("https://other.example")))),
            "ValidateIdTokenIss"
        );
        // The header: a kid of the server's JWKS, and PS256 or ES256.
        let header = |h: Value| f.sign_with_header(map(h), good());
        for bad in [
            header(json!({"alg": "PS256"})),
            header(json!({"alg": "PS256", "kid": "rotated-away"})),
            header(json!({"alg": "RS256", "kid": "sk"})),
        ] {
            assert_eq!(condition(judged(&bad)), "ValidateIdTokenSignature");
        }
        let b64 = |v: Value| crate::env::b64url(v.to_string().as_bytes());
        let unsigned = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "kid": "sk"})),
            b64(good())
        );
        assert_eq!(condition(judged(&unsigned)), "ValidateIdTokenSignature");
        let no_id_token = map(json!({"code": "code-1", "state": "s1"}));
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &no_id_token)),
            "ExtractIdToken"
        );
    }

    #[test]
    fn a_hybrid_response_to_a_request_without_state_has_no_s_hash() {
        let f = fixture(FAPI1);
        let sent = map(json!({"nonce": "n1", "response_type": "code id_token"}));
        let claims = json!({"iss": ISSUER, "aud": "c1", "nonce": "n1", "exp": now() + 60, "c_hash": half_hash("code-1")});
        let got = |t: String| map(json!({"code": "code-1", "id_token": t}));
        assert!(check_callback(&f.env, &f.env.tpp1, &sent, &got(f.sign(claims.clone()))).is_ok());
        let mut with_s_hash = claims;
        with_s_hash["s_hash"] = json!(half_hash(""));
        assert_eq!(
            condition(check_callback(
                &f.env,
                &f.env.tpp1,
                &sent,
                &got(f.sign(with_s_hash))
            )),
            "CheckNoSHash"
        );
    }

    #[test]
    fn jarm_responses_must_be_addressed_to_the_client() {
        let f = fixture(FAPI1_JARM);
        let sent = map(json!({"state": "s1", "response_type": "code", "response_mode": "jwt"}));
        let got = |aud: Option<&str>| {
            let mut got = json!({"code": "c", "state": "s1", "iss": ISSUER});
            if let Some(aud) = aud {
                got["jarm_aud"] = json!(aud);
            }
            map(got)
        };
        assert!(check_callback(&f.env, &f.env.tpp1, &sent, &got(Some("c1"))).is_ok());
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &got(Some("c2")))),
            "ValidateJARMAud"
        );
        // A plain response where JARM was asked for.
        assert_eq!(
            condition(check_callback(&f.env, &f.env.tpp1, &sent, &got(None))),
            "ValidateJARMAud"
        );
    }

    /// Issue 4's proof that the harness can fail: a negative module judged on the recorded answer
    /// of a server configured to skip its check. Such a server redeems an authorization code a
    /// second time; the module's condition fails that answer, and the report prints the module
    /// FAILED, naming the condition and the exchange, and the run fails.
    #[test]
    fn negative_module_fails_against_a_server_that_redeems_a_code_twice() {
        let variant = Variant::parse(FAPI1).unwrap();
        let name = "fapi1-advanced-final-attempt-reuse-authorisation-code-after-one-second";
        assert!(
            crate::modules::selected(&variant)
                .iter()
                .any(|m| m.name(&variant) == name)
        );
        // A server that checks: the second redemption is refused.
        assert!(matches!(
            reused_code_refused(&oauth_error(400, "invalid_grant")),
            Ok(Outcome::Passed)
        ));
        // A server that skips the check: the second redemption gets tokens.
        let second = token_issued();
        let outcome = reused_code_refused(&second);
        assert_eq!(
            condition(outcome.clone()),
            "CheckTokenEndpointReturnedInvalidGrant"
        );
        let exchange = Exchange {
            method: "POST".to_owned(),
            url: format!("{ISSUER}/token"),
            request_body: Some(
                "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA".to_owned(),
            ),
            status: second.status,
            location: None,
            response_body: second.body.clone(),
        };
        let report = crate::report::module_report(name.to_owned(), outcome, vec![exchange]);
        assert_eq!(report.result, "FAILED");
        let verdict = crate::report::verdict(&variant, &[report], &[]);
        assert!(!verdict.ok);
        let failed = format!("FAILED  {name}  CheckTokenEndpointReturnedInvalidGrant: status 200");
        assert!(
            verdict.lines.iter().any(|l| l.starts_with(&failed)),
            "{:#?}",
            verdict.lines
        );
        assert!(
            verdict
                .lines
                .iter()
                .any(|l| l.contains("POST https://as.example/token -> 200"))
        );
        assert!(verdict.lines.contains(&"0 passed, 1 failed".to_owned()));

        // And when the server refused the reuse but kept the first tokens alive.
        let revoked = recorded(
            401,
            &[("www-authenticate", r#"Bearer error="invalid_token""#)],
            json!({"error": "invalid_token"}),
        );
        assert!(tokens_revoked_after_reuse(&revoked).is_ok());
        let still_valid = recorded(200, &[JSON], json!({"sub": "u1"}));
        assert_eq!(
            condition(tokens_revoked_after_reuse(&still_valid)),
            "EnsureTokensRevokedAfterCodeReuse"
        );
    }

    #[test]
    fn refused_requests_end_on_an_error_page_or_an_expected_error() {
        let errors = ["invalid_request_uri", "invalid_request"];
        let judged = |landing| refusal_verdict(&landing, &errors, "EnsureInvalidRequestUriError");
        assert!(matches!(judged(error_page()), Ok(Outcome::Passed)));
        assert!(matches!(
            judged(callback(
                json!({"error": "invalid_request_uri", "state": "s"}),
                false
            )),
            Ok(Outcome::Passed)
        ));
        assert!(matches!(
            judged(callback(json!({"error": "access_denied", "state": "s"}), false)),
            Ok(Outcome::Warning(w)) if w.starts_with("EnsureInvalidRequestUriError: refused with access_denied")
        ));
        // A server that honoured the reused or stolen request_uri.
        assert_eq!(
            condition(judged(callback(json!({"code": "c", "state": "s"}), false))),
            "EnsureInvalidRequestUriError"
        );
    }

    #[test]
    fn a_customer_who_refuses_gets_access_denied_with_the_state() {
        let state = json!("s1");
        let judged = |landing| access_denied(&landing, Some(&state));
        assert!(matches!(
            judged(callback(
                json!({"error": "access_denied", "state": "s1"}),
                false
            )),
            Ok(Outcome::Passed)
        ));
        assert_eq!(
            condition(judged(callback(json!({"error": "access_denied"}), false))),
            "CheckStateInAuthorizationResponse"
        );
        for bad in [
            callback(json!({"code": "c", "state": "s1"}), false),
            callback(json!({"error": "server_error", "state": "s1"}), false),
            error_page(),
        ] {
            assert_eq!(
                condition(judged(bad)),
                "CheckErrorFromAuthorizationEndpointErrorAccessDenied"
            );
        }
    }

    #[test]
    fn token_requests_without_verifier_or_with_another_dpop_key_are_refused() {
        for error in ["invalid_grant", "invalid_request"] {
            assert!(verifier_missing_refused(&oauth_error(400, error)).is_ok());
        }
        assert_eq!(
            condition(verifier_missing_refused(&token_issued())),
            "CheckTokenEndpointHttpStatus400"
        );
        assert_eq!(
            condition(verifier_missing_refused(&oauth_error(
                400,
                "invalid_client"
            ))),
            "CheckTokenEndpointReturnedInvalidGrant"
        );
        assert!(other_dpop_key_refused(&oauth_error(400, "invalid_dpop_proof")).is_ok());
        assert_eq!(
            condition(other_dpop_key_refused(&token_issued())),
            "EnsureTokenEndpointFailsWithMismatchedDpopJkt"
        );
    }
}
