//! File-system writes that a crash cannot leave half done: a temporary file in the same
//! directory, its mode set before any byte is written, flushed, then renamed into place.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes `contents` to `path` atomically with the given mode (for example 0o600).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_via_temp(path, contents, mode, Replace::Yes)
}

/// Like `write_atomic`, but fails if `path` already exists: an existing file is never
/// replaced, even by a concurrent writer.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_via_temp(path, contents, mode, Replace::No)
}

#[derive(PartialEq)]
enum Replace {
    Yes,
    No,
}

fn write_via_temp(path: &Path, contents: &[u8], mode: u32, replace: Replace) -> Result<()> {
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".ohproxy-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    // The umask may have narrowed the mode given at creation; set it exactly.
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    tmp.write_all(contents)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("flushing {}", tmp.path().display()))?;
    let persisted = match replace {
        Replace::Yes => tmp.persist(path),
        Replace::No => tmp.persist_noclobber(path),
    };
    persisted
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    sync_dir(dir);
    Ok(())
}

/// Creates a directory and its parents with the given mode for the ones it creates.
pub fn create_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .with_context(|| format!("creating directory {}", path.display()))
}

/// Removes a file; a file that is already gone is not an error.
pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Makes the rename itself durable. Best effort: some file systems refuse to sync a
/// directory, and the data is already safe in the renamed file.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_the_exact_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        write_atomic(&path, b"secret", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_atomic(&path, b"public", 0o644).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
