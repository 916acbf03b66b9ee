//! doctor on an OpenHands 1.x setup, with the test image as the app and as its sandboxes in
//! the real Docker engine: it reads the sandbox URL pattern from the app container, checks
//! each live sandbox's `/runtime/<port>/` route and a WebSocket on one, and warns of
//! sandbox ports published on every interface (as `status` does).

use std::time::Duration;

use super::{assert_check, check, doctor};
use crate::support::docker::{self, APP_PORT, Cleanup, Run, require_docker};
use crate::support::nginx::free_port;
use crate::support::sandbox::Sandboxes;
use crate::support::site::Site;

/// Not `localhost` like the other doctor tests: a pattern naming it is a failure. doctor
/// reaches nginx on 127.0.0.1 whatever the name resolves to; that it does not resolve here
/// is only a warning.
const DOMAIN: &str = "oh-doctor.home.arpa";

/// Starts the test image as the app, given `pattern` as OpenHands reads it, and points
/// the site at it.
fn app(engine: &bollard::Docker, cleanup: &Cleanup, site: &Site, role: &str, pattern: &str) {
    let run = Run {
        role,
        env: vec![format!("OH_SANDBOX_CONTAINER_URL_PATTERN={pattern}")],
        ..Run::default()
    };
    let id = docker::start(engine, cleanup, run);
    let port = docker::published_port(engine, &id, APP_PORT);
    docker::wait_http(
        &format!("127.0.0.1:{port}"),
        "/health",
        Duration::from_secs(20),
    );
    site.write_config(
        port,
        &format!("[openhands]\ncontainer = \"{}\"\n", cleanup.name(role)),
    );
    site.home.cmd(["nginx", "apply"]).ok();
}

#[test]
fn sandbox_checks_read_the_pattern_each_route_and_open_ports() {
    let Some(engine) = require_docker() else {
        return;
    };
    let cleanup = Cleanup::new(&engine);
    // doctor judges every sandbox on the engine, so no other test's may exist meanwhile.
    let sandboxes = Sandboxes::alone(&engine, &cleanup);
    let Some(site) = Site::new(DOMAIN, free_port(), "") else {
        return;
    };

    // The app given OpenHands' own default, which only this machine's browser can use.
    app(
        &engine,
        &cleanup,
        &site,
        "default-app",
        "http://localhost:{port}",
    );
    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1, "{report:#}");
    assert_check(
        &report,
        "sandbox-url",
        "failure",
        &[
            "http://localhost:{port}",
            "each browser's own machine",
            "mixed content",
        ],
    );

    // The pattern ohproxy gives, and no sandbox yet.
    let pattern = format!(
        "https://{DOMAIN}:{}/runtime/{{port}}",
        site.nginx.https_port
    );
    app(&engine, &cleanup, &site, "app", &pattern);
    let (out, report) = doctor(&site, &[]);
    assert_check(&report, "sandbox-url", "ok", &[&pattern]);
    assert_check(&report, "sandboxes", "ok", &["no sandbox is running"]);
    assert_check(&report, "websocket", "warning", &["no live sandbox"]);
    assert_eq!(out.code, 0, "warnings do not fail: {report:#}");

    // A sandbox that watch has not routed.
    let sandbox = sandboxes.start();
    let route = format!("/runtime/{}/health", sandbox.port);
    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1, "{report:#}");
    let answered = format!("{route} answered 404");
    assert_check(&report, "sandboxes", "failure", &[&sandbox.name, &answered]);
    assert_check(
        &report,
        "websocket",
        "skipped",
        &["not run: sandbox routes failed"],
    );

    // Routed: every check passes, the WebSocket opens on that sandbox.
    site.home.cmd(["watch", "--once"]).ok();
    // A sandbox closes sockets without a session key within seconds: the hold is capped,
    // and the report says so.
    let (out, report) = doctor(&site, &["--hold", "9"]);
    assert_eq!(out.code, 0, "{report:#}\n{}", out.stderr);
    for c in report["checks"].as_array().unwrap() {
        if c["id"] != "resolve" {
            assert_eq!(c["status"], "ok", "{c:#}");
        }
    }
    assert_check(&report, "sandboxes", "ok", &["1 sandbox routes answer"]);
    let events = format!("/runtime/{}/sockets/events/", sandbox.port);
    assert_check(
        &report,
        "websocket",
        "ok",
        &[&events, "101", "held open 5 s"],
    );
    assert_eq!(
        check(&report, "websocket")["detail"],
        "held 5 s of the 9 s asked: a sandbox closes a socket without a session key"
    );

    // A sandbox with its VS Code port open to the network: a warning naming that port.
    let open = sandboxes.start_with_open_port();
    let vscode = docker::published_port(&engine, &open.id, "8001/tcp");
    site.home.cmd(["watch", "--once"]).ok();
    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 0, "{report:#}");
    assert_check(
        &report,
        "sandboxes",
        "warning",
        &[&vscode.to_string(), "published on all interfaces"],
    );
    let rules = check(&report, "sandboxes")["detail"].as_str().unwrap();
    assert!(
        rules.contains(&format!("--ctorigdstport {vscode} ")),
        "{rules}"
    );
    assert!(
        !rules.contains(&format!("--ctorigdstport {} ", open.port)),
        "the loopback agent port is not open: {rules}"
    );

    // status says the same, on stderr, with --json too.
    let status = site.home.cmd(["status", "--json"]).ok();
    assert!(
        status.stderr.contains(super::NONE_WARNING),
        "{}",
        status.stderr
    );
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(
        json["sandboxes"]["exposed"]
            .as_array()
            .unwrap()
            .contains(&vscode.into()),
        "{json:#}"
    );
    assert!(
        status
            .stderr
            .contains(&format!("--ctorigdstport {vscode} ")),
        "{}",
        status.stderr
    );
}
