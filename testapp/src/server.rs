//! The accept loop and one connection's life: requests in turn (keep-alive), a hand-over to
//! the WebSocket side on an upgrade, and server-sent event streams.

use std::io::{self, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Options;
use crate::http::{self, Request, Response};
use crate::routes::{self, Reply};
use crate::ws;

/// Serves connections until the process is killed, one thread each.
pub fn run(listener: TcpListener, options: Options) {
    let options = Arc::new(options);
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let options = Arc::clone(&options);
                thread::spawn(move || {
                    if let Err(e) = serve(stream, &options) {
                        eprintln!("ohproxy-testapp: connection ended: {e}");
                    }
                });
            }
            Err(e) => {
                eprintln!("ohproxy-testapp: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn serve(stream: TcpStream, options: &Options) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let response = named(Response::text(400, &format!("{e}\n")), options);
                return response.write_to(&mut out, false, false);
            }
            Err(e) => return Err(e),
        };
        if request.is_websocket() {
            return ws::serve(reader, out, &request, options);
        }
        if request.expects_continue() {
            out.write_all(http::status_line(100).as_bytes())?;
            out.write_all(b"\r\n")?;
        }
        let body_length = http::drain_body(&mut reader, &request)?;
        let keep_alive = request.keep_alive();
        match routes::handle(&request, body_length, options) {
            Reply::Full(response) => {
                let head_only = request.method == "HEAD";
                named(response, options).write_to(&mut out, head_only, keep_alive)?;
            }
            Reply::Events { count, interval } => {
                stream_events(&mut out, &request, count, interval, options)?;
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Adds the instance name header, when the instance has a name.
pub fn named(mut response: Response, options: &Options) -> Response {
    if let Some(name) = &options.name {
        response
            .headers
            .push(("X-Testapp-Name".into(), name.clone()));
    }
    response
}

/// Sends `count` events, `interval` apart, each flushed on its own. The stream is chunked
/// on a keep-alive HTTP/1.1 connection and ends with the connection otherwise. It sets no
/// `X-Accel-Buffering` header, so whether nginx buffers it is up to nginx's config.
fn stream_events(
    out: &mut TcpStream,
    request: &Request,
    count: u32,
    interval: Duration,
    options: &Options,
) -> io::Result<()> {
    let chunked = request.keep_alive();
    let mut head = http::status_line(200);
    head.push_str("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n");
    if let Some(name) = &options.name {
        head.push_str(&format!("X-Testapp-Name: {name}\r\n"));
    }
    head.push_str(if chunked {
        "Transfer-Encoding: chunked\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    out.write_all(head.as_bytes())?;
    out.flush()?;
    for seq in 0..count {
        if seq > 0 {
            thread::sleep(interval);
        }
        let sent_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let event =
            format!("id: {seq}\nevent: tick\ndata: {{\"seq\":{seq},\"sent_ms\":{sent_ms}}}\n\n");
        write_piece(out, event.as_bytes(), chunked)?;
    }
    if chunked {
        out.write_all(b"0\r\n\r\n")?;
    }
    out.flush()?;
    if !chunked {
        out.shutdown(std::net::Shutdown::Write)?;
    }
    Ok(())
}

fn write_piece(out: &mut TcpStream, piece: &[u8], chunked: bool) -> io::Result<()> {
    if chunked {
        out.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
        out.write_all(piece)?;
        out.write_all(b"\r\n")?;
    } else {
        out.write_all(piece)?;
    }
    out.flush()
}
