//! Placeholder beyond the dispatch: filled in by the certificate work.

use anyhow::Result;

use crate::cli::CaCommand;
use crate::paths::Paths;

pub fn run(paths: &Paths, command: CaCommand) -> Result<()> {
    match command {
        CaCommand::Trust(args) => super::trust::trust(paths, args),
        CaCommand::Untrust(args) => super::trust::untrust(paths, args),
        _ => anyhow::bail!("not built yet"),
    }
}
