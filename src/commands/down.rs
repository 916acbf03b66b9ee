//! `ohproxy down [--nginx]`: stop and remove the container ohproxy manages and the watch
//! service, empty the site's sandbox allow-list (through the safe apply), keep the state
//! dir; with `--nginx`, take the site out of nginx through the safe removal instead, and
//! empty the allow-list nothing reads any more.

use std::collections::BTreeSet;

use anyhow::Result;

use crate::cli::DownArgs;
use crate::config::Config;
use crate::docker::converge::{self, short};
use crate::docker::spec::{self, host_state_dir};
use crate::docker::{DockerError, Engine, observe, with_hint};
use crate::fsx;
use crate::nginx::apply::{self, Outcome};
use crate::nginx::remove::{self, Removed};
use crate::nginx::{discover, sandbox_ports};
use crate::paths::Paths;
use crate::ui;
use crate::watch::service::Service;

use super::up::runtime;

pub fn run(paths: &Paths, args: DownArgs) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    runtime()?
        .block_on(stop_container(&config))
        .map_err(with_hint)?;
    // The service goes first, so nothing routes sandboxes again after this.
    if let Some(service) = Service::locate(&config)
        && service.remove()?
    {
        ui::status(format!(
            "watch: stopped and removed {}",
            service.unit_file().display()
        ));
    }
    if !args.nginx {
        empty_sandbox_routes(&config, paths)?;
    }
    if let Ok((_, profile)) = spec::profile(&config) {
        ui::status(format!(
            "state kept in {}",
            host_state_dir(profile).display()
        ));
    }

    if args.nginx {
        remove_site(&config, paths)?;
        forget_sandbox_routes(&config, paths)?;
    }
    Ok(())
}

/// Stops and removes the managed container, if there is one.
async fn stop_container(config: &Config) -> Result<(), DockerError> {
    let name = config.openhands.container.as_str();
    let engine = Engine::connect().await?;
    let Some(found) = observe::container(&engine, name).await? else {
        ui::status(format!("container {name}: none; nothing to stop"));
        return Ok(());
    };
    if !found.managed() {
        return Err(DockerError::Foreign {
            name: name.to_string(),
            id: short(&found.id).to_string(),
        });
    }
    converge::stop(&engine, &found.id).await?;
    converge::remove(&engine, &found.id).await?;
    ui::status(format!(
        "container {name}: stopped and removed ({})",
        short(&found.id)
    ));
    Ok(())
}

/// `--nginx`: the site out of nginx through the safe removal.
fn remove_site(config: &Config, paths: &Paths) -> Result<()> {
    match remove::remove(config, paths)? {
        Removed::NotThere { site_file } => {
            ui::status(format!(
                "nginx: no {}; nothing to remove",
                site_file.display()
            ));
        }
        Removed::Removed {
            site_file,
            backup,
            method,
        } => ui::status(format!(
            "nginx: removed {} and reloaded ({method}); a copy is in {}",
            site_file.display(),
            backup.display()
        )),
    }
    Ok(())
}

/// Empties the allow-list of an installed site through the safe apply: with watch gone
/// nothing keeps it current, and a port a sandbox published may later be another
/// program's.
fn empty_sandbox_routes(config: &Config, paths: &Paths) -> Result<()> {
    let routed = sandbox_ports::installed(config, paths)?;
    if routed.is_empty() || !sandbox_ports::enabled(config) {
        return Ok(());
    }
    if !discover::discover(config)?.site_file.exists() {
        return Ok(());
    }
    if let Outcome::Applied { method, .. } =
        apply::apply_sandbox_ports(config, paths, &BTreeSet::new())?
    {
        ui::status(format!(
            "nginx: emptied the sandbox allow-list ({} port(s) no longer routed) and reloaded \
             ({method})",
            routed.len()
        ));
    }
    Ok(())
}

/// Once the site is out of nginx its allow-list is read by nothing; it is emptied in place,
/// so the next apply of the site routes no port from before.
fn forget_sandbox_routes(config: &Config, paths: &Paths) -> Result<()> {
    let routed = sandbox_ports::installed(config, paths)?;
    if routed.is_empty() {
        return Ok(());
    }
    let file = sandbox_ports::file(config, paths);
    let empty = sandbox_ports::render(&BTreeSet::new());
    fsx::write_atomic(&file, empty.as_bytes(), 0o644)?;
    ui::status(format!(
        "nginx: emptied the sandbox allow-list {} ({} port(s))",
        file.display(),
        routed.len()
    ));
    Ok(())
}
