//! A small HTTPS and WebSocket client for the proxy tests: rustls that trusts only the
//! given CA, raw HTTP/1.1 so the tests see exactly what nginx sends, and tungstenite on top
//! of the same TLS stream.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, StreamOwned, SupportedProtocolVersion,
};

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;
pub type WebSocket = tungstenite::WebSocket<TlsStream>;

/// Connects to `127.0.0.1:port` and names `domain` in SNI, the Host header and the
/// certificate check.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    pub domain: String,
    pub port: u16,
}

/// One HTTP response: status, headers (names lower-cased) and the de-chunked body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Client {
    /// TLS 1.2 and 1.3, ALPN `http/1.1`.
    pub fn new(ca: &Path, domain: &str, port: u16) -> Client {
        Client::with(ca, domain, port, rustls::ALL_VERSIONS, &[b"http/1.1"])
    }

    pub fn with(
        ca: &Path,
        domain: &str,
        port: u16,
        versions: &[&'static SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Client {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("protocol versions the provider supports")
            .with_root_certificates(roots(ca));
        Client::finish(builder.with_no_client_auth(), domain, port, alpn)
    }

    /// Like `new`, presenting a client certificate: `identity` is a PEM file with the
    /// certificate (and any chain) and its private key.
    pub fn with_identity(ca: &Path, domain: &str, port: u16, identity: &Path) -> Client {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(identity)
            .expect("identity file")
            .map(|c| c.expect("certificate PEM"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(identity).expect("a private key in the file");
        let config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .expect("protocol versions the provider supports")
            .with_root_certificates(roots(ca))
            .with_client_auth_cert(certs, key)
            .expect("a usable client certificate");
        Client::finish(config, domain, port, &[b"http/1.1"])
    }

    fn finish(mut config: ClientConfig, domain: &str, port: u16, alpn: &[&[u8]]) -> Client {
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Client {
            config: Arc::new(config),
            domain: domain.to_string(),
            port,
        }
    }

    /// `domain:port`, or just `domain` on 443: what a browser puts in Host.
    pub fn authority(&self) -> String {
        if self.port == 443 {
            self.domain.clone()
        } else {
            format!("{}:{}", self.domain, self.port)
        }
    }

    /// A TLS connection with the handshake done.
    pub fn connect(&self) -> io::Result<TlsStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let name = ServerName::try_from(self.domain.clone()).map_err(io::Error::other)?;
        let conn =
            ClientConnection::new(Arc::clone(&self.config), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }

    /// One request on its own connection (`Connection: close`), read to the end.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let mut stream = self.connect()?;
        self.send_head(&mut stream, method, target, headers, body.len())?;
        stream.write_all(body)?;
        stream.flush()?;
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw) {
            Ok(_) => {}
            // nginx may close without close_notify after `Connection: close`.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e),
        }
        parse_response(&raw)
    }

    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[], b"").expect("HTTPS GET")
    }

    /// Writes a request head; `Content-Length` when there is a body.
    pub fn send_head(
        &self,
        stream: &mut TlsStream,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body_len: usize,
    ) -> io::Result<()> {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.authority()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if body_len > 0 {
            head.push_str(&format!("Content-Length: {body_len}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())
    }

    /// A WebSocket handshake on `target` through TLS; the error says what nginx answered.
    pub fn websocket(&self, target: &str) -> Result<WebSocket, String> {
        let stream = self.connect().map_err(|e| e.to_string())?;
        let url = format!("wss://{}{target}", self.authority());
        match tungstenite::client(url.as_str(), stream) {
            Ok((socket, response)) => {
                assert_eq!(response.status().as_u16(), 101);
                Ok(socket)
            }
            Err(tungstenite::HandshakeError::Failure(e)) => Err(e.to_string()),
            Err(tungstenite::HandshakeError::Interrupted(_)) => Err("interrupted".into()),
        }
    }
}

/// aws-lc-rs, named rather than left to the process default: the workspace also builds
/// rustls with ring (for the test app), and with two providers there is no default.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(ca: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA PEM")).unwrap();
    }
    roots
}

/// Parses status line, headers and a body that may be chunked.
pub fn parse_response(raw: &[u8]) -> io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            io::Error::other(format!("no header end: {:?}", String::from_utf8_lossy(raw)))
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            break;
        };
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        body.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
    body
}
