//! The CA and the leaf nginx serves: the CA exists, is a CA and is not near its end; the
//! leaf covers every configured name, chains to our CA and has more than 30 days left.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::{Found, Outcome, Setup, tls_client};
use crate::ca::{self, CaError};
use crate::names::Name;

/// A CA this close to its end gets a warning: every client must trust a new one in time.
const CA_WARN_DAYS: i64 = 180;
/// A leaf this close to its end gets a warning: renew it before browsers refuse it.
const LEAF_WARN_DAYS: i64 = 30;

/// What later checks need to know about the CA.
pub struct CaFacts {
    pub der: Vec<u8>,
    pub fingerprint: String,
}

pub fn ca(s: &Setup, found: &mut Found) -> Outcome {
    let dir = s.config.ca_dir(s.paths);
    let (cert_path, _) = ca::files(&dir);
    let (loaded, keyless) = match Ca::load(&dir) {
        Ok(ca) => (ca, false),
        Err(CaError::NoKey(_)) => match Ca::load_cert_only(&cert_path) {
            Ok(ca) => (ca, true),
            Err(err) => return ca_failure(err),
        },
        Err(err) => return ca_failure(err),
    };
    found.ca = Some(CaFacts {
        der: loaded.der.clone(),
        fingerprint: loaded.fingerprint.clone(),
    });
    let days = (loaded.not_after - OffsetDateTime::now_utc()).whole_days();
    let summary = format!(
        "{} ({}), valid until {}, SHA-256 {}",
        cert_path.display(),
        loaded.subject,
        date(loaded.not_after),
        loaded.fingerprint
    );
    if days < 0 {
        return Outcome::failure(
            format!("the CA expired on {}", date(loaded.not_after)),
            "`ohproxy ca replace --force`, then trust the new CA on every client",
        );
    }
    if days < CA_WARN_DAYS {
        return Outcome::warning(
            format!("the CA ends in {days} days ({summary})"),
            "plan `ohproxy ca replace --force` and trusting the new CA on every client",
        );
    }
    if keyless {
        return Outcome::warning(
            format!("{summary}; its key is missing, so no new leaf can be issued"),
            format!("put {} back next to the certificate", ca::KEY_FILE),
        );
    }
    Outcome::ok(summary)
}

fn ca_failure(err: CaError) -> Outcome {
    let fix = match err {
        CaError::Missing(_) => "run `ohproxy init` (or `ohproxy up`) to create one",
        _ => "restore the CA files from a backup, or `ohproxy ca replace --force`",
    };
    Outcome::failure(err.to_string(), fix)
}

/// The facts of a CA certificate, whether or not its key is present.
struct Ca {
    der: Vec<u8>,
    subject: String,
    not_after: OffsetDateTime,
    fingerprint: String,
}

impl Ca {
    fn load(dir: &Path) -> Result<Ca, CaError> {
        ca::Ca::load(dir).map(|ca| Ca {
            der: ca.cert_der().to_vec(),
            subject: ca.subject().to_string(),
            not_after: ca.not_after(),
            fingerprint: ca.fingerprint(),
        })
    }

    fn load_cert_only(path: &Path) -> Result<Ca, CaError> {
        let bad = |reason: String| CaError::BadCert {
            path: path.to_path_buf(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|source| CaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let der = first_der(&pem).ok_or_else(|| bad("no certificate in it".into()))?;
        let (_, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| bad(e.to_string()))?;
        if !matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca) {
            return Err(CaError::NotCa(path.to_path_buf()));
        }
        use sha2::Digest;
        Ok(Ca {
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.to_datetime(),
            fingerprint: ca::colon_hex(&sha2::Sha256::digest(&der)),
            der,
        })
    }
}

/// The DER of the first certificate in a PEM file.
pub fn first_der(pem: &[u8]) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .next()?
        .ok()
        .map(|c| c.to_vec())
}

pub fn leaf(s: &Setup, found: &mut Found) -> Outcome {
    let files = crate::nginx::cert_files(&s.config, s.paths);
    let fix_issue = "`ohproxy up` (or `ohproxy cert`, then `ohproxy nginx apply`)";
    let pem = match std::fs::read(&files.cert) {
        Ok(pem) => pem,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::failure(
                format!("no leaf is installed for nginx at {}", files.cert.display()),
                fix_issue,
            );
        }
        Err(e) => {
            return Outcome::failure(
                format!("cannot read {}: {e}", files.cert.display()),
                "run doctor as a user who can read nginx's certificate directory",
            );
        }
    };
    let Some(der) = first_der(&pem) else {
        return Outcome::failure(
            format!("{} holds no PEM certificate", files.cert.display()),
            fix_issue,
        );
    };
    found.leaf_der = Some(der.clone());
    let ca = found.ca.as_ref().expect("the CA check passed");
    let facts = match LeafFacts::parse(&der) {
        Ok(facts) => facts,
        Err(why) => return Outcome::failure(format!("{}: {why}", files.cert.display()), fix_issue),
    };
    let where_ = files.cert.display();

    // The chain, the name and the dates, judged exactly as the TLS check will judge them.
    if let Err(err) = tls_client::verify_leaf(&ca.der, &der, s.config.domain.as_str()) {
        let why = tls_client::explain(&err, s.config.domain.as_str(), &facts.summary());
        return Outcome::failure(format!("{where_}: {why}"), fix_issue);
    }
    let missing: Vec<String> = s
        .config
        .leaf_names()
        .iter()
        .filter(|name| !facts.covers(name))
        .map(Name::to_string)
        .collect();
    if !missing.is_empty() {
        return Outcome::failure(
            format!(
                "{where_} does not cover {} ({})",
                missing.join(", "),
                facts.summary()
            ),
            fix_issue,
        );
    }
    let days = (facts.not_after - OffsetDateTime::now_utc()).whole_days();
    if days < LEAF_WARN_DAYS {
        return Outcome::warning(
            format!("{where_} ends in {days} days ({})", facts.summary()),
            "`ohproxy up` renews it (or `ohproxy cert`, then `ohproxy nginx apply`)",
        );
    }
    Outcome::ok(format!("{where_}: {}", facts.summary()))
}

/// The names and the end of a leaf.
pub struct LeafFacts {
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
    pub issuer: String,
    pub not_after: OffsetDateTime,
}

impl LeafFacts {
    pub fn parse(der: &[u8]) -> Result<LeafFacts, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
        let mut facts = LeafFacts {
            dns: Vec::new(),
            ips: Vec::new(),
            issuer: cert.issuer().to_string(),
            not_after: cert.validity().not_after.to_datetime(),
        };
        let san = cert.subject_alternative_name().map_err(|e| e.to_string())?;
        for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(dns) => facts.dns.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                        facts.ips.push(b.into());
                    } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                        facts.ips.push(b.into());
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// Whether a name is in the leaf, counting a `*.` entry as one label.
    pub fn covers(&self, name: &Name) -> bool {
        match name {
            Name::Ip(ip) => self.ips.contains(ip),
            Name::Dns(dns) => {
                let dns = dns.to_ascii_lowercase();
                self.dns.iter().any(|entry| {
                    entry == &dns
                        || entry.strip_prefix("*.").is_some_and(|parent| {
                            dns.split_once('.').is_some_and(|(_, rest)| rest == parent)
                        })
                })
            }
        }
    }

    /// `covers a, b; issued by X; until DATE`.
    pub fn summary(&self) -> String {
        let mut names = self.dns.clone();
        names.extend(self.ips.iter().map(|ip| ip.to_string()));
        let names = if names.is_empty() {
            "no names".to_string()
        } else {
            names.join(", ")
        };
        format!(
            "covers {names}; issued by {}; valid until {}",
            self.issuer,
            date(self.not_after)
        )
    }
}

/// A UTC date for messages, e.g. `2027-01-04`.
pub fn date(t: OffsetDateTime) -> String {
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_covers_one_label_only() {
        let facts = LeafFacts {
            dns: vec!["*.home.arpa".into(), "oh.example".into()],
            ips: vec!["192.168.1.2".parse().unwrap()],
            issuer: String::new(),
            not_after: OffsetDateTime::now_utc(),
        };
        let covers = |n: &str| facts.covers(&Name::parse(n).unwrap());
        assert!(covers("openhands.home.arpa"));
        assert!(!covers("a.b.home.arpa"));
        assert!(!covers("home.arpa"));
        assert!(covers("OH.example"));
        assert!(covers("192.168.1.2"));
        assert!(!covers("192.168.1.3"));
    }
}
