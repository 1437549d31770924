//! The UserInfo endpoint (OpenID Connect Core 5.3): the claims about the user of an `openid`
//! access token that the grant's `claims` request asked for, as JSON or, for a client that
//! registered `userinfo_signed_response_alg`, as a JWT signed by the server.
//!
//! The access token reaches here already checked (`crate::http::resource_auth`): valid, and
//! presented by its holder.

use serde_json::{Map, Value};

use super::client::Client;
use super::error::{Challenge, ErrorCode, OAuthError};
use super::token::sign_claims;
use crate::app::App;
use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::store::{
    AccessTokenRecord, ClientStore as _, GrantRecord, GrantStore as _, User, UserStore as _,
};

/// The client metadata member that asks for signed UserInfo responses.
pub const SIGNED_RESPONSE_ALG: &str = "userinfo_signed_response_alg";

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Userinfo {
    /// `application/json`.
    Claims(Map<String, Value>),
    /// `application/jwt`.
    Signed(String),
}

/// The UserInfo response for `token`.
pub async fn userinfo(
    app: &App,
    token: &AccessTokenRecord,
    now: UnixTime,
) -> Result<Userinfo, OAuthError> {
    let challenge = if token.cnf_jkt.is_some() {
        Challenge::DPoP
    } else {
        Challenge::Bearer
    };
    if !token.scope.split(' ').any(|s| s == "openid") {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token does not carry the openid scope",
        )
        .with_challenge(challenge));
    }
    let subject = token.subject.as_deref().ok_or_else(|| {
        OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token was not issued for a user",
        )
        .with_challenge(challenge)
    })?;
    let grant = app
        .store
        .grant(&token.grant_id)
        .await?
        .ok_or_else(|| invalid_token("the access token is not valid"))?;
    let user = app
        .store
        .user_by_id(subject)
        .await?
        .filter(|u| u.disabled_at.is_none())
        .ok_or_else(|| invalid_token("the user of the access token is no longer active"))?;
    let claims = released_claims(&user, &grant);
    let record =
        app.store.client(&token.client_id).await?.ok_or_else(|| {
            invalid_token("the client of the access token is no longer registered")
        })?;
    let client = Client::from_record(record).map_err(|e| match e.code {
        ErrorCode::ServerError => e,
        _ => invalid_token("the client of the access token is not active"),
    })?;
    let Some(alg) = signing_alg(&client)? else {
        return Ok(Userinfo::Claims(claims));
    };
    let mut signed = claims;
    let issuer = app.config.server.issuer.as_str().trim_end_matches('/');
    signed.insert("iss".to_owned(), Value::from(issuer));
    signed.insert("aud".to_owned(), Value::from(client.client_id.as_str()));
    signed.insert("iat".to_owned(), Value::from(now));
    sign_claims(app, alg, signed).await.map(Userinfo::Signed)
}

/// `sub`, and each claim the grant's `claims.userinfo` asked for that the server holds.
pub fn released_claims(user: &User, grant: &GrantRecord) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".to_owned(), Value::from(user.id.as_str()));
    claims.extend(requested_identity_claims(user, grant, "userinfo"));
    claims
}

/// Each claim the grant's claims parameter asked for under `member` (`userinfo` or `id_token`)
/// that the server holds for `user`.
pub fn requested_identity_claims(
    user: &User,
    grant: &GrantRecord,
    member: &str,
) -> Map<String, Value> {
    let mut claims = Map::new();
    for name in requested_claims(grant, member) {
        let value = match name.as_str() {
            "name" => Some(user.display_name.as_str()),
            "email" => user.email.as_deref(),
            "phone_number" => user.phone.as_deref(),
            "openbanking_intent_id" => grant.consent_id.as_deref(),
            _ => None,
        };
        if let Some(value) = value {
            claims.insert(name, Value::from(value));
        }
    }
    claims
}

/// The member names of the grant's `claims.<member>` request; none when it made no request.
fn requested_claims(grant: &GrantRecord, member: &str) -> Vec<String> {
    grant
        .claims
        .as_deref()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|c| match c.get(member) {
            Some(Value::Object(members)) => Some(members.keys().cloned().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The algorithm the client registered for signed responses; `None` for plain JSON.
fn signing_alg(client: &Client) -> Result<Option<SigningAlg>, OAuthError> {
    match client.metadata.other.get(SIGNED_RESPONSE_ALG) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(alg)) => alg.parse().map(Some).map_err(|_| {
            OAuthError::internal(format!(
                "client {} registered {SIGNED_RESPONSE_ALG} {alg:?}, which the server cannot sign with",
                client.client_id
            ))
        }),
        Some(other) => Err(OAuthError::internal(format!(
            "client {} registered a {SIGNED_RESPONSE_ALG} that is not a string: {other}",
            client.client_id
        ))),
    }
}

fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidToken, description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;

    fn user(email: Option<&str>) -> User {
        User {
            id: "user-1".to_owned(),
            username: "alice".to_owned(),
            display_name: "Alice Example".to_owned(),
            email: email.map(str::to_owned),
            phone: None,
            role: Role::Customer,
            password_hash: String::new(),
            disabled_at: None,
            created_at: 0,
        }
    }

    fn grant(claims: Option<&str>, consent_id: Option<&str>) -> GrantRecord {
        GrantRecord {
            id: "grant-1".to_owned(),
            client_id: "client-1".to_owned(),
            subject: Some("user-1".to_owned()),
            scope: "openid accounts".to_owned(),
            claims: claims.map(str::to_owned),
            acr: None,
            amr: None,
            auth_time: None,
            consent_id: consent_id.map(str::to_owned),
            created_at: 0,
            expires_at: 100,
            revoked_at: None,
        }
    }

    #[test]
    fn only_sub_without_a_claims_request() {
        let released = released_claims(&user(Some("a@example.com")), &grant(None, Some("c-1")));
        assert_eq!(
            Value::Object(released),
            serde_json::json!({"sub": "user-1"})
        );
    }

    #[test]
    fn requested_claims_the_server_holds_are_released() {
        let request = r#"{"userinfo": {"name": null, "email": {"essential": true},
            "phone_number": null, "openbanking_intent_id": {"value": "c-1"}, "nickname": null},
            "id_token": {"acr": null}}"#;
        let released = released_claims(
            &user(Some("a@example.com")),
            &grant(Some(request), Some("c-1")),
        );
        assert_eq!(
            Value::Object(released),
            serde_json::json!({
                "sub": "user-1",
                "name": "Alice Example",
                "email": "a@example.com",
                "openbanking_intent_id": "c-1",
            })
        );
    }

    #[test]
    fn id_token_requests_and_malformed_requests_release_nothing_more() {
        for request in [
            r#"{"id_token": {"name": null}}"#,
            r#"{"userinfo": ["name"]}"#,
            "not json",
        ] {
            let released = released_claims(&user(None), &grant(Some(request), None));
            assert_eq!(released.len(), 1, "{request}");
        }
    }

    #[test]
    fn id_token_members_release_identity_claims_for_the_id_token_only() {
        let g = grant(
            Some(r#"{"id_token": {"name": null, "email": null, "nickname": null}}"#),
            None,
        );
        let u = user(Some("a@example.com"));
        let id = requested_identity_claims(&u, &g, "id_token");
        assert_eq!(id.get("name"), Some(&Value::from("Alice Example")));
        assert_eq!(id.get("email"), Some(&Value::from("a@example.com")));
        assert!(
            id.get("nickname").is_none(),
            "a claim the server does not hold is left out"
        );
        assert!(id.get("sub").is_none());
        assert!(
            requested_identity_claims(&u, &g, "userinfo").is_empty(),
            "nothing asked at userinfo"
        );
    }
}
