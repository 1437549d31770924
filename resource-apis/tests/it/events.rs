//! Aggregated event polling through the resource listener: the events of real consent changes
//! (an authorisation through the real flow, a TPP's DELETE) come back as SETs signed with a
//! published key, acknowledged events do not come back, and a client sees only its own.

use josekit::jwk::Jwk;
use josekit::jws::PS256;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Decision, TestDb, TestServer, Tpp, seed_customer};

const EVENTS: &str = "/open-banking/v3.1/events";
const CONSENTS: &str = "/open-banking/v3.1/aisp/account-access-consents";
const RESOURCE_UPDATE: &str = "urn:uk:org:openbanking:events:resource-update";
const REVOKED: &str = "urn:uk:org:openbanking:events:consent-authorization-revoked";

async fn create_consent(server: &TestServer, tpp: &Tpp, cc: &str) -> String {
    let body = json!({"Data": {"Permissions": ["ReadAccountsBasic"]}, "Risk": {}});
    let r = tpp.post(server, CONSENTS, cc, &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    r.body["Data"]["ConsentId"].as_str().unwrap().to_owned()
}

async fn jwks(server: &TestServer) -> Value {
    server
        .client_builder()
        .build()
        .unwrap()
        .get(format!("{}/jwks", server.public))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The claims of a SET whose PS256 signature verifies with a published key.
fn claims(token: &str, jwks: &Value) -> Value {
    let header = consentry_server::protocol::jose::decode_unverified_header(token).unwrap();
    assert_eq!(header["typ"], "secevent+jwt");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("signed with a published key");
    let jwk = Jwk::from_map(key.as_object().unwrap().clone()).unwrap();
    let verifier = PS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(token, &verifier).unwrap();
    Value::Object(payload.claims_set().clone())
}

fn jtis(reply: &Value) -> Vec<String> {
    reply["sets"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn polling_returns_the_events_of_consent_changes_until_acknowledged() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "events-tpp").await;
    let other = Tpp::register(&server, "events-other").await;
    let customer = seed_customer(&server, "events-psu").await;
    let cc = tpp.client_credentials_token(&server, "accounts").await;

    // Nothing yet.
    let r = tpp.post(&server, EVENTS, &cc, &json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));

    // An authorisation through the real flow, then a revocation by the TPP.
    let authorised = create_consent(&server, &tpp, &cc).await;
    tpp.authorise(
        &server,
        &customer,
        &authorised,
        "openid accounts",
        Decision::Accounts(vec![customer.accounts[0].id.clone()]),
    )
    .await;
    let deleted = create_consent(&server, &tpp, &cc).await;
    let r = tpp
        .delete(&server, &format!("{CONSENTS}/{deleted}"), &cc)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // One at a time, oldest first.
    let keys = jwks(&server).await;
    let r = tpp
        .post(
            &server,
            EVENTS,
            &cc,
            &json!({"maxEvents": 1, "returnImmediately": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body["moreAvailable"], true);
    let first = jtis(&r.body);
    assert_eq!(first.len(), 1);
    let set = claims(r.body["sets"][&first[0]].as_str().unwrap(), &keys);
    let link = server.api(&format!("{CONSENTS}/{authorised}"));
    assert_eq!(set["jti"], first[0].as_str());
    assert_eq!(set["aud"], "events-tpp");
    assert_eq!(set["iss"], server.state().config.server.issuer.as_str());
    assert_eq!(set["sub"], link.as_str());
    let subject = &set["events"][RESOURCE_UPDATE]["subject"];
    assert_eq!(
        subject["http://openbanking.org.uk/rid"],
        authorised.as_str()
    );
    assert_eq!(
        subject["http://openbanking.org.uk/rty"],
        "account-access-consent"
    );
    assert_eq!(
        subject["http://openbanking.org.uk/rlk"],
        json!([{"version": "v3.1", "link": link}])
    );

    // The other client sees none of it, and cannot acknowledge it.
    let other_cc = other.client_credentials_token(&server, "payments").await;
    let r = other
        .post(&server, EVENTS, &other_cc, &json!({"ack": [first[0]]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:#}", r.body);
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));

    // Acknowledged: gone; the revocation is next.
    let r = tpp
        .post(&server, EVENTS, &cc, &json!({"ack": [first[0]]}))
        .await;
    assert_eq!(r.body["moreAvailable"], false, "{:#}", r.body);
    let second = jtis(&r.body);
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    let set = claims(r.body["sets"][&second[0]].as_str().unwrap(), &keys);
    assert_eq!(
        set["events"][REVOKED]["subject"]["http://openbanking.org.uk/rid"],
        deleted.as_str()
    );

    // Rejected with an error, acknowledge only: nothing is returned, nothing is left.
    let body = json!({
        "maxEvents": 0,
        "setErrs": {second[0].clone(): {"err": "jwtIss", "description": "Issuer is invalid"}},
    });
    let r = tpp.post(&server, EVENTS, &cc, &body).await;
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));
    let r = tpp.post(&server, EVENTS, &cc, &json!({})).await;
    assert_eq!(r.body, json!({"sets": {}, "moreAvailable": false}));
    server.stop().await;
}

#[tokio::test]
async fn polling_needs_a_client_credentials_token_and_a_valid_request() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "events-checks").await;
    let customer = seed_customer(&server, "events-checks-psu").await;
    let cc = tpp.client_credentials_token(&server, "accounts").await;

    tpp.post(&server, EVENTS, "not-a-token", &json!({}))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "UK.OBIE.Unauthorized");
    for body in [
        json!({"maxEvents": -1}),
        json!({"maxEvents": "ten"}),
        json!({"ack": [""]}),
        json!({"setErrs": {"j": {"err": "jwtIss"}}}),
        json!({"unknown": true}),
        json!([]),
    ] {
        tpp.post(&server, EVENTS, &cc, &body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "UK.OBIE.Field.Invalid");
    }
    // A token of the customer's authorisation is not the TPP's own.
    let consent = create_consent(&server, &tpp, &cc).await;
    let tokens = tpp
        .authorise(
            &server,
            &customer,
            &consent,
            "openid accounts",
            Decision::Accounts(vec![customer.accounts[0].id.clone()]),
        )
        .await;
    tpp.post(&server, EVENTS, &tokens.access_token, &json!({}))
        .await
        .assert_error(StatusCode::FORBIDDEN, "UK.OBIE.Forbidden");
    // Only POST.
    let r = tpp.get(&server, EVENTS, &cc).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{:#}", r.body);
    server.stop().await;
}
