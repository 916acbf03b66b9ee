//! nginx: which binary, which version, the site file we render, and the safe apply that
//! puts it and the leaf into a running nginx.

pub mod apply;
pub mod candidate;
pub mod discover;
pub mod dump;
pub mod precheck;
pub mod process;
pub mod remove;
pub mod sandbox_ports;
pub mod syntax;
pub mod template;
pub mod version;

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::config::Config;
use crate::error::WithHint;
use crate::paths::Paths;

/// The leaf and key as nginx reads them, in the cert directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The nginx binary: the configured one, else `nginx` on PATH or in /usr/sbin.
pub fn binary(config: &Config) -> Result<PathBuf> {
    if let Some(path) = &config.nginx.binary {
        return Ok(path.as_path().to_path_buf());
    }
    let sbin = Path::new("/usr/sbin/nginx");
    which::which("nginx")
        .ok()
        .or_else(|| sbin.is_file().then(|| sbin.to_path_buf()))
        .ok_or_else(|| anyhow::anyhow!("nginx is not installed (not on PATH, not in /usr/sbin)"))
        .hint("install it (Debian: apt install nginx) or set nginx.binary in the config")
}

/// Where the leaf and key are installed for nginx.
pub fn cert_dir(config: &Config, paths: &Paths) -> PathBuf {
    match &config.nginx.cert_dir {
        Some(dir) => dir.as_path().to_path_buf(),
        None => paths.state_dir.join("nginx").join("certs"),
    }
}

/// The site file ohproxy would install now: this config, its installed leaf and CA page,
/// rendered for this nginx.
pub fn render_site(config: &Config, paths: &Paths, nginx: &version::NginxInfo) -> Result<String> {
    let certs = cert_files(config, paths);
    let page_root = crate::onboarding::public_dir(config, paths);
    template::render(config, &certs, nginx, &page_root)
}

/// The installed leaf and key of the site, named after the domain.
pub fn cert_files(config: &Config, paths: &Paths) -> CertFiles {
    let dir = cert_dir(config, paths);
    let domain = config.domain.as_str();
    CertFiles {
        cert: dir.join(format!("{domain}.pem")),
        key: dir.join(format!("{domain}-key.pem")),
    }
}
