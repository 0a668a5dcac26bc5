//! The sans-IO loop driven by hand: a complete http-01 enrolment against
//! the responses a real Pebble CA gave, recorded in `pebble-enrolment/`.
//!
//! There is no network here, which is the point: the loop below is exactly
//! what an adapter writes around its socket. Because signing is
//! deterministic (RFC 6979) and the nonces come from the recorded
//! responses, every request the client produces must equal, byte for byte,
//! the request Pebble accepted in the recording; the example checks that.
//!
//! ```text
//! cargo run -p acme-core --example replay
//! ```
// A demonstration may stop loudly when the recording and the client part.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::unreachable
)]

use acme_core::client::{Client, Config, Event, Goal, Handled, OrderRequest, SNAPSHOT_MAX_LEN};
use acme_core::http::{read_response, ReadStatus};
use acme_core::msg::ChallengeType;
use acme_core::time::{Instant, UnixTime};
use acme_core::{Error, Identifier, SoftwareKey};

/// The recorded Pebble's directory.
const DIRECTORY_URL: &str = "https://localhost:46183/dir";
/// The recording's wall-clock time (the first response's `Date`).
const RECORDED_AT: UnixTime = UnixTime(1_795_408_711);

/// Each exchange of the recording: the request sent, the response received.
const EXCHANGES: [(&[u8], &[u8]); 9] = [
    exchange!("001"),
    exchange!("002"),
    exchange!("003"),
    exchange!("004"),
    exchange!("005"),
    exchange!("006"),
    exchange!("007"),
    exchange!("008"),
    exchange!("009"),
];

macro_rules! exchange {
    ($n:literal) => {
        (
            include_bytes!(concat!("pebble-enrolment/", $n, "-request.bin")),
            include_bytes!(concat!("pebble-enrolment/", $n, "-response.bin")),
        )
    };
}
use exchange;

// The buffers an adapter lends the client. These sizes fit Pebble's
// responses; every request reports the exact size it needs if the
// transmit buffer is too small (`Error::BufferTooSmall { required }`).
/// Transmit: the largest request is finalize (1,025 bytes, the CSR inside).
const TX_LEN: usize = 1280;
/// Receive: the largest response is the PEM chain (2,459 bytes).
const RX_LEN: usize = 3072;

fn main() -> Result<(), Error> {
    // Keys come from the caller (a secure element could hold them instead:
    // see `acme_core::Es256Signer`). These two are test keys.
    let account_key = SoftwareKey::from_der(include_bytes!("pebble-enrolment/account-key.der"))?;
    let device_key = SoftwareKey::from_der(include_bytes!("pebble-enrolment/device-key.der"))?;

    let identifiers = [Identifier::Dns("device.demo.test")];
    let config = Config::new(DIRECTORY_URL);
    let goal = Goal::Enrol(OrderRequest::new(&identifiers));
    // The client's own state (~4.5 KiB with the default URL arena) can live
    // on the stack, in a static, or in a task's future.
    let mut client: Client<'_> =
        Client::new(&config, &account_key, goal)?.with_device_key(&device_key);

    // The monotonic clock starts at zero; the wall clock is optional and
    // lets the client check the certificate's validity period.
    let mut now = Instant(0);
    client.set_wall_clock(now, RECORDED_AT);

    let mut tx = [0u8; TX_LEN];
    let mut rx = [0u8; RX_LEN];
    let mut snapshot = [0u8; SNAPSHOT_MAX_LEN];
    let mut exchanges = EXCHANGES.iter();

    loop {
        // 1. Events: challenges to provision, state to persist, the end.
        while let Some(event) = client.poll_event() {
            match event {
                Event::Provision(task) => {
                    assert_eq!(task.kind, ChallengeType::Http01);
                    // A real device serves this from its http-01 listener.
                    println!(
                        "serve {} -> {}",
                        task.http01_path(),
                        task.key_authorization.as_str()
                    );
                    client.challenge_ready(task.id);
                }
                Event::Cleanup(task) => println!("stop serving {}", task.http01_path()),
                Event::SnapshotChanged => {
                    // Write this to flash: after a reboot, `Client::restore`
                    // resumes the same account and order.
                    let saved = client.snapshot(&mut snapshot)?;
                    println!("snapshot: {} bytes to persist", saved.len());
                }
                Event::Done => {
                    println!("enrolled in {} requests", client.requests_sent());
                    return Ok(());
                }
                Event::Failed(error) => return Err(error),
            }
        }

        // 2. The next request, as HTTP/1.1 bytes in `tx`.
        let Some(transmit) = client.poll_transmit(now, &mut tx)? else {
            // Nothing to send before a deadline (polling an order): sleep
            // until it, then tell the client.
            match client.poll_timeout() {
                Some(deadline) => {
                    now = deadline;
                    client.handle_timeout(now);
                    continue;
                }
                None => panic!("the client is neither done nor waiting"),
            }
        };
        let request = &tx[..transmit.len];
        println!(
            "{:?} {} {}",
            transmit.step,
            transmit.method.as_str(),
            transmit.url.path
        );

        // 3. "Send" it: here, compare with what Pebble accepted.
        let (recorded_request, recorded_response) = exchanges
            .next()
            .expect("the client sent more requests than the recording has");
        assert_eq!(
            request, *recorded_request,
            "request differs from the recording"
        );

        // 4. Read the response into `rx` and parse it in place.
        rx[..recorded_response.len()].copy_from_slice(recorded_response);
        let head_request = transmit.method == acme_core::http::Method::Head;
        let ReadStatus::Complete { response, .. } =
            read_response(&mut rx, recorded_response.len(), head_request, true)?
        else {
            unreachable!("a response read to end of stream is complete or an error")
        };

        // 5. Feed it back. The idle transmit buffer is the scratch space
        //    the client decodes the certificate into to check it.
        now = now.plus_millis(50);
        if let Handled::Certificate { pem, .. } = client.handle_response(now, &response, &mut tx)? {
            // Checked against the CSR's key and identifiers (and validity,
            // since the wall clock is known) before it is handed over.
            println!("certificate chain: {} bytes of PEM", pem.len());
        }
    }
}
