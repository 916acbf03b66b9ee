//! Long-lived traffic through the site: WebSockets, idle timeouts, streamed events, and
//! two sites sharing one nginx.

use std::io::Read;
use std::time::{Duration, Instant};

use tungstenite::Message;

use super::{add_site, assert_clean, header, site};
use crate::support::https::Client;
use crate::support::nginx::Nginx;
use crate::support::require;
use crate::support::testapp::Upstream;

#[test]
fn websockets_upgrade_on_every_path() {
    let Some(site) = site("") else { return };
    let uuid = "0b6f8b5e-3c2a-4f7e-9a51-7d2c1e0f4a88";
    for path in [
        format!("/sockets/events/{uuid}?session_api_key=k"),
        "/any/new/path".into(),
    ] {
        let mut socket = site
            .client
            .websocket(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        socket.send(Message::text(format!("hello {path}"))).unwrap();
        assert_eq!(
            socket.read().unwrap(),
            Message::text(format!("hello {path}"))
        );
        socket.close(None).unwrap();
    }

    let mut socket = site
        .client
        .websocket("/socket.io/?EIO=4&transport=websocket")
        .unwrap();
    let open = socket.read().unwrap().into_text().unwrap();
    assert!(open.starts_with("0{") && open.contains("\"sid\""), "{open}");
    socket.send(Message::text("40")).unwrap();
    assert!(
        socket
            .read()
            .unwrap()
            .into_text()
            .unwrap()
            .starts_with("40{")
    );
    socket.send(Message::text(r#"42["ping","hi"]"#)).unwrap();
    assert_eq!(
        socket.read().unwrap().into_text().unwrap(),
        r#"42["pong","hi"]"#
    );
}

/// Opens a WebSocket, stays idle, and returns how long until nginx closed it (or None
/// when it was still open and echoing after `idle`).
fn idle_close(client: &Client, idle: Duration) -> Option<Duration> {
    let mut socket = client.websocket("/idle").unwrap();
    socket.get_mut().sock.set_read_timeout(Some(idle)).unwrap();
    let opened = Instant::now();
    match socket.read() {
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
            socket.send(Message::text("still here")).unwrap();
            assert_eq!(socket.read().unwrap(), Message::text("still here"));
            None
        }
        _ => Some(opened.elapsed()),
    }
}

#[test]
fn idle_websockets_last_as_long_as_the_configured_timeout() {
    if require("nginx").is_none() {
        return;
    }
    let long = std::thread::spawn(|| {
        let site = site("").unwrap();
        idle_close(&site.client, Duration::from_secs(65))
    });
    let short = std::thread::spawn(|| {
        let site = site("proxy-timeout = \"5s\"").unwrap();
        idle_close(&site.client, Duration::from_secs(30))
    });
    let closed = short
        .join()
        .unwrap()
        .expect("the 5 s timeout closed the socket");
    assert!(
        closed >= Duration::from_millis(4500) && closed <= Duration::from_secs(8),
        "closed after {closed:?}"
    );
    assert_eq!(
        long.join().unwrap(),
        None,
        "closed before 65 s with the default timeout"
    );
}
#[test]
fn events_arrive_as_they_are_sent() {
    let Some(site) = site("") else { return };
    let mut stream = site.client.connect().unwrap();
    site.client
        .send_head(&mut stream, "GET", "/events?n=4&interval_ms=1000", &[], 0)
        .unwrap();
    let started = Instant::now();
    let mut arrivals = Vec::new();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while arrivals.len() < 4 {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("reading events: {e}"),
        };
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        while arrivals.len() < seen.matches("event: tick").count() {
            arrivals.push(started.elapsed());
        }
    }
    assert_eq!(arrivals.len(), 4, "{seen}");
    assert!(arrivals[0] < Duration::from_millis(500), "{arrivals:?}");
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > Duration::from_millis(500) && gap < Duration::from_millis(1500),
            "events bunched: {arrivals:?}"
        );
    }
}
/// Two sites on the same ports in one nginx, next to a foreign file that declares the
/// names other guides use (`$connection_upgrade`, `upstream app`), and that maps '' to
/// `close`: nginx -t stays clean and each site keeps its own behaviour.
#[test]
fn two_sites_and_a_foreign_map_do_not_collide() {
    let Some(binary) = require("nginx") else {
        return;
    };
    let (one, two) = (Upstream::named("one"), Upstream::named("two"));
    let mut nginx = Nginx::new(&binary);
    nginx.write_site(
        "00-foreign.conf",
        "map $http_upgrade $connection_upgrade { default upgrade; '' close; }\n\
         upstream app { server 127.0.0.1:9; }\n",
    );
    let (_home_one, ca_one) = add_site(&nginx, "one.example.internal", one.port(), "");
    // The second site runs OpenHands 0.x: two 1.x sites cannot share an HTTP port, since
    // each would answer the sandboxes' callbacks at host.docker.internal.
    let old = "[openhands]\nversion = \"0.62\"\n";
    let (_home_two, ca_two) = add_site(&nginx, "two.example.internal", two.port(), old);
    nginx.write_site(
        "zz-foreign.conf",
        "map $http_upgrade $connection_upgrade_late { default upgrade; '' close; }\n",
    );
    assert_clean(&nginx);
    nginx.start();

    for (domain, ca, name) in [
        ("one.example.internal", &ca_one, "one"),
        ("two.example.internal", &ca_two, "two"),
    ] {
        let client = Client::new(ca, domain, nginx.https_port);
        let echo = client.get("/echo/x").json();
        assert_eq!(echo["name"], name, "{echo}");
        assert!(header(&echo, "connection").is_empty(), "{echo}");
        let mut socket = client.websocket("/socket/anything").unwrap();
        socket.send(Message::text(name)).unwrap();
        assert_eq!(socket.read().unwrap(), Message::text(name));
    }
}
