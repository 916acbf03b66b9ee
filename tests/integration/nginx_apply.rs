//! `ohproxy nginx apply` against a real private nginx and the test app: a good change goes
//! live; a template that does not render, a candidate that `nginx -t` refuses and a reload
//! that cannot bind its port all leave the previous config serving (a client polling
//! throughout sees no failure) and the file restored; open WebSockets survive; nothing
//! changed means no reload; `--dry-run` changes nothing; the pre-checks speak clearly.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::support::nginx::{Nginx, TestPki, openssl_pki};
use crate::support::testapp::Upstream;
use crate::support::{Home, Output, require};

/// A home, a private nginx, a test app and a leaf for `domain` in the state dir.
struct Site {
    home: Home,
    nginx: Nginx,
    upstream: Upstream,
    pki: TestPki,
    domain: String,
}

impl Site {
    fn new(domain: &str) -> Option<Site> {
        let binary = require("nginx")?;
        require("openssl")?;
        require("curl")?;
        let nginx = Nginx::new(&binary);
        let upstream = Upstream::named("one");
        let home = Home::new();
        let certs = home.state().join("certs");
        let pki = openssl_pki(
            &home.path().join("pki"),
            domain,
            &certs.join(format!("{domain}.pem")),
            &certs.join(format!("{domain}-key.pem")),
        );
        // apply publishes the CA page, so the CA must be where ohproxy keeps it.
        std::fs::create_dir_all(home.ca_dir()).unwrap();
        std::fs::copy(&pki.ca_cert, home.ca_dir().join("rootCA.pem")).unwrap();
        std::fs::copy(
            home.path().join("pki/ca-key.pem"),
            home.ca_dir().join("rootCA-key.pem"),
        )
        .unwrap();
        let site = Site {
            home,
            nginx,
            upstream,
            pki,
            domain: domain.to_string(),
        };
        site.write_config("");
        Some(site)
    }

    /// Writes config.toml: this nginx, the test app's port, and `extra` nginx keys.
    fn write_config(&self, extra: &str) {
        self.write_config_with(self.upstream.port(), self.nginx.https_port, extra);
    }

    fn write_config_with(&self, app: u16, https: u16, extra: &str) {
        let ports = format!(
            "[ports]\nhttps = {https}\nhttp = {}\napp = {app}\n",
            self.nginx.http_port
        );
        let text = format!(
            "domain = \"{}\"\n{ports}{}ipv6 = false\n{extra}",
            self.domain,
            self.nginx.config_section()
        );
        std::fs::write(self.home.path().join("config.toml"), text).unwrap();
    }

    fn apply(&self, args: &[&str]) -> Output {
        let mut all = vec!["nginx", "apply"];
        all.extend_from_slice(args);
        self.home.cmd(all).run()
    }

    fn site_file(&self) -> PathBuf {
        self.nginx
            .site_dir()
            .join(format!("ohproxy-{}.conf", self.domain))
    }

    fn site_text(&self) -> String {
        std::fs::read_to_string(self.site_file()).unwrap_or_default()
    }

    /// GET / over HTTPS through nginx, trusting only the test CA: (status, body).
    fn get(&self) -> (u16, String) {
        get(&self.domain, self.nginx.https_port, &self.pki)
    }

    /// A client that keeps requesting / until `stop`; returns (requests, failures).
    fn poll(&self) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (domain, port, ca) = (self.domain.clone(), self.nginx.https_port, self.ca());
        let handle = thread::spawn(move || {
            let (mut total, mut failures) = (0, Vec::new());
            while !flag.load(Ordering::SeqCst) {
                total += 1;
                let (mut status, mut body) = curl(&domain, port, &ca);
                // An old worker that shuts down closes the connections that have not sent
                // a request yet (HTTP/2: a GOAWAY before the first stream), and nginx has
                // no setting against it. A browser retries such a request on a new
                // connection, as RFC 9113 allows; so does this client, once, and only
                // when no response at all came back.
                if status == 0 && !body.starts_with("curl exit 7:") {
                    (status, body) = curl(&domain, port, &ca);
                }
                if status != 200 {
                    failures.push(format!("{status} {body}"));
                }
            }
            (total, failures)
        });
        Poller { stop, handle }
    }

    fn ca(&self) -> PathBuf {
        self.pki.ca_cert.clone()
    }
}

struct Poller {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(u32, Vec<String>)>,
}

impl Poller {
    fn finish(self) -> (u32, Vec<String>) {
        thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap()
    }
}

fn get(domain: &str, port: u16, pki: &TestPki) -> (u16, String) {
    curl(domain, port, &pki.ca_cert)
}

fn curl(domain: &str, port: u16, ca: &std::path::Path) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{domain}:{port}:127.0.0.1"))
        .arg(format!("https://{domain}:{port}/"))
        .args(["-w", "\n%{http_code}"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = code.trim().parse().unwrap_or(0);
    if status == 0 {
        let exit = out.status.code().unwrap_or(-1);
        let err = String::from_utf8_lossy(&out.stderr);
        return (0, format!("curl exit {exit}: {}", err.trim()));
    }
    (status, body.to_string())
}

/// A good first apply, checked to serve the app; returns the site file's text.
fn first_apply(site: &mut Site) -> String {
    site.nginx.start();
    let out = site.apply(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(site.get(), (200, "ohproxy-testapp one\n".into()));
    site.site_text()
}

#[test]
fn a_good_change_goes_live_and_a_repeat_does_nothing() {
    let Some(mut site) = Site::new("openhands.home.arpa") else {
        return;
    };
    let first = first_apply(&mut site);
    let key = site.nginx.cert_dir().join("openhands.home.arpa-key.pem");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let second = Upstream::named("two");
    site.write_config_with(second.port(), site.nginx.https_port, "");
    let workers = site.nginx.worker_pids();
    let poller = site.poll();
    let out = site.apply(&[]);
    let (total, failures) = poller.finish();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("reloaded nginx"), "{}", out.stderr);
    assert!(
        out.stderr.contains(crate::doctor::NONE_WARNING),
        "{}",
        out.stderr
    );
    assert_eq!(site.get(), (200, "ohproxy-testapp two\n".into()));
    assert_ne!(site.site_text(), first);
    assert!(
        site.nginx
            .worker_pids()
            .iter()
            .all(|p| !workers.contains(p))
    );
    assert!(
        total > 0 && failures.is_empty(),
        "{total} requests: {failures:?}"
    );

    let workers = site.nginx.worker_pids();
    let out = site.apply(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("nothing changed"), "{}", out.stderr);
    assert_eq!(site.nginx.worker_pids(), workers, "no reload");
}

#[test]
fn a_template_that_does_not_render_changes_nothing() {
    let Some(mut site) = Site::new("ap-tpl.test") else {
        return;
    };
    let before = first_apply(&mut site);
    let template = site.home.path().join("broken.j2");
    std::fs::write(&template, "server {\n  listen {{ no_such_value }};\n}\n").unwrap();
    site.write_config(&format!("template = \"{}\"\n", template.display()));
    let poller = site.poll();
    let out = site.apply(&[]);
    let (total, failures) = poller.finish();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("undefined value") && out.stderr.contains("broken.j2:2"),
        "{}",
        out.stderr
    );
    assert_eq!(site.site_text(), before);
    assert!(
        total > 0 && failures.is_empty(),
        "{total} requests: {failures:?}"
    );
    assert_eq!(site.get(), (200, "ohproxy-testapp one\n".into()));
}

/// nginx only warns about some mistakes and then serves anyway; a warning about our file
/// fails the apply all the same.
#[test]
fn a_warning_about_our_file_fails_the_apply() {
    let Some(mut site) = Site::new("ap-warn.test") else {
        return;
    };
    let before = first_apply(&mut site);
    let builtin = concat!(env!("CARGO_MANIFEST_DIR"), "/templates/site.conf.j2");
    let mut text = std::fs::read_to_string(builtin).unwrap();
    text.push_str(&format!(
        "\nserver {{\n    listen 127.0.0.1:{};\n    server_name odd/name.test;\n    \
         return 404;\n}}\n",
        crate::support::nginx::free_port()
    ));
    let template = site.home.path().join("warns.j2");
    std::fs::write(&template, text).unwrap();
    site.write_config(&format!("template = \"{}\"\n", template.display()));
    let out = site.apply(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("[warn]") && out.stderr.contains("suspicious symbols"),
        "{}",
        out.stderr
    );
    assert_eq!(site.site_text(), before);
    assert_eq!(site.get(), (200, "ohproxy-testapp one\n".into()));
}

#[test]
fn a_candidate_that_nginx_refuses_leaves_the_previous_config_serving() {
    let Some(mut site) = Site::new("ap-bad.test") else {
        return;
    };
    let before = first_apply(&mut site);
    let template = site.home.path().join("bad-nginx.j2");
    let text = before.replacen(
        "proxy_buffering off;",
        "proxy_buffering off;\n  no_such_directive 1;",
        1,
    );
    std::fs::write(&template, text).unwrap();
    site.write_config(&format!("template = \"{}\"\n", template.display()));
    let workers = site.nginx.worker_pids();
    let poller = site.poll();
    let out = site.apply(&[]);
    let (total, failures) = poller.finish();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let site_file = site.site_file().display().to_string();
    assert!(
        out.stderr
            .contains("unknown directive \"no_such_directive\"")
            && out.stderr.contains(&format!("{site_file}:")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nothing live changed"),
        "{}",
        out.stderr
    );
    assert_eq!(site.site_text(), before);
    assert_eq!(site.nginx.worker_pids(), workers, "no reload");
    assert!(
        total > 0 && failures.is_empty(),
        "{total} requests: {failures:?}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(site.nginx.site_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn a_reload_that_cannot_bind_is_caught_and_rolled_back() {
    let Some(mut site) = Site::new("ap-bind.test") else {
        return;
    };
    let before = first_apply(&mut site);
    // Another program holds the port the new config asks for: `nginx -t` cannot tell,
    // and `nginx -s reload` still exits 0.
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let held = holder.local_addr().unwrap().port();
    site.write_config_with(site.upstream.port(), held, "");
    let poller = site.poll();
    let out = site.apply(&[]);
    let (total, failures) = poller.finish();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("bind()") && out.stderr.contains("reloaded with them"),
        "{}",
        out.stderr
    );
    assert_eq!(site.site_text(), before);
    assert!(
        total > 0 && failures.is_empty(),
        "{total} requests: {failures:?}"
    );
    assert_eq!(site.get(), (200, "ohproxy-testapp one\n".into()));
}

#[test]
fn an_open_websocket_survives_a_good_apply() {
    let Some(mut site) = Site::new("ap-ws.test") else {
        return;
    };
    first_apply(&mut site);
    let mut ws = WsClient::open(
        &site.domain,
        site.nginx.https_port,
        &site.ca(),
        "/sockets/events/1",
    );
    assert_eq!(ws.echo("before"), "before");
    site.write_config("upload-limit = \"7m\"\n");
    let out = site.apply(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(site.site_text().contains("client_max_body_size 7m;"));
    assert_eq!(ws.echo("after"), "after");
    let shutting = site
        .nginx
        .children()
        .into_iter()
        .filter(|(_, title)| title.contains("shutting down"))
        .count();
    assert!(
        shutting > 0,
        "the old worker keeps the socket: {:?}",
        site.nginx.children()
    );
}

#[test]
fn dry_run_shows_the_diff_and_the_test_and_changes_nothing() {
    let Some(mut site) = Site::new("ap-dry.test") else {
        return;
    };
    let before = first_apply(&mut site);
    site.write_config("upload-limit = \"9m\"\n");
    let workers = site.nginx.worker_pids();
    let out = site.apply(&["--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("+    client_max_body_size 9m;"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("-    client_max_body_size 100m;"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("test is successful"), "{}", out.stderr);
    assert_eq!(site.site_text(), before);
    assert_eq!(site.nginx.worker_pids(), workers);
    let scratch: Vec<_> = std::fs::read_dir(site.nginx.conf_path().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(scratch, ["nginx.conf"], "no scratch file is left");

    let template = site.home.path().join("bad.j2");
    std::fs::write(&template, before.replacen("listen", "listen_nope", 1)).unwrap();
    site.write_config(&format!("template = \"{}\"\n", template.display()));
    let out = site.apply(&["--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("listen_nope"), "{}", out.stderr);
    assert_eq!(site.site_text(), before);
}

#[test]
fn another_server_with_our_name_on_our_port_is_refused() {
    let Some(mut site) = Site::new("ap-dup.test") else {
        return;
    };
    let before = first_apply(&mut site);
    let foreign = format!(
        "server {{\n    listen {};\n    server_name other.example AP-DUP.test;\n}}\n",
        site.nginx.http_port
    );
    let foreign_file = site.nginx.write_site("foreign.conf", &foreign);
    site.write_config("upload-limit = \"3m\"\n");
    let out = site.apply(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let expected = format!(
        "ap-dup.test on port {} is already served by the server at {}:1",
        site.nginx.http_port,
        foreign_file.display()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert_eq!(site.site_text(), before);
}

#[test]
fn a_name_too_long_for_the_hash_is_refused_when_the_port_is_shared() {
    let domain = format!("{}.home.arpa", "n".repeat(37));
    let Some(mut site) = Site::new(&domain) else {
        return;
    };
    let default = format!(
        "server {{\n    listen {} default_server;\n    return 444;\n}}\n",
        site.nginx.http_port
    );
    site.nginx.write_site("default.conf", &default);
    site.nginx.start();
    let out = site.apply(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("47 characters") && out.stderr.contains("at most 46"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("server_names_hash_bucket_size 128"),
        "{}",
        out.stderr
    );
    assert!(!site.site_file().exists());
}

/// A 1.x site alone: its redirect and its sandbox callback server share the HTTP port.
#[test]
fn a_name_too_long_for_the_hash_is_refused_when_only_our_servers_share_the_port() {
    let domain = format!("{}.home.arpa", "o".repeat(37));
    let Some(mut site) = Site::new(&domain) else {
        return;
    };
    site.nginx.start();
    let out = site.apply(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let expected = format!(
        "domain: {domain} is 47 characters; nginx's server_names_hash_bucket_size 64 holds \
         at most 46 on port {}",
        site.nginx.http_port
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
    assert!(!site.site_file().exists());
}

#[test]
fn nginx_not_running_or_a_stale_pid_file_is_said_plainly() {
    let Some(site) = Site::new("ap-down.test") else {
        return;
    };
    let out = site.apply(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("nginx is not running"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint: start nginx"), "{}", out.stderr);
    std::fs::write(site.nginx.pid_path(), "999999999\n").unwrap();
    let out = site.apply(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("is stale (no process 999999999)"),
        "{}",
        out.stderr
    );
    assert!(!site.site_file().exists());
}

#[test]
fn a_missing_leaf_says_to_run_cert() {
    let Some(site) = Site::new("ap-noleaf.test") else {
        return;
    };
    std::fs::remove_file(&site.pki.leaf_cert).unwrap();
    let out = site.apply(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("no leaf certificate at"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ohproxy cert"), "{}", out.stderr);
}

/// A WebSocket over TLS through `openssl s_client`, enough to send and read short texts.
struct WsClient {
    child: Child,
    reader: BufReader<std::process::ChildStdout>,
}

impl WsClient {
    fn open(domain: &str, port: u16, ca: &std::path::Path, path: &str) -> WsClient {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
            .arg(ca)
            .args(["-servername", domain, "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {domain}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(request.as_bytes())
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 101 "), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
        }
        WsClient { child, reader }
    }

    /// Sends a masked text frame and reads the echoed one.
    fn echo(&mut self, text: &str) -> String {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | text.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(&frame)
            .unwrap();
        let mut head = [0u8; 2];
        self.reader.read_exact(&mut head).unwrap();
        assert_eq!(head[0], 0x81, "a text frame");
        let mut body = vec![0u8; usize::from(head[1] & 0x7f)];
        self.reader.read_exact(&mut body).unwrap();
        String::from_utf8(body).unwrap()
    }
}

impl Drop for WsClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// While another apply holds the lock (here `flock(1)` stands in for it), an apply says it
/// waits, changes nothing, and goes on once the lock is free.
#[test]
fn an_apply_waits_for_the_one_before_it() {
    let Some(mut site) = Site::new("ap-lock.test") else {
        return;
    };
    let Some(_) = require("flock") else { return };
    let first = first_apply(&mut site);
    let lock = site.home.state().join("nginx").join("apply.lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .arg("cat")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let held = || {
        !Command::new("flock")
            .args(["-n", "-E", "9"])
            .arg(&lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
    };
    wait_for(held, "the lock to be taken");

    let second = Upstream::named("two");
    site.write_config_with(second.port(), site.nginx.https_port, "");
    let log = site.home.path().join("apply.log");
    let mut apply = site.home.cmd(["nginx", "apply"]).spawn(&log);
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        || said().contains("waiting for another ohproxy apply to finish"),
        "the waiting line",
    );
    assert_eq!(site.site_text(), first, "nothing changed while waiting");
    assert!(apply.try_wait().unwrap().is_none(), "{}", said());

    drop(holder.stdin.take());
    holder.wait().unwrap();
    let status = apply.wait().unwrap();
    assert!(status.success(), "{}", said());
    assert_eq!(site.get(), (200, "ohproxy-testapp two\n".into()));
}

fn wait_for(done: impl Fn() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 20 s for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}
