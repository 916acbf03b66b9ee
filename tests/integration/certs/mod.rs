//! The certificate commands against real tools: openssl checks every chain, x509-parser
//! reads every field, rustls does real handshakes, and the Debian mkcert checks that both
//! tools can use each other's CA and name files the same way.

mod commands;
mod errors;
mod fields;
mod kill;
mod mkcert;
mod tls;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use x509_parser::prelude::*;

use crate::support::{Home, tool};

/// A home with a config for `site.test` and a CA, made by `ohproxy init`.
pub fn initialised() -> Home {
    let home = Home::new();
    home.cmd(["init", "--domain", "site.test"]).ok();
    home
}

/// The certs directory of a home.
pub fn certs(home: &Home) -> PathBuf {
    home.state().join("certs")
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The DER of the first certificate in a PEM file.
pub fn der(path: &Path) -> Vec<u8> {
    let text = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, pem) = parse_x509_pem(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(pem.label, "CERTIFICATE", "{}", path.display());
    pem.contents
}

/// Runs `f` on the parsed certificate in a PEM file.
pub fn with_cert<T>(path: &Path, f: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
    let der = der(path);
    let (rest, cert) = parse_x509_certificate(&der).expect("certificate parses");
    assert!(rest.is_empty());
    f(&cert)
}

/// `openssl verify -CAfile ca leaf` succeeds.
pub fn assert_verifies(ca: &Path, leaf: &Path) {
    let out = tool(
        "openssl",
        [
            "verify".as_ref(),
            "-CAfile".as_ref(),
            ca.as_os_str(),
            leaf.as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "openssl verify {} against {}: {}{}",
        leaf.display(),
        ca.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The public key bits of a PEM private key, as rcgen reads it.
pub fn key_public_bits(path: &Path) -> Vec<u8> {
    use rcgen::PublicKeyData;
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let key = rcgen::KeyPair::from_pem(&text)
        .unwrap_or_else(|e| panic!("{} is not a key: {e}", path.display()));
    key.der_bytes().to_vec()
}

/// True when the key file holds the private half of the certificate's public key.
pub fn key_matches(cert: &Path, key: &Path) -> bool {
    let cert_bits = with_cert(cert, |c| c.public_key().subject_public_key.data.to_vec());
    cert_bits == key_public_bits(key)
}

/// Every file in a directory, by name, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
