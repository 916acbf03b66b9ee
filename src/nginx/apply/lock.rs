//! One apply at a time per state directory. `watch` applies on every sandbox event while a
//! user may run `up` or `nginx apply`; each reads the installed files and writes them back,
//! so two at once could undo each other's change (a removed sandbox port put back).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use crate::fsx;
use crate::paths::Paths;

/// Held until dropped; the kernel lets it go when the process ends, however it ends.
pub struct ApplyLock {
    _file: File,
}

/// Takes the lock, saying so when another apply holds it and this one waits.
pub fn acquire(paths: &Paths) -> Result<ApplyLock> {
    // The same directory holds the default cert dir, which nginx's workers must enter.
    let dir = paths.state_dir.join("nginx");
    fsx::create_dir(&dir, 0o755)?;
    let path = dir.join("apply.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            tracing::warn!(
                "waiting for another ohproxy apply to finish ({} is locked)",
                path.display()
            );
            flock(&file, FlockOperation::LockExclusive)
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("locking {}", path.display())),
    }
    Ok(ApplyLock { _file: file })
}
