//! What the mTLS listener sees of the caller's certificate: lets a TPP check its set-up before it
//! calls the token endpoint, and shows that the certificate reaches handlers.

use axum::Json;
use serde_json::{Value, json};

use super::client_cert::{CertificateSource, ClientCertificate};
use crate::protocol::error::OAuthError;

pub async fn client_certificate(cert: ClientCertificate) -> Result<Json<Value>, OAuthError> {
    let Some(c) = cert.certificate else {
        return Err(OAuthError::invalid_request(
            "no client certificate was presented",
        ));
    };
    Ok(Json(json!({
        "subject": c.subject_dn(),
        "issuer": c.issuer_dn(),
        "serial": c.serial_hex(),
        "san_dns": c.san_dns(),
        "san_uri": c.san_uris(),
        "not_before": crate::clock::rfc3339(c.not_before()),
        "not_after": crate::clock::rfc3339(c.not_after()),
        "x5t#S256": c.thumbprint_sha256(),
        "chain_length": c.chain().len(),
        "source": match cert.source { CertificateSource::Tls => "tls", CertificateSource::ProxyHeader => "proxy-header" },
    })))
}
