//! `domestic-payment-consents`: create (`OBWriteDomesticConsent4` ->
//! `OBWriteDomesticConsentResponse5`), read, and confirmation of funds
//! (`OBWriteFundsConfirmationResponse1`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use consentry_server::clock::UnixTime;
use consentry_server::consent::{Actor, ConsentKind, ConsentStatus};
use consentry_server::store::{ConsentInsert, ConsentRecord, ConsentStore as _};
use serde_json::{Map, Value, json};

use super::initiation::parse_consent_request;
use super::{
    datetime, idempotency_key, idempotency_key_reused, json_object, json_response, no_such,
    request_hash, self_link, signing, stored_body,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ObErrorCode};
use crate::{Api, PISP};

/// The members of the request's `Data` that the response repeats.
const ECHOED_DATA: [&str; 3] = ["Initiation", "Authorisation", "SCASupportData"];

fn consent_response(api: &Api, consent: &ConsentRecord, now: UnixTime) -> ApiResult<Value> {
    let stored = stored_body(&consent.body)?;
    let mut data = Map::new();
    data.insert("ConsentId".into(), json!(consent.id));
    data.insert(
        "CreationDateTime".into(),
        json!(datetime(consent.created_at)),
    );
    data.insert("Status".into(), json!(consent.status_at(now)?.as_str()));
    data.insert(
        "StatusUpdateDateTime".into(),
        json!(datetime(consent.status_updated_at)),
    );
    for name in ECHOED_DATA {
        if let Some(value) = stored["Data"].get(name) {
            data.insert(name.into(), value.clone());
        }
    }
    Ok(json!({
        "Data": data,
        "Risk": stored["Risk"],
        "Links": { "Self": self_link(api, &format!("{PISP}/domestic-payment-consents/{}", consent.id)) },
        "Meta": { "TotalPages": 1 },
    }))
}

/// The domestic-payment consent `id`, if it is the caller's.
async fn owned_consent(api: &Api, caller: &Caller, id: &str) -> ApiResult<ConsentRecord> {
    // UK OB 3.1 answers an unknown payment resource with 400, where account information uses 404.
    caller
        .own_consent(api, id, ConsentKind::DomesticPayment)
        .await
        .map_err(|e| {
            if e.status == axum::http::StatusCode::NOT_FOUND {
                no_such("domestic-payment consent")
            } else {
                e
            }
        })
}

/// `POST /domestic-payment-consents`.
pub async fn create(
    State(api): State<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require_client_token(ConsentKind::DomesticPayment.scope())?;
    let key = idempotency_key(&headers)?;
    signing::verify_request(&api, caller.client_id(), &headers, &body, caller.now).await?;
    let request = json_object(&body)?;
    let parsed = parse_consent_request(&request)?;
    let initiation = &parsed.initiation;

    // A debtor account the TPP names must be one of ours, in the payment's currency.
    let debtor_account_id = match &initiation.debtor {
        None => None,
        Some(debtor) => {
            let account = api
                .payments
                .find_account(&debtor.scheme_name, &debtor.identification)
                .await?
                .filter(|a| a.currency == initiation.currency)
                .ok_or_else(|| {
                    ApiError::field(
                        ObErrorCode::UnsupportedAccountIdentifier,
                        "Data.Initiation.DebtorAccount",
                        "the debtor account is not an account of this bank in the payment's currency",
                    )
                })?;
            Some(account.id)
        }
    };

    let hash = request_hash(&request);
    let record = ConsentRecord {
        id: uuid::Uuid::new_v4().to_string(),
        kind: ConsentKind::DomesticPayment.as_str().to_owned(),
        client_id: caller.client_id().to_owned(),
        status: ConsentStatus::AwaitingAuthorisation.as_str().to_owned(),
        status_updated_at: caller.now,
        created_at: caller.now,
        expires_at: None,
        user_id: None,
        permissions: None,
        tx_from: None,
        tx_to: None,
        debtor_account_id,
        amount_minor: Some(initiation.amount_minor),
        currency: Some(initiation.currency.clone()),
        body: json!({ "Data": parsed.data, "Risk": parsed.risk }).to_string(),
        idempotency_key: Some(key),
        request_hash: Some(hash.clone()),
        authorised_at: None,
        last_used_at: None,
    };
    let actor = Actor::Tpp(caller.client_id().to_owned());
    let consent = match api.app.store.insert_consent(&record, &actor).await? {
        ConsentInsert::Inserted => record,
        ConsentInsert::Existing(first) if first.request_hash.as_deref() == Some(&hash) => *first,
        ConsentInsert::Existing(_) => return Err(idempotency_key_reused()),
    };
    Ok(json_response(
        StatusCode::CREATED,
        consent_response(&api, &consent, caller.now)?,
    ))
}

/// `GET /domestic-payment-consents/{ConsentId}`.
pub async fn read(
    State(api): State<Api>,
    caller: Caller,
    Path(consent_id): Path<String>,
) -> ApiResult<Response> {
    caller.require_client_token(ConsentKind::DomesticPayment.scope())?;
    let consent = owned_consent(&api, &caller, &consent_id).await?;
    Ok(json_response(
        StatusCode::OK,
        consent_response(&api, &consent, caller.now)?,
    ))
}

/// `GET /domestic-payment-consents/{ConsentId}/funds-confirmation`, with the consent's
/// authorization-code token: whether the debtor account covers the amount now.
pub async fn funds_confirmation(
    State(api): State<Api>,
    caller: Caller,
    Path(consent_id): Path<String>,
) -> ApiResult<Response> {
    let (_, consent) = caller
        .authorised_consent(&api, ConsentKind::DomesticPayment)
        .await?;
    if consent.id != consent_id {
        owned_consent(&api, &caller, &consent_id).await?;
        return Err(ApiError::forbidden(
            "the access token was not granted for this consent",
        ));
    }
    let status = consent.status_at(caller.now)?;
    let (Some(debtor), Some(amount), Some(currency), ConsentStatus::Authorised) = (
        &consent.debtor_account_id,
        consent.amount_minor,
        &consent.currency,
        status,
    ) else {
        return Err(ApiError::bad_request(
            ObErrorCode::ResourceInvalidConsentStatus,
            format!("funds can be confirmed for an Authorised consent; this one is {status}"),
        ));
    };
    let available = api
        .payments
        .funds_available(debtor, amount, currency)
        .await?
        .unwrap_or(false);
    Ok(json_response(
        StatusCode::OK,
        json!({
            "Data": {
                "FundsAvailableResult": {
                    "FundsAvailableDateTime": datetime(caller.now),
                    "FundsAvailable": available,
                },
            },
            "Links": {
                "Self": self_link(&api, &format!("{PISP}/domestic-payment-consents/{}/funds-confirmation", consent.id)),
            },
            "Meta": {},
        }),
    ))
}
