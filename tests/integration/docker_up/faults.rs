//! `ohproxy up` when something is wrong: a foreign container, an app that exits at once,
//! a replacement that fails or an `up` killed while replacing, no engine, a missing image,
//! a taken port, an old state dir, an unknown version. Each ends with one line and a hint,
//! and leaves what was running alone.

use std::time::{Duration, Instant};

use bollard::query_parameters::{RenameContainerOptionsBuilder, StopContainerOptionsBuilder};

use crate::support::Home;
use crate::support::docker::{self, Run, block_on, wait_http};

use super::{Setup, assert_ok};

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
fn replacement_that_exits_at_start_puts_the_old_container_back() {
    let good = "env = { TESTAPP_NAME = \"good\" }";
    let Some(setup) = Setup::new(true, good) else {
        return;
    };
    assert_ok(&setup.up());
    let old = setup.id();

    setup.write_config("env = { TESTAPP_NAME = \"good\", TESTAPP_EXIT_CODE = \"3\" }");
    let out = setup.up();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("(exit code 3)"), "{}", out.stderr);
    let restored = format!(
        "the previous container {} runs again as {}",
        &old[..12],
        setup.name
    );
    assert!(out.stderr.contains(&restored), "{}", out.stderr);
    assert!(
        out.stderr.contains("exiting at once with code 3"),
        "the replacement's log: {}",
        out.stderr
    );

    let info = setup.inspect().unwrap();
    assert_eq!(info.id.unwrap(), old, "the old container, not a new one");
    assert_eq!(info.state.unwrap().running, Some(true), "running again");
    let (code, body) = wait_http(
        &format!("127.0.0.1:{}", setup.app_port),
        "/env",
        Duration::from_secs(30),
    );
    assert_eq!(code, 200, "{body}");
    let env: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(env["env"]["TESTAPP_NAME"], "good", "{body}");
    assert_eq!(setup.client().get("/health").status, 200, "through nginx");
    assert_eq!(
        setup.containers(),
        [setup.name.as_str()],
        "no replacement left"
    );

    // Back to the settings it runs with: nothing to do.
    setup.write_config(good);
    let out = setup.up();
    assert_ok(&out);
    assert!(out.stderr.contains("running, up to date"), "{}", out.stderr);
    assert_eq!(setup.id(), old);
}

#[test]
fn up_killed_while_replacing_is_undone_by_the_next_up() {
    let good = "env = { TESTAPP_NAME = \"good\" }";
    let Some(setup) = Setup::new(true, good) else {
        return;
    };
    assert_ok(&setup.up());
    let old = setup.id();

    // A replacement that never answers on the app port, and an `up` killed while it waits.
    setup.write_config("env = { TESTAPP_LISTEN = \"0.0.0.0:3999\" }");
    let image = docker::test_image();
    let log = setup.home.path().join("up.log");
    let mut up = setup
        .home
        .cmd(["up", "--pull", "never", "--image", &image, "--wait", "300"])
        .spawn(&log);
    let waited = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains("recreated because") {
            break;
        }
        assert!(up.try_wait().unwrap().is_none(), "up ended early:\n{text}");
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "never replaced:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    assert_ne!(setup.id(), old, "the replacement holds the name");
    assert_eq!(setup.containers().len(), 2, "the old one is kept aside");

    setup.write_config(good);
    let out = setup.up();
    assert_ok(&out);
    assert!(
        out.stderr
            .contains("left aside by an interrupted replacement"),
        "{}",
        out.stderr
    );
    assert_eq!(setup.id(), old, "{}", out.stderr);
    assert_eq!(setup.containers(), [setup.name.as_str()], "{}", out.stderr);
    assert_eq!(setup.client().get("/health").status, 200);

    // Killed between setting the old one aside and naming the replacement.
    let stop = StopContainerOptionsBuilder::default().t(1).build();
    block_on(setup.engine.stop_container(&old, Some(stop))).unwrap();
    let aside = format!("{}-ohproxy-old", setup.name);
    let rename = RenameContainerOptionsBuilder::default()
        .name(&aside)
        .build();
    block_on(setup.engine.rename_container(&old, rename)).unwrap();
    let out = setup.up();
    assert_ok(&out);
    assert_eq!(setup.id(), old, "{}", out.stderr);
    assert!(out.stderr.contains(": started"), "{}", out.stderr);
    assert_eq!(setup.containers(), [setup.name.as_str()], "{}", out.stderr);
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

/// A profile older than the state found never offers to move newer state into its dir.
#[test]
fn newer_state_is_never_offered_to_an_older_profile() {
    let Some(setup) = Setup::new(false, "version = \"0.40\"") else {
        return;
    };
    let newer = setup.home.path().join("user-home").join(".openhands");
    std::fs::create_dir_all(&newer).unwrap();
    std::fs::write(newer.join("settings.json"), "{}").unwrap();
    let missing = [
        "up",
        "--pull",
        "never",
        "--image",
        "ohproxy-test/never-there:1",
        "--move-state",
    ];
    let out = setup.home.cmd(missing).run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(!out.stderr.contains("state: moved"), "{}", out.stderr);
    assert!(!out.stderr.contains(".openhands holds"), "{}", out.stderr);
    assert!(newer.join("settings.json").is_file());
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
