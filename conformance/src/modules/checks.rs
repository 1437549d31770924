//! Client authentication refusals: assertions that must be `invalid_client` at the token and
//! PAR endpoints.

use serde_json::{Map, Value, json};

use super::Outcome;
use crate::env::{Env, Failure, Reply, ensure, now, snippet, transport};

type ModuleResult = Result<Outcome, Failure>;

/// A client_credentials request of client 1 authenticated by `assertion`.
async fn with_assertion(env: &Env, assertion: String) -> Result<Reply, Failure> {
    let url = env.endpoint("token_endpoint");
    let form = [
        ("client_id".to_owned(), env.tpp1.client_id.clone()),
        (
            "client_assertion_type".to_owned(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion".to_owned(), assertion),
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("scope".to_owned(), "accounts".to_owned()),
    ];
    let mut req = env.tpp1.mtls.post(&url).form(&form);
    if env.variant.dpop() {
        req = req.header("DPoP", env.dpop_proof(&env.dpop_key(), "POST", &url, None));
    }
    env.send(req, None).await.map_err(transport)
}

fn invalid_client(reply: &Reply) -> ModuleResult {
    ensure(
        reply.status == 400 || reply.status == 401,
        "EnsureInvalidClientError",
        || format!("status {}: {}", reply.status, snippet(&reply.body)),
    )?;
    ensure(
        reply.error().as_deref() == Some("invalid_client"),
        "EnsureInvalidClientError",
        || format!("error {:?}", reply.error()),
    )?;
    Ok(Outcome::Passed)
}

async fn refused(env: &Env, adjust: impl FnOnce(&mut Map<String, Value>)) -> ModuleResult {
    let assertion = env.assertion(&env.tpp1, json!(env.issuer), adjust);
    invalid_client(&with_assertion(env, assertion).await?)
}

pub(super) async fn assertion_rs256(env: &Env) -> ModuleResult {
    let now = now();
    let claims = json!({"iss": env.tpp1.client_id, "sub": env.tpp1.client_id, "aud": env.issuer, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60});
    let mut header = josekit::jws::JwsHeader::new();
    if let Some(kid) = env.tpp1.key.key_id() {
        header.set_key_id(kid);
    }
    let payload =
        josekit::jwt::JwtPayload::from_map(claims.as_object().cloned().unwrap_or_default())
            .unwrap_or_default();
    let Ok(signer) = josekit::jws::RS256.signer_from_jwk(&env.tpp1.key_for_any_alg()) else {
        return Ok(Outcome::Skipped("the client's key is not RSA".to_owned()));
    };
    let assertion =
        josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap_or_default();
    invalid_client(&with_assertion(env, assertion).await?)
}

pub(super) async fn assertion_expired(env: &Env) -> ModuleResult {
    let now = now();
    refused(env, |c| {
        c.insert("iat".to_owned(), json!(now - 360));
        c.insert("exp".to_owned(), json!(now - 300));
    })
    .await
}

pub(super) async fn assertion_wrong_aud(env: &Env) -> ModuleResult {
    refused(env, |c| {
        c.insert(
            "aud".to_owned(),
            json!("https://not-the-server.example/token"),
        );
    })
    .await
}

pub(super) async fn assertion_no_sub(env: &Env) -> ModuleResult {
    refused(env, |c| {
        c.remove("sub");
    })
    .await
}

pub(super) async fn assertion_wrong_iss(env: &Env) -> ModuleResult {
    refused(env, |c| {
        c.insert("iss".to_owned(), json!("not-this-client"));
    })
    .await
}

pub(super) async fn assertion_iss_aud(env: &Env) -> ModuleResult {
    let assertion = env.assertion(&env.tpp1, json!(env.issuer), |_| {});
    let reply = with_assertion(env, assertion).await?;
    ensure(reply.status == 200, "CallTokenEndpoint", || {
        format!(
            "the issuer as aud was refused: {} {}",
            reply.status,
            snippet(&reply.body)
        )
    })?;
    Ok(Outcome::Passed)
}

/// A PAR request of client 1 whose assertion names `aud`.
async fn par_with_aud(env: &Env, aud: Value) -> Result<Reply, Failure> {
    let url = env.endpoint("pushed_authorization_request_endpoint");
    let mut form = vec![
        ("client_id".to_owned(), env.tpp1.client_id.clone()),
        (
            "client_assertion_type".to_owned(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        (
            "client_assertion".to_owned(),
            env.assertion(&env.tpp1, aud, |_| {}),
        ),
    ];
    let params = env.auth_params(&env.tpp1);
    if env.variant.signed_requests() {
        form.push(("request".to_owned(), env.request_object(&env.tpp1, &params)));
    } else {
        for (k, v) in &params {
            if k != "client_id" {
                form.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
            }
        }
    }
    let mut req = env.tpp1.mtls.post(&url).form(&form);
    if env.variant.dpop() {
        req = req.header("DPoP", env.dpop_proof(&env.dpop_key(), "POST", &url, None));
    }
    env.send(req, None).await.map_err(transport)
}

pub(super) async fn par_array_aud_refused(env: &Env) -> ModuleResult {
    invalid_client(&par_with_aud(env, json!([env.issuer])).await?)
}

pub(super) async fn par_token_url_aud_refused(env: &Env) -> ModuleResult {
    invalid_client(&par_with_aud(env, json!(env.endpoint("token_endpoint"))).await?)
}
