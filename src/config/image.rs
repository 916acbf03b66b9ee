//! Values handed to the Docker engine as they are: an image reference and the names of
//! environment variables. Checked when the config (or the command line) is read, so a
//! typo is a one-line error naming the value instead of an engine error after a pull.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// A Docker image reference: `[host[:port]/]path[:tag][@algorithm:hex]`, the path in
/// lowercase components joined by `.`, `_`, `__` or dashes.
pub fn parse_image_ref(text: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("invalid image reference {text:?}: {why}"));
    let (name, digest) = match text.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (text, None),
    };
    if let Some(digest) = digest
        && !valid_digest(digest)
    {
        return bad("the digest must be like sha256:<64 hex digits>");
    }
    let last = name.rsplit('/').next().unwrap_or_default();
    let (name, tag) = match last.split_once(':') {
        Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag)),
        None => (name, None),
    };
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return bad("a tag is up to 128 letters, digits, '_', '.' and '-'");
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let has_host = parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost");
    if has_host && !valid_host(parts.remove(0)) {
        return bad("the registry must be a host name, optionally with :port");
    }
    if name.len() > 255 || parts.iter().any(|p| !valid_path_part(p)) {
        return bad(
            "the repository path is lowercase letters and digits, joined by '/', '.', '_' or '-'",
        );
    }
    Ok(text.to_string())
}

fn valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    !algorithm.is_empty()
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    port_ok
        && !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `[a-z0-9]+` runs joined by one `.`, one or two `_`, or any number of `-`.
fn valid_path_part(part: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = part.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &part[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

/// An environment variable name as a shell would take it: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn parse_env_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "invalid environment variable name {name:?}: use letters, digits and '_', not \
             starting with a digit"
        ));
    }
    Ok(())
}

pub fn image_ref<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(de)?;
    parse_image_ref(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

pub fn env_map<'de, D: Deserializer<'de>>(de: D) -> Result<BTreeMap<String, String>, D::Error> {
    let map = BTreeMap::<String, String>::deserialize(de)?;
    for (name, value) in &map {
        parse_env_name(name).map_err(serde::de::Error::custom)?;
        if value.contains('\0') {
            return Err(serde::de::Error::custom(format!(
                "the value of {name} holds a NUL character"
            )));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_as_docker_takes_them() {
        for good in [
            "openhands",
            "docker.openhands.dev/openhands/openhands:1.2",
            "localhost:5000/oh/app:latest",
            "ghcr.io/all-hands-ai/openhands@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "my-registry.local:443/a__b/c.d/e--f:1.0_rc-2",
            "ohproxy-testapp:abc123",
        ] {
            assert_eq!(parse_image_ref(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "x y",
            "Upper/case",
            "app:",
            "app:-tag",
            "a//b",
            "a/b/",
            "reg.io:99999/a",
            "a@sha256:zz",
            "x y;{",
            "a..b",
            "a\nb",
        ] {
            assert!(parse_image_ref(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn environment_names() {
        for good in ["A", "_X", "OH_WEB_URL", "a1"] {
            assert!(parse_env_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "É"] {
            assert!(parse_env_name(bad).is_err(), "{bad:?}");
        }
    }
}
