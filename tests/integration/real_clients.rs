//! Clients written by others against our setup: headless Chromium with our CA in a fresh
//! NSS database loads a page through nginx and opens a WebSocket from it, and the Python
//! Socket.IO client connects over WebSocket only, as the OpenHands 0.x frontend does. Both
//! trust only what a user's machine would: our CA, put there by `ohproxy ca trust`. A
//! Chromium that trusts nothing of ours opens the CA page on the HTTP port, shows the CA's
//! fingerprint and downloads the DER certificate the page links to.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::support::netlog;
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

/// nginx's main access log and the site's own logs.
fn access_logs(site: &Site) -> String {
    site.nginx.log("access.log")
        + &std::fs::read_dir(site.nginx.prefix().join("logs"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("ohproxy"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<String>()
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
    // On real time: the page reports its result with a request nginx logs. (Virtual
    // time, as a DOM dump needs, left the WebSocket unanswered now and then.)
    let result = "/echo/ws-check-result/";
    let stderr = chromium_until(&browser, trusted.path(), &url, &[], || {
        access_logs(&site).contains(result)
    });
    let log = access_logs(&site);
    assert!(
        log.contains(&format!("{result}WS-OK")),
        "Chromium with our CA did not get WS-OK:\n{log}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("ERR_CERT"), "{stderr}");
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

/// A Python with python-socketio, websocket-client and requests: the virtual environment
/// that scripts/install-test-deps fills from PyPI, else the first `python3` on PATH.
fn python_with_socketio() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-python/bin/python3");
    let candidates = [venv, PathBuf::from("python3")];
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

/// Headless Chromium on real time (no virtual time, no DOM dump) with HOME at `home`,
/// opening `url` with `extra` flags until `done` says it has done its work (or a minute
/// passed), then two seconds more, then stopped with SIGINT, a clean exit that closes any
/// log it keeps. Returns Chromium's stderr.
fn chromium_until(
    binary: &Path,
    home: &Path,
    url: &str,
    extra: &[String],
    done: impl Fn() -> bool,
) -> String {
    let mut child = Command::new("timeout")
        .args(["-k", "30", "-s", "INT", "90"])
        .arg(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            &format!("--host-resolver-rules=MAP {DOMAIN} 127.0.0.1"),
            &format!("--user-data-dir={}", home.join("profile").display()),
        ])
        .args(extra)
        .arg(url)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    // `timeout` passes the signal on to Chromium.
    let _ = Command::new("kill")
        .args(["-s", "INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("chromium ends");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `sha-256:` line of `ohproxy ca show`.
fn shown_fingerprint(site: &Site) -> String {
    let text = site.home.cmd(["ca", "show"]).ok().stdout;
    let line = text.lines().find_map(|l| l.strip_prefix("sha-256:"));
    line.unwrap_or_else(|| panic!("no sha-256 in `ca show`:\n{text}"))
        .trim()
        .to_string()
}

/// The `href` of the page's link whose target ends in `suffix`.
fn link_ending_in<'a>(dom: &'a str, suffix: &str) -> Option<&'a str> {
    dom.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(href, _)| href))
        .find(|href| href.ends_with(suffix))
}

#[test]
fn chromium_opens_the_ca_page_and_downloads_the_der_it_links_to() {
    let Some(browser) = require("chromium") else {
        return;
    };
    let upstream = Upstream::start();
    let Some(site) = site(&upstream) else {
        return;
    };
    // nginx's workers run unprivileged and must walk into the temporary home to the page.
    std::fs::set_permissions(site.home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let der = std::fs::read(site.home.ca_dir().join("rootCA.pem"))
        .map(|pem| crate::onboarding::pem_to_der(&pem))
        .unwrap();
    let fingerprint = shown_fingerprint(&site);
    let digest = Sha256::digest(&der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(fingerprint, hex.join(":"), "`ca show` names another CA");

    // (a) The page loads in a browser that trusts nothing of ours and shows the fingerprint.
    let page_url = format!("http://{DOMAIN}:{}/ca/", site.nginx.http_port);
    let browser_home = tempfile::tempdir().unwrap();
    let (dom, stderr) = chromium(&browser, browser_home.path(), &page_url);
    let shown = format!("<p class=\"fp\" id=\"fingerprint\">{fingerprint}</p>");
    assert!(
        dom.contains(&shown),
        "the page shows no fingerprint {fingerprint}:\n{dom}\nstderr:\n{stderr}"
    );

    // (b) The browser follows the page's DER link and gets exactly our CA.
    let href = link_ending_in(&dom, ".crt").unwrap_or_else(|| panic!("no DER link:\n{dom}"));
    let der_url = format!("{page_url}{href}");
    let net_log = browser_home.path().join("netlog.json");
    let request = format!("GET /ca/{href} ");
    // A download never finishes loading: stop once nginx has sent the file.
    let log_flags = [
        format!("--log-net-log={}", net_log.display()),
        "--net-log-capture-mode=Everything".to_string(),
    ];
    let stderr = chromium_until(&browser, browser_home.path(), &der_url, &log_flags, || {
        access_logs(&site).contains(&request)
    });
    let fetches = netlog::fetches(&net_log, &der_url);
    assert!(
        !fetches.is_empty(),
        "Chromium made no request for {der_url}:\n{stderr}"
    );
    for fetch in &fetches {
        assert_eq!(fetch.status(), Some(200), "{:?}", fetch.headers);
        assert_eq!(
            fetch.header("content-type"),
            Some("application/x-x509-ca-cert"),
            "{:?}",
            fetch.headers
        );
        assert_eq!(fetch.body, der, "the browser received other bytes");
    }
}
