//! `ohproxy ca trust` and `ohproxy ca untrust`: find the CA certificate, hand it to the
//! trust stores, and say per store what was done, what was skipped and why, and what the
//! user must still run with sudo. A store that failed makes the command exit 1 after all
//! the others were tried; a store that needs sudo is a warning with the exact commands.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};

use crate::cli::TrustArgs;
use crate::config::Config;
use crate::error::WithHint;
use crate::paths::Paths;
use crate::truststore::{self, CaCert, Outcome, Report, Selection, Target};
use crate::ui;

/// `ohproxy ca trust`.
pub fn trust(paths: &Paths, args: TrustArgs) -> Result<()> {
    let ca = load_ca(paths)?;
    ui::status(format!("trusting {} ({})", ca.nickname(), ca.subject));
    let reports = truststore::install(&ca, &Target::from_env(), &selection(args))?;
    show(&reports)
}

/// `ohproxy ca untrust`.
pub fn untrust(paths: &Paths, args: TrustArgs) -> Result<()> {
    let ca = load_ca(paths)?;
    ui::status(format!("untrusting {} ({})", ca.nickname(), ca.subject));
    let reports = truststore::uninstall(&ca, &Target::from_env(), &selection(args))?;
    show(&reports)
}

fn selection(args: TrustArgs) -> Selection {
    match args.nss_db {
        Some(dir) => Selection::Only(dir),
        None => Selection::All,
    }
}

/// The CA certificate: under the configured CA directory, else `CAROOT`, else the default.
fn load_ca(paths: &Paths) -> Result<CaCert> {
    let file = ca_dir(paths)?.join("rootCA.pem");
    if !file.exists() {
        return Err(anyhow!("no CA certificate at {}", file.display())).hint(
            "run `ohproxy init` to create the CA, or set CAROOT to the directory of an existing one",
        );
    }
    CaCert::read(&file)
}

fn ca_dir(paths: &Paths) -> Result<PathBuf> {
    if paths.config_file.exists() {
        return Ok(Config::load(&paths.config_file)?.ca_dir(paths));
    }
    Ok(paths
        .caroot_env
        .clone()
        .unwrap_or_else(|| paths.default_ca_dir()))
}

/// One line per store, then the commands the user must run; fails if any store failed.
fn show(reports: &[Report]) -> Result<()> {
    let mut failed = 0;
    for Report { store, outcome } in reports {
        match outcome {
            Outcome::Done(what) => ui::status(format!("{store}: {what}")),
            Outcome::Unchanged(what) => ui::status(format!("{store}: {what}")),
            Outcome::Skipped(why) => ui::status(format!("{store}: skipped: {why}")),
            Outcome::NeedsSudo(commands) => {
                ui::warn(format!(
                    "{store}: needs root; run:\n    {}",
                    commands.join("\n    ")
                ));
            }
            Outcome::Manual(commands) => {
                ui::status(format!("{store}: run on this machine's Windows side:"));
                commands.iter().for_each(|c| ui::status(format!("    {c}")));
            }
            Outcome::Failed(why) => {
                ui::warn(format!("{store}: failed: {why}"));
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} trust stores failed (see above)",
            reports.len()
        );
    }
    Ok(())
}
