//! The token endpoint: `authorization_code` (PKCE, client and redirect binding, one atomic
//! redemption; a second redemption revokes everything the code issued), `refresh_token` (bound to
//! the client and its certificate or DPoP key) and `client_credentials`. Tokens are opaque
//! 256-bit references stored hashed, sender-constrained by mTLS (`cnf.x5t#S256`) or DPoP
//! (`cnf.jkt`).

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
use crate::registration::metadata::Profile;
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

fn new_access(
    grant: &GrantRecord,
    binding: &Binding,
    refresh: Option<&[u8]>,
    app: &App,
    now: UnixTime,
) -> (String, AccessTokenRecord) {
    let token = random_token();
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
        expires_at: now + app.config.tokens.access_token_secs,
        revoked_at: None,
    };
    (token, record)
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
    alg: crate::keys::SigningAlg,
    claims: Map<String, Value>,
) -> Result<String, OAuthError> {
    let key = app
        .keys
        .signing_key(alg)
        .await
        .map_err(OAuthError::internal)?;
    let payload = josekit::jwt::JwtPayload::from_map(claims).map_err(OAuthError::internal)?;
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("JWT");
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
        &grant,
        &binding,
        refresh.as_ref().map(|(_, r)| r.token_hash.as_slice()),
        app,
        now,
    );
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
        let (access_token, access) =
            new_access(&grant, &binding, Some(&new_record.token_hash), app, now);
        let ok = app
            .store
            .rotate_refresh_token(&hash, now, &new_record, &access)
            .await?;
        (Some(new_token), ok, access_token)
    } else {
        let (access_token, access) = new_access(&grant, &binding, Some(&hash), app, now);
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
    let (access_token, access) = new_access(&grant, &binding, None, app, now);
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
