//! `ohproxy client add|revoke|list`: client certificates for access.mode = "client-cert".
//! A revocation goes live through the safe apply at once when the site already checks
//! client certificates; otherwise at the next `ohproxy nginx apply`.

use anyhow::Result;

use crate::access::{self, AccessMode, clients};
use crate::cli::{ClientAddArgs, ClientCommand};
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
        ClientCommand::Add(args) => add(paths, &config, &mut register, &args),
        ClientCommand::Revoke(arg) => revoke(paths, &config, &mut register, &arg.name),
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

fn add(
    paths: &Paths,
    config: &Config,
    register: &mut clients::Register,
    args: &ClientAddArgs,
) -> Result<()> {
    clients::check_name(&args.name)?;
    let ca = load(&config.ca_dir(paths))?;
    let format = if args.legacy {
        clients::BundleFormat::Legacy
    } else {
        clients::BundleFormat::Modern
    };
    let dir = access::bundle_dir(paths);
    let issued = clients::add(&ca, register, &args.name, format, &dir)?;
    access::write_crl(paths, &ca, register)?;

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

fn revoke(
    paths: &Paths,
    config: &Config,
    register: &mut clients::Register,
    name: &str,
) -> Result<()> {
    let ca = load(&config.ca_dir(paths))?;
    clients::revoke(register, name)?;
    access::write_crl(paths, &ca, register)?;
    ui::status(format!(
        "revoked client certificate {name:?}; the CRL is {}",
        access::crl_path(paths).display()
    ));
    if register.active().next().is_none() {
        ui::warn(
            "no client certificate is left active: no device gets in until \
             `ohproxy client add NAME`",
        );
    }
    go_live(paths, config, AccessMode::ClientCert)
}
