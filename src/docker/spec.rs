//! The container the config asks for: image, environment, mounts, the loopback-only port,
//! the host mapping and the restart policy, built from the config and the version's
//! profile. Its hash, stored in a label, tells whether a live container is still current.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::labels;
use super::sandbox_env;
use crate::config::{Config, HomePath};
use crate::openhands::{self, OpenHandsVersion, Profile, SandboxSettings};
use crate::paths::Paths;

/// The port the app listens on inside the container, in every version.
pub const CONTAINER_PORT: u16 = 3000;
/// Where a workspace is mounted for the agent (`SANDBOX_VOLUMES`, 0.38 and later).
const WORKSPACE_TARGET: &str = "/workspace";
/// Where 0.36 and 0.37 expect the workspace inside the app container.
const OLD_WORKSPACE_TARGET: &str = "/opt/workspace_base";

/// Everything that decides what the container is. Field order and sorted collections
/// make the JSON, and so the hash, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    pub name: String,
    pub image: String,
    pub version: String,
    /// `KEY=VALUE`, sorted by key.
    pub env: Vec<String>,
    /// `host:container[:mode]`.
    pub binds: Vec<String>,
    /// The host port, published on 127.0.0.1.
    pub app_port: u16,
    pub extra_hosts: Vec<String>,
    pub restart: String,
    pub health_path: String,
    /// For a 1.x profile, the fingerprint of our CA in the bundle. The bundle is mounted as
    /// one file, and a running container keeps the file it was started with when the file
    /// is replaced, so a new CA must recreate the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_fingerprint: Option<String>,
    /// Host directories that must exist before the container starts (mount sources).
    #[serde(skip)]
    pub host_dirs: Vec<PathBuf>,
}

/// The version the config names, or the newest the profiles know, with its profile.
pub fn profile(config: &Config) -> Result<(OpenHandsVersion, &'static Profile)> {
    let version = match &config.openhands.version {
        Some(version) => version.clone(),
        None => OpenHandsVersion::parse(openhands::NEWEST).expect("valid constant"),
    };
    let profile = openhands::profile_for(&version).map_err(anyhow::Error::msg)?;
    Ok((version, profile))
}

/// The state dir on the host for a profile, with `~` expanded.
pub fn host_state_dir(profile: &Profile) -> PathBuf {
    HomePath::parse(profile.host_state_dir)
        .expect("profiles hold valid paths")
        .expand()
}

impl Spec {
    /// The spec for this config; `image` (from `--image`) wins over the config's and the
    /// profile's image; `socket` is the engine's socket on the host.
    pub fn build(config: &Config, image: Option<&str>, socket: &Path) -> Result<Spec> {
        let (version, profile) = profile(config)?;
        let image = image
            .map(str::to_string)
            .or_else(|| config.openhands.image.clone())
            .unwrap_or_else(|| profile.app_image(&version));

        let mut env: BTreeMap<String, String> = profile.sandbox_env(&version).into_iter().collect();
        env.insert("LOG_ALL_EVENTS".into(), "true".into());
        let mut extra_hosts = vec!["host.docker.internal:host-gateway".to_string()];
        if let Some(vars) = profile.sandbox_vars() {
            env.extend(sandbox_env::env(config, vars));
            // The app checks each sandbox through the public URL, so the domain must
            // lead to this host's nginx from inside the container.
            extra_hosts.push(sandbox_env::extra_host(config));
        }

        let state = host_state_dir(profile);
        let mut binds = vec![
            format!("{}:/var/run/docker.sock", socket.display()),
            format!("{}:{}", state.display(), profile.container_state_dir),
        ];
        let mut host_dirs = vec![state];
        if let Some(workspace) = &config.openhands.workspace {
            let host = workspace.expand();
            workspace_mount(&version, &host, &mut env, &mut binds);
            host_dirs.push(host);
        }
        // The user's environment comes last, so it can override any of ours.
        env.extend(config.openhands.env.clone());

        Ok(Spec {
            name: config.openhands.container.as_str().to_string(),
            image,
            version: version.to_string(),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            binds,
            app_port: config.ports.app.get(),
            extra_hosts,
            restart: "unless-stopped".into(),
            health_path: profile.health_path.to_string(),
            ca_fingerprint: None,
            host_dirs,
        })
    }

    /// The spec for this config with the files of this state dir and this engine: for a
    /// 1.x profile, the CA bundle mounted read-only (`sandbox_env::write_bundle` writes it)
    /// and the fingerprint of the CA in it.
    pub fn for_site(
        config: &Config,
        paths: &Paths,
        image: Option<&str>,
        socket: &Path,
    ) -> Result<Spec> {
        let mut spec = Spec::build(config, image, socket)?;
        let (_, profile) = profile(config)?;
        if profile.sandbox_vars().is_some() {
            spec.binds.push(format!(
                "{}:{}:ro",
                sandbox_env::bundle_file(paths).display(),
                sandbox_env::BUNDLE_TARGET
            ));
            spec.ca_fingerprint = Some(sandbox_env::ca_fingerprint(config, paths)?);
        }
        if profile.sandbox_settings == SandboxSettings::HostsMountsEnv {
            let user = &config.openhands.env;
            for (key, value) in sandbox_env::sandbox_settings(config, paths) {
                // The user's own value wins, except the agent-server env, merged with it.
                if key == sandbox_env::AGENT_SERVER_ENV || !user.contains_key(&key) {
                    spec.set_env(&key, &value);
                }
            }
        }
        Ok(spec)
    }

    /// Sets one variable, replacing any earlier value; the list stays sorted by name.
    fn set_env(&mut self, key: &str, value: &str) {
        let prefix = format!("{key}=");
        self.env.retain(|entry| !entry.starts_with(&prefix));
        self.env.push(format!("{key}={value}"));
        self.env.sort();
    }

    /// SHA-256 of the canonical JSON, as lowercase hex.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a Spec always serialises");
        hex::encode(Sha256::digest(&json))
    }

    /// Creates the mount sources as the user (the engine would create them as root).
    pub fn create_host_dirs(&self) -> Result<()> {
        for dir in &self.host_dirs {
            if !dir.is_dir() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        Ok(())
    }

    /// The create request, labelled as ours with this spec's hash.
    pub fn create_body(&self, config_file: &Path) -> ContainerCreateBody {
        let port = format!("{CONTAINER_PORT}/tcp");
        let labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::SPEC_HASH.to_string(), self.hash()),
            (labels::VERSION.to_string(), self.version.clone()),
            (
                labels::CONFIG.to_string(),
                config_file.display().to_string(),
            ),
        ]);
        // Loopback only: nginx is the one way in, and a port on 0.0.0.0 would let the LAN
        // skip TLS (and Docker's NAT rules bypass host firewalls such as ufw).
        let bindings = vec![PortBinding {
            host_ip: Some("127.0.0.1".to_string()),
            host_port: Some(self.app_port.to_string()),
        }];
        ContainerCreateBody {
            image: Some(self.image.clone()),
            env: Some(self.env.clone()),
            exposed_ports: Some(vec![port.clone()]),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(self.binds.clone()),
                port_bindings: Some(HashMap::from([(port, Some(bindings))])),
                extra_hosts: Some(self.extra_hosts.clone()),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Mounts a workspace the way the version expects: `SANDBOX_VOLUMES` from 0.38, the
/// `WORKSPACE_*` settings and a mount into the app before.
fn workspace_mount(
    version: &OpenHandsVersion,
    host: &Path,
    env: &mut BTreeMap<String, String>,
    binds: &mut Vec<String>,
) {
    let host_text = host.display().to_string();
    if version.is_before(0, 38) {
        env.insert("WORKSPACE_MOUNT_PATH".into(), host_text.clone());
        binds.push(format!("{host_text}:{OLD_WORKSPACE_TARGET}"));
    } else {
        env.insert(
            "SANDBOX_VOLUMES".into(),
            format!("{host_text}:{WORKSPACE_TARGET}:rw"),
        );
    }
    // The agent writes files as the workspace's owner, not as root.
    if let Ok(meta) = std::fs::metadata(host) {
        use std::os::unix::fs::MetadataExt;
        env.insert("SANDBOX_USER_ID".into(), meta.uid().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::Ca;
    use crate::config::KeyType;

    fn config(extra: &str) -> Config {
        let text = format!("domain = \"oh.home.arpa\"\n{extra}");
        Config::parse(&text, Path::new("config.toml")).unwrap()
    }

    fn spec(extra: &str) -> Spec {
        Spec::build(&config(extra), None, Path::new("/run/docker.sock")).unwrap()
    }

    #[test]
    fn defaults_follow_the_newest_profile() {
        let spec = spec("");
        assert_eq!(
            spec.image,
            format!(
                "docker.openhands.dev/openhands/openhands:{}",
                openhands::NEWEST
            )
        );
        assert!(spec.env.contains(&"LOG_ALL_EVENTS=true".to_string()));
        assert_eq!(spec.binds[0], "/run/docker.sock:/var/run/docker.sock");
        assert!(
            spec.binds[1].ends_with("/.openhands:/.openhands"),
            "{:?}",
            spec.binds
        );
        assert_eq!(spec.app_port, 3000);
        assert_eq!(spec.name, "openhands-app");
        let body = spec.create_body(Path::new("/c.toml"));
        let host = body.host_config.unwrap();
        let binding = &host.port_bindings.unwrap()["3000/tcp"].clone().unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            host.extra_hosts.unwrap(),
            [
                "host.docker.internal:host-gateway",
                "oh.home.arpa:host-gateway"
            ]
        );
        assert_eq!(body.labels.unwrap()[labels::MANAGED], "true");
    }

    #[test]
    fn sandbox_profiles_get_the_public_urls_and_the_bundle() {
        let spec = spec("[ports]\nhttps = 8443\nhttp = 8080\napp = 3100\n");
        for wanted in [
            "OH_SANDBOX_CONTAINER_URL_PATTERN=https://oh.home.arpa:8443/runtime/{port}",
            "SANDBOX_CONTAINER_URL_PATTERN=https://oh.home.arpa:8443/runtime/{port}",
            "OH_WEB_URL=https://oh.home.arpa:8443",
            // Sandboxes call back through nginx's HTTP port, not the app's own.
            "OH_SANDBOX_HOST_PORT=8080",
            "SANDBOX_HOST_PORT=8080",
            "SSL_CERT_FILE=/etc/ohproxy/ca-bundle.pem",
            "NODE_EXTRA_CA_CERTS=/etc/ohproxy/ca-bundle.pem",
        ] {
            assert!(
                spec.env.contains(&wanted.to_string()),
                "{wanted}: {:?}",
                spec.env
            );
        }
        let on_443 = self::spec("");
        assert!(
            on_443
                .env
                .contains(&"OH_WEB_URL=https://oh.home.arpa".to_string())
        );
        let old = self::spec("[openhands]\nversion = \"0.62\"\n");
        assert!(
            !old.env
                .iter()
                .any(|e| e.contains("URL_PATTERN") || e.contains("SSL_"))
        );
        assert_eq!(old.extra_hosts, ["host.docker.internal:host-gateway"]);

        let dir = tempfile::tempdir().unwrap();
        let paths = state_with_ca(dir.path());
        let sited = Spec::for_site(&config(""), &paths, None, Path::new("/s")).unwrap();
        let bind = sited.binds.last().unwrap();
        assert!(bind.ends_with("/openhands/ca-bundle.pem:/etc/ohproxy/ca-bundle.pem:ro"));
        let body = sited.create_body(Path::new("/c.toml"));
        let bindings = body.host_config.unwrap().port_bindings.unwrap()["3000/tcp"]
            .clone()
            .unwrap();
        let ips: Vec<_> = bindings
            .iter()
            .map(|b| b.host_ip.clone().unwrap())
            .collect();
        // Loopback only, for 1.x too: sandboxes call back through nginx, not to this port.
        assert_eq!(ips, ["127.0.0.1"]);
    }

    #[test]
    fn old_versions_get_their_settings() {
        let spec = spec("[openhands]\nversion = \"0.36\"\nworkspace = \"/srv/code\"\n");
        assert!(spec.binds[1].ends_with("/.openhands-state:/.openhands-state"));
        assert!(
            spec.binds
                .contains(&"/srv/code:/opt/workspace_base".to_string())
        );
        assert!(
            spec.env
                .contains(&"WORKSPACE_MOUNT_PATH=/srv/code".to_string())
        );
        assert!(
            spec.env
                .iter()
                .any(|e| e.starts_with("SANDBOX_RUNTIME_CONTAINER_IMAGE="))
        );
        let newer = self::spec("[openhands]\nversion = \"0.38\"\nworkspace = \"/srv/code\"\n");
        assert!(
            newer
                .env
                .contains(&"SANDBOX_VOLUMES=/srv/code:/workspace:rw".to_string())
        );
    }

    #[test]
    fn the_hash_follows_every_setting_and_only_those() {
        let base = spec("");
        assert_eq!(base.hash(), spec("").hash());
        assert_ne!(
            base.hash(),
            spec("[openhands]\nenv = { A = \"1\" }\n").hash()
        );
        assert_ne!(base.hash(), spec("[ports]\napp = 3001\n").hash());
        assert_ne!(base.hash(), spec("[openhands]\nimage = \"x:1\"\n").hash());
        // The HTTPS port is in the sandbox URLs of 1.x, and reaches no 0.x container.
        assert_ne!(base.hash(), spec("[ports]\nhttps = 8443\n").hash());
        let old = "[openhands]\nversion = \"0.62\"\n";
        assert_eq!(
            spec(old).hash(),
            spec(&format!("{old}[ports]\nhttps = 8443\n")).hash()
        );
    }

    /// Paths with the state dir in `dir` and a new CA in it.
    /// The value of `key` in the spec's environment, parsed as JSON.
    fn json_env(spec: &Spec, key: &str) -> Option<serde_json::Value> {
        let prefix = format!("{key}=");
        let value = spec.env.iter().find_map(|e| e.strip_prefix(&prefix))?;
        Some(serde_json::from_str(value).unwrap_or_else(|e| panic!("{key}: {e}")))
    }

    #[test]
    fn sandboxes_of_1_2_and_later_get_the_domain_the_bundle_and_its_variables() {
        let dir = tempfile::tempdir().unwrap();
        let paths = state_with_ca(dir.path());
        let site = |extra: &str| Spec::for_site(&config(extra), &paths, None, Path::new("/s"));

        let spec = site("").unwrap();
        let hosts = json_env(&spec, "OH_SANDBOX_EXTRA_HOSTS").unwrap();
        assert_eq!(hosts["oh.home.arpa"], "host-gateway");
        assert_eq!(hosts["host.docker.internal"], "host-gateway");
        let mounts = json_env(&spec, "OH_SANDBOX_MOUNTS").unwrap();
        let bundle = sandbox_env::bundle_file(&paths);
        assert_eq!(mounts[0]["host_path"], bundle.to_str().unwrap());
        assert_eq!(mounts[0]["container_path"], sandbox_env::BUNDLE_TARGET);
        assert_eq!(mounts[0]["mode"], "ro");
        let agent = json_env(&spec, "OH_AGENT_SERVER_ENV").unwrap();
        for key in sandbox_env::BUNDLE_VARS {
            assert_eq!(agent[key], sandbox_env::BUNDLE_TARGET, "{key}");
        }
        let mut sorted = spec.env.clone();
        sorted.sort();
        assert_eq!(spec.env, sorted);

        // The user's agent-server env is merged in and wins; their own hosts are kept.
        let mine = "[openhands]\nenv = { OH_AGENT_SERVER_ENV = '{\"A\":\"1\",\"SSL_CERT_FILE\":\"/x\"}', \
                    OH_SANDBOX_EXTRA_HOSTS = '{}' }\n";
        let spec = site(mine).unwrap();
        let agent = json_env(&spec, "OH_AGENT_SERVER_ENV").unwrap();
        assert_eq!(agent["A"], "1");
        assert_eq!(agent["SSL_CERT_FILE"], "/x");
        assert_eq!(agent["REQUESTS_CA_BUNDLE"], sandbox_env::BUNDLE_TARGET);
        assert_eq!(
            json_env(&spec, "OH_SANDBOX_EXTRA_HOSTS").unwrap(),
            serde_json::json!({})
        );

        // 1.0 and 1.1 have no such settings.
        let old = site("[openhands]\nversion = \"1.1\"\n").unwrap();
        assert!(json_env(&old, "OH_SANDBOX_EXTRA_HOSTS").is_none());
        assert!(json_env(&old, "OH_AGENT_SERVER_ENV").is_none());
    }

    fn state_with_ca(dir: &Path) -> Paths {
        let paths = Paths {
            config_file: dir.join("config.toml"),
            state_dir: dir.join("state"),
            caroot_env: None,
        };
        Ca::create(&paths.default_ca_dir(), KeyType::default()).unwrap();
        paths
    }

    #[test]
    fn a_new_ca_changes_the_hash_of_a_sandbox_profile_only() {
        let dir = tempfile::tempdir().unwrap();
        let paths = state_with_ca(dir.path());
        let socket = Path::new("/s");
        let before = Spec::for_site(&config(""), &paths, None, socket).unwrap();
        let old_version = config("[openhands]\nversion = \"0.62\"\n");
        let old_before = Spec::for_site(&old_version, &paths, None, socket).unwrap();

        Ca::replace(&paths.default_ca_dir(), KeyType::default()).unwrap();
        let after = Spec::for_site(&config(""), &paths, None, socket).unwrap();
        let ca = Ca::load(&paths.default_ca_dir()).unwrap();
        assert_eq!(after.ca_fingerprint, Some(ca.fingerprint()));
        assert_ne!(before.hash(), after.hash());
        // The fingerprint is all that differs: the bundle is mounted from the same path.
        let only_the_ca = Spec {
            ca_fingerprint: before.ca_fingerprint.clone(),
            ..after
        };
        assert_eq!(only_the_ca, before);

        // 0.x mounts no bundle, so the CA is not part of its spec.
        let old_after = Spec::for_site(&old_version, &paths, None, socket).unwrap();
        assert_eq!(old_before.ca_fingerprint, None);
        assert_eq!(old_before.hash(), old_after.hash());
    }

    #[test]
    fn user_env_overrides_ours() {
        let spec = spec("[openhands]\nenv = { LOG_ALL_EVENTS = \"false\" }\n");
        assert!(spec.env.contains(&"LOG_ALL_EVENTS=false".to_string()));
        assert!(!spec.env.contains(&"LOG_ALL_EVENTS=true".to_string()));
    }
}
