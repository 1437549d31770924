//! The client certificate of a request (RFC 8705 mutual TLS), from the TLS connection or, behind a
//! trusted TLS-terminating proxy, from the RFC 9440 `Client-Cert` / `Client-Cert-Chain` headers.
//!
//! The listener resolves the certificate once per request and puts a [`ClientCertificate`] into
//! the request's extensions; handlers take it with the extractor. Whether the certificate is
//! trusted for a given client is decided by client authentication, not here.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::HeaderMap;
use http::request::Parts;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

/// RFC 9440 header carrying the leaf certificate.
pub const CLIENT_CERT: http::HeaderName = http::HeaderName::from_static("client-cert");
/// RFC 9440 header carrying the intermediates.
pub const CLIENT_CERT_CHAIN: http::HeaderName = http::HeaderName::from_static("client-cert-chain");

/// A peer's certificate chain (leaf first) with the leaf's fields parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    chain: Vec<CertificateDer<'static>>,
    subject_dn: String,
    subject_attributes: Vec<crate::protocol::dn::Attribute>,
    issuer_dn: String,
    san_dns: Vec<String>,
    san_uris: Vec<String>,
    san_ips: Vec<IpAddr>,
    san_emails: Vec<String>,
    thumbprint_sha256: String,
    not_before: i64,
    not_after: i64,
    serial_hex: String,
    spki_der: Vec<u8>,
}

/// Why a certificate chain could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate chain is empty")]
    Empty,
    #[error("certificate {index} of the chain is not a valid X.509 certificate: {cause}")]
    Unparseable { index: usize, cause: String },
}

impl PeerCertificate {
    /// Parses a chain (leaf first). Every certificate must parse; the leaf's fields are kept.
    pub fn from_chain(chain: Vec<CertificateDer<'static>>) -> Result<Self, CertificateError> {
        let leaf_der = chain.first().ok_or(CertificateError::Empty)?;
        for (index, der) in chain.iter().enumerate().skip(1) {
            parse(der, index)?;
        }
        let leaf = parse(leaf_der, 0)?;
        let unparseable = |cause: String| CertificateError::Unparseable { index: 0, cause };

        let subject_dn = leaf
            .subject()
            .to_string_with_registry(x509_parser::objects::oid_registry())
            .map_err(|e| unparseable(format!("subject: {e}")))?;
        let mut subject_attributes = Vec::new();
        for attr in leaf.subject().iter_attributes() {
            let value = attr
                .as_str()
                .map_err(|e| unparseable(format!("subject attribute: {e}")))?;
            subject_attributes.push(crate::protocol::dn::Attribute {
                oid: attr.attr_type().to_id_string(),
                value: crate::protocol::dn::normalize_value(value),
            });
        }
        subject_attributes.sort();
        let issuer_dn = leaf
            .issuer()
            .to_string_with_registry(x509_parser::objects::oid_registry())
            .map_err(|e| unparseable(format!("issuer: {e}")))?;

        let (mut san_dns, mut san_uris, mut san_ips, mut san_emails) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let san = leaf
            .subject_alternative_name()
            .map_err(|e| unparseable(format!("subjectAltName: {e}")))?;
        for name in san.iter().flat_map(|san| san.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => san_dns.push((*dns).to_owned()),
                GeneralName::URI(uri) => san_uris.push((*uri).to_owned()),
                GeneralName::RFC822Name(email) => san_emails.push((*email).to_owned()),
                GeneralName::IPAddress(bytes) => match crate::tls::local_ca::ip_from_bytes(bytes) {
                    Some(ip) => san_ips.push(ip),
                    None => {
                        return Err(unparseable(
                            "subjectAltName: an IP address is neither IPv4 nor IPv6".to_owned(),
                        ));
                    }
                },
                _ => {}
            }
        }

        Ok(Self {
            thumbprint_sha256: crate::crypto::b64url(&crate::crypto::sha256(leaf_der.as_ref())),
            not_before: leaf.validity().not_before.timestamp(),
            not_after: leaf.validity().not_after.timestamp(),
            serial_hex: hex::encode(leaf.raw_serial()),
            spki_der: leaf.public_key().raw.to_vec(),
            subject_dn,
            subject_attributes,
            issuer_dn,
            san_dns,
            san_uris,
            san_ips,
            san_emails,
            chain,
        })
    }

    /// The leaf certificate, DER.
    pub fn leaf_der(&self) -> &CertificateDer<'static> {
        // `from_chain` refuses an empty chain, so the leaf is there.
        &self.chain[0]
    }

    /// The whole chain as presented, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf's subject DN as x509-parser renders it (e.g. `C=GB, O=Acme, CN=tpp`), the form
    /// `tls_client_auth_subject_dn` is compared with.
    pub fn subject_dn(&self) -> &str {
        &self.subject_dn
    }

    /// The subject's attributes (OID and normalised value), sorted: what `tls_client_auth`
    /// compares a registered DN with (`crate::protocol::dn::matches`).
    pub fn subject_attributes(&self) -> &[crate::protocol::dn::Attribute] {
        &self.subject_attributes
    }

    pub fn issuer_dn(&self) -> &str {
        &self.issuer_dn
    }

    pub fn san_dns(&self) -> &[String] {
        &self.san_dns
    }

    pub fn san_uris(&self) -> &[String] {
        &self.san_uris
    }

    pub fn san_ips(&self) -> &[IpAddr] {
        &self.san_ips
    }

    pub fn san_emails(&self) -> &[String] {
        &self.san_emails
    }

    /// RFC 8705 `x5t#S256`: base64url (no padding) of the SHA-256 of the leaf DER.
    pub fn thumbprint_sha256(&self) -> &str {
        &self.thumbprint_sha256
    }

    /// Start of validity, Unix seconds.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of validity, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The serial number as lowercase hex of its DER content octets.
    pub fn serial_hex(&self) -> &str {
        &self.serial_hex
    }

    /// The leaf's SubjectPublicKeyInfo, DER: what `self_signed_tls_client_auth` compares with
    /// the keys of the client's JWKS.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }
}

fn parse<'a>(
    der: &'a CertificateDer<'_>,
    index: usize,
) -> Result<X509Certificate<'a>, CertificateError> {
    match X509Certificate::from_der(der.as_ref()) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertificateError::Unparseable {
            index,
            cause: "trailing data after the certificate".to_owned(),
        }),
        Err(e) => Err(CertificateError::Unparseable {
            index,
            cause: e.to_string(),
        }),
    }
}

/// Where the certificate of a request came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertificateSource {
    /// The TLS connection's own client certificate.
    #[default]
    Tls,
    /// The `Client-Cert` header of a trusted TLS-terminating proxy.
    ProxyHeader,
}

impl CertificateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateSource::Tls => "tls",
            CertificateSource::ProxyHeader => "proxy_header",
        }
    }
}

/// The client certificate of a request, if any: an infallible extractor.
#[derive(Clone, Debug, Default)]
pub struct ClientCertificate {
    pub certificate: Option<Arc<PeerCertificate>>,
    pub source: CertificateSource,
}

impl<S> FromRequestParts<S> for ClientCertificate {
    type Rejection = Infallible;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let found = parts
            .extensions
            .get::<ClientCertificate>()
            .cloned()
            .unwrap_or_default();
        std::future::ready(Ok(found))
    }
}

/// Why an RFC 9440 header could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("{header} is not a structured-field byte sequence: {cause}")]
    Syntax { header: &'static str, cause: String },
    #[error("{header} appears more than once")]
    Repeated { header: &'static str },
    #[error(transparent)]
    Certificate(#[from] CertificateError),
}

/// Reads the certificate a proxy forwarded: `Ok(None)` without a `Client-Cert` header.
pub fn from_proxy_headers(headers: &HeaderMap) -> Result<Option<PeerCertificate>, HeaderError> {
    let mut leaf_values = headers.get_all(CLIENT_CERT).iter();
    let Some(leaf_value) = leaf_values.next() else {
        return Ok(None);
    };
    if leaf_values.next().is_some() {
        return Err(HeaderError::Repeated {
            header: "Client-Cert",
        });
    }
    let leaf = parse_client_cert(header_text(leaf_value, "Client-Cert")?)?;

    // Several field lines of a list combine into one, comma-separated (RFC 9110 section 5.3).
    let chain_lines = headers
        .get_all(CLIENT_CERT_CHAIN)
        .iter()
        .map(|v| header_text(v, "Client-Cert-Chain"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut chain = vec![leaf];
    if !chain_lines.is_empty() {
        chain.extend(parse_client_cert_chain(&chain_lines.join(","))?);
    }
    Ok(Some(PeerCertificate::from_chain(chain)?))
}

fn header_text<'a>(
    value: &'a http::HeaderValue,
    header: &'static str,
) -> Result<&'a str, HeaderError> {
    value.to_str().map_err(|_| HeaderError::Syntax {
        header,
        cause: "not visible ASCII".to_owned(),
    })
}

/// Parses an RFC 9440 `Client-Cert` value: one byte sequence `:BASE64:` (parameters ignored).
pub fn parse_client_cert(value: &str) -> Result<CertificateDer<'static>, HeaderError> {
    let syntax = |cause: String| HeaderError::Syntax {
        header: "Client-Cert",
        cause,
    };
    let mut p = FieldParser::new(value);
    p.skip_sp();
    let der = p.byte_sequence().map_err(syntax)?;
    p.parameters().map_err(syntax)?;
    p.skip_sp();
    if !p.at_end() {
        return Err(syntax(format!(
            "unexpected {:?} after the byte sequence",
            p.rest()
        )));
    }
    Ok(CertificateDer::from(der))
}

/// Parses an RFC 9440 `Client-Cert-Chain` value: a list of byte sequences (parameters ignored).
/// An empty value is an empty list.
pub fn parse_client_cert_chain(value: &str) -> Result<Vec<CertificateDer<'static>>, HeaderError> {
    let syntax = |cause: String| HeaderError::Syntax {
        header: "Client-Cert-Chain",
        cause,
    };
    let mut p = FieldParser::new(value);
    let mut out = Vec::new();
    p.skip_sp();
    if p.at_end() {
        return Ok(out);
    }
    loop {
        out.push(CertificateDer::from(p.byte_sequence().map_err(syntax)?));
        p.parameters().map_err(syntax)?;
        p.skip_ows();
        if p.at_end() {
            return Ok(out);
        }
        if !p.eat(b',') {
            return Err(syntax(format!("expected a comma before {:?}", p.rest())));
        }
        p.skip_ows();
        if p.at_end() {
            return Err(syntax("trailing comma".to_owned()));
        }
    }
}

/// Just enough of an RFC 8941 parser for byte sequences and the parameters that may follow them.
struct FieldParser<'a> {
    input: &'a [u8],
    pos: usize,
}

/// Standard base64; RFC 8941 parsers should not insist on padding.
const SF_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl<'a> FieldParser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            input: input.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(self.input.get(self.pos..).unwrap_or_default())
            .chars()
            .take(16)
            .collect()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn byte_sequence(&mut self) -> Result<Vec<u8>, String> {
        if !self.eat(b':') {
            return Err("a byte sequence starts with ':'".to_owned());
        }
        let encoded =
            self.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if !self.eat(b':') {
            return Err(
                "the byte sequence has no closing ':' or contains a character outside base64"
                    .to_owned(),
            );
        }
        if encoded.is_empty() {
            return Err("the byte sequence is empty".to_owned());
        }
        SF_BASE64
            .decode(encoded)
            .map_err(|e| format!("invalid base64: {e}"))
    }

    /// Skips `;key[=value]` parameters.
    fn parameters(&mut self) -> Result<(), String> {
        while self.eat(b';') {
            self.skip_sp();
            if !self
                .peek()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'*')
            {
                return Err("a parameter key starts with a lowercase letter or '*'".to_owned());
            }
            self.take_while(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'-' | b'.' | b'*')
            });
            if self.eat(b'=') {
                self.bare_item()?;
            }
        }
        Ok(())
    }

    /// Skips a bare item of any type.
    fn bare_item(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(b':') => self.byte_sequence().map(drop),
            Some(b'"') => {
                self.pos += 1;
                loop {
                    match self.peek() {
                        None => return Err("unterminated string".to_owned()),
                        Some(b'\\') => {
                            self.pos += 1;
                            if !matches!(self.peek(), Some(b'"' | b'\\')) {
                                return Err("invalid escape in a string".to_owned());
                            }
                            self.pos += 1;
                        }
                        Some(b'"') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        Some(b) if (0x20..0x7f).contains(&b) => self.pos += 1,
                        Some(_) => return Err("invalid character in a string".to_owned()),
                    }
                }
            }
            Some(b'?') => {
                self.pos += 1;
                if self.eat(b'0') || self.eat(b'1') {
                    Ok(())
                } else {
                    Err("invalid boolean".to_owned())
                }
            }
            Some(b) if b == b'-' || b.is_ascii_digit() => {
                self.pos += 1;
                self.take_while(|b| b.is_ascii_digit() || b == b'.');
                Ok(())
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'*' => {
                self.take_while(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b));
                Ok(())
            }
            _ => Err("invalid parameter value".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real certificate, to have DER that parses.
    fn certificate() -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["tpp.example".to_owned(), "10.0.0.1".to_owned()])
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tpp");
        params.self_signed(&key).unwrap().der().clone()
    }

    fn sf(der: &[u8]) -> String {
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(der)
        )
    }

    #[test]
    fn parses_a_client_cert_value() {
        let der = certificate();
        assert_eq!(parse_client_cert(&sf(&der)), Ok(der.clone()));
        assert_eq!(
            parse_client_cert(&format!("  {} ", sf(&der))),
            Ok(der.clone())
        );
        assert_eq!(
            parse_client_cert(&format!("{};a=1;b=?0;c=\"x,y\";d=tok", sf(&der))),
            Ok(der.clone())
        );
        let unpadded = format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(&der)
        );
        assert_eq!(parse_client_cert(&unpadded), Ok(der));
    }

    #[test]
    fn rejects_malformed_client_cert_values() {
        for bad in [
            "",
            "abc",
            ":",
            "::",
            ":YWJj",
            "YWJj:",
            ":YW Jj:",
            ":YWJj:x",
            ":YWJj:, :YWJj:",
            ":Y-_j:",
            ":YWJj:;",
            ":YWJj:;A=1",
            ":Y:",
        ] {
            assert!(
                matches!(
                    parse_client_cert(bad),
                    Err(HeaderError::Syntax {
                        header: "Client-Cert",
                        ..
                    })
                ),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn parses_client_cert_chain_lists() {
        let a = certificate();
        let b = certificate();
        assert_eq!(parse_client_cert_chain(""), Ok(vec![]));
        assert_eq!(parse_client_cert_chain(&sf(&a)), Ok(vec![a.clone()]));
        assert_eq!(
            parse_client_cert_chain(&format!("{}, {}", sf(&a), sf(&b))),
            Ok(vec![a.clone(), b.clone()])
        );
        assert_eq!(
            parse_client_cert_chain(&format!("{};p=1,\t{}", sf(&a), sf(&b))),
            Ok(vec![a, b])
        );
    }

    #[test]
    fn rejects_malformed_client_cert_chain_lists() {
        let a = sf(&certificate());
        for bad in [
            format!("{a},"),
            format!("{a} {a}"),
            format!(",{a}"),
            format!("{a},,{a}"),
            "(:YWJj:)".to_owned(),
            "tok".to_owned(),
        ] {
            assert!(
                parse_client_cert_chain(&bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn reads_the_certificate_forwarded_by_a_proxy() {
        let leaf = certificate();
        let intermediate = certificate();
        let mut headers = HeaderMap::new();
        assert_eq!(from_proxy_headers(&headers), Ok(None));

        headers.insert(CLIENT_CERT, sf(&leaf).parse().unwrap());
        headers.append(CLIENT_CERT_CHAIN, sf(&intermediate).parse().unwrap());
        let cert = from_proxy_headers(&headers).ok().flatten();
        assert_eq!(
            cert.map(|c| c.chain().to_vec()),
            Some(vec![leaf.clone(), intermediate])
        );

        headers.append(CLIENT_CERT, sf(&leaf).parse().unwrap());
        assert_eq!(
            from_proxy_headers(&headers),
            Err(HeaderError::Repeated {
                header: "Client-Cert"
            })
        );

        let mut not_a_cert = HeaderMap::new();
        not_a_cert.insert(CLIENT_CERT, ":YWJj:".parse().unwrap());
        assert!(matches!(
            from_proxy_headers(&not_a_cert),
            Err(HeaderError::Certificate(_))
        ));
    }

    #[test]
    fn peer_certificate_exposes_the_leaf_fields() {
        let der = certificate();
        let cert = PeerCertificate::from_chain(vec![der.clone()]).unwrap();
        assert_eq!(cert.subject_dn(), "O=Acme, CN=tpp");
        assert_eq!(cert.issuer_dn(), "O=Acme, CN=tpp");
        assert_eq!(cert.san_dns(), ["tpp.example".to_owned()]);
        assert_eq!(cert.san_ips(), [IpAddr::from([10, 0, 0, 1])]);
        assert!(cert.san_uris().is_empty() && cert.san_emails().is_empty());
        assert_eq!(
            cert.thumbprint_sha256(),
            crate::crypto::b64url(&crate::crypto::sha256(&der))
        );
        assert_eq!(cert.thumbprint_sha256().len(), 43);
        assert!(cert.not_before() < cert.not_after());
        assert!(!cert.serial_hex().is_empty());
        assert_eq!(cert.leaf_der(), &der);
        assert_eq!(
            PeerCertificate::from_chain(vec![]),
            Err(CertificateError::Empty)
        );
        assert!(matches!(
            PeerCertificate::from_chain(vec![der, CertificateDer::from(vec![1, 2, 3])]),
            Err(CertificateError::Unparseable { index: 1, .. })
        ));
    }
}
