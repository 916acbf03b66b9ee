//! `ohproxy watch [--once]`: keeps the site's `/runtime/<port>/` allow-list in step with
//! the running OpenHands sandboxes, and says which ports came and went and why; and the
//! part of `ohproxy up` that sets watch up as a service.

use std::collections::HashMap;

use anyhow::{Context, Result};

use crate::cli::WatchArgs;
use crate::config::Config;
use crate::docker::{Engine, with_hint};
use crate::error::invalid;
use crate::nginx::sandbox_ports;
use crate::paths::Paths;
use crate::ui;
use crate::watch::run::{AFTER_EVENT, PERIODIC, Report, Watch};
use crate::watch::service::{self, Service};

use super::up::runtime;

pub fn run(paths: &Paths, args: WatchArgs) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    if !sandbox_ports::enabled(&config) {
        return Err(invalid(
            "openhands.version is a 0.x version: it has no sandboxes, so there is nothing \
             to watch",
        ));
    }
    let mut watch = Watch::new(&config, paths);
    runtime()?.block_on(async {
        if args.once {
            let engine = Engine::connect().await.map_err(with_hint)?;
            let done = watch
                .sync(&engine, &HashMap::new(), "found by a sync")
                .await?;
            show(done);
            return Ok(());
        }
        ui::status(format!(
            "watch: following sandbox containers for {} (Ctrl-C stops)",
            config.domain
        ));
        watch.follow(show).await;
        Ok(())
    })
}

/// `ohproxy watch` as a service where systemd runs; elsewhere, says how to run it. It
/// never fails `up`, whose container and nginx are in place by now: when systemctl fails
/// (no user bus under `sudo -u`, inside a container), one warning says how to run watch
/// by hand.
pub(super) fn set_up_service(
    config: &Config,
    paths: &Paths,
    no_watch: bool,
    changes: &mut Vec<String>,
) {
    if no_watch {
        ui::status(format!(
            "watch: not set up (--no-watch); {}",
            service::manual_hint(paths)
        ));
        return;
    }
    let Some(service) = Service::locate(config) else {
        ui::status(format!(
            "watch: systemd does not run here; {}",
            service::manual_hint(paths)
        ));
        return;
    };
    let installed = std::env::current_exe()
        .context("finding the ohproxy binary")
        .and_then(|binary| service.install(&service::unit(config, paths, &binary, service.user)));
    match installed {
        Ok(true) => {
            ui::status(format!(
                "watch: installed {} and started it",
                service.unit_file().display()
            ));
            changes.push("watch service".into());
        }
        Ok(false) => ui::status(format!(
            "watch: {} is current and running",
            service.unit_name
        )),
        Err(e) => {
            ui::warn(format!(
                "watch: the service is not set up ({e:#}); {}",
                service::manual_hint(paths)
            ));
            return;
        }
    }
    if let Some(hint) = service.linger_hint() {
        ui::status(format!("watch: {hint}"));
    }
}

/// One report as status lines.
fn show(report: Report) {
    match report {
        Report::Applied { diff, total } => {
            for change in &diff.added {
                ui::status(format!(
                    "watch: + /runtime/{}/ → {} ({})",
                    change.port, change.container, change.why
                ));
            }
            for change in &diff.removed {
                let owner = if change.container.is_empty() {
                    String::new()
                } else {
                    format!("{}, ", change.container)
                };
                ui::status(format!(
                    "watch: - /runtime/{}/ ({owner}{})",
                    change.port, change.why
                ));
            }
            ui::status(format!(
                "watch: nginx reloaded; {total} sandbox port(s) routed"
            ));
        }
        // Periodic syncs and events that change no port stay quiet unless -v.
        Report::InStep { total, why } if why == PERIODIC || why == AFTER_EVENT => {
            tracing::debug!("routes in step ({total} sandbox port(s)) after a {why}");
        }
        Report::InStep { total, why } => {
            ui::status(format!(
                "watch: routes in step ({total} sandbox port(s), {why}); nginx not reloaded"
            ));
        }
        Report::Trouble { what, retry } => {
            ui::warn(format!("watch: {what}; trying again in {:.1?}", retry));
        }
        Report::Connected { host } => {
            ui::status(format!("watch: connected to the Docker engine at {host}"));
        }
    }
}
