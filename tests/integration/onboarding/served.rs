//! The onboarding page through a real nginx: `ca share` publishes, `nginx render` writes
//! the site, and a private nginx serves `/ca/` on the HTTP port with the right content
//! types, never the CA's key or anything outside the published files, while every other
//! path on the HTTP port still redirects to HTTPS.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use super::{DOMAIN, Site, assert_der_parses, pem_to_der, profile_payload};
use crate::support::https::{Client, Response, parse_response};
use crate::support::nginx::Nginx;
use crate::support::require;

/// A site whose page is published and served by a running private nginx.
struct Served {
    site: Site,
    nginx: Nginx,
}

impl Served {
    fn start() -> Option<Served> {
        let binary = require("nginx")?;
        let mut nginx = Nginx::new(&binary);
        let extra = format!("{}\n", nginx.config_section());
        let site = Site::with(nginx.http_port, nginx.https_port, &extra);
        // nginx's workers run unprivileged and must walk into the temporary home.
        std::fs::set_permissions(site.home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let certs = nginx.cert_dir();
        site.home
            .cmd(["cert", "--out-dir", certs.to_str().unwrap()])
            .ok();
        site.home.cmd(["ca", "share"]).ok();
        let out = nginx.site_dir().join(format!("ohproxy-{DOMAIN}.conf"));
        site.home
            .cmd(["nginx", "render", "--out", out.to_str().unwrap()])
            .ok();
        nginx.start();
        Some(Served { site, nginx })
    }

    /// One GET on the HTTP port with `target` sent exactly as given.
    fn get(&self, target: &str) -> Response {
        let mut stream = TcpStream::connect(("127.0.0.1", self.nginx.http_port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {DOMAIN}:{}\r\nConnection: close\r\n\r\n",
            self.nginx.http_port
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        parse_response(&raw).unwrap()
    }

    fn published(&self) -> Vec<Vec<u8>> {
        std::fs::read_dir(self.site.page_dir())
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    }
}

fn content_type(response: &Response) -> &str {
    response.header("content-type").unwrap_or("")
}

#[test]
fn serves_the_ca_with_the_right_content_types() {
    let Some(served) = Served::start() else {
        return;
    };
    let der = served.site.ca_der();

    let pem = served.get("/ca/ohproxy-ca.pem");
    assert_eq!(pem.status, 200);
    assert_eq!(content_type(&pem), "application/x-pem-file");
    assert_eq!(pem_to_der(&pem.body), der);

    let crt = served.get("/ca/ohproxy-ca.crt");
    assert_eq!(crt.status, 200);
    assert_eq!(content_type(&crt), "application/x-x509-ca-cert");
    assert_der_parses(&crt.body);
    assert_eq!(crt.body, der);

    let profile = served.get("/ca/ohproxy-ca.mobileconfig");
    assert_eq!(profile.status, 200);
    assert_eq!(content_type(&profile), "application/x-apple-aspen-config");
    assert_eq!(profile_payload(&profile.body), der);

    let page = served.get("/ca/");
    assert_eq!(page.status, 200);
    assert!(
        content_type(&page).starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert!(page.text().contains(&served.site.fingerprint()));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

    // The check image also comes over HTTPS, for a client that trusts our CA.
    let https = Client::new(&served.site.ca_pem_path(), DOMAIN, served.nginx.https_port);
    let check = https.get("/ca/check.svg");
    assert_eq!(check.status, 200);
    assert_eq!(content_type(&check), "image/svg+xml");
}

#[test]
fn nothing_but_the_published_files_is_reachable() {
    let Some(served) = Served::start() else {
        return;
    };
    let key = std::fs::read(served.site.home.ca_dir().join("rootCA-key.pem")).unwrap();
    // The key is readable by nginx's workers here, so only nginx's rules keep it in.
    let mode = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(served.site.home.ca_dir().join("rootCA-key.pem"), mode).unwrap();
    let published = served.published();
    // A link slipped into the folder is not followed.
    let key_path = served.site.home.ca_dir().join("rootCA-key.pem");
    std::os::unix::fs::symlink(&key_path, served.site.page_dir().join("link.pem")).unwrap();
    let tries = [
        "/ca/link.pem",
        "/ca../ca/rootCA-key.pem",
        "/ca..%2fca%2frootCA-key.pem",
        "/ca/rootCA-key.pem",
        "/ca/rootCA.pem",
        "/rootCA-key.pem",
        "/ca/../ca/rootCA-key.pem",
        "/ca/../state/ca/rootCA-key.pem",
        "/ca/../../ca/rootCA-key.pem",
        "/ca/../../state/ca/rootCA-key.pem",
        "/ca/%2e%2e/%2e%2e/ca/rootCA-key.pem",
        "/ca/%2E%2E/%2E%2E/state/ca/rootCA-key.pem",
        "/ca/..%2f..%2fca%2frootCA-key.pem",
        "/ca/..%2F..%2Fstate%2Fca%2FrootCA-key.pem",
        "/ca/%2e%2e%2f%2e%2e%2fca%2frootCA-key.pem",
        "/ca/..%5c..%5cca%5crootCA-key.pem",
        "/ca//../../ca/rootCA-key.pem",
        "/ca/./../../config.toml",
        "/ca/..;/..;/ca/rootCA-key.pem",
        "/ca/%00rootCA-key.pem",
        "/ca/index.html%00.pem",
        "/ca/../../../../../../etc/passwd",
        "/ca/.ohproxy-tmp",
        "/ca/ohproxy-ca.pem/",
        "/ca/?../../ca/rootCA-key.pem",
        "/ca/..",
        "/ca/...",
    ];
    for target in tries {
        let response = served.get(target);
        assert!(
            !contains(&response.body, &key[28..80]),
            "{target} returned key material"
        );
        match response.status {
            200 => assert!(
                published.contains(&response.body),
                "{target}: 200 with a body that is not a published file"
            ),
            301 | 308 | 400 | 403 | 404 => {}
            other => panic!("{target}: unexpected status {other}"),
        }
    }
}

#[test]
fn every_other_path_on_the_http_port_redirects() {
    let Some(served) = Served::start() else {
        return;
    };
    let https = format!("https://{DOMAIN}:{}", served.nginx.https_port);
    for target in [
        "/",
        "/index.html",
        "/api/options?x=1",
        "/cax",
        "/ca.pem",
        "/runtime/1/",
    ] {
        let response = served.get(target);
        assert_eq!(response.status, 308, "{target}");
        assert_eq!(
            response.header("location"),
            Some(format!("{https}{target}").as_str()),
            "{target}"
        );
    }
    // `/ca` without the slash leads to the page.
    let response = served.get("/ca");
    assert_eq!(response.status, 308);
    assert!(response.header("location").unwrap().ends_with("/ca/"));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
