//! One module per subcommand: they read the config, call the domain modules, and talk to
//! the user. `run` is the only entry point from `main`.

mod ca;
mod ca_share;
mod cert;
mod client;
mod doctor;
mod down;
mod init;
mod nginx_apply;
mod nginx_render;
mod pull_progress;
mod state_move;
mod status;
mod trust;
mod up;
mod user;
mod watch;

use anyhow::Result;

use crate::cli::{Cli, Command, NginxCommand};
use crate::paths::Paths;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<()> {
    let paths = Paths::resolve(cli.global.config.as_deref())?;
    match cli.command {
        Command::Init(args) => init::run(&paths, args),
        Command::Cert(args) => cert::run(&paths, args),
        Command::Ca(command) => ca::run(&paths, command),
        Command::Doctor(args) => doctor::run(&paths, args),
        Command::Nginx(NginxCommand::Render(args)) => nginx_render::run(&paths, args),
        Command::Nginx(NginxCommand::Apply(args)) => nginx_apply::run(&paths, args),
        Command::User(command) => user::run(&paths, command),
        Command::Client(command) => client::run(&paths, command),
        Command::Up(args) => up::run(&paths, args),
        Command::Down(args) => down::run(&paths, args),
        Command::Status(args) => status::run(&paths, args),
        Command::Watch(args) => watch::run(&paths, args),
    }
}
