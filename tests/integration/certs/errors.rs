//! Bad input and broken CAs: a one-line error naming the value, the right exit code, and
//! nothing written or changed.

use crate::support::pki::openssl_root;
use std::fs;
use std::path::Path;

use super::*;

/// Every file under a directory with its contents, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.push((path.display().to_string(), fs::read(&path).unwrap()));
        }
    }
    files.sort();
    files
}

#[test]
fn hostile_names_are_refused_before_anything_is_written() {
    let home = initialised();
    let long_label = format!("{}.test", "a".repeat(64));
    let long_name = format!("{}test", "abcdefghi.".repeat(25));
    let names = [
        "a;b.test",
        "a{b.test",
        "a}b.test",
        "$host",
        "a\"b.test",
        "a'b.test",
        "a b.test",
        "a\nb.test",
        "a..b.test",
        "-lead.test",
        "w*.test",
        "*.*.test",
        "a.*.test",
        "*",
        "",
        "*.test",
        "a/b.test",
        long_label.as_str(),
        long_name.as_str(),
    ];
    let before = snapshot(home.path());
    for name in names {
        // `--` so that names with a leading '-' reach ohproxy's own check.
        let out = home.cmd(["cert", "--", name]).status(2);
        assert!(
            out.stderr.contains(&format!("{name:?}")),
            "the message names {name:?}: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        // A hostile name among good ones still stops everything.
        home.cmd(["cert", "good.test", "--", name]).status(2);
    }
    assert_eq!(snapshot(home.path()), before, "nothing was written");
    assert!(!certs(&home).exists());

    // Without `--`, clap refuses a leading '-' itself, also with exit 2.
    let out = home.cmd(["cert", "-lead.test"]).status(2);
    assert!(
        out.stderr.contains("-lead.test") || out.stderr.contains("'-l'"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_flags_exit_2_naming_the_flag_and_value() {
    let home = initialised();
    let before = snapshot(home.path());
    for (args, needles) in [
        (vec!["cert", "--days", "826", "a.test"], ["--days", "826"]),
        (vec!["cert", "--days", "0", "a.test"], ["--days", "0"]),
        (
            vec!["cert", "--key-type", "dsa", "a.test"],
            ["--key-type", "dsa"],
        ),
    ] {
        let out = home.cmd(&args).status(2);
        for needle in needles {
            assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        }
    }
    assert_eq!(snapshot(home.path()), before);

    let fresh = Home::new();
    for (args, needles) in [
        (
            vec!["init", "--domain", "a;b.test"],
            vec!["--domain", "a;b.test"],
        ),
        (
            vec!["init", "--domain", "ok.test", "--name", "a b"],
            vec!["--name", "a b"],
        ),
        (
            vec!["init", "--domain", "ok.test", "--https-port", "0"],
            vec!["--https-port", "0"],
        ),
        (
            vec!["init", "--domain", "ok.test", "--http-port", "443"],
            vec!["--http-port", "443"],
        ),
        (vec!["init"], vec!["--domain"]),
        (
            vec!["init", "--domain", "ok.test", "--caroot", "/nonexistent"],
            vec!["--caroot", "/nonexistent"],
        ),
    ] {
        let out = fresh.cmd(&args).status(2);
        for needle in needles {
            assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        }
        assert!(
            snapshot(fresh.path()).is_empty(),
            "{args:?} wrote something"
        );
    }
}

/// A CA directory made by `ohproxy init` in its own home, to be broken on purpose.
fn ca_copy(home: &Home, name: &str) -> std::path::PathBuf {
    let dir = home.path().join(name);
    fs::create_dir(&dir).unwrap();
    for file in ["rootCA.pem", "rootCA-key.pem"] {
        fs::copy(home.ca_dir().join(file), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn broken_cas_give_clear_errors_and_change_nothing() {
    let home = initialised();
    let other = initialised();
    let corrupt = ca_copy(&home, "corrupt");
    fs::write(
        corrupt.join("rootCA.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n",
    )
    .unwrap();
    let mismatched = ca_copy(&home, "mismatched");
    fs::copy(
        other.ca_dir().join("rootCA-key.pem"),
        mismatched.join("rootCA-key.pem"),
    )
    .unwrap();
    let bad_key = ca_copy(&home, "bad-key");
    fs::write(bad_key.join("rootCA-key.pem"), "garbage").unwrap();
    let keyless = ca_copy(&home, "keyless");
    fs::remove_file(keyless.join("rootCA-key.pem")).unwrap();
    let not_ca = home.path().join("not-ca");
    openssl_root(&not_ca, "/CN=just a server", false);

    let cases = [
        (&corrupt, "not a PEM certificate"),
        (&mismatched, "does not match"),
        (&bad_key, "not a PKCS#8 PEM private key"),
        (&keyless, "has no key"),
        (&not_ca, "not a CA certificate"),
    ];
    for (dir, needle) in cases {
        let before = snapshot(home.path());
        let out = home.cmd(["cert", "x.test"]).env("CAROOT", dir).status(1);
        assert!(
            out.stderr.contains(needle),
            "{}: {}",
            dir.display(),
            out.stderr
        );
        assert!(
            out.stderr.contains(&dir.display().to_string()),
            "{}",
            out.stderr
        );
        let fresh = Home::new();
        let out = fresh
            .cmd([
                "init",
                "--domain",
                "a.test",
                "--caroot",
                dir.to_str().unwrap(),
            ])
            .status(2);
        assert!(
            out.stderr.contains(needle),
            "{}: {}",
            dir.display(),
            out.stderr
        );
        assert!(snapshot(fresh.path()).is_empty());
        assert_eq!(
            snapshot(home.path()),
            before,
            "{} changed something",
            dir.display()
        );
    }
}

#[test]
fn unwritable_places_are_clear_errors() {
    let home = initialised();
    let blocker = home.path().join("a-file");
    fs::write(&blocker, "x").unwrap();
    let before = snapshot(home.path());
    let out_dir = blocker.join("certs");
    let out = home
        .cmd(["cert", "--out-dir", out_dir.to_str().unwrap(), "a.test"])
        .status(1);
    assert!(
        out.stderr.contains(&out_dir.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(home.path()), before);

    // A CA directory that cannot be created: init fails and writes no config.
    let fresh = Home::new();
    let out = fresh
        .cmd(["init", "--domain", "a.test"])
        .env("CAROOT", blocker.join("ca"))
        .status(1);
    assert!(out.stderr.contains("a-file"), "{}", out.stderr);
    assert!(snapshot(fresh.path()).is_empty());
}

#[test]
fn cert_without_a_ca_or_names_says_what_to_do() {
    let home = Home::new();
    let out = home.cmd(["cert"]).status(2);
    assert!(out.stderr.contains("ohproxy init"), "{}", out.stderr);
    let out = home.cmd(["cert", "a.test"]).status(1);
    assert!(
        out.stderr.contains("no CA") && out.stderr.contains("ohproxy init"),
        "{}",
        out.stderr
    );
    assert!(snapshot(home.path()).is_empty());
}

#[test]
fn an_adopted_ca_is_never_replaced() {
    let home = initialised();
    let adopted = ca_copy(&home, "adopted");
    let fresh = Home::new();
    fresh
        .cmd([
            "init",
            "--domain",
            "a.test",
            "--caroot",
            adopted.to_str().unwrap(),
        ])
        .ok();
    let before = snapshot(&adopted);
    let out = fresh.cmd(["ca", "replace", "--force"]).status(2);
    assert!(out.stderr.contains("adopted"), "{}", out.stderr);
    assert_eq!(snapshot(&adopted), before);
}
