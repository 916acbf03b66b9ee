//! Host names and IP addresses as the user types them, checked once: what may go into a
//! certificate's SAN and into an nginx `server_name`. Values are validated, never escaped:
//! anything that could change the meaning of a file we write is refused.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// RFC 1035: a name is at most 253 characters in text form, a label at most 63.
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// A name that is not acceptable, with the value as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name {value:?}: {reason}")]
pub struct NameError {
    pub value: String,
    pub reason: String,
}

fn refuse(value: &str, reason: impl Into<String>) -> NameError {
    NameError {
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A certificate subject name: a DNS name (possibly a `*.` wildcard) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Name {
    Dns(String),
    Ip(IpAddr),
}

impl Name {
    /// Parses an IP address or a DNS name; Unicode names become punycode.
    pub fn parse(input: &str) -> Result<Name, NameError> {
        if let Ok(ip) = input.parse::<IpAddr>() {
            return Ok(Name::Ip(ip));
        }
        dns_name(input, true).map(Name::Dns)
    }

    pub fn is_wildcard(&self) -> bool {
        matches!(self, Name::Dns(name) if name.starts_with("*."))
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Dns(name) => f.write_str(name),
            Name::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// The site's domain: a DNS name without wildcard, in ASCII (punycode) form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    pub fn parse(input: &str) -> Result<Domain, NameError> {
        if input.parse::<IpAddr>().is_ok() {
            return Err(refuse(
                input,
                "the domain must be a name; add addresses with --name",
            ));
        }
        dns_name(input, false).map(Domain)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(value: String) -> Result<Name, NameError> {
        Name::parse(&value)
    }
}

impl From<Name> for String {
    fn from(value: Name) -> String {
        value.to_string()
    }
}

impl TryFrom<String> for Domain {
    type Error = NameError;
    fn try_from(value: String) -> Result<Domain, NameError> {
        Domain::parse(&value)
    }
}

impl From<Domain> for String {
    fn from(value: Domain) -> String {
        value.0
    }
}

/// Checks and normalises a DNS name: IDNA to ASCII, lower case, trailing dot dropped,
/// letters, digits and inner hyphens only, and at most one leading `*.` label.
fn dns_name(input: &str, allow_wildcard: bool) -> Result<String, NameError> {
    if input.is_empty() {
        return Err(refuse(input, "it is empty"));
    }
    if let Some(bad) = input.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse(input, format!("{} is not allowed", describe(bad))));
    }
    if let Some(bad) = input.chars().find(|c| c.is_ascii() && !is_name_char(*c)) {
        return Err(refuse(input, format!("{} is not allowed", describe(bad))));
    }
    let trimmed = input.strip_suffix('.').unwrap_or(input);
    let (wildcard, rest) = match trimmed.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    if wildcard && !allow_wildcard {
        return Err(refuse(input, "a wildcard cannot be the domain"));
    }
    if rest.contains('*') {
        return Err(refuse(
            input,
            "'*' is only allowed as a whole leading label, as in *.example",
        ));
    }
    if rest.len() > MAX_NAME_LEN {
        return Err(refuse(
            input,
            format!("it is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    // ASCII names need only lower-casing; IDNA would hide the precise reason for a refusal.
    let ascii = if rest.is_ascii() {
        rest.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii_strict(rest)
            .map_err(|_| refuse(input, "it is not a valid internationalised name"))?
    };
    check_labels(input, &ascii)?;
    if wildcard && !ascii.contains('.') {
        return Err(refuse(
            input,
            "browsers refuse a wildcard directly under a top-level domain",
        ));
    }
    let name = if wildcard {
        format!("*.{ascii}")
    } else {
        ascii
    };
    if name.len() > MAX_NAME_LEN {
        return Err(refuse(
            input,
            format!("it is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(name)
}

fn check_labels(input: &str, ascii: &str) -> Result<(), NameError> {
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(refuse(
                input,
                "it has an empty label (two dots in a row, or a leading dot)",
            ));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(refuse(
                input,
                format!("a label is longer than {MAX_LABEL_LEN} characters"),
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(refuse(input, "a label starts or ends with '-'"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(refuse(
                input,
                "only letters, digits and '-' are allowed in a label",
            ));
        }
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*')
}

fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("openhands.home.arpa", "openhands.home.arpa"),
            ("OpenHands.Home.Arpa.", "openhands.home.arpa"),
            ("*.home.arpa", "*.home.arpa"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("localhost", "localhost"),
            ("1password.example", "1password.example"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Name::parse(input).unwrap(),
                Name::Dns(expected.to_string()),
                "{input}"
            );
        }
        assert_eq!(
            Name::parse("::1").unwrap(),
            Name::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            Name::parse("192.168.1.20").unwrap().to_string(),
            "192.168.1.20"
        );
    }

    #[test]
    fn refuses_hostile_names() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}example", "abcdefghi.".repeat(25));
        let cases = [
            "a;b.example",
            "a{b",
            "a}b",
            "$host",
            "a\"b",
            "a'b",
            "a b",
            "a\nb",
            "a..b",
            "-lead.example",
            "lead-.example",
            "w*.example",
            "*.*.example",
            "a.*.example",
            "",
            ".",
            "*.",
            "*.lan",
            "a_b.example",
            "a#b",
            "a\\b",
            "~^.*$",
            "a/b",
            long_label.as_str(),
            long_name.as_str(),
            "a\u{0}b",
            "a\u{7f}b",
        ];
        for input in cases {
            let err = Name::parse(input).expect_err(input);
            assert_eq!(err.value, input);
            assert!(
                !err.reason.contains("internationalised") || !input.is_ascii(),
                "{err}"
            );
        }
    }

    #[test]
    fn domain_refuses_wildcards_and_addresses() {
        assert!(Domain::parse("*.home.arpa").is_err());
        assert!(Domain::parse("10.0.0.1").is_err());
        assert_eq!(
            Domain::parse("OH.home.arpa").unwrap().as_str(),
            "oh.home.arpa"
        );
    }
}
