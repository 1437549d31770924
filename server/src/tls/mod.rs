//! TLS for the listeners: loading the server certificate, the FAPI cipher-suite policy, the
//! rustls server configuration, and the local PKI made on first start.
//!
//! FAPI 1.0 Advanced / FAPI 2.0 allow TLS 1.2 and 1.3 only, and for TLS 1.2 only
//! `TLS_ECDHE_RSA_WITH_AES_{128,256}_GCM_SHA{256,384}`: those need an RSA server certificate.

pub mod local_ca;
pub mod verifier;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::{SignatureAlgorithm, SupportedProtocolVersion};
use rustls_pki_types::pem::{self, PemObject as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use self::verifier::OptionalClientCertVerifier;

/// The protocol versions every listener accepts: TLS 1.3 and TLS 1.2 (1.0 and 1.1 are refused).
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ALPN protocols offered, in order of preference.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A certificate chain (leaf first) and its private key.
pub struct TlsMaterial {
    pub cert_chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for TlsMaterial {
    fn clone(&self) -> Self {
        Self {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field(
                "cert_chain",
                &format_args!("{} certificate(s)", self.cert_chain.len()),
            )
            .field("key", &"[redacted]")
            .finish()
    }
}

impl TlsMaterial {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn load_pem_files(cert_file: &Path, key_file: &Path) -> Result<TlsMaterial, TlsError> {
        let cert_chain = read_certificates(cert_file)?;
        let key = read_private_key(key_file)?;
        Ok(TlsMaterial { cert_chain, key })
    }
}

/// Reads a PEM certificate chain and private key; see [`TlsMaterial::load_pem_files`].
pub fn load_pem_files(cert_file: &Path, key_file: &Path) -> Result<TlsMaterial, TlsError> {
    TlsMaterial::load_pem_files(cert_file, key_file)
}

/// Reads the certificates of a PEM file; at least one must be there.
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path, FileKind::Certificate)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::InvalidPem {
            kind: FileKind::Certificate,
            path: path.to_owned(),
            cause: pem_cause(&e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// Reads the first private key of a PEM file.
pub(crate) fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = zeroize::Zeroizing::new(read_file(path, FileKind::PrivateKey)?);
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_owned(),
        },
        other => TlsError::InvalidPem {
            kind: FileKind::PrivateKey,
            path: path.to_owned(),
            cause: pem_cause(&other),
        },
    })
}

fn read_file(path: &Path, kind: FileKind) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        kind,
        path: path.to_owned(),
        cause: io_cause(&e),
    })
}

/// An I/O error as a short cause: "No such file or directory", without "(os error 2)".
pub(crate) fn io_cause(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn pem_cause(e: &pem::Error) -> String {
    match e {
        pem::Error::Io(io) => io_cause(io),
        other => other.to_string(),
    }
}

/// The aws-lc-rs provider restricted to the FAPI cipher suites: every TLS 1.3 suite, and for
/// TLS 1.2 only `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256` and `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites = vec![
        cipher_suite::TLS13_AES_256_GCM_SHA384,
        cipher_suite::TLS13_AES_128_GCM_SHA256,
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ];
    Arc::new(provider)
}

/// Whether a listener asks the client for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No CertificateRequest is sent (the public port).
    None,
    /// A certificate is requested but optional; any well-formed one is accepted at the handshake
    /// and judged later per client (the mTLS port). See [`verifier`].
    Request,
}

/// The rustls configuration of a listener: TLS 1.3 and 1.2, the FAPI suites, ALPN `h2` and
/// `http/1.1`, and the RSA server certificate of `material`.
pub fn server_config(
    material: &TlsMaterial,
    client_auth: ClientAuth,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = crypto_provider();

    let signing_key = provider
        .key_provider
        .load_private_key(material.key.clone_key())
        .map_err(|e| TlsError::Config(format!("the private key is unusable: {e}")))?;
    if signing_key.algorithm() != SignatureAlgorithm::RSA {
        return Err(TlsError::NotRsa {
            found: format!("{:?}", signing_key.algorithm()),
        });
    }

    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Request => {
            builder.with_client_cert_verifier(Arc::new(OptionalClientCertVerifier::new(&provider)))
        }
    };
    let mut config = builder
        .with_single_cert(material.cert_chain.clone(), material.key.clone_key())
        .map_err(|e| {
            TlsError::Config(format!(
                "the certificate and private key cannot be used: {e}"
            ))
        })?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// What a file was supposed to hold, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Certificate,
    PrivateKey,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Certificate => "TLS certificate",
            FileKind::PrivateKey => "TLS private key",
        })
    }
}

/// Everything that can go wrong setting up TLS, each a one-line message naming the file or cause.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {kind} {}: {cause}", path.display())]
    Read {
        kind: FileKind,
        path: PathBuf,
        cause: String,
    },
    #[error("{kind} {} is not valid PEM: {cause}", path.display())]
    InvalidPem {
        kind: FileKind,
        path: PathBuf,
        cause: String,
    },
    #[error("TLS certificate {} contains no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("TLS private key {} contains no private key", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{} is unusable: {cause}", path.display())]
    Unusable { path: PathBuf, cause: String },
    #[error("cannot write {}: {cause}", path.display())]
    Write { path: PathBuf, cause: String },
    #[error(
        "the local PKI in {} is incomplete: {missing} missing ({present} present); restore the missing files or remove the others to generate a new PKI",
        dir.display()
    )]
    IncompletePki {
        dir: PathBuf,
        missing: String,
        present: String,
    },
    #[error("cannot generate {what}: {cause}")]
    Generate { what: &'static str, cause: String },
    #[error(
        "the TLS server key must be RSA (the FAPI TLS 1.2 cipher suites are ECDHE-RSA), found {found}"
    )]
    NotRsa { found: String },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_offers_exactly_the_fapi_suites() {
        use rustls::CipherSuite as S;
        let mut suites: Vec<S> = crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        suites.sort_by_key(|s| u16::from(*s));
        let mut expected = vec![
            S::TLS13_AES_128_GCM_SHA256,
            S::TLS13_AES_256_GCM_SHA384,
            S::TLS13_CHACHA20_POLY1305_SHA256,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ];
        expected.sort_by_key(|s| u16::from(*s));
        assert_eq!(suites, expected);
    }

    #[test]
    fn protocol_versions_are_tls12_and_tls13_only() {
        let versions: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            vec![
                rustls::ProtocolVersion::TLSv1_3,
                rustls::ProtocolVersion::TLSv1_2
            ]
        );
    }

    #[test]
    fn io_cause_drops_the_os_error_number() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(io_cause(&e), "No such file or directory");
    }
}
