//! `ohproxy-testapp`: a stand-in for OpenHands that speaks the same protocols (HTTP,
//! server-sent events, WebSocket, Engine.IO/Socket.IO) and reports what it received, so
//! the ohproxy tests can run it behind nginx and as a container image.

mod fetch;
mod http;
mod routes;
mod server;
mod socketio;
mod ws;

use std::net::TcpListener;
use std::process::ExitCode;

/// What the command line and the environment asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub listen: String,
    pub name: Option<String>,
    pub exit_code: Option<u8>,
}

const USAGE: &str = "usage: ohproxy-testapp [--listen ADDR] [--name NAME] [--exit-code N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse_args(&args, |key| std::env::var(key).ok()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ohproxy-testapp: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(code) = options.exit_code {
        eprintln!("ohproxy-testapp: exiting at once with code {code} as asked (--exit-code)");
        return ExitCode::from(code);
    }
    let listener = match TcpListener::bind(&options.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("ohproxy-testapp: cannot listen on {}: {e}", options.listen);
            return ExitCode::from(1);
        }
    };
    let local = listener.local_addr().map(|a| a.to_string());
    eprintln!(
        "ohproxy-testapp: listening on {}",
        local.unwrap_or(options.listen.clone())
    );
    exit_on_termination();
    server::run(listener, options);
    ExitCode::SUCCESS
}

/// Exits at once on SIGTERM or SIGINT, as the real app's server does. As a container's
/// first process the app gets no default action for these signals, so without this
/// `docker stop` would wait out its grace period and then kill it.
fn exit_on_termination() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT]) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("ohproxy-testapp: cannot handle SIGTERM ({e}); stops will wait for SIGKILL");
            return;
        }
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            eprintln!("ohproxy-testapp: exiting on signal {signal}");
            std::process::exit(0);
        }
    });
}

/// Reads the flags; `TESTAPP_LISTEN`, `TESTAPP_NAME` and `TESTAPP_EXIT_CODE` stand in for
/// missing flags (a container image's command line is fixed, its environment is not).
fn parse_args(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
    let exit_code = match env("TESTAPP_EXIT_CODE") {
        Some(raw) => Some(
            raw.parse()
                .map_err(|_| format!("TESTAPP_EXIT_CODE must be 0 to 255, got {raw:?}"))?,
        ),
        None => None,
    };
    let mut options = Options {
        listen: env("TESTAPP_LISTEN").unwrap_or_else(|| "0.0.0.0:3000".into()),
        name: env("TESTAPP_NAME"),
        exit_code,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => options.listen = value()?,
            "--name" => options.name = Some(value()?),
            "--exit-code" => {
                let raw = value()?;
                let code = raw
                    .parse()
                    .map_err(|_| format!("--exit-code must be 0 to 255, got {raw:?}"))?;
                options.exit_code = Some(code);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args(&args, |key| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_and_environment() {
        assert_eq!(parse(&[], &[]).unwrap().listen, "0.0.0.0:3000");
        let from_env = parse(
            &[],
            &[("TESTAPP_LISTEN", "127.0.0.1:9"), ("TESTAPP_NAME", "a")],
        );
        let from_env = from_env.unwrap();
        assert_eq!(from_env.listen, "127.0.0.1:9");
        assert_eq!(from_env.name.as_deref(), Some("a"));
        let flag_wins = parse(&["--listen", "127.0.0.1:7"], &[("TESTAPP_LISTEN", "x")]);
        assert_eq!(flag_wins.unwrap().listen, "127.0.0.1:7");
    }

    #[test]
    fn exit_code_and_errors() {
        assert_eq!(
            parse(&["--exit-code", "3"], &[]).unwrap().exit_code,
            Some(3)
        );
        assert!(
            parse(&["--exit-code", "300"], &[])
                .unwrap_err()
                .contains("300")
        );
        assert_eq!(
            parse(&[], &[("TESTAPP_EXIT_CODE", "3")]).unwrap().exit_code,
            Some(3)
        );
        assert!(parse(&[], &[("TESTAPP_EXIT_CODE", "x")]).is_err());
        assert!(parse(&["--name"], &[]).unwrap_err().contains("--name"));
        assert!(parse(&["--bogus"], &[]).unwrap_err().contains("--bogus"));
    }
}
