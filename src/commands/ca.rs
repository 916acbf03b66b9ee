//! `ohproxy ca path | show | export | replace` (and the dispatch to `trust`/`untrust`),
//! plus what the certificate commands share: finding the config and the CA directory and
//! loading the CA with a hint when that fails.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use time::OffsetDateTime;

use crate::ca::{self, Ca, CaError};
use crate::cli::{CaCommand, ExportArgs, ReplaceArgs};
use crate::config::Config;
use crate::error::{WithHint, invalid};
use crate::paths::Paths;
use crate::{fsx, ui};

pub fn run(paths: &Paths, command: CaCommand) -> Result<()> {
    match command {
        CaCommand::Trust(args) => super::trust::trust(paths, args),
        CaCommand::Untrust(args) => super::trust::untrust(paths, args),
        CaCommand::Path => {
            ui::data(format!(
                "{}\n",
                ca_dir(optional_config(paths)?.as_ref(), paths).display()
            ));
            Ok(())
        }
        CaCommand::Show => show(paths),
        CaCommand::Export(args) => export(paths, args),
        CaCommand::Replace(args) => replace(paths, args),
        CaCommand::Share(args) => super::ca_share::run(paths, args),
    }
}

/// The config if its file exists; an unreadable or invalid file is still an error.
pub(super) fn optional_config(paths: &Paths) -> Result<Option<Config>> {
    if !paths.config_file.exists() {
        return Ok(None);
    }
    Config::load(&paths.config_file).map(Some)
}

/// The CA directory: `CAROOT`, else the config's, else the default in the state dir.
pub(super) fn ca_dir(config: Option<&Config>, paths: &Paths) -> PathBuf {
    match config {
        Some(config) => config.ca_dir(paths),
        None => paths
            .caroot_env
            .clone()
            .unwrap_or_else(|| paths.default_ca_dir()),
    }
}

/// Loads the CA, with a hint that fits the failure.
pub(super) fn load(dir: &Path) -> Result<Ca> {
    Ca::load(dir).map_err(|err| {
        let hint = match &err {
            CaError::Missing(_) => "run `ohproxy init` to create one, or point CAROOT at a CA",
            CaError::NoKey(_) => "a CA without its key can be trusted but cannot issue leaves",
            CaError::KeyMismatch { .. } | CaError::NotCa(_) | CaError::BadCert { .. } => {
                "restore the CA files from a backup, or `ohproxy ca replace --force`"
            }
            _ => "check the CA directory's files and permissions",
        };
        anyhow::Error::new(err).context(crate::error::Hint(hint.into()))
    })
}

/// A UTC date and time for status lines, e.g. `2027-01-04 16:15 UTC`.
pub(super) fn when(t: OffsetDateTime) -> String {
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn show(paths: &Paths) -> Result<()> {
    let config = optional_config(paths)?;
    let ca = load(&ca_dir(config.as_ref(), paths))?;
    ui::data(format!(
        "directory:   {}\nsubject:     {}\nexpires:     {}\nsha-256:     {}\n",
        ca.dir().display(),
        ca.subject(),
        when(ca.not_after()),
        ca.fingerprint()
    ));
    Ok(())
}

fn export(paths: &Paths, args: ExportArgs) -> Result<()> {
    let config = optional_config(paths)?;
    let ca = load(&ca_dir(config.as_ref(), paths))?;
    let bytes = if args.der {
        ca.cert_der().to_vec()
    } else {
        ca.cert_pem().as_bytes().to_vec()
    };
    match args.out {
        Some(out) => {
            fsx::write_atomic(&out, &bytes, 0o644)?;
            ui::status(format!("wrote the CA certificate to {}", out.display()));
        }
        None if args.der && std::io::stdout().is_terminal() => {
            return Err(invalid("--der: refusing to write binary DER to a terminal"))
                .hint("add --out FILE, or redirect stdout to a file");
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(())
}

fn replace(paths: &Paths, args: ReplaceArgs) -> Result<()> {
    let config = optional_config(paths)?;
    let dir = ca_dir(config.as_ref(), paths);
    let adopted = config.as_ref().and_then(|c| c.ca.root.as_ref());
    if paths.caroot_env.is_none() && adopted.is_some() {
        return Err(invalid(format!(
            "the CA in {} was adopted; ohproxy never modifies an adopted CA",
            dir.display()
        )))
        .hint("remove `root` under [ca] in the config to go back to ohproxy's own CA");
    }
    if !args.force {
        return Err(invalid(format!(
            "replacing the CA in {} needs --force: every client that trusts the current CA \
             must then trust the new one, and every leaf must be issued again",
            dir.display()
        )))
        .hint("run `ohproxy ca untrust` first if this machine trusts the current CA");
    }
    if ca::exists(&dir) {
        ui::warn(
            "replacing the CA: leaves issued by the old CA stop working on clients that \
             trust only the new one; clients must trust the new CA and leaves be re-issued",
        );
    }
    let (ca, backup) = Ca::replace(&dir, args.key_type)?;
    if let Some(backup) = backup {
        ui::status(format!("moved the old CA to {}", backup.display()));
    }
    ui::status(format!(
        "created a new CA ({}) in {}\n  sha-256: {}\n  expires: {}",
        args.key_type,
        ca.dir().display(),
        ca.fingerprint(),
        when(ca.not_after())
    ));
    ui::status("next: `ohproxy ca trust`, `ohproxy cert`, and trust the new CA on every client");
    Ok(())
}
