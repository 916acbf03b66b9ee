//! `ohproxy client add|revoke|list`: client certificates for access.mode = "client-cert".
//! A revocation goes live through the safe apply at once when the site already checks
//! client certificates; otherwise at the next `ohproxy nginx apply`.

use anyhow::Result;

use crate::access::{self, AccessMode, clients};
use crate::cli::ClientCommand;
use crate::config::Config;
use crate::paths::Paths;
use crate::ui;

use super::ca::load;
use super::user::go_live;

pub fn run(paths: &Paths, command: ClientCommand) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    let register_path = access::register_path(paths);
    let mut register = clients::Register::load(&register_path)?;
    match command {
        ClientCommand::Add(arg) => {
            clients::check_name(&arg.name)?;
            let ca = load(&config.ca_dir(paths))?;
            let format = if arg.legacy {
                clients::BundleFormat::Legacy
            } else {
                clients::BundleFormat::Modern
            };
            let dir = access::bundle_dir(paths);
            let issued = clients::add(&ca, &mut register, &arg.name, format, &dir)?;
            access::write_crl(paths, &ca, &mut register)?;
            ui::status(format!(
                "issued client certificate {:?} (serial {}, expires {})",
                issued.client.name,
                issued.client.serial,
                super::ca::when(issued.client.not_after)
            ));
            ui::status(format!(
                "wrote {} (mode 0600): import it on the device; its password (shown only now):",
                issued.bundle.display()
            ));
            ui::data(format!("{}\n", issued.password.reveal()));
            if config.access.mode != AccessMode::ClientCert {
                ui::warn(format!(
                    "access.mode is {:?}: set access.mode = \"client-cert\" in {} and run \
                     `ohproxy nginx apply` to require client certificates",
                    config.access.mode.as_str(),
                    paths.config_file.display()
                ));
            }
            Ok(())
        }
        ClientCommand::Revoke(arg) => {
            let ca = load(&config.ca_dir(paths))?;
            clients::revoke(&mut register, &arg.name)?;
            access::write_crl(paths, &ca, &mut register)?;
            ui::status(format!(
                "revoked client certificate {:?}; the CRL is {}",
                arg.name,
                access::crl_path(paths).display()
            ));
            if register.active().next().is_none() {
                ui::warn(
                    "no client certificate is left active: no device gets in until \
                     `ohproxy client add NAME`",
                );
            }
            go_live(paths, &config, AccessMode::ClientCert)
        }
        ClientCommand::List => {
            for client in &register.clients {
                let state = match client.revoked {
                    Some(when) => format!("revoked {}", super::ca::when(when)),
                    None => format!("expires {}", super::ca::when(client.not_after)),
                };
                ui::data(format!("{}\t{}\t{state}\n", client.name, client.serial));
            }
            Ok(())
        }
    }
}
