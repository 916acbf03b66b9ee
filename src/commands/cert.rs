//! Placeholder: filled in by the certificate work.

use anyhow::Result;

use crate::paths::Paths;

pub fn run(_paths: &Paths, _args: crate::cli::CertArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}
