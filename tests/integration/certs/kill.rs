//! A kill at any moment of `ohproxy cert` leaves no certificate without its key and no
//! half-written file under the names that matter; what a killed CA creation leaves is
//! recovered by the next `init`.

use std::fs;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;

#[test]
fn killing_cert_mid_write_never_leaves_a_cert_without_its_key() {
    let home = initialised();
    let dir = certs(&home);
    // A first pair, so that most runs replace one.
    let started = std::time::Instant::now();
    home.cmd(["cert", "k.test", "10.0.0.9"]).ok();
    let run_time = started.elapsed().as_micros() as u64;
    let mut killed = 0;
    for round in 0..80u64 {
        let key_type = if round % 3 == 0 {
            "rsa-2048"
        } else {
            "ecdsa-p256"
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_ohproxy"))
            .args(["-q", "cert", "--key-type", key_type, "k.test", "10.0.0.9"])
            .env("OHPROXY_HOME", home.path())
            .env_remove("CAROOT")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over a whole run: start-up, key generation, each write.
        let at = run_time * ((round * 37) % 80) / 70;
        std::thread::sleep(Duration::from_micros(at));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        check_pairs(&dir);
    }
    assert!(
        killed > 10,
        "only {killed} runs were killed; the test proved little"
    );
}

/// Every certificate has its key, matching, and every named file parses.
fn check_pairs(dir: &Path) {
    for name in listing(dir) {
        // Temporary files of a killed writer are hidden and never read by anything.
        if name.starts_with(".ohproxy-") {
            continue;
        }
        let path = dir.join(&name);
        if name.ends_with("-key.pem") {
            key_public_bits(&path);
            continue;
        }
        let key = dir.join(name.replace(".pem", "-key.pem"));
        assert!(key.exists(), "{name} has no key");
        assert!(key_matches(&path, &key), "{name} does not match its key");
        assert!(fs::metadata(&path).unwrap().len() > 0);
    }
}

/// A CA creation killed between its two renames leaves the key alone (it goes in first).
/// The next `init` keeps that key aside, untouched, and makes a whole CA.
#[test]
fn a_ca_key_left_without_its_certificate_is_set_aside_by_the_next_init() {
    let donor = initialised();
    let key = fs::read(donor.ca_dir().join("rootCA-key.pem")).unwrap();
    let home = Home::new();
    fs::create_dir_all(home.ca_dir()).unwrap();
    let orphan = home.ca_dir().join("rootCA-key.pem");
    fs::write(&orphan, &key).unwrap();
    fs::set_permissions(&orphan, fs::Permissions::from_mode(0o400)).unwrap();

    let out = home.cmd(["init", "--domain", "orphan.test"]).ok();
    assert!(
        out.stderr.contains("the CA key had no certificate"),
        "{}",
        out.stderr
    );
    let aside: Vec<String> = listing(&home.ca_dir())
        .into_iter()
        .filter(|n| n.starts_with("rootCA-key.pem.without-certificate-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", listing(&home.ca_dir()));
    let aside = home.ca_dir().join(&aside[0]);
    assert_eq!(fs::read(&aside).unwrap(), key);
    assert_eq!(mode(&aside), 0o400);
    assert_ne!(fs::read(&orphan).unwrap(), key, "a new key was made");
    home.cmd(["ca", "show"]).ok();
}
