//! `docker::observe` against the real engine: the running containers whose name starts
//! with a prefix, each with its published ports and environment, as doctor reads them for
//! the app and the 1.x sandboxes.

use bollard::query_parameters::StopContainerOptionsBuilder;
use ohproxy::docker::{Engine, observe};

use crate::support::docker::{self, APP_PORT, Cleanup, Run, block_on, require_docker};

#[test]
fn running_containers_are_found_by_name_prefix_with_ports_and_environment() {
    let Some(engine) = require_docker() else {
        return;
    };
    let cleanup = Cleanup::new(&engine);
    let env = |value: &str| Run {
        role: "",
        env: vec![format!("OH_SANDBOX_CONTAINER_URL_PATTERN={value}")],
        ..Default::default()
    };
    let second = docker::start(
        &engine,
        &cleanup,
        Run {
            role: "sb-2",
            ..env("two")
        },
    );
    docker::start(
        &engine,
        &cleanup,
        Run {
            role: "sb-1",
            ..env("one")
        },
    );
    docker::start(
        &engine,
        &cleanup,
        Run {
            role: "other",
            ..env("")
        },
    );
    let prefix = cleanup.name("sb-");
    let port = docker::published_port(&engine, &second, APP_PORT);

    let (found, inner) = block_on(async {
        let ours = Engine::connect().await.unwrap();
        let found = observe::running_named(&ours, &prefix).await.unwrap();
        // The engine matches a name filter anywhere in the name; a prefix must not.
        let inner = observe::running_named(&ours, &prefix["ohproxy-".len()..])
            .await
            .unwrap();
        (found, inner)
    });
    let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [cleanup.name("sb-1"), cleanup.name("sb-2")]);
    assert!(inner.is_empty(), "{inner:?}");
    let two = &found[1];
    assert_eq!(two.env("OH_SANDBOX_CONTAINER_URL_PATTERN"), Some("two"));
    assert_eq!(two.env("OH_SANDBOX_CONTAINER_URL"), None);
    let binding = &two.bindings[0];
    assert_eq!(
        (binding.container_port.as_str(), binding.host_port),
        (APP_PORT, port)
    );
    assert!(!binding.on_all_interfaces(), "{binding:?}");
    assert_eq!(two.published(), [format!("127.0.0.1:{port}")]);

    // A stopped container is no longer listed.
    let stop = StopContainerOptionsBuilder::default().t(0).build();
    block_on(engine.stop_container(&second, Some(stop))).unwrap();
    let after = block_on(async {
        let ours = Engine::connect().await.unwrap();
        observe::running_named(&ours, &prefix).await.unwrap()
    });
    let names: Vec<&str> = after.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [cleanup.name("sb-1")]);
}
