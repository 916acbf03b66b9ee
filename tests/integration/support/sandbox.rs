//! OpenHands 1.x sandboxes played by the test app: containers named as OpenHands names
//! them (`oh-agent-server-<id>`), the app port published on a loopback port the engine
//! picks; and `Forwarder`, a Docker socket of the test's own that can cut every open
//! connection to the engine (the event stream with them) or refuse new ones.

use std::collections::HashMap;
use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
};

use super::docker::{APP_PORT, Cleanup, block_on, published_port, test_image, wait_http};

/// One running sandbox.
pub struct Sandbox {
    pub id: String,
    pub name: String,
    /// The conversation id in its name, used in `/sockets/events/<id>`.
    pub conversation: String,
    pub port: u16,
}

/// Starts a sandbox and waits until it answers on its published port.
pub fn start(docker: &Docker, cleanup: &Cleanup) -> Sandbox {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let conversation = format!("t{}x{n}", std::process::id());
    let name = format!("oh-agent-server-{conversation}");
    let published = PortBinding {
        host_ip: Some("127.0.0.1".into()),
        host_port: Some(String::new()),
    };
    let body = ContainerCreateBody {
        image: Some(test_image()),
        env: Some(vec![format!("TESTAPP_NAME={name}")]),
        labels: Some(cleanup.labels()),
        exposed_ports: Some(vec![APP_PORT.into()]),
        host_config: Some(HostConfig {
            port_bindings: Some(HashMap::from([(APP_PORT.into(), Some(vec![published]))])),
            // As OpenHands starts its sandboxes.
            extra_hosts: Some(vec!["host.docker.internal:host-gateway".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let created = block_on(docker.create_container(Some(options), body))
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    block_on(docker.start_container(&created.id, None::<StartContainerOptions>))
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    let port = published_port(docker, &created.id, APP_PORT);
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
pub fn remove(docker: &Docker, sandbox: &Sandbox) {
    let force = RemoveContainerOptionsBuilder::default().force(true).build();
    block_on(docker.remove_container(&sandbox.id, Some(force)))
        .unwrap_or_else(|e| panic!("removing {}: {e}", sandbox.name));
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
