//! `ohproxy up`: create what is missing (config, CA, leaf), converge the OpenHands
//! container, wait until the app answers, apply nginx, and print the URL, the CA's
//! fingerprint and how clients trust it. With nothing to do it does nothing and says so.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::ca::{self, Ca};
use crate::cli::UpArgs;
use crate::config::{Config, KeyType};
use crate::docker::converge::{self, Action, Converged};
use crate::docker::ready::Probe;
use crate::docker::spec::{self, Spec};
use crate::docker::{Engine, pull, sandbox_env, with_hint};
use crate::error::{WithHint, invalid};
use crate::leaf::{self, Request};
use crate::names::{Domain, Name};
use crate::nginx::apply::Outcome;
use crate::paths::Paths;
use crate::renew::{self, LeafCheck};
use crate::{client_steps, ui};

use super::ca::{load, when};
use super::pull_progress::PullProgress;
use super::state_move;

pub fn run(paths: &Paths, args: UpArgs) -> Result<()> {
    let mut changes = Vec::new();
    let config = ensure_config(paths, args.domain.as_deref(), &mut changes)?;
    let (version, profile) = spec::profile(&config).hint(format!(
        "set openhands.version in {} to a version ohproxy knows",
        paths.config_file.display()
    ))?;
    let ca = ensure_ca(&config, paths, &mut changes)?;
    ensure_leaf(&config, paths, &ca, &mut changes)?;
    if super::user::ensure_first_user(&config, paths)? {
        changes.push("first user".to_string());
    }

    let converged = runtime()?.block_on(async {
        let engine = Engine::connect().await.map_err(with_hint)?;
        let socket = engine.socket_path();
        let spec = Spec::for_site(&config, paths, args.image.as_deref(), &socket)?;
        if profile.sandbox_vars().is_some() {
            let bundle = sandbox_env::write_bundle(&config, paths)?;
            tracing::debug!("CA bundle for the app: {}", bundle.display());
        }
        state_move::check(profile, args.move_state)?;
        spec.create_host_dirs()?;
        container(&engine, &spec, &args, paths, &mut changes).await
    })?;
    tracing::debug!("container {} for OpenHands {version}", converged.id);

    match crate::nginx::apply::apply(&config, paths, false)? {
        Outcome::Unchanged { site_file } => {
            ui::status(format!(
                "nginx: {} is current; not reloaded",
                site_file.display()
            ));
        }
        Outcome::Applied {
            site_file, method, ..
        } => {
            ui::status(format!(
                "nginx: installed {} and reloaded ({method})",
                site_file.display()
            ));
            changes.push("nginx".to_string());
        }
        Outcome::DryRun { .. } => unreachable!("apply without --dry-run never reports a dry run"),
    }
    if profile.sandbox_vars().is_some() {
        super::watch::set_up_service(&config, paths, args.no_watch, &mut changes);
    }
    report(&config, &ca, &changes)
}

/// The config, written from `--domain` when there is none yet.
fn ensure_config(paths: &Paths, domain: Option<&str>, changes: &mut Vec<String>) -> Result<Config> {
    let wanted = domain
        .map(|text| Domain::parse(text).map_err(|e| invalid(format!("--domain: {e}"))))
        .transpose()?;
    if paths.config_file.exists() {
        let config = Config::load(&paths.config_file)?;
        if let Some(wanted) = wanted
            && wanted != config.domain
        {
            return Err(invalid(format!(
                "--domain {wanted} differs from the configured domain {}",
                config.domain
            )))
            .hint(format!(
                "drop --domain, or change it with `ohproxy init --force --domain {wanted}`"
            ));
        }
        return Ok(config);
    }
    let Some(domain) = wanted else {
        return Err(invalid(format!(
            "no config at {} and no --domain to write one",
            paths.config_file.display()
        )))
        .hint("for example `ohproxy up --domain openhands.home.arpa`");
    };
    let config = Config::new(domain);
    config.save(&paths.config_file)?;
    ui::status(format!("config: wrote {}", paths.config_file.display()));
    changes.push("config".into());
    Ok(config)
}

fn ensure_ca(config: &Config, paths: &Paths, changes: &mut Vec<String>) -> Result<Ca> {
    let dir = config.ca_dir(paths);
    if let Some(aside) = ca::set_aside_orphan_key(&dir)? {
        ui::warn(ca::orphan_warning(&aside));
    }
    if ca::exists(&dir) {
        return load(&dir);
    }
    let ca = Ca::create(&dir, KeyType::default())?;
    ui::status(format!("CA: created {}", ca.cert_path().display()));
    changes.push("CA".into());
    Ok(ca)
}

/// Issues the leaf when it is missing, expiring within 30 days, for other names, or from
/// another CA.
fn ensure_leaf(config: &Config, paths: &Paths, ca: &Ca, changes: &mut Vec<String>) -> Result<()> {
    let names = config.leaf_names();
    let files = leaf::file_names(&names, false, &paths.leaf_dir());
    let check = renew::check(&files.cert, &names, ca, time::OffsetDateTime::now_utc());
    let Some(reason) = check.reason() else {
        if let LeafCheck::Good { not_after } = check {
            ui::status(format!("leaf: good until {}", when(not_after)));
        }
        return Ok(());
    };
    let request = Request {
        names: &names,
        key_type: config.cert.key_type,
        days: config.cert.days,
        client: false,
    };
    let issued = leaf::issue(ca, &request).context("issuing the leaf")?;
    leaf::write(&issued, &files)?;
    let shown: Vec<String> = names.iter().map(Name::to_string).collect();
    ui::status(format!(
        "leaf: issued for {} ({reason}), expires {}",
        shown.join(", "),
        when(issued.not_after)
    ));
    changes.push("leaf".into());
    Ok(())
}

/// The image, the container and its readiness.
async fn container(
    engine: &Engine,
    spec: &Spec,
    args: &UpArgs,
    paths: &Paths,
    changes: &mut Vec<String>,
) -> Result<Converged> {
    let mut progress = PullProgress::for_stderr();
    let image = pull::ensure_image(engine, &spec.image, args.pull, &mut |info| {
        progress.update(info)
    })
    .await;
    progress.finish();
    let (image_id, pulled) = image.map_err(with_hint)?;
    if pulled {
        ui::status(format!("image: pulled {}", spec.image));
    }

    let name = &spec.name;
    let probe = Probe {
        name: name.clone(),
        port: spec.app_port,
        path: spec.health_path.clone(),
        timeout: Duration::from_secs(args.wait),
    };
    let (converged, took) =
        converge::converge(engine, spec, &image_id, &paths.config_file, &probe, |c| {
            ui::status(container_line(name, c));
        })
        .await
        .map_err(with_hint)?;
    if converged.action != Action::Unchanged {
        changes.push(format!("container {name}"));
    }
    ui::status(format!(
        "app: answered on http://127.0.0.1:{}{} after {:.1} s",
        spec.app_port,
        spec.health_path,
        took.as_secs_f64()
    ));
    Ok(converged)
}

/// What converging did to the container, said as soon as it runs.
fn container_line(name: &str, converged: &Converged) -> String {
    let short = converge::short(&converged.id);
    match &converged.action {
        Action::Unchanged => format!("container {name}: running, up to date ({short})"),
        Action::Started => format!("container {name}: started ({short})"),
        Action::Created => format!("container {name}: created ({short})"),
        Action::Recreated { old_id, reason } => {
            let old = converge::short(old_id);
            format!(
                "container {name}: recreated because {reason} ({old} replaced by {short}; \
                 {old} is kept, stopped, until the app answers)"
            )
        }
    }
}

/// A runtime for the Docker calls of one command.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The site's address as clients open it.
pub(super) fn url(config: &Config) -> String {
    match config.ports.https.get() {
        443 => format!("https://{}/", config.domain),
        port => format!("https://{}:{port}/", config.domain),
    }
}

fn report(config: &Config, ca: &Ca, changes: &[String]) -> Result<()> {
    let file = ca::CERT_FILE;
    ui::status(format!(
        "\nTrust the CA on each client (copy {} to it; check its fingerprint):",
        ca.cert_path().display()
    ));
    let lan = crate::lan::addresses();
    let text = client_steps::render_text(file, lan.first().copied(), config.domain.as_str());
    ui::status(text.trim_end());
    super::ca_share::show_page(config, ca)?;
    ui::status("");
    ui::status(format!("OpenHands is at {}", url(config)));
    ui::status(format!("CA fingerprint (sha-256): {}", ca.fingerprint()));
    if let Some(warning) = crate::access::warning(config) {
        ui::warn(warning);
    }
    if changes.is_empty() {
        ui::status("nothing changed: config, CA, leaf, container and nginx were already current");
    } else {
        ui::status(format!("changed: {}", changes.join(", ")));
    }
    Ok(())
}
