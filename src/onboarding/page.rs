//! The page itself (`index.html`): the downloads, the fingerprint to compare, the steps
//! for each kind of device (the same words the terminal shows, from `client_steps`), and
//! the HTTPS check.

use anyhow::Result;
use minijinja::context;
use serde::Serialize;

use super::{DER_FILE, PEM_FILE, PROFILE_FILE, Template};
use crate::ca::Ca;
use crate::client_steps::{self, Platform};
use crate::config::Config;

/// A green tick: the image the page loads from the HTTPS site. A browser only shows it
/// when the TLS connection succeeds, that is when the device trusts the CA.
pub const CHECK_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" \
width=\"24\" height=\"24\"><circle cx=\"12\" cy=\"12\" r=\"12\" fill=\"#1a7f37\"/>\
<path d=\"M6 12.5l4 4 8-9\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2.5\"/></svg>\n";

#[derive(Serialize)]
struct Steps {
    name: &'static str,
    file: &'static str,
    steps: Vec<String>,
}

/// Renders the page for this CA (listed on devices as `ca_name`) and site.
pub fn render(ca: &Ca, ca_name: &str, config: &Config) -> Result<String> {
    Template::Page.render(context! {
        domain => config.domain.as_str(),
        page_url => super::page_url(config),
        site_url => super::site_url(config),
        check_url => super::check_url(config),
        ca_name,
        fingerprint => ca.fingerprint(),
        expires => ca.not_after().date().to_string(),
        pem_file => PEM_FILE,
        der_file => DER_FILE,
        profile_file => PROFILE_FILE,
        platforms => platforms(),
    })
}

/// Every platform's steps, phones first, each naming the download that suits it.
fn platforms() -> Vec<Steps> {
    let mut all: Vec<Steps> = client_steps::trust_steps(PEM_FILE)
        .into_iter()
        .map(|platform| {
            let file = file_for(platform.name);
            let steps = if file == PEM_FILE {
                platform.steps
            } else {
                steps_for(platform.name, file)
            };
            Steps {
                name: platform.name,
                file,
                steps,
            }
        })
        .collect();
    all.sort_by_key(|s| !is_phone(s.name));
    all
}

/// The download each platform's installer takes: the profile on Apple's phones, DER on
/// Android and Windows, PEM elsewhere.
fn file_for(platform: &str) -> &'static str {
    if platform.starts_with("iOS") {
        PROFILE_FILE
    } else if platform.starts_with("Android") || platform.starts_with("Windows") {
        DER_FILE
    } else {
        PEM_FILE
    }
}

fn is_phone(platform: &str) -> bool {
    platform.starts_with("iOS") || platform.starts_with("Android")
}

/// The same platform's steps written for another file name.
fn steps_for(name: &str, file: &str) -> Vec<String> {
    client_steps::trust_steps(file)
        .into_iter()
        .find(|p: &Platform| p.name == name)
        .map(|p| p.steps)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_is_listed_once_with_its_download() {
        let all = platforms();
        assert_eq!(all.len(), client_steps::trust_steps(PEM_FILE).len());
        assert!(
            is_phone(all[0].name) && is_phone(all[1].name),
            "phones first"
        );
        for s in &all {
            assert!(!s.steps.is_empty(), "{} has steps", s.name);
        }
        let ios = all.iter().find(|s| s.name.starts_with("iOS")).unwrap();
        assert_eq!(ios.file, PROFILE_FILE);
        assert!(ios.steps.iter().any(|s| s.contains(PROFILE_FILE)));
        assert!(
            ios.steps
                .iter()
                .any(|s| s.contains("Certificate Trust Settings"))
        );
        let android = all.iter().find(|s| s.name.starts_with("Android")).unwrap();
        assert_eq!(android.file, DER_FILE);
        let names: Vec<&str> = all.iter().map(|s| s.name).collect();
        for wanted in ["macOS", "Windows", "Linux", "Firefox"] {
            assert!(
                names.iter().any(|n| n.starts_with(wanted)),
                "{wanted} in {names:?}"
            );
        }
    }
}
