//! The protocol core: plain Rust over typed requests and an injected `now`, no HTTP types.
//! Handlers in `crate::http` extract, call into here, and map the result.

pub mod authorize;
pub mod client;
pub mod client_assertion;
pub mod client_auth;
pub mod dn;
pub mod dpop;
pub mod encryption;
pub mod error;
pub mod id_token;
pub mod introspect;
pub mod jose;
pub mod pkce;
pub mod redirect;
pub mod request_object;
pub mod response;
pub mod revoke;
pub mod token;
pub mod userinfo;
