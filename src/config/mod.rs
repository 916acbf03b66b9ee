//! The config file: its shape, its defaults, and reading and writing it. Every field is
//! checked once, when the file is read; the rest of the program trusts a `Config`.

pub mod image;
mod values;

use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use values::{ContainerName, Days, Duration, HomePath, KeyType, SafePath, Size};

use crate::access::AccessMode;
use crate::access::bridges::Subnet;
use crate::names::{Domain, Name};
use crate::openhands::OpenHandsVersion;
use crate::paths::Paths;

/// The whole configuration of one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// The name clients type, e.g. `openhands.home.arpa`.
    pub domain: Domain,
    /// Extra names and addresses the leaf covers (LAN addresses, other host names).
    #[serde(default)]
    pub names: Vec<Name>,
    #[serde(default)]
    pub ports: Ports,
    #[serde(default)]
    pub cert: CertSettings,
    #[serde(default)]
    pub ca: CaSettings,
    #[serde(default)]
    pub nginx: NginxSettings,
    #[serde(default)]
    pub openhands: OpenHandsSettings,
    /// Who may reach OpenHands. A config without this table (written before it existed)
    /// gets the default, `password`, like a new one.
    #[serde(default)]
    pub access: AccessSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AccessSettings {
    #[serde(default)]
    pub mode: AccessMode,
    /// The source networks that pass without credentials (the Docker bridges, for the
    /// app's own checks of its sandboxes); default: read from this host's `docker0` and
    /// `br-*` interfaces when the site file is rendered. `[]` exempts nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridges: Option<Vec<Subnet>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ports {
    pub https: NonZeroU16,
    pub http: NonZeroU16,
    /// The host port OpenHands is published on, on 127.0.0.1 only.
    pub app: NonZeroU16,
}

impl Default for Ports {
    fn default() -> Ports {
        let port = |n| NonZeroU16::new(n).expect("non-zero constant");
        Ports {
            https: port(443),
            http: port(80),
            app: port(3000),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CertSettings {
    #[serde(default)]
    pub key_type: KeyType,
    #[serde(default)]
    pub days: Days,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CaSettings {
    /// An adopted CA directory (for example mkcert's CAROOT) instead of our own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<SafePath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct NginxSettings {
    /// The nginx binary; default: `nginx` found on PATH (or in /usr/sbin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<SafePath>,
    /// The main config file; default: what `nginx -V` reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<SafePath>,
    /// The prefix (`-p`); default: nginx's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<SafePath>,
    /// The directory of site files included inside `http {}`; default: found by `nginx -T`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_dir: Option<SafePath>,
    /// Where the leaf and key are installed for nginx; default: under the state dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_dir: Option<SafePath>,
    /// The directory nginx serves the onboarding page from (public files only); default:
    /// `public` in the state dir. nginx's workers must be able to read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_dir: Option<SafePath>,
    /// A template file to render instead of the built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SafePath>,
    /// Read and send timeout towards the app: an idle agent session must survive it.
    #[serde(default = "default_proxy_timeout")]
    pub proxy_timeout: Duration,
    /// The largest request body (file uploads).
    #[serde(default = "default_upload_limit")]
    pub upload_limit: Size,
    /// HSTS max-age; off unless set, because a local CA that a client lacks would lock
    /// that client out for the whole max-age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts_max_age: Option<Duration>,
    /// Listen on IPv6 too; default: when this host can open an IPv6 socket at render time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<bool>,
}

fn default_proxy_timeout() -> Duration {
    Duration::from_secs(3600)
}
fn default_upload_limit() -> Size {
    Size::parse("100m").expect("valid constant")
}

impl Default for NginxSettings {
    fn default() -> NginxSettings {
        NginxSettings {
            binary: None,
            config: None,
            prefix: None,
            site_dir: None,
            cert_dir: None,
            page_dir: None,
            template: None,
            proxy_timeout: default_proxy_timeout(),
            upload_limit: default_upload_limit(),
            hsts_max_age: None,
            ipv6: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct OpenHandsSettings {
    /// The OpenHands version, which picks the profile; default: the newest known 1.x.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<OpenHandsVersion>,
    /// An image reference that replaces the profile's.
    #[serde(
        default,
        deserialize_with = "image::image_ref",
        skip_serializing_if = "Option::is_none"
    )]
    pub image: Option<String>,
    #[serde(default = "default_container")]
    pub container: ContainerName,
    /// Extra environment for the app container.
    #[serde(
        default,
        deserialize_with = "image::env_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub env: BTreeMap<String, String>,
    /// A host directory mounted as the agent's workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<HomePath>,
}

fn default_container() -> ContainerName {
    ContainerName::parse("openhands-app").expect("valid constant")
}

impl Default for OpenHandsSettings {
    fn default() -> OpenHandsSettings {
        OpenHandsSettings {
            version: None,
            image: None,
            container: default_container(),
            env: BTreeMap::new(),
            workspace: None,
        }
    }
}

/// A config file that cannot be used, naming the file, the line, the key and the value.
#[derive(Debug, thiserror::Error)]
#[error("{path}{location}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub location: String,
    pub message: String,
}

impl Config {
    /// A config with the defaults for everything but the domain.
    pub fn new(domain: Domain) -> Config {
        Config {
            domain,
            names: Vec::new(),
            ports: Ports::default(),
            cert: CertSettings::default(),
            ca: CaSettings::default(),
            nginx: NginxSettings::default(),
            openhands: OpenHandsSettings::default(),
            access: AccessSettings::default(),
        }
    }

    /// Parses and checks a config file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|err| {
            let location = err
                .span()
                .map(|span| locate(text, span.start))
                .unwrap_or_default();
            ConfigError {
                path: path.display().to_string(),
                location,
                message: err.message().trim().replace('\n', " "),
            }
        })?;
        config.check().map_err(|message| ConfigError {
            path: path.display().to_string(),
            location: table_line(text, "ports")
                .map(|n| format!(" line {n}: [ports]"))
                .unwrap_or_default(),
            message,
        })?;
        Ok(config)
    }

    /// Checks that concern several fields at once.
    fn check(&self) -> Result<(), String> {
        let Ports { https, http, app } = self.ports;
        if https == http || https == app || http == app {
            return Err(format!(
                "ports: https ({https}), http ({http}) and app ({app}) must all differ"
            ));
        }
        Ok(())
    }

    /// Reads the config file; a missing file says how to create one.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(anyhow::anyhow!("no config file at {}", path.display()))
                    .map_err(|e| e.context(crate::error::Hint("run `ohproxy init` first".into())));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Config::parse(&text, path)?)
    }

    /// The config as TOML, with a header that says what the file is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a Config always serialises");
        format!("# ohproxy configuration; see `ohproxy --help` and README.md.\n\n{body}")
    }

    /// Writes the config atomically, creating its directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            crate::fsx::create_dir(dir, 0o755)?;
        }
        crate::fsx::write_atomic(path, self.to_toml().as_bytes(), 0o644)
    }

    /// Every name the leaf covers: the domain first, then the extra names.
    pub fn leaf_names(&self) -> Vec<Name> {
        let mut names = vec![Name::Dns(self.domain.to_string())];
        for name in &self.names {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The CA directory: `CAROOT`, else the adopted one, else the default under the state dir.
    pub fn ca_dir(&self, paths: &Paths) -> PathBuf {
        paths
            .caroot_env
            .clone()
            .or_else(|| self.ca.root.as_ref().map(|p| p.as_path().to_path_buf()))
            .unwrap_or_else(|| paths.default_ca_dir())
    }
}

/// The line of a table's `[name]` header, counted from 1.
fn table_line(text: &str, name: &str) -> Option<usize> {
    let header = format!("[{name}]");
    text.lines()
        .position(|line| line.trim() == header)
        .map(|i| i + 1)
}

/// ` line N, key K, value V` for the byte offset of a parse error. A value that opens a
/// multi-line array is left out: the message names the element that is wrong.
fn locate(text: &str, offset: usize) -> String {
    let line_no = text[..offset.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("").trim();
    match line.split_once('=') {
        Some((key, value)) if value.trim() == "[" => {
            format!(" line {line_no}, key {:?}", key.trim())
        }
        Some((key, value)) => {
            format!(
                " line {line_no}, key {:?}, value {}",
                key.trim(),
                value.trim()
            )
        }
        None => format!(" line {line_no}: {line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("config.toml"))
    }

    #[test]
    fn round_trips() {
        let mut config = Config::new(Domain::parse("openhands.home.arpa").unwrap());
        config.names.push(Name::parse("192.168.1.20").unwrap());
        let again = parse(&config.to_toml()).unwrap();
        assert_eq!(config, again);
    }

    #[test]
    fn access_defaults_to_password_and_normalises_bridges() {
        let config = parse("domain = \"oh.home.arpa\"\n").unwrap();
        assert_eq!(config.access.mode, AccessMode::Password);
        let text = "domain = \"oh.home.arpa\"\n[access]\nmode = \"client-cert\"\n\
                    bridges = [\"172.17.0.1/16\", \"fd00::1/64\"]\n";
        let config = parse(text).unwrap();
        assert_eq!(config.access.mode, AccessMode::ClientCert);
        let nets: Vec<&str> = config
            .access
            .bridges
            .iter()
            .flatten()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(nets, ["172.17.0.0/16", "fd00::/64"]);
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
    }

    #[test]
    fn errors_name_the_line_key_and_value() {
        let err = parse("domain = \"oh.home.arpa\"\n[ports]\nhttps = 0\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("line 3") && text.contains("\"https\"") && text.contains('0'),
            "{text}"
        );

        let err = parse("domain = \"a;b.example\"\n").unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("a;b.example"),
            "{err}"
        );

        let err = parse("domain = \"oh.home.arpa\"\ncolour = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("colour"), "{err}");

        let err = parse("domain = 7\n").unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("domain"), "{err}");

        let err = parse("domain = \"oh.home.arpa\"\n[access]\nmode = \"open\"\n").unwrap_err();
        let err = err.to_string();
        assert!(err.contains("line 3") && err.contains("open"), "{err}");
        let err = parse("domain = \"oh.home.arpa\"\n[access]\nbridges = [\"10.0.0.1\"]\n");
        assert!(err.unwrap_err().to_string().contains("10.0.0.1"));

        let err = parse("domain = \"oh.home.arpa\"\n[ports]\nhttps = 80\n").unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("line 2") && err.contains("must all differ"),
            "{err}"
        );

        let err = parse("domain = \"oh.home.arpa\"\n[openhands]\nimage = \"x y;{\"\n");
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("image") && err.contains("x y;{"),
            "{err}"
        );
        let err =
            parse("domain = \"a.example\"\nnames = [\n  \"ok.example\",\n  \"bad name\",\n]\n");
        assert_eq!(
            err.unwrap_err().to_string(),
            "config.toml line 2, key \"names\": invalid name \"bad name\": a space is not allowed"
        );
        let err = parse("domain = \"oh.home.arpa\"\n[openhands]\nenv = { \"A-B\" = \"1\" }\n");
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("line 3") && err.contains("env") && err.contains("A-B"),
            "{err}"
        );
    }
}

#[cfg(test)]
mod readme_tests {
    use super::*;

    /// The sample under "The config file" in README.md is a config ohproxy accepts.
    #[test]
    fn the_readme_sample_parses() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("## The config file")
            .nth(1)
            .expect("the section");
        let sample = section
            .split("```toml\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let config = Config::parse(sample, Path::new("README.md")).unwrap();
        assert_eq!(config.domain.as_str(), "openhands.home.arpa");
        assert_eq!(config.names.len(), 2);
    }
}
