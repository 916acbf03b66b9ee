//! What the engine says about a container, reduced to what converge, status and doctor
//! need: whether it is ours, its spec hash, image, state, published ports and environment;
//! the running containers whose name starts with a prefix; and the tail of a log.

use std::collections::HashMap;

use bollard::container::LogOutput;
use bollard::models::{ContainerInspectResponse, PortBinding};
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, LogsOptionsBuilder,
};
use futures_util::StreamExt;

use super::{DockerError, Engine, api, is_status, labels};

/// One container as the engine reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Every published port, by container port, then host port.
    pub bindings: Vec<Binding>,
    /// `KEY=VALUE` as the container was given them.
    pub env: Vec<String>,
}

/// One published port: container port (`3000/tcp`), host address and host port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub container_port: String,
    pub host_ip: String,
    pub host_port: u16,
}

impl Binding {
    /// Published beyond this machine: `0.0.0.0`, `::` or no address at all.
    pub fn on_all_interfaces(&self) -> bool {
        matches!(self.host_ip.as_str(), "" | "0.0.0.0" | "::")
    }

    /// Reachable from this machine only: an address in 127.0.0.0/8 or `::1`.
    pub fn on_loopback(&self) -> bool {
        self.host_ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// `ip:port` on the host.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host_ip, self.host_port)
    }
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

    /// `ip:port` for each published port.
    pub fn published(&self) -> Vec<String> {
        self.bindings.iter().map(Binding::address).collect()
    }

    /// The value the container was given for `key`.
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
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

/// The running containers whose name starts with `prefix`, by name.
pub async fn running_named(engine: &Engine, prefix: &str) -> Result<Vec<Observed>, DockerError> {
    // The engine's name filter matches anywhere in the name; the prefix is checked here.
    let filters = HashMap::from([("name", vec![prefix])]);
    let options = ListContainersOptionsBuilder::default()
        .filters(&filters)
        .build();
    let listed = engine
        .docker
        .list_containers(Some(options))
        .await
        .map_err(api(format!("listing containers named {prefix}*")))?;
    let mut found = Vec::new();
    for summary in listed {
        let name = summary
            .names
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .find(|n| n.starts_with(prefix));
        let Some(name) = name else { continue };
        // One removed since the listing is simply not there any more.
        if let Some(observed) = container(engine, &name).await? {
            found.push(observed);
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn reduce(found: ContainerInspectResponse) -> Observed {
    let state = found.state.unwrap_or_default();
    let config = found.config.unwrap_or_default();
    let ports = found
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
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
        bindings: bindings(ports),
        env: config.env.unwrap_or_default(),
    }
}

fn bindings(ports: HashMap<String, Option<Vec<PortBinding>>>) -> Vec<Binding> {
    let mut out: Vec<Binding> = ports
        .into_iter()
        .flat_map(|(container_port, list)| {
            list.unwrap_or_default().into_iter().map(move |b| Binding {
                container_port: container_port.clone(),
                host_ip: b.host_ip.unwrap_or_default(),
                host_port: b.host_port.and_then(|p| p.parse().ok()).unwrap_or(0),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.container_port, a.host_port).cmp(&(&b.container_port, b.host_port)));
    out
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
