//! The integration tests of `consentry-server`: one binary (linking dominates build time).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

mod authorize_flow;
mod client_keys;
mod consent_pages;
mod events;
mod fapi;
mod jwt_access_tokens;
mod keys;
mod oauth_store;
mod races;
mod sca_otp;
mod server;
mod store_contract;
mod tls;
mod token_endpoints;
