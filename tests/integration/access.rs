//! Access control through a real private nginx in front of the test app, with our own CA
//! (made by `ohproxy init`) and a client that trusts only it: passwords (401 with a
//! challenge on `/` and on a WebSocket upgrade, 200/101 with the right ones, 401 for a
//! wrong password and a removed user; `runtime` does the same for the sandbox route;
//! `session` covers the cookie that stands in for the password on WebSockets),
//! client certificates (none, another CA's and a revoked one refused; ours pass; the
//! PKCS#12 opens with openssl), the Docker bridge exemption by source address, mode none
//! and its warning, what needs nothing in every mode, and faults that must leave nginx
//! serving the previous config.

mod clients;
mod faults;
mod runtime;
mod session;

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::support::docker::{Cleanup, Run, block_on, require_docker, start};
use crate::support::https::{Client, Response};
use crate::support::nginx::Nginx;
use crate::support::testapp::Upstream;
use crate::support::{Home, Output, require};

const DOMAIN: &str = "openhands.home.arpa";

/// A home whose config points at a running private nginx and the test app, with a CA and
/// a leaf made by ohproxy and the site applied.
pub struct Site {
    pub home: Home,
    pub nginx: Nginx,
    _upstream: Upstream,
    /// What `init` printed on stdout (the first user's password in password mode).
    pub init: Output,
}

impl Site {
    /// `init --access MODE`, then `before_apply` (add users, clients), then `nginx apply`.
    pub fn new(mode: &str, before_apply: impl FnOnce(&Home)) -> Option<Site> {
        let binary = require("nginx")?;
        require("openssl")?;
        let mut nginx = Nginx::new(&binary);
        let upstream = Upstream::start();
        let home = Home::new();
        let config = format!(
            "domain = \"{DOMAIN}\"\n{}{}ipv6 = false\n",
            nginx.ports_section(upstream.port()),
            nginx.nginx_section()
        );
        std::fs::write(home.path().join("config.toml"), config).unwrap();
        // nginx's workers run as another user and must walk into the home (page dir).
        set_mode(home.path(), 0o755);
        let init = home
            .cmd(["init", "--force", "--access", mode])
            .env("USER", "ana")
            .env("SUDO_USER", "")
            .ok();
        home.cmd(["cert"]).ok();
        nginx.start();
        before_apply(&home);
        home.cmd(["nginx", "apply"]).ok();
        Some(Site {
            home,
            nginx,
            _upstream: upstream,
            init,
        })
    }

    pub fn ca(&self) -> PathBuf {
        self.home.ca_dir().join("rootCA.pem")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.ca(), DOMAIN, self.nginx.https_port)
    }

    pub fn client_with(&self, identity: &Path) -> Client {
        Client::with_identity(&self.ca(), DOMAIN, self.nginx.https_port, identity)
    }

    pub fn site_file(&self) -> PathBuf {
        self.nginx.site_dir().join(format!("ohproxy-{DOMAIN}.conf"))
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        self.home.cmd(args).run()
    }
}

pub fn access_dir(site: &Site) -> PathBuf {
    site.home.state().join("access")
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// GET `target` with an Authorization header (or none).
pub fn get_as(client: &Client, target: &str, auth: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
    client
        .request("GET", target, &headers, b"")
        .expect("HTTPS GET")
}

/// A WebSocket upgrade by hand: the status line nginx answers with.
pub fn upgrade_status(client: &Client, target: &str, auth: Option<&str>) -> Response {
    let auth: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", *a)).collect();
    upgrade_with(client, target, &auth)
}

/// A WebSocket upgrade by hand with these extra headers: the head nginx answers with.
pub fn upgrade_with(client: &Client, target: &str, extra: &[(&str, &str)]) -> Response {
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    headers.extend_from_slice(extra);
    let mut stream = client.connect().unwrap();
    client
        .send_head(&mut stream, "GET", target, &headers, 0)
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head only: a 101 keeps the connection open.
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    raw.truncate(end);
    crate::support::https::parse_response(&raw).unwrap()
}

/// A WebSocket through nginx that echoes a message back.
pub fn websocket_echoes(client: &Client) {
    let mut socket = client
        .websocket("/sockets/events/1")
        .expect("WebSocket 101");
    socket
        .send(tungstenite::Message::text("ping through the login"))
        .unwrap();
    let reply = socket.read().unwrap();
    assert!(
        reply.to_text().unwrap().contains("ping through the login"),
        "{reply:?}"
    );
}

/// The refusal of an unauthenticated request: 401 with a Basic challenge.
pub fn assert_challenged(response: &Response) {
    assert_eq!(response.status, 401, "{}", response.text());
    let challenge = response.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic realm="), "{challenge:?}");
}

/// The status of an HTTPS GET made from inside a container of the test image on the
/// default Docker bridge, to the host's bridge address: the path the app's own checks of
/// its sandboxes take. None (skipped loudly; failing in CI) without Docker.
pub fn status_from_bridge(site: &Site, path: &str) -> Option<u16> {
    let code = curl_from_bridge(site, path, &["-o", "/dev/null", "-w", "%{http_code}"])?;
    Some(
        code.trim()
            .parse()
            .unwrap_or_else(|_| panic!("curl from the bridge: {code:?}")),
    )
}

/// What curl, with `args`, prints for an HTTPS GET of `path` from a container on the
/// default Docker bridge. curl runs in the container's network namespace (nsenter), so
/// nginx sees the container's address. None (skipped loudly; failing in CI) without Docker.
pub fn curl_from_bridge(site: &Site, path: &str, args: &[&str]) -> Option<String> {
    let docker = require_docker()?;
    let nsenter = require("nsenter")?;
    require("curl")?;
    let cleanup = Cleanup::new(&docker);
    let run = Run {
        role: "bridge-client",
        ..Default::default()
    };
    let id = start(&docker, &cleanup, run);
    let info = block_on(docker.inspect_container(&id, None)).unwrap();
    let pid = info.state.and_then(|s| s.pid).expect("a running container");
    let gateway = info
        .network_settings
        .and_then(|n| n.networks?.get("bridge")?.gateway.clone())
        .expect("the container is on the default bridge");
    let port = site.nginx.https_port;
    let resolve = format!("{DOMAIN}:{port}:{gateway}");
    let url = format!("https://{DOMAIN}:{port}{path}");
    let out = std::process::Command::new(nsenter)
        .args(["-t", &pid.to_string(), "-n", "curl", "-s", "-m", "10"])
        .args(args)
        .arg("--cacert")
        .arg(site.ca())
        .args(["--resolve", &resolve, &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "curl from the bridge: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The status of doctor's `https` check (a request through nginx with ohproxy's own
/// credentials); the container checks fail here, which does not concern it.
pub fn doctor_https(site: &Site) -> String {
    let out = site.cmd(&["doctor", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json printed no JSON ({e}): {}", out.stderr));
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "https")
        .unwrap();
    assert!(check["status"] == "ok", "{check}");
    check["status"].as_str().unwrap().to_string()
}

/// The first user's password from `init`'s stdout (its first line; the CA page's URL
/// follows).
pub fn init_password(site: &Site) -> String {
    let password = site
        .init
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        password.len() == 24 && password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{:?}",
        site.init.stdout
    );
    assert!(
        site.init.stderr.contains("created user \"ana\""),
        "{}",
        site.init.stderr
    );
    password
}

/// What must pass without credentials in every mode: the redirect, the CA page on port
/// 80 and the trust check image on HTTPS.
pub fn assert_public_paths(site: &Site) {
    let http = format!("127.0.0.1:{}", site.nginx.http_port);
    let (status, _) = http_get_host(&http, "/anything");
    assert_eq!(status, 308);
    let (status, body) = http_get_host(&http, "/ca/");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_get_host(&http, "/ca/ohproxy-ca.pem");
    assert_eq!(status, 200);
    assert!(body.contains("BEGIN CERTIFICATE"));
    let check = site.client().get("/ca/check.svg");
    assert_eq!(check.status, 200, "{}", check.text());
}

/// A plain HTTP GET naming our domain in Host.
fn http_get_host(addr: &str, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let response = crate::support::https::parse_response(&raw).unwrap();
    (response.status, response.text())
}

#[test]
fn password_mode_asks_everyone_but_the_bridges() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let password = init_password(&site);
    let client = site.client();

    assert_challenged(&get_as(&client, "/", None));
    assert_challenged(&upgrade_status(&client, "/sockets/events/1", None));

    let ana = basic("ana", &password);
    let ok = get_as(&client, "/echo/in", Some(&ana));
    assert_eq!(ok.status, 200, "{}", ok.text());
    // The credentials stop at nginx.
    assert!(
        !ok.text().to_ascii_lowercase().contains("authorization"),
        "{}",
        ok.text()
    );
    assert_eq!(
        upgrade_status(&client, "/sockets/events/1", Some(&ana)).status,
        101
    );
    let wrong = basic("ana", &format!("{password}x"));
    assert_challenged(&get_as(&client, "/", Some(&wrong)));

    // A new user is live at once (the site is applied), and gone once removed.
    site.home
        .cmd(["user", "add", "bob"])
        .stdin("hunter2 but longer\n")
        .ok();
    let bob = basic("bob", "hunter2 but longer");
    assert_eq!(get_as(&client, "/", Some(&bob)).status, 200);
    site.home.cmd(["user", "remove", "bob"]).ok();
    assert_challenged(&get_as(&client, "/", Some(&bob)));
    assert_eq!(get_as(&client, "/", Some(&ana)).status, 200);
    let list = site.cmd(&["user", "list"]);
    assert_eq!(list.stdout, "ana\n");

    // ohproxy's own login for doctor works too, and is not listed as a user.
    let stored = std::fs::read_to_string(access_dir(&site).join("doctor-password.toml")).unwrap();
    let doctor_pw = stored
        .lines()
        .find_map(|l| l.strip_prefix("password = "))
        .unwrap()
        .trim_matches('"');
    let doctor = basic("ohproxy-doctor", doctor_pw);
    assert_eq!(get_as(&client, "/", Some(&doctor)).status, 200);
    site.home
        .cmd(["user", "add", "ohproxy-doctor", "--generate"])
        .status(2);
    assert_eq!(doctor_https(&site), "ok");

    assert_public_paths(&site);
    if let Some(status) = status_from_bridge(&site, "/health") {
        assert_eq!(status, 200, "from the Docker bridge, without a password");
        assert_challenged(&get_as(&client, "/health", None));
    }
}

#[test]
fn the_password_file_holds_bcrypt_hashes_for_the_workers_only() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let password = init_password(&site);
    let installed = site.nginx.cert_dir().join(format!("{DOMAIN}.users"));
    let text = std::fs::read_to_string(&installed).unwrap();
    assert!(!text.contains(&password));
    let line = text.lines().find(|l| l.starts_with("ana:")).unwrap();
    assert!(
        line.starts_with("ana:$2b$06$") && line.len() == "ana:".len() + 60,
        "{line}"
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&installed).unwrap();
    let worker = site.nginx.worker_pids()[0];
    let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    let gid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Gid:"))
        .and_then(|v| v.split_whitespace().nth(3)?.parse().ok())
        .unwrap();
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(3)?.parse().ok())
        .unwrap();
    if uid == meta.uid() {
        assert_eq!(meta.mode() & 0o777, 0o600);
    } else {
        assert_eq!((meta.mode() & 0o777, meta.gid()), (0o640, gid));
    }
}

#[test]
fn none_mode_lets_everyone_in_and_says_so_every_time() {
    let Some(site) = Site::new("none", |_| {}) else {
        return;
    };
    let warning = "anyone who can reach the HTTPS port controls OpenHands";
    assert!(site.init.stderr.contains(warning), "{}", site.init.stderr);
    assert!(
        !site.init.stderr.contains("created user"),
        "no user in mode none"
    );
    let again = site.home.cmd(["init"]).ok();
    assert!(again.stderr.contains(warning), "{}", again.stderr);
    let text = std::fs::read_to_string(site.site_file()).unwrap();
    assert!(!text.contains("auth_basic") && !text.contains("ssl_verify_client"));

    let client = site.client();
    assert_eq!(client.get("/").status, 200);
    websocket_echoes(&client);
    assert_public_paths(&site);
    assert_eq!(doctor_https(&site), "ok");
}
