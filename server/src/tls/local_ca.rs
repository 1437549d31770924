//! The local PKI made on first start when no certificates are configured: a "Consentry Local CA",
//! a server certificate it signs for the configured hostnames, and client certificates for the
//! demo TPP and tests.
//!
//! Files are never overwritten: an existing PKI is loaded as it is, a partial one is an error.

use std::fmt;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::string::{Ia5String, PrintableString};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType,
    SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
use zeroize::Zeroizing;

use super::{FileKind, TlsError, TlsMaterial, io_cause, read_certificates};
use crate::clock::UnixTime;

pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const SERVER_CERT_FILE: &str = "server.crt";
pub const SERVER_KEY_FILE: &str = "server.key";

const CA_COMMON_NAME: &str = "Consentry Local CA";
const ORGANIZATION: &str = "Consentry";
const DAY: i64 = 24 * 60 * 60;
const CA_LIFETIME: i64 = 10 * 365 * DAY;
const SERVER_LIFETIME: i64 = 2 * 365 * DAY;
const CLIENT_LIFETIME: i64 = 365 * DAY;
/// Certificates start a little in the past so that peers with a slow clock accept them.
const BACKDATE: i64 = 5 * 60;

/// The names every local server certificate covers besides the configured ones.
const ALWAYS_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The local CA and the server certificate it issued, as stored in `dir`.
pub struct LocalPki {
    pub ca_cert_pem: String,
    ca_key_pem: Zeroizing<String>,
    pub server: TlsMaterial,
    pub dir: PathBuf,
}

impl fmt::Debug for LocalPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalPki")
            .field("dir", &self.dir)
            .field(
                "ca_cert_pem",
                &format_args!("{} bytes", self.ca_cert_pem.len()),
            )
            .field("ca_key_pem", &"[redacted]")
            .field("server", &self.server)
            .finish()
    }
}

impl LocalPki {
    /// The CA certificate in DER, for trust stores.
    pub fn ca_cert_der(&self) -> Result<CertificateDer<'static>, TlsError> {
        use rustls_pki_types::pem::PemObject as _;
        CertificateDer::from_pem_slice(self.ca_cert_pem.as_bytes()).map_err(|e| {
            TlsError::Unusable {
                path: self.dir.join(CA_CERT_FILE),
                cause: e.to_string(),
            }
        })
    }

    /// The path of the CA certificate, to hand to clients that should trust the server.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT_FILE)
    }

    fn issuer(&self) -> Result<Issuer<'static, KeyPair>, TlsError> {
        let key = KeyPair::from_pem(&self.ca_key_pem).map_err(|e| TlsError::Unusable {
            path: self.dir.join(CA_KEY_FILE),
            cause: e.to_string(),
        })?;
        Issuer::from_ca_cert_pem(&self.ca_cert_pem, key).map_err(|e| TlsError::Unusable {
            path: self.dir.join(CA_CERT_FILE),
            cause: e.to_string(),
        })
    }
}

/// Loads the local PKI of `dir`, or creates it when none of its four files exist.
///
/// The server certificate covers `hostnames` and always `localhost`, `127.0.0.1` and `::1`.
/// Existing files are never overwritten; when only some exist, the error names the missing ones.
pub fn ensure_local_pki(
    dir: &Path,
    hostnames: &[String],
    now: UnixTime,
) -> Result<LocalPki, TlsError> {
    let files = [CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE];
    let (present, missing): (Vec<&str>, Vec<&str>) =
        files.iter().partition(|f| dir.join(f).exists());
    if missing.is_empty() {
        let pki = load(dir)?;
        warn_about_uncovered_names(&pki, hostnames);
        return Ok(pki);
    }
    if !present.is_empty() {
        return Err(TlsError::IncompletePki {
            dir: dir.to_owned(),
            missing: missing.join(", "),
            present: present.join(", "),
        });
    }
    create(dir, hostnames, now)
}

fn load(dir: &Path) -> Result<LocalPki, TlsError> {
    let ca_cert_path = dir.join(CA_CERT_FILE);
    let ca_key_path = dir.join(CA_KEY_FILE);
    let ca_cert_pem = read_text(&ca_cert_path, FileKind::Certificate)?;
    let ca_key_pem = Zeroizing::new(read_text(&ca_key_path, FileKind::PrivateKey)?);

    // The CA certificate must parse and the key must be its key, or every issued certificate
    // would carry a signature nobody can verify.
    let ca_der = read_certificates(&ca_cert_path)?
        .into_iter()
        .next()
        .ok_or_else(|| TlsError::NoCertificate {
            path: ca_cert_path.clone(),
        })?;
    let (_, ca_cert) =
        X509Certificate::from_der(ca_der.as_ref()).map_err(|e| TlsError::Unusable {
            path: ca_cert_path.clone(),
            cause: e.to_string(),
        })?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| TlsError::Unusable {
        path: ca_key_path.clone(),
        cause: e.to_string(),
    })?;
    if ca_key.der_bytes() != ca_cert.public_key().subject_public_key.data.as_ref() {
        return Err(TlsError::Unusable {
            path: ca_key_path,
            cause: format!(
                "it is not the key of the certificate in {}",
                ca_cert_path.display()
            ),
        });
    }

    let server =
        TlsMaterial::load_pem_files(&dir.join(SERVER_CERT_FILE), &dir.join(SERVER_KEY_FILE))?;
    Ok(LocalPki {
        ca_cert_pem,
        ca_key_pem,
        server,
        dir: dir.to_owned(),
    })
}

fn read_text(path: &Path, kind: FileKind) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Read {
        kind,
        path: path.to_owned(),
        cause: io_cause(&e),
    })
}

fn warn_about_uncovered_names(pki: &LocalPki, hostnames: &[String]) {
    let Some(leaf) = pki.server.cert_chain.first() else {
        return;
    };
    let Ok((_, cert)) = X509Certificate::from_der(leaf.as_ref()) else {
        return;
    };
    let mut covered: Vec<String> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => covered.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        covered.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    for host in hostnames {
        let wanted = match host.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => host.to_ascii_lowercase(),
        };
        if !covered.contains(&wanted) {
            tracing::warn!(
                hostname = %host,
                dir = %pki.dir.display(),
                "the existing local server certificate does not cover this hostname; remove the local PKI files to issue a new one"
            );
        }
    }
}

pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn create(dir: &Path, hostnames: &[String], now: UnixTime) -> Result<LocalPki, TlsError> {
    // Everything is made in memory first, so a failure leaves no files behind.
    let ca_key = rsa_key("the local CA key")?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = dn(&[
        (DnType::OrganizationName, ORGANIZATION),
        (DnType::CommonName, CA_COMMON_NAME),
    ]);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut ca_params, now, CA_LIFETIME)?;
    ca_params.serial_number = Some(random_serial());
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(generate("the local CA certificate"))?;

    let mut names: Vec<String> = Vec::new();
    for name in hostnames.iter().map(String::as_str).chain(ALWAYS_NAMES) {
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    let server_key = rsa_key("the local server key")?;
    let mut server_params = CertificateParams::default();
    let common_name = names.first().map_or("localhost", String::as_str);
    server_params.distinguished_name = dn(&[
        (DnType::OrganizationName, ORGANIZATION),
        (DnType::CommonName, common_name),
    ]);
    server_params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.use_authority_key_identifier_extension = true;
    set_validity(&mut server_params, now, SERVER_LIFETIME)?;
    server_params.serial_number = Some(random_serial());
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(generate("the local server certificate"))?;

    let ca_key_pem = Zeroizing::new(ca_key.serialize_pem());
    let server_key_pem = Zeroizing::new(server_key.serialize_pem());
    let server_cert_pem = server_cert.pem();

    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(dir).map_err(|e| TlsError::Write {
        path: dir.to_owned(),
        cause: io_cause(&e),
    })?;
    let mut written = Vec::new();
    let result = [
        (CA_CERT_FILE, ca_pem.as_str(), 0o644),
        (CA_KEY_FILE, ca_key_pem.as_str(), 0o600),
        (SERVER_CERT_FILE, server_cert_pem.as_str(), 0o644),
        (SERVER_KEY_FILE, server_key_pem.as_str(), 0o600),
    ]
    .into_iter()
    .try_for_each(|(name, contents, mode)| {
        let path = dir.join(name);
        write_new(&path, contents, mode)?;
        written.push(path);
        Ok(())
    });
    if let Err(e) = result {
        // Leave the directory as it was, so the next start can try again from nothing.
        for path in written {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    tracing::info!(dir = %dir.display(), names = ?names, "created a local CA and server certificate");

    let server = TlsMaterial {
        cert_chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    };
    Ok(LocalPki {
        ca_cert_pem: ca_pem,
        ca_key_pem,
        server,
        dir: dir.to_owned(),
    })
}

/// Creates `path` (never replacing an existing file) with `mode`, and writes `contents`.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), TlsError> {
    let error = |e: std::io::Error| TlsError::Write {
        path: path.to_owned(),
        cause: io_cause(&e),
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(error)?;
    file.write_all(contents.as_bytes()).map_err(error)?;
    file.sync_all().map_err(error)
}

/// The subject of a client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSubject {
    pub common_name: String,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    /// Two-letter ISO 3166 code.
    pub country: Option<String>,
    pub dns_names: Vec<String>,
}

/// Issues an RSA-2048 client certificate (clientAuth) signed by the local CA, valid for a year.
/// Returns the certificate and its private key (PKCS#8), both PEM.
pub fn issue_client_certificate(
    pki: &LocalPki,
    subject: &ClientSubject,
    now: UnixTime,
) -> Result<(String, String), TlsError> {
    let mut name = DistinguishedName::new();
    if let Some(country) = &subject.country {
        let printable = PrintableString::try_from(country.as_str())
            .ok()
            .filter(|_| country.len() == 2)
            .ok_or_else(|| TlsError::Generate {
                what: "a client certificate",
                cause: format!("invalid country code {country:?}"),
            })?;
        name.push(DnType::CountryName, DnValue::PrintableString(printable));
    }
    if let Some(organization) = &subject.organization {
        name.push(DnType::OrganizationName, organization.as_str());
    }
    if let Some(unit) = &subject.organizational_unit {
        name.push(DnType::OrganizationalUnitName, unit.as_str());
    }
    name.push(DnType::CommonName, subject.common_name.as_str());

    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.subject_alt_names = subject
        .dns_names
        .iter()
        .map(|dns| {
            Ia5String::try_from(dns.as_str())
                .map(SanType::DnsName)
                .map_err(|e| TlsError::Generate {
                    what: "a client certificate",
                    cause: format!("DNS name {dns:?}: {e}"),
                })
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, CLIENT_LIFETIME)?;
    params.serial_number = Some(random_serial());

    let key = rsa_key("a client key")?;
    let cert = params
        .signed_by(&key, &pki.issuer()?)
        .map_err(generate("a client certificate"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn rsa_key(what: &'static str) -> Result<KeyPair, TlsError> {
    KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(generate(what))
}

fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> TlsError {
    move |e| TlsError::Generate {
        what,
        cause: e.to_string(),
    }
}

fn dn(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (ty, value) in parts {
        name.push(ty.clone(), *value);
    }
    name
}

fn san(name: &str) -> Result<SanType, TlsError> {
    match name.parse::<IpAddr>() {
        Ok(ip) => Ok(SanType::IpAddress(ip)),
        Err(_) => Ia5String::try_from(name)
            .map(SanType::DnsName)
            .map_err(|e| TlsError::Generate {
                what: "the local server certificate",
                cause: format!("hostname {name:?}: {e}"),
            }),
    }
}

fn set_validity(
    params: &mut CertificateParams,
    now: UnixTime,
    lifetime: i64,
) -> Result<(), TlsError> {
    let at = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t).map_err(|e| TlsError::Generate {
            what: "a certificate validity period",
            cause: e.to_string(),
        })
    };
    params.not_before = at(now.saturating_sub(BACKDATE))?;
    params.not_after = at(now.saturating_add(lifetime))?;
    Ok(())
}

/// A random positive serial of 128 bits (RFC 5280 allows up to 20 octets).
fn random_serial() -> SerialNumber {
    let mut bytes = crate::crypto::random_bytes::<16>();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}
