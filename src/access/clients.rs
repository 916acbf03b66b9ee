//! Client certificates: each device gets a clientAuth leaf from our CA, handed over as a
//! password-protected PKCS#12 bundle; a lost device is revoked in a CRL signed by the CA,
//! which nginx checks on every handshake. The register of issued clients (`clients.toml`)
//! keeps names, serials and revocations; the private keys leave only inside the bundles.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::users::Password;
use crate::ca::Ca;
use crate::config::{Days, KeyType};
use crate::error::{WithHint, invalid};
use crate::fsx;

/// How long a CRL is valid. OpenSSL refuses every client once the CRL has expired, so it
/// is long, and `nginx apply` renews it when fewer than `CRL_RENEW` days are left.
const CRL_DAYS: i64 = 397;
pub const CRL_RENEW: i64 = 30;

/// The register of issued client certificates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Register {
    /// The number of the last CRL issued; each new CRL takes the next.
    #[serde(default)]
    pub crl_number: u64,
    #[serde(default, rename = "client")]
    pub clients: Vec<Client>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Client {
    pub name: String,
    /// The serial as colon-separated hex.
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked: Option<OffsetDateTime>,
}

/// A newly issued client: where its bundle is, and the bundle's password (shown once).
pub struct Issued {
    pub client: Client,
    pub bundle: PathBuf,
    pub password: Password,
}

/// A client name, also used as the bundle's file name: letters, digits, `.`, `_`, `-`.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        return Ok(());
    }
    Err(invalid(format!(
        "client name {name:?}: use 1 to 64 letters, digits, '.', '_' or '-', not starting \
         with '.' or '-'"
    )))
}

impl Register {
    pub fn load(path: &Path) -> Result<Register> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Register::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).context("writing the client register")?;
        fsx::write_atomic(path, text.as_bytes(), 0o600)
    }

    pub fn find(&self, name: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.name == name)
    }

    pub fn active(&self) -> impl Iterator<Item = &Client> {
        self.clients.iter().filter(|c| c.revoked.is_none())
    }
}

/// Issues a client certificate and writes its PKCS#12 bundle into `dir` (0600). The name
/// must be new: a revoked client keeps its name, so the register stays unambiguous.
pub fn add(
    ca: &Ca,
    register: &mut Register,
    name: &str,
    format: BundleFormat,
    dir: &Path,
) -> Result<Issued> {
    check_name(name)?;
    if register.find(name).is_some() {
        return Err(invalid(format!("client {name:?} already exists")))
            .hint("choose another name; `ohproxy client list` shows the names in use");
    }
    // A CA that cannot sign CRLs could never revoke this client: refuse before issuing.
    crl(ca, register)?;
    let request = crate::leaf::Request {
        names: &[],
        key_type: KeyType::EcdsaP256,
        days: Days::default(),
        client: true,
    };
    let leaf = crate::leaf::issue(ca, &request).context("issuing the client certificate")?;
    let password = Password::generate();
    let bundle = pkcs12(ca, &leaf, name, &password, format)?;

    fsx::create_dir(dir, 0o700)?;
    let path = dir.join(format!("{name}.p12"));
    fsx::write_new(&path, &bundle, 0o600)
        .with_context(|| format!("a file {} is in the way", path.display()))?;
    let client = Client {
        name: name.to_string(),
        serial: leaf.serial.clone(),
        not_after: leaf.not_after,
        revoked: None,
    };
    register.clients.push(client.clone());
    Ok(Issued {
        client,
        bundle: path,
        password,
    })
}

/// Marks the client revoked; an unknown or already revoked name is an error.
pub fn revoke(register: &mut Register, name: &str) -> Result<()> {
    let Some(client) = register.clients.iter_mut().find(|c| c.name == name) else {
        return Err(invalid(format!("client {name:?}: no such client")))
            .hint("`ohproxy client list` shows the names");
    };
    if client.revoked.is_some() {
        return Err(invalid(format!("client {name:?} is already revoked")));
    }
    client.revoked = Some(OffsetDateTime::now_utc());
    Ok(())
}

/// A fresh CRL (PEM) listing every revoked client, with the next CRL number.
pub fn crl(ca: &Ca, register: &mut Register) -> Result<String> {
    let now = OffsetDateTime::now_utc();
    let revoked = register
        .clients
        .iter()
        .filter_map(|c| Some((c, c.revoked?)))
        .map(|(c, when)| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex::decode(c.serial.replace(':', ""))?),
                revocation_time: when,
                reason_code: None,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, hex::FromHexError>>()
        .context("reading a serial in the client register")?;
    register.crl_number += 1;
    let params = CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(CRL_DAYS),
        crl_number: SerialNumber::from(register.crl_number),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let list = params
        .signed_by(ca.issuer())
        .map_err(|e| match e {
            rcgen::Error::IssuerNotCrlSigner => invalid(format!(
                "the CA in {} may not sign revocation lists (no cRLSign key usage), so \
                 client certificates from it could not be revoked",
                ca.dir().display()
            )),
            other => anyhow::Error::new(other).context("signing the CRL"),
        })
        .hint(
            "client certificates need a CA made by ohproxy (drop ca.root from the config and \
             run `ohproxy init --force`), or use access.mode = \"password\"",
        )?;
    list.pem().context("encoding the CRL")
}

/// True when the CRL at `path` is missing, unreadable or expires within `CRL_RENEW` days.
pub fn crl_needs_renewal(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return true;
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&bytes) else {
        return true;
    };
    let Ok((_, crl)) = x509_parser::parse_x509_crl(&pem.contents) else {
        return true;
    };
    match crl.next_update() {
        Some(next) => {
            next.to_datetime() - OffsetDateTime::now_utc() < time::Duration::days(CRL_RENEW)
        }
        None => true,
    }
}

/// How a bundle is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleFormat {
    /// PBES2 with AES-256 and an HMAC-SHA256 MAC, what `openssl pkcs12` writes by default.
    Modern,
    /// 3DES and an HMAC-SHA1 MAC (`openssl pkcs12 -legacy` without RC2), which Apple's
    /// importers still expect. Weak only against a weak password, and ours are random.
    Legacy,
}

/// The key, the client certificate and the CA in one bundle, encrypted with `password`.
fn pkcs12(
    ca: &Ca,
    leaf: &crate::leaf::Leaf,
    name: &str,
    password: &Password,
    format: BundleFormat,
) -> Result<Vec<u8>> {
    let der = |pem: &str| -> Result<Vec<u8>> {
        let (_, block) =
            x509_parser::pem::parse_x509_pem(pem.as_bytes()).context("reading a PEM block")?;
        Ok(block.contents)
    };
    let key = PrivateKey::from_der(&der(&leaf.key_pem)?).context("reading the client key")?;
    let cert = Certificate::from_der(&der(&leaf.cert_pem)?).context("reading the client cert")?;
    let root = Certificate::from_der(ca.cert_der()).context("reading the CA certificate")?;
    let key_id = crate::ca::random_serial().to_bytes();
    let chain = PrivateKeyChain::new(key_id, key, [cert, root]);
    let mut store = KeyStore::new();
    store.add_entry(name, KeyStoreEntry::PrivateKeyChain(chain));
    let writer = store.writer(password.reveal());
    let writer = match format {
        BundleFormat::Modern => writer,
        BundleFormat::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1),
    };
    writer.write().context("writing the PKCS#12 bundle")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_bundles_and_revoke_lists_the_serial() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::create(&dir.path().join("ca"), KeyType::EcdsaP256).unwrap();
        let mut register = Register::default();
        let issued = add(
            &ca,
            &mut register,
            "phone",
            BundleFormat::Modern,
            &dir.path().join("clients"),
        )
        .unwrap();
        let bundle = std::fs::read(&issued.bundle).unwrap();
        let store = KeyStore::from_pkcs12(
            &bundle,
            issued.password.reveal(),
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .unwrap();
        let (alias, chain) = store.private_key_chain().unwrap();
        assert_eq!((alias, chain.certs().len()), ("phone", 2));
        assert!(KeyStore::from_pkcs12(&bundle, "wrong", Default::default()).is_err());

        assert!(
            add(
                &ca,
                &mut register,
                "phone",
                BundleFormat::Modern,
                &dir.path().join("c2")
            )
            .is_err()
        );
        assert!(revoke(&mut register, "tablet").is_err());
        revoke(&mut register, "phone").unwrap();
        assert!(revoke(&mut register, "phone").is_err());

        let number = register.crl_number;
        let pem = crl(&ca, &mut register).unwrap();
        assert_eq!(register.crl_number, number + 1);
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let (_, list) = x509_parser::parse_x509_crl(&block.contents).unwrap();
        // Compared as numbers: DER drops a leading zero byte.
        let number = |bytes: &[u8]| bytes.iter().skip_while(|b| **b == 0).copied().collect();
        let serials: Vec<Vec<u8>> = list
            .iter_revoked_certificates()
            .map(|r| number(r.raw_serial()))
            .collect();
        let issued = hex::decode(issued.client.serial.replace(':', "")).unwrap();
        assert_eq!(serials, [number(&issued)]);
    }
}
