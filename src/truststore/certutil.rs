//! Changing NSS databases with `certutil`: is our nickname there, add it trusted for TLS
//! servers, make sure of its trust, delete it. Every call names the database as `sql:DIR`
//! (or `dbm:DIR` for legacy ones) and our root by its unique nickname only; NSS deletes by
//! nickname exactly one certificate, even when another shares our subject.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, anyhow, bail};

use super::nss::{Browser, NssDb, db_spec, find_nss_dbs};
use super::{Action, CaCert, Outcome, Report, Target, shell_quote};
use crate::error::{WithHint, invalid};

/// Where `certutil` comes from, per family, for the message when it is missing.
const CERTUTIL_PACKAGES: &str = "install libnss3-tools (Debian/Ubuntu), nss-tools \
    (Fedora/RHEL), nss (Arch), mozilla-nss-tools (openSUSE) or `brew install nss` (macOS)";

/// Trusted to identify TLS servers; nothing for mail or code signing.
const TRUST: &str = "C,,";

/// `certutil` as found on PATH.
struct Certutil {
    program: PathBuf,
}

/// What `certutil` said when it refused.
#[derive(Debug, thiserror::Error)]
#[error("certutil {action} failed: {message}")]
struct CertutilError {
    action: &'static str,
    message: String,
    /// The database is read-only for this user (`SEC_ERROR_READ_ONLY`).
    read_only: bool,
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

/// `--nss-db DIR`: exactly this database. A missing `certutil` or database is an error,
/// because the user asked for this one store.
pub(super) fn apply_one(ca: &CaCert, dir: &Path, action: Action) -> Result<Report> {
    let certutil = Certutil::find()
        .ok_or_else(|| anyhow!("certutil is not installed (not found on PATH)"))
        .hint(CERTUTIL_PACKAGES)?;
    let Some(spec) = db_spec(dir) else {
        let db = shell_quote(&format!("sql:{}", dir.display()));
        let create = format!("certutil -N --empty-password -d {db}");
        return Err(invalid(format!(
            "--nss-db {}: no NSS database there (cert9.db or cert8.db)",
            dir.display()
        )))
        .hint(format!("create one with `{create}`"));
    };
    let outcome = change(&certutil, ca, &spec, action);
    Ok(Report::new(format!("NSS db {}", dir.display()), outcome))
}

/// Every database found for the target's user; one report each.
pub(super) fn apply_all(ca: &CaCert, target: &Target, action: Action) -> Vec<Report> {
    let dbs = find_nss_dbs(target);
    if dbs.is_empty() {
        let reason = "no NSS database found (Firefox makes one per profile on its first start)";
        return vec![Report::new("NSS", Outcome::Skipped(reason.into()))];
    }
    let Some(certutil) = Certutil::find() else {
        let store = format!("NSS ({} databases)", dbs.len());
        let reason = format!("certutil is not installed: {CERTUTIL_PACKAGES}");
        return vec![Report::new(store, Outcome::Skipped(reason))];
    };
    dbs.iter()
        .map(|db| Report::new(db.label(), apply_db(&certutil, ca, db, action)))
        .collect()
}

fn apply_db(certutil: &Certutil, ca: &CaCert, db: &NssDb, action: Action) -> Outcome {
    let spec = match db.spec() {
        Some(spec) => spec,
        // Chromium reads this directory even when it is empty; give it a database.
        None if action == Action::Install && db.browser == Browser::Chromium => {
            if let Err(err) = certutil.create(&db.dir) {
                return Outcome::Failed(format!("{err:#}"));
            }
            format!("sql:{}", db.dir.display())
        }
        None => return Outcome::Skipped("no certificate database in it yet".into()),
    };
    change(certutil, ca, &spec, action)
}

fn change(certutil: &Certutil, ca: &CaCert, spec: &str, action: Action) -> Outcome {
    match try_change(certutil, ca, spec, action) {
        Ok(outcome) => outcome,
        Err(err) => match err.downcast_ref::<CertutilError>() {
            Some(e) if e.read_only => Outcome::NeedsSudo(vec![sudo_command(ca, spec, action)]),
            _ => Outcome::Failed(format!("{err:#}")),
        },
    }
}

fn try_change(certutil: &Certutil, ca: &CaCert, spec: &str, action: Action) -> Result<Outcome> {
    let nickname = ca.nickname();
    let present = certutil.has(spec, &nickname)?;
    let outcome = match (action, present) {
        (Action::Install, true) => {
            certutil.set_trust(spec, &nickname)?;
            Outcome::Unchanged(format!(
                "already there as \"{nickname}\", trusted for TLS servers ({TRUST})"
            ))
        }
        (Action::Install, false) => {
            certutil.add(spec, &nickname, &ca.path)?;
            if !certutil.has(spec, &nickname)? {
                let note = "this certificate is already there under another nickname; left as is";
                return Ok(Outcome::Unchanged(note.into()));
            }
            Outcome::Done(format!(
                "added \"{nickname}\", trusted for TLS servers ({TRUST})"
            ))
        }
        (Action::Remove, true) => {
            certutil.delete(spec, &nickname)?;
            Outcome::Done(format!("removed \"{nickname}\""))
        }
        (Action::Remove, false) => Outcome::Unchanged(format!("\"{nickname}\" not there")),
    };
    Ok(outcome)
}

fn sudo_command(ca: &CaCert, spec: &str, action: Action) -> String {
    let nickname = shell_quote(&ca.nickname());
    let db = shell_quote(spec);
    match action {
        Action::Install => format!(
            "sudo certutil -A -d {db} -n {nickname} -t {TRUST} -i {}",
            shell_quote(&ca.path.to_string_lossy())
        ),
        Action::Remove => format!("sudo certutil -D -d {db} -n {nickname}"),
    }
}
