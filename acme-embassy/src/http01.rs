//! The device's http-01 responder: a task serving
//! `/.well-known/acme-challenge/{token}` on the device's own TCP listener,
//! beside the enrolment flow, for the current order's tokens only.

use core::cell::RefCell;

use acme_core::challenge::{KeyAuthorization, HTTP01_PATH_PREFIX, MAX_TOKEN_LEN};
use acme_core::client::ChallengeTask;
use acme_core::msg::ChallengeType;
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex;
use embedded_io_async::Write as _;

use crate::driver::{ChallengeSolver, Error};

/// The most tokens served at once by default: one per authorization of
/// the largest order.
pub const MAX_TOKENS: usize = acme_core::identifier::MAX_IDENTIFIERS;

/// The tokens being served, shared between the enrolment task and the
/// responder task: at most `N` at once, each taking about 180 bytes (a
/// device enrolling its one name needs `Http01Tokens<1>`).
///
/// ```
/// use acme_core::challenge::KeyAuthorization;
/// use acme_core::Thumbprint;
/// use acme_embassy::http01::Http01Tokens;
///
/// static TOKENS: Http01Tokens = Http01Tokens::new();
///
/// let key_authorization = KeyAuthorization::new("tok3n", &Thumbprint([7; 32]))?;
/// TOKENS.add(&key_authorization)?;
/// assert_eq!(TOKENS.get("tok3n"), Some(key_authorization));
/// assert_eq!(TOKENS.get("other"), None); // answered with 404
/// TOKENS.remove("tok3n");
/// assert_eq!(TOKENS.get("tok3n"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Http01Tokens<const N: usize = MAX_TOKENS> {
    tokens: Mutex<CriticalSectionRawMutex, RefCell<heapless::Vec<KeyAuthorization, N>>>,
}

impl<const N: usize> Http01Tokens<N> {
    /// No tokens (usable in a `static`).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            tokens: Mutex::new(RefCell::new(heapless::Vec::new())),
        }
    }

    /// Serves `key_authorization` for its token. When `N` tokens are
    /// already served, the oldest is dropped: a flow that failed ends
    /// without removing its tokens, and the next one must still be able to
    /// add its own. So `N` must be at least the number of identifiers of
    /// an order, or the first challenges of a larger order are no longer
    /// served when the last ones are added, and fail at the CA.
    ///
    /// ```
    /// use acme_core::challenge::KeyAuthorization;
    /// use acme_core::Thumbprint;
    /// use acme_embassy::http01::Http01Tokens;
    ///
    /// let tokens: Http01Tokens<1> = Http01Tokens::new(); // one identifier
    /// let thumbprint = Thumbprint([7; 32]);
    /// tokens.add(&KeyAuthorization::new("of-a-failed-flow", &thumbprint)?)?;
    /// tokens.add(&KeyAuthorization::new("current", &thumbprint)?)?;
    /// assert!(tokens.get("current").is_some());
    /// assert!(tokens.get("of-a-failed-flow").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Challenge`] when `N` is 0.
    pub fn add(&self, key_authorization: &KeyAuthorization) -> Result<(), Error> {
        self.tokens.lock(|t| {
            let mut t = t.borrow_mut();
            t.retain(|k| k.token() != key_authorization.token());
            if t.is_full() && !t.is_empty() {
                t.remove(0);
            }
            t.push(key_authorization.clone())
                .map_err(|_| Error::Challenge)
        })
    }

    /// Stops serving `token`.
    pub fn remove(&self, token: &str) {
        self.tokens
            .lock(|t| t.borrow_mut().retain(|k| k.token() != token));
    }

    /// The key authorization for `token`, copied out.
    #[must_use]
    pub fn get(&self, token: &str) -> Option<KeyAuthorization> {
        self.tokens
            .lock(|t| t.borrow().iter().find(|k| k.token() == token).cloned())
    }
}

impl<const N: usize> Default for Http01Tokens<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`ChallengeSolver`] for http-01 through [`Http01Tokens`].
///
/// ```
/// # use acme_core::challenge::KeyAuthorization;
/// # use acme_core::client::{ChallengeId, ChallengeTask};
/// # use acme_core::msg::ChallengeType;
/// # use acme_core::{Identifier, Thumbprint};
/// use acme_embassy::driver::ChallengeSolver;
/// use acme_embassy::http01::{Http01Solver, Http01Tokens};
///
/// static TOKENS: Http01Tokens = Http01Tokens::new(); // served by serve_http01
/// # let task = ChallengeTask {
/// #     id: ChallengeId(0),
/// #     kind: ChallengeType::Http01,
/// #     identifier: Identifier::dns("device-17.example")?,
/// #     key_authorization: KeyAuthorization::new("tok3n", &Thumbprint([7; 32]))?,
/// # };
/// let mut solver = Http01Solver::new(&TOKENS);
/// // What the driver does with each task the client hands out:
/// embassy_futures::block_on(solver.provision(&task))?;
/// assert_eq!(TOKENS.get("tok3n"), Some(task.key_authorization.clone()));
/// embassy_futures::block_on(solver.cleanup(&task));
/// assert_eq!(TOKENS.get("tok3n"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Http01Solver<'t, const N: usize = MAX_TOKENS> {
    tokens: &'t Http01Tokens<N>,
}

impl<'t, const N: usize> Http01Solver<'t, N> {
    /// A solver publishing to `tokens` (served by [`serve_http01`]).
    #[must_use]
    pub fn new(tokens: &'t Http01Tokens<N>) -> Self {
        Self { tokens }
    }
}

impl<const N: usize> ChallengeSolver for Http01Solver<'_, N> {
    async fn provision(&mut self, task: &ChallengeTask<'_>) -> Result<(), Error> {
        if task.kind != ChallengeType::Http01 {
            return Err(Error::Challenge);
        }
        self.tokens.add(&task.key_authorization)
    }

    async fn cleanup(&mut self, task: &ChallengeTask<'_>) {
        self.tokens.remove(task.key_authorization.token());
    }
}

/// The socket buffers of one http-01 listener. Each listener takes one
/// validation connection at a time; a request and its answer are about
/// 250 bytes each, so 512 bytes apiece is plenty.
pub struct Http01Socket<'b> {
    /// TCP receive buffer.
    pub rx: &'b mut [u8],
    /// TCP transmit buffer.
    pub tx: &'b mut [u8],
}

/// Serves http-01 on `port` forever, with one listening socket per entry of
/// `sockets`. Run it as its own task beside the enrolment.
///
/// CAs validate from several network perspectives at once (Pebble opens
/// three connections in the same millisecond; Let's Encrypt's multi-
/// perspective validation uses more), and a SYN that finds no listening
/// socket is reset, which fails that perspective. Give it at least four
/// sockets.
///
/// ```no_run
/// use acme_embassy::http01::{serve_http01, Http01Socket, Http01Tokens};
///
/// static TOKENS: Http01Tokens = Http01Tokens::new();
///
/// /// Its own task (`#[embassy_executor::task]` on a board).
/// async fn http01_responder(stack: embassy_net::Stack<'static>) -> ! {
///     let mut buffers = [[0u8; 512]; 8];
///     let [rx0, tx0, rx1, tx1, rx2, tx2, rx3, tx3] = &mut buffers;
///     let sockets = [
///         Http01Socket { rx: rx0, tx: tx0 },
///         Http01Socket { rx: rx1, tx: tx1 },
///         Http01Socket { rx: rx2, tx: tx2 },
///         Http01Socket { rx: rx3, tx: tx3 },
///     ];
///     serve_http01(stack, 80, &TOKENS, sockets).await
/// }
/// ```
pub async fn serve_http01<const N: usize, const T: usize>(
    stack: Stack<'_>,
    port: u16,
    tokens: &Http01Tokens<T>,
    sockets: [Http01Socket<'_>; N],
) -> ! {
    let listeners = sockets.map(|socket| serve_one(stack, port, tokens, socket));
    // Listeners never return; with none, there is nothing to do.
    match embassy_futures::join::join_array(listeners)
        .await
        .into_iter()
        .next()
    {
        Some(never) => match never {},
        None => core::future::pending().await,
    }
}

/// One listener: accept, answer, close, again, for ever.
async fn serve_one<const T: usize>(
    stack: Stack<'_>,
    port: u16,
    tokens: &Http01Tokens<T>,
    socket: Http01Socket<'_>,
) -> core::convert::Infallible {
    let Http01Socket { rx, tx } = socket;
    let mut request = [0u8; 512];
    loop {
        let mut socket = TcpSocket::new(stack, &mut *rx, &mut *tx);
        socket.set_timeout(Some(embassy_time::Duration::from_secs(10)));
        if socket.accept(port).await.is_err() {
            continue;
        }
        let mut filled = 0usize;
        let path_token = loop {
            let Some(space) = request.get_mut(filled..) else {
                break None;
            };
            match socket.read(space).await {
                Ok(0) | Err(_) => break None,
                Ok(n) => filled += n,
            }
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(request.get(..filled).unwrap_or(&[])) {
                Ok(httparse::Status::Complete(_)) => {
                    let mut token: heapless::String<MAX_TOKEN_LEN> = heapless::String::new();
                    let ok = parsed.method == Some("GET")
                        && parsed
                            .path
                            .and_then(|p| p.strip_prefix(HTTP01_PATH_PREFIX))
                            .is_some_and(|t| token.push_str(t).is_ok());
                    break ok.then_some(token);
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => break None,
            }
        };
        let body = path_token.and_then(|t| tokens.get(&t));
        let result = match &body {
            Some(ka) => {
                let mut length = [0u8; 5];
                let digits = decimal(ka.as_str().len(), &mut length);
                let head: [&[u8]; 3] = [b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\nContent-Length: ", digits, b"\r\n\r\n"];
                write_parts(&mut socket, &head, ka.as_str().as_bytes()).await
            }
            None => {
                write_parts(
                    &mut socket,
                    &[b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"],
                    &[],
                )
                .await
            }
        };
        let _ = result;
        socket.close();
        let _ = socket.flush().await;
    }
}

async fn write_parts(
    socket: &mut TcpSocket<'_>,
    head: &[&[u8]],
    body: &[u8],
) -> Result<(), embassy_net::tcp::Error> {
    for part in head {
        socket.write_all(part).await?;
    }
    socket.write_all(body).await?;
    socket.flush().await
}

fn decimal(mut value: usize, out: &mut [u8; 5]) -> &[u8] {
    let mut start = out.len();
    loop {
        start -= 1;
        if let Some(d) = out.get_mut(start) {
            *d = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    out.get(start..).unwrap_or(&[])
}
