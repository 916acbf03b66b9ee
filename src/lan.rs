//! This machine's LAN addresses: the source address the kernel picks for traffic leaving
//! through the default route, for IPv4 and IPv6. Nothing is sent: connecting a UDP socket
//! only chooses a route.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Documentation addresses (RFC 5737, RFC 3849): routable in form, never used.
const PROBE_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const PROBE_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));

/// The addresses clients on the LAN would most likely use to reach this machine.
pub fn addresses() -> Vec<IpAddr> {
    [
        (PROBE_V4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        (PROBE_V6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
    ]
    .into_iter()
    .filter_map(|(probe, any)| source_for(probe, any))
    .filter(|ip| usable(*ip))
    .collect()
}

fn source_for(probe: IpAddr, any: IpAddr) -> Option<IpAddr> {
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    socket.connect(SocketAddr::new(probe, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

fn usable(ip: IpAddr) -> bool {
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    match ip {
        IpAddr::V4(v4) => !v4.is_link_local(),
        // fe80::/10 needs a zone index, which a certificate cannot carry.
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_offers_loopback_or_link_local() {
        for ip in addresses() {
            assert!(usable(ip), "{ip}");
        }
        assert!(!usable("127.0.0.1".parse().unwrap()));
        assert!(!usable("fe80::1".parse().unwrap()));
        assert!(!usable("169.254.1.1".parse().unwrap()));
        assert!(usable("192.168.1.20".parse().unwrap()));
    }
}
