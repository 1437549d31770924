//! The TLS of a listener (the mTLS one, the resource one) as FAPI requires it (FAPI 1 Advanced 8.5, FAPI 2 SP 5.2.1): TLS
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

/// Connects to `url` with one suite and one version; whether the handshake worked (any HTTP
/// answer).
async fn handshake(
    env: &Env,
    url: &str,
    suite: SupportedCipherSuite,
    version: &'static SupportedProtocolVersion,
) -> Result<bool, crate::env::Failure> {
    Ok(client(env, suite, version)?.get(url).send().await.is_ok())
}

/// Which handshakes with the token endpoint's listener worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Handshakes {
    /// TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 (a FAPI suite).
    aes128_gcm: bool,
    /// TLS 1.2 with ECDHE-RSA-AES256-GCM-SHA384 (a FAPI suite).
    aes256_gcm: bool,
    /// TLS 1.2 with ECDHE-RSA-CHACHA20-POLY1305 (not a FAPI suite).
    chacha20: bool,
    /// TLS 1.3.
    tls13: bool,
}

/// The listener's TLS as FAPI wants it: both FAPI suites over TLS 1.2, no other TLS 1.2 suite,
/// TLS 1.3 allowed.
fn judge(h: Handshakes) -> Check {
    ensure(h.aes128_gcm, "EnsureTLS12WithFAPICiphers", || {
        "TLS 1.2 with ECDHE-RSA-AES128-GCM-SHA256 was refused".to_owned()
    })?;
    ensure(h.aes256_gcm, "EnsureTLS12WithFAPICiphers", || {
        "TLS 1.2 with ECDHE-RSA-AES256-GCM-SHA384 was refused".to_owned()
    })?;
    ensure(!h.chacha20, "DisallowInsecureCipher", || {
        "TLS 1.2 with ECDHE-RSA-CHACHA20-POLY1305 (not a FAPI suite) was accepted".to_owned()
    })?;
    ensure(h.tls13, "EnsureTLS13Allowed", || {
        "TLS 1.3 was refused".to_owned()
    })
}

/// The TLS of the token endpoint's listener.
pub(super) async fn fapi_tls(env: &Env) -> Check {
    fapi_tls_at(env, &env.endpoint("token_endpoint")).await
}

/// The TLS of the listener serving `url` (the suite's `checkEndpointTLS` of an endpoint).
pub(super) async fn fapi_tls_at(env: &Env, url: &str) -> Check {
    let tls12 = &rustls::version::TLS12;
    let tls13 = &rustls::version::TLS13;
    let handshakes = Handshakes {
        aes128_gcm: handshake(
            env,
            url,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            tls12,
        )
        .await?,
        aes256_gcm: handshake(
            env,
            url,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            tls12,
        )
        .await?,
        chacha20: handshake(
            env,
            url,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            tls12,
        )
        .await?,
        tls13: handshake(env, url, cipher_suite::TLS13_AES_128_GCM_SHA256, tls13).await?,
    };
    judge(handshakes)
}

/// The judgement against every way a listener can get it wrong, and the module's handshakes
/// against local listeners: one configured as Consentry's, and ones that skip the FAPI rules.
#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests fail by panicking"
    )]

    use std::io::{Read as _, Write as _};
    use std::sync::Arc;

    use serde_json::json;

    use super::{Handshakes, fapi_tls, judge};
    use crate::env::now;
    use crate::modules::testkit::{FAPI1, ISSUER, condition, fixture_with};

    const FAPI: Handshakes = Handshakes {
        aes128_gcm: true,
        aes256_gcm: true,
        chacha20: false,
        tls13: true,
    };

    #[test]
    fn the_listener_must_offer_exactly_the_fapi_suites() {
        assert!(judge(FAPI).is_ok());
        let bad = [
            (
                Handshakes {
                    aes128_gcm: false,
                    ..FAPI
                },
                "EnsureTLS12WithFAPICiphers",
            ),
            (
                Handshakes {
                    aes256_gcm: false,
                    ..FAPI
                },
                "EnsureTLS12WithFAPICiphers",
            ),
            (
                Handshakes {
                    chacha20: true,
                    ..FAPI
                },
                "DisallowInsecureCipher",
            ),
            (
                Handshakes {
                    tls13: false,
                    ..FAPI
                },
                "EnsureTLS13Allowed",
            ),
        ];
        for (handshakes, expected) in bad {
            assert_eq!(condition(judge(handshakes)), expected, "{handshakes:?}");
        }
    }

    /// A TLS listener on a free local port with `config` that answers every request 400.
    fn listen(config: Arc<rustls::ServerConfig>) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let config = Arc::clone(&config);
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(connection, tcp);
                    let (mut request, mut chunk) = (Vec::new(), [0_u8; 1024]);
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ = tls.write_all(
                        b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                          content-length: 27\r\nconnection: close\r\n\r\n{\"error\":\"invalid_request\"}",
                    );
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        port
    }

    /// What the module makes of a listener with `config` (for the local PKI's server certificate).
    async fn module_against(
        pki: &consentry_server::tls::local_ca::LocalPki,
        config: Arc<rustls::ServerConfig>,
    ) -> crate::env::Check {
        let port = listen(config);
        let discovery =
            json!({"issuer": ISSUER, "token_endpoint": format!("https://localhost:{port}/token")});
        let mut f = fixture_with(FAPI1, discovery);
        f.env.config.server_ca = Some(pki.ca_cert_pem.clone());
        fapi_tls(&f.env).await
    }

    /// A listener with the cipher suites of `provider` for `versions`.
    fn listener_config(
        pki: &consentry_server::tls::local_ca::LocalPki,
        provider: Arc<rustls::crypto::CryptoProvider>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(pki.server.cert_chain.clone(), pki.server.key.clone_key())
            .unwrap();
        Arc::new(config)
    }

    #[tokio::test]
    async fn holder_of_key_module_fails_against_a_listener_that_skips_the_fapi_suites() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let pki =
            consentry_server::tls::local_ca::ensure_local_pki(dir.path(), &[], now()).unwrap();
        // Consentry's own listener configuration passes.
        let fapi = consentry_server::tls::server_config(
            &pki.server,
            consentry_server::tls::ClientAuth::None,
        )
        .unwrap();
        assert!(module_against(&pki, fapi).await.is_ok());
        // One that also takes TLS 1.2 with ChaCha20-Poly1305 (the library's default suites) fails.
        let (tls12, tls13) = (&rustls::version::TLS12, &rustls::version::TLS13);
        let lax = || Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        assert_eq!(
            condition(module_against(&pki, listener_config(&pki, lax(), &[tls13, tls12])).await),
            "DisallowInsecureCipher"
        );
        // One that takes only TLS 1.3 leaves TLS 1.2 clients without the FAPI suites.
        assert_eq!(
            condition(module_against(&pki, listener_config(&pki, lax(), &[tls13])).await),
            "EnsureTLS12WithFAPICiphers"
        );
        // One with the FAPI suites but only TLS 1.2 refuses TLS 1.3.
        let suites = consentry_server::tls::crypto_provider();
        assert_eq!(
            condition(module_against(&pki, listener_config(&pki, suites, &[tls12])).await),
            "EnsureTLS13Allowed"
        );
    }
}
