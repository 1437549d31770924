//! DPoP (RFC 9449) modules of the FAPI 2.0 plans, for `sender_constrain=dpop`: proofs with `iat`
//! 10 seconds behind or 8 ahead, or with `nbf` and `exp`, accepted at the PAR, token and resource
//! endpoints; the code bound to the key of the PAR request's proof or to `dpop_jkt`, and refused
//! to another key; and the suite's negative tests at the resource server.
//!
//! Like the suite, these modules make their own DPoP keys: EC for ES256, except the negative
//! tests, which use RSA for PS256 (the suite's default `dpop_signing_alg`) so that they can try
//! RS256 as the suite does with an RSA key. The protected resource is the server's UserInfo
//! endpoint under the name discovery gives it. A plain OAuth grant has no `openid` scope, so
//! there a 403 `insufficient_scope` counts as the token and its proof being accepted: the server
//! only gets to the scope once both are.

use josekit::jwk::Jwk;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

use super::Outcome;
use super::fapi2::{Body, check_endpoint_error, code_from, par_form, post_par, pushed_url};
use super::flows::check_token_response;
use super::par::request_uri_of;
use crate::env::{
    Check, Env, Failure, Reply, VERIFIER, b64url, dpop_parts, dpop_proof_with, ensure, fail,
    form_log, now, sign_jws, snippet, transport,
};

type ModuleResult = Result<Outcome, Failure>;

/// A change to a DPoP proof's header and claims before it is signed.
type Edit<'a> = &'a (dyn Fn(&mut Map<String, Value>, &mut Map<String, Value>) + Sync);

fn keep(_: &mut Map<String, Value>, _: &mut Map<String, Value>) {}

fn iat_10_seconds_before(_: &mut Map<String, Value>, c: &mut Map<String, Value>) {
    c.insert("iat".to_owned(), json!(now() - 10));
}

fn iat_8_seconds_after(_: &mut Map<String, Value>, c: &mut Map<String, Value>) {
    c.insert("iat".to_owned(), json!(now() + 8));
}

fn nbf_now_exp_in_5_minutes(_: &mut Map<String, Value>, c: &mut Map<String, Value>) {
    let now = now();
    c.insert("nbf".to_owned(), json!(now));
    c.insert("exp".to_owned(), json!(now + 300));
}

/// A fresh DPoP key: EC P-256 for ES256, cheap to make.
fn new_key() -> Result<Jwk, Failure> {
    Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256)
        .map_err(|e| fail("GenerateDpopKey", e.to_string()))
}

/// A fresh RSA DPoP key for PS256 (the suite's default `dpop_signing_alg`), with which the
/// negative tests can also try RS256.
fn new_rsa_key() -> Result<Jwk, Failure> {
    Jwk::generate_rsa_key(2048).map_err(|e| fail("GenerateDpopKey", e.to_string()))
}

/// The RFC 7638 thumbprint of an EC or RSA key: base64url SHA-256 of its required members in
/// lexicographic order, without whitespace.
pub(super) fn thumbprint(key: &Jwk) -> Option<String> {
    let member = |name: &str| {
        key.parameter(name)
            .and_then(Value::as_str)
            .map(|v| Value::String(v.to_owned()).to_string())
    };
    let canonical = match key.key_type() {
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        _ => return None,
    };
    Some(b64url(&sha2::Sha256::digest(canonical.as_bytes())))
}

/// A base64url value with every byte's bits flipped by 0x5A, as the suite makes a wrong
/// `dpop_jkt` from the right one and a bad signature from a good one.
pub(super) fn flip(value: &str) -> String {
    use base64::Engine as _;
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .unwrap_or_default();
    for b in &mut bytes {
        *b ^= 0x5A;
    }
    b64url(&bytes)
}

/// Whether the resource accepted (`accept`) or refused the token and proof of `reply`.
/// Accepted: 200 or 201 (or, for a plain OAuth grant, 403 `insufficient_scope`: see the module
/// documentation). Refused: 400 or 401.
pub(super) fn check_resource(openid: bool, reply: &Reply, accept: bool) -> Check {
    if accept {
        let scope_only = !openid
            && reply.status == 403
            && reply.error().as_deref() == Some("insufficient_scope");
        ensure(
            reply.status == 200 || reply.status == 201 || scope_only,
            "EnsureHttpStatusCodeIs200or201",
            || format!("status {}: {}", reply.status, snippet(&reply.body)),
        )
    } else {
        ensure(
            reply.status == 400 || reply.status == 401,
            "EnsureHttpStatusCodeIs400or401",
            || format!("status {}: {}", reply.status, snippet(&reply.body)),
        )
    }
}

/// Client 1's PAR request for `params`, with a proof by `key` edited as given, or none.
async fn push(
    env: &Env,
    params: &Map<String, Value>,
    proof: Option<(&Jwk, Edit<'_>)>,
) -> Result<Reply, Failure> {
    let tpp = &env.tpp1;
    let url = env.endpoint("pushed_authorization_request_endpoint");
    let form = par_form(
        env,
        tpp,
        params,
        env.client_auth(tpp, None),
        Body::AsVariant,
    );
    let dpop = proof.map(|(key, edit)| dpop_proof_with(key, "POST", &url, None, edit));
    post_par(env, tpp, &form, dpop).await
}

/// The code of client 1's authorization of `params`, pushed with the answer `reply`.
async fn code_after(
    env: &Env,
    params: &Map<String, Value>,
    reply: &Reply,
) -> Result<String, Failure> {
    let url = pushed_url(env, &env.tpp1, &request_uri_of(reply)?, &[])?;
    code_from(env, &env.tpp1, params, &url).await
}

/// Client 1's token request for `code`, with a proof by `key` edited by `edit`.
async fn token(env: &Env, code: &str, key: &Jwk, edit: Edit<'_>) -> Result<Reply, Failure> {
    let tpp = &env.tpp1;
    let url = env.endpoint("token_endpoint");
    let mut form = env.client_auth(tpp, None);
    form.extend([
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        ("redirect_uri".to_owned(), tpp.redirect_uri.clone()),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ]);
    let req = tpp
        .mtls
        .post(&url)
        .form(&form)
        .header("DPoP", dpop_proof_with(key, "POST", &url, None, edit));
    env.send(req, Some(form_log(&form)))
        .await
        .map_err(transport)
}

/// The protected resource: the UserInfo endpoint by its public name.
fn resource_url(env: &Env) -> Result<String, Failure> {
    env.discovery["userinfo_endpoint"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("CheckDiscoveryEndpoints", "no userinfo_endpoint"))
}

/// A GET of the resource with `Authorization: {scheme} {token}` and one `header` per proof.
async fn call_resource(
    env: &Env,
    url: &str,
    scheme: &str,
    token: &str,
    header: &str,
    proofs: &[String],
) -> Result<Reply, Failure> {
    let mut req = env
        .tpp1
        .plain
        .get(url)
        .header("Authorization", format!("{scheme} {token}"));
    for proof in proofs {
        req = req.header(header, proof.as_str());
    }
    env.send(req, None).await.map_err(transport)
}

/// Client 1's whole flow with proofs by `key`: at PAR (edited by `par`, or none, as the suite
/// sends none unless it binds the code), at the token endpoint and at the resource (edited by
/// `edit`). Returns the access token.
async fn flow(
    env: &Env,
    key: &Jwk,
    par: Option<Edit<'_>>,
    edit: Edit<'_>,
) -> Result<String, Failure> {
    let p = env.auth_params(&env.tpp1).await?;
    let reply = push(env, &p, par.map(|e| (key, e))).await?;
    let code = code_after(env, &p, &reply).await?;
    let reply = token(env, &code, key, edit).await?;
    let body = check_token_response(env, &env.tpp1, &reply, p.get("nonce"))?;
    let at = body["access_token"].as_str().unwrap_or_default().to_owned();
    let url = resource_url(env)?;
    let proof = dpop_proof_with(key, "GET", &url, Some(&at), edit);
    let reply = call_resource(env, &url, "DPoP", &at, "DPoP", &[proof]).await?;
    check_resource(env.variant.openid, &reply, true)?;
    Ok(at)
}

pub(super) async fn nbf_exp(env: &Env) -> ModuleResult {
    let key = new_key()?;
    flow(env, &key, None, &nbf_now_exp_in_5_minutes).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn iat_10_seconds_before_succeeds(env: &Env) -> ModuleResult {
    let key = new_key()?;
    flow(
        env,
        &key,
        Some(&iat_10_seconds_before),
        &iat_10_seconds_before,
    )
    .await?;
    Ok(Outcome::Passed)
}

pub(super) async fn iat_10_seconds_after_succeeds(env: &Env) -> ModuleResult {
    // The suite's module of this name puts iat 8 seconds ahead.
    let key = new_key()?;
    flow(env, &key, Some(&iat_8_seconds_after), &iat_8_seconds_after).await?;
    Ok(Outcome::Passed)
}

pub(super) async fn par_binding_success(env: &Env) -> ModuleResult {
    let key = new_key()?;
    flow(env, &key, Some(&keep), &keep).await?;
    Ok(Outcome::Passed)
}

/// Client 1's usual parameters with a `dpop_jkt` that is not `key`'s.
async fn with_wrong_dpop_jkt(env: &Env, key: &Jwk) -> Result<Map<String, Value>, Failure> {
    let jkt = thumbprint(key).ok_or_else(|| fail("GenerateDpopKey", "no thumbprint"))?;
    let mut p = env.auth_params(&env.tpp1).await?;
    p.insert("dpop_jkt".to_owned(), json!(flip(&jkt)));
    Ok(p)
}

pub(super) async fn mismatched_dpop_jkt_at_par(env: &Env) -> ModuleResult {
    let key = new_key()?;
    let p = with_wrong_dpop_jkt(env, &key).await?;
    par_jkt_refused(&push(env, &p, Some((&key, &keep))).await?)?;
    Ok(Outcome::Passed)
}

/// PAR's refusal of a `dpop_jkt` that is not the proof's key: 400 `invalid_request` or
/// `invalid_dpop_proof`.
fn par_jkt_refused(reply: &Reply) -> Check {
    check_endpoint_error(
        reply,
        &[400],
        &["invalid_request", "invalid_dpop_proof"],
        "EnsurePARInvalidRequestOrInvalidDpopProof",
    )
}

/// The token endpoint's refusal of a proof by another key than the code is bound to: 400
/// `invalid_request`, `invalid_grant` or `invalid_dpop_proof`.
fn token_jkt_refused(reply: &Reply) -> Check {
    check_endpoint_error(
        reply,
        &[400],
        &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
        "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
    )
}

pub(super) async fn mismatched_dpop_jkt_at_token(env: &Env) -> ModuleResult {
    let key = new_key()?;
    let p = with_wrong_dpop_jkt(env, &key).await?;
    let reply = push(env, &p, None).await?;
    let code = code_after(env, &p, &reply).await?;
    token_jkt_refused(&token(env, &code, &key, &keep).await?)?;
    Ok(Outcome::Passed)
}

pub(super) async fn mismatched_proof_jkt_at_token(env: &Env) -> ModuleResult {
    let key = new_key()?;
    let p = env.auth_params(&env.tpp1).await?;
    let reply = push(env, &p, Some((&key, &keep))).await?;
    let code = code_after(env, &p, &reply).await?;
    let other = new_key()?;
    token_jkt_refused(&token(env, &code, &other, &keep).await?)?;
    Ok(Outcome::Passed)
}

/// Makes the proofs of one request of the negative tests, just before it is sent.
type Make<'a> = Box<dyn Fn() -> Vec<String> + Send + Sync + 'a>;

/// One request of the negative tests.
pub(super) struct Case<'a> {
    pub step: &'static str,
    pub scheme: &'static str,
    pub header: &'static str,
    /// The proofs to send, one `header` each.
    pub proofs: Make<'a>,
    /// Whether the resource must accept it (else refuse it).
    pub accept: bool,
    /// Whether getting it wrong fails the module (else it is a warning).
    pub must: bool,
}

/// The step that presents a proof again: only a replay store can tell it from the first.
pub(super) const REPLAY: &str = "a second use of the same jti";

impl<'a> Case<'a> {
    fn new(
        step: &'static str,
        accept: bool,
        proofs: impl Fn() -> Vec<String> + Send + Sync + 'a,
    ) -> Case<'a> {
        Case {
            step,
            scheme: "DPoP",
            header: "DPoP",
            proofs: Box::new(proofs),
            accept,
            must: true,
        }
    }

    fn should(mut self) -> Case<'a> {
        self.must = false;
        self
    }
}

/// Proofs by `key` for a GET of `url` with `token`.
#[derive(Clone, Copy)]
struct Prover<'a> {
    key: &'a Jwk,
    url: &'a str,
    token: &'a str,
}

impl Prover<'_> {
    fn edited(self, edit: Edit<'_>) -> String {
        dpop_proof_with(self.key, "GET", self.url, Some(self.token), edit)
    }

    fn good(self) -> String {
        self.edited(&keep)
    }

    fn claim(self, name: &str, value: Value) -> String {
        self.edited(&|_, c| {
            c.insert(name.to_owned(), value.clone());
        })
    }

    fn without_claim(self, name: &str) -> String {
        self.edited(&|_, c| {
            c.remove(name);
        })
    }

    fn without_header(self, name: &str) -> String {
        self.edited(&|h, _| {
            h.remove(name);
        })
    }

    fn header(self, name: &str, value: Value) -> String {
        self.edited(&|h, _| {
            h.insert(name.to_owned(), value.clone());
        })
    }

    /// The proof with `alg` none and no signature.
    fn unsigned(self) -> String {
        let (mut header, claims) = dpop_parts(self.key, "GET", self.url, Some(self.token));
        header.insert("alg".to_owned(), json!("none"));
        let jws = sign_jws(self.key, "none", &header, &claims);
        let input = jws
            .rsplit_once('.')
            .map_or(jws.as_str(), |(input, _)| input);
        format!("{input}.")
    }

    /// A good proof with the bits of its signature flipped.
    fn bad_signature(self) -> String {
        match self.good().rsplit_once('.') {
            Some((input, signature)) => format!("{input}.{}", flip(signature)),
            None => String::new(),
        }
    }
}

/// `htu` with scheme and host upper-cased (all their occurrences, as the suite does).
fn upper_case_scheme_and_host(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let host = parsed.host_str().unwrap_or_default();
    url.replace(host, &host.to_ascii_uppercase())
        .replace(parsed.scheme(), &parsed.scheme().to_ascii_uppercase())
}

/// `htu` with the scheme's default port written out when it has no port.
fn with_default_port(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.port().is_none() => format!(
            "{}://{}:{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            if parsed.scheme() == "https" { 443 } else { 80 },
            parsed.path()
        ),
        _ => url.to_owned(),
    }
}

/// The suite's negative tests for a resource at `url` and `token` bound to `key` (`other` is
/// another key of the same type), in its order.
pub(super) fn negative_cases<'a>(
    key: &'a Jwk,
    other: &'a Jwk,
    url: &'a str,
    token: &'a str,
) -> Vec<Case<'a>> {
    let p = Prover { key, url, token };
    let q = Prover { key: other, ..p };
    let jti = uuid::Uuid::new_v4().to_string();
    let replayed = jti.clone();
    let query = format!(
        "{url}?allthedoorsonthisspaceshiphavebeen#programmedtohaveacheeryandsunnydisposition"
    );
    let without_query = url.rsplit_once('?').map_or(url, |(u, _)| u).to_owned();
    let other_url = format!("{without_query}ohnonotagain");
    let private = Value::Object(key.as_ref().clone());
    let wrong_ath = b64url(&sha2::Sha256::digest(format!("{token}-not").as_bytes()));
    let mut cases = vec![
        // As the suite asks; header names are case-insensitive, and the HTTP client sends them
        // lower-case whatever they are named here, so this is a good proof under another name.
        Case {
            header: "DPOP",
            ..Case::new(
                "the DPoP header named in capitals (HTTP header names are case-insensitive)",
                true,
                move || vec![p.good()],
            )
            .should()
        },
        Case::new("two DPoP headers", false, move || vec![p.good(), p.good()]),
        Case::new("a proof that is not a well-formed JWT", false, move || {
            let good = p.good();
            vec![
                good.rsplit_once('.')
                    .map_or(good.as_str(), |(a, _)| a)
                    .to_owned(),
            ]
        }),
        Case::new("a proof without typ", false, move || {
            vec![p.without_header("typ")]
        }),
        Case::new("a proof without alg", false, move || {
            vec![p.edited(&|h, _| {
                if let Some(alg) = h.remove("alg") {
                    h.insert("alg2".to_owned(), alg);
                }
            })]
        }),
        Case::new("a proof without jwk", false, move || {
            vec![p.without_header("jwk")]
        }),
        Case::new("a proof without jti", false, move || {
            vec![p.without_claim("jti")]
        }),
        Case::new("a proof without htm", false, move || {
            vec![p.without_claim("htm")]
        }),
        Case::new("a proof without htu", false, move || {
            vec![p.without_claim("htu")]
        }),
        Case::new("a proof without iat", false, move || {
            vec![p.without_claim("iat")]
        }),
        Case::new("a proof without ath", false, move || {
            vec![p.without_claim("ath")]
        }),
        Case::new("a proof with typ dpop+jwt+wrongyousee", false, move || {
            vec![p.header("typ", json!("dpop+jwt+wrongyousee"))]
        }),
    ];
    if key.key_type() == "RSA" {
        cases.push(Case::new("a proof signed with RS256", false, move || {
            vec![p.header("alg", json!("RS256"))]
        }));
    }
    cases.extend([
        Case::new("a proof with alg none", false, move || vec![p.unsigned()]),
        Case::new("a proof with a bad signature", false, move || {
            vec![p.bad_signature()]
        }),
        Case::new("a proof whose jwk is the private key", false, move || {
            vec![p.header("jwk", private.clone())]
        }),
        Case::new("a proof with htm PUT", false, move || {
            vec![p.claim("htm", json!("PUT"))]
        }),
        Case::new(
            "a proof whose htu has a query and fragment (ignored)",
            true,
            move || vec![p.claim("htu", json!(query))],
        ),
        Case::new(
            "a proof whose htu has no query or fragment",
            true,
            move || vec![p.claim("htu", json!(without_query))],
        ),
        Case::new("a proof for another URL", false, move || {
            vec![p.claim("htu", json!(other_url))]
        }),
        Case::new("a proof with iat an hour ahead", false, move || {
            vec![p.claim("iat", json!(now() + 3600))]
        }),
        Case::new("a proof with iat an hour ago", false, move || {
            vec![p.claim("iat", json!(now() - 3600))]
        }),
        Case::new("the first use of a jti", true, move || {
            vec![p.claim("jti", json!(jti))]
        }),
        Case::new(REPLAY, false, move || vec![p.claim("jti", json!(replayed))]).should(),
        Case::new("a proof with a wrong ath", false, move || {
            vec![p.claim("ath", json!(wrong_ath))]
        }),
        Case::new("a proof by another key", false, move || vec![q.good()]),
        Case::new(
            "a proof with extra header members and claims (ignored)",
            true,
            move || {
                let later = now() + 3600;
                vec![p.edited(&|h, c| {
                    h.insert("tx_id".to_owned(), json!(later));
                    c.insert("tx_id_key".to_owned(), json!(later));
                })]
            },
        ),
        Case::new(
            "a proof whose htu has scheme and host in capitals",
            true,
            move || vec![p.claim("htu", json!(upper_case_scheme_and_host(url)))],
        )
        .should(),
        Case::new("a proof whose htu has the default port", true, move || {
            vec![p.claim("htu", json!(with_default_port(url)))]
        })
        .should(),
        Case::new("no proof", false, Vec::new),
        Case {
            scheme: "Bearer",
            ..Case::new("no proof, and the Bearer scheme", false, Vec::new)
        },
        Case::new("a correct proof (still works)", true, move || {
            vec![p.good()]
        }),
    ]);
    cases
}

pub(super) async fn negative_tests(env: &Env) -> ModuleResult {
    let key = new_rsa_key()?;
    let token = flow(env, &key, None, &keep).await?;
    let url = resource_url(env)?;
    let other = new_rsa_key()?;
    let mut judged = Vec::new();
    for case in negative_cases(&key, &other, &url, &token) {
        let proofs = (case.proofs)();
        let reply = call_resource(env, &url, case.scheme, &token, case.header, &proofs).await?;
        judged.push((
            case.step,
            case.must,
            check_resource(env.variant.openid, &reply, case.accept),
        ));
    }
    negative_verdict(judged)
}

/// The outcome of the negative tests from each case's step, whether it must hold, and how the
/// resource's answer was judged: the first failure of a case that must hold fails the module
/// (naming the others), failures of the rest are warnings.
fn negative_verdict(judged: Vec<(&'static str, bool, Check)>) -> ModuleResult {
    let (mut failures, mut warnings) = (Vec::new(), Vec::new());
    for (step, must, check) in judged {
        if let Err(f) = check {
            let message = format!("{step}: {}", f.message);
            if must {
                failures.push(fail(f.condition, message));
            } else {
                warnings.push(format!("{}: {message}", f.condition));
            }
        }
    }
    if let Some(first) = failures.first() {
        let more = failures.len() - 1;
        return Err(fail(
            first.condition,
            if more == 0 {
                first.message.clone()
            } else {
                let rest: Vec<&str> = failures[1..].iter().map(|f| f.message.as_str()).collect();
                format!("{} (and {more} more: {})", first.message, rest.join("; "))
            },
        ));
    }
    Ok(if warnings.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Warning(warnings.join("; "))
    })
}

/// The conditions and proof builders of this file: conditions against recorded responses, and
/// each negative proof against the server's own validation, so a proof is wrong only where meant.
#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests fail by panicking"
    )]

    use consentry_server::protocol::dpop::{DpopPolicy, DpopRequest, validate_proof};
    use josekit::jwk::Jwk;
    use serde_json::json;

    use super::{
        Outcome, REPLAY, check_resource, flip, negative_cases, negative_verdict, par_jkt_refused,
        thumbprint, token_jkt_refused, upper_case_scheme_and_host, with_default_port,
    };
    use crate::env::{Reply, fail, half_hash, now};
    use crate::modules::flows::check_token_response;
    use crate::modules::testkit::{
        FAPI2_DPOP, ISSUER, JSON, bare as reply, condition, fixture, oauth_error, reply as recorded,
    };

    #[test]
    fn thumbprints_are_rfc_7638() {
        // The example of RFC 7638 section 3.1.
        let key = Jwk::from_bytes(
            json!({
                "kty": "RSA",
                "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
                "e": "AQAB",
                "alg": "RS256",
                "kid": "2011-04-29"
            })
            .to_string(),
        )
        .unwrap();
        assert_eq!(
            thumbprint(&key).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let ec = josekit::jwk::alg::ec::EcKeyPair::generate(josekit::jwk::alg::ec::EcCurve::P256)
            .unwrap()
            .to_jwk_public_key();
        let server = consentry_server::protocol::dpop::jwk_thumbprint(ec.as_ref()).unwrap();
        assert_eq!(thumbprint(&ec).unwrap(), server);
    }

    #[test]
    fn a_flipped_value_differs_and_flips_back() {
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_ne!(flip(jkt), jkt);
        assert_eq!(flip(&flip(jkt)), jkt);
    }

    #[test]
    fn resources_accept_with_200_and_refuse_with_400_or_401() {
        let claims = reply(200, json!({"sub": "u"}));
        let invalid = reply(401, json!({"error": "invalid_token"}));
        let scope = reply(403, json!({"error": "insufficient_scope"}));
        let forbidden = reply(403, json!({"error": "access_denied"}));
        assert!(check_resource(true, &claims, true).is_ok());
        assert!(check_resource(true, &invalid, false).is_ok());
        assert!(check_resource(false, &scope, true).is_ok());
        let condition =
            |openid, r: &Reply, accept| check_resource(openid, r, accept).unwrap_err().condition;
        assert_eq!(
            condition(true, &invalid, true),
            "EnsureHttpStatusCodeIs200or201"
        );
        assert_eq!(
            condition(true, &scope, true),
            "EnsureHttpStatusCodeIs200or201"
        );
        assert_eq!(
            condition(false, &forbidden, true),
            "EnsureHttpStatusCodeIs200or201"
        );
        assert_eq!(
            condition(true, &claims, false),
            "EnsureHttpStatusCodeIs400or401"
        );
        assert_eq!(
            condition(false, &scope, false),
            "EnsureHttpStatusCodeIs400or401"
        );
    }

    #[test]
    fn htu_variants_keep_the_url() {
        assert_eq!(
            upper_case_scheme_and_host("https://as.example:8443/userinfo"),
            "HTTPS://AS.EXAMPLE:8443/userinfo"
        );
        assert_eq!(
            with_default_port("https://as.example/userinfo"),
            "https://as.example:443/userinfo"
        );
        assert_eq!(
            with_default_port("https://as.example:8443/userinfo"),
            "https://as.example:8443/userinfo"
        );
    }

    #[test]
    fn each_negative_proof_is_wrong_only_where_meant() {
        let url = "https://as.example/userinfo";
        let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
        for key in [
            Jwk::generate_rsa_key(2048).unwrap(),
            Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap(),
        ] {
            let other = match key.key_type() {
                "RSA" => Jwk::generate_rsa_key(2048).unwrap(),
                _ => Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap(),
            };
            let jkt = thumbprint(&key).unwrap();
            let cases = negative_cases(&key, &other, url, token);
            assert_eq!(cases.len(), if key.key_type() == "RSA" { 32 } else { 31 });
            for case in cases.iter().filter(|c| c.step != REPLAY) {
                let proofs = (case.proofs)();
                let request = DpopRequest {
                    headers: proofs.iter().map(String::as_str).collect(),
                    method: "GET",
                    url,
                    access_token: Some(token),
                    expected_jkt: Some(&jkt),
                    nonce: None,
                };
                let accepted = case.scheme == "DPoP"
                    && validate_proof(&request, &DpopPolicy::default(), now())
                        .is_ok_and(|p| p.is_some());
                assert_eq!(accepted, case.accept, "{}", case.step);
            }
        }
    }

    /// A recorded PAR success, as from a server that ignored the `dpop_jkt`.
    fn pushed() -> Reply {
        recorded(
            201,
            &[JSON],
            json!({"request_uri": "urn:ietf:params:oauth:request_uri:Wm9U3q0dR1s8vXfJ2kQ7hPzL5cY6nB4aT1eG0oI9uMw", "expires_in": 90}),
        )
    }

    /// A recorded DPoP-bound token, as from a server that ignored which key the code is bound to.
    fn dpop_token() -> Reply {
        recorded(
            200,
            &[JSON, ("cache-control", "no-store")],
            json!({"access_token": "Kz~8mXK1EalYznwH-LC-1fBAo", "token_type": "DPoP", "expires_in": 300}),
        )
    }

    #[test]
    fn a_dpop_jkt_other_than_the_proofs_key_is_refused_at_par() {
        for error in ["invalid_dpop_proof", "invalid_request"] {
            assert!(par_jkt_refused(&oauth_error(400, error)).is_ok());
        }
        for bad in [
            pushed(),
            oauth_error(401, "invalid_dpop_proof"),
            oauth_error(400, "invalid_client"),
        ] {
            assert_eq!(
                condition(par_jkt_refused(&bad)),
                "EnsurePARInvalidRequestOrInvalidDpopProof"
            );
        }
    }

    #[test]
    fn a_proof_by_another_key_than_the_codes_is_refused_at_the_token_endpoint() {
        for error in ["invalid_dpop_proof", "invalid_grant", "invalid_request"] {
            assert!(token_jkt_refused(&oauth_error(400, error)).is_ok());
        }
        let challenged = recorded(
            401,
            &[
                JSON,
                ("www-authenticate", r#"DPoP error="invalid_dpop_proof""#),
            ],
            json!({"error": "invalid_dpop_proof"}),
        );
        for bad in [dpop_token(), challenged, oauth_error(400, "invalid_client")] {
            assert_eq!(
                condition(token_jkt_refused(&bad)),
                "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError"
            );
        }
    }

    #[test]
    fn dpop_variants_need_a_dpop_token_type() {
        let f = fixture(FAPI2_DPOP);
        let id_token = f.sign(
            json!({"iss": ISSUER, "aud": "c1", "exp": now() + 60, "at_hash": half_hash("at")}),
        );
        let body = |t: &str| json!({"access_token": "at", "token_type": t, "id_token": id_token});
        let answer = |t: &str| recorded(200, &[JSON, ("cache-control", "no-store")], body(t));
        for good in ["DPoP", "dpop"] {
            assert!(check_token_response(&f.env, &f.env.tpp1, &answer(good), None).is_ok());
        }
        assert_eq!(
            condition(check_token_response(
                &f.env,
                &f.env.tpp1,
                &answer("Bearer"),
                None
            )),
            "CheckTokenTypeIsBearer"
        );
    }

    #[test]
    fn the_negative_tests_fail_on_a_must_and_warn_on_a_should() {
        let refused = || Ok(());
        let accepted = || {
            Err(fail(
                "EnsureHttpStatusCodeIs400or401",
                "status 200: {\"sub\": \"u\"}",
            ))
        };
        assert!(matches!(
            negative_verdict(vec![("a", true, refused()), ("b", false, refused())]),
            Ok(Outcome::Passed)
        ));
        match negative_verdict(vec![("a", true, refused()), (REPLAY, false, accepted())]) {
            Ok(Outcome::Warning(w)) => {
                assert!(w.starts_with("EnsureHttpStatusCodeIs400or401: "), "{w}");
                assert!(w.contains(REPLAY), "{w}");
            }
            other => panic!("expected a warning, got {other:?}"),
        }
        let failure = negative_verdict(vec![
            ("a proof with alg none", true, accepted()),
            (REPLAY, false, accepted()),
            ("a proof with a bad signature", true, accepted()),
        ])
        .unwrap_err();
        assert_eq!(failure.condition, "EnsureHttpStatusCodeIs400or401");
        assert!(failure.message.starts_with("a proof with alg none: "));
        assert!(
            failure
                .message
                .contains("(and 1 more: a proof with a bad signature: ")
        );
    }
}
