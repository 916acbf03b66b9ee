//! The sandbox allow-list: the host ports of live OpenHands 1.x sandboxes that the site's
//! `/runtime/<port>/` route may reach. It is a small file of `map` entries, included by the
//! site file, written by `ohproxy watch` through the safe apply; every other port answers
//! 404, so nginx is never a proxy to whatever else listens on this machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::CertFiles;
use crate::config::Config;
use crate::openhands::Routing;
use crate::paths::Paths;

/// The first words of the file, so a reader knows who writes it.
const HEADER: &str = "# Managed by ohproxy watch: host ports of live OpenHands sandboxes.\n";

/// Where the allow-list lives: beside the installed leaf, where nginx already reads our
/// files.
pub fn file(config: &Config, paths: &Paths) -> PathBuf {
    beside(&super::cert_files(config, paths), config.domain.as_str())
}

/// The allow-list beside this leaf.
pub fn beside(certs: &CertFiles, domain: &str) -> PathBuf {
    certs
        .cert
        .parent()
        .unwrap_or(Path::new("/"))
        .join(format!("{domain}.sandbox-ports.conf"))
}

/// True when the config's OpenHands version has sandboxes, so the site has the route.
pub fn enabled(config: &Config) -> bool {
    crate::docker::spec::profile(config)
        .map(|(_, profile)| profile.routing == Routing::Sandboxes)
        .unwrap_or(false)
}

/// The file's text for a set of ports: one `PORT 1;` entry each, in order.
pub fn render(ports: &BTreeSet<u16>) -> String {
    let mut text = String::from(HEADER);
    for port in ports {
        text.push_str(&format!("{port} 1;\n"));
    }
    text
}

/// The ports in a file's text; lines that are not `PORT 1;` are ignored.
pub fn parse(text: &str) -> BTreeSet<u16> {
    text.lines()
        .filter_map(|line| line.trim().strip_suffix(" 1;"))
        .filter_map(|port| port.parse::<u16>().ok())
        .filter(|port| *port != 0)
        .collect()
}

/// The ports in the installed file; none when it does not exist yet.
pub fn installed(config: &Config, paths: &Paths) -> Result<BTreeSet<u16>> {
    let path = file(config, paths);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_agree() {
        let ports = BTreeSet::from([41234, 8011, 65535]);
        let text = render(&ports);
        assert!(text.starts_with("# Managed by ohproxy"));
        assert!(text.contains("\n8011 1;\n41234 1;\n65535 1;\n"), "{text}");
        assert_eq!(parse(&text), ports);
        assert!(parse(&render(&BTreeSet::new())).is_empty());
    }

    #[test]
    fn parse_skips_anything_else() {
        let text = "# c\n0 1;\n70000 1;\nabc 1;\n5000 0;\n 6000 1; \n";
        assert_eq!(parse(text), BTreeSet::from([6000]));
    }
}
