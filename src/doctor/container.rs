//! The OpenHands container and the 1.x sandboxes, read from the Docker engine: running or
//! not, which addresses they are published on, the app's environment, and whether the app
//! answers its health path on the loopback port directly.

use std::future::Future;
use std::time::Duration;

use crate::docker::observe::{self, Binding, Observed};
use crate::docker::spec::CONTAINER_PORT;
use crate::docker::{DockerError, Engine};

use super::{Found, Outcome, Setup};

/// The name every 1.x sandbox container starts with.
const SANDBOX_PREFIX: &str = "oh-agent-server-";
const TIMEOUT: Duration = Duration::from_secs(5);
/// The fix for an engine that does not answer when its error has no hint of its own.
const ENGINE_FIX: &str = "start the Docker engine, or set DOCKER_HOST";

/// Connects to the engine and runs one request on a runtime of its own, with a time limit;
/// a failure is the check's outcome.
fn ask_engine<T, F>(request: impl FnOnce(Engine) -> F) -> Result<T, Outcome>
where
    F: Future<Output = Result<T, DockerError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Outcome::failure(format!("starting the async runtime: {e}"), ""))?;
    let answer = runtime.block_on(async {
        let engine = Engine::connect().await?;
        Ok(tokio::time::timeout(TIMEOUT, request(engine)).await)
    });
    match answer {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(err))) | Err(err) => Err(Outcome::failure(
            err.to_string(),
            err.hint().unwrap_or_else(|| ENGINE_FIX.to_string()),
        )),
        Ok(Err(_)) => Err(Outcome::failure(
            format!("the engine gave no answer within {TIMEOUT:?}"),
            ENGINE_FIX,
        )),
    }
}

/// The running containers named `oh-agent-server-*`.
pub fn sandboxes() -> Result<Vec<Observed>, Outcome> {
    ask_engine(|engine| async move { observe::running_named(&engine, SANDBOX_PREFIX).await })
}

pub fn check(s: &Setup, found: &mut Found) -> Outcome {
    let name = s.config.openhands.container.as_str();
    let app = match ask_engine(|engine| async move { observe::container(&engine, name).await }) {
        Ok(Some(app)) => app,
        Ok(None) => {
            return Outcome::failure(
                format!("there is no container named {name}"),
                "`ohproxy up` creates and starts it",
            );
        }
        Err(outcome) => return outcome,
    };
    if !app.running() {
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

fn published(name: &str, app: &Observed, app_port: u16) -> Outcome {
    let container_port = format!("{CONTAINER_PORT}/tcp");
    let ours: Vec<&Binding> = app
        .bindings
        .iter()
        .filter(|b| b.container_port == container_port)
        .collect();
    let shown: Vec<String> = ours.iter().map(|b| b.address()).collect();
    if let Some(open) = ours.iter().find(|b| !b.on_loopback()) {
        let place = if open.on_all_interfaces() {
            format!("on all interfaces (port {})", open.host_port)
        } else {
            format!("on {}", open.address())
        };
        return Outcome::failure(
            format!(
                "container {name} publishes the app {place}: anyone on the network reaches \
                 OpenHands without TLS or a password"
            ),
            "`ohproxy up` recreates it published on 127.0.0.1 only",
        );
    }
    if !ours.iter().any(|b| b.host_port == app_port) {
        return Outcome::failure(
            format!(
                "container {name} is running but publishes {container_port} on [{}], \
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

#[cfg(test)]
mod tests {
    use super::*;

    fn app(bindings: &[(&str, u16)]) -> Observed {
        Observed {
            bindings: bindings
                .iter()
                .map(|(ip, port)| Binding {
                    container_port: format!("{CONTAINER_PORT}/tcp"),
                    host_ip: ip.to_string(),
                    host_port: *port,
                })
                .collect(),
            ..Observed::default()
        }
    }

    #[test]
    fn only_loopback_bindings_pass() {
        let ok = published("oh", &app(&[("127.0.0.1", 3000)]), 3000);
        assert_eq!(ok.status, crate::doctor::Status::Ok, "{ok:?}");
        for (ip, words) in [
            ("0.0.0.0", "on all interfaces (port 3000)"),
            ("::", "on all interfaces (port 3000)"),
            ("192.168.1.5", "on 192.168.1.5:3000"),
        ] {
            let bad = published("oh", &app(&[("127.0.0.1", 3000), (ip, 3000)]), 3000);
            assert_eq!(bad.status, crate::doctor::Status::Failure, "{bad:?}");
            assert!(bad.cause.contains(words), "{ip}: {}", bad.cause);
        }
    }
}
