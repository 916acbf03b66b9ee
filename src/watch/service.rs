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
    /// whether the unit file changed.
    pub fn install(&self, text: &str) -> Result<bool> {
        let path = self.unit_file();
        let changed = std::fs::read_to_string(&path).ok().as_deref() != Some(text);
        if changed {
            fsx::create_dir(&self.unit_dir, 0o755)?;
            fsx::write_atomic(&path, text.as_bytes(), 0o644)?;
            self.systemctl(&["daemon-reload"])?;
        }
        self.systemctl(&["enable", "--now", &self.unit_name])?;
        if changed {
            self.systemctl(&["restart", &self.unit_name])?;
        }
        Ok(changed)
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
            bail!(
                "`systemctl {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
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
    fn quoting_keeps_values_whole() {
        assert_eq!(quote(r#"/a b/"c"%d\e"#), r#"/a b/\"c\"%%d\\e"#);
    }
}
