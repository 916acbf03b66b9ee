//! Reaching the Docker engine: `DOCKER_HOST` as the docker CLI reads it, a ping with a
//! short timeout, and an error that says which of the usual causes it is.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

use super::DockerError;

/// The socket the engine listens on when `DOCKER_HOST` is not set.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// How long the first request may take before the engine counts as unreachable.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected engine and the address it was reached at.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    /// `DOCKER_HOST`, or the default `unix://` socket.
    pub host: String,
}

impl Engine {
    /// Connects as the docker CLI would and checks that the engine answers.
    pub async fn connect() -> Result<Engine, DockerError> {
        let host = docker_host();
        let unreachable = |reason: String, hint: &'static str| DockerError::Unreachable {
            host: host.clone(),
            reason,
            hint,
        };
        let docker = Docker::connect_with_defaults().map_err(|e| match e {
            bollard::errors::Error::SocketNotFoundError(path) => {
                unreachable(format!("no socket at {path}"), HINT_NOT_RUNNING)
            }
            bollard::errors::Error::UnsupportedURISchemeError { uri } => {
                unreachable(format!("unsupported address {uri}"), HINT_SCHEME)
            }
            other => unreachable(other.to_string(), HINT_NOT_RUNNING),
        })?;
        // Speak the engine's API version when it is older than ours, then check it answers.
        let checked = async {
            let docker = docker.negotiate_version().await?;
            docker.ping().await?;
            Ok::<Docker, bollard::errors::Error>(docker)
        };
        match tokio::time::timeout(PING_TIMEOUT, checked).await {
            Err(_) => Err(unreachable(
                format!("no answer within {} s", PING_TIMEOUT.as_secs()),
                HINT_NOT_RUNNING,
            )),
            Ok(Err(e)) => Err(classify(&e, unreachable)),
            Ok(Ok(docker)) => Ok(Engine { docker, host }),
        }
    }

    /// The host path of the engine's socket, to mount into the app so it can start
    /// sandboxes: the `unix://` path in use, else the default socket.
    pub fn socket_path(&self) -> PathBuf {
        socket_path_of(&self.host)
    }
}

const HINT_NOT_RUNNING: &str = "is the Docker engine running? start it (`sudo systemctl start \
     docker`) or set DOCKER_HOST to the address it listens on";
const HINT_PERMISSION: &str = "add yourself to the docker group (`sudo usermod -aG docker \
     $USER`, then log in again), or run ohproxy as a user that may use Docker";
const HINT_SCHEME: &str = "DOCKER_HOST must look like unix:///var/run/docker.sock or \
     tcp://HOST:2375";

/// `DOCKER_HOST`, or the default socket, as bollard reads it.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("unix://{DEFAULT_SOCKET}"))
}

/// The socket file for a `DOCKER_HOST` value.
pub fn socket_path_of(host: &str) -> PathBuf {
    match host.strip_prefix("unix://") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// Picks the reason from the I/O error at the bottom of a failed request.
fn classify(
    err: &bollard::errors::Error,
    unreachable: impl Fn(String, &'static str) -> DockerError,
) -> DockerError {
    // `IOError` is transparent: its own source skips the I/O error itself.
    let mut source: Option<&(dyn std::error::Error + 'static)> = match err {
        bollard::errors::Error::IOError { err } => Some(err),
        other => Some(other),
    };
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    unreachable("permission denied".into(), HINT_PERMISSION)
                }
                std::io::ErrorKind::NotFound => {
                    unreachable("no socket there".into(), HINT_NOT_RUNNING)
                }
                std::io::ErrorKind::ConnectionRefused => {
                    unreachable("connection refused".into(), HINT_NOT_RUNNING)
                }
                _ => unreachable(io.to_string(), HINT_NOT_RUNNING),
            };
        }
        source = cause.source();
    }
    unreachable(err.to_string(), HINT_NOT_RUNNING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_follows_unix_hosts_only() {
        assert_eq!(
            socket_path_of("unix:///run/user/1000/docker.sock"),
            PathBuf::from("/run/user/1000/docker.sock")
        );
        assert_eq!(
            socket_path_of("tcp://10.0.0.2:2375"),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(socket_path_of("unix://"), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn causes_get_their_own_hint() {
        let make = |reason: String, hint: &'static str| DockerError::Unreachable {
            host: "unix:///s".into(),
            reason,
            hint,
        };
        let denied = bollard::errors::Error::from(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        ));
        let err = classify(&denied, make);
        assert_eq!(
            err.to_string(),
            "cannot reach the Docker engine at unix:///s: permission denied"
        );
        assert!(err.hint().unwrap().contains("docker group"));
        let refused = bollard::errors::Error::from(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        ));
        assert!(
            classify(&refused, make)
                .hint()
                .unwrap()
                .contains("DOCKER_HOST")
        );
    }
}
