//! Placeholder: the site file rendered from the template, filled in by the nginx work.

use anyhow::Result;

use super::CertFiles;
use super::version::NginxInfo;
use crate::config::Config;

/// Renders the site file for this config, these certificate paths and this nginx.
pub fn render(_config: &Config, _certs: &CertFiles, _nginx: &NginxInfo) -> Result<String> {
    anyhow::bail!("not built yet")
}
