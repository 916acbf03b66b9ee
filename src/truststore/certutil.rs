//! Running NSS's `certutil` on one database: is our nickname there, add it trusted for TLS
//! servers, make sure of its trust, delete it. Every call names the database as `sql:DIR`
//! (or `dbm:DIR` for legacy ones) and our root by its unique nickname only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// Trusted to identify TLS servers; nothing for mail or code signing.
pub(super) const TRUST: &str = "C,,";

/// `certutil` as found on PATH.
pub(super) struct Certutil {
    program: PathBuf,
}

/// What `certutil` said when it refused.
#[derive(Debug, thiserror::Error)]
#[error("certutil {action} failed: {message}")]
pub(super) struct CertutilError {
    action: &'static str,
    message: String,
    /// The database is read-only for this user (`SEC_ERROR_READ_ONLY`).
    pub read_only: bool,
}

impl Certutil {
    pub fn find() -> Option<Certutil> {
        which::which("certutil")
            .ok()
            .map(|program| Certutil { program })
    }

    /// True when a certificate with this nickname is in the database.
    pub fn has(&self, db: &str, nickname: &str) -> Result<bool> {
        let out = self.run("-L", &["-L", "-d", db, "-n", nickname])?;
        if out.status.success() {
            return Ok(true);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("Could not find cert") || stderr.contains("could not find certificate") {
            return Ok(false);
        }
        Err(failure("-L", &out).into())
    }

    /// Adds the certificate in `pem_file` under `nickname`, trusted for TLS servers.
    pub fn add(&self, db: &str, nickname: &str, pem_file: &Path) -> Result<()> {
        let file = pem_file.to_string_lossy();
        let args = ["-A", "-d", db, "-n", nickname, "-t", TRUST, "-i", &file];
        self.check("-A", &args)
    }

    /// Sets our trust on a certificate already there.
    pub fn set_trust(&self, db: &str, nickname: &str) -> Result<()> {
        self.check("-M", &["-M", "-d", db, "-n", nickname, "-t", TRUST])
    }

    pub fn delete(&self, db: &str, nickname: &str) -> Result<()> {
        self.check("-D", &["-D", "-d", db, "-n", nickname])
    }

    /// Creates an empty database with no password, as Chromium does on first start.
    pub fn create(&self, dir: &Path) -> Result<()> {
        let db = format!("sql:{}", dir.display());
        self.check("-N", &["-N", "--empty-password", "-d", &db])
    }

    fn check(&self, action: &'static str, args: &[&str]) -> Result<()> {
        let out = self.run(action, args)?;
        if !out.status.success() {
            bail!(failure(action, &out));
        }
        Ok(())
    }

    fn run(&self, action: &str, args: &[&str]) -> Result<Output> {
        tracing::debug!("running certutil {}", args.join(" "));
        Command::new(&self.program)
            .args(args)
            .output()
            .with_context(|| format!("running {} {action}", self.program.display()))
    }
}

fn failure(action: &'static str, out: &Output) -> CertutilError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let message = stderr.trim().replace('\n', " ");
    CertutilError {
        action,
        read_only: message.contains("SEC_ERROR_READ_ONLY"),
        message,
    }
}
