//! The rendered site file in a real nginx: TLS, HTTP/2, WebSockets, redirects, forwarded
//! headers, uploads, streaming and logs, seen by a client that trusts only the test CA.
//! Each test renders with `ohproxy nginx render` (versions from `nginx -V`) into a private
//! nginx in front of the test app.

mod http;
mod streams;

use std::path::PathBuf;
use std::time::Duration;

use crate::support::https::Client;
use crate::support::nginx::{Nginx, openssl_pki};
use crate::support::testapp::Upstream;
use crate::support::{Home, require};

const DOMAIN: &str = "openhands.example.internal";

/// One site rendered into a running private nginx, in front of `upstream`.
struct Site {
    client: Client,
    ca: PathBuf,
    nginx: Nginx,
    _home: Home,
    _upstream: Option<Upstream>,
}

/// Renders a site for `domain` into `nginx`'s site dir, with its own config (extra lines go
/// into `[nginx]`) and an openssl-made CA and leaf. Returns the home and the CA file.
fn add_site(nginx: &Nginx, domain: &str, app_port: u16, extra: &str) -> (Home, PathBuf) {
    let home = Home::new();
    let config = format!(
        "domain = \"{domain}\"\n{}{}{extra}\n",
        nginx.ports_section(app_port),
        nginx.config_section()
    );
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let pki = openssl_pki(
        &home.path().join("pki"),
        domain,
        &nginx.cert_dir().join(format!("{domain}.pem")),
        &nginx.cert_dir().join(format!("{domain}-key.pem")),
    );
    let out = nginx.site_dir().join(format!("ohproxy-{domain}.conf"));
    home.cmd(["nginx", "render", "--out", out.to_str().unwrap()])
        .ok();
    (home, pki.ca_cert)
}

/// `nginx -t` passes and prints no warning at all.
fn assert_clean(nginx: &Nginx) {
    let (ok, text) = nginx.test_config();
    assert!(
        ok && !text.contains("[warn]") && !text.contains("[emerg]"),
        "{text}"
    );
}

/// The test app behind a fresh nginx, or None when nginx is not installed here.
fn site_with(extra: &str, upstream: Option<Upstream>, app_port: u16) -> Option<Site> {
    let binary = require("nginx")?;
    require("openssl").expect("openssl is needed with nginx");
    let mut nginx = Nginx::new(&binary);
    let (home, ca) = add_site(&nginx, DOMAIN, app_port, extra);
    assert_clean(&nginx);
    nginx.start();
    Some(Site {
        client: Client::new(&ca, DOMAIN, nginx.https_port),
        ca,
        nginx,
        _home: home,
        _upstream: upstream,
    })
}

fn site(extra: &str) -> Option<Site> {
    require("nginx")?;
    let upstream = Upstream::start();
    let port = upstream.port();
    site_with(extra, Some(upstream), port)
}

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"][name]
        .as_array()
        .map(|values| values.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

/// The harness itself: start, serve, reload to new workers, report errors, stop on drop.
#[test]
fn harness_starts_reloads_and_stops() {
    let Some(binary) = require("nginx") else {
        return;
    };
    require("openssl").expect("openssl");
    let mut nginx = Nginx::new(&binary);
    let pki = openssl_pki(
        &nginx.prefix().join("pki"),
        "harness.test",
        &nginx.cert_dir().join("leaf.pem"),
        &nginx.cert_dir().join("leaf-key.pem"),
    );
    assert!(pki.ca_cert.is_file());
    nginx.write_site(
        "plain.conf",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 200 \"one\\n\"; }} }}\n",
            nginx.http_port
        ),
    );
    nginx.start();
    let master = nginx.master_pid();
    let body = || {
        let out = crate::support::tool(
            "curl",
            ["-s", &format!("http://127.0.0.1:{}/", nginx.http_port)],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(body(), "one\n");
    let workers = nginx.worker_pids();
    assert_eq!(workers.len(), 2, "{:?}", nginx.children());

    nginx.write_site(
        "plain.conf",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 200 \"two\\n\"; }} }}\n",
            nginx.http_port
        ),
    );
    assert!(nginx.reload(), "{}", nginx.error_log());
    assert_eq!(body(), "two\n");
    assert!(nginx.worker_pids().iter().all(|p| !workers.contains(p)));

    nginx.write_site("broken.conf", "server { listen nonsense }\n");
    assert!(!nginx.test_config().0);
    assert!(!nginx.reload());
    assert_eq!(body(), "two\n");

    drop(nginx);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!std::path::Path::new(&format!("/proc/{master}")).exists());
}
