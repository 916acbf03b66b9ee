//! The test app run as a process and spoken to over real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::Message;

struct App {
    child: Child,
    port: u16,
}

impl App {
    fn start(args: &[&str]) -> App {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ohproxy-testapp"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        App { child, port }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// Sends raw bytes on a fresh connection and reads until the server closes it.
    fn raw(&self, request: &str) -> String {
        let mut stream = self.connect();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").unwrap().1
}

#[test]
fn health_alive_and_name() {
    let app = App::start(&["--name", "first"]);
    let answer = app.raw("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("X-Testapp-Name: first\r\n"), "{answer}");
    assert_eq!(body(&answer), "OK");
    let answer = app.raw("GET /alive HTTP/1.0\r\n\r\n");
    let alive: serde_json::Value = serde_json::from_str(body(&answer)).unwrap();
    assert_eq!(alive["status"], "ok");
    assert!(
        app.raw("GET /nothing HTTP/1.0\r\n\r\n")
            .starts_with("HTTP/1.1 404")
    );
}

#[test]
fn echo_keeps_target_headers_and_counts_chunked_body_on_one_connection() {
    let app = App::start(&[]);
    let first = "GET /echo/a%20b/%2F?x=1 HTTP/1.1\r\nHost: h\r\nX-D: 1\r\nX-D: 2\r\n\r\n";
    let second = "POST /echo/up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\
                  Connection: close\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n";
    let answer = app.raw(&format!("{first}{second}"));
    let replies: Vec<&str> = answer.split("HTTP/1.1 200 OK\r\n").skip(1).collect();
    assert_eq!(replies.len(), 2, "{answer}");
    let one: serde_json::Value = serde_json::from_str(body(replies[0])).unwrap();
    assert_eq!(one["target"], "/echo/a%20b/%2F?x=1");
    assert_eq!(one["headers"]["x-d"], serde_json::json!(["1", "2"]));
    let two: serde_json::Value = serde_json::from_str(body(replies[1])).unwrap();
    assert_eq!(two["method"], "POST");
    assert_eq!(two["body_length"], 6);
}

#[test]
fn upload_counts_a_large_body_after_100_continue() {
    let app = App::start(&[]);
    let mut stream = app.connect();
    let size = 3 * 1024 * 1024;
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: {size}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&vec![7u8; size]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let report: serde_json::Value = serde_json::from_str(body(&answer)).unwrap();
    assert_eq!(report["received_bytes"], size);
}

#[test]
fn events_arrive_spaced() {
    let app = App::start(&[]);
    let mut stream = app.connect();
    stream
        .write_all(b"GET /events?n=3&interval_ms=300 HTTP/1.0\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut reader = BufReader::new(stream);
    let mut arrivals = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if line.starts_with("data: ") {
            arrivals.push(start.elapsed());
        }
        line.clear();
    }
    assert_eq!(arrivals.len(), 3);
    assert!(arrivals[0] < Duration::from_millis(200), "{arrivals:?}");
    assert!(
        arrivals[2] - arrivals[1] >= Duration::from_millis(250),
        "{arrivals:?}"
    );
}

#[test]
fn websocket_echo_on_any_path() {
    let app = App::start(&[]);
    for path in [
        "/sockets/events/5f1b7c1e-0000-4000-8000-000000000001",
        "/anything?x=%20",
    ] {
        let url = format!("ws://127.0.0.1:{}{path}", app.port);
        let (mut socket, response) = tungstenite::connect(url).unwrap();
        assert_eq!(response.status(), 101);
        socket.send(Message::text("hello")).unwrap();
        assert_eq!(socket.read().unwrap(), Message::text("hello"));
        socket.send(Message::binary(vec![1u8, 2, 3])).unwrap();
        assert_eq!(socket.read().unwrap(), Message::binary(vec![1u8, 2, 3]));
        socket.close(None).unwrap();
    }
}

#[test]
fn socket_io_handshake_and_event() {
    let app = App::start(&[]);
    let url = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        app.port
    );
    let (mut socket, _) = tungstenite::connect(url).unwrap();
    let open = socket.read().unwrap().into_text().unwrap();
    let open: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(open["pingInterval"], 25000);
    assert!(open["sid"].as_str().is_some_and(|s| !s.is_empty()));
    socket.send(Message::text("40")).unwrap();
    let connected = socket.read().unwrap().into_text().unwrap();
    assert!(connected.starts_with("40{\"sid\":"), "{connected}");
    socket.send(Message::text(r#"42["ping","x"]"#)).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text(r#"42["pong","x"]"#));
    socket.send(Message::text("2")).unwrap();
    assert_eq!(socket.read().unwrap(), Message::text("3"));
}

#[test]
fn exit_code_flag_exits_at_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_ohproxy-testapp"))
        .args(["--exit-code", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("code 7"));
}
