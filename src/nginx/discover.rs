//! What the installed nginx looks like from here, read from `nginx -T` and `nginx -V` run
//! with the configured `-c` and `-p`: the directory included inside `http {}` where our
//! site file goes, the pid file, the error log, the server-name hash size, and the servers
//! that other files already define (so our names and ports can be checked against them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::dump::{Directive, Dump, glob_match};
use crate::config::Config;
use crate::error::WithHint;

/// How to run the configured nginx: its binary, and `-c`/`-p` when the config names them.
#[derive(Debug, Clone)]
pub struct Ctl {
    pub binary: PathBuf,
    pub config: Option<PathBuf>,
    pub prefix: Option<PathBuf>,
}

impl Ctl {
    pub fn new(config: &Config) -> Result<Ctl> {
        Ok(Ctl {
            binary: super::binary(config)?,
            config: config
                .nginx
                .config
                .as_ref()
                .map(|p| p.as_path().to_path_buf()),
            prefix: config
                .nginx
                .prefix
                .as_ref()
                .map(|p| p.as_path().to_path_buf()),
        })
    }

    /// `nginx [-p PREFIX] [-c CONFIG]`, ready for more arguments.
    pub fn command(&self) -> Command {
        self.command_with(self.config.as_deref())
    }

    /// The same nginx with another main config file (a scratch copy for a test).
    pub fn command_with(&self, main: Option<&Path>) -> Command {
        let mut command = Command::new(&self.binary);
        if let Some(prefix) = &self.prefix {
            command.arg("-p").arg(prefix);
        }
        if let Some(main) = main {
            command.arg("-c").arg(main);
        }
        command
    }

    /// The command a user would type to start this nginx.
    pub fn start_hint(&self) -> String {
        let mut line = self.binary.display().to_string();
        if let Some(prefix) = &self.prefix {
            line.push_str(&format!(" -p {}", prefix.display()));
        }
        if let Some(config) = &self.config {
            line.push_str(&format!(" -c {}", config.display()));
        }
        format!("start nginx first (`systemctl start nginx`, or `{line}`)")
    }
}

/// Everything apply needs to know about the nginx it is about to change.
#[derive(Debug, Clone)]
pub struct Found {
    pub ctl: Ctl,
    pub dump: Dump,
    pub main_config: PathBuf,
    pub prefix: PathBuf,
    pub site_dir: PathBuf,
    /// Our site file: `ohproxy-<domain>.conf` in the site dir.
    pub site_file: PathBuf,
    pub pid_file: PathBuf,
    /// The error log when it is a file (not stderr or syslog).
    pub error_log: Option<PathBuf>,
    /// `server_names_hash_bucket_size` when the config sets it.
    pub hash_bucket_size: Option<usize>,
    /// The warnings the current config already gives, before any change of ours.
    pub warnings: Vec<String>,
    pub servers: Vec<Server>,
}

/// One `server {}` block: where it is, its ports and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub file: PathBuf,
    pub line: usize,
    pub ports: Vec<u16>,
    pub names: Vec<String>,
}

/// The file name ohproxy owns in the site dir.
pub fn site_file_name(config: &Config) -> String {
    format!("ohproxy-{}.conf", config.domain)
}

/// Runs `nginx -V` and `nginx -T` and reads what they say.
pub fn discover(config: &Config) -> Result<Found> {
    let ctl = Ctl::new(config)?;
    let build = build_paths(&ctl)?;
    let (dump_text, stderr) = dump(&ctl)?;
    let dump = Dump::parse(&dump_text)?;
    let name = site_file_name(config);
    let configured = config.nginx.site_dir.as_ref().map(|p| p.as_path());
    read(ctl, build, dump, &stderr, &name, configured)
}

/// Reads a dump (and the build defaults from `nginx -V`) into what apply needs.
pub fn read(
    ctl: Ctl,
    build: BTreeMap<String, String>,
    dump: Dump,
    stderr: &str,
    site_name: &str,
    configured_dir: Option<&Path>,
) -> Result<Found> {
    let directives = dump.directives(&[], &BTreeMap::new())?;
    let main_config = dump.main_file().to_path_buf();
    let prefix = ctl
        .prefix
        .clone()
        .or_else(|| build.get("prefix").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/usr/local/nginx"));
    let site_dir = match configured_dir {
        Some(dir) => dir.to_path_buf(),
        None => find_site_dir(&directives, &dump, site_name, &main_config)?,
    };
    let site_file = site_dir.join(site_name);
    check_included(&directives, &dump, &site_file, &main_config)?;
    let main_arg = |name: &str| {
        directives
            .iter()
            .filter(|d| d.name == name && d.context.is_empty())
            .find_map(|d| d.args.first().cloned())
    };
    let pid = main_arg("pid")
        .or_else(|| build.get("pid-path").cloned())
        .unwrap_or_else(|| "logs/nginx.pid".into());
    let error_log = main_arg("error_log")
        .or_else(|| build.get("error-log-path").cloned())
        .unwrap_or_else(|| "logs/error.log".into());
    let error_log =
        (!(error_log == "stderr" || error_log.contains(':'))).then(|| prefix.join(&error_log));
    let hash_bucket_size = directives
        .iter()
        .filter(|d| d.name == "server_names_hash_bucket_size" && d.context == ["http"])
        .find_map(|d| d.args.first()?.parse().ok());
    Ok(Found {
        ctl,
        main_config,
        pid_file: prefix.join(pid),
        error_log,
        hash_bucket_size,
        warnings: warnings(stderr),
        servers: servers(&directives),
        dump,
        prefix,
        site_dir,
        site_file,
    })
}

/// `--prefix`, `--pid-path`, `--error-log-path`, ... from `nginx -V` (printed on stderr).
fn build_paths(ctl: &Ctl) -> Result<BTreeMap<String, String>> {
    let out = Command::new(&ctl.binary)
        .arg("-V")
        .output()
        .with_context(|| format!("running {} -V", ctl.binary.display()))?;
    let text = String::from_utf8_lossy(&out.stderr);
    Ok(parse_build_paths(&text))
}

pub fn parse_build_paths(text: &str) -> BTreeMap<String, String> {
    text.split_whitespace()
        .filter_map(|word| word.strip_prefix("--")?.split_once('='))
        .filter(|(key, _)| *key == "prefix" || key.ends_with("-path"))
        .map(|(key, value)| (key.to_string(), value.trim_matches('\'').to_string()))
        .collect()
}

/// `nginx -T`: the dump on stdout, the test result and warnings on stderr.
fn dump(ctl: &Ctl) -> Result<(String, String)> {
    let out = ctl
        .command()
        .arg("-T")
        .output()
        .with_context(|| format!("running {} -T", ctl.binary.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "the current nginx config does not pass `nginx -T`: {}",
            super::process::last_lines(&stderr)
        ))
        .hint("fix it (or run as the user nginx runs as, usually root) before applying");
    }
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), stderr))
}

/// The `[warn]` lines nginx printed, without the `nginx: ` prefix.
pub fn warnings(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("[warn]"))
        .map(|l| l.trim_start_matches("nginx: ").to_string())
        .collect()
}

/// The first directory whose files nginx includes by a wildcard inside `http {}`, and
/// that would pick up a file named like ours.
fn find_site_dir(
    directives: &[Directive],
    dump: &Dump,
    site_name: &str,
    main: &Path,
) -> Result<PathBuf> {
    for d in http_includes(directives) {
        let pattern = dump.resolve(&d.args[0]);
        let Some(dir) = pattern.parent() else {
            continue;
        };
        let wildcard = pattern
            .file_name()
            .is_some_and(|f| f.to_string_lossy().contains(['*', '?', '[']));
        if wildcard
            && glob_match(
                &pattern.to_string_lossy(),
                &dir.join(site_name).to_string_lossy(),
            )
        {
            return Ok(dir.to_path_buf());
        }
    }
    Err(anyhow::anyhow!(
        "nginx includes no directory of site files inside http {{}} (read from {})",
        main.display()
    ))
    .hint("add `include /etc/nginx/conf.d/*.conf;` inside http {} or set nginx.site-dir")
}

fn check_included(
    directives: &[Directive],
    dump: &Dump,
    site_file: &Path,
    main: &Path,
) -> Result<()> {
    let path = site_file.to_string_lossy();
    let included = http_includes(directives)
        .any(|d| glob_match(&dump.resolve(&d.args[0]).to_string_lossy(), &path));
    if included {
        return Ok(());
    }
    let dir = site_file.parent().unwrap_or(Path::new("/"));
    Err(anyhow::anyhow!(
        "nginx would not read {}: no include inside http {{}} names it (read from {})",
        site_file.display(),
        main.display()
    ))
    .hint(format!(
        "add `include {}/*.conf;` inside http {{}}, or change nginx.site-dir",
        dir.display()
    ))
}

fn http_includes(directives: &[Directive]) -> impl Iterator<Item = &Directive> {
    directives
        .iter()
        .filter(|d| d.name == "include" && d.context == ["http"] && d.args.len() == 1)
}

/// Every `server {}` inside `http {}`, with its ports and names.
pub fn servers(directives: &[Directive]) -> Vec<Server> {
    let mut found = Vec::new();
    for block in directives {
        let Some(id) = block.block else { continue };
        if block.name != "server" || block.context != ["http"] {
            continue;
        }
        let inside = || {
            directives
                .iter()
                .filter(move |d| d.scope.last() == Some(&id))
        };
        let mut ports: Vec<u16> = inside()
            .filter(|d| d.name == "listen")
            .filter_map(|d| listen_port(d.args.first()?))
            .collect();
        // A server with no `listen` listens on port 80 (when the master runs as root).
        if !inside().any(|d| d.name == "listen") {
            ports.push(80);
        }
        let names = inside()
            .filter(|d| d.name == "server_name")
            .flat_map(|d| d.args.iter().map(|n| n.to_ascii_lowercase()))
            .collect();
        found.push(Server {
            file: block.file.clone(),
            line: block.line,
            ports,
            names,
        });
    }
    found
}

/// The port of a `listen` address: `443`, `1.2.3.4:443`, `[::]:443`, `*:80`, or a bare
/// host (port 80). Unix sockets have none.
fn listen_port(address: &str) -> Option<u16> {
    if address.starts_with("unix:") {
        return None;
    }
    if let Ok(port) = address.parse() {
        return Some(port);
    }
    let tail = match address.rsplit_once("]:") {
        Some((_, port)) => Some(port),
        None if address.starts_with('[') => None,
        None => address.rsplit_once(':').map(|(_, port)| port),
    };
    match tail {
        Some(port) => port.parse().ok(),
        None => Some(80),
    }
}

#[cfg(test)]
#[path = "discover_tests.rs"]
mod tests;
