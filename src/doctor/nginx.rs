//! nginx as doctor sees it: installed and running, `nginx -t` clean, and the live site file
//! equal to what ohproxy would render now (with the difference when it is not).

use super::{Found, Outcome, Setup};
use crate::nginx::{apply, candidate, discover, process, version};

pub fn running(s: &Setup, found: &mut Found) -> Outcome {
    let binary = match crate::nginx::binary(&s.config) {
        Ok(binary) => binary,
        Err(err) => return failure_of(&err, "install nginx (Debian: apt install nginx)"),
    };
    let nginx = match discover::discover(&s.config) {
        Ok(nginx) => nginx,
        Err(err) => return failure_of(&err, "fix the nginx config, then run doctor again"),
    };
    let master = match process::master(&nginx.pid_file, &nginx.ctl.start_hint()) {
        Ok(master) => master,
        Err(err) => {
            found.nginx = Some(nginx);
            return failure_of(&err, "start nginx");
        }
    };
    let workers = process::workers(master);
    let version = version::detect(&binary)
        .map(|info| format!("nginx {}", info.version))
        .unwrap_or_else(|_| "nginx".into());
    let cause = format!(
        "{version} ({}) is running: master {}, {} workers, config {}",
        binary.display(),
        master.pid,
        workers.len(),
        nginx.main_config.display()
    );
    found.nginx = Some(nginx);
    if workers.is_empty() {
        return Outcome::failure(
            format!("{cause}, but it has no workers"),
            "see nginx's error log, and restart it",
        );
    }
    Outcome::ok(cause)
}

fn failure_of(err: &anyhow::Error, fallback: &str) -> Outcome {
    let fix = crate::error::hint(err).unwrap_or_else(|| fallback.to_string());
    Outcome::failure(crate::error::message(err), fix)
}

pub fn test(s: &Setup, found: &mut Found) -> Outcome {
    let nginx = found.nginx.as_ref().expect("the nginx check passed");
    let names = vec![s.config.domain.to_string()];
    match candidate::test_live(nginx, &names) {
        Ok(report) if report.ok => Outcome::ok(format!(
            "{} passes `nginx -t` with no warning about this site",
            nginx.main_config.display()
        )),
        Ok(report) => Outcome::failure(
            format!("`nginx -t` complains: {}", report.problems.join(" / ")),
            "fix what it names; `ohproxy nginx apply --dry-run` shows what ohproxy would write",
        )
        .with_detail(report.output.join("\n")),
        Err(err) => failure_of(&err, "run doctor as the user nginx runs as (usually root)"),
    }
}

pub fn site_file(s: &Setup, found: &mut Found) -> Outcome {
    let nginx = found.nginx.as_ref().expect("the nginx check passed");
    let path = &nginx.site_file;
    let live = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::failure(
                format!("there is no site file at {}", path.display()),
                "`ohproxy nginx apply` (or `ohproxy up`) installs it",
            );
        }
        Err(e) => return Outcome::failure(format!("cannot read {}: {e}", path.display()), ""),
    };
    let rendered = version::detect(&nginx.ctl.binary)
        .and_then(|info| crate::nginx::render_site(&s.config, s.paths, &info));
    let rendered = match rendered {
        Ok(text) => text,
        Err(err) => return failure_of(&err, "fix the config; `ohproxy nginx render` shows why"),
    };
    if live == rendered {
        return Outcome::ok(format!(
            "{} is what ohproxy renders for this config",
            path.display()
        ));
    }
    Outcome::failure(
        format!(
            "{} differs from what ohproxy renders now (edited by hand, or the config changed \
             since the last apply)",
            path.display()
        ),
        "`ohproxy nginx apply` installs the rendered file (the old one is kept as a backup)",
    )
    .with_detail(apply::unified_diff(&live, &rendered, path))
}
