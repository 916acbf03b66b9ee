//! `/fetch?url=...`: one GET made from inside the container, reported as JSON (the status
//! and body, or the error). `https://` trusts only the roots in the file `SSL_CERT_FILE`
//! names, as the app's own clients do; `http://` is plain.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{Value, json};

/// The report for one URL.
pub fn fetch(url: &str) -> Value {
    match get(url) {
        Ok((status, body)) => json!({ "url": url, "status": status, "body": body }),
        Err(error) => json!({ "url": url, "error": error }),
    }
}

fn get(url: &str) -> Result<(u16, String), String> {
    let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (_, Some(rest)) => (false, rest),
        _ => return Err("only http:// and https:// URLs are fetched".into()),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().map_err(|e| e.to_string())?),
        None => (authority, if tls { 443 } else { 80 }),
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    let tcp = TcpStream::connect((host, port)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let raw = if tls {
        exchange_tls(host, tcp, &request)?
    } else {
        exchange(tcp, &request)?
    };
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {head:?}"))?;
    Ok((status, body.to_string()))
}

fn exchange(mut stream: impl Read + Write, request: &str) -> Result<Vec<u8>, String> {
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return Err(format!("read: {e}"));
    }
    Ok(raw)
}

fn exchange_tls(host: &str, tcp: TcpStream, request: &str) -> Result<Vec<u8>, String> {
    let config = Arc::new(client_config()?);
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let connection = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    exchange(StreamOwned::new(connection, tcp), request).map_err(|e| format!("TLS {e}"))
}

/// A client that trusts exactly the certificates in `SSL_CERT_FILE`.
fn client_config() -> Result<ClientConfig, String> {
    let file = std::env::var("SSL_CERT_FILE").map_err(|_| "SSL_CERT_FILE is not set")?;
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&file).map_err(|e| format!("{file}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{file}: {e}"))?;
        // Bundles carry a few roots that newer parsers refuse; skip those, as OpenSSL does.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(format!("{file} holds no usable certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| e.to_string())
}
