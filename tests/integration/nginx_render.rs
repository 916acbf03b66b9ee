//! `ohproxy nginx render` as a user runs it: the files in examples/ are exactly what the
//! binary renders, versions come from the flags or from `nginx -V`, and every hostile
//! value is refused with exit 2, naming the key and the value, before anything is written.

use std::path::{Path, PathBuf};

use crate::support::{Home, require};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// `nginx 1.22.1 with OpenSSL 3.0.2` from an example's "Rendered for" header line.
fn rendered_for(text: &str) -> (String, Option<String>) {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("# Rendered for nginx "))
        .expect("a \"# Rendered for nginx\" line");
    let line = line.trim_end_matches('.');
    match line.split_once(" with OpenSSL ") {
        Some((nginx, openssl)) => (nginx.to_string(), Some(openssl.to_string())),
        None => (line.to_string(), None),
    }
}

/// Every examples/*.conf equals what the binary renders from examples/config.toml for the
/// versions named in its header. `UPDATE_EXAMPLES=1` rewrites them instead.
#[test]
fn examples_match_the_binary() {
    let home = Home::new();
    let config = examples().join("config.toml");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "conf") {
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap();
        let (nginx, openssl) = rendered_for(&expected);
        let mut args = vec!["--config".into(), config.display().to_string()];
        args.extend(["nginx", "render", "--nginx-version", &nginx].map(String::from));
        if let Some(openssl) = &openssl {
            args.extend(["--openssl-version".to_string(), openssl.clone()]);
        }
        let out = home.cmd(&args).ok();
        if std::env::var_os("UPDATE_EXAMPLES").is_some() {
            std::fs::write(&path, &out.stdout).unwrap();
        } else {
            assert_eq!(out.stdout, expected, "{} is stale", path.display());
        }
        seen.push(nginx);
    }
    seen.sort();
    assert!(seen.len() >= 2, "examples for old and new nginx: {seen:?}");
    assert!(seen.iter().any(|v| v.starts_with("1.22.")), "{seen:?}");
    assert!(seen.iter().any(|v| v.as_str() >= "1.26"), "{seen:?}");
}

fn home_with(config: &str) -> Home {
    let home = Home::new();
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    home
}

#[test]
fn renders_to_a_file_for_the_installed_nginx() {
    let Some(nginx) = require("nginx") else {
        return;
    };
    let home = home_with(&format!(
        "domain = \"openhands.home.arpa\"\n[nginx]\nbinary = \"{}\"\n",
        nginx.display()
    ));
    let out_file = home.path().join("site.conf");
    let out = home
        .cmd(["nginx", "render", "--out", out_file.to_str().unwrap()])
        .ok();
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&out_file).unwrap();
    let version = crate::support::tool(nginx.to_str().unwrap(), ["-v"]);
    let version = String::from_utf8_lossy(&version.stderr);
    let version = version
        .trim()
        .rsplit('/')
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(
        text.contains(&format!("# Rendered for nginx {version}")),
        "{version}\n{text}"
    );
    assert!(
        out.stderr.contains(out_file.to_str().unwrap()),
        "{}",
        out.stderr
    );
}

#[test]
fn unicode_domains_are_rendered_as_punycode() {
    let home = home_with("domain = \"bücher.example\"\nnames = [\"ü.example\"]\n");
    let out = home
        .cmd(["nginx", "render", "--nginx-version", "1.22.1"])
        .ok();
    assert!(
        out.stdout
            .contains("server_name xn--bcher-kva.example xn--tda.example;"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.is_ascii());
}

/// Hostile values in the config file: (TOML lines after the domain, key, value shown).
const HOSTILE_CONFIG: &[(&str, &str, &str)] = &[
    ("domain = \"a;b.example\"", "domain", "a;b.example"),
    (
        "domain = \"a.example; location /x { return 200; } #\"",
        "domain",
        "location /x",
    ),
    ("domain = \"a{b.example\"", "domain", "a{b.example"),
    ("domain = \"a}b.example\"", "domain", "a}b.example"),
    ("domain = \"a#b.example\"", "domain", "a#b.example"),
    ("domain = \"$host.example\"", "domain", "$host.example"),
    ("domain = \"a\\\"b.example\"", "domain", "a\\\"b.example"),
    ("domain = \"a'b.example\"", "domain", "a'b.example"),
    ("domain = \"a\\\\b.example\"", "domain", "a\\\\b.example"),
    ("domain = \"a\\nb.example\"", "domain", "a\\nb.example"),
    ("domain = \"a b.example\"", "domain", "a b.example"),
    ("domain = \"~^.*$\"", "domain", "~^.*$"),
    ("domain = \"*.example.org\"", "domain", "*.example.org"),
    (
        "domain = \"ex\u{ff1b}ample.org\"",
        "domain",
        "ex\u{ff1b}ample.org",
    ),
    (
        "domain = \"a\u{202e}b.example\"",
        "domain",
        "a\u{202e}b.example",
    ),
    (
        "domain = \"ok.example\"\nnames = [\"w*.x.example\"]",
        "names",
        "w*.x.example",
    ),
    (
        "domain = \"ok.example\"\nnames = [\"*.*.example\"]",
        "names",
        "*.*.example",
    ),
    (
        "domain = \"ok.example\"\nnames = [\"a_b.example\"]",
        "names",
        "a_b.example",
    ),
    ("domain = \"ok.example\"\nnames = [\"ok;\"]", "names", "ok;"),
    ("domain = \"ok.example\"\n[ports]\nhttps = 0", "https", "0"),
    (
        "domain = \"ok.example\"\n[ports]\nhttp = 65536",
        "http",
        "65536",
    ),
    (
        "domain = \"ok.example\"\n[ports]\napp = \"3000;\"",
        "app",
        "3000;",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\ncert-dir = \"certs\"",
        "cert-dir",
        "certs",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\ncert-dir = \"/etc/../x\"",
        "cert-dir",
        "/etc/../x",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\ncert-dir = \"/a b\"",
        "cert-dir",
        "/a b",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\ncert-dir = \"/a;b\"",
        "cert-dir",
        "/a;b",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\nprefix = \"/a{b\"",
        "prefix",
        "/a{b",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\ntemplate = \"../t.j2\"",
        "template",
        "../t.j2",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\nupload-limit = \"1m;\"",
        "upload-limit",
        "1m;",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\nproxy-timeout = \"1h }\"",
        "proxy-timeout",
        "1h }",
    ),
    (
        "domain = \"ok.example\"\n[nginx]\nhsts-max-age = \"$x\"",
        "hsts-max-age",
        "$x",
    ),
];

#[test]
fn hostile_config_values_are_refused() {
    let long_label = format!("{}.example", "a".repeat(64));
    let long_name = format!("{}example", "abcdefghi.".repeat(25));
    let long = [
        format!("domain = \"{long_label}\""),
        format!("domain = \"{long_name}\""),
    ];
    let generated = long
        .iter()
        .map(|toml| (toml.as_str(), "domain", &toml[10..40]));
    for (toml, key, value) in HOSTILE_CONFIG.iter().copied().chain(generated) {
        let home = home_with(&format!("{toml}\n"));
        let out_file = home.path().join("site.conf");
        let args = ["nginx", "render", "--nginx-version", "1.22.1", "--out"];
        let out = home
            .cmd(args.iter().copied().chain([out_file.to_str().unwrap()]))
            .status(2);
        let line = out.stderr.trim();
        assert!(
            line.contains(&format!("key \"{key}\"")) && line.contains(value),
            "{toml:?}: {line}"
        );
        assert_eq!(
            line.lines().filter(|l| !l.contains("hint:")).count(),
            1,
            "{line}"
        );
        assert!(out.stdout.is_empty() && !out_file.exists(), "{toml:?}");
    }
}

/// A state dir the config types never saw (from OHPROXY_HOME) still passes the one check
/// of the template's context before it reaches the file.
#[test]
fn a_hostile_state_dir_is_refused_by_the_template_guard() {
    let home = Home::new();
    let odd = home.path().join("my certs;x");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("config.toml"), "domain = \"ok.example\"\n").unwrap();
    let out = home
        .cmd(["nginx", "render", "--nginx-version", "1.22.1"])
        .env("OHPROXY_HOME", &odd)
        .status(2);
    assert!(
        out.stderr.contains("nginx.cert-dir") && out.stderr.contains("my certs;x"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn hostile_flags_are_refused() {
    let home = home_with("domain = \"ok.example\"\n");
    let cases = [
        (
            vec!["--nginx-version", "1.22.1;"],
            "--nginx-version",
            "1.22.1;",
        ),
        (vec!["--nginx-version", "1.x"], "--nginx-version", "1.x"),
        (
            vec!["--nginx-version", "1.26.0", "--openssl-version", "3.5 {"],
            "--openssl-version",
            "3.5 {",
        ),
    ];
    for (flags, name, value) in cases {
        let out = home
            .cmd(["nginx", "render"].into_iter().chain(flags))
            .status(2);
        assert!(
            out.stderr.contains(name) && out.stderr.contains(value),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
}
