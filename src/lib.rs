//! ohproxy puts a self-hosted OpenHands behind nginx with HTTPS from a local CA.
//!
//! The binary is a thin shell over this library. `cli` holds the raw command line,
//! `config` the checked configuration; domain modules (`names`, `ca`, `leaf`, `truststore`)
//! return values and errors and never print; `commands` talks to the user.

pub mod access;
pub mod ca;
pub mod cli;
pub mod client_steps;
pub mod commands;
pub mod config;
pub mod docker;
pub mod doctor;
pub mod error;
pub mod fsx;
pub mod lan;
pub mod leaf;
pub mod names;
pub mod nginx;
pub mod onboarding;
pub mod openhands;
pub mod paths;
pub mod renew;
pub mod truststore;
pub mod ui;
pub mod watch;
