//! Access control in front of OpenHands, which has no login of its own while its
//! container holds the Docker socket: the mode (`password`, `client-cert`, `none`), the
//! files each mode needs (a password file, the CA and a CRL for client certificates), where
//! ohproxy keeps them and where nginx reads them, and the Docker bridge networks whose
//! addresses pass without credentials (the app's own checks of its sandboxes).

pub mod bridges;
pub mod clients;
pub mod probe;
pub mod session;
pub mod users;
pub mod worker;

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::ca::Ca;
use crate::config::Config;
use crate::error::{WithHint, invalid};
use crate::paths::Paths;
use users::{Password, PasswordFile, UserName};

/// Who may reach OpenHands through nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AccessMode {
    /// A user name and password (HTTP basic auth over TLS).
    #[default]
    Password,
    /// A client certificate from our CA.
    ClientCert,
    /// Nothing: anyone who reaches the port controls the host.
    None,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Password => "password",
            AccessMode::ClientCert => "client-cert",
            AccessMode::None => "none",
        }
    }
}

/// The one line that `init`, `up`, `status` and `doctor` print, every time, in mode none.
pub const NONE_WARNING: &str = "access.mode is \"none\": anyone who can reach the HTTPS port \
                                controls OpenHands, and through its Docker socket this host";

/// The warning for this config, if its mode calls for one.
pub fn warning(config: &Config) -> Option<&'static str> {
    (config.access.mode == AccessMode::None).then_some(NONE_WARNING)
}

/// Where ohproxy keeps the access files: the password file, the client register, the
/// CRL and the client bundles.
pub fn dir(paths: &Paths) -> PathBuf {
    paths.state_dir.join("access")
}

pub fn users_path(paths: &Paths) -> PathBuf {
    dir(paths).join("users")
}

pub fn register_path(paths: &Paths) -> PathBuf {
    dir(paths).join("clients.toml")
}

pub fn crl_path(paths: &Paths) -> PathBuf {
    dir(paths).join("crl.pem")
}

/// Where `client add` writes the PKCS#12 bundles.
pub fn bundle_dir(paths: &Paths) -> PathBuf {
    dir(paths).join("clients")
}

/// The files the site file names for access control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFiles {
    pub users: PathBuf,
    pub client_ca: PathBuf,
    pub crl: PathBuf,
    /// The session cookie's include (see `session`).
    pub session: PathBuf,
}

impl AccessFiles {
    /// Where nginx reads them: beside the installed leaf, named after the domain.
    pub fn installed(cert_dir: &Path, domain: &str) -> AccessFiles {
        AccessFiles {
            users: cert_dir.join(format!("{domain}.users")),
            client_ca: cert_dir.join(format!("{domain}.clients-ca.pem")),
            crl: cert_dir.join(format!("{domain}.crl.pem")),
            session: cert_dir.join(format!("{domain}.session.conf")),
        }
    }

    /// ohproxy's own copies, for a test that must not touch the installed ones. The
    /// session include has no copy: such a test is given its text at `installed`'s path.
    pub fn staged(paths: &Paths, ca: &Ca, installed: &AccessFiles) -> AccessFiles {
        AccessFiles {
            users: users_path(paths),
            client_ca: ca.cert_path(),
            crl: crl_path(paths),
            session: installed.session.clone(),
        }
    }
}

/// One file that apply installs for nginx.
#[derive(Debug, Clone)]
pub struct Install {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub reader: Reader,
}

/// Who in nginx reads an installed file, which decides its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Public (certificates, CRL): anyone may read it.
    Anyone,
    /// A secret the workers read on every request: theirs and no other user's.
    Workers,
    /// A secret in nginx's config, which the master reads at load: its owner's only.
    Master,
}

/// The files the mode needs installed, read from ohproxy's copies. Refuses to put a mode
/// in place that would lock everyone out (no user, no client); but once client-cert mode
/// is live, revoking the last client goes live too, since keeping the old CRL would keep
/// letting a lost device in. Renews a CRL that is about to expire unless `dry_run`.
pub fn installs(
    config: &Config,
    paths: &Paths,
    ca: &Ca,
    files: &AccessFiles,
    dry_run: bool,
) -> Result<Vec<Install>> {
    match config.access.mode {
        AccessMode::None => Ok(Vec::new()),
        AccessMode::Password => {
            let users = PasswordFile::load(&users_path(paths))?;
            if users.is_empty() {
                return Err(invalid(
                    "access.mode is \"password\" but no user exists, so nobody could log in",
                ))
                .hint("add one with `ohproxy user add NAME`, then apply again");
            }
            Ok(vec![
                Install {
                    path: files.users.clone(),
                    bytes: probe::with_doctor(&users, paths)?.into_bytes(),
                    reader: Reader::Workers,
                },
                session::install(config.domain.as_str(), paths, files, dry_run)?,
            ])
        }
        AccessMode::ClientCert => client_installs(paths, ca, files, dry_run),
    }
}

fn client_installs(
    paths: &Paths,
    ca: &Ca,
    files: &AccessFiles,
    dry_run: bool,
) -> Result<Vec<Install>> {
    let mut register = clients::Register::load(&register_path(paths))?;
    if register.active().next().is_none() && !files.crl.exists() {
        return Err(invalid(
            "access.mode is \"client-cert\" but no client certificate is active, so nobody \
             could connect",
        ))
        .hint("issue one with `ohproxy client add NAME`, then apply again");
    }
    let crl = crl_path(paths);
    if !dry_run && clients::crl_needs_renewal(&crl) {
        write_crl(paths, ca, &mut register)?;
    }
    if !dry_run {
        probe::ensure_client(paths, ca)?;
    }
    let crl_bytes = std::fs::read(&crl)
        .map_err(|e| anyhow::anyhow!("reading the CRL {}: {e}", crl.display()))
        .hint("`ohproxy client list` rewrites it")?;
    Ok(vec![
        Install {
            path: files.client_ca.clone(),
            bytes: ca.cert_pem().as_bytes().to_vec(),
            reader: Reader::Anyone,
        },
        Install {
            path: files.crl.clone(),
            bytes: crl_bytes,
            reader: Reader::Anyone,
        },
    ])
}

/// Signs a new CRL from the register and saves both (the CRL first: a register whose
/// number ran ahead is harmless, a CRL missing a revocation is not).
pub fn write_crl(paths: &Paths, ca: &Ca, register: &mut clients::Register) -> Result<()> {
    let pem = clients::crl(ca, register)?;
    crate::fsx::create_dir(&dir(paths), 0o700)?;
    crate::fsx::write_atomic(&crl_path(paths), pem.as_bytes(), 0o644)?;
    register.save(&register_path(paths))
}

/// For `init` and `up`: in password mode with no user yet, adds `name` with a generated
/// password and returns the password, to be shown once. `None` when nothing was done.
pub fn ensure_first_user(config: &Config, paths: &Paths, name: &str) -> Result<Option<Password>> {
    if config.access.mode != AccessMode::Password {
        return Ok(None);
    }
    let path = users_path(paths);
    let mut users = PasswordFile::load(&path)?;
    if !users.is_empty() {
        return Ok(None);
    }
    let name = UserName::parse(name)?;
    let password = Password::generate();
    users.set(&name, &password)?;
    users.save(&path)?;
    Ok(Some(password))
}

/// The name of the user running ohproxy, for the first user: `$SUDO_USER` (the person
/// behind sudo), else `$USER`/`$LOGNAME`, else "admin".
pub fn current_user_name() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|key| std::env::var(key).ok())
        .find(|name| UserName::parse(name).is_ok())
        .unwrap_or_else(|| "admin".to_string())
}
