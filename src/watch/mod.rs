//! `ohproxy watch`: keeps the site's sandbox allow-list equal to the host ports of the
//! OpenHands sandboxes running on this engine. This module finds the sandboxes and says
//! what changed; `run` follows the engine's events and applies changes through the safe
//! apply. Never prints: what happens goes to a `Report` callback.

pub mod run;
pub mod service;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::{ContainerSummary, PortSummaryTypeEnum};
use bollard::query_parameters::ListContainersOptions;

use crate::docker::{DockerError, Engine, api};
use crate::openhands::SANDBOX_NAME_PREFIX;

/// One port to route: its sandbox container and why it came or went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChange {
    pub port: u16,
    pub container: String,
    pub why: String,
}

/// The difference between the installed allow-list and what the engine runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<PortChange>,
    pub removed: Vec<PortChange>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Host port → sandbox container name, for every running sandbox on this engine.
pub type Routes = BTreeMap<u16, String>;

/// The running sandboxes and their host ports, in one listing (so a container that goes
/// away between an event and this call is simply absent).
pub async fn live_routes(engine: &Engine) -> Result<Routes, DockerError> {
    Ok(routes_of(&listing(engine).await?))
}

/// The running containers whose names look like sandboxes (checked again by the callers).
pub async fn listing(engine: &Engine) -> Result<Vec<ContainerSummary>, DockerError> {
    let options = ListContainersOptions {
        all: false,
        filters: Some(HashMap::from([
            ("name".to_string(), vec![SANDBOX_NAME_PREFIX.to_string()]),
            ("status".to_string(), vec!["running".to_string()]),
        ])),
        ..Default::default()
    };
    engine
        .docker
        .list_containers(Some(options))
        .await
        .map_err(api("listing the sandbox containers"))
}

/// The sandbox host ports published on every interface, which the network reaches
/// without nginx.
pub fn exposed_of(containers: &[ContainerSummary]) -> Vec<u16> {
    let mut ports: Vec<u16> = containers
        .iter()
        .filter(|c| sandbox_name(c).is_some())
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| matches!(p.ip.as_deref(), None | Some("" | "0.0.0.0" | "::")))
        .filter_map(|p| p.public_port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The routes of a container listing: sandboxes only, their TCP ports that 127.0.0.1
/// reaches (published on all interfaces or on loopback).
pub fn routes_of(containers: &[ContainerSummary]) -> Routes {
    let mut routes = Routes::new();
    for container in containers {
        let Some(name) = sandbox_name(container) else {
            continue;
        };
        for port in container.ports.iter().flatten() {
            let tcp = matches!(port.typ, Some(PortSummaryTypeEnum::TCP) | None);
            let reachable = matches!(
                port.ip.as_deref(),
                None | Some("" | "0.0.0.0" | "::" | "127.0.0.1" | "::1")
            );
            if let (true, true, Some(public)) = (tcp, reachable, port.public_port)
                && public != 0
            {
                routes.insert(public, name.clone());
            }
        }
    }
    routes
}

/// The container's name when it is a sandbox: OpenHands itself knows its sandboxes by this
/// name prefix, and nothing else marks them in every 1.x version.
fn sandbox_name(container: &ContainerSummary) -> Option<String> {
    container
        .names
        .iter()
        .flatten()
        .map(|n| n.trim_start_matches('/'))
        .find(|n| n.starts_with(SANDBOX_NAME_PREFIX) && !n.contains('/'))
        .map(str::to_string)
}

/// What changes from `installed` (port → the container it was for, when known) to `live`;
/// `why` names the reason for each container that came or went, if an event told it.
pub fn diff(
    installed: &BTreeSet<u16>,
    known: &Routes,
    live: &Routes,
    why: &HashMap<String, String>,
    default_why: &str,
) -> Diff {
    let reason = |name: &str| why.get(name).cloned().unwrap_or(default_why.to_string());
    let added = live
        .iter()
        .filter(|(port, _)| !installed.contains(port))
        .map(|(port, name)| PortChange {
            port: *port,
            container: name.clone(),
            why: reason(name),
        })
        .collect();
    let removed = installed
        .iter()
        .filter(|port| !live.contains_key(port))
        .map(|port| {
            let name = known.get(port).cloned().unwrap_or_default();
            PortChange {
                port: *port,
                why: if name.is_empty() {
                    "no running sandbox publishes it".to_string()
                } else {
                    reason(&name)
                },
                container: name,
            }
        })
        .collect();
    Diff { added, removed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortSummary;

    fn container(name: &str, ports: &[(Option<&str>, u16)]) -> ContainerSummary {
        ContainerSummary {
            names: Some(vec![format!("/{name}")]),
            ports: Some(
                ports
                    .iter()
                    .map(|(ip, public)| PortSummary {
                        ip: ip.map(str::to_string),
                        private_port: 8000,
                        public_port: Some(*public),
                        typ: Some(PortSummaryTypeEnum::TCP),
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn only_sandboxes_and_reachable_ports_route() {
        let listing = [
            container(
                "oh-agent-server-a1",
                &[(Some("0.0.0.0"), 41000), (Some("::"), 41000)],
            ),
            container("oh-agent-server-b2", &[(Some("127.0.0.1"), 42000)]),
            container("oh-agent-server-c3", &[(Some("192.168.1.9"), 43000)]),
            container("openhands-app", &[(Some("127.0.0.1"), 3000)]),
            container("my-oh-agent-server-x", &[(Some("0.0.0.0"), 44000)]),
        ];
        let routes = routes_of(&listing);
        assert_eq!(
            routes.keys().copied().collect::<Vec<_>>(),
            [41000, 42000],
            "{routes:?}"
        );
        assert_eq!(routes[&41000], "oh-agent-server-a1");
    }

    #[test]
    fn diff_names_ports_and_reasons() {
        let installed = BTreeSet::from([1000, 2000]);
        let known = Routes::from([(1000, "oh-agent-server-old".to_string())]);
        let live = Routes::from([
            (2000, "oh-agent-server-kept".to_string()),
            (3000, "oh-agent-server-new".to_string()),
        ]);
        let why = HashMap::from([
            ("oh-agent-server-new".to_string(), "started".to_string()),
            ("oh-agent-server-old".to_string(), "died".to_string()),
        ]);
        let diff = diff(&installed, &known, &live, &why, "found by a full sync");
        assert_eq!(diff.added.len(), 1);
        assert_eq!(diff.added[0].port, 3000);
        assert_eq!(diff.added[0].why, "started");
        assert_eq!(diff.removed[0].port, 1000);
        assert_eq!(diff.removed[0].why, "died");
        let same = super::diff(&BTreeSet::from([2000]), &known, &live, &why, "");
        assert_eq!(same.removed, []);
    }
}
