//! `ohproxy up`, `down` and `status` against the real Docker engine and a private nginx:
//! the test app image (imported, never pulled) stands in for OpenHands. Every container
//! ohproxy makes carries the label naming the test's config file; a guard removes them by
//! that label when the test ends, passed or failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use tungstenite::Message;

use crate::support::docker::{Cleanup, block_on, require_docker, test_image};
use crate::support::https::Client;
use crate::support::nginx::{Nginx, free_port};
use crate::support::{Home, Output, require};

mod faults;

pub const DOMAIN: &str = "oh-up.home.arpa";

/// One setup: a home with a config for a unique container name and app port, and, when
/// asked, a running private nginx that the config points at.
pub struct Setup {
    pub home: Home,
    pub engine: Docker,
    pub nginx: Option<Nginx>,
    pub cleanup: Cleanup,
    pub name: String,
    pub app_port: u16,
}

impl Setup {
    /// `None` (skipped loudly) without an engine, or without nginx when `with_nginx`.
    pub fn new(with_nginx: bool, openhands: &str) -> Option<Setup> {
        let engine = require_docker()?;
        let nginx = if with_nginx {
            let mut nginx = Nginx::new(&require("nginx")?);
            nginx.start();
            Some(nginx)
        } else {
            None
        };
        let cleanup = Cleanup::new(&engine);
        let setup = Setup {
            home: Home::new(),
            name: cleanup.name("oh"),
            app_port: free_port(),
            engine,
            nginx,
            cleanup,
        };
        setup.write_config(openhands);
        Some(setup)
    }

    pub fn config_file(&self) -> PathBuf {
        self.home.path().join("config.toml")
    }

    /// Writes the config; `openhands` is extra lines for the `[openhands]` table.
    pub fn write_config(&self, openhands: &str) {
        let (https, http) = match &self.nginx {
            Some(nginx) => (nginx.https_port, nginx.http_port),
            None => (free_port(), free_port()),
        };
        let nginx = self
            .nginx
            .as_ref()
            .map(Nginx::config_section)
            .unwrap_or_default();
        let text = format!(
            "domain = \"{DOMAIN}\"\n[ports]\nhttps = {https}\nhttp = {http}\napp = {}\n{nginx}\n\
             [openhands]\ncontainer = \"{}\"\nimage = \"{}\"\n{openhands}\n",
            self.app_port,
            self.name,
            test_image()
        );
        std::fs::write(self.config_file(), text).unwrap();
    }

    pub fn up(&self) -> Output {
        let image = test_image();
        self.home
            .cmd(["up", "--pull", "never", "--image", &image, "--wait", "30"])
            .run()
    }

    pub fn inspect(&self) -> Option<ContainerInspectResponse> {
        block_on(
            self.engine
                .inspect_container(&self.name, None::<InspectContainerOptions>),
        )
        .ok()
    }

    pub fn id(&self) -> String {
        self.inspect()
            .and_then(|c| c.id)
            .expect("the container exists")
    }

    /// The names of the containers that ohproxy made for this setup, sorted.
    pub fn containers(&self) -> Vec<String> {
        let mut names: Vec<String> = owned(&self.engine, &self.config_file())
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        names.sort();
        names
    }

    pub fn client(&self) -> Client {
        let ca = self.home.ca_dir().join("rootCA.pem");
        Client::new(&ca, DOMAIN, self.nginx.as_ref().unwrap().https_port)
    }
}

/// The containers, running or not, labelled with this config file.
fn owned(engine: &Docker, config_file: &Path) -> Vec<ContainerSummary> {
    let filter = format!("dev.ohproxy.config={}", config_file.display());
    let filters = HashMap::from([("label", vec![filter.as_str()])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters);
    block_on(engine.list_containers(Some(options.build()))).unwrap_or_default()
}

impl Drop for Setup {
    fn drop(&mut self) {
        let (engine, config_file) = (self.engine.clone(), self.config_file());
        // A thread of its own, so that dropping inside an async context works too.
        let _ = std::thread::spawn(move || {
            for id in owned(&engine, &config_file)
                .into_iter()
                .filter_map(|c| c.id)
            {
                let force = RemoveContainerOptionsBuilder::default().force(true).v(true);
                let _ = block_on(engine.remove_container(&id, Some(force.build())));
            }
        })
        .join();
    }
}

pub fn assert_ok(out: &Output) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

#[test]
fn up_from_nothing_then_again_status_and_down() {
    let extra = "env = { TESTAPP_REPORT_FILES = \"/var/run/docker.sock\" }";
    let Some(setup) = Setup::new(true, extra) else {
        return;
    };
    // A fresh box: `--domain` writes the config, the CA and the leaf before Docker is asked.
    std::fs::remove_file(setup.config_file()).unwrap();
    let missing = "ohproxy-test/never-there:1";
    let out = setup
        .home
        .cmd([
            "up", "--domain", DOMAIN, "--pull", "never", "--image", missing,
        ])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    for step in [
        "config: wrote",
        "CA: created",
        "leaf: issued",
        "is not on this Docker engine",
    ] {
        assert!(out.stderr.contains(step), "{step}: {}", out.stderr);
    }
    assert!(setup.config_file().is_file());
    setup.write_config(extra);

    let out = setup.up();
    assert_ok(&out);
    assert!(
        out.stderr.contains(crate::doctor::NONE_WARNING),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("container {}: created", setup.name)),
        "{}",
        out.stderr
    );
    // The watch unit of 1.x goes to the test's home, never to the host's systemd.
    let unit = setup
        .home
        .systemd_dir()
        .join(format!("ohproxy-watch-{DOMAIN}.service"));
    assert!(unit.is_file(), "{}", out.stderr);
    let info = setup.inspect().unwrap();
    let labels = info.config.clone().unwrap().labels.unwrap();
    assert_eq!(labels["dev.ohproxy.managed"], "true");
    assert_eq!(labels["dev.ohproxy.spec-hash"].len(), 64);
    let ports = info.network_settings.clone().unwrap().ports.unwrap();
    let bindings = ports["3000/tcp"].clone().unwrap();
    // Loopback only: nginx is the one way in (sandboxes call back through it too).
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    let ips: Vec<&str> = bindings
        .iter()
        .filter_map(|b| b.host_ip.as_deref())
        .collect();
    assert!(ips.contains(&"127.0.0.1"), "{ips:?}");
    assert!(!ips.contains(&"0.0.0.0") && !ips.contains(&""), "{ips:?}");
    assert!(
        bindings
            .iter()
            .all(|b| b.host_port == Some(setup.app_port.to_string()))
    );
    let host = info.host_config.clone().unwrap();
    // The domain leads back to this host, for the app's checks of its sandboxes (1.x).
    assert_eq!(
        host.extra_hosts.unwrap(),
        [
            "host.docker.internal:host-gateway",
            &format!("{DOMAIN}:host-gateway")
        ]
    );

    // Through nginx, with our CA: the app, its environment and a WebSocket.
    let client = setup.client();
    let health = client.get("/health");
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    let env = client.get("/env").json();
    assert_eq!(env["env"]["LOG_ALL_EVENTS"], "true");
    // Sandboxes call back through nginx's HTTP port; the app's own is on loopback only.
    let http = setup.nginx.as_ref().unwrap().http_port;
    assert_eq!(env["env"]["SANDBOX_HOST_PORT"], http.to_string());
    assert_eq!(
        env["files"]["/var/run/docker.sock"]["exists"], true,
        "{env}"
    );
    let gateway = &env["resolve"]["host.docker.internal"]["addresses"];
    assert!(gateway.as_array().is_some_and(|a| !a.is_empty()), "{env}");
    let mut socket = client.websocket("/sockets/events/x").unwrap();
    socket.send(Message::text("hello through ohproxy")).unwrap();
    assert_eq!(
        socket.read().unwrap(),
        Message::text("hello through ohproxy")
    );
    let state = setup.home.path().join("user-home").join(".openhands");
    assert!(state.is_dir(), "the state dir was made before the mount");

    // Again: nothing to do, and nginx is not reloaded.
    let id = setup.id();
    let workers = setup.nginx.as_ref().unwrap().worker_pids();
    let again = setup.up();
    assert_ok(&again);
    assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);
    assert!(again.stderr.contains("not reloaded"), "{}", again.stderr);
    assert_eq!(setup.id(), id);
    assert_eq!(setup.nginx.as_ref().unwrap().worker_pids(), workers);

    check_status_json(&setup);

    let down = setup.home.cmd(["down", "--nginx"]).run();
    assert_ok(&down);
    assert!(setup.inspect().is_none(), "the container is gone");
    assert!(state.is_dir(), "the state dir is kept");
    let site = setup
        .nginx
        .as_ref()
        .unwrap()
        .site_dir()
        .join(format!("ohproxy-{DOMAIN}.conf"));
    assert!(!site.exists(), "the site left nginx");
    assert!(client.connect().is_err() || client.request("GET", "/health", &[], b"").is_err());
    let status = setup.home.cmd(["status"]).run();
    assert_ok(&status);
    for line in [
        "does not exist (run `ohproxy up`)",
        "nginx:     no site file installed yet",
    ] {
        assert!(
            status.stdout.contains(line),
            "{line:?} in:\n{}",
            status.stdout
        );
    }
}

/// `status --json` parses, and what it says about the container is what the engine says.
fn check_status_json(setup: &Setup) {
    let out = setup.home.cmd(["status", "--json"]).run();
    assert_ok(&out);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let info = setup.inspect().unwrap();
    let c = &report["container"];
    assert_eq!(c["id"], info.id.clone().unwrap());
    assert_eq!(
        c["state"],
        info.state.clone().unwrap().status.unwrap().to_string()
    );
    assert_eq!(c["image"], info.config.clone().unwrap().image.unwrap());
    assert_eq!(c["image_id"], info.image.clone().unwrap());
    assert_eq!(
        c["started_at"],
        info.state.clone().unwrap().started_at.unwrap()
    );
    assert_eq!(c["restart_count"], info.restart_count.unwrap());
    let loopback = format!("127.0.0.1:{}", setup.app_port);
    assert!(
        c["published"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == loopback.as_str()),
        "{report}"
    );
    assert_eq!(c["managed"], true);
    assert_eq!(c["matches_config"], true, "{report}");
    assert!(c["uptime_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(report["app"]["answered"], true);
    let https = setup.nginx.as_ref().unwrap().https_port;
    assert_eq!(report["url"], format!("https://{DOMAIN}:{https}/"));
    assert_eq!(report["nginx"]["live_matches"], true, "{report}");
    assert_eq!(report["nginx"]["installed"], true, "{report}");
    let text = setup.home.cmd(["status"]).run();
    assert_ok(&text);
    for line in [
        format!("container: {} running, up ", setup.name),
        "           matches the config".to_string(),
        "nginx:     the live site file is what ohproxy renders now".to_string(),
    ] {
        assert!(text.stdout.contains(&line), "{line:?} in:\n{}", text.stdout);
    }
    assert!(report["leaf"]["days_left"].as_i64().unwrap() > 300);
    assert!(report["ca"]["fingerprint"].as_str().unwrap().contains(':'));
}

#[test]
fn changed_setting_recreates_and_stopped_container_is_started() {
    let Some(setup) = Setup::new(true, "env = { TESTAPP_NAME = \"first\" }") else {
        return;
    };
    assert_ok(&setup.up());
    let first = setup.id();

    setup.write_config("env = { TESTAPP_NAME = \"second\" }");
    let out = setup.up();
    assert_ok(&out);
    assert!(
        out.stderr
            .contains("recreated because the settings changed"),
        "{}",
        out.stderr
    );
    let second = setup.id();
    assert_ne!(second, first);
    let old = block_on(
        setup
            .engine
            .inspect_container(&first, None::<InspectContainerOptions>),
    );
    assert!(old.is_err(), "the old container is gone");
    let env = setup.client().get("/env").json();
    assert_eq!(env["env"]["TESTAPP_NAME"], "second");

    // A pull that fails (there is no registry) changes nothing.
    let image = test_image();
    let out = setup
        .home
        .cmd(["up", "--pull", "always", "--image", &image])
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("pulling {image} failed")),
        "{}",
        out.stderr
    );
    assert_eq!(setup.id(), second);
    assert_eq!(setup.client().get("/health").status, 200);

    let stop = StopContainerOptionsBuilder::default().t(1).build();
    block_on(setup.engine.stop_container(&second, Some(stop))).unwrap();
    let out = setup.up();
    assert_ok(&out);
    assert!(
        out.stderr
            .contains(&format!("container {}: started", setup.name)),
        "{}",
        out.stderr
    );
    assert_eq!(setup.id(), second, "started, not recreated");
    assert_eq!(setup.client().get("/health").status, 200);

    // A new CA: the bundle, mounted as one file, would keep the old CA in a running
    // container, so the container is recreated.
    setup.home.cmd(["ca", "replace", "--force"]).ok();
    let out = setup.up();
    assert_ok(&out);
    assert!(
        out.stderr
            .contains("recreated because the settings changed"),
        "{}",
        out.stderr
    );
    assert_ne!(setup.id(), second);
    assert_eq!(setup.client().get("/health").status, 200);
}
