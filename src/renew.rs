//! Whether the site's leaf can stay: it must exist, cover exactly the configured names,
//! come from the current CA, and not expire within the renewal window.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

use crate::ca::Ca;
use crate::names::Name;

/// A leaf closer than this to its expiry is issued again.
pub const RENEW_BEFORE: time::Duration = time::Duration::days(30);

/// What a look at the leaf file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeafCheck {
    Good { not_after: OffsetDateTime },
    Missing,
    Unreadable(String),
    Expiring { not_after: OffsetDateTime },
    OtherNames,
    OtherCa,
}

impl LeafCheck {
    /// Why a new leaf is needed, or `None` when the current one is good.
    pub fn reason(&self) -> Option<String> {
        match self {
            LeafCheck::Good { .. } => None,
            LeafCheck::Missing => Some("there is none".into()),
            LeafCheck::Unreadable(why) => Some(format!("the current one is unreadable: {why}")),
            LeafCheck::Expiring { .. } => Some("the current one expires within 30 days".into()),
            LeafCheck::OtherNames => Some("the configured names changed".into()),
            LeafCheck::OtherCa => Some("the current one is from another CA".into()),
        }
    }
}

/// Checks the leaf certificate at `path` against the names and the CA.
pub fn check(path: &Path, names: &[Name], ca: &Ca, now: OffsetDateTime) -> LeafCheck {
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LeafCheck::Missing,
        Err(e) => return LeafCheck::Unreadable(e.to_string()),
    };
    let parsed = match x509_parser::pem::parse_x509_pem(&pem) {
        Ok((_, parsed)) => parsed,
        Err(e) => return LeafCheck::Unreadable(e.to_string()),
    };
    let cert = match parsed.parse_x509() {
        Ok(cert) => cert,
        Err(e) => return LeafCheck::Unreadable(e.to_string()),
    };
    let not_after = cert.validity().not_after.to_datetime();
    if !issued_by(&cert, ca) {
        return LeafCheck::OtherCa;
    }
    if sans(&cert) != names.iter().map(Name::to_string).collect() {
        return LeafCheck::OtherNames;
    }
    if not_after - now < RENEW_BEFORE {
        return LeafCheck::Expiring { not_after };
    }
    LeafCheck::Good { not_after }
}

/// The leaf's expiry, if the file holds a certificate.
pub fn not_after(path: &Path) -> Option<OffsetDateTime> {
    let pem = std::fs::read(path).ok()?;
    let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    let cert = parsed.parse_x509().ok()?;
    Some(cert.validity().not_after.to_datetime())
}

/// Whether the leaf names the CA as its issuer: its authority key id equals the CA's subject
/// key id (two CAs made on one machine share a subject), else the issuer name.
fn issued_by(cert: &x509_parser::certificate::X509Certificate<'_>, ca: &Ca) -> bool {
    use x509_parser::extensions::ParsedExtension;
    let Ok((_, ca_cert)) = x509_parser::parse_x509_certificate(ca.cert_der()) else {
        return false;
    };
    let authority = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        });
    let subject = ca_cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0),
            _ => None,
        });
    match (authority, subject) {
        (Some(a), Some(s)) => a == s,
        _ => cert.issuer().as_raw() == ca_cert.subject().as_raw(),
    }
}

fn sans(cert: &x509_parser::certificate::X509Certificate<'_>) -> BTreeSet<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return BTreeSet::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(bytes) => ip(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect()
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Days, KeyType};
    use crate::leaf::{self, Request};

    fn issue(ca: &Ca, names: &[Name], days: u32, dir: &Path) -> std::path::PathBuf {
        let request = Request {
            names,
            key_type: KeyType::EcdsaP256,
            days: Days::new(days).unwrap(),
            client: false,
        };
        let files = leaf::file_names(names, false, dir);
        leaf::write(&leaf::issue(ca, &request).unwrap(), &files).unwrap();
        files.cert
    }

    #[test]
    fn each_reason_to_issue_again() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::create(&dir.path().join("ca"), KeyType::EcdsaP256).unwrap();
        let names = vec![
            Name::parse("oh.home.arpa").unwrap(),
            Name::parse("10.0.0.5").unwrap(),
        ];
        let now = OffsetDateTime::now_utc();
        let certs = dir.path().join("certs");

        let missing = leaf::file_names(&names, false, &certs).cert;
        assert_eq!(check(&missing, &names, &ca, now), LeafCheck::Missing);

        let good = issue(&ca, &names, 397, &certs);
        assert!(matches!(
            check(&good, &names, &ca, now),
            LeafCheck::Good { .. }
        ));
        assert_eq!(check(&good, &names[..1], &ca, now), LeafCheck::OtherNames);
        let later = now + time::Duration::days(380);
        assert!(matches!(
            check(&good, &names, &ca, later),
            LeafCheck::Expiring { .. }
        ));

        let short = issue(&ca, &names[..1], 20, &dir.path().join("short"));
        assert!(
            check(&short, &names[..1], &ca, now)
                .reason()
                .unwrap()
                .contains("30 days")
        );

        let other = Ca::create(&dir.path().join("other"), KeyType::EcdsaP256).unwrap();
        let foreign = issue(&other, &names, 397, &dir.path().join("foreign"));
        assert_eq!(check(&foreign, &names, &ca, now), LeafCheck::OtherCa);

        std::fs::write(&good, "not a certificate").unwrap();
        assert!(matches!(
            check(&good, &names, &ca, now),
            LeafCheck::Unreadable(_)
        ));
        assert_eq!(not_after(&good), None);
    }
}
