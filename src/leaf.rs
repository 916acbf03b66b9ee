//! Leaf certificates: issued by the CA for exactly the names asked for, with a fresh key
//! and a random serial each time, and written as mkcert names them.

use std::path::{Path, PathBuf};

use anyhow::Result;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::ca::Ca;
use crate::config::{Days, KeyType};
use crate::fsx;
use crate::names::Name;

/// A leaf's certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of a leaf for these (checked) names, as the configured leaf is found.
pub fn file_names(names: &[Name], client: bool, dir: &Path) -> LeafFiles {
    let first = names.first().map(Name::to_string).unwrap_or_default();
    files_for(&first, names.len(), client, dir)
}

/// The files mkcert writes for these arguments, as typed: the first one kept as it is
/// (case and IPv6 spelling included; a non-ASCII name in its punycode form, `first`), and
/// every argument counted, repeats too.
pub fn file_names_as_typed(args: &[String], first: &Name, client: bool, dir: &Path) -> LeafFiles {
    let typed = args.first().map(String::as_str).unwrap_or_default();
    let shown = if typed.is_ascii() {
        typed.to_string()
    } else {
        first.to_string()
    };
    files_for(&shown, args.len(), client, dir)
}

/// mkcert's naming: the first name with `:` as `_` and `*` as `_wildcard`, `+N` for N
/// more names, `-client` for a client certificate.
fn files_for(first: &str, count: usize, client: bool, dir: &Path) -> LeafFiles {
    let mut base = first.replace(':', "_").replace('*', "_wildcard");
    if count > 1 {
        base.push_str(&format!("+{}", count - 1));
    }
    if client {
        base.push_str("-client");
    }
    LeafFiles {
        cert: dir.join(format!("{base}.pem")),
        key: dir.join(format!("{base}-key.pem")),
    }
}

/// A leaf's key is readable by its owner only; the certificate is public.
const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;
/// Clients whose clock runs a little behind would refuse a leaf that starts "now".
/// The backdating counts toward the validity, so the total never exceeds `days`.
const BACKDATE: time::Duration = time::Duration::hours(1);

/// What to issue: the names (in SAN order), the key, the validity and the purpose.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub names: &'a [Name],
    pub key_type: KeyType,
    pub days: Days,
    pub client: bool,
}

/// An issued leaf, not yet written.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub not_after: OffsetDateTime,
    /// The serial as colon-separated hex.
    pub serial: String,
}

impl std::fmt::Debug for Leaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaf")
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Issues a leaf for exactly these names, with a fresh key and a random serial.
pub fn issue(ca: &Ca, request: &Request<'_>) -> Result<Leaf, rcgen::Error> {
    let key = crate::ca::new_key(request.key_type)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "ohproxy development certificate");
    params.distinguished_name = dn;
    params.subject_alt_names = request.names.iter().map(san).collect::<Result<_, _>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Only RSA key exchange (TLS 1.2 without forward secrecy) encrypts with the leaf's key.
    if request.key_type != KeyType::EcdsaP256 {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    // Apple refuses TLS server certificates without serverAuth (support.apple.com/103769).
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if request.client {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.use_authority_key_identifier_extension = true;
    let serial = crate::ca::random_serial();
    let serial_text = crate::ca::colon_hex(&serial.to_bytes());
    params.serial_number = Some(serial);

    // Apple counts validity from notBefore to notAfter inclusive, so the last second is
    // one short of `days` whole days.
    let start = OffsetDateTime::now_utc() - BACKDATE;
    params.not_before = start;
    params.not_after =
        start + time::Duration::days(i64::from(request.days.get())) - time::Duration::seconds(1);

    let cert = params.signed_by(&key, ca.issuer())?;
    Ok(Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: params.not_after,
        serial: serial_text,
    })
}

fn san(name: &Name) -> Result<SanType, rcgen::Error> {
    Ok(match name {
        Name::Ip(ip) => SanType::IpAddress(*ip),
        Name::Dns(dns) => SanType::DnsName(dns.as_str().try_into()?),
    })
}

/// Writes the leaf so that a kill at any moment leaves either the old pair, the old key
/// alone, the new key alone, or the new pair: never a certificate without its key. The
/// old certificate goes first, then the key and the certificate are each renamed into place.
pub fn write(leaf: &Leaf, files: &LeafFiles) -> Result<()> {
    if let Some(dir) = files.cert.parent() {
        fsx::create_dir(dir, 0o755)?;
    }
    fsx::remove_if_exists(&files.cert)?;
    fsx::write_atomic(&files.key, leaf.key_pem.as_bytes(), KEY_MODE)?;
    fsx::write_atomic(&files.cert, leaf.cert_pem.as_bytes(), CERT_MODE)?;
    Ok(())
}
