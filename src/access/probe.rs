//! ohproxy's own credentials, so that `doctor` can go through the login like a browser: a
//! reserved user (`ohproxy-doctor`) whose password is kept in the state dir, and a client
//! certificate issued to ohproxy itself. Every apply installs them next to the user's own
//! users and clients; they are kept like the CA key (owner only), since whoever reads the
//! state dir could mint client certificates from that key anyway.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::users::{Password, PasswordFile, UserName};
use super::{AccessMode, dir};
use crate::ca::Ca;
use crate::config::{Config, Days, KeyType};
use crate::fsx;
use crate::paths::Paths;

/// The reserved user name; `user add` refuses it.
pub const USER: &str = "ohproxy-doctor";

/// What a check presents to get past access control.
#[derive(Clone)]
pub enum Probe {
    /// Mode none: nothing to present.
    Open,
    /// An `Authorization` header value (`Basic ...`).
    Basic { user: String, header: String },
    /// A client certificate and its key, both PEM.
    ClientCert { cert_pem: String, key_pem: String },
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Probe::Open => "Probe::Open",
            Probe::Basic { .. } => "Probe::Basic(..)",
            Probe::ClientCert { .. } => "Probe::ClientCert(..)",
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Stored {
    password: String,
    /// The bcrypt line, kept so that applying again installs the same bytes.
    hash_line: String,
}

fn password_path(paths: &Paths) -> PathBuf {
    dir(paths).join("doctor-password.toml")
}

fn client_path(paths: &Paths) -> PathBuf {
    dir(paths).join("doctor-client.pem")
}

/// The credentials for `doctor`, for the config's mode. `None` when they have not been
/// made yet (no apply since the mode was chosen): then doctor cannot pass the login.
pub fn credentials(config: &Config, paths: &Paths) -> Result<Option<Probe>> {
    match config.access.mode {
        AccessMode::None => Ok(Some(Probe::Open)),
        AccessMode::Password => {
            let Some(stored) = read_stored(paths)? else {
                return Ok(None);
            };
            let token = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{USER}:{}", stored.password),
            );
            Ok(Some(Probe::Basic {
                user: USER.to_string(),
                header: format!("Basic {token}"),
            }))
        }
        AccessMode::ClientCert => {
            let path = client_path(paths);
            let Ok(text) = std::fs::read_to_string(&path) else {
                return Ok(None);
            };
            let split = text
                .find("-----BEGIN PRIVATE KEY-----")
                .unwrap_or(text.len());
            let (cert_pem, key_pem) = text.split_at(split);
            Ok(Some(Probe::ClientCert {
                cert_pem: cert_pem.to_string(),
                key_pem: key_pem.to_string(),
            }))
        }
    }
}

fn read_stored(paths: &Paths) -> Result<Option<Stored>> {
    let path = password_path(paths);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(
            toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The password file as installed: the users plus the doctor's line (made on first use).
pub fn with_doctor(users: &PasswordFile, paths: &Paths) -> Result<String> {
    let stored = match read_stored(paths)? {
        Some(stored) => stored,
        None => {
            let password = Password::generate();
            let mut one = PasswordFile::default();
            one.set(&UserName::parse(USER)?, &password)?;
            let hash_line = one.to_text().lines().last().unwrap_or_default().to_string();
            let stored = Stored {
                password: password.reveal().to_string(),
                hash_line,
            };
            let text = toml::to_string(&stored).context("writing the doctor's password")?;
            fsx::create_dir(&dir(paths), 0o700)?;
            fsx::write_atomic(&password_path(paths), text.as_bytes(), 0o600)?;
            stored
        }
    };
    Ok(format!("{}{}\n", users.to_text(), stored.hash_line))
}

/// Issues the doctor's client certificate when there is none (or it expires within the
/// CRL renewal margin). It is never in the register, so never revoked by `client revoke`.
pub fn ensure_client(paths: &Paths, ca: &Ca) -> Result<()> {
    let path = client_path(paths);
    if path.exists() && !expiring(&path) {
        return Ok(());
    }
    let request = crate::leaf::Request {
        names: &[],
        key_type: KeyType::EcdsaP256,
        days: Days::default(),
        client: true,
    };
    let leaf = crate::leaf::issue(ca, &request).context("issuing the doctor's certificate")?;
    fsx::create_dir(&dir(paths), 0o700)?;
    let both = format!("{}{}", leaf.cert_pem, leaf.key_pem);
    fsx::write_atomic(&path, both.as_bytes(), 0o600)
}

fn expiring(path: &std::path::Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return true;
    };
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&bytes) else {
        return true;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&pem.contents) else {
        return true;
    };
    let left = cert.validity().not_after.to_datetime() - time::OffsetDateTime::now_utc();
    left < time::Duration::days(super::clients::CRL_RENEW)
}
