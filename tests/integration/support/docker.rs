//! Docker for the integration tests: the real engine through bollard (missing engine: the
//! test fails in CI and skips loudly elsewhere), the static test app imported as an image,
//! containers of it started on loopback ports, and a guard that removes what a test made.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, InspectContainerOptions,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    StartContainerOptions,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::testapp::{self, http_get};

/// The label on everything the tests create. On containers its value is `<pid>-<n>`, the
/// test process and guard that own it; on the test image it is `image`, which the
/// containers ohproxy creates from it inherit.
pub const LABEL: &str = "dev.ohproxy.test";
/// The repository of the imported test app image.
pub const IMAGE_REPO: &str = "ohproxy-testapp";
/// The port the test app listens on inside a container.
pub const APP_PORT: &str = "3000/tcp";

/// Runs a future to completion on the tests' one runtime (bollard's client is tied to it).
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime")
        })
        .block_on(future)
}

/// The Docker engine, checked once per process. With none reachable, CI (or
/// `OHPROXY_REQUIRE_DOCKER=1`) fails the test; elsewhere it is skipped loudly and the
/// caller returns early on `None`. A socket that refuses us always fails: that engine is
/// misconfigured, not missing.
pub fn require_docker() -> Option<Docker> {
    static ENGINE: OnceLock<Result<Docker, String>> = OnceLock::new();
    match ENGINE.get_or_init(|| block_on(connect())) {
        Ok(docker) => Some(docker.clone()),
        Err(why) if why.contains("PermissionDenied") => panic!("Docker engine refused us: {why}"),
        Err(why)
            if super::strict()
                || std::env::var("OHPROXY_REQUIRE_DOCKER").is_ok_and(|v| v == "1") =>
        {
            panic!("a Docker engine is required in CI but none is reachable: {why}")
        }
        Err(why) => {
            eprintln!("\n!!! SKIPPED: no Docker engine ({why}); this test did not run !!!\n");
            None
        }
    }
}

async fn connect() -> Result<Docker, String> {
    let docker = Docker::connect_with_defaults().map_err(|e| format!("{e:?}"))?;
    let ping = async {
        let docker = docker.negotiate_version().await?;
        docker.ping().await?;
        Ok::<_, bollard::errors::Error>(docker)
    };
    match tokio::time::timeout(Duration::from_secs(5), ping).await {
        Ok(result) => result.map_err(|e| format!("{e:?}")),
        Err(_) => Err("no answer to ping within 5 s".into()),
    }
}

/// `ohproxy-testapp:<hash>`: the static test app as an image, imported once per process
/// (and reused across runs while the binary is the same). Panics without an engine, so
/// call `require_docker` first.
pub fn test_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(import_test_image).clone()
}

fn import_test_image() -> String {
    let docker = require_docker().expect("test_image needs a Docker engine");
    let rootfs = rootfs_tar(&std::fs::read(testapp::binary()).expect("test app binary"));
    let tag = hex::encode(&Sha256::digest(&rootfs)[..6]);
    let reference = format!("{IMAGE_REPO}:{tag}");
    if block_on(docker.inspect_image(&reference)).is_ok() {
        return reference;
    }
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(IMAGE_REPO)
        .tag(&tag)
        .changes(vec![
            r#"CMD ["/ohproxy-testapp"]"#.into(),
            format!("EXPOSE {APP_PORT}"),
            format!("LABEL {LABEL}=image"),
        ])
        .build();
    block_on(async {
        let mut progress =
            docker.create_image(Some(options), Some(bollard::body_full(rootfs.into())), None);
        while let Some(item) = progress.next().await {
            item.unwrap_or_else(|e| panic!("importing {reference}: {e}"));
        }
    });
    reference
}

/// A root filesystem holding only the binary, `/etc` (Docker mounts its files there) and
/// `/tmp`, with fixed times and owners so equal binaries give equal archives.
fn rootfs_tar(binary: &[u8]) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    for (dir, mode) in [("etc/", 0o755), ("tmp/", 0o1777)] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(mode);
        header.set_size(0);
        header.set_mtime(0);
        archive.append_data(&mut header, dir, &[][..]).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_size(binary.len() as u64);
    header.set_mtime(0);
    archive
        .append_data(&mut header, "ohproxy-testapp", binary)
        .unwrap();
    archive.into_inner().unwrap()
}

/// Removes, when dropped (test passed or panicked), every container carrying this guard's
/// label value, and the images handed to `image`.
pub struct Cleanup {
    docker: Docker,
    id: String,
    images: Vec<String>,
}

impl Cleanup {
    /// A new guard; the first in a process also removes containers left by test processes
    /// that are no longer running.
    pub fn new(docker: &Docker) -> Cleanup {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        static SWEPT: OnceLock<()> = OnceLock::new();
        SWEPT.get_or_init(|| sweep_dead(docker));
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Cleanup {
            docker: docker.clone(),
            id: format!("{}-{n}", std::process::id()),
            images: Vec::new(),
        }
    }

    /// The label to put on every container the test creates.
    pub fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(LABEL.to_string(), self.id.clone())])
    }

    /// A container name unique to this guard.
    pub fn name(&self, role: &str) -> String {
        format!("ohproxy-test-{}-{role}", self.id)
    }

    /// Also remove this image (by reference or id) at the end.
    pub fn image(&mut self, reference: &str) {
        self.images.push(reference.to_string());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (docker, filter, images) = (
            self.docker.clone(),
            format!("{LABEL}={}", self.id),
            std::mem::take(&mut self.images),
        );
        // A thread of its own, so that dropping inside an async context works too.
        let worker = std::thread::spawn(move || {
            block_on(remove_labelled(&docker, &filter));
            for image in images {
                let force = RemoveImageOptionsBuilder::default().force(true).build();
                let _ = block_on(docker.remove_image(&image, Some(force), None));
            }
        });
        let _ = worker.join();
    }
}

async fn remove_labelled(docker: &Docker, filter: &str) {
    let filters = HashMap::from([("label", vec![filter])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return;
    };
    for id in containers.into_iter().filter_map(|c| c.id) {
        let force = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = docker.remove_container(&id, Some(force)).await;
    }
}

/// Removes test containers whose owning process has ended.
fn sweep_dead(docker: &Docker) {
    let filters = HashMap::from([("label", vec![LABEL])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let Ok(containers) = block_on(docker.list_containers(Some(options))) else {
        return;
    };
    for container in containers {
        let owner = container
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL))
            .cloned();
        // Containers of the test image that no guard labelled (those ohproxy creates)
        // inherit the image's value, which names no process: they belong to their tests.
        let Some(owner) = owner else { continue };
        let Some(pid) = owner.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new("/proc").join(pid.to_string()).exists() {
            block_on(remove_labelled(docker, &format!("{LABEL}={owner}")));
        }
    }
}

/// What to start: the test app image unless `image` is set, with the guard's label, the app
/// port published on 127.0.0.1 at a port the engine picks.
#[derive(Default)]
pub struct Run<'a> {
    pub image: Option<String>,
    pub role: &'a str,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub binds: Vec<String>,
}

/// Creates and starts a container; returns its id.
pub fn start(docker: &Docker, cleanup: &Cleanup, run: Run) -> String {
    let published = PortBinding {
        host_ip: Some("127.0.0.1".into()),
        host_port: Some(String::new()),
    };
    let body = ContainerCreateBody {
        image: Some(run.image.unwrap_or_else(test_image)),
        cmd: (!run.cmd.is_empty()).then_some(run.cmd),
        env: Some(run.env),
        labels: Some(cleanup.labels()),
        exposed_ports: Some(vec![APP_PORT.into()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(APP_PORT.into(), Some(vec![published]))])),
            extra_hosts: Some(run.extra_hosts),
            binds: Some(run.binds),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = cleanup.name(if run.role.is_empty() { "app" } else { run.role });
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let created = block_on(docker.create_container(Some(options), body))
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    block_on(docker.start_container(&created.id, None::<StartContainerOptions>))
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    created.id
}

/// The host port that `port` (e.g. `3000/tcp`) of a running container is published on.
pub fn published_port(docker: &Docker, id: &str, port: &str) -> u16 {
    let info = block_on(docker.inspect_container(id, None::<InspectContainerOptions>))
        .unwrap_or_else(|e| panic!("inspecting {id}: {e}"));
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let bindings = ports.get(port).cloned().flatten().unwrap_or_default();
    bindings
        .iter()
        .find_map(|b| b.host_port.as_deref()?.parse().ok())
        .unwrap_or_else(|| panic!("{id} publishes no {port}: {bindings:?}"))
}

/// GETs `path` on `addr` until any HTTP answer comes (docker-proxy accepts connections
/// before the app listens, so a connect alone proves nothing).
pub fn wait_http(addr: &str, path: &str, limit: Duration) -> (u16, String) {
    let deadline = Instant::now() + limit;
    loop {
        match http_get(addr, path) {
            Ok(answer) => return answer,
            Err(e) if Instant::now() >= deadline => panic!("{addr}{path} never answered: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
