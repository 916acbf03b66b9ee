//! The files an apply may change, as they were before it: read first, kept under the
//! state directory for the user, and put back if the apply fails.

use std::path::Path;

use anyhow::{Context, Result};

use super::Plan;
use super::swap::put;
use crate::fsx;

/// The previous site file and certificate, restored if the apply fails.
pub(super) struct Previous {
    pub(super) site: Option<Vec<u8>>,
    pub(super) cert: Option<Vec<u8>>,
    pub(super) key: Option<Vec<u8>>,
    /// The installed access files, in the order of `Plan::access`.
    pub(super) access: Vec<Option<Vec<u8>>>,
    pub(super) ports: Option<Vec<u8>>,
}

impl Previous {
    pub(super) fn read(plan: &Plan) -> Result<Previous> {
        Ok(Previous {
            site: read_optional(&plan.found.site_file)?,
            cert: read_optional(&plan.certs.cert)?,
            key: read_optional(&plan.certs.key)?,
            access: plan
                .access
                .iter()
                .map(|install| read_optional(&install.path))
                .collect::<Result<_>>()?,
            ports: match &plan.ports {
                Some((path, _)) => read_optional(path)?,
                None => None,
            },
        })
    }

    /// Each file apply may change, with its previous bytes and its mode.
    fn files<'a>(&'a self, plan: &'a Plan) -> Vec<(&'a Option<Vec<u8>>, &'a Path, u32)> {
        let mut files = vec![
            (&self.site, plan.found.site_file.as_path(), 0o644),
            (&self.cert, plan.certs.cert.as_path(), 0o644),
            (&self.key, plan.certs.key.as_path(), 0o600),
        ];
        if let Some((path, _)) = &plan.ports {
            files.push((&self.ports, path.as_path(), 0o644));
        }
        files
    }

    /// Keeps a copy of the previous files under the state dir, for the user too.
    pub(super) fn save(&self, plan: &Plan, dir: &Path) -> Result<()> {
        fsx::create_dir(dir, 0o700)?;
        for (bytes, path, mode) in self.files(plan) {
            if let (Some(bytes), Some(name)) = (bytes, path.file_name()) {
                fsx::write_atomic(&dir.join(name), bytes, mode)?;
            }
        }
        for (install, bytes) in plan.access.iter().zip(&self.access) {
            if let (Some(bytes), Some(name)) = (bytes, install.path.file_name()) {
                fsx::write_atomic(&dir.join(name), bytes, 0o600)?;
            }
        }
        Ok(())
    }

    /// Puts every file back as it was (or removes what did not exist).
    pub(super) fn restore(&self, plan: &Plan) -> Result<()> {
        for (bytes, path, mode) in self.files(plan) {
            match bytes {
                Some(bytes) => fsx::write_atomic(path, bytes, mode)?,
                None => fsx::remove_if_exists(path)?,
            }
        }
        for (install, bytes) in plan.access.iter().zip(&self.access) {
            match bytes {
                Some(bytes) => put(plan, &install.path, bytes, install.reader)?,
                None => fsx::remove_if_exists(&install.path)?,
            }
        }
        Ok(())
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
