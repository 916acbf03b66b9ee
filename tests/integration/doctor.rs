//! `ohproxy doctor` against a real setup: a private nginx applied to by ohproxy, the test
//! app as the upstream (a process, or the test image in the real Docker engine where the
//! container checks matter). Each failure is induced and doctor must name its cause; a
//! healthy setup passes every check.

use std::time::Duration;

use bollard::query_parameters::StopContainerOptionsBuilder;
use serde_json::Value;

use crate::support::docker::{self, APP_PORT, Cleanup, Run, block_on, require_docker};
use crate::support::site::Site;
use crate::support::testapp::Upstream;
use crate::support::{Output, require};

mod sandboxes;

/// What every command says in access mode `none`, which the sites here use.
pub const NONE_WARNING: &str = "access.mode is \"none\": anyone who can reach the HTTPS port";

/// The domain of every site here: it resolves on every machine, so only induced failures
/// show up.
const DOMAIN: &str = "localhost";

/// A site proxying to the test app as a process, for OpenHands 0.62 (Socket.IO), with a
/// container name that does not exist.
fn process_site() -> Option<(Site, Upstream)> {
    let upstream = Upstream::start();
    let extra = format!(
        "[openhands]\nversion = \"0.62\"\ncontainer = \"ohproxy-doctor-absent-{}\"\n",
        std::process::id()
    );
    let site = Site::new(DOMAIN, upstream.port(), &extra)?;
    Some((site, upstream))
}

/// `ohproxy doctor --json ARGS`: the exit code and the checks by id.
fn doctor(site: &Site, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = site.home.cmd(all).run();
    let json: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}):\n{}", out.stdout));
    (out, json)
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// Asserts a check's status and that its cause contains each of `words`.
fn assert_check(report: &Value, id: &str, status: &str, words: &[&str]) {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{id}: {c:#}");
    let cause = c["cause"].as_str().unwrap();
    for word in words {
        assert!(cause.contains(word), "{id}: {word:?} not in {cause:?}");
    }
}

#[test]
fn a_stopped_nginx_is_named_and_the_client_checks_are_not_run() {
    let Some((mut site, _app)) = process_site() else {
        return;
    };
    site.nginx.stop();
    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_check(&report, "nginx", "failure", &["nginx is not running"]);
    assert!(
        check(&report, "nginx")["fix"]
            .as_str()
            .unwrap()
            .contains("start")
    );
    assert_check(
        &report,
        "nginx-test",
        "skipped",
        &["not run: nginx running failed"],
    );
    assert_check(&report, "ports", "failure", &["nothing listens on port"]);
    assert_check(&report, "tls", "skipped", &["not run:"]);
    assert_check(&report, "websocket", "skipped", &["not run:"]);
    assert_check(&report, "ca", "ok", &[]);
    assert_check(&report, "leaf", "ok", &[]);
}

#[test]
fn a_site_file_without_the_websocket_upgrade_shows_a_diff_and_a_failed_upgrade() {
    let Some((site, _app)) = process_site() else {
        return;
    };
    let (_, before) = doctor(&site, &[]);
    assert_check(&before, "site-file", "ok", &[]);
    assert_check(&before, "websocket", "ok", &["Socket.IO", "101"]);

    let text = std::fs::read_to_string(site.site_file()).unwrap();
    let edited: String = text
        .lines()
        .filter(|l| {
            !l.contains("proxy_set_header Upgrade") && !l.contains("proxy_set_header Connection")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(edited, text, "the template has no upgrade lines to remove");
    std::fs::write(site.site_file(), &edited).unwrap();
    assert!(site.nginx.reload());

    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1);
    assert_check(
        &report,
        "site-file",
        "failure",
        &["differs from what ohproxy renders"],
    );
    let diff = check(&report, "site-file")["detail"].as_str().unwrap();
    assert!(diff.contains("+") && diff.contains("Upgrade"), "{diff}");
    assert_check(&report, "websocket", "failure", &["instead of 101"]);
    assert_check(&report, "https", "ok", &["200"]);
    assert_check(&report, "nginx-test", "ok", &[]);
}

#[test]
fn a_leaf_without_the_domain_is_a_name_mismatch() {
    let Some((site, _app)) = process_site() else {
        return;
    };
    site.home.cmd(["cert", "other.example"]).ok();
    let issued = site.home.state().join("certs");
    let (cert, key) = site.served_leaf();
    std::fs::copy(issued.join("other.example.pem"), &cert).unwrap();
    std::fs::copy(issued.join("other.example-key.pem"), &key).unwrap();
    assert!(site.nginx.reload());

    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1);
    assert_check(
        &report,
        "leaf",
        "failure",
        &["name mismatch", DOMAIN, "other.example"],
    );
    assert_check(
        &report,
        "tls",
        "failure",
        &["name mismatch", "other.example"],
    );
    assert_check(
        &report,
        "https",
        "skipped",
        &["not run: TLS handshake failed"],
    );
}

#[test]
fn a_leaf_from_another_ca_is_an_unknown_ca() {
    let Some((site, _app)) = process_site() else {
        return;
    };
    if require("openssl").is_none() {
        return;
    }
    let (cert, key) = site.served_leaf();
    crate::support::nginx::openssl_pki(&site.home.path().join("other-ca"), DOMAIN, &cert, &key);
    assert!(site.nginx.reload());

    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1);
    assert_check(
        &report,
        "leaf",
        "failure",
        &["unknown CA", "ohproxy test CA"],
    );
    assert_check(&report, "tls", "failure", &["unknown CA"]);
}

#[test]
fn a_port_held_by_another_process_names_that_process() {
    let Some((mut site, _app)) = process_site() else {
        return;
    };
    site.nginx.stop();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", site.nginx.https_port))
        .expect("the https port is free after nginx stopped");
    let (out, report) = doctor(&site, &[]);
    drop(squatter);
    assert_eq!(out.code, 1);
    let pid = std::process::id().to_string();
    let port = site.nginx.https_port.to_string();
    assert_check(&report, "ports", "failure", &[&port, &pid, "not nginx"]);
    assert_check(&report, "tls", "skipped", &["not run:"]);
}

/// A site whose app is the test image in Docker, for OpenHands 0.62.
fn container_site(engine: &bollard::Docker, cleanup: &Cleanup) -> Option<(Site, String)> {
    let id = docker::start(engine, cleanup, Run::default());
    let port = docker::published_port(engine, &id, APP_PORT);
    docker::wait_http(
        &format!("127.0.0.1:{port}"),
        "/health",
        Duration::from_secs(20),
    );
    let extra = format!(
        "[openhands]\nversion = \"0.62\"\ncontainer = \"{}\"\n",
        cleanup.name("app")
    );
    Some((Site::new(DOMAIN, port, &extra)?, id))
}

#[test]
fn a_healthy_setup_passes_every_check_and_a_stopped_container_is_named() {
    let Some(engine) = require_docker() else {
        return;
    };
    let cleanup = Cleanup::new(&engine);
    let Some((site, id)) = container_site(&engine, &cleanup) else {
        return;
    };
    let (out, report) = doctor(&site, &["--hold", "2"]);
    assert_eq!(out.code, 0, "{:#}\n{}", report, out.stderr);
    assert!(out.stderr.contains(NONE_WARNING), "{}", out.stderr);
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "ok", "{c:#}");
        for key in ["id", "title", "cause", "fix", "detail"] {
            assert!(c[key].is_string(), "{key} in {c:#}");
        }
    }
    assert_check(&report, "websocket", "ok", &["held open 2 s"]);
    assert_check(&report, "container", "ok", &["127.0.0.1:"]);
    let fingerprint = report["ca_fingerprint"].as_str().unwrap();
    let shown = site.home.cmd(["ca", "show"]).ok();
    assert!(shown.stdout.contains(fingerprint), "{}", shown.stdout);
    let text = site.home.cmd(["doctor"]).ok();
    assert!(text.stdout.contains(fingerprint), "{}", text.stdout);

    let stop = StopContainerOptionsBuilder::default().t(1).build();
    block_on(engine.stop_container(&id, Some(stop))).unwrap();
    let (out, report) = doctor(&site, &[]);
    assert_eq!(out.code, 1);
    assert_check(&report, "container", "failure", &["exited", "not running"]);
    assert_check(
        &report,
        "app",
        "skipped",
        &["not run: OpenHands container failed"],
    );
    assert_check(&report, "https", "failure", &["502"]);
    assert!(out.stderr.contains("failed: container"), "{}", out.stderr);
}
