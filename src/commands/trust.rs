//! Placeholder: filled in by the work on this command.

use anyhow::Result;

use crate::cli::TrustArgs;
use crate::paths::Paths;

/// `ohproxy ca trust`.
pub fn trust(_paths: &Paths, _args: TrustArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}

/// `ohproxy ca untrust`.
pub fn untrust(_paths: &Paths, _args: TrustArgs) -> Result<()> {
    anyhow::bail!("not built yet")
}
