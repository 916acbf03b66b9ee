//! The nginx and OpenSSL versions, read from what `nginx -V` prints on stderr (nginx,
//! openresty and freenginx builds), or given on the command line.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use anyhow::{Context, Result};

/// A version as three numbers, compared in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The leading `X.Y[.Z]` of a word such as `1.25.3.1` or `1.1.1w`; the rest is ignored.
    fn leading(text: &str) -> Option<Version> {
        let mut parts = text.split('.');
        let number = |part: Option<&str>| -> Option<u32> {
            let part = part?;
            let digits = part
                .find(|c: char| !c.is_ascii_digit())
                .map_or(part, |end| &part[..end]);
            digits.parse().ok()
        };
        let major = number(parts.next())?;
        let minor = number(parts.next())?;
        let patch = number(parts.next()).unwrap_or(0);
        Some(Version::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Version {
    type Err = String;

    /// Exactly `X.Y.Z` (or `X.Y`), digits only, as a user types it on the command line.
    fn from_str(text: &str) -> Result<Version, String> {
        let parts: Vec<&str> = text.split('.').collect();
        let digits =
            |p: &&str| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit());
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(digits) {
            return Err(format!("invalid version {text:?}: use X.Y.Z, e.g. 1.22.1"));
        }
        Version::leading(text).ok_or_else(|| format!("invalid version {text:?}"))
    }
}

/// What the installed nginx is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxInfo {
    pub version: Version,
    /// The OpenSSL nginx runs with, when it says.
    pub openssl: Option<Version>,
}

/// Runs `nginx -V` and parses what it prints on stderr.
pub fn detect(binary: &Path) -> Result<NginxInfo> {
    let out = Command::new(binary)
        .arg("-V")
        .output()
        .with_context(|| format!("running {} -V", binary.display()))?;
    // nginx prints its version on stderr; read stdout too for builds that differ.
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    parse(&text).with_context(|| {
        let first = text.lines().next().unwrap_or("").trim();
        format!("reading the version of {} from {first:?}", binary.display())
    })
}

/// Parses `nginx -V` output: the `nginx version: NAME/X.Y.Z` line, and the OpenSSL it runs
/// with (`running with OpenSSL Y` when present, else `built with OpenSSL X`).
pub fn parse(text: &str) -> Result<NginxInfo> {
    let version = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("nginx version:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|word| word.split_once('/'))
        .and_then(|(_, number)| Version::leading(number))
        .ok_or_else(|| anyhow::anyhow!("no \"nginx version: NAME/X.Y.Z\" line"))?;
    Ok(NginxInfo {
        version,
        openssl: openssl(text),
    })
}

fn openssl(text: &str) -> Option<Version> {
    let after = |marker: &str| {
        text.find(marker)
            .and_then(|at| text[at + marker.len()..].split_whitespace().next())
            .and_then(Version::leading)
    };
    after("running with OpenSSL ").or_else(|| after("built with OpenSSL "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(text: &str) -> (String, Option<String>) {
        let info = parse(text).unwrap();
        (
            info.version.to_string(),
            info.openssl.map(|v| v.to_string()),
        )
    }

    #[test]
    fn parses_the_builds_people_run() {
        let cases = [
            (
                "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.22 25 Aug 2026 \
                 (running with OpenSSL 3.0.19 27 Jan 2026)\nTLS SNI support enabled\n",
                "1.22.1",
                Some("3.0.19"),
            ),
            (
                "nginx version: nginx/1.26.0 (Ubuntu)\nbuilt with OpenSSL 3.0.13 30 Jan 2024\n",
                "1.26.0",
                Some("3.0.13"),
            ),
            (
                "nginx version: openresty/1.25.3.1\nbuilt by gcc 12\n\
                 built with OpenSSL 1.1.1w  11 Sep 2023\n",
                "1.25.3",
                Some("1.1.1"),
            ),
            (
                "nginx version: freenginx/1.27.4\nbuilt with OpenSSL 3.5.0 8 Apr 2025\n",
                "1.27.4",
                Some("3.5.0"),
            ),
            ("nginx version: nginx/1.29.7\n", "1.29.7", None),
            (
                "nginx version: nginx/1.24.0\nbuilt with LibreSSL 3.9.2\n",
                "1.24.0",
                None,
            ),
        ];
        for (text, version, openssl) in cases {
            let expected = (version.to_string(), openssl.map(str::to_string));
            assert_eq!(info(text), expected, "{text}");
        }
    }

    #[test]
    fn refuses_output_without_a_version() {
        for text in [
            "",
            "nginx: invalid option: \"V\"\n",
            "nginx version: nginx\n",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn command_line_versions_are_exact() {
        assert_eq!("1.25.1".parse(), Ok(Version::new(1, 25, 1)));
        assert_eq!("1.22".parse(), Ok(Version::new(1, 22, 0)));
        for bad in ["", "1", "1.x.0", "1.2.3.4", "1.22.1;", " 1.2.3", "1..2"] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
        assert!(Version::new(1, 25, 0) < Version::new(1, 25, 1));
        assert!(Version::new(1, 9, 9) < Version::new(1, 22, 1));
    }
}
