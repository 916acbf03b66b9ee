//! `ohproxy nginx apply [--dry-run]`: installs the leaf and the site file into nginx and
//! says what happened, or with `--dry-run` shows the diff and the `nginx -t` result.

use anyhow::{Result, bail};

use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::nginx::apply::{self, Outcome};
use crate::paths::Paths;
use crate::ui;

pub fn run(paths: &Paths, args: ApplyArgs) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    if let Some(warning) = crate::access::warning(&config) {
        ui::warn(warning);
    }
    match apply::apply(&config, paths, args.dry_run)? {
        Outcome::Unchanged { site_file } => {
            ui::status(format!(
                "nothing changed: {} and the certificate are already installed; nginx was \
                 not reloaded",
                site_file.display()
            ));
        }
        Outcome::DryRun {
            site_file,
            diff,
            cert_changes,
            test,
        } => {
            if diff.is_empty() {
                ui::status(format!("{} would not change", site_file.display()));
            } else {
                ui::data(diff);
            }
            if cert_changes {
                ui::status(
                    "the certificate and key, or the access-control files, would be installed \
                     (they differ)",
                );
            }
            for line in &test.output {
                ui::status(format!("  {line}"));
            }
            if !test.ok {
                bail!(
                    "`nginx -t` would refuse the new site file: {}",
                    test.problems.join(" / ")
                );
            }
            ui::status("dry run: `nginx -t` accepts the new site file; nothing was changed");
        }
        Outcome::Applied {
            site_file,
            certs,
            method,
            workers,
            backup_dir,
        } => {
            ui::status(format!(
                "installed {} and {} (mode 0600)",
                certs.cert.display(),
                certs.key.display()
            ));
            ui::status(format!("wrote {}", site_file.display()));
            ui::status(format!(
                "reloaded nginx ({method}); new workers {workers:?} serve the new config"
            ));
            ui::status(format!(
                "the previous files are kept in {}",
                backup_dir.display()
            ));
        }
    }
    Ok(())
}
