//! A black-box reproduction of the OpenID Foundation's FAPI server test plans. It talks to a
//! deployment only as a TPP would: discovery, PAR, the authorization endpoint and the customer's
//! pages (driven by the configured browser steps), token and resource endpoints, over HTTPS and
//! mTLS.

pub mod config;
pub mod env;
pub mod html;
pub mod modules;
pub mod plan;
pub mod report;
pub mod sms_inbox;
pub mod suite_config;
