//! The client-certificate verifier of the mTLS listener.
//!
//! Trust in a client certificate depends on the client it is presented for (`tls_client_auth`
//! matches the registered subject DN and its CA, `self_signed_tls_client_auth` the client's JWKS),
//! which the handshake cannot know. So the handshake only asks for a certificate, accepts any
//! well-formed chain, and proves that the peer holds the leaf's private key by checking the
//! CertificateVerify signature. The application decides later, per client, whether to trust it.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::prelude::{FromDer as _, X509Certificate};

/// Offers client authentication without requiring it; see the module documentation.
#[derive(Debug)]
pub struct OptionalClientCertVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl OptionalClientCertVerifier {
    pub fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

/// Whether `der` is exactly one certificate x509-parser can read.
fn well_formed(der: &CertificateDer<'_>) -> bool {
    matches!(X509Certificate::from_der(der.as_ref()), Ok(([], _)))
}

impl ClientCertVerifier for OptionalClientCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if well_formed(end_entity) && intermediates.iter().all(well_formed) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> OptionalClientCertVerifier {
        OptionalClientCertVerifier::new(&crate::tls::crypto_provider())
    }

    #[test]
    fn offers_but_does_not_require_a_certificate() {
        let v = verifier();
        assert!(v.offer_client_auth());
        assert!(!v.client_auth_mandatory());
        assert!(v.root_hint_subjects().is_empty());
    }

    #[test]
    fn rejects_what_is_not_a_certificate() {
        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let result = verifier().verify_client_cert(
            &garbage,
            &[],
            UnixTime::since_unix_epoch(std::time::Duration::ZERO),
        );
        assert!(matches!(
            result,
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding
            ))
        ));
    }

    #[test]
    fn accepts_a_self_signed_certificate() -> Result<(), Box<dyn std::error::Error>> {
        let key = rcgen::KeyPair::generate()?;
        let cert =
            rcgen::CertificateParams::new(vec!["tpp.example".to_owned()])?.self_signed(&key)?;
        let result = verifier().verify_client_cert(
            cert.der(),
            &[],
            UnixTime::since_unix_epoch(std::time::Duration::ZERO),
        );
        assert!(result.is_ok());
        Ok(())
    }
}
