//! UK Open Banking consents through the real flow: the authorization request binds a consent
//! with `openbanking_intent_id`, the customer sees it in plain words, chooses accounts or the
//! account to pay from, and approves or refuses; the tokens carry the consent.

use consentry_server::consent::{Actor, ConsentStatus};
use consentry_server::store::{
    Account, BankSeed, ConsentInsert, ConsentRecord, ConsentStore as _, LedgerStore as _,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fapi::{
    CHALLENGE, REDIRECT, Tpp, VERIFIER, now, post_token, response_params, verify_server_jwt,
};
use crate::support::{TestDb, TestServer, add_customer, add_customer_with_phone, csrf_of, log_in};

pub(crate) const PASSWORD: &str = "consent-password-1";

/// A customer with accounts: `(currency, nickname)` each; returns the user id and account ids.
pub(crate) async fn customer_with_accounts(
    server: &TestServer,
    username: &str,
    accounts: &[(&str, &str)],
) -> (String, Vec<String>) {
    customer_with_phone_and_accounts(server, username, None, accounts).await
}

/// [`customer_with_accounts`], with a phone number for one-time codes when given.
pub(crate) async fn customer_with_phone_and_accounts(
    server: &TestServer,
    username: &str,
    phone: Option<&str>,
    accounts: &[(&str, &str)],
) -> (String, Vec<String>) {
    let user_id = add_customer_with_phone(server, username, PASSWORD, phone).await;
    let accounts: Vec<Account> = accounts
        .iter()
        .enumerate()
        .map(|(i, (currency, nickname))| Account {
            id: format!("{username}-acc-{i}"),
            owner_user_id: user_id.clone(),
            account_type: "Personal".to_owned(),
            account_subtype: "CurrentAccount".to_owned(),
            currency: (*currency).to_owned(),
            nickname: (*nickname).to_owned(),
            scheme_name: "UK.OBIE.SortCodeAccountNumber".to_owned(),
            identification: format!("1122330000{i:04}"),
            holder_name: format!("{username} Example"),
            balance_minor: 100_000,
            opened_at: i as i64,
        })
        .collect();
    let ids = accounts.iter().map(|a| a.id.clone()).collect();
    let seed = BankSeed {
        accounts,
        ..BankSeed::default()
    };
    assert!(
        server
            .state()
            .store
            .seed_once(&format!("test-accounts-{username}"), &seed)
            .await
            .unwrap()
    );
    (user_id, ids)
}

pub(crate) fn waiting_consent(id: &str, kind: &str, client_id: &str) -> ConsentRecord {
    let now = now();
    ConsentRecord {
        id: id.to_owned(),
        kind: kind.to_owned(),
        client_id: client_id.to_owned(),
        status: "AwaitingAuthorisation".to_owned(),
        status_updated_at: now,
        created_at: now,
        expires_at: Some(now + 86_400 * 90),
        user_id: None,
        permissions: None,
        tx_from: None,
        tx_to: None,
        debtor_account_id: None,
        amount_minor: None,
        currency: None,
        body: "{}".to_owned(),
        idempotency_key: None,
        request_hash: None,
        authorised_at: None,
        last_used_at: None,
    }
}

pub(crate) fn account_access(id: &str, client_id: &str) -> ConsentRecord {
    ConsentRecord {
        permissions: Some(
            json!([
                "ReadAccountsDetail",
                "ReadBalances",
                "ReadTransactionsCredits",
                "ReadTransactionsDetail"
            ])
            .to_string(),
        ),
        // 1 January 2024 to 31 March 2024.
        tx_from: Some(1_704_067_200),
        tx_to: Some(1_711_843_200),
        body: json!({"Data": {"Permissions": ["ReadAccountsDetail"]}, "Risk": {}}).to_string(),
        ..waiting_consent(id, "account-access", client_id)
    }
}

pub(crate) fn payment(id: &str, client_id: &str, debtor: Option<&str>) -> ConsentRecord {
    let mut initiation = json!({
        "InstructionIdentification": "instr-1",
        "EndToEndIdentification": "e2e-1",
        "InstructedAmount": {"Amount": "165.88", "Currency": "GBP"},
        "CreditorAccount": {
            "SchemeName": "UK.OBIE.SortCodeAccountNumber",
            "Identification": "08080021325698",
            "Name": "ACME Inc"
        },
        "RemittanceInformation": {"Reference": "FRESCO-101", "Unstructured": "Internal ops code 5120101"}
    });
    if debtor.is_some() {
        initiation["DebtorAccount"] = json!({
            "SchemeName": "UK.OBIE.SortCodeAccountNumber", "Identification": "11223300000001"
        });
    }
    ConsentRecord {
        amount_minor: Some(16_588),
        currency: Some("GBP".to_owned()),
        debtor_account_id: debtor.map(str::to_owned),
        body: json!({"Data": {"Initiation": initiation}, "Risk": {}}).to_string(),
        ..waiting_consent(id, "domestic-payment", client_id)
    }
}

pub(crate) async fn insert(server: &TestServer, consent: &ConsentRecord) {
    let r = server
        .state()
        .store
        .insert_consent(consent, &Actor::Tpp(consent.client_id.clone()))
        .await
        .unwrap();
    assert_eq!(r, ConsentInsert::Inserted);
}

/// The claims parameter binding `consent_id`, with the acr request the OBUK profile sends.
pub(crate) fn intent_claims(consent_id: &str) -> Value {
    json!({
        "id_token": {
            "openbanking_intent_id": {"value": consent_id, "essential": true},
            "acr": {"essential": true, "values": ["urn:openbanking:psd2:sca", "urn:openbanking:psd2:ca"]}
        },
        "userinfo": {"openbanking_intent_id": {"value": consent_id, "essential": true}}
    })
}

/// Pushes an authorization request; returns the authorization URL.
pub(crate) async fn push(server: &TestServer, tpp: &Tpp, scope: &str, claims: &Value) -> String {
    let mut form = tpp.auth_params(&server.public);
    for (k, v) in [
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("claims", &claims.to_string()),
    ] {
        form.push((k.to_owned(), v.to_owned()));
    }
    let r = tpp
        .mtls(server)
        .post(format!("{}/par", server.mtls))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    let body: Value = r.json().await.unwrap();
    format!(
        "{}/authorize?client_id={}&request_uri={}",
        server.public,
        tpp.client_id,
        consentry_server::protocol::redirect::urlencode(body["request_uri"].as_str().unwrap())
    )
}

/// The response parameters of a redirect back to the client.
pub(crate) fn callback(r: &reqwest::Response) -> serde_json::Map<String, Value> {
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    response_params(location)
}

/// Opens the authorization URL and logs `username` in; the response of the step after login.
pub(crate) async fn sign_in_and_resume(
    server: &TestServer,
    browser: &reqwest::Client,
    url: &str,
    username: &str,
) -> reqwest::Response {
    let r = browser.get(url).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let resume = format!("{}/authorize/resume", server.public);
    let r = browser.get(&resume).send().await.unwrap();
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login"),
        "not signed in yet"
    );
    let r = log_in(server, browser, username, PASSWORD, "/authorize/resume").await;
    assert_eq!(r.headers()["location"], "/authorize/resume");
    browser.get(&resume).send().await.unwrap()
}

/// Opens the authorization URL, logs `username` in and returns the consent page.
async fn to_consent_page(
    server: &TestServer,
    browser: &reqwest::Client,
    url: &str,
    username: &str,
) -> (StatusCode, String) {
    let r = sign_in_and_resume(server, browser, url, username).await;
    (r.status(), r.text().await.unwrap())
}

/// Opens the authorization URL in a signed-in browser; the consent page.
async fn resume_page(server: &TestServer, browser: &reqwest::Client, url: &str) -> String {
    let r = browser.get(url).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/authorize/resume");
    browser
        .get(format!("{}/authorize/resume", server.public))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub(crate) async fn decide(
    server: &TestServer,
    browser: &reqwest::Client,
    page: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let csrf = csrf_of(page);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    browser
        .post(format!("{}/authorize/decision", server.public))
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn consent_of(server: &TestServer, id: &str) -> ConsentRecord {
    server.state().store.consent(id).await.unwrap().unwrap()
}

/// Redeems `code`; returns the token response.
pub(crate) async fn redeem(server: &TestServer, tpp: &Tpp, code: &str) -> Value {
    let mut form = tpp.auth_params(&server.public);
    form.extend([
        ("grant_type".to_owned(), "authorization_code".to_owned()),
        ("code".to_owned(), code.to_owned()),
        ("redirect_uri".to_owned(), REDIRECT.to_owned()),
        ("code_verifier".to_owned(), VERIFIER.to_owned()),
    ]);
    let (status, _, body) = post_token(server, &tpp.mtls(server), &form, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn an_account_access_consent_is_shown_chosen_for_and_carried_in_the_tokens() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "ais-client", "fapi2-security", json!({})).await;
    let (user_id, accounts) =
        customer_with_accounts(&server, "ada", &[("GBP", "Everyday"), ("GBP", "Rainy day")]).await;
    let (_, others) = customer_with_accounts(&server, "bob", &[("GBP", "Bob's")]).await;
    insert(&server, &account_access("aac-1", &tpp.client_id)).await;

    let url = push(&server, &tpp, "openid accounts", &intent_claims("aac-1")).await;
    let browser = server.browser();
    let (status, page) = to_consent_page(&server, &browser, &url, "ada").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for expected in [
        "ais-client app",
        "Your account names, numbers and sort codes",
        "Your account balances",
        "Money coming into your accounts",
        "From 1 January 2024 to 31 March 2024",
        "id=\"consent-expiry\"",
        "name=\"csrf_token\"",
        "name=\"consent_id\" value=\"aac-1\"",
        "id=\"consent-approve\"",
        "id=\"consent-deny\"",
        "Everyday",
        "Rainy day",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    for id in &accounts {
        assert!(
            page.contains(&format!(
                "type=\"checkbox\" name=\"account\" value=\"{id}\" id=\"account-{id}\" checked"
            )),
            "{id} offered, ticked by default: {page}"
        );
    }
    assert!(!page.contains(&others[0]), "only the customer's accounts");

    // Another customer's account in the form is refused; nothing changes.
    let r = decide(
        &server,
        &browser,
        &page,
        &[("decision", "approve"), ("account", &others[0])],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        consent_of(&server, "aac-1").await.status,
        "AwaitingAuthorisation"
    );
    // No account: the page again, with a message and nothing ticked.
    let r = decide(&server, &browser, &page, &[("decision", "approve")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let again = r.text().await.unwrap();
    assert!(again.contains("id=\"consent-error\""), "{again}");
    assert!(!again.contains(" checked"), "{again}");

    let r = decide(
        &server,
        &browser,
        &again,
        &[
            ("decision", "approve"),
            ("consent_id", "aac-1"),
            ("account", &accounts[1]),
        ],
    )
    .await;
    let params = callback(&r);
    assert_eq!(params["state"], "st-1");
    let consent = consent_of(&server, "aac-1").await;
    assert_eq!(consent.status, "Authorised");
    assert_eq!(consent.user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(
        server
            .state()
            .store
            .consent_accounts("aac-1")
            .await
            .unwrap(),
        [accounts[1].clone()]
    );
    // History rows of one second have no order among themselves.
    let history = server.state().store.consent_history("aac-1").await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.status == "Authorised" && h.actor == format!("psu:{user_id}")),
        "{history:?}"
    );

    let tokens = redeem(&server, &tpp, params["code"].as_str().unwrap()).await;
    assert_eq!(tokens["scope"], "openid accounts");
    let id_token = verify_server_jwt(&server, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id_token["openbanking_intent_id"], "aac-1");
    assert_eq!(
        id_token["acr"], "urn:openbanking:psd2:ca",
        "a password login is not SCA"
    );
    let userinfo: Value = tpp
        .mtls(&server)
        .get(format!("{}/userinfo", server.mtls))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["openbanking_intent_id"], "aac-1", "{userinfo}");
    assert_eq!(userinfo["sub"], user_id.as_str());

    // The consent is answered: the same intent cannot be authorised again.
    let url = push(&server, &tpp, "openid accounts", &intent_claims("aac-1")).await;
    let params = callback(&server.browser().get(&url).send().await.unwrap());
    assert_eq!(params["error"], "invalid_request");
    server.stop().await;
}

#[tokio::test]
async fn another_clients_unknown_or_unwaiting_consent_is_refused_at_the_authorization_endpoint() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let owner = Tpp::register(&server, "owner-client", "fapi2-security", json!({})).await;
    let other = Tpp::register(&server, "other-client", "fapi2-security", json!({})).await;
    insert(&server, &account_access("mine", &owner.client_id)).await;
    let expired = ConsentRecord {
        expires_at: Some(now() - 1),
        ..account_access("expired", &owner.client_id)
    };
    insert(&server, &expired).await;
    insert(&server, &payment("pay-1", &owner.client_id, None)).await;
    let mut refused = Vec::new();
    for (tpp, consent, scope) in [
        // ensure-server-handles-non-matching-intent-id: client1's consent with client2.
        (&other, "mine", "openid accounts"),
        (&owner, "no-such-consent", "openid accounts"),
        (&owner, "expired", "openid accounts"),
        // The scope decides the kind: a payment consent with the accounts scope.
        (&owner, "pay-1", "openid accounts"),
    ] {
        let url = push(&server, tpp, scope, &intent_claims(consent)).await;
        let r = server.browser().get(&url).send().await.unwrap();
        let params = callback(&r);
        assert_eq!(
            (params["error"].as_str(), params["state"].as_str()),
            (Some("invalid_request"), Some("st-1")),
            "{consent}"
        );
        assert_eq!(params["iss"], server.public.as_str());
        refused.push(params["error_description"].clone());
    }
    assert_eq!(
        refused[0], refused[1],
        "another client's consent is answered like an unknown one"
    );
    assert_eq!(
        consent_of(&server, "mine").await.status,
        "AwaitingAuthorisation"
    );
    // Without an intent the accounts scope gets the plain approval page: no consent, so the
    // resource APIs give its tokens nothing.
    add_customer(&server, "carol", PASSWORD).await;
    let url = push(&server, &owner, "openid accounts", &json!({})).await;
    let (status, page) = to_consent_page(&server, &server.browser(), &url, "carol").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"consent-scopes\""), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn refusing_rejects_the_consent_and_returns_access_denied() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "deny-client", "fapi2-security", json!({})).await;
    let (user_id, _) = customer_with_accounts(&server, "dan", &[("GBP", "Main")]).await;
    insert(&server, &account_access("deny-1", &tpp.client_id)).await;
    let url = push(&server, &tpp, "openid accounts", &intent_claims("deny-1")).await;
    let browser = server.browser();
    let (_, page) = to_consent_page(&server, &browser, &url, "dan").await;
    let r = decide(&server, &browser, &page, &[("decision", "deny")]).await;
    let params = callback(&r);
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        (Some("access_denied"), Some("st-1"))
    );
    let consent = consent_of(&server, "deny-1").await;
    assert_eq!(consent.status, ConsentStatus::Rejected.as_str());
    let history = server
        .state()
        .store
        .consent_history("deny-1")
        .await
        .unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.status == "Rejected" && h.actor == format!("psu:{user_id}")),
        "{history:?}"
    );
    assert!(
        server
            .state()
            .store
            .consent_accounts("deny-1")
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_payment_shows_payee_amount_and_reference_and_the_debtor_to_choose() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "pis-client", "fapi2-security", json!({})).await;
    let (_, accounts) = customer_with_accounts(
        &server,
        "eve",
        &[("GBP", "Everyday"), ("EUR", "Euro"), ("GBP", "Bills")],
    )
    .await;
    insert(&server, &payment("pay-open", &tpp.client_id, None)).await;
    let url = push(&server, &tpp, "openid payments", &intent_claims("pay-open")).await;
    let browser = server.browser();
    let (status, page) = to_consent_page(&server, &browser, &url, "eve").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for expected in [
        "pis-client app",
        "ACME Inc",
        "Sort code 08-08-00, account 21325698",
        "<span id=\"payment-value\">165.88</span>",
        "<span id=\"payment-currency\">GBP</span>",
        "FRESCO-101",
        "Internal ops code 5120101",
        "name=\"csrf_token\"",
        "id=\"consent-approve\"",
        "id=\"consent-deny\"",
        &format!(
            "type=\"radio\" name=\"debtor_account\" value=\"{0}\" id=\"debtor-{0}\" checked",
            accounts[0]
        ),
        &format!(
            "type=\"radio\" name=\"debtor_account\" value=\"{0}\" id=\"debtor-{0}\">",
            accounts[2]
        ),
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    assert!(
        !page.contains(&format!("debtor-{}", accounts[1])),
        "only accounts in the payment's currency"
    );
    // The euro account is not one to pay from.
    let r = decide(
        &server,
        &browser,
        &page,
        &[("decision", "approve"), ("debtor_account", &accounts[1])],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = decide(
        &server,
        &browser,
        &page,
        &[("decision", "approve"), ("debtor_account", &accounts[2])],
    )
    .await;
    let params = callback(&r);
    assert!(params.contains_key("code"));
    let consent = consent_of(&server, "pay-open").await;
    assert_eq!(consent.status, "Authorised");
    assert_eq!(
        consent.debtor_account_id.as_deref(),
        Some(accounts[2].as_str())
    );
    let tokens = redeem(&server, &tpp, params["code"].as_str().unwrap()).await;
    let id_token = verify_server_jwt(&server, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id_token["openbanking_intent_id"], "pay-open");

    // A debtor the TPP fixed is shown, not chosen.
    insert(
        &server,
        &payment("pay-fixed", &tpp.client_id, Some(&accounts[0])),
    )
    .await;
    let url = push(
        &server,
        &tpp,
        "openid payments",
        &intent_claims("pay-fixed"),
    )
    .await;
    let page = resume_page(&server, &browser, &url).await;
    assert!(page.contains("id=\"payment-debtor\""), "{page}");
    assert!(!page.contains("name=\"debtor_account\""), "{page}");
    let r = decide(&server, &browser, &page, &[("decision", "approve")]).await;
    assert!(callback(&r).contains_key("code"));
    assert_eq!(
        consent_of(&server, "pay-fixed")
            .await
            .debtor_account_id
            .as_deref(),
        Some(accounts[0].as_str())
    );

    // A debtor account of another customer: the payment cannot be approved by this one.
    let (_, theirs) = customer_with_accounts(&server, "fay", &[("GBP", "Fay's")]).await;
    insert(
        &server,
        &payment("pay-theirs", &tpp.client_id, Some(&theirs[0])),
    )
    .await;
    let url = push(
        &server,
        &tpp,
        "openid payments",
        &intent_claims("pay-theirs"),
    )
    .await;
    let page = resume_page(&server, &browser, &url).await;
    assert!(page.contains("id=\"consent-blocked\""), "{page}");
    assert!(!page.contains("id=\"consent-approve\""), "{page}");
    let r = decide(&server, &browser, &page, &[("decision", "approve")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        consent_of(&server, "pay-theirs").await.status,
        "AwaitingAuthorisation"
    );
    server.stop().await;
}

#[tokio::test]
async fn essential_sca_is_refused_while_logins_use_one_factor() {
    // test-essential-acr-sca-claim accepts access_denied; a password login is not SCA and no
    // second factor exists yet, so claiming SCA would be false.
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "sca-client", "fapi2-security", json!({})).await;
    customer_with_accounts(&server, "gus", &[("GBP", "Main")]).await;
    insert(&server, &account_access("sca-1", &tpp.client_id)).await;
    let claims = json!({"id_token": {
        "openbanking_intent_id": {"value": "sca-1", "essential": true},
        "acr": {"essential": true, "value": "urn:openbanking:psd2:sca"}
    }});
    let url = push(&server, &tpp, "openid accounts", &claims).await;
    let r = sign_in_and_resume(&server, &server.browser(), &url, "gus").await;
    let params = callback(&r);
    assert_eq!(
        (params["error"].as_str(), params["state"].as_str()),
        (Some("access_denied"), Some("st-1"))
    );
    assert_eq!(
        consent_of(&server, "sca-1").await.status,
        "AwaitingAuthorisation"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_consent_that_expires_on_the_page_cannot_be_approved() {
    let clock = std::sync::Arc::new(consentry_server::clock::FixedClock::new(now()));
    let server = TestServer::start_with_clock(TestDb::Sqlite, clock.clone(), |_| {}).await;
    let tpp = Tpp::register(&server, "late-client", "fapi2-security", json!({})).await;
    let (_, accounts) = customer_with_accounts(&server, "hal", &[("GBP", "Main")]).await;
    use consentry_server::clock::Clock as _;
    let short = ConsentRecord {
        expires_at: Some(clock.now() + 120),
        ..account_access("late-1", &tpp.client_id)
    };
    insert(&server, &short).await;
    let url = push(&server, &tpp, "openid accounts", &intent_claims("late-1")).await;
    let browser = server.browser();
    let (status, page) = to_consent_page(&server, &browser, &url, "hal").await;
    assert_eq!(status, StatusCode::OK);
    clock.advance(121);
    let r = decide(
        &server,
        &browser,
        &page,
        &[("decision", "approve"), ("account", &accounts[0])],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("can no longer be approved"),
        "an error page, not a code: {page}"
    );
    assert!(
        server
            .state()
            .store
            .consent_accounts("late-1")
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await;
}
