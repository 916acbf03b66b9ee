//! The test app (`testapp/`, a stand-in for OpenHands) for the integration tests: its
//! statically linked binary, built once per test process, and `Upstream`, the binary run
//! as a local process on a free loopback port.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The target triple of the static build: this machine's architecture, glibc.
pub fn target_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// The statically linked test app, built on first use. The build has its own target
/// directory, so it never waits for the cargo that runs the tests.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = workspace.join("target").join("testapp");
    let triple = target_triple();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let out = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "--locked", "-p", "ohproxy-testapp"])
        .args(["--target", &triple, "--target-dir"])
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("cargo starts");
    assert!(
        out.status.success(),
        "building the static test app failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("static test app ready in {:.1?}", started.elapsed());
    target_dir
        .join(triple)
        .join("release")
        .join("ohproxy-testapp")
}

/// The test app running on `127.0.0.1:<free port>`, killed when dropped.
pub struct Upstream {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Upstream {
    /// An unnamed instance.
    pub fn start() -> Upstream {
        Upstream::with(&[], &[])
    }

    /// An instance that answers with `X-Testapp-Name: <name>`.
    pub fn named(name: &str) -> Upstream {
        Upstream::with(&["--name", name], &[])
    }

    /// An instance with extra arguments and environment; waits until `/health` answers.
    pub fn with(args: &[&str], env: &[(&str, &str)]) -> Upstream {
        let mut child = Command::new(binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the test app starts");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let Some(port) = first
            .trim()
            .strip_prefix("ohproxy-testapp: listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            panic!("the test app did not start: {first}");
        };
        let log = Arc::new(Mutex::new(first));
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let upstream = Upstream { child, port, log };
        upstream.wait_healthy(Duration::from_secs(10));
        upstream
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the app has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            match http_get(&self.addr(), "/health") {
                Ok((200, _)) => return,
                _ if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                other => panic!(
                    "the test app never became healthy: {other:?}\n{}",
                    self.log()
                ),
            }
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET to `addr` (host:port): the status code and the body.
pub fn http_get(addr: &str, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("not an HTTP response: {answer:?}")))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok((status, body.to_string()))
}
