//! The local CA: creating it, loading and checking it (ours or an adopted mkcert one), and
//! the facts about it that commands show (fingerprint, expiry). It signs leaves through
//! `issuer`; nothing here prints.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::config::KeyType;
use crate::fsx;

/// The CA certificate's file name in the CA directory, the same as mkcert's.
pub const CERT_FILE: &str = "rootCA.pem";
/// The CA key's file name (PKCS#8 PEM), the same as mkcert's.
pub const KEY_FILE: &str = "rootCA-key.pem";

/// Whoever holds the CA key can impersonate any site to every client that trusts the CA,
/// so only the owner may read it (mkcert uses 0400 too).
const KEY_MODE: u32 = 0o400;
const CERT_MODE: u32 = 0o644;
/// Ten years, like mkcert's root: long enough that clients are not re-set-up often.
const VALIDITY_YEARS: i32 = 10;

/// What can go wrong with a CA directory, each naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("no CA in {}: {CERT_FILE} is missing", .0.display())]
    Missing(PathBuf),
    #[error("the CA in {} has no key ({KEY_FILE} is missing), so it cannot issue", .0.display())]
    NoKey(PathBuf),
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a PEM certificate: {reason}", .path.display())]
    BadCert { path: PathBuf, reason: String },
    #[error("{} is not a PKCS#8 PEM private key: {reason}", .path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("{} is not a CA certificate (basic constraints lack CA:TRUE)", .0.display())]
    NotCa(PathBuf),
    #[error("{} does not match the certificate {} (different public keys)",
        .key.display(), .cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("cannot write {}: {reason}", .path.display())]
    Write { path: PathBuf, reason: String },
    #[error("a CA already exists in {}; it is never overwritten", .0.display())]
    Exists(PathBuf),
    #[error("generating the CA: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A loaded, checked CA that can sign leaves.
pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    cert_der: Vec<u8>,
    subject: String,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The certificate and key paths of a CA directory.
pub fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CERT_FILE), dir.join(KEY_FILE))
}

/// True when the directory holds a CA certificate or key (whole or not).
pub fn exists(dir: &Path) -> bool {
    let (cert, key) = files(dir);
    cert.exists() || key.exists()
}

/// A key without its certificate is what a creation killed between its two renames leaves
/// (the key goes in first). Such a key never issued anything, so it is moved aside, kept
/// with its mode under a name that says what it is, and the caller may create a CA.
/// Returns where it went.
pub fn set_aside_orphan_key(dir: &Path) -> Result<Option<PathBuf>, CaError> {
    let (cert, key) = files(dir);
    if cert.exists() || !key.exists() {
        return Ok(None);
    }
    let stamp = OffsetDateTime::now_utc().unix_timestamp();
    let aside = dir.join(format!("{KEY_FILE}.without-certificate-{stamp}"));
    std::fs::rename(&key, &aside).map_err(|e| CaError::Write {
        path: key.clone(),
        reason: e.to_string(),
    })?;
    Ok(Some(aside))
}

/// The warning for a key set aside by `set_aside_orphan_key`.
pub fn orphan_warning(aside: &Path) -> String {
    format!(
        "the CA key had no certificate (an interrupted creation); it was moved to {} and a \
         new CA is made",
        aside.display()
    )
}

impl Ca {
    /// Loads the CA in `dir`, checking that the certificate parses, is a CA, and that the
    /// key is the one it was made for. Nothing is modified.
    pub fn load(dir: &Path) -> Result<Ca, CaError> {
        let (cert_path, key_path) = files(dir);
        if !cert_path.exists() {
            return Err(CaError::Missing(dir.to_path_buf()));
        }
        if !key_path.exists() {
            return Err(CaError::NoKey(dir.to_path_buf()));
        }
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;
        Ca::from_pem(dir, &cert_pem, &key_pem)
    }

    fn from_pem(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<Ca, CaError> {
        let (cert_path, key_path) = files(dir);
        let bad_cert = |reason: String| CaError::BadCert {
            path: cert_path.clone(),
            reason,
        };
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| bad_cert(e.to_string()))?;
        if pem.label != "CERTIFICATE" {
            return Err(bad_cert(format!("found a {:?} block", pem.label)));
        }
        let cert = pem.parse_x509().map_err(|e| bad_cert(e.to_string()))?;
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(CaError::NotCa(cert_path));
        }

        let key = KeyPair::from_pem(key_pem).map_err(|e| CaError::BadKey {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
        if key.der_bytes() != &*cert.public_key().subject_public_key.data {
            return Err(CaError::KeyMismatch {
                cert: cert_path,
                key: key_path,
            });
        }

        let subject = cert.subject().to_string();
        let not_after = cert.validity().not_after.to_datetime();
        let issuer =
            Issuer::from_ca_cert_pem(cert_pem, key).map_err(|e| bad_cert(e.to_string()))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem: cert_pem.to_string(),
            cert_der: pem.contents.clone(),
            subject,
            not_after,
            issuer,
        })
    }

    /// Creates a new CA in `dir`. Refuses if any CA file is already there.
    pub fn create(dir: &Path, key_type: KeyType) -> Result<Ca, CaError> {
        if exists(dir) {
            return Err(CaError::Exists(dir.to_path_buf()));
        }
        let (cert_pem, key_pem) = generate(key_type)?;
        write_pair(dir, &cert_pem, &key_pem, false)?;
        Ca::from_pem(dir, &cert_pem, &key_pem)
    }

    /// Replaces the CA in `dir` with a new one. The old files are kept, renamed with the
    /// time of the replacement, so nothing is lost if a client still needs them.
    pub fn replace(dir: &Path, key_type: KeyType) -> Result<(Ca, Option<PathBuf>), CaError> {
        let (cert_pem, key_pem) = generate(key_type)?;
        let backup = backup_pair(dir)?;
        write_pair(dir, &cert_pem, &key_pem, true)?;
        Ok((Ca::from_pem(dir, &cert_pem, &key_pem)?, backup))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The subject as `CN=..., O=..., OU=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// SHA-256 of the certificate, as colon-separated upper-case hex (what browsers show).
    pub fn fingerprint(&self) -> String {
        colon_hex(&Sha256::digest(&self.cert_der))
    }

    /// The signer that leaves are issued with.
    pub fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// Colon-separated upper-case hex, as certificate viewers show fingerprints and serials.
pub fn colon_hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

fn read(path: &Path) -> Result<String, CaError> {
    std::fs::read_to_string(path).map_err(|source| CaError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// A new key pair of the given type.
pub(crate) fn new_key(key_type: KeyType) -> Result<KeyPair, rcgen::Error> {
    match key_type {
        KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyType::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyType::Rsa3072 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
        }
    }
}

/// A random 128-bit serial, as mkcert uses; the top bit is cleared so it stays positive.
pub(crate) fn random_serial() -> rcgen::SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    rcgen::SerialNumber::from_slice(&bytes)
}

/// A new self-signed CA certificate and its key, both as PEM.
fn generate(key_type: KeyType) -> Result<(String, String), rcgen::Error> {
    let key = new_key(key_type)?;
    let owner = owner();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "ohproxy development CA");
    dn.push(DnType::OrganizationalUnitName, owner.clone());
    // iOS lists a root under Certificate Trust Settings only if it has a common name.
    dn.push(DnType::CommonName, format!("ohproxy {owner}"));
    params.distinguished_name = dn;
    // pathlen 0: the CA signs leaves only, never another CA.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    let now = OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now
        .replace_year(now.year() + VALIDITY_YEARS)
        .unwrap_or(now + time::Duration::days(3652));
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// `user@host`, to tell one machine's CA from another's in a trust store.
fn owner() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "user".to_string());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_graphic() && !matches!(c, ',' | '+' | '=' | '"' | '\\'))
            .take(48)
            .collect()
    };
    match clean(&host) {
        host if host.is_empty() => clean(&user),
        host => format!("{}@{host}", clean(&user)),
    }
}

/// Writes the key, then the certificate: a kill in between leaves a key without a
/// certificate, which `set_aside_orphan_key` recovers, never a certificate whose key is
/// missing.
fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str, replace: bool) -> Result<(), CaError> {
    let (cert_path, key_path) = files(dir);
    let io = |path: &Path, e: anyhow::Error| CaError::Write {
        path: path.to_path_buf(),
        reason: format!("{:#}", e.root_cause()),
    };
    fsx::create_dir(dir, 0o755).map_err(|e| io(dir, e))?;
    let write = if replace {
        fsx::write_atomic
    } else {
        fsx::write_new
    };
    write(&key_path, key_pem.as_bytes(), KEY_MODE).map_err(|e| io(&key_path, e))?;
    write(&cert_path, cert_pem.as_bytes(), CERT_MODE).map_err(|e| io(&cert_path, e))?;
    Ok(())
}

/// Renames the current pair to `replaced-<time>/` in the CA directory, if there is one.
fn backup_pair(dir: &Path) -> Result<Option<PathBuf>, CaError> {
    if !exists(dir) {
        return Ok(None);
    }
    let stamp = OffsetDateTime::now_utc().unix_timestamp();
    let backup = dir.join(format!("replaced-{stamp}"));
    let fail = |path: &Path, e: std::io::Error| CaError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    std::fs::create_dir(&backup).map_err(|e| fail(&backup, e))?;
    for name in [CERT_FILE, KEY_FILE] {
        let from = dir.join(name);
        if from.exists() {
            std::fs::rename(&from, backup.join(name)).map_err(|e| fail(&from, e))?;
        }
    }
    Ok(Some(backup))
}
