//! Instruction counting under `qemu-system-arm -icount shift=0`, where the
//! virtual clock advances one nanosecond per instruction executed. SysTick
//! runs from the 25 MHz system clock of mps2-an386, so one tick is 40
//! instructions; wraps of its 24-bit counter are counted by its exception.
//!
//! The enrolment's instructions are split into ECDSA (every signature, timed
//! inside the signer, including RFC 6979 nonce derivation), SHA-256
//! (estimated: the bytes hashed, times the cost per byte measured by
//! hashing a calibration buffer) and the rest.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};

use acme_core::{Es256Signer, PublicKey, SignerError, SoftwareKey};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use sha2::{Digest as _, Sha256};

/// Instructions per SysTick tick: 1 ns per instruction, 40 ns per tick.
pub(crate) const INSTRUCTIONS_PER_TICK: u64 = 40;
const RELOAD: u32 = 0x00FF_FFFF;

static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// Starts SysTick counting down from its largest reload value.
pub(crate) fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
    // The cleared counter reads 0 until its first reload, which is not a
    // wrap: start counting after it.
    while SYST::get_current() == 0 {}
}

/// Instructions executed since [`start`] (to within one tick).
pub(crate) fn now() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        // A wrap between the two reads would pair the new count with the
        // old number of wraps: read again.
        if WRAPS.load(Ordering::Relaxed) == wraps {
            let ticks = u64::from(wraps) * u64::from(RELOAD + 1) + u64::from(RELOAD - current);
            return ticks * INSTRUCTIONS_PER_TICK;
        }
    }
}

/// What the enrolment spent, gathered while it runs.
#[derive(Default)]
pub(crate) struct Meter {
    /// Instructions inside ECDSA signing.
    pub(crate) ecdsa: Cell<u64>,
    /// Instructions loading the two keys (deriving each public key is a
    /// P-256 scalar multiplication).
    pub(crate) key_loading: Cell<u64>,
    /// Signatures made.
    pub(crate) signatures: Cell<u32>,
    /// Bytes hashed with SHA-256 (JWS signing inputs and the CSR).
    pub(crate) sha256_bytes: Cell<usize>,
}

/// A software signer that adds the instructions each signature takes.
pub(crate) struct TimedSigner<'k> {
    pub(crate) key: &'k SoftwareKey,
    pub(crate) meter: &'k Meter,
}

impl Es256Signer for TimedSigner<'_> {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64], SignerError> {
        let start = now();
        let signature = self.key.sign_digest(digest);
        let meter = self.meter;
        meter.ecdsa.set(meter.ecdsa.get() + (now() - start));
        meter.signatures.set(meter.signatures.get() + 1);
        signature
    }
}

/// Instructions SHA-256 takes per byte, measured over a 16 KiB buffer.
pub(crate) fn sha256_instructions_per_kib() -> u64 {
    let buffer = [0x5au8; 1024];
    let start = now();
    let mut hash = Sha256::new();
    for _ in 0..16 {
        hash.update(core::hint::black_box(&buffer));
    }
    core::hint::black_box(hash.finalize());
    (now() - start) / 16
}

/// The bytes SHA-256 runs over for one request: a POST's JWS signing input,
/// `protected "." payload`, and for the finalize request also the CSR's
/// signed part (estimated as the CSR's size: the payload is base64url of
/// `{"csr":"<base64url DER>"}`, so the DER is about 9/16 of it).
pub(crate) fn hashed_bytes(request: &[u8]) -> usize {
    let jws = jws_signing_input_len(request);
    let csr = if find(request, b"/finalize").is_some() {
        member_len(request, b"\"payload\":\"") * 9 / 16
    } else {
        0
    };
    jws + csr
}

fn member_len(request: &[u8], name: &[u8]) -> usize {
    let Some(start) = find(request, name) else {
        return 0;
    };
    let value = request.get(start + name.len()..).unwrap_or_default();
    value.iter().position(|&b| b == b'"').unwrap_or(0)
}

fn jws_signing_input_len(request: &[u8]) -> usize {
    let protected = member_len(request, b"\"protected\":\"");
    let payload = member_len(request, b"\"payload\":\"");
    if protected == 0 {
        0
    } else {
        protected + 1 + payload
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
