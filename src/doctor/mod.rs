//! `ohproxy doctor`'s checks: the path a browser takes, from the config file to a WebSocket
//! through nginx, each check ending as ok, warning or failure with the cause in plain words
//! and the fix. A check whose prerequisite did not pass is reported as not run instead of
//! piling up errors. Nothing here prints; `commands::doctor` shows the `Report`.

mod certs;
mod client;
mod container;
mod nginx;
mod ports;
mod resolve;
mod sandbox;
mod tls_client;

use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::openhands::{Profile, Routing};
use crate::paths::Paths;

/// How one check ended. `skipped` means it could not run: an earlier check failed, or it
/// does not apply to this OpenHands version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Failure,
    Skipped,
}

/// One check as the user sees it. The field names are the `--json` schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable identifier (`config`, `ca`, `leaf`, ...).
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// What was found, in plain words.
    pub cause: String,
    /// What to do about it; empty when there is nothing to do.
    pub fix: String,
    /// More lines (a diff, a list of addresses); may be empty.
    pub detail: String,
}

/// The result of one check before it gets its id and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub cause: String,
    pub fix: String,
    pub detail: String,
}

impl Outcome {
    pub fn ok(cause: impl Into<String>) -> Outcome {
        Outcome::new(Status::Ok, cause.into(), String::new())
    }

    pub fn warning(cause: impl Into<String>, fix: impl Into<String>) -> Outcome {
        Outcome::new(Status::Warning, cause.into(), fix.into())
    }

    pub fn failure(cause: impl Into<String>, fix: impl Into<String>) -> Outcome {
        Outcome::new(Status::Failure, cause.into(), fix.into())
    }

    pub fn skipped(cause: impl Into<String>) -> Outcome {
        Outcome::new(Status::Skipped, cause.into(), String::new())
    }

    fn new(status: Status, cause: String, fix: String) -> Outcome {
        Outcome {
            status,
            cause,
            fix,
            detail: String::new(),
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Outcome {
        self.detail = detail.into();
        self
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep the WebSocket through nginx open this long, answering the app's pings.
    pub hold: Duration,
}

/// Every check, in order, and the CA fingerprint when the CA could be read.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The SHA-256 fingerprint of the CA certificate, as the onboarding page shows it.
    pub ca_fingerprint: Option<String>,
    pub checks: Vec<Check>,
}

impl Report {
    /// The checks that failed; warnings do not count.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Failure)
            .collect()
    }
}

/// What earlier checks learned that later ones need.
#[derive(Default)]
struct Found {
    ca: Option<certs::CaFacts>,
    leaf_der: Option<Vec<u8>>,
    nginx: Option<crate::nginx::discover::Found>,
    app: Option<crate::docker::observe::Observed>,
    sandboxes: Vec<crate::docker::observe::Observed>,
}

/// The checked config and what it implies, for every check after the first.
struct Setup<'a> {
    config: Config,
    profile: &'static Profile,
    paths: &'a Paths,
}

/// Records checks and refuses to run one whose prerequisite did not pass.
struct Runner {
    checks: Vec<Check>,
}

impl Runner {
    fn check(
        &mut self,
        (id, title): (&'static str, &'static str),
        needs: &[&str],
        run: impl FnOnce() -> Outcome,
    ) {
        let blocked = self.checks.iter().find(|c| {
            needs.contains(&c.id) && matches!(c.status, Status::Failure | Status::Skipped)
        });
        let outcome = match blocked {
            Some(c) if c.status == Status::Skipped => Outcome::skipped(c.cause.clone()),
            Some(c) => Outcome::skipped(format!("not run: {} failed", c.title)),
            None => run(),
        };
        self.checks.push(Check {
            id,
            title,
            status: outcome.status,
            cause: outcome.cause,
            fix: outcome.fix,
            detail: outcome.detail,
        });
    }
}

const CONFIG: (&str, &str) = ("config", "config file");
const CA: (&str, &str) = ("ca", "local CA");
const LEAF: (&str, &str) = ("leaf", "leaf certificate");
const RESOLVE: (&str, &str) = ("resolve", "domain name");
const NGINX: (&str, &str) = ("nginx", "nginx running");
const NGINX_TEST: (&str, &str) = ("nginx-test", "nginx -t");
const SITE_FILE: (&str, &str) = ("site-file", "site file");
const PORTS: (&str, &str) = ("ports", "ports held by nginx");
const CONTAINER: (&str, &str) = ("container", "OpenHands container");
const APP: (&str, &str) = ("app", "app answers directly");
const TLS: (&str, &str) = ("tls", "TLS handshake");
const HTTPS: (&str, &str) = ("https", "HTTPS request");
const SANDBOX_URL: (&str, &str) = ("sandbox-url", "sandbox URL pattern");
const SANDBOXES: (&str, &str) = ("sandboxes", "sandbox routes");
const WEBSOCKET: (&str, &str) = ("websocket", "WebSocket through nginx");

/// Runs every check in order.
pub fn run(paths: &Paths, options: &Options) -> Report {
    let mut r = Runner { checks: Vec::new() };
    let mut setup = None;
    r.check(CONFIG, &[], || config(paths, &mut setup));
    let Some(setup) = setup else {
        for check in [
            CA, LEAF, RESOLVE, NGINX, NGINX_TEST, SITE_FILE, PORTS, CONTAINER, APP, TLS, HTTPS,
            WEBSOCKET,
        ] {
            r.check(check, &["config"], Outcome::default);
        }
        return Report {
            ca_fingerprint: None,
            checks: r.checks,
        };
    };
    let s = &setup;
    let mut found = Found::default();
    let f = &mut found;

    r.check(CA, &["config"], || certs::ca(s, f));
    r.check(LEAF, &["ca"], || certs::leaf(s, f));
    r.check(RESOLVE, &["config"], || {
        resolve::check(s.config.domain.as_str())
    });
    r.check(NGINX, &["config"], || nginx::running(s, f));
    r.check(NGINX_TEST, &["nginx"], || nginx::test(s, f));
    r.check(SITE_FILE, &["nginx"], || nginx::site_file(s, f));
    r.check(PORTS, &["config"], || ports::check(&s.config));
    r.check(CONTAINER, &["config"], || container::check(s, f));
    r.check(APP, &["container"], || container::health(s));
    r.check(TLS, &["ca", "nginx", "ports"], || client::tls(s, f));
    r.check(HTTPS, &["tls"], || client::https(s, f));
    if s.profile.routing == Routing::Sandboxes {
        r.check(SANDBOX_URL, &["container"], || sandbox::url_pattern(s, f));
        r.check(SANDBOXES, &["container", "tls"], || sandbox::routes(s, f));
        r.check(WEBSOCKET, &["tls", "sandboxes"], || {
            sandbox::websocket(s, f, options.hold)
        });
    } else {
        r.check(WEBSOCKET, &["tls"], || {
            client::socket_io(s, f, options.hold)
        });
    }
    Report {
        ca_fingerprint: found.ca.as_ref().map(|ca| ca.fingerprint.clone()),
        checks: r.checks,
    }
}

impl Default for Outcome {
    /// Never used as a result: checks behind a failed config are always skipped.
    fn default() -> Outcome {
        Outcome::skipped("not run")
    }
}

fn config<'a>(paths: &'a Paths, setup: &mut Option<Setup<'a>>) -> Outcome {
    let config = match Config::load(&paths.config_file) {
        Ok(config) => config,
        Err(err) => {
            let fix = crate::error::hint(&err)
                .unwrap_or_else(|| "correct the file, or run `ohproxy init --force`".into());
            return Outcome::failure(crate::error::message(&err), fix);
        }
    };
    let (version, profile) = match profile_of(&config) {
        Ok(pair) => pair,
        Err(why) => return Outcome::failure(why, "set openhands.version to a known version"),
    };
    *setup = Some(Setup {
        config,
        profile,
        paths,
    });
    Outcome::ok(format!(
        "{} is valid (OpenHands {version})",
        paths.config_file.display()
    ))
}

fn profile_of(
    config: &Config,
) -> Result<(crate::openhands::OpenHandsVersion, &'static Profile), String> {
    let version = match &config.openhands.version {
        Some(version) => version.clone(),
        None => crate::openhands::OpenHandsVersion::parse(crate::openhands::NEWEST)?,
    };
    let profile = crate::openhands::profile_for(&version)?;
    Ok((version, profile))
}
