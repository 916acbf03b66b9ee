//! OpenHands 1.x sandboxes through one HTTPS origin, with real Docker and a private nginx:
//! the test app plays sandbox (named as OpenHands names them) and `ohproxy watch` routes
//! `/runtime/<port>/` to it. A sandbox becomes routable within a bounded time, HTTP and
//! WebSocket, trusting only our CA; ports that are not sandboxes answer 404; a stopped
//! sandbox loses its route; encoded paths and queries arrive as sent; an open WebSocket
//! survives the reload another sandbox causes; watch outlives its event stream and drops
//! routes while the engine cannot be asked; it applies the config file as it is now and
//! drops the route of a paused sandbox until it is resumed.

use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::support::docker::{self, Cleanup, Run, require_docker};
use crate::support::https::{Client, WebSocket};
use crate::support::nginx::free_port;
use crate::support::sandbox::{Forwarder, Sandbox, Sandboxes};
use crate::support::site::Site;

mod app;
mod follow;

const DOMAIN: &str = "oh-sandbox.home.arpa";
/// How long a new sandbox may take to become routable with watch running.
const ROUTABLE_WITHIN: Duration = Duration::from_secs(10);

/// A site for a 1.x profile with its nginx running, and a client that trusts only our CA.
fn site() -> Option<(Site, Client)> {
    let site = Site::new(DOMAIN, free_port(), "")?;
    let client = Client::new(&site.ca_cert(), DOMAIN, site.nginx.https_port);
    Some((site, client))
}

fn status(client: &Client, target: &str) -> u16 {
    client.get(target).status
}

/// Waits until `target` answers `want`; returns how long it took.
fn wait_status(client: &Client, target: &str, want: u16, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = status(client, target);
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{target} still answers {got}, not {want}, after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A WebSocket to the sandbox's event stream through nginx, checked with one echo.
fn events_socket(client: &Client, sandbox: &Sandbox) -> WebSocket {
    let target = format!(
        "/runtime/{}/sockets/events/{}",
        sandbox.port, sandbox.conversation
    );
    let mut socket = client
        .websocket(&target)
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    echo(&mut socket, "hello");
    socket
}

fn echo(socket: &mut WebSocket, text: &str) {
    socket.send(Message::text(text)).unwrap();
    loop {
        match socket.read().unwrap() {
            Message::Text(got) => {
                assert_eq!(got.as_str(), text);
                return;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected the echo of {text:?}, got {other:?}"),
        }
    }
}

/// `ohproxy watch` in the background, logging to a file; killed on drop.
struct Watcher {
    child: Child,
    log: std::path::PathBuf,
}

impl Watcher {
    fn start(site: &Site, docker_host: Option<&str>) -> Watcher {
        let log = site.home.path().join("watch.log");
        let mut cmd = site.home.cmd(["watch"]);
        if let Some(host) = docker_host {
            cmd = cmd.env("DOCKER_HOST", host);
        }
        Watcher {
            child: cmd.spawn(&log),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `line` (it is written once the apply has finished,
    /// moments after the new route serves).
    fn wait_line(&self, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(line) {
            assert!(Instant::now() < deadline, "no {line:?} in:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until watch reports the sandbox routed, which it does once the reload has
    /// finished. Until then a new connection may still be taken by an old nginx worker
    /// that has not yet closed its listening socket and answers 404 with the old config,
    /// even after a request to a new worker succeeded.
    fn wait_routed(&self, sandbox: &Sandbox) {
        self.wait_line(&format!(
            "+ /runtime/{}/ → {} (",
            sandbox.port, sandbox.name
        ));
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_once_routes_sandboxes_and_nothing_else() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some((site, client)) = site() else { return };
    let cleanup = Cleanup::new(&docker);
    // Alone: a second sync must find the engine's sandboxes unchanged.
    let sandboxes = Sandboxes::alone(&docker, &cleanup);
    let sandbox = sandboxes.start();
    let plain = docker::start(&docker, &cleanup, Run::default());
    let plain_port = docker::published_port(&docker, &plain, docker::APP_PORT);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let local_port = listener.local_addr().unwrap().port();

    // Before a sync the sandbox has no route.
    assert_eq!(
        status(&client, &format!("/runtime/{}/health", sandbox.port)),
        404
    );
    let out = site.home.cmd(["watch", "--once"]).ok();
    let added = format!("+ /runtime/{}/ → {} (", sandbox.port, sandbox.name);
    assert!(out.stderr.contains(&added), "{}", out.stderr);

    let health = client.get(&format!("/runtime/{}/health", sandbox.port));
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    let mut socket = events_socket(&client, &sandbox);
    echo(&mut socket, "second");

    for port in [plain_port, local_port] {
        assert_eq!(
            status(&client, &format!("/runtime/{port}/health")),
            404,
            "{port}"
        );
    }
    for target in [
        "/runtime/abc/health".to_string(),
        "/runtime/".to_string(),
        format!("/runtime/0{}/health", sandbox.port),
        format!("/x/../runtime/{}/health", sandbox.port),
    ] {
        assert_eq!(status(&client, &target), 404, "{target}");
    }

    // The rest of the target reaches the sandbox exactly as sent.
    for raw in ["/echo/a%20b%2Fc?x=1%202&y=%2F", "/echo/%2e%2E/q?", "/echo"] {
        let report = client
            .get(&format!("/runtime/{}{raw}", sandbox.port))
            .json();
        assert_eq!(report["target"], raw, "{report}");
        assert_eq!(report["name"], sandbox.name.as_str());
    }
    // The bare prefix with a query reaches the sandbox's root.
    let root = client.get(&format!("/runtime/{}?q=1", sandbox.port));
    assert_eq!(root.status, 200);
    assert!(root.text().contains(&sandbox.name), "{}", root.text());

    // Redirects from the sandbox stay under its prefix (nginx makes them absolute).
    let path = format!("/runtime/{}", sandbox.port);
    let prefix = format!("https://{}{path}", client.authority());
    for (to, expected) in [
        ("/docs/".to_string(), format!("{prefix}/docs/")),
        (
            format!("http://127.0.0.1:{}/a/", sandbox.port),
            format!("{prefix}/a/"),
        ),
        (
            format!("http://{}/b/", client.authority()),
            format!("{prefix}/b/"),
        ),
        (
            "https://elsewhere.example/".to_string(),
            "https://elsewhere.example/".to_string(),
        ),
    ] {
        let answer = client.get(&format!("{path}/redirect?to={}", encode(&to)));
        assert_eq!(answer.status, 307);
        assert_eq!(answer.header("location"), Some(expected.as_str()), "{to}");
    }

    // Nothing changed: no reload.
    let workers = site.nginx.worker_pids();
    let out = site.home.cmd(["watch", "--once"]).ok();
    assert!(out.stderr.contains("nginx not reloaded"), "{}", out.stderr);
    assert_eq!(site.nginx.worker_pids(), workers);

    sandboxes.remove(&sandbox);
    let out = site.home.cmd(["watch", "--once"]).ok();
    assert!(
        out.stderr
            .contains(&format!("- /runtime/{}/ (", sandbox.port)),
        "{}",
        out.stderr
    );
    assert_eq!(
        status(&client, &format!("/runtime/{}/health", sandbox.port)),
        404
    );
    drop(listener);
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn watch_follows_sandboxes_and_open_sockets_survive_reloads() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some((site, client)) = site() else { return };
    let cleanup = Cleanup::new(&docker);
    let sandboxes = Sandboxes::shared(&docker, &cleanup);
    let watcher = Watcher::start(&site, None);

    let first = sandboxes.start();
    let took = wait_status(
        &client,
        &format!("/runtime/{}/health", first.port),
        200,
        ROUTABLE_WITHIN,
    );
    eprintln!("first sandbox routable {took:?} after it answered directly");
    watcher.wait_routed(&first);
    let mut socket = events_socket(&client, &first);

    let second = sandboxes.start();
    wait_status(
        &client,
        &format!("/runtime/{}/health", second.port),
        200,
        ROUTABLE_WITHIN,
    );
    watcher.wait_routed(&second);
    // The reload that routed the second left the first one's socket open.
    echo(&mut socket, "after the reload");
    let mut other = events_socket(&client, &second);
    echo(&mut other, "second sandbox");
    drop(other);

    sandboxes.remove(&second);
    wait_status(
        &client,
        &format!("/runtime/{}/health", second.port),
        404,
        ROUTABLE_WITHIN,
    );
    echo(&mut socket, "after the removal");
    assert!(watcher.log().contains(&format!(
        "+ /runtime/{}/ → {} (started)",
        second.port, second.name
    )));
    watcher.wait_line(&format!("- /runtime/{}/ ({}, ", second.port, second.name));
}

#[test]
fn watch_outlives_the_event_stream_and_drops_routes_while_blind() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some((site, client)) = site() else { return };
    let cleanup = Cleanup::new(&docker);
    let sandboxes = Sandboxes::shared(&docker, &cleanup);
    let engine = engine_socket();
    let forwarder = Forwarder::new(&site.home.path().join("docker.sock"), &engine);
    let watcher = Watcher::start(&site, Some(&forwarder.docker_host()));

    let first = sandboxes.start();
    let route = format!("/runtime/{}/health", first.port);
    wait_status(&client, &route, 200, ROUTABLE_WITHIN);

    // The stream breaks; watch reconnects and still follows events.
    forwarder.cut();
    let second = sandboxes.start();
    wait_status(
        &client,
        &format!("/runtime/{}/health", second.port),
        200,
        ROUTABLE_WITHIN,
    );

    // The engine cannot be reached: on doubt, no route; back again, routes return.
    forwarder.refuse(true);
    forwarder.cut();
    wait_status(&client, &route, 404, Duration::from_secs(20));
    forwarder.refuse(false);
    wait_status(&client, &route, 200, Duration::from_secs(40));
    watcher.wait_line("reconnecting");
    watcher.wait_line("the engine cannot be reached");
    watcher.wait_line("found after the engine came back");
}

/// The engine's socket on this machine, as `DOCKER_HOST` or the default.
fn engine_socket() -> std::path::PathBuf {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host["unix://".len()..].into(),
        _ => Path::new("/var/run/docker.sock").to_path_buf(),
    }
}

#[test]
fn watch_retries_while_nginx_refuses_and_keeps_what_serves() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some((site, client)) = site() else { return };
    let cleanup = Cleanup::new(&docker);
    let sandboxes = Sandboxes::shared(&docker, &cleanup);
    let watcher = Watcher::start(&site, None);
    let first = sandboxes.start();
    let first_route = format!("/runtime/{}/health", first.port);
    wait_status(&client, &first_route, 200, ROUTABLE_WITHIN);

    // Someone breaks another file of the nginx config: no apply can pass its test.
    let broken = site.nginx.site_dir().join("broken.conf");
    std::fs::write(&broken, "bogus_directive on;\n").unwrap();
    let second = sandboxes.start();
    let second_route = format!("/runtime/{}/health", second.port);
    watcher.wait_line("trying again in");
    assert_eq!(status(&client, &second_route), 404);
    assert_eq!(
        status(&client, &first_route),
        200,
        "the live config still serves"
    );
    let site_file = std::fs::read_to_string(site.site_file()).unwrap();
    assert!(site_file.contains("/runtime/"), "the site file was kept");

    std::fs::remove_file(&broken).unwrap();
    wait_status(&client, &second_route, 200, Duration::from_secs(40));
    assert_eq!(status(&client, &first_route), 200);
}
