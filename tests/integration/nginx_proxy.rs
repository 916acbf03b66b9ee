//! The rendered site file in a real nginx: TLS, HTTP/2, WebSockets, redirects, forwarded
//! headers, uploads, streaming and logs, seen by a client that trusts only the test CA.
//! Each test renders with `ohproxy nginx render` (versions from `nginx -V`) into a private
//! nginx in front of the test app.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::support::https::{Client, parse_response};
use crate::support::nginx::{Nginx, openssl_pki};
use crate::support::testapp::Upstream;
use crate::support::{Home, require, tool};

const DOMAIN: &str = "openhands.example.internal";

/// One site rendered into a running private nginx, in front of `upstream`.
struct Site {
    client: Client,
    ca: PathBuf,
    nginx: Nginx,
    _home: Home,
    _upstream: Option<Upstream>,
}

/// Renders a site for `domain` into `nginx`'s site dir, with its own config (extra lines go
/// into `[nginx]`) and an openssl-made CA and leaf. Returns the home and the CA file.
fn add_site(nginx: &Nginx, domain: &str, app_port: u16, extra: &str) -> (Home, PathBuf) {
    let home = Home::new();
    let config = format!(
        "domain = \"{domain}\"\n{}{}{extra}\n",
        nginx.ports_section(app_port),
        nginx.config_section()
    );
    std::fs::write(home.path().join("config.toml"), config).unwrap();
    let pki = openssl_pki(
        &home.path().join("pki"),
        domain,
        &nginx.cert_dir().join(format!("{domain}.pem")),
        &nginx.cert_dir().join(format!("{domain}-key.pem")),
    );
    let out = nginx.site_dir().join(format!("ohproxy-{domain}.conf"));
    home.cmd(["nginx", "render", "--out", out.to_str().unwrap()])
        .ok();
    (home, pki.ca_cert)
}

/// `nginx -t` passes and prints no warning at all.
fn assert_clean(nginx: &Nginx) {
    let (ok, text) = nginx.test_config();
    assert!(
        ok && !text.contains("[warn]") && !text.contains("[emerg]"),
        "{text}"
    );
}

/// The test app behind a fresh nginx, or None when nginx is not installed here.
fn site_with(extra: &str, upstream: Option<Upstream>, app_port: u16) -> Option<Site> {
    let binary = require("nginx")?;
    require("openssl").expect("openssl is needed with nginx");
    let mut nginx = Nginx::new(&binary);
    let (home, ca) = add_site(&nginx, DOMAIN, app_port, extra);
    assert_clean(&nginx);
    nginx.start();
    Some(Site {
        client: Client::new(&ca, DOMAIN, nginx.https_port),
        ca,
        nginx,
        _home: home,
        _upstream: upstream,
    })
}

fn site(extra: &str) -> Option<Site> {
    require("nginx")?;
    let upstream = Upstream::start();
    let port = upstream.port();
    site_with(extra, Some(upstream), port)
}

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"][name]
        .as_array()
        .map(|values| values.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn https_reaches_the_app_with_headers_set_by_nginx() {
    let Some(site) = site("") else { return };
    let spoofed = [
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Real-IP", "6.6.6.6"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Port", "1"),
    ];
    let response = site
        .client
        .request("GET", "/echo/a%2Fb?x=1", &spoofed, b"")
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.json();
    assert_eq!(echo["target"], "/echo/a%2Fb?x=1");
    assert_eq!(echo["version"], "HTTP/1.1");
    let authority = site.client.authority();
    let port = site.nginx.https_port.to_string();
    assert_eq!(header(&echo, "host"), [authority.as_str()]);
    assert_eq!(header(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(header(&echo, "x-real-ip"), ["127.0.0.1"]);
    assert_eq!(header(&echo, "x-forwarded-proto"), ["https"]);
    assert_eq!(header(&echo, "x-forwarded-host"), [authority.as_str()]);
    assert_eq!(header(&echo, "x-forwarded-port"), [port.as_str()]);
    // No Connection header on plain requests: the upstream connection can be kept alive.
    assert!(header(&echo, "connection").is_empty(), "{echo}");
    assert!(response.header("strict-transport-security").is_none());
}

#[test]
fn tls_1_2_and_1_3_with_h2_are_offered_and_1_1_is_refused() {
    let Some(site) = site("") else { return };
    let port = site.nginx.https_port;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let client = Client::with(&site.ca, DOMAIN, port, &[version], &[b"h2", b"http/1.1"]);
        let stream = client.connect().expect("handshake");
        assert_eq!(stream.conn.protocol_version(), Some(version.version));
        assert_eq!(stream.conn.alpn_protocol(), Some(&b"h2"[..]));
    }

    // OpenSSL 3 refuses TLS 1.1 on the client side unless the security level is lowered;
    // lowering it makes the client offer 1.1, so a failure is nginx's refusal.
    let connect = format!("127.0.0.1:{port}");
    let s_client = |flags: &[&str]| {
        let mut args = vec!["s_client", "-connect", &connect, "-servername", DOMAIN];
        args.extend_from_slice(flags);
        let out = std::process::Command::new("openssl")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = s_client(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    assert!(!ok, "TLS 1.1 was accepted:\n{text}");
    let (ok, text) = s_client(&["-tls1_2", "-CAfile", site.ca.to_str().unwrap()]);
    assert!(ok && text.contains("Verify return code: 0 (ok)"), "{text}");

    // A client that does not trust the test CA gets no connection.
    let stranger = std::env::temp_dir().join(format!("stranger-{}", std::process::id()));
    let other = openssl_pki(
        &stranger,
        DOMAIN,
        &stranger.join("l.pem"),
        &stranger.join("k.pem"),
    );
    assert!(Client::new(&other.ca_cert, DOMAIN, port).connect().is_err());
    std::fs::remove_dir_all(stranger).unwrap();

    let out = tool(
        "curl",
        [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--cacert",
            site.ca.to_str().unwrap(),
            "--resolve",
            &format!("{DOMAIN}:{port}:127.0.0.1"),
            &format!("https://{DOMAIN}:{port}/health"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2");
}

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
fn port_80_only_redirects_and_the_app_never_sees_it() {
    // A bare listener stands in for the app, so any connection nginx makes is visible.
    let sentinel = TcpListener::bind("127.0.0.1:0").unwrap();
    sentinel.set_nonblocking(true).unwrap();
    let port = sentinel.local_addr().unwrap().port();
    let Some(site) = site_with("hsts-max-age = \"300\"", None, port) else {
        return;
    };

    let mut plain = TcpStream::connect(("127.0.0.1", site.nginx.http_port)).unwrap();
    write!(
        plain,
        "POST /api/login?next=/x HTTP/1.1\r\nHost: {DOMAIN}\r\nContent-Length: 3\r\n\
         Connection: close\r\n\r\nabc"
    )
    .unwrap();
    let mut raw = Vec::new();
    plain.read_to_end(&mut raw).unwrap();
    let response = parse_response(&raw).unwrap();
    assert_eq!(response.status, 308);
    let expected = format!(
        "https://{DOMAIN}:{}/api/login?next=/x",
        site.nginx.https_port
    );
    assert_eq!(response.header("location"), Some(expected.as_str()));
    assert!(response.header("strict-transport-security").is_none());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sentinel.accept().is_err(),
        "the app got a plaintext connection"
    );

    // The same sentinel does see HTTPS traffic, and HTTPS carries the opt-in HSTS header.
    let client = site.client.clone();
    let probe = std::thread::spawn(move || client.request("GET", "/", &[], b""));
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut app, _) = loop {
        match sentinel.accept() {
            Ok(conn) => break conn,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("the HTTPS request never reached the app: {e}"),
        }
    };
    app.set_nonblocking(false).unwrap();
    let mut head = [0u8; 1024];
    let n = app.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("GET / HTTP/1.1\r\n"));
    app.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        .unwrap();
    drop(app);
    let response = probe.join().unwrap().unwrap();
    assert_eq!(
        response.header("strict-transport-security"),
        Some("max-age=300")
    );
}

#[test]
fn uploads_pass_up_to_the_configured_limit() {
    let Some(site) = site("upload-limit = \"8m\"") else {
        return;
    };
    let five = vec![b'x'; 5 << 20];
    let response = site.client.request("POST", "/upload", &[], &five).unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["received_bytes"], 5 << 20);

    let body = site.nginx.prefix().join("nine-mb");
    std::fs::write(&body, vec![b'y'; 9 << 20]).unwrap();
    let port = site.nginx.https_port;
    let out = tool(
        "curl",
        [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            site.ca.to_str().unwrap(),
            "--resolve",
            &format!("{DOMAIN}:{port}:127.0.0.1"),
            "--data-binary",
            &format!("@{}", body.display()),
            &format!("https://{DOMAIN}:{port}/upload"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
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

#[test]
fn the_access_log_holds_no_query_string() {
    let Some(site) = site("") else { return };
    let response = site.client.get("/echo/logged?session_api_key=SECRET123");
    assert_eq!(response.status, 200);
    let mut socket = site
        .client
        .websocket("/sockets/events/1?session_api_key=SECRET456")
        .unwrap();
    socket.close(None).unwrap();
    drop(socket);
    let log_name = format!("ohproxy-{DOMAIN}.access.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = site.nginx.log(&log_name);
        if log.contains("/sockets/events/1") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(log.contains("\"GET /echo/logged HTTP/1.1\" 200"), "{log}");
    assert!(log.contains("/sockets/events/1 HTTP/1.1\" 101"), "{log}");
    assert!(!log.contains("SECRET") && !log.contains('?'), "{log}");
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
    let (_home_two, ca_two) = add_site(&nginx, "two.example.internal", two.port(), "");
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

/// The harness itself: start, serve, reload to new workers, report errors, stop on drop.
#[test]
fn harness_starts_reloads_and_stops() {
    let Some(binary) = require("nginx") else {
        return;
    };
    require("openssl").expect("openssl");
    let mut nginx = Nginx::new(&binary);
    let pki = openssl_pki(
        &nginx.prefix().join("pki"),
        "harness.test",
        &nginx.cert_dir().join("leaf.pem"),
        &nginx.cert_dir().join("leaf-key.pem"),
    );
    assert!(pki.ca_cert.is_file());
    nginx.write_site(
        "plain.conf",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 200 \"one\\n\"; }} }}\n",
            nginx.http_port
        ),
    );
    nginx.start();
    let master = nginx.master_pid();
    let body = || {
        let out = crate::support::tool(
            "curl",
            ["-s", &format!("http://127.0.0.1:{}/", nginx.http_port)],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(body(), "one\n");
    let workers = nginx.worker_pids();
    assert_eq!(workers.len(), 2, "{:?}", nginx.children());

    nginx.write_site(
        "plain.conf",
        &format!(
            "server {{ listen 127.0.0.1:{}; location / {{ return 200 \"two\\n\"; }} }}\n",
            nginx.http_port
        ),
    );
    assert!(nginx.reload(), "{}", nginx.error_log());
    assert_eq!(body(), "two\n");
    assert!(nginx.worker_pids().iter().all(|p| !workers.contains(p)));

    nginx.write_site("broken.conf", "server { listen nonsense }\n");
    assert!(!nginx.test_config().0);
    assert!(!nginx.reload());
    assert_eq!(body(), "two\n");

    drop(nginx);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!std::path::Path::new(&format!("/proc/{master}")).exists());
}
