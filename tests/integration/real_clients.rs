//! Clients written by others against our setup: headless Chromium with our CA in a fresh
//! NSS database loads a page through nginx and opens a WebSocket from it, and the Python
//! Socket.IO client connects over WebSocket only, as the OpenHands 0.x frontend does. Both
//! trust only what a user's machine would: our CA, put there by `ohproxy ca trust`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::site::Site;
use crate::support::testapp::Upstream;
use crate::support::{require, strict, tool};

const DOMAIN: &str = "openhands.home.arpa";

fn site(upstream: &Upstream) -> Option<Site> {
    Site::new(DOMAIN, upstream.port(), "")
}

/// Headless Chromium with HOME at `home`, loading `url` with the domain mapped to this
/// machine: (the dumped DOM, what it printed on stderr).
fn chromium(binary: &Path, home: &Path, url: &str) -> (String, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=10000",
            &format!("--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"),
            &format!("--user-data-dir={}", home.join("profile").display()),
            "--dump-dom",
            url,
        ])
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .expect("chromium starts");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An empty NSS database where Chromium on Linux reads it (`~/.pki/nssdb`).
fn nss_db(home: &Path) -> PathBuf {
    let dir = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sql:{}", dir.display());
    let out = tool("certutil", ["-N", "--empty-password", "-d", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[test]
fn chromium_trusting_our_ca_loads_the_site_and_opens_a_websocket() {
    let (Some(browser), Some(_)) = (require("chromium"), require("certutil")) else {
        return;
    };
    let upstream = Upstream::start();
    let Some(site) = site(&upstream) else {
        return;
    };
    let url = format!("https://{DOMAIN}:{}/ws-check", site.nginx.https_port);

    let trusted = tempfile::tempdir().unwrap();
    let db = nss_db(trusted.path());
    site.home
        .cmd(["ca", "trust", "--nss-db", db.to_str().unwrap()])
        .ok();
    let (dom, stderr) = chromium(&browser, trusted.path(), &url);
    assert!(
        dom.contains("<p id=\"result\">WS-OK</p>"),
        "Chromium with our CA did not get WS-OK:\n{dom}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("ERR_CERT"), "{stderr}");
    let log = site.nginx.log("access.log")
        + &std::fs::read_dir(site.nginx.prefix().join("logs"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("ohproxy"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>();
    assert!(
        log.contains("/ws-test"),
        "nginx saw no WebSocket request:\n{log}"
    );

    // The control: the same browser without our CA refuses the site.
    let untrusted = tempfile::tempdir().unwrap();
    let (dom, stderr) = chromium(&browser, untrusted.path(), &url);
    assert!(!dom.contains("WS-OK"), "{dom}");
    assert!(
        stderr.contains("ERR_CERT_AUTHORITY_INVALID") || dom.contains("ERR_CERT_AUTHORITY_INVALID"),
        "expected ERR_CERT_AUTHORITY_INVALID without our CA:\nstderr:\n{stderr}\ndom:\n{dom}"
    );
}

/// A Python with python-socketio, websocket-client and requests: Debian's (the packages
/// scripts/install-test-deps installs), else the first `python3` on PATH (pip users).
fn python_with_socketio() -> Option<PathBuf> {
    let candidates = [PathBuf::from("/usr/bin/python3"), PathBuf::from("python3")];
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import socketio, websocket, requests"])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    match found {
        Some(python) => Some(python),
        None if strict() => panic!(
            "python-socketio and websocket-client are required in CI; run \
             scripts/install-test-deps"
        ),
        None => {
            eprintln!(
                "\n!!! SKIPPED: no Python with python-socketio and websocket-client; run \
                 scripts/install-test-deps !!!\n"
            );
            None
        }
    }
}

#[test]
fn python_socketio_connects_over_websocket_only_and_exchanges_events() {
    let Some(python) = python_with_socketio() else {
        return;
    };
    let upstream = Upstream::start();
    let Some(site) = site(&upstream) else {
        return;
    };
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/clients/socketio_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([DOMAIN, &site.nginx.https_port.to_string()])
        .arg(site.ca_cert())
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("WEBSOCKET_CLIENT_CA_BUNDLE")
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the Socket.IO client failed:\n{stdout}\n{stderr}"
    );
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert_eq!(result["transport"], "websocket", "{result}");
    assert_eq!(result["got_pong"], true, "{result}");
    assert_eq!(
        result["pong"],
        serde_json::json!(["from-python-socketio"]),
        "{result}"
    );
    assert_eq!(result["ack"], serde_json::json!({ "n": 1 }), "{result}");
    let log = upstream.log();
    assert!(!log.contains("transport=polling"), "{log}");

    // The same client refuses a server whose certificate our CA did not issue.
    let other = tempfile::tempdir().unwrap();
    let stranger = crate::support::nginx::openssl_pki(
        other.path(),
        "stranger.example",
        &other.path().join("leaf.pem"),
        &other.path().join("leaf-key.pem"),
    );
    let refused = Command::new(&python)
        .arg(&script)
        .args([DOMAIN, &site.nginx.https_port.to_string()])
        .arg(&stranger.ca_cert)
        .output()
        .expect("python starts");
    assert!(!refused.status.success(), "trusting another CA must fail");
}
