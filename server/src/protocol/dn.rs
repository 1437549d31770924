//! Distinguished names for `tls_client_auth` (RFC 8705 section 2.1.2): the registered
//! `tls_client_auth_subject_dn` (an RFC 4514 string) against the certificate's subject. Compared
//! attribute by attribute: attribute types by OID (short names and dotted OIDs alike), values
//! case-insensitively with white space folded, the order of RDNs not significant (RFC 4514 strings
//! list them in reverse of the certificate's encoding, and registrations vary).

/// One attribute: its OID in dotted form and its normalised value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attribute {
    pub oid: String,
    pub value: String,
}

const NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("TITLE", "2.5.4.12"),
    ("GIVENNAME", "2.5.4.42"),
    ("ORGANIZATIONIDENTIFIER", "2.5.4.97"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
];

fn oid_of(attr_type: &str) -> Option<String> {
    let t = attr_type.trim();
    let t = t
        .strip_prefix("OID.")
        .or_else(|| t.strip_prefix("oid."))
        .unwrap_or(t);
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(t.to_owned());
    }
    let upper = t.to_ascii_uppercase();
    NAMES
        .iter()
        .find(|(n, _)| *n == upper)
        .map(|(_, oid)| (*oid).to_owned())
}

pub fn normalize_value(v: &str) -> String {
    v.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Parses an RFC 4514 string into its attributes, sorted. Escapes (`\,`, `\+`, `\XX` hex pairs)
/// are honoured; multi-valued RDNs (`+`) contribute each of their attributes. `None` when it does
/// not parse or names an attribute type we do not know.
pub fn parse_rfc4514(dn: &str) -> Option<Vec<Attribute>> {
    let mut attrs = Vec::new();
    let mut current = String::new();
    let mut parts = Vec::new();
    let mut chars = dn.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                if next.is_ascii_hexdigit() {
                    let low = chars.next()?;
                    let byte = u8::from_str_radix(&format!("{next}{low}"), 16).ok()?;
                    current.push(char::from(byte));
                } else {
                    current.push(next);
                }
            }
            ',' | '+' | ';' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    for part in parts {
        if part.trim().is_empty() {
            return None;
        }
        let (t, v) = part.split_once('=')?;
        attrs.push(Attribute {
            oid: oid_of(t)?,
            value: normalize_value(v),
        });
    }
    attrs.sort();
    Some(attrs)
}

/// Whether the registered DN names exactly the certificate subject's attributes.
pub fn matches(registered: &str, subject: &[Attribute]) -> bool {
    let Some(expected) = parse_rfc4514(registered) else {
        return false;
    };
    let mut actual = subject.to_vec();
    actual.sort();
    !expected.is_empty() && expected == actual
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Vec<Attribute> {
        [
            ("2.5.4.6", "GB"),
            ("2.5.4.10", "Demo TPP Ltd"),
            ("2.5.4.11", "0015800001041REAAY"),
            ("2.5.4.3", "Demo TPP"),
        ]
        .iter()
        .map(|(o, v)| Attribute {
            oid: (*o).to_owned(),
            value: normalize_value(v),
        })
        .collect()
    }

    #[test]
    fn order_case_and_spacing_do_not_matter() {
        assert!(matches(
            "CN=Demo TPP,OU=0015800001041REAAY,O=Demo TPP Ltd,C=GB",
            &subject()
        ));
        assert!(matches(
            "C=GB, O=Demo TPP Ltd, OU=0015800001041REAAY, CN=Demo TPP",
            &subject()
        ));
        assert!(matches(
            "cn=demo  tpp,ou=0015800001041reaay,o=DEMO TPP LTD,c=gb",
            &subject()
        ));
        assert!(matches(
            "2.5.4.3=Demo TPP,OU=0015800001041REAAY,O=Demo TPP Ltd,C=GB",
            &subject()
        ));
    }

    #[test]
    fn every_attribute_must_match_and_none_may_be_extra_or_missing() {
        assert!(
            !matches("CN=Demo TPP,O=Demo TPP Ltd,C=GB", &subject()),
            "missing OU"
        );
        assert!(
            !matches(
                "CN=Demo TPP,OU=0015800001041REAAY,O=Demo TPP Ltd,C=GB,L=London",
                &subject()
            ),
            "extra L"
        );
        assert!(!matches(
            "CN=Other TPP,OU=0015800001041REAAY,O=Demo TPP Ltd,C=GB",
            &subject()
        ));
        assert!(!matches("", &subject()));
        assert!(!matches("garbage", &subject()));
        assert!(!matches("XYZ=1", &subject()), "unknown attribute type");
    }

    #[test]
    fn escapes_are_honoured() {
        let s = vec![Attribute {
            oid: "2.5.4.10".to_owned(),
            value: normalize_value("Smith, Jones & Co"),
        }];
        assert!(matches("O=Smith\\, Jones & Co", &s));
        assert!(matches("O=Smith\\2C Jones & Co", &s));
        assert!(!matches("O=Smith, Jones & Co", &s));
    }
}
