//! Whether the domain resolves on this machine, and to what. A `.local` name is looked up
//! by multicast DNS, which many phones and containers do not do.

use std::net::{IpAddr, ToSocketAddrs};

use super::Outcome;

pub fn check(domain: &str) -> Outcome {
    let addresses = lookup(domain);
    if domain.ends_with(".local") {
        return Outcome::warning(
            format!(
                "{domain} is a .local name, resolved by multicast DNS (mDNS), which Android, \
                 many containers and some networks do not do"
            ),
            "use a name under .home.arpa (reserved for home networks, RFC 8375), e.g. \
             openhands.home.arpa, with a DNS record or hosts line",
        );
    }
    match addresses {
        Ok(found) if !found.is_empty() => {
            let list: Vec<String> = found.iter().map(IpAddr::to_string).collect();
            Outcome::ok(format!("{domain} resolves to {}", list.join(", ")))
        }
        Ok(_) | Err(_) => {
            let address = crate::lan::addresses().into_iter().next();
            let line = crate::client_steps::hosts_line(address, domain);
            Outcome::warning(
                format!(
                    "{domain} does not resolve on this machine (clients need it too, and \
                     OpenHands 1.x needs it from the app container)"
                ),
                format!(
                    "add a DNS record on your router, or this line to the hosts file of \
                     each client: {}",
                    line.trim()
                ),
            )
        }
    }
}

fn lookup(domain: &str) -> std::io::Result<Vec<IpAddr>> {
    let mut found: Vec<IpAddr> = (domain, 0).to_socket_addrs()?.map(|a| a.ip()).collect();
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn localhost_resolves_and_local_names_get_the_mdns_warning() {
        let ok = check("localhost");
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert!(ok.cause.contains("127.0.0.1"), "{ok:?}");
        let local = check("openhands.local");
        assert_eq!(local.status, Status::Warning);
        assert!(local.cause.contains("mDNS") && local.fix.contains(".home.arpa"));
    }
}
