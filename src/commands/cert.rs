//! `ohproxy cert [NAME|IP]...`: issue a leaf from the CA for the names given (or the
//! configured ones) and say which files were written and when the leaf expires.

use anyhow::{Context, Result};

use crate::cli::CertArgs;
use crate::config::{Config, Days};
use crate::error::{WithHint, invalid};
use crate::leaf::{self, Request};
use crate::names::Name;
use crate::paths::Paths;
use crate::ui;

use super::ca::{ca_dir, load, optional_config, when};

pub fn run(paths: &Paths, args: CertArgs) -> Result<()> {
    let config = optional_config(paths)?;
    let names = names(&args, config.as_ref())?;
    let days = match args.days {
        Some(days) => Days::new(days).map_err(|e| invalid(format!("--days {days}: {e}")))?,
        None => config.as_ref().map(|c| c.cert.days).unwrap_or_default(),
    };
    let key_type = args
        .key_type
        .or(config.as_ref().map(|c| c.cert.key_type))
        .unwrap_or_default();
    let out_dir = match args.out_dir {
        Some(dir) => std::path::absolute(&dir)
            .with_context(|| format!("resolving --out-dir {}", dir.display()))?,
        None => paths.leaf_dir(),
    };

    let ca = load(&ca_dir(config.as_ref(), paths))?;
    let request = Request {
        names: &names,
        key_type,
        days,
        client: args.client,
    };
    let issued = leaf::issue(&ca, &request).context("issuing the leaf")?;
    let files = match names.first() {
        Some(first) if !args.names.is_empty() => {
            leaf::file_names_as_typed(&args.names, first, args.client, &out_dir)
        }
        _ => leaf::file_names(&names, args.client, &out_dir),
    };
    leaf::write(&issued, &files)?;

    let shown: Vec<String> = names.iter().map(Name::to_string).collect();
    let purpose = if args.client {
        "serverAuth, clientAuth"
    } else {
        "serverAuth"
    };
    ui::status(format!(
        "issued a leaf for {} ({key_type}, {purpose}), serial {}",
        shown.join(", "),
        issued.serial
    ));
    ui::status(format!("  certificate: {}", files.cert.display()));
    ui::status(format!("  key:         {}", files.key.display()));
    ui::status(format!(
        "  expires:     {} ({} days)",
        when(issued.not_after),
        days.get()
    ));
    for name in names.iter().filter(|n| n.is_wildcard()) {
        ui::status(format!(
            "  note: {name} covers one label only (a.{0} but not a.b.{0})",
            name.to_string().trim_start_matches("*.")
        ));
    }
    Ok(())
}

/// The names from the command line, all checked before anything is done; else the
/// configured ones.
fn names(args: &CertArgs, config: Option<&Config>) -> Result<Vec<Name>> {
    if args.names.is_empty() {
        return match config {
            Some(config) => Ok(config.leaf_names()),
            None => Err(invalid("no names given and no config to take them from"))
                .hint("name them (`ohproxy cert NAME|IP...`) or run `ohproxy init` first"),
        };
    }
    let mut names: Vec<Name> = Vec::new();
    for arg in &args.names {
        let name = Name::parse(arg)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}
