//! Bringing the live container to the spec, as compose does, and waiting until its app
//! answers: nothing when it runs with the same spec hash and image; start it when it is
//! only stopped; create it when there is none; otherwise replace it (see `replace`), so
//! that a failed replacement leaves the old app running. A same-named container without
//! our label is never touched.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};

use super::observe::{self, Observed};
use super::ready::{self, Probe};
use super::spec::Spec;
use super::{DockerError, Engine, api, is_status, labels, replace};

/// Seconds the app gets to shut down cleanly when it is stopped.
pub const STOP_SECONDS: i32 = 10;

/// What converging did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Running with the same spec and image: nothing was done.
    Unchanged,
    /// Existed with the same spec and image but was not running: started.
    Started,
    /// There was none: created and started.
    Created,
    /// The spec or the image changed: replaced.
    Recreated { old_id: String, reason: String },
}

/// The container after converging.
#[derive(Debug, Clone)]
pub struct Converged {
    pub action: Action,
    pub id: String,
}

/// Converges the container named in the spec and waits until its app answers the probe;
/// `image_id` is the id of the spec's image. `started` hears what was done as soon as the
/// container runs, before the wait. Returns how long the app took to answer.
pub async fn converge(
    engine: &Engine,
    spec: &Spec,
    image_id: &str,
    config_file: &Path,
    probe: &Probe,
    started: impl FnOnce(&Converged),
) -> Result<(Converged, Duration), DockerError> {
    replace::recover(engine, spec).await?;
    let current = observe::container(engine, &spec.name).await?;
    let Some(current) = current else {
        check_port_free(spec.app_port)?;
        let id = create(engine, spec, &spec.name, config_file, None).await?;
        start(engine, &id, spec.app_port).await?;
        return confirm(engine, Action::Created, id, probe, started).await;
    };
    if !current.managed() {
        return Err(DockerError::Foreign {
            name: spec.name.clone(),
            id: short(&current.id).to_string(),
        });
    }
    if let Some(reason) = stale(&current, spec, image_id) {
        if !holds_port(&current, spec.app_port) {
            check_port_free(spec.app_port)?;
        }
        let replacing = replace::Replacing {
            spec,
            old: &current,
            reason,
            config_file,
        };
        return replacing.run(engine, probe, started).await;
    }
    if current.running() || current.status == "restarting" {
        return confirm(engine, Action::Unchanged, current.id, probe, started).await;
    }
    check_port_free(spec.app_port)?;
    start(engine, &current.id, spec.app_port).await?;
    confirm(engine, Action::Started, current.id, probe, started).await
}

/// Tells `started`, then waits for the app.
async fn confirm(
    engine: &Engine,
    action: Action,
    id: String,
    probe: &Probe,
    started: impl FnOnce(&Converged),
) -> Result<(Converged, Duration), DockerError> {
    let converged = Converged { action, id };
    started(&converged);
    let took = ready::wait(engine, &converged.id, probe).await?;
    Ok((converged, took))
}

/// Why a managed container no longer matches, or `None` when it does.
pub fn stale(current: &Observed, spec: &Spec, image_id: &str) -> Option<String> {
    if current.spec_hash() != Some(spec.hash().as_str()) {
        return Some("the settings changed".into());
    }
    if current.image_id != image_id {
        return Some(format!("the image {} changed", spec.image));
    }
    None
}

/// Creates the container of the spec under `name`; `replaces` is the id of the container
/// it is to replace, recorded in a label.
pub(super) async fn create(
    engine: &Engine,
    spec: &Spec,
    name: &str,
    config_file: &Path,
    replaces: Option<&str>,
) -> Result<String, DockerError> {
    let mut body = spec.create_body(config_file);
    if let (Some(old), Some(labels)) = (replaces, body.labels.as_mut()) {
        labels.insert(labels::REPLACES.into(), old.to_string());
    }
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let created = engine
        .docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| {
            if is_status(&e, 404) {
                DockerError::ImageMissing {
                    image: spec.image.clone(),
                }
            } else {
                api(format!("creating container {name}"))(e)
            }
        })?;
    for warning in &created.warnings {
        tracing::warn!("engine: {warning}");
    }
    Ok(created.id)
}

/// Starts a container; "already started" counts as success.
pub async fn start(engine: &Engine, id: &str, port: u16) -> Result<(), DockerError> {
    match engine
        .docker
        .start_container(id, None::<StartContainerOptions>)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if port_in_use(&e) => Err(DockerError::PortTaken { port }),
        Err(e) => Err(api(format!("starting container {}", short(id)))(e)),
    }
}

/// Gives a container another name.
pub(super) async fn rename(engine: &Engine, id: &str, name: &str) -> Result<(), DockerError> {
    let options = RenameContainerOptionsBuilder::default().name(name).build();
    engine
        .docker
        .rename_container(id, options)
        .await
        .map_err(api(format!("renaming container {} to {name}", short(id))))
}

/// Stops a container, giving the app `STOP_SECONDS` to finish.
pub async fn stop(engine: &Engine, id: &str) -> Result<(), DockerError> {
    let options = StopContainerOptionsBuilder::default()
        .t(STOP_SECONDS)
        .build();
    match engine.docker.stop_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_status(&e, 304) => Ok(()),
        Err(e) => Err(api(format!("stopping container {}", short(id)))(e)),
    }
}

/// Removes a stopped container (and its anonymous volumes).
pub async fn remove(engine: &Engine, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    match engine.docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_status(&e, 404) => Ok(()),
        // Someone else (a prune, `docker rm`) is removing it already: wait for that.
        Err(e) if is_status(&e, 409) && e.to_string().contains("in progress") => {
            wait_gone(engine, id).await
        }
        Err(e) => Err(api(format!("removing container {}", short(id)))(e)),
    }
}

async fn wait_gone(engine: &Engine, id: &str) -> Result<(), DockerError> {
    for _ in 0..300 {
        if observe::container(engine, id).await?.is_none() {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(DockerError::Api {
        action: format!("removing container {}", short(id)),
        source: bollard::errors::Error::RequestTimeoutError,
    })
}

fn holds_port(current: &Observed, port: u16) -> bool {
    current.running() && current.bindings.iter().any(|b| b.host_port == port)
}

/// Refuses early, before anything changes, when another program holds the app port.
fn check_port_free(port: u16) -> Result<(), DockerError> {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(_) => Err(DockerError::PortTaken { port }),
    }
}

fn port_in_use(err: &bollard::errors::Error) -> bool {
    let text = err.to_string();
    text.contains("port is already allocated") || text.contains("address already in use")
}

/// The 12-character id the docker CLI shows.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
