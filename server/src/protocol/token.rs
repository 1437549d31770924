//! The token endpoint: `authorization_code` (PKCE, client and redirect binding, one atomic
//! redemption; a second redemption revokes everything the code issued), `refresh_token` (bound to
//! the client and its certificate or DPoP key) and `client_credentials`. Access tokens are opaque
//! 256-bit references, or RFC 9068 JWTs for clients that chose `access_token_format: jwt`;
//! either kind is stored as the hash of the token, so that every check, introspection and
//! revocation decides by the database. Tokens are sender-constrained by mTLS (`cnf.x5t#S256`) or
//! DPoP (`cnf.jkt`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::Client;
use super::client_auth::{
    Authenticated, ClientTrust, Credentials, authenticate, claimed_client_id,
};
use super::error::{ErrorCode, OAuthError};
use super::id_token::{IdTokenInput, claims as id_token_claims};
use super::pkce::CodeChallenge;
use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::{random_token, secret_hash};
use crate::http::client_cert::PeerCertificate;
use crate::keys::SigningAlg;
use crate::registration::metadata::{AccessTokenFormat, Profile};
use crate::store::{
    AccessTokenRecord, ClientStore as _, CodeStore as _, GrantRecord, GrantStore as _,
    IssuedTokens, JtiKind, JtiStore as _, Redemption, RefreshTokenRecord, TokenStore as _,
    UserStore as _,
};

/// The token request's body.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    #[serde(flatten)]
    pub auth: ClientAuthForm,
}

/// The client authentication members of a request body, shared by every endpoint that
/// authenticates clients.
#[derive(Debug, Default, Deserialize)]
pub struct ClientAuthForm {
    pub client_id: Option<String>,
    pub client_assertion: Option<String>,
    pub client_assertion_type: Option<String>,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// What the transport told us about the caller.
#[derive(Debug, Default)]
pub struct Caller<'a> {
    pub certificate: Option<&'a PeerCertificate>,
    /// The thumbprint of a DPoP proof already validated for this request (and its jti consumed).
    pub dpop_jkt: Option<String>,
    pub basic: Option<(String, String)>,
    /// The URL the endpoint was reached at, an acceptable client-assertion audience for FAPI 1.
    pub endpoint_url: &'a str,
}

/// The URLs a FAPI 1 client assertion may name as its audience.
pub struct EndpointUrls {
    pub issuer: String,
    pub token: String,
    pub token_mtls: String,
    pub par: String,
    pub par_mtls: String,
}

impl EndpointUrls {
    pub fn of(app: &App) -> Self {
        let issuer = app
            .config
            .server
            .issuer
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let mtls = app
            .config
            .mtls_base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Self {
            token: format!("{issuer}{}", crate::http::routes::TOKEN),
            token_mtls: format!("{mtls}{}", crate::http::routes::TOKEN),
            par: format!("{issuer}{}", crate::http::routes::PAR),
            par_mtls: format!("{mtls}{}", crate::http::routes::PAR),
            issuer,
        }
    }
}

/// Authenticates the calling client (and consumes its assertion's jti): shared by every
/// endpoint that authenticates clients.
pub async fn authenticate_client(
    app: &App,
    trust: &ClientTrust,
    form: &ClientAuthForm,
    caller: &Caller<'_>,
    now: UnixTime,
) -> Result<Client, OAuthError> {
    let credentials = Credentials {
        client_id: form.client_id.as_deref(),
        client_assertion: form.client_assertion.as_deref(),
        client_assertion_type: form.client_assertion_type.as_deref(),
        client_secret: form.client_secret.as_deref(),
        basic: caller.basic.clone(),
        certificate: caller.certificate,
    };
    let client_id = claimed_client_id(&credentials)?;
    let record = app
        .store
        .client(&client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let client = Client::from_record(record).map_err(|e| match e.code {
        ErrorCode::ServerError => e,
        _ => OAuthError::invalid_client("the client cannot authenticate"),
    })?;
    let urls = EndpointUrls::of(app);
    let audiences = super::client_assertion::AssertionAudiences {
        issuer: &urls.issuer,
        token_endpoint: &urls.token,
        token_endpoint_mtls: &urls.token_mtls,
        par_endpoint: &urls.par,
        par_endpoint_mtls: &urls.par_mtls,
        this_endpoint: caller.endpoint_url,
    };
    let check = |jwks: &Value| authenticate(&client, jwks, &credentials, audiences, trust, now);
    let authenticated = if client.authenticates_with_keys() {
        let purpose = super::client::KeyPurpose::ClientAuthentication;
        super::client::with_client_keys(app, &client, purpose, now, check).await?
    } else {
        check(&client.jwks())?
    };
    if let Authenticated::PrivateKeyJwt { jti, exp } = authenticated {
        let first = app
            .store
            .use_jti(
                JtiKind::ClientAssertion,
                &client.client_id,
                &jti,
                exp.max(now) + 60,
            )
            .await?;
        if !first {
            return Err(OAuthError::invalid_client(
                "the client assertion has been used before",
            ));
        }
    }
    Ok(client)
}

/// The sender constraint the client's tokens get: its certificate's thumbprint, or its DPoP key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub x5t: Option<String>,
    pub jkt: Option<String>,
}

impl Binding {
    pub fn token_type(&self) -> &'static str {
        if self.jkt.is_some() { "DPoP" } else { "Bearer" }
    }
}

/// Decides the binding of new tokens: DPoP when a proof came, else the certificate for clients
/// that bind to it. FAPI clients always get one: a token no one holds a key for is refused.
pub fn binding_for(client: &Client, caller: &Caller<'_>) -> Result<Binding, OAuthError> {
    if let Some(jkt) = &caller.dpop_jkt {
        if client.profile == Profile::Fapi1Advanced {
            return Err(OAuthError::invalid_request(
                "FAPI 1.0 tokens are bound by mTLS, not DPoP",
            ));
        }
        return Ok(Binding {
            x5t: None,
            jkt: Some(jkt.clone()),
        });
    }
    if client.dpop_bound() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "a DPoP proof is required",
        ));
    }
    if client.mtls_bound() || client.profile.is_fapi() {
        let cert = caller.certificate.ok_or_else(|| {
            OAuthError::invalid_request("a client certificate is required to bind the token")
        })?;
        return Ok(Binding {
            x5t: Some(cert.thumbprint_sha256().to_owned()),
            jkt: None,
        });
    }
    Ok(Binding::default())
}

/// The JWT `typ` of JWT access tokens (RFC 9068 section 2.1).
pub const JWT_ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The algorithm JWT access tokens are signed with.
pub const JWT_ACCESS_TOKEN_ALG: SigningAlg = SigningAlg::PS256;

/// The form of `client`'s access tokens: its registration's, else the server's default.
pub fn access_token_format(app: &App, client: &Client) -> AccessTokenFormat {
    client
        .metadata
        .access_token_format
        .unwrap_or(app.config.tokens.access_token_format)
}

/// The claims of a JWT access token (RFC 9068 section 2.2) for `grant`: `sub` is the user, or
/// the client itself for client_credentials; `auth_time`, `acr` and `amr` when the grant knows
/// them; `cnf` when the token is sender-constrained; the Open Banking consent when there is one.
pub fn jwt_access_token_claims(
    issuer: &str,
    audience: &str,
    grant: &GrantRecord,
    binding: &Binding,
    jti: &str,
    issued_at: UnixTime,
    expires_at: UnixTime,
) -> Map<String, Value> {
    let mut claims = Map::new();
    let mut put = |name: &str, value: Value| {
        claims.insert(name.to_owned(), value);
    };
    put("iss", Value::from(issuer));
    put("exp", Value::from(expires_at));
    put("aud", Value::from(audience));
    put(
        "sub",
        Value::from(grant.subject.as_deref().unwrap_or(&grant.client_id)),
    );
    put("client_id", Value::from(grant.client_id.as_str()));
    put("iat", Value::from(issued_at));
    put("jti", Value::from(jti));
    put("scope", Value::from(grant.scope.as_str()));
    if let Some(auth_time) = grant.auth_time {
        put("auth_time", Value::from(auth_time));
    }
    if let Some(acr) = &grant.acr {
        put("acr", Value::from(acr.as_str()));
    }
    if let Some(amr) = grant
        .amr
        .as_deref()
        .and_then(|a| serde_json::from_str::<Vec<String>>(a).ok())
        .filter(|a| !a.is_empty())
    {
        put("amr", Value::from(amr));
    }
    let mut cnf = Map::new();
    if let Some(x5t) = &binding.x5t {
        cnf.insert("x5t#S256".to_owned(), Value::from(x5t.as_str()));
    }
    if let Some(jkt) = &binding.jkt {
        cnf.insert("jkt".to_owned(), Value::from(jkt.as_str()));
    }
    if !cnf.is_empty() {
        put("cnf", Value::Object(cnf));
    }
    if let Some(consent) = &grant.consent_id {
        put("openbanking_intent_id", Value::from(consent.as_str()));
    }
    claims
}

/// A new access token of `grant` for `client` and its record, stored under the token's hash.
async fn new_access(
    app: &App,
    client: &Client,
    grant: &GrantRecord,
    binding: &Binding,
    refresh: Option<&[u8]>,
    now: UnixTime,
) -> Result<(String, AccessTokenRecord), OAuthError> {
    let expires_at = now + app.config.tokens.access_token_secs;
    let token = match access_token_format(app, client) {
        AccessTokenFormat::Opaque => random_token(),
        AccessTokenFormat::Jwt => {
            let config = &app.config;
            let issuer = config.server.issuer.as_str().trim_end_matches('/');
            let audience = match &config.tokens.access_token_audience {
                Some(audience) => audience.clone(),
                None => config
                    .resource_base_url()
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            };
            let jti = random_token();
            let claims =
                jwt_access_token_claims(issuer, &audience, grant, binding, &jti, now, expires_at);
            sign_typed(app, JWT_ACCESS_TOKEN_ALG, JWT_ACCESS_TOKEN_TYPE, claims).await?
        }
    };
    let record = AccessTokenRecord {
        token_hash: secret_hash(&token),
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        subject: grant.subject.clone(),
        scope: grant.scope.clone(),
        cnf_x5t: binding.x5t.clone(),
        cnf_jkt: binding.jkt.clone(),
        refresh_token_hash: refresh.map(<[u8]>::to_vec),
        issued_at: now,
        expires_at,
        revoked_at: None,
    };
    Ok((token, record))
}

fn new_refresh(
    grant: &GrantRecord,
    binding: &Binding,
    app: &App,
    now: UnixTime,
) -> (String, RefreshTokenRecord) {
    let token = random_token();
    let record = RefreshTokenRecord {
        token_hash: secret_hash(&token),
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        scope: grant.scope.clone(),
        cnf_x5t: binding.x5t.clone(),
        cnf_jkt: binding.jkt.clone(),
        issued_at: now,
        expires_at: (now + app.config.tokens.refresh_token_secs).min(grant.expires_at),
        revoked_at: None,
        replaced_by_hash: None,
    };
    (token, record)
}

/// Signs the id token of `grant` for `client` (token endpoint: with `at_hash`).
pub async fn sign_id_token(
    app: &App,
    client: &Client,
    grant: &GrantRecord,
    nonce: Option<&str>,
    front_channel: Option<(&str, Option<&str>)>,
    access_token: Option<&str>,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let issuer = app.config.server.issuer.as_str().trim_end_matches('/');
    let subject = grant
        .subject
        .as_deref()
        .ok_or_else(|| OAuthError::internal("id token for a grant without subject"))?;
    let amr: Vec<String> = grant
        .amr
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    let mut extra = Map::new();
    // Identity claims the claims parameter asked for in the id token (OIDC Core 5.5).
    if grant
        .claims
        .as_deref()
        .is_some_and(|c| c.contains("\"id_token\""))
        && let Some(user) = app.store.user_by_id(subject).await?
    {
        extra.extend(super::userinfo::requested_identity_claims(
            &user, grant, "id_token",
        ));
    }
    if let Some(consent) = &grant.consent_id {
        extra.insert(
            "openbanking_intent_id".to_owned(),
            Value::String(consent.clone()),
        );
    }
    let input = IdTokenInput {
        issuer,
        subject,
        client_id: &client.client_id,
        nonce,
        auth_time: grant.auth_time,
        acr: grant.acr.as_deref(),
        amr: &amr,
        code: front_channel.map(|(code, _)| code),
        state: front_channel.and_then(|(_, state)| state),
        access_token,
        extra,
        lifetime: app.config.tokens.id_token_secs,
    };
    let claims = id_token_claims(&input, now);
    let signed = sign_claims(app, client.id_token_alg(), claims).await?;
    super::encryption::encrypt_id_token(app, client, signed, now).await
}

/// Signs a JWT with the current server key of `alg` (`kid` in the header).
pub async fn sign_claims(
    app: &App,
    alg: SigningAlg,
    claims: Map<String, Value>,
) -> Result<String, OAuthError> {
    sign_typed(app, alg, "JWT", claims).await
}

/// Signs a JWT of type `typ` with the current server key of `alg` (`kid` in the header).
pub async fn sign_typed(
    app: &App,
    alg: SigningAlg,
    typ: &str,
    claims: Map<String, Value>,
) -> Result<String, OAuthError> {
    let key = app
        .keys
        .signing_key(alg)
        .await
        .map_err(OAuthError::internal)?;
    let payload = josekit::jwt::JwtPayload::from_map(claims).map_err(OAuthError::internal)?;
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type(typ);
    key.sign_jwt(&header, &payload)
        .map_err(OAuthError::internal)
}

/// Handles a token request from an authenticated client.
pub async fn exchange(
    app: &App,
    client: &Client,
    form: &TokenForm,
    caller: &Caller<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = form
        .grant_type
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !client.allows_grant(grant_type)
        && matches!(
            grant_type,
            "authorization_code" | "refresh_token" | "client_credentials"
        )
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this grant type is not registered for the client",
        ));
    }
    match grant_type {
        "authorization_code" => authorization_code(app, client, form, caller, now).await,
        "refresh_token" => refresh(app, client, form, caller, now).await,
        "client_credentials" => client_credentials(app, client, form, caller, now).await,
        _ => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "grant_type is not supported",
        )),
    }
}

/// The response to a token request: the access token in force and what came with it.
fn respond(
    app: &App,
    binding: &Binding,
    access_token: String,
    scope: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> TokenResponse {
    TokenResponse {
        access_token,
        token_type: binding.token_type(),
        expires_in: app.config.tokens.access_token_secs,
        scope,
        refresh_token,
        id_token,
    }
}

/// The id token of the token endpoint (with `at_hash`) when the grant includes `openid`.
async fn id_token_if_openid(
    app: &App,
    client: &Client,
    grant: &GrantRecord,
    nonce: Option<&str>,
    access_token: &str,
    now: UnixTime,
) -> Result<Option<String>, OAuthError> {
    if !grant.scope.split(' ').any(|s| s == "openid") {
        return Ok(None);
    }
    sign_id_token(app, client, grant, nonce, None, Some(access_token), now)
        .await
        .map(Some)
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

async fn authorization_code(
    app: &App,
    client: &Client,
    form: &TokenForm,
    caller: &Caller<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let code = form
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let code_hash = secret_hash(code);
    let record = app
        .store
        .code(&code_hash)
        .await?
        .ok_or_else(|| invalid_grant("the code is not valid"))?;
    if record.client_id != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if let Some(uri) = &form.redirect_uri
        && *uri != record.redirect_uri
    {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let verifier = form
        .code_verifier
        .as_deref()
        .ok_or_else(|| invalid_grant("code_verifier is required"))?;
    if !CodeChallenge::from_stored(record.code_challenge.clone()).verify(verifier) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let binding = binding_for(client, caller)?;
    if let Some(expected) = &record.dpop_jkt
        && binding.jkt.as_ref() != Some(expected)
    {
        return Err(invalid_grant(
            "the DPoP key does not match the one the code is bound to",
        ));
    }
    let grant = app
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or_else(|| invalid_grant("the code is not valid"))?;
    let wants_refresh = client.allows_grant("refresh_token");
    let refresh = wants_refresh.then(|| new_refresh(&grant, &binding, app, now));
    let (access_token, access) = new_access(
        app,
        client,
        &grant,
        &binding,
        refresh.as_ref().map(|(_, r)| r.token_hash.as_slice()),
        now,
    )
    .await?;
    let id_token = id_token_if_openid(
        app,
        client,
        &grant,
        record.nonce.as_deref(),
        &access_token,
        now,
    )
    .await?;
    let issued = IssuedTokens {
        access,
        refresh: refresh.as_ref().map(|(_, r)| r.clone()),
    };
    match app.store.redeem_code(&code_hash, now, &issued).await? {
        Redemption::Issued => {}
        Redemption::AlreadyUsed { grant_id } => {
            let revoked = app.store.revoke_grant(&grant_id, now).await?;
            tracing::warn!(client_id = %client.client_id, revoked, "authorization code reused: its grant is revoked");
            return Err(invalid_grant("the code has been used before"));
        }
        Redemption::Expired => return Err(invalid_grant("the code has expired")),
        Redemption::GrantInactive { .. } | Redemption::Unknown => {
            return Err(invalid_grant("the code is not valid"));
        }
    }
    Ok(respond(
        app,
        &binding,
        access_token,
        grant.scope,
        refresh.map(|(t, _)| t),
        id_token,
    ))
}

async fn refresh(
    app: &App,
    client: &Client,
    form: &TokenForm,
    caller: &Caller<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let hash = secret_hash(presented);
    let record = app
        .store
        .refresh_token(&hash, now)
        .await?
        .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
    if record.client_id != client.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let binding = binding_for(client, caller)?;
    if binding.x5t != record.cnf_x5t || binding.jkt != record.cnf_jkt {
        return Err(invalid_grant("the refresh token is bound to another key"));
    }
    let grant = app
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
    if let Some(scope) = &form.scope {
        let granted: Vec<&str> = grant.scope.split(' ').collect();
        if scope
            .split(' ')
            .any(|s| !s.is_empty() && !granted.contains(&s))
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "the scope exceeds the grant",
            ));
        }
    }
    let (refresh_token, ok, access_token) = if app.config.tokens.rotate_refresh_tokens {
        let (new_token, new_record) = new_refresh(&grant, &binding, app, now);
        let (access_token, access) = new_access(
            app,
            client,
            &grant,
            &binding,
            Some(&new_record.token_hash),
            now,
        )
        .await?;
        let ok = app
            .store
            .rotate_refresh_token(&hash, now, &new_record, &access)
            .await?;
        (Some(new_token), ok, access_token)
    } else {
        let (access_token, access) =
            new_access(app, client, &grant, &binding, Some(&hash), now).await?;
        let ok = app.store.issue_from_refresh(&hash, now, &access).await?;
        (None, ok, access_token)
    };
    if !ok {
        return Err(invalid_grant("the refresh token is not valid"));
    }
    let id_token = id_token_if_openid(app, client, &grant, None, &access_token, now).await?;
    Ok(respond(
        app,
        &binding,
        access_token,
        grant.scope,
        refresh_token,
        id_token,
    ))
}

async fn client_credentials(
    app: &App,
    client: &Client,
    form: &TokenForm,
    caller: &Caller<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let allowed: Vec<String> = client
        .allowed_scopes()
        .into_iter()
        .filter(|s| s != "openid")
        .collect();
    let scope: Vec<String> = match &form.scope {
        Some(s) => s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => allowed.clone(),
    };
    if scope.is_empty() || scope.iter().any(|s| !allowed.contains(s)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the scope is not allowed for this client",
        ));
    }
    let binding = binding_for(client, caller)?;
    let grant = GrantRecord {
        id: crate::crypto::new_id(),
        client_id: client.client_id.clone(),
        subject: None,
        scope: scope.join(" "),
        claims: None,
        acr: None,
        amr: None,
        auth_time: None,
        consent_id: None,
        created_at: now,
        expires_at: now + app.config.tokens.access_token_secs,
        revoked_at: None,
    };
    let (access_token, access) = new_access(app, client, &grant, &binding, None, now).await?;
    app.store
        .insert_client_credentials_token(&grant, &access)
        .await?;
    Ok(respond(
        app,
        &binding,
        access_token,
        grant.scope,
        None,
        None,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grant(subject: Option<&str>) -> GrantRecord {
        GrantRecord {
            id: "g-1".to_owned(),
            client_id: "tpp".to_owned(),
            subject: subject.map(str::to_owned),
            scope: "openid accounts".to_owned(),
            claims: None,
            acr: Some("urn:openbanking:psd2:sca".to_owned()),
            amr: Some(r#"["pwd"]"#.to_owned()),
            auth_time: Some(90),
            consent_id: Some("consent-1".to_owned()),
            created_at: 90,
            expires_at: 10_000,
            revoked_at: None,
        }
    }

    #[test]
    fn jwt_access_tokens_carry_the_rfc9068_claims() {
        let binding = Binding {
            x5t: Some("thumb".to_owned()),
            jkt: None,
        };
        let claims = jwt_access_token_claims(
            "https://as.example",
            "https://rs.example",
            &grant(Some("user-1")),
            &binding,
            "jti-1",
            100,
            700,
        );
        assert_eq!(
            Value::Object(claims),
            json!({
                "iss": "https://as.example", "aud": "https://rs.example", "exp": 700, "iat": 100,
                "sub": "user-1", "client_id": "tpp", "jti": "jti-1", "scope": "openid accounts",
                "auth_time": 90, "acr": "urn:openbanking:psd2:sca", "amr": ["pwd"],
                "cnf": {"x5t#S256": "thumb"}, "openbanking_intent_id": "consent-1",
            })
        );
    }

    #[test]
    fn client_credentials_tokens_name_the_client_as_subject() {
        let mut g = grant(None);
        (g.acr, g.amr, g.auth_time, g.consent_id) = (None, None, None, None);
        let binding = Binding {
            x5t: None,
            jkt: Some("jkt-1".to_owned()),
        };
        let claims = jwt_access_token_claims("iss", "aud", &g, &binding, "j", 1, 2);
        assert_eq!(claims["sub"], "tpp");
        assert_eq!(claims["cnf"], json!({"jkt": "jkt-1"}));
        for absent in ["auth_time", "acr", "amr", "openbanking_intent_id"] {
            assert!(!claims.contains_key(absent), "{absent}");
        }
        let unbound = jwt_access_token_claims("iss", "aud", &g, &Binding::default(), "j", 1, 2);
        assert!(!unbound.contains_key("cnf"));
    }
}
