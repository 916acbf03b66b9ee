//! A minimal Engine.IO v4 / Socket.IO v5 server over an established WebSocket (no
//! polling): it opens the session, pings every interval like the real server, connects
//! namespaces, answers the event `ping` with `pong`, and acknowledges events that ask.

use std::hash::BuildHasher;
use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tungstenite::{Error, Message, WebSocket};

use crate::ws::{ended, send_text};

const PING_INTERVAL: Duration = Duration::from_secs(25);
const PING_TIMEOUT_MS: u64 = 20_000;
const MAX_PAYLOAD: u64 = 1_000_000;

/// Runs one Engine.IO session until the client closes it.
pub fn serve(mut socket: WebSocket<TcpStream>) -> io::Result<()> {
    let sid = new_sid();
    let open = json!({
        "sid": sid,
        "upgrades": [],
        "pingInterval": PING_INTERVAL.as_millis() as u64,
        "pingTimeout": PING_TIMEOUT_MS,
        "maxPayload": MAX_PAYLOAD,
    });
    send_text(&mut socket, format!("0{open}"))?;
    socket
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(250)))?;
    let mut next_ping = Instant::now() + PING_INTERVAL;
    loop {
        if Instant::now() >= next_ping {
            send_text(&mut socket, "2".into())?;
            next_ping += PING_INTERVAL;
        }
        match socket.read() {
            Ok(Message::Text(packet)) if packet.as_str() == "1" => {
                return socket.close(None).or_else(ended);
            }
            Ok(Message::Text(packet)) => {
                for reply in answer(packet.as_str(), &sid) {
                    send_text(&mut socket, reply)?;
                }
            }
            Ok(_) => {}
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return ended(e),
        }
    }
}

/// The replies to one Engine.IO packet from the client.
pub fn answer(packet: &str, sid: &str) -> Vec<String> {
    let Some(kind) = packet.chars().next() else {
        return Vec::new();
    };
    let data = &packet[1..];
    match kind {
        // A ping from the client (or the upgrade probe "2probe") gets its pong.
        '2' => vec![format!("3{data}")],
        '4' => socket_io(data, sid),
        _ => Vec::new(),
    }
}

/// The replies to one Socket.IO packet (the part after the Engine.IO `4`).
fn socket_io(packet: &str, sid: &str) -> Vec<String> {
    let Some(kind) = packet.chars().next() else {
        return Vec::new();
    };
    let rest = &packet[1..];
    let (namespace, rest) = match rest.strip_prefix('/') {
        Some(_) => rest.split_once(',').unwrap_or((rest, "")),
        None => ("/", rest),
    };
    let prefix = if namespace == "/" {
        String::new()
    } else {
        format!("{namespace},")
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (ack, payload) = rest.split_at(digits);
    match kind {
        '0' => vec![format!(
            "40{prefix}{}",
            json!({ "sid": format!("{sid}-socket") })
        )],
        '2' => event(&prefix, ack, payload),
        _ => Vec::new(),
    }
}

fn event(prefix: &str, ack: &str, payload: &str) -> Vec<String> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(payload) else {
        return Vec::new();
    };
    let Some((name, args)) = items.split_first() else {
        return Vec::new();
    };
    let mut replies = Vec::new();
    if name == "ping" {
        let mut pong = vec![json!("pong")];
        pong.extend_from_slice(args);
        replies.push(format!("42{prefix}{}", Value::Array(pong)));
    }
    if !ack.is_empty() {
        replies.push(format!("43{prefix}{ack}{}", Value::Array(args.to_vec())));
    }
    replies
}

fn new_sid() -> String {
    let state = std::hash::RandomState::new();
    let first = state.hash_one(SystemTime::now());
    let second = state.hash_one(first);
    format!("{first:016x}{second:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_io_pings_and_connects() {
        assert_eq!(answer("2", "s"), ["3"]);
        assert_eq!(answer("2probe", "s"), ["3probe"]);
        assert!(answer("3", "s").is_empty());
        assert_eq!(answer("40", "s"), [r#"40{"sid":"s-socket"}"#]);
        assert_eq!(
            answer(r#"40{"token":"x"}"#, "s"),
            [r#"40{"sid":"s-socket"}"#]
        );
        assert_eq!(answer("40/admin,", "s"), [r#"40/admin,{"sid":"s-socket"}"#]);
    }

    #[test]
    fn events_get_pong_and_acks() {
        assert_eq!(
            answer(r#"42["ping",{"n":1}]"#, "s"),
            [r#"42["pong",{"n":1}]"#]
        );
        assert_eq!(answer(r#"42/ns,7["other",1,2]"#, "s"), [r#"43/ns,7[1,2]"#]);
        assert_eq!(
            answer(r#"4212["ping","x"]"#, "s"),
            [r#"42["pong","x"]"#, r#"4312["x"]"#]
        );
        assert!(answer("42not json", "s").is_empty());
        assert!(answer("", "s").is_empty());
    }

    #[test]
    fn session_ids_differ() {
        assert_ne!(new_sid(), new_sid());
    }
}
