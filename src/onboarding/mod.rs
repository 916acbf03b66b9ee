//! The onboarding page: what port 80 serves at `/ca/` so phones and laptops can fetch and
//! trust the CA. This module owns the page's URLs, the published files (the page, the CA
//! as PEM and DER, an Apple profile, the image the page's HTTPS check loads), their
//! content types, and writing them into the public directory that nginx serves. Only the
//! CA's certificate is ever copied there; the CA directory itself is never served.

mod page;
mod profile;
mod qr;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

pub use profile::stable_uuid;
pub use qr::Qr;

use crate::ca::Ca;
use crate::config::Config;
use crate::error::WithHint;
use crate::fsx;
use crate::paths::Paths;

/// The URL path of the page and of every published file: the name of the folder in the
/// public directory, too.
pub const PATH: &str = "/ca/";
/// The folder under the public directory that holds the published files.
const FOLDER: &str = "ca";

pub const PAGE_FILE: &str = "index.html";
pub const PEM_FILE: &str = "ohproxy-ca.pem";
/// `.crt` is the extension Android's and Windows' certificate installers open.
pub const DER_FILE: &str = "ohproxy-ca.crt";
pub const PROFILE_FILE: &str = "ohproxy-ca.mobileconfig";
/// The image the page loads over HTTPS to tell whether the device trusts the CA.
pub const CHECK_FILE: &str = "check.svg";

/// Each published file's extension and the content type nginx must send for it. Phones
/// decide what to do with a download by its type: iOS offers to install a profile only for
/// `application/x-apple-aspen-config`, Android's and Windows' certificate installers take
/// `application/x-x509-ca-cert`.
pub const CONTENT_TYPES: [(&str, &str); 5] = [
    ("html", "text/html"),
    ("pem", "application/x-pem-file"),
    ("crt", "application/x-x509-ca-cert"),
    ("mobileconfig", "application/x-apple-aspen-config"),
    ("svg", "image/svg+xml"),
];

/// The two embedded templates of the page and the profile.
#[derive(Debug, Clone, Copy)]
enum Template {
    Page,
    Profile,
}

impl Template {
    /// The name decides minijinja's escaping: both are HTML/XML-escaped.
    fn source(self) -> (&'static str, &'static str) {
        match self {
            Template::Page => (
                "index.html.j2",
                include_str!("../../templates/onboarding/index.html.j2"),
            ),
            Template::Profile => (
                "profile.mobileconfig.xml.j2",
                include_str!("../../templates/onboarding/profile.mobileconfig.xml.j2"),
            ),
        }
    }

    fn render(self, context: minijinja::Value) -> Result<String> {
        let (name, source) = self.source();
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_template(name, source)
            .with_context(|| format!("loading the built-in template {name}"))?;
        let template = env.get_template(name).expect("just added");
        template
            .render(context)
            .with_context(|| format!("rendering the built-in template {name}"))
    }
}

/// `http://<domain>[:port]/ca/`: what the terminal shows and the QR code holds.
pub fn page_url(config: &Config) -> String {
    format!(
        "{}{}",
        origin("http", config, config.ports.http.get()),
        PATH
    )
}

/// The DER certificate's URL on the HTTP port, as a phone's browser downloads it.
pub fn der_url(config: &Config) -> String {
    format!("{}{DER_FILE}", page_url(config))
}

/// `https://<domain>[:port]/`: the site itself.
pub fn site_url(config: &Config) -> String {
    format!("{}/", origin("https", config, config.ports.https.get()))
}

/// The check image's URL over HTTPS; it loads only on a device that trusts the CA.
pub fn check_url(config: &Config) -> String {
    format!(
        "{}{}{CHECK_FILE}",
        origin("https", config, config.ports.https.get()),
        PATH
    )
}

fn origin(scheme: &str, config: &Config, port: u16) -> String {
    let default = if scheme == "https" { 443 } else { 80 };
    let domain = config.domain.as_str();
    if port == default {
        format!("{scheme}://{domain}")
    } else {
        format!("{scheme}://{domain}:{port}")
    }
}

/// The directory nginx serves the page from (its `root`): it holds only `ca/`. The
/// config's `nginx.page-dir`, else `public` in the state dir.
pub fn public_dir(config: &Config, paths: &Paths) -> PathBuf {
    match &config.nginx.page_dir {
        Some(dir) => dir.as_path().to_path_buf(),
        None => paths.state_dir.join("public"),
    }
}

/// The folder of the published files inside the public directory.
pub fn page_dir(config: &Config, paths: &Paths) -> PathBuf {
    public_dir(config, paths).join(FOLDER)
}

/// The published files by name, with their contents.
pub fn files(ca: &Ca, config: &Config) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let name = common_name(ca.cert_der()).unwrap_or_else(|| ca.subject().to_string());
    let page = page::render(ca, &name, config)?;
    let profile = profile::render(ca.cert_der(), &name)?;
    Ok(vec![
        (PAGE_FILE, page.into_bytes()),
        (PEM_FILE, ca.cert_pem().as_bytes().to_vec()),
        (DER_FILE, ca.cert_der().to_vec()),
        (PROFILE_FILE, profile.into_bytes()),
        (CHECK_FILE, page::CHECK_SVG.as_bytes().to_vec()),
    ])
}

/// Writes the page and files into the public directory, world-readable (nginx's workers
/// read them), and removes anything else found there, so the folder holds exactly what
/// this function wrote. Returns the folder.
pub fn publish(ca: &Ca, config: &Config, paths: &Paths) -> Result<PathBuf> {
    let public = public_dir(config, paths);
    refuse_overlap(&public, ca.dir(), "the CA directory")?;
    let certs = crate::nginx::cert_dir(config, paths);
    refuse_overlap(&public, &certs, "the leaf's directory")?;
    let files = files(ca, config)?;

    let dir = page_dir(config, paths);
    fsx::create_dir(&dir, 0o755)?;
    for (name, contents) in &files {
        fsx::write_atomic(&dir.join(name), contents, 0o644)?;
    }
    let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
    remove_others(&public, &[FOLDER])?;
    remove_others(&dir, &names)?;
    Ok(dir)
}

/// The served directory and a directory with a private key must be apart: neither
/// inside the other.
fn refuse_overlap(public: &Path, secret: &Path, what: &str) -> Result<()> {
    let secret = std::path::absolute(secret).unwrap_or_else(|_| secret.to_path_buf());
    if public.starts_with(&secret) || secret.starts_with(public) {
        return Err(crate::error::invalid(format!(
            "{what} {} and the onboarding page's directory {} overlap; a private key \
             would be served",
            secret.display(),
            public.display()
        )))
        .hint("set nginx.page-dir in the config to a directory of its own");
    }
    Ok(())
}

/// Removes every entry of `dir` not named in `keep`; a stray directory is an error.
fn remove_others(dir: &Path, keep: &[&str]) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        if keep.iter().any(|k| name == *k) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            bail!(
                "{} holds an unexpected directory {}; only ohproxy's files belong there",
                dir.display(),
                path.display()
            );
        }
        fsx::remove_if_exists(&path)?;
    }
    Ok(())
}

/// The first directory from the root down to `dir` that other users cannot enter, if
/// any (the files themselves are written world-readable). nginx's workers run as an unprivileged user and get 403 or 404 for the
/// page behind such a directory (a state dir under a 0700 home, for example).
pub fn closed_ancestor(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut path = PathBuf::new();
    for part in dir.components() {
        path.push(part);
        let mode = std::fs::metadata(&path).ok()?.permissions().mode();
        if mode & 0o001 == 0 {
            return Some(path);
        }
    }
    None
}

/// The certificate's subject common name, which is what devices list the CA under.
fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

#[cfg(test)]
mod tests;
