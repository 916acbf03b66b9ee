//! Windows, seen from WSL: the browsers there read the current user's Root store, which a
//! Linux process cannot change. ohproxy prints the `certutil.exe` command to run from the
//! WSL shell (Windows programs start from there); Windows itself shows a confirmation.

use super::{Action, CaCert, Outcome, Report, Target, shell_quote};

pub(super) fn apply(ca: &CaCert, target: &Target, action: Action) -> Option<Report> {
    if !is_wsl(target) {
        return None;
    }
    let command = match action {
        Action::Install => format!(
            "certutil.exe -addstore -user Root \"$(wslpath -w {})\"",
            shell_quote(&ca.path.to_string_lossy())
        ),
        // certutil.exe finds a certificate by its serial number.
        Action::Remove => format!("certutil.exe -delstore -user Root {}", ca.serial_hex),
    };
    let store = "Windows (current user's Root store)";
    Some(Report::new(store, Outcome::Manual(vec![command])))
}

/// WSL's kernel names Microsoft in its version string.
fn is_wsl(target: &Target) -> bool {
    std::fs::read_to_string(target.system_path("/proc/version"))
        .is_ok_and(|v| v.to_ascii_lowercase().contains("microsoft"))
}

#[cfg(test)]
mod tests {
    use super::super::Os;
    use super::*;

    #[test]
    fn wsl_is_read_from_the_target_root() {
        let root = tempfile::tempdir().unwrap();
        let target = Target::redirected(root.path(), Os::Linux);
        assert!(!is_wsl(&target));
        std::fs::create_dir(root.path().join("proc")).unwrap();
        let version = "Linux version 5.15.167.4-microsoft-standard-WSL2";
        std::fs::write(root.path().join("proc/version"), version).unwrap();
        assert!(is_wsl(&target));
    }
}
