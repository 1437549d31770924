//! `domestic-payments`: submit (`OBWriteDomestic2` -> `OBWriteDomesticResponse5`), read, and the
//! status history (`OBWritePaymentDetailsResponse1`).
//!
//! A payment is AcceptedSettlementInProcess when made and AcceptedSettlementCompleted once the
//! bank has settled it (the bundled bank: [`SETTLEMENT_DELAY_SECS`] later). The change is made
//! when the payment is next read at or after that moment, with the request's time, and recorded
//! at the settlement time; `PaymentStore::settle_due_payments` does the same for a background
//! sweep.
//!
//! [`SETTLEMENT_DELAY_SECS`]: crate::payments_bank::SETTLEMENT_DELAY_SECS

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use consentry_server::consent::ConsentKind;
use consentry_server::store::{
    Creditor, GrantStore as _, NewPayment, PaymentOutcome, PaymentRecord, PaymentStatus,
    PaymentStore as _,
};
use serde_json::{Map, Value, json};

use super::initiation::{object, parse_initiation};
use super::{
    datetime, idempotency_key, idempotency_key_reused, json_object, json_response, no_such,
    request_hash, self_link, signing, stored_body,
};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ObErrorCode};
use crate::{Api, PISP};

fn payment_link(api: &Api, payment: &PaymentRecord, suffix: &str) -> String {
    self_link(
        api,
        &format!("{PISP}/domestic-payments/{}{suffix}", payment.id),
    )
}

fn payment_response(api: &Api, payment: &PaymentRecord) -> ApiResult<Value> {
    let stored = stored_body(&payment.body)?;
    Ok(json!({
        "Data": {
            "DomesticPaymentId": payment.id,
            "ConsentId": payment.consent_id,
            "CreationDateTime": datetime(payment.created_at),
            "Status": payment.status()?.as_str(),
            "StatusUpdateDateTime": datetime(payment.status_updated_at),
            "ExpectedExecutionDateTime": datetime(payment.created_at),
            "ExpectedSettlementDateTime": datetime(payment.settles_at),
            "Initiation": stored["Data"]["Initiation"],
        },
        "Links": { "Self": payment_link(api, payment, "") },
        "Meta": {},
    }))
}

fn mismatch(path: &str, what: &str) -> ApiError {
    ApiError::field(
        ObErrorCode::ResourceConsentMismatch,
        path,
        format!("{what} differs from the consent's"),
    )
}

fn consent_status_refusal(message: &str) -> ApiError {
    ApiError::bad_request(ObErrorCode::ResourceInvalidConsentStatus, message)
}

/// `POST /domestic-payments`, with the authorization-code token of the consent.
pub async fn create(
    State(api): State<Api>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let (_, consent) = caller
        .authorised_consent(&api, ConsentKind::DomesticPayment)
        .await?;
    let key = idempotency_key(&headers)?;
    signing::verify_request(&api, caller.client_id(), &headers, &body, caller.now).await?;
    let request = json_object(&body)?;

    // What is paid is what the customer authorised: the consent's Initiation and Risk.
    let data = object(&request, "$", "Data")?;
    match data.get("ConsentId") {
        None | Some(Value::Null) => {
            return Err(ApiError::field(
                ObErrorCode::FieldMissing,
                "Data.ConsentId",
                "Data.ConsentId is required",
            ));
        }
        Some(id) if id.as_str() != Some(consent.id.as_str()) => {
            return Err(mismatch(
                "Data.ConsentId",
                "Data.ConsentId is not the consent the access token was granted for; it",
            ));
        }
        Some(_) => {}
    }
    let consented = stored_body(&consent.body)?;
    if Value::Object(object(data, "Data", "Initiation")?.clone()) != consented["Data"]["Initiation"]
    {
        return Err(mismatch("Data.Initiation", "Data.Initiation"));
    }
    if Value::Object(object(&request, "$", "Risk")?.clone()) != consented["Risk"] {
        return Err(mismatch("Risk", "Risk"));
    }
    let initiation = match &consented["Data"]["Initiation"] {
        Value::Object(stored) => parse_initiation(stored, "Data.Initiation")
            .map_err(|e| ApiError::internal(format!("stored initiation: {}", e.message)))?,
        _ => return Err(ApiError::internal("stored consent without Initiation")),
    };
    let (Some(payer), Some(debtor)) = (&consent.user_id, &consent.debtor_account_id) else {
        return Err(consent_status_refusal(
            "the consent has no debtor account to pay from",
        ));
    };

    let id = uuid::Uuid::new_v4().to_string();
    let hash = request_hash(&request);
    let body_json = Value::Object(request).to_string();
    let outcome = api
        .payments
        .execute(&NewPayment {
            id: &id,
            consent_id: &consent.id,
            client_id: caller.client_id(),
            idempotency_key: &key,
            request_hash: &hash,
            payer_user_id: payer,
            debtor_account_id: debtor,
            amount_minor: initiation.amount_minor,
            currency: &initiation.currency,
            body: &body_json,
            creditor: Creditor {
                scheme_name: &initiation.creditor.scheme_name,
                identification: &initiation.creditor.identification,
                name: initiation.creditor.name.as_deref().unwrap_or_default(),
            },
            reference: initiation.description(),
            now: caller.now,
        })
        .await?;
    let payment = match outcome {
        PaymentOutcome::Made(payment) | PaymentOutcome::Replayed(payment) => payment,
        PaymentOutcome::KeyReused => return Err(idempotency_key_reused()),
        PaymentOutcome::ConsentAlreadyUsed => {
            return Err(consent_status_refusal(
                "a payment was already made under this consent",
            ));
        }
        PaymentOutcome::ConsentNotAuthorised => {
            return Err(consent_status_refusal("the consent is not Authorised"));
        }
        PaymentOutcome::InsufficientFunds => {
            return Err(ApiError::bad_request(
                ObErrorCode::RulesInsufficientFunds,
                "the debtor account's balance does not cover the payment",
            ));
        }
        PaymentOutcome::DebtorAccountUnusable => {
            return Err(ApiError::bad_request(
                ObErrorCode::UnsupportedAccountIdentifier,
                "the debtor account cannot make this payment",
            ));
        }
    };
    Ok(json_response(
        StatusCode::CREATED,
        payment_response(&api, &payment)?,
    ))
}

/// The payment `id`, if the caller may read it, with its status brought up to date: its client's
/// client_credentials token, or the authorization-code token of its consent.
async fn readable_payment(api: &Api, caller: &Caller, id: &str) -> ApiResult<PaymentRecord> {
    caller.require_scope(ConsentKind::DomesticPayment.scope())?;
    let store = &api.app.store;
    let payment = store
        .payment(id)
        .await?
        .ok_or_else(|| no_such("domestic payment"))?;
    if payment.client_id != caller.client_id() {
        return Err(ApiError::forbidden(
            "this payment belongs to another client",
        ));
    }
    if caller.token.subject.is_some() {
        let grant = store.grant(&caller.token.grant_id).await?;
        if grant.and_then(|g| g.consent_id).as_deref() != Some(payment.consent_id.as_str()) {
            return Err(ApiError::forbidden(
                "the access token was not granted for this payment's consent",
            ));
        }
    }
    if payment.status()? == PaymentStatus::AcceptedSettlementInProcess
        && payment.settles_at <= caller.now
        && api.payments.settle(&payment.id, caller.now).await?
    {
        return store
            .payment(id)
            .await?
            .ok_or_else(|| ApiError::internal("settled payment vanished"));
    }
    Ok(payment)
}

/// `GET /domestic-payments/{DomesticPaymentId}`.
pub async fn read(
    State(api): State<Api>,
    caller: Caller,
    Path(payment_id): Path<String>,
) -> ApiResult<Response> {
    let payment = readable_payment(&api, &caller, &payment_id).await?;
    Ok(json_response(
        StatusCode::OK,
        payment_response(&api, &payment)?,
    ))
}

/// `GET /domestic-payments/{DomesticPaymentId}/payment-details`: every status, oldest first.
pub async fn details(
    State(api): State<Api>,
    caller: Caller,
    Path(payment_id): Path<String>,
) -> ApiResult<Response> {
    let payment = readable_payment(&api, &caller, &payment_id).await?;
    let history = api.app.store.payment_history(&payment.id).await?;
    let transaction_id = payment
        .debit_transaction_id
        .clone()
        .unwrap_or_else(|| payment.id.clone());
    let statuses: Vec<Value> = history
        .iter()
        .map(|entry| {
            let mut status = Map::new();
            status.insert("PaymentTransactionId".into(), json!(transaction_id));
            status.insert("Status".into(), json!(entry.status));
            status.insert("StatusUpdateDateTime".into(), json!(datetime(entry.at)));
            status.insert("StatusDetail".into(), json!({ "Status": entry.status }));
            Value::Object(status)
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({
            "Data": { "PaymentStatus": statuses },
            "Links": { "Self": payment_link(&api, &payment, "/payment-details") },
            "Meta": {},
        }),
    ))
}
