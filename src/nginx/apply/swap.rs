//! The steps that change the running nginx: install the leaf, the access files and the
//! allow-list, test the candidate, swap the site file in, reload, confirm the new config
//! is live, and on any failure put the previous files back and reload again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::previous::Previous;
use super::{Outcome, Plan};
use crate::access::worker::Worker;
use crate::access::{self, Reader};
use crate::error::WithHint;
use crate::fsx;
use crate::nginx::candidate::{self, TestReport};
use crate::nginx::discover::Found;
use crate::nginx::process::{self, LogMark, Master, ReloadMethod};
use crate::paths::Paths;

/// How long a reload may take to bring up new workers. nginx retries a busy port five
/// times, 500 ms apart, before it gives up and keeps the old config.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// Changes nginx from `previous` to `plan`: keeps a copy of the previous files, installs
/// and reloads, and rolls back on any failure.
pub(super) fn swap(mut plan: Plan, previous: &Previous, paths: &Paths) -> Result<Outcome> {
    let master = process::master(&plan.found.pid_file, &plan.found.ctl.start_hint())?;
    if plan
        .access
        .iter()
        .any(|install| install.reader == Reader::Workers)
    {
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
        Err(cause) => Err(roll_back(&plan, previous, master, reloaded, cause)),
    }
}

/// The steps that change nginx. `reloaded` is set once a reload was asked for, so that a
/// failure after it knows to reload the restored files.
fn install_and_reload(
    plan: &Plan,
    master: Master,
    reloaded: &mut Option<ReloadMethod>,
) -> Result<(ReloadMethod, Vec<u32>)> {
    let others = install_files(plan)?;
    swap_site_file(plan, &others)?;

    let found = &plan.found;
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

/// Installs the leaf, the access files and the allow-list; returns the files the site
/// file includes, by path, for the scratch test.
fn install_files(plan: &Plan) -> Result<BTreeMap<PathBuf, String>> {
    if let Some(dir) = plan.certs.cert.parent() {
        fsx::create_dir(dir, 0o755)?;
    }
    fsx::write_atomic(&plan.certs.cert, &plan.leaf_cert, 0o644)?;
    fsx::write_atomic(&plan.certs.key, &plan.leaf_key, 0o600)?;
    for install in &plan.access {
        put(plan, &install.path, &install.bytes, install.reader)?;
    }
    // The allow-list goes in before the site file that includes it; until the reload,
    // nginx runs on what it read before, and a rollback puts the old list back.
    let mut others = super::config_includes(&plan.access);
    if let Some((path, text)) = &plan.ports {
        fsx::write_atomic(path, text.as_bytes(), 0o644)?;
        others.insert(path.clone(), text.clone());
    }
    Ok(others)
}

/// Tests the candidate in a scratch copy of the whole config, moves it into place, and
/// tests the real tree with it.
fn swap_site_file(plan: &Plan, others: &BTreeMap<PathBuf, String>) -> Result<()> {
    let found = &plan.found;
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
    let test = candidate::test_with(found, &plan.candidate, others, &plan.names);
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
    Ok(())
}

/// Installs one access file: a secret for the workers for them only, and refused unless
/// they can really read it where it is (every directory above it included), since nginx
/// would otherwise answer every request with 500.
pub(super) fn put(plan: &Plan, path: &Path, bytes: &[u8], reader: Reader) -> Result<()> {
    if let Some(dir) = path.parent() {
        fsx::create_dir(dir, 0o755)?;
    }
    let worker = match (reader, plan.worker.as_ref()) {
        (Reader::Workers, Some(worker)) => worker,
        (Reader::Master, _) => return fsx::write_atomic(path, bytes, 0o600),
        _ => return fsx::write_atomic(path, bytes, 0o644),
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
                process::last_lines(&report.output.join("\n"))
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
