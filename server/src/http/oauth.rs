//! The back-channel OAuth endpoints on the mTLS listener: pushed authorization requests (RFC
//! 9126) and the token endpoint; introspection (RFC 7662, 9701) and revocation (RFC 7009); and
//! the UserInfo endpoint, served on both listeners. Handlers adapt; the rules are in
//! `crate::protocol`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::client_cert::ClientCertificate;
use super::extract::OAuthForm;
use super::resource_auth::{self, Listener, ResourceRequest};
use super::routes;
use crate::app::{App, AppState};
use crate::clock::UnixTime;
use crate::protocol::authorize::{AuthorizeError, Params, Source, validate};
use crate::protocol::client::{KeyPurpose, with_client_keys};
use crate::protocol::dpop::{DpopNonces, DpopPolicy, DpopProof, DpopRequest, validate_proof};
use crate::protocol::error::{ErrorCode, OAuthError};
use crate::protocol::introspect::{self, TokenReference};
use crate::protocol::request_object::{RequestObjectContext, validate_request_object};
use crate::protocol::revoke;
use crate::protocol::token::{Caller, ClientAuthForm, TokenForm, authenticate_client, exchange};
use crate::protocol::userinfo::{self, Userinfo};
use crate::store::{JtiKind, JtiStore as _, ParRecord, ParStore as _};

/// The prefix of every `request_uri` this server issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The URL a back-channel endpoint is reached at (the mTLS alias), for DPoP `htu` and assertion
/// audiences.
pub fn mtls_url(app: &App, path: &str) -> String {
    format!(
        "{}{path}",
        app.config.mtls_base_url().as_str().trim_end_matches('/')
    )
}

/// `Authorization: Basic` credentials, URL-decoded (RFC 6749 section 2.3.1).
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(user)?, decode(pass)?))
}

/// Validates the request's DPoP proof, if any, and consumes its jti once in the database.
pub async fn dpop_proof(
    app: &App,
    headers: &HeaderMap,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    expected_jkt: Option<&str>,
    now: UnixTime,
) -> Result<Option<DpopProof>, OAuthError> {
    let values: Vec<&str> = headers
        .get_all("dpop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if headers.get_all("dpop").iter().count() != values.len() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the DPoP header is not valid text",
        ));
    }
    let nonces = dpop_nonces(app);
    let policy = DpopPolicy {
        require_nonce: nonces.is_some(),
        ..DpopPolicy::default()
    };
    let request = DpopRequest {
        headers: values,
        method,
        url,
        access_token,
        expected_jkt,
        nonce: nonces.as_ref(),
    };
    let Some(proof) = validate_proof(&request, &policy, now)? else {
        return Ok(None);
    };
    let keep_until = proof.iat + policy.iat_leeway_past + policy.iat_leeway_future;
    if !app
        .store
        .use_jti(JtiKind::Dpop, &proof.jkt, &proof.jti, keep_until)
        .await?
    {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the DPoP proof has been used before",
        ));
    }
    Ok(Some(proof))
}

/// The server's DPoP nonces when `tokens.dpop_nonce` is on.
fn dpop_nonces(app: &App) -> Option<DpopNonces> {
    let tokens = &app.config.tokens;
    tokens.dpop_nonce.then(|| {
        DpopNonces::new(
            app.keys.derived_secret(DpopNonces::KEY_PURPOSE),
            tokens.dpop_nonce_secs,
        )
    })
}

/// Middleware of the endpoints that take DPoP proofs (PAR, token, resources): when nonces are
/// on, every response, success or `use_dpop_nonce`, carries the current one in `DPoP-Nonce`.
pub async fn dpop_nonce_header(State(state): State<AppState>, mut response: Response) -> Response {
    if let Some(nonces) = dpop_nonces(&state)
        && let Ok(value) = HeaderValue::from_str(&nonces.current(state.clock.now()))
    {
        response.headers_mut().insert("dpop-nonce", value);
    }
    response
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn client_auth_form(pairs: &[(String, String)]) -> ClientAuthForm {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    ClientAuthForm {
        client_id: get("client_id"),
        client_assertion: get("client_assertion"),
        client_assertion_type: get("client_assertion_type"),
        client_secret: get("client_secret"),
    }
}

/// Refuses a parameter given twice (RFC 6749 section 3.1).
pub fn single_valued(pairs: &[(String, String)]) -> Result<(), OAuthError> {
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(n, _)| n == k) {
            return Err(OAuthError::invalid_request(format!(
                "{k} is given more than once"
            )));
        }
    }
    Ok(())
}

const CLIENT_AUTH_PARAMS: &[&str] = &["client_assertion", "client_assertion_type", "client_secret"];

/// POST /par
pub async fn par(
    State(state): State<AppState>,
    cert: ClientCertificate,
    headers: HeaderMap,
    OAuthForm(pairs): OAuthForm<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let app = &state.0;
    let now = app.clock.now();
    single_valued(&pairs)?;
    let url = mtls_url(app, routes::PAR);
    let caller = Caller {
        certificate: cert.certificate.as_deref(),
        dpop_jkt: None,
        basic: basic_credentials(&headers),
        endpoint_url: &url,
    };
    let client = authenticate_client(
        app,
        &app.client_trust,
        &client_auth_form(&pairs),
        &caller,
        now,
    )
    .await?;
    if pairs.iter().any(|(k, _)| k == "request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri is not allowed at the PAR endpoint",
        ));
    }
    let proof = dpop_proof(app, &headers, "POST", &url, None, None, now).await?;
    let mut params: Params = pairs
        .iter()
        .filter(|(k, _)| !CLIENT_AUTH_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let source = match params.remove("request") {
        Some(Value::String(jwt)) => {
            let claims = request_object_claims(app, &client, &jwt, now).await?;
            if claims
                .get("client_id")
                .and_then(Value::as_str)
                .is_some_and(|id| id != client.client_id)
            {
                return Err(OAuthError::new(
                    ErrorCode::InvalidRequestObject,
                    "client_id does not match",
                ));
            }
            params = claims;
            Source::RequestObject
        }
        _ => Source::Pushed,
    };
    let mut request = validate(&client, &params, source).map_err(|e| match e {
        AuthorizeError::Page(message) => OAuthError::invalid_request(message),
        AuthorizeError::Redirect { error, .. } => error,
    })?;
    match (&request.dpop_jkt, &proof) {
        (Some(given), Some(p)) if *given != p.jkt => {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "dpop_jkt does not match the DPoP proof",
            ));
        }
        (None, Some(p)) => request.dpop_jkt = Some(p.jkt.clone()),
        _ => {}
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", crate::crypto::random_token());
    let expires_in = app.config.tokens.request_uri_secs;
    let record = ParRecord {
        request_uri_hash: crate::crypto::secret_hash(&request_uri),
        client_id: client.client_id.clone(),
        params: serde_json::to_string(&request).map_err(OAuthError::internal)?,
        dpop_jkt: request.dpop_jkt.clone(),
        created_at: now,
        expires_at: now + expires_in,
        consumed_at: None,
    };
    app.store.insert_par(&record).await?;
    let body = json!({ "request_uri": request_uri, "expires_in": expires_in });
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

/// Verifies a request object of `client` (FAPI: PS256 or ES256 only) with its keys: inline, or
/// from its `jwks_uri`, fetched again once when no key matches.
pub async fn request_object_claims(
    app: &App,
    client: &crate::protocol::client::Client,
    jwt: &str,
    now: UnixTime,
) -> Result<Params, OAuthError> {
    let issuer = app
        .config
        .server
        .issuer
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let purpose = KeyPurpose::RequestObject;
    with_client_keys(app, client, purpose, now, |jwks| {
        let ctx = RequestObjectContext {
            issuer: &issuer,
            client_id: &client.client_id,
            client_jwks: jwks,
            profile: client.profile,
            allowed_algs: &[
                crate::keys::SigningAlg::PS256,
                crate::keys::SigningAlg::ES256,
            ],
        };
        validate_request_object(jwt, &ctx, now)
    })
    .await
}

/// POST /token
pub async fn token(
    State(state): State<AppState>,
    cert: ClientCertificate,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<TokenForm>,
) -> Result<Response, OAuthError> {
    let app = &state.0;
    let now = app.clock.now();
    let url = mtls_url(app, routes::TOKEN);
    let proof = dpop_proof(app, &headers, "POST", &url, None, None, now).await?;
    let caller = Caller {
        certificate: cert.certificate.as_deref(),
        dpop_jkt: proof.map(|p| p.jkt),
        basic: basic_credentials(&headers),
        endpoint_url: &url,
    };
    let client = authenticate_client(app, &app.client_trust, &form.auth, &caller, now).await?;
    tracing::debug!(client_id = %client.client_id, grant_type = ?form.grant_type, "token request");
    let response = exchange(app, &client, &form, &caller, now).await?;
    Ok(no_store(Json(response).into_response()))
}

/// Authenticates the client calling a back-channel endpoint at `path` on the mTLS listener.
async fn authenticate_caller(
    app: &App,
    cert: &ClientCertificate,
    headers: &HeaderMap,
    pairs: &[(String, String)],
    path: &str,
    now: UnixTime,
) -> Result<crate::protocol::client::Client, OAuthError> {
    let url = mtls_url(app, path);
    let caller = Caller {
        certificate: cert.certificate.as_deref(),
        dpop_jkt: None,
        basic: basic_credentials(headers),
        endpoint_url: &url,
    };
    authenticate_client(
        app,
        &app.client_trust,
        &client_auth_form(pairs),
        &caller,
        now,
    )
    .await
}

/// The `token` and `token_type_hint` of an introspection or revocation request.
fn token_reference(pairs: &[(String, String)]) -> Result<TokenReference, OAuthError> {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    TokenReference::parse(get("token"), get("token_type_hint"))
}

/// POST /introspect (RFC 7662), signed when the caller accepts
/// `application/token-introspection+jwt` (RFC 9701).
pub async fn introspect(
    State(state): State<AppState>,
    cert: ClientCertificate,
    headers: HeaderMap,
    OAuthForm(pairs): OAuthForm<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let app = &state.0;
    let now = app.clock.now();
    single_valued(&pairs)?;
    let client = authenticate_caller(app, &cert, &headers, &pairs, routes::INTROSPECT, now).await?;
    let reference = token_reference(&pairs)?;
    let answer = introspect::introspect(app, &client, &reference, now).await?;
    let wants_jwt = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(introspect::accepts_jwt);
    if !wants_jwt {
        return Ok(no_store(Json(answer).into_response()));
    }
    let jwt = introspect::signed_response(app, &client, &answer, now).await?;
    Ok(no_store(
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(introspect::JWT_MEDIA_TYPE),
            )],
            jwt,
        )
            .into_response(),
    ))
}

/// POST /revoke (RFC 7009): 200 with an empty body, whatever the token was.
pub async fn revoke(
    State(state): State<AppState>,
    cert: ClientCertificate,
    headers: HeaderMap,
    OAuthForm(pairs): OAuthForm<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let app = &state.0;
    let now = app.clock.now();
    single_valued(&pairs)?;
    let client = authenticate_caller(app, &cert, &headers, &pairs, routes::REVOKE, now).await?;
    let reference = token_reference(&pairs)?;
    revoke::revoke(app, &client, &reference, now).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// GET and POST /userinfo on the public listener.
pub async fn userinfo_public(
    state: State<AppState>,
    cert: ClientCertificate,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    userinfo(Listener::Public, state, cert, method, uri, headers, body).await
}

/// GET and POST /userinfo on the mTLS listener, for certificate-bound tokens.
pub async fn userinfo_mtls(
    state: State<AppState>,
    cert: ClientCertificate,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    userinfo(Listener::Mtls, state, cert, method, uri, headers, body).await
}

/// The UserInfo endpoint (OpenID Connect Core 5.3) on `listener`.
async fn userinfo(
    listener: Listener,
    State(state): State<AppState>,
    cert: ClientCertificate,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let app = &state.0;
    let now = app.clock.now();
    let request = ResourceRequest {
        listener,
        method: &method,
        uri: &uri,
        headers: &headers,
        certificate: cert.certificate.as_deref(),
        token_in_body: resource_auth::form_carries_token(&headers, &body),
    };
    let token = resource_auth::access_token(app, &request, now).await?;
    let answer = userinfo::userinfo(app, &token, now)
        .await
        .map_err(|e| match e.code {
            ErrorCode::InvalidToken => e.with_challenge(resource_auth::challenge_for(&token)),
            _ => e,
        })?;
    let response = match answer {
        Userinfo::Claims(claims) => Json(claims).into_response(),
        Userinfo::Signed(jwt) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwt"),
            )],
            jwt,
        )
            .into_response(),
    };
    Ok(no_store(response))
}
