//! The rendered site file in a real nginx: TLS, HTTP/2, WebSockets, redirects, forwarded
//! headers, uploads, streaming and logs, seen by a client that trusts only the test CA.

use std::time::Duration;

use crate::support::nginx::{Nginx, openssl_pki};
use crate::support::require;

/// The harness itself: start, serve, reload to new workers, report errors, stop on drop.
#[test]
fn harness_starts_reloads_and_stops() {
    let Some(binary) = require("nginx") else {
        return;
    };
    require("openssl").expect("openssl");
    let mut nginx = Nginx::new(&binary);
    let pki = openssl_pki(
        &nginx.prefix().join("pki"),
        "harness.test",
        &nginx.cert_dir().join("leaf.pem"),
        &nginx.cert_dir().join("leaf-key.pem"),
    );
    assert!(pki.ca_cert.is_file());
    nginx.write_site(
        "plain.conf",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 200 \"one\\n\"; }} }}\n",
            nginx.http_port
        ),
    );
    nginx.start();
    let master = nginx.master_pid();
    let body = || {
        let out = crate::support::tool(
            "curl",
            ["-s", &format!("http://127.0.0.1:{}/", nginx.http_port)],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(body(), "one\n");
    let workers = nginx.worker_pids();
    assert_eq!(workers.len(), 2, "{:?}", nginx.children());

    nginx.write_site(
        "plain.conf",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 200 \"two\\n\"; }} }}\n",
            nginx.http_port
        ),
    );
    assert!(nginx.reload(), "{}", nginx.error_log());
    assert_eq!(body(), "two\n");
    assert!(nginx.worker_pids().iter().all(|p| !workers.contains(p)));

    nginx.write_site("broken.conf", "server { listen nonsense }\n");
    assert!(!nginx.test_config().0);
    assert!(!nginx.reload());
    assert_eq!(body(), "two\n");

    drop(nginx);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!std::path::Path::new(&format!("/proc/{master}")).exists());
}
