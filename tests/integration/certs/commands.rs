//! What `init` and the `ca` subcommands say and do around the CA: a second `init`, the
//! printed fingerprint and trust steps, `ca path`, `ca export`, `ca replace`.

use std::fs;

use super::*;

#[test]
fn init_again_changes_nothing_and_says_why() {
    let home = initialised();
    let config = home.path().join("config.toml");
    let before = (
        fs::read(&config).unwrap(),
        fs::read(home.ca_dir().join("rootCA.pem")).unwrap(),
    );
    let out = home.cmd(["init", "--domain", "other.test"]).ok();
    assert!(out.stderr.contains("nothing changed"), "{}", out.stderr);
    let after = (
        fs::read(&config).unwrap(),
        fs::read(home.ca_dir().join("rootCA.pem")).unwrap(),
    );
    assert_eq!(before, after);

    // --force rewrites the config but keeps the CA.
    home.cmd(["init", "--domain", "other.test", "--force"]).ok();
    assert!(fs::read_to_string(&config).unwrap().contains("other.test"));
    assert_eq!(
        fs::read(home.ca_dir().join("rootCA.pem")).unwrap(),
        before.1
    );
}

#[test]
fn init_prints_fingerprint_trust_steps_and_hosts_line() {
    let home = Home::new();
    let out = home.cmd(["init", "--domain", "oh.home.arpa"]).ok();
    let fingerprint = home.cmd(["ca", "show"]).ok().stdout;
    let fp = fingerprint
        .lines()
        .find_map(|l| l.strip_prefix("sha-256:"))
        .unwrap()
        .trim();
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert!(out.stderr.contains(fp), "{}", out.stderr);
    for needle in [
        "security add-trusted-cert",
        "certutil -user -addstore Root",
        "update-ca-certificates",
        "Firefox",
        "full trust",
        "Android",
        " oh.home.arpa\n",
        "/etc/hosts",
    ] {
        assert!(
            out.stderr.contains(needle),
            "missing {needle:?} in\n{}",
            out.stderr
        );
    }
    // The fingerprint is the SHA-256 of the DER that `ca export --der` writes.
    let der = home.cmd(["ca", "export", "--der"]).ok().stdout_bytes;
    let digest = sha256_colon(&der);
    assert_eq!(digest, fp);
    assert_eq!(der, super::der(&home.ca_dir().join("rootCA.pem")));
}

fn sha256_colon(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[test]
fn ca_path_and_export_to_a_file() {
    let home = initialised();
    let path = home.cmd(["ca", "path"]).ok().stdout;
    assert_eq!(path.trim(), home.ca_dir().display().to_string());
    let out = home.path().join("export.pem");
    home.cmd(["ca", "export", "--out", out.to_str().unwrap()])
        .ok();
    assert_eq!(
        fs::read(&out).unwrap(),
        fs::read(home.ca_dir().join("rootCA.pem")).unwrap()
    );
    let pem = home.cmd(["ca", "export"]).ok().stdout;
    assert_eq!(pem.as_bytes(), fs::read(&out).unwrap());
}

#[test]
fn ca_replace_needs_force_and_keeps_the_old_pair() {
    let home = initialised();
    let old = fs::read(home.ca_dir().join("rootCA.pem")).unwrap();
    let out = home.cmd(["ca", "replace"]).status(2);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(fs::read(home.ca_dir().join("rootCA.pem")).unwrap(), old);

    let out = home.cmd(["ca", "replace", "--force"]).ok();
    assert!(out.stderr.contains("warning"), "{}", out.stderr);
    let new = fs::read(home.ca_dir().join("rootCA.pem")).unwrap();
    assert_ne!(new, old);
    let backup = listing(&home.ca_dir())
        .into_iter()
        .find(|n| n.starts_with("replaced-"))
        .unwrap();
    assert_eq!(
        fs::read(home.ca_dir().join(&backup).join("rootCA.pem")).unwrap(),
        old
    );
    home.cmd(["cert", "n.test"]).ok();
    assert_verifies(
        &home.ca_dir().join("rootCA.pem"),
        &certs(&home).join("n.test.pem"),
    );
}
