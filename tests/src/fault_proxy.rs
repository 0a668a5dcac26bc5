//! A fault-injecting HTTPS proxy in front of an ACME server (Pebble).
//!
//! Injecting HTTP-level faults needs the plaintext, so the proxy terminates
//! TLS: at start it makes its own CA and a `localhost` / `127.0.0.1` leaf,
//! writes the CA as a PEM file ([`FaultProxy::ca_file`], what the client is
//! given with `--ca-file`), and serves TLS on `127.0.0.1:<ephemeral>`. Each
//! HTTP/1.1 request it reads (framed with httparse: `Content-Length` or
//! chunked) is forwarded over TLS to the upstream, trusting the upstream's
//! CA file, with its `Host` header unchanged. Pebble builds the directory's
//! and every resource's URL from the request's `Host`, so once the client
//! starts at [`FaultProxy::directory_url`], every URL it follows points at
//! the proxy again.
//!
//! A script of [`Rule`]s decides per request what happens
//! ([`Fault`]): forward it; reset the TCP connection before or after
//! forwarding; cut the response mid-body (with or without TLS
//! `close_notify`); stall; answer itself (500, 503 with `Retry-After`, a
//! redirect, anything scripted); send garbage or raw bytes; stream an
//! endless chunked body; or forward and rewrite the answer. Every rule
//! counts the requests it matches; of those due on a request (its `nth`
//! match, or within its first `times`), the first in the script fires, and
//! a request no rule fires on is forwarded.
//!
//! The proxy records every request it read ([`Seen`]): its index, method,
//! path, the fault that fired and whether it reached the upstream, so tests
//! can count, say, the newOrder requests Pebble really got.
//!
//! ```no_run
//! use acme_tests::fault_proxy::{Fault, FaultProxy, Rule};
//! # let pebble = acme_tests::start_pebble_always_valid();
//! let proxy = FaultProxy::start(&pebble.directory_url, &pebble.ca_file).unwrap();
//! // The second newOrder is reset after Pebble has received it.
//! proxy.set_script(vec![Rule::on("POST", "/order-plz", Fault::ResetAfterForwarding).nth(2)]);
//! // run the client against proxy.directory_url() with --ca-file proxy.ca_file() ...
//! assert!(proxy.forwarded("POST", "/order-plz") <= 2);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use der::{Encode as _, EncodePem as _};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection, StreamOwned};
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

/// The largest request or response head the proxy reads.
const MAX_HEAD: usize = 64 * 1024;

/// A response the proxy gives (scripted, or the upstream's one as read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripted {
    /// Status code.
    pub status: u16,
    /// Header fields in order. `Content-Length` and `Transfer-Encoding`
    /// are left out: the proxy frames the body with its own
    /// `Content-Length`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Scripted {
    /// An empty response with `status`.
    #[must_use]
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// An RFC 7807 problem document (`urn:ietf:params:acme:error:<kind>`).
    #[must_use]
    pub fn problem(status: u16, kind: &str, detail: &str) -> Self {
        let body = serde_json::json!({
            "type": format!("urn:ietf:params:acme:error:{kind}"),
            "detail": detail,
            "status": status,
        });
        Self::new(status)
            .header("Content-Type", "application/problem+json")
            .body(body.to_string())
    }

    /// The value of header `name` (case-insensitive), if present.
    #[must_use]
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) header `name`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// The body as text (lossy).
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The bytes on the wire: the body framed by `Content-Length`, or no
    /// body and the headers as they are for the answer to a HEAD request.
    #[must_use]
    pub fn to_bytes(&self, head_request: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status)).into_bytes();
        for (name, value) in &self.headers {
            let framing = name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding");
            if framing && !head_request {
                continue;
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !head_request {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !head_request {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A closure that edits the upstream's answer before the client gets it.
pub type Rewriter = Arc<dyn Fn(&mut Scripted) + Send + Sync>;

/// What the proxy does with one request.
#[derive(Clone)]
pub enum Fault {
    /// Forward it and pass the answer back.
    Forward,
    /// Reset the TCP connection (RST, no TLS alert) without forwarding.
    ResetBeforeForwarding,
    /// Forward it, read the upstream's answer, then reset the connection
    /// without answering: the server acted on the request.
    ResetAfterForwarding,
    /// Forward it, send the answer's head and the first `keep` bytes of its
    /// body, then close the TCP connection without TLS `close_notify`.
    Truncate {
        /// Body bytes sent before the cut.
        keep: usize,
    },
    /// Like [`Fault::Truncate`], but the cut is a clean TLS `close_notify`
    /// followed by a TCP close.
    CloseNotifyMidBody {
        /// Body bytes sent before the close.
        keep: usize,
    },
    /// Neither forward nor answer for this long (or until the proxy
    /// stops), then close the connection.
    Stall(Duration),
    /// Answer this instead of forwarding.
    Respond(Scripted),
    /// Send these bytes instead of an answer, then close the connection.
    Garbage(Vec<u8>),
    /// Send these bytes as the answer (anything, including a malformed or
    /// lying head) and keep the connection open.
    Raw(Vec<u8>),
    /// Answer 200 with a chunked body that never ends: chunks of junk until
    /// the client closes the connection or 256 MiB have gone.
    EndlessChunked,
    /// Forward it, then give the client the answer as edited by the
    /// closure.
    Rewrite(Rewriter),
}

impl Fault {
    /// A short name, for the log.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Forward => "forward",
            Fault::ResetBeforeForwarding => "reset-before",
            Fault::ResetAfterForwarding => "reset-after",
            Fault::Truncate { .. } => "truncate",
            Fault::CloseNotifyMidBody { .. } => "close-notify-mid-body",
            Fault::Stall(_) => "stall",
            Fault::Respond(_) => "respond",
            Fault::Garbage(_) => "garbage",
            Fault::Raw(_) => "raw",
            Fault::EndlessChunked => "endless-chunked",
            Fault::Rewrite(_) => "rewrite",
        }
    }

    /// [`Fault::Respond`] with a 503 problem and `Retry-After: secs`.
    #[must_use]
    pub fn unavailable(retry_after_secs: u32) -> Fault {
        Fault::Respond(
            Scripted::problem(503, "serverInternal", "scripted: try again later")
                .header("Retry-After", &retry_after_secs.to_string()),
        )
    }

    /// [`Fault::Rewrite`] from a closure.
    #[must_use]
    pub fn rewrite(f: impl Fn(&mut Scripted) + Send + Sync + 'static) -> Fault {
        Fault::Rewrite(Arc::new(f))
    }

    /// Whether the request reaches the upstream.
    fn forwards(&self) -> bool {
        matches!(
            self,
            Fault::Forward
                | Fault::ResetAfterForwarding
                | Fault::Truncate { .. }
                | Fault::CloseNotifyMidBody { .. }
                | Fault::Rewrite(_)
        )
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Truncate { keep } | Fault::CloseNotifyMidBody { keep } => {
                write!(f, "{}(keep {keep})", self.name())
            }
            Fault::Stall(d) => write!(f, "stall({d:?})"),
            Fault::Respond(s) => write!(f, "respond({})", s.status),
            Fault::Garbage(b) | Fault::Raw(b) => write!(f, "{}({} bytes)", self.name(), b.len()),
            other => f.write_str(other.name()),
        }
    }
}

/// Which requests a rule takes, and which of those it fires on.
#[derive(Debug, Clone)]
pub struct Rule {
    method: Option<String>,
    path_contains: Option<String>,
    index: Option<usize>,
    nth: Option<usize>,
    times: Option<usize>,
    fault: Fault,
    matched: usize,
    fired: usize,
}

impl Rule {
    /// Every request with `method` (`""`: any) whose path contains
    /// `path_contains` (`""`: any path).
    #[must_use]
    pub fn on(method: &str, path_contains: &str, fault: Fault) -> Rule {
        Rule {
            method: (!method.is_empty()).then(|| method.to_owned()),
            path_contains: (!path_contains.is_empty()).then(|| path_contains.to_owned()),
            index: None,
            nth: None,
            times: None,
            fault,
            matched: 0,
            fired: 0,
        }
    }

    /// Every request.
    #[must_use]
    pub fn any(fault: Fault) -> Rule {
        Rule::on("", "", fault)
    }

    /// Only the request with this index (0-based, counted over every
    /// request the proxy read since it started).
    #[must_use]
    pub fn request_index(index: usize, fault: Fault) -> Rule {
        let mut rule = Rule::any(fault);
        rule.index = Some(index);
        rule
    }

    /// Fires only on the `n`-th request the rule matches (1-based).
    #[must_use]
    pub fn nth(mut self, n: usize) -> Rule {
        self.nth = Some(n);
        self
    }

    /// Fires on the first `n` requests the rule matches only.
    #[must_use]
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    fn matches(&self, index: usize, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self.index.is_none_or(|i| i == index)
    }

    /// Counts a matching request; true when the rule is due to fire on
    /// it.
    fn count(&mut self) -> bool {
        self.matched += 1;
        self.nth.is_none_or(|n| n == self.matched) && self.times.is_none_or(|t| self.fired < t)
    }

    /// Counts a matching request and fires when due (the unit tests').
    #[cfg(test)]
    fn take(&mut self) -> bool {
        let due = self.count();
        if due {
            self.fired += 1;
        }
        due
    }
}

/// One request the proxy read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Index over every request since the proxy started (0-based).
    pub index: usize,
    /// Client connection number (0-based).
    pub connection: u64,
    /// Method.
    pub method: String,
    /// Request target (path and query).
    pub path: String,
    /// The `Host` header, as the client sent it.
    pub host: String,
    /// The fault's name ([`Fault::name`]); `"forward"` when no rule fired.
    pub fault: &'static str,
    /// Whether the request reached the upstream.
    pub forwarded: bool,
    /// The status the upstream answered, when it was forwarded and
    /// answered.
    pub upstream_status: Option<u16>,
}

struct Shared {
    upstream: SocketAddr,
    upstream_name: ServerName<'static>,
    client_tls: Arc<ClientConfig>,
    server_tls: Arc<ServerConfig>,
    script: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Seen>>,
    next_request: AtomicUsize,
    next_connection: AtomicU64,
    stopping: AtomicBool,
    open: Mutex<HashMap<u64, TcpStream>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running proxy; stopped (every connection cut, its files removed) when
/// dropped.
pub struct FaultProxy {
    local: SocketAddr,
    dir: PathBuf,
    ca_file: PathBuf,
    upstream_directory: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("local", &self.local)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

fn other(e: impl fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl FaultProxy {
    /// Starts a proxy in front of the ACME server whose directory is
    /// `upstream_directory` (an `https://` URL), trusting the CA
    /// certificates in `upstream_ca_file` for it. Until a script is set it
    /// forwards everything.
    ///
    /// # Errors
    /// When the URL is unusable or a socket, file or TLS setup fails.
    pub fn start(upstream_directory: &str, upstream_ca_file: &Path) -> io::Result<FaultProxy> {
        let rest = upstream_directory
            .strip_prefix("https://")
            .ok_or_else(|| other("the upstream directory must be https://"))?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| other("the upstream URL needs a port"))?;
        let port: u16 = port.parse().map_err(other)?;
        let upstream = (host, port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| other("upstream host has no address"))?;
        let upstream_name = ServerName::try_from(host.to_owned()).map_err(other)?;
        let client_tls = crate::client_tls(upstream_ca_file)?;

        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let local = listener.local_addr()?;
        let dir = std::env::temp_dir().join(format!(
            "acme-fault-proxy-{}-{}",
            std::process::id(),
            local.port()
        ));
        std::fs::create_dir_all(&dir)?;
        let (ca_pem, leaf_der, key_der) = proxy_certificates().map_err(other)?;
        let ca_file = dir.join("proxy-ca.pem");
        std::fs::write(&ca_file, ca_pem)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server_tls = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(other)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
            )
            .map_err(other)?;
        server_tls.alpn_protocols = vec![b"http/1.1".to_vec()];

        let shared = Arc::new(Shared {
            upstream,
            upstream_name,
            client_tls,
            server_tls: Arc::new(server_tls),
            script: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            next_request: AtomicUsize::new(0),
            next_connection: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
        });
        let for_acceptor = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("fault-proxy-accept".into())
            .spawn(move || accept_loop(&listener, &for_acceptor))?;
        Ok(FaultProxy {
            local,
            dir,
            ca_file,
            upstream_directory: upstream_directory.to_owned(),
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The PEM file of the proxy's own CA: give it to the client as its CA
    /// file.
    #[must_use]
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The upstream's directory URL with its authority replaced by the
    /// proxy's (`localhost:<port>`).
    #[must_use]
    pub fn directory_url(&self) -> String {
        let rest = self
            .upstream_directory
            .strip_prefix("https://")
            .unwrap_or_default();
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        format!("https://localhost:{}{path}", self.local.port())
    }

    /// Replaces the script (and forgets how often the old rules fired).
    pub fn set_script(&self, rules: Vec<Rule>) {
        *lock(&self.shared.script) = rules;
    }

    /// Every request read so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.shared.log).clone()
    }

    /// How many requests with `method` (`""`: any) and a path containing
    /// `path_contains` reached the upstream.
    #[must_use]
    pub fn forwarded(&self, method: &str, path_contains: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|s| {
                s.forwarded
                    && (method.is_empty() || s.method == method)
                    && s.path.contains(path_contains)
            })
            .count()
    }

    /// How many requests a fault other than forwarding was applied to.
    #[must_use]
    pub fn faults_fired(&self) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|s| s.fault != "forward")
            .count()
    }

    /// The log as text, one request a line, for assertion messages.
    #[must_use]
    pub fn describe(&self) -> String {
        lock(&self.shared.log)
            .iter()
            .map(|s| {
                format!(
                    "#{} conn {} {} {}{} -> {}{}\n",
                    s.index,
                    s.connection,
                    s.method,
                    s.host,
                    s.path,
                    s.fault,
                    s.upstream_status
                        .map_or_else(String::new, |st| format!(" (upstream {st})"))
                )
            })
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.local);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in std::mem::take(&mut *lock(&self.shared.open)).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let id = shared.next_connection.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        if let Ok(clone) = client.try_clone() {
            lock(&shared.open).insert(id, clone);
        }
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name(format!("fault-proxy-{id}"))
            .spawn(move || {
                serve(&shared, id, client);
                lock(&shared.open).remove(&id);
            });
    }
}

type ServerStream = StreamOwned<ServerConnection, TcpStream>;
type UpstreamStream = StreamOwned<ClientConnection, TcpStream>;

/// A request as read from the client.
struct Request {
    method: String,
    path: String,
    host: String,
    /// The whole request, re-framed with `Content-Length`.
    wire: Vec<u8>,
    close: bool,
}

/// Serves one client connection until it closes or a fault ends it.
fn serve(shared: &Shared, connection: u64, tcp: TcpStream) {
    let Ok(conn) = ServerConnection::new(Arc::clone(&shared.server_tls)) else {
        return;
    };
    let mut client = StreamOwned::new(conn, tcp);
    let mut upstream: Option<UpstreamStream> = None;
    let mut pending = Vec::new();
    loop {
        let Ok(Some(request)) = read_request(&mut client, &mut pending) else {
            return;
        };
        let index = shared.next_request.fetch_add(1, Ordering::SeqCst);
        let fault = pick(&mut lock(&shared.script), index, &request);
        let slot = {
            let mut log = lock(&shared.log);
            log.push(Seen {
                index,
                connection,
                method: request.method.clone(),
                path: request.path.clone(),
                host: request.host.clone(),
                fault: fault.name(),
                forwarded: fault.forwards(),
                upstream_status: None,
            });
            log.len() - 1
        };
        let head = request.method == "HEAD";
        let answer = if fault.forwards() {
            match forward(shared, &mut upstream, &request) {
                Ok(answer) => {
                    if let Some(seen) = lock(&shared.log).get_mut(slot) {
                        seen.upstream_status = Some(answer.status);
                    }
                    Some(answer)
                }
                Err(_) => {
                    // The upstream failed: the client sees a 502.
                    let bad = Scripted::problem(502, "serverInternal", "proxy: upstream failed");
                    if client.write_all(&bad.to_bytes(head)).is_err() {
                        return;
                    }
                    continue;
                }
            }
        } else {
            None
        };
        let keep_open = match (fault, answer) {
            (Fault::Forward, Some(answer)) => client.write_all(&answer.to_bytes(head)).is_ok(),
            (Fault::Rewrite(edit), Some(mut answer)) => {
                edit(&mut answer);
                client.write_all(&answer.to_bytes(head)).is_ok()
            }
            (Fault::Respond(scripted), _) => client.write_all(&scripted.to_bytes(head)).is_ok(),
            (Fault::Raw(bytes), _) => client.write_all(&bytes).is_ok(),
            (Fault::ResetBeforeForwarding | Fault::ResetAfterForwarding, _) => {
                reset(&client.sock);
                false
            }
            (Fault::Truncate { keep }, Some(answer)) => {
                let _ = client.write_all(&cut(&answer, keep));
                let _ = client.flush();
                let _ = client.sock.shutdown(Shutdown::Both);
                false
            }
            (Fault::CloseNotifyMidBody { keep }, Some(answer)) => {
                let _ = client.write_all(&cut(&answer, keep));
                client.conn.send_close_notify();
                let _ = client.flush();
                let _ = client.sock.shutdown(Shutdown::Write);
                // Let the client read what was sent before the socket goes.
                std::thread::sleep(Duration::from_millis(200));
                false
            }
            (Fault::Stall(how_long), _) => {
                let until = Instant::now() + how_long;
                while Instant::now() < until && !shared.stopping.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                false
            }
            (Fault::Garbage(bytes), _) => {
                let _ = client.write_all(&bytes);
                let _ = client.flush();
                std::thread::sleep(Duration::from_millis(100));
                let _ = client.sock.shutdown(Shutdown::Both);
                false
            }
            (Fault::EndlessChunked, _) => {
                endless_chunked(&mut client, shared);
                false
            }
            _ => false,
        };
        if !keep_open || request.close {
            let _ = client.flush();
            return;
        }
    }
}

/// Every rule that matches counts the request (so `nth` is about the
/// requests a rule matches, whatever the other rules do); the first one
/// due fires.
fn pick(rules: &mut [Rule], index: usize, request: &Request) -> Fault {
    let mut chosen: Option<usize> = None;
    for (i, rule) in rules.iter_mut().enumerate() {
        if rule.matches(index, &request.method, &request.path) && rule.count() && chosen.is_none() {
            chosen = Some(i);
        }
    }
    match chosen.and_then(|i| rules.get_mut(i)) {
        Some(rule) => {
            rule.fired += 1;
            rule.fault.clone()
        }
        None => Fault::Forward,
    }
}

/// The answer's head and the first `keep` bytes of its body.
fn cut(answer: &Scripted, keep: usize) -> Vec<u8> {
    let mut bytes = answer.to_bytes(false);
    let head_len = bytes.len() - answer.body.len();
    bytes.truncate(head_len + keep.min(answer.body.len().saturating_sub(1)));
    bytes
}

/// Makes the kernel send RST instead of FIN when the socket closes.
fn reset(tcp: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(tcp, nix::sys::socket::sockopt::Linger, &linger);
    // The descriptor is closed when the connection's stream is dropped
    // (and the clone kept for stopping is shut down below).
    let _ = tcp.shutdown(Shutdown::Read);
}

fn endless_chunked(client: &mut ServerStream, shared: &Shared) {
    let head =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if client.write_all(head).is_err() {
        return;
    }
    let chunk = format!("1000\r\n{}\r\n", "[".repeat(0x1000));
    let mut sent = 0usize;
    while sent < 256 * 1024 * 1024 && !shared.stopping.load(Ordering::SeqCst) {
        if client.write_all(chunk.as_bytes()).is_err() {
            return;
        }
        sent += chunk.len();
    }
}

/// Finds the end of an HTTP head (`\r\n\r\n`) in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Reads more bytes into `buf`; false at end of stream.
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// Reads until `buf` holds a whole head; returns its length.
fn read_head(stream: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    loop {
        if let Some(end) = head_end(buf) {
            return Ok(Some(end));
        }
        if buf.len() > MAX_HEAD {
            return Err(other("head too large"));
        }
        if !fill(stream, buf)? {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(other("stream ended inside a head"))
            };
        }
    }
}

/// Reads a body framed by `Content-Length: len` that starts at `buf[start..]`;
/// returns it and leaves what follows in `buf`.
fn read_sized(
    stream: &mut impl Read,
    buf: &mut Vec<u8>,
    start: usize,
    len: usize,
) -> io::Result<Vec<u8>> {
    while buf.len() < start + len {
        if !fill(stream, buf)? {
            return Err(other("stream ended inside a body"));
        }
    }
    let body = buf[start..start + len].to_vec();
    buf.drain(..start + len);
    Ok(body)
}

/// Decodes a chunked body that starts at `buf[start..]`; returns it and
/// leaves what follows (after the trailers) in `buf`.
fn read_chunked(stream: &mut impl Read, buf: &mut Vec<u8>, start: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut at = start;
    loop {
        let line_end = loop {
            if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                break at + i;
            }
            if !fill(stream, buf)? {
                return Err(other("stream ended inside a chunk size"));
            }
        };
        let line = std::str::from_utf8(&buf[at..line_end]).map_err(other)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(other)?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    let empty = i == 0;
                    at += i + 2;
                    if empty {
                        buf.drain(..at);
                        return Ok(body);
                    }
                    continue;
                }
                if !fill(stream, buf)? {
                    return Err(other("stream ended inside trailers"));
                }
            }
        }
        while buf.len() < at + size + 2 {
            if !fill(stream, buf)? {
                return Err(other("stream ended inside a chunk"));
            }
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

/// How a message's body is framed.
enum Framing {
    None,
    Sized(usize),
    Chunked,
    UntilClose,
}

fn framing(headers: &[httparse::Header<'_>], default: Framing) -> io::Result<Framing> {
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return if String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
            {
                Ok(Framing::Chunked)
            } else {
                Err(other("unsupported transfer-encoding"))
            };
        }
    }
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let len = std::str::from_utf8(h.value)
                .map_err(other)?
                .trim()
                .parse()
                .map_err(other)?;
            return Ok(Framing::Sized(len));
        }
    }
    Ok(default)
}

/// Reads one request from the client; `None` when it closed between
/// requests.
fn read_request(stream: &mut ServerStream, buf: &mut Vec<u8>) -> io::Result<Option<Request>> {
    let Some(head_len) = read_head(stream, buf)? else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    let status = parsed.parse(&buf[..head_len]).map_err(other)?;
    if status.is_partial() {
        return Err(other("partial request head"));
    }
    let method = parsed.method.unwrap_or_default().to_owned();
    let path = parsed.path.unwrap_or_default().to_owned();
    let version = parsed.version.unwrap_or(1);
    let mut close = version == 0;
    let mut host = String::new();
    let mut head = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for h in parsed.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            host = String::from_utf8_lossy(h.value).into_owned();
        }
        if name.eq_ignore_ascii_case("connection") {
            close = String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("close");
        }
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("connection")
        {
            continue;
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(h.value);
        head.extend_from_slice(b"\r\n");
    }
    let framing = framing(parsed.headers, Framing::None)?;
    let body = match framing {
        Framing::None | Framing::UntilClose => {
            buf.drain(..head_len);
            Vec::new()
        }
        Framing::Sized(len) => read_sized(stream, buf, head_len, len)?,
        Framing::Chunked => read_chunked(stream, buf, head_len)?,
    };
    if !body.is_empty() || method == "POST" {
        head.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(&body);
    Ok(Some(Request {
        method,
        path,
        host,
        wire: head,
        close,
    }))
}

/// Sends the request upstream (reconnecting once when a kept-alive
/// connection turns out closed) and reads the answer.
fn forward(
    shared: &Shared,
    upstream: &mut Option<UpstreamStream>,
    request: &Request,
) -> io::Result<Scripted> {
    let reused = upstream.is_some();
    match forward_once(shared, upstream, request) {
        Ok(answer) => Ok(answer),
        Err(_) if reused => {
            *upstream = None;
            forward_once(shared, upstream, request)
        }
        Err(e) => {
            *upstream = None;
            Err(e)
        }
    }
}

/// GETs an `https://host:port/path` URL on a new connection that trusts
/// only `ca_file`, with `Connection: close`, reading the answer with the
/// proxy's own HTTP/1.1 reader: the status and body. For checking the
/// proxy from outside.
///
/// # Errors
/// Any I/O, TLS or framing failure (a reset, a truncated answer, one that
/// is not HTTP/1.1).
pub fn https_get(ca_file: &Path, url: &str) -> io::Result<(u16, String)> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| other("not https"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.rsplit_once(':').ok_or_else(|| other("no port"))?;
    let tcp = TcpStream::connect((host, port.parse::<u16>().map_err(other)?))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from(host.to_owned()).map_err(other)?;
    let connection = ClientConnection::new(crate::client_tls(ca_file)?, name).map_err(other)?;
    let mut tls = StreamOwned::new(connection, tcp);
    let path = if path.is_empty() { "/" } else { path };
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    let head_len =
        read_head(&mut tls, &mut buf)?.ok_or_else(|| other("closed before answering"))?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&buf[..head_len]).map_err(other)?;
    let status = parsed.code.ok_or_else(|| other("no status"))?;
    let body = match framing(parsed.headers, Framing::UntilClose)? {
        Framing::None => Vec::new(),
        Framing::Sized(len) => read_sized(&mut tls, &mut buf, head_len, len)?,
        Framing::Chunked => read_chunked(&mut tls, &mut buf, head_len)?,
        Framing::UntilClose => {
            // The proxy may close without close_notify: that ends the body.
            loop {
                match fill(&mut tls, &mut buf) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            buf[head_len..].to_vec()
        }
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn forward_once(
    shared: &Shared,
    upstream: &mut Option<UpstreamStream>,
    request: &Request,
) -> io::Result<Scripted> {
    if upstream.is_none() {
        let tcp = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(10))?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_nodelay(true)?;
        let conn =
            ClientConnection::new(Arc::clone(&shared.client_tls), shared.upstream_name.clone())
                .map_err(other)?;
        *upstream = Some(StreamOwned::new(conn, tcp));
    }
    let Some(stream) = upstream.as_mut() else {
        return Err(other("no upstream"));
    };
    stream.write_all(&request.wire)?;
    stream.flush()?;
    let mut buf = Vec::new();
    let Some(head_len) = read_head(stream, &mut buf)? else {
        return Err(other("upstream closed"));
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&buf[..head_len]).map_err(other)?;
    let status = parsed.code.unwrap_or(0);
    let mut fields = Vec::new();
    let mut close = false;
    for h in parsed.headers.iter() {
        let value = String::from_utf8_lossy(h.value).into_owned();
        if h.name.eq_ignore_ascii_case("connection") {
            close = value.to_ascii_lowercase().contains("close");
            continue;
        }
        fields.push((h.name.to_owned(), value));
    }
    let no_body = request.method == "HEAD" || status == 204 || status == 304 || status < 200;
    let framing = if no_body {
        Framing::None
    } else {
        framing(parsed.headers, Framing::UntilClose)?
    };
    let body = match framing {
        Framing::None => Vec::new(),
        Framing::Sized(len) => read_sized(stream, &mut buf, head_len, len)?,
        Framing::Chunked => read_chunked(stream, &mut buf, head_len)?,
        Framing::UntilClose => {
            while fill(stream, &mut buf)? {}
            close = true;
            buf[head_len..].to_vec()
        }
    };
    if close {
        *upstream = None;
    }
    if request.method != "HEAD" {
        fields.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("content-length")
                && !n.eq_ignore_ascii_case("transfer-encoding")
        });
    }
    Ok(Scripted {
        status,
        headers: fields,
        body,
    })
}

/// The proxy's CA (PEM) and a `localhost` / `127.0.0.1` leaf it signs (DER)
/// with that leaf's PKCS#8 key (DER).
fn proxy_certificates() -> Result<(String, Vec<u8>, Vec<u8>), String> {
    let e = |e: &dyn fmt::Display| format!("proxy CA: {e}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|x| e(&x))?
        .as_secs();
    let time = |t: u64| {
        der::asn1::UtcTime::from_unix_duration(Duration::from_secs(t))
            .map(x509_cert::time::Time::UtcTime)
            .map_err(|x| e(&x))
    };
    let validity = Validity {
        not_before: time(now - 3600)?,
        not_after: time(now + 7 * 86_400)?,
    };
    let ca_key = SigningKey::random(&mut rand_core::OsRng);
    let ca_name: Name = "CN=acme-tests fault proxy CA".parse().map_err(|x| e(&x))?;
    let ca_spki =
        SubjectPublicKeyInfoOwned::from_key(*ca_key.verifying_key()).map_err(|x| e(&x))?;
    let ca = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::new(&[1]).map_err(|x| e(&x))?,
        validity,
        ca_name.clone(),
        ca_spki,
        &ca_key,
    )
    .map_err(|x| e(&x))?
    .build::<p256::ecdsa::DerSignature>()
    .map_err(|x| e(&x))?;
    let leaf_key = SigningKey::random(&mut rand_core::OsRng);
    let leaf_spki =
        SubjectPublicKeyInfoOwned::from_key(*leaf_key.verifying_key()).map_err(|x| e(&x))?;
    let mut leaf = CertificateBuilder::new(
        Profile::Leaf {
            issuer: ca_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        SerialNumber::new(&[2]).map_err(|x| e(&x))?,
        validity,
        "CN=localhost".parse().map_err(|x| e(&x))?,
        leaf_spki,
        &ca_key,
    )
    .map_err(|x| e(&x))?;
    leaf.add_extension(&SubjectAltName(vec![
        GeneralName::DnsName(der::asn1::Ia5String::new("localhost").map_err(|x| e(&x))?),
        GeneralName::IpAddress(der::asn1::OctetString::new(vec![127, 0, 0, 1]).map_err(|x| e(&x))?),
    ]))
    .map_err(|x| e(&x))?;
    leaf.add_extension(&ExtendedKeyUsage(vec![
        der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1"),
    ]))
    .map_err(|x| e(&x))?;
    let leaf = leaf
        .build::<p256::ecdsa::DerSignature>()
        .map_err(|x| e(&x))?;
    let ca_pem = ca.to_pem(der::pem::LineEnding::LF).map_err(|x| e(&x))?;
    let key = leaf_key.to_pkcs8_der().map_err(|x| e(&x))?;
    Ok((
        ca_pem,
        leaf.to_der().map_err(|x| e(&x))?,
        key.as_bytes().to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_on_the_nth_match_and_a_bounded_number_of_times() {
        let mut second = Rule::on("POST", "/order-plz", Fault::ResetBeforeForwarding).nth(2);
        let mut twice = Rule::on("", "/authZ/", Fault::Forward).times(2);
        let mut at_index = Rule::request_index(3, Fault::Forward);
        assert!(!second.matches(0, "GET", "/order-plz"));
        assert!(second.matches(0, "POST", "/order-plz"));
        let fired: Vec<bool> = (0..3).map(|_| second.take()).collect();
        assert_eq!(fired, [false, true, false]);
        assert!(twice.matches(7, "POST", "/authZ/abc"));
        let fired: Vec<bool> = (0..3).map(|_| twice.take()).collect();
        assert_eq!(fired, [true, true, false]);
        assert!(at_index.matches(3, "HEAD", "/nonce-plz"));
        assert!(!at_index.matches(4, "HEAD", "/nonce-plz"));
        assert!(at_index.take());
    }

    #[test]
    fn requests_are_reframed_and_chunked_bodies_decoded() {
        let wire = b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext\r\nde\r\n0\r\nT: 1\r\n\r\nGET /next";
        let mut buf = Vec::new();
        let mut stream = &wire[..];
        let head = read_head(&mut stream, &mut buf).unwrap().unwrap();
        let body = read_chunked(&mut stream, &mut buf, head).unwrap();
        assert_eq!(body, b"abcde");
        assert_eq!(buf, b"GET /next");

        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbodyrest";
        let mut buf = Vec::new();
        let mut stream = &wire[..];
        let head = read_head(&mut stream, &mut buf).unwrap().unwrap();
        assert_eq!(read_sized(&mut stream, &mut buf, head, 4).unwrap(), b"body");
        assert_eq!(buf, b"rest");

        let mut stream = &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"[..];
        let mut buf = Vec::new();
        let head = read_head(&mut stream, &mut buf).unwrap().unwrap();
        assert!(read_sized(&mut stream, &mut buf, head, 9).is_err());
    }

    #[test]
    fn scripted_answers_are_framed_by_content_length() {
        let answer = Scripted::new(200)
            .header("Content-Length", "999")
            .header("Replay-Nonce", "n")
            .body("{}");
        let text = String::from_utf8(answer.to_bytes(false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nReplay-Nonce: n\r\nContent-Length: 2\r\n\r\n{}"
        );
        let cut_short = String::from_utf8(cut(&answer, 1)).unwrap();
        assert!(cut_short.ends_with("\r\n\r\n{"), "{cut_short}");
        let head = String::from_utf8(answer.to_bytes(true)).unwrap();
        assert!(head.contains("Content-Length: 999") && head.ends_with("\r\n\r\n"));
    }
}
