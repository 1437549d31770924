//! The payment initiation APIs through the real listeners: domestic-payment consents with
//! idempotency and message signing, the customer's authorisation through the real flow, funds
//! confirmation, payments that debit and credit the ledger once, settlement, and 50 concurrent
//! submissions of one idempotency key, on SQLite and PostgreSQL.

use std::sync::Arc;

use consentry_resource_apis::jws::{self, Expected, TRUST_ANCHOR};
use consentry_server::clock::{FixedClock, UnixTime};
use consentry_server::keys::SigningAlg;
use consentry_server::store::{
    ConsentStore as _, EventStore as _, LedgerStore as _, PaymentStore as _, settlement_account_id,
};
use josekit::jws::{JwsSigner as _, PS256};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value, json};

use crate::support::{
    Customer, Decision, PISP, TestServer, Tokens, Tpp, databases, now, seed_customer,
};

/// A creditor at another bank.
const ELSEWHERE: &str = "40400412345678";

fn consents() -> String {
    format!("{PISP}/domestic-payment-consents")
}

fn payments() -> String {
    format!("{PISP}/domestic-payments")
}

fn account(scheme: &str, identification: &str, name: &str) -> Value {
    json!({ "SchemeName": scheme, "Identification": identification, "Name": name })
}

fn sort_code(identification: &str) -> Value {
    account("UK.OBIE.SortCodeAccountNumber", identification, "Payee Ltd")
}

/// An `OBWriteDomesticConsent4` paying `amount` GBP to `creditor` with `reference`.
fn consent_request(amount: &str, creditor: Value, reference: &str) -> Value {
    json!({
        "Data": { "Initiation": {
            "InstructionIdentification": "ACME412",
            "EndToEndIdentification": "FRESCO.21302.GFX.20",
            "InstructedAmount": { "Amount": amount, "Currency": "GBP" },
            "CreditorAccount": creditor,
            "RemittanceInformation": { "Reference": reference, "Unstructured": "Order 5120101" },
        }},
        "Risk": { "PaymentContextCode": "EcommerceGoods" },
    })
}

/// The `OBWriteDomestic2` of a consent made from `request`.
fn payment_request(consent_id: &str, request: &Value) -> Value {
    json!({
        "Data": { "ConsentId": consent_id, "Initiation": request["Data"]["Initiation"] },
        "Risk": request["Risk"],
    })
}

/// The JOSE header a TPP signs with, as the 3.1.3 profile has it.
fn tpp_header(tpp: &Tpp) -> Map<String, Value> {
    jws::response_header(
        SigningAlg::PS256,
        tpp.key.key_id().unwrap(),
        &tpp.client_id,
        now(),
    )
}

fn sign_as(tpp: &Tpp, header: &Map<String, Value>, body: &[u8]) -> String {
    let signer = PS256.signer_from_jwk(&tpp.key).unwrap();
    jws::sign_detached(header, body, |input| signer.sign(input)).unwrap()
}

/// A response with the exact bytes of its body.
#[derive(Debug)]
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
    body: Value,
}

impl Raw {
    async fn send(request: reqwest::RequestBuilder) -> Raw {
        Raw::read(request.send().await.unwrap()).await
    }

    async fn read(r: reqwest::Response) -> Raw {
        let (status, headers) = (r.status(), r.headers().clone());
        let bytes = r.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Raw {
            status,
            headers,
            bytes,
            body,
        }
    }

    fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{:#}", self.body);
        let codes: Vec<&str> = self.body["Errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["ErrorCode"].as_str()).collect())
            .unwrap_or_default();
        assert!(codes.contains(&code), "expected {code}: {:#}", self.body);
    }

    fn assert_status(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{:#}", self.body);
    }
}

/// A POST of `body` (exactly these bytes) with the headers given.
fn post_request(
    server: &TestServer,
    tpp: &Tpp,
    path: &str,
    token: &str,
    body: &[u8],
    key: Option<&str>,
    signature: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = tpp
        .http
        .post(server.api(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("x-fapi-interaction-id", uuid::Uuid::new_v4().to_string())
        .body(body.to_vec());
    if let Some(k) = key {
        request = request.header("x-idempotency-key", k);
    }
    if let Some(s) = signature {
        request = request.header("x-jws-signature", s);
    }
    request
}

/// A correctly signed POST of `body` under idempotency key `key`.
async fn post_signed(
    server: &TestServer,
    tpp: &Tpp,
    path: &str,
    token: &str,
    body: &Value,
    key: &str,
) -> Raw {
    let bytes = serde_json::to_vec(body).unwrap();
    let signature = sign_as(tpp, &tpp_header(tpp), &bytes);
    Raw::send(post_request(
        server,
        tpp,
        path,
        token,
        &bytes,
        Some(key),
        Some(&signature),
    ))
    .await
}

async fn get_raw(server: &TestServer, tpp: &Tpp, path: &str, token: &str) -> Raw {
    let r = tpp
        .http
        .get(server.api(path))
        .bearer_auth(token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    Raw::read(r).await
}

/// Verifies the response's `x-jws-signature` with the bank's published keys.
async fn assert_signed_by_bank(server: &TestServer, raw: &Raw, at: UnixTime) {
    let jwks: Value = server
        .client_builder()
        .build()
        .unwrap()
        .get(format!("{}/jwks", server.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signature = raw
        .headers
        .get("x-jws-signature")
        .unwrap_or_else(|| panic!("unsigned response: {:#}", raw.body))
        .to_str()
        .unwrap();
    let issuers = vec![server.public.clone()];
    let expected = Expected {
        issuers: &issuers,
        trust_anchor: TRUST_ANCHOR,
        now: at,
    };
    let verified = jws::verify_detached(signature, &raw.bytes, &jwks, &expected)
        .unwrap_or_else(|e| panic!("the response signature does not verify: {e}"));
    assert!(verified.unencoded);
    let mut tampered = raw.bytes.clone();
    tampered.push(b'\n');
    assert!(jws::verify_detached(signature, &tampered, &jwks, &expected).is_err());
}

async fn create_consent(server: &TestServer, tpp: &Tpp, token: &str, request: &Value) -> String {
    let key = uuid::Uuid::new_v4().to_string();
    let r = post_signed(server, tpp, &consents(), token, request, &key).await;
    r.assert_status(StatusCode::CREATED);
    r.body["Data"]["ConsentId"].as_str().unwrap().to_owned()
}

/// A consent for `request`, authorised by `customer` paying from `debtor` through the real flow.
async fn authorised(
    server: &TestServer,
    tpp: &Tpp,
    customer: &Customer,
    request: &Value,
    debtor: Option<&str>,
) -> (String, Tokens) {
    let token = tpp.client_credentials_token(server, "payments").await;
    let consent_id = create_consent(server, tpp, &token, request).await;
    let tokens = tpp
        .authorise(
            server,
            customer,
            &consent_id,
            "openid payments",
            Decision::Payment {
                debtor_account: debtor.map(str::to_owned),
            },
        )
        .await;
    (consent_id, tokens)
}

async fn balance(server: &TestServer, account_id: &str) -> i64 {
    server
        .store()
        .ledger_account(account_id)
        .await
        .unwrap()
        .map_or(0, |a| a.balance_minor)
}

/// The postings of an account described `reference`.
async fn postings(server: &TestServer, account_id: &str, reference: &str) -> Vec<i64> {
    server
        .store()
        .transactions(account_id, 0, i64::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.description == reference)
        .map(|t| t.amount_minor)
        .collect()
}

#[tokio::test]
async fn consents_are_validated_stored_replayed_and_signed() {
    for db in databases().await {
        let server = TestServer::start(db.clone()).await;
        let tpp = Tpp::register(&server, "pisp-consents").await;
        let other = Tpp::register(&server, "pisp-other").await;
        let customer = seed_customer(&server, "consent-psu").await;
        let token = tpp.client_credentials_token(&server, "payments").await;
        let request = consent_request("165.88", sort_code(ELSEWHERE), "FRESCO-101");

        let first = post_signed(&server, &tpp, &consents(), &token, &request, "key-1").await;
        first.assert_status(StatusCode::CREATED);
        let data = &first.body["Data"];
        let consent_id = data["ConsentId"].as_str().unwrap().to_owned();
        assert_eq!(data["Status"], "AwaitingAuthorisation", "{}", db.name());
        assert_eq!(data["Initiation"], request["Data"]["Initiation"]);
        assert!(data["CreationDateTime"].is_string() && data["StatusUpdateDateTime"].is_string());
        assert_eq!(first.body["Risk"], request["Risk"]);
        assert_eq!(
            first.body["Links"]["Self"],
            server.api(&format!("{}/{consent_id}", consents()))
        );
        assert!(first.body["Meta"].is_object());
        assert_signed_by_bank(&server, &first, now() + 5).await;
        let stored = server.store().consent(&consent_id).await.unwrap().unwrap();
        assert_eq!(
            (
                stored.amount_minor,
                stored.currency.as_deref(),
                stored.kind.as_str()
            ),
            (Some(16_588), Some("GBP"), "domestic-payment")
        );
        assert_eq!(stored.debtor_account_id, None);

        // The same key and body, even spelled differently: the same consent.
        let pretty = serde_json::to_vec_pretty(&request).unwrap();
        let signature = sign_as(&tpp, &tpp_header(&tpp), &pretty);
        let again = Raw::send(post_request(
            &server,
            &tpp,
            &consents(),
            &token,
            &pretty,
            Some("key-1"),
            Some(&signature),
        ))
        .await;
        again.assert_status(StatusCode::CREATED);
        assert_eq!(again.body["Data"]["ConsentId"], consent_id.as_str());
        // The same key with another body: refused, nothing stored.
        let changed = consent_request("165.89", sort_code(ELSEWHERE), "FRESCO-101");
        post_signed(&server, &tpp, &consents(), &token, &changed, "key-1")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Header.Invalid");
        // Another client may use the same key for its own consent.
        let other_token = other.client_credentials_token(&server, "payments").await;
        let theirs = post_signed(
            &server,
            &other,
            &consents(),
            &other_token,
            &request,
            "key-1",
        )
        .await;
        theirs.assert_status(StatusCode::CREATED);
        assert_ne!(theirs.body["Data"]["ConsentId"], consent_id.as_str());

        // Reading: the owner with a client credentials token; another client is refused; an id
        // that names nothing is a 400.
        let path = format!("{}/{consent_id}", consents());
        let read = get_raw(&server, &tpp, &path, &token).await;
        read.assert_status(StatusCode::OK);
        assert_eq!(read.body["Data"]["ConsentId"], consent_id.as_str());
        assert_eq!(
            read.body["Data"]["Initiation"],
            request["Data"]["Initiation"]
        );
        assert_signed_by_bank(&server, &read, now() + 5).await;
        get_raw(&server, &other, &path, &other_token)
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        get_raw(
            &server,
            &tpp,
            &format!("{}/no-such-consent", consents()),
            &token,
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Resource.NotFound");

        // A debtor account of ours is fixed on the consent; one we do not hold is refused.
        let mut with_debtor = consent_request("10.00", sort_code(ELSEWHERE), "R1");
        let current = &customer.accounts[0];
        with_debtor["Data"]["Initiation"]["DebtorAccount"] =
            account(&current.scheme_name, &current.identification, "Me");
        let r = post_signed(&server, &tpp, &consents(), &token, &with_debtor, "key-2").await;
        r.assert_status(StatusCode::CREATED);
        let fixed = server
            .store()
            .consent(r.body["Data"]["ConsentId"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            fixed.debtor_account_id.as_deref(),
            Some(current.id.as_str())
        );
        with_debtor["Data"]["Initiation"]["DebtorAccount"] = sort_code("99999912345678");
        post_signed(&server, &tpp, &consents(), &token, &with_debtor, "key-3")
            .await
            .assert_error(
                StatusCode::BAD_REQUEST,
                "UK.OBIE.Unsupported.AccountIdentifier",
            );

        // Validation.
        for (body, code) in [
            (
                consent_request("0.00", sort_code(ELSEWHERE), "R"),
                "UK.OBIE.Field.Invalid",
            ),
            (
                consent_request("1.234", sort_code(ELSEWHERE), "R"),
                "UK.OBIE.Field.Invalid",
            ),
            (
                consent_request(
                    "1.00",
                    account("UK.OBIE.PAN", "5555555555554444", "Card"),
                    "R",
                ),
                "UK.OBIE.Unsupported.Scheme",
            ),
            (
                consent_request(
                    "1.00",
                    account("UK.OBIE.IBAN", "GB00NWBK60161331926819", "X"),
                    "R",
                ),
                "UK.OBIE.Unsupported.AccountIdentifier",
            ),
            (json!({ "Data": {} }), "UK.OBIE.Field.Missing"),
        ] {
            let key = uuid::Uuid::new_v4().to_string();
            post_signed(&server, &tpp, &consents(), &token, &body, &key)
                .await
                .assert_error(StatusCode::BAD_REQUEST, code);
        }
        let mut usd = consent_request("1.00", sort_code(ELSEWHERE), "R");
        usd["Data"]["Initiation"]["InstructedAmount"]["Currency"] = json!("USD");
        post_signed(&server, &tpp, &consents(), &token, &usd, "key-usd")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Unsupported.Currency");

        // Headers and tokens.
        let bytes = serde_json::to_vec(&request).unwrap();
        let signature = sign_as(&tpp, &tpp_header(&tpp), &bytes);
        Raw::send(post_request(
            &server,
            &tpp,
            &consents(),
            &token,
            &bytes,
            None,
            Some(&signature),
        ))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Header.Missing");
        let long = "k".repeat(41);
        Raw::send(post_request(
            &server,
            &tpp,
            &consents(),
            &token,
            &bytes,
            Some(&long),
            Some(&signature),
        ))
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Header.Invalid");
        let accounts_token = tpp.client_credentials_token(&server, "accounts").await;
        post_signed(
            &server,
            &tpp,
            &consents(),
            &accounts_token,
            &request,
            "key-4",
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        Raw::send(post_request(
            &server,
            &tpp,
            &consents(),
            "not-a-token",
            &bytes,
            Some("k5"),
            Some(&signature),
        ))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
        server.stop().await;
    }
}

#[tokio::test]
async fn request_signatures_are_checked() {
    let server = TestServer::start(crate::support::TestDb::Sqlite).await;
    let tpp = Tpp::register_with(
        &server,
        "pisp-signer",
        json!({ "org_id": "0015800001041RHAAY", "software_id": "Jhingapulaav" }),
    )
    .await;
    let stranger = Tpp::register(&server, "pisp-stranger").await;
    let token = tpp.client_credentials_token(&server, "payments").await;
    let request = consent_request("5.00", sort_code(ELSEWHERE), "SIG");
    let bytes = serde_json::to_vec(&request).unwrap();
    let good = tpp_header(&tpp);
    let with = |changes: Value| {
        let mut h = good.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                h.remove(name);
            } else {
                h.insert(name.clone(), value.clone());
            }
        }
        h
    };
    let send = |signature: Option<String>, body: Vec<u8>| {
        let (server, tpp, token) = (&server, &tpp, &token);
        async move {
            let key = uuid::Uuid::new_v4().to_string();
            Raw::send(post_request(
                server,
                tpp,
                &consents(),
                token,
                &body,
                Some(&key),
                signature.as_deref(),
            ))
            .await
        }
    };

    send(None, bytes.clone())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Signature.Missing");
    send(Some("not-a-jws".into()), bytes.clone())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Signature.Malformed");
    // Another TPP's key (its kid is not in this client's key set).
    let theirs = sign_as(&stranger, &tpp_header(&tpp), &bytes);
    send(Some(theirs), bytes.clone())
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Signature.Invalid");
    // Signed over another body.
    let signature = sign_as(&tpp, &good, &bytes);
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b" ");
    send(Some(signature.clone()), tampered)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Signature.Invalid");
    for (changes, code) in [
        (json!({ "b64": true }), "UK.OBIE.Signature.InvalidClaim"),
        (
            json!({ jws::ISS: "someone-else" }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            json!({ jws::TAN: "example.org" }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            json!({ jws::IAT: now() + 3_600 }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (
            json!({ "crit": ["b64", jws::IAT, jws::ISS] }),
            "UK.OBIE.Signature.InvalidClaim",
        ),
        (json!({ jws::TAN: null }), "UK.OBIE.Signature.MissingClaim"),
        (json!({ "crit": null }), "UK.OBIE.Signature.MissingClaim"),
        (json!({ "alg": "RS256" }), "UK.OBIE.Signature.InvalidClaim"),
    ] {
        let signature = sign_as(&tpp, &with(changes.clone()), &bytes);
        let r = send(Some(signature), bytes.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{changes}: {:#}", r.body);
        r.assert_error(StatusCode::BAD_REQUEST, code);
    }
    // Accepted: the signature as made, the software statement's iss, and 3.1.4+ without b64.
    send(Some(signature), bytes.clone())
        .await
        .assert_status(StatusCode::CREATED);
    let org = with(json!({ jws::ISS: "0015800001041RHAAY/Jhingapulaav" }));
    send(Some(sign_as(&tpp, &org, &bytes)), bytes.clone())
        .await
        .assert_status(StatusCode::CREATED);
    let encoded = with(json!({ "b64": null, "crit": [jws::IAT, jws::ISS, jws::TAN] }));
    send(Some(sign_as(&tpp, &encoded, &bytes)), bytes.clone())
        .await
        .assert_status(StatusCode::CREATED);
    server.stop().await;
}

#[tokio::test]
async fn a_payment_debits_and_credits_once_consumes_its_consent_and_settles() {
    for db in databases().await {
        let clock = Arc::new(FixedClock::new(now()));
        let server = TestServer::start_with_clock(db.clone(), clock.clone(), |_| {}).await;
        let backend = db.name();
        let tpp = Tpp::register(&server, "pisp-payer").await;
        let other = Tpp::register(&server, "pisp-nosy").await;
        let customer = seed_customer(&server, "payer-psu").await;
        let current = customer.accounts[0].id.clone();
        let savings = customer.accounts[1].clone();

        // To another bank, paid from the account the customer picks on the consent page.
        let request = consent_request("12.34", sort_code(ELSEWHERE), "INV-0001");
        let (consent_id, tokens) =
            authorised(&server, &tpp, &customer, &request, Some(&current)).await;
        let stored = server.store().consent(&consent_id).await.unwrap().unwrap();
        assert_eq!(stored.status, "Authorised", "{backend}");
        assert_eq!(stored.debtor_account_id.as_deref(), Some(current.as_str()));
        let access = tokens.access_token.as_str();

        // Funds confirmation with the consent's token.
        let funds_path = format!("{}/{consent_id}/funds-confirmation", consents());
        let funds = get_raw(&server, &tpp, &funds_path, access).await;
        funds.assert_status(StatusCode::OK);
        assert_eq!(
            funds.body["Data"]["FundsAvailableResult"]["FundsAvailable"],
            true
        );
        assert!(funds.body["Data"]["FundsAvailableResult"]["FundsAvailableDateTime"].is_string());
        assert_signed_by_bank(&server, &funds, clock.now_plus(5)).await;
        let cc = tpp.client_credentials_token(&server, "payments").await;
        get_raw(&server, &tpp, &funds_path, &cc)
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");

        // What is paid must be what was consented to.
        let mut altered = payment_request(&consent_id, &request);
        altered["Data"]["Initiation"]["InstructedAmount"]["Amount"] = json!("99.99");
        post_signed(&server, &tpp, &payments(), access, &altered, "pay-0")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Resource.ConsentMismatch");
        let mut other_risk = payment_request(&consent_id, &request);
        other_risk["Risk"] = json!({ "PaymentContextCode": "PartyToParty" });
        post_signed(&server, &tpp, &payments(), access, &other_risk, "pay-0")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Resource.ConsentMismatch");
        post_signed(
            &server,
            &tpp,
            &payments(),
            access,
            &payment_request("another-consent", &request),
            "pay-0",
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Resource.ConsentMismatch");
        // A client credentials token cannot pay.
        post_signed(
            &server,
            &tpp,
            &payments(),
            &cc,
            &payment_request(&consent_id, &request),
            "pay-0",
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");

        let debtor_before = balance(&server, &current).await;
        let settlement = settlement_account_id("GBP");
        let settlement_before = balance(&server, &settlement).await;
        let body = payment_request(&consent_id, &request);
        let made = post_signed(&server, &tpp, &payments(), access, &body, "pay-1").await;
        made.assert_status(StatusCode::CREATED);
        assert_signed_by_bank(&server, &made, clock.now_plus(5)).await;
        let data = &made.body["Data"];
        let payment_id = data["DomesticPaymentId"].as_str().unwrap().to_owned();
        assert_eq!(data["ConsentId"], consent_id.as_str(), "{backend}");
        assert_eq!(data["Status"], "AcceptedSettlementInProcess");
        assert_eq!(data["Initiation"], request["Data"]["Initiation"]);
        assert_eq!(
            made.body["Links"]["Self"],
            server.api(&format!("{}/{payment_id}", payments()))
        );

        // Debited once, credited once (the settlement account: the payee is at another bank).
        assert_eq!(balance(&server, &current).await, debtor_before - 1_234);
        assert_eq!(
            balance(&server, &settlement).await,
            settlement_before + 1_234
        );
        assert_eq!(postings(&server, &current, "INV-0001").await, [-1_234]);
        assert_eq!(postings(&server, &settlement, "INV-0001").await, [1_234]);
        let debit = server
            .store()
            .transactions(&current, 0, i64::MAX)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.description == "INV-0001")
            .unwrap();
        assert_eq!(debit.balance_after_minor, debtor_before - 1_234);
        assert_eq!(debit.counterparty.as_deref(), Some("Payee Ltd"));

        // The consent is Consumed, by the TPP.
        let consumed = server.store().consent(&consent_id).await.unwrap().unwrap();
        assert_eq!(consumed.status, "Consumed", "{backend}");
        let history = server.store().consent_history(&consent_id).await.unwrap();
        let changes: Vec<(&str, &str)> = history
            .iter()
            .filter(|h| h.status == "Consumed")
            .map(|h| (h.status.as_str(), h.actor.as_str()))
            .collect();
        assert_eq!(changes, [("Consumed", "tpp:pisp-payer")], "{backend}");
        let read_consent =
            get_raw(&server, &tpp, &format!("{}/{consent_id}", consents()), &cc).await;
        assert_eq!(read_consent.body["Data"]["Status"], "Consumed");
        get_raw(&server, &tpp, &funds_path, access)
            .await
            .assert_error(
                StatusCode::BAD_REQUEST,
                "UK.OBIE.Resource.InvalidConsentStatus",
            );

        // A replay of the key answers with the same payment and posts nothing.
        let replay = post_signed(&server, &tpp, &payments(), access, &body, "pay-1").await;
        replay.assert_status(StatusCode::CREATED);
        assert_eq!(
            replay.body["Data"]["DomesticPaymentId"],
            payment_id.as_str()
        );
        // The key with another body is refused; another key on the consumed consent too.
        let mut extra = body.clone();
        extra["Data"]["Note"] = json!("a different request");
        post_signed(&server, &tpp, &payments(), access, &extra, "pay-1")
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Header.Invalid");
        post_signed(&server, &tpp, &payments(), access, &body, "pay-2")
            .await
            .assert_error(
                StatusCode::BAD_REQUEST,
                "UK.OBIE.Resource.InvalidConsentStatus",
            );
        assert_eq!(postings(&server, &current, "INV-0001").await, [-1_234]);
        assert_eq!(balance(&server, &current).await, debtor_before - 1_234);

        // Reading it: the consent's token or the client's; not another client; in process until
        // the bank settles it.
        let path = format!("{}/{payment_id}", payments());
        let read = get_raw(&server, &tpp, &path, access).await;
        read.assert_status(StatusCode::OK);
        assert_eq!(read.body["Data"]["Status"], "AcceptedSettlementInProcess");
        assert_signed_by_bank(&server, &read, clock.now_plus(5)).await;
        let other_cc = other.client_credentials_token(&server, "payments").await;
        get_raw(&server, &other, &path, &other_cc)
            .await
            .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
        get_raw(&server, &tpp, &format!("{}/nothing", payments()), &cc)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Resource.NotFound");

        clock.advance(consentry_resource_apis::payments_bank::SETTLEMENT_DELAY_SECS);
        let settled = get_raw(&server, &tpp, &path, &cc).await;
        settled.assert_status(StatusCode::OK);
        assert_eq!(
            settled.body["Data"]["Status"], "AcceptedSettlementCompleted",
            "{backend}"
        );
        let details = get_raw(&server, &tpp, &format!("{path}/payment-details"), access).await;
        details.assert_status(StatusCode::OK);
        let statuses: Vec<&str> = details.body["Data"]["PaymentStatus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["AcceptedSettlementInProcess", "AcceptedSettlementCompleted"]
        );
        assert_signed_by_bank(&server, &details, clock.now_plus(5)).await;

        // Each change told the TPP, in the transaction that made it: the consent authorised and
        // consumed, the payment made and settled.
        let events = server
            .store()
            .pending_events("pisp-payer", 100)
            .await
            .unwrap();
        let about = |rid: &str| {
            events
                .iter()
                .filter(|e| e.resource_id == rid)
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>()
        };
        let update = "urn:uk:org:openbanking:events:resource-update";
        assert_eq!(about(&consent_id), [update, update], "{backend}");
        assert_eq!(about(&payment_id), [update, update], "{backend}");

        // To an account of this bank: credited to it. The debtor was fixed by the TPP.
        let mut internal = consent_request(
            "20.00",
            account(&savings.scheme_name, &savings.identification, "Own savings"),
            "TO-SAVINGS",
        );
        internal["Data"]["Initiation"]["DebtorAccount"] = account(
            "UK.OBIE.SortCodeAccountNumber",
            &customer.accounts[0].identification,
            "Me",
        );
        let (internal_id, tokens) = authorised(&server, &tpp, &customer, &internal, None).await;
        let savings_before = balance(&server, &savings.id).await;
        let settlement_mid = balance(&server, &settlement).await;
        post_signed(
            &server,
            &tpp,
            &payments(),
            &tokens.access_token,
            &payment_request(&internal_id, &internal),
            "pay-3",
        )
        .await
        .assert_status(StatusCode::CREATED);
        assert_eq!(balance(&server, &savings.id).await, savings_before + 2_000);
        assert_eq!(postings(&server, &savings.id, "TO-SAVINGS").await, [2_000]);
        assert_eq!(balance(&server, &settlement).await, settlement_mid);

        // More than the balance: refused, nothing posted, the consent still Authorised.
        let available = balance(&server, &current).await;
        let too_much = format!("{}.00", available / 100 + 1);
        let big = consent_request(&too_much, sort_code(ELSEWHERE), "TOO-MUCH");
        let (big_id, tokens) = authorised(&server, &tpp, &customer, &big, Some(&current)).await;
        let funds = get_raw(
            &server,
            &tpp,
            &format!("{}/{big_id}/funds-confirmation", consents()),
            &tokens.access_token,
        )
        .await;
        assert_eq!(
            funds.body["Data"]["FundsAvailableResult"]["FundsAvailable"],
            false
        );
        post_signed(
            &server,
            &tpp,
            &payments(),
            &tokens.access_token,
            &payment_request(&big_id, &big),
            "pay-4",
        )
        .await
        .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Rules.InsufficientFunds");
        assert_eq!(balance(&server, &current).await, available);
        assert!(postings(&server, &current, "TOO-MUCH").await.is_empty());
        let big_consent = server.store().consent(&big_id).await.unwrap().unwrap();
        assert_eq!(big_consent.status, "Authorised", "{backend}");
        server.stop().await;
    }
}

#[tokio::test]
async fn fifty_concurrent_submissions_of_one_key_make_one_payment() {
    for db in databases().await {
        let server = TestServer::start(db.clone()).await;
        let backend = db.name();
        let tpp = Tpp::register(&server, "pisp-racer").await;
        let customer = seed_customer(&server, "racer-psu").await;
        let current = customer.accounts[0].id.clone();
        let request = consent_request("7.77", sort_code(ELSEWHERE), "RACE-1");
        let (consent_id, tokens) =
            authorised(&server, &tpp, &customer, &request, Some(&current)).await;
        let before = balance(&server, &current).await;

        let bytes = serde_json::to_vec(&payment_request(&consent_id, &request)).unwrap();
        let signature = sign_as(&tpp, &tpp_header(&tpp), &bytes);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let request = post_request(
                &server,
                &tpp,
                &payments(),
                &tokens.access_token,
                &bytes,
                Some("race-key"),
                Some(&signature),
            );
            tasks.spawn(Raw::send(request));
        }
        let mut ids = std::collections::BTreeSet::new();
        while let Some(done) = tasks.join_next().await {
            let r = done.unwrap();
            r.assert_status(StatusCode::CREATED);
            ids.insert(
                r.body["Data"]["DomesticPaymentId"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert_eq!(ids.len(), 1, "{backend}: one payment, answered to all 50");
        assert_eq!(
            postings(&server, &current, "RACE-1").await,
            [-777],
            "{backend}"
        );
        assert_eq!(
            postings(&server, &settlement_account_id("GBP"), "RACE-1").await,
            [777],
            "{backend}"
        );
        assert_eq!(balance(&server, &current).await, before - 777, "{backend}");
        let payment = server
            .store()
            .payment(ids.first().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(payment.consent_id, consent_id);
        assert_eq!(
            server
                .store()
                .payment_history(&payment.id)
                .await
                .unwrap()
                .len(),
            1
        );
        server.stop().await;
    }
}

trait ClockExt {
    fn now_plus(&self, seconds: i64) -> UnixTime;
}

impl ClockExt for FixedClock {
    fn now_plus(&self, seconds: i64) -> UnixTime {
        consentry_server::clock::Clock::now(self) + seconds
    }
}
