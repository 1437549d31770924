//! What an account-information request may see: the Authorised consent its token was granted
//! for, that consent's permissions, and the customer's accounts chosen for it.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use consentry_server::clock::UnixTime;
use consentry_server::consent::{ConsentKind, Permission};
use consentry_server::store::{Account, ConsentRecord, ConsentStore as _};

use super::consents::stored_permissions;
use crate::Api;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ObErrorCode};

/// The consent behind an account-information request, checked (token valid and held, scope,
/// consent Authorised and unexpired, of this client), with what it opens.
#[derive(Debug)]
pub struct Access {
    pub caller: Caller,
    pub consent: ConsentRecord,
    pub permissions: Vec<Permission>,
    /// The customer's accounts chosen for the consent, in the ledger's order.
    pub accounts: Vec<Account>,
}

impl FromRequestParts<Api> for Access {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, api).await?;
        caller.require_scope(ConsentKind::AccountAccess.scope())?;
        // The customer's accounts are read while the consent is: the token names the customer.
        let user_id =
            caller.token.subject.clone().ok_or_else(|| {
                ApiError::forbidden("the access token was not granted for a consent")
            })?;
        let (consent, owned) =
            tokio::try_join!(caller.consent(api, ConsentKind::AccountAccess), async {
                Ok(api.accounts.accounts_of(&user_id).await?)
            },)?;
        if consent.user_id.as_deref() != Some(user_id.as_str()) {
            return Err(ApiError::internal(
                "the consent's customer is not the token's",
            ));
        }
        let permissions = stored_permissions(&consent)?;
        // Only once the consent is known to be Authorised: its chosen accounts are final then.
        let chosen = chosen_accounts(api, &consent.id).await?;
        let accounts = owned
            .into_iter()
            .filter(|a| chosen.contains(&a.id))
            .collect();
        Ok(Access {
            caller,
            consent,
            permissions,
            accounts,
        })
    }
}

/// The accounts chosen for an Authorised consent: written with its authorisation, never changed
/// after, so read once per node.
async fn chosen_accounts(api: &Api, consent_id: &str) -> ApiResult<Arc<[String]>> {
    if let Some(known) = api.memos.chosen_accounts.get(consent_id) {
        return Ok(known);
    }
    let chosen: Arc<[String]> = api.app.store.consent_accounts(consent_id).await?.into();
    api.memos.chosen_accounts.put(consent_id, chosen.clone());
    Ok(chosen)
}

impl Access {
    pub fn has(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// Refuses (403) unless the consent grants one of `any_of`.
    pub fn require(&self, any_of: &[Permission]) -> ApiResult<()> {
        if any_of.iter().any(|p| self.has(*p)) {
            return Ok(());
        }
        let names: Vec<&str> = any_of.iter().map(|p| p.as_str()).collect();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ObErrorCode::Forbidden,
            format!("the consent does not grant {}", names.join(" or ")),
        ))
    }

    /// One of the consent's accounts; any other id, another customer's or none at all, is the
    /// same 404.
    pub fn account(&self, id: &str) -> ApiResult<&Account> {
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ApiError::not_found("there is no account with this id in the consent"))
    }

    pub fn now(&self) -> UnixTime {
        self.caller.now
    }

    /// The booking period the consent allows, `[from, to)`, narrowed by a request's `from` and
    /// inclusive `to`; `None` when nothing is left.
    pub fn period(
        &self,
        from: Option<UnixTime>,
        to: Option<UnixTime>,
    ) -> Option<(UnixTime, UnixTime)> {
        let from = [from, self.consent.tx_from]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(UnixTime::MIN);
        let to = [to, self.consent.tx_to]
            .into_iter()
            .flatten()
            .min()
            .map_or(UnixTime::MAX, |t| t.saturating_add(1));
        (from < to).then_some((from, to))
    }
}
