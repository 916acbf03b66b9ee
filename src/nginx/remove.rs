//! Taking the site out of nginx with the same care as apply: keep a copy, remove the file,
//! `nginx -t` the tree without it, reload, confirm new workers, and put the file back if
//! any step fails. Returns what happened; never prints.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::candidate;
use super::discover::{self, Found};
use super::process::{self, Master, ReloadMethod};
use crate::config::Config;
use crate::fsx;
use crate::paths::Paths;

/// How long the reload may take to bring up new workers.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// What a removal did.
#[derive(Debug)]
pub enum Removed {
    /// There was no site file; nginx was not touched.
    NotThere { site_file: PathBuf },
    /// The site file is gone (a copy is in `backup`) and nginx reloaded without it.
    Removed {
        site_file: PathBuf,
        backup: PathBuf,
        method: ReloadMethod,
    },
}

/// Removes the site file of this config from nginx and reloads.
pub fn remove(config: &Config, paths: &Paths) -> Result<Removed> {
    let _lock = super::apply::exclusive(paths)?;
    let found = discover::discover(config)?;
    let site_file = found.site_file.clone();
    let bytes = match std::fs::read(&site_file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Removed::NotThere { site_file });
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", site_file.display())),
    };
    let master = process::master(&found.pid_file, &found.ctl.start_hint())?;
    let backup_dir = paths.state_dir.join("nginx").join("backup");
    fsx::create_dir(&backup_dir, 0o700)?;
    let backup = backup_dir.join(site_file.file_name().unwrap_or_default());
    fsx::write_atomic(&backup, &bytes, 0o644)?;

    fsx::remove_if_exists(&site_file)?;
    match reload_without(&found, master) {
        Ok(method) => Ok(Removed::Removed {
            site_file,
            backup,
            method,
        }),
        Err(cause) => {
            fsx::write_atomic(&site_file, &bytes, 0o644)
                .context("putting the site file back after a failed removal")?;
            Err(cause.context(format!(
                "removing {} from nginx failed; the file was put back",
                site_file.display()
            )))
        }
    }
}

fn reload_without(found: &Found, master: Master) -> Result<ReloadMethod> {
    let test = candidate::test_live(found, &[])?;
    if !test.ok {
        bail!(
            "`nginx -t` refused the config without the site file: {}",
            process::last_lines(&test.output.join("\n"))
        );
    }
    let method = if process::managed_by_systemd(master) {
        ReloadMethod::Systemd
    } else {
        ReloadMethod::Signal
    };
    let before = process::workers(master);
    process::reload(method, found.ctl.command())?;
    let deadline = Instant::now() + RELOAD_WAIT;
    loop {
        let now = process::workers(master);
        if !now.is_empty() && now.iter().all(|pid| !before.contains(pid)) {
            return Ok(method);
        }
        if !Path::new(&format!("/proc/{}", master.pid)).exists() || Instant::now() > deadline {
            bail!("nginx did not start new workers after the reload");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
