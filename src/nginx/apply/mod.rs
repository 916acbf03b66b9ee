//! The safe apply: render the site file, install the leaf and the access-control files
//! (password file, client CA, CRL), test the candidate inside the whole config, swap it in
//! atomically, reload, confirm that nginx really serves the new config, and put the
//! previous files back if any step fails, one apply at a time. Returns what happened;
//! prints only when it waits for another apply.

mod lock;
mod previous;
mod swap;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::CertFiles;
use super::candidate::{self, TestReport};
use super::discover::{self, Found};
use super::process::ReloadMethod;
use super::{precheck, sandbox_ports, template, version};
use crate::access::worker::Worker;
use crate::access::{self, AccessFiles, Install, Reader};
use crate::config::Config;
use crate::error::WithHint;
use crate::paths::Paths;
use previous::Previous;

/// What an apply did.
#[derive(Debug)]
pub enum Outcome {
    /// The site file and the certificate were already in place; nginx was not touched.
    Unchanged { site_file: PathBuf },
    /// `--dry-run`: what would change and what `nginx -t` says about it.
    DryRun {
        site_file: PathBuf,
        diff: String,
        cert_changes: bool,
        test: TestReport,
    },
    /// The new config is live.
    Applied {
        site_file: PathBuf,
        certs: CertFiles,
        method: ReloadMethod,
        workers: Vec<u32>,
        backup_dir: PathBuf,
    },
}

/// What apply works from: the nginx found, the rendered candidate and the leaf to install.
struct Plan {
    found: Found,
    certs: CertFiles,
    candidate: String,
    names: Vec<String>,
    leaf_cert: Vec<u8>,
    leaf_key: Vec<u8>,
    /// The access-control files the mode needs (password file and session include, or
    /// client CA and CRL).
    access: Vec<Install>,
    /// nginx's workers, who must be able to read the private access files.
    worker: Option<Worker>,
    /// The sandbox allow-list and its text, for sites with sandbox routes.
    ports: Option<(PathBuf, String)>,
}

/// Waits for any other apply (or removal) of this state directory to finish and keeps
/// them out until the returned guard is dropped.
pub fn exclusive(paths: &Paths) -> Result<lock::ApplyLock> {
    lock::acquire(paths)
}

/// Applies the config to nginx, or with `dry_run` only reports what would change. The
/// sandbox allow-list keeps the ports it has.
pub fn apply(config: &Config, paths: &Paths, dry_run: bool) -> Result<Outcome> {
    let _lock = exclusive(paths)?;
    let ports = sandbox_ports::installed(config, paths)?;
    apply_with(config, paths, dry_run, &ports)
}

/// Applies the config with this sandbox allow-list: the same test, swap, reload, check
/// and rollback, with the allow-list as one more file of the site.
pub fn apply_sandbox_ports(
    config: &Config,
    paths: &Paths,
    ports: &BTreeSet<u16>,
) -> Result<Outcome> {
    let _lock = exclusive(paths)?;
    apply_with(config, paths, false, ports)
}

fn apply_with(
    config: &Config,
    paths: &Paths,
    dry_run: bool,
    ports: &BTreeSet<u16>,
) -> Result<Outcome> {
    let (plan, inputs) = Plan::make(config, paths, dry_run, ports)?;
    let previous = Previous::read(&plan)?;
    let changes = Changes::between(&plan, &previous);
    if dry_run {
        return dry(config, paths, &inputs, plan, &previous, changes.certs);
    }

    // The CA page holds only public files, so it is published before the swap and is not
    // part of the rollback: the previous page stays correct for the same CA.
    crate::onboarding::publish(&inputs.ca, config, paths)?;
    if !changes.site && !changes.certs {
        return Ok(Outcome::Unchanged {
            site_file: plan.found.site_file,
        });
    }
    swap::swap(plan, &previous, paths)
}

/// What the plan was made from, kept for the dry run's scratch test and the CA page.
struct Inputs {
    info: version::NginxInfo,
    leaf: crate::leaf::LeafFiles,
    page_root: PathBuf,
    ca: crate::ca::Ca,
    access_files: AccessFiles,
}

impl Plan {
    /// Reads the leaf, finds nginx, renders the candidate and checks it against the other
    /// sites; with `dry_run` the access files are only rendered, never written.
    fn make(
        config: &Config,
        paths: &Paths,
        dry_run: bool,
        ports: &BTreeSet<u16>,
    ) -> Result<(Plan, Inputs)> {
        let leaf = crate::leaf::file_names(&config.leaf_names(), false, &paths.leaf_dir());
        let leaf_cert = read_leaf(&leaf.cert)?;
        let leaf_key = read_leaf(&leaf.key)?;
        let found = discover::discover(config)?;
        let info = version::detect(&found.ctl.binary)?;
        let certs = super::cert_files(config, paths);
        let page_root = crate::onboarding::public_dir(config, paths);
        let ca = crate::ca::Ca::load(&config.ca_dir(paths))?;

        let access_files =
            AccessFiles::installed(&super::cert_dir(config, paths), config.domain.as_str());
        let access = access::installs(config, paths, &ca, &access_files, dry_run)?;
        let candidate = template::render_with(config, &certs, &access_files, &info, &page_root)
            .context("rendering the site file")?;
        precheck::check(&found, &candidate)?;
        let names = precheck::our_servers(&found.site_file, &candidate)?
            .into_iter()
            .flat_map(|s| s.names)
            .collect();

        let plan = Plan {
            found,
            certs,
            candidate,
            names,
            leaf_cert,
            leaf_key,
            access,
            worker: None,
            ports: sandbox_ports::enabled(config).then(|| {
                (
                    sandbox_ports::file(config, paths),
                    sandbox_ports::render(ports),
                )
            }),
        };
        let inputs = Inputs {
            info,
            leaf,
            page_root,
            ca,
            access_files,
        };
        Ok((plan, inputs))
    }
}

/// Which of the files nginx reads would change.
struct Changes {
    /// The leaf, its key or an access file.
    certs: bool,
    /// The site file or the allow-list it includes.
    site: bool,
}

impl Changes {
    fn between(plan: &Plan, previous: &Previous) -> Changes {
        let access = plan
            .access
            .iter()
            .zip(&previous.access)
            .any(|(install, old)| old.as_deref() != Some(&install.bytes[..]));
        let certs = previous.cert.as_deref() != Some(&plan.leaf_cert[..])
            || previous.key.as_deref() != Some(&plan.leaf_key[..])
            || access;
        let ports = plan
            .ports
            .as_ref()
            .is_some_and(|(_, text)| previous.ports.as_deref() != Some(text.as_bytes()));
        let site = previous.site.as_deref() != Some(plan.candidate.as_bytes()) || ports;
        Changes { certs, site }
    }
}

/// The access files that nginx reads as config, by path: the scratch test inlines their
/// text, since what is on disk is either missing or the previous version.
fn config_includes(installs: &[Install]) -> BTreeMap<PathBuf, String> {
    installs
        .iter()
        .filter(|install| install.reader == Reader::Master)
        .map(|install| {
            let text = String::from_utf8_lossy(&install.bytes).into_owned();
            (install.path.clone(), text)
        })
        .collect()
}

fn read_leaf(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow::anyhow!(
            "there is no leaf certificate at {}",
            path.display()
        ))
        .hint("run `ohproxy cert` first"),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The dry run: the diff against the installed site file, and `nginx -t` of a scratch
/// copy of the whole config that reads the leaf and access files where they are now,
/// since nothing is installed.
fn dry(
    config: &Config,
    paths: &Paths,
    inputs: &Inputs,
    plan: Plan,
    previous: &Previous,
    cert_changes: bool,
) -> Result<Outcome> {
    let old = String::from_utf8_lossy(previous.site.as_deref().unwrap_or_default()).into_owned();
    let diff = unified_diff(&old, &plan.candidate, &plan.found.site_file);
    let staged = CertFiles {
        cert: inputs.leaf.cert.clone(),
        key: inputs.leaf.key.clone(),
    };
    let access = AccessFiles::staged(paths, &inputs.ca, &inputs.access_files);
    let testable = template::render_with(config, &staged, &access, &inputs.info, &inputs.page_root)
        .context("rendering the site file")?;
    let mut others = config_includes(&plan.access);
    if let Some((_, text)) = &plan.ports {
        let staged_ports = sandbox_ports::beside(&staged, config.domain.as_str());
        others.insert(staged_ports, text.clone());
    }
    let test = candidate::test_with(&plan.found, &testable, &others, &plan.names)?;
    Ok(Outcome::DryRun {
        site_file: plan.found.site_file,
        diff,
        cert_changes,
        test,
    })
}

/// A unified diff of the site file, old against new; empty when they are equal.
pub fn unified_diff(old: &str, new: &str, path: &Path) -> String {
    if old == new {
        return String::new();
    }
    let name = path.display().to_string();
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{name} (installed)"), &format!("{name} (new)"))
        .to_string()
}
