//! The Docker bridge networks on this host, read from `ip -o addr show` when the site file
//! is rendered. Requests from these addresses pass without credentials: they come from
//! containers on this host (the OpenHands app checking its sandboxes through the public
//! URL), never from the LAN. Only Docker's own interfaces count (`docker0`, and `br-*`
//! for user-defined networks), and only their exact subnets: not the private ranges
//! Docker picks from, because 192.168.0.0/16 is also most home LANs.

use std::net::IpAddr;
use std::process::Command;

/// A network as `ADDR/PREFIX` with the host bits cleared, checked when the config is read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet(String);

impl TryFrom<String> for Subnet {
    type Error = String;
    fn try_from(text: String) -> Result<Subnet, String> {
        network(&text)
            .map(Subnet)
            .ok_or_else(|| format!("{text:?} is not a network like 172.17.0.0/16"))
    }
}

impl From<Subnet> for String {
    fn from(subnet: Subnet) -> String {
        subnet.0
    }
}

impl Subnet {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The configured networks, else the subnets of this host's Docker bridges.
pub fn exempt(configured: Option<&[Subnet]>) -> Vec<String> {
    match configured {
        Some(list) => list.iter().map(|s| s.0.clone()).collect(),
        None => subnets(),
    }
}

/// The subnets of Docker's bridges as `ADDR/PREFIX` with the host bits cleared; empty when
/// there is no bridge or `ip` is missing (then nothing is exempt).
pub fn subnets() -> Vec<String> {
    let out = match Command::new("ip").args(["-o", "addr", "show"]).output() {
        Ok(out) if out.status.success() => out,
        _ => return Vec::new(),
    };
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Parses `ip -o addr show`: `N: IFNAME inet ADDR/PREFIX ... scope global ...`.
pub fn parse(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(ifname), Some(family), Some(cidr)) = (words.get(1), words.get(2), words.get(3))
        else {
            continue;
        };
        if !is_docker_bridge(ifname)
            || !["inet", "inet6"].contains(family)
            || !line.contains("scope global")
        {
            continue;
        }
        if let Some(net) = network(cidr)
            && !found.contains(&net)
        {
            found.push(net);
        }
    }
    found
}

/// Docker's default bridge, or a user-defined one: `br-` and the first 12 hex digits of
/// the network id. Other `br-*` names (OpenWrt's `br-lan`) are LAN bridges, never exempt.
fn is_docker_bridge(ifname: &str) -> bool {
    let id = ifname.strip_prefix("br-").unwrap_or_default();
    ifname == "docker0"
        || (id.len() == 12 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// `172.17.0.1/16` → `172.17.0.0/16`.
fn network(cidr: &str) -> Option<String> {
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let net = match addr {
        IpAddr::V4(v4) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            IpAddr::from((u32::from(v4) & mask).to_be_bytes())
        }
        IpAddr::V6(v6) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            IpAddr::from((u128::from(v6) & mask).to_be_bytes())
        }
        _ => return None,
    };
    Some(format!("{net}/{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_bridges_with_host_bits_cleared() {
        let text = "\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever
2: eth0    inet 192.168.1.20/24 brd 192.168.1.255 scope global eth0\\ valid_lft forever
5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\ valid_lft
7: br-0a1b2c3d4e5f    inet 172.18.5.1/20 scope global br-0a1b2c3d4e5f\\ valid_lft
7: br-0a1b2c3d4e5f    inet6 fd00:db8::1/64 scope global \\ valid_lft
7: br-0a1b2c3d4e5f    inet6 fe80::42:1/64 scope link \\ valid_lft
9: virbr0    inet 192.168.122.1/24 scope global virbr0\\ valid_lft
10: br-lan    inet 192.168.1.1/24 scope global br-lan\\ valid_lft
11: br-0a1b2c3d4e5fg    inet 10.9.0.1/24 scope global br-0a1b2c3d4e5fg\\ valid_lft
";
        assert_eq!(
            parse(text),
            ["172.17.0.0/16", "172.18.0.0/20", "fd00:db8::/64"]
        );
    }
}
