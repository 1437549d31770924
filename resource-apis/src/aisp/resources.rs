//! The account-information resources: accounts, balances, transactions and beneficiaries, in
//! bulk (every account of the consent, e.g. `/balances`) or of one account
//! (`/accounts/{AccountId}/balances`), each limited to what the consent grants.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::Uri;
use consentry_server::consent::Permission::{self, *};
use consentry_server::store::{Account, Transaction};
use serde_json::{Value, json};

use super::access::Access;
use super::paging::{self, ListQuery};
use super::{PathId, self_link, shape};
use crate::Api;
use crate::error::ApiResult;

const ACCOUNTS: &[Permission] = &[ReadAccountsBasic, ReadAccountsDetail];
const TRANSACTIONS: &[Permission] = &[ReadTransactionsBasic, ReadTransactionsDetail];
const BENEFICIARIES: &[Permission] = &[ReadBeneficiariesBasic, ReadBeneficiariesDetail];

/// A one-page response: `Data`, `Links.Self` (the request's URL), `Meta.TotalPages`.
fn single_page(api: &Api, uri: &Uri, data: Value) -> Json<Value> {
    let url = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    Json(json!({
        "Data": data,
        "Links": {"Self": self_link(api, url)},
        "Meta": {"TotalPages": 1},
    }))
}

/// The accounts a request is about: the one of the path, or all of the consent's; checked
/// after the permissions so that a refusal does not tell which accounts exist.
fn selected<'a>(access: &'a Access, id: Option<&PathId>) -> ApiResult<Vec<&'a Account>> {
    match id {
        Some(PathId(id)) => Ok(vec![access.account(id)?]),
        None => Ok(access.accounts.iter().collect()),
    }
}

/// `GET /accounts` and `GET /accounts/{AccountId}`.
pub async fn accounts(
    State(api): State<Api>,
    uri: Uri,
    access: Access,
    id: Option<PathId>,
) -> ApiResult<Json<Value>> {
    access.require(ACCOUNTS)?;
    let detail = access.has(ReadAccountsDetail);
    let list: Vec<Value> = selected(&access, id.as_ref())?
        .into_iter()
        .map(|a| shape::account(a, detail))
        .collect();
    Ok(single_page(&api, &uri, json!({"Account": list})))
}

/// `GET /balances` and `GET /accounts/{AccountId}/balances`.
pub async fn balances(
    State(api): State<Api>,
    uri: Uri,
    access: Access,
    id: Option<PathId>,
) -> ApiResult<Json<Value>> {
    access.require(&[ReadBalances])?;
    let list: Vec<Value> = selected(&access, id.as_ref())?
        .into_iter()
        .flat_map(|a| shape::balances(a, access.now()))
        .collect();
    Ok(single_page(&api, &uri, json!({"Balance": list})))
}

/// `GET /transactions` and `GET /accounts/{AccountId}/transactions`: within the consent's
/// transaction period and the request's booking-date filters, credits and debits as granted,
/// newest first, one page of them.
pub async fn transactions(
    State(api): State<Api>,
    uri: Uri,
    RawQuery(query): RawQuery,
    access: Access,
    id: Option<PathId>,
) -> ApiResult<Json<Value>> {
    access.require(TRANSACTIONS)?;
    let accounts = selected(&access, id.as_ref())?;
    let q: ListQuery = paging::parse_query(query.as_deref(), true)?;
    let (credits, debits) = (
        access.has(ReadTransactionsCredits),
        access.has(ReadTransactionsDebits),
    );
    let mut found: Vec<Transaction> = Vec::new();
    if let Some((from, to)) = access.period(q.from, q.to) {
        for a in &accounts {
            found.extend(api.accounts.transactions(&a.id, from, to).await?);
        }
    }
    found.retain(|t| if t.amount_minor < 0 { debits } else { credits });
    if accounts.len() > 1 {
        found.sort_by(|a, b| b.booked_at.cmp(&a.booked_at).then_with(|| b.id.cmp(&a.id)));
    }
    let (page, total) = paging::page_of(found, q.page)?;
    let detail = access.has(ReadTransactionsDetail);
    let list: Vec<Value> = page.iter().map(|t| shape::transaction(t, detail)).collect();
    let (links, meta) = paging::links(&self_link(&api, uri.path()), &q, q.page, total);
    Ok(Json(json!({
        "Data": {"Transaction": list},
        "Links": links,
        "Meta": meta,
    })))
}

/// `GET /beneficiaries` and `GET /accounts/{AccountId}/beneficiaries`.
pub async fn beneficiaries(
    State(api): State<Api>,
    uri: Uri,
    access: Access,
    id: Option<PathId>,
) -> ApiResult<Json<Value>> {
    access.require(BENEFICIARIES)?;
    let detail = access.has(ReadBeneficiariesDetail);
    let mut list = Vec::new();
    for a in selected(&access, id.as_ref())? {
        for b in api.accounts.beneficiaries(&a.id).await? {
            list.push(shape::beneficiary(&b, detail));
        }
    }
    Ok(single_page(&api, &uri, json!({"Beneficiary": list})))
}
