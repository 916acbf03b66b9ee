//! `ohproxy doctor [--json] [--hold SECONDS]`: runs the checks and shows the report, one
//! line per check with its fix, or as JSON; exit 1 when any check failed.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::DoctorArgs;
use crate::doctor::{self, Check, Options, Report, Status};
use crate::paths::Paths;
use crate::ui;

pub fn run(paths: &Paths, args: DoctorArgs) -> Result<()> {
    let config = crate::config::Config::load(&paths.config_file).ok();
    if let Some(warning) = config.as_ref().and_then(crate::access::warning) {
        ui::warn(warning);
    }
    let options = Options {
        hold: Duration::from_secs(args.hold),
    };
    if args.hold > 0 {
        ui::status(format!(
            "the WebSocket check holds its connection open for {} s",
            args.hold
        ));
    }
    let report = doctor::run(paths, &options);
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("a report always serialises");
        ui::data(format!("{json}\n"));
    } else {
        ui::data(text(&report));
    }
    let failed: Vec<&str> = report.failures().iter().map(|c| c.id).collect();
    if !failed.is_empty() {
        bail!(
            "{} check{} failed: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        );
    }
    Ok(())
}

/// The report for a terminal: a line per check, then its fix and detail when it needs them.
fn text(report: &Report) -> String {
    let mut out = String::new();
    for check in &report.checks {
        out.push_str(&line(check));
    }
    out.push('\n');
    match &report.ca_fingerprint {
        Some(fp) => out.push_str(&format!(
            "CA fingerprint (SHA-256): {fp}\n  compare it with the one a client shows before \
             trusting the CA\n"
        )),
        None => out.push_str("CA fingerprint: unknown (the CA could not be read)\n"),
    }
    let count = |status| report.checks.iter().filter(|c| c.status == status).count();
    out.push_str(&format!(
        "{} ok, {} warnings, {} failed, {} not run\n",
        count(Status::Ok),
        count(Status::Warning),
        count(Status::Failure),
        count(Status::Skipped)
    ));
    out
}

fn line(check: &Check) -> String {
    let label = match check.status {
        Status::Ok => "ok  ",
        Status::Warning => "warn",
        Status::Failure => "FAIL",
        Status::Skipped => "skip",
    };
    let mut out = format!("{label}  {:<24} {}\n", check.title, check.cause);
    if check.status == Status::Ok || check.status == Status::Skipped {
        return out;
    }
    if !check.fix.is_empty() {
        out.push_str(&format!("      fix: {}\n", check.fix));
    }
    for detail in check.detail.lines() {
        out.push_str(&format!("      | {detail}\n"));
    }
    out
}
