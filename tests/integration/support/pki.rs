//! A throw-away CA and leaf made with the openssl command line, for tests that must not
//! depend on ohproxy's own CA code.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A self-signed P-256 certificate made by openssl as `dir/rootCA.pem` with its key in
/// `dir/rootCA-key.pem`, where ohproxy looks for a CA. `ca` picks whether it is a CA
/// (`CA:TRUE, pathlen:0`, keyCertSign) or a plain server certificate.
pub fn openssl_root(dir: &Path, subject: &str, ca: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let cert = dir.join("rootCA.pem");
    let key = dir.join("rootCA-key.pem");
    let s = |p: &Path| p.display().to_string();
    let constraints = if ca {
        "basicConstraints=critical,CA:TRUE,pathlen:0"
    } else {
        "basicConstraints=critical,CA:FALSE"
    };
    let usage = if ca {
        "keyUsage=critical,keyCertSign,cRLSign"
    } else {
        "keyUsage=critical,digitalSignature"
    };
    run_openssl(
        vec![
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ],
        &[
            "-days",
            "30",
            "-subj",
            subject,
            "-addext",
            constraints,
            "-addext",
            usage,
            "-keyout",
            &s(&key),
            "-out",
            &s(&cert),
        ],
    );
    cert
}

/// A throw-away CA and a leaf for `domain`, `localhost` and 127.0.0.1, made with openssl.
pub struct TestPki {
    pub ca_cert: PathBuf,
    pub leaf_cert: PathBuf,
    pub leaf_key: PathBuf,
}

/// Writes `ca.pem`/`ca-key.pem` into `work` and the leaf as `cert`/`key` (e.g. the paths
/// `nginx::cert_files` gives for the config). Needs `openssl` on PATH.
pub fn openssl_pki(work: &Path, domain: &str, cert: &Path, key: &Path) -> TestPki {
    std::fs::create_dir_all(work).unwrap();
    for file in [cert, key] {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
    }
    let ca_cert = work.join("ca.pem");
    let ca_key = work.join("ca-key.pem");
    let csr = work.join("leaf.csr");
    let ext = work.join("leaf.ext");
    std::fs::write(
        &ext,
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:{domain},DNS:localhost,IP:127.0.0.1\n"
        ),
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let s = |p: &Path| p.display().to_string();
    run_openssl(
        [
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &s(&ca_key), "-out", &s(&ca_cert)],
        ]
        .concat(),
        &[
            "-days",
            "2",
            "-subj",
            "/CN=ohproxy test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    run_openssl(
        [&["req"][..], &ec, &["-keyout", &s(key), "-out", &s(&csr)]].concat(),
        &["-subj", &format!("/CN={domain}")],
    );
    run_openssl(
        vec![
            "x509",
            "-req",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca_cert),
            "-CAkey",
            &s(&ca_key),
        ],
        &[
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &s(&ext),
            "-out",
            &s(cert),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
    TestPki {
        ca_cert,
        leaf_cert: cert.to_path_buf(),
        leaf_key: key.to_path_buf(),
    }
}

fn run_openssl(args: Vec<&str>, more: &[&str]) {
    let out = Command::new("openssl")
        .args(&args)
        .args(more)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} {more:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
