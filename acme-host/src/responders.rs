//! Built-in challenge responders: an http-01 server, a tls-alpn-01 server
//! and a dns-01 hook command. Each serves only the current order's
//! challenges and stops when dropped.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use acme_core::challenge::{
    write_tls_alpn01_certificate, Validity, ACME_TLS_ALPN_PROTOCOL, HTTP01_PATH_PREFIX,
};
use acme_core::client::ChallengeTask;
use acme_core::{Identifier, SoftwareKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::error::HostError;

/// A background accept loop that stops when dropped.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn spawn(
        listener: TcpListener,
        handle: impl Fn(TcpStream) + Send + 'static,
    ) -> Result<Self, HostError> {
        listener
            .set_nonblocking(true)
            .map_err(|e| HostError::Usage(format!("responder: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
                        handle(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, HostError> {
    TcpListener::bind(addr).map_err(|e| {
        let hint = if addr.port() < 1024 {
            "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
        } else {
            ""
        };
        HostError::Usage(format!(
            "cannot listen for {what} on {addr}: {e} (Settings::http01_listen / \
                 tls_alpn01_listen, the tool's --http-listen / --tls-listen){hint}"
        ))
    })
}

type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// The http-01 responder: answers `GET /.well-known/acme-challenge/{token}`
/// with the key authorization, for the tokens it was given, and 404
/// otherwise.
pub(crate) struct Http01Responder {
    tokens: Tokens,
    /// Held for its `Drop`, which stops the accept loop.
    _server: Server,
}

impl Http01Responder {
    /// Listens on `addr`.
    ///
    /// # Errors
    /// [`HostError::Usage`] when the address cannot be bound.
    pub(crate) fn start(addr: SocketAddr) -> Result<Self, HostError> {
        let tokens: Tokens = Arc::default();
        let served = tokens.clone();
        let server = Server::spawn(bind(addr, "http-01")?, move |stream| {
            serve_http01(stream, &served)
        })?;
        Ok(Self {
            tokens,
            _server: server,
        })
    }

    /// Serves `key_authorization` for `token`.
    pub(crate) fn add(&self, token: &str, key_authorization: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.to_owned(), key_authorization.to_owned());
    }

    /// Stops serving `token`.
    pub(crate) fn remove(&self, token: &str) {
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
}

fn serve_http01(mut stream: TcpStream, tokens: &Tokens) {
    let mut buf = [0u8; 2048];
    let mut filled = 0;
    // Serve requests on this connection until it closes.
    loop {
        let path = loop {
            let Some(space) = buf.get_mut(filled..) else {
                return;
            };
            match stream.read(space) {
                Ok(0) | Err(_) => return,
                Ok(n) => filled += n,
            }
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(buf.get(..filled).unwrap_or(&[])) {
                Ok(httparse::Status::Complete(n)) => {
                    let path = request.path.unwrap_or("").to_owned();
                    let method = request.method.unwrap_or("").to_owned();
                    buf.copy_within(n..filled, 0);
                    filled -= n;
                    break (method, path);
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return,
            }
        };
        let (method, path) = path;
        let body = path.strip_prefix(HTTP01_PATH_PREFIX).and_then(|token| {
            tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(token)
                .cloned()
        });
        let response = match (method.as_str(), body) {
            ("GET", Some(ka)) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n{ka}",
                ka.len()
            ),
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
        };
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The tls-alpn-01 responder: a TLS server that negotiates `acme-tls/1`
/// and presents, for each identifier being validated, the certificate
/// acme-core builds (RFC 8737).
pub(crate) struct TlsAlpn01Responder {
    certs: Arc<AlpnCerts>,
    /// Held for its `Drop`, which stops the accept loop.
    _server: Server,
}

#[derive(Debug, Default)]
struct AlpnCerts {
    by_name: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for AlpnCerts {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN_PROTOCOL));
        if !offers_acme {
            return None;
        }
        let name = hello.server_name()?.to_ascii_lowercase();
        self.by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
            .cloned()
    }
}

impl TlsAlpn01Responder {
    /// Listens on `addr`.
    ///
    /// # Errors
    /// [`HostError::Usage`] when the address cannot be bound.
    pub(crate) fn start(addr: SocketAddr) -> Result<Self, HostError> {
        let certs = Arc::new(AlpnCerts::default());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
            .map_err(|e| HostError::Internal(format!("TLS server: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![ACME_TLS_ALPN_PROTOCOL.to_vec()];
        let config = Arc::new(config);
        let server = Server::spawn(bind(addr, "tls-alpn-01")?, move |mut stream| {
            let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            // The validator only needs the handshake.
            while conn.is_handshaking() {
                if conn.complete_io(&mut stream).is_err() {
                    return;
                }
            }
            conn.send_close_notify();
            let _ = conn.complete_io(&mut stream);
        })?;
        Ok(Self {
            certs,
            _server: server,
        })
    }

    /// Presents the validation certificate for `task`'s identifier.
    ///
    /// # Errors
    /// [`HostError::Internal`] if the certificate cannot be built.
    pub(crate) fn add(&self, task: &ChallengeTask<'_>) -> Result<(), HostError> {
        let key = SoftwareKey::generate(&mut rand_core::OsRng);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut der = [0u8; acme_core::challenge::MAX_TLS_ALPN01_CERT_LEN];
        let cert = write_tls_alpn01_certificate(
            &mut der,
            &key,
            &task.identifier,
            &task.key_authorization,
            Validity {
                not_before: now.saturating_sub(3600),
                not_after: now + 7 * 86_400,
            },
        )
        .map_err(|e| HostError::Internal(format!("tls-alpn-01 certificate: {e}")))?;
        let pkcs8 = crate::store::key_pem(&key)?;
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(pkcs8.as_bytes())
            .map_err(|e| HostError::Internal(format!("tls-alpn-01 key: {e}")))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(pkcs8))
            .map_err(|e| HostError::Internal(format!("tls-alpn-01 key: {e}")))?;
        let certified = Arc::new(CertifiedKey::new(
            vec![CertificateDer::from(cert.to_vec())],
            signing,
        ));
        let name = sni_name(&task.identifier);
        self.certs
            .by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, certified);
        Ok(())
    }

    /// Stops presenting a certificate for `task`'s identifier.
    pub(crate) fn remove(&self, task: &ChallengeTask<'_>) {
        self.certs
            .by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&sni_name(&task.identifier));
    }
}

/// The SNI a validator sends: the dns name, or for IP identifiers the
/// reverse-DNS name (RFC 8738 §6).
fn sni_name(identifier: &Identifier<'_>) -> String {
    match identifier {
        Identifier::Dns(name) => name.to_ascii_lowercase(),
        Identifier::Ip(std::net::IpAddr::V4(a)) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        Identifier::Ip(std::net::IpAddr::V6(a)) => {
            let mut name = String::new();
            for byte in a.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name.push_str("ip6.arpa");
            name
        }
    }
}

/// The dns-01 hook: `CMD add|remove NAME VALUE`, waited for.
#[derive(Debug, Clone)]
pub(crate) struct Dns01Hook {
    command: PathBuf,
}

impl Dns01Hook {
    /// A hook running `command`.
    #[must_use]
    pub(crate) fn new(command: impl Into<PathBuf>) -> Self {
        Self {
            command: command.into(),
        }
    }

    /// Runs `command add|remove name value` and waits for it.
    ///
    /// # Errors
    /// [`HostError::Usage`] when the hook cannot run or exits non-zero.
    pub(crate) fn run(&self, action: &str, name: &str, value: &str) -> Result<(), HostError> {
        let status = Command::new(&self.command)
            .args([action, name, value])
            .status()
            .map_err(|e| {
                HostError::Usage(format!(
                    "dns hook {} cannot run: {e} (Settings::dns_hook, the tool's --dns-hook)",
                    self.command.display()
                ))
            })?;
        if !status.success() {
            return Err(HostError::Usage(format!(
                "dns hook {} {action} {name} failed: {status}",
                self.command.display()
            )));
        }
        Ok(())
    }
}

use rustls::pki_types::pem::PemObject as _;
