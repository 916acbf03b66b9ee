//! The site file: a minijinja template (built in, or the file `nginx.template` names)
//! rendered from a context built only from the checked config. Before rendering, every
//! value in the context is checked once more, here, against what may appear in an nginx
//! file without changing its meaning.

use std::net::{Ipv6Addr, TcpListener};
use std::path::Path;

use anyhow::{Context as _, Result};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::CertFiles;
use super::version::{NginxInfo, Version};
use crate::access::{AccessFiles, AccessMode, bridges};
use crate::config::Config;
use crate::error::invalid;
use crate::names::Name;
use crate::onboarding;

/// The built-in template.
pub const BUILT_IN: &str = include_str!("../../templates/site.conf.j2");

/// The first words of every site file rendered from the built-in template.
pub const HEADER: &str = "# Managed by ohproxy for ";

/// `http2 on;` exists from 1.25.1; before, HTTP/2 is a `listen` parameter (which later
/// versions warn about).
const HTTP2_DIRECTIVE: Version = Version::new(1, 25, 1);
/// From 1.23.2 nginx rotates session ticket keys itself when a shared cache is used, so
/// tickets are only turned off before it (Mozilla's generator does the same).
const TICKET_ROTATION: Version = Version::new(1, 23, 2);
/// OpenSSL 3.5 added the hybrid post-quantum group that Mozilla now lists first.
const OPENSSL_MLKEM: Version = Version::new(3, 5, 0);

/// Mozilla "intermediate" (guidelines 6.0): ECDHE with AEAD ciphers for TLS 1.2; TLS 1.3
/// suites are not configurable here and OpenSSL's defaults are the recommended ones.
const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
const CURVES: &str = "X25519:prime256v1:secp384r1";
const CURVES_MLKEM: &str = "X25519MLKEM768:X25519:prime256v1:secp384r1";

/// Everything the template sees.
#[derive(Debug, Serialize)]
struct Context {
    domain: String,
    site: String,
    server_names: Vec<String>,
    http_port: u16,
    https_port: u16,
    app_port: u16,
    /// `:PORT` when HTTPS is not on 443, else empty: appended to `$host`.
    port_suffix: String,
    ipv6: bool,
    http2_on: bool,
    session_tickets_off: bool,
    ciphers: String,
    curves: String,
    cert: String,
    key: String,
    access_log: String,
    upload_limit: String,
    proxy_timeout: u64,
    hsts_max_age: Option<u64>,
    nginx_version: String,
    openssl_version: Option<String>,
    /// The onboarding page: the `root` that holds `ca/`, and each file type it serves.
    page_root: String,
    page_types: Vec<(&'static str, &'static str)>,
    /// Access control: the mode, the files it needs, and the Docker bridge subnets that
    /// pass without credentials.
    access_mode: &'static str,
    bridges: Vec<String>,
    users_file: String,
    client_ca: String,
    crl: String,
    /// Password mode's session cookie: the include that holds its secret (and the same
    /// as an include pattern), and its name.
    session_file: String,
    session_pattern: String,
    session_cookie: String,
    /// OpenHands 1.x: the `/runtime/<port>/` route and its allow-list file, and the
    /// Docker bridge subnets whose sandboxes may call the app back through nginx.
    sandbox_routes: bool,
    callback_nets: Vec<String>,
    sandbox_ports_file: String,
    /// The same file as an include pattern: its last letter as a class (`con[f]`).
    sandbox_ports_pattern: String,
}

/// Renders the site file for this config, these certificate paths and this nginx, with
/// the onboarding page served from `page_root` (see `onboarding::public_dir`).
pub fn render(
    config: &Config,
    certs: &CertFiles,
    nginx: &NginxInfo,
    page_root: &Path,
) -> Result<String> {
    let dir = certs.cert.parent().unwrap_or(Path::new("/"));
    let access = AccessFiles::installed(dir, config.domain.as_str());
    render_with(config, certs, &access, nginx, page_root)
}

/// `render` with the access-control files at these paths instead of beside the leaf.
pub fn render_with(
    config: &Config,
    certs: &CertFiles,
    access: &AccessFiles,
    nginx: &NginxInfo,
    page_root: &Path,
) -> Result<String> {
    let mut context = context(config, certs, nginx, page_root);
    let docker_nets = bridges::exempt(config.access.bridges.as_deref());
    if context.sandbox_routes {
        context.callback_nets = docker_nets.clone();
    }
    context.bridges = match config.access.mode {
        AccessMode::None => Vec::new(),
        _ => docker_nets,
    };
    context.users_file = access.users.display().to_string();
    context.client_ca = access.client_ca.display().to_string();
    context.crl = access.crl.display().to_string();
    context.session_file = access.session.display().to_string();
    context.session_pattern = as_pattern(&context.session_file);
    guard(&context)?;
    let (name, source) = match &config.nginx.template {
        Some(path) => {
            let text = std::fs::read_to_string(path.as_path()).with_context(|| {
                format!("reading the template {path} (config key nginx.template)")
            })?;
            (path.to_string(), text)
        }
        None => ("site.conf.j2".to_string(), BUILT_IN.to_string()),
    };
    environment()
        .render_named_str(&name, &source, &context)
        .map_err(|err| invalid(format!("template {name}: {}", describe(&err))))
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env
}

/// The error with its line, which minijinja keeps apart from the message.
fn describe(err: &minijinja::Error) -> String {
    match err.line() {
        Some(line) => format!("line {line}: {err}"),
        None => err.to_string(),
    }
}

fn context(config: &Config, certs: &CertFiles, nginx: &NginxInfo, page_root: &Path) -> Context {
    let ports_file = super::sandbox_ports::beside(certs, config.domain.as_str());
    let site = site_id(config.domain.as_str());
    let cert_dir = certs.cert.parent().unwrap_or(Path::new("/"));
    let access = AccessFiles::installed(cert_dir, config.domain.as_str());
    let https = config.ports.https.get();
    let log_dir = match &config.nginx.prefix {
        Some(prefix) => prefix.as_path().join("logs"),
        None => "/var/log/nginx".into(),
    };
    Context {
        domain: config.domain.to_string(),
        server_names: server_names(config),
        http_port: config.ports.http.get(),
        https_port: https,
        app_port: config.ports.app.get(),
        port_suffix: if https == 443 {
            String::new()
        } else {
            format!(":{https}")
        },
        ipv6: config.nginx.ipv6.unwrap_or_else(host_has_ipv6),
        http2_on: nginx.version >= HTTP2_DIRECTIVE,
        session_tickets_off: nginx.version < TICKET_ROTATION,
        ciphers: CIPHERS.to_string(),
        curves: match nginx.openssl {
            Some(openssl) if openssl >= OPENSSL_MLKEM => CURVES_MLKEM,
            _ => CURVES,
        }
        .to_string(),
        cert: certs.cert.display().to_string(),
        key: certs.key.display().to_string(),
        access_log: log_dir
            .join(format!("ohproxy-{}.access.log", config.domain))
            .display()
            .to_string(),
        upload_limit: config.nginx.upload_limit.to_string(),
        proxy_timeout: config.nginx.proxy_timeout.as_secs(),
        hsts_max_age: config.nginx.hsts_max_age.map(|d| d.as_secs()),
        nginx_version: nginx.version.to_string(),
        openssl_version: nginx.openssl.map(|v| v.to_string()),
        page_root: page_root.display().to_string(),
        page_types: onboarding::CONTENT_TYPES.to_vec(),
        access_mode: config.access.mode.as_str(),
        bridges: Vec::new(),
        users_file: access.users.display().to_string(),
        client_ca: access.client_ca.display().to_string(),
        crl: access.crl.display().to_string(),
        session_pattern: as_pattern(&access.session.display().to_string()),
        session_file: access.session.display().to_string(),
        session_cookie: crate::access::session::cookie_name(config.domain.as_str()),
        sandbox_routes: super::sandbox_ports::enabled(config),
        callback_nets: Vec::new(),
        sandbox_ports_pattern: as_pattern(&ports_file.display().to_string()),
        sandbox_ports_file: ports_file.display().to_string(),
        site,
    }
}

/// The domain, then every extra DNS name; addresses never go into `server_name`.
fn server_names(config: &Config) -> Vec<String> {
    config
        .leaf_names()
        .into_iter()
        .filter_map(|name| match name {
            Name::Dns(dns) => Some(dns),
            Name::Ip(_) => None,
        })
        .collect()
}

/// An identifier for nginx's shared names: the domain's letters and digits, cut short,
/// plus a hash of the whole domain so that two domains never share one. Short because
/// nginx's variable hash, with its default bucket size of 64 bytes, refuses a variable
/// name over about 46 characters; the map variable built from it stays under 40.
pub fn site_id(domain: &str) -> String {
    let readable: String = domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(16)
        .collect();
    let digest = Sha256::digest(domain.as_bytes());
    format!("{readable}_{}", hex::encode(&digest[..4]))
}

/// A path as a glob that matches just that file: the last character as a class.
fn as_pattern(path: &str) -> String {
    match path.char_indices().last() {
        Some((at, last)) => format!("{}[{last}]", &path[..at]),
        None => String::new(),
    }
}

/// True when an IPv6 socket can be bound here, so `listen [::]:PORT` will work.
fn host_has_ipv6() -> bool {
    TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).is_ok()
}

/// Refuses any context value that could change the meaning of the file: the config types
/// already refuse these, and this is the one place that makes sure of it.
fn guard(context: &Context) -> Result<()> {
    let refuse = |key: &str, value: &str, why: &str| {
        Err(invalid(format!(
            "{key}: {value:?} cannot go into the nginx site file: {why}"
        )))
    };
    let names = std::iter::once(("domain", &context.domain))
        .chain(context.server_names.iter().map(|name| ("names", name)));
    for (key, name) in names {
        if !is_server_name(name) {
            return refuse(
                key,
                name,
                "only letters, digits, '-', '.' and a leading '*.'",
            );
        }
    }
    let paths = [
        ("nginx.cert-dir", &context.cert),
        ("nginx.cert-dir", &context.key),
        ("nginx.prefix", &context.access_log),
        ("nginx.page-dir", &context.page_root),
        ("nginx.cert-dir", &context.users_file),
        ("nginx.cert-dir", &context.client_ca),
        ("nginx.cert-dir", &context.crl),
        ("nginx.cert-dir", &context.session_file),
        ("nginx.cert-dir", &context.sandbox_ports_file),
    ];
    for (key, path) in paths {
        if !is_plain_path(path) {
            return refuse(
                key,
                path,
                "use an absolute path of letters, digits and ._-+@,=",
            );
        }
    }
    let nets = context.bridges.iter().chain(&context.callback_nets);
    if let Some(net) = nets.into_iter().find(|net| !is_subnet(net)) {
        return refuse("Docker bridge", net, "not an address/prefix");
    }
    let ports = [
        ("ports.http", context.http_port),
        ("ports.https", context.https_port),
        ("ports.app", context.app_port),
    ];
    if let Some((key, port)) = ports.iter().find(|(_, port)| *port == 0) {
        return refuse(key, &port.to_string(), "ports are 1 to 65535");
    }
    let words = [
        ("nginx.upload-limit", &context.upload_limit),
        ("site id", &context.site),
        ("session cookie", &context.session_cookie),
        ("nginx version", &context.nginx_version),
        ("ciphers", &context.ciphers),
        ("curves", &context.curves),
    ];
    let openssl = context
        .openssl_version
        .iter()
        .map(|v| ("OpenSSL version", v));
    for (key, word) in words.into_iter().chain(openssl) {
        if word.is_empty()
            || !word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
        {
            return refuse(key, word, "only letters, digits and . _ : -");
        }
    }
    Ok(())
}

/// An ASCII host name of LDH labels, at most 253 characters, with at most a leading `*.`.
fn is_server_name(name: &str) -> bool {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    !bare.is_empty()
        && name.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `ADDR/PREFIX` as nginx's `allow` and `geo` read it.
fn is_subnet(text: &str) -> bool {
    text.split_once('/').is_some_and(|(addr, prefix)| {
        addr.parse::<std::net::IpAddr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 128)
    })
}

/// An absolute path of plain ASCII characters with no `..` component.
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 1024
        && !path.split('/').any(|part| part == "..")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@,=".contains(c))
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
