//! OpenHands 1.x sandboxes played by the test app: containers named as OpenHands names
//! them (`oh-agent-server-<id>`), serving on the agent server's port, published on a
//! loopback port the engine picks; and `Forwarder`, a Docker socket of the test's own that can cut every open
//! connection to the engine (the event stream with them) or refuse new ones.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use rustix::fs::{FlockOperation, flock};

use super::docker::{Cleanup, block_on, published_port, test_image, wait_http};

/// The agent-server's port inside a sandbox, which OpenHands publishes and browsers use.
const AGENT_PORT: &str = "8000/tcp";
/// VS Code's port inside a sandbox; published on every interface only when a test asks.
const VSCODE_PORT: &str = "8001/tcp";

/// watch and doctor find sandboxes by name on the whole engine, so every test that starts
/// some holds this lock shared, and a test that judges every live sandbox holds it alone.
/// It is a file lock, so test processes running side by side on one engine obey it too.
fn hold(alone: bool) -> File {
    let path = std::env::temp_dir().join("ohproxy-test-sandboxes.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let how = if alone {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::LockShared
    };
    flock(&file, how).unwrap_or_else(|e| panic!("locking {}: {e}", path.display()));
    file
}

/// The sandboxes of one test: started and removed through it, all gone before its hold on
/// the engine's sandboxes is let go.
pub struct Sandboxes {
    docker: Docker,
    labels: HashMap<String, String>,
    started: Mutex<Vec<String>>,
    _hold: File,
}

/// One running sandbox.
pub struct Sandbox {
    pub id: String,
    pub name: String,
    /// The conversation id in its name, used in `/sockets/events/<id>`.
    pub conversation: String,
    /// The host port of its agent server.
    pub port: u16,
}

impl Sandboxes {
    /// For a test that starts sandboxes beside other tests' ones.
    pub fn shared(docker: &Docker, cleanup: &Cleanup) -> Sandboxes {
        Sandboxes::new(docker, cleanup, hold(false))
    }

    /// For a test during which no other test's sandbox may exist.
    pub fn alone(docker: &Docker, cleanup: &Cleanup) -> Sandboxes {
        Sandboxes::new(docker, cleanup, hold(true))
    }

    fn new(docker: &Docker, cleanup: &Cleanup, hold: File) -> Sandboxes {
        Sandboxes {
            docker: docker.clone(),
            labels: cleanup.labels(),
            started: Mutex::new(Vec::new()),
            _hold: hold,
        }
    }

    /// Starts a sandbox, its agent port published on loopback as the tests' engine setup
    /// asks, and waits until it answers there.
    pub fn start(&self) -> Sandbox {
        self.start_with(false, &AppSettings::default())
    }

    /// Starts a sandbox that also publishes its VS Code port on every interface (nothing
    /// listens behind it), as OpenHands does unless told otherwise.
    pub fn start_with_open_port(&self) -> Sandbox {
        self.start_with(true, &AppSettings::default())
    }

    /// Starts a sandbox as an app with these settings starts one.
    pub fn start_as(&self, settings: &AppSettings) -> Sandbox {
        self.start_with(false, settings)
    }

    fn start_with(&self, open_port: bool, settings: &AppSettings) -> Sandbox {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let conversation = format!("t{}x{n}", std::process::id());
        let name = format!("oh-agent-server-{conversation}");
        let on = |ip: &str| {
            Some(vec![PortBinding {
                host_ip: Some(ip.into()),
                host_port: Some(String::new()),
            }])
        };
        let mut bindings = HashMap::from([(AGENT_PORT.to_string(), on("127.0.0.1"))]);
        if open_port {
            bindings.insert(VSCODE_PORT.to_string(), on("0.0.0.0"));
        }
        let mut env = vec![
            format!("TESTAPP_NAME={name}"),
            "TESTAPP_LISTEN=0.0.0.0:8000".into(),
        ];
        env.extend(settings.env.iter().map(|(k, v)| format!("{k}={v}")));
        let body = ContainerCreateBody {
            image: Some(test_image()),
            env: Some(env),
            labels: Some(self.labels.clone()),
            exposed_ports: Some(bindings.keys().cloned().collect()),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                extra_hosts: Some(settings.extra_hosts()),
                binds: Some(settings.binds.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = block_on(self.docker.create_container(Some(options), body))
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
        self.started.lock().unwrap().push(created.id.clone());
        block_on(
            self.docker
                .start_container(&created.id, None::<StartContainerOptions>),
        )
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let port = published_port(&self.docker, &created.id, AGENT_PORT);
        wait_http(
            &format!("127.0.0.1:{port}"),
            "/health",
            std::time::Duration::from_secs(20),
        );
        Sandbox {
            id: created.id,
            name,
            conversation,
            port,
        }
    }

    /// Removes a sandbox at once (as OpenHands deletes one).
    pub fn remove(&self, sandbox: &Sandbox) {
        remove(&self.docker, &sandbox.id)
            .unwrap_or_else(|e| panic!("removing {}: {e}", sandbox.name));
    }
}

/// What a 1.x app passes to the sandboxes it starts, as OpenHands' Docker sandbox service
/// reads it from the app's environment: `OH_SANDBOX_EXTRA_HOSTS` (replacing the default,
/// which maps host.docker.internal), `OH_SANDBOX_MOUNTS` and `OH_AGENT_SERVER_ENV`.
#[derive(Debug, Default)]
pub struct AppSettings {
    pub hosts: Vec<(String, String)>,
    pub binds: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl AppSettings {
    /// The settings in an app container's environment (name → value).
    pub fn from_env(env: &serde_json::Value) -> AppSettings {
        let json = |key: &str| -> serde_json::Value {
            let text = env[key]
                .as_str()
                .unwrap_or_else(|| panic!("no {key} in {env}"));
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}"))
        };
        let pairs = |value: serde_json::Value| -> Vec<(String, String)> {
            let map = value.as_object().unwrap().clone();
            map.into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
                .collect()
        };
        let binds = json("OH_SANDBOX_MOUNTS")
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let (host, target) = (&m["host_path"], &m["container_path"]);
                let mode = m["mode"].as_str().unwrap_or("rw");
                format!(
                    "{}:{}:{mode}",
                    host.as_str().unwrap(),
                    target.as_str().unwrap()
                )
            })
            .collect();
        AppSettings {
            hosts: pairs(json("OH_SANDBOX_EXTRA_HOSTS")),
            binds,
            env: pairs(json("OH_AGENT_SERVER_ENV")),
        }
    }

    fn extra_hosts(&self) -> Vec<String> {
        if self.hosts.is_empty() {
            return vec!["host.docker.internal:host-gateway".into()];
        }
        self.hosts.iter().map(|(h, a)| format!("{h}:{a}")).collect()
    }
}

impl Drop for Sandboxes {
    fn drop(&mut self) {
        let started = self
            .started
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for id in started.drain(..) {
            let _ = remove(&self.docker, &id);
        }
    }
}

fn remove(docker: &Docker, id: &str) -> Result<(), bollard::errors::Error> {
    let force = RemoveContainerOptionsBuilder::default().force(true).build();
    match block_on(docker.remove_container(id, Some(force))) {
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        other => other,
    }
}

/// A unix socket that forwards each connection to the engine's socket.
pub struct Forwarder {
    pub path: PathBuf,
    open: Arc<Mutex<Vec<UnixStream>>>,
    refuse: Arc<AtomicBool>,
}

impl Forwarder {
    /// Listens at `path`, forwarding to `engine` (a socket path).
    pub fn new(path: &Path, engine: &Path) -> Forwarder {
        let listener = UnixListener::bind(path).unwrap();
        let open = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let (open2, refuse2, engine) = (open.clone(), refuse.clone(), engine.to_path_buf());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if refuse2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(upstream) = UnixStream::connect(&engine) else {
                    continue;
                };
                let _ = pipe(client, upstream, &open2);
            }
        });
        Forwarder {
            path: path.to_path_buf(),
            open,
            refuse,
        }
    }

    /// `DOCKER_HOST` for this socket.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Closes every forwarded connection, as an engine that goes away does.
    pub fn cut(&self) {
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// While set, new connections are closed at once (an engine that is down).
    pub fn refuse(&self, on: bool) {
        self.refuse.store(on, Ordering::SeqCst);
    }
}

fn pipe(client: UnixStream, upstream: UnixStream, open: &Mutex<Vec<UnixStream>>) -> io::Result<()> {
    let mut list = open.lock().unwrap();
    list.push(client.try_clone()?);
    list.push(upstream.try_clone()?);
    drop(list);
    let (mut c_read, mut c_write) = (client.try_clone()?, client);
    let (mut u_read, mut u_write) = (upstream.try_clone()?, upstream);
    thread::spawn(move || {
        let _ = io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(std::net::Shutdown::Write);
    });
    thread::spawn(move || {
        let _ = io::copy(&mut u_read, &mut c_write);
        let _ = c_write.shutdown(std::net::Shutdown::Both);
    });
    Ok(())
}
