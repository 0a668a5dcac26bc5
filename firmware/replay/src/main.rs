//! acme-core on an emulated Cortex-M4: a complete http-01 enrolment,
//! replaying the responses a real Pebble CA gave (the transcript in
//! `acme-core/examples/pebble-enrolment/`), with the software signer.
//!
//! Every request the client produces is checked against the one Pebble
//! accepted, byte for byte: signing is deterministic (RFC 6979) and the
//! nonces come from the recorded responses, so the same keys must produce
//! the same bytes, and the URLs and their order must match too. With the
//! `verify-jws` feature each JWS is also verified with p256.
//!
//! It reports, over semihosting, the peak stack (measured by painting the
//! stack before the run and finding the deepest overwritten word) and the
//! static RAM, and exits 0 only when the enrolment completed as recorded.
//!
//! ```text
//! cd firmware && cargo run --release -p acme-replay
//! ```
#![no_std]
#![no_main]

use acme_core::client::{Client, Config, Event, Goal, Handled, OrderRequest};
use acme_core::http::{read_response, Method, ReadStatus};
use acme_core::time::{Instant, UnixTime};
use acme_core::{Error, Identifier, SoftwareKey};
use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::hprintln;

#[cfg(feature = "instruction-count")]
mod count;
mod stack;

/// The recorded Pebble's directory.
const DIRECTORY_URL: &str = "https://localhost:46183/dir";
/// The recording's wall-clock time.
const RECORDED_AT: UnixTime = UnixTime(1_795_408_711);

macro_rules! exchange {
    ($n:literal) => {
        (
            include_bytes!(concat!(
                "../../../acme-core/examples/pebble-enrolment/",
                $n,
                "-request.bin"
            )),
            include_bytes!(concat!(
                "../../../acme-core/examples/pebble-enrolment/",
                $n,
                "-response.bin"
            )),
        )
    };
}

/// The recording: each request sent and the response received.
static EXCHANGES: [(&[u8], &[u8]); 9] = [
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

static ACCOUNT_SCALAR: &[u8; 32] =
    include_bytes!("../../../acme-core/examples/pebble-enrolment/account-key.scalar");
static DEVICE_SCALAR: &[u8; 32] =
    include_bytes!("../../../acme-core/examples/pebble-enrolment/device-key.scalar");

/// The client's URL arena, sized for one identifier: about 800 bytes at
/// Let's Encrypt's URL lengths (the default, 2,560 bytes, is sized for
/// eight).
const URL_ARENA: usize = 1024;

/// The buffers, sized as on a device talking to Pebble.
const TX_LEN: usize = 1280;
const RX_LEN: usize = 3072;

/// Why the replay failed.
enum ReplayError {
    Core(Error),
    /// Request `n` (1-based) differs from the recording.
    RequestDiffers(usize),
    /// The client sent more requests than were recorded.
    TooManyRequests,
    /// The client finished before using every recorded exchange.
    TooFewRequests(usize),
    /// The client is neither done nor waiting.
    Stalled,
    /// A response did not parse as complete.
    Incomplete,
    /// No certificate was delivered.
    NoCertificate,
    /// A JWS did not verify.
    #[cfg_attr(not(feature = "verify-jws"), allow(dead_code))]
    BadSignature(usize),
}

impl ReplayError {
    /// A name and a number to print.
    fn describe(&self) -> (&'static str, usize) {
        match self {
            ReplayError::Core(Error::BufferTooSmall { required }) => {
                ("buffer too small", *required)
            }
            ReplayError::Core(_) => ("acme-core error", 0),
            ReplayError::RequestDiffers(n) => ("request differs from the recording:", *n),
            ReplayError::TooManyRequests => ("more requests than recorded", 0),
            ReplayError::TooFewRequests(n) => ("fewer requests than recorded:", *n),
            ReplayError::Stalled => ("client stalled", 0),
            ReplayError::Incomplete => ("response incomplete", 0),
            ReplayError::NoCertificate => ("no certificate", 0),
            ReplayError::BadSignature(n) => ("JWS does not verify, request", *n),
        }
    }
}

impl From<Error> for ReplayError {
    fn from(e: Error) -> Self {
        ReplayError::Core(e)
    }
}

#[entry]
fn main() -> ! {
    #[cfg(feature = "instruction-count")]
    let meter = {
        let peripherals = cortex_m::Peripherals::take();
        if let Some(p) = peripherals {
            count::start(p.SYST);
        }
        count::Meter::default()
    };
    #[cfg(feature = "instruction-count")]
    let started = count::now();
    stack::paint();
    let result = enrol(
        #[cfg(feature = "instruction-count")]
        &meter,
    );
    let peak = stack::peak_use();
    #[cfg(feature = "instruction-count")]
    if result.is_ok() {
        report_instructions(count::now() - started, &meter);
    }
    match result {
        Ok(requests) => {
            hprintln!("enrolled: {} requests, every one as recorded", requests);
            hprintln!("peak stack: {} bytes", peak);
            hprintln!("static RAM: {} bytes", stack::static_ram());
            debug::exit(EXIT_SUCCESS);
        }
        Err(e) => {
            // Debug formatting of the core's errors would link the whole
            // `Debug` machinery into the image being measured: print the
            // variant's name and number only.
            let (what, n) = e.describe();
            hprintln!("replay failed: {} {}", what, n);
            debug::exit(EXIT_FAILURE);
        }
    }
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Prints the enrolment's instructions, split into ECDSA, SHA-256 and the
/// rest.
#[cfg(feature = "instruction-count")]
fn report_instructions(total: u64, meter: &count::Meter) {
    let ecdsa = meter.ecdsa.get();
    let per_kib = count::sha256_instructions_per_kib();
    let sha256 = meter.sha256_bytes.get() as u64 * per_kib / 1024;
    let keys = meter.key_loading.get();
    let rest = total.saturating_sub(ecdsa + sha256 + keys);
    hprintln!("instructions: {} in all", total);
    hprintln!(
        "instructions: ecdsa {} ({} signatures), key loading {}, sha256 {} ({} bytes at {} per KiB), rest {}",
        ecdsa,
        meter.signatures.get(),
        keys,
        sha256,
        meter.sha256_bytes.get(),
        per_kib,
        rest
    );
}

/// The enrolment, as a device's boot code runs it; returns the number of
/// requests.
#[inline(never)]
fn enrol(#[cfg(feature = "instruction-count")] meter: &count::Meter) -> Result<usize, ReplayError> {
    #[cfg(feature = "instruction-count")]
    let loading = count::now();
    let account_key = SoftwareKey::from_scalar(ACCOUNT_SCALAR)?;
    let device_key = SoftwareKey::from_scalar(DEVICE_SCALAR)?;
    #[cfg(feature = "instruction-count")]
    meter.key_loading.set(count::now() - loading);
    #[cfg(feature = "instruction-count")]
    let (account_key, device_key) = (
        count::TimedSigner {
            key: &account_key,
            meter,
        },
        count::TimedSigner {
            key: &device_key,
            meter,
        },
    );
    let identifiers = [Identifier::Dns("device.demo.test")];
    let config = Config::new(DIRECTORY_URL);
    let goal = Goal::Enrol(OrderRequest::new(&identifiers));
    // Used where `new` put it: moving the Client out of the Result would
    // hold a second copy of it in this frame.
    let mut built: Result<Client<'_, URL_ARENA>, _> = Client::new(&config, &account_key, goal);
    let client = match &mut built {
        Ok(client) => client,
        Err(e) => return Err((*e).into()),
    };
    client.set_device_key(&device_key);
    let mut now = Instant(0);
    client.set_wall_clock(now, RECORDED_AT);

    let mut tx = [0u8; TX_LEN];
    let mut rx = [0u8; RX_LEN];
    let mut sent = 0usize;
    let mut certificate = false;
    loop {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Provision(task) => client.challenge_ready(task.id),
                Event::Cleanup(_) | Event::SnapshotChanged => {}
                Event::Done if !certificate => return Err(ReplayError::NoCertificate),
                Event::Done if sent != EXCHANGES.len() => {
                    return Err(ReplayError::TooFewRequests(sent))
                }
                Event::Done => return Ok(sent),
                Event::Failed(e) => return Err(e.into()),
            }
        }
        let Some(transmit) = client.poll_transmit(now, &mut tx)? else {
            let deadline = client.poll_timeout().ok_or(ReplayError::Stalled)?;
            now = deadline;
            client.handle_timeout(now);
            continue;
        };
        let (recorded_request, recorded_response) =
            EXCHANGES.get(sent).ok_or(ReplayError::TooManyRequests)?;
        sent += 1;
        let request = tx
            .get(..transmit.len)
            .ok_or(ReplayError::RequestDiffers(sent))?;
        if request != *recorded_request {
            return Err(ReplayError::RequestDiffers(sent));
        }
        #[cfg(feature = "instruction-count")]
        meter
            .sha256_bytes
            .set(meter.sha256_bytes.get() + count::hashed_bytes(request));
        #[cfg(feature = "verify-jws")]
        if transmit.method == Method::Post && !jws::verifies(request, &account_key) {
            return Err(ReplayError::BadSignature(sent));
        }
        let head_request = transmit.method == Method::Head;
        let filled = recorded_response.len();
        rx.get_mut(..filled)
            .ok_or(ReplayError::Incomplete)?
            .copy_from_slice(recorded_response);
        let ReadStatus::Complete { response, .. } =
            read_response(&mut rx, filled, head_request, true)?
        else {
            return Err(ReplayError::Incomplete);
        };
        now = now.plus_millis(50);
        if let Handled::Certificate { .. } = client.handle_response(now, &response, &mut tx)? {
            certificate = true;
        }
    }
}

#[cfg(feature = "verify-jws")]
mod jws {
    //! Independent JWS verification: split the flattened JWS, decode the
    //! signature, verify `protected.payload` with the account key.
    use acme_core::{Es256Signer as _, SoftwareKey};
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::Signature;

    /// The value of `"name":"…"` in the JSON body.
    fn field<'a>(body: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        let at = body.windows(name.len()).position(|w| w == name)?;
        let rest = body.get(at + name.len()..)?;
        let end = rest.iter().position(|&b| b == b'"')?;
        rest.get(..end)
    }

    pub(crate) fn verifies(request: &[u8], key: &SoftwareKey) -> bool {
        let Some(body_at) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
            return false;
        };
        let Some(body) = request.get(body_at + 4..) else {
            return false;
        };
        let (Some(protected), Some(payload), Some(signature)) = (
            field(body, b"\"protected\":\""),
            field(body, b"\"payload\":\""),
            field(body, b"\"signature\":\""),
        ) else {
            return false;
        };
        let mut raw = [0u8; 64];
        let Ok(decoded) = acme_core::b64::decode(signature, &mut raw) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(decoded) else {
            return false;
        };
        let Ok(verifying_key) = key.public_key().verifying_key() else {
            return false;
        };
        // The signing input, `protected.payload`, is contiguous in no
        // buffer; verify over a copy (the largest is about 1 KiB).
        let mut input = [0u8; 1200];
        let len = protected.len() + 1 + payload.len();
        let Some(out) = input.get_mut(..len) else {
            return false;
        };
        let (head, tail) = out.split_at_mut(protected.len());
        head.copy_from_slice(protected);
        if let Some((dot, rest)) = tail.split_first_mut() {
            *dot = b'.';
            rest.copy_from_slice(payload);
        }
        verifying_key.verify(out, &signature).is_ok()
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // No message: formatting it would link core::fmt into the image.
    hprintln!("panic");
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
