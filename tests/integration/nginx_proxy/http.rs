//! Plain HTTPS through the site: TLS and HTTP/2, the redirect, headers, uploads, logs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::{DOMAIN, header, site, site_with};
use crate::support::https::{Client, parse_response};
use crate::support::nginx::openssl_pki;
use crate::support::tool;

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
