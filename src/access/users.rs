//! The password file: user names, their bcrypt hashes, and the file's text in the format
//! nginx's `auth_basic_user_file` reads (`name:hash`, one a line). Never a password in
//! clear: only hashes are kept, and a generated password is returned once to be shown.

use std::path::Path;

use anyhow::{Context, Result};
use rand::distr::{Alphanumeric, SampleString};

use crate::error::invalid;
use crate::fsx;

/// bcrypt's cost. nginx checks the password on every request, in the worker's event loop,
/// so the hash's cost is paid per request, not per login: cost 10 measured about 140 ms a
/// request here, which would make a page of 40 requests take seconds. Cost 6 measured
/// about 9 ms. bcrypt rather than SHA-crypt because, for the same CPU time, it costs an
/// attacker with GPUs far more per guess; `$2b$` is what glibc/libxcrypt's crypt() verifies.
pub const BCRYPT_COST: u32 = 6;
/// bcrypt reads at most 72 bytes; a longer password would be cut silently.
const MAX_PASSWORD: usize = 72;
const MAX_NAME: usize = 64;
/// Letters and digits only, so the password survives any terminal, form or keyboard.
const GENERATED_LEN: usize = 24;

/// A user name that fits the password file and nginx's reading of it. Its Debug form is
/// the quoted name, as messages show it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserName(String);

impl std::fmt::Debug for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl UserName {
    pub fn parse(text: &str) -> Result<UserName> {
        let why = if text.is_empty() {
            Some("it is empty")
        } else if text.contains(':') {
            Some("':' separates the name from the hash in the password file")
        } else if text.chars().any(char::is_control) {
            Some("control characters (newline, tab...) are not allowed")
        } else if text.starts_with('#') {
            Some("nginx reads a line starting with '#' as a comment")
        } else if text.trim() != text {
            Some("leading or trailing spaces are not allowed")
        } else if text.len() > MAX_NAME {
            Some("at most 64 bytes")
        } else {
            None
        };
        match why {
            Some(why) => Err(invalid(format!("user name {text:?}: {why}"))),
            None => Ok(UserName(text.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The users and their hashes, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    entries: Vec<(UserName, String)>,
}

impl PasswordFile {
    /// Reads the file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<PasswordFile> {
        match std::fs::read_to_string(path) {
            Ok(text) => PasswordFile::parse(&text)
                .with_context(|| format!("reading the password file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PasswordFile::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<PasswordFile> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, hash) = line
                .split_once(':')
                .with_context(|| format!("line {}: no ':' between name and hash", n + 1))?;
            if !is_strong_hash(hash) {
                anyhow::bail!("line {}: user {name:?} has no bcrypt hash", n + 1);
            }
            entries.push((UserName::parse(name)?, hash.to_string()));
        }
        Ok(PasswordFile { entries })
    }

    /// The file's text: a header comment (nginx skips `#` lines), then `name:hash` lines.
    pub fn to_text(&self) -> String {
        let mut text = String::from("# Managed by ohproxy (`ohproxy user ...`); bcrypt hashes.\n");
        for (name, hash) in &self.entries {
            text.push_str(&format!("{name}:{hash}\n"));
        }
        text
    }

    /// Writes the file atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fsx::create_dir(dir, 0o700)?;
        }
        fsx::write_atomic(path, self.to_text().as_bytes(), 0o600)
    }

    pub fn names(&self) -> impl Iterator<Item = &UserName> {
        self.entries.iter().map(|(name, _)| name)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, name: &UserName) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// Sets the user's password (adding the user if new); true when the user was new.
    pub fn set(&mut self, name: &UserName, password: &Password) -> Result<bool> {
        let hash = bcrypt::hash(password.0.as_bytes(), BCRYPT_COST)
            .context("hashing the password with bcrypt")?;
        if let Some(entry) = self.entries.iter_mut().find(|(n, _)| n == name) {
            entry.1 = hash;
            return Ok(false);
        }
        self.entries.push((name.clone(), hash));
        Ok(true)
    }

    /// Removes the user; an unknown name is an error.
    pub fn remove(&mut self, name: &UserName) -> Result<()> {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| n != name);
        if self.entries.len() == before {
            return Err(invalid(format!("user {name:?}: no such user")));
        }
        Ok(())
    }

    /// True when `password` is the user's (bcrypt verify, as nginx would).
    pub fn verify(&self, name: &UserName, password: &str) -> bool {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, hash)| bcrypt::verify(password, hash).unwrap_or(false))
    }
}

/// Only `$2b$`/`$2y$` bcrypt: never plain text, `{PLAIN}`, `{SHA}` or other unsalted forms.
fn is_strong_hash(hash: &str) -> bool {
    (hash.starts_with("$2b$") || hash.starts_with("$2y$")) && hash.len() == 60
}

/// A password about to be hashed. Its Debug never shows it.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// A password the user typed: not empty, at most 72 bytes (bcrypt's limit).
    pub fn typed(text: String) -> Result<Password> {
        if text.is_empty() {
            return Err(invalid("the password is empty"));
        }
        if text.len() > MAX_PASSWORD {
            return Err(invalid(format!(
                "the password is {} bytes; bcrypt uses at most {MAX_PASSWORD}",
                text.len()
            )));
        }
        Ok(Password(text))
    }

    /// A random password of letters and digits (about 143 bits).
    pub fn generate() -> Password {
        Password(Alphanumeric.sample_string(&mut rand::rng(), GENERATED_LEN))
    }

    pub fn reveal(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_break_the_file_are_refused() {
        for bad in ["", "a:b", "a\nb", "a\tb", "#admin", " pad", "x\u{7f}"] {
            let err = UserName::parse(bad).unwrap_err();
            assert!(err.is::<crate::error::Invalid>(), "{bad:?}");
        }
        assert_eq!(UserName::parse("Ana María").unwrap().as_str(), "Ana María");
    }

    #[test]
    fn round_trips_and_verifies() {
        let mut file = PasswordFile::default();
        let ana = UserName::parse("ana").unwrap();
        assert!(
            file.set(&ana, &Password::typed("s3cret".into()).unwrap())
                .unwrap()
        );
        let text = file.to_text();
        assert!(!text.contains("s3cret"));
        assert!(text.contains("ana:$2b$06$"), "{text}");
        let again = PasswordFile::parse(&text).unwrap();
        assert!(again.verify(&ana, "s3cret"));
        assert!(!again.verify(&ana, "s3creT"));
        assert!(PasswordFile::parse("bob:plain\n").is_err());
        assert!(PasswordFile::parse("bob:{SHA}abc\n").is_err());
    }

    #[test]
    fn bad_passwords_are_refused() {
        assert!(Password::typed(String::new()).is_err());
        assert!(Password::typed("x".repeat(73)).is_err());
        let a = Password::generate();
        assert_eq!(a.reveal().len(), 24);
        assert_ne!(a.reveal(), Password::generate().reveal());
    }
}
