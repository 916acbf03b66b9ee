//! The Linux system store: a PEM file in the distribution's anchor directory, then the
//! command that rebuilds the bundle every program reads. The first anchor directory that
//! exists decides the distribution family.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::{Action, CaCert, Outcome, Report, Target, shell_quote};

/// One distribution family's anchor directory, file extension and update command.
struct Anchors {
    dir: &'static str,
    extension: &'static str,
    update: &'static [&'static str],
    package: &'static str,
}

/// In the order they are tried. Debian's tool only reads `.crt` files.
const ANCHORS: [Anchors; 4] = [
    Anchors {
        dir: "/usr/local/share/ca-certificates",
        extension: "crt",
        update: &["update-ca-certificates"],
        package: "ca-certificates",
    },
    Anchors {
        dir: "/etc/pki/ca-trust/source/anchors",
        extension: "pem",
        update: &["update-ca-trust", "extract"],
        package: "ca-certificates",
    },
    Anchors {
        dir: "/etc/ca-certificates/trust-source/anchors",
        extension: "crt",
        update: &["trust", "extract-compat"],
        package: "p11-kit",
    },
    Anchors {
        dir: "/usr/share/pki/trust/anchors",
        extension: "pem",
        update: &["update-ca-certificates"],
        package: "ca-certificates",
    },
];

pub(super) fn apply(ca: &CaCert, target: &Target, action: Action) -> Report {
    let Some(anchors) = ANCHORS.iter().find(|a| target.system_path(a.dir).is_dir()) else {
        let reason = "no anchor directory of Debian, RHEL/Fedora, Arch or openSUSE found";
        return Report::new("system store", Outcome::Skipped(reason.into()));
    };
    let dir = target.system_path(anchors.dir);
    let file = dir.join(format!("{}.{}", ca.file_stem(), anchors.extension));
    let store = format!("system store {}", dir.display());

    let changed = match action {
        Action::Install => write_if_different(&file, &ca.pem),
        Action::Remove => remove(&file),
    };
    let outcome = match changed {
        Ok(true) => update(anchors, target, action, &file),
        Ok(false) if action == Action::Install => {
            Outcome::Unchanged(format!("already there: {}", file_name(&file)))
        }
        Ok(false) => Outcome::Unchanged("not there".into()),
        Err(err) if denied(&err) => Outcome::NeedsSudo(sudo_commands(anchors, ca, &file, action)),
        Err(err) => Outcome::Failed(format!("{err:#}")),
    };
    Report::new(store, outcome)
}

/// Writes the file unless it already holds exactly these bytes; true when it wrote.
fn write_if_different(file: &Path, pem: &[u8]) -> Result<bool> {
    if std::fs::read(file).is_ok_and(|old| old == pem) {
        return Ok(false);
    }
    crate::fsx::write_atomic(file, pem, 0o644)?;
    Ok(true)
}

/// Removes the file; true when there was one.
fn remove(file: &Path) -> Result<bool> {
    if file.symlink_metadata().is_err() {
        return Ok(false);
    }
    crate::fsx::remove_if_exists(file)?;
    Ok(true)
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn denied(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == ErrorKind::PermissionDenied)
    })
}

/// Runs the update command after the anchor directory changed (not under a redirect).
fn update(anchors: &Anchors, target: &Target, action: Action, file: &Path) -> Outcome {
    let did = match action {
        Action::Install => format!("added {}", file_name(file)),
        Action::Remove => format!("removed {}", file_name(file)),
    };
    let command = anchors.update.join(" ");
    if target.redirected {
        return Outcome::Done(format!(
            "{did}; `{command}` not run because {} is set",
            super::ROOT_ENV
        ));
    }
    let Ok(program) = which::which(anchors.update[0]) else {
        return Outcome::Failed(format!(
            "{did}, but `{}` is not installed (package {}); install it and run `{command}`",
            anchors.update[0], anchors.package
        ));
    };
    match Command::new(program).args(&anchors.update[1..]).output() {
        Ok(out) if out.status.success() => Outcome::Done(format!("{did}; ran `{command}`")),
        Ok(out) => Outcome::Failed(format!(
            "{did}, but `{command}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Outcome::Failed(format!("{did}, but `{command}` did not start: {e}")),
    }
}

/// What the user runs as root to do the same.
fn sudo_commands(anchors: &Anchors, ca: &CaCert, file: &Path, action: Action) -> Vec<String> {
    let file = shell_quote(&file.to_string_lossy());
    let first = match action {
        Action::Install => {
            let source = shell_quote(&ca.path.to_string_lossy());
            format!("sudo install -m 644 {source} {file}")
        }
        Action::Remove => format!("sudo rm -f {file}"),
    };
    vec![first, format!("sudo {}", anchors.update.join(" "))]
}

#[cfg(test)]
mod tests {
    use super::super::Os;
    use super::*;

    #[test]
    fn picks_the_first_anchor_directory_that_exists() {
        let root = tempfile::tempdir().unwrap();
        let target = Target::redirected(root.path(), Os::Linux);
        std::fs::create_dir_all(root.path().join("usr/share/pki/trust/anchors")).unwrap();
        std::fs::create_dir_all(root.path().join("etc/pki/ca-trust/source/anchors")).unwrap();
        let found = ANCHORS.iter().find(|a| target.system_path(a.dir).is_dir());
        assert_eq!(found.unwrap().update, &["update-ca-trust", "extract"]);
    }

    #[test]
    fn sudo_commands_copy_the_file_and_update() {
        let ca = CaCert {
            path: "/home/me/My CA/rootCA.pem".into(),
            pem: Vec::new(),
            serial_hex: "ab".into(),
            subject: String::new(),
        };
        let file = Path::new("/usr/local/share/ca-certificates/ohproxy_CA_ab.crt");
        let install = sudo_commands(&ANCHORS[0], &ca, file, Action::Install);
        assert_eq!(
            install,
            [
                "sudo install -m 644 '/home/me/My CA/rootCA.pem' /usr/local/share/ca-certificates/ohproxy_CA_ab.crt",
                "sudo update-ca-certificates",
            ]
        );
        let remove = sudo_commands(&ANCHORS[2], &ca, file, Action::Remove);
        assert_eq!(
            remove,
            [
                "sudo rm -f /usr/local/share/ca-certificates/ohproxy_CA_ab.crt",
                "sudo trust extract-compat",
            ]
        );
    }
}
