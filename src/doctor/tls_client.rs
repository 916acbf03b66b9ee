//! A TLS client that trusts only our CA (rustls), connected to nginx on this machine with
//! the domain in SNI and Host, as a browser would be: it keeps the certificate the server
//! presented, and says in plain words why a certificate was refused.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme, StreamOwned};

use crate::access::probe::Probe;

pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// How long any one step may take before the check gives up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A verifier that checks as the web PKI does against our CA alone, and keeps the
/// certificate the server presented so a failure can say which one it was.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn verifier(ca_der: &[u8]) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))
}

/// Checks a leaf as a client trusting only `ca_der` would, for `domain`, now.
pub fn verify_leaf(ca_der: &[u8], leaf_der: &[u8], domain: &str) -> Result<(), rustls::Error> {
    let name = ServerName::try_from(domain.to_string())
        .map_err(|e| rustls::Error::General(e.to_string()))?;
    verifier(ca_der)?
        .verify_server_cert(
            &CertificateDer::from(leaf_der.to_vec()),
            &[],
            &name,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

/// Why a certificate was refused, in the words a user can act on.
pub fn explain(err: &rustls::Error, domain: &str, leaf: &str) -> String {
    let rustls::Error::InvalidCertificate(cert) = err else {
        return format!("the TLS handshake failed: {err}");
    };
    match cert {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            format!("unknown CA: the certificate was not issued by our CA ({leaf})")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("name mismatch: the certificate does not cover {domain} ({leaf})")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("expired: the certificate is past its end ({leaf})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("not yet valid: check this machine's clock ({leaf})")
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("the certificate is not for TLS servers (no serverAuth) ({leaf})")
        }
        other => format!("the certificate was refused: {other:?} ({leaf})"),
    }
}

/// A client for the site on this machine's nginx.
pub struct Client {
    config: Arc<ClientConfig>,
    recording: Arc<Recording>,
    domain: String,
    port: u16,
    /// The `Authorization` header every request carries (access.mode = "password").
    authorization: Option<String>,
}

impl Client {
    /// A client that presents ohproxy's own credentials, so it passes access control.
    pub fn with_probe(
        ca_der: &[u8],
        domain: &str,
        port: u16,
        probe: &Probe,
    ) -> Result<Client, rustls::Error> {
        let recording = Arc::new(Recording {
            inner: verifier(ca_der)?,
            seen: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(recording.clone());
        let mut config = match probe {
            Probe::ClientCert { cert_pem, key_pem } => {
                let bad = |e: rustls::pki_types::pem::Error| {
                    rustls::Error::General(format!("ohproxy's client certificate: {e}"))
                };
                let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(bad)?;
                config.with_client_auth_cert(certs, key)?
            }
            _ => config.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let authorization = match probe {
            Probe::Basic { header, .. } => Some(header.clone()),
            _ => None,
        };
        Ok(Client {
            config: Arc::new(config),
            recording,
            domain: domain.to_string(),
            port,
            authorization,
        })
    }

    /// The `Authorization` header value this client sends, if any.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// `domain[:port]`, as a browser puts it in Host.
    pub fn authority(&self) -> String {
        if self.port == 443 {
            self.domain.clone()
        } else {
            format!("{}:{}", self.domain, self.port)
        }
    }

    /// The certificate the server presented in the last handshake.
    pub fn served(&self) -> Option<Vec<u8>> {
        self.recording
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A connection to 127.0.0.1 with the handshake done.
    pub fn connect(&self) -> io::Result<TlsStream> {
        let tcp = TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), TIMEOUT)?;
        tcp.set_read_timeout(Some(TIMEOUT))?;
        tcp.set_write_timeout(Some(TIMEOUT))?;
        let name = ServerName::try_from(self.domain.clone()).map_err(io::Error::other)?;
        let conn =
            ClientConnection::new(Arc::clone(&self.config), name).map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok(stream)
    }

    /// A GET on its own connection: the status and the start of the body.
    pub fn get(&self, target: &str) -> io::Result<(u16, String)> {
        let mut stream = self.connect()?;
        let auth = self
            .authorization
            .as_ref()
            .map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{auth}\r\n",
            self.authority()
        );
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        match stream.read_to_end(&mut raw) {
            Ok(_) => {}
            // nginx may close without close_notify after `Connection: close`.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
            Err(e) => return Err(e),
        }
        let text = String::from_utf8_lossy(&raw);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("not an HTTP response: {:.80}", text)))?;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        Ok((status, body.chars().take(200).collect()))
    }
}

/// The rustls error inside an I/O error, if that is what it is.
pub fn tls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}
