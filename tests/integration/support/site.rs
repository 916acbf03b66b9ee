//! A whole site as a user gets it: a temporary home with a CA and a leaf made by ohproxy,
//! a private nginx started and applied to by `ohproxy nginx apply`, proxying to an app port
//! (the test app as a process or a container).

use std::path::PathBuf;

use super::nginx::Nginx;
use super::{Home, require};

pub struct Site {
    pub home: Home,
    pub nginx: Nginx,
    pub domain: String,
}

impl Site {
    /// A site for `domain` proxying to `app_port`; `extra` is appended to config.toml (it
    /// may open new tables). None (skipped) without nginx outside CI.
    pub fn new(domain: &str, app_port: u16, extra: &str) -> Option<Site> {
        let binary = require("nginx")?;
        let home = Home::new();
        home.cmd(["init", "--domain", domain]).ok();
        let mut site = Site {
            home,
            nginx: Nginx::new(&binary),
            domain: domain.to_string(),
        };
        site.write_config(app_port, extra);
        site.home.cmd(["cert"]).ok();
        site.nginx.start();
        site.home.cmd(["nginx", "apply"]).ok();
        Some(site)
    }

    /// Rewrites config.toml for this nginx and `app_port`, plus `extra`.
    pub fn write_config(&self, app_port: u16, extra: &str) {
        let text = format!(
            "domain = \"{}\"\n{}{}ipv6 = false\n{extra}",
            self.domain,
            self.nginx.ports_section(app_port),
            self.nginx.config_section(),
        );
        std::fs::write(self.home.path().join("config.toml"), text).unwrap();
    }

    /// Our CA certificate (PEM).
    pub fn ca_cert(&self) -> PathBuf {
        self.home.ca_dir().join("rootCA.pem")
    }

    /// The site file ohproxy installed.
    pub fn site_file(&self) -> PathBuf {
        self.nginx
            .site_dir()
            .join(format!("ohproxy-{}.conf", self.domain))
    }

    /// The leaf and key nginx serves.
    pub fn served_leaf(&self) -> (PathBuf, PathBuf) {
        let dir = self.nginx.cert_dir();
        (
            dir.join(format!("{}.pem", self.domain)),
            dir.join(format!("{}-key.pem", self.domain)),
        )
    }
}
