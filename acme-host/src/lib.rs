//! # acme-host
//!
//! The std adapter of `acme-core`, and the `acme` command-line tool.
//!
//! It drives the core's state machine over one persistent HTTPS connection
//! (std `TcpStream` + rustls with the ring provider), through the core's
//! own HTTP/1.1 codec: the same bytes firmware sends, only the socket and
//! TLS differ. Challenges are answered by built-in responders (http-01,
//! tls-alpn-01) or a dns-01 hook command. State — keys, the core's
//! snapshot, certificates — lives in a directory, written atomically, keys
//! with mode 0600.
//!
//! * [`ops::Session`]: enrol, renew, revoke and the account operations.
//! * [`driver::run`]: the loop, for any [`acme_core::client::Goal`].
//! * [`chain`]: PEM certificate chains to DER and back.
//! * [`pebble::LocalPebble`]: a local Pebble CA for demos and tests.

pub mod chain;
pub mod driver;
pub mod error;
pub mod ops;
pub mod pebble;
pub mod responders;
pub mod store;
pub mod tls;
pub mod transport;

pub use acme_core as core;
pub use error::HostError;
