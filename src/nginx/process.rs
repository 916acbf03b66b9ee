//! The running nginx: its master (from the pid file, checked against /proc), its workers,
//! how to reload it (systemd or `nginx -s reload`), and what its error log said since a
//! given point.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::error::WithHint;

/// The master process of a running nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Master {
    pub pid: u32,
}

/// How a reload is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadMethod {
    /// `systemctl reload nginx`: systemd runs this nginx, so its unit state stays right.
    Systemd,
    /// `nginx -c ... -p ... -s reload`.
    Signal,
}

impl std::fmt::Display for ReloadMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReloadMethod::Systemd => "systemctl reload nginx",
            ReloadMethod::Signal => "nginx -s reload",
        })
    }
}

/// The master named by the pid file, if that process is alive and is an nginx master.
pub fn master(pid_file: &Path, start_hint: &str) -> Result<Master> {
    let text = match std::fs::read_to_string(pid_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow::anyhow!(
                "nginx is not running: there is no pid file at {}",
                pid_file.display()
            ))
            .hint(start_hint.to_string());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", pid_file.display())),
    };
    // `nginx -t` creates the pid file empty when no master is running.
    if text.trim().is_empty() {
        return Err(anyhow::anyhow!(
            "nginx is not running: the pid file {} is empty",
            pid_file.display()
        ))
        .hint(start_hint.to_string());
    }
    let Ok(pid) = text.trim().parse::<u32>() else {
        bail!(
            "the pid file {} does not hold a pid: {:?}",
            pid_file.display(),
            text.trim()
        );
    };
    match title(pid) {
        None => Err(anyhow::anyhow!(
            "nginx is not running: the pid file {} is stale (no process {pid})",
            pid_file.display()
        ))
        .hint(start_hint.to_string()),
        Some(title) if title.starts_with("nginx: master process") => Ok(Master { pid }),
        Some(title) => Err(anyhow::anyhow!(
            "nginx is not running: the pid file {} is stale (process {pid} is {title:?}, \
             not an nginx master)",
            pid_file.display()
        ))
        .hint(start_hint.to_string()),
    }
}

/// The process title of a pid (nginx rewrites it to `nginx: master process ...`).
fn title(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim()
            .to_string(),
    )
}

/// The parent pid of a process, from /proc/PID/stat.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces; the fields follow it.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The master's current workers: children titled `nginx: worker process`, not the ones
/// still finishing old connections (`... is shutting down`).
pub fn workers(master: Master) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent(pid) == Some(master.pid))
        .filter(|&pid| {
            title(pid).is_some_and(|t| {
                t.starts_with("nginx: worker process") && !t.contains("shutting down")
            })
        })
        .collect();
    found.sort();
    found
}

/// Whether this master is the one systemd's `nginx.service` runs.
pub fn managed_by_systemd(master: Master) -> bool {
    if which::which("systemctl").is_err() {
        return false;
    }
    let out = Command::new("systemctl")
        .args(["show", "--property", "MainPID", "--value", "nginx.service"])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            String::from_utf8_lossy(&out.stdout).trim() == master.pid.to_string()
        }
        _ => false,
    }
}

/// Asks nginx to reload, by systemd or by signal; `signal` is the ready `nginx -s reload`.
pub fn reload(method: ReloadMethod, mut signal: Command) -> Result<()> {
    let mut command = match method {
        ReloadMethod::Systemd => {
            let mut c = Command::new("systemctl");
            c.args(["reload", "nginx.service"]);
            c
        }
        ReloadMethod::Signal => {
            signal.args(["-s", "reload"]);
            signal
        }
    };
    let out = command
        .output()
        .with_context(|| format!("running {method}"))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        bail!("{method} failed: {}", last_lines(&text));
    }
    Ok(())
}

/// The error log: where it is and how long it was at a given moment.
#[derive(Debug, Clone)]
pub struct LogMark {
    path: PathBuf,
    offset: u64,
}

impl LogMark {
    /// Marks the end of the log now; `None` when the log is not a readable file.
    pub fn now(path: &Path) -> Option<LogMark> {
        let meta = std::fs::metadata(path).ok()?;
        std::fs::File::open(path).ok()?;
        Some(LogMark {
            path: path.to_path_buf(),
            offset: meta.len(),
        })
    }

    /// Lines at `[emerg]` written since the mark: the level at which the master gives up on
    /// a new config. Lower levels are left out on purpose: nginx before 1.25 logs some clients'
    /// failed TLS handshakes at `[crit]` (OpenSSL 3 errors it does not classify, such as a
    /// bad key share), which say nothing about the reload.
    pub fn failures_since(&self) -> Vec<String> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut text).is_err()
        {
            return Vec::new();
        }
        text.lines()
            .filter(|l| l.contains("[emerg]"))
            .map(str::to_string)
            .collect()
    }
}

/// The last few non-empty lines of a tool's output, joined for a one-line message.
pub fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_stale_pid_file_says_nginx_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("nginx.pid");
        let err = master(&pid_file, "start it").unwrap_err();
        assert!(format!("{err:#}").contains("no pid file at"), "{err:#}");
        std::fs::write(&pid_file, "999999999\n").unwrap();
        let err = format!("{:#}", master(&pid_file, "start it").unwrap_err());
        assert!(err.contains("stale") && err.contains("999999999"), "{err}");
        std::fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
        let err = format!("{:#}", master(&pid_file, "start it").unwrap_err());
        assert!(err.contains("not an nginx master"), "{err}");
        std::fs::write(&pid_file, "").unwrap();
        let err = format!("{:#}", master(&pid_file, "start it").unwrap_err());
        assert!(err.contains("is empty"), "{err}");
        std::fs::write(&pid_file, "x\n").unwrap();
        assert!(master(&pid_file, "start it").is_err());
    }

    #[test]
    fn the_log_mark_sees_only_new_failures() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("error.log");
        std::fs::write(&log, "x [emerg] old\n").unwrap();
        let mark = LogMark::now(&log).unwrap();
        assert!(mark.failures_since().is_empty());
        std::fs::write(
            &log,
            "x [emerg] old\ny [notice] fine\nc [crit] SSL_do_handshake() failed\n\
             z [emerg] bind() failed\n",
        )
        .unwrap();
        assert_eq!(mark.failures_since(), ["z [emerg] bind() failed"]);
        assert!(LogMark::now(&dir.path().join("none")).is_none());
    }

    #[test]
    fn our_own_process_has_no_nginx_workers() {
        let me = Master {
            pid: std::process::id(),
        };
        assert!(workers(me).is_empty());
        assert!(!managed_by_systemd(me));
    }
}
