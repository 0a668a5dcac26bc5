//! One persistent keep-alive HTTPS connection for a whole flow, carrying
//! the bytes acme-core's HTTP/1.1 codec writes and reads. If the server
//! closes it, the next request reconnects.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use acme_core::http::{probe_response, read_response, HttpError, ReadStatus, Response};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::error::HostError;

/// Counters for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// TCP connections opened (each with one TLS handshake).
    pub connections: u32,
    /// Requests written.
    pub requests: u32,
    /// Bytes of HTTP written (before TLS).
    pub bytes_sent: u64,
    /// Bytes of HTTP read (before TLS).
    pub bytes_received: u64,
}

struct Open {
    host: String,
    port: u16,
    stream: StreamOwned<ClientConnection, TcpStream>,
}

/// The HTTPS transport.
pub(crate) struct Transport {
    config: Arc<ClientConfig>,
    open: Option<Open>,
    rx: Vec<u8>,
    io_timeout: Duration,
    /// Counters.
    pub stats: TransportStats,
    /// When set, every request and response is written here as
    /// `NNN-request.bin` / `NNN-response.bin` (for test corpora and
    /// transcripts).
    record_dir: Option<std::path::PathBuf>,
    /// Test hook: SIGKILL this process once this many requests have been
    /// written, before the last one's answer is read.
    kill_after_sending: Option<u32>,
}

/// Test hook, off unless this variable is set: with
/// `ACME_TEST_KILL_AFTER_SENDING=k` the process sends itself SIGKILL as soon
/// as its k-th request has been written to the socket, before the answer is
/// read: the server acts on a request whose answer the client never sees.
/// `tests/tests/kill.rs` uses it for every k. Not meant for anything but
/// tests.
pub(crate) const TEST_HOOK_KILL_AFTER_SENDING: &str = "ACME_TEST_KILL_AFTER_SENDING";

/// The [`TEST_HOOK_KILL_AFTER_SENDING`] request number, read only in builds
/// with the `test-hooks` feature: a library must not be made to kill its
/// process by an environment variable.
fn kill_after_sending_hook() -> Option<u32> {
    if cfg!(feature = "test-hooks") {
        std::env::var(TEST_HOOK_KILL_AFTER_SENDING)
            .ok()
            .and_then(|v| v.trim().parse().ok())
    } else {
        None
    }
}

impl Transport {
    /// A transport with a receive buffer of `rx_len` bytes; each socket
    /// read or write waits at most `io_timeout`.
    #[must_use]
    pub(crate) fn new(config: Arc<ClientConfig>, rx_len: usize, io_timeout: Duration) -> Self {
        Self {
            config,
            open: None,
            rx: vec![0; rx_len],
            io_timeout,
            stats: TransportStats::default(),
            record_dir: None,
            kill_after_sending: kill_after_sending_hook(),
        }
    }

    /// Records every exchange into `dir` (created if needed).
    pub(crate) fn record_to(&mut self, dir: impl Into<std::path::PathBuf>) {
        let dir = dir.into();
        let _ = std::fs::create_dir_all(&dir);
        self.record_dir = Some(dir);
    }

    fn connect(&mut self, host: &str, port: u16, deadline: Instant) -> Result<(), HostError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<_> = (bare, port)
            .to_socket_addrs()
            .map_err(|e| HostError::Network(format!("resolving {host}: {e}")))?
            .collect();
        let timeout = self
            .io_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1))) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            HostError::Network(format!(
                "connecting to {host}:{port}: {}",
                last.map_or_else(|| "no address".to_owned(), |e| e.to_string())
            ))
        })?;
        tcp.set_read_timeout(Some(self.io_timeout)).ok();
        tcp.set_write_timeout(Some(self.io_timeout)).ok();
        tcp.set_nodelay(true).ok();
        let name = ServerName::try_from(bare.to_owned())
            .map_err(|e| HostError::Usage(format!("server name {host}: {e}")))?;
        let conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| HostError::Network(format!("TLS to {host}: {e}")))?;
        self.stats.connections += 1;
        log::debug!("connected to {host}:{port}");
        self.open = Some(Open {
            host: host.to_owned(),
            port,
            stream: StreamOwned::new(conn, tcp),
        });
        Ok(())
    }

    /// Drops the connection (the next request reconnects).
    pub(crate) fn close(&mut self) {
        if let Some(mut open) = self.open.take() {
            open.stream.conn.send_close_notify();
            let _ = open.stream.flush();
        }
    }

    /// Sends `request` to `host:port` and reads the whole response, which
    /// borrows the receive buffer. A kept-alive connection the server has
    /// closed is reopened and the request sent once more.
    ///
    /// # Errors
    /// [`HostError::Network`] for connection, TLS, timeout and framing
    /// failures.
    pub(crate) fn round_trip(
        &mut self,
        host: &str,
        port: u16,
        request: &[u8],
        head: bool,
        deadline: Instant,
    ) -> Result<Response<'_>, HostError> {
        let mut reusable = self
            .open
            .as_mut()
            .is_some_and(|o| o.host == host && o.port == port && still_open(o));
        if !reusable {
            if self.open.is_some() {
                log::debug!("the kept-alive connection is closed or unusable; reconnecting");
            }
            self.close();
            self.connect(host, port, deadline)?;
            reusable = false;
        }
        // Only a request that may safely reach the server twice is sent
        // again on a fresh connection. A POST (every JWS request) may have
        // been acted on before the connection broke: its failure goes back
        // to the client, which knows what is safe to repeat (and that the
        // nonce it carried is spent).
        let repeatable = !request.starts_with(b"POST ");
        let (filled, eof) = match self.send_and_read(request, head, deadline) {
            Ok(n) => n,
            Err(Attempt::StaleConnection) if reusable && repeatable => {
                // The server closed the kept-alive connection as the
                // request went out: reconnect and send it again.
                log::debug!("connection to {host}:{port} was closed; reconnecting");
                self.close();
                self.connect(host, port, deadline)?;
                match self.send_and_read(request, head, deadline) {
                    Ok(n) => n,
                    Err(e) => {
                        self.close();
                        return Err(e.into_error());
                    }
                }
            }
            Err(e) => {
                self.close();
                return Err(e.into_error());
            }
        };
        record(
            self.record_dir.as_deref(),
            self.stats.requests,
            "response",
            self.rx.get(..filled).unwrap_or(&[]),
        );
        match read_response(&mut self.rx, filled, head, eof) {
            Ok(ReadStatus::Complete {
                response, close, ..
            }) => {
                if close {
                    // The server will close: the next request reconnects.
                    if let Some(open) = self.open.take() {
                        drop(open);
                    }
                }
                Ok(response)
            }
            Ok(ReadStatus::Partial) => Err(HostError::Network("response incomplete".into())),
            Err(e) => Err(HostError::Network(format!("malformed response: {e}"))),
        }
    }

    /// Writes the request and reads until a whole response is buffered;
    /// returns the bytes filled and whether the peer closed the stream.
    fn send_and_read(
        &mut self,
        request: &[u8],
        head: bool,
        deadline: Instant,
    ) -> Result<(usize, bool), Attempt> {
        let Some(open) = self.open.as_mut() else {
            return Err(Attempt::Failed(HostError::Network("not connected".into())));
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Attempt::Failed(HostError::Network(
                crate::driver::DEADLINE_PASSED.into(),
            )));
        }
        let wait = self.io_timeout.min(left);
        let _ = open.stream.sock.set_read_timeout(Some(wait));
        let _ = open.stream.sock.set_write_timeout(Some(wait));
        // Writing also completes the TLS handshake of a new connection.
        match open
            .stream
            .write_all(request)
            .and_then(|()| open.stream.flush())
        {
            Ok(()) => {}
            Err(e) if is_timeout(&e) => {
                return Err(Attempt::Failed(HostError::Network(format!(
                    "the server did not take the request within {} s",
                    wait.as_secs_f64()
                ))))
            }
            Err(e) if is_reset(&e) => return Err(Attempt::StaleConnection),
            // A certificate refused in the handshake will be refused again:
            // final, not a network failure to retry.
            Err(e) if is_certificate_refusal(&e) => {
                return Err(Attempt::Failed(HostError::Usage(format!(
                    "the server's TLS certificate was refused ({e}); check the trusted roots (Settings::trust, the tool's --ca-file) and the directory URL's host"
                ))))
            }
            Err(e) => {
                return Err(Attempt::Failed(HostError::Network(format!(
                    "sending the request: {e}"
                ))))
            }
        }
        self.stats.requests += 1;
        self.stats.bytes_sent += request.len() as u64;
        record(
            self.record_dir.as_deref(),
            self.stats.requests,
            "request",
            request,
        );
        if self.kill_after_sending == Some(self.stats.requests) {
            eprintln!(
                "acme: test hook {TEST_HOOK_KILL_AFTER_SENDING}: SIGKILL with request {} sent",
                self.stats.requests
            );
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", &std::process::id().to_string()])
                .status();
            std::process::abort();
        }
        let mut filled = 0usize;
        loop {
            // No read may outlast the overall deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Attempt::Failed(HostError::Network(format!(
                    "{} (waiting for the server's answer)",
                    crate::driver::DEADLINE_PASSED
                ))));
            }
            let wait = self.io_timeout.min(left);
            let _ = open.stream.sock.set_read_timeout(Some(wait));
            let Some(space) = self.rx.get_mut(filled..) else {
                return Err(Attempt::Failed(HostError::Network(
                    "response larger than the buffer".into(),
                )));
            };
            let n = match open.stream.read(space) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => {
                    let message = if wait < self.io_timeout {
                        format!(
                            "{} (waiting for the server's answer)",
                            crate::driver::DEADLINE_PASSED
                        )
                    } else {
                        format!(
                            "the server did not answer within {} s",
                            self.io_timeout.as_secs_f64()
                        )
                    };
                    return Err(Attempt::Failed(HostError::Network(message)));
                }
                Err(e) if filled == 0 && is_reset(&e) => return Err(Attempt::StaleConnection),
                Err(e) => {
                    return Err(Attempt::Failed(HostError::Network(format!(
                        "reading the answer: {e}"
                    ))))
                }
            };
            if n == 0 && filled == 0 {
                return Err(Attempt::StaleConnection);
            }
            filled += n;
            self.stats.bytes_received += n as u64;
            let eof = n == 0;
            match probe_response(&self.rx, filled, head, eof) {
                Ok(Some(_)) => return Ok((filled, eof)),
                Ok(None) => {}
                // A body the receive buffer cannot hold would not fit on a
                // second try either: refused at once, not retried.
                Err(e @ acme_core::Error::Http(HttpError::BodyTooLarge { .. })) => {
                    return Err(Attempt::Failed(HostError::Protocol(e)))
                }
                Err(e) => {
                    return Err(Attempt::Failed(HostError::Network(format!(
                        "response: {e}"
                    ))))
                }
            }
        }
    }
}

/// Writes exchange `n`'s `kind` bytes into `dir`, when recording.
fn record(dir: Option<&std::path::Path>, n: u32, kind: &str, bytes: &[u8]) {
    if let Some(dir) = dir {
        let _ = std::fs::write(dir.join(format!("{n:03}-{kind}.bin")), bytes);
    }
}

enum Attempt {
    StaleConnection,
    Failed(HostError),
}

impl Attempt {
    fn into_error(self) -> HostError {
        match self {
            Attempt::StaleConnection => {
                HostError::Network("the server closed the connection before answering".into())
            }
            Attempt::Failed(e) => e,
        }
    }
}

/// Whether a kept-alive connection can carry another request: nothing
/// arrived on it while idle but, at most, TLS housekeeping (session
/// tickets). A closed socket, a `close_notify`, an error or stray
/// response bytes all mean it cannot.
fn still_open(open: &mut Open) -> bool {
    if open.stream.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let alive = loop {
        match open.stream.conn.read_tls(&mut open.stream.sock) {
            Ok(0) => break false,
            Ok(_) => match open.stream.conn.process_new_packets() {
                Ok(state) if state.peer_has_closed() || state.plaintext_bytes_to_read() > 0 => {
                    break false
                }
                Ok(_) => {}
                Err(_) => break false,
            },
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    open.stream.sock.set_nonblocking(false).is_ok() && alive
}

/// A socket timeout: `WouldBlock` (EAGAIN, what Unix reports) or
/// `TimedOut`.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
}

/// Whether `e` is rustls refusing the server's certificate (an unknown
/// issuer, a name it does not hold, expired, …).
fn is_certificate_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)))
}
