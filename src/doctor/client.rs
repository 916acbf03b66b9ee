//! The checks made as a browser makes them, through nginx with a client that trusts only
//! our CA: the TLS handshake (naming why it fails), an HTTP request, and a WebSocket (a
//! Socket.IO handshake for 0.x), held open as long as asked.

use std::io;
use std::time::{Duration, Instant};

use super::certs::LeafFacts;
use super::tls_client::{Client, TIMEOUT, TlsStream, explain, tls_error};
use super::{Found, Outcome, Setup};
use crate::access::AccessMode;

/// A client trusting only our CA, with ohproxy's own credentials for the access mode.
pub(super) fn client(s: &Setup, found: &Found) -> Result<Client, Outcome> {
    let ca = found.ca.as_ref().expect("the CA check passed");
    let mode = s.config.access.mode.as_str();
    let probe = match crate::access::probe::credentials(&s.config, s.paths) {
        Ok(Some(probe)) => probe,
        Ok(None) => {
            return Err(Outcome::failure(
                format!("ohproxy has no credentials of its own for access.mode {mode:?} yet"),
                "`ohproxy nginx apply` makes them and installs them with the site",
            ));
        }
        Err(e) => {
            return Err(Outcome::failure(
                format!("reading ohproxy's credentials for access.mode {mode:?}: {e:#}"),
                "",
            ));
        }
    };
    Client::with_probe(
        &ca.der,
        s.config.domain.as_str(),
        s.config.ports.https.get(),
        &probe,
    )
    .map_err(|e| Outcome::failure(format!("cannot set up TLS with our CA: {e}"), ""))
}

pub fn tls(s: &Setup, found: &mut Found) -> Outcome {
    let client = match client(s, found) {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let domain = s.config.domain.as_str();
    let port = s.config.ports.https;
    let result = client.connect();
    let served = client.served();
    let facts = served.as_deref().and_then(|d| LeafFacts::parse(d).ok());
    let summary = facts.as_ref().map_or(String::new(), LeafFacts::summary);
    let other = served.is_some() && found.leaf_der.is_some() && served != found.leaf_der;
    let installed = crate::nginx::cert_files(&s.config, s.paths).cert;
    let wrong = format!(
        "wrong certificate served: nginx presented a certificate other than {}",
        installed.display()
    );
    match result {
        Ok(stream) => {
            let version = stream
                .conn
                .protocol_version()
                .map_or("TLS".to_string(), |v| format!("{v:?}"));
            if other {
                return Outcome::warning(
                    format!("{wrong} (it is still valid: {summary})"),
                    "reload nginx (`ohproxy nginx apply`) so it serves the installed leaf",
                );
            }
            Outcome::ok(format!(
                "{version} with {domain} on port {port}, trusting only our CA ({summary})"
            ))
        }
        Err(err) => match tls_error(&err) {
            Some(tls) => {
                let mut cause = explain(tls, domain, &summary);
                if other {
                    cause = format!("{wrong}; {cause}");
                }
                let fix = if other {
                    "make nginx serve our leaf for this name: `ohproxy nginx apply`"
                } else {
                    "`ohproxy up` (or `ohproxy cert`, then `ohproxy nginx apply`)"
                };
                Outcome::failure(cause, fix)
            }
            None => Outcome::failure(
                format!("no TLS connection to 127.0.0.1:{port}: {err}"),
                "check that nginx serves the site on ports.https (see the checks above)",
            ),
        },
    }
}

pub fn https(s: &Setup, found: &mut Found) -> Outcome {
    let client = match client(s, found) {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let path = s.profile.health_path;
    let url = format!("https://{}{path}", client.authority());
    match client.get(path) {
        Ok((200, _)) => Outcome::ok(format!("GET {url} answered 200 through nginx")),
        Ok((status @ (502 | 504), _)) => Outcome::failure(
            format!(
                "GET {url} answered {status}: nginx cannot reach the app on 127.0.0.1:{}",
                s.config.ports.app
            ),
            "start the app (`ohproxy up`); see the container checks above",
        ),
        Ok((status, body)) => Outcome::failure(
            format!(
                "GET {url} answered {status} instead of 200: {}",
                body.trim()
            ),
            match status {
                401 if s.config.access.mode == AccessMode::Password => {
                    "nginx refused ohproxy's own password: `ohproxy nginx apply` installs it \
                     with the site; if it did, this nginx's crypt() cannot check bcrypt \
                     ($2b$) hashes (that takes libxcrypt or musl, as current distributions \
                     have)"
                }
                401 | 403 | 400 => {
                    "nginx refused ohproxy's own credentials: `ohproxy nginx apply` installs \
                     them with the site"
                }
                500 if s.config.access.mode == AccessMode::Password => {
                    "nginx could not check the password: its workers cannot read the password \
                     file, or its crypt() failed on the hash; nginx's error log says which"
                }
                _ => "`ohproxy nginx apply` installs the site file that proxies to the app",
            },
        ),
        Err(e) => Outcome::failure(format!("GET {url} failed: {e}"), ""),
    }
}

/// A WebSocket handshake on `target`; Err holds the answer nginx gave instead of 101.
pub fn websocket(
    client: &Client,
    target: &str,
) -> Result<tungstenite::WebSocket<TlsStream>, String> {
    use tungstenite::client::IntoClientRequest;
    let stream = client.connect().map_err(|e| e.to_string())?;
    let url = format!("wss://{}{target}", client.authority());
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    if let Some(auth) = client.authorization() {
        let value = auth
            .parse()
            .map_err(|_| "a bad Authorization value".to_string())?;
        request.headers_mut().insert("Authorization", value);
    }
    match tungstenite::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| {
                    String::from_utf8_lossy(b)
                        .chars()
                        .take(120)
                        .collect::<String>()
                })
                .unwrap_or_default();
            Err(format!(
                "the upgrade got {} instead of 101 Switching Protocols {}",
                response.status(),
                body.trim()
            ))
        }
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e.to_string()),
        Err(tungstenite::HandshakeError::Interrupted(_)) => Err("the handshake stalled".into()),
    }
}

/// The fix when nginx does not pass an upgrade on.
pub const UPGRADE_FIX: &str = "the site file must pass `Upgrade` and `Connection` on (ohproxy's \
    template does): `ohproxy nginx apply` puts it back";

pub fn socket_io(s: &Setup, found: &mut Found, hold: Duration) -> Outcome {
    let client = match client(s, found) {
        Ok(client) => client,
        Err(outcome) => return outcome,
    };
    let target = "/socket.io/?EIO=4&transport=websocket";
    let mut socket = match websocket(&client, target) {
        Ok(socket) => socket,
        Err(why) => return Outcome::failure(format!("{target}: {why}"), UPGRADE_FIX),
    };
    let open = match next_text(&mut socket, Instant::now() + TIMEOUT) {
        Ok(Some(text)) if text.starts_with('0') => text,
        Ok(other) => {
            return Outcome::failure(
                format!("{target}: 101, but no Engine.IO open packet came: {other:?}"),
                "is the app behind nginx OpenHands 0.x?",
            );
        }
        Err(why) => return Outcome::failure(format!("{target}: {why}"), ""),
    };
    // Socket.IO's connect to the default namespace: `40` back means accepted, `44` means
    // the app refused it (e.g. no conversation), which still proves the transport.
    let answer = socket
        .send(tungstenite::Message::text("40"))
        .map_err(|e| e.to_string())
        .and_then(|()| next_text(&mut socket, Instant::now() + TIMEOUT));
    let connect = match answer {
        Ok(Some(text)) if text.starts_with("40") || text.starts_with("44") => text,
        other => {
            return Outcome::failure(
                format!("{target}: no Socket.IO connect answer: {other:?}"),
                "",
            );
        }
    };
    let detail = format!("open: {open}\nconnect: {connect}");
    let summary = format!("Socket.IO over WebSocket on {target}: 101, open packet, connect");
    hold_open(socket, hold, summary, detail)
}

/// Keeps the socket open for `hold`, answering Engine.IO pings; fails if it closes early.
pub fn hold_open(
    mut socket: tungstenite::WebSocket<TlsStream>,
    hold: Duration,
    summary: String,
    detail: String,
) -> Outcome {
    if hold.is_zero() {
        let _ = socket.close(None);
        return Outcome::ok(summary).with_detail(detail);
    }
    let started = Instant::now();
    let _ = socket
        .get_ref()
        .sock
        .set_read_timeout(Some(Duration::from_secs(1)));
    while started.elapsed() < hold {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) if text.as_str() == "2" => {
                if let Err(e) = socket.send(tungstenite::Message::text("3")) {
                    return held_failure(started, &e.to_string(), detail);
                }
            }
            Ok(tungstenite::Message::Close(frame)) => {
                return held_failure(started, &format!("closed by the far end {frame:?}"), detail);
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return held_failure(started, &e.to_string(), detail),
        }
    }
    let _ = socket.close(None);
    Outcome::ok(format!("{summary}; held open {} s", hold.as_secs())).with_detail(detail)
}

fn held_failure(started: Instant, why: &str, detail: String) -> Outcome {
    Outcome::failure(
        format!(
            "the WebSocket opened but ended after {} s: {why}",
            started.elapsed().as_secs()
        ),
        "raise nginx.proxy-timeout (the site file's proxy_read_timeout) and apply",
    )
    .with_detail(detail)
}

/// The next text message before `deadline`, answering pings; `None` when it closed.
fn next_text(
    socket: &mut tungstenite::WebSocket<TlsStream>,
    deadline: Instant,
) -> Result<Option<String>, String> {
    while Instant::now() < deadline {
        match socket.read() {
            Ok(tungstenite::Message::Text(text)) => return Ok(Some(text.to_string())),
            Ok(tungstenite::Message::Close(_)) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("no message in time".into())
}
