//! Real TLS handshakes in memory with rustls: the server presents an ohproxy leaf, the
//! client trusts only the ohproxy CA.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use super::*;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Handshakes as a client that asks for `name`; `Err` holds the client's error.
fn handshake(ca: &Path, leaf: &Path, key: &Path, name: &str) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(der(ca))).unwrap();
    let client_config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(der(leaf))],
            PrivateKeyDer::from_pem_file(key).unwrap(),
        )
        .unwrap();
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let mut client = ClientConnection::new(Arc::new(client_config), server_name).unwrap();
    let mut server = ServerConnection::new(Arc::new(server_config)).unwrap();

    for _ in 0..10 {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        // The server's own error is only the echo of the client's alert.
        let _ = server.process_new_packets();
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets()?;
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
    }
    panic!("the handshake did not finish");
}

#[test]
fn handshakes_succeed_for_names_in_the_san_and_fail_for_others() {
    for key_type in ["ecdsa-p256", "rsa-2048"] {
        let home = initialised();
        home.cmd([
            "cert",
            "--key-type",
            key_type,
            "site.test",
            "*.wild.test",
            "127.0.0.1",
            "::1",
        ])
        .ok();
        let ca = home.ca_dir().join("rootCA.pem");
        let leaf = certs(&home).join("site.test+3.pem");
        let key = certs(&home).join("site.test+3-key.pem");

        for name in ["site.test", "a.wild.test", "127.0.0.1", "::1"] {
            handshake(&ca, &leaf, &key, name).unwrap_or_else(|e| panic!("{key_type} {name}: {e}"));
        }
        for name in ["other.test", "b.a.wild.test", "wild.test", "127.0.0.2"] {
            let err = handshake(&ca, &leaf, &key, name).expect_err(name);
            assert!(
                matches!(err, rustls::Error::InvalidCertificate(_)),
                "{key_type} {name}: {err}"
            );
        }
    }
}

#[test]
fn a_client_that_trusts_another_ca_refuses_the_leaf() {
    let home = initialised();
    let other = initialised();
    home.cmd(["cert", "site.test"]).ok();
    let err = handshake(
        &other.ca_dir().join("rootCA.pem"),
        &certs(&home).join("site.test.pem"),
        &certs(&home).join("site.test-key.pem"),
        "site.test",
    )
    .expect_err("unknown issuer");
    assert!(matches!(err, rustls::Error::InvalidCertificate(_)), "{err}");
}
