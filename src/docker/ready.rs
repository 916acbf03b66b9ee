//! Waiting until the app is ready: an HTTP answer on the profile's health path on the
//! published loopback port. An open port is not enough, because Docker's proxy accepts
//! connections before the app listens. If the container exits or restarts meanwhile,
//! waiting stops at once with its exit code and the tail of its log.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::observe;
use super::{DockerError, Engine, converge};

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between probes.
const INTERVAL: Duration = Duration::from_millis(200);
/// How many log lines an exit shows.
const LOG_LINES: usize = 20;

/// Where the app should answer, and for how long to wait.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: String,
    pub port: u16,
    pub path: String,
    pub timeout: Duration,
}

/// Waits for a 2xx or 3xx answer; returns how long it took.
pub async fn wait(engine: &Engine, id: &str, probe: &Probe) -> Result<Duration, DockerError> {
    let started = Instant::now();
    let mut restarts = None;
    loop {
        let now = observe::container(engine, id).await?;
        if let Some(now) = now {
            let first = *restarts.get_or_insert(now.restart_count);
            let how = match now.status.as_str() {
                "exited" | "dead" => Some("exited at start"),
                "restarting" => Some("keeps restarting"),
                _ if now.restart_count > first => Some("restarted while starting"),
                _ => None,
            };
            if let Some(how) = how {
                return Err(exited(engine, &now, probe, how).await);
            }
        }
        let last = match get(probe.port, &probe.path).await {
            Ok(status) if (200..400).contains(&status) => return Ok(started.elapsed()),
            Ok(status) => format!("HTTP {status}"),
            Err(e) => e,
        };
        if started.elapsed() >= probe.timeout {
            return Err(DockerError::NotReady {
                name: probe.name.clone(),
                port: probe.port,
                path: probe.path.clone(),
                secs: probe.timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// The error for a container that died; it is stopped so it does not restart forever.
async fn exited(
    engine: &Engine,
    now: &observe::Observed,
    probe: &Probe,
    how: &'static str,
) -> DockerError {
    let log_tail = observe::log_tail(engine, &now.id, LOG_LINES).await;
    let _ = converge::stop(engine, &now.id).await;
    let code = observe::container(engine, &now.id)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.exit_code)
        .or(now.exit_code)
        .unwrap_or(-1);
    DockerError::ExitedAtStart {
        name: probe.name.clone(),
        how,
        code,
        log_tail,
    }
}

/// One `GET` on 127.0.0.1; the status code, or why there was none.
pub async fn get(port: u16, path: &str) -> Result<u16, String> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<Vec<u8>, std::io::Error>(head)
    };
    let head = match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Err(_) => return Err("no answer within 2 s".into()),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(head)) => head,
    };
    status_code(&head).ok_or_else(|| {
        if head.is_empty() {
            "connection closed without an answer".to_string()
        } else {
            "not an HTTP answer".to_string()
        }
    })
}

/// The status code of an HTTP/1.x status line.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = String::from_utf8_lossy(head);
    let mut words = line.split_whitespace();
    let version = words.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503 Busy\r\n"), Some(503));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[tokio::test]
    async fn a_closed_port_is_not_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(get(port, "/health").await.is_err());
    }
}
