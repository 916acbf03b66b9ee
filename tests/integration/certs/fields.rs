//! What `init` and `cert` write: the CA's and the leaves' fields, modes and chains, and
//! the `ca` subcommands that read them.

use std::collections::HashSet;
use std::fs;
use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::*;

use super::*;
use crate::support::require;

#[test]
fn the_ca_is_a_pathlen_zero_root_with_a_common_name() {
    let home = initialised();
    let (cert, key) = (
        home.ca_dir().join("rootCA.pem"),
        home.ca_dir().join("rootCA-key.pem"),
    );
    assert_eq!(mode(&cert), 0o644);
    assert!(
        matches!(mode(&key), 0o400 | 0o600),
        "CA key mode {:o}",
        mode(&key)
    );
    assert!(key_matches(&cert, &key));
    assert!(
        fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );

    with_cert(&cert, |c| {
        let bc = c.basic_constraints().unwrap().expect("basic constraints");
        assert!(bc.critical && bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = c.key_usage().unwrap().expect("key usage");
        assert!(ku.critical && ku.value.key_cert_sign());
        assert!(!ku.value.digital_signature());
        let cn = c.subject().iter_common_name().next().expect("a CN");
        assert!(cn.as_str().unwrap().starts_with("ohproxy "));
        let org = c.subject().iter_organization().next().unwrap();
        assert_eq!(org.as_str().unwrap(), "ohproxy development CA");
        assert!(c.raw_serial().len() >= 15 && c.raw_serial().len() <= 16);
        let v = c.validity();
        let years = (v.not_after.timestamp() - v.not_before.timestamp()) / (365 * 86400);
        assert_eq!(years, 10);
        assert_eq!(
            c.public_key().algorithm.algorithm.to_id_string(),
            "1.2.840.10045.2.1"
        );
    });
}

#[test]
fn an_rsa_ca_can_be_asked_for() {
    let home = Home::new();
    home.cmd(["init", "--domain", "site.test", "--ca-key-type", "rsa-3072"])
        .ok();
    let cert = home.ca_dir().join("rootCA.pem");
    let bits = with_cert(&cert, |c| match c.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => rsa.key_size(),
        other => panic!("not RSA: {other:?}"),
    });
    assert_eq!(bits, 3072);
    home.cmd(["cert", "a.test"]).ok();
    assert_verifies(&cert, &certs(&home).join("a.test.pem"));
}

/// (arguments, SAN as openssl would list it, RSA key, client)
const CASES: &[(&[&str], &[&str], bool, bool)] = &[
    (&["site.test"], &["site.test"], false, false),
    (&["127.0.0.1"], &["127.0.0.1"], false, false),
    (&["::1", "site.test"], &["::1", "site.test"], false, false),
    (&["*.wild.test"], &["*.wild.test"], false, false),
    (
        &["a.test", "b.test", "10.1.2.3"],
        &["a.test", "b.test", "10.1.2.3"],
        false,
        true,
    ),
    (
        &["--key-type", "rsa-2048", "r.test"],
        &["r.test"],
        true,
        false,
    ),
    (
        &["--key-type", "rsa-3072", "--client", "c.test"],
        &["c.test"],
        true,
        true,
    ),
];

#[test]
fn leaves_carry_exactly_what_was_asked_for() {
    require("openssl");
    let home = initialised();
    let ca = home.ca_dir().join("rootCA.pem");
    let ca_skid = with_cert(&ca, key_ids)
        .0
        .expect("the CA has a subject key id");
    for (args, sans, rsa, client) in CASES {
        let mut argv = vec!["cert", "--days", "30"];
        argv.extend_from_slice(args);
        if *client && !args.contains(&"--client") {
            argv.push("--client");
        }
        let out = home.cmd(&argv).ok();
        let stem = out
            .stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix("certificate:"));
        let leaf = std::path::PathBuf::from(stem.expect("status names the certificate").trim());
        let key = leaf.with_file_name(
            leaf.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".pem", "-key.pem"),
        );
        assert!(
            out.stderr.contains(&key.display().to_string()),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("expires:"), "{}", out.stderr);
        assert_eq!(mode(&leaf), 0o644);
        assert_eq!(mode(&key), 0o600);
        assert!(key_matches(&leaf, &key));
        assert_verifies(&ca, &leaf);
        with_cert(&leaf, |c| check_leaf(c, sans, *rsa, *client, 30));
        assert_eq!(
            with_cert(&leaf, key_ids).1.as_ref(),
            Some(&ca_skid),
            "AKI = CA's SKID"
        );
    }
}

/// The subject and authority key identifiers of a certificate.
fn key_ids(c: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut skid, mut akid) = (None, None);
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => skid = Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                akid = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
            }
            _ => {}
        }
    }
    (skid, akid)
}

fn check_leaf(c: &X509Certificate<'_>, sans: &[&str], rsa: bool, client: bool, days: i64) {
    let found: Vec<String> = c
        .subject_alternative_name()
        .unwrap()
        .expect("a SAN")
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => d.to_string(),
            GeneralName::IPAddress(b) => match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()).to_string(),
                _ => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()).to_string(),
            },
            other => panic!("unexpected SAN {other:?}"),
        })
        .collect();
    assert_eq!(found, sans);
    assert!(
        c.subject().iter_common_name().next().is_none(),
        "a leaf has no CN"
    );
    let bc = c.basic_constraints().unwrap();
    assert!(bc.is_none_or(|bc| !bc.value.ca), "a leaf is not a CA");
    let ku = c.key_usage().unwrap().expect("key usage");
    assert!(ku.critical && ku.value.digital_signature());
    assert_eq!(ku.value.key_encipherment(), rsa);
    assert!(!ku.value.key_cert_sign());
    let eku = c.extended_key_usage().unwrap().expect("EKU").value;
    assert!(eku.server_auth);
    assert_eq!(eku.client_auth, client);
    assert!(key_ids(c).1.is_some(), "a leaf names its issuer's key");
    let v = c.validity();
    // Inclusive of both ends, the leaf lasts exactly `days` days.
    assert_eq!(
        v.not_after.timestamp() - v.not_before.timestamp() + 1,
        days * 86400
    );
    let now = ::time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(v.not_before.timestamp() <= now && v.not_before.timestamp() > now - 2 * 3600);
}

#[test]
fn the_default_validity_is_397_days_and_825_is_the_cap() {
    let home = initialised();
    home.cmd(["cert", "a.test"]).ok();
    home.cmd(["cert", "--days", "825", "b.test"]).ok();
    for (file, days) in [("a.test.pem", 397), ("b.test.pem", 825)] {
        let v = with_cert(&certs(&home).join(file), |c| {
            c.validity().not_after.timestamp() - c.validity().not_before.timestamp() + 1
        });
        assert_eq!(v, days * 86400, "{file}");
    }
}

#[test]
fn a_hundred_leaves_have_unique_serials_and_keys() {
    let home = initialised();
    let mut serials = HashSet::new();
    let mut keys = HashSet::new();
    for _ in 0..100 {
        home.cmd(["-q", "cert", "same.test"]).ok();
        let leaf = certs(&home).join("same.test.pem");
        serials.insert(with_cert(&leaf, |c| c.raw_serial().to_vec()));
        keys.insert(key_public_bits(&certs(&home).join("same.test-key.pem")));
    }
    assert_eq!(serials.len(), 100);
    assert_eq!(keys.len(), 100);
}

#[test]
fn cert_without_names_uses_the_config() {
    let home = Home::new();
    home.cmd([
        "init",
        "--domain",
        "oh.home.arpa",
        "--name",
        "192.168.7.7",
        "--name",
        "oh.lan.test",
    ])
    .ok();
    home.cmd(["cert"]).ok();
    let leaf = certs(&home).join("oh.home.arpa+2.pem");
    with_cert(&leaf, |c| {
        check_leaf(
            c,
            &["oh.home.arpa", "192.168.7.7", "oh.lan.test"],
            false,
            false,
            397,
        )
    });
}

#[test]
fn unicode_names_become_punycode() {
    let home = initialised();
    home.cmd(["cert", "bücher.test"]).ok();
    let leaf = certs(&home).join("xn--bcher-kva.test.pem");
    with_cert(&leaf, |c| {
        check_leaf(c, &["xn--bcher-kva.test"], false, false, 397)
    });
}
