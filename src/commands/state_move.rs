//! The state dir of an older OpenHands (`~/.openhands-state` before 0.45) when the
//! profile reads another one: said, offered, and moved only when the user asks.

use std::path::Path;

use anyhow::{Context, Result};

use crate::docker::spec::host_state_dir;
use crate::openhands::{PROFILES, Profile};
use crate::ui;

/// Warns about an old state dir the profile does not read, or moves it with `--move-state`.
pub fn check(profile: &Profile, move_state: bool) -> Result<()> {
    let wanted = host_state_dir(profile);
    // Only the state of older versions is offered: a newer version's state may not be
    // readable by this one, so a downgrade never moves it.
    let mut others: Vec<_> = PROFILES
        .iter()
        .filter(|p| p.last < profile.first)
        .map(host_state_dir)
        .filter(|dir| *dir != wanted)
        .collect();
    others.dedup();
    for old in others.iter().filter(|dir| has_content(dir)) {
        if has_content(&wanted) {
            ui::warn(format!(
                "{} holds state of another OpenHands version; this one uses {}, which \
                 already has state, so nothing is moved",
                old.display(),
                wanted.display()
            ));
        } else if move_state {
            move_dir(old, &wanted)?;
            ui::status(format!(
                "state: moved {} to {}",
                old.display(),
                wanted.display()
            ));
        } else {
            ui::warn(format!(
                "{} holds state of an older OpenHands version, but this one reads {}; to \
                 keep conversations and settings, run `ohproxy up --move-state` (or `mv {} {}`)",
                old.display(),
                wanted.display(),
                old.display(),
                wanted.display()
            ));
        }
    }
    Ok(())
}

fn has_content(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some())
}

fn move_dir(old: &Path, new: &Path) -> Result<()> {
    // An empty directory (made by an earlier `up`) may stand where the state goes.
    if new.is_dir() {
        std::fs::remove_dir(new).with_context(|| format!("removing empty {}", new.display()))?;
    }
    std::fs::rename(old, new)
        .with_context(|| format!("moving {} to {}", old.display(), new.display()))
}
