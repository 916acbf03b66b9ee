//! Helpers shared by the integration tests: a temporary home to run the binary in, and
//! the rule for tests that need an outside tool (fail in CI, skip loudly elsewhere).

#![allow(dead_code)]

pub mod docker;
pub mod testapp;

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temporary `OHPROXY_HOME`: config and state of one test, removed when dropped.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn ca_dir(&self) -> PathBuf {
        self.state().join("ca")
    }

    /// Where `up` writes its watch unit in the tests.
    pub fn systemd_dir(&self) -> PathBuf {
        self.path().join("systemd")
    }

    /// `ohproxy ARGS...` with this home and nothing from the real one: `up` installs its
    /// watch unit under this home, and `true` stands in for systemctl, so no test touches
    /// the host's systemd (a test may set both variables itself).
    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ohproxy"));
        command
            .args(args)
            .env("OHPROXY_HOME", self.path())
            .env("HOME", self.path().join("user-home"))
            .env("NO_COLOR", "1")
            .env("OHPROXY_SYSTEMD_DIR", self.systemd_dir())
            .env("OHPROXY_SYSTEMCTL", "true")
            .env_remove("CAROOT")
            .env_remove("OHPROXY_CONFIG");
        Cmd {
            command,
            stdin: None,
        }
    }
}

/// One run of the binary, built up like a `Command`.
pub struct Cmd {
    command: Command,
    stdin: Option<Vec<u8>>,
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
}

impl Cmd {
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.command.env(key, value);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(input.into());
        self
    }

    pub fn run(mut self) -> Output {
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.command.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self.command.spawn().expect("the ohproxy binary starts");
        if let Some(input) = self.stdin.take() {
            child.stdin.take().unwrap().write_all(&input).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stdout_bytes: out.stdout,
        }
    }

    /// Starts the command in the background, its stderr going to `log` (a file).
    pub fn spawn(mut self, log: &Path) -> std::process::Child {
        let file = std::fs::File::create(log).unwrap();
        self.command
            .stdout(Stdio::null())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("the ohproxy binary starts")
    }

    /// Runs and asserts exit code 0.
    pub fn ok(self) -> Output {
        self.status(0)
    }

    /// Runs and asserts the exit code.
    pub fn status(self, code: i32) -> Output {
        let shown = format!("{:?}", self.command);
        let out = self.run();
        assert_eq!(
            out.code, code,
            "{shown}\nexpected exit {code}, got {}\nstdout:\n{}\nstderr:\n{}",
            out.code, out.stdout, out.stderr
        );
        out
    }
}

/// True in CI (`CI=true`) or when `OHPROXY_REQUIRE_ALL=1`: missing tools fail the test.
pub fn strict() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("OHPROXY_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// The path of a tool the test needs. In CI a missing tool fails the test; elsewhere the
/// test is skipped with a loud message, and the caller returns early on `None`.
pub fn require(tool: &str) -> Option<PathBuf> {
    match which(tool) {
        Some(path) => Some(path),
        None if strict() => panic!("{tool} is required in CI but is not installed"),
        None => {
            eprintln!("\n!!! SKIPPED: {tool} is not installed; this test did not run !!!\n");
            None
        }
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    dirs.map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Runs an outside command and returns its output; panics if it cannot start.
pub fn tool<I, S>(program: &str, args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

pub mod https;
pub mod netlog;
pub mod nginx;
pub mod pki;
pub mod sandbox;
pub mod site;
