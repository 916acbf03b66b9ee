//! Checks of a candidate site file against the servers nginx already has, made before
//! anything is written, so that the user gets a clear message instead of a cryptic
//! `nginx -t` error or, worse, a warning nginx prints and then ignores our server.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::discover::{Found, Server, servers};
use super::dump::Dump;
use crate::error::{WithHint, invalid};

/// nginx's default `server_names_hash_bucket_size` is the CPU's cache line: 64 bytes on
/// x86_64 and most arm64 machines.
const DEFAULT_BUCKET: usize = 64;

/// The longest server name a hash bucket of `bucket` bytes holds. Each name takes a
/// pointer plus its length and two bytes, rounded up to a pointer, and a bucket ends with
/// a null pointer (nginx's `NGX_HASH_ELT_SIZE`): 46 characters at 64 bytes.
pub fn longest_name(bucket: usize) -> usize {
    let pointer = 8;
    let bucket = bucket.div_ceil(DEFAULT_BUCKET) * DEFAULT_BUCKET;
    ((bucket - 2 * pointer) / pointer) * pointer - 2
}

/// The servers our candidate file defines.
pub fn our_servers(site_file: &Path, candidate: &str) -> Result<Vec<Server>> {
    let dump = Dump::single(site_file, candidate);
    Ok(servers(&dump.directives(&["http"], &BTreeMap::new())?))
}

/// Refuses a candidate whose names another file's server already claims on the same
/// port, or whose names are too long for the hash nginx builds for a port that several
/// servers share, ours or others'.
pub fn check(found: &Found, candidate: &str) -> Result<()> {
    let ours = our_servers(&found.site_file, candidate)?;
    let others: Vec<&Server> = found
        .servers
        .iter()
        .filter(|s| s.file != found.site_file)
        .collect();
    for server in &ours {
        for port in &server.ports {
            let sharing: Vec<&&Server> = others.iter().filter(|o| o.ports.contains(port)).collect();
            if let Some((other, name)) = sharing.iter().find_map(|o| {
                let name = server
                    .names
                    .iter()
                    .find(|n| !n.is_empty() && o.names.contains(n))?;
                Some((o, name))
            }) {
                return Err(anyhow::anyhow!(
                    "{name} on port {port} is already served by the server at {}:{}; nginx \
                     would warn and ignore one of the two",
                    other.file.display(),
                    other.line
                ))
                .hint("remove that server (or its server_name) or choose another domain");
            }
            // Our own servers share a port too: the 1.x sandbox callback server sits on
            // the HTTP port beside the redirect.
            let ours_too = ours
                .iter()
                .any(|o| !std::ptr::eq(o, server) && o.ports.contains(port));
            if !sharing.is_empty() || ours_too {
                check_length(found, server, *port)?;
            }
        }
    }
    Ok(())
}

/// nginx builds a server-name hash only for a port that several servers share; a name
/// longer than a bucket makes the whole config fail.
fn check_length(found: &Found, server: &Server, port: u16) -> Result<()> {
    let bucket = found.hash_bucket_size.unwrap_or(DEFAULT_BUCKET);
    let limit = longest_name(bucket);
    let Some(name) = server.names.iter().find(|n| n.len() > limit) else {
        return Ok(());
    };
    let fix = match found.hash_bucket_size {
        None => format!(
            "add `server_names_hash_bucket_size 128;` inside http {{}} in {}",
            found.main_config.display()
        ),
        Some(size) => format!(
            "raise server_names_hash_bucket_size (now {size}) in {}",
            found.main_config.display()
        ),
    };
    Err(invalid(format!(
        "domain: {name} is {} characters; nginx's server_names_hash_bucket_size {bucket} \
         holds at most {limit} on port {port}, which several servers share",
        name.len()
    )))
    .hint(format!("{fix}, or use a shorter name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_limit_matches_what_nginx_does_on_x86_64() {
        assert_eq!(longest_name(64), 46);
        assert_eq!(longest_name(128), 110);
        assert_eq!(
            longest_name(100),
            110,
            "nginx rounds the size up to a cache line"
        );
    }
}
