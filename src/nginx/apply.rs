//! The safe apply: render the site file, install the leaf and the access-control files
//! (password file, client CA, CRL), test the candidate inside the whole config, swap it in
//! atomically, reload, confirm that nginx really serves the new config, and put the
//! previous files back if any step fails. Returns what happened; never prints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::CertFiles;
use super::candidate::{self, TestReport};
use super::discover::{self, Found};
use super::process::{self, LogMark, Master, ReloadMethod};
use super::{precheck, sandbox_ports, template, version};
use crate::access::worker::Worker;
use crate::access::{self, AccessFiles, Install};
use crate::config::Config;
use crate::error::WithHint;
use crate::fsx;
use crate::paths::Paths;

/// How long a reload may take to bring up new workers. nginx retries a busy port five
/// times, 500 ms apart, before it gives up and keeps the old config.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

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
    /// The access-control files the mode needs (password file, client CA, CRL).
    access: Vec<Install>,
    /// nginx's workers, who must be able to read the private access files.
    worker: Option<Worker>,
    /// The sandbox allow-list and its text, for sites with sandbox routes.
    ports: Option<(PathBuf, String)>,
}

/// The previous site file and certificate, restored if the apply fails.
struct Previous {
    site: Option<Vec<u8>>,
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    /// The installed access files, in the order of `Plan::access`.
    access: Vec<Option<Vec<u8>>>,
    ports: Option<Vec<u8>>,
}

/// Applies the config to nginx, or with `dry_run` only reports what would change. The
/// sandbox allow-list keeps the ports it has.
pub fn apply(config: &Config, paths: &Paths, dry_run: bool) -> Result<Outcome> {
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
    apply_with(config, paths, false, ports)
}

fn apply_with(
    config: &Config,
    paths: &Paths,
    dry_run: bool,
    ports: &BTreeSet<u16>,
) -> Result<Outcome> {
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
    let previous = Previous::read(&plan)?;

    let access_changes = plan
        .access
        .iter()
        .zip(&previous.access)
        .any(|(install, old)| old.as_deref() != Some(&install.bytes[..]));
    let cert_changes = previous.cert.as_deref() != Some(&plan.leaf_cert[..])
        || previous.key.as_deref() != Some(&plan.leaf_key[..])
        || access_changes;
    let site_changes = previous.site.as_deref() != Some(plan.candidate.as_bytes())
        || plan
            .ports
            .as_ref()
            .is_some_and(|(_, text)| previous.ports.as_deref() != Some(text.as_bytes()));
    if dry_run {
        let staged = AccessFiles::staged(paths, &ca);
        let testable = Testable {
            config,
            info: &info,
            leaf: &leaf,
            access: &staged,
            page_root: &page_root,
        };
        return dry(testable, plan, &previous, cert_changes);
    }
    // The CA page holds only public files, so it is published before the swap and is not
    // part of the rollback: the previous page stays correct for the same CA.
    crate::onboarding::publish(&ca, config, paths)?;
    if !site_changes && !cert_changes {
        return Ok(Outcome::Unchanged {
            site_file: plan.found.site_file,
        });
    }

    let master = process::master(&plan.found.pid_file, &plan.found.ctl.start_hint())?;
    let mut plan = plan;
    if plan.access.iter().any(|install| install.private) {
        plan.worker = Some(Worker::of(master).context("finding the user nginx's workers run as")?);
    }
    let backup_dir = paths.state_dir.join("nginx").join("backup");
    previous.save(&plan, &backup_dir)?;
    let mut reloaded = None;
    match install_and_reload(&plan, master, &mut reloaded) {
        Ok((method, workers)) => Ok(Outcome::Applied {
            site_file: plan.found.site_file,
            certs: plan.certs,
            method,
            workers,
            backup_dir,
        }),
        Err(cause) => Err(roll_back(&plan, &previous, master, reloaded, cause)),
    }
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

/// What the dry run renders its scratch test from: files where they are now.
struct Testable<'a> {
    config: &'a Config,
    info: &'a version::NginxInfo,
    leaf: &'a crate::leaf::LeafFiles,
    access: &'a AccessFiles,
    page_root: &'a Path,
}

fn dry(
    testable: Testable<'_>,
    plan: Plan,
    previous: &Previous,
    cert_changes: bool,
) -> Result<Outcome> {
    let Testable {
        config,
        info,
        leaf,
        access,
        page_root,
    } = testable;
    let old = String::from_utf8_lossy(previous.site.as_deref().unwrap_or_default()).into_owned();
    let diff = unified_diff(&old, &plan.candidate, &plan.found.site_file);
    // The scratch test reads the leaf where it is now, since nothing is installed.
    let staged = CertFiles {
        cert: leaf.cert.clone(),
        key: leaf.key.clone(),
    };
    let testable = template::render_with(config, &staged, access, info, page_root)
        .context("rendering the site file")?;
    let mut others = BTreeMap::new();
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

impl Previous {
    fn read(plan: &Plan) -> Result<Previous> {
        Ok(Previous {
            site: read_optional(&plan.found.site_file)?,
            cert: read_optional(&plan.certs.cert)?,
            key: read_optional(&plan.certs.key)?,
            access: plan
                .access
                .iter()
                .map(|install| read_optional(&install.path))
                .collect::<Result<_>>()?,
            ports: match &plan.ports {
                Some((path, _)) => read_optional(path)?,
                None => None,
            },
        })
    }

    /// Each file apply may change, with its previous bytes and its mode.
    fn files<'a>(&'a self, plan: &'a Plan) -> Vec<(&'a Option<Vec<u8>>, &'a Path, u32)> {
        let mut files = vec![
            (&self.site, plan.found.site_file.as_path(), 0o644),
            (&self.cert, plan.certs.cert.as_path(), 0o644),
            (&self.key, plan.certs.key.as_path(), 0o600),
        ];
        if let Some((path, _)) = &plan.ports {
            files.push((&self.ports, path.as_path(), 0o644));
        }
        files
    }

    /// Keeps a copy of the previous files under the state dir, for the user too.
    fn save(&self, plan: &Plan, dir: &Path) -> Result<()> {
        fsx::create_dir(dir, 0o700)?;
        for (bytes, path, mode) in self.files(plan) {
            if let (Some(bytes), Some(name)) = (bytes, path.file_name()) {
                fsx::write_atomic(&dir.join(name), bytes, mode)?;
            }
        }
        for (install, bytes) in plan.access.iter().zip(&self.access) {
            if let (Some(bytes), Some(name)) = (bytes, install.path.file_name()) {
                fsx::write_atomic(&dir.join(name), bytes, 0o600)?;
            }
        }
        Ok(())
    }

    /// Puts every file back as it was (or removes what did not exist).
    fn restore(&self, plan: &Plan) -> Result<()> {
        for (bytes, path, mode) in self.files(plan) {
            match bytes {
                Some(bytes) => fsx::write_atomic(path, bytes, mode)?,
                None => fsx::remove_if_exists(path)?,
            }
        }
        for (install, bytes) in plan.access.iter().zip(&self.access) {
            match bytes {
                Some(bytes) => put(plan, &install.path, bytes, install.private)?,
                None => fsx::remove_if_exists(&install.path)?,
            }
        }
        Ok(())
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The steps that change nginx. `reloaded` is set once a reload was asked for, so that a
/// failure after it knows to reload the restored files.
fn install_and_reload(
    plan: &Plan,
    master: Master,
    reloaded: &mut Option<ReloadMethod>,
) -> Result<(ReloadMethod, Vec<u32>)> {
    let found = &plan.found;
    if let Some(dir) = plan.certs.cert.parent() {
        fsx::create_dir(dir, 0o755)?;
    }
    fsx::write_atomic(&plan.certs.cert, &plan.leaf_cert, 0o644)?;
    fsx::write_atomic(&plan.certs.key, &plan.leaf_key, 0o600)?;
    for install in &plan.access {
        put(plan, &install.path, &install.bytes, install.private)?;
    }
    // The allow-list goes in before the site file that includes it; until the reload,
    // nginx runs on what it read before, and a rollback puts the old list back.
    let mut others = BTreeMap::new();
    if let Some((path, text)) = &plan.ports {
        fsx::write_atomic(path, text.as_bytes(), 0o644)?;
        others.insert(path.clone(), text.clone());
    }

    // Written aside as a hidden file, which nginx's include globs skip.
    let aside = found.site_dir.join(format!(
        ".{}.new",
        found
            .site_file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
    ));
    fsx::write_atomic(&aside, plan.candidate.as_bytes(), 0o644)?;
    let test = candidate::test_with(found, &plan.candidate, &others, &plan.names);
    let test = match test {
        Ok(test) if test.ok => test,
        other => {
            let _ = fsx::remove_if_exists(&aside);
            return Err(test_failure(other, "the new site file"));
        }
    };
    tracing::debug!("nginx -t of the candidate: {:?}", test.output);

    std::fs::rename(&aside, &found.site_file)
        .with_context(|| format!("moving {} into place", aside.display()))?;
    // The scratch test saw the whole config; this one sees the real files in place.
    let live = candidate::test_live(found, &plan.names);
    if !matches!(&live, Ok(t) if t.ok) {
        return Err(test_failure(
            live,
            "the config with the new site file in place",
        ));
    }

    let method = if process::managed_by_systemd(master) {
        ReloadMethod::Systemd
    } else {
        ReloadMethod::Signal
    };
    let before = process::workers(master);
    let mark = found.error_log.as_deref().and_then(LogMark::now);
    *reloaded = Some(method);
    process::reload(method, found.ctl.command())?;
    let workers = confirm_live(found, master, &before, mark.as_ref())?;
    Ok((method, workers))
}

/// Installs one access file: a private one for nginx's workers only, and refused unless
/// they can really read it where it is (every directory above it included), since nginx
/// would otherwise answer every request with 500.
fn put(plan: &Plan, path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    if let Some(dir) = path.parent() {
        fsx::create_dir(dir, 0o755)?;
    }
    let Some(worker) = plan.worker.as_ref().filter(|_| private) else {
        return fsx::write_atomic(path, bytes, 0o644);
    };
    access::worker::write_private(path, bytes, worker)?;
    if let Err(closed) = worker.can_read(path) {
        return Err(anyhow::anyhow!(
            "nginx's workers (uid {}, gid {}) cannot read {}: {} is closed to them",
            worker.uid,
            worker.gid,
            path.display(),
            closed.display()
        ))
        .hint("set nginx.cert-dir in the config to a directory nginx's workers can enter");
    }
    Ok(())
}

fn test_failure(result: Result<TestReport>, what: &str) -> anyhow::Error {
    match result {
        Err(e) => e.context(format!("testing {what}")),
        Ok(report) => {
            let lines = if report.problems.is_empty() {
                super::process::last_lines(&report.output.join("\n"))
            } else {
                report.problems.join(" / ")
            };
            anyhow::anyhow!("`nginx -t` refused {what}: {lines}")
        }
    }
}

/// Waits until the reload has really taken. nginx's exit code cannot tell: the signal is
/// delivered before the master reads the new config, and a master that then cannot bind a
/// new port logs `[emerg]` and carries on with the old config and the old workers. So the
/// proof is on the master itself: its current workers are all new processes (old ones are
/// retitled "shutting down" or gone), and the error log gained no `[emerg]` meanwhile.
fn confirm_live(
    found: &Found,
    master: Master,
    before: &[u32],
    mark: Option<&LogMark>,
) -> Result<Vec<u32>> {
    let deadline = Instant::now() + RELOAD_WAIT;
    loop {
        let failures = mark.map(LogMark::failures_since).unwrap_or_default();
        if let Some(line) = failures.first() {
            bail!("nginx refused the new config when reloading: {line}");
        }
        let now = process::workers(master);
        if !now.is_empty() && now.iter().all(|pid| !before.contains(pid)) {
            return Ok(now);
        }
        if !Path::new(&format!("/proc/{}", master.pid)).exists() {
            bail!(
                "the nginx master (pid {}) exited during the reload",
                master.pid
            );
        }
        if Instant::now() > deadline {
            let log = found
                .error_log
                .as_ref()
                .map(|p| format!("; see {}", p.display()))
                .unwrap_or_default();
            bail!(
                "nginx did not start new workers within {} s of the reload, so the new \
                 config is not live{log}",
                RELOAD_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Restores the previous files, reloads again if a reload was attempted, and returns the
/// error that says what failed and what was done about it.
fn roll_back(
    plan: &Plan,
    previous: &Previous,
    master: Master,
    reloaded: Option<ReloadMethod>,
    cause: anyhow::Error,
) -> anyhow::Error {
    if let Err(e) = previous.restore(plan) {
        return cause.context(format!(
            "apply failed, and restoring the previous site file and certificate failed too \
             ({e:#}); check {} by hand",
            plan.found.site_file.display()
        ));
    }
    let Some(method) = reloaded else {
        return cause.context(
            "apply failed; nothing live changed, the previous site file and certificate are \
             in place",
        );
    };
    let before = process::workers(master);
    let again = process::reload(method, plan.found.ctl.command())
        .and_then(|()| confirm_live(&plan.found, master, &before, None));
    match again {
        Ok(_) => cause.context(
            "apply failed; the previous site file and certificate were restored and nginx \
             reloaded with them",
        ),
        Err(e) => cause.context(format!(
            "apply failed; the previous site file and certificate were restored, but \
             reloading nginx with them failed too ({e:#})"
        )),
    }
}
