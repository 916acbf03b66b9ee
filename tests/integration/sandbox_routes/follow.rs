//! What changes while `ohproxy watch` runs: the config file (each apply renders the site
//! the file describes now, and a file that no longer loads leaves nginx as it is until it
//! loads again), and sandboxes that OpenHands pauses and resumes.

use bollard::Docker;

use super::{DOMAIN, ROUTABLE_WITHIN, Watcher, status, wait_status};
use crate::support::docker::{Cleanup, block_on, require_docker};
use crate::support::https::Client;
use crate::support::nginx::free_port;
use crate::support::sandbox::{Sandbox, Sandboxes};
use crate::support::site::Site;

/// The upstream line of the site file for this app port.
fn upstream(port: u16) -> String {
    format!("server 127.0.0.1:{port};")
}

#[test]
fn watch_applies_the_config_file_as_it_is_now() {
    let Some(docker) = require_docker() else {
        return;
    };
    let old_app = free_port();
    let Some(site) = Site::new(DOMAIN, old_app, "") else {
        return;
    };
    let client = Client::new(&site.ca_cert(), DOMAIN, site.nginx.https_port);
    let cleanup = Cleanup::new(&docker);
    // Alone: another test's sandbox would make watch apply while `nginx apply` runs, and
    // two applies of one site at once can trip over each other's files.
    let sandboxes = Sandboxes::alone(&docker, &cleanup);
    let watcher = Watcher::start(&site, None);
    // Watch has read the config it starts with, and its first sync is over.
    watcher.wait_line("found at start");

    // The user changes the config and applies it; watch is not restarted.
    let new_app = free_port();
    site.write_config(new_app, "");
    let applied = site.home.cmd(["nginx", "apply"]).run();
    let log = watcher.log();
    assert_eq!(applied.code, 0, "{}\nwatch said:\n{log}", applied.stderr);
    let read = || std::fs::read_to_string(site.site_file()).unwrap();
    assert!(read().contains(&upstream(new_app)), "{}", read());

    // The apply for a new sandbox keeps the site the config describes now.
    let first = sandboxes.start();
    let first_route = format!("/runtime/{}/health", first.port);
    wait_status(&client, &first_route, 200, ROUTABLE_WITHIN);
    watcher.wait_routed(&first);
    let text = read();
    assert!(text.contains(&upstream(new_app)), "{text}");
    assert!(
        !text.contains(&upstream(old_app)),
        "the old config came back:\n{text}"
    );

    // A config that no longer loads: watch says so and leaves nginx as it is.
    let config_file = site.home.path().join("config.toml");
    let good = std::fs::read_to_string(&config_file).unwrap();
    let app_line = format!("app = {new_app}\n");
    assert!(good.contains(&app_line), "{good}");
    std::fs::write(&config_file, good.replace(&app_line, "app = \"x\"\n")).unwrap();
    let before = read();
    let second = sandboxes.start();
    let second_route = format!("/runtime/{}/health", second.port);
    watcher.wait_line("key \"app\", value \"x\"");
    assert_eq!(status(&client, &second_route), 404);
    assert_eq!(status(&client, &first_route), 200);
    assert_eq!(read(), before, "watch changed the site without a config");

    // Loadable again: the retry routes the new sandbox.
    std::fs::write(&config_file, &good).unwrap();
    wait_status(
        &client,
        &second_route,
        200,
        std::time::Duration::from_secs(40),
    );
    watcher.wait_routed(&second);
}

fn pause(docker: &Docker, sandbox: &Sandbox, on: bool) {
    let done = if on {
        block_on(docker.pause_container(&sandbox.id))
    } else {
        block_on(docker.unpause_container(&sandbox.id))
    };
    done.unwrap_or_else(|e| panic!("pause {on} {}: {e}", sandbox.name));
}

#[test]
fn a_paused_sandbox_loses_its_route_until_resumed() {
    let Some(docker) = require_docker() else {
        return;
    };
    let Some((site, client)) = super::site() else {
        return;
    };
    let cleanup = Cleanup::new(&docker);
    let sandboxes = Sandboxes::shared(&docker, &cleanup);
    let watcher = Watcher::start(&site, None);
    let sandbox = sandboxes.start();
    let route = format!("/runtime/{}/health", sandbox.port);
    wait_status(&client, &route, 200, ROUTABLE_WITHIN);
    watcher.wait_routed(&sandbox);

    // Paused, its port would take the request and never answer, so the route goes; the
    // line is written once nginx serves without it.
    pause(&docker, &sandbox, true);
    watcher.wait_line(&format!(
        "- /runtime/{}/ ({}, paused)",
        sandbox.port, sandbox.name
    ));
    assert_eq!(status(&client, &route), 404);

    pause(&docker, &sandbox, false);
    watcher.wait_line(&format!(
        "+ /runtime/{}/ → {} (resumed)",
        sandbox.port, sandbox.name
    ));
    assert_eq!(status(&client, &route), 200);
}
