//! Bad input and faults around access control: each ends in a clear error with exit 2 (or
//! 1), writes nothing half way, and leaves nginx serving the previous config.

use super::{DOMAIN, Site, assert_challenged, basic, get_as, init_password, set_mode};
use crate::support::{Home, require, tool};

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn bad_names_and_passwords_change_nothing() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let users = site.home.state().join("access").join("users");
    let before = read(&users);
    for name in ["a:b", "", "x\ny", "tab\there", "#root"] {
        // No stdin: the name is refused before the password is read.
        let out = site.home.cmd(["user", "add", name]).status(2);
        assert!(out.stderr.contains("user name"), "{name:?}: {}", out.stderr);
    }
    let out = site
        .home
        .cmd(["user", "add", "carol"])
        .stdin("\n")
        .status(2);
    assert!(out.stderr.contains("password is empty"), "{}", out.stderr);
    let out = site.home.cmd(["user", "add", "carol"]).status(2);
    assert!(out.stderr.contains("password is empty"), "{}", out.stderr);
    let out = site.home.cmd(["user", "remove", "nobody-here"]).status(2);
    assert!(out.stderr.contains("no such user"), "{}", out.stderr);
    let out = site.home.cmd(["user", "remove", "ana"]).status(2);
    assert!(out.stderr.contains("last one"), "{}", out.stderr);
    assert_eq!(read(&users), before, "the password file changed");
}

#[test]
fn client_names_in_use_and_unknown_are_refused() {
    let Some(site) = Site::new("client-cert", |home| {
        home.cmd(["client", "add", "phone"]).ok();
    }) else {
        return;
    };
    let register = site.home.state().join("access").join("clients.toml");
    let before = read(&register);
    let out = site.home.cmd(["client", "add", "phone"]).status(2);
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);
    let out = site.home.cmd(["client", "add", "../evil"]).status(2);
    assert!(out.stderr.contains("client name"), "{}", out.stderr);
    let out = site.home.cmd(["client", "revoke", "ghost"]).status(2);
    assert!(out.stderr.contains("no such client"), "{}", out.stderr);
    assert_eq!(read(&register), before, "the register changed");
}

#[test]
fn password_mode_without_a_user_is_refused_and_nginx_keeps_serving() {
    let Some(site) = Site::new("none", |_| {}) else {
        return;
    };
    let config = site.home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("mode = \"none\"", "mode = \"password\""),
    )
    .unwrap();
    let before = read(&site.site_file());
    let out = site.home.cmd(["nginx", "apply"]).status(2);
    assert!(out.stderr.contains("no user exists"), "{}", out.stderr);
    assert!(out.stderr.contains("ohproxy user add"), "{}", out.stderr);
    assert_eq!(read(&site.site_file()), before);
    assert_eq!(site.client().get("/").status, 200);
}

#[test]
fn a_password_file_the_workers_cannot_read_is_rolled_back() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let password = init_password(&site);
    if site.nginx.worker_pids().is_empty() || !workers_are_another_user(&site) {
        eprintln!(
            "\n!!! SKIPPED: nginx's workers run as this user; nothing is closed to them !!!\n"
        );
        return;
    }
    // A cert dir behind a directory that only its owner may enter.
    let closed = site.home.path().join("closed");
    std::fs::create_dir_all(closed.join("certs")).unwrap();
    set_mode(&closed, 0o700);
    let config = site.home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let old_dir = site.nginx.cert_dir().display().to_string();
    let new_dir = closed.join("certs").display().to_string();
    std::fs::write(&config, text.replace(&old_dir, &new_dir)).unwrap();

    let before = read(&site.site_file());
    let out = site.home.cmd(["nginx", "apply"]).status(1);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
    assert!(out.stderr.contains("nginx.cert-dir"), "{}", out.stderr);
    assert_eq!(read(&site.site_file()), before, "the site file changed");
    let client = site.client();
    assert_challenged(&get_as(&client, "/", None));
    assert_eq!(
        get_as(&client, "/", Some(&basic("ana", &password))).status,
        200
    );
}

#[test]
fn a_ca_that_cannot_sign_crls_issues_no_client() {
    if require("openssl").is_none() {
        return;
    }
    let home = Home::new();
    let ca = home.path().join("adopted");
    std::fs::create_dir_all(&ca).unwrap();
    // Like mkcert's root: keyCertSign only, no cRLSign.
    let out = tool(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-noenc",
            "-days",
            "30",
            "-subj",
            "/CN=no crl",
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
            ca.join("rootCA-key.pem").to_str().unwrap(),
            "-out",
            ca.join("rootCA.pem").to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let caroot = ca.to_str().unwrap();
    home.cmd([
        "init",
        "--domain",
        "oh.home.arpa",
        "--caroot",
        caroot,
        "--access",
        "client-cert",
    ])
    .ok();
    let out = home.cmd(["client", "add", "phone"]).status(2);
    assert!(
        out.stderr.contains("may not sign revocation lists"),
        "{}",
        out.stderr
    );
    assert!(!home.state().join("access").join("clients").exists());
}

fn workers_are_another_user(site: &Site) -> bool {
    use std::os::unix::fs::MetadataExt;
    let worker = site.nginx.worker_pids()[0];
    let meta = std::fs::metadata(format!("/proc/{worker}")).unwrap();
    let me = std::fs::metadata("/proc/self").unwrap();
    meta.uid() != me.uid()
}

#[test]
fn on_a_terminal_the_password_is_asked_twice() {
    let Some(script) = require("script") else {
        return;
    };
    let home = Home::new();
    home.cmd(["init", "--domain", "oh.home.arpa", "--access", "none"])
        .ok();
    let users = home.state().join("access").join("users");
    // `script` gives the command a terminal; the lines typed arrive through it.
    let typed = |first: &str, second: &str| {
        let binary = env!("CARGO_BIN_EXE_ohproxy");
        let shell = format!(
            "(sleep 0.3; printf '{first}\\n'; sleep 0.3; printf '{second}\\n'; sleep 0.5) | \
             {} -qec '{binary} user add bob' /dev/null",
            script.display()
        );
        std::process::Command::new("sh")
            .args(["-c", &shell])
            .env("OHPROXY_HOME", home.path())
            .output()
            .unwrap()
    };
    let out = typed("one secret", "another secret");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("the two passwords differ"), "{text}");
    assert!(
        !text.contains("one secret"),
        "the password was echoed: {text}"
    );
    assert!(!users.exists());

    let out = typed("one secret", "one secret");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list = home.cmd(["user", "list"]).ok();
    assert_eq!(list.stdout, "bob\n");
}

/// A password file nginx cannot check (a hash its crypt() does not know) refuses every
/// login; doctor names the hash format as a cause, not only a missing apply.
#[test]
fn a_hash_nginx_cannot_check_is_named_by_doctor() {
    let Some(site) = Site::new("password", |_| {}) else {
        return;
    };
    let installed = site.nginx.cert_dir().join(format!("{DOMAIN}.users"));
    let text = std::fs::read_to_string(&installed).unwrap();
    let unknown: String = text
        .lines()
        .map(|line| match line.split_once(':') {
            Some((name, _)) => format!("{name}:$zz$unknown\n"),
            None => format!("{line}\n"),
        })
        .collect();
    std::fs::write(&installed, unknown).unwrap();

    let out = site.cmd(&["doctor", "--json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let https = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "https")
        .unwrap();
    assert_eq!(https["status"], "failure", "{https}");
    assert!(
        https["cause"].as_str().unwrap().contains("answered 401"),
        "{https}"
    );
    assert!(
        https["fix"].as_str().unwrap().contains("crypt()"),
        "{https}"
    );
}
