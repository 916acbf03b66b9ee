//! `ohproxy init`: check the flags, adopt or create the CA, write the config, then tell the
//! user where everything is and how each client comes to trust the CA.

use std::net::IpAddr;
use std::num::NonZeroU16;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::access::{self, AccessMode};
use crate::ca::{self, Ca};
use crate::cli::InitArgs;
use crate::config::{Config, SafePath};
use crate::error::{WithHint, invalid};
use crate::names::{Domain, Name};
use crate::paths::Paths;
use crate::{client_steps, lan, ui};

use super::ca::{load, when};

pub fn run(paths: &Paths, args: InitArgs) -> Result<()> {
    if paths.config_file.exists() && !args.force {
        ui::status(format!(
            "{} already exists; nothing changed (--force rewrites it from these flags; \
             the CA is never replaced)",
            paths.config_file.display()
        ));
        if let Some(warning) = previous_config(paths).as_ref().and_then(access::warning) {
            ui::warn(warning);
        }
        return Ok(());
    }
    let previous = previous_config(paths);
    let mut config = build_config(&args, previous)?;
    let lan = lan::addresses();
    if args.lan {
        for ip in &lan {
            push_name(&mut config, Name::Ip(*ip));
        }
    }
    if let Some(dir) = adopted_dir(&args)? {
        let dir = std::path::absolute(&dir)?;
        Ca::load(&dir).map_err(|e| invalid(format!("adopting {}: {e}", dir.display())))?;
        let root = SafePath::parse(&dir.to_string_lossy())
            .map_err(|e| invalid(format!("--caroot {}: {e}", dir.display())))?;
        config.ca.root = Some(root);
    }

    let ca_dir = config.ca_dir(paths);
    if let Some(aside) = ca::set_aside_orphan_key(&ca_dir)? {
        ui::warn(ca::orphan_warning(&aside));
    }
    let (ca, created) = if ca::exists(&ca_dir) {
        (load(&ca_dir)?, false)
    } else {
        (Ca::create(&ca_dir, args.ca_key_type)?, true)
    };
    config.save(&paths.config_file)?;

    report(paths, &config, &ca, created, &lan, args.lan);
    report_access(paths, &config)?;
    ui::status("\nOr open this page on the phone or laptop, once nginx serves the site:");
    super::ca_share::announce(paths, &config, &ca)?;
    if let Some(warning) = access::warning(&config) {
        ui::warn(warning);
    }
    Ok(())
}

/// Says who may reach OpenHands; in password mode with no user yet, creates the first
/// one with a generated password and shows it, once.
fn report_access(paths: &Paths, config: &Config) -> Result<()> {
    let mode = config.access.mode;
    ui::status(format!("\naccess: {}", mode.as_str()));
    match mode {
        AccessMode::Password => {
            super::user::ensure_first_user(config, paths)?;
        }
        AccessMode::ClientCert => {
            ui::status("issue a certificate for each device with `ohproxy client add NAME`")
        }
        AccessMode::None => {}
    }
    Ok(())
}

/// The current config file, kept as the base for `--force` so settings that no flag
/// covers survive; an unreadable one is started afresh.
fn previous_config(paths: &Paths) -> Option<Config> {
    if !paths.config_file.exists() {
        return None;
    }
    match Config::load(&paths.config_file) {
        Ok(config) => Some(config),
        Err(err) => {
            ui::warn(format!(
                "starting a new config: the old one is unusable: {err:#}"
            ));
            None
        }
    }
}

fn build_config(args: &InitArgs, previous: Option<Config>) -> Result<Config> {
    let domain = match (&args.domain, &previous) {
        (Some(text), _) => Domain::parse(text).map_err(|e| invalid(format!("--domain: {e}")))?,
        (None, Some(previous)) => previous.domain.clone(),
        (None, None) => {
            return Err(invalid("--domain is required: the name clients will open"))
                .hint("for example `ohproxy init --domain openhands.home.arpa`");
        }
    };
    let mut config = match previous {
        Some(previous) => Config { domain, ..previous },
        None => Config::new(domain),
    };
    for text in &args.names {
        let name = Name::parse(text).map_err(|e| invalid(format!("--name: {e}")))?;
        push_name(&mut config, name);
    }
    if let Some(mode) = args.access {
        config.access.mode = mode;
    }
    set_port(&mut config.ports.https, args.https_port, "--https-port")?;
    set_port(&mut config.ports.http, args.http_port, "--http-port")?;
    set_port(&mut config.ports.app, args.app_port, "--app-port")?;
    let ports = &config.ports;
    if ports.https == ports.http || ports.https == ports.app || ports.http == ports.app {
        return Err(invalid(format!(
            "--https-port {}, --http-port {} and --app-port {} must all differ",
            ports.https, ports.http, ports.app
        )));
    }
    Ok(config)
}

fn push_name(config: &mut Config, name: Name) {
    if !config.leaf_names().contains(&name) {
        config.names.push(name);
    }
}

fn set_port(slot: &mut NonZeroU16, value: Option<u16>, flag: &str) -> Result<()> {
    if let Some(value) = value {
        *slot = NonZeroU16::new(value)
            .ok_or_else(|| invalid(format!("{flag} {value}: a port is 1 to 65535")))?;
    }
    Ok(())
}

/// The directory of a CA to adopt: `--caroot DIR`, or what `mkcert -CAROOT` prints.
fn adopted_dir(args: &InitArgs) -> Result<Option<PathBuf>> {
    if let Some(dir) = &args.caroot {
        if !dir.is_dir() {
            return Err(invalid(format!(
                "--caroot {}: not a directory",
                dir.display()
            )));
        }
        return Ok(Some(dir.clone()));
    }
    if !args.mkcert_ca {
        return Ok(None);
    }
    let mkcert = which::which("mkcert")
        .map_err(|_| invalid("--mkcert-ca: mkcert is not on PATH"))
        .hint("install mkcert, or give its CA directory with --caroot DIR")?;
    let out = std::process::Command::new(&mkcert)
        .arg("-CAROOT")
        .output()
        .with_context(|| format!("running {} -CAROOT", mkcert.display()))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dir.is_empty() {
        anyhow::bail!("`{} -CAROOT` did not print a directory", mkcert.display());
    }
    Ok(Some(PathBuf::from(dir)))
}

fn report(paths: &Paths, config: &Config, ca: &Ca, created: bool, lan: &[IpAddr], added: bool) {
    let verb = if created { "created" } else { "using" };
    let adopted = if config.ca.root.is_some() {
        " (adopted, never modified)"
    } else {
        ""
    };
    ui::status(format!("wrote {}", paths.config_file.display()));
    ui::status(format!("{verb} the CA in {}{adopted}", ca.dir().display()));
    ui::status(format!("  certificate: {}", ca.cert_path().display()));
    ui::status(format!("  subject:     {}", ca.subject()));
    ui::status(format!("  expires:     {}", when(ca.not_after())));
    ui::status(format!("  sha-256:     {}", ca.fingerprint()));
    if paths.caroot_env.is_some() {
        ui::status("  (CAROOT is set and wins over the config)");
    }
    let names: Vec<String> = config.leaf_names().iter().map(Name::to_string).collect();
    ui::status(format!("leaf names: {}", names.join(", ")));
    if !added && !lan.is_empty() {
        let shown: Vec<String> = lan.iter().map(IpAddr::to_string).collect();
        ui::status(format!(
            "this machine's LAN addresses: {} (add them to the leaf with --lan --force)",
            shown.join(", ")
        ));
    }
    ui::status(format!(
        "\nTrust the CA on each client (copy {} to it; check the sha-256 above):",
        ca.cert_path().display()
    ));
    let file = ca::CERT_FILE;
    let text = client_steps::render_text(file, lan.first().copied(), config.domain.as_str());
    ui::status(text.trim_end());
    ui::status("\nnext: `ohproxy ca trust` (this machine), `ohproxy cert` (the leaf)");
}
