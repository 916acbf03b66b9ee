//! A private nginx for tests: its own prefix in a temporary directory, its own nginx.conf
//! that includes a site directory inside `http {}`, free high ports, and a master process
//! that is stopped when the value is dropped, even when the test panics.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The test PKI was first published from this module; tests may import it from either.
#[allow(unused_imports)]
pub use super::pki::{TestPki, openssl_pki};

/// One private nginx. Files live under `prefix()`; nothing outside it is touched.
pub struct Nginx {
    dir: tempfile::TempDir,
    binary: PathBuf,
    master: Option<Child>,
    /// A free port for the site's HTTPS server.
    pub https_port: u16,
    /// A free port for the site's redirect server.
    pub http_port: u16,
}

/// A TCP port that was free a moment ago (bound on 127.0.0.1:0, then released).
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    // Below the kernel's ephemeral range (32768 and up), where the engine's published
    // ports and outgoing connections take theirs, so a port handed out here is not taken
    // between now and its use; and never the same one twice in this process.
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = 20000 + rand::random::<u16>() % 12000;
        if given.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.insert(port);
        return port;
    }
}

impl Nginx {
    /// Prepares the prefix and nginx.conf; does not start nginx. `binary` is the nginx to run
    /// (usually `support::require("nginx")`).
    pub fn new(binary: &Path) -> Nginx {
        let dir = tempfile::Builder::new()
            .prefix("ohproxy-nginx-")
            .tempdir()
            .expect("temporary nginx prefix");
        // Workers run as an unprivileged user when the master is root: they must be able to
        // walk into the prefix to reach the temp directories nginx chowns to them.
        set_mode(dir.path(), 0o755);
        let nginx = Nginx {
            dir,
            binary: binary.to_path_buf(),
            master: None,
            https_port: free_port(),
            http_port: free_port(),
        };
        for sub in ["conf", "logs", "tmp", "sites", "certs"] {
            std::fs::create_dir_all(nginx.prefix().join(sub)).unwrap();
            set_mode(&nginx.prefix().join(sub), 0o755);
        }
        std::fs::write(nginx.conf_path(), nginx.main_conf()).unwrap();
        nginx
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The prefix (`nginx -p`).
    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }

    /// The main config file (`nginx -c`).
    pub fn conf_path(&self) -> PathBuf {
        self.prefix().join("conf").join("nginx.conf")
    }

    /// The directory whose `*.conf` files are included inside `http {}`.
    pub fn site_dir(&self) -> PathBuf {
        self.prefix().join("sites")
    }

    /// A directory for certificates and keys, readable by the master.
    pub fn cert_dir(&self) -> PathBuf {
        self.prefix().join("certs")
    }

    pub fn error_log_path(&self) -> PathBuf {
        self.prefix().join("logs").join("error.log")
    }

    pub fn pid_path(&self) -> PathBuf {
        self.prefix().join("logs").join("nginx.pid")
    }

    /// The `[access]` and `[nginx]` tables of an ohproxy config that points everything at
    /// this nginx. Access mode "none": the tests that use it are about the proxy, and
    /// tests/integration/access.rs covers the login. Keys appended to the text go into
    /// `[nginx]`.
    pub fn config_section(&self) -> String {
        format!("[access]\nmode = \"none\"\n{}", self.nginx_section())
    }

    /// The `[nginx]` table alone.
    pub fn nginx_section(&self) -> String {
        format!(
            "[nginx]\nbinary = \"{}\"\nconfig = \"{}\"\nprefix = \"{}\"\nsite-dir = \"{}\"\n\
             cert-dir = \"{}\"\n",
            self.binary.display(),
            self.conf_path().display(),
            self.prefix().display(),
            self.site_dir().display(),
            self.cert_dir().display(),
        )
    }

    /// The `[ports]` table of an ohproxy config for this nginx's ports and an app port.
    pub fn ports_section(&self, app_port: u16) -> String {
        format!(
            "[ports]\nhttps = {}\nhttp = {}\napp = {app_port}\n",
            self.https_port, self.http_port
        )
    }

    fn main_conf(&self) -> String {
        let p = self.prefix().display();
        format!(
            "# Private test nginx; everything lives under {p}.\n\
             daemon off;\n\
             master_process on;\n\
             worker_processes 2;\n\
             pid {pid};\n\
             error_log {err} notice;\n\
             events {{\n    worker_connections 512;\n}}\n\
             http {{\n\
             \x20   client_body_temp_path {p}/tmp/body;\n\
             \x20   proxy_temp_path {p}/tmp/proxy;\n\
             \x20   fastcgi_temp_path {p}/tmp/fastcgi;\n\
             \x20   uwsgi_temp_path {p}/tmp/uwsgi;\n\
             \x20   scgi_temp_path {p}/tmp/scgi;\n\
             \x20   access_log {p}/logs/access.log;\n\
             \x20   include {sites}/*.conf;\n\
             }}\n",
            pid = self.pid_path().display(),
            err = self.error_log_path().display(),
            sites = self.site_dir().display(),
        )
    }

    /// `nginx -p PREFIX -c CONF -e ERRLOG ARGS...`, so nothing outside the prefix is used.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(&self.binary);
        command
            .arg("-p")
            .arg(self.prefix())
            .arg("-c")
            .arg(self.conf_path())
            .arg("-e")
            .arg(self.error_log_path())
            .args(args);
        command
    }

    /// Writes a file into the site directory (as ohproxy or a foreign tool would).
    pub fn write_site(&self, name: &str, text: &str) -> PathBuf {
        let path = self.site_dir().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `nginx -t`: (success, everything it printed).
    pub fn test_config(&self) -> (bool, String) {
        let out = self.command(["-t"]).output().expect("nginx -t runs");
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        (out.status.success(), text)
    }

    /// Starts the master in the foreground (`daemon off`) and waits until it has workers
    /// and its ports accept connections. Panics with the error log if it does not start.
    pub fn start(&mut self) {
        assert!(self.master.is_none(), "nginx already started");
        let (ok, text) = self.test_config();
        assert!(ok, "nginx -t failed before start:\n{text}");
        let child = self
            .command(Vec::<&str>::new())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        self.master = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.master.as_mut().unwrap().try_wait().unwrap() {
                self.master = None;
                panic!("nginx exited at start ({status}):\n{}", self.error_log());
            }
            if self.pid_file() == Some(self.master_pid()) && !self.worker_pids().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not come up in 10 s:\n{}", self.error_log());
    }

    /// The master's pid (panics if not started).
    pub fn master_pid(&self) -> u32 {
        self.master.as_ref().expect("nginx started").id()
    }

    /// The pid in the pid file, if any.
    pub fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_path())
            .ok()
            .and_then(|text| text.trim().parse().ok())
    }

    /// Pids of the master's children that are current workers (not ones shutting down).
    pub fn worker_pids(&self) -> Vec<u32> {
        let Some(master) = self.master.as_ref().map(Child::id) else {
            return Vec::new();
        };
        children(master)
            .into_iter()
            .filter(|(_, cmdline)| {
                cmdline.starts_with("nginx: worker process") && !cmdline.contains("shutting down")
            })
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Pids and titles of every child of the master (workers, old workers, cache helpers).
    pub fn children(&self) -> Vec<(u32, String)> {
        self.master
            .as_ref()
            .map(|m| children(m.id()))
            .unwrap_or_default()
    }

    /// `nginx -s reload`, then waits until a fresh set of workers replaced the old one.
    /// Returns false (after 10 s) if the workers did not change, e.g. the new config was
    /// refused by the master; the error log then says why.
    pub fn reload(&self) -> bool {
        let before = self.worker_pids();
        let out = self
            .command(["-s", "reload"])
            .output()
            .expect("nginx -s reload runs");
        if !out.status.success() {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let now = self.worker_pids();
            if !now.is_empty() && now.iter().all(|pid| !before.contains(pid)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The whole error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.error_log_path()).unwrap_or_default()
    }

    /// Reads a log under `<prefix>/logs/`.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.prefix().join("logs").join(name)).unwrap_or_default()
    }

    /// Appends a line to the error log, to mark where a test step starts.
    pub fn mark_error_log(&self, mark: &str) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.error_log_path())
            .unwrap();
        writeln!(file, "--- {mark} ---").unwrap();
    }

    /// Stops nginx: a fast shutdown, then SIGKILL to master and children after 5 s.
    pub fn stop(&mut self) {
        let Some(mut master) = self.master.take() else {
            return;
        };
        let pid = master.id();
        let kids: Vec<u32> = children(pid).into_iter().map(|(p, _)| p).collect();
        signal("TERM", pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if master.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for kid in kids {
            signal("KILL", kid);
        }
        let _ = master.kill();
        let _ = master.wait();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn signal(name: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// (pid, process title) of every process whose parent is `parent`, from /proc.
fn children(parent: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may contain spaces; fields follow it.
        let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            continue;
        };
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(parent) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let title = String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .trim()
                .to_string();
            found.push((pid, title));
        }
    }
    found.sort();
    found
}
