//! Who holds the HTTPS and HTTP ports: the listening sockets from /proc/net/tcp and tcp6,
//! matched by inode to the processes whose file descriptors point at them.

use std::collections::BTreeSet;

use super::Outcome;
use crate::config::Config;

/// The TCP state "listening" in /proc/net/tcp.
const LISTEN: &str = "0A";

/// A process holding a listening socket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holder {
    pub pid: u32,
    pub name: String,
}

/// What listens on one port: the processes found, and whether some socket's owner could
/// not be seen (another user's process, when not run as root).
#[derive(Debug, Default)]
pub struct Listeners {
    pub sockets: usize,
    pub holders: BTreeSet<Holder>,
    pub hidden: bool,
}

pub fn check(config: &Config) -> Outcome {
    let ports = [
        ("https", config.ports.https.get()),
        ("http", config.ports.http.get()),
    ];
    let mut good = Vec::new();
    let mut bad = Vec::new();
    let mut hidden = Vec::new();
    for (role, port) in ports {
        let found = listeners(port);
        let named: Vec<String> = found
            .holders
            .iter()
            .map(|h| format!("{} (pid {})", h.name, h.pid))
            .collect();
        let foreign: Vec<&Holder> = found.holders.iter().filter(|h| h.name != "nginx").collect();
        if found.sockets == 0 {
            bad.push(format!("nothing listens on port {port} ({role})"));
        } else if !foreign.is_empty() {
            let list: Vec<String> = foreign
                .iter()
                .map(|h| format!("{} (pid {})", h.name, h.pid))
                .collect();
            bad.push(format!(
                "port {port} ({role}) is held by {}, not nginx",
                list.join(", ")
            ));
        } else if found.holders.is_empty() {
            hidden.push(format!(
                "port {port} ({role}) is held by a process not visible here"
            ));
        } else {
            good.push(format!("port {port} ({role}): {}", dedup_names(&named)));
        }
    }
    if !bad.is_empty() {
        let fix = if bad.iter().any(|b| b.contains("not nginx")) {
            "stop the program that holds the port (or set ports.https/ports.http to free ones \
             and apply), then start nginx"
        } else {
            "start nginx; if it does not stay up, its error log says why"
        };
        return Outcome::failure(bad.join("; "), fix).with_detail(good.join("\n"));
    }
    if !hidden.is_empty() {
        return Outcome::warning(
            hidden.join("; "),
            "run doctor as root to see which process holds it",
        );
    }
    Outcome::ok(good.join("; "))
}

/// `nginx (pids 1, 2, 3)` from a list of `name (pid N)`.
fn dedup_names(named: &[String]) -> String {
    let pids: Vec<&str> = named
        .iter()
        .filter_map(|n| n.split_once("(pid ").map(|(_, p)| p.trim_end_matches(')')))
        .collect();
    format!("nginx (pids {})", pids.join(", "))
}

/// The listening sockets on `port` (any address, IPv4 and IPv6) and who holds them.
pub fn listeners(port: u16) -> Listeners {
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        inodes.extend(listening_inodes(&text, port));
    }
    let mut found = Listeners {
        sockets: inodes.len(),
        ..Listeners::default()
    };
    let mut seen = BTreeSet::new();
    for (pid, inode) in socket_owners() {
        if inodes.contains(&inode) {
            seen.insert(inode);
            found.holders.insert(Holder {
                pid,
                name: process_name(pid),
            });
        }
    }
    found.hidden = seen.len() < inodes.len();
    found
}

/// Inodes of listening sockets on `port` in one /proc/net/tcp{,6} table.
pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?.parse().ok()?;
            let local_port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            (*state == LISTEN && local_port == port).then_some(inode)
        })
        .collect()
}

/// (pid, socket inode) for every socket descriptor of every process we may look into.
fn socket_owners() -> Vec<(u32, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut owners = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok());
            if let Some(inode) = inode {
                owners.push((pid, inode));
            }
        }
    }
    owners
}

/// The process's command name, e.g. `nginx` or `python3`.
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1
   1: 0100007F:01BB 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1
";

    #[test]
    fn only_listening_sockets_on_the_port_count() {
        assert_eq!(listening_inodes(TABLE, 443), vec![4242]);
        assert_eq!(listening_inodes(TABLE, 80), vec![4444]);
        assert!(listening_inodes(TABLE, 8080).is_empty());
    }

    #[test]
    fn our_own_listener_is_found_with_our_pid() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = listeners(port);
        assert_eq!(found.sockets, 1);
        assert!(
            found.holders.iter().any(|h| h.pid == std::process::id()),
            "{found:?}"
        );
    }
}
