//! The TLS of the mTLS listener as FAPI requires it (FAPI 1 Advanced 8.5, FAPI 2 SP 5.2.1): TLS
//! 1.2 only with the ECDHE-RSA AES-GCM suites (DHE is not offered here), or TLS 1.3. TLS 1.0 and
//! 1.1 cannot be offered by this client's TLS library; the server's refusal of them is tested in
//! the server's own suite.

use std::sync::Arc;

use rustls::crypto::aws_lc_rs::{self as provider, cipher_suite};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};

use crate::env::{Check, Env, ensure, transport};

fn roots(env: &Env) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    match &env.config.server_ca {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()).flatten() {
                let _ = roots.add(cert);
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    roots
}

fn client(
    env: &Env,
    suite: SupportedCipherSuite,
    version: &'static SupportedProtocolVersion,
) -> Result<reqwest::Client, crate::env::Failure> {
    let mut p = provider::default_provider();
    p.cipher_suites = vec![suite];
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(p))
        .with_protocol_versions(&[version])
        .map_err(transport)?
        .with_root_certificates(roots(env))
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .build()
        .map_err(transport)
}

/// Connects to the token endpoint with one suite and one version; whether the handshake worked.
async fn handshake(
    env: &Env,
    suite: SupportedCipherSuite,
    version: &'static SupportedProtocolVersion,
) -> Result<bool, crate::env::Failure> {
    let url = env.endpoint("token_endpoint");
    Ok(client(env, suite, version)?.post(&url).send().await.is_ok())
}

pub(super) async fn fapi_tls(env: &Env) -> Check {
    let tls12 = &rustls::version::TLS12;
    let tls13 = &rustls::version::TLS13;
    let ok = handshake(
        env,
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        tls12,
    )
    .await?;
    ensure(ok, "EnsureTLS12WithFAPICiphers", || {
        "TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 was refused".to_owned()
    })?;
    let ok = handshake(
        env,
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        tls12,
    )
    .await?;
    ensure(ok, "EnsureTLS12WithFAPICiphers", || {
        "TLS 1.2 with ECDHE-RSA-AES256-GCM-SHA384 was refused".to_owned()
    })?;
    let refused = !handshake(
        env,
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        tls12,
    )
    .await?;
    ensure(refused, "DisallowInsecureCipher", || {
        "TLS 1.2 with ECDHE-RSA-CHACHA20-POLY1305 (not a FAPI suite) was accepted".to_owned()
    })?;
    let ok = handshake(env, cipher_suite::TLS13_AES_128_GCM_SHA256, tls13).await?;
    ensure(ok, "EnsureTLS13Allowed", || {
        "TLS 1.3 was refused".to_owned()
    })?;
    Ok(())
}
