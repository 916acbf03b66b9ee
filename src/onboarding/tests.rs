use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::config::KeyType;
use crate::names::Domain;

fn config(http: u16, https: u16) -> Config {
    let mut config = Config::new(Domain::parse("openhands.home.arpa").unwrap());
    config.ports.http = http.try_into().unwrap();
    config.ports.https = https.try_into().unwrap();
    config
}

fn paths(root: &Path) -> Paths {
    Paths {
        config_file: root.join("config.toml"),
        state_dir: root.join("state"),
        caroot_env: None,
    }
}

#[test]
fn urls_leave_out_default_ports_only() {
    let standard = config(80, 443);
    assert_eq!(page_url(&standard), "http://openhands.home.arpa/ca/");
    assert_eq!(site_url(&standard), "https://openhands.home.arpa/");
    assert_eq!(
        check_url(&standard),
        "https://openhands.home.arpa/ca/check.svg"
    );
    let custom = config(8080, 8443);
    assert_eq!(page_url(&custom), "http://openhands.home.arpa:8080/ca/");
    assert_eq!(
        der_url(&custom),
        "http://openhands.home.arpa:8080/ca/ohproxy-ca.crt"
    );
    assert_eq!(site_url(&custom), "https://openhands.home.arpa:8443/");
}

#[test]
fn every_published_file_has_a_content_type() {
    for name in [PAGE_FILE, PEM_FILE, DER_FILE, PROFILE_FILE, CHECK_FILE] {
        let ext = name.rsplit('.').next().unwrap();
        assert!(
            CONTENT_TYPES.iter().any(|(e, _)| *e == ext),
            "{name} has a content type"
        );
    }
}

#[test]
fn publishes_exactly_the_public_files() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = paths(tmp.path());
    let ca = Ca::create(&paths.default_ca_dir(), KeyType::EcdsaP256).unwrap();
    let config = config(80, 443);

    // Leftovers of an older layout are removed, so only today's files are served.
    let dir = page_dir(&config, &paths);
    fsx::create_dir(&dir, 0o755).unwrap();
    std::fs::write(dir.join("rootCA-key.pem"), "stray").unwrap();
    std::fs::write(public_dir(&config, &paths).join("other.txt"), "stray").unwrap();

    assert_eq!(publish(&ca, &config, &paths).unwrap(), dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut wanted = vec![PAGE_FILE, PEM_FILE, DER_FILE, PROFILE_FILE, CHECK_FILE];
    wanted.sort();
    assert_eq!(names, wanted);
    let top: Vec<_> = std::fs::read_dir(public_dir(&config, &paths))
        .unwrap()
        .collect();
    assert_eq!(top.len(), 1, "only ca/ in the public directory");

    assert_eq!(std::fs::read(dir.join(DER_FILE)).unwrap(), ca.cert_der());
    assert_eq!(
        std::fs::read_to_string(dir.join(PEM_FILE)).unwrap(),
        ca.cert_pem()
    );
    let page = std::fs::read_to_string(dir.join(PAGE_FILE)).unwrap();
    assert!(page.contains(&ca.fingerprint()));
    // minijinja escapes `/` as `&#x2f;`, which browsers read as `/`.
    let page = page.replace("&#x2f;", "/");
    assert!(page.contains("src=\"https://openhands.home.arpa/ca/check.svg\""));
    for name in wanted {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o644,
            "{name} is world-readable, not writable"
        );
    }
}

#[test]
fn refuses_a_ca_directory_inside_the_public_one() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = paths(tmp.path());
    let config = config(80, 443);
    let ca = Ca::create(&page_dir(&config, &paths), KeyType::EcdsaP256).unwrap();
    let err = publish(&ca, &config, &paths).unwrap_err();
    assert!(format!("{err:#}").contains("overlap"), "{err:#}");
    assert!(
        !page_dir(&config, &paths).join(PAGE_FILE).exists(),
        "nothing written"
    );
}

#[test]
fn finds_a_directory_closed_to_other_users() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    let inner = open.join("inner");
    fsx::create_dir(&inner, 0o755).unwrap();
    let set = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
    set(tmp.path(), 0o755).unwrap();
    assert_eq!(closed_ancestor(&inner), None);
    set(&open, 0o700).unwrap();
    assert_eq!(closed_ancestor(&inner), Some(open.clone()));
    set(&open, 0o711).unwrap();
    assert_eq!(closed_ancestor(&inner), None, "passing through is enough");
    set(&inner, 0o700).unwrap();
    assert_eq!(closed_ancestor(&inner), Some(inner.clone()));
}

#[test]
fn refuses_a_page_dir_that_holds_the_leaf_key() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = paths(tmp.path());
    let ca = Ca::create(&paths.default_ca_dir(), KeyType::EcdsaP256).unwrap();
    let mut config = config(80, 443);
    // The default cert dir is state/nginx/certs: serving state/nginx would expose it.
    let nginx_dir = paths.state_dir.join("nginx");
    config.nginx.page_dir =
        Some(crate::config::SafePath::parse(nginx_dir.to_str().unwrap()).unwrap());
    let err = publish(&ca, &config, &paths).unwrap_err();
    assert!(format!("{err:#}").contains("overlap"), "{err:#}");
}
