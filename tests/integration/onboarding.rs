//! The onboarding page: `ohproxy ca share` publishes the CA as PEM, DER and an Apple
//! profile that equal the CA (as openssl reads it), and its QR codes (terminal, PNG, SVG)
//! decode to the page's URL. `served` checks the same files through a real nginx.

mod served;

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::pki::openssl_root;
use crate::support::{Home, tool};

const DOMAIN: &str = "openhands.home.arpa";

/// A home with a config for `DOMAIN` and a CA made by openssl, not by ohproxy.
pub struct Site {
    pub home: Home,
    pub http: u16,
}

impl Site {
    pub fn new(http: u16, https: u16) -> Site {
        Site::with(http, https, "")
    }

    /// `extra` is appended to the config file (for example an `[nginx]` table).
    pub fn with(http: u16, https: u16, extra: &str) -> Site {
        let home = Home::new();
        let ca = home.ca_dir();
        fs::create_dir_all(&ca).unwrap();
        openssl_root(&ca, "/O=onboarding test/CN=onboarding test CA", true);
        // Nothing is proxied in these tests; the app port only has to differ from the others.
        let app = (3000..).find(|p| *p != http && *p != https).unwrap();
        let config = format!(
            "domain = \"{DOMAIN}\"\n[ports]\nhttp = {http}\nhttps = {https}\napp = {app}\n{extra}"
        );
        fs::write(home.path().join("config.toml"), config).unwrap();
        Site { home, http }
    }

    pub fn page_url(&self) -> String {
        format!("http://{DOMAIN}:{}/ca/", self.http)
    }

    pub fn page_dir(&self) -> PathBuf {
        self.home.state().join("public").join("ca")
    }

    pub fn ca_pem_path(&self) -> PathBuf {
        self.home.ca_dir().join("rootCA.pem")
    }

    /// The CA's DER, as openssl converts the PEM.
    pub fn ca_der(&self) -> Vec<u8> {
        let pem = self.ca_pem_path();
        let out = tool(
            "openssl",
            ["x509", "-in", &path_str(&pem), "-outform", "DER"],
        );
        assert!(out.status.success());
        out.stdout
    }

    /// The CA's SHA-256 fingerprint as openssl prints it: `AB:CD:...`.
    pub fn fingerprint(&self) -> String {
        let pem = self.ca_pem_path();
        let out = tool(
            "openssl",
            [
                "x509",
                "-in",
                &path_str(&pem),
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.trim().split_once('=').unwrap().1.to_uppercase()
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// The DER inside a PEM, as openssl reads it; panics if it is not a certificate.
pub fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cert.pem");
    fs::write(&file, pem).unwrap();
    let out = tool(
        "openssl",
        ["x509", "-in", &path_str(&file), "-outform", "DER"],
    );
    assert!(out.status.success(), "openssl reads the PEM");
    out.stdout
}

/// Checks that openssl reads `der` as a certificate.
pub fn assert_der_parses(der: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cert.crt");
    fs::write(&file, der).unwrap();
    let out = tool(
        "openssl",
        ["x509", "-inform", "DER", "-in", &path_str(&file), "-noout"],
    );
    assert!(out.status.success(), "openssl reads the DER");
}

/// The certificate payload of a profile, after checking the profile's shape.
pub fn profile_payload(profile: &[u8]) -> Vec<u8> {
    let value = plist::Value::from_reader_xml(profile).expect("the profile is an XML plist");
    let top = value.as_dictionary().expect("a dictionary at the top");
    assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
    assert_eq!(top["PayloadVersion"].as_signed_integer(), Some(1));
    let content = top["PayloadContent"].as_array().expect("a payload array");
    assert_eq!(content.len(), 1);
    let root = content[0].as_dictionary().unwrap();
    assert_eq!(
        root["PayloadType"].as_string(),
        Some("com.apple.security.root")
    );
    let uuids = [&top["PayloadUUID"], &root["PayloadUUID"]];
    assert_ne!(uuids[0], uuids[1], "each payload has its own UUID");
    root["PayloadContent"]
        .as_data()
        .expect("certificate data")
        .to_vec()
}

/// Decodes the one QR code in a greyscale bitmap (0 = black).
pub fn decode_qr(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> String {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("the QR code decodes").1
}

pub fn decode_png(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (w, h) = (info.width as usize, info.height as usize);
    decode_qr(w, h, |x, y| buf[y * info.line_size + x])
}

/// Decodes the SVG that `ca share` writes: one `M{x},{y}h1v1h-1z` square per dark module.
fn decode_svg(svg: &str) -> String {
    let view = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
    let size: usize = view.split(' ').next().unwrap().parse().unwrap();
    let mut dark = vec![false; size * size];
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    for square in path.split('M').filter(|s| !s.is_empty()) {
        let (x, rest) = square.split_once(',').unwrap();
        let y = rest.split('h').next().unwrap();
        dark[y.parse::<usize>().unwrap() * size + x.parse::<usize>().unwrap()] = true;
    }
    scaled(size, &dark)
}

/// Decodes the half-block QR code printed on the terminal (light modules drawn).
fn decode_terminal(text: &str) -> String {
    let lines: Vec<Vec<char>> = text
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| " ▀▄█".contains(c)))
        .map(|l| l.chars().collect())
        .collect();
    assert!(!lines.is_empty(), "a QR code on the terminal:\n{text}");
    let size = lines[0].len();
    let mut dark = vec![false; size * lines.len() * 2];
    for (row, line) in lines.iter().enumerate() {
        for (x, c) in line.iter().enumerate() {
            let (top_light, bottom_light) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            dark[(2 * row) * size + x] = !top_light;
            dark[(2 * row + 1) * size + x] = !bottom_light;
        }
    }
    // An odd number of module rows leaves a padding row at the bottom: drop it.
    dark.truncate(size * size);
    scaled(size, &dark)
}

/// Decodes a module matrix drawn at 4 pixels per module.
fn scaled(size: usize, dark: &[bool]) -> String {
    const SCALE: usize = 4;
    decode_qr(size * SCALE, size * SCALE, |x, y| {
        if dark[(y / SCALE) * size + x / SCALE] {
            0
        } else {
            255
        }
    })
}

#[test]
fn share_prints_the_url_and_qr_codes_that_decode_to_it() {
    let site = Site::new(8080, 8443);
    let png = site.home.path().join("qr.png");
    let svg = site.home.path().join("qr.svg");
    let out = site
        .home
        .cmd([
            "ca",
            "share",
            "--png",
            &path_str(&png),
            "--svg",
            &path_str(&svg),
        ])
        .ok();

    assert_eq!(out.stdout, format!("{}\n", site.page_url()));
    assert_eq!(decode_png(&fs::read(&png).unwrap()), site.page_url());
    assert_eq!(
        decode_svg(&fs::read_to_string(&svg).unwrap()),
        site.page_url()
    );
    assert_eq!(decode_terminal(&out.stderr), site.page_url());
    assert!(out.stderr.contains(&site.fingerprint()), "{}", out.stderr);
}

#[test]
fn published_files_are_the_ca_and_only_the_ca() {
    let site = Site::new(80, 443);
    site.home.cmd(["ca", "share"]).ok();
    let dir = site.page_dir();
    let der = site.ca_der();

    assert_eq!(
        pem_to_der(&fs::read(dir.join("ohproxy-ca.pem")).unwrap()),
        der
    );
    let served_der = fs::read(dir.join("ohproxy-ca.crt")).unwrap();
    assert_der_parses(&served_der);
    assert_eq!(served_der, der);
    let profile = fs::read(dir.join("ohproxy-ca.mobileconfig")).unwrap();
    assert_eq!(profile_payload(&profile), der);
    let page = fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        page.contains(&site.fingerprint()),
        "the page shows the fingerprint"
    );
    assert!(page.contains("Certificate Trust Settings"));

    // Nothing of the CA directory but the certificate's content is published.
    let key = fs::read(site.home.ca_dir().join("rootCA-key.pem")).unwrap();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = fs::read(&path).unwrap();
        assert!(
            !contains(&bytes, &key[28..80]),
            "{} holds key material",
            path.display()
        );
    }

    // The profile is the same file on every run: stable UUIDs, nothing time-dependent.
    site.home.cmd(["ca", "share"]).ok();
    assert_eq!(
        fs::read(dir.join("ohproxy-ca.mobileconfig")).unwrap(),
        profile
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_bad_image_path_is_refused_before_anything_is_written() {
    let site = Site::new(80, 443);
    let out = site
        .home
        .cmd(["ca", "share", "--png", &path_str(site.home.path())])
        .status(2);
    assert!(out.stderr.contains("--png") && out.stderr.contains("is a directory"));
    let out = site
        .home
        .cmd(["ca", "share", "--svg", "/nonexistent-dir/qr.svg"])
        .status(2);
    assert!(out.stderr.contains("--svg") && out.stderr.contains("/nonexistent-dir"));
    assert!(
        !site.home.state().join("public").exists(),
        "nothing published"
    );
}
