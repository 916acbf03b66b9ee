//! `ohproxy ca share`: publish the onboarding page, print its URL, and show it as a QR code
//! in the terminal (and as PNG or SVG files on request). `announce` does the same for
//! `init` and `up`.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::ca::Ca;
use crate::cli::ShareArgs;
use crate::config::Config;
use crate::error::{WithHint, invalid};
use crate::onboarding::{self, Qr};
use crate::paths::Paths;
use crate::{fsx, ui};

pub fn run(paths: &Paths, args: ShareArgs) -> Result<()> {
    let png = args
        .png
        .as_deref()
        .map(|p| image_path(p, "--png"))
        .transpose()?;
    let svg = args
        .svg
        .as_deref()
        .map(|p| image_path(p, "--svg"))
        .transpose()?;
    let config = Config::load(&paths.config_file)?;
    let ca = super::ca::load(&config.ca_dir(paths))?;

    let dir = onboarding::publish(&ca, &config, paths)?;
    ui::status(format!(
        "published the onboarding page in {}",
        dir.display()
    ));
    let url = onboarding::page_url(&config);
    let qr = Qr::new(&url)?;
    if let Some(png) = png {
        fsx::write_atomic(&png, &qr.to_png()?, 0o644)?;
        ui::status(format!("wrote the QR code to {}", png.display()));
    }
    if let Some(svg) = svg {
        fsx::write_atomic(&svg, qr.to_svg().as_bytes(), 0o644)?;
        ui::status(format!("wrote the QR code to {}", svg.display()));
    }
    show_qr(&qr, &ca);
    ui::data(format!("{url}\n"));
    Ok(())
}

/// Publishes the onboarding page and shows its URL, QR code and the CA's fingerprint on
/// the terminal. For `init` and `up`, after the CA exists.
pub fn announce(paths: &Paths, config: &Config, ca: &Ca) -> Result<()> {
    warn_if_closed(&onboarding::publish(ca, config, paths)?);
    show_page(config, ca)
}

/// Shows the page's URL, QR code and the CA's fingerprint, for a page already published.
pub fn show_page(config: &Config, ca: &Ca) -> Result<()> {
    let url = onboarding::page_url(config);
    show_qr(&Qr::new(&url)?, ca);
    ui::status(format!("  {url}"));
    Ok(())
}

/// nginx's workers cannot serve what they cannot read: say so now, not as a 404 later.
fn warn_if_closed(dir: &Path) {
    if let Some(closed) = onboarding::closed_ancestor(dir) {
        ui::warn(format!(
            "nginx's workers cannot read {} ({} is closed to other users); give it o+rx, \
             or set OHPROXY_HOME to a directory they can read",
            dir.display(),
            closed.display()
        ));
    }
}

fn show_qr(qr: &Qr, ca: &Ca) {
    ui::status("\nOn a phone or laptop, open this page (scan the code) to install the CA:\n");
    ui::status(qr.to_terminal());
    ui::status(format!(
        "  CA SHA-256: {}\n  The page comes over plain HTTP: before trusting the CA, check that \
         the device shows this fingerprint.\n  nginx serves the page once the site is applied \
         (`ohproxy nginx apply` or `ohproxy up`).",
        ca.fingerprint()
    ));
}

/// A file to write an image to: not a directory, in a directory that exists.
fn image_path(path: &Path, flag: &str) -> Result<PathBuf> {
    if path.is_dir() {
        return Err(invalid(format!(
            "{flag}: {} is a directory",
            path.display()
        )))
        .hint("give a file name, e.g. ca-qr.png");
    }
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(invalid(format!(
            "{flag}: the directory {} does not exist",
            parent.display()
        )));
    }
    Ok(path.to_path_buf())
}
