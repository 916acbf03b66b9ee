//! The WebSocket side: the opening handshake on any path, then either a plain echo or,
//! for `/socket.io/?transport=websocket`, the Engine.IO/Socket.IO server. The echo never
//! sends pings of its own, so a proxy's idle timeout shows.

use std::io::{self, BufReader, Write};
use std::net::TcpStream;

use tungstenite::protocol::Role;
use tungstenite::{Error, Message, WebSocket, handshake::derive_accept_key};

use crate::Options;
use crate::http::{self, Request, Response};
use crate::server::named;
use crate::socketio;

/// Completes the handshake for `request` and serves the socket until it closes.
pub fn serve(
    reader: BufReader<TcpStream>,
    mut stream: TcpStream,
    request: &Request,
    options: &Options,
) -> io::Result<()> {
    let Some(key) = request.header("sec-websocket-key") else {
        let response = named(
            Response::text(400, "Sec-WebSocket-Key is missing\n"),
            options,
        );
        return response.write_to(&mut stream, false, false);
    };
    let mut head = http::status_line(101);
    head.push_str("Upgrade: websocket\r\nConnection: Upgrade\r\n");
    head.push_str(&format!(
        "Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    ));
    if let Some(name) = &options.name {
        head.push_str(&format!("X-Testapp-Name: {name}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.flush()?;
    // Frames the client sent right behind its request are already in the reader's buffer.
    let early = reader.buffer().to_vec();
    let socket = WebSocket::from_partially_read(stream, early, Role::Server, None);
    let socket_io =
        request.path().starts_with("/socket.io") && request.query("transport") == Some("websocket");
    if socket_io {
        socketio::serve(socket)
    } else {
        echo(socket)
    }
}

fn echo(mut socket: WebSocket<TcpStream>) -> io::Result<()> {
    loop {
        let message = match socket.read() {
            Ok(message) => message,
            Err(e) => return ended(e),
        };
        if message.is_text() || message.is_binary() {
            socket.send(message).map_err(io::Error::other)?;
        }
    }
}

/// A socket's end: a close or a dropped peer is normal, anything else is reported.
pub fn ended(error: Error) -> io::Result<()> {
    match error {
        Error::ConnectionClosed | Error::AlreadyClosed => Ok(()),
        Error::Protocol(tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => Ok(()),
        Error::Io(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
        other => Err(io::Error::other(other)),
    }
}

/// Sends a text message, for the Socket.IO side.
pub fn send_text(socket: &mut WebSocket<TcpStream>, text: String) -> io::Result<()> {
    socket.send(Message::text(text)).map_err(io::Error::other)
}
