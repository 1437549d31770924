//! Strong customer authentication with a one-time code by SMS, through the real pages: a consent
//! (or the SCA acr) steps the login up, the code goes through the bank's gateway (a loopback
//! stand-in), the page checks it, and the tokens say `urn:openbanking:psd2:sca` with `amr`
//! `pwd` + `sms`. Payments need a code of their own, naming the payee and amount.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::consent_pages::{
    account_access, callback, consent_of, customer_with_accounts, customer_with_phone_and_accounts,
    decide, insert, intent_claims, payment, push, redeem, sign_in_and_resume,
};
use crate::fapi::{Tpp, verify_server_jwt};
use crate::support::{SmsInbox, TestDb, TestServer, csrf_of, text_of};

const ACR_SCA: &str = "urn:openbanking:psd2:sca";
const PHONE: &str = "+447700900461";

async fn server_with_gateway(inbox: &SmsInbox) -> TestServer {
    let url = inbox.url.clone();
    TestServer::start_with(TestDb::Sqlite, move |c| {
        c.sca.sms.gateway_url = Some(url);
        c.sca.sms.gateway_token = Some(consentry_server::config::Secret::new("gw-token"));
        c.sca.sms.sender = "Example Bank".to_owned();
    })
    .await
}

fn resume_url(server: &TestServer) -> String {
    format!("{}/authorize/resume", server.public)
}

/// Follows a redirect to the code page; its HTML.
async fn code_page(server: &TestServer, browser: &reqwest::Client, r: reqwest::Response) -> String {
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a step up to the code page"
    );
    assert_eq!(r.headers()["location"], "/login/otp");
    let r = browser
        .get(format!("{}/login/otp", server.public))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

async fn enter(
    server: &TestServer,
    browser: &reqwest::Client,
    page: &str,
    code: &str,
) -> reqwest::Response {
    browser
        .post(format!("{}/login/otp", server.public))
        .form(&[("csrf_token", csrf_of(page).as_str()), ("otp", code)])
        .send()
        .await
        .unwrap()
}

/// Asks for a new code from the code page `page`.
async fn resend(server: &TestServer, browser: &reqwest::Client, page: &str) -> reqwest::Response {
    browser
        .post(format!("{}/login/otp", server.public))
        .form(&[("csrf_token", csrf_of(page).as_str()), ("action", "resend")])
        .send()
        .await
        .unwrap()
}

/// The body of GET `url`.
async fn text_at(browser: &reqwest::Client, url: &str) -> String {
    browser.get(url).send().await.unwrap().text().await.unwrap()
}

/// The claims of the id token the approval `r` leads to: its code redeemed by `tpp`.
async fn id_token_after(
    server: &TestServer,
    tpp: &Tpp,
    r: &reqwest::Response,
) -> serde_json::Map<String, Value> {
    let params = callback(r);
    let tokens = redeem(server, tpp, params["code"].as_str().unwrap()).await;
    verify_server_jwt(server, tokens["id_token"].as_str().unwrap()).await
}

/// A code that is not `right`.
fn wrong(right: &str) -> String {
    right
        .chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect()
}

#[tokio::test]
async fn a_consent_steps_the_login_up_to_an_sms_code_and_the_tokens_say_sca() {
    let inbox = SmsInbox::start().await;
    let server = server_with_gateway(&inbox).await;
    let tpp = Tpp::register(&server, "sca-client", "fapi2-security", json!({})).await;
    let (_, accounts) =
        customer_with_phone_and_accounts(&server, "ada", Some(PHONE), &[("GBP", "Everyday")]).await;
    insert(&server, &account_access("aac-sca", &tpp.client_id)).await;

    let url = push(&server, &tpp, "openid accounts", &intent_claims("aac-sca")).await;
    let browser = server.browser();
    let r = sign_in_and_resume(&server, &browser, &url, "ada").await;
    let page = code_page(&server, &browser, r).await;

    // The message: to the customer's phone, from the bank, with the reference the page shows and
    // what the code is for; the gateway's token sent along.
    let sms = inbox.last();
    assert_eq!(inbox.messages().len(), 1);
    assert_eq!(sms.to, PHONE);
    assert_eq!(sms.from, "Example Bank");
    assert_eq!(sms.authorization.as_deref(), Some("Bearer gw-token"));
    let reference = text_of(&page, "otp-reference");
    assert!(
        sms.text.contains(&format!("(ref {reference})")),
        "{}",
        sms.text
    );
    assert!(
        sms.text
            .contains("to let sca-client app see your account information"),
        "{}",
        sms.text
    );
    let code = sms.code();
    assert_eq!(code.len(), 6, "{}", sms.text);
    assert_eq!(text_of(&page, "otp-destination"), "•••• 0461");
    assert!(page.contains("id=\"otp-submit\""), "{page}");
    // The consent page cannot be reached, nor approved, around the code.
    let r = browser.get(resume_url(&server)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login/otp");
    let r = decide(
        &server,
        &browser,
        &page,
        &[("decision", "approve"), ("account", &accounts[0])],
    )
    .await;
    assert_eq!(r.headers()["location"], "/login/otp");
    assert_eq!(
        consent_of(&server, "aac-sca").await.status,
        "AwaitingAuthorisation"
    );
    let page = text_at(&browser, &format!("{}/login/otp", server.public)).await;
    assert_eq!(inbox.messages().len(), 1, "the code out is still the one");

    // A wrong code: the page again, with the entries left.
    let r = enter(&server, &browser, &page, &wrong(&code)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    assert!(page.contains("You can try 4 more times"), "{page}");

    // The right one (spaces are forgiven) goes back to the consent page.
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let r = enter(&server, &browser, &page, &spaced).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let r = browser.get(resume_url(&server)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let consent_page = r.text().await.unwrap();
    assert!(consent_page.contains("id=\"consent-approve\""));

    // The code is spent: entering it again finds nothing to confirm.
    let r = enter(&server, &browser, &consent_page, &code).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let r = decide(
        &server,
        &browser,
        &consent_page,
        &[("decision", "approve"), ("account", &accounts[0])],
    )
    .await;
    let id_token = id_token_after(&server, &tpp, &r).await;
    assert_eq!(consent_of(&server, "aac-sca").await.status, "Authorised");
    assert_eq!(id_token["acr"], ACR_SCA);
    assert_eq!(id_token["amr"], json!(["pwd", "sms"]));
    assert_eq!(id_token["openbanking_intent_id"], "aac-sca");
}

#[tokio::test]
async fn a_payment_needs_a_code_of_its_own_that_names_payee_and_amount() {
    let inbox = SmsInbox::start().await;
    let server = server_with_gateway(&inbox).await;
    let tpp = Tpp::register(&server, "pis-client", "fapi2-security", json!({})).await;
    let (_, accounts) =
        customer_with_phone_and_accounts(&server, "ben", Some(PHONE), &[("GBP", "Current")]).await;
    insert(&server, &account_access("aac-1", &tpp.client_id)).await;
    insert(&server, &payment("pay-1", &tpp.client_id, None)).await;
    let browser = server.browser();

    // SCA for the account access first.
    let url = push(&server, &tpp, "openid accounts", &intent_claims("aac-1")).await;
    let r = sign_in_and_resume(&server, &browser, &url, "ben").await;
    let page = code_page(&server, &browser, r).await;
    let r = enter(&server, &browser, &page, &inbox.last().code()).await;
    assert_eq!(r.headers()["location"], "/authorize/resume");

    // The payment in the same login still asks for a code, linked to the payment.
    let url = push(&server, &tpp, "openid payments", &intent_claims("pay-1")).await;
    let r = browser.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let r = browser.get(resume_url(&server)).send().await.unwrap();
    let page = code_page(&server, &browser, r).await;
    let sms = inbox.last();
    assert_eq!(inbox.messages().len(), 2);
    assert!(
        sms.text
            .contains("to pay GBP 165.88 to ACME Inc through pis-client app"),
        "{}",
        sms.text
    );
    assert!(
        page.contains("to pay GBP 165.88 to ACME Inc through pis-client app"),
        "{page}"
    );
    // An earlier code, even right once, does not authorise this payment.
    let r = enter(&server, &browser, &page, &inbox.messages()[0].code()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let page = r.text().await.unwrap();
    let r = enter(&server, &browser, &page, &sms.code()).await;
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let r = browser.get(resume_url(&server)).send().await.unwrap();
    let consent_page = r.text().await.unwrap();
    let r = decide(
        &server,
        &browser,
        &consent_page,
        &[
            ("decision", "approve"),
            ("consent_id", "pay-1"),
            ("debtor_account", &accounts[0]),
        ],
    )
    .await;
    let id_token = id_token_after(&server, &tpp, &r).await;
    assert_eq!(consent_of(&server, "pay-1").await.status, "Authorised");
    assert_eq!(id_token["acr"], ACR_SCA);
}

/// The claims of a request that makes SCA alone essential.
fn essential_sca(consent_id: Option<&str>) -> Value {
    let mut id_token = json!({"acr": {"essential": true, "value": ACR_SCA}});
    if let Some(id) = consent_id {
        id_token["openbanking_intent_id"] = json!({"value": id, "essential": true});
    }
    json!({ "id_token": id_token })
}

#[tokio::test]
async fn essential_sca_is_met_with_a_code_and_refused_without_a_second_factor() {
    let inbox = SmsInbox::start().await;
    let server = server_with_gateway(&inbox).await;
    let tpp = Tpp::register(&server, "acr-client", "fapi2-security", json!({})).await;
    customer_with_phone_and_accounts(&server, "cleo", Some(PHONE), &[("GBP", "Main")]).await;
    customer_with_accounts(&server, "dev", &[("GBP", "Main")]).await;

    // With a phone: the code, then the plain approval page, then acr sca.
    let url = push(&server, &tpp, "openid", &essential_sca(None)).await;
    let browser = server.browser();
    let r = sign_in_and_resume(&server, &browser, &url, "cleo").await;
    let page = code_page(&server, &browser, r).await;
    assert!(page.contains("to sign in to acr-client app"), "{page}");
    let r = enter(&server, &browser, &page, &inbox.last().code()).await;
    assert_eq!(r.headers()["location"], "/authorize/resume");
    let page = text_at(&browser, &resume_url(&server)).await;
    let r = decide(&server, &browser, &page, &[("decision", "approve")]).await;
    let id_token = id_token_after(&server, &tpp, &r).await;
    assert_eq!(id_token["acr"], ACR_SCA);

    // Without a phone there is no second factor: refused, and no message sent.
    let sent = inbox.messages().len();
    let url = push(&server, &tpp, "openid", &essential_sca(None)).await;
    let browser = server.browser();
    let r = sign_in_and_resume(&server, &browser, &url, "dev").await;
    let params = callback(&r);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(inbox.messages().len(), sent);
}

#[tokio::test]
async fn wrong_codes_run_out_and_a_new_code_can_be_sent() {
    let inbox = SmsInbox::start().await;
    let server = server_with_gateway(&inbox).await;
    let tpp = Tpp::register(&server, "otp-client", "fapi2-security", json!({})).await;
    customer_with_phone_and_accounts(&server, "eve", Some(PHONE), &[("GBP", "Main")]).await;
    insert(&server, &account_access("aac-2", &tpp.client_id)).await;
    let url = push(&server, &tpp, "openid accounts", &intent_claims("aac-2")).await;
    let browser = server.browser();
    let r = sign_in_and_resume(&server, &browser, &url, "eve").await;
    let mut page = code_page(&server, &browser, r).await;
    let code = inbox.last().code();
    for left in (0..5).rev() {
        let r = enter(&server, &browser, &page, &wrong(&code)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        page = r.text().await.unwrap();
        if left > 0 {
            assert!(page.contains(&format!("try {left} more time")), "{page}");
        } else {
            assert!(page.contains("can no longer be used"), "{page}");
            assert!(!page.contains("id=\"otp-submit\""), "{page}");
        }
    }
    // The right code is too late now.
    let r = enter(&server, &browser, &page, &code).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        "/login/otp",
        "back to the page, no code out"
    );
    // A new code, and it works.
    let r = resend(&server, &browser, &page).await;
    let page = code_page(&server, &browser, r).await;
    assert_eq!(inbox.messages().len(), 2);
    let r = enter(&server, &browser, &page, &inbox.last().code()).await;
    assert_eq!(r.headers()["location"], "/authorize/resume");
}

#[tokio::test]
async fn a_failing_gateway_and_too_many_sends_are_told_and_nothing_is_usable() {
    let inbox = SmsInbox::start().await;
    let url = inbox.url.clone();
    let server = TestServer::start_with(TestDb::Sqlite, move |c| {
        c.sca.sms.gateway_url = Some(url);
        c.sca.otp_max_sends = 2;
    })
    .await;
    let tpp = Tpp::register(&server, "gw-client", "fapi2-security", json!({})).await;
    customer_with_phone_and_accounts(&server, "fay", Some(PHONE), &[("GBP", "Main")]).await;
    insert(&server, &account_access("aac-3", &tpp.client_id)).await;
    let url = push(&server, &tpp, "openid accounts", &intent_claims("aac-3")).await;
    let browser = server.browser();
    inbox.answer(500);
    let r = sign_in_and_resume(&server, &browser, &url, "fay").await;
    assert_eq!(r.headers()["location"], "/login/otp");
    let r = browser
        .get(format!("{}/login/otp", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let page = r.text().await.unwrap();
    assert!(page.contains("could not be sent"), "{page}");
    assert!(!page.contains("id=\"otp-submit\""), "no code to enter");

    inbox.answer(202);
    let r = resend(&server, &browser, &page).await;
    let page = code_page(&server, &browser, r).await;
    assert_eq!(inbox.messages().len(), 1);
    // The third send within the window (the failed one counted) is refused.
    let r = resend(&server, &browser, &page).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(inbox.messages().len(), 1);
}
