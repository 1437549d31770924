//! The account information APIs through the real listeners: account-access consents, the
//! account, balance, transaction and beneficiary resources, and the FAPI headers.

use reqwest::StatusCode;

use crate::support::{AISP, TestDb, TestServer, Tpp, seed_customer};

#[tokio::test]
async fn the_resource_listener_serves_with_a_client_credentials_token() {
    let server = TestServer::start(TestDb::Sqlite).await;
    let tpp = Tpp::register(&server, "aisp-smoke").await;
    let customer = seed_customer(&server, "smoke-psu").await;
    assert_eq!(customer.accounts.len(), 3);
    let token = tpp.client_credentials_token(&server, "accounts").await;
    let r = tpp
        .get(&server, &format!("{AISP}/no-such-resource"), &token)
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "UK.OBIE.Resource.NotFound");
    server.stop().await;
}
