//! Leaf certificates: issued by the CA for names, written as mkcert names them.
//! Placeholder beyond the file naming: filled in by the certificate work.

use std::path::{Path, PathBuf};

use crate::names::Name;

/// A leaf's certificate and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files mkcert would write for these names: the first name with `:` as `_` and `*`
/// as `_wildcard`, `+N` for N more names, `-client` for a client certificate.
pub fn file_names(names: &[Name], client: bool, dir: &Path) -> LeafFiles {
    let first = names.first().map(Name::to_string).unwrap_or_default();
    let mut base = first.replace(':', "_").replace('*', "_wildcard");
    if names.len() > 1 {
        base.push_str(&format!("+{}", names.len() - 1));
    }
    if client {
        base.push_str("-client");
    }
    LeafFiles {
        cert: dir.join(format!("{base}.pem")),
        key: dir.join(format!("{base}-key.pem")),
    }
}
