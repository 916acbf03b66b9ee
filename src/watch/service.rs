//! `ohproxy watch` as a systemd service: the unit file (written atomically), and the
//! `systemctl` calls that load, start, stop and remove it. A system unit when run as root,
//! else a user unit. `OHPROXY_SYSTEMD_DIR` and `OHPROXY_SYSTEMCTL` redirect the unit
//! directory and the systemctl binary (the tests use them; nothing else should).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::fsx;
use crate::paths::Paths;

/// systemd keeps a file here, named after the user, for each user whose services run
/// without a login session and start at boot (`loginctl enable-linger`).
const LINGER_DIR: &str = "/var/lib/systemd/linger";

/// Where the unit goes and how systemctl is called for it.
#[derive(Debug, Clone)]
pub struct Service {
    pub unit_dir: PathBuf,
    pub unit_name: String,
    pub systemctl: PathBuf,
    /// `--user` for a user unit.
    pub user: bool,
}

impl Service {
    /// The service for this config, or `None` where systemd does not run.
    pub fn locate(config: &Config) -> Option<Service> {
        let unit_name = format!("ohproxy-watch-{}.service", config.domain);
        let systemctl = std::env::var_os("OHPROXY_SYSTEMCTL")
            .map(PathBuf::from)
            .or_else(|| which::which("systemctl").ok())?;
        let root = is_root();
        let unit_dir = match std::env::var_os("OHPROXY_SYSTEMD_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => {
                // systemd creates this directory when it is the init system.
                if !Path::new("/run/systemd/system").is_dir() {
                    return None;
                }
                if root {
                    PathBuf::from("/etc/systemd/system")
                } else {
                    dirs::config_dir()?.join("systemd").join("user")
                }
            }
        };
        Some(Service {
            unit_dir,
            unit_name,
            systemctl,
            user: !root,
        })
    }

    pub fn unit_file(&self) -> PathBuf {
        self.unit_dir.join(&self.unit_name)
    }

    /// Writes the unit, reloads systemd and enables and starts the service. Returns
    /// whether the unit file changed. When systemctl fails, the previous unit file (or
    /// none) is put back, so the next run writes and loads it again.
    pub fn install(&self, text: &str) -> Result<bool> {
        let path = self.unit_file();
        let previous = std::fs::read_to_string(&path).ok();
        let changed = previous.as_deref() != Some(text);
        if changed {
            fsx::create_dir(&self.unit_dir, 0o755)?;
            fsx::write_atomic(&path, text.as_bytes(), 0o644)?;
        }
        let started = self.start(changed);
        if started.is_err() && changed {
            match &previous {
                Some(old) => fsx::write_atomic(&path, old.as_bytes(), 0o644)?,
                None => fsx::remove_if_exists(&path)?,
            }
        }
        started.map(|()| changed)
    }

    fn start(&self, changed: bool) -> Result<()> {
        if changed {
            self.systemctl(&["daemon-reload"])?;
        }
        self.systemctl(&["enable", "--now", &self.unit_name])?;
        if changed {
            self.systemctl(&["restart", &self.unit_name])?;
        }
        Ok(())
    }

    /// For a user unit while lingering is off for this user: how to keep the service
    /// running after logout and have it start at boot.
    pub fn linger_hint(&self) -> Option<String> {
        if !self.user {
            return None;
        }
        let user = ["USER", "LOGNAME"]
            .into_iter()
            .filter_map(|key| std::env::var(key).ok())
            .find(|name| !name.is_empty());
        linger_hint_for(user.as_deref(), Path::new(LINGER_DIR))
    }

    /// Stops, disables and removes the unit; false when there was none.
    pub fn remove(&self) -> Result<bool> {
        let path = self.unit_file();
        if !path.exists() {
            return Ok(false);
        }
        self.systemctl(&["disable", "--now", &self.unit_name])?;
        fsx::remove_if_exists(&path)?;
        self.systemctl(&["daemon-reload"])?;
        Ok(true)
    }

    fn systemctl(&self, args: &[&str]) -> Result<()> {
        let mut command = Command::new(&self.systemctl);
        if self.user {
            command.arg("--user");
        }
        let out = command
            .args(args)
            .output()
            .with_context(|| format!("running {} {}", self.systemctl.display(), args.join(" ")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let said: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let shown = args.join(" ");
            if said.is_empty() {
                bail!("`systemctl {shown}` failed with {}", out.status);
            }
            bail!("`systemctl {shown}` failed: {}", said.join("; "));
        }
        Ok(())
    }
}

/// The unit text: `ohproxy watch` for this config, restarted whenever it stops, after the
/// engine and nginx.
pub fn unit(config: &Config, paths: &Paths, binary: &Path, user: bool) -> String {
    let mut env = String::new();
    for key in ["OHPROXY_HOME", "DOCKER_HOST", "CAROOT"] {
        if let Some(value) = std::env::var_os(key).filter(|v| !v.is_empty()) {
            env.push_str(&format!(
                "Environment=\"{key}={}\"\n",
                quote(&value.to_string_lossy())
            ));
        }
    }
    let (after, wanted_by) = if user {
        ("", "default.target")
    } else {
        (" docker.service nginx.service", "multi-user.target")
    };
    format!(
        "# Written by `ohproxy up`; `ohproxy down` removes it.\n\
         [Unit]\n\
         Description=ohproxy watch: nginx routes to the OpenHands sandboxes of {domain}\n\
         After=network-online.target{after}\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         {env}\
         ExecStart=\"{binary}\" --config \"{config}\" watch\n\
         Restart=always\n\
         RestartSec=5\n\
         \n\
         [Install]\n\
         WantedBy={wanted_by}\n",
        domain = config.domain,
        binary = quote(&binary.display().to_string()),
        config = quote(&paths.config_file.display().to_string()),
    )
}

/// A value inside systemd's double quotes: backslash, quote and `%` escaped.
fn quote(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
}

/// What to run where systemd does not.
pub fn manual_hint(paths: &Paths) -> String {
    format!(
        "run `ohproxy --config {} watch &` (or an `@reboot` line in crontab) to keep sandbox \
         routes in step",
        paths.config_file.display()
    )
}

/// The lingering hint, unless `linger_dir` holds this user's file; without a user name,
/// `loginctl` acts on whoever runs it.
fn linger_hint_for(user: Option<&str>, linger_dir: &Path) -> Option<String> {
    if user.is_some_and(|name| linger_dir.join(name).exists()) {
        return None;
    }
    let arg = user.map(|name| format!(" {name}")).unwrap_or_default();
    Some(format!(
        "a user service stops at logout and starts at boot only with lingering on: run \
         `loginctl enable-linger{arg}` once"
    ))
}

fn is_root() -> bool {
    // The effective uid, without unsafe code: /proc/self is owned by it.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linger_hint_names_the_user_until_lingering_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let hint = linger_hint_for(Some("ann"), dir.path()).unwrap();
        assert!(hint.contains("`loginctl enable-linger ann`"), "{hint}");
        let bare = linger_hint_for(None, dir.path()).unwrap();
        assert!(bare.contains("`loginctl enable-linger`"), "{bare}");

        std::fs::write(dir.path().join("ann"), "").unwrap();
        assert_eq!(linger_hint_for(Some("ann"), dir.path()), None);
        assert!(linger_hint_for(Some("bob"), dir.path()).is_some());
    }

    #[test]
    fn a_system_unit_needs_no_linger_hint() {
        let service = Service {
            unit_dir: PathBuf::from("/etc/systemd/system"),
            unit_name: "ohproxy-watch-a.service".into(),
            systemctl: PathBuf::from("systemctl"),
            user: false,
        };
        assert_eq!(service.linger_hint(), None);
    }

    #[test]
    fn quoting_keeps_values_whole() {
        assert_eq!(quote(r#"/a b/"c"%d\e"#), r#"/a b/\"c\"%%d\\e"#);
    }
}
