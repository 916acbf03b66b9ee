//! The test app image in the real Docker engine: imported without a registry, published
//! on loopback only, resolving `host.docker.internal` when the host entry is given.

use std::time::Duration;

use bollard::query_parameters::InspectContainerOptions;

use crate::support::docker::{
    self, APP_PORT, Cleanup, LABEL, Run, block_on, published_port, require_docker, test_image,
    wait_http,
};

#[test]
fn container_serves_health_on_a_loopback_port() {
    let Some(engine) = require_docker() else {
        return;
    };
    let image = test_image();
    let labels = block_on(engine.inspect_image(&image))
        .unwrap()
        .config
        .and_then(|c| c.labels)
        .unwrap_or_default();
    assert_eq!(labels.get(LABEL).map(String::as_str), Some("image"));
    let cleanup = Cleanup::new(&engine);
    let id = docker::start(&engine, &cleanup, Run::default());
    let port = published_port(&engine, &id, APP_PORT);
    let (status, body) = wait_http(
        &format!("127.0.0.1:{port}"),
        "/health",
        Duration::from_secs(20),
    );
    assert_eq!((status, body.as_str()), (200, "OK"));
    let info = block_on(engine.inspect_container(&id, None::<InspectContainerOptions>)).unwrap();
    let ports = info.network_settings.unwrap().ports.unwrap();
    let bindings = ports[APP_PORT].clone().unwrap();
    assert!(
        bindings
            .iter()
            .all(|b| b.host_ip.as_deref() == Some("127.0.0.1")),
        "published beyond loopback: {bindings:?}"
    );
}

#[test]
fn env_reports_host_gateway_mapping_and_mounted_file() {
    let Some(engine) = require_docker() else {
        return;
    };
    let cleanup = Cleanup::new(&engine);
    let bundle = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bundle.path(), "-----BEGIN CERTIFICATE-----\ntest\n").unwrap();
    let mapped = docker::start(
        &engine,
        &cleanup,
        Run {
            role: "mapped",
            env: vec!["TESTAPP_REPORT_FILES=/etc/ohproxy/ca.pem,/nowhere".into()],
            extra_hosts: vec!["host.docker.internal:host-gateway".into()],
            binds: vec![format!(
                "{}:/etc/ohproxy/ca.pem:ro",
                bundle.path().display()
            )],
            ..Run::default()
        },
    );
    let plain = docker::start(
        &engine,
        &cleanup,
        Run {
            role: "plain",
            ..Run::default()
        },
    );
    let report = |id: &str| {
        let addr = format!("127.0.0.1:{}", published_port(&engine, id, APP_PORT));
        let (status, body) = wait_http(&addr, "/env", Duration::from_secs(20));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let mapped_report = report(&mapped);
    let addresses = &mapped_report["resolve"]["host.docker.internal"]["addresses"];
    let gateway = block_on(engine.inspect_container(&mapped, None::<InspectContainerOptions>))
        .unwrap()
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get("bridge").and_then(|b| b.gateway.clone()))
        .expect("the container is on the default bridge");
    assert!(
        addresses
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == gateway.as_str()),
        "host.docker.internal resolved to {addresses}, the bridge gateway is {gateway}"
    );
    let file = &mapped_report["files"]["/etc/ohproxy/ca.pem"];
    assert_eq!(file["head"], "-----BEGIN CERTIFICATE-----\ntest\n");
    assert_eq!(mapped_report["files"]["/nowhere"]["exists"], false);
    let plain_report = report(&plain);
    assert!(
        plain_report["resolve"]["host.docker.internal"]["error"].is_string(),
        "without the host entry the name must not resolve: {plain_report}"
    );
}

/// The app leaves on SIGTERM like the real one, so `docker stop` (and with it `down` and
/// every recreate in these tests) does not wait out its grace period and kill it.
#[test]
fn container_exits_cleanly_on_stop() {
    let Some(engine) = require_docker() else {
        return;
    };
    let cleanup = Cleanup::new(&engine);
    let id = docker::start(&engine, &cleanup, Run::default());
    let port = published_port(&engine, &id, APP_PORT);
    wait_http(
        &format!("127.0.0.1:{port}"),
        "/health",
        Duration::from_secs(20),
    );
    let options = bollard::query_parameters::StopContainerOptionsBuilder::default()
        .t(60)
        .build();
    block_on(engine.stop_container(&id, Some(options))).unwrap();
    let state = block_on(engine.inspect_container(&id, None::<InspectContainerOptions>))
        .unwrap()
        .state
        .unwrap();
    // 137 is SIGKILL: the grace period ran out and the engine killed it.
    assert_eq!(state.exit_code, Some(0), "{state:?}");
}
