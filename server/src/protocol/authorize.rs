//! Authorization requests: the parameters, from plain query/form values, a verified request
//! object's claims or a pushed request, validated per the client's profile into one typed value.
//!
//! Errors come in two kinds: until the client and the redirect URI are trusted, an error is shown
//! to the user on a page (never a redirect); after, it goes back to the client's redirect URI.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::Client;
use super::error::{ErrorCode, OAuthError};
use super::pkce::CodeChallenge;
use super::redirect::RedirectUri;
use crate::clock::UnixTime;
use crate::consent::{ConsentKind, ConsentStatus};
use crate::registration::metadata::Profile;
use crate::store::ConsentRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseType {
    #[serde(rename = "code")]
    Code,
    #[serde(rename = "code id_token")]
    CodeIdToken,
}

impl ResponseType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::CodeIdToken => "code id_token",
        }
    }

    /// `response_type` values are space-separated sets: `id_token code` is `code id_token`.
    fn parse(s: &str) -> Option<Self> {
        let mut parts: Vec<&str> = s.split(' ').collect();
        parts.sort_unstable();
        match parts.as_slice() {
            ["code"] => Some(ResponseType::Code),
            ["code", "id_token"] => Some(ResponseType::CodeIdToken),
            _ => None,
        }
    }
}

/// Where the response parameters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
    /// JARM: a signed `response` JWT, in the query.
    QueryJwt,
    FragmentJwt,
    FormPostJwt,
}

impl ResponseMode {
    pub fn is_jarm(self) -> bool {
        matches!(
            self,
            ResponseMode::QueryJwt | ResponseMode::FragmentJwt | ResponseMode::FormPostJwt
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
            ResponseMode::QueryJwt => "query.jwt",
            ResponseMode::FragmentJwt => "fragment.jwt",
            ResponseMode::FormPostJwt => "form_post.jwt",
        }
    }
}

/// A validated authorization request. Stored in the session while the user logs in and
/// consents, and as the body of a pushed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: ResponseType,
    pub response_mode: ResponseMode,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    /// The OpenID Connect `claims` parameter, as given.
    pub claims: Option<Value>,
    pub acr_values: Vec<String>,
    pub max_age: Option<i64>,
    pub prompt: Vec<String>,
    /// The DPoP key the code will be bound to (`dpop_jkt`, or the PAR request's proof).
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    pub fn redirect(&self) -> RedirectUri {
        RedirectUri::from_stored(self.redirect_uri.clone())
    }

    pub fn wants_openid(&self) -> bool {
        self.scope.iter().any(|s| s == "openid")
    }

    /// The acr values asked for as essential in the claims parameter, or by `acr_values`.
    pub fn requested_acrs(&self) -> Vec<String> {
        let from_claims = self
            .claims
            .as_ref()
            .and_then(|c| c.get("id_token"))
            .and_then(|c| c.get("acr"))
            .and_then(|acr| {
                acr.get("values")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect::<Vec<_>>()
                    })
                    .or_else(|| {
                        acr.get("value")
                            .and_then(Value::as_str)
                            .map(|v| vec![v.to_owned()])
                    })
            });
        from_claims.unwrap_or_else(|| self.acr_values.clone())
    }

    /// Whether the claims parameter asks for `acr` in the id token as essential.
    fn acr_essential(&self) -> bool {
        self.claims
            .as_ref()
            .and_then(|c| c.get("id_token"))
            .and_then(|c| c.get("acr"))
            .and_then(|acr| acr.get("essential"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// The `acr` to return for a login that used the methods `amr` (RFC 8176 values): none unless
    /// one was asked for; the level the login reached when it was asked for, or a lower one that
    /// was asked for (SCA includes CA). An essential request the login did not reach is
    /// `access_denied` (OIDC Core 5.5.1.1: a failed authentication).
    pub fn acr_for(&self, amr: &[String]) -> Result<Option<String>, OAuthError> {
        let requested = self.requested_acrs();
        if requested.is_empty() {
            return Ok(None);
        }
        let reached = acr_reached(amr);
        let asked = |acr: &str| requested.iter().any(|r| r == acr);
        if asked(reached) {
            return Ok(Some(reached.to_owned()));
        }
        if reached == ACR_SCA && asked(ACR_CA) {
            return Ok(Some(ACR_CA.to_owned()));
        }
        if self.acr_essential() {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the requested authentication level was not reached",
            ));
        }
        Ok(Some(reached.to_owned()))
    }

    /// The UK Open Banking consent this request asks the customer to authorise: the `value` of
    /// `openbanking_intent_id` in the claims parameter's `id_token` (or `userinfo`) member.
    pub fn intent_id(&self) -> Option<&str> {
        let claims = self.claims.as_ref()?;
        ["id_token", "userinfo"].into_iter().find_map(|member| {
            claims
                .get(member)?
                .get(INTENT_CLAIM)?
                .get("value")?
                .as_str()
        })
    }
}

/// The claim that binds a UK Open Banking consent (an intent) to an authorization.
pub const INTENT_CLAIM: &str = "openbanking_intent_id";

/// The acr a login reached: SCA when its methods cover two of the three independent kinds of
/// factor (knowledge, possession, inherence), otherwise CA.
pub fn acr_reached(amr: &[String]) -> &'static str {
    const KINDS: [&[&str]; 3] = [
        &["pwd", "pin", "kba"],
        &["otp", "sms", "tel", "hwk", "swk", "sc", "pop"],
        &["fpt", "face", "iris", "retina", "vbm"],
    ];
    let kinds = KINDS
        .iter()
        .filter(|kind| amr.iter().any(|m| kind.contains(&m.as_str())))
        .count();
    if kinds >= 2 { ACR_SCA } else { ACR_CA }
}

/// Checks the shape of `openbanking_intent_id` requests in the claims parameter: where a value
/// is given it is a non-empty string of at most 128 characters, and `id_token` and `userinfo`
/// name the same consent.
fn check_intent_claims(claims: &Value) -> Result<(), &'static str> {
    let mut named: Option<&str> = None;
    for member in ["id_token", "userinfo"] {
        let request = match claims.get(member).and_then(|m| m.get(INTENT_CLAIM)) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(o)) => o,
            Some(_) => return Err("openbanking_intent_id must be an object"),
        };
        let value = match request.get("value") {
            None | Some(Value::Null) => continue,
            Some(Value::String(v)) if !v.is_empty() && v.len() <= 128 => v.as_str(),
            Some(_) => {
                return Err("openbanking_intent_id value must be a consent id");
            }
        };
        if named.is_some_and(|n| n != value) {
            return Err("openbanking_intent_id names two different consents");
        }
        named = Some(value);
    }
    Ok(())
}

/// Checks that `consent`, the consent the request's intent id names (`None` when there is no
/// such consent), may be authorised by this request at `now`: it belongs to the requesting
/// client, the requested scope covers its kind (`accounts` for account access, `payments` for a
/// payment) and it is waiting for authorisation. Every refusal is `invalid_request`; another
/// client's consent is refused exactly like an unknown one.
pub fn check_intent(
    request: &AuthorizationRequest,
    consent: Option<&ConsentRecord>,
    now: UnixTime,
) -> Result<ConsentKind, OAuthError> {
    let consent = consent
        .filter(|c| c.client_id == request.client_id)
        .ok_or_else(|| {
            OAuthError::invalid_request("openbanking_intent_id names no consent of this client")
        })?;
    let kind = consent.kind()?;
    if !request.scope.iter().any(|s| s == kind.scope()) {
        return Err(OAuthError::invalid_request(format!(
            "the consent is for {kind}: the scope must include {}",
            kind.scope()
        )));
    }
    let status = consent.status_at(now)?;
    if status != ConsentStatus::AwaitingAuthorisation {
        return Err(OAuthError::invalid_request(format!(
            "the consent is {status}, not awaiting authorisation"
        )));
    }
    Ok(kind)
}

/// An authorization request that failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// The client or the redirect URI is not trusted: show `message` on a page.
    Page(String),
    /// Send `error` to the client at the redirect URI of `request` (only its redirect fields and
    /// state are meaningful).
    Redirect {
        target: ErrorTarget,
        error: OAuthError,
    },
}

/// Where an error response goes, once the redirect URI is trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorTarget {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

/// Where the parameters came from: decides which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Query or form parameters at the authorization endpoint.
    Plain,
    /// A verified request object (at the authorization endpoint or PAR).
    RequestObject,
    /// Plain form parameters at the PAR endpoint.
    Pushed,
}

pub const ACR_SCA: &str = "urn:openbanking:psd2:sca";
pub const ACR_CA: &str = "urn:openbanking:psd2:ca";
pub const SUPPORTED_ACRS: &[&str] = &[ACR_SCA, ACR_CA];
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "accounts", "payments", "fundsconfirmations"];

/// The parameters as JSON values: plain parameters are strings, request-object claims keep their
/// JSON types.
pub type Params = Map<String, Value>;

pub fn params_from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Params {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect()
}

fn string(params: &Params, key: &str) -> Result<Option<String>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// A space-separated list parameter (`scope`, `acr_values`, `prompt`), empty when absent.
fn space_list(params: &Params, key: &str) -> Result<Vec<String>, String> {
    Ok(string(params, key)?
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Validates the parameters of an authorization request for `client`.
#[expect(
    clippy::result_large_err,
    reason = "errors are the cold path; the target travels with them"
)]
pub fn validate(
    client: &Client,
    params: &Params,
    source: Source,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_owned());
    // Until the redirect URI is trusted, every error is a page.
    let redirect_uri = string(params, "redirect_uri")
        .map_err(|m| page(&m))?
        .ok_or_else(|| page("The request has no redirect_uri."))?;
    let redirect = RedirectUri::registered(&redirect_uri, &client.metadata.redirect_uris)
        .map_err(|_| page("The redirect_uri is not registered for this application."))?;
    let state = string(params, "state").map_err(|m| page(&m))?;

    let response_type_raw = string(params, "response_type").map_err(|m| page(&m))?;
    let response_type = response_type_raw.as_deref().and_then(ResponseType::parse);
    let response_mode_raw = string(params, "response_mode").map_err(|m| page(&m))?;
    // The mode errors are sent in: the requested one if it is valid, else the default.
    let default_mode = match response_type {
        Some(ResponseType::CodeIdToken) => ResponseMode::Fragment,
        _ => ResponseMode::Query,
    };
    let requested_mode = response_mode_raw
        .as_deref()
        .map(|m| parse_mode(m, response_type));
    let mode_for_errors = match requested_mode {
        Some(Some(m))
            if !(m == ResponseMode::Query && response_type == Some(ResponseType::CodeIdToken)) =>
        {
            m
        }
        _ => default_mode,
    };
    let target = ErrorTarget {
        client_id: client.client_id.clone(),
        redirect_uri: redirect.as_str().to_owned(),
        response_mode: mode_for_errors,
        state: state.clone(),
    };
    let fail = |code: ErrorCode, description: &str| AuthorizeError::Redirect {
        target: target.clone(),
        error: OAuthError::new(code, description),
    };

    if let Some(id) =
        string(params, "client_id").map_err(|m| fail(ErrorCode::InvalidRequest, &m))?
        && id != client.client_id
    {
        return Err(fail(ErrorCode::InvalidRequest, "client_id does not match"));
    }
    let Some(response_type) = response_type else {
        return Err(fail(
            ErrorCode::UnsupportedResponseType,
            "response_type must be code or code id_token",
        ));
    };
    if !client.allows_response_type(response_type.as_str()) {
        return Err(fail(
            ErrorCode::UnauthorizedClient,
            "this response_type is not registered for the client",
        ));
    }
    let response_mode = match requested_mode {
        None => default_mode,
        Some(None) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "response_mode is not supported",
            ));
        }
        Some(Some(m)) => m,
    };
    // Hybrid results never travel in the query (OAuth Multiple Response Types, section 5).
    if response_type == ResponseType::CodeIdToken && response_mode == ResponseMode::Query {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "response_mode=query cannot carry an id_token",
        ));
    }
    match client.profile {
        Profile::Fapi1Advanced => {
            if source == Source::Plain {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "a request object is required",
                ));
            }
            if response_type == ResponseType::Code && !response_mode.is_jarm() {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "response_type code requires a JARM response_mode",
                ));
            }
        }
        Profile::Fapi2Security | Profile::Fapi2MessageSigning => {
            if response_type != ResponseType::Code {
                return Err(fail(
                    ErrorCode::UnsupportedResponseType,
                    "FAPI 2.0 allows only response_type code",
                ));
            }
            if source == Source::Plain {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "requests must be pushed (PAR)",
                ));
            }
            if client.profile == Profile::Fapi2MessageSigning && source == Source::Pushed {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "a signed request object is required",
                ));
            }
        }
        Profile::Oidc => {}
    }

    if params.contains_key("request_uri") || params.contains_key("request") {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "request and request_uri cannot be nested",
        ));
    }
    // A missing scope is a missing required parameter (RFC 6749 section 4.1.2.1): the conformance
    // suite accepts only invalid_request (or invalid_request_object) for a request object without
    // one. An empty or unknown scope stays invalid_scope.
    if params.get("scope").is_none_or(Value::is_null) {
        return Err(fail(ErrorCode::InvalidRequest, "scope is required"));
    }
    let scope: Vec<String> =
        space_list(params, "scope").map_err(|m| fail(ErrorCode::InvalidScope, &m))?;
    if scope.is_empty() {
        return Err(fail(ErrorCode::InvalidScope, "scope is required"));
    }
    let allowed = client.allowed_scopes();
    if let Some(s) = scope
        .iter()
        .find(|s| !allowed.contains(s) || !SUPPORTED_SCOPES.contains(&s.as_str()))
    {
        return Err(fail(
            ErrorCode::InvalidScope,
            &format!("scope {s} is not allowed"),
        ));
    }
    let openid = scope.iter().any(|s| s == "openid");
    let nonce = string(params, "nonce").map_err(|m| fail(ErrorCode::InvalidRequest, &m))?;
    // OpenID hybrid flows require a nonce (an id_token is in the front channel), and FAPI 1
    // requires one of every openid request, JARM included (FAPI 1.0 Baseline 5.2.2.2).
    if response_type == ResponseType::CodeIdToken && nonce.is_none() {
        return Err(fail(ErrorCode::InvalidRequest, "nonce is required"));
    }
    if client.profile == Profile::Fapi1Advanced && openid && nonce.is_none() {
        return Err(fail(ErrorCode::InvalidRequest, "nonce is required"));
    }
    if nonce
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.len() > 2048)
    {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "nonce must be 1 to 2048 characters",
        ));
    }
    if state.as_ref().is_some_and(|s| s.len() > 2048) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "state must be at most 2048 characters",
        ));
    }
    let code_challenge = CodeChallenge::parse(
        string(params, "code_challenge")
            .map_err(|m| fail(ErrorCode::InvalidRequest, &m))?
            .as_deref(),
        string(params, "code_challenge_method")
            .map_err(|m| fail(ErrorCode::InvalidRequest, &m))?
            .as_deref(),
    )
    .map_err(|e| AuthorizeError::Redirect {
        target: target.clone(),
        error: e,
    })?;

    let claims = match params.get("claims") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(Value::Object(o.clone())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Some(v),
            _ => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "claims must be a JSON object",
                ));
            }
        },
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "claims must be a JSON object",
            ));
        }
    };
    if let Some(c) = &claims {
        for member in ["id_token", "userinfo"] {
            if c.get(member).is_some_and(|v| !v.is_object()) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "claims members must be objects",
                ));
            }
        }
        check_intent_claims(c).map_err(|m| fail(ErrorCode::InvalidRequest, m))?;
    }
    let acr_values: Vec<String> =
        space_list(params, "acr_values").map_err(|m| fail(ErrorCode::InvalidRequest, &m))?;
    let max_age = match params.get("max_age") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        Some(_) => None,
    };
    if params.contains_key("max_age") && max_age.is_none_or(|m| m < 0) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "max_age must be a non-negative number",
        ));
    }
    let prompt: Vec<String> =
        space_list(params, "prompt").map_err(|m| fail(ErrorCode::InvalidRequest, &m))?;
    if let Some(p) = prompt
        .iter()
        .find(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
    {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("prompt {p} is not supported"),
        ));
    }
    if prompt.len() > 1 && prompt.iter().any(|p| p == "none") {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt none cannot be combined",
        ));
    }
    let dpop_jkt = string(params, "dpop_jkt").map_err(|m| fail(ErrorCode::InvalidRequest, &m))?;

    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect.as_str().to_owned(),
        response_type,
        response_mode,
        scope,
        state,
        nonce,
        code_challenge: code_challenge.as_str().to_owned(),
        claims,
        acr_values,
        max_age,
        prompt,
        dpop_jkt,
    })
}

fn parse_mode(mode: &str, response_type: Option<ResponseType>) -> Option<ResponseMode> {
    Some(match mode {
        "query" => ResponseMode::Query,
        "fragment" => ResponseMode::Fragment,
        "form_post" => ResponseMode::FormPost,
        "query.jwt" => ResponseMode::QueryJwt,
        "fragment.jwt" => ResponseMode::FragmentJwt,
        "form_post.jwt" => ResponseMode::FormPostJwt,
        // JARM: `jwt` is the default encoding of the response type.
        "jwt" => match response_type {
            Some(ResponseType::CodeIdToken) => ResponseMode::FragmentJwt,
            _ => ResponseMode::QueryJwt,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registration::metadata::ClientMetadata;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(profile: &str, response_types: &[&str]) -> Client {
        let metadata = ClientMetadata::parse(
            &json!({
                "client_id": "c1",
                "profile": profile,
                "redirect_uris": ["https://tpp.example/cb", "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum"],
                "response_types": response_types,
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]},
            })
            .to_string(),
        )
        .unwrap();
        Client {
            client_id: "c1".to_owned(),
            name: None,
            profile: metadata.profile(),
            metadata,
            secret_hash: None,
        }
    }

    fn base() -> Params {
        params_from_pairs([
            ("client_id", "c1"),
            ("redirect_uri", "https://tpp.example/cb"),
            ("response_type", "code"),
            ("scope", "openid accounts"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
    }

    fn with(mut p: Params, k: &str, v: &str) -> Params {
        p.insert(k.to_owned(), Value::String(v.to_owned()));
        p
    }

    fn error_code(r: Result<AuthorizationRequest, AuthorizeError>) -> ErrorCode {
        match r {
            Err(AuthorizeError::Redirect { error, .. }) => error.code,
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn fapi2_pushed_code_request_is_accepted() {
        let c = client("fapi2-security", &["code"]);
        let r = validate(&c, &base(), Source::Pushed).unwrap();
        assert_eq!(r.response_type, ResponseType::Code);
        assert_eq!(r.response_mode, ResponseMode::Query);
        assert_eq!(r.scope, ["openid", "accounts"]);
        assert_eq!(r.state.as_deref(), Some("s1"));
    }

    #[test]
    fn untrusted_redirects_are_pages() {
        let c = client("fapi2-security", &["code"]);
        let p = with(base(), "redirect_uri", "https://evil.example/cb");
        assert!(matches!(
            validate(&c, &p, Source::Pushed),
            Err(AuthorizeError::Page(_))
        ));
        let mut p = base();
        p.remove("redirect_uri");
        assert!(matches!(
            validate(&c, &p, Source::Pushed),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn profile_rules() {
        let c = client("fapi2-security", &["code", "code id_token"]);
        assert_eq!(
            error_code(validate(&c, &base(), Source::Plain)),
            ErrorCode::InvalidRequest,
            "FAPI2 needs PAR"
        );
        let p = with(base(), "response_type", "code id_token");
        assert_eq!(
            error_code(validate(&c, &p, Source::Pushed)),
            ErrorCode::UnsupportedResponseType
        );

        let c = client("fapi1-advanced", &["code id_token", "code"]);
        assert_eq!(
            error_code(validate(&c, &base(), Source::Plain)),
            ErrorCode::InvalidRequest,
            "FAPI1 needs a request object"
        );
        assert_eq!(
            error_code(validate(&c, &base(), Source::RequestObject)),
            ErrorCode::InvalidRequest,
            "FAPI1 plain code needs JARM"
        );
        let jarm = with(base(), "response_mode", "jwt");
        assert_eq!(
            validate(&c, &jarm, Source::RequestObject)
                .unwrap()
                .response_mode,
            ResponseMode::QueryJwt
        );
        let hybrid = with(base(), "response_type", "id_token code");
        let r = validate(&c, &hybrid, Source::RequestObject).unwrap();
        assert_eq!(
            (r.response_type, r.response_mode),
            (ResponseType::CodeIdToken, ResponseMode::Fragment)
        );
        let hybrid_query = with(hybrid, "response_mode", "query");
        match validate(&c, &hybrid_query, Source::RequestObject) {
            Err(AuthorizeError::Redirect { target, .. }) => assert_eq!(
                target.response_mode,
                ResponseMode::Fragment,
                "never the query"
            ),
            other => panic!("{other:?}"),
        }
        let c = client("fapi2-message-signing", &["code"]);
        assert_eq!(
            error_code(validate(&c, &base(), Source::Pushed)),
            ErrorCode::InvalidRequest,
            "must be signed"
        );
    }

    #[test]
    fn pkce_is_required_and_plain_refused() {
        let c = client("fapi2-security", &["code"]);
        let mut p = base();
        p.remove("code_challenge");
        assert_eq!(
            error_code(validate(&c, &p, Source::Pushed)),
            ErrorCode::InvalidRequest
        );
        let p = with(base(), "code_challenge_method", "plain");
        assert_eq!(
            error_code(validate(&c, &p, Source::Pushed)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn scope_state_nonce_and_claims() {
        let c = client("fapi2-security", &["code"]);
        assert_eq!(
            error_code(validate(
                &c,
                &with(base(), "scope", "openid admin"),
                Source::Pushed
            )),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            error_code(validate(&c, &with(base(), "scope", ""), Source::Pushed)),
            ErrorCode::InvalidScope
        );
        let long_state = "s".repeat(128);
        let long_nonce = "n".repeat(384);
        let r = validate(
            &c,
            &with(with(base(), "state", &long_state), "nonce", &long_nonce),
            Source::Pushed,
        )
        .unwrap();
        assert_eq!(
            r.state.as_deref(),
            Some(long_state.as_str()),
            "echoed exactly, never truncated"
        );
        assert_eq!(r.nonce.as_deref(), Some(long_nonce.as_str()));
        let claims =
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:openbanking:psd2:sca"]}}}"#;
        let r = validate(&c, &with(base(), "claims", claims), Source::Pushed).unwrap();
        assert_eq!(r.requested_acrs(), [ACR_SCA]);
        assert_eq!(
            error_code(validate(&c, &with(base(), "claims", "[1]"), Source::Pushed)),
            ErrorCode::InvalidRequest
        );
        let mut nested = base();
        nested.insert("request_uri".to_owned(), json!("urn:x"));
        assert_eq!(
            error_code(validate(&c, &nested, Source::RequestObject)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn a_missing_scope_is_invalid_request() {
        // The conformance suite's ensure-request-object-without-scope-fails accepts
        // invalid_request or invalid_request_object only.
        for profile in ["fapi1-advanced", "fapi2-security"] {
            let c = client(profile, &["code"]);
            let mut p = with(base(), "response_mode", "jwt");
            p.remove("scope");
            let source = Source::RequestObject;
            assert_eq!(
                error_code(validate(&c, &p, source)),
                ErrorCode::InvalidRequest,
                "{profile}"
            );
            p.insert("scope".to_owned(), Value::Null);
            assert_eq!(
                error_code(validate(&c, &p, source)),
                ErrorCode::InvalidRequest,
                "{profile}: null"
            );
        }
    }

    #[test]
    fn fapi1_openid_requests_need_a_nonce_with_jarm_too() {
        // FAPI 1.0 Baseline 5.2.2.2; the suite's ensure-request-object-without-nonce-fails runs
        // in the JARM variants as well.
        let c = client("fapi1-advanced", &["code id_token", "code"]);
        let mut jarm = with(base(), "response_mode", "jwt");
        jarm.remove("nonce");
        assert_eq!(
            error_code(validate(&c, &jarm, Source::RequestObject)),
            ErrorCode::InvalidRequest
        );
        let mut hybrid = with(base(), "response_type", "code id_token");
        hybrid.remove("nonce");
        assert_eq!(
            error_code(validate(&c, &hybrid, Source::RequestObject)),
            ErrorCode::InvalidRequest
        );
        // Without openid there is no id token and no nonce to require.
        let accounts = with(jarm, "scope", "accounts");
        assert!(validate(&c, &accounts, Source::RequestObject).is_ok());
        // FAPI 2 leaves the nonce optional (ensure-authorization-request-without-nonce-success).
        let c = client("fapi2-security", &["code"]);
        let mut p = base();
        p.remove("nonce");
        assert!(validate(&c, &p, Source::Pushed).is_ok());
    }

    fn request_with_claims(claims: Value) -> AuthorizationRequest {
        let c = client("fapi2-security", &["code"]);
        validate(
            &c,
            &with(base(), "claims", &claims.to_string()),
            Source::Pushed,
        )
        .unwrap()
    }

    fn amr(methods: &[&str]) -> Vec<String> {
        methods.iter().map(|m| (*m).to_owned()).collect()
    }

    #[test]
    fn acr_levels_follow_the_factors_used() {
        assert_eq!(acr_reached(&amr(&["pwd"])), ACR_CA);
        assert_eq!(
            acr_reached(&amr(&["pwd", "pin"])),
            ACR_CA,
            "two of one kind"
        );
        assert_eq!(acr_reached(&amr(&["pwd", "otp"])), ACR_SCA);
        assert_eq!(acr_reached(&amr(&["hwk", "fpt"])), ACR_SCA);
        assert_eq!(acr_reached(&amr(&["mfa"])), ACR_CA, "a claim, not factors");
    }

    #[test]
    fn acr_is_returned_only_when_asked_and_essential_sca_needs_two_factors() {
        let none = request_with_claims(json!({"id_token": {}}));
        assert_eq!(none.acr_for(&amr(&["pwd"])), Ok(None));
        // The OBUK profile's usual request: both values, essential; a password login is CA.
        let both = request_with_claims(
            json!({"id_token": {"acr": {"essential": true, "values": [ACR_SCA, ACR_CA]}}}),
        );
        assert_eq!(both.acr_for(&amr(&["pwd"])), Ok(Some(ACR_CA.to_owned())));
        assert_eq!(
            both.acr_for(&amr(&["pwd", "otp"])),
            Ok(Some(ACR_SCA.to_owned()))
        );
        // test-essential-acr-sca-claim: only SCA, essential.
        let sca = request_with_claims(
            json!({"id_token": {"acr": {"essential": true, "value": ACR_SCA}}}),
        );
        assert_eq!(
            sca.acr_for(&amr(&["pwd"])).unwrap_err().code,
            ErrorCode::AccessDenied
        );
        assert_eq!(
            sca.acr_for(&amr(&["pwd", "otp"])),
            Ok(Some(ACR_SCA.to_owned()))
        );
        // Voluntary: the level reached, even if it is not the one asked for.
        let voluntary = request_with_claims(json!({"id_token": {"acr": {"values": [ACR_SCA]}}}));
        assert_eq!(
            voluntary.acr_for(&amr(&["pwd"])),
            Ok(Some(ACR_CA.to_owned()))
        );
        // SCA covers CA: CA asked, CA returned.
        let ca = request_with_claims(
            json!({"id_token": {"acr": {"essential": true, "values": [ACR_CA]}}}),
        );
        assert_eq!(
            ca.acr_for(&amr(&["pwd", "otp"])),
            Ok(Some(ACR_CA.to_owned()))
        );
    }

    #[test]
    fn the_intent_id_comes_from_the_claims_parameter() {
        let r = request_with_claims(
            json!({"id_token": {"openbanking_intent_id": {"value": "c-1", "essential": true}}}),
        );
        assert_eq!(r.intent_id(), Some("c-1"));
        let r = request_with_claims(
            json!({"userinfo": {"openbanking_intent_id": {"value": "c-2", "essential": true}}}),
        );
        assert_eq!(r.intent_id(), Some("c-2"));
        let r = request_with_claims(json!({"id_token": {"openbanking_intent_id": null}}));
        assert_eq!(r.intent_id(), None);

        let c = client("fapi2-security", &["code"]);
        for bad in [
            json!({"id_token": {"openbanking_intent_id": "c-1"}}),
            json!({"id_token": {"openbanking_intent_id": {"value": 7}}}),
            json!({"id_token": {"openbanking_intent_id": {"value": ""}}}),
            json!({"id_token": {"openbanking_intent_id": {"value": "a"}},
                   "userinfo": {"openbanking_intent_id": {"value": "b"}}}),
        ] {
            assert_eq!(
                error_code(validate(
                    &c,
                    &with(base(), "claims", &bad.to_string()),
                    Source::Pushed
                )),
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
    }

    fn consent(
        kind: &str,
        client_id: &str,
        status: &str,
        expires_at: Option<i64>,
    ) -> ConsentRecord {
        ConsentRecord {
            id: "c-1".to_owned(),
            kind: kind.to_owned(),
            client_id: client_id.to_owned(),
            status: status.to_owned(),
            status_updated_at: 0,
            created_at: 0,
            expires_at,
            user_id: None,
            permissions: None,
            tx_from: None,
            tx_to: None,
            debtor_account_id: None,
            amount_minor: None,
            currency: None,
            body: "{}".to_owned(),
            idempotency_key: None,
            request_hash: None,
            authorised_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn a_bound_consent_is_the_clients_waiting_and_of_the_scopes_kind() {
        let r =
            request_with_claims(json!({"id_token": {"openbanking_intent_id": {"value": "c-1"}}}));
        let waiting = "AwaitingAuthorisation";
        let ok = consent("account-access", "c1", waiting, Some(200));
        assert_eq!(
            check_intent(&r, Some(&ok), 100),
            Ok(ConsentKind::AccountAccess)
        );
        let refused = |c: Option<&ConsentRecord>, now: i64| {
            let e = check_intent(&r, c, now).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            e.description().unwrap_or_default().to_owned()
        };
        let unknown = refused(None, 100);
        let foreign = refused(Some(&consent("account-access", "c2", waiting, None)), 100);
        assert_eq!(unknown, foreign, "another client's consent looks unknown");
        assert!(refused(Some(&ok), 200).contains("Expired"));
        assert!(
            refused(
                Some(&consent("account-access", "c1", "Authorised", None)),
                100
            )
            .contains("Authorised")
        );
        // The scope is `openid accounts`: a payment consent does not fit.
        assert!(
            refused(Some(&consent("domestic-payment", "c1", waiting, None)), 100)
                .contains("payments")
        );
    }

    #[test]
    fn registered_redirect_with_query_is_matched_exactly() {
        let c = client("fapi2-security", &["code"]);
        let p = with(
            base(),
            "redirect_uri",
            "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum",
        );
        assert_eq!(
            validate(&c, &p, Source::Pushed).unwrap().redirect_uri,
            "https://tpp.example/cb?dummy1=lorem&dummy2=ipsum"
        );
    }
}
