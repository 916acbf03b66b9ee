//! `ohproxy down [--nginx]`: stop and remove the container ohproxy manages, keeping the
//! state dir; with `--nginx`, also take the site out of nginx through the safe removal.

use anyhow::Result;

use crate::cli::DownArgs;
use crate::config::Config;
use crate::docker::converge::{self, short};
use crate::docker::spec::{self, host_state_dir};
use crate::docker::{DockerError, Engine, observe, with_hint};
use crate::nginx::remove::{self, Removed};
use crate::paths::Paths;
use crate::ui;
use crate::watch::service::Service;

use super::up::runtime;

pub fn run(paths: &Paths, args: DownArgs) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    let name = config.openhands.container.as_str().to_string();
    runtime()?
        .block_on(async {
            let engine = Engine::connect().await?;
            let Some(found) = observe::container(&engine, &name).await? else {
                ui::status(format!("container {name}: none; nothing to stop"));
                return Ok(());
            };
            if !found.managed() {
                return Err(DockerError::Foreign {
                    name: name.clone(),
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
        })
        .map_err(with_hint)?;
    if let Some(service) = Service::locate(&config)
        && service.remove()?
    {
        ui::status(format!(
            "watch: stopped and removed {}",
            service.unit_file().display()
        ));
    }
    if let Ok((_, profile)) = spec::profile(&config) {
        ui::status(format!(
            "state kept in {}",
            host_state_dir(profile).display()
        ));
    }

    if args.nginx {
        match remove::remove(&config, paths)? {
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
    }
    Ok(())
}
