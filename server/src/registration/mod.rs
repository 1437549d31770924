//! Client registration: RFC 7591 metadata, validated per profile. `consentry client add` uses it
//! now; dynamic registration (RFC 7591/7592, software statements, eIDAS) joins with its issue.

pub mod jwks_fetch;
pub mod metadata;
pub mod test_client;
