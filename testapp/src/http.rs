//! The HTTP/1.x wire format as far as the test app needs it: reading a request head and
//! draining its body (fixed length or chunked), and writing responses.

use std::io::{self, BufRead, Read, Write};

/// The longest request head accepted, in bytes.
const MAX_HEAD: u64 = 64 * 1024;

/// One request head, exactly as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent, undecoded (path and query).
    pub target: String,
    pub version: String,
    /// Header names and values in the order received, duplicates kept.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The target up to the query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The raw (undecoded) value of a query parameter.
    pub fn query(&self, key: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// HTTP/1.1 without `Connection: close`; HTTP/1.0 always closes.
    pub fn keep_alive(&self) -> bool {
        self.version == "HTTP/1.1" && !self.header_has_token("connection", "close")
    }

    pub fn is_websocket(&self) -> bool {
        self.header_has_token("upgrade", "websocket")
            && self.header_has_token("connection", "upgrade")
    }

    pub fn expects_continue(&self) -> bool {
        self.header_has_token("expect", "100-continue")
    }
}

/// Reads one request head; `None` when the peer closed before sending one.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head = reader.take(MAX_HEAD);
    let mut line = String::new();
    // Tolerate empty lines before the request line, as RFC 9112 allows.
    while line.trim_end().is_empty() {
        line.clear();
        if head.read_line(&mut line)? == 0 {
            return Ok(None);
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("malformed request line {:?}", line.trim_end())));
    };
    let mut request = Request {
        method: method.into(),
        target: target.into(),
        version: version.into(),
        headers: Vec::new(),
    };
    loop {
        line.clear();
        if head.read_line(&mut line)? == 0 {
            return Err(bad("request head too long or cut short".into()));
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Ok(Some(request));
        }
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("malformed header line {text:?}")))?;
        request
            .headers
            .push((name.trim().into(), value.trim().into()));
    }
}

/// Reads and discards the request body, returning its length in bytes.
pub fn drain_body(reader: &mut impl BufRead, request: &Request) -> io::Result<u64> {
    if request.header_has_token("transfer-encoding", "chunked") {
        return drain_chunked(reader);
    }
    let Some(raw) = request.header("content-length") else {
        return Ok(0);
    };
    let length: u64 = raw
        .parse()
        .map_err(|_| bad(format!("bad Content-Length {raw:?}")))?;
    let copied = io::copy(&mut reader.take(length), &mut io::sink())?;
    if copied < length {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "body cut short",
        ));
    }
    Ok(copied)
}

fn drain_chunked(reader: &mut impl BufRead) -> io::Result<u64> {
    let mut total = 0;
    let mut line = String::new();
    loop {
        line.clear();
        reader.take(1024).read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("bad chunk size {:?}", line.trim())))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if reader.take(8192).read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(total);
                }
            }
        }
        let copied = io::copy(&mut reader.take(size), &mut io::sink())?;
        if copied < size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "chunk cut short",
            ));
        }
        total += size;
        line.clear();
        reader.take(2).read_line(&mut line)?;
    }
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// A complete response with a known body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn json(value: &serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(value).expect("JSON values always serialize");
        body.push(b'\n');
        Response::new(200, "application/json", body)
    }

    /// Writes status line, headers and (unless `head_only`) the body.
    pub fn write_to(
        &self,
        out: &mut impl Write,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        let mut head = status_line(self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        let connection = if keep_alive { "keep-alive" } else { "close" };
        head.push_str(&format!("Connection: {connection}\r\n\r\n"));
        out.write_all(head.as_bytes())?;
        if !head_only {
            out.write_all(&self.body)?;
        }
        out.flush()
    }
}

pub fn status_line(status: u16) -> String {
    let reason = match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Status",
    };
    format!("HTTP/1.1 {status} {reason}\r\n")
}

/// Decodes `%XX` escapes (and `+` as space) in a query value; bad escapes stay as they are.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Request {
        read_request(&mut raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn head_keeps_target_and_duplicate_headers() {
        let r = parse("GET /echo/a%20b/%2F?x=1&y HTTP/1.1\r\nA: 1\r\na: 2\r\nHost: h\r\n\r\n");
        assert_eq!(r.target, "/echo/a%20b/%2F?x=1&y");
        assert_eq!(r.path(), "/echo/a%20b/%2F");
        assert_eq!(r.query("x"), Some("1"));
        assert_eq!(r.query("y"), Some(""));
        assert_eq!(r.query("z"), None);
        assert_eq!(r.headers.len(), 3);
        assert_eq!(r.header("a"), Some("1"));
        assert!(r.keep_alive());
    }

    #[test]
    fn connection_tokens() {
        let ws = parse(
            "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\r\n",
        );
        assert!(ws.is_websocket());
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(!parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
    }

    #[test]
    fn malformed_and_closed() {
        assert!(read_request(&mut &b""[..]).unwrap().is_none());
        assert!(read_request(&mut &b"GET /\r\n\r\n"[..]).is_err());
        assert!(read_request(&mut &b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"[..]).is_err());
    }

    #[test]
    fn bodies_by_length_and_chunks() {
        let raw = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloNEXT";
        let mut reader = raw.as_bytes();
        let r = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(drain_body(&mut reader, &r).unwrap(), 5);
        assert_eq!(reader, b"NEXT");
        let raw = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\na;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT";
        let mut reader = raw.as_bytes();
        let r = read_request(&mut reader).unwrap().unwrap();
        assert_eq!(drain_body(&mut reader, &r).unwrap(), 13);
        assert_eq!(reader, b"NEXT");
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("%2Fetc%2Fhosts+x%zz"), "/etc/hosts x%zz");
    }
}
