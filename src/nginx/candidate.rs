//! `nginx -t` of a candidate site file inside the whole real config, without touching the
//! live tree: the config is flattened (every include inlined, ours replaced by the
//! candidate) into a hidden scratch file next to the main config, so that relative paths
//! resolve as they do for the real one, and nginx's messages are mapped back to the files
//! and lines they are about.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::discover::Found;
use super::dump::Flat;

/// What `nginx -t` said about a candidate.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// Everything it printed, with the scratch file's lines mapped back.
    pub output: Vec<String>,
    /// The lines that make the candidate fail: any `[emerg]`/`[alert]`/`[crit]`, and any
    /// `[warn]` about our file or names, or new since the current config.
    pub problems: Vec<String>,
    pub ok: bool,
}

/// Tests the whole config with `site_file` replaced by `candidate`.
pub fn test(found: &Found, candidate: &str, our_names: &[String]) -> Result<TestReport> {
    test_with(found, candidate, &BTreeMap::new(), our_names)
}

/// Tests the whole config with `site_file` replaced by `candidate` and each of `others`
/// (files the site includes, such as the sandbox allow-list) by its text.
pub fn test_with(
    found: &Found,
    candidate: &str,
    others: &BTreeMap<PathBuf, String>,
    our_names: &[String],
) -> Result<TestReport> {
    let mut overrides = others.clone();
    overrides.insert(found.site_file.clone(), candidate.to_string());
    let flat = found.dump.flatten(&overrides)?;
    let dir = found.main_config.parent().unwrap_or(Path::new("/"));
    let mut scratch = tempfile::Builder::new()
        .prefix(".ohproxy-test-")
        .suffix(".conf")
        .tempfile_in(dir)
        .with_context(|| format!("creating a scratch config in {}", dir.display()))?;
    scratch
        .write_all(flat.text.as_bytes())
        .and_then(|()| scratch.flush())
        .with_context(|| format!("writing {}", scratch.path().display()))?;
    run_test(
        found,
        found.ctl.command_with(Some(scratch.path())),
        our_names,
        |line| map_line(line, scratch.path(), &found.main_config, &flat),
    )
}

/// The real `nginx -t` of the live tree, after the swap: (ok, what it printed).
pub fn test_live(found: &Found, our_names: &[String]) -> Result<TestReport> {
    run_test(found, found.ctl.command(), our_names, str::to_string)
}

/// Runs `nginx -t` as `command` and judges what it printed, each line through `map` first.
fn run_test(
    found: &Found,
    mut command: Command,
    our_names: &[String],
    map: impl Fn(&str) -> String,
) -> Result<TestReport> {
    let out = command
        .arg("-t")
        .output()
        .with_context(|| format!("running {} -t", found.ctl.binary.display()))?;
    let output: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(map)
        .collect();
    let problems = problems(found, &output, our_names);
    Ok(TestReport {
        ok: out.status.success() && problems.is_empty(),
        output,
        problems,
    })
}

fn problems(found: &Found, output: &[String], our_names: &[String]) -> Vec<String> {
    let before: Vec<String> = found.warnings.iter().map(|w| without_place(w)).collect();
    let site = found.site_file.to_string_lossy();
    output
        .iter()
        .filter(|line| {
            let fatal = ["[emerg]", "[alert]", "[crit]"]
                .iter()
                .any(|k| line.contains(k));
            let warn = line.contains("[warn]") && {
                let ours = line.contains(site.as_ref())
                    || our_names.iter().any(|n| line.contains(&format!("\"{n}\"")));
                let text = without_place(line.trim_start_matches("nginx: "));
                ours || !before.contains(&text)
            };
            fatal || warn
        })
        .cloned()
        .collect()
}

/// A message without its ` in FILE:LINE` tail, to compare warnings across files.
fn without_place(line: &str) -> String {
    match line.rsplit_once(" in /") {
        Some((message, place)) if place.rsplit_once(':').is_some() => message.to_string(),
        _ => line.to_string(),
    }
}

/// Rewrites `SCRATCH:N` to the file and line it came from, and names the main config
/// where nginx names the scratch file as a whole.
fn map_line(line: &str, scratch: &Path, main: &Path, flat: &Flat) -> String {
    let scratch_name = scratch.to_string_lossy();
    let Some(at) = line.find(scratch_name.as_ref()) else {
        return line.to_string();
    };
    let rest = &line[at + scratch_name.len()..];
    let digits: String = rest
        .strip_prefix(':')
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    let origin: Option<(PathBuf, usize)> = digits
        .parse()
        .ok()
        .and_then(|n| flat.origin(n))
        .map(|(file, n)| (file.to_path_buf(), n));
    match origin {
        Some((file, n)) => format!(
            "{}{}:{n}{}",
            &line[..at],
            file.display(),
            &rest[1 + digits.len()..]
        ),
        None => line.replace(scratch_name.as_ref(), &main.to_string_lossy()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::dump::Dump;

    #[test]
    fn warnings_compare_without_their_place() {
        assert_eq!(
            without_place("[warn] \"ssl_stapling\" ignored in /etc/nginx/a.conf:12"),
            "[warn] \"ssl_stapling\" ignored"
        );
        let conflict = "[warn] conflicting server name \"a.example\" on 0.0.0.0:443, ignored";
        assert_eq!(without_place(conflict), conflict);
    }

    #[test]
    fn scratch_lines_map_back_to_the_real_file() {
        let dump = Dump::parse(
            "# configuration file /e/nginx.conf:\nevents {}\nhttp {\n    include /e/s/*.conf;\n}\n\n",
        )
        .unwrap();
        let site = PathBuf::from("/e/s/ohproxy-a.conf");
        let overrides = BTreeMap::from([(site, "# one\n# two\nbogus;\n".to_string())]);
        let flat = dump.flatten(&overrides).unwrap();
        let n = flat.text.lines().position(|l| l == "bogus;").unwrap() + 1;
        let scratch = Path::new("/e/.ohproxy-test-x.conf");
        let line =
            format!("nginx: [emerg] unknown directive \"bogus\" in /e/.ohproxy-test-x.conf:{n}");
        assert_eq!(
            map_line(&line, scratch, Path::new("/e/nginx.conf"), &flat),
            "nginx: [emerg] unknown directive \"bogus\" in /e/s/ohproxy-a.conf:3"
        );
        let whole = "nginx: configuration file /e/.ohproxy-test-x.conf test failed";
        assert_eq!(
            map_line(whole, scratch, Path::new("/e/nginx.conf"), &flat),
            "nginx: configuration file /e/nginx.conf test failed"
        );
    }
}
