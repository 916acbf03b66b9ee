//! `ohproxy up` when something is wrong: a foreign container, an app that exits at once,
//! no engine, a missing image, a taken port, an old state dir, an unknown version. Each
//! ends with one line and a hint, and leaves what was running alone.

use crate::support::Home;
use crate::support::docker::{self, Run};

use super::Setup;

#[test]
fn foreign_container_with_our_name_is_refused_and_left_running() {
    let Some(setup) = Setup::new(false, "") else {
        return;
    };
    let foreign = docker::start(
        &setup.engine,
        &setup.cleanup,
        Run {
            role: "oh",
            ..Run::default()
        },
    );
    let out = setup.up();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("that ohproxy did not create"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint:") && out.stderr.contains("docker rename"),
        "{}",
        out.stderr
    );
    let info = setup.inspect().unwrap();
    assert_eq!(info.id.unwrap(), foreign);
    assert_eq!(info.state.unwrap().running, Some(true), "left running");
}

#[test]
fn app_that_exits_at_start_shows_exit_code_and_log() {
    let Some(setup) = Setup::new(false, "env = { TESTAPP_EXIT_CODE = \"3\" }") else {
        return;
    };
    let out = setup.up();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("(exit code 3)"), "{}", out.stderr);
    assert!(
        out.stderr.contains("exiting at once with code 3"),
        "log tail: {}",
        out.stderr
    );
    let state = setup.inspect().unwrap().state.unwrap();
    assert_ne!(state.running, Some(true), "not left restarting");
}

#[test]
fn unreachable_engine_missing_image_and_taken_port_are_clear_errors() {
    let Some(setup) = Setup::new(false, "") else {
        return;
    };
    let out = setup
        .home
        .cmd(["up", "--pull", "never"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);

    let missing = "ohproxy-test/never-there:1";
    let out = setup
        .home
        .cmd(["up", "--pull", "never", "--image", missing])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("image {missing} is not on this Docker engine"))
    );
    assert!(out.stderr.contains("--pull missing"), "{}", out.stderr);
    let out = setup
        .home
        .cmd(["up", "--pull", "always", "--image", missing])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("pulling {missing} failed")),
        "{}",
        out.stderr
    );

    let _taken = std::net::TcpListener::bind(("127.0.0.1", setup.app_port)).unwrap();
    let out = setup.up();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "port 127.0.0.1:{} is already in use",
            setup.app_port
        )),
        "{}",
        out.stderr
    );
    assert!(setup.inspect().is_none(), "nothing was created");
}

#[test]
fn old_state_dir_is_offered_and_moved_only_when_asked() {
    let Some(setup) = Setup::new(false, "") else {
        return;
    };
    let user_home = setup.home.path().join("user-home");
    let old = user_home.join(".openhands-state");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("settings.json"), "{}").unwrap();
    let missing = [
        "up",
        "--pull",
        "never",
        "--image",
        "ohproxy-test/never-there:1",
    ];

    let out = setup.home.cmd(missing).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("--move-state"), "{}", out.stderr);
    assert!(old.join("settings.json").is_file(), "never moved silently");

    let out = setup
        .home
        .cmd(missing.iter().chain(&["--move-state"]))
        .run();
    assert!(out.stderr.contains("state: moved"), "{}", out.stderr);
    assert!(user_home.join(".openhands").join("settings.json").is_file());
    assert!(!old.exists());
}

#[test]
fn unknown_openhands_version_is_refused_before_anything_runs() {
    let home = Home::new();
    let config = "domain = \"oh-up.home.arpa\"\n[openhands]\nversion = \"2.0\"\n";
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let out = home.cmd(["up", "--pull", "never"]).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("unknown OpenHands version 2.0"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: set openhands.version"),
        "{}",
        out.stderr
    );
    assert!(!home.ca_dir().exists(), "no CA was made");
}
