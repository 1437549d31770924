//! Consentry: an OpenID Connect / OAuth 2.0 authorization server and consent server for open
//! banking. See `shared/DESIGN.md` for the architecture; the folders follow it.

pub mod app;
pub mod clock;
pub mod config;
pub mod consent;
pub mod crypto;
pub mod demo;
pub mod events;
pub mod http;
pub mod keys;
pub mod protocol;
pub mod registration;
pub mod sca;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod tls;
