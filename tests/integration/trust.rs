//! `ohproxy ca trust` / `untrust` against real `certutil` databases and a redirected Linux
//! anchor directory. Every run sets OHPROXY_TRUST_ROOT, so the machine's own stores are
//! never touched even where a test uses `--nss-db`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::pki::openssl_root;
use crate::support::{Home, require, tool};

/// A CA made by openssl in `dir/rootCA.pem`; returns the nickname ohproxy must give it.
fn make_ca(dir: &Path) -> String {
    fs::create_dir_all(dir).unwrap();
    openssl_root(dir, "/O=trust test/CN=trust test CA", true);
    let out = tool(
        "openssl",
        [
            "x509",
            "-noout",
            "-serial",
            "-in",
            &path(&dir.join("rootCA.pem")),
        ],
    );
    let serial = String::from_utf8_lossy(&out.stdout);
    let serial = serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    format!("ohproxy CA {}", serial.trim_start_matches('0'))
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A fresh, password-less NSS database.
fn nss_db(dir: &Path) -> String {
    fs::create_dir_all(dir).unwrap();
    let db = format!("sql:{}", dir.display());
    let out = tool("certutil", ["-N", "--empty-password", "-d", &db]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// `certutil -L`: one "nickname trust" line per certificate.
fn listing(db: &str) -> Vec<String> {
    let out = tool("certutil", ["-L", "-d", db]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(4)
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|line| !line.is_empty())
        .collect()
}

fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect()
}

#[test]
fn nss_db_gets_our_root_trusted_for_servers_and_untrust_removes_only_it() {
    let (Some(_), Some(_)) = (require("certutil"), require("openssl")) else {
        return;
    };
    let home = Home::new();
    let nick = make_ca(&home.ca_dir());
    let db_dir = home.path().join("nssdb");
    let db = nss_db(&db_dir);
    // Another CA with the same subject, as a replaced CA would have.
    let other = home.path().join("other");
    make_ca(&other);
    let added = tool(
        "certutil",
        [
            "-A",
            "-d",
            &db,
            "-n",
            "Someone Else",
            "-t",
            "C,,",
            "-i",
            &path(&other.join("rootCA.pem")),
        ],
    );
    assert!(added.status.success());
    let trust_root = home.path().join("stores");
    let run = |verb: &str| {
        home.cmd(["ca", verb, "--nss-db", &path(&db_dir)])
            .env("OHPROXY_TRUST_ROOT", &trust_root)
            .ok()
    };

    let out = run("trust");
    assert!(
        out.stderr.contains(&format!("added \"{nick}\"")),
        "{}",
        out.stderr
    );
    assert_eq!(
        listing(&db),
        ["Someone Else C,,".to_string(), format!("{nick} C,,")]
    );
    let exported = tool("certutil", ["-L", "-d", &db, "-n", &nick, "-a"]);
    let ours = fs::read_to_string(home.ca_dir().join("rootCA.pem")).unwrap();
    let exported = pem_body(&String::from_utf8_lossy(&exported.stdout));
    assert!(
        exported.contains(&pem_body(&ours)),
        "our certificate is the one added"
    );

    let again = run("trust");
    assert!(again.stderr.contains("already there"), "{}", again.stderr);
    assert_eq!(listing(&db).len(), 2, "trusting twice adds nothing");

    let out = run("untrust");
    assert!(
        out.stderr.contains(&format!("removed \"{nick}\"")),
        "{}",
        out.stderr
    );
    assert_eq!(listing(&db), ["Someone Else C,,"]);
    let survivor = tool("certutil", ["-L", "-d", &db, "-n", "Someone Else", "-a"]);
    let theirs = fs::read_to_string(other.join("rootCA.pem")).unwrap();
    assert_eq!(
        pem_body(&String::from_utf8_lossy(&survivor.stdout)),
        pem_body(&theirs),
        "the other CA, which has our subject, is untouched"
    );
    let out = run("untrust");
    assert!(out.stderr.contains("not there"), "{}", out.stderr);
    assert_eq!(listing(&db), ["Someone Else C,,"]);
    assert!(!trust_root.exists(), "--nss-db touches no other store");
}

#[test]
fn redirected_anchor_dir_gets_exactly_our_file_and_untrust_removes_exactly_it() {
    let Some(_) = require("openssl") else { return };
    let home = Home::new();
    let caroot = home.path().join("caroot");
    let nick = make_ca(&caroot);
    let root = home.path().join("stores");
    let anchors = root.join("usr/local/share/ca-certificates");
    fs::create_dir_all(&anchors).unwrap();
    fs::write(anchors.join("corp.crt"), "not ours").unwrap();
    let run = |verb: &str| {
        home.cmd(["ca", verb])
            .env("CAROOT", &caroot)
            .env("OHPROXY_TRUST_ROOT", &root)
            .ok()
    };

    let out = run("trust");
    assert!(
        out.stderr.contains("`update-ca-certificates` not run"),
        "{}",
        out.stderr
    );
    let ours = anchors.join(format!("{}.crt", nick.replace(' ', "_")));
    assert_eq!(names(&anchors), ["corp.crt".to_string(), file_name(&ours)]);
    assert_eq!(
        fs::read(&ours).unwrap(),
        fs::read(caroot.join("rootCA.pem")).unwrap()
    );
    assert_eq!(
        fs::metadata(&ours).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let again = run("trust");
    assert!(again.stderr.contains("already there"), "{}", again.stderr);

    run("untrust");
    assert_eq!(names(&anchors), ["corp.crt"]);
    assert_eq!(
        fs::read_to_string(anchors.join("corp.crt")).unwrap(),
        "not ours"
    );
}

#[test]
fn rhel_anchor_dir_gets_a_pem_file() {
    let Some(_) = require("openssl") else { return };
    let home = Home::new();
    let nick = make_ca(&home.ca_dir());
    let root = home.path().join("stores");
    let anchors = root.join("etc/pki/ca-trust/source/anchors");
    fs::create_dir_all(&anchors).unwrap();
    let out = home
        .cmd(["ca", "trust"])
        .env("OHPROXY_TRUST_ROOT", &root)
        .ok();
    assert!(
        out.stderr.contains("`update-ca-trust extract` not run"),
        "{}",
        out.stderr
    );
    assert_eq!(names(&anchors), [format!("{}.pem", nick.replace(' ', "_"))]);
}

#[test]
fn browser_databases_under_the_redirected_home_are_found() {
    let (Some(_), Some(_)) = (require("certutil"), require("openssl")) else {
        return;
    };
    let home = Home::new();
    let nick = make_ca(&home.ca_dir());
    let root = home.path().join("stores");
    let firefox = root.join("home/.mozilla/firefox");
    let profile = nss_db(&firefox.join("k3x.default-release"));
    fs::write(
        firefox.join("profiles.ini"),
        "[Profile0]\nName=default\nIsRelative=1\nPath=k3x.default-release\n",
    )
    .unwrap();
    // Chromium reads an existing ~/.pki/nssdb even when it is empty.
    let chromium = root.join("home/.pki/nssdb");
    fs::create_dir_all(&chromium).unwrap();

    let out = home
        .cmd(["ca", "trust"])
        .env("OHPROXY_TRUST_ROOT", &root)
        .ok();
    assert!(
        out.stderr.contains("system store: skipped"),
        "{}",
        out.stderr
    );
    let chromium = format!("sql:{}", chromium.display());
    for db in [&profile, &chromium] {
        assert_eq!(listing(db), [format!("{nick} C,,")], "{db}");
    }

    home.cmd(["ca", "untrust"])
        .env("OHPROXY_TRUST_ROOT", &root)
        .ok();
    for db in [&profile, &chromium] {
        assert!(listing(db).is_empty(), "{db}");
    }
}

#[test]
fn missing_ca_is_an_error_that_points_to_init() {
    let home = Home::new();
    let out = home
        .cmd(["ca", "trust"])
        .env("OHPROXY_TRUST_ROOT", home.path().join("stores"))
        .status(1);
    assert!(
        out.stderr.contains("no CA certificate at"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ohproxy init"), "{}", out.stderr);
}

#[test]
fn missing_certutil_names_the_package() {
    let Some(_) = require("openssl") else { return };
    let home = Home::new();
    make_ca(&home.ca_dir());
    let root = home.path().join("stores");
    fs::create_dir_all(root.join("home/.pki/nssdb")).unwrap();
    let anchors = root.join("usr/local/share/ca-certificates");
    fs::create_dir_all(&anchors).unwrap();
    let empty_path = home.path().join("bin");
    fs::create_dir(&empty_path).unwrap();
    let cmd = |args: &[&str]| {
        home.cmd(args)
            .env("OHPROXY_TRUST_ROOT", &root)
            .env("PATH", &empty_path)
    };

    let out = cmd(&[
        "ca",
        "trust",
        "--nss-db",
        &path(&root.join("home/.pki/nssdb")),
    ])
    .status(1);
    assert!(
        out.stderr.contains("certutil is not installed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("libnss3-tools"), "{}", out.stderr);

    let out = cmd(&["ca", "trust"]).ok();
    assert!(
        out.stderr.contains("skipped: certutil is not installed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("libnss3-tools"), "{}", out.stderr);
    assert_eq!(names(&anchors).len(), 1, "the system store is still done");
}

#[test]
fn nss_db_flag_without_a_database_is_refused() {
    let (Some(_), Some(_)) = (require("certutil"), require("openssl")) else {
        return;
    };
    let home = Home::new();
    make_ca(&home.ca_dir());
    let dir = home.path().join("not-a-db");
    fs::create_dir(&dir).unwrap();
    let out = home
        .cmd(["ca", "trust", "--nss-db", &path(&dir)])
        .env("OHPROXY_TRUST_ROOT", home.path().join("stores"))
        .status(2);
    assert!(out.stderr.contains("--nss-db"), "{}", out.stderr);
    assert!(out.stderr.contains("certutil -N"), "{}", out.stderr);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn unwritable_system_store_prints_the_sudo_commands() {
    let Some(_) = require("openssl") else { return };
    let home = Home::new();
    let caroot = home.path().join("caroot");
    let nick = make_ca(&caroot);
    let root = home.path().join("stores");
    let anchors = root.join("usr/local/share/ca-certificates");
    fs::create_dir_all(&anchors).unwrap();
    fs::set_permissions(&anchors, fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(home.path(), fs::Permissions::from_mode(0o755)).unwrap();

    // Root writes anywhere; run as nobody then, so the directory really refuses.
    let is_root = String::from_utf8_lossy(&tool("id", ["-u"]).stdout).trim() == "0";
    let mut command = if is_root {
        let Some(setpriv) = require("setpriv") else {
            return;
        };
        let mut c = std::process::Command::new(setpriv);
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg(env!("CARGO_BIN_EXE_ohproxy"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_ohproxy"))
    };
    let out = command
        .args(["ca", "trust"])
        .env("OHPROXY_HOME", home.path().join("oh"))
        .env("CAROOT", &caroot)
        .env("OHPROXY_TRUST_ROOT", &root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let file = anchors.join(format!("{}.crt", nick.replace(' ', "_")));
    let install = format!(
        "sudo install -m 644 {} {}",
        caroot.join("rootCA.pem").display(),
        file.display()
    );
    assert!(stderr.contains("needs root; run:"), "{stderr}");
    assert!(stderr.contains(&install), "{stderr}");
    assert!(stderr.contains("sudo update-ca-certificates"), "{stderr}");
    assert!(names(&anchors).is_empty(), "nothing written");
}
