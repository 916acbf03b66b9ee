//! What the engine says about a container, reduced to what converge and status need:
//! whether it is ours, its spec hash, image, state and published addresses; and the tail
//! of its log.

use std::collections::HashMap;

use bollard::container::LogOutput;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{InspectContainerOptions, LogsOptionsBuilder};
use futures_util::StreamExt;

use super::{DockerError, Engine, api, is_status, labels};

/// One container as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    /// The image reference it was created from.
    pub image: String,
    /// The id of the image it runs.
    pub image_id: String,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    pub restart_count: i64,
    pub exit_code: Option<i64>,
    /// RFC 3339, as the engine writes it.
    pub started_at: Option<String>,
    /// The engine's health-check status, when the image defines a check.
    pub health: Option<String>,
    /// `ip:port` for each host address the app port is published on.
    pub published: Vec<String>,
}

impl Observed {
    /// Created by ohproxy: the only kind of container ohproxy changes.
    pub fn managed(&self) -> bool {
        self.labels
            .get(labels::MANAGED)
            .is_some_and(|v| v == "true")
    }

    pub fn spec_hash(&self) -> Option<&str> {
        self.labels.get(labels::SPEC_HASH).map(String::as_str)
    }

    pub fn running(&self) -> bool {
        self.status == "running"
    }
}

/// The container with this name or id, or `None` when there is none.
pub async fn container(engine: &Engine, name: &str) -> Result<Option<Observed>, DockerError> {
    match engine
        .docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
    {
        Ok(found) => Ok(Some(reduce(found))),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(api(format!("inspecting container {name}"))(e)),
    }
}

fn reduce(found: ContainerInspectResponse) -> Observed {
    let state = found.state.unwrap_or_default();
    let config = found.config.unwrap_or_default();
    let published = found
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
        .into_values()
        .flatten()
        .flatten()
        .map(|b| {
            format!(
                "{}:{}",
                b.host_ip.unwrap_or_default(),
                b.host_port.unwrap_or_default()
            )
        })
        .collect();
    Observed {
        id: found.id.unwrap_or_default(),
        name: found
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        labels: config.labels.unwrap_or_default(),
        image: config.image.unwrap_or_default(),
        image_id: found.image.unwrap_or_default(),
        status: state.status.map(|s| s.to_string()).unwrap_or_default(),
        restart_count: found.restart_count.unwrap_or(0),
        exit_code: state.exit_code,
        started_at: state.started_at.filter(|s| !s.starts_with("0001-")),
        health: state
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        published,
    }
}

/// The last `lines` lines of the container's stdout and stderr; empty if unreadable.
pub async fn log_tail(engine: &Engine, id: &str, lines: usize) -> Vec<String> {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = engine.docker.logs(id, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        let bytes = match chunk {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => message,
        };
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    text.lines().map(str::to_string).collect()
}
