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
use crate::registration::metadata::Profile;

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

const ACR_SCA: &str = "urn:openbanking:psd2:sca";
const ACR_CA: &str = "urn:openbanking:psd2:ca";
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
