//! Placeholder: the nginx and OpenSSL versions from `nginx -V`, filled in by the nginx work.

use std::path::Path;

use anyhow::Result;

/// A version as three numbers, compared in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// What the installed nginx is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxInfo {
    pub version: Version,
    /// The OpenSSL nginx runs with, when it says.
    pub openssl: Option<Version>,
}

/// Runs `nginx -V` and parses what it prints on stderr.
pub fn detect(_binary: &Path) -> Result<NginxInfo> {
    anyhow::bail!("not built yet")
}
