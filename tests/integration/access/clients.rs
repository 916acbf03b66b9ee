//! Client certificates through nginx: no certificate and another CA's are refused, ours
//! pass (HTTP and WebSocket), a revoked one is refused while others still work (and so is
//! the last one, once revoked), the
//! PKCS#12 bundle opens with `openssl pkcs12` and the printed password only, and the
//! Docker bridge passes without one.

use std::path::{Path, PathBuf};

use super::{
    Site, access_dir, assert_public_paths, doctor_https, status_from_bridge, websocket_echoes,
};
use crate::support::tool;

#[test]
fn client_cert_mode_lets_in_only_our_unrevoked_clients() {
    let Some(site) = Site::new("client-cert", |home| {
        home.cmd(["client", "add", "phone"]).ok();
        home.cmd(["client", "add", "laptop"]).ok();
    }) else {
        return;
    };
    let bundles = site.home.state().join("access").join("clients");
    let work = site.home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // A bundle from a fresh `client add`, with the password printed.
    let out = site.home.cmd(["client", "add", "tablet"]).ok();
    let tablet_pw = out.stdout.trim();
    let tablet = pem_from_p12(
        &bundles.join("tablet.p12"),
        tablet_pw,
        &work.join("tablet.pem"),
    );
    assert!(
        !tool_ok(&bundles.join("tablet.p12"), "wrong password"),
        "a wrong password opened the bundle"
    );
    let client = site.client_with(&tablet);
    assert_eq!(client.get("/").status, 200);
    websocket_echoes(&client);

    let anonymous = site.client().get("/");
    assert_eq!(anonymous.status, 403, "{}", anonymous.text());
    let stranger = stranger_identity(&work);
    let refused = site.client_with(&stranger).request("GET", "/", &[], b"");
    assert_eq!(
        refused.map(|r| r.status).ok(),
        Some(400),
        "another CA's certificate"
    );
    assert_public_paths(&site);

    // Revoked: refused; another client still works.
    let laptop = site.home.cmd(["client", "add", "laptop2"]).ok();
    let laptop = pem_from_p12(
        &bundles.join("laptop2.p12"),
        laptop.stdout.trim(),
        &work.join("laptop2.pem"),
    );
    site.home.cmd(["client", "revoke", "tablet"]).ok();
    let revoked = site.client_with(&tablet).request("GET", "/", &[], b"");
    assert_eq!(revoked.map(|r| r.status).ok(), Some(400), "revoked");
    assert_eq!(site.client_with(&laptop).get("/").status, 200);
    let doctor = access_dir(&site).join("doctor-client.pem");
    assert_eq!(site.client_with(&doctor).get("/").status, 200);
    assert_eq!(doctor_https(&site), "ok");
    let list = site.cmd(&["client", "list"]).stdout;
    assert!(
        list.contains("tablet\t") && list.contains("revoked"),
        "{list}"
    );

    if let Some(status) = status_from_bridge(&site, "/health") {
        assert_eq!(status, 200, "from the Docker bridge, without a certificate");
        assert_eq!(site.client().get("/health").status, 403);
    }

    // The last active client revoked (a lost phone): it goes live all the same.
    for name in ["phone", "laptop"] {
        site.home.cmd(["client", "revoke", name]).ok();
    }
    let last = site.home.cmd(["client", "revoke", "laptop2"]).ok();
    assert!(
        last.stderr.contains("no client certificate is left active"),
        "{}",
        last.stderr
    );
    let revoked = site.client_with(&laptop).request("GET", "/", &[], b"");
    assert_eq!(
        revoked.map(|r| r.status).ok(),
        Some(400),
        "the last revoked"
    );
    assert_eq!(doctor_https(&site), "ok");
}

/// Opens a bundle with `openssl pkcs12` and writes its certificates and key as one PEM.
fn pem_from_p12(bundle: &Path, password: &str, out: &Path) -> PathBuf {
    let result = tool(
        "openssl",
        [
            "pkcs12".as_ref(),
            "-in".as_ref(),
            bundle.as_os_str(),
            "-passin".as_ref(),
            format!("pass:{password}").as_ref(),
            "-noenc".as_ref(),
            "-out".as_ref(),
            out.as_os_str(),
        ],
    );
    assert!(
        result.status.success(),
        "openssl pkcs12: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let text = std::fs::read_to_string(out).unwrap();
    assert!(text.contains("PRIVATE KEY") && text.matches("BEGIN CERTIFICATE").count() == 2);
    out.to_path_buf()
}

fn tool_ok(bundle: &Path, password: &str) -> bool {
    let pass = format!("pass:{password}");
    let args = [
        "pkcs12",
        "-in",
        bundle.to_str().unwrap(),
        "-passin",
        &pass,
        "-noenc",
    ];
    tool("openssl", args).status.success()
}

/// A client certificate and key from a CA of its own, made with openssl.
fn stranger_identity(work: &Path) -> PathBuf {
    let key = work.join("stranger.pem");
    let result = tool(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-noenc",
            "-days",
            "2",
            "-subj",
            "/CN=stranger",
            "-addext",
            "extendedKeyUsage=clientAuth",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            work.join("stranger-cert.pem").to_str().unwrap(),
        ],
    );
    assert!(result.status.success());
    let both = std::fs::read_to_string(work.join("stranger-cert.pem")).unwrap()
        + &std::fs::read_to_string(&key).unwrap();
    std::fs::write(&key, both).unwrap();
    key
}

/// `client add --legacy` writes the bundle Apple's importers open (3DES, SHA-1 MAC); the
/// default is PBES2/AES-256 with a SHA-256 MAC. Both open with the printed password only,
/// and the legacy one's certificate gets in like any other.
#[test]
fn legacy_bundles_use_the_format_apple_devices_import() {
    let Some(site) = Site::new("client-cert", |home| {
        home.cmd(["client", "add", "laptop"]).ok();
    }) else {
        return;
    };
    let bundles = site.home.state().join("access").join("clients");
    let work = site.home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let ipad = site.home.cmd(["client", "add", "ipad", "--legacy"]).ok();
    let modern = site.home.cmd(["client", "add", "pixel"]).ok();

    let info = |name: &str, password: &str| {
        let pass = format!("pass:{password}");
        let bundle = bundles.join(format!("{name}.p12"));
        let args = [
            "pkcs12",
            "-info",
            "-noout",
            "-in",
            bundle.to_str().unwrap(),
            "-passin",
            &pass,
        ];
        let out = tool("openssl", args);
        assert!(out.status.success(), "{name}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let legacy = info("ipad", ipad.stdout.trim());
    assert!(legacy.contains("MAC: sha1"), "{legacy}");
    assert!(
        legacy.contains("pbeWithSHA1And3-KeyTripleDES-CBC") && !legacy.contains("PBES2"),
        "{legacy}"
    );
    let default = info("pixel", modern.stdout.trim());
    assert!(default.contains("MAC: sha256"), "{default}");
    assert!(
        default.contains("PBES2") && default.contains("AES-256-CBC"),
        "{default}"
    );
    assert!(!tool_ok(&bundles.join("ipad.p12"), "wrong password"));

    let identity = pem_from_p12(
        &bundles.join("ipad.p12"),
        ipad.stdout.trim(),
        &work.join("ipad.pem"),
    );
    assert_eq!(site.client_with(&identity).get("/").status, 200);
}
