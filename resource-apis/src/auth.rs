//! Who is calling: the access token of the request, checked by the server's resource-token rules
//! (Authorization header only, scheme case-insensitive, mTLS or DPoP holder of key), and the
//! consent it was granted for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use consentry_server::clock::UnixTime;
use consentry_server::consent::{ConsentKind, ConsentStatus};
use consentry_server::http::client_cert::ClientCertificate;
use consentry_server::http::resource_auth::{self, Listener, ResourceRequest};
use consentry_server::protocol::error::{ErrorCode, OAuthError};
use consentry_server::store::{
    AccessTokenRecord, ConsentRecord, ConsentStore as _, GrantRecord, GrantStore as _,
};

use crate::Api;
use crate::error::{ApiError, ApiResult, ObErrorCode};

/// A request whose access token is valid and presented by its holder.
#[derive(Debug)]
pub struct Caller {
    pub token: AccessTokenRecord,
    pub now: UnixTime,
}

impl FromRequestParts<Api> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let cert = ClientCertificate::from_request_parts(parts, api)
            .await
            .unwrap_or_else(|never| match never {});
        let now = api.app.clock.now();
        let request = ResourceRequest {
            listener: Listener::Resource,
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            certificate: cert.certificate.as_deref(),
            token_in_body: false,
        };
        let token = resource_auth::access_token(&api.app, &request, now).await?;
        Ok(Caller { token, now })
    }
}

impl Caller {
    pub fn client_id(&self) -> &str {
        &self.token.client_id
    }

    /// Refuses a token without `scope` (403).
    pub fn require_scope(&self, scope: &str) -> ApiResult<()> {
        if self.token.scope.split(' ').any(|s| s == scope) {
            Ok(())
        } else {
            let challenge = resource_auth::challenge_for(&self.token);
            Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                format!("the access token lacks the {scope} scope"),
            )
            .with_challenge(challenge)
            .into())
        }
    }

    /// A token from a client_credentials grant (no customer), with `scope`: what a TPP uses to
    /// create and read consents.
    pub fn require_client_token(&self, scope: &str) -> ApiResult<()> {
        self.require_scope(scope)?;
        if self.token.subject.is_some() {
            return Err(ApiError::forbidden(
                "this endpoint needs a client credentials token",
            ));
        }
        Ok(())
    }

    /// The consent `id` of `kind` that this client created: 404 when there is none (or it is of
    /// another kind), 403 when another client created it.
    pub async fn own_consent(
        &self,
        api: &Api,
        id: &str,
        kind: ConsentKind,
    ) -> ApiResult<ConsentRecord> {
        let consent = api
            .app
            .store
            .consent(id)
            .await?
            .filter(|c| c.kind().is_ok_and(|k| k == kind))
            .ok_or_else(|| {
                ApiError::not_found(format!("there is no {kind} consent with this id"))
            })?;
        if consent.client_id != self.token.client_id {
            return Err(ApiError::forbidden(
                "this consent was created by another client",
            ));
        }
        Ok(consent)
    }

    /// The Authorised, unexpired consent of `kind` this token was granted for, with `scope`: what
    /// every account and payment resource call needs.
    pub async fn authorised_consent(
        &self,
        api: &Api,
        kind: ConsentKind,
    ) -> ApiResult<(GrantRecord, ConsentRecord)> {
        self.require_scope(kind.scope())?;
        let grant = self.grant(api).await?;
        let consent = self
            .usable_consent(api, kind, grant.consent_id.as_deref())
            .await?;
        Ok((grant, consent))
    }

    /// [`Caller::authorised_consent`] without the grant, whose consent id this node remembers
    /// (a grant's consent never changes; the token's validity already says the grant is alive):
    /// one read less a request.
    pub async fn consent(&self, api: &Api, kind: ConsentKind) -> ApiResult<ConsentRecord> {
        self.require_scope(kind.scope())?;
        let consent_id = match api.memos.consent_of_grant.get(&self.token.grant_id) {
            Some(id) => id,
            None => {
                let grant = self.grant(api).await?;
                api.memos
                    .consent_of_grant
                    .put(&grant.id, grant.consent_id.clone());
                grant.consent_id
            }
        };
        self.usable_consent(api, kind, consent_id.as_deref()).await
    }

    async fn grant(&self, api: &Api) -> ApiResult<GrantRecord> {
        api.app
            .store
            .grant(&self.token.grant_id)
            .await?
            .ok_or_else(|| ApiError::internal("token without grant"))
    }

    /// The consent `consent_id` (of the token's grant), if it is this client's, of `kind`, and
    /// usable now; records its use at most once a minute.
    async fn usable_consent(
        &self,
        api: &Api,
        kind: ConsentKind,
        consent_id: Option<&str>,
    ) -> ApiResult<ConsentRecord> {
        let consent_id = consent_id
            .ok_or_else(|| ApiError::forbidden("the access token was not granted for a consent"))?;
        let consent = api
            .app
            .store
            .consent(consent_id)
            .await?
            .ok_or_else(|| ApiError::internal("grant names a missing consent"))?;
        if consent.client_id != self.token.client_id || consent.kind()? != kind {
            return Err(ApiError::forbidden(
                "the access token was not granted for this kind of consent",
            ));
        }
        let status = consent.status_at(self.now)?;
        let usable = match kind {
            ConsentKind::AccountAccess => status == ConsentStatus::Authorised,
            // A payment consent is Consumed by the payment it authorised; its token may still
            // read that payment.
            ConsentKind::DomesticPayment => {
                matches!(status, ConsentStatus::Authorised | ConsentStatus::Consumed)
            }
        };
        if !usable {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                ObErrorCode::ResourceInvalidConsentStatus,
                format!("the consent is {status}"),
            ));
        }
        if consent.last_used_at.is_none_or(|t| t < self.now - 60) {
            api.app.store.touch_consent(&consent.id, self.now).await?;
        }
        Ok(consent)
    }
}

/// Facts that never change once written, remembered by this node so that resource requests do
/// not read them again: the consent a grant was made for, and the accounts chosen for an
/// authorised account-access consent (written with its authorisation, in one transaction).
#[derive(Debug, Default)]
pub struct Memos {
    pub consent_of_grant: Memo<Option<String>>,
    pub chosen_accounts: Memo<Arc<[String]>>,
}

/// A map of at most [`Memo::CAPACITY`] entries, emptied when full.
#[derive(Debug)]
pub struct Memo<V>(Mutex<HashMap<String, V>>);

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> Memo<V> {
    pub const CAPACITY: usize = 50_000;

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        // A panic while the lock was held cannot leave a half-written entry behind.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.map().get(key).cloned()
    }

    pub fn put(&self, key: &str, value: V) {
        let mut map = self.map();
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memos_remember_until_full_then_start_again() {
        let memo: Memo<Option<String>> = Memo::default();
        assert_eq!(memo.get("g1"), None);
        memo.put("g1", Some("c1".to_owned()));
        memo.put("g2", None);
        assert_eq!(memo.get("g1"), Some(Some("c1".to_owned())));
        assert_eq!(memo.get("g2"), Some(None), "no consent is remembered too");
        for i in 0..Memo::<Option<String>>::CAPACITY {
            memo.put(&format!("k{i}"), None);
        }
        assert!(memo.map().len() <= Memo::<Option<String>>::CAPACITY);
        assert_eq!(memo.get("g1"), None, "emptied when full");
    }
}
