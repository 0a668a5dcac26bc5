//! A TCP relay between a client and a server, for measuring what goes over
//! the wire and for delaying it (and, later, for injecting faults).
//!
//! [`Relay::start`] listens on `127.0.0.1:<ephemeral>` and forwards every
//! connection it accepts to `upstream`. It counts the connections and the
//! bytes in each direction, and can hold each chunk back for a fixed
//! one-way delay per direction before forwarding it, preserving order.
//! Dropping the [`Relay`] stops it and cuts every open connection.
//!
//! Plain std threads: per connection, one reader and one writer per
//! direction. The reader stamps each chunk it reads with the instant it is
//! due (`now + delay`) and queues it; the writer sleeps until then and
//! writes it. End of stream is queued the same way, so a half-close reaches
//! the other side after the data before it.
//!
//! ```no_run
//! use std::time::Duration;
//! use acme_tests::relay::{Relay, RelayOptions};
//!
//! let upstream = "127.0.0.1:14000".parse().unwrap();
//! let relay = Relay::start(upstream, RelayOptions::default().with_delay(Duration::from_millis(100))).unwrap();
//! // connect clients to relay.local_addr() ...
//! let stats = relay.stats();
//! println!("{} connections, {} bytes up", stats.connections, stats.bytes_up);
//! ```

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the relay treats the traffic. Start from [`RelayOptions::default`]
/// (forward at once) and change what you need; new kinds of interference
/// (faults) will be added as fields with a default that does nothing.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RelayOptions {
    /// One-way delay of client→server bytes.
    pub delay_up: Duration,
    /// One-way delay of server→client bytes.
    pub delay_down: Duration,
}

impl RelayOptions {
    /// The same one-way `delay` in both directions (a round trip then takes
    /// twice `delay` more).
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay_up = delay;
        self.delay_down = delay;
        self
    }

    /// Separate one-way delays: `up` for client→server, `down` for
    /// server→client.
    #[must_use]
    pub fn with_delays(mut self, up: Duration, down: Duration) -> Self {
        self.delay_up = up;
        self.delay_down = down;
        self
    }
}

/// What went through the relay since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// TCP connections accepted from clients (each one also opened to the
    /// upstream).
    pub connections: u64,
    /// Bytes read from clients (client→server).
    pub bytes_up: u64,
    /// Bytes read from the upstream (server→client).
    pub bytes_down: u64,
}

impl RelayStats {
    /// What happened between `earlier` and `self` (both from the same
    /// relay).
    #[must_use]
    pub fn since(&self, earlier: &RelayStats) -> RelayStats {
        RelayStats {
            connections: self.connections.saturating_sub(earlier.connections),
            bytes_up: self.bytes_up.saturating_sub(earlier.bytes_up),
            bytes_down: self.bytes_down.saturating_sub(earlier.bytes_down),
        }
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    options: RelayOptions,
    counters: Counters,
    stopping: AtomicBool,
    /// Both sockets of every open connection, by connection number, to
    /// cut them when stopping.
    open: Mutex<HashMap<u64, [TcpStream; 2]>>,
}

/// A running relay; stopped (every connection cut) when dropped.
pub struct Relay {
    local: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("local", &self.local)
            .field("upstream", &self.shared.upstream)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Listens on `127.0.0.1:<ephemeral>` and forwards every connection to
    /// `upstream`.
    ///
    /// # Errors
    /// When the listening socket cannot be made.
    pub fn start(upstream: SocketAddr, options: RelayOptions) -> io::Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            options,
            counters: Counters::default(),
            stopping: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
        });
        let for_acceptor = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || accept_loop(&listener, &for_acceptor))?;
        Ok(Relay {
            local,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Where clients connect.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where the relay forwards to.
    #[must_use]
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Counts so far. Bytes are counted when the relay reads them, before
    /// any delay.
    #[must_use]
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        RelayStats {
            connections: c.connections.load(Ordering::SeqCst),
            bytes_up: c.bytes_up.load(Ordering::SeqCst),
            bytes_down: c.bytes_down.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor.
        let _ = TcpStream::connect(self.local);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let open = match self.shared.open.lock() {
            Ok(mut open) => std::mem::take(&mut *open),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for stream in open.values().flatten() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(shared.upstream) else {
            // Upstream down: the client sees the connection closed.
            continue;
        };
        let id = shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c1), Ok(c2), Ok(s1), Ok(s2)) = (
            client.try_clone(),
            client.try_clone(),
            server.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        if let Ok(mut open) = shared.open.lock() {
            open.insert(id, [client, server]);
        }
        let connection = Connection {
            id,
            shared: Arc::clone(shared),
            finished: Arc::new(AtomicU8::new(0)),
        };
        pipe(c1, s1, connection.clone(), Direction::Up);
        pipe(s2, c2, connection, Direction::Down);
    }
}

/// One relayed connection, shared by its two directions: the second
/// direction to finish forgets its sockets.
#[derive(Clone)]
struct Connection {
    id: u64,
    shared: Arc<Shared>,
    finished: Arc<AtomicU8>,
}

impl Connection {
    fn direction_done(&self) {
        if self.finished.fetch_add(1, Ordering::SeqCst) == 1 {
            if let Ok(mut open) = self.shared.open.lock() {
                open.remove(&self.id);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// A chunk and when it is due; `None` is the end of the stream.
type Queued = (Instant, Option<Vec<u8>>);

/// Forwards `from` to `to` with this direction's delay: a reader thread and
/// a writer thread joined by a queue.
fn pipe(mut from: TcpStream, mut to: TcpStream, connection: Connection, direction: Direction) {
    let shared = Arc::clone(&connection.shared);
    let delay = match direction {
        Direction::Up => shared.options.delay_up,
        Direction::Down => shared.options.delay_down,
    };
    let (tx, rx) = mpsc::channel::<Queued>();
    let _ = std::thread::Builder::new()
        .name("relay-read".into())
        .spawn(move || {
            let counter = match direction {
                Direction::Up => &shared.counters.bytes_up,
                Direction::Down => &shared.counters.bytes_down,
            };
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send((Instant::now() + delay, None));
                        return;
                    }
                    Ok(n) => {
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                        let chunk = buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
                        if tx.send((Instant::now() + delay, Some(chunk))).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    let _ = std::thread::Builder::new()
        .name("relay-write".into())
        .spawn(move || {
            while let Ok((due, chunk)) = rx.recv() {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                if let Some(bytes) = chunk {
                    if to.write_all(&bytes).is_ok() {
                        continue;
                    }
                    // The receiver is gone: cut the whole connection.
                    let _ = to.shutdown(Shutdown::Both);
                    break;
                }
                let _ = to.shutdown(Shutdown::Write);
                break;
            }
            connection.direction_done();
        });
}
