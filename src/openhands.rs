//! What each OpenHands version needs to run, as data: the image, the sandbox image
//! setting, the state directory, the health path and how the browser reaches the agent.
//! Versions 0.36 to the newest 1.x that these profiles know are supported.

use std::fmt;

/// The newest version the profiles know; the default when the config names none.
pub const NEWEST: &str = "1.8";

/// A version as the user writes it (`0.36`, `1.8`, `1.8.2`), compared numerically.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpenHandsVersion {
    text: String,
    parts: (u32, u32, u32),
}

impl OpenHandsVersion {
    pub fn parse(text: &str) -> Result<OpenHandsVersion, String> {
        let numbers: Vec<Option<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
        let parts = match numbers.as_slice() {
            [Some(major), Some(minor)] => (*major, *minor, 0),
            [Some(major), Some(minor), Some(patch)] => (*major, *minor, *patch),
            _ => {
                return Err(format!(
                    "invalid OpenHands version {text:?}: use MAJOR.MINOR[.PATCH]"
                ));
            }
        };
        Ok(OpenHandsVersion {
            text: text.to_string(),
            parts,
        })
    }

    /// The image tag: the version exactly as written.
    pub fn tag(&self) -> &str {
        &self.text
    }

    /// True for versions older than `major.minor`.
    pub fn is_before(&self, major: u32, minor: u32) -> bool {
        self.major_minor() < (major, minor)
    }

    fn major_minor(&self) -> (u32, u32) {
        (self.parts.0, self.parts.1)
    }
}

impl TryFrom<String> for OpenHandsVersion {
    type Error = String;
    fn try_from(text: String) -> Result<OpenHandsVersion, String> {
        OpenHandsVersion::parse(&text)
    }
}

impl From<OpenHandsVersion> for String {
    fn from(version: OpenHandsVersion) -> String {
        version.text
    }
}

impl fmt::Display for OpenHandsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The name every 1.x sandbox container starts with; OpenHands lists its own sandboxes
/// by this prefix (`container_name_prefix` in its Docker sandbox service).
pub const SANDBOX_NAME_PREFIX: &str = "oh-agent-server-";

/// How the browser reaches the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// 0.x: everything through the app, events over Socket.IO at `/socket.io/`.
    AppOnly,
    /// 1.x: each conversation has a sandbox container on its own port, with a native
    /// WebSocket at `/sockets/events/<id>`.
    Sandboxes,
}

/// How the app is told which sandbox image to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxImage {
    /// `SANDBOX_RUNTIME_CONTAINER_IMAGE=<repo>:<version>-nikolaik`.
    Runtime { repository: &'static str },
    /// `AGENT_SERVER_IMAGE_REPOSITORY` and `AGENT_SERVER_IMAGE_TAG=<version>-nikolaik`.
    AgentServer { repository: &'static str },
    /// Nothing: the app's built-in agent-server image matches its own version, and
    /// overriding it risks a mismatch.
    BuiltIn,
}

/// Where a 1.x app reads the settings that make sandboxes reachable from elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxVars {
    /// The browser-facing URL of each sandbox port, with `{port}`.
    pub url_pattern: &'static [&'static str],
    /// The public origin; passed on to sandboxes as their allowed CORS origin.
    pub web_url: &'static [&'static str],
    /// The app's host-published port, used in the sandboxes' callback URL.
    pub host_port: &'static [&'static str],
}

/// 1.x reads `OH_`-prefixed settings; the names without the prefix came later as aliases
/// for the docs' examples, so both are set, and each version reads the one it knows.
const V1_VARS: SandboxVars = SandboxVars {
    url_pattern: &[
        "OH_SANDBOX_CONTAINER_URL_PATTERN",
        "SANDBOX_CONTAINER_URL_PATTERN",
    ],
    web_url: &["OH_WEB_URL"],
    host_port: &["OH_SANDBOX_HOST_PORT", "SANDBOX_HOST_PORT"],
};

/// What one range of OpenHands versions needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The first and last minor versions (inclusive) this profile covers.
    pub first: (u32, u32),
    pub last: (u32, u32),
    pub app_repository: &'static str,
    pub sandbox_image: SandboxImage,
    /// The state directory on the host and where the app expects it in the container.
    pub host_state_dir: &'static str,
    pub container_state_dir: &'static str,
    pub health_path: &'static str,
    pub routing: Routing,
    /// Whether the app takes settings for the sandboxes it starts.
    pub sandbox_settings: SandboxSettings,
}

/// What a 1.x app lets its launcher set on every sandbox it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxSettings {
    /// Nothing: before 1.2 a sandbox cannot be given extra hosts, so it cannot reach the
    /// app through the public URL.
    None,
    /// `OH_SANDBOX_EXTRA_HOSTS` (JSON object; it replaces the default, which maps
    /// host.docker.internal), `OH_SANDBOX_MOUNTS` (JSON array of host_path, container_path,
    /// mode) and `OH_AGENT_SERVER_ENV` (JSON object), read by the app server's sandbox
    /// service and spec service.
    HostsMountsEnv,
}

const OLD_REGISTRY_APP: &str = "docker.all-hands.dev/all-hands-ai/openhands";
const OLD_REGISTRY_RUNTIME: &str = "docker.all-hands.dev/all-hands-ai/runtime";
const NEW_REGISTRY_APP: &str = "docker.openhands.dev/openhands/openhands";
const NEW_REGISTRY_RUNTIME: &str = "docker.openhands.dev/openhands/runtime";

/// What the profiles on the old registry share; each profile states what differs.
const OLD_REGISTRY: Profile = Profile {
    first: (0, 0),
    last: (0, 0),
    app_repository: OLD_REGISTRY_APP,
    sandbox_image: SandboxImage::Runtime {
        repository: OLD_REGISTRY_RUNTIME,
    },
    host_state_dir: "~/.openhands",
    container_state_dir: "/.openhands",
    health_path: "/health",
    routing: Routing::AppOnly,
    sandbox_settings: SandboxSettings::None,
};

/// What the profiles on the new registry share; each profile states what differs.
const NEW_REGISTRY: Profile = Profile {
    app_repository: NEW_REGISTRY_APP,
    sandbox_image: SandboxImage::Runtime {
        repository: NEW_REGISTRY_RUNTIME,
    },
    ..OLD_REGISTRY
};

/// The profiles, oldest first. Sources: the OpenHands README and docs at each release:
/// the state dir was renamed in 0.45, the registry moved in 0.60, 1.0 introduced the
/// per-conversation sandboxes, 1.2 the agent-server image settings and the sandboxes'
/// extra hosts, and from 1.3 the launcher leaves the agent-server image to the app's
/// default.
pub const PROFILES: &[Profile] = &[
    Profile {
        first: (0, 36),
        last: (0, 44),
        host_state_dir: "~/.openhands-state",
        container_state_dir: "/.openhands-state",
        ..OLD_REGISTRY
    },
    Profile {
        first: (0, 45),
        last: (0, 59),
        ..OLD_REGISTRY
    },
    Profile {
        first: (0, 60),
        last: (0, 62),
        ..NEW_REGISTRY
    },
    Profile {
        first: (1, 0),
        last: (1, 1),
        routing: Routing::Sandboxes,
        ..NEW_REGISTRY
    },
    Profile {
        first: (1, 2),
        last: (1, 2),
        sandbox_image: SandboxImage::AgentServer {
            repository: NEW_REGISTRY_RUNTIME,
        },
        routing: Routing::Sandboxes,
        sandbox_settings: SandboxSettings::HostsMountsEnv,
        ..NEW_REGISTRY
    },
    Profile {
        first: (1, 3),
        last: (1, 8),
        sandbox_image: SandboxImage::BuiltIn,
        routing: Routing::Sandboxes,
        sandbox_settings: SandboxSettings::HostsMountsEnv,
        ..NEW_REGISTRY
    },
];

/// The profile for a version, or an error that lists the versions known.
pub fn profile_for(version: &OpenHandsVersion) -> Result<&'static Profile, String> {
    let wanted = version.major_minor();
    PROFILES
        .iter()
        .find(|p| p.first <= wanted && wanted <= p.last)
        .ok_or_else(|| {
            format!(
                "unknown OpenHands version {version}: ohproxy knows 0.36 to {NEWEST}; \
             set openhands.image to run another version with the nearest profile"
            )
        })
}

impl Profile {
    /// The settings that make sandboxes reachable, for profiles with sandboxes.
    pub fn sandbox_vars(&self) -> Option<&'static SandboxVars> {
        (self.routing == Routing::Sandboxes).then_some(&V1_VARS)
    }

    /// The app image for this version: `<repository>:<version>`.
    pub fn app_image(&self, version: &OpenHandsVersion) -> String {
        format!("{}:{}", self.app_repository, version.tag())
    }

    /// The environment that tells the app which sandbox image to run.
    pub fn sandbox_env(&self, version: &OpenHandsVersion) -> Vec<(String, String)> {
        let tag = format!("{}-nikolaik", version.tag());
        match self.sandbox_image {
            SandboxImage::Runtime { repository } => {
                vec![(
                    "SANDBOX_RUNTIME_CONTAINER_IMAGE".into(),
                    format!("{repository}:{tag}"),
                )]
            }
            SandboxImage::AgentServer { repository } => vec![
                (
                    "AGENT_SERVER_IMAGE_REPOSITORY".into(),
                    repository.to_string(),
                ),
                ("AGENT_SERVER_IMAGE_TAG".into(), tag),
            ],
            SandboxImage::BuiltIn => Vec::new(),
        }
    }
}

/// The warning about sandbox ports that OpenHands publishes on every interface: what is
/// wrong, what to do, and one firewall rule per port. `status` and `doctor` both show it.
pub fn exposed_ports_warning(ports: &[u16]) -> (String, String, Vec<String>) {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let message = format!(
        "sandbox ports {} are published on all interfaces (OpenHands does this): the \
         network reaches the agent-servers directly, past nginx",
        list.join(", ")
    );
    let fix = "drop them at the firewall for the LAN interface (Docker's DOCKER-USER chain); \
               nginx reaches them on 127.0.0.1, which such a rule leaves alone"
        .to_string();
    let rules = ports
        .iter()
        .map(|port| {
            format!(
                "sudo iptables -I DOCKER-USER -i <LAN interface> -p tcp -m conntrack \
                 --ctorigdstport {port} --ctdir ORIGINAL -j DROP"
            )
        })
        .collect();
    (message, fix, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(version: &str) -> &'static Profile {
        profile_for(&OpenHandsVersion::parse(version).unwrap()).unwrap()
    }

    #[test]
    fn versions_pick_their_profile() {
        assert_eq!(profile("0.36").host_state_dir, "~/.openhands-state");
        assert_eq!(profile("0.44.1").host_state_dir, "~/.openhands-state");
        assert_eq!(profile("0.45").host_state_dir, "~/.openhands");
        assert!(
            profile("0.59")
                .app_repository
                .starts_with("docker.all-hands.dev/")
        );
        assert!(
            profile("0.60")
                .app_repository
                .starts_with("docker.openhands.dev/")
        );
        assert_eq!(profile("0.62").routing, Routing::AppOnly);
        assert_eq!(profile("1.0").routing, Routing::Sandboxes);
        assert_eq!(profile(NEWEST).sandbox_image, SandboxImage::BuiltIn);
    }

    #[test]
    fn images_and_sandbox_settings() {
        let v = OpenHandsVersion::parse("0.36").unwrap();
        let p = profile_for(&v).unwrap();
        assert_eq!(
            p.app_image(&v),
            "docker.all-hands.dev/all-hands-ai/openhands:0.36"
        );
        assert_eq!(
            p.sandbox_env(&v),
            vec![(
                "SANDBOX_RUNTIME_CONTAINER_IMAGE".to_string(),
                "docker.all-hands.dev/all-hands-ai/runtime:0.36-nikolaik".to_string()
            )]
        );
        let v = OpenHandsVersion::parse("1.2").unwrap();
        let env = profile_for(&v).unwrap().sandbox_env(&v);
        assert_eq!(
            env[1],
            (
                "AGENT_SERVER_IMAGE_TAG".to_string(),
                "1.2-nikolaik".to_string()
            )
        );
    }

    #[test]
    fn unknown_versions_are_refused() {
        for text in ["0.35", "1.9", "2.0", "0.63"] {
            let version = OpenHandsVersion::parse(text).unwrap();
            assert!(
                profile_for(&version).unwrap_err().contains("0.36 to 1.8"),
                "{text}"
            );
        }
        for text in ["", "1", "latest", "1.x", "1.8.0.1", "-1.8"] {
            assert!(OpenHandsVersion::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn profiles_cover_the_range_without_overlap() {
        for pair in PROFILES.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let next = if a.last.0 == b.first.0 {
                (a.last.0, a.last.1 + 1)
            } else {
                b.first
            };
            assert_eq!(next, b.first, "gap or overlap after {:?}", a.last);
        }
    }
}
