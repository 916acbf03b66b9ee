//! The session cookie that stands in for the password on the site's own pages. Safari and
//! every browser on iOS and iPadOS (all WebKit) never send cached Basic credentials with a
//! WebSocket upgrade, so behind the password alone OpenHands' WebSockets would get 401
//! there. A browser that got past the password is handed this cookie, which WebKit does
//! send, and nginx skips the password for a request that carries it. Its secret is random
//! per site, kept in the state dir, and reaches nginx only in a small include that its
//! master reads at load (owner only), never in the site file.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{AccessFiles, Install, Reader, dir};
use crate::error::WithHint;
use crate::fsx;
use crate::nginx::template::site_id;
use crate::paths::Paths;

/// 32 random bytes (256 bits), far beyond guessing over the network. The site file's realm
/// map takes exactly this many, as 64 lowercase hex digits.
const SECRET_BYTES: usize = 32;

/// The site's secret. Its Debug never shows it.
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    fn generate() -> Secret {
        Secret(hex::encode(rand::random::<[u8; SECRET_BYTES]>()))
    }

    /// The file's text: the secret in hex, nothing else but a line feed.
    fn parse(text: &str) -> Option<Secret> {
        let hex = text.trim_end_matches('\n');
        let ok = hex.len() == 2 * SECRET_BYTES
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Secret(hex.to_string()))
    }

    fn save(&self, paths: &Paths) -> Result<()> {
        fsx::create_dir(&dir(paths), 0o700)?;
        fsx::write_atomic(
            &secret_path(paths),
            format!("{}\n", self.0).as_bytes(),
            0o600,
        )
    }
}

/// Where ohproxy keeps the secret (owner only).
fn secret_path(paths: &Paths) -> PathBuf {
    dir(paths).join("session-secret")
}

/// The secret in the state dir, made and saved when there is none yet; with `dry_run` a
/// missing one is made up and not saved.
fn secret(paths: &Paths, dry_run: bool) -> Result<Secret> {
    let path = secret_path(paths);
    match std::fs::read_to_string(&path) {
        Ok(text) => Secret::parse(&text)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the session secret in {} is not {} hex digits",
                    path.display(),
                    2 * SECRET_BYTES
                )
            })
            .hint("delete the file; the next apply makes a new one and browsers log in again"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Secret::generate();
            if !dry_run {
                secret.save(paths)?;
            }
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the secret, so that every cookie handed out before stops working once the
/// site is applied again. For a removed user, and for a new password file.
pub fn rotate(paths: &Paths) -> Result<()> {
    Secret::generate().save(paths)
}

/// The cookie's name: one per site, like every name nginx shares between sites.
pub fn cookie_name(domain: &str) -> String {
    format!("ohproxy_{}", site_id(domain))
}

/// The include's text: the one entry of the site file's `$ohproxy_<site>_key` map, which
/// gives the secret to a source outside the Docker bridges (`1`, from the site's `geo`).
/// The site file compares the cookie with it and builds the `Set-Cookie` from it.
fn include_text(domain: &str, secret: &Secret) -> String {
    format!(
        "# Managed by ohproxy for {domain}: the session cookie's secret. Readable by its \
         owner only;\n# never copied into the site file, which includes this one.\n\
         1 \"{}\";\n",
        secret.0
    )
}

/// The include for this site, to be installed where the site file names it.
pub fn install(domain: &str, paths: &Paths, files: &AccessFiles, dry_run: bool) -> Result<Install> {
    let secret = secret(paths, dry_run)?;
    Ok(Install {
        path: files.session.clone(),
        bytes: include_text(domain, &secret).into_bytes(),
        reader: Reader::Master,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(dir: &std::path::Path) -> Paths {
        Paths {
            config_file: dir.join("config.toml"),
            state_dir: dir.join("state"),
            caroot_env: None,
        }
    }

    #[test]
    fn the_secret_is_made_once_and_kept_until_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        let files = AccessFiles::installed(dir.path(), "a.example");
        let dry = install("a.example", &paths, &files, true).unwrap();
        assert!(!secret_path(&paths).exists(), "a dry run writes nothing");

        let first = install("a.example", &paths, &files, false).unwrap();
        assert_ne!(first.bytes, dry.bytes);
        let again = install("a.example", &paths, &files, false).unwrap();
        assert_eq!(first.bytes, again.bytes);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(secret_path(&paths))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        rotate(&paths).unwrap();
        let rotated = install("a.example", &paths, &files, false).unwrap();
        assert_ne!(first.bytes, rotated.bytes);
        assert_eq!(rotated.reader, Reader::Master);
    }

    #[test]
    fn the_include_is_one_map_entry_with_the_secret() {
        let secret = Secret::parse(&format!("{}\n", "ab".repeat(32))).unwrap();
        let text = include_text("a.example", &secret);
        let entries: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(entries, [format!("1 \"{}\";", "ab".repeat(32))]);
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert_eq!(
            cookie_name("a.example"),
            format!("ohproxy_{}", site_id("a.example"))
        );
    }

    #[test]
    fn a_damaged_secret_is_refused() {
        for bad in [
            "",
            "abc",
            &"AB".repeat(32),
            &"ab".repeat(33),
            &format!("{}x", "a".repeat(63)),
        ] {
            assert!(Secret::parse(bad).is_none(), "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        std::fs::create_dir_all(super::dir(&paths)).unwrap();
        std::fs::write(secret_path(&paths), "nope\n").unwrap();
        let err = secret(&paths, false).unwrap_err();
        assert!(format!("{err:#}").contains("session-secret"), "{err:#}");
    }
}
