//! Installing the CA where this machine looks for trusted roots, and removing exactly it
//! again. The stores are the Linux system anchors (`linux`), NSS databases of Chromium and
//! Firefox (`nss`), the macOS System keychain (`macos`) and, on Windows or WSL, a command
//! the user runs on the Windows side (`windows`).
//!
//! Every store gets the same unique name for our root, derived from its serial number
//! (`ohproxy CA <serial hex>`), so `untrust` removes our root and nothing else, and a
//! replaced CA never collides with the old one.
//!
//! ohproxy never runs `sudo` itself. When a store needs more rights than the user has, the
//! report carries the exact commands to run instead.
//!
//! # Redirecting the stores
//!
//! `OHPROXY_TRUST_ROOT=DIR` makes every store live under DIR, so tests and dry runs never
//! touch the machine's real ones:
//! - the system anchor directories are looked up under DIR (`DIR/usr/local/share/...`),
//!   and the update command (`update-ca-certificates`, ...) is not run;
//! - the user's home is `DIR/home`: NSS databases and Firefox profiles are searched there,
//!   and `XDG_DATA_HOME` / `XDG_CONFIG_HOME` are ignored;
//! - WSL is detected from `DIR/proc/version`;
//! - the macOS keychain is left alone.
//!
//! `--nss-db DIR` (an `Only` selection) limits the work to that one NSS database.

mod certutil;
mod linux;
mod macos;
mod nss;
mod windows;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use nss::{Browser, NssDb, find_nss_dbs, firefox_profiles};

/// The environment variable that moves every store under one directory.
pub const ROOT_ENV: &str = "OHPROXY_TRUST_ROOT";

/// The CA certificate as the stores need it.
#[derive(Debug, Clone)]
pub struct CaCert {
    pub path: PathBuf,
    pub pem: Vec<u8>,
    /// The serial number in lower-case hex, without leading zeros.
    pub serial_hex: String,
    pub subject: String,
}

impl CaCert {
    /// Reads and checks a PEM CA certificate.
    pub fn read(path: &Path) -> Result<CaCert> {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (_, block) = x509_parser::pem::parse_x509_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: not a PEM certificate: {e}", path.display()))?;
        let cert = block
            .parse_x509()
            .map_err(|e| anyhow::anyhow!("{}: not an X.509 certificate: {e}", path.display()))?;
        if !cert.is_ca() {
            bail!("{}: the certificate is not a CA", path.display());
        }
        let serial = hex::encode(cert.raw_serial());
        let serial_hex = match serial.trim_start_matches('0') {
            "" => "0".to_string(),
            digits => digits.to_string(),
        };
        Ok(CaCert {
            path: path.to_path_buf(),
            subject: cert.subject().to_string(),
            serial_hex,
            pem,
        })
    }

    /// The name our root has in every store: unique per CA.
    pub fn nickname(&self) -> String {
        format!("ohproxy CA {}", self.serial_hex)
    }

    /// The nickname as a file name stem (no spaces), for anchor directories.
    pub fn file_stem(&self) -> String {
        self.nickname().replace(' ', "_")
    }
}

/// Which operating system's stores apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    MacOs,
    Other,
}

/// Where the stores of this run are: the real machine, or a redirect.
#[derive(Debug, Clone)]
pub struct Target {
    /// `/`, or the `OHPROXY_TRUST_ROOT` directory.
    pub root: PathBuf,
    pub redirected: bool,
    pub home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub os: Os,
}

impl Target {
    /// The stores of this machine, or those under `OHPROXY_TRUST_ROOT` when it is set.
    pub fn from_env() -> Target {
        let os = match std::env::consts::OS {
            "linux" => Os::Linux,
            "macos" => Os::MacOs,
            _ => Os::Other,
        };
        let env = |key| {
            std::env::var_os(key)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        match env(ROOT_ENV) {
            Some(root) => Target::redirected(&root, os),
            None => Target {
                root: PathBuf::from("/"),
                redirected: false,
                home: dirs::home_dir(),
                xdg_data_home: env("XDG_DATA_HOME"),
                xdg_config_home: env("XDG_CONFIG_HOME"),
                os,
            },
        }
    }

    /// Every store under `root`, the home being `root/home`.
    pub fn redirected(root: &Path, os: Os) -> Target {
        Target {
            root: root.to_path_buf(),
            redirected: true,
            home: Some(root.join("home")),
            xdg_data_home: None,
            xdg_config_home: None,
            os,
        }
    }

    /// An absolute system path (`/etc/...`) under this target's root.
    fn system_path(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }
}

/// Which stores one run works on.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every store this machine has.
    All,
    /// Only this NSS database directory.
    Only(PathBuf),
}

/// What happened to one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The store changed; what was done.
    Done(String),
    /// The store already was as asked.
    Unchanged(String),
    /// The store was not touched, and why (with what to install, where that helps).
    Skipped(String),
    /// The user must run these commands with sudo.
    NeedsSudo(Vec<String>),
    /// The user must run these commands elsewhere (on the Windows side).
    Manual(Vec<String>),
    /// The store refused; the tool's message.
    Failed(String),
}

/// One store and what happened to it.
#[derive(Debug, Clone)]
pub struct Report {
    pub store: String,
    pub outcome: Outcome,
}

impl Report {
    fn new(store: impl Into<String>, outcome: Outcome) -> Report {
        Report {
            store: store.into(),
            outcome,
        }
    }
}

/// Installs the CA into the selected stores. A store that fails does not stop the others.
pub fn install(ca: &CaCert, target: &Target, selection: &Selection) -> Result<Vec<Report>> {
    apply(ca, target, selection, Action::Install)
}

/// Removes the CA, by its unique name, from the selected stores.
pub fn uninstall(ca: &CaCert, target: &Target, selection: &Selection) -> Result<Vec<Report>> {
    apply(ca, target, selection, Action::Remove)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Install,
    Remove,
}

fn apply(
    ca: &CaCert,
    target: &Target,
    selection: &Selection,
    action: Action,
) -> Result<Vec<Report>> {
    if let Selection::Only(dir) = selection {
        return Ok(vec![certutil::apply_one(ca, dir, action)?]);
    }
    let mut reports = Vec::new();
    match target.os {
        Os::Linux => reports.push(linux::apply(ca, target, action)),
        Os::MacOs => reports.push(macos::apply(ca, target, action)),
        Os::Other => {}
    }
    reports.extend(certutil::apply_all(ca, target, action));
    reports.extend(windows::apply(ca, target, action));
    Ok(reports)
}

/// Quotes a word for a POSIX shell when it needs quoting.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@=,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("/usr/local/a_b.crt"), "/usr/local/a_b.crt");
        assert_eq!(
            shell_quote("/home/me/My CA/x.pem"),
            "'/home/me/My CA/x.pem'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    fn write_cert(params: rcgen::CertificateParams) -> tempfile::NamedTempFile {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), cert.pem()).unwrap();
        file
    }

    #[test]
    fn reads_the_serial_without_leading_zeros_into_the_nickname() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x0a, 0xbc]));
        let file = write_cert(params);
        let ca = CaCert::read(file.path()).unwrap();
        assert_eq!(ca.nickname(), "ohproxy CA abc");
        assert_eq!(ca.file_stem(), "ohproxy_CA_abc");
    }

    #[test]
    fn refuses_a_certificate_that_is_not_a_ca() {
        let params = rcgen::CertificateParams::new(vec!["leaf.test".to_string()]).unwrap();
        let file = write_cert(params);
        let err = CaCert::read(file.path()).unwrap_err().to_string();
        assert!(err.contains("not a CA"), "{err}");
        std::fs::write(file.path(), "garbage").unwrap();
        let err = CaCert::read(file.path()).unwrap_err().to_string();
        assert!(err.contains("not a PEM certificate"), "{err}");
    }

    #[test]
    fn redirect_keeps_everything_under_the_root() {
        let target = Target::redirected(Path::new("/tmp/t"), Os::Linux);
        assert_eq!(target.system_path("/etc/pki"), Path::new("/tmp/t/etc/pki"));
        assert_eq!(target.home.as_deref(), Some(Path::new("/tmp/t/home")));
        assert!(target.xdg_data_home.is_none() && target.xdg_config_home.is_none());
    }
}
