//! What the app of a 1.x profile needs so that sandboxes work through the one HTTPS
//! origin: the public URL pattern and web URL, the host port for callbacks, the domain
//! resolving to this host from inside the container, and our CA trusted next to the
//! public roots (a bundle in the state dir, mounted read-only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::ca;
use crate::config::Config;
use crate::fsx;
use crate::openhands::SandboxVars;
use crate::paths::Paths;

/// Where the bundle is mounted in the app container.
pub const BUNDLE_TARGET: &str = "/etc/ohproxy/ca-bundle.pem";

/// The variables that TLS clients in the app read for their roots: OpenSSL and Python's
/// `ssl` (and so httpx, which honours `SSL_CERT_FILE`), requests, curl, and Node (which
/// adds these to its own roots).
pub const BUNDLE_VARS: [&str; 4] = [
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
];

/// The system's public roots, by distribution: Debian and Ubuntu, Fedora and RHEL,
/// openSUSE, Alpine.
const SYSTEM_ROOTS: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The site's origin as browsers open it: `https://<domain>[:<port>]`.
pub fn web_url(config: &Config) -> String {
    match config.ports.https.get() {
        443 => format!("https://{}", config.domain),
        port => format!("https://{}:{port}", config.domain),
    }
}

/// The URL pattern sandboxes are published under.
pub fn url_pattern(config: &Config) -> String {
    format!("{}/runtime/{{port}}", web_url(config))
}

/// The settings for the app's environment.
pub fn env(config: &Config, vars: &SandboxVars) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in vars.url_pattern {
        env.insert(key.to_string(), url_pattern(config));
    }
    for key in vars.web_url {
        env.insert(key.to_string(), web_url(config));
    }
    // OpenHands has each sandbox call the app back at
    // http://host.docker.internal:<this port>/api/v1/webhooks. The app is published on
    // 127.0.0.1 only, which a container cannot reach, so the callbacks go to nginx's HTTP
    // port, where the site passes that one path on to the app, from Docker bridges only.
    for key in vars.host_port {
        env.insert(key.to_string(), config.ports.http.to_string());
    }
    for key in BUNDLE_VARS {
        env.insert(key.to_string(), BUNDLE_TARGET.to_string());
    }
    env
}

/// The app passes these on to every sandbox it starts, so that a sandbox reaches the app
/// the way the app gives it, through the public URL (MCP at `<web url>/mcp/mcp`): the
/// domain leading to this host, our bundle mounted read-only, and TLS clients pointed at
/// it. A user's own `OH_AGENT_SERVER_ENV` (a JSON object) is merged in and wins.
pub fn sandbox_settings(config: &Config, paths: &Paths) -> BTreeMap<String, String> {
    use serde_json::{Map, Value, json};
    let hosts = json!({
        "host.docker.internal": "host-gateway",
        config.domain.as_str(): "host-gateway",
    });
    let mounts = json!([{
        "host_path": bundle_file(paths),
        "container_path": BUNDLE_TARGET,
        "mode": "ro",
    }]);
    let mut agent_env: Map<String, Value> = BUNDLE_VARS
        .iter()
        .map(|key| (key.to_string(), Value::from(BUNDLE_TARGET)))
        .collect();
    let theirs = config.openhands.env.get(AGENT_SERVER_ENV);
    if let Some(Ok(Value::Object(theirs))) = theirs.map(|t| serde_json::from_str(t)) {
        agent_env.extend(theirs);
    }
    BTreeMap::from([
        ("OH_SANDBOX_EXTRA_HOSTS".to_string(), hosts.to_string()),
        ("OH_SANDBOX_MOUNTS".to_string(), mounts.to_string()),
        (
            AGENT_SERVER_ENV.to_string(),
            Value::Object(agent_env).to_string(),
        ),
    ])
}

/// Extra environment for every sandbox, as a JSON object.
pub const AGENT_SERVER_ENV: &str = "OH_AGENT_SERVER_ENV";

/// The host entry that makes the domain reach this host's nginx from the container.
pub fn extra_host(config: &Config) -> String {
    format!("{}:host-gateway", config.domain)
}

/// The bundle file in the state dir.
pub fn bundle_file(paths: &Paths) -> PathBuf {
    paths.state_dir.join("openhands").join("ca-bundle.pem")
}

/// The SHA-256 fingerprint of our CA, the part of the bundle that changes when the CA is
/// replaced.
pub fn ca_fingerprint(config: &Config, paths: &Paths) -> Result<String> {
    let ca_cert = config.ca_dir(paths).join(ca::CERT_FILE);
    let pem = std::fs::read(&ca_cert).with_context(|| format!("reading {}", ca_cert.display()))?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem)
        .map_err(|e| anyhow!("{} is not a PEM certificate: {e}", ca_cert.display()))?;
    Ok(ca::colon_hex(&Sha256::digest(&block.contents)))
}

/// Writes the bundle: the first system roots file found, then our CA. Returns its path.
pub fn write_bundle(config: &Config, paths: &Paths) -> Result<PathBuf> {
    let ca_cert = config.ca_dir(paths).join(ca::CERT_FILE);
    let ours = std::fs::read(&ca_cert).with_context(|| format!("reading {}", ca_cert.display()))?;
    let Some(system) = SYSTEM_ROOTS.iter().map(Path::new).find(|p| p.is_file()) else {
        bail!(
            "no system CA bundle found (looked for {}); install ca-certificates",
            SYSTEM_ROOTS.join(", ")
        );
    };
    let mut bundle =
        std::fs::read(system).with_context(|| format!("reading {}", system.display()))?;
    if !bundle.ends_with(b"\n") {
        bundle.push(b'\n');
    }
    bundle.extend_from_slice(b"# ohproxy local CA\n");
    bundle.extend_from_slice(&ours);
    let path = bundle_file(paths);
    if let Some(dir) = path.parent() {
        fsx::create_dir(dir, 0o755)?;
    }
    fsx::write_atomic(&path, &bundle, 0o644)?;
    Ok(path)
}
