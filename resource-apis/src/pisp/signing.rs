//! Message signing on the payment APIs: the TPP's `x-jws-signature` checked against its
//! registered keys (`jwks`, or `jwks_uri` fetched and cached by the server, refetched once when
//! the `kid` is new), and every response signed by the bank's current PS256 key, the one
//! published at `/jwks`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use consentry_server::clock::UnixTime;
use consentry_server::keys::SigningAlg;
use consentry_server::protocol::client::{Client, KeyPurpose, with_client_keys};
use consentry_server::protocol::error::{ErrorCode, OAuthError};
use consentry_server::protocol::jose::JwtRejection;
use consentry_server::store::ClientStore as _;
use serde_json::Value;

use crate::Api;
use crate::error::{ApiError, ApiResult};
use crate::jws::{self, Expected, JwsError, TRUST_ANCHOR};

pub const X_JWS_SIGNATURE: HeaderName = HeaderName::from_static(jws::HEADER);
/// The algorithm of the bank's response signatures (Open Banking signs with PS256).
pub const RESPONSE_ALG: SigningAlg = SigningAlg::PS256;
/// The largest response body signed.
const MAX_SIGNED_BODY: usize = 1 << 20;

/// The `http://openbanking.org.uk/iss` values a client may sign with: its `client_id`, and
/// `<org_id>/<software_id>` when its registration carries both (from its software statement).
pub fn accepted_issuers(client: &Client) -> Vec<String> {
    let mut issuers = vec![client.client_id.clone()];
    let member = |name: &str| client.metadata.other.get(name).and_then(Value::as_str);
    if let (Some(org), Some(software)) = (member("org_id"), member("software_id")) {
        issuers.push(format!("{org}/{software}"));
    }
    issuers
}

/// Checks the request's `x-jws-signature` over `body`: signed by a key `client_id` registered.
pub async fn verify_request(
    api: &Api,
    client_id: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: UnixTime,
) -> ApiResult<()> {
    let mut values = headers.get_all(&X_JWS_SIGNATURE).iter();
    let signature = match (values.next(), values.next()) {
        (None, _) => return Err(JwsError::Missing.into()),
        (Some(v), None) => v
            .to_str()
            .map_err(|_| JwsError::Malformed("the header is not ASCII"))?,
        (Some(_), Some(_)) => {
            return Err(JwsError::Malformed("the header is given more than once").into());
        }
    };
    let record = api
        .app
        .store
        .client(client_id)
        .await?
        .ok_or_else(|| ApiError::internal("token of an unknown client"))?;
    let client = Client::from_record(record)?;
    let issuers = accepted_issuers(&client);
    let expected = Expected {
        issuers: &issuers,
        trust_anchor: TRUST_ANCHOR,
        now,
    };
    // The server's key lookup refetches a jwks_uri once when the kid is new; a refusal for good
    // is carried out as a value so that its UK OB code survives.
    let outcome = with_client_keys(
        &api.app,
        &client,
        KeyPurpose::ClientAuthentication,
        now,
        |keys| match jws::verify_detached(signature, body, keys, &expected) {
            Err(e) if e.key_refresh_may_help() => Err(JwtRejection::UnknownKey(OAuthError::new(
                ErrorCode::InvalidClient,
                e.to_string(),
            ))),
            other => Ok(other),
        },
    )
    .await;
    match outcome {
        Ok(verified) => verified.map(drop).map_err(ApiError::from),
        // No key with the kid, even after a refetch, or the key set could not be had.
        Err(_) => Err(JwsError::UnknownKid.into()),
    }
}

/// Signs a response body with the bank's key: the value of its `x-jws-signature`.
pub async fn sign_body(api: &Api, body: &[u8], now: UnixTime) -> ApiResult<String> {
    let key = api
        .app
        .keys
        .signing_key(RESPONSE_ALG)
        .await
        .map_err(ApiError::internal)?;
    let iss = api.app.config.server.issuer.as_str().trim_end_matches('/');
    let header = jws::response_header(key.alg, &key.kid, iss, now);
    jws::sign_detached(&header, body, |input| key.sign_bytes(input)).map_err(ApiError::internal)
}

/// Middleware: adds `x-jws-signature` to every response with a body.
pub async fn sign_response(State(api): State<Api>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_SIGNED_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::internal(format!("response body: {e}")).into_response(),
    };
    if !bytes.is_empty() {
        let signed = sign_body(&api, &bytes, api.app.clock.now())
            .await
            .and_then(|s| HeaderValue::from_str(&s).map_err(ApiError::internal));
        match signed {
            Ok(value) => {
                parts.headers.insert(X_JWS_SIGNATURE, value);
            }
            Err(e) => return e.into_response(),
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
