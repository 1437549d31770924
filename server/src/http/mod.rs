//! The HTTP layer: listeners, routers, extractors, and the one mapping of errors to responses.
//! Handlers are thin: they extract, call the protocol core, and map the result.

pub mod authorize;
pub mod client_cert;
pub mod csrf;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod fapi;
pub mod health;
pub mod listener;
pub mod login;
pub mod oauth;
pub mod otp;
pub mod pages;
pub mod resource_auth;
pub mod routes;
pub mod session;
pub mod tls_info;
