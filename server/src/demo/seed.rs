//! `consentry serve --demo`: seeds a demo bank on first start (customers, accounts, a year of
//! transactions, beneficiaries, an operator) and a demo TPP whose private keys and client
//! certificate are written under `{data_dir}/demo/`. A second run keeps the data.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject as _;
use serde_json::json;

use super::bank::{self, DemoCredential};
use crate::http::client_cert::PeerCertificate;
use crate::keys::SigningAlg;
use crate::keys::jwk;
use crate::registration::metadata::{ClientMetadata, Profile, new_client};
use crate::serve::Prepared;
use crate::store::{LedgerStore as _, MetaStore as _, Role};
use crate::tls::local_ca::{ClientSubject, LocalPki, ensure_local_pki, issue_client_certificate};

pub const DEMO_MARKER: &str = "demo_seeded";
pub const DEMO_CLIENT_ID: &str = "demo-tpp";
pub const DEMO_REDIRECT_URI: &str = "https://demo-tpp.localhost/callback";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Keys(#[from] crate::keys::KeyError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot write {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("demo data: {0}")]
    Data(String),
}

/// What the demo offers, printed after start-up.
pub struct DemoReport {
    pub fresh: bool,
    pub credentials: Vec<DemoCredential>,
    pub demo_dir: PathBuf,
    pub issuer: String,
    pub mtls_base: String,
}

pub async fn seed(prepared: &Prepared) -> Result<DemoReport, DemoError> {
    let state = &prepared.state;
    let config = &state.config;
    let data_dir = &config.storage.data_dir;
    let demo_dir = data_dir.join("demo");
    let now = state.clock.now();
    let report = |fresh, credentials| DemoReport {
        fresh,
        credentials,
        demo_dir: demo_dir.clone(),
        issuer: config
            .server
            .issuer
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
        mtls_base: config
            .mtls_base_url()
            .as_str()
            .trim_end_matches('/')
            .to_owned(),
    };
    if state.store.meta(DEMO_MARKER).await?.is_some() {
        let credentials = bank::generate(now, &|_| String::new()).credentials;
        return Ok(report(false, credentials));
    }

    let hasher = state.passwords.clone();
    let demo = tokio::task::spawn_blocking(move || {
        bank::generate(now, &|pw| hasher.hash_now(pw).unwrap_or_default())
    })
    .await
    .map_err(|_| DemoError::Data("generating the demo bank failed".to_owned()))?;
    if demo.seed.users.iter().any(|u| u.password_hash.is_empty()) {
        return Err(DemoError::Data("hashing a demo password failed".to_owned()));
    }

    let generated_pki;
    let pki = match &prepared.local_pki {
        Some(pki) => pki,
        None => {
            generated_pki =
                ensure_local_pki(&data_dir.join("tls"), &["localhost".to_owned()], now)?;
            &generated_pki
        }
    };
    let tpp = demo_tpp(pki, state.config.keys.rsa_bits, now)?;
    tpp.write(&demo_dir, pki)?;
    let metadata = ClientMetadata::parse(&tpp.metadata.to_string())
        .and_then(|m| m.validate(Profile::Fapi1Advanced))
        .map_err(|e| DemoError::Data(e.to_string()))?;
    let client = new_client(metadata, now).map_err(|e| DemoError::Data(e.to_string()))?;

    let mut seed = demo.seed;
    seed.clients.push(client.record);
    let fresh = state.store.seed_once(DEMO_MARKER, &seed).await?;
    Ok(report(fresh, demo.credentials))
}

struct DemoTpp {
    private_jwks: serde_json::Value,
    public_jwks: serde_json::Value,
    cert_pem: String,
    key_pem: String,
    metadata: serde_json::Value,
}

fn demo_tpp(pki: &LocalPki, rsa_bits: u32, now: i64) -> Result<DemoTpp, DemoError> {
    let key = jwk::generate(SigningAlg::PS256, rsa_bits)?;
    let private: serde_json::Value = serde_json::from_str(&key.private_jwk)
        .map_err(|e| DemoError::Data(format!("demo TPP key: {e}")))?;
    let subject = ClientSubject {
        common_name: "Demo TPP".to_owned(),
        organization: Some("Demo TPP Ltd".to_owned()),
        organizational_unit: Some("0015800001041REAAY".to_owned()),
        country: Some("GB".to_owned()),
        dns_names: vec!["demo-tpp.localhost".to_owned()],
    };
    let (cert_pem, key_pem) = issue_client_certificate(pki, &subject, now)?;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| DemoError::Data(format!("demo TPP certificate: {e}")))?;
    let cert = PeerCertificate::from_chain(vec![der])
        .map_err(|e| DemoError::Data(format!("demo TPP certificate: {e}")))?;
    let public_jwks = json!({ "keys": [key.public_jwk] });
    let metadata = json!({
        "client_id": DEMO_CLIENT_ID,
        "client_name": "Demo TPP",
        "profile": "fapi1-advanced",
        "redirect_uris": [DEMO_REDIRECT_URI],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "PS256",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code id_token", "code"],
        "scope": "openid accounts payments",
        "jwks": public_jwks,
        "tls_client_auth_subject_dn": cert.subject_dn(),
        "tls_client_certificate_bound_access_tokens": true,
        "id_token_signed_response_alg": "PS256",
        "request_object_signing_alg": "PS256",
        "authorization_signed_response_alg": "PS256",
    });
    Ok(DemoTpp {
        private_jwks: json!({ "keys": [private] }),
        public_jwks,
        cert_pem,
        key_pem,
        metadata,
    })
}

impl DemoTpp {
    fn write(&self, dir: &Path, pki: &LocalPki) -> Result<(), DemoError> {
        std::fs::create_dir_all(dir).map_err(|cause| DemoError::Write {
            path: dir.to_owned(),
            cause,
        })?;
        let pretty =
            |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
        write_file(
            &dir.join("tpp-private-jwks.json"),
            &pretty(&self.private_jwks),
            true,
        )?;
        write_file(
            &dir.join("tpp-public-jwks.json"),
            &pretty(&self.public_jwks),
            false,
        )?;
        write_file(&dir.join("tpp-client.crt"), &self.cert_pem, false)?;
        write_file(&dir.join("tpp-client.key"), &self.key_pem, true)?;
        write_file(
            &dir.join("tpp-metadata.json"),
            &pretty(&self.metadata),
            false,
        )?;
        write_file(&dir.join("ca.crt"), &pki.ca_cert_pem, false)?;
        Ok(())
    }
}

fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), DemoError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if private { 0o600 } else { 0o644 });
        let mut file = options.open(path)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    };
    write().map_err(|cause| DemoError::Write {
        path: path.to_owned(),
        cause,
    })
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.demo_dir.display();
        writeln!(f)?;
        if self.fresh {
            writeln!(f, "Demo bank seeded.")?;
        } else {
            writeln!(f, "Demo bank already present: existing data kept.")?;
        }
        writeln!(f, "Customers (sign in at {}/login):", self.issuer)?;
        for c in self.credentials.iter().filter(|c| c.role == Role::Customer) {
            writeln!(
                f,
                "  {:<10} password {:<22} {}",
                c.username, c.password, c.display_name
            )?;
        }
        for c in self.credentials.iter().filter(|c| c.role == Role::Operator) {
            writeln!(f, "Operator: {} password {}", c.username, c.password)?;
        }
        writeln!(
            f,
            "Demo TPP: client_id {DEMO_CLIENT_ID} (private_key_jwt + mTLS, PS256)"
        )?;
        writeln!(
            f,
            "  {dir}/tpp-private-jwks.json  {dir}/tpp-client.crt  {dir}/tpp-client.key  {dir}/ca.crt"
        )?;
        writeln!(f, "Next:")?;
        writeln!(
            f,
            "  curl --cacert {dir}/ca.crt {}/.well-known/openid-configuration",
            self.issuer
        )?;
        writeln!(
            f,
            "  curl --cacert {dir}/ca.crt --cert {dir}/tpp-client.crt --key {dir}/tpp-client.key {}/tls/client-certificate",
            self.mtls_base
        )?;
        writeln!(
            f,
            "  open {}/login in a browser (trust {dir}/ca.crt, or accept the warning)",
            self.issuer
        )
    }
}
