//! The UK Open Banking profile (`fapi_profile=openbanking_uk`), as the suite's
//! `OpenBankingUkPreAuthorizationSteps`, `OpenBankingUkAuthorizationEndpointSetup`,
//! `ValidateOpenBankingUkIdToken` and `OpenBankingUkResourceConfiguration` do it:
//!
//! - before every authorization, a client_credentials token (`scope=accounts`, a Bearer token
//!   bound to the client's certificate) creates an account-access consent at
//!   `{resourceUrlAccountRequests}account-access-consents`;
//! - the authorization request binds it with the claims parameter
//!   (`id_token.openbanking_intent_id`, essential) and asks for the acr values;
//! - every id token carries the consent id and one of the acr values asked for;
//! - the protected resource is `{resourceUrlAccountsResource}accounts`, called after every
//!   completed flow with the FAPI headers, its answer dated and carrying the interaction id.
//!
//! And the two modules only this profile runs: `ensure-server-handles-non-matching-intent-id`
//! and `test-essential-acr-sca-claim`.
//!
//! Where the harness departs from the suite: in the non-matching-intent module the suite pushes
//! client 2's signed request authenticated as client 1 (it switches back to client 1 before the
//! PAR call); the harness pushes it as client 2, so that what is refused is the consent of
//! another client and not the push. The interaction id must be echoed in both plans (the FAPI 2
//! classes skip that check when the header is missing). The suite's warning that the JWKS is not
//! hosted on the Open Banking directory is not reproduced.

use serde_json::{Map, Value, json};

use super::Outcome;
use super::fapi1::{
    Refusal, Request, Sent, access_token, call_resource, civil_from_days, complete, expect_refused,
    has_error, http_date, resource_ok, send_request,
};
use crate::config::ObEndpoint;
use crate::env::{Check, Env, Failure, Landing, Reply, Tpp, ensure, fail, form_log, now, snippet};
use crate::plan::{Plan, Profile};

type ModuleResult = Result<Outcome, Failure>;

pub const ACR_SCA: &str = "urn:openbanking:psd2:sca";
pub const ACR_CA: &str = "urn:openbanking:psd2:ca";
/// `OpenBankingUkAddMultipleAcrClaimsToAuthorizationEndpointRequest`.
pub const MULTIPLE_ACRS: &[&str] = &[ACR_SCA, ACR_CA];

/// The IPv4 customer address the suite sends (`AddIpV4FapiCustomerIpAddressToResourceEndpointRequest`).
const CUSTOMER_IPV4: &str = "198.51.100.119";

fn is_obuk(env: &Env) -> bool {
    env.variant.profile == Profile::OpenBankingUk
}

/// The claims parameter that binds consent `intent` (`AddAccountRequestIdToAuthorizationEndpointRequest`)
/// with `acrs`, when given, as essential acr values.
pub fn intent_claims(intent: &str, acrs: Option<&[&str]>) -> Value {
    let mut id_token = json!({"openbanking_intent_id": {"value": intent, "essential": true}});
    if let Some(acrs) = acrs {
        id_token["acr"] = json!({"values": acrs, "essential": true});
    }
    json!({ "id_token": id_token })
}

/// The claims parameter of test-essential-acr-sca-claim: the consent, and SCA alone as the
/// essential acr (`OpenBankingUkAddScaAcrClaimToAuthorizationEndpointRequest`).
pub fn sca_claims(intent: &str) -> Value {
    json!({"id_token": {
        "openbanking_intent_id": {"value": intent, "essential": true},
        "acr": {"value": ACR_SCA, "essential": true},
    }})
}

/// Where account-access consents are created, and the Open Banking API version its base names
/// (`CallAccountRequestsEndpointWithBearerToken`: `/v3.` or `/v4.` use
/// `account-access-consents`, older ones `account-requests`).
pub(super) fn account_requests_url(env: &Env) -> Result<(String, u8), Failure> {
    let base = env
        .config
        .ob_base_url(ObEndpoint::AccountRequests)
        .ok_or_else(|| {
            fail(
                "CallAccountRequestsEndpointWithBearerToken",
                "resource.resourceUrlAccountRequests (or resource.resourceUrl) is not configured",
            )
        })?;
    let (path, version) = if base.contains("/v4.") {
        ("account-access-consents", 4)
    } else if base.contains("/v3.") {
        ("account-access-consents", 3)
    } else {
        ("account-requests", 2)
    };
    Ok((format!("{base}{path}"), version))
}

/// `{resourceUrlAccountsResource}accounts` (`SetProtectedResourceUrlToAccountsEndpoint`).
pub(super) fn accounts_url(env: &Env) -> Result<String, Failure> {
    env.config
        .ob_base_url(ObEndpoint::AccountsResource)
        .map(|base| format!("{base}accounts"))
        .ok_or_else(|| {
            fail(
                "SetProtectedResourceUrlToAccountsEndpoint",
                "resource.resourceUrlAccountsResource (or resource.resourceUrl) is not configured",
            )
        })
}

/// The protected resource of the variant: `accounts` in the UK OB profile, else the UserInfo
/// endpoint (its mTLS alias).
pub(super) fn resource_url(env: &Env) -> Result<String, Failure> {
    if is_obuk(env) {
        accounts_url(env)
    } else {
        Ok(env.endpoint("userinfo_endpoint"))
    }
}

/// The endpoints whose TLS the happy path checks in the UK OB profile: account requests and the
/// accounts resource (`ExtractTLSTestValuesFromOBResourceConfiguration`).
pub(super) fn resource_endpoints(env: &Env) -> Result<Vec<String>, Failure> {
    let (requests, _) = account_requests_url(env)?;
    let accounts = accounts_url(env)?;
    Ok(if requests == accounts {
        vec![requests]
    } else {
        vec![requests, accounts]
    })
}

/// `t` as an ISO 8601 date-time in UTC (`2024-05-01T10:00:00Z`), as the suite writes the dates
/// of a consent request.
fn iso_date_time(t: i64) -> String {
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The account-access consent request: the first client asks for `ReadAccountsBasic`
/// (`CreateCreateAccountRequestRequest`); the second also for an expiry in two hours and the
/// last 30 days of transactions (`CreateCreateAccountRequestRequestWithExpiration`).
pub(super) fn account_request(second_client: bool, now: i64) -> Value {
    let mut data = json!({"Permissions": ["ReadAccountsBasic"]});
    if second_client {
        data["ExpirationDateTime"] = json!(iso_date_time(now + 2 * 3600));
        data["TransactionFromDateTime"] = json!(iso_date_time(now - 30 * 86_400));
        data["TransactionToDateTime"] = json!(iso_date_time(now));
    }
    json!({"Data": data, "Risk": {}})
}

/// The pre-authorization steps for `tpp`: a client_credentials token with `scope=accounts`, then
/// a new account-access consent; returns its id.
pub(crate) async fn create_intent(
    env: &Env,
    tpp: &Tpp,
    second_client: bool,
) -> Result<String, Failure> {
    let url = env.endpoint("token_endpoint");
    let mut form = env.client_auth(tpp, None);
    form.push(("grant_type".to_owned(), "client_credentials".to_owned()));
    form.push(("scope".to_owned(), "accounts".to_owned()));
    // The suite sends no DPoP proof here: the token is a Bearer token bound to the certificate.
    let reply = env
        .send(tpp.mtls.post(&url).form(&form), Some(form_log(&form)))
        .await
        .map_err(crate::env::transport)?;
    let token = client_credentials_token(&reply)?;
    let (url, version) = account_requests_url(env)?;
    let body = account_request(second_client, now()).to_string();
    let request = tpp
        .mtls
        .post(&url)
        .header("x-fapi-auth-date", http_date(now()))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(body.clone());
    let reply = env
        .send(request, Some(body))
        .await
        .map_err(crate::env::transport)?;
    consent_id(&reply, version)
}

/// The token endpoint's answer to the client_credentials request: 200, an access token, a sane
/// `expires_in`, and a Bearer token (the account-request call sends it as one).
pub(super) fn client_credentials_token(reply: &Reply) -> Result<String, Failure> {
    ensure(
        reply.status == 200,
        "CheckTokenEndpointHttpStatus200",
        || {
            format!(
                "the client_credentials request got {}: {}",
                reply.status,
                snippet(&reply.body)
            )
        },
    )?;
    let body = reply.json();
    ensure(
        body.get("error").is_none(),
        "CheckIfTokenEndpointResponseError",
        || format!("error {}", body["error"]),
    )?;
    let token = body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("CheckForAccessTokenValue", "no access_token"))?;
    let token_type = body["token_type"].as_str().unwrap_or_default();
    ensure(!token_type.is_empty(), "CheckForAccessTokenValue", || {
        "no token_type".to_owned()
    })?;
    if let Some(expires_in) = body.get("expires_in") {
        ensure(
            expires_in
                .as_i64()
                .is_some_and(|e| e > 0 && e <= 31_536_000),
            "ValidateExpiresIn",
            || format!("expires_in {expires_in}"),
        )?;
    }
    ensure(
        token_type.eq_ignore_ascii_case("Bearer"),
        "CallAccountRequestsEndpointWithBearerToken",
        || format!("the client_credentials token is not a Bearer token: {token_type}"),
    )?;
    Ok(token.to_owned())
}

/// The account-requests endpoint's answer: 201 with a JSON object and no `error`, an
/// `x-fapi-interaction-id` that is a UUID, and the consent id (`Data.ConsentId`, or
/// `Data.AccountRequestId` before version 3).
pub(super) fn consent_id(reply: &Reply, version: u8) -> Result<String, Failure> {
    ensure(
        (200..300).contains(&reply.status),
        "CallAccountRequestsEndpointWithBearerToken",
        || {
            format!(
                "error from the account requests endpoint: {} {}",
                reply.status,
                snippet(&reply.body)
            )
        },
    )?;
    let body = reply.json();
    ensure(
        body.is_object(),
        "CallAccountRequestsEndpointWithBearerToken",
        || {
            format!(
                "the account requests endpoint did not return a JSON object: {}",
                snippet(&reply.body)
            )
        },
    )?;
    ensure(reply.status == 201, "EnsureHttpStatusCodeIs201", || {
        format!("a consent was created with status {}", reply.status)
    })?;
    json_content_type(reply)?;
    ensure(
        body["error"].as_str().is_none_or(str::is_empty),
        "CheckIfAccountRequestsEndpointResponseError",
        || format!("error {}", body["error"]),
    )?;
    interaction_id_checks(reply, None)?;
    let member = if version >= 3 {
        "ConsentId"
    } else {
        "AccountRequestId"
    };
    body["Data"][member]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            fail(
                "ExtractAccountRequestIdFromAccountRequestsEndpointResponse",
                format!("no Data.{member} in {}", snippet(&reply.body)),
            )
        })
}

fn json_content_type(reply: &Reply) -> Check {
    ensure(
        reply
            .header("content-type")
            .and_then(|c| c.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")),
        "EnsureResourceResponseReturnedJsonContentType",
        || format!("content type {:?}", reply.header("content-type")),
    )
}

/// `CheckForFAPIInteractionIdInResourceResponse` (present, a UUID) and, for the id the request
/// sent, `EnsureMatchingFAPIInteractionId` (equal ignoring case).
pub(super) fn interaction_id_checks(reply: &Reply, sent: Option<&str>) -> Check {
    let got = reply.header("x-fapi-interaction-id").unwrap_or_default();
    ensure(
        !got.is_empty(),
        "CheckForFAPIInteractionIdInResourceResponse",
        || "no x-fapi-interaction-id in the response".to_owned(),
    )?;
    ensure(
        uuid::Uuid::parse_str(got).is_ok(),
        "CheckForFAPIInteractionIdInResourceResponse",
        || format!("x-fapi-interaction-id {got:?} is not a UUID"),
    )?;
    if let Some(sent) = sent {
        ensure(
            sent.eq_ignore_ascii_case(got),
            "EnsureMatchingFAPIInteractionId",
            || format!("sent {sent}, received {got}"),
        )?;
    }
    Ok(())
}

/// The UK OB checks of an id token of `tpp`: against the claims parameter it asked for.
pub(crate) fn check_id_token(env: &Env, tpp: &Tpp, claims: &Map<String, Value>) -> Check {
    if !is_obuk(env) {
        return Ok(());
    }
    id_token_verdict(&env.claims_requested_by(tpp), claims)
}

/// `OBValidateIdTokenIntentId`: the id token names the consent asked for; and
/// `ValidateIdTokenACRClaimAgainstRequest`: an `acr` is a string, and when acr values were asked
/// for (essential) it is one of them.
pub(super) fn id_token_verdict(requested: &Value, claims: &Map<String, Value>) -> Check {
    if let Some(expected) = requested["id_token"]["openbanking_intent_id"]["value"].as_str() {
        let got = claims.get("openbanking_intent_id");
        ensure(got.is_some(), "OBValidateIdTokenIntentId", || {
            "the id token does not contain the required openbanking_intent_id claim".to_owned()
        })?;
        ensure(
            got.and_then(Value::as_str) == Some(expected),
            "OBValidateIdTokenIntentId",
            || format!("openbanking_intent_id {got:?}, expected {expected}"),
        )?;
    }
    let acr = claims.get("acr");
    ensure(
        acr.is_none_or(Value::is_string),
        "ValidateIdTokenACRClaimAgainstRequest",
        || format!("acr {acr:?} is not a string"),
    )?;
    let asked = &requested["id_token"]["acr"];
    let values: Vec<&str> = match (asked["values"].as_array(), asked["value"].as_str()) {
        (Some(values), _) => values.iter().filter_map(Value::as_str).collect(),
        (None, Some(value)) => vec![value],
        (None, None) => return Ok(()),
    };
    let acr = acr.and_then(Value::as_str).ok_or_else(|| {
        fail(
            "ValidateIdTokenACRClaimAgainstRequest",
            format!(
                "acr values {values:?} were asked for as essential, but the id token has no acr"
            ),
        )
    })?;
    ensure(
        values.contains(&acr),
        "ValidateIdTokenACRClaimAgainstRequest",
        || format!("acr {acr} is not one of the values asked for, {values:?}"),
    )
}

/// The suite's `requestProtectedResource` after every completed flow in the UK OB profile:
/// `accounts` with the token of `body`; client 1 sends `x-fapi-auth-date`, an IPv4
/// `x-fapi-customer-ip-address` and an `x-fapi-interaction-id`, client 2 an interaction id in
/// FAPI 1 and none in FAPI 2. The answer is 200 or 201, JSON, dated within 5 minutes, with an
/// interaction id (the one sent). Nothing is done in other profiles.
pub(super) async fn request_protected_resource(env: &Env, tpp: &Tpp, body: &Value) -> Check {
    if !is_obuk(env) {
        return Ok(());
    }
    let (token, token_type) = access_token(body)?;
    let first = tpp.client_id == env.tpp1.client_id;
    let interaction = uuid::Uuid::new_v4().to_string();
    let mut headers = Vec::new();
    if first {
        headers.push(("x-fapi-auth-date", http_date(now())));
        headers.push(("x-fapi-customer-ip-address", CUSTOMER_IPV4.to_owned()));
    }
    let sends_id = first || env.variant.plan == Plan::Fapi1Advanced;
    if sends_id {
        headers.push(("x-fapi-interaction-id", interaction.clone()));
    }
    let key = env.dpop_key();
    let reply = call_resource(env, &tpp.mtls, (&token, &token_type), &headers, false, &key).await?;
    protected_resource_verdict(&reply, first.then_some(interaction.as_str()))
}

/// The resource's answer in the UK OB profile, to a request that sent `interaction` (client 1)
/// or not: 200 or 201, a `Date` within 5 minutes, JSON, an interaction id (the one sent).
pub(super) fn protected_resource_verdict(reply: &Reply, interaction: Option<&str>) -> Check {
    resource_ok(reply)?;
    interaction_id_checks(reply, interaction)
}

/// The OBUK discovery checks (`OpenBankingUkDiscoveryEndpointChecks`):
/// `claims_parameter_supported`, `acr` and `openbanking_intent_id` in `claims_supported`, the
/// authorization_code and client_credentials grants, the openid and accounts scopes.
pub(super) fn discovery_checks(d: &Value) -> Check {
    let has_all = |k: &str, want: &[&str]| {
        want.iter()
            .all(|w| d[k].as_array().is_some_and(|a| a.iter().any(|x| x == w)))
    };
    ensure(
        d["claims_parameter_supported"] == json!(true),
        "CheckDiscEndpointClaimsParameterSupported",
        || {
            format!(
                "claims_parameter_supported {}",
                d["claims_parameter_supported"]
            )
        },
    )?;
    ensure(
        has_all("claims_supported", &["acr", "openbanking_intent_id"]),
        "FAPIOBCheckDiscEndpointClaimsSupported",
        || format!("claims_supported {}", d["claims_supported"]),
    )?;
    ensure(
        has_all(
            "grant_types_supported",
            &["authorization_code", "client_credentials"],
        ),
        "FAPIOBCheckDiscEndpointGrantTypesSupported",
        || format!("grant_types_supported {}", d["grant_types_supported"]),
    )?;
    ensure(
        has_all("scopes_supported", &["openid", "accounts"]),
        "FAPIOBCheckDiscEndpointScopesSupported",
        || format!("scopes_supported {}", d["scopes_supported"]),
    )
}

/// `EnsureServerConfigurationSupportsOpenBankingUkScaAcrClaim` (a warning in the suite).
pub(super) fn sca_advertised(d: &Value) -> Check {
    ensure(
        d["acr_values_supported"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == ACR_SCA)),
        "EnsureServerConfigurationSupportsOpenBankingUkScaAcrClaim",
        || format!("The server does not list '{ACR_SCA}' in 'acr_values_supported'."),
    )
}

/// A request of `tpp` carrying `claims` (and remembered for the id token checks).
fn request_with_claims(env: &Env, tpp: &Tpp, claims: Value) -> Request {
    let mut params = env.base_params(tpp);
    env.request_claims(tpp, &mut params, claims);
    Request {
        outer: params.clone(),
        inner: params,
        jwt: None,
        expose: &[],
    }
}

/// The refusals ensure-server-handles-non-matching-intent-id accepts.
const NON_MATCHING_INTENT: Refusal = Refusal {
    par: &["invalid_request", "invalid_request_object"],
    par_condition: "EnsurePARInvalidRequestOrInvalidRequestObjectError",
    callback: &[
        "invalid_request",
        "invalid_request_object",
        "invalid_request_uri",
        "access_denied",
    ],
    callback_condition: "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
    plain_error_for_jarm: false,
};

/// ensure-server-handles-non-matching-intent-id: a consent made by client 1 used in client 2's
/// authorization request (with client 2's redirect URI) is refused: an error page, or
/// `invalid_request`, `invalid_request_object`, `invalid_request_uri` or `access_denied` back
/// at client 2 with its state (or a 400 from PAR).
pub(super) async fn non_matching_intent(env: &Env) -> ModuleResult {
    // The pre-authorization steps run as client 1 (whose request would carry the acr values).
    let intent = create_intent(env, &env.tpp1, false).await?;
    let tpp = &env.tpp2;
    let r = request_with_claims(env, tpp, intent_claims(&intent, Some(MULTIPLE_ACRS)));
    let sent = send_request(env, tpp, &r, true).await?;
    expect_refused(env, &r, sent, &NON_MATCHING_INTENT)
}

/// The refusal test-essential-acr-sca-claim accepts: `access_denied` (or an error page).
const SCA_REFUSED: Refusal = Refusal {
    par: &[],
    par_condition: "CheckPAREndpointResponse201WithNoError",
    callback: &["access_denied"],
    callback_condition: "EnsureAccessDeniedErrorFromAuthorizationEndpointResponse",
    plain_error_for_jarm: false,
};

/// test-essential-acr-sca-claim: SCA asked for as the only, essential acr. The server may refuse
/// (an error page, or `access_denied` back at the client with the state); or it performs SCA
/// and then the id token's acr is `urn:openbanking:psd2:sca` (checked with the token response,
/// against the claims asked for) and the flow completes. A server that does not list SCA in
/// `acr_values_supported` ends the module with a warning, as in the suite.
pub(super) async fn essential_acr_sca(env: &Env) -> ModuleResult {
    let advertised = sca_advertised(&env.discovery);
    let tpp = &env.tpp1;
    let intent = create_intent(env, tpp, false).await?;
    let r = request_with_claims(env, tpp, sca_claims(&intent));
    let sent = send_request(env, tpp, &r, true).await?;
    match sent {
        Sent::Landed(landing @ Landing::Callback { .. }) if !has_error(&landing) => {
            let body = complete(env, tpp, &r.inner, landing).await?;
            request_protected_resource(env, tpp, &body).await?;
        }
        refused => {
            expect_refused(env, &r, refused, &SCA_REFUSED)?;
        }
    }
    Ok(match advertised {
        Ok(()) => Outcome::Passed,
        Err(f) => Outcome::Warning(format!("{}: {}", f.condition, f.message)),
    })
}

/// Each condition of the profile replayed against recorded good and bad answers.
#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests fail by panicking"
    )]

    use serde_json::{Value, json};

    use super::*;
    use crate::modules::testkit::{
        FAPI1_OBUK, FAPI2_OBUK, JSON, RESOURCE, callback, condition, error_page, fixture, map,
        oauth_error, reply, reply_text, token_issued,
    };

    const CONSENT_ID: &str = "aac-6f1b2c3d-0e4f-4a5b-9c8d-7e6f5a4b3c2d";
    const INTERACTION: &str = "93bac548-d2de-4546-b106-880a5018460d";

    fn http_now() -> String {
        http_date(now())
    }

    /// The account-requests endpoint's answer as Consentry sends it, with `status` and `headers`.
    fn created(status: u16, headers: &[(&'static str, &str)], body: Value) -> Reply {
        reply(status, headers, body)
    }

    fn good_consent() -> Value {
        json!({"Data": {"ConsentId": CONSENT_ID, "Status": "AwaitingAuthorisation",
                        "Permissions": ["ReadAccountsBasic"]},
               "Risk": {}, "Links": {"Self": "https://rs.example/x"}, "Meta": {}})
    }

    #[test]
    fn the_profiles_modules_run_in_it_only() {
        let ms = "fapi2-message-signing-final[client_auth_type=mtls][sender_constrain=mtls][openid=plain_oauth][fapi_profile=openbanking_uk]";
        for plan in [FAPI1_OBUK, FAPI2_OBUK, ms] {
            let obuk = crate::plan::Variant::parse(plan).unwrap();
            let names: Vec<String> = crate::modules::selected(&obuk)
                .iter()
                .map(|m| m.name(&obuk))
                .collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "a module comes twice in {obuk}");
            let prefix = obuk.plan.module_prefix();
            for suffix in [
                "ensure-server-handles-non-matching-intent-id",
                "test-essential-acr-sca-claim",
            ] {
                let name = format!("{prefix}-{suffix}");
                assert!(names.contains(&name), "{name} in {obuk}");
                let plain =
                    crate::plan::Variant::parse(&plan.replace("openbanking_uk", "plain_fapi"))
                        .unwrap();
                assert!(
                    !crate::modules::selected(&plain)
                        .iter()
                        .any(|m| m.name(&plain) == name)
                );
            }
            assert!(!names.iter().any(|n| n.contains("tolerate-unregistered")));
        }
    }

    #[test]
    fn urls_follow_the_suites_resource_configuration() {
        let f = fixture(FAPI1_OBUK);
        assert_eq!(
            account_requests_url(&f.env).unwrap(),
            (format!("{RESOURCE}account-access-consents"), 3)
        );
        assert_eq!(accounts_url(&f.env).unwrap(), format!("{RESOURCE}accounts"));
        assert_eq!(resource_url(&f.env).unwrap(), format!("{RESOURCE}accounts"));
        assert_eq!(resource_endpoints(&f.env).unwrap().len(), 2);
        let mut f = fixture(FAPI1_OBUK);
        f.env.config.resource = Some(json!({
            "resourceUrl": "https://rs.example/",
            "resourceUrlAccountRequests": "https://consents.example/open-banking/v4.0/aisp/",
        }));
        assert_eq!(
            account_requests_url(&f.env).unwrap(),
            (
                "https://consents.example/open-banking/v4.0/aisp/account-access-consents"
                    .to_owned(),
                4
            )
        );
        assert_eq!(accounts_url(&f.env).unwrap(), "https://rs.example/accounts");
        f.env.config.resource = Some(json!({"resourceUrl": "https://rs.example/ob/"}));
        assert_eq!(
            account_requests_url(&f.env).unwrap(),
            ("https://rs.example/ob/account-requests".to_owned(), 2)
        );
        f.env.config.resource = None;
        assert_eq!(
            condition(account_requests_url(&f.env)),
            "CallAccountRequestsEndpointWithBearerToken"
        );
        assert_eq!(
            condition(accounts_url(&f.env)),
            "SetProtectedResourceUrlToAccountsEndpoint"
        );
    }

    #[test]
    fn consent_requests_are_the_suites() {
        let first = account_request(false, 1_700_000_000);
        assert_eq!(
            first,
            json!({"Data": {"Permissions": ["ReadAccountsBasic"]}, "Risk": {}})
        );
        // 1 700 000 000 is 2023-11-14T22:13:20Z.
        let second = account_request(true, 1_700_000_000);
        assert_eq!(
            second,
            json!({"Data": {"Permissions": ["ReadAccountsBasic"],
                            "ExpirationDateTime": "2023-11-15T00:13:20Z",
                            "TransactionFromDateTime": "2023-10-15T22:13:20Z",
                            "TransactionToDateTime": "2023-11-14T22:13:20Z"},
                   "Risk": {}})
        );
    }

    #[test]
    fn client_credentials_tokens_must_be_bearer_and_sane() {
        assert_eq!(
            client_credentials_token(&token_issued()).unwrap(),
            "Kz~8mXK1EalYznwH-LC-1fBAo"
        );
        assert_eq!(
            condition(client_credentials_token(&oauth_error(
                400,
                "invalid_client"
            ))),
            "CheckTokenEndpointHttpStatus200"
        );
        let answer = |body: Value| reply(200, &[JSON, ("cache-control", "no-store")], body);
        assert_eq!(
            condition(client_credentials_token(&answer(
                json!({"token_type": "Bearer"})
            ))),
            "CheckForAccessTokenValue"
        );
        assert_eq!(
            condition(client_credentials_token(&answer(
                json!({"access_token": "a", "token_type": "DPoP", "expires_in": 300})
            ))),
            "CallAccountRequestsEndpointWithBearerToken"
        );
        for bad in [json!(0), json!(-5), json!("300"), json!(31_536_001)] {
            assert_eq!(
                condition(client_credentials_token(&answer(
                    json!({"access_token": "a", "token_type": "Bearer", "expires_in": bad})
                ))),
                "ValidateExpiresIn"
            );
        }
        assert!(
            client_credentials_token(&answer(
                json!({"access_token": "a", "token_type": "bearer"})
            ))
            .is_ok()
        );
    }

    #[test]
    fn created_consents_need_201_json_an_interaction_id_and_a_consent_id() {
        let headers = [JSON, ("x-fapi-interaction-id", INTERACTION)];
        assert_eq!(
            consent_id(&created(201, &headers, good_consent()), 3).unwrap(),
            CONSENT_ID
        );
        // An UK OB error answer.
        let refused = created(
            403,
            &headers,
            json!({"Code": "403", "Id": "x", "Message": "Forbidden",
                   "Errors": [{"ErrorCode": "UK.OBIE.Resource.InvalidConsentStatus", "Message": "no"}]}),
        );
        assert_eq!(
            condition(consent_id(&refused, 3)),
            "CallAccountRequestsEndpointWithBearerToken"
        );
        let html = reply_text(201, &[("content-type", "text/html")], "<html></html>");
        assert_eq!(
            condition(consent_id(&html, 3)),
            "CallAccountRequestsEndpointWithBearerToken"
        );
        assert_eq!(
            condition(consent_id(&created(200, &headers, good_consent()), 3)),
            "EnsureHttpStatusCodeIs201"
        );
        assert_eq!(
            condition(consent_id(
                &created(
                    201,
                    &[("content-type", "text/plain"), headers[1]],
                    good_consent()
                ),
                3
            )),
            "EnsureResourceResponseReturnedJsonContentType"
        );
        assert_eq!(
            condition(consent_id(
                &created(201, &headers, json!({"error": "invalid_request"})),
                3
            )),
            "CheckIfAccountRequestsEndpointResponseError"
        );
        assert_eq!(
            condition(consent_id(&created(201, &[JSON], good_consent()), 3)),
            "CheckForFAPIInteractionIdInResourceResponse"
        );
        assert_eq!(
            condition(consent_id(
                &created(
                    201,
                    &[JSON, ("x-fapi-interaction-id", "not-a-uuid")],
                    good_consent()
                ),
                3
            )),
            "CheckForFAPIInteractionIdInResourceResponse"
        );
        let mut no_id = good_consent();
        no_id["Data"].as_object_mut().unwrap().remove("ConsentId");
        assert_eq!(
            condition(consent_id(&created(201, &headers, no_id), 3)),
            "ExtractAccountRequestIdFromAccountRequestsEndpointResponse"
        );
        // Before version 3 the id is Data.AccountRequestId.
        assert_eq!(
            condition(consent_id(&created(201, &headers, good_consent()), 2)),
            "ExtractAccountRequestIdFromAccountRequestsEndpointResponse"
        );
        let v2 = json!({"Data": {"AccountRequestId": "ar-1"}, "Risk": {}});
        assert_eq!(consent_id(&created(201, &headers, v2), 2).unwrap(), "ar-1");
    }

    #[test]
    fn interaction_ids_are_uuids_echoed_ignoring_case() {
        let answer = |id: Option<&str>| match id {
            Some(id) => reply(200, &[JSON, ("x-fapi-interaction-id", id)], json!({})),
            None => reply(200, &[JSON], json!({})),
        };
        let upper = INTERACTION.to_ascii_uppercase();
        assert!(interaction_id_checks(&answer(Some(INTERACTION)), Some(&upper)).is_ok());
        assert!(interaction_id_checks(&answer(Some(INTERACTION)), None).is_ok());
        assert_eq!(
            condition(interaction_id_checks(
                &answer(Some("0b8a6e0e-9b8e-4f2a-8a4e-2f9c1d7e6b5a")),
                Some(INTERACTION)
            )),
            "EnsureMatchingFAPIInteractionId"
        );
        assert_eq!(
            condition(interaction_id_checks(&answer(None), Some(INTERACTION))),
            "CheckForFAPIInteractionIdInResourceResponse"
        );
        assert_eq!(
            condition(interaction_id_checks(&answer(Some("abc")), None)),
            "CheckForFAPIInteractionIdInResourceResponse"
        );
    }

    #[test]
    fn accounts_answers_are_200_json_dated_and_echo_the_interaction_id() {
        let date = http_now();
        let good = |status: u16| {
            reply(
                status,
                &[
                    JSON,
                    ("date", &date),
                    ("x-fapi-interaction-id", INTERACTION),
                ],
                json!({"Data": {"Account": []}, "Links": {}, "Meta": {}}),
            )
        };
        assert!(protected_resource_verdict(&good(200), Some(INTERACTION)).is_ok());
        assert!(protected_resource_verdict(&good(200), None).is_ok());
        assert_eq!(
            condition(protected_resource_verdict(&good(403), Some(INTERACTION))),
            "EnsureHttpStatusCodeIs200or201"
        );
        let stale = http_date(now() - 301);
        let old = reply(
            200,
            &[
                JSON,
                ("date", &stale),
                ("x-fapi-interaction-id", INTERACTION),
            ],
            json!({}),
        );
        assert_eq!(
            condition(protected_resource_verdict(&old, None)),
            "CheckForDateHeaderInResourceResponse"
        );
        let undated = reply(
            200,
            &[JSON, ("x-fapi-interaction-id", INTERACTION)],
            json!({}),
        );
        assert_eq!(
            condition(protected_resource_verdict(&undated, None)),
            "CheckForDateHeaderInResourceResponse"
        );
        let generated = reply(
            200,
            &[
                JSON,
                ("date", &date),
                (
                    "x-fapi-interaction-id",
                    "0b8a6e0e-9b8e-4f2a-8a4e-2f9c1d7e6b5a",
                ),
            ],
            json!({}),
        );
        assert_eq!(
            condition(protected_resource_verdict(&generated, Some(INTERACTION))),
            "EnsureMatchingFAPIInteractionId"
        );
        let silent = reply(200, &[JSON, ("date", &date)], json!({}));
        assert_eq!(
            condition(protected_resource_verdict(&silent, None)),
            "CheckForFAPIInteractionIdInResourceResponse"
        );
    }

    #[test]
    fn id_tokens_name_the_consent_and_an_acr_asked_for() {
        let multiple = intent_claims(CONSENT_ID, Some(MULTIPLE_ACRS));
        let claims = |c: Value| map(c);
        let good = claims(json!({"sub": "u1", "openbanking_intent_id": CONSENT_ID, "acr": ACR_CA}));
        assert!(id_token_verdict(&multiple, &good).is_ok());
        assert_eq!(
            condition(id_token_verdict(
                &multiple,
                &claims(json!({"sub": "u1", "acr": ACR_CA}))
            )),
            "OBValidateIdTokenIntentId"
        );
        assert_eq!(
            condition(id_token_verdict(
                &multiple,
                &claims(json!({"openbanking_intent_id": "aac-other", "acr": ACR_CA}))
            )),
            "OBValidateIdTokenIntentId"
        );
        assert_eq!(
            condition(id_token_verdict(
                &multiple,
                &claims(json!({"openbanking_intent_id": CONSENT_ID}))
            )),
            "ValidateIdTokenACRClaimAgainstRequest"
        );
        assert_eq!(
            condition(id_token_verdict(
                &multiple,
                &claims(json!({"openbanking_intent_id": CONSENT_ID, "acr": ["x"]}))
            )),
            "ValidateIdTokenACRClaimAgainstRequest"
        );
        // Client 2 of FAPI 1 asks for no acr: none is needed.
        let no_acr = intent_claims(CONSENT_ID, None);
        assert!(
            id_token_verdict(
                &no_acr,
                &claims(json!({"openbanking_intent_id": CONSENT_ID}))
            )
            .is_ok()
        );
        // test-essential-acr-sca-claim: a server that answers CA where only SCA was asked for.
        let sca = sca_claims(CONSENT_ID);
        assert!(
            id_token_verdict(
                &sca,
                &claims(json!({"openbanking_intent_id": CONSENT_ID, "acr": ACR_SCA}))
            )
            .is_ok()
        );
        assert_eq!(
            condition(id_token_verdict(
                &sca,
                &claims(json!({"openbanking_intent_id": CONSENT_ID, "acr": ACR_CA}))
            )),
            "ValidateIdTokenACRClaimAgainstRequest"
        );
    }

    #[test]
    fn the_id_token_checks_use_what_the_client_asked_for() {
        let f = fixture(FAPI2_OBUK);
        let token = map(json!({"openbanking_intent_id": CONSENT_ID, "acr": ACR_CA}));
        // Nothing asked for yet: nothing to hold the token to.
        assert!(check_id_token(&f.env, &f.env.tpp1, &token).is_ok());
        let mut params = serde_json::Map::new();
        f.env
            .request_claims(&f.env.tpp1, &mut params, sca_claims(CONSENT_ID));
        assert_eq!(params["claims"], sca_claims(CONSENT_ID));
        assert_eq!(
            condition(check_id_token(&f.env, &f.env.tpp1, &token)),
            "ValidateIdTokenACRClaimAgainstRequest"
        );
        // Outside the profile the checks do not apply.
        let plain = fixture(crate::modules::testkit::FAPI2);
        plain
            .env
            .request_claims(&plain.env.tpp1, &mut params, sca_claims(CONSENT_ID));
        assert!(check_id_token(&plain.env, &plain.env.tpp1, &token).is_ok());
    }

    fn discovery() -> Value {
        json!({
            "claims_parameter_supported": true,
            "claims_supported": ["sub", "acr", "openbanking_intent_id"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "scopes_supported": ["openid", "accounts", "payments"],
            "acr_values_supported": [ACR_SCA, ACR_CA],
        })
    }

    #[test]
    fn discovery_must_offer_what_the_profile_uses() {
        assert!(discovery_checks(&discovery()).is_ok());
        let without = |key: &str, value: Value| {
            let mut d = discovery();
            d[key] = value;
            condition(discovery_checks(&d))
        };
        assert_eq!(
            without("claims_parameter_supported", json!(false)),
            "CheckDiscEndpointClaimsParameterSupported"
        );
        assert_eq!(
            without("claims_supported", json!(["sub", "acr"])),
            "FAPIOBCheckDiscEndpointClaimsSupported"
        );
        assert_eq!(
            without("grant_types_supported", json!(["authorization_code"])),
            "FAPIOBCheckDiscEndpointGrantTypesSupported"
        );
        assert_eq!(
            without("scopes_supported", json!(["openid"])),
            "FAPIOBCheckDiscEndpointScopesSupported"
        );
        assert!(sca_advertised(&discovery()).is_ok());
        let mut d = discovery();
        d["acr_values_supported"] = json!([ACR_CA]);
        assert_eq!(
            condition(sca_advertised(&d)),
            "EnsureServerConfigurationSupportsOpenBankingUkScaAcrClaim"
        );
    }

    fn sent_request(state: &str) -> Request {
        let params = map(json!({"state": state, "response_type": "code"}));
        Request {
            outer: params.clone(),
            inner: params,
            jwt: None,
            expose: &[],
        }
    }

    #[test]
    fn another_clients_consent_must_be_refused() {
        let f = fixture(FAPI2_OBUK);
        let r = sent_request("s2");
        let judged = |sent: Sent| expect_refused(&f.env, &r, sent, &NON_MATCHING_INTENT);
        for error in [
            "invalid_request",
            "invalid_request_object",
            "invalid_request_uri",
            "access_denied",
        ] {
            let landing = callback(json!({"error": error, "state": "s2", "iss": "x"}), false);
            assert!(matches!(judged(Sent::Landed(landing)), Ok(Outcome::Passed)));
        }
        assert!(matches!(
            judged(Sent::Landed(error_page())),
            Ok(Outcome::Passed)
        ));
        assert!(matches!(
            judged(Sent::ParRefused(oauth_error(400, "invalid_request"))),
            Ok(Outcome::Passed)
        ));
        // A server that let client 2 authorise client 1's consent.
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"code": "c", "state": "s2"}),
                false
            )))),
            "EnsureErrorFromAuthorizationEndpointResponse"
        );
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"error": "server_error", "state": "s2"}),
                false
            )))),
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError"
        );
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"error": "access_denied"}),
                false
            )))),
            "CheckStateInAuthorizationResponse"
        );
    }

    #[test]
    fn an_essential_sca_the_server_cannot_do_is_refused_with_access_denied() {
        let f = fixture(FAPI1_OBUK);
        let r = sent_request("s1");
        let judged = |sent: Sent| expect_refused(&f.env, &r, sent, &SCA_REFUSED);
        // FAPI 1 hybrid: the error comes in the fragment.
        let denied = callback(json!({"error": "access_denied", "state": "s1"}), true);
        assert!(matches!(judged(Sent::Landed(denied)), Ok(Outcome::Passed)));
        assert!(matches!(
            judged(Sent::Landed(error_page())),
            Ok(Outcome::Passed)
        ));
        assert_eq!(
            condition(judged(Sent::Landed(callback(
                json!({"error": "invalid_request", "state": "s1"}),
                true
            )))),
            "EnsureAccessDeniedErrorFromAuthorizationEndpointResponse"
        );
        assert_eq!(
            condition(judged(Sent::ParRefused(oauth_error(
                400,
                "invalid_request"
            )))),
            "CheckPAREndpointResponse201WithNoError"
        );
    }
}
