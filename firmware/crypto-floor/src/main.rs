//! The floor under any ACME client's footprint: a P-256 key, one
//! SHA-256 digest and one ECDSA signature (RFC 6979), as JWS signing needs.
//! Its flash and RAM are what acme-core's figures are compared against.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest as _, Sha256};

#[entry]
fn main() -> ! {
    // Inputs the optimiser cannot see through.
    let scalar: [u8; 32] = core::hint::black_box([0x5a; 32]);
    let message: &[u8] = core::hint::black_box(b"protected.payload");
    let digest = Sha256::digest(message);
    let signed: Option<Signature> = SigningKey::from_slice(&scalar)
        .ok()
        .and_then(|key| key.sign_prehash(&digest).ok());
    match core::hint::black_box(signed) {
        Some(_) => debug::exit(EXIT_SUCCESS),
        None => debug::exit(EXIT_FAILURE),
    }
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
