//! What the user sees: status lines and warnings on stderr (silenced by `-q`), data on
//! stdout, colour only on a terminal and never with `NO_COLOR`, and the `tracing` logs
//! that `-v` and `-vv` turn on.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

struct Settings {
    quiet: bool,
    color: bool,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets the verbosity once, at start-up. `-v` shows what the program does, `-vv` more.
pub fn init(quiet: bool, verbose: u8) {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = SETTINGS.set(Settings { quiet, color });
    let level = match verbose {
        0 => "warn",
        1 => "ohproxy=debug",
        _ => "ohproxy=trace,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OHPROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        quiet: false,
        color: false,
    })
}

fn paint(code: &str, text: &str) -> String {
    if settings().color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// True under `-q`: status and progress stay silent.
pub fn quiet() -> bool {
    settings().quiet
}

/// A status line: what was done, on stderr. Silenced by `-q`.
pub fn status(message: impl AsRef<str>) {
    if !settings().quiet {
        eprintln!("{}", message.as_ref());
    }
}

/// A warning the user should read even with `-q`.
pub fn warn(message: impl AsRef<str>) {
    eprintln!("{} {}", paint("33", "warning:"), message.as_ref());
}

/// Data for the user or another program, on stdout.
pub fn data(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_ref().as_bytes());
    let _ = out.flush();
}

/// Prints an error as `ohproxy: error: ...` and its hint, once, from `main`.
pub fn report_error(err: &anyhow::Error) {
    eprintln!(
        "ohproxy: {} {}",
        paint("31", "error:"),
        crate::error::message(err)
    );
    if let Some(hint) = crate::error::hint(err) {
        eprintln!("  {} {hint}", paint("36", "hint:"));
    }
}
