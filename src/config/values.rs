//! The value types of the config file. Each one checks itself when it is parsed, so a
//! loaded `Config` holds only values that are safe to put into an nginx file, a Docker
//! request or a path.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

macro_rules! string_value {
    ($ty:ident) => {
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                $ty::parse(&value)
            }
        }
        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.to_string()
            }
        }
    };
}

/// The key algorithm of a CA or a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[value(name = "rsa-2048")]
    Rsa2048,
    #[value(name = "rsa-3072")]
    Rsa3072,
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
        })
    }
}

/// A leaf's validity in days. Apple refuses TLS server certificates valid for more than
/// 825 days, even from a user-added root (support.apple.com/103769), so that is the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Days(u32);

impl Days {
    pub const MAX: u32 = 825;
    /// 397 days stays inside every platform's limit with a day to spare.
    pub const DEFAULT: Days = Days(397);

    pub fn new(days: u32) -> Result<Days, String> {
        if days == 0 || days > Self::MAX {
            return Err(format!(
                "{days} days is out of range: a leaf lasts 1 to {} days",
                Self::MAX
            ));
        }
        Ok(Days(days))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Days {
    fn default() -> Days {
        Days::DEFAULT
    }
}
impl TryFrom<u32> for Days {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, String> {
        Days::new(value)
    }
}
impl From<Days> for u32 {
    fn from(value: Days) -> u32 {
        value.0
    }
}

/// A duration written as `90s`, `30m`, `1h` or a number of seconds; rendered in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Duration(u64);

impl Duration {
    pub fn from_secs(secs: u64) -> Duration {
        Duration(secs)
    }

    pub fn parse(text: &str) -> Result<Duration, String> {
        let (digits, unit) = split_unit(text);
        let scale = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: use a number with s, m, h or d"
                ));
            }
        };
        let secs = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|secs| (1..=7 * 86400).contains(secs))
            .ok_or_else(|| format!("invalid duration {text:?}: use 1s to 7d"))?;
        Ok(Duration(secs))
    }

    pub fn as_secs(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}
string_value!(Duration);

/// A size written as `512k`, `100m`, `1g` or a number of bytes; rendered for nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Size(u64);

impl Size {
    pub fn parse(text: &str) -> Result<Size, String> {
        let (digits, unit) = split_unit(text);
        let scale: u64 = match unit.to_ascii_lowercase().as_str() {
            "" => 1,
            "k" => 1 << 10,
            "m" => 1 << 20,
            "g" => 1 << 30,
            _ => {
                return Err(format!(
                    "invalid size {text:?}: use a number with k, m or g"
                ));
            }
        };
        let bytes = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|bytes| (1024..=(64u64 << 30)).contains(bytes))
            .ok_or_else(|| format!("invalid size {text:?}: use 1k to 64g"))?;
        Ok(Size(bytes))
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(1u64 << 30, "g"), (1 << 20, "m"), (1 << 10, "k")];
        match units
            .iter()
            .find(|(scale, _)| self.0.is_multiple_of(*scale))
        {
            Some((scale, unit)) => write!(f, "{}{unit}", self.0 / scale),
            None => write!(f, "{}", self.0),
        }
    }
}
string_value!(Size);

fn split_unit(text: &str) -> (&str, &str) {
    let at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(at)
}

/// An absolute path that is safe to write into an nginx file: no `..`, no whitespace,
/// no quotes and none of the characters that nginx or a shell treats specially.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SafePath(PathBuf);

impl SafePath {
    pub fn parse(text: &str) -> Result<SafePath, String> {
        check_path_chars(text)?;
        if !text.starts_with('/') {
            return Err(format!("invalid path {text:?}: it must be absolute"));
        }
        Ok(SafePath(PathBuf::from(text)))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for SafePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}
string_value!(SafePath);

/// A path on the Docker host that may start with `~/`, expanded to the user's home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HomePath(String);

impl HomePath {
    pub fn parse(text: &str) -> Result<HomePath, String> {
        check_path_chars(text)?;
        if !(text.starts_with('/') || text.starts_with("~/")) {
            return Err(format!(
                "invalid path {text:?}: it must be absolute or start with ~/"
            ));
        }
        Ok(HomePath(text.to_string()))
    }

    /// The absolute path, with a leading `~/` replaced by the home directory.
    pub fn expand(&self) -> PathBuf {
        match (self.0.strip_prefix("~/"), dirs::home_dir()) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(&self.0),
        }
    }
}

impl fmt::Display for HomePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_value!(HomePath);

fn check_path_chars(text: &str) -> Result<(), String> {
    if let Some(bad) = text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || ";{}#\"'\\$`*?<>|&".contains(*c))
    {
        return Err(format!("invalid path {text:?}: {bad:?} is not allowed"));
    }
    if text.split('/').any(|part| part == "..") {
        return Err(format!("invalid path {text:?}: '..' is not allowed"));
    }
    Ok(())
}

/// A Docker container name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerName(String);

impl ContainerName {
    pub fn parse(text: &str) -> Result<ContainerName, String> {
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !first_ok || !rest_ok || text.len() > 128 {
            return Err(format!(
                "invalid container name {text:?}: use letters, digits, '_', '.' and '-', \
                 starting with a letter or digit"
            ));
        }
        Ok(ContainerName(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_value!(ContainerName);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(Duration::parse("1h").unwrap().as_secs(), 3600);
        assert_eq!(Duration::parse("90").unwrap().as_secs(), 90);
        for bad in ["", "0s", "1h;", "1 h", "8d", "-1s", "1w"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Size::parse("100m").unwrap().to_string(), "100m");
        assert_eq!(Size::parse("1536k").unwrap().to_string(), "1536k");
        for bad in ["", "0", "10", "1t", "1m;", "65g"] {
            assert!(Size::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths_refuse_what_could_change_a_file() {
        assert!(SafePath::parse("/etc/nginx/conf.d").is_ok());
        for bad in [
            "relative/x",
            "/a/../b",
            "/a b",
            "/a;b",
            "/a{b",
            "/a$b",
            "/a\nb",
            "/a#b",
        ] {
            assert!(SafePath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            HomePath::parse("~/.openhands")
                .unwrap()
                .expand()
                .is_absolute()
        );
        assert!(HomePath::parse("~user/x").is_err());
    }

    #[test]
    fn days_are_capped() {
        assert!(Days::new(825).is_ok());
        assert!(Days::new(826).is_err());
        assert!(Days::new(0).is_err());
    }
}
