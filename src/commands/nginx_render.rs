//! Placeholder: filled in by the work on this command.

use anyhow::Result;

use crate::cli::RenderArgs;
use crate::paths::Paths;

pub fn run(_paths: &Paths, _args: RenderArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}
