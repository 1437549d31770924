//! Identities for test clients (the conformance harness, the OpenID Foundation suite, the demo
//! TPP): a PS256 signing key and a client certificate issued by the local CA.

use serde_json::Value;

use crate::clock::UnixTime;
use crate::keys::SigningAlg;
use crate::tls::local_ca::{ClientSubject, LocalPki, issue_client_certificate};

/// A test client's key pair and certificate.
pub struct TestIdentity {
    pub private_jwk: Value,
    pub public_jwk: Value,
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate subject as an RFC 4514 string (most specific first).
    pub subject_dn: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TestIdentityError {
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("test identity: {0}")]
    Json(#[from] serde_json::Error),
}

/// A new identity for `client_id` whose certificate subject is `CN=<client_id>,O=<organisation>,C=GB`.
pub fn new_identity(
    pki: &LocalPki,
    client_id: &str,
    organisation: &str,
    now: UnixTime,
) -> Result<TestIdentity, TestIdentityError> {
    let key = crate::keys::jwk::generate(SigningAlg::PS256, 2048)?;
    let private_jwk: Value = serde_json::from_str(&key.private_jwk)?;
    let subject = ClientSubject {
        common_name: client_id.to_owned(),
        organization: Some(organisation.to_owned()),
        country: Some("GB".to_owned()),
        ..ClientSubject::default()
    };
    let (cert_pem, key_pem) = issue_client_certificate(pki, &subject, now)?;
    Ok(TestIdentity {
        private_jwk,
        public_jwk: Value::Object(key.public_jwk),
        cert_pem,
        key_pem,
        subject_dn: format!("CN={client_id},O={organisation},C=GB"),
    })
}
