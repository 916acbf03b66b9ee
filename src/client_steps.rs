//! How a client comes to trust the CA and find the site: the steps per operating system and
//! browser, and the hosts-file line. Plain data, so the terminal (`init`, `up`) and the
//! onboarding page show the same words.

use std::fmt::Write;
use std::net::IpAddr;

/// The name trust stores show for our CA when it is added by hand.
pub const NICKNAME: &str = "ohproxy local CA";

/// The steps for one kind of client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub name: &'static str,
    /// Each step is one sentence or one command, in order.
    pub steps: Vec<String>,
}

/// The trust steps for every client kind. `file` is the CA certificate's file name as the
/// client has it (for example `rootCA.pem`, copied or downloaded from this machine).
pub fn trust_steps(file: &str) -> Vec<Platform> {
    vec![
        macos(file),
        windows(file),
        linux(file),
        firefox(file),
        ios(file),
        android(file),
    ]
}

fn macos(file: &str) -> Platform {
    Platform {
        name: "macOS (Safari, Chrome, Edge; Firefox 120+)",
        steps: vec![format!(
            "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {file}"
        )],
    }
}

fn windows(file: &str) -> Platform {
    Platform {
        name: "Windows (Edge, Chrome; Firefox 120+)",
        steps: vec![
            format!("certutil -user -addstore Root {file}"),
            "confirm the security warning; no administrator rights are needed".to_string(),
        ],
    }
}

fn linux(file: &str) -> Platform {
    Platform {
        name: "Linux (system programs: curl, Python, Node with --use-openssl-ca)",
        steps: vec![
            format!(
                "Debian, Ubuntu: sudo cp {file} /usr/local/share/ca-certificates/ohproxy.crt \
                 && sudo update-ca-certificates"
            ),
            format!(
                "Fedora, RHEL: sudo cp {file} /etc/pki/ca-trust/source/anchors/ohproxy.pem \
                 && sudo update-ca-trust extract"
            ),
            format!("Arch: sudo trust anchor --store {file}"),
            format!(
                "Chrome and Chromium read their own database: \
                 certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n \"{NICKNAME}\" -i {file} \
                 (certutil is in libnss3-tools)"
            ),
        ],
    }
}

fn firefox(file: &str) -> Platform {
    Platform {
        name: "Firefox (needed on Linux; elsewhere Firefox 120+ uses the system's roots)",
        steps: vec![
            "Settings > Privacy & Security > Certificates > View Certificates > Authorities \
             > Import"
                .to_string(),
            format!("choose {file}, tick \"Trust this CA to identify websites\", OK"),
        ],
    }
}

fn ios(file: &str) -> Platform {
    Platform {
        name: "iOS and iPadOS",
        steps: vec![
            format!("open {file} in Safari (or AirDrop it), then Allow the profile download"),
            "Settings > General > VPN & Device Management > the ohproxy profile > Install"
                .to_string(),
            "Settings > General > About > Certificate Trust Settings > turn on full trust \
             for the ohproxy CA (without this step Safari still warns)"
                .to_string(),
        ],
    }
}

fn android(file: &str) -> Platform {
    Platform {
        name: "Android",
        steps: vec![
            format!("copy {file} to the phone (download it, or by USB)"),
            "Settings > Security & privacy > More security settings > Encryption & \
             credentials > Install a certificate > CA certificate > choose the file"
                .to_string(),
            "Chrome trusts it from then on; apps other than browsers usually ignore user CAs"
                .to_string(),
        ],
    }
}

/// The hosts-file path of each client kind, for the hosts line.
pub const HOSTS_FILES: [(&str, &str); 3] = [
    ("macOS, Linux", "/etc/hosts"),
    ("Windows", r"C:\Windows\System32\drivers\etc\hosts"),
    (
        "phones",
        "use the router's DNS (a local DNS entry), as phones have no hosts file",
    ),
];

/// The line a client adds to its hosts file to reach `domain` at `address`.
pub fn hosts_line(address: Option<IpAddr>, domain: &str) -> String {
    match address {
        Some(ip) => format!("{ip} {domain}"),
        None => format!("<this machine's LAN address> {domain}"),
    }
}

/// The steps and the hosts line as indented text for a terminal.
pub fn render_text(file: &str, address: Option<IpAddr>, domain: &str) -> String {
    let mut text = String::new();
    for platform in trust_steps(file) {
        let _ = writeln!(text, "  {}:", platform.name);
        for step in platform.steps {
            let _ = writeln!(text, "    {step}");
        }
    }
    let _ = writeln!(text, "\nOn each client, point the name at this machine:");
    let _ = writeln!(text, "    {}", hosts_line(address, domain));
    for (who, path) in HOSTS_FILES {
        let _ = writeln!(text, "  {who}: {path}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_has_steps_naming_the_file() {
        let platforms = trust_steps("ca.pem");
        let names: Vec<&str> = platforms.iter().map(|p| p.name).collect();
        for wanted in ["macOS", "Windows", "Linux", "Firefox", "iOS", "Android"] {
            assert!(names.iter().any(|n| n.starts_with(wanted)), "{wanted}");
        }
        for platform in &platforms {
            assert!(
                platform.steps.iter().any(|s| s.contains("ca.pem")),
                "{}",
                platform.name
            );
        }
        let ios = platforms
            .iter()
            .find(|p| p.name.starts_with("iOS"))
            .unwrap();
        assert!(ios.steps.iter().any(|s| s.contains("full trust")));
    }

    #[test]
    fn hosts_line_has_address_then_name() {
        let ip: IpAddr = "192.168.1.20".parse().unwrap();
        assert_eq!(
            hosts_line(Some(ip), "oh.home.arpa"),
            "192.168.1.20 oh.home.arpa"
        );
        assert!(hosts_line(None, "oh.home.arpa").ends_with(" oh.home.arpa"));
    }
}
