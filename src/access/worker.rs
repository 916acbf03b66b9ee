//! Who nginx's workers run as, and files written for them: the password file is read by
//! the workers on every request, so it must be readable by their user and by no other.
//! The identity is read from a running worker (`/proc/PID/status`), which is exact whatever
//! the `user` directive, the build default or a non-root master decided.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::error::WithHint;
use crate::nginx::process::{self, Master};

/// The user and groups of nginx's workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Worker {
    /// The identity of the master's first current worker.
    pub fn of(master: Master) -> Result<Worker> {
        let Some(pid) = process::workers(master).first().copied() else {
            bail!("the nginx master (pid {}) has no workers", master.pid);
        };
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Worker::from_status(&status).with_context(|| format!("reading the ids in {path}"))
    }

    /// This process itself, as the kernel checks its file access (effective ids).
    pub fn current() -> Result<Worker> {
        let status =
            std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
        Worker::from_status(&status)
    }

    fn from_status(status: &str) -> Result<Worker> {
        let field = |key: &str| -> Vec<u32> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(|rest| {
                    rest.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        // `Uid:`/`Gid:` list real, effective, saved and filesystem ids; access uses the last.
        let (uid, gid) = match (field("Uid:").get(3), field("Gid:").get(3)) {
            (Some(uid), Some(gid)) => (*uid, *gid),
            _ => bail!("no Uid/Gid lines"),
        };
        Ok(Worker {
            uid,
            gid,
            groups: field("Groups:"),
        })
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether this identity may read `path`: search permission on every directory above
    /// it and read permission on the file, by the usual owner/group/other rule (root may
    /// read anything).
    pub fn can_read(&self, path: &Path) -> Result<(), PathBuf> {
        if self.uid == 0 {
            return Ok(());
        }
        let mut walked = PathBuf::new();
        let parts: Vec<_> = path.components().collect();
        for (i, part) in parts.iter().enumerate() {
            walked.push(part);
            let last = i + 1 == parts.len();
            let Ok(meta) = std::fs::metadata(&walked) else {
                return Err(walked);
            };
            let want = if last { 0o4 } else { 0o1 };
            let mode = meta.permissions().mode();
            let bits = if meta.uid() == self.uid {
                mode >> 6
            } else if self.in_group(meta.gid()) {
                mode >> 3
            } else {
                mode
            };
            if bits & want == 0 {
                return Err(walked);
            }
        }
        Ok(())
    }
}

/// Writes a secret nginx's workers must read, atomically: mode 0600 when they run as this
/// user, else 0640 with the workers' group (only root, or a member of that group, can set
/// it). Nobody else can read it.
pub fn write_private(path: &Path, contents: &[u8], worker: &Worker) -> Result<()> {
    let me = Worker::current()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mode = if worker.uid == me.uid { 0o600 } else { 0o640 };
    let mut tmp = tempfile::Builder::new()
        .prefix(".ohproxy-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    if mode == 0o640 {
        std::os::unix::fs::chown(tmp.path(), None, Some(worker.gid))
            .with_context(|| {
                format!(
                    "giving {} to nginx's workers' group (gid {})",
                    path.display(),
                    worker.gid
                )
            })
            .hint("run ohproxy as root (sudo), or as a member of nginx's workers' group")?;
    }
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    std::io::Write::write_all(&mut tmp, contents)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("flushing {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_filesystem_ids() {
        let status = "Name:\tnginx\nUid:\t0\t65534\t65534\t65534\nGid:\t0\t65534\t65534\t65534\n\
                      Groups:\t65534 33 \n";
        let w = Worker::from_status(status).unwrap();
        assert_eq!(
            (w.uid, w.gid, w.groups.clone()),
            (65534, 65534, vec![65534, 33])
        );
        assert!(w.in_group(33) && !w.in_group(0));
    }

    #[test]
    fn a_closed_directory_stops_a_stranger() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("users");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let stranger = Worker {
            uid: 4_000_000,
            gid: 4_000_000,
            groups: vec![],
        };
        assert_eq!(stranger.can_read(&file), Err(file.clone()));
        let owner = Worker::current().unwrap();
        assert_eq!(owner.can_read(&file), Ok(()));
    }
}
