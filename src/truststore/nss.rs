//! Finding the NSS databases, the store of Chromium on Linux and of Firefox everywhere:
//! Chromium's two homes and its snap, and every Firefox profile (classic, snap, XDG and
//! macOS locations). Changing them is `certutil`'s part.

use std::path::{Path, PathBuf};

use super::{Os, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    Chromium,
    Firefox,
}

/// One NSS database directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssDb {
    pub dir: PathBuf,
    pub browser: Browser,
}

impl NssDb {
    /// `sql:DIR` for cert9.db databases, `dbm:DIR` for the legacy cert8.db ones.
    pub(super) fn spec(&self) -> Option<String> {
        db_spec(&self.dir)
    }

    pub(super) fn label(&self) -> String {
        let kind = match self.browser {
            Browser::Chromium => "Chromium NSS db",
            Browser::Firefox => "Firefox profile",
        };
        format!("{kind} {}", self.dir.display())
    }
}

pub(super) fn db_spec(dir: &Path) -> Option<String> {
    if dir.join("cert9.db").is_file() {
        Some(format!("sql:{}", dir.display()))
    } else if dir.join("cert8.db").is_file() {
        Some(format!("dbm:{}", dir.display()))
    } else {
        None
    }
}

/// Every NSS database of the target's user: Chromium's (Linux) and every Firefox profile's.
/// Chromium directories are listed when they exist, even without a database yet, because
/// Chromium reads an empty `~/.pki/nssdb` and ignores the XDG one then.
pub fn find_nss_dbs(target: &Target) -> Vec<NssDb> {
    let Some(home) = &target.home else {
        return Vec::new();
    };
    let mut dbs = Vec::new();
    if target.os == Os::Linux {
        let data = target
            .xdg_data_home
            .clone()
            .unwrap_or_else(|| home.join(".local/share"));
        let chromium = [
            home.join(".pki/nssdb"),
            data.join("pki/nssdb"),
            home.join("snap/chromium/current/.pki/nssdb"),
        ];
        dbs.extend(
            chromium
                .into_iter()
                .filter(|d| d.is_dir())
                .map(|dir| NssDb {
                    dir,
                    browser: Browser::Chromium,
                }),
        );
    }
    let config = target
        .xdg_config_home
        .clone()
        .unwrap_or_else(|| home.join(".config"));
    let firefox = [
        home.join(".mozilla/firefox"),
        home.join("snap/firefox/common/.mozilla/firefox"),
        config.join("mozilla/firefox"),
        home.join("Library/Application Support/Firefox"),
    ];
    for base in firefox {
        dbs.extend(firefox_profiles(&base).into_iter().map(|dir| NssDb {
            dir,
            browser: Browser::Firefox,
        }));
    }
    dbs.dedup();
    dbs
}

/// The profile directories under one Firefox directory: those `profiles.ini` names and any
/// sub-directory (or `Profiles/` entry) holding a certificate database. Sorted, unique.
pub fn firefox_profiles(base: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_to_string(base.join("profiles.ini"))
        .map(|ini| ini_profile_paths(&ini, base))
        .unwrap_or_default();
    for dir in [base.to_path_buf(), base.join("Profiles")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let with_db = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| db_spec(p).is_some());
        found.extend(with_db);
    }
    found.retain(|p| p.is_dir());
    found.sort();
    found.dedup();
    found
}

/// `Path=` of every `[Profile...]` section, relative to `base` unless `IsRelative=0`.
fn ini_profile_paths(ini: &str, base: &Path) -> Vec<PathBuf> {
    // (is a profile section, Path=, relative)
    let mut sections: Vec<(bool, Option<&str>, bool)> = Vec::new();
    for line in ini.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.starts_with("Profile"), None, true));
        } else if let Some(section) = sections.last_mut() {
            if let Some(path) = line.strip_prefix("Path=") {
                section.1 = Some(path);
            } else if let Some(flag) = line.strip_prefix("IsRelative=") {
                section.2 = flag.trim() != "0";
            }
        }
    }
    sections
        .into_iter()
        .filter_map(|(profile, path, relative)| match (profile, path) {
            (true, Some(path)) if relative => Some(base.join(path)),
            (true, Some(path)) => Some(PathBuf::from(path)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"").unwrap();
    }

    #[test]
    fn profiles_come_from_profiles_ini_and_from_databases() {
        let base = tempfile::tempdir().unwrap();
        let base = base.path();
        let ini = "[Install4F96D1932A9F858E]\nDefault=abc.default-release\n\n\
                   [Profile1]\nName=work\nIsRelative=1\nPath=abc.default-release\n\n\
                   [Profile0]\nName=old\nIsRelative=1\nPath=gone.default\n\n\
                   [General]\nStartWithLastProfile=1\n";
        std::fs::write(base.join("profiles.ini"), ini).unwrap();
        std::fs::create_dir(base.join("abc.default-release")).unwrap();
        touch(&base.join("legacy.default/cert8.db"));
        touch(&base.join("Profiles/mac.default/cert9.db"));
        std::fs::create_dir(base.join("Crash Reports")).unwrap();

        let found = firefox_profiles(base);
        let expected = [
            "Profiles/mac.default",
            "abc.default-release",
            "legacy.default",
        ];
        let expected: Vec<PathBuf> = expected.iter().map(|p| base.join(p)).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn absolute_profile_paths_are_kept() {
        let elsewhere = tempfile::tempdir().unwrap();
        let ini = format!(
            "[Profile0]\nIsRelative=0\nPath={}\n",
            elsewhere.path().display()
        );
        let paths = ini_profile_paths(&ini, Path::new("/base"));
        assert_eq!(paths, vec![elsewhere.path().to_path_buf()]);
    }

    #[test]
    fn finds_chromium_and_firefox_databases_under_a_fake_home() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        std::fs::create_dir_all(home.join(".pki/nssdb")).unwrap();
        touch(&home.join(".local/share/pki/nssdb/cert9.db"));
        touch(&home.join("snap/chromium/current/.pki/nssdb/cert9.db"));
        touch(&home.join(".mozilla/firefox/a.default/cert9.db"));
        touch(&home.join("snap/firefox/common/.mozilla/firefox/b.default/cert9.db"));
        touch(&home.join(".config/mozilla/firefox/c.default/cert9.db"));

        let target = Target::redirected(root.path(), Os::Linux);
        let found: Vec<(Browser, PathBuf)> = find_nss_dbs(&target)
            .into_iter()
            .map(|db| {
                (
                    db.browser,
                    db.dir.strip_prefix(&home).unwrap().to_path_buf(),
                )
            })
            .collect();
        let expected = [
            (Browser::Chromium, ".pki/nssdb"),
            (Browser::Chromium, ".local/share/pki/nssdb"),
            (Browser::Chromium, "snap/chromium/current/.pki/nssdb"),
            (Browser::Firefox, ".mozilla/firefox/a.default"),
            (
                Browser::Firefox,
                "snap/firefox/common/.mozilla/firefox/b.default",
            ),
            (Browser::Firefox, ".config/mozilla/firefox/c.default"),
        ];
        let expected: Vec<(Browser, PathBuf)> = expected
            .iter()
            .map(|(b, p)| (*b, PathBuf::from(p)))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn xdg_directories_move_the_chromium_and_firefox_homes() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let config = root.path().join("conf");
        touch(&data.join("pki/nssdb/cert9.db"));
        touch(&config.join("mozilla/firefox/x.default/cert9.db"));
        let target = Target {
            root: PathBuf::from("/"),
            redirected: false,
            home: Some(root.path().join("empty-home")),
            xdg_data_home: Some(data.clone()),
            xdg_config_home: Some(config.clone()),
            os: Os::Linux,
        };
        let dirs: Vec<PathBuf> = find_nss_dbs(&target).into_iter().map(|d| d.dir).collect();
        assert_eq!(
            dirs,
            vec![
                data.join("pki/nssdb"),
                config.join("mozilla/firefox/x.default")
            ]
        );
    }

    #[test]
    fn chromium_is_linux_only() {
        let root = tempfile::tempdir().unwrap();
        touch(&root.path().join("home/.pki/nssdb/cert9.db"));
        let target = Target::redirected(root.path(), Os::MacOs);
        assert!(find_nss_dbs(&target).is_empty());
    }
}
