//! `ohproxy status [--json]`: the container (state, image, uptime, health, published
//! address) and whether it matches the config, whether the app answers, the URL, when
//! the leaf and the CA expire, and whether nginx serves the site file ohproxy would render
//! now. A part that cannot be read is reported as such; the rest is still shown.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ca::Ca;
use crate::cli::StatusArgs;
use crate::config::Config;
use crate::docker::converge::stale;
use crate::docker::observe::{self, Observed};
use crate::docker::spec::Spec;
use crate::docker::{Engine, pull, ready};
use crate::paths::Paths;
use crate::{leaf, nginx, renew, ui};

use super::up::{runtime, url};

/// The report; its fields are documented in README.md and kept stable.
#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub engine: EngineReport,
    pub container: ContainerReport,
    pub app: AppReport,
    pub leaf: Option<CertReport>,
    pub ca: Option<CertReport>,
    pub nginx: NginxReport,
    /// OpenHands 1.x: the running sandboxes' host ports, those routed through nginx, and
    /// those published on every interface.
    pub sandboxes: SandboxReport,
}

#[derive(Debug, Default, Serialize)]
pub struct SandboxReport {
    pub live: Vec<u16>,
    pub routed: Vec<u16>,
    pub exposed: Vec<u16>,
}

#[derive(Debug, Serialize)]
pub struct EngineReport {
    pub host: String,
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct ContainerReport {
    pub name: String,
    pub exists: bool,
    pub managed: bool,
    pub id: Option<String>,
    pub state: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub started_at: Option<String>,
    pub uptime_seconds: Option<i64>,
    pub health: Option<String>,
    pub restart_count: Option<i64>,
    pub published: Vec<String>,
    pub matches_config: bool,
    pub mismatch: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AppReport {
    pub url: String,
    pub answered: bool,
    pub http_status: Option<u16>,
}

#[derive(Debug, Serialize)]
pub struct CertReport {
    pub path: PathBuf,
    pub not_after: String,
    pub days_left: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct NginxReport {
    pub site_file: Option<PathBuf>,
    /// Whether the site file exists at all.
    pub installed: bool,
    /// True when the live site file equals what ohproxy renders now.
    pub live_matches: Option<bool>,
    pub error: Option<String>,
}

pub fn run(paths: &Paths, args: StatusArgs) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    if let Some(warning) = crate::access::warning(&config) {
        ui::warn(warning);
    }
    let report = gather(&config, paths)?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).expect("a report always serialises");
        ui::data(format!("{text}\n"));
    } else {
        print(&report);
    }
    let exposed = &report.sandboxes.exposed;
    if !exposed.is_empty() {
        let (message, fix, rules) = crate::openhands::exposed_ports_warning(exposed);
        ui::warn(format!("{message}; {fix}:\n  {}", rules.join("\n  ")));
    }
    Ok(())
}

fn gather(config: &Config, paths: &Paths) -> Result<Report> {
    let name = config.openhands.container.as_str().to_string();
    let (engine, container, mut sandboxes) = runtime()?.block_on(docker_part(config, paths, &name));
    sandboxes.routed = crate::nginx::sandbox_ports::installed(config, paths)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let spec_port = config.ports.app.get();
    let health = crate::docker::spec::profile(config)
        .map(|(_, p)| p.health_path)
        .unwrap_or("/health");
    let answer = runtime()?.block_on(ready::get(spec_port, health)).ok();
    let ca = Ca::load(&config.ca_dir(paths)).ok();
    let leaf_path = leaf::file_names(&config.leaf_names(), false, &paths.leaf_dir()).cert;
    Ok(Report {
        url: url(config),
        engine,
        container,
        app: AppReport {
            url: format!("http://127.0.0.1:{spec_port}{health}"),
            answered: answer.is_some_and(|s| (200..400).contains(&s)),
            http_status: answer,
        },
        leaf: renew::not_after(&leaf_path).map(|t| cert_report(leaf_path, t, None)),
        ca: ca.map(|ca| cert_report(ca.cert_path(), ca.not_after(), Some(ca.fingerprint()))),
        nginx: nginx_report(config, paths),
        sandboxes,
    })
}

async fn docker_part(
    config: &Config,
    paths: &Paths,
    name: &str,
) -> (EngineReport, ContainerReport, SandboxReport) {
    let mut container = ContainerReport {
        name: name.to_string(),
        ..Default::default()
    };
    let host = crate::docker::engine::docker_host();
    let engine = match Engine::connect().await {
        Ok(engine) => engine,
        Err(e) => {
            return (
                EngineReport {
                    host,
                    error: Some(e.to_string()),
                },
                container,
                SandboxReport::default(),
            );
        }
    };
    let mut error = None;
    match observe::container(&engine, name).await {
        Ok(Some(found)) => fill(&mut container, &engine, config, paths, found).await,
        Ok(None) => {}
        Err(e) => error = Some(e.to_string()),
    }
    let mut sandboxes = SandboxReport::default();
    if let Ok(listing) = crate::watch::listing(&engine).await {
        sandboxes.live = crate::watch::routes_of(&listing).into_keys().collect();
        sandboxes.exposed = crate::watch::exposed_of(&listing);
    }
    (EngineReport { host, error }, container, sandboxes)
}

async fn fill(
    report: &mut ContainerReport,
    engine: &Engine,
    config: &Config,
    paths: &Paths,
    found: Observed,
) {
    let uptime = found
        .started_at
        .as_deref()
        .filter(|_| found.running())
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .map(|t| (OffsetDateTime::now_utc() - t).whole_seconds());
    let spec = Spec::for_site(config, paths, None, &engine.socket_path());
    let mismatch = match spec {
        Ok(spec) => {
            let image_id = pull::local_id(engine, &spec.image).await.ok().flatten();
            let wanted = image_id.unwrap_or_else(|| found.image_id.clone());
            stale(&found, &spec, &wanted)
        }
        Err(e) => Some(e.to_string()),
    };
    let mismatch = if found.managed() {
        mismatch
    } else {
        Some("not created by ohproxy".to_string())
    };
    let published = found.published();
    *report = ContainerReport {
        name: report.name.clone(),
        exists: true,
        managed: found.managed(),
        id: Some(found.id),
        state: Some(found.status),
        image: Some(found.image),
        image_id: Some(found.image_id),
        started_at: found.started_at,
        uptime_seconds: uptime,
        health: found.health,
        restart_count: Some(found.restart_count),
        published,
        matches_config: mismatch.is_none(),
        mismatch,
    };
}

fn cert_report(
    path: PathBuf,
    not_after: OffsetDateTime,
    fingerprint: Option<String>,
) -> CertReport {
    CertReport {
        path,
        not_after: not_after.format(&Rfc3339).unwrap_or_default(),
        days_left: (not_after - OffsetDateTime::now_utc()).whole_days(),
        fingerprint,
    }
}

fn nginx_report(config: &Config, paths: &Paths) -> NginxReport {
    let compare = || -> Result<(PathBuf, Option<String>, String)> {
        let found = nginx::discover::discover(config)?;
        let info = nginx::version::detect(&found.ctl.binary)?;
        let wanted = nginx::render_site(config, paths, &info)?;
        let live = std::fs::read_to_string(&found.site_file).ok();
        Ok((found.site_file, live, wanted))
    };
    match compare() {
        Ok((site_file, live, wanted)) => NginxReport {
            site_file: Some(site_file),
            installed: live.is_some(),
            live_matches: Some(live.as_deref() == Some(wanted.as_str())),
            error: None,
        },
        Err(e) => NginxReport {
            site_file: None,
            installed: false,
            live_matches: None,
            error: Some(crate::error::message(&e)),
        },
    }
}

fn print(report: &Report) {
    let mut lines = vec![format!("url:       {}", report.url)];
    if let Some(error) = &report.engine.error {
        lines.push(format!("engine:    {error}"));
    }
    lines.extend(container_lines(&report.container));
    let answer = match report.app.http_status {
        Some(status) => format!("answers HTTP {status}"),
        None => "does not answer".to_string(),
    };
    lines.push(format!("app:       {} {answer}", report.app.url));
    for (what, cert) in [("leaf", &report.leaf), ("CA", &report.ca)] {
        lines.push(match cert {
            Some(cert) => format!(
                "{what:<10} expires {} ({} days)",
                cert.not_after, cert.days_left
            ),
            None => format!("{what:<10} none"),
        });
    }
    lines.push(nginx_line(&report.nginx));
    let sb = &report.sandboxes;
    lines.extend(sandbox_line(sb));
    ui::data(lines.join("\n") + "\n");
}

fn container_lines(c: &ContainerReport) -> Vec<String> {
    if !c.exists {
        return vec![format!(
            "container: {} does not exist (run `ohproxy up`)",
            c.name
        )];
    }
    let uptime = c
        .uptime_seconds
        .map(|s| format!(", up {}", duration(s)))
        .unwrap_or_default();
    let owner = if c.managed {
        ""
    } else {
        " (not created by ohproxy)"
    };
    vec![
        format!(
            "container: {} {}{uptime}{owner}, image {}",
            c.name,
            c.state.as_deref().unwrap_or("?"),
            c.image.as_deref().unwrap_or("?")
        ),
        format!("           published on {}", c.published.join(", ")),
        match &c.mismatch {
            None => "           matches the config".to_string(),
            Some(why) => format!("           differs from the config: {why} (run `ohproxy up`)"),
        },
    ]
}

fn nginx_line(n: &NginxReport) -> String {
    match (n.live_matches, &n.error) {
        (Some(false), _) if !n.installed => {
            "nginx:     no site file installed yet (run `ohproxy up`)".to_string()
        }
        (Some(true), _) => "nginx:     the live site file is what ohproxy renders now".to_string(),
        (Some(false), _) => "nginx:     the live site file differs (run `ohproxy up`)".to_string(),
        (None, Some(e)) => format!("nginx:     {e}"),
        (None, None) => "nginx:     unknown".to_string(),
    }
}

/// One line on the sandboxes, when there are any, naming live ports not yet routed.
fn sandbox_line(sb: &SandboxReport) -> Option<String> {
    if sb.live.is_empty() && sb.routed.is_empty() {
        return None;
    }
    let unrouted: Vec<String> = sb
        .live
        .iter()
        .filter(|p| !sb.routed.contains(p))
        .map(u16::to_string)
        .collect();
    let not_yet = if unrouted.is_empty() {
        String::new()
    } else {
        format!(
            " (not yet: {}; is `ohproxy watch` running?)",
            unrouted.join(", ")
        )
    };
    Some(format!(
        "sandboxes: {} port(s) live, {} routed under /runtime/{not_yet}",
        sb.live.len(),
        sb.routed.len(),
    ))
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86400),
    }
}
