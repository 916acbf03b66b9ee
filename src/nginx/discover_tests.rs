use super::*;
use crate::nginx::precheck;

const DEBIAN: &str = include_str!("../../tests/fixtures/debian-nginx-T.txt");
const DEBIAN_V: &str = "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.9\nconfigure \
    arguments: --with-cc-opt='-g -O2' --prefix=/usr/share/nginx \
    --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr --pid-path=/run/nginx.pid \
    --with-http_ssl_module\n";
const SITE: &str = "ohproxy-openhands.home.arpa.conf";

fn ctl() -> Ctl {
    Ctl {
        binary: PathBuf::from("/usr/sbin/nginx"),
        config: None,
        prefix: None,
    }
}

fn found(dump: &str, dir: Option<&Path>) -> Result<Found> {
    let dump = Dump::parse(dump).unwrap();
    read(ctl(), parse_build_paths(DEBIAN_V), dump, "", SITE, dir)
}

/// A server file added to Debian's tree, as `nginx -T` would show it.
fn with_site(path: &str, text: &str) -> String {
    format!("{DEBIAN}# configuration file {path}:\n{text}\n")
}

fn candidate(name: &str, https: u16, http: u16) -> String {
    format!(
        "server {{\n    listen {http};\n    listen [::]:{http};\n    server_name {name};\n}}\n\
         server {{\n    listen {https} ssl http2;\n    server_name {name};\n}}\n"
    )
}

#[test]
fn reads_debians_stock_tree() {
    let found = found(DEBIAN, None).unwrap();
    assert_eq!(found.main_config, Path::new("/etc/nginx/nginx.conf"));
    assert_eq!(found.site_dir, Path::new("/etc/nginx/conf.d"));
    assert_eq!(found.site_file, Path::new("/etc/nginx/conf.d").join(SITE));
    assert_eq!(found.pid_file, Path::new("/run/nginx.pid"));
    assert_eq!(
        found.error_log.as_deref(),
        Some(Path::new("/var/log/nginx/error.log"))
    );
    assert_eq!(found.prefix, Path::new("/usr/share/nginx"));
    assert_eq!(found.hash_bucket_size, None);
    assert_eq!(
        found.servers,
        [Server {
            file: PathBuf::from("/etc/nginx/sites-enabled/default"),
            line: 21,
            ports: vec![80, 80],
            names: vec!["_".into()],
        }]
    );
}

#[test]
fn a_configured_site_dir_must_be_included_inside_http() {
    let err = found(DEBIAN, Some(Path::new("/srv/elsewhere"))).unwrap_err();
    assert!(
        format!("{err:#}").contains("no include inside http"),
        "{err:#}"
    );
    let ok = found(DEBIAN, Some(Path::new("/etc/nginx/sites-enabled"))).unwrap();
    assert_eq!(
        ok.site_file,
        Path::new("/etc/nginx/sites-enabled").join(SITE)
    );
}

#[test]
fn a_tree_without_an_http_include_is_refused_clearly() {
    let dump = "# configuration file /x/nginx.conf:\nevents {}\nhttp { include /x/one.conf; }\n\n\
                # configuration file /x/one.conf:\nserver { listen 81; }\n\n";
    let err = format!("{:#}", found(dump, None).unwrap_err());
    assert!(err.contains("no directory of site files"), "{err}");
}

#[test]
fn listen_addresses_give_their_port() {
    for (address, port) in [
        ("443", Some(443)),
        ("127.0.0.1:8443", Some(8443)),
        ("[::]:443", Some(443)),
        ("[::1]", Some(80)),
        ("*:80", Some(80)),
        ("localhost", Some(80)),
        ("unix:/run/x.sock", None),
    ] {
        assert_eq!(listen_port(address), port, "{address}");
    }
}

#[test]
fn a_long_name_on_a_shared_port_is_refused_before_nginx_sees_it() {
    let found = found(DEBIAN, None).unwrap();
    let name46 = format!("{}.home.arpa", "a".repeat(36));
    let name47 = format!("{}.home.arpa", "a".repeat(37));
    assert_eq!(name46.len(), 46);
    precheck::check(&found, &candidate(&name46, 443, 80)).unwrap();
    let err = precheck::check(&found, &candidate(&name47, 443, 80)).unwrap_err();
    assert_eq!(crate::error::exit_code(&err), 2);
    let text = format!("{err:#}");
    assert!(
        text.contains("47 characters") && text.contains("at most 46"),
        "{text}"
    );
    assert!(text.contains("server_names_hash_bucket_size 128"), "{text}");
    // Alone on its ports, nginx builds no hash and any length works.
    precheck::check(&found, &candidate(&name47, 8443, 8080)).unwrap();
}

#[test]
fn a_larger_bucket_allows_longer_names() {
    let dump = DEBIAN.replace(
        "# server_names_hash_bucket_size 64;",
        "server_names_hash_bucket_size 128;",
    );
    let found = found(&dump, None).unwrap();
    assert_eq!(found.hash_bucket_size, Some(128));
    let name = format!("{}.home.arpa", "a".repeat(90));
    precheck::check(&found, &candidate(&name, 443, 80)).unwrap();
}

#[test]
fn another_server_claiming_our_name_on_our_port_is_refused() {
    let other = "server {\n listen 443 ssl;\n server_name www.example OpenHands.home.arpa;\n}";
    let found = found(&with_site("/etc/nginx/sites-enabled/other", other), None).unwrap();
    let err = precheck::check(&found, &candidate("openhands.home.arpa", 443, 80)).unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("openhands.home.arpa on port 443")
            && text.contains("/etc/nginx/sites-enabled/other:1"),
        "{text}"
    );
    // The same name on other ports, or our own previous file, is no conflict.
    precheck::check(&found, &candidate("openhands.home.arpa", 8443, 80)).unwrap();
    let ours = with_site(&format!("/etc/nginx/conf.d/{SITE}"), other);
    let found = super::tests::found(&ours, None).unwrap();
    precheck::check(&found, &candidate("openhands.home.arpa", 443, 80)).unwrap();
}

#[test]
fn reads_build_paths_from_nginx_v() {
    let paths = parse_build_paths(DEBIAN_V);
    assert_eq!(paths["prefix"], "/usr/share/nginx");
    assert_eq!(paths["pid-path"], "/run/nginx.pid");
    assert_eq!(paths["error-log-path"], "stderr");
    assert!(!paths.contains_key("with-cc-opt"));
}
