//! Consentry: an OpenID Connect / OAuth 2.0 authorization server and consent server for open
//! banking. See `shared/DESIGN.md` for the architecture; the folders follow it.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod http;
pub mod store;
