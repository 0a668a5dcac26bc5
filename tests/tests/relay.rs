//! The TCP relay of `acme_tests::relay`, against a tiny echo server on
//! loopback: it forwards both ways, counts connections and bytes per
//! direction, delays each direction by at least what it was told, and cuts
//! connections when dropped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use acme_tests::relay::{Relay, RelayOptions};

/// An echo server: each connection gets back what it sends, until it
/// half-closes. Runs until the test process ends.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

fn connect(relay: &Relay) -> TcpStream {
    let stream = TcpStream::connect(relay.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `message`, half-closes, and reads everything back.
fn exchange(relay: &Relay, message: &[u8]) -> Vec<u8> {
    let mut stream = connect(relay);
    stream.write_all(message).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    back
}

/// The relay updates its counters as it reads; give the last chunk's
/// bookkeeping a moment after the client has seen the end of the stream.
fn settled(relay: &Relay, want: impl Fn(&acme_tests::relay::RelayStats) -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !want(&relay.stats()) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn forwards_and_counts_connections_and_bytes_each_way() {
    let relay = Relay::start(echo_server(), RelayOptions::default()).unwrap();
    assert_eq!(relay.stats().connections, 0);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(exchange(&relay, b"hello"), b"hello");
    assert_eq!(exchange(&relay, &big), big);
    let want = 5 + big.len() as u64;
    settled(&relay, |s| s.bytes_down == want);
    let stats = relay.stats();
    assert_eq!(stats.connections, 2);
    assert_eq!(stats.bytes_up, want);
    assert_eq!(stats.bytes_down, want);

    let before = relay.stats();
    assert_eq!(exchange(&relay, b"0123456789"), b"0123456789");
    settled(&relay, |s| s.bytes_down == want + 10);
    let delta = relay.stats().since(&before);
    assert_eq!(delta.connections, 1);
    assert_eq!(delta.bytes_up, 10);
    assert_eq!(delta.bytes_down, 10);
}

#[test]
fn several_exchanges_on_one_connection_keep_their_order() {
    let relay = Relay::start(
        echo_server(),
        RelayOptions::default().with_delay(Duration::from_millis(5)),
    )
    .unwrap();
    let mut stream = connect(&relay);
    for i in 0..20u8 {
        let message = [i; 100];
        stream.write_all(&message).unwrap();
        let mut back = [0u8; 100];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(back, message);
    }
    settled(&relay, |s| s.bytes_down == 2000);
    let stats = relay.stats();
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.bytes_up, 2000);
    assert_eq!(stats.bytes_down, 2000);
}

#[test]
fn a_round_trip_takes_at_least_both_one_way_delays() {
    let up = Duration::from_millis(60);
    let down = Duration::from_millis(90);
    let relay = Relay::start(echo_server(), RelayOptions::default().with_delays(up, down)).unwrap();
    let mut stream = connect(&relay);
    // The connection itself is not delayed (the relay accepts at once); a
    // message is, once each way.
    for _ in 0..3 {
        let started = Instant::now();
        stream.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"ping");
        let took = started.elapsed();
        assert!(took >= up + down, "round trip took {took:?}");
    }
}

#[test]
fn the_same_delay_both_ways() {
    let delay = Duration::from_millis(50);
    let relay = Relay::start(echo_server(), RelayOptions::default().with_delay(delay)).unwrap();
    let started = Instant::now();
    assert_eq!(exchange(&relay, b"x"), b"x");
    assert!(started.elapsed() >= 2 * delay);
}

#[test]
fn dropping_the_relay_cuts_open_connections() {
    let relay = Relay::start(echo_server(), RelayOptions::default()).unwrap();
    let addr = relay.local_addr();
    let mut stream = connect(&relay);
    stream.write_all(b"a").unwrap();
    let mut back = [0u8; 1];
    stream.read_exact(&mut back).unwrap();
    drop(relay);
    // The open connection ends (EOF or reset), and nobody listens any more.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn a_dead_upstream_is_not_counted() {
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let relay = Relay::start(dead, RelayOptions::default()).unwrap();
    let mut stream = connect(&relay);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert_eq!(relay.stats().connections, 0);
    assert_eq!(relay.upstream(), dead);
}
