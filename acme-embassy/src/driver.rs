//! The async loop that drives an acme-core [`Client`] over any
//! `embedded-io-async` stream a [`Connector`] opens, through the core's own
//! HTTP/1.1 codec: one keep-alive connection, reopened when the server
//! closes it or a request goes to another host.

use acme_core::client::{ChallengeTask, Client, Event, Handled};
use acme_core::http::{probe_response, read_response, Method, ReadStatus};
use acme_core::time::Instant;
use core::ops::Range;
use embassy_time::{Instant as EmbassyInstant, Timer};
use embedded_io_async::{Read, Write};

use crate::persist::SnapshotStore;

/// Opens connections (TCP, then TLS) to a host.
#[allow(async_fn_in_trait)]
pub trait Connector {
    /// What it opens.
    type Connection<'b>: Read + Write
    where
        Self: 'b;
    /// The buffers a connection borrows (socket and TLS record buffers).
    type Buffers;

    /// Opens a connection to `host:port`, borrowing `buffers` for its life.
    ///
    /// # Errors
    /// [`Error::Dns`] when the host name does not resolve,
    /// [`Error::Connect`] when the host cannot be reached, and
    /// [`Error::Tls`] when the handshake fails or the server's certificate
    /// is refused.
    async fn connect<'b>(
        &'b mut self,
        host: &str,
        port: u16,
        buffers: &'b mut Self::Buffers,
    ) -> Result<Self::Connection<'b>, Error>;
}

/// Answers challenges.
#[allow(async_fn_in_trait)]
pub trait ChallengeSolver {
    /// Puts `task` in place (serve the http-01 token, publish the dns-01
    /// TXT record). The client answers the challenge once this returns.
    ///
    /// # Errors
    /// [`Error::Challenge`] when it cannot be provisioned.
    async fn provision(&mut self, task: &ChallengeTask<'_>) -> Result<(), Error>;

    /// Removes what [`ChallengeSolver::provision`] put in place.
    async fn cleanup(&mut self, task: &ChallengeTask<'_>);
}

/// Why a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The protocol failed; see [`Client::problem`] for a server refusal.
    Acme(acme_core::Error),
    /// The CA's host name could not be resolved.
    Dns,
    /// The CA's address could not be reached over TCP.
    Connect,
    /// The TLS connection failed or the CA's certificate was refused.
    Tls(crate::tls::TlsFailure),
    /// A challenge could not be provisioned.
    Challenge,
    /// The snapshot could not be saved.
    Storage,
    /// The overall deadline passed.
    Deadline,
    /// A buffer the application lent is too small to work at all (such as
    /// a TLS record buffer no larger than the record overhead).
    BufferTooSmall,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Acme(e) => write!(f, "{e}"),
            Error::Dns => f.write_str(
                "the CA's host name could not be resolved (check the DNS server in the network configuration)",
            ),
            Error::Connect => f.write_str("the CA could not be reached over TCP"),
            Error::Tls(failure) => write!(f, "{failure}"),
            Error::Challenge => f.write_str("a challenge could not be provisioned"),
            Error::Storage => f.write_str("the snapshot could not be saved to storage"),
            Error::Deadline => {
                f.write_str("the overall deadline passed; the next attempt resumes from the snapshot")
            }
            Error::BufferTooSmall => f.write_str(
                "a lent buffer is too small to work at all (a TLS record buffer must exceed the record overhead)",
            ),
        }
    }
}

impl core::error::Error for Error {}

impl From<acme_core::Error> for Error {
    fn from(e: acme_core::Error) -> Self {
        Error::Acme(e)
    }
}

/// The buffers the driver needs besides the connection's.
pub struct DriverBuffers<'b> {
    /// HTTP request bytes (also scratch for checking the certificate).
    pub tx: &'b mut [u8],
    /// HTTP response bytes: must hold the largest response (the
    /// certificate chain, about 3 KiB from a typical CA).
    pub rx: &'b mut [u8],
    /// Room for one snapshot ([`Client::SNAPSHOT_MAX_LEN`]).
    pub snapshot: &'b mut [u8],
}

/// What the driver works with besides the client: how to connect, how to
/// answer challenges, and where the snapshot goes.
pub struct Environment<'e, C: Connector, S, St> {
    /// Opens connections.
    pub connector: &'e mut C,
    /// The buffers each connection borrows.
    pub connection_buffers: &'e mut C::Buffers,
    /// Answers challenges.
    pub solver: &'e mut S,
    /// Keeps the snapshot.
    pub store: &'e mut St,
}

/// What a request needs to be sent, copied out of the client's borrow.
struct Outgoing {
    /// A dns name (at most 253 characters) or an IP literal.
    host: heapless::String<MAX_HOST_LEN>,
    port: u16,
    len: usize,
    head: bool,
}

/// The longest host a request goes to: a dns name's limit (253, and a
/// trailing dot). Kept in every request being sent, so not a URL's 512.
const MAX_HOST_LEN: usize = 254;

fn now_ms() -> Instant {
    Instant(EmbassyInstant::now().as_millis())
}

/// Drives `client` until its goal is reached or fails. Each certificate
/// chain delivered (already checked against the CSR) is passed to
/// `on_certificate`; the last one also stays in `buffers.rx` after `run`
/// returns, at the range it returns, so firmware can store it from there
/// without a buffer of its own to copy it into.
///
/// The [crate docs](crate#boot-time-enrolment) show the whole call as a
/// boot task writes it; `examples/boot.rs` runs it against a real CA.
///
/// # Errors
/// [`Error`] saying what failed.
pub async fn run<C, S, St, const N: usize>(
    client: &mut Client<'_, N>,
    environment: Environment<'_, C, S, St>,
    buffers: DriverBuffers<'_>,
    deadline: Option<EmbassyInstant>,
    mut on_certificate: impl FnMut(&[u8]),
) -> Result<Option<Range<usize>>, Error>
where
    C: Connector,
    S: ChallengeSolver,
    St: SnapshotStore,
{
    let DriverBuffers { tx, rx, snapshot } = buffers;
    // Where rx starts, to find a delivered chain's place in it.
    let rx_start = rx.as_ptr() as usize;
    let mut last_chain = None;
    let Environment {
        connector,
        connection_buffers,
        solver,
        store,
    } = environment;
    let mut pending: Option<Outgoing> = None;
    'connection: loop {
        let first = match pending.take() {
            Some(p) => p,
            None => match next_request(client, solver, store, tx, snapshot, deadline).await? {
                Some(p) => p,
                None => return Ok(last_chain),
            },
        };
        let connecting = connector.connect(&first.host, first.port, connection_buffers);
        let connected = match deadline {
            Some(d) => embassy_time::with_deadline(d, connecting)
                .await
                .map_err(|_| Error::Deadline)?,
            None => connecting.await,
        };
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => {
                log_connect_failure(&e);
                client.handle_transport_error(now_ms()).map_err(|_| e)?;
                continue 'connection;
            }
        };
        log_connected(&first.host);
        let host = first.host.clone();
        let port = first.port;
        let mut request = Some(first);
        loop {
            let out = match request.take() {
                Some(r) => r,
                None => match next_request(client, solver, store, tx, snapshot, deadline).await? {
                    Some(r) => r,
                    None => return Ok(last_chain),
                },
            };
            if out.host != host || out.port != port {
                pending = Some(out);
                continue 'connection;
            }
            let Some(bytes) = tx.get(..out.len) else {
                return Err(Error::BufferTooSmall);
            };
            log_request(&out);
            if conn.write_all(bytes).await.is_err() || conn.flush().await.is_err() {
                client.handle_transport_error(now_ms())?;
                continue 'connection;
            }
            let mut filled = 0usize;
            let mut eof = false;
            let complete = loop {
                match probe_response(rx, filled, out.head, eof) {
                    Ok(Some(_)) => break true,
                    Ok(None) if !eof => {}
                    _ => break false,
                }
                let Some(space) = rx.get_mut(filled..) else {
                    break false;
                };
                match conn.read(space).await {
                    Ok(0) => eof = true,
                    Ok(n) => filled += n,
                    Err(_) => break false,
                }
            };
            if !complete {
                client.handle_transport_error(now_ms())?;
                continue 'connection;
            }
            let (response, close) = match read_response(rx, filled, out.head, eof) {
                Ok(ReadStatus::Complete {
                    response, close, ..
                }) => (response, close),
                _ => {
                    client.handle_transport_error(now_ms())?;
                    continue 'connection;
                }
            };
            if let Handled::Certificate { pem, .. } =
                client.handle_response(now_ms(), &response, tx)?
            {
                on_certificate(pem);
                let start = (pem.as_ptr() as usize).wrapping_sub(rx_start);
                last_chain = Some(start..start + pem.len());
            }
            if close {
                continue 'connection;
            }
        }
    }
}

impl Error {
    /// Whether the same step may succeed if tried again: a network that
    /// failed may come back, a refused certificate or a buffer too small
    /// will not change.
    ///
    /// ```
    /// use acme_embassy::driver::Error;
    /// use acme_embassy::tls::TlsFailure;
    ///
    /// assert!(Error::Connect.is_transient()); // try again later
    /// assert!(Error::Tls(TlsFailure::Handshake).is_transient());
    /// assert!(!Error::Tls(TlsFailure::HostName).is_transient()); // check the URL
    /// assert!(!Error::BufferTooSmall.is_transient());
    /// ```
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Dns | Error::Connect => true,
            Error::Tls(failure) => failure.is_transient(),
            Error::Acme(_)
            | Error::Challenge
            | Error::Storage
            | Error::Deadline
            | Error::BufferTooSmall => false,
        }
    }
}

fn log_connect_failure(error: &Error) {
    #[cfg(feature = "log")]
    log::warn!("acme: connection failed: {error}");
    #[cfg(feature = "defmt")]
    defmt::warn!("acme: connection failed: {}", error);
    let _ = error;
}

fn log_connected(host: &str) {
    #[cfg(feature = "log")]
    log::debug!("acme: connected to {host}");
    #[cfg(feature = "defmt")]
    defmt::debug!("acme: connected to {=str}", host);
    let _ = host;
}

fn log_request(out: &Outgoing) {
    #[cfg(feature = "log")]
    log::debug!(
        "acme: request of {} bytes to {}:{}",
        out.len,
        out.host,
        out.port
    );
    #[cfg(feature = "defmt")]
    defmt::debug!(
        "acme: request of {=usize} bytes to {=str}:{=u16}",
        out.len,
        out.host.as_str(),
        out.port
    );
    let _ = out;
}

fn log_event(what: &str) {
    #[cfg(feature = "log")]
    log::info!("acme: {what}");
    #[cfg(feature = "defmt")]
    defmt::info!("acme: {=str}", what);
    let _ = what;
}

/// Handles events and waits until the client has a request; `None` once
/// the goal is reached.
async fn next_request<S, St, const N: usize>(
    client: &mut Client<'_, N>,
    solver: &mut S,
    store: &mut St,
    tx: &mut [u8],
    snapshot: &mut [u8],
    deadline: Option<EmbassyInstant>,
) -> Result<Option<Outgoing>, Error>
where
    S: ChallengeSolver,
    St: SnapshotStore,
{
    loop {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Provision(task) => {
                    log_event("provisioning a challenge");
                    solver.provision(&task).await?;
                    client.challenge_ready(task.id);
                }
                Event::Cleanup(task) => solver.cleanup(&task).await,
                Event::SnapshotChanged => {
                    let bytes = client.snapshot(snapshot)?;
                    store.save(bytes).await.map_err(|_| Error::Storage)?;
                    log_event("snapshot saved");
                }
                Event::Done => {
                    log_event("done");
                    return Ok(None);
                }
                Event::Failed(e) => return Err(Error::Acme(e)),
            }
        }
        if deadline.is_some_and(|d| EmbassyInstant::now() >= d) {
            return Err(Error::Deadline);
        }
        let polled = client.poll_transmit(now_ms(), tx).map(|t| {
            t.map(|t| {
                // A host too long to be a dns name will never resolve:
                // not worth retrying.
                let host = heapless::String::try_from(t.url.host).map_err(|_| {
                    Error::Acme(acme_core::Error::LimitExceeded {
                        limit: "a host name's length",
                        max: MAX_HOST_LEN,
                    })
                })?;
                Ok::<_, Error>(Outgoing {
                    host,
                    port: t.url.port,
                    len: t.len,
                    head: t.method == Method::Head,
                })
            })
        });
        if let Some(out) = polled?.transpose()? {
            // Polling a newOrder marks the order as requested: save that
            // before the request goes out.
            while let Some(event) = client.poll_event() {
                if let Event::SnapshotChanged = event {
                    let bytes = client.snapshot(snapshot)?;
                    store.save(bytes).await.map_err(|_| Error::Storage)?;
                }
            }
            return Ok(Some(out));
        }
        if client.is_finished() {
            return Ok(None);
        }
        match client.poll_timeout() {
            Some(at) => {
                let wake = EmbassyInstant::from_millis(at.0);
                if deadline.is_some_and(|d| wake > d) {
                    return Err(Error::Deadline);
                }
                Timer::at(wake).await;
                client.handle_timeout(now_ms());
            }
            None => {
                // Nothing to send, nothing to wait for, and every event was
                // handled: the client cannot move.
                return Err(Error::Acme(acme_core::Error::Protocol(
                    acme_core::client::ProtocolError::UnexpectedResponse,
                )));
            }
        }
    }
}
