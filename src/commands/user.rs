//! `ohproxy user add|remove|list`: the password file for access.mode = "password". A change
//! goes live through the safe apply at once when the site already runs with passwords;
//! otherwise it waits for the next `ohproxy nginx apply`. Removing a user, or adding the
//! first one, also replaces the session cookie's secret, so no browser keeps a session.

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::{Context, Result};

use crate::access::session;
use crate::access::users::{Password, PasswordFile, UserName};
use crate::access::{self, AccessFiles, AccessMode};
use crate::cli::{UserAddArgs, UserCommand};
use crate::config::Config;
use crate::error::invalid;
use crate::nginx::apply::{self, Outcome};
use crate::paths::Paths;
use crate::ui;

pub fn run(paths: &Paths, command: UserCommand) -> Result<()> {
    let config = Config::load(&paths.config_file)?;
    let path = access::users_path(paths);
    match command {
        UserCommand::Add(args) => add(paths, &config, &path, args),
        UserCommand::Remove(arg) => {
            let name = UserName::parse(&arg.name)?;
            let mut users = PasswordFile::load(&path)?;
            users.remove(&name)?;
            if users.is_empty() && config.access.mode == AccessMode::Password {
                return Err(invalid(format!(
                    "user {name:?} is the last one; without a user nobody could log in"
                )))
                .map_err(|e| e.context(crate::error::Hint("add another user first".into())));
            }
            users.save(&path)?;
            ui::status(format!("removed user {name:?} from {}", path.display()));
            // The cookie names no user: only a new secret shuts this one's browsers out.
            session::rotate(paths)?;
            ui::status("made a new session cookie secret: every browser logs in again");
            go_live(paths, &config, AccessMode::Password)
        }
        UserCommand::List => {
            for name in PasswordFile::load(&path)?.names() {
                ui::data(format!("{name}\n"));
            }
            if config.access.mode != AccessMode::Password {
                ui::warn(format!(
                    "access.mode is {:?}: these users are not asked for",
                    config.access.mode.as_str()
                ));
            }
            Ok(())
        }
    }
}

fn add(paths: &Paths, config: &Config, path: &Path, args: UserAddArgs) -> Result<()> {
    let name = UserName::parse(&args.name)?;
    if name.as_str() == access::probe::USER {
        return Err(invalid(format!(
            "user name {name:?} is reserved for `ohproxy doctor`"
        )));
    }
    let password = if args.generate {
        Password::generate()
    } else {
        read_password(&name)?
    };
    let mut users = PasswordFile::load(path)?;
    let first = users.is_empty();
    let new = users.set(&name, &password)?;
    users.save(path)?;
    if first {
        session::rotate(paths)?;
    }
    let verb = if new {
        "added user"
    } else {
        "set a new password for"
    };
    ui::status(format!("{verb} {name:?} in {}", path.display()));
    if args.generate {
        ui::status("its password (shown only now):");
        ui::data(format!("{}\n", password.reveal()));
    }
    if config.access.mode != AccessMode::Password {
        ui::warn(format!(
            "access.mode is {:?}, so nginx does not ask for passwords; set access.mode = \
             \"password\" in {} and run `ohproxy nginx apply`",
            config.access.mode.as_str(),
            paths.config_file.display()
        ));
        return Ok(());
    }
    go_live(paths, config, AccessMode::Password)
}

/// In password mode with no user yet: creates one named after the current user with a
/// generated password, shows the password once and says how to change it. True when a
/// user was created. For `init` and `up`.
pub(super) fn ensure_first_user(config: &Config, paths: &Paths) -> Result<bool> {
    let name = access::current_user_name();
    let Some(password) = access::ensure_first_user(config, paths, &name)? else {
        return Ok(false);
    };
    session::rotate(paths)?;
    ui::status(format!(
        "created user {name:?} for the login in front of OpenHands; its password (shown \
         only now):"
    ));
    ui::data(format!("{}\n", password.reveal()));
    ui::status(format!(
        "change it with `ohproxy user add {name}`; add others the same way"
    ));
    Ok(true)
}

/// Twice with echo off on a terminal; otherwise the first line of stdin.
fn read_password(name: &UserName) -> Result<Password> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))
            .context("reading the password")?;
        let again =
            rpassword::prompt_password("the same again: ").context("reading the password")?;
        if first != again {
            return Err(invalid("the two passwords differ; nothing changed"));
        }
        return Password::typed(first);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    let line = text.lines().next().unwrap_or_default().to_string();
    Password::typed(line).map_err(|e| e.context("from stdin"))
}

/// Applies the change when the site is live in `mode` (its access files are installed),
/// else says that the next apply will.
pub(super) fn go_live(paths: &Paths, config: &Config, mode: AccessMode) -> Result<()> {
    let installed = AccessFiles::installed(
        &crate::nginx::cert_dir(config, paths),
        config.domain.as_str(),
    );
    let marker = match mode {
        AccessMode::Password => &installed.users,
        _ => &installed.crl,
    };
    if config.access.mode != mode || !marker.exists() {
        ui::status("`ohproxy nginx apply` puts it live");
        return Ok(());
    }
    let outcome = apply::apply(config, paths, false)
        .context("the change is saved, but applying it to nginx failed")?;
    match outcome {
        Outcome::Applied { method, .. } => {
            ui::status(format!("applied to nginx ({method}); it is live"))
        }
        _ => ui::status("nginx already had this change"),
    }
    Ok(())
}
