use std::path::{Path, PathBuf};

use super::*;
use crate::access::session;
use crate::config::{Duration, SafePath};
use crate::names::Domain;

fn config(text: &str) -> Config {
    let text = format!("domain = \"openhands.home.arpa\"\n{text}");
    Config::parse(&text, Path::new("config.toml")).unwrap()
}

fn certs() -> CertFiles {
    CertFiles {
        cert: PathBuf::from("/etc/ssl/oh/openhands.home.arpa.pem"),
        key: PathBuf::from("/etc/ssl/oh/openhands.home.arpa-key.pem"),
    }
}

fn nginx(version: (u32, u32, u32), openssl: Option<(u32, u32, u32)>) -> NginxInfo {
    let v = |(a, b, c)| Version::new(a, b, c);
    NginxInfo {
        version: v(version),
        openssl: openssl.map(v),
    }
}

fn page_root() -> &'static Path {
    Path::new("/var/lib/ohproxy/public")
}

fn render_for(config: &Config, version: (u32, u32, u32)) -> String {
    render(
        config,
        &certs(),
        &nginx(version, Some((3, 0, 13))),
        page_root(),
    )
    .unwrap()
}

#[test]
fn old_nginx_gets_http2_on_listen_and_no_tickets() {
    let text = render_for(&config("[nginx]\nipv6 = true\n"), (1, 22, 1));
    assert!(text.starts_with(HEADER), "{text}");
    assert!(text.contains("listen 443 ssl http2;\n"));
    assert!(text.contains("listen [::]:443 ssl http2;\n"));
    assert!(!text.contains("http2 on;"));
    assert!(text.contains("ssl_session_tickets off;"));
    assert!(text.contains("ssl_ecdh_curve X25519:prime256v1:secp384r1;"));
}

#[test]
fn new_nginx_gets_the_http2_directive() {
    let text = render(
        &config("[nginx]\nipv6 = false\n"),
        &certs(),
        &nginx((1, 26, 2), Some((3, 5, 1))),
        page_root(),
    )
    .unwrap();
    assert!(
        text.contains("    listen 443 ssl;\n    http2 on;\n"),
        "{text}"
    );
    assert!(!text.contains("[::]"));
    assert!(!text.contains("ssl http2"));
    assert!(!text.contains("ssl_session_tickets"));
    assert!(text.contains("ssl_ecdh_curve X25519MLKEM768:X25519:prime256v1:secp384r1;"));
}

#[test]
fn redirect_and_host_carry_a_non_default_port() {
    let text = render_for(&config("[ports]\nhttps = 8443\nhttp = 8080\n"), (1, 22, 1));
    assert!(text.contains("listen 8080;\n"));
    assert!(text.contains("return 308 https://$host:8443$request_uri;"));
    assert!(text.contains("proxy_set_header Host              $host:8443;"));
    assert!(text.contains("proxy_set_header X-Forwarded-Port  8443;"));

    let text = render_for(&config(""), (1, 22, 1));
    assert!(text.contains("return 308 https://$host$request_uri;"));
    assert!(text.contains("proxy_set_header Host              $host;"));
}

#[test]
fn the_redirect_server_never_proxies() {
    let text = render_for(&config(""), (1, 22, 1));
    let plain = text.split("server {").nth(1).unwrap();
    assert!(
        !plain.contains("proxy_pass") && plain.contains("return 308"),
        "{plain}"
    );
}

#[test]
fn settings_reach_the_file() {
    let config = config(
        "names = [\"oh.lan\", \"192.168.1.20\", \"*.oh.lan\"]\n[ports]\napp = 3300\n\
         [nginx]\nproxy-timeout = \"5s\"\nupload-limit = \"2m\"\nhsts-max-age = \"1d\"\n",
    );
    let text = render_for(&config, (1, 22, 1));
    for line in [
        "server_name openhands.home.arpa oh.lan *.oh.lan;",
        "server 127.0.0.1:3300;",
        "proxy_read_timeout 5s;",
        "proxy_send_timeout 5s;",
        "client_max_body_size 2m;",
        "add_header Strict-Transport-Security \"max-age=86400\" always;",
        "ssl_certificate \"/etc/ssl/oh/openhands.home.arpa.pem\";",
        "access_log \"/var/log/nginx/ohproxy-openhands.home.arpa.access.log\"",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("192.168.1.20"));
    assert!(!render_for(&config_default(), (1, 22, 1)).contains("Strict-Transport-Security"));
}

fn config_default() -> Config {
    Config::new(Domain::parse("openhands.home.arpa").unwrap())
}

#[test]
fn shared_identifiers_carry_the_site_id() {
    let text = render_for(&config_default(), (1, 22, 1));
    let id = site_id("openhands.home.arpa");
    for needle in [
        format!("$ohproxy_{id}_conn {{"),
        format!("upstream ohproxy_{id}_app {{"),
        format!("log_format ohproxy_{id}\n"),
        format!("shared:ohproxy_{id}:10m"),
    ] {
        assert!(text.contains(&needle), "{needle}");
    }
    assert_ne!(site_id("a-b.example"), site_id("a.b.example"));
    let longest = format!("ohproxy_{}_conn", site_id(&"x".repeat(253)));
    assert!(longest.len() <= 40, "{longest}");
    let cookie = format!("cookie_{}", session::cookie_name(&"x".repeat(253)));
    assert!(cookie.len() <= 40, "{cookie}");
}

/// The https server's text, and in it each location that reaches OpenHands.
fn https_locations(text: &str) -> (String, Vec<String>) {
    let server = text
        .split("\nserver {")
        .find(|server| server.contains("ssl_certificate "))
        .unwrap()
        .to_string();
    let locations = ["location / {", "location ^~ /runtime/ {"]
        .iter()
        .map(|head| {
            let body = server.split(head).nth(1).expect(head);
            body.split("\n    }").next().unwrap().to_string()
        })
        .collect();
    (server, locations)
}

#[test]
fn password_mode_takes_the_session_cookie_in_place_of_the_password() {
    let mut config =
        config("[nginx]\nhsts-max-age = \"1d\"\n[access]\nbridges = [\"172.17.0.0/16\"]\n");
    let text = render_for(&config, (1, 22, 1));
    let id = site_id("openhands.home.arpa");
    let cookie = session::cookie_name("openhands.home.arpa");
    assert!(
        text.contains(&format!(
            "map $ohproxy_{id}_ext $ohproxy_{id}_key {{\n    default \"\";\n    \
             include \"/etc/ssl/oh/openhands.home.arpa.session.con[f]\";\n}}\n"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "geo $ohproxy_{id}_ext {{\n    default 1;\n    172.17.0.0/16 0;\n"
    )));
    assert!(text.contains(&format!(
        "map \"$ohproxy_{id}_ext $cookie_{cookie} $ohproxy_{id}_key\" $ohproxy_{id}_realm {{"
    )));
    assert!(text.contains(&format!(
        "    default \"{cookie}=$ohproxy_{id}_key; Path=/; Secure; HttpOnly; SameSite=Strict\";"
    )));
    assert!(text.contains(&format!("map $http_cookie $ohproxy_{id}_cookies {{")));
    assert!(text.contains(&format!("{cookie}=[^;,]*")));

    // Server level, beside HSTS: the locations have no add_header, so inherit both.
    let (server, locations) = https_locations(&text);
    let head = server.split("\n    location").next().unwrap();
    assert!(
        head.contains("add_header Strict-Transport-Security"),
        "{head}"
    );
    assert!(head.contains(&format!(
        "    add_header Set-Cookie $ohproxy_{id}_session;\n"
    )));
    for location in &locations {
        assert!(!location.contains("add_header"), "{location}");
        assert!(
            location.contains(&format!("auth_basic $ohproxy_{id}_realm;")),
            "{location}"
        );
        assert!(location.contains(&format!("proxy_set_header Cookie $ohproxy_{id}_cookies;")));
    }
    assert!(
        !text.contains("auth_basic \""),
        "no fixed realm left: {text}"
    );

    for mode in [AccessMode::ClientCert, AccessMode::None] {
        config.access.mode = mode;
        let text = render_for(&config, (1, 22, 1));
        for absent in [
            "session.con",
            "Set-Cookie",
            "_realm",
            "_cookies",
            "auth_basic",
        ] {
            assert!(!text.contains(absent), "{absent} in {mode:?}");
        }
    }
}

#[test]
fn the_access_log_format_has_no_query_string() {
    let text = render_for(&config_default(), (1, 22, 1));
    let format = text
        .split("log_format")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    for variable in [
        "$request ",
        "$request\"",
        "$request_uri",
        "$args",
        "$query_string",
    ] {
        assert!(!format.contains(variable), "{variable} in {format}");
    }
    assert!(format.contains("$uri"));
}

#[test]
fn a_prefix_moves_the_access_log() {
    let mut config = config_default();
    config.nginx.prefix = Some(SafePath::parse("/srv/nginx").unwrap());
    let text = render_for(&config, (1, 22, 1));
    assert!(text.contains("access_log \"/srv/nginx/logs/ohproxy-openhands.home.arpa.access.log\""));
}

#[test]
fn a_custom_template_is_used_and_undefined_values_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.conf.j2");
    let mut config = config_default();
    config.nginx.template = Some(SafePath::parse(path.to_str().unwrap()).unwrap());

    std::fs::write(&path, "# {{ domain }} on {{ https_port }}\n").unwrap();
    assert_eq!(
        render_for(&config, (1, 22, 1)),
        "# openhands.home.arpa on 443\n"
    );

    std::fs::write(&path, "server_name {{ domian }};\n").unwrap();
    let err = render(&config, &certs(), &nginx((1, 22, 1), None), page_root()).unwrap_err();
    assert!(crate::error::exit_code(&err) == 2, "{err:#}");
    assert!(format!("{err:#}").contains("line 1"), "{err:#}");
}

#[test]
fn the_guard_refuses_what_could_change_the_file() {
    let hostile = [
        "a.example; location /x { return 200; } #",
        "a{b.example",
        "a}b.example",
        "a#b.example",
        "$host",
        "a\"b.example",
        "a'b.example",
        "a\\b.example",
        "a\nb.example",
        "a b.example",
        "w*.example",
        "*.*.example",
        "bücher.example",
        &format!("{}.example", "a".repeat(64)),
        &format!("{}a", "a.".repeat(127)),
    ];
    for value in hostile {
        let mut context = context(
            &config_default(),
            &certs(),
            &nginx((1, 22, 1), None),
            page_root(),
        );
        context.server_names.push(value.to_string());
        let err = guard(&context).expect_err(value).to_string();
        assert!(
            err.starts_with("names: ") && err.contains(&format!("{value:?}")),
            "{err}"
        );
    }
    let paths = [
        "relative/cert.pem",
        "/etc/../cert.pem",
        "/a b/c",
        "/a;b",
        "/a$b",
        "/é",
    ];
    for value in paths {
        let mut context = context(
            &config_default(),
            &certs(),
            &nginx((1, 22, 1), None),
            page_root(),
        );
        context.cert = value.to_string();
        let err = guard(&context).expect_err(value).to_string();
        assert!(err.starts_with("nginx.cert-dir: "), "{err}");
    }
    let mut context = context(
        &config_default(),
        &certs(),
        &nginx((1, 22, 1), None),
        page_root(),
    );
    context.app_port = 0;
    assert!(
        guard(&context)
            .unwrap_err()
            .to_string()
            .starts_with("ports.app: \"0\"")
    );
}

#[test]
fn durations_render_in_seconds() {
    let mut config = config_default();
    config.nginx.proxy_timeout = Duration::parse("2h").unwrap();
    assert!(render_for(&config, (1, 22, 1)).contains("proxy_read_timeout 7200s;"));
}

#[test]
fn the_http_port_serves_the_onboarding_page_and_redirects_the_rest() {
    let text = render_for(&config_default(), (1, 22, 1));
    let http = text.split("\nserver {").nth(1).unwrap();
    assert!(http.contains("    location / {\n        return 308 https://$host$request_uri;"));
    assert!(http.contains("    location ^~ /ca/ {\n        root \"/var/lib/ohproxy/public\";"));
    assert!(http.contains("application/x-apple-aspen-config mobileconfig;"));
    assert!(http.contains("disable_symlinks on;"));
    let https = text.split("\nserver {").last().unwrap();
    assert!(https.contains("location = /ca/check.svg {"));
    assert!(
        !https.contains("location ^~ /ca/"),
        "HTTPS serves only the check image"
    );

    let err = render(
        &config_default(),
        &certs(),
        &nginx((1, 22, 1), None),
        Path::new("/srv/page;root"),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("nginx.page-dir"), "{err:#}");
}

#[test]
fn sandbox_callbacks_reach_only_the_webhook_path_from_docker_bridges() {
    let text = render_for(&config_default(), (1, 22, 1));
    let callbacks = text
        .split("\nserver {")
        .find(|server| server.contains("server_name host.docker.internal;"))
        .expect("a 1.x site has a server for the sandboxes' callbacks");
    let webhooks = callbacks
        .split("location ^~ /api/v1/webhooks/ {")
        .nth(1)
        .unwrap();
    let rules = webhooks.split("proxy_pass").next().unwrap();
    assert!(rules.trim_end().ends_with("deny all;"), "{rules}");
    assert!(
        callbacks.contains("location / {\n        return 404;"),
        "{callbacks}"
    );

    let mut old = config_default();
    old.openhands.version = Some(crate::openhands::OpenHandsVersion::parse("0.36").unwrap());
    assert!(!render_for(&old, (1, 22, 1)).contains("host.docker.internal"));
}
