//! `ohproxy nginx render`: print (or write) the site file for the config, for the installed
//! nginx or for the version given on the command line.

use anyhow::Result;

use crate::cli::RenderArgs;
use crate::config::Config;
use crate::error::{WithHint, invalid};
use crate::nginx;
use crate::nginx::version::{self, NginxInfo, Version};
use crate::paths::Paths;
use crate::ui;

pub fn run(paths: &Paths, args: RenderArgs) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    let info = nginx_info(&config, &args)?;
    let text = nginx::render_site(&config, paths, &info)?;

    match &args.out {
        Some(out) => {
            crate::fsx::write_atomic(out, text.as_bytes(), 0o644)?;
            ui::status(format!(
                "wrote {} for nginx {}",
                out.display(),
                info.version
            ));
        }
        None => ui::data(&text),
    }
    Ok(())
}

/// The versions from the flags when given, else from the installed nginx.
fn nginx_info(config: &Config, args: &RenderArgs) -> Result<NginxInfo> {
    let flag = |name: &str, value: &str| {
        value
            .parse::<Version>()
            .map_err(|reason| invalid(format!("{name}: {reason}")))
    };
    if let Some(text) = &args.nginx_version {
        return Ok(NginxInfo {
            version: flag("--nginx-version", text)?,
            openssl: match &args.openssl_version {
                Some(text) => Some(flag("--openssl-version", text)?),
                None => None,
            },
        });
    }
    let binary = nginx::binary(config)
        .map_err(|err| anyhow::anyhow!("{}", crate::error::message(&err)))
        .hint("install nginx, set nginx.binary, or pass --nginx-version X.Y.Z")?;
    version::detect(&binary)
}
