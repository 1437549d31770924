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

/// An assertion of client 1 signed RS256 with its own (RSA) key; `None` for another key type.
fn rs256_assertion(env: &Env) -> Option<String> {
    let now = now();
    let claims = json!({"iss": env.tpp1.client_id, "sub": env.tpp1.client_id, "aud": env.issuer, "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60});
    let mut header = josekit::jws::JwsHeader::new();
    if let Some(kid) = env.tpp1.key.key_id() {
        header.set_key_id(kid);
    }
    let payload =
        josekit::jwt::JwtPayload::from_map(claims.as_object().cloned().unwrap_or_default())
            .unwrap_or_default();
    let signer = josekit::jws::RS256
        .signer_from_jwk(&env.tpp1.key_for_any_alg())
        .ok()?;
    Some(josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap_or_default())
}

// The claims of a client assertion as the negative modules change them.

/// `exp` 5 minutes past (issued 6 minutes ago).
pub(super) fn expired(c: &mut Map<String, Value>) {
    let now = now();
    c.insert("iat".to_owned(), json!(now - 360));
    c.insert("exp".to_owned(), json!(now - 300));
}

/// `aud` another server's token endpoint.
pub(super) fn token_wrong_aud(c: &mut Map<String, Value>) {
    c.insert(
        "aud".to_owned(),
        json!("https://not-the-server.example/token"),
    );
}

/// `aud` another server's resource, as the suite's PAR module names it.
pub(super) fn par_wrong_aud(c: &mut Map<String, Value>) {
    c.insert(
        "aud".to_owned(),
        json!("https://fapidev-rs.authlete.net/api/userinfo"),
    );
}

pub(super) fn no_sub(c: &mut Map<String, Value>) {
    c.remove("sub");
}

pub(super) fn wrong_iss(c: &mut Map<String, Value>) {
    c.insert("iss".to_owned(), json!("wrong-issuer-value"));
}

pub(super) fn wrong_sub(c: &mut Map<String, Value>) {
    c.insert("sub".to_owned(), json!("wrong-sub-value"));
}

pub(super) async fn assertion_rs256(env: &Env) -> ModuleResult {
    let Some(assertion) = rs256_assertion(env) else {
        return Ok(Outcome::Skipped("the client's key is not RSA".to_owned()));
    };
    invalid_client(&with_assertion(env, assertion).await?)
}

pub(super) async fn assertion_expired(env: &Env) -> ModuleResult {
    refused(env, expired).await
}

pub(super) async fn assertion_wrong_aud(env: &Env) -> ModuleResult {
    refused(env, token_wrong_aud).await
}

pub(super) async fn assertion_no_sub(env: &Env) -> ModuleResult {
    refused(env, no_sub).await
}

pub(super) async fn assertion_wrong_iss(env: &Env) -> ModuleResult {
    refused(env, wrong_iss).await
}

/// The token endpoint's answer to an assertion it must accept: 200.
fn assertion_accepted(reply: &Reply) -> ModuleResult {
    ensure(reply.status == 200, "CallTokenEndpoint", || {
        format!(
            "the issuer as aud was refused: {} {}",
            reply.status,
            snippet(&reply.body)
        )
    })?;
    Ok(Outcome::Passed)
}

pub(super) async fn assertion_iss_aud(env: &Env) -> ModuleResult {
    let assertion = env.assertion(&env.tpp1, json!(env.issuer), |_| {});
    assertion_accepted(&with_assertion(env, assertion).await?)
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
    let params = env.auth_params(&env.tpp1).await?;
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

/// The refusal conditions against recorded replies, and each assertion the negative modules send
/// against the server's own validation, so that it is wrong only where meant.
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use consentry_server::keys::SigningAlg;
    use consentry_server::protocol::client_assertion::{
        AssertionAudiences, AssertionContext, JWT_BEARER, validate_client_assertion,
    };
    use consentry_server::registration::metadata::Profile;
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::modules::testkit::{
        FAPI1, FAPI2, ISSUER, condition, fixture, oauth_error, token_issued,
    };

    #[test]
    fn client_authentication_refusals_need_invalid_client() {
        assert!(invalid_client(&oauth_error(401, "invalid_client")).is_ok());
        assert!(invalid_client(&oauth_error(400, "invalid_client")).is_ok());
        // A server that skips the assertion's check issues a token.
        for bad in [
            token_issued(),
            oauth_error(400, "invalid_request"),
            oauth_error(500, "server_error"),
        ] {
            assert_eq!(condition(invalid_client(&bad)), "EnsureInvalidClientError");
        }
    }

    #[test]
    fn an_assertion_with_the_issuer_as_aud_gets_a_token() {
        assert!(matches!(
            assertion_accepted(&token_issued()),
            Ok(Outcome::Passed)
        ));
        assert_eq!(
            condition(assertion_accepted(&oauth_error(401, "invalid_client"))),
            "CallTokenEndpoint"
        );
    }

    /// What the server makes of `assertion` from client 1 of `env` under `profile`: its error
    /// description when refused.
    fn server_verdict(env: &Env, profile: Profile, assertion: &str) -> Result<(), String> {
        let mut public = env.tpp1.key.to_public_key().unwrap();
        public.set_key_id(env.tpp1.key.key_id().unwrap());
        let jwks = json!({"keys": [Value::Object(public.as_ref().clone())]});
        let token = format!("{ISSUER}/token");
        let par = format!("{ISSUER}/par");
        let ctx = AssertionContext {
            client_id: &env.tpp1.client_id,
            client_jwks: &jwks,
            profile,
            audiences: AssertionAudiences {
                issuer: ISSUER,
                token_endpoint: &token,
                token_endpoint_mtls: "",
                par_endpoint: &par,
                par_endpoint_mtls: "",
                this_endpoint: &token,
            },
            allowed_algs: &[SigningAlg::PS256, SigningAlg::ES256],
        };
        validate_client_assertion(assertion, JWT_BEARER, &ctx, now())
            .map(|_| ())
            .map_err(|e| e.into_oauth().description().unwrap_or_default().to_owned())
    }

    /// A change to an assertion's claims.
    type Adjust = fn(&mut Map<String, Value>);

    #[test]
    fn each_refused_assertion_is_wrong_only_where_meant() {
        let f = fixture(FAPI1);
        let env = &f.env;
        let with = |adjust: Adjust| {
            let assertion = env.assertion(&env.tpp1, json!(env.issuer), adjust);
            server_verdict(env, Profile::Fapi1Advanced, &assertion)
        };
        assert_eq!(with(|_| {}), Ok(()));
        let cases: [(Adjust, &str); 6] = [
            (expired, "expired"),
            (token_wrong_aud, "aud"),
            (par_wrong_aud, "aud"),
            (no_sub, "sub"),
            (wrong_iss, "iss"),
            (wrong_sub, "sub"),
        ];
        for (adjust, claim) in cases {
            let refused = with(adjust).unwrap_err();
            assert!(refused.contains(claim), "{claim}: {refused}");
        }
        let rs256 = rs256_assertion(env).unwrap();
        let refused = server_verdict(env, Profile::Fapi1Advanced, &rs256).unwrap_err();
        assert!(refused.contains("RS256"), "{refused}");
    }

    #[test]
    fn assertion_audiences_are_those_each_plan_accepts_or_refuses() {
        let token = format!("{ISSUER}/token");
        let par = format!("{ISSUER}/par");
        // FAPI 1: the PAR or token endpoint, or an array naming the server, are accepted.
        let f = fixture(FAPI1);
        for aud in [json!(par), json!(token), json!([ISSUER, token])] {
            let assertion = f.env.assertion(&f.env.tpp1, aud.clone(), |_| {});
            assert_eq!(
                server_verdict(&f.env, Profile::Fapi1Advanced, &assertion),
                Ok(()),
                "{aud}"
            );
        }
        // FAPI 2: only the issuer as a string.
        let f = fixture(FAPI2);
        for aud in [json!([ISSUER]), json!(token), json!(par)] {
            let assertion = f.env.assertion(&f.env.tpp1, aud.clone(), |_| {});
            let refused = server_verdict(&f.env, Profile::Fapi2Security, &assertion).unwrap_err();
            assert!(refused.contains("aud"), "{aud}: {refused}");
        }
        let assertion = f.env.assertion(&f.env.tpp1, json!(ISSUER), |_| {});
        assert_eq!(
            server_verdict(&f.env, Profile::Fapi2Security, &assertion),
            Ok(())
        );
    }
}
