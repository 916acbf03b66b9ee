//! OpenHands 1.x: the sandbox URL pattern the app was given, the `/runtime/<port>/` route of
//! each live sandbox through nginx, sandbox ports open to the network, and the WebSocket
//! the browser opens on a sandbox (`<pattern>/sockets/events/<conversation>`).

use std::time::Duration;

use super::client;
use super::container;
use super::tls_client::Client;
use super::{Found, Outcome, Setup};
use crate::docker::observe::{Binding, Observed};

/// The agent-server's port inside a sandbox container.
const AGENT_PORT: &str = "8000/tcp";
/// Where the app reads the pattern; the second is the name before `OH_` settings.
const PATTERN_KEYS: [&str; 2] = [
    "OH_SANDBOX_CONTAINER_URL_PATTERN",
    "SANDBOX_CONTAINER_URL_PATTERN",
];

/// The pattern ohproxy gives the app: every sandbox under the site, by host port.
pub fn expected_pattern(s: &Setup) -> String {
    crate::docker::sandbox_env::url_pattern(&s.config)
}

pub fn url_pattern(s: &Setup, found: &mut Found) -> Outcome {
    let app = found.app.as_ref().expect("the container check passed");
    let expected = expected_pattern(s);
    let fix = format!("`ohproxy up` gives the app {}={expected}", PATTERN_KEYS[0]);
    let Some((key, pattern)) = PATTERN_KEYS
        .iter()
        .find_map(|key| app.env(key).map(|value| (*key, value)))
    else {
        return Outcome::failure(
            "the app was given no sandbox URL pattern, so browsers are sent to \
             http://localhost:<port> for each conversation, which only this machine reaches",
            fix,
        );
    };
    let problems = pattern_problems(pattern);
    if !problems.is_empty() {
        return Outcome::failure(format!("{key}={pattern}: {}", problems.join("; ")), fix);
    }
    if pattern != expected {
        return Outcome::warning(
            format!("{key}={pattern}, not {expected}: sandboxes are reached elsewhere"),
            fix,
        );
    }
    Outcome::ok(format!("{key}={pattern}"))
}

/// What is wrong with a pattern for browsers on other machines, each in plain words.
pub fn pattern_problems(pattern: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let host = pattern
        .split_once("://")
        .map_or(pattern, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        problems.push(format!(
            "it names {host}, which is each browser's own machine, not this one"
        ));
    }
    if pattern.starts_with("http://") {
        problems
            .push("it is plain http://, which an HTTPS page may not open (mixed content)".into());
    }
    if !pattern.contains("{port}") {
        problems.push("it has no {port}, so every sandbox would get the same URL".into());
    }
    problems
}

fn agent_port(sandbox: &Observed) -> Option<u16> {
    sandbox
        .bindings
        .iter()
        .find(|b| b.container_port == AGENT_PORT && b.host_port != 0)
        .map(|b| b.host_port)
}

pub fn routes(s: &Setup, found: &mut Found) -> Outcome {
    found.sandboxes = match container::sandboxes() {
        Ok(list) => list,
        Err(outcome) => return outcome,
    };
    if found.sandboxes.is_empty() {
        return Outcome::ok("no sandbox is running (each conversation starts one)");
    }
    let client = match client::client(s, found) {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for sandbox in &found.sandboxes {
        match route(&client, sandbox) {
            Ok(line) => good.push(line),
            Err(line) => bad.push(line),
        }
    }
    let open: Vec<&Binding> = found
        .sandboxes
        .iter()
        .flat_map(|sb| sb.bindings.iter())
        .filter(|b| b.on_all_interfaces() && b.host_port != 0)
        .collect();
    let detail = good.join("\n");
    if !bad.is_empty() {
        return Outcome::failure(
            bad.join("; "),
            "`ohproxy watch` (or `ohproxy up`) routes /runtime/<port>/ to live sandboxes",
        )
        .with_detail(detail);
    }
    if !open.is_empty() {
        return exposed(&open, &detail);
    }
    Outcome::ok(format!("{} sandbox routes answer", good.len())).with_detail(detail)
}

/// One sandbox's `/runtime/<port>/health` through nginx, compared with the direct answer.
fn route(client: &Client, sandbox: &Observed) -> Result<String, String> {
    let name = &sandbox.name;
    let Some(port) = agent_port(sandbox) else {
        return Err(format!("{name} publishes no {AGENT_PORT}"));
    };
    let direct = container::http_get(&format!("127.0.0.1:{port}"), "/health");
    let target = format!("/runtime/{port}/health");
    match (client.get(&target), direct) {
        (Ok((200, body)), Ok((200, expected))) if body == expected => {
            Ok(format!("{name}: {target} answers as the sandbox does"))
        }
        (Ok((status, body)), _) => Err(format!(
            "{name}: {target} answered {status} {:.60}, not the sandbox's health",
            body.trim()
        )),
        (Err(e), _) => Err(format!("{name}: {target} failed: {e}")),
    }
}

/// Sandbox ports on every interface: a warning whose detail gives a firewall rule per
/// port, then the routes that answered.
fn exposed(open: &[&Binding], routes: &str) -> Outcome {
    let mut ports: Vec<u16> = open.iter().map(|b| b.host_port).collect();
    ports.sort_unstable();
    ports.dedup();
    let (message, fix, mut detail) = crate::openhands::exposed_ports_warning(&ports);
    detail.push(routes.to_string());
    Outcome::warning(message, format!("{fix}; see detail")).with_detail(detail.join("\n"))
}

/// About how long a sandbox keeps open a socket that brings no session key.
const SANDBOX_HOLD: Duration = Duration::from_secs(5);

pub fn websocket(s: &Setup, found: &mut Found, hold: Duration) -> Outcome {
    let Some((name, port)) = found
        .sandboxes
        .iter()
        .find_map(|sb| agent_port(sb).map(|p| (sb.name.clone(), p)))
    else {
        return Outcome::warning(
            "no live sandbox to open a WebSocket on (1.x opens them on sandboxes)",
            "start a conversation, then run doctor again",
        );
    };
    let client = match client::client(s, found) {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let conversation = hex::encode(rand::random::<[u8; 16]>());
    let target = format!("/runtime/{port}/sockets/events/{conversation}");
    match client::websocket(&client, &target) {
        Ok(socket) => {
            let summary = format!("WebSocket on {target} ({name}): 101 Switching Protocols");
            // An agent-server closes a socket that sends no key within seconds, so a
            // hold only proves what it can, and says so when it was asked for more.
            let held = hold.min(SANDBOX_HOLD);
            let detail = if held < hold {
                format!(
                    "held {} s of the {} s asked: a sandbox closes a socket without a \
                     session key",
                    held.as_secs(),
                    hold.as_secs()
                )
            } else {
                String::new()
            };
            client::hold_open(socket, held, summary, detail)
        }
        Err(why) => Outcome::failure(format!("{target}: {why}"), client::UPGRADE_FIX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_that_break_remote_browsers_are_named() {
        assert!(pattern_problems("https://oh.home.arpa/runtime/{port}").is_empty());
        let local = pattern_problems("http://localhost:{port}");
        assert_eq!(local.len(), 2, "{local:?}");
        assert!(local[0].contains("localhost") && local[1].contains("mixed content"));
        let fixed = pattern_problems("https://oh.home.arpa/runtime/8000");
        assert_eq!(fixed.len(), 1);
        assert!(fixed[0].contains("{port}"));
    }
}
