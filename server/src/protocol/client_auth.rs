//! Client authentication at the token, PAR, introspection and revocation endpoints, by the
//! method the client registered: `private_key_jwt` (RFC 7523), `tls_client_auth` (RFC 8705: a
//! certificate chaining to a trust anchor whose subject or SAN is the registered one),
//! `self_signed_tls_client_auth` (the certificate is one of the client's JWKS `x5c`), and the
//! client secrets for plain OIDC clients. Every failure is `invalid_client`.

use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use super::client::Client;
use super::client_assertion::{AssertionContext, validate_client_assertion};
use super::error::{Challenge, OAuthError};
use super::jose::JwtRejection;
use crate::clock::UnixTime;
use crate::http::client_cert::PeerCertificate;
use crate::keys::SigningAlg;
use crate::registration::metadata::AuthMethod;

pub use super::client_assertion::AssertionAudiences;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the caller presented.
#[derive(Debug, Default, Clone)]
pub struct Credentials<'a> {
    /// `client_id` in the body or query.
    pub client_id: Option<&'a str>,
    pub client_assertion: Option<&'a str>,
    pub client_assertion_type: Option<&'a str>,
    /// `client_secret` in the body.
    pub client_secret: Option<&'a str>,
    /// From `Authorization: Basic` (already URL-decoded).
    pub basic: Option<(String, String)>,
    pub certificate: Option<&'a PeerCertificate>,
}

/// How a client proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authenticated {
    /// The assertion's jti, to be consumed once (with its `exp`) by the caller.
    PrivateKeyJwt {
        jti: String,
        exp: i64,
    },
    TlsClientAuth,
    SelfSignedTlsClientAuth,
    Secret,
}

/// The trust anchors for `tls_client_auth` certificates. Without any, `tls_client_auth` fails:
/// a DN on a certificate no one vouches for proves nothing.
#[derive(Clone, Default)]
pub struct ClientTrust {
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for ClientTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.verifier.is_some() {
            "ClientTrust(anchors)"
        } else {
            "ClientTrust(none)"
        })
    }
}

impl ClientTrust {
    pub fn new(anchors: Vec<CertificateDer<'static>>) -> Result<Self, String> {
        if anchors.is_empty() {
            return Ok(Self::default());
        }
        let mut roots = rustls::RootCertStore::empty();
        for a in anchors {
            roots.add(a).map_err(|e| format!("trust anchor: {e}"))?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            crate::tls::crypto_provider(),
        )
        .build()
        .map_err(|e| format!("trust anchors: {e}"))?;
        Ok(Self {
            verifier: Some(verifier),
        })
    }

    fn chains_to_anchor(&self, cert: &PeerCertificate, now: UnixTime) -> bool {
        let Some(v) = &self.verifier else {
            return false;
        };
        let when = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            now.max(0).unsigned_abs(),
        ));
        let chain = cert.chain();
        let Some((leaf, intermediates)) = chain.split_first() else {
            return false;
        };
        v.verify_client_cert(leaf, intermediates, when).is_ok()
    }
}

fn invalid(description: &str) -> OAuthError {
    OAuthError::invalid_client(description)
}

/// The client the caller says it is: `client_id` in the body, the Basic user, or the assertion's
/// issuer. Two different claims are `invalid_client`.
pub fn claimed_client_id(c: &Credentials<'_>) -> Result<String, OAuthError> {
    let from_assertion = c
        .client_assertion
        .and_then(super::client_assertion::assertion_client_id);
    let candidates = [
        c.client_id.map(str::to_owned),
        c.basic.as_ref().map(|(u, _)| u.clone()),
        from_assertion,
    ];
    let mut found: Option<String> = None;
    for id in candidates.into_iter().flatten() {
        match &found {
            Some(f) if *f != id => return Err(invalid("the client is identified inconsistently")),
            _ => found = Some(id),
        }
    }
    found.ok_or_else(|| invalid("the client is not identified"))
}

/// Authenticates `client` by its registered method; `client_jwks` is its key set (inline or
/// fetched), used by `private_key_jwt` and `self_signed_tls_client_auth`. A refusal for want of a
/// key says so ([`JwtRejection::key_refresh_may_help`]), so a fetched set can be refreshed.
pub fn authenticate(
    client: &Client,
    client_jwks: &Value,
    c: &Credentials<'_>,
    audiences: AssertionAudiences<'_>,
    trust: &ClientTrust,
    now: UnixTime,
) -> Result<Authenticated, JwtRejection> {
    let method = client.auth_method();
    if method != AuthMethod::PrivateKeyJwt
        && (c.client_assertion.is_some() || c.client_assertion_type.is_some())
    {
        return Err(refused(
            "client_assertion is not this client's authentication method",
        ));
    }
    match method {
        AuthMethod::PrivateKeyJwt => {
            let (Some(assertion), Some(kind)) = (c.client_assertion, c.client_assertion_type)
            else {
                return Err(refused(
                    "client_assertion and client_assertion_type are required",
                ));
            };
            let ctx = AssertionContext {
                client_id: &client.client_id,
                client_jwks,
                profile: client.profile,
                audiences,
                allowed_algs: &[SigningAlg::PS256, SigningAlg::ES256],
            };
            let v = validate_client_assertion(assertion, kind, &ctx, now)?;
            Ok(Authenticated::PrivateKeyJwt {
                jti: v.jti,
                exp: v.exp,
            })
        }
        AuthMethod::SelfSignedTlsClientAuth => {
            let cert = c
                .certificate
                .ok_or_else(|| refused("a client certificate is required"))?;
            if !(cert.not_before() <= now && now <= cert.not_after()) {
                return Err(refused("the client certificate is not valid now"));
            }
            let leaf = cert.leaf_der().as_ref();
            let known = client_jwks["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| {
                    k["x5c"][0]
                        .as_str()
                        .and_then(decode_std)
                        .is_some_and(|der| crate::crypto::constant_time_eq(&der, leaf))
                });
            if !known {
                // A certificate the client has just added to its jwks_uri: worth one refetch.
                return Err(JwtRejection::UnknownKey(invalid(
                    "the client certificate is not one of the client's registered certificates",
                )));
            }
            Ok(Authenticated::SelfSignedTlsClientAuth)
        }
        _ => {
            authenticate_without_keys(client, method, c, trust, now).map_err(JwtRejection::Rejected)
        }
    }
}

fn refused(description: &str) -> JwtRejection {
    JwtRejection::Rejected(invalid(description))
}

/// The methods that need no key set of the client: certificates chaining to a trust anchor, and
/// secrets.
fn authenticate_without_keys(
    client: &Client,
    method: AuthMethod,
    c: &Credentials<'_>,
    trust: &ClientTrust,
    now: UnixTime,
) -> Result<Authenticated, OAuthError> {
    match method {
        AuthMethod::TlsClientAuth => {
            let cert = c
                .certificate
                .ok_or_else(|| invalid("a client certificate is required"))?;
            let m = &client.metadata;
            let named = if let Some(dn) = &m.tls_client_auth_subject_dn {
                super::dn::matches(dn, cert.subject_attributes())
            } else if let Some(dns) = &m.tls_client_auth_san_dns {
                cert.san_dns().iter().any(|d| d.eq_ignore_ascii_case(dns))
            } else if let Some(uri) = &m.tls_client_auth_san_uri {
                cert.san_uris().iter().any(|u| u == uri)
            } else if let Some(ip) = &m.tls_client_auth_san_ip {
                ip.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| cert.san_ips().contains(&ip))
            } else if let Some(email) = &m.tls_client_auth_san_email {
                cert.san_emails()
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(email))
            } else {
                false
            };
            if !named {
                return Err(invalid("the client certificate is not the registered one"));
            }
            if !trust.chains_to_anchor(cert, now) {
                return Err(invalid(
                    "the client certificate does not chain to a trusted authority",
                ));
            }
            Ok(Authenticated::TlsClientAuth)
        }
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let presented = match method {
                AuthMethod::ClientSecretBasic => c.basic.as_ref().map(|(_, s)| s.as_str()),
                _ => c.client_secret,
            };
            let (Some(secret), Some(hash)) = (presented, client.secret_hash.as_ref()) else {
                let e = invalid("client authentication failed");
                return Err(if method == AuthMethod::ClientSecretBasic {
                    e.with_challenge(Challenge::Basic)
                } else {
                    e
                });
            };
            if crate::crypto::constant_time_eq(&crate::crypto::secret_hash(secret), hash) {
                Ok(Authenticated::Secret)
            } else {
                Err(invalid("client authentication failed").with_challenge(
                    if method == AuthMethod::ClientSecretBasic {
                        Challenge::Basic
                    } else {
                        Challenge::None
                    },
                ))
            }
        }
        AuthMethod::ClientSecretJwt => Err(invalid("client_secret_jwt is not supported")),
        AuthMethod::PrivateKeyJwt | AuthMethod::SelfSignedTlsClientAuth => Err(invalid(
            "this authentication method needs the client's keys",
        )),
    }
}

fn decode_std(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}
