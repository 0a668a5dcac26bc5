//! Transcript tests: the exact request sequence of each flow against the
//! simulation server, including the quirks of real servers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use acme_core::client::{Client, Config, Goal, OrderRequest};
use acme_core::msg::ChallengeType;
use acme_core::{Es256Signer, Identifier, SoftwareKey};
use acme_tests::fake::{FakeAcme, FinalizeMode, Quirks};
use acme_tests::sim::{Outcome, Sim};

fn account_key() -> SoftwareKey {
    SoftwareKey::from_scalar(&[0x11; 32]).unwrap()
}

fn device_key() -> SoftwareKey {
    SoftwareKey::from_scalar(&[0x22; 32]).unwrap()
}

const ONE: &[Identifier<'static>] = &[Identifier::Dns("device.example.com")];

/// Enrols `identifiers` against a fake with `quirks`; returns the outcome
/// and the transcript.
fn enrol(quirks: Quirks, identifiers: &[Identifier<'_>]) -> (Outcome, Vec<String>, Sim) {
    let server = FakeAcme::new(quirks);
    let directory = server.directory_url();
    let mut sim = Sim::new(server);
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_> = Client::new(
        &config,
        &account,
        Goal::Enrol(OrderRequest::new(identifiers)),
    )
    .unwrap()
    .with_device_key(&device);
    let outcome = sim.drive(&mut client);
    let transcript = sim.server.transcript();
    assert!(
        sim.server.violations.is_empty(),
        "{:?}",
        sim.server.violations
    );
    (outcome, transcript, sim)
}

fn assert_certificate(outcome: &Outcome, identifiers: &[Identifier<'_>]) {
    assert!(outcome.done, "not done: {:?}", outcome.error);
    let pem = outcome.certificates.first().expect("a certificate");
    let block = acme_core::pem::certificates(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let mut der = vec![0u8; block.decoded_len()];
    let der = block.decode(&mut der).unwrap();
    acme_core::client::check_certificate(der, &device_key().public_key(), identifiers, None)
        .unwrap();
    assert_eq!(acme_core::pem::count_certificates(pem.as_bytes()), Ok(2));
}

const COLD_HAPPY: &[&str] = &[
    "GET /directory",
    "HEAD /new-nonce",
    "POST /new-account",
    "POST /new-order",
    "POST /authz/0",
    "POST /chall/0",
    "POST /order/0/finalize",
    "POST /order/0",
    "POST /cert/0",
];

#[test]
fn happy_path_cold_enrolment_takes_nine_requests() {
    let (outcome, transcript, _) = enrol(Quirks::default(), ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(transcript, COLD_HAPPY);
    assert!(transcript.len() <= 10, "cold budget");
    assert_eq!(outcome.provisioned, [ChallengeType::Http01]);
    assert_eq!(outcome.cleanups, 1);
}

#[test]
fn finalize_that_is_valid_at_once_skips_the_poll() {
    let quirks = Quirks {
        finalize: FinalizeMode::Valid,
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let expected: Vec<&str> = COLD_HAPPY
        .iter()
        .copied()
        .filter(|r| *r != "POST /order/0")
        .collect();
    assert_eq!(transcript, expected);
}
