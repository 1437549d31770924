//! The account information APIs through the real listeners: account-access consents, the
//! account, balance, transaction and beneficiary resources, and the FAPI headers.

use consentry_resource_apis::aisp::shape::{date_time, decimal};
use consentry_server::clock::{FixedClock, UnixTime};
use consentry_server::crypto::b64url_decode;
use consentry_server::store::{ConsentStore as _, Transaction};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    AISP, Customer, Decision, DpopKey, Reply, TestDb, TestServer, Tokens, Tpp, databases, now,
    seed_customer,
};

const CONSENTS: &str = "/open-banking/v3.1/aisp/account-access-consents";
const DETAIL: &[&str] = &[
    "ReadAccountsDetail",
    "ReadBalances",
    "ReadBeneficiariesDetail",
    "ReadTransactionsDetail",
    "ReadTransactionsCredits",
    "ReadTransactionsDebits",
];
const DAY: i64 = 86_400;

fn consent_body(permissions: &[&str], extra: Value) -> Value {
    let mut data = json!({"Permissions": permissions});
    if let (Value::Object(d), Value::Object(e)) = (&mut data, extra) {
        d.extend(e);
    }
    json!({"Data": data, "Risk": {}})
}

/// Creates an account-access consent; panics unless it is created.
async fn create_consent(
    server: &TestServer,
    tpp: &Tpp,
    permissions: &[&str],
    extra: Value,
) -> String {
    let cc = tpp.client_credentials_token(server, "accounts").await;
    let r = tpp
        .post(server, CONSENTS, &cc, &consent_body(permissions, extra))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    r.body["Data"]["ConsentId"].as_str().unwrap().to_owned()
}

/// A consent with `permissions` (and `extra` Data members) authorised by `customer` for
/// `accounts` through the real flow; its tokens.
async fn authorised(
    server: &TestServer,
    tpp: &Tpp,
    customer: &Customer,
    permissions: &[&str],
    extra: Value,
    accounts: &[usize],
) -> (String, Tokens) {
    let id = create_consent(server, tpp, permissions, extra).await;
    let chosen = accounts
        .iter()
        .map(|i| customer.accounts[*i].id.clone())
        .collect();
    let tokens = tpp
        .authorise(
            server,
            customer,
            &id,
            "openid accounts",
            Decision::Accounts(chosen),
        )
        .await;
    (id, tokens)
}

fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap().to_owned())
        .collect()
}

/// The path and query of a link to the resource listener.
fn link_path<'a>(server: &TestServer, link: &'a Value) -> &'a str {
    link.as_str()
        .and_then(|l| l.strip_prefix(server.resource.as_str()))
        .unwrap_or_else(|| panic!("{link} is not a link to the resource listener"))
}

#[tokio::test]
async fn account_access_consents_are_created_read_and_deleted() {
    for db in databases().await {
        let server = TestServer::start(db.clone()).await;
        let tpp = Tpp::register(&server, "aisp-lifecycle").await;
        let other = Tpp::register(&server, "aisp-other").await;
        let cc = tpp.client_credentials_token(&server, "accounts").await;
        let expiry = now() + 90 * DAY;
        let body = consent_body(
            &["ReadBalances", "ReadAccountsBasic"],
            json!({
                "ExpirationDateTime": date_time(expiry),
                "TransactionFromDateTime": "2024-01-01T00:00:00Z",
                "TransactionToDateTime": "2024-12-31T23:59:59+00:00",
            }),
        );
        let created = tpp.post(&server, CONSENTS, &cc, &body).await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{}: {:#}",
            db.name(),
            created.body
        );
        let data = &created.body["Data"];
        let id = data["ConsentId"].as_str().unwrap().to_owned();
        assert_eq!(data["Status"], "AwaitingAuthorisation");
        assert_eq!(
            data["Permissions"],
            json!(["ReadAccountsBasic", "ReadBalances"])
        );
        assert_eq!(data["ExpirationDateTime"], date_time(expiry));
        assert_eq!(data["TransactionFromDateTime"], "2024-01-01T00:00:00+00:00");
        assert_eq!(data["TransactionToDateTime"], "2024-12-31T23:59:59+00:00");
        for stamp in ["CreationDateTime", "StatusUpdateDateTime"] {
            assert!(data[stamp].as_str().unwrap().ends_with("+00:00"), "{stamp}");
        }
        assert_eq!(created.body["Risk"], json!({}));
        assert_eq!(created.body["Meta"], json!({}));
        assert_eq!(
            created.body["Links"]["Self"],
            server.api(&format!("{CONSENTS}/{id}"))
        );

        let read = tpp.get(&server, &format!("{CONSENTS}/{id}"), &cc).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.body, created.body, "GET returns what POST did");

        // Only the client that created it sees it; unknown ids are 404.
        let other_cc = other.client_credentials_token(&server, "accounts").await;
        other
            .get(&server, &format!("{CONSENTS}/{id}"), &other_cc)
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        other
            .delete(&server, &format!("{CONSENTS}/{id}"), &other_cc)
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        tpp.get(&server, &format!("{CONSENTS}/aac-nothing"), &cc)
            .await
            .assert_error(StatusCode::NOT_FOUND, "UK.OBIE.Resource.NotFound");
        // A token without the accounts scope is refused.
        let payments_cc = tpp.client_credentials_token(&server, "payments").await;
        tpp.get(&server, &format!("{CONSENTS}/{id}"), &payments_cc)
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");

        let deleted = tpp.delete(&server, &format!("{CONSENTS}/{id}"), &cc).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{:#}", deleted.body);
        assert!(deleted.headers.contains_key("x-fapi-interaction-id"));
        let read = tpp.get(&server, &format!("{CONSENTS}/{id}"), &cc).await;
        assert_eq!(read.body["Data"]["Status"], "Revoked");
        let history = server.store().consent_history(&id).await.unwrap();
        assert!(
            history
                .iter()
                .any(|h| h.status == "Revoked" && h.actor == "tpp:aisp-lifecycle"),
            "{history:?}"
        );
        // Deleting again changes nothing.
        let again = tpp.delete(&server, &format!("{CONSENTS}/{id}"), &cc).await;
        assert_eq!(again.status, StatusCode::NO_CONTENT);
        assert_eq!(server.store().consent_history(&id).await.unwrap().len(), 2);
        server.stop().await;
    }
}

#[tokio::test]
async fn consent_requests_are_validated_in_the_uk_ob_shape() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "aisp-validation").await;
    let cc = tpp.client_credentials_token(&server, "accounts").await;
    macro_rules! post {
        ($body:expr) => {
            tpp.post(&server, CONSENTS, &cc, &$body).await
        };
    }
    let expect = |r: Reply, code: &str, path: &str| {
        r.assert_error(StatusCode::BAD_REQUEST, code);
        let errors = r.body["Errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["ErrorCode"] == code && e["Path"] == path),
            "{code} at {path}: {:#}",
            r.body
        );
    };
    expect(
        post!(json!({"Data": {"Permissions": ["ReadBalances"]}})),
        "UK.OBIE.Field.Missing",
        "Risk",
    );
    expect(post!(json!({"Risk": {}})), "UK.OBIE.Field.Missing", "Data");
    expect(
        post!(json!({"Data": {}, "Risk": {}})),
        "UK.OBIE.Field.Missing",
        "Data.Permissions",
    );
    expect(
        post!(consent_body(&[], json!({}))),
        "UK.OBIE.Field.Invalid",
        "Data.Permissions",
    );
    expect(
        post!(consent_body(&["ReadEverything"], json!({}))),
        "UK.OBIE.Field.Invalid",
        "Data.Permissions",
    );
    expect(
        post!(consent_body(&["ReadBalances", "ReadBalances"], json!({}))),
        "UK.OBIE.Field.Invalid",
        "Data.Permissions",
    );
    // The combination rules: a transaction listing needs a direction, a direction a listing.
    for rule in [
        &["ReadTransactionsBasic"][..],
        &["ReadTransactionsDetail", "ReadAccountsBasic"],
        &["ReadTransactionsCredits"],
        &["ReadTransactionsDebits", "ReadBalances"],
    ] {
        expect(
            post!(consent_body(rule, json!({}))),
            "UK.OBIE.Field.Expected",
            "Data.Permissions",
        );
    }
    let with = |extra: Value| consent_body(&["ReadBalances"], extra);
    let past = date_time(now() - 60);
    for (extra, path) in [
        (
            json!({"ExpirationDateTime": past}),
            "Data.ExpirationDateTime",
        ),
        (
            json!({"ExpirationDateTime": "2099-01-01T00:00:00"}),
            "Data.ExpirationDateTime",
        ),
        (
            json!({"ExpirationDateTime": "tomorrow"}),
            "Data.ExpirationDateTime",
        ),
        (
            json!({"TransactionFromDateTime": "2024-13-01T00:00:00Z"}),
            "Data.TransactionFromDateTime",
        ),
        (
            json!({"TransactionToDateTime": "2024-01-01"}),
            "Data.TransactionToDateTime",
        ),
        (
            json!({"TransactionFromDateTime": "2024-02-01T00:00:00Z", "TransactionToDateTime": "2024-01-31T23:59:59Z"}),
            "Data.TransactionToDateTime",
        ),
    ] {
        expect(post!(with(extra)), "UK.OBIE.Field.InvalidDate", path);
    }
    // Several problems at once are all reported.
    let r = post!(json!({"Data": {"Permissions": ["Nope"], "ExpirationDateTime": "never"}}));
    assert_eq!(r.error_codes().len(), 3, "{:#}", r.body);

    // Not JSON, or not JSON at all by its content type.
    let raw = tpp
        .send(
            tpp.http
                .post(server.api(CONSENTS))
                .bearer_auth(&cc)
                .header("content-type", "application/json")
                .body("{not json"),
        )
        .await;
    raw.assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Resource.InvalidFormat");
    let text = tpp
        .send(
            tpp.http
                .post(server.api(CONSENTS))
                .bearer_auth(&cc)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    text.assert_error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UK.OBIE.UnsupportedMediaType",
    );
    // No token at all.
    let anonymous = tpp
        .send(tpp.http.post(server.api(CONSENTS)).json(&with(json!({}))))
        .await;
    anonymous.assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    assert!(anonymous.headers.contains_key("www-authenticate"));
    server.stop().await;
}

#[tokio::test]
async fn an_authorised_consent_opens_only_its_accounts_and_permissions() {
    for db in databases().await {
        let server = TestServer::start(db.clone()).await;
        let tpp = Tpp::register(&server, "aisp-reader").await;
        let customer = seed_customer(&server, "reader-psu").await;
        let stranger = seed_customer(&server, "stranger-psu").await;
        let (acc1, acc2, acc3) = (
            &customer.accounts[0],
            &customer.accounts[1],
            &customer.accounts[2],
        );
        let (consent_id, tokens) =
            authorised(&server, &tpp, &customer, DETAIL, json!({}), &[0, 1]).await;
        let token = &tokens.access_token;
        // The id token names the consent it was granted for.
        let id_token = tokens.id_token.as_deref().expect("an id token");
        let claims: Value =
            serde_json::from_slice(&b64url_decode(id_token.split('.').nth(1).unwrap()).unwrap())
                .unwrap();
        assert_eq!(claims["openbanking_intent_id"], consent_id.as_str());
        let consent = tpp
            .get(
                &server,
                &format!("{CONSENTS}/{consent_id}"),
                &tpp.client_credentials_token(&server, "accounts").await,
            )
            .await;
        assert_eq!(
            consent.body["Data"]["Status"],
            "Authorised",
            "{}",
            db.name()
        );
        assert_eq!(
            server.store().consent_accounts(&consent_id).await.unwrap(),
            vec![acc1.id.clone(), acc2.id.clone()]
        );

        // Accounts: the chosen two, with their details.
        let r = tpp.get(&server, &format!("{AISP}/accounts"), token).await;
        assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
        let list = &r.body["Data"]["Account"];
        assert_eq!(ids(list, "AccountId"), [acc1.id.clone(), acc2.id.clone()]);
        assert_eq!(list[0]["Currency"], "GBP");
        assert_eq!(list[0]["AccountType"], "Personal");
        assert_eq!(list[0]["AccountSubType"], "CurrentAccount");
        assert_eq!(list[0]["Nickname"], acc1.nickname.as_str());
        assert_eq!(
            list[0]["Account"][0]["SchemeName"],
            "UK.OBIE.SortCodeAccountNumber"
        );
        assert_eq!(
            list[0]["Account"][0]["Identification"],
            acc1.identification.as_str()
        );
        assert_eq!(list[0]["Account"][0]["Name"], acc1.holder_name.as_str());
        assert_eq!(
            r.body["Links"]["Self"],
            server.api(&format!("{AISP}/accounts"))
        );
        assert_eq!(r.body["Meta"]["TotalPages"], 1);
        let one = tpp
            .get(&server, &format!("{AISP}/accounts/{}", acc2.id), token)
            .await;
        assert_eq!(
            ids(&one.body["Data"]["Account"], "AccountId"),
            [acc2.id.as_str()]
        );
        // The account not chosen, another customer's and an unknown one look the same.
        for hidden in [
            acc3.id.as_str(),
            stranger.accounts[0].id.as_str(),
            "no-such-account",
        ] {
            for suffix in ["", "/balances", "/transactions", "/beneficiaries"] {
                tpp.get(&server, &format!("{AISP}/accounts/{hidden}{suffix}"), token)
                    .await
                    .assert_error(StatusCode::NOT_FOUND, "UK.OBIE.Resource.NotFound");
            }
        }

        // Balances: available and booked of each chosen account.
        let r = tpp.get(&server, &format!("{AISP}/balances"), token).await;
        let balances = r.body["Data"]["Balance"].as_array().unwrap();
        assert_eq!(balances.len(), 4, "{:#}", r.body);
        let b = &balances[0];
        assert_eq!(b["AccountId"], acc1.id.as_str());
        assert_eq!(b["Type"], "InterimAvailable");
        assert_eq!(balances[1]["Type"], "InterimBooked");
        assert_eq!(
            b["Amount"]["Amount"],
            decimal(acc1.balance_minor.unsigned_abs(), "GBP")
        );
        assert_eq!(b["Amount"]["Currency"], "GBP");
        assert_eq!(b["CreditDebitIndicator"], "Credit");
        assert!(b["DateTime"].as_str().unwrap().ends_with("+00:00"));
        let r = tpp
            .get(
                &server,
                &format!("{AISP}/accounts/{}/balances", acc2.id),
                token,
            )
            .await;
        assert_eq!(
            ids(&r.body["Data"]["Balance"], "AccountId"),
            [acc2.id.clone(), acc2.id.clone()]
        );

        // Beneficiaries with their accounts.
        let r = tpp
            .get(&server, &format!("{AISP}/beneficiaries"), token)
            .await;
        let list = &r.body["Data"]["Beneficiary"];
        let expected: Vec<String> = customer
            .beneficiaries
            .iter()
            .map(|b| b.id.clone())
            .collect();
        assert_eq!(ids(list, "BeneficiaryId"), expected);
        assert_eq!(
            list[0]["CreditorAccount"]["Name"],
            customer.beneficiaries[0].name.as_str()
        );
        assert_eq!(
            list[0]["CreditorAccount"]["Identification"],
            customer.beneficiaries[0].identification.as_str()
        );
        let r = tpp
            .get(
                &server,
                &format!("{AISP}/accounts/{}/beneficiaries", acc2.id),
                token,
            )
            .await;
        assert_eq!(r.body["Data"]["Beneficiary"].as_array().unwrap().len(), 1);

        // Transactions in detail, both directions.
        let r = tpp
            .get(
                &server,
                &format!("{AISP}/accounts/{}/transactions", acc2.id),
                token,
            )
            .await;
        let list = &r.body["Data"]["Transaction"];
        let expected: Vec<String> = customer
            .transactions_of(&acc2.id)
            .iter()
            .map(|t| t.id.clone())
            .collect();
        assert_eq!(ids(list, "TransactionId"), expected);
        assert_eq!(list[0]["TransactionInformation"], "Saving");
        assert_eq!(list[0]["Balance"]["Type"], "InterimBooked");
        assert_eq!(list[1]["CreditDebitIndicator"], "Debit");
        assert_eq!(list[1]["CreditorAccount"]["Name"], "Own current account");

        // A Basic consent for one account: fewer fields, credits only, no balances.
        let (_, basic) = authorised(
            &server,
            &tpp,
            &customer,
            &[
                "ReadAccountsBasic",
                "ReadBeneficiariesBasic",
                "ReadTransactionsBasic",
                "ReadTransactionsCredits",
            ],
            json!({}),
            &[0],
        )
        .await;
        let token = &basic.access_token;
        let r = tpp.get(&server, &format!("{AISP}/accounts"), token).await;
        let list = &r.body["Data"]["Account"];
        assert_eq!(ids(list, "AccountId"), [acc1.id.as_str()]);
        assert!(list[0].get("Account").is_none(), "{list}");
        assert_eq!(list[0]["Nickname"], acc1.nickname.as_str());
        let r = tpp
            .get(&server, &format!("{AISP}/beneficiaries"), token)
            .await;
        let list = r.body["Data"]["Beneficiary"].as_array().unwrap().clone();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|b| b.get("CreditorAccount").is_none()));
        assert_eq!(
            list[0]["Reference"],
            customer.beneficiaries[0].reference.as_str()
        );
        let r = tpp
            .get(&server, &format!("{AISP}/transactions"), token)
            .await;
        let list = r.body["Data"]["Transaction"].as_array().unwrap().clone();
        let credits = customer
            .transactions_of(&acc1.id)
            .iter()
            .filter(|t| t.amount_minor >= 0)
            .count();
        assert_eq!(list.len(), credits.min(25));
        assert_eq!(r.body["Meta"]["TotalPages"], credits.div_ceil(25));
        assert!(list.iter().all(|t| t["CreditDebitIndicator"] == "Credit"));
        assert!(
            list.iter()
                .all(|t| t.get("TransactionInformation").is_none()
                    && t.get("Balance").is_none()
                    && t.get("DebtorAccount").is_none())
        );
        for missing in ["balances", &format!("accounts/{}/balances", acc1.id)] {
            tpp.get(&server, &format!("{AISP}/{missing}"), token)
                .await
                .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        }
        // A balances-only consent cannot list accounts or transactions.
        let (_, balances_only) =
            authorised(&server, &tpp, &customer, &["ReadBalances"], json!({}), &[1]).await;
        for refused in ["accounts", "transactions", "beneficiaries"] {
            tpp.get(
                &server,
                &format!("{AISP}/{refused}"),
                &balances_only.access_token,
            )
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        }
        let r = tpp
            .get(
                &server,
                &format!("{AISP}/balances"),
                &balances_only.access_token,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        server.stop().await;
    }
}

/// The transactions of `account` booked in `[from, to]`, newest first.
fn booked_between<'a>(
    customer: &'a Customer,
    account: &str,
    from: UnixTime,
    to: UnixTime,
) -> Vec<&'a Transaction> {
    customer
        .transactions_of(account)
        .into_iter()
        .filter(|t| t.booked_at >= from && t.booked_at <= to)
        .collect()
}

#[tokio::test]
async fn transactions_are_paged_filtered_and_kept_to_the_consent_period() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "aisp-pages").await;
    let customer = seed_customer(&server, "pages-psu").await;
    let acc1 = customer.accounts[0].id.clone();
    let now = now();
    let (period_from, period_to) = (now - 40 * DAY, now - 5 * DAY);
    let (_, tokens) = authorised(
        &server,
        &tpp,
        &customer,
        DETAIL,
        json!({"TransactionFromDateTime": date_time(period_from), "TransactionToDateTime": date_time(period_to)}),
        &[0],
    )
    .await;
    let token = &tokens.access_token;
    let in_period = booked_between(&customer, &acc1, period_from, period_to);
    assert!(
        in_period.len() > 25 && in_period.len() <= 50,
        "{}",
        in_period.len()
    );

    // Two pages, followed through their links.
    let first = tpp
        .get(
            &server,
            &format!("{AISP}/accounts/{acc1}/transactions"),
            token,
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:#}", first.body);
    assert_eq!(first.body["Meta"]["TotalPages"], 2);
    let links = &first.body["Links"];
    assert!(links.get("Prev").is_none());
    assert_eq!(links["First"], links["Self"]);
    assert_eq!(links["Next"], links["Last"]);
    let second = tpp
        .get(&server, link_path(&server, &links["Next"]), token)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:#}", second.body);
    assert!(second.body["Links"].get("Next").is_none());
    assert_eq!(second.body["Links"]["Prev"], links["Self"]);
    let mut seen = ids(&first.body["Data"]["Transaction"], "TransactionId");
    assert_eq!(seen.len(), 25);
    seen.extend(ids(&second.body["Data"]["Transaction"], "TransactionId"));
    let expected: Vec<String> = in_period.iter().map(|t| t.id.clone()).collect();
    assert_eq!(
        seen, expected,
        "newest first, nothing outside the consent's period"
    );
    // The bulk resource agrees.
    let bulk = tpp
        .get(&server, &format!("{AISP}/transactions"), token)
        .await;
    assert_eq!(bulk.body["Data"], first.body["Data"]);
    tpp.get(&server, &format!("{AISP}/transactions?page=3"), token)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Field.Invalid");

    // Booking-date filters narrow the period, never widen it; an offset in them is ignored.
    let day = |t: UnixTime| date_time(t).trim_end_matches("+00:00").to_owned();
    let (from, to) = (now - 12 * DAY, now - 8 * DAY);
    let r = tpp
        .get(
            &server,
            &format!(
                "{AISP}/accounts/{acc1}/transactions?fromBookingDateTime={}&toBookingDateTime={}",
                day(from),
                day(to)
            ),
            token,
        )
        .await;
    let expected: Vec<String> = booked_between(&customer, &acc1, from, to)
        .iter()
        .map(|t| t.id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        ids(&r.body["Data"]["Transaction"], "TransactionId"),
        expected
    );
    assert_eq!(r.body["Meta"]["TotalPages"], 1);
    let r = tpp
        .get(
            &server,
            &format!(
                "{AISP}/transactions?fromBookingDateTime={}%2B05:00&toBookingDateTime={}",
                day(now - 100 * DAY),
                day(now)
            ),
            token,
        )
        .await;
    assert_eq!(
        r.body["Meta"]["TotalPages"], 2,
        "clipped to the consent: {:#}",
        r.body["Links"]
    );
    let r = tpp
        .get(
            &server,
            &format!(
                "{AISP}/transactions?fromBookingDateTime={}",
                day(now - 2 * DAY)
            ),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body["Data"]["Transaction"],
        json!([]),
        "after the consent's period"
    );
    for bad in [
        "fromBookingDateTime=last-week",
        "toBookingDateTime=2024-02-30T00:00:00",
    ] {
        tpp.get(&server, &format!("{AISP}/transactions?{bad}"), token)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Field.InvalidDate");
    }
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_checked_and_revocation_is_immediate() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "aisp-tokens").await;
    let other = Tpp::register(&server, "aisp-thief").await;
    let customer = seed_customer(&server, "tokens-psu").await;
    let (consent_id, tokens) = authorised(&server, &tpp, &customer, DETAIL, json!({}), &[0]).await;
    let token = tokens.access_token.as_str();
    let url = server.api(&format!("{AISP}/accounts"));

    // Scheme case-insensitive.
    let r = tpp
        .send(
            tpp.http
                .get(&url)
                .header("authorization", format!("bEARER {token}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    // Never in the query.
    let r = tpp
        .send(tpp.http.get(format!("{url}?access_token={token}")))
        .await;
    assert!(
        r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNAUTHORIZED,
        "{:#}",
        r.body
    );
    let r = tpp
        .send(
            tpp.http
                .get(format!("{url}?access_token={token}"))
                .bearer_auth(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:#}", r.body);
    // Presented without its certificate, or by another client.
    let plain = server.client_builder().build().unwrap();
    let r = tpp.send(plain.get(&url).bearer_auth(token)).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    other
        .get(&server, &format!("{AISP}/accounts"), token)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    tpp.get(&server, &format!("{AISP}/accounts"), "not-a-token")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    // A client_credentials token opens no account; a customer's token manages no consent.
    let cc = tpp.client_credentials_token(&server, "accounts").await;
    tpp.get(&server, &format!("{AISP}/accounts"), &cc)
        .await
        .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
    tpp.get(&server, &format!("{CONSENTS}/{consent_id}"), token)
        .await
        .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");

    // Another client cannot authorise this consent.
    let params = other
        .authorization_response(
            &server,
            &customer,
            &consent_id,
            "openid accounts",
            &Decision::Accounts(vec![]),
        )
        .await;
    assert!(
        params.contains_key("error") && !params.contains_key("code"),
        "{params:?}"
    );

    // Refused on the consent page: Rejected, access_denied.
    let refused = create_consent(&server, &tpp, &["ReadBalances"], json!({})).await;
    let params = tpp
        .authorization_response(
            &server,
            &customer,
            &refused,
            "openid accounts",
            &Decision::Deny,
        )
        .await;
    assert_eq!(params["error"], "access_denied");
    let r = tpp
        .get(&server, &format!("{CONSENTS}/{refused}"), &cc)
        .await;
    assert_eq!(r.body["Data"]["Status"], "Rejected");

    // The TPP deletes the consent: the very next call fails.
    let r = tpp
        .delete(&server, &format!("{CONSENTS}/{consent_id}"), &cc)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = tpp.get(&server, &format!("{AISP}/accounts"), token).await;
    assert!(
        r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::FORBIDDEN,
        "{:#}",
        r.body
    );
    // Its refresh token is dead too.
    let refresh = tokens.refresh_token.as_deref().expect("a refresh token");
    let r = tpp
        .token_request(
            &server,
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:#}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_consent_opens_nothing() {
    let clock = std::sync::Arc::new(FixedClock::new(now()));
    let server = TestServer::start_with_clock(TestDb::Sqlite, clock.clone(), |_| {}).await;
    let tpp = Tpp::register(&server, "aisp-expiry").await;
    let customer = seed_customer(&server, "expiry-psu").await;
    let (consent_id, tokens) = authorised(
        &server,
        &tpp,
        &customer,
        DETAIL,
        json!({"ExpirationDateTime": date_time(now() + 120)}),
        &[0],
    )
    .await;
    let cc = tpp.client_credentials_token(&server, "accounts").await;
    let r = tpp
        .get(&server, &format!("{AISP}/accounts"), &tokens.access_token)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    clock.advance(180);
    let r = tpp
        .get(&server, &format!("{AISP}/accounts"), &tokens.access_token)
        .await;
    r.assert_error(
        StatusCode::FORBIDDEN,
        "UK.OBIE.Resource.InvalidConsentStatus",
    );
    let r = tpp
        .get(&server, &format!("{CONSENTS}/{consent_id}"), &cc)
        .await;
    assert_eq!(r.body["Data"]["Status"], "Expired");
    assert_eq!(
        r.body["Data"]["StatusUpdateDateTime"],
        r.body["Data"]["ExpirationDateTime"]
    );
    server.stop().await;
}

#[tokio::test]
async fn dpop_bound_tokens_open_accounts_with_a_proof() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register_with(
        &server,
        "aisp-dpop",
        json!({"profile": "fapi2-security", "response_types": ["code"], "dpop_bound_access_tokens": true,
               "tls_client_certificate_bound_access_tokens": false}),
    )
    .await;
    let customer = seed_customer(&server, "dpop-psu").await;
    // Every token of this client is DPoP-bound, its client_credentials token too.
    let key = DpopKey::new();
    let token_url = format!("{}/token", server.mtls);
    let cc = tpp
        .token_request(
            &server,
            &[("grant_type", "client_credentials"), ("scope", "accounts")],
            Some(key.proof("POST", &token_url, None)),
        )
        .await;
    assert_eq!(cc.body["token_type"], "DPoP", "{:#}", cc.body);
    let cc = cc.body["access_token"].as_str().unwrap();
    let consents_url = server.api(CONSENTS);
    let created = tpp
        .send(
            tpp.http
                .post(&consents_url)
                .header("authorization", format!("DPoP {cc}"))
                .header("DPoP", key.proof("POST", &consents_url, Some(cc)))
                .json(&consent_body(DETAIL, json!({}))),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let consent_id = created.body["Data"]["ConsentId"].as_str().unwrap();
    let object = tpp.request_object_for(&server, consent_id, "openid accounts", "code");
    let url = tpp.push_with(&server, &object, Some(&key)).await;
    let location = crate::support::browse(
        &server,
        &url,
        &customer,
        &Decision::Accounts(vec![customer.accounts[1].id.clone()]),
    )
    .await;
    let params = crate::support::response_params(&location);
    let tokens = tpp
        .exchange_code(
            &server,
            params["code"].as_str().expect("a code"),
            Some(&key),
        )
        .await;
    assert_eq!(tokens.body["token_type"], "DPoP");
    let url = server.api(&format!("{AISP}/accounts"));
    let token = &tokens.access_token;
    let r = tpp
        .send(
            tpp.http
                .get(&url)
                .header("authorization", format!("DPoP {token}"))
                .header("DPoP", key.proof("GET", &url, Some(token))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(
        ids(&r.body["Data"]["Account"], "AccountId"),
        [customer.accounts[1].id.clone()]
    );
    // Without a proof, or as a Bearer token, it is refused.
    let r = tpp
        .send(
            tpp.http
                .get(&url)
                .header("authorization", format!("DPoP {token}")),
        )
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    let r = tpp.get(&server, &format!("{AISP}/accounts"), token).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    server.stop().await;
}

#[tokio::test]
async fn fapi_headers_and_http_errors() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "aisp-headers").await;
    let customer = seed_customer(&server, "headers-psu").await;
    let (_, tokens) = authorised(&server, &tpp, &customer, DETAIL, json!({}), &[0]).await;
    let token = tokens.access_token.as_str();
    let url = server.api(&format!("{AISP}/accounts"));
    let get = |headers: &[(&str, &str)]| {
        let mut request = tpp.http.get(&url).bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };

    // The interaction id is echoed, or made.
    let id = "93bac548-d2de-4546-b106-880a5018460d";
    let r = tpp.send(get(&[("x-fapi-interaction-id", id)])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-fapi-interaction-id"], id);
    assert!(r.headers.contains_key("date"));
    let r = tpp.send(get(&[])).await;
    let made = r.headers["x-fapi-interaction-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    // Customer addresses of both families, an auth date, and the Accept variants suites send.
    for headers in [
        &[("x-fapi-customer-ip-address", "198.51.100.7")][..],
        &[("x-fapi-customer-ip-address", "2001:db8::1")],
        &[("x-fapi-auth-date", "Sun, 10 Sep 2017 19:43:31 GMT")],
        &[("accept", "application/json;charset=UTF-8")],
        &[("accept", "application/json, application/*+json, */*")],
        &[("accept", "*/*")],
    ] {
        let r = tpp.send(get(headers)).await;
        assert_eq!(r.status, StatusCode::OK, "{headers:?}: {:#}", r.body);
    }
    tpp.send(get(&[("x-fapi-customer-ip-address", "not-an-address")]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Header.Invalid");
    tpp.send(get(&[("x-fapi-auth-date", "yesterday")]))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Header.Invalid");
    let r = tpp
        .send(get(&[
            ("accept", "application/xml"),
            ("x-fapi-interaction-id", id),
        ]))
        .await;
    r.assert_error(StatusCode::NOT_ACCEPTABLE, "UK.OBIE.NotAcceptable");
    assert_eq!(
        r.headers["x-fapi-interaction-id"], id,
        "errors carry the interaction id too"
    );
    assert!(r.headers.contains_key("date"));

    // Wrong method, unknown path.
    let r = tpp.send(tpp.http.delete(&url).bearer_auth(token)).await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "UK.OBIE.MethodNotAllowed");
    let r = tpp
        .send(tpp.http.put(&url).bearer_auth(token).json(&json!({})))
        .await;
    r.assert_error(StatusCode::METHOD_NOT_ALLOWED, "UK.OBIE.MethodNotAllowed");
    let r = tpp
        .get(
            &server,
            &format!("{AISP}/standing-orders-of-the-moon"),
            token,
        )
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "UK.OBIE.Resource.NotFound");
    assert!(r.headers.contains_key("date"));
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_is_served_without_a_token() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "aisp-openapi").await;
    let r = tpp
        .send(tpp.http.get(server.api("/open-banking/v3.1/openapi.json")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:#}", r.body);
    assert_eq!(r.body["openapi"], "3.0.3");
    assert_eq!(r.body["servers"][0]["url"], server.resource.as_str());
    let paths = r.body["paths"].as_object().unwrap();
    for path in [
        "/open-banking/v3.1/aisp/account-access-consents",
        "/open-banking/v3.1/aisp/accounts/{AccountId}/transactions",
        "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}/payment-details",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    assert_eq!(
        r.body["components"]["securitySchemes"]["TPPOAuth2Security"]["flows"]["clientCredentials"]
            ["tokenUrl"],
        format!("{}/token", server.mtls)
    );
    server.stop().await;
}
