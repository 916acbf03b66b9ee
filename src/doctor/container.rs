//! The OpenHands container and the 1.x sandboxes, read from the Docker engine: running or
//! not, which addresses they are published on, the app's environment, and whether the app
//! answers its health path on the loopback port directly.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};

use super::{Found, Outcome, Setup};

/// The port OpenHands listens on inside its container.
const APP_CONTAINER_PORT: &str = "3000/tcp";
/// The name every 1.x sandbox container starts with.
pub const SANDBOX_PREFIX: &str = "oh-agent-server-";
const TIMEOUT: Duration = Duration::from_secs(5);

/// One published port: container port (`8000/tcp`), host address and host port.
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
}

/// The app container as the engine reports it.
#[derive(Debug, Clone)]
pub struct App {
    pub status: String,
    pub exit_code: Option<i64>,
    pub bindings: Vec<Binding>,
    /// `KEY=VALUE` as the container was given them.
    pub env: Vec<String>,
}

impl App {
    pub fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}

/// A live sandbox: its name and published ports.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub name: String,
    pub bindings: Vec<Binding>,
}

/// Runs one engine request on a runtime of its own, with a time limit.
fn block_on<T>(future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        tokio::time::timeout(TIMEOUT, future)
            .await
            .unwrap_or_else(|_| Err(format!("the engine gave no answer within {TIMEOUT:?}")))
    })
}

fn engine() -> Result<Docker, String> {
    Docker::connect_with_defaults().map_err(|e| format!("cannot reach the Docker engine: {e}"))
}

/// The container with this name, or `None` when there is none.
pub fn inspect_app(name: &str) -> Result<Option<App>, String> {
    let docker = engine()?;
    block_on(async {
        let found = match docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(found) => found,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(format!("cannot reach the Docker engine: {e}")),
        };
        let state = found.state.unwrap_or_default();
        let ports = found
            .network_settings
            .and_then(|n| n.ports)
            .unwrap_or_default();
        Ok(Some(App {
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            exit_code: state.exit_code,
            bindings: bindings(ports),
            env: found.config.and_then(|c| c.env).unwrap_or_default(),
        }))
    })
}

fn bindings(ports: HashMap<String, Option<Vec<bollard::models::PortBinding>>>) -> Vec<Binding> {
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

/// The running containers named `oh-agent-server-*`.
pub fn sandboxes() -> Result<Vec<Sandbox>, String> {
    let docker = engine()?;
    block_on(async {
        let filters = HashMap::from([("name", vec![SANDBOX_PREFIX])]);
        let options = ListContainersOptionsBuilder::default()
            .filters(&filters)
            .build();
        let listed = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| format!("listing containers: {e}"))?;
        let mut found = Vec::new();
        for summary in listed {
            let name = summary
                .names
                .unwrap_or_default()
                .into_iter()
                .map(|n| n.trim_start_matches('/').to_string())
                .find(|n| n.starts_with(SANDBOX_PREFIX));
            let Some(name) = name else { continue };
            let info = docker
                .inspect_container(&name, None::<InspectContainerOptions>)
                .await
                .map_err(|e| format!("inspecting {name}: {e}"))?;
            let ports = info
                .network_settings
                .and_then(|n| n.ports)
                .unwrap_or_default();
            found.push(Sandbox {
                name,
                bindings: bindings(ports),
            });
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    })
}

pub fn check(s: &Setup, found: &mut Found) -> Outcome {
    let name = s.config.openhands.container.as_str();
    let app = match inspect_app(name) {
        Ok(Some(app)) => app,
        Ok(None) => {
            return Outcome::failure(
                format!("there is no container named {name}"),
                "`ohproxy up` creates and starts it",
            );
        }
        Err(why) => {
            return Outcome::failure(why, "start the Docker engine, or set DOCKER_HOST");
        }
    };
    if app.status != "running" {
        let code = app
            .exit_code
            .map_or(String::new(), |c| format!(" (exit code {c})"));
        return Outcome::failure(
            format!("container {name} is {}{code}, not running", app.status),
            format!("`ohproxy up` starts it; `docker logs {name}` says why it stopped"),
        );
    }
    let outcome = published(name, &app, s.config.ports.app.get());
    found.app = Some(app);
    outcome
}

fn published(name: &str, app: &App, app_port: u16) -> Outcome {
    let ours: Vec<&Binding> = app
        .bindings
        .iter()
        .filter(|b| b.container_port == APP_CONTAINER_PORT)
        .collect();
    let shown: Vec<String> = ours
        .iter()
        .map(|b| format!("{}:{}", b.host_ip, b.host_port))
        .collect();
    if let Some(open) = ours.iter().find(|b| b.on_all_interfaces()) {
        return Outcome::failure(
            format!(
                "container {name} publishes the app on all interfaces (port {}): anyone on \
                 the network reaches OpenHands without TLS or a password",
                open.host_port
            ),
            "`ohproxy up` recreates it published on 127.0.0.1 only",
        );
    }
    if !ours.iter().any(|b| b.host_port == app_port) {
        return Outcome::failure(
            format!(
                "container {name} is running but publishes {APP_CONTAINER_PORT} on [{}], \
                 not 127.0.0.1:{app_port} (ports.app, where nginx sends requests)",
                shown.join(", ")
            ),
            "`ohproxy up` recreates it on ports.app",
        );
    }
    Outcome::ok(format!(
        "container {name} is running, published on {} only",
        shown.join(", ")
    ))
}

pub fn health(s: &Setup) -> Outcome {
    let addr = format!("127.0.0.1:{}", s.config.ports.app);
    let path = s.profile.health_path;
    match http_get(&addr, path) {
        Ok((200, _)) => Outcome::ok(format!("GET http://{addr}{path} answered 200")),
        Ok((status, body)) => Outcome::failure(
            format!("GET http://{addr}{path} answered {status}: {}", body.trim()),
            "the app is up but unwell; see `docker logs` of the container",
        ),
        Err(e) => Outcome::failure(
            format!("GET http://{addr}{path} failed: {e}"),
            "the app has not started yet, or crashed; see `docker logs` of the container",
        ),
    }
}

/// A plain HTTP/1.0 GET: the status and the start of the body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let target: std::net::SocketAddr = addr.parse().map_err(std::io::Error::other)?;
    let mut stream = std::net::TcpStream::connect_timeout(&target, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP answer (the connection closed)"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.chars().take(200).collect()))
}
