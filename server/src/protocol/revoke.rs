//! Token revocation (RFC 7009) by the client the token was issued to.
//!
//! Revoking an access token revokes that token. Revoking a refresh token ends the authorization
//! it carries: the grant is revoked with every token of it, so the access tokens derived from the
//! refresh token die with it, and so do those issued from the refresh tokens it replaced on
//! rotation (RFC 7009 section 2.1: "SHOULD also invalidate all access tokens based on the same
//! authorization grant"). A grant has at most one live refresh token, so nothing else is lost.
//!
//! Unknown, already invalid and other clients' tokens are answered like revoked ones (RFC 7009
//! section 2.2): the caller learns nothing about tokens it does not hold.

use super::client::Client;
use super::error::OAuthError;
use super::introspect::{OwnToken, TokenReference, find_own_token};
use crate::app::App;
use crate::clock::UnixTime;
use crate::store::{GrantStore as _, TokenStore as _};

/// What a revocation did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Nothing: the token was unknown, no longer valid, or another client's.
    Nothing,
    AccessToken,
    /// The refresh token's grant, with this many tokens.
    Grant {
        tokens: u64,
    },
}

/// Revokes `reference` for `client`.
pub async fn revoke(
    app: &App,
    client: &Client,
    reference: &TokenReference,
    now: UnixTime,
) -> Result<Revoked, OAuthError> {
    let revoked = match find_own_token(app, &client.client_id, reference, now).await? {
        None => Revoked::Nothing,
        Some(OwnToken::Access(token)) => {
            app.store
                .revoke_access_token(&token.token_hash, now)
                .await?;
            Revoked::AccessToken
        }
        Some(OwnToken::Refresh(token)) => {
            let tokens = app.store.revoke_grant(&token.grant_id, now).await?;
            Revoked::Grant { tokens }
        }
    };
    tracing::info!(client_id = %client.client_id, ?revoked, "token revocation");
    Ok(revoked)
}
