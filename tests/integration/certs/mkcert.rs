//! Interoperability with the real mkcert: each tool uses the other's CA, and both name the
//! files the same way for the same arguments.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::support::require;

/// mkcert with its CA in `caroot`, run in `cwd`, with a throw-away HOME so it cannot
/// find, let alone change, this machine's trust stores (it is never asked to -install).
fn mkcert(caroot: &Path, cwd: &Path, args: &[&str]) {
    let out = Command::new("mkcert")
        .args(args)
        .current_dir(cwd)
        .env("CAROOT", caroot)
        .env("HOME", cwd)
        .env("TRUST_STORES", "")
        .output()
        .expect("mkcert runs");
    assert!(
        out.status.success(),
        "mkcert {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA made by mkcert (its first run creates the CA), RSA by default or ECDSA.
fn mkcert_ca(ecdsa: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let args: &[&str] = if ecdsa {
        &["-ecdsa", "first.test"]
    } else {
        &["first.test"]
    };
    mkcert(dir.path(), scratch.path(), args);
    assert!(dir.path().join("rootCA-key.pem").exists());
    dir
}

fn files_and_modes(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    listing(dir)
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            (name, fs::read(&path).unwrap(), mode(&path))
        })
        .collect()
}

#[test]
fn an_mkcert_ca_is_adopted_unchanged_and_issues_leaves_it_verifies() {
    if require("mkcert").is_none() || require("openssl").is_none() {
        return;
    }
    for ecdsa in [false, true] {
        let caroot = mkcert_ca(ecdsa);
        let before = files_and_modes(caroot.path());
        let home = Home::new();
        home.cmd([
            "init",
            "--domain",
            "a.test",
            "--caroot",
            caroot.path().to_str().unwrap(),
        ])
        .ok();
        let config = fs::read_to_string(home.path().join("config.toml")).unwrap();
        assert!(
            config.contains(&caroot.path().display().to_string()),
            "{config}"
        );
        assert!(!home.ca_dir().exists(), "an adopted CA is not copied");

        for key_type in ["ecdsa-p256", "rsa-2048"] {
            home.cmd(["cert", "--key-type", key_type, "a.test", "10.9.8.7"])
                .ok();
            assert_verifies(
                &caroot.path().join("rootCA.pem"),
                &certs(&home).join("a.test+1.pem"),
            );
        }
        assert_eq!(
            files_and_modes(caroot.path()),
            before,
            "mkcert's CA is untouched"
        );
    }
}

#[test]
fn init_finds_the_mkcert_ca_by_asking_mkcert() {
    if require("mkcert").is_none() {
        return;
    }
    let caroot = mkcert_ca(true);
    let home = Home::new();
    // mkcert reads CAROOT for -CAROOT; ohproxy records the directory it printed.
    let out = home
        .cmd(["init", "--domain", "a.test", "--mkcert-ca"])
        .env("CAROOT", caroot.path())
        .ok();
    assert!(out.stderr.contains("adopted"), "{}", out.stderr);
    let config = fs::read_to_string(home.path().join("config.toml")).unwrap();
    assert!(
        config.contains(&caroot.path().display().to_string()),
        "{config}"
    );
    home.cmd(["cert", "b.test"]).ok();
    assert_verifies(
        &caroot.path().join("rootCA.pem"),
        &certs(&home).join("b.test.pem"),
    );
}

#[test]
fn mkcert_issues_from_our_ca() {
    if require("mkcert").is_none() || require("openssl").is_none() {
        return;
    }
    for key_type in ["ecdsa-p256", "rsa-3072"] {
        let home = Home::new();
        home.cmd(["init", "--domain", "a.test", "--ca-key-type", key_type])
            .ok();
        let scratch = tempfile::tempdir().unwrap();
        mkcert(
            &home.ca_dir(),
            scratch.path(),
            &["from-mkcert.test", "127.0.0.1"],
        );
        assert_verifies(
            &home.ca_dir().join("rootCA.pem"),
            &scratch.path().join("from-mkcert.test+1.pem"),
        );
    }
}

#[test]
fn file_names_match_mkcert() {
    if require("mkcert").is_none() {
        return;
    }
    let caroot = mkcert_ca(true);
    let home = Home::new();
    home.cmd([
        "init",
        "--domain",
        "a.test",
        "--caroot",
        caroot.path().to_str().unwrap(),
    ])
    .ok();
    let cases: &[&[&str]] = &[
        &["foo.test"],
        &["foo.test", "bar.test", "10.0.0.1"],
        &["*.foo.test"],
        &["*.foo.test", "foo.test"],
        &["::1"],
        &["2001:db8::1", "foo.test"],
        &["-client", "foo.test"],
        &["-client", "*.foo.test", "::1"],
        &["foo.test", "foo.test"],
        &["Foo.Test"],
        &["0:0:0:0:0:0:0:1", "foo.test"],
    ];
    for args in cases {
        let theirs = tempfile::tempdir().unwrap();
        let ours = tempfile::tempdir().unwrap();
        let mut mkcert_args = vec!["-ecdsa"];
        mkcert_args.extend_from_slice(args);
        mkcert(caroot.path(), theirs.path(), &mkcert_args);
        let mut our_args = vec!["cert", "--out-dir", ours.path().to_str().unwrap()];
        for arg in *args {
            our_args.push(if *arg == "-client" { "--client" } else { arg });
        }
        home.cmd(&our_args).ok();
        assert_eq!(listing(ours.path()), listing(theirs.path()), "{args:?}");
    }
}
