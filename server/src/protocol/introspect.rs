//! Token introspection (RFC 7662) for the client the token was issued to, as JSON or as a signed
//! JWT (RFC 9701). A client may introspect only its own tokens: a token of another client is
//! answered like an unknown one, `{"active": false}`, so the endpoint reveals nothing about
//! tokens the caller does not hold. JWT access tokens (RFC 9068) are recorded like opaque ones,
//! under the hash of the token, and introspect alike.

use serde::Serialize;
use serde_json::{Map, Value};

use super::client::Client;
use super::error::OAuthError;
use crate::app::App;
use crate::clock::UnixTime;
use crate::crypto::secret_hash;
use crate::keys::SigningAlg;
use crate::store::{AccessTokenRecord, GrantStore as _, RefreshTokenRecord, TokenStore as _};

/// The media type of a signed introspection response (RFC 9701), also its JWT `typ`.
pub const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";
const JWT_TYPE: &str = "token-introspection+jwt";

/// The algorithm of signed introspection responses.
pub const SIGNING_ALG: SigningAlg = SigningAlg::PS256;

/// Which kind of token the caller says it sends (RFC 7009 section 2.1, RFC 7662 section 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

impl TokenTypeHint {
    /// The hint of a `token_type_hint` value; `None` for values this server does not know, which
    /// are ignored rather than refused (the search covers every kind anyway).
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "access_token" => Some(Self::AccessToken),
            "refresh_token" => Some(Self::RefreshToken),
            _ => None,
        }
    }
}

/// The token an introspection or revocation request names.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenReference {
    pub token: String,
    pub hint: Option<TokenTypeHint>,
}

impl std::fmt::Debug for TokenReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReference")
            .field("token", &"<redacted>")
            .field("hint", &self.hint)
            .finish()
    }
}

impl TokenReference {
    /// From the request's `token` (required) and `token_type_hint` (optional).
    pub fn parse(token: Option<&str>, hint: Option<&str>) -> Result<Self, OAuthError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        Ok(Self {
            token: token.to_owned(),
            hint: hint.and_then(TokenTypeHint::parse),
        })
    }
}

/// A valid token issued to the calling client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnToken {
    Access(AccessTokenRecord),
    Refresh(RefreshTokenRecord),
}

/// Finds the token, looking where the hint points first: `None` when it is unknown, expired,
/// revoked, or was issued to another client than `client_id`.
pub async fn find_own_token(
    app: &App,
    client_id: &str,
    reference: &TokenReference,
    now: UnixTime,
) -> Result<Option<OwnToken>, OAuthError> {
    let hash = secret_hash(&reference.token);
    let refresh_first = reference.hint == Some(TokenTypeHint::RefreshToken);
    let found = match lookup(app, &hash, refresh_first, now).await? {
        Some(token) => Some(token),
        None => lookup(app, &hash, !refresh_first, now).await?,
    };
    Ok(found.filter(|token| {
        let owner = match token {
            OwnToken::Access(t) => &t.client_id,
            OwnToken::Refresh(t) => &t.client_id,
        };
        if owner != client_id {
            tracing::warn!(client_id, owner = %owner, "a client named a token of another client");
        }
        owner == client_id
    }))
}

async fn lookup(
    app: &App,
    hash: &[u8],
    refresh: bool,
    now: UnixTime,
) -> Result<Option<OwnToken>, OAuthError> {
    Ok(if refresh {
        app.store
            .refresh_token(hash, now)
            .await?
            .map(OwnToken::Refresh)
    } else {
        app.store
            .access_token(hash, now)
            .await?
            .map(OwnToken::Access)
    })
}

/// The introspection response (RFC 7662 section 2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten)]
    pub token: Option<ActiveToken>,
}

impl Introspection {
    pub const INACTIVE: Self = Self {
        active: false,
        token: None,
    };
}

/// What an active token's introspection tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveToken {
    pub scope: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub exp: UnixTime,
    pub iat: UnixTime,
    /// `Bearer` or `DPoP` for an access token; absent for a refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The Open Banking consent the grant was given for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
}

/// The key the token is bound to (RFC 8705 section 3.1, RFC 9449 section 6.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl Confirmation {
    fn of(x5t: &Option<String>, jkt: &Option<String>) -> Option<Self> {
        (x5t.is_some() || jkt.is_some()).then(|| Self {
            x5t_s256: x5t.clone(),
            jkt: jkt.clone(),
        })
    }
}

/// Introspects `reference` for `client`.
pub async fn introspect(
    app: &App,
    client: &Client,
    reference: &TokenReference,
    now: UnixTime,
) -> Result<Introspection, OAuthError> {
    let Some(token) = find_own_token(app, &client.client_id, reference, now).await? else {
        return Ok(Introspection::INACTIVE);
    };
    let grant_id = match &token {
        OwnToken::Access(t) => &t.grant_id,
        OwnToken::Refresh(t) => &t.grant_id,
    };
    // The token lookup checked that the grant is active; it cannot be missing.
    let Some(grant) = app.store.grant(grant_id).await? else {
        return Ok(Introspection::INACTIVE);
    };
    let active = match token {
        OwnToken::Access(t) => ActiveToken {
            token_type: Some(if t.cnf_jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            }),
            cnf: Confirmation::of(&t.cnf_x5t, &t.cnf_jkt),
            scope: t.scope,
            client_id: t.client_id,
            sub: t.subject,
            exp: t.expires_at,
            iat: t.issued_at,
            consent_id: grant.consent_id,
        },
        OwnToken::Refresh(t) => ActiveToken {
            token_type: None,
            cnf: Confirmation::of(&t.cnf_x5t, &t.cnf_jkt),
            scope: t.scope,
            client_id: t.client_id,
            sub: grant.subject,
            exp: t.expires_at,
            iat: t.issued_at,
            consent_id: grant.consent_id,
        },
    };
    Ok(Introspection {
        active: true,
        token: Some(active),
    })
}

/// The response as a JWT signed by the server (RFC 9701 section 5): `iss`, `aud` (the client),
/// `iat` and the response as `token_introspection`, with `typ` `token-introspection+jwt`.
pub async fn signed_response(
    app: &App,
    client: &Client,
    introspection: &Introspection,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let issuer = app.config.server.issuer.as_str().trim_end_matches('/');
    let mut claims = Map::new();
    claims.insert("iss".to_owned(), Value::from(issuer));
    claims.insert("aud".to_owned(), Value::from(client.client_id.as_str()));
    claims.insert("iat".to_owned(), Value::from(now));
    claims.insert(
        "token_introspection".to_owned(),
        serde_json::to_value(introspection).map_err(OAuthError::internal)?,
    );
    super::token::sign_typed(app, SIGNING_ALG, JWT_TYPE, claims).await
}

/// Whether an `Accept` header value asks for the signed response: it names
/// `application/token-introspection+jwt` with a non-zero quality.
pub fn accepts_jwt(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        media.eq_ignore_ascii_case(JWT_MEDIA_TYPE) && !refused
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::error::ErrorCode;

    #[test]
    fn inactive_is_only_active_false() {
        assert_eq!(
            serde_json::to_value(Introspection::INACTIVE).unwrap(),
            json!({"active": false})
        );
    }

    #[test]
    fn active_tokens_carry_their_binding() {
        let answer = Introspection {
            active: true,
            token: Some(ActiveToken {
                scope: "openid accounts".to_owned(),
                client_id: "c".to_owned(),
                sub: Some("u".to_owned()),
                exp: 20,
                iat: 10,
                token_type: Some("Bearer"),
                cnf: Confirmation::of(&Some("thumb".to_owned()), &None),
                consent_id: None,
            }),
        };
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            json!({"active": true, "scope": "openid accounts", "client_id": "c", "sub": "u",
                   "exp": 20, "iat": 10, "token_type": "Bearer", "cnf": {"x5t#S256": "thumb"}})
        );
        assert_eq!(Confirmation::of(&None, &None), None);
    }

    #[test]
    fn hints_are_known_or_ignored_and_a_token_is_required() {
        let r = TokenReference::parse(Some("t"), Some("refresh_token")).unwrap();
        assert_eq!(r.hint, Some(TokenTypeHint::RefreshToken));
        let r = TokenReference::parse(Some("t"), Some("pct")).unwrap();
        assert_eq!(r.hint, None);
        for missing in [None, Some("")] {
            let e = TokenReference::parse(missing, None).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
        }
        assert!(
            !format!("{:?}", TokenReference::parse(Some("secret"), None).unwrap())
                .contains("secret")
        );
    }

    #[test]
    fn accept_negotiates_the_jwt_response() {
        assert!(accepts_jwt("application/token-introspection+jwt"));
        assert!(accepts_jwt(
            "application/json;q=0.5, Application/Token-Introspection+JWT"
        ));
        assert!(!accepts_jwt("application/json"));
        assert!(!accepts_jwt("application/token-introspection+jwt;q=0"));
        assert!(!accepts_jwt("*/*"));
    }
}
