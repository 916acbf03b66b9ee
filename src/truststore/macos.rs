//! The macOS System keychain: `security add-trusted-cert -d` makes our root trusted for
//! every user, `security remove-trusted-cert -d` takes that trust away again. Both need an
//! administrator, so a user who is not root gets the `sudo` command to run.

use std::process::Command;

use super::{Action, CaCert, Outcome, Report, Target, shell_quote};

const KEYCHAIN: &str = "/Library/Keychains/System.keychain";

pub(super) fn apply(ca: &CaCert, target: &Target, action: Action) -> Report {
    let store = format!("macOS keychain {KEYCHAIN}");
    if target.redirected {
        let reason = format!("not touched because {} is set", super::ROOT_ENV);
        return Report::new(store, Outcome::Skipped(reason));
    }
    let args = arguments(ca, action);
    if !is_root() {
        let quoted: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        let command = format!("sudo security {}", quoted.join(" "));
        return Report::new(store, Outcome::NeedsSudo(vec![command]));
    }
    let outcome = match Command::new("security").args(&args).output() {
        Ok(out) if out.status.success() => Outcome::Done(match action {
            Action::Install => "added, trusted as a root for every user".into(),
            Action::Remove => "trust removed (the certificate stays, untrusted)".into(),
        }),
        Ok(out) => Outcome::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Outcome::Failed(format!("running security: {e}")),
    };
    Report::new(store, outcome)
}

fn arguments(ca: &CaCert, action: Action) -> Vec<String> {
    let file = ca.path.to_string_lossy().into_owned();
    let words: Vec<&str> = match action {
        Action::Install => vec!["add-trusted-cert", "-d", "-r", "trustRoot", "-k", KEYCHAIN],
        Action::Remove => vec!["remove-trusted-cert", "-d"],
    };
    let mut args: Vec<String> = words.into_iter().map(String::from).collect();
    args.push(file);
    args
}

/// Whether this process runs as root, asked of `id` (no unsafe code for `geteuid`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
