//! Placeholder: filled in by the work on this command.

use anyhow::Result;

use crate::cli::ApplyArgs;
use crate::paths::Paths;

pub fn run(_paths: &Paths, _args: ApplyArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}
