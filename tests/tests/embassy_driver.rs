//! The device adapter's driver and persistence, on the host: the real
//! `acme_embassy::driver::run` against the simulation server through an
//! in-memory connection, with the snapshot in the RAM store and in a mock
//! NOR flash.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::cell::RefCell;

use acme_core::client::{ChallengeTask, Client, Config, Goal, OrderRequest};
use acme_core::msg::ChallengeType;
use acme_core::{Identifier, SoftwareKey};
use acme_embassy::dns01::{Dns01Publisher, Dns01Solver};
use acme_embassy::driver::{run, ChallengeSolver, Connector, DriverBuffers, Environment, Error};
use acme_embassy::persist::{FlashStore, RamStore, SnapshotStore};
use acme_tests::fake::{FakeAcme, Quirks};
use embassy_futures::block_on;

/// Connections to the in-process server: each request is handed to it when
/// flushed, and its response is read back.
struct FakeConnector<'s> {
    server: &'s RefCell<FakeAcme>,
    connections: usize,
}

struct FakeConnection<'s> {
    server: &'s RefCell<FakeAcme>,
    out: Vec<u8>,
    inbox: Vec<u8>,
}

#[derive(Debug)]
struct Never;

impl std::fmt::Display for Never {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for Never {}

impl embedded_io_async::Error for Never {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::Other
    }
}

impl embedded_io_async::ErrorType for FakeConnection<'_> {
    type Error = Never;
}

impl embedded_io_async::Write for FakeConnection<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Never> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Never> {
        if !self.out.is_empty() {
            let now = embassy_time::Instant::now().as_millis();
            let response = self.server.borrow_mut().handle(&self.out, now);
            self.inbox.extend_from_slice(&response);
            self.out.clear();
        }
        Ok(())
    }
}

impl embedded_io_async::Read for FakeConnection<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Never> {
        let n = buf.len().min(self.inbox.len()).min(700);
        buf[..n].copy_from_slice(&self.inbox[..n]);
        self.inbox.drain(..n);
        Ok(n)
    }
}

impl<'s> Connector for FakeConnector<'s> {
    type Connection<'b>
        = FakeConnection<'s>
    where
        Self: 'b;
    type Buffers = ();

    async fn connect<'b>(
        &'b mut self,
        host: &str,
        _port: u16,
        _buffers: &'b mut (),
    ) -> Result<Self::Connection<'b>, Error> {
        assert_eq!(host, acme_tests::fake::HOST);
        self.connections += 1;
        Ok(FakeConnection {
            server: self.server,
            out: Vec::new(),
            inbox: Vec::new(),
        })
    }
}

/// Publishes key authorizations to the server, as the http-01 responder
/// would serve them.
struct FakeSolver<'s> {
    server: &'s RefCell<FakeAcme>,
    cleaned: usize,
}

impl ChallengeSolver for FakeSolver<'_> {
    async fn provision(&mut self, task: &ChallengeTask<'_>) -> Result<(), Error> {
        assert_eq!(task.kind, ChallengeType::Http01);
        self.server.borrow_mut().provisioned.insert(
            task.key_authorization.token().to_owned(),
            task.key_authorization.as_str().to_owned(),
        );
        Ok(())
    }

    async fn cleanup(&mut self, _task: &ChallengeTask<'_>) {
        self.cleaned += 1;
    }
}

const ONE: &[Identifier<'static>] = &[Identifier::Dns("device.example.com")];

fn enrol<S: SnapshotStore>(
    server: &RefCell<FakeAcme>,
    store: &mut S,
) -> (usize, Vec<String>, usize) {
    let mut solver = FakeSolver { server, cleaned: 0 };
    let (connections, certificates) =
        enrol_with(server, store, &mut solver, ChallengeType::Http01).unwrap();
    (connections, certificates, solver.cleaned)
}

/// One run of the driver against the fake server, answering challenges of
/// type `preferred` with `solver`: the connections opened and the
/// certificates delivered.
fn enrol_with<St: SnapshotStore, S: ChallengeSolver>(
    server: &RefCell<FakeAcme>,
    store: &mut St,
    solver: &mut S,
    preferred: ChallengeType,
) -> Result<(usize, Vec<String>), Error> {
    let directory = server.borrow().directory_url();
    let preference = [preferred];
    let mut config = Config::new(&directory);
    config.challenge_preference = &preference;
    let account = SoftwareKey::from_scalar(&[0x11; 32]).unwrap();
    let device = SoftwareKey::from_scalar(&[0x22; 32]).unwrap();
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE)))
            .unwrap()
            .with_device_key(&device);
    let mut snapshot =
        vec![0u8; Client::<'_, { acme_core::client::DEFAULT_URL_ARENA }>::SNAPSHOT_MAX_LEN];
    if let Some(saved) = block_on(store.load(&mut snapshot)).unwrap() {
        client.restore(saved).unwrap();
    }
    let mut connector = FakeConnector {
        server,
        connections: 0,
    };
    let mut tx = vec![0u8; 4096];
    let mut rx = vec![0u8; 8192];
    let mut certificates = Vec::new();
    let buffers = DriverBuffers {
        tx: &mut tx,
        rx: &mut rx,
        snapshot: &mut snapshot,
    };
    let environment = Environment {
        connector: &mut connector,
        connection_buffers: &mut (),
        solver,
        store,
    };
    let left_in_rx = block_on(run(&mut client, environment, buffers, None, |pem| {
        certificates.push(String::from_utf8_lossy(pem).into_owned());
    }))?;
    // The last chain delivered is still in rx where run says it is.
    assert_eq!(
        left_in_rx.map(|range| String::from_utf8_lossy(&rx[range]).into_owned()),
        certificates.last().cloned()
    );
    Ok((connector.connections, certificates))
}

/// The application's dns-01 callback in the tests: it writes into the
/// fake server's DNS zone, and records what it was asked.
struct ZonePublisher<'s> {
    server: &'s RefCell<FakeAcme>,
    published: Vec<(String, String)>,
    removed: Vec<String>,
    provider_down: bool,
}

impl<'s> ZonePublisher<'s> {
    fn new(server: &'s RefCell<FakeAcme>, provider_down: bool) -> Self {
        Self {
            server,
            published: Vec::new(),
            removed: Vec::new(),
            provider_down,
        }
    }
}

impl Dns01Publisher for ZonePublisher<'_> {
    type Error = &'static str;

    async fn publish(&mut self, name: &str, value: &str) -> Result<(), &'static str> {
        if self.provider_down {
            return Err("the DNS provider is down");
        }
        self.published.push((name.to_owned(), value.to_owned()));
        self.server
            .borrow_mut()
            .txt_records
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    async fn remove(&mut self, name: &str, _value: &str) {
        self.removed.push(name.to_owned());
        self.server.borrow_mut().txt_records.remove(name);
    }
}

#[test]
fn dns01_is_answered_through_the_application_callback() {
    let server = RefCell::new(FakeAcme::new(Quirks::default()));
    let mut store = RamStore::<4096>::new();
    let mut solver = Dns01Solver::new(ZonePublisher::new(&server, false));
    let (_, certificates) =
        enrol_with(&server, &mut store, &mut solver, ChallengeType::Dns01).unwrap();
    assert_eq!(certificates.len(), 1);
    let publisher = solver.into_publisher();
    // The fake validated the record against its own SHA-256 of the key
    // authorization; here, the name and the shape of the value.
    assert_eq!(publisher.published.len(), 1);
    let (name, value) = &publisher.published[0];
    assert_eq!(name, "_acme-challenge.device.example.com");
    assert_eq!(value.len(), 43, "base64url of a SHA-256 digest: {value}");
    assert_eq!(publisher.removed, vec![name.clone()], "cleaned up after");
    assert!(server.borrow().txt_records.is_empty());
    assert!(
        server.borrow().provisioned.is_empty(),
        "nothing went by http-01"
    );
    let log = server.borrow().log.join("\n");
    assert!(server.borrow().violations.is_empty(), "{log}");
}

#[test]
fn a_dns01_publisher_that_fails_stops_the_run_with_its_error_kept() {
    let server = RefCell::new(FakeAcme::new(Quirks::default()));
    let mut store = RamStore::<4096>::new();
    let mut solver = Dns01Solver::new(ZonePublisher::new(&server, true));
    let result = enrol_with(&server, &mut store, &mut solver, ChallengeType::Dns01);
    assert_eq!(result.unwrap_err(), Error::Challenge);
    assert_eq!(solver.last_error(), Some(&"the DNS provider is down"));
    // The challenge was never answered: nothing told the CA to validate.
    let answered = server
        .borrow()
        .transcript()
        .iter()
        .filter(|line| line.starts_with("POST /chall"))
        .count();
    assert_eq!(answered, 0, "{:?}", server.borrow().transcript());
}

#[test]
fn the_driver_enrols_on_one_connection_and_saves_the_snapshot() {
    let server = RefCell::new(FakeAcme::new(Quirks::default()));
    let mut store = RamStore::<4096>::new();
    let (connections, certificates, cleaned) = enrol(&server, &mut store);
    assert_eq!(connections, 1, "one keep-alive connection");
    assert_eq!(certificates.len(), 1);
    assert_eq!(cleaned, 1);
    assert!(store.saves() >= 2, "directory+account and order saved");
    assert!(
        server.borrow().violations.is_empty(),
        "{:?}",
        server.borrow().violations
    );
    // A warm renewal from the store: no new account.
    let from = server.borrow().log.len();
    let (_, certificates, _) = enrol(&server, &mut store);
    assert_eq!(certificates.len(), 1);
    assert_eq!(server.borrow().account_count(), 1);
    assert_eq!(server.borrow().transcript()[from], "HEAD /new-nonce");
}

#[test]
fn the_snapshot_survives_in_nor_flash() {
    let mut flash = NorFlashInRam::new(4 * 4096);
    let capacity = flash.bytes.len() as u32;
    let server = RefCell::new(FakeAcme::new(Quirks::default()));
    {
        let mut scratch = [0u8; 4096];
        let mut store = FlashStore::new(&mut flash, 0..capacity, &mut scratch).unwrap();
        let (_, certificates, _) = enrol(&server, &mut store);
        assert_eq!(certificates.len(), 1);
    }
    // "Reboot": a new store over the same flash finds the snapshot.
    let mut scratch = [0u8; 4096];
    let mut store = FlashStore::new(&mut flash, 0..capacity, &mut scratch).unwrap();
    let mut buf = [0u8; 4096];
    let saved = block_on(store.load(&mut buf))
        .unwrap()
        .expect("snapshot in flash")
        .to_vec();
    assert!(saved.starts_with(b"ACS"));
    let from = server.borrow().log.len();
    let (_, certificates, _) = enrol(&server, &mut store);
    assert_eq!(certificates.len(), 1);
    assert_eq!(
        server.borrow().account_count(),
        1,
        "the same account after the reboot"
    );
    assert_eq!(server.borrow().transcript()[from], "HEAD /new-nonce");
    // A range that is not whole pages is refused, not a panic.
    let mut scratch = [0u8; 64];
    assert!(FlashStore::new(&mut flash, 1..100, &mut scratch).is_err());
}

/// A NOR flash in RAM: erase sets 0xFF, writes can only clear bits, and
/// writes must be word-aligned, as on a real part.
struct NorFlashInRam {
    bytes: Vec<u8>,
}

impl NorFlashInRam {
    fn new(size: usize) -> Self {
        Self {
            bytes: vec![0xFF; size],
        }
    }
}

#[derive(Debug)]
struct FlashError;

impl embedded_storage_async::nor_flash::NorFlashError for FlashError {
    fn kind(&self) -> embedded_storage_async::nor_flash::NorFlashErrorKind {
        embedded_storage_async::nor_flash::NorFlashErrorKind::Other
    }
}

impl embedded_storage_async::nor_flash::ErrorType for NorFlashInRam {
    type Error = FlashError;
}

impl embedded_storage_async::nor_flash::ReadNorFlash for NorFlashInRam {
    const READ_SIZE: usize = 4;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let start = offset as usize;
        bytes.copy_from_slice(
            self.bytes
                .get(start..start + bytes.len())
                .ok_or(FlashError)?,
        );
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.bytes.len()
    }
}

impl embedded_storage_async::nor_flash::NorFlash for NorFlashInRam {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if !from.is_multiple_of(4096) || !to.is_multiple_of(4096) {
            return Err(FlashError);
        }
        self.bytes
            .get_mut(from as usize..to as usize)
            .ok_or(FlashError)?
            .fill(0xFF);
        Ok(())
    }

    async fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        if !offset.is_multiple_of(4) || !data.len().is_multiple_of(4) {
            return Err(FlashError);
        }
        let start = offset as usize;
        let target = self
            .bytes
            .get_mut(start..start + data.len())
            .ok_or(FlashError)?;
        for (t, d) in target.iter_mut().zip(data) {
            *t &= *d;
        }
        Ok(())
    }
}

#[test]
fn a_certificate_its_issuer_did_not_sign_is_refused_on_the_device() {
    let server = RefCell::new(FakeAcme::new(Quirks {
        leaf_not_signed_by_the_ca: true,
        ..Quirks::default()
    }));
    let mut store = RamStore::<4096>::new();
    let mut solver = FakeSolver {
        server: &server,
        cleaned: 0,
    };
    let result = enrol_with(&server, &mut store, &mut solver, ChallengeType::Http01);
    assert_eq!(
        result.unwrap_err(),
        Error::Acme(acme_core::Error::CertificateRejected(
            acme_core::client::CertificateRejection::NotIssuedByNext
        )),
        "the device delivers only a certificate its chain's next certificate signed"
    );
}
