//! Account-access consents (`/account-access-consents`): a TPP with a client_credentials token
//! (`accounts` scope) creates one, reads it while the customer authorises it, and deletes it
//! (status Revoked, its tokens dead at once).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use consentry_server::clock::UnixTime;
use consentry_server::consent::{
    Actor, ConsentKind, ConsentStatus, Permission, PermissionError, validate_permissions,
};
use consentry_server::store::{ConsentInsert, ConsentRecord, ConsentStore as _};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use super::shape::{date_time, parse_date_time};
use super::{CONSENTS, PathId, self_link};
use crate::Api;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ObErrorCode, ObErrorDetail};

/// What a TPP asks for in `POST /account-access-consents` (OBReadConsent1), once checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountAccessRequest {
    /// Sorted, checked against the combination rules.
    pub permissions: Vec<Permission>,
    pub expires_at: Option<UnixTime>,
    pub tx_from: Option<UnixTime>,
    pub tx_to: Option<UnixTime>,
    /// `Data` and `Risk` as sent.
    pub data: Value,
    pub risk: Value,
}

/// Every problem of a request body, collected so that the TPP sees them all at once.
#[derive(Default)]
struct Problems(Vec<ObErrorDetail>);

impl Problems {
    fn add(&mut self, code: ObErrorCode, path: &str, message: impl Into<String>) {
        self.0.push(ObErrorDetail {
            code,
            message: message.into(),
            path: Some(path.to_owned()),
        });
    }

    fn into_result(self) -> Result<(), ApiError> {
        let Some(first) = self.0.first() else {
            return Ok(());
        };
        let mut error = ApiError::bad_request(first.code, "The consent request is not valid");
        error.errors = self.0;
        Err(error)
    }
}

/// An optional date-time member of `Data`: absent is `None`; present must be an ISO 8601
/// date-time with an offset.
fn date_member(data: &Map<String, Value>, name: &str, problems: &mut Problems) -> Option<UnixTime> {
    let path = format!("Data.{name}");
    match data.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => parse_date_time(s).or_else(|| {
            problems.add(
                ObErrorCode::FieldInvalidDate,
                &path,
                format!("{name} must be an ISO 8601 date-time with an offset"),
            );
            None
        }),
        Some(_) => {
            problems.add(
                ObErrorCode::FieldInvalid,
                &path,
                format!("{name} must be a string"),
            );
            None
        }
    }
}

/// Parses and checks an OBReadConsent1 body at `now`: the permissions and their combination
/// rules, the dates (with offsets; expiry in the future; the transaction period not reversed),
/// and `Risk`.
pub fn parse_request(body: &[u8], now: UnixTime) -> ApiResult<AccountAccessRequest> {
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            ObErrorCode::ResourceInvalidFormat,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Value::Object(root) = root else {
        return Err(ApiError::bad_request(
            ObErrorCode::ResourceInvalidFormat,
            "the body must be a JSON object",
        ));
    };
    let mut problems = Problems::default();
    let data = match root.get("Data") {
        Some(Value::Object(d)) => Some(d.clone()),
        Some(_) => {
            problems.add(ObErrorCode::FieldInvalid, "Data", "Data must be an object");
            None
        }
        None => {
            problems.add(ObErrorCode::FieldMissing, "Data", "Data is required");
            None
        }
    };
    let risk = match root.get("Risk") {
        Some(Value::Object(r)) => Value::Object(r.clone()),
        Some(_) => {
            problems.add(ObErrorCode::FieldInvalid, "Risk", "Risk must be an object");
            Value::Null
        }
        None => {
            problems.add(ObErrorCode::FieldMissing, "Risk", "Risk is required");
            Value::Null
        }
    };
    let data = data.unwrap_or_default();
    let permissions = match data.get("Permissions") {
        _ if !matches!(root.get("Data"), Some(Value::Object(_))) => Vec::new(),
        None | Some(Value::Null) => {
            problems.add(
                ObErrorCode::FieldMissing,
                "Data.Permissions",
                "Data.Permissions is required",
            );
            Vec::new()
        }
        Some(Value::Array(values)) => {
            let names: Option<Vec<&str>> = values.iter().map(Value::as_str).collect();
            match names.map(|n| validate_permissions(&n)) {
                None => {
                    problems.add(
                        ObErrorCode::FieldInvalid,
                        "Data.Permissions",
                        "Permissions must be an array of strings",
                    );
                    Vec::new()
                }
                Some(Ok(p)) => p,
                Some(Err(e)) => {
                    let code = match e {
                        PermissionError::TransactionsWithoutDirection
                        | PermissionError::DirectionWithoutTransactions => {
                            ObErrorCode::FieldExpected
                        }
                        PermissionError::Empty
                        | PermissionError::Unknown(_)
                        | PermissionError::Repeated(_) => ObErrorCode::FieldInvalid,
                    };
                    problems.add(code, "Data.Permissions", e.to_string());
                    Vec::new()
                }
            }
        }
        Some(_) => {
            problems.add(
                ObErrorCode::FieldInvalid,
                "Data.Permissions",
                "Permissions must be an array of strings",
            );
            Vec::new()
        }
    };
    let expires_at = date_member(&data, "ExpirationDateTime", &mut problems);
    let tx_from = date_member(&data, "TransactionFromDateTime", &mut problems);
    let tx_to = date_member(&data, "TransactionToDateTime", &mut problems);
    if expires_at.is_some_and(|e| e <= now) {
        problems.add(
            ObErrorCode::FieldInvalidDate,
            "Data.ExpirationDateTime",
            "ExpirationDateTime must be in the future",
        );
    }
    if let (Some(from), Some(to)) = (tx_from, tx_to)
        && from > to
    {
        problems.add(
            ObErrorCode::FieldInvalidDate,
            "Data.TransactionToDateTime",
            "TransactionToDateTime must not be before TransactionFromDateTime",
        );
    }
    problems.into_result()?;
    Ok(AccountAccessRequest {
        permissions,
        expires_at,
        tx_from,
        tx_to,
        data: Value::Object(data),
        risk,
    })
}

/// A new AwaitingAuthorisation consent record for `request`.
pub fn new_consent(
    request: &AccountAccessRequest,
    client_id: &str,
    body: &[u8],
    now: UnixTime,
) -> ConsentRecord {
    let names: Vec<&str> = request.permissions.iter().map(|p| p.as_str()).collect();
    ConsentRecord {
        id: format!("aac-{}", uuid::Uuid::new_v4()),
        kind: ConsentKind::AccountAccess.as_str().to_owned(),
        client_id: client_id.to_owned(),
        status: ConsentStatus::AwaitingAuthorisation.as_str().to_owned(),
        status_updated_at: now,
        created_at: now,
        expires_at: request.expires_at,
        user_id: None,
        permissions: Some(json!(names).to_string()),
        tx_from: request.tx_from,
        tx_to: request.tx_to,
        debtor_account_id: None,
        amount_minor: None,
        currency: None,
        body: json!({"Data": request.data, "Risk": request.risk}).to_string(),
        idempotency_key: None,
        request_hash: Some(hex::encode(Sha256::digest(body))),
        authorised_at: None,
        last_used_at: None,
    }
}

/// The permissions a stored consent grants.
pub fn stored_permissions(c: &ConsentRecord) -> ApiResult<Vec<Permission>> {
    let names: Vec<String> = c
        .permissions
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| ApiError::internal(format!("consent {} permissions: {e}", c.id)))?
        .unwrap_or_default();
    names
        .iter()
        .map(|n| {
            n.parse()
                .map_err(|e| ApiError::internal(format!("consent {} permissions: {e}", c.id)))
        })
        .collect()
}

/// OBReadConsentResponse1 of a stored consent as of `now`.
pub fn consent_response(api: &Api, c: &ConsentRecord, now: UnixTime) -> ApiResult<Value> {
    let status = c.status_at(now)?;
    // Past its expiry but not yet marked: it became Expired when it expired.
    let status_at = match (status, c.expires_at) {
        (ConsentStatus::Expired, Some(expiry)) if c.status()? != ConsentStatus::Expired => expiry,
        _ => c.status_updated_at,
    };
    let permissions: Vec<&str> = stored_permissions(c)?
        .into_iter()
        .map(Permission::as_str)
        .collect();
    let mut data = json!({
        "ConsentId": c.id,
        "CreationDateTime": date_time(c.created_at),
        "Status": status.as_str(),
        "StatusUpdateDateTime": date_time(status_at),
        "Permissions": permissions,
    });
    for (name, value) in [
        ("ExpirationDateTime", c.expires_at),
        ("TransactionFromDateTime", c.tx_from),
        ("TransactionToDateTime", c.tx_to),
    ] {
        if let Some(t) = value {
            data[name] = json!(date_time(t));
        }
    }
    let risk = serde_json::from_str::<Value>(&c.body)
        .ok()
        .and_then(|b| b.get("Risk").cloned())
        .unwrap_or_else(|| json!({}));
    Ok(json!({
        "Data": data,
        "Risk": risk,
        "Links": {"Self": self_link(api, &format!("{CONSENTS}/{}", c.id))},
        "Meta": {},
    }))
}

/// `POST /account-access-consents`.
pub async fn create(State(api): State<Api>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    caller.require_client_token(ConsentKind::AccountAccess.scope())?;
    let request = parse_request(&body, caller.now)?;
    let record = new_consent(&request, caller.client_id(), &body, caller.now);
    let actor = Actor::Tpp(caller.client_id().to_owned());
    let stored = match api.app.store.insert_consent(&record, &actor).await? {
        ConsentInsert::Inserted => record,
        // No idempotency key is used for account access: this cannot happen.
        ConsentInsert::Existing(existing) => *existing,
    };
    tracing::info!(client_id = %caller.client_id(), consent_id = %stored.id, "account-access consent created");
    let body = consent_response(&api, &stored, caller.now)?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /account-access-consents/{ConsentId}`.
pub async fn read(
    State(api): State<Api>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<Json<Value>> {
    caller.require_client_token(ConsentKind::AccountAccess.scope())?;
    let consent = caller
        .own_consent(&api, &id, ConsentKind::AccountAccess)
        .await?;
    Ok(Json(consent_response(&api, &consent, caller.now)?))
}

/// `DELETE /account-access-consents/{ConsentId}`: the consent becomes Revoked and every token
/// granted for it is revoked in the same transaction.
pub async fn delete(
    State(api): State<Api>,
    caller: Caller,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    caller.require_client_token(ConsentKind::AccountAccess.scope())?;
    let consent = caller
        .own_consent(&api, &id, ConsentKind::AccountAccess)
        .await?;
    let actor = Actor::Tpp(caller.client_id().to_owned());
    let revoked = api
        .app
        .store
        .transition_consent(&consent.id, ConsentStatus::Revoked, &actor, caller.now)
        .await?;
    if revoked {
        tracing::info!(client_id = %caller.client_id(), consent_id = %consent.id, "account-access consent revoked by the TPP");
        return Ok(StatusCode::NO_CONTENT);
    }
    // Lost a race, or already final: read what it is now.
    let now_status = api
        .app
        .store
        .consent(&consent.id)
        .await?
        .map(|c| c.status_at(caller.now))
        .transpose()?;
    match now_status {
        Some(ConsentStatus::Revoked) => Ok(StatusCode::NO_CONTENT),
        Some(status) => Err(ApiError::bad_request(
            ObErrorCode::ResourceInvalidConsentStatus,
            format!("the consent is {status} and cannot be deleted"),
        )),
        None => Err(ApiError::not_found(
            "there is no account-access consent with this id",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn parse(body: Value) -> ApiResult<AccountAccessRequest> {
        parse_request(body.to_string().as_bytes(), NOW)
    }

    fn problems(body: Value) -> Vec<(String, String)> {
        let e = parse(body).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        e.errors
            .iter()
            .map(|d| {
                (
                    d.code.as_str().to_owned(),
                    d.path.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn pair(code: &str, path: &str) -> (String, String) {
        (code.to_owned(), path.to_owned())
    }

    #[test]
    fn a_full_request_is_parsed() {
        let r = parse(json!({
            "Data": {
                "Permissions": ["ReadTransactionsDetail", "ReadAccountsBasic", "ReadTransactionsCredits"],
                "ExpirationDateTime": "2030-01-01T00:00:00+00:00",
                "TransactionFromDateTime": "2023-01-01T00:00:00Z",
                "TransactionToDateTime": "2023-12-31T23:59:59+01:00",
            },
            "Risk": {},
        }))
        .unwrap();
        assert_eq!(
            r.permissions,
            vec![
                Permission::ReadAccountsBasic,
                Permission::ReadTransactionsCredits,
                Permission::ReadTransactionsDetail
            ]
        );
        assert_eq!(r.expires_at, Some(1_893_456_000));
        assert_eq!(r.tx_from, Some(1_672_531_200));
        assert_eq!(r.tx_to, Some(1_704_063_599));
        let minimal =
            parse(json!({"Data": {"Permissions": ["ReadBalances"]}, "Risk": {}})).unwrap();
        assert_eq!(
            (minimal.expires_at, minimal.tx_from, minimal.tx_to),
            (None, None, None)
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        assert_eq!(
            problems(json!({})),
            [
                pair("UK.OBIE.Field.Missing", "Data"),
                pair("UK.OBIE.Field.Missing", "Risk")
            ]
        );
        assert_eq!(
            problems(json!({"Data": {}, "Risk": {}})),
            [pair("UK.OBIE.Field.Missing", "Data.Permissions")]
        );
        assert_eq!(
            problems(json!({"Data": [], "Risk": []})),
            [
                pair("UK.OBIE.Field.Invalid", "Data"),
                pair("UK.OBIE.Field.Invalid", "Risk")
            ]
        );
        for bad in [
            json!([]),
            json!(["ReadAccountsbasic"]),
            json!(["ReadBalances", "ReadBalances"]),
            json!("ReadBalances"),
            json!([1]),
        ] {
            assert_eq!(
                problems(json!({"Data": {"Permissions": bad}, "Risk": {}})),
                [pair("UK.OBIE.Field.Invalid", "Data.Permissions")],
                "{bad}"
            );
        }
        for rule in [
            json!(["ReadTransactionsBasic"]),
            json!(["ReadTransactionsDebits"]),
        ] {
            assert_eq!(
                problems(json!({"Data": {"Permissions": rule}, "Risk": {}})),
                [pair("UK.OBIE.Field.Expected", "Data.Permissions")],
                "{rule}"
            );
        }
    }

    #[test]
    fn dates_need_offsets_a_future_expiry_and_an_ordered_period() {
        let with = |data: Value| {
            let mut d = json!({"Permissions": ["ReadBalances"]});
            d.as_object_mut()
                .unwrap()
                .extend(data.as_object().unwrap().clone());
            problems(json!({"Data": d, "Risk": {}}))
        };
        assert_eq!(
            with(json!({"ExpirationDateTime": "2030-01-01T00:00:00"})),
            [pair("UK.OBIE.Field.InvalidDate", "Data.ExpirationDateTime")]
        );
        assert_eq!(
            with(json!({"ExpirationDateTime": "2020-01-01T00:00:00+00:00"})),
            [pair("UK.OBIE.Field.InvalidDate", "Data.ExpirationDateTime")]
        );
        assert_eq!(
            with(json!({"ExpirationDateTime": 1_900_000_000})),
            [pair("UK.OBIE.Field.Invalid", "Data.ExpirationDateTime")]
        );
        assert_eq!(
            with(json!({"TransactionFromDateTime": "2023-02-30T00:00:00Z"})),
            [pair(
                "UK.OBIE.Field.InvalidDate",
                "Data.TransactionFromDateTime"
            )]
        );
        assert_eq!(
            with(
                json!({"TransactionFromDateTime": "2023-06-01T00:00:00Z", "TransactionToDateTime": "2023-05-01T00:00:00Z"})
            ),
            [pair(
                "UK.OBIE.Field.InvalidDate",
                "Data.TransactionToDateTime"
            )]
        );
        assert!(
            parse_request(b"not json", NOW)
                .is_err_and(|e| e.errors[0].code == ObErrorCode::ResourceInvalidFormat)
        );
        assert!(
            parse_request(b"[]", NOW)
                .is_err_and(|e| e.errors[0].code == ObErrorCode::ResourceInvalidFormat)
        );
    }

    #[test]
    fn stored_consents_keep_the_request() {
        let body = json!({"Data": {"Permissions": ["ReadBalances"], "ExpirationDateTime": "2030-01-01T00:00:00Z"}, "Risk": {"x": 1}}).to_string();
        let r = parse_request(body.as_bytes(), NOW).unwrap();
        let c = new_consent(&r, "client-1", body.as_bytes(), NOW);
        assert!(c.id.starts_with("aac-"));
        assert_eq!(c.status, "AwaitingAuthorisation");
        assert_eq!(c.permissions.as_deref(), Some(r#"["ReadBalances"]"#));
        assert_eq!(
            stored_permissions(&c).unwrap(),
            vec![Permission::ReadBalances]
        );
        assert_eq!(c.expires_at, Some(1_893_456_000));
        let stored: Value = serde_json::from_str(&c.body).unwrap();
        assert_eq!(stored["Risk"], json!({"x": 1}));
    }
}
