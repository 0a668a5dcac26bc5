//! Boot-time enrolment, as firmware writes it: bring the network up, serve
//! http-01 beside the flow, resume from the snapshot in flash, enrol over
//! verified TLS, and keep the certificate.
//!
//! It runs here on Linux over a TAP device (`embassy-net-tuntap`), with
//! embassy-executor's std platform, so the same code is tried (and tested,
//! in `tests/tests/tap_device.rs`) against a real CA. On a board only
//! [`main`] changes: the Ethernet driver instead of the TAP device, the
//! MCU's flash instead of a file, the hardware RNG instead of the OS's.
//! Everything below [`enrol`] is what the firmware links.
//!
//! The device is configured from the environment:
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ACME_TAP` | the TAP interface | `tap0` |
//! | `ACME_DEVICE_IP` | the device's address (/24) | `192.168.69.2` |
//! | `ACME_GATEWAY` | the gateway | `192.168.69.1` |
//! | `ACME_DIRECTORY` | the directory URL | (required) |
//! | `ACME_SERVER_IP` | connect here whatever the URL's host (the host is still verified) | resolve by DNS |
//! | `ACME_DNS_SERVER` | the DNS server the device resolves the CA's name with | none |
//! | `ACME_CLOCK` | the device's clock for TLS certificate validity: `system`, `none` (validity unchecked), or fixed seconds since 1970 | `system` |
//! | `ACME_CHALLENGE` | `http-01`, or `dns-01` published through `ACME_DNS01_API` | `http-01` |
//! | `ACME_DNS01_API` | `ip:port` of the HTTP service the dns-01 callback posts TXT records to (challtestsrv's `/set-txt` API here) | none |
//! | `ACME_TRUST_ANCHOR` | PEM file of the CA that signs the server's TLS certificate | (required) |
//! | `ACME_IDENTIFIER` | the dns name to enrol | `device.acme.test` |
//! | `ACME_HTTP01_PORT` | the http-01 listener's port | `80` |
//! | `ACME_FLASH` | file standing in for the NOR flash (snapshot survives here) | `acme-flash.bin` |
//! | `ACME_KEYS` | file standing in for the key store (two P-256 scalars) | `acme-keys.bin` |
//! | `ACME_CERT_OUT` | where to write the certificate chain | `acme-cert.pem` |
//! | `ACME_POWER_OFF_AFTER_SAVES` | stop dead after this many snapshot saves, as a power cut would | never |
//! | `ACME_BUFFERS` | `tls_read,tls_write,tcp_rx,tcp_tx,http_tx,http_rx`: use only this much of each buffer | all |
//!
//! It prints one `result ...` line and exits 0 when enrolled, 3 after a
//! simulated power cut, 1 on failure.

use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicUsize, Ordering};

use acme_core::client::{ChallengeTask, Client, Config, Goal, OrderRequest, SNAPSHOT_MAX_LEN};
use acme_core::msg::ChallengeType;
use acme_core::{Identifier, SoftwareKey};
use acme_embassy::dns01::{Dns01Publisher, Dns01Solver};
use acme_embassy::driver::{run, ChallengeSolver, DriverBuffers, Environment, Error};
use acme_embassy::http01::{serve_http01, Http01Socket, Http01Solver, Http01Tokens};
use acme_embassy::persist::{FlashStore, SnapshotStore};
use acme_embassy::tls::{TlsBuffers, TlsConnector, WallClock};
use embassy_executor::Spawner;
use embassy_futures::select::{select, Either};
use embassy_net::{Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Instant};
use embedded_storage_async::nor_flash::NorFlash;
use rand_core::{OsRng, RngCore};
use static_cell::{ConstStaticCell, StaticCell};

/// What the device knows at build time (or reads from its provisioning
/// data).
struct DeviceConfig {
    directory_url: &'static str,
    server_address: Option<Ipv4Addr>,
    /// The device's clock, when it has one (TLS certificate validity).
    clock: Option<WallClock>,
    /// How the device answers challenges.
    challenge: ChallengeType,
    /// For dns-01: where the application's callback publishes records.
    dns01_api: Option<(Ipv4Addr, u16)>,
    trust_anchor_der: &'static [u8],
    identifier: &'static str,
    http01_port: u16,
    /// How much of each static buffer to use (to find the smallest sizes
    /// that work; a board just sizes the statics).
    buffer_limits: BufferLimits,
}

/// Lengths to cut the static buffers to.
#[derive(Clone, Copy)]
struct BufferLimits {
    tls_read: usize,
    tls_write: usize,
    tcp_rx: usize,
    tcp_tx: usize,
    http_tx: usize,
    http_rx: usize,
}

impl BufferLimits {
    const FULL: Self = Self {
        tls_read: usize::MAX,
        tls_write: usize::MAX,
        tcp_rx: usize::MAX,
        tcp_tx: usize::MAX,
        http_tx: usize::MAX,
        http_rx: usize::MAX,
    };
}

/// The first `len` bytes of `buf` (all of it when shorter).
fn cut(buf: &'static mut [u8], len: usize) -> &'static mut [u8] {
    let len = len.min(buf.len());
    &mut buf[..len]
}

/// The device's two keys: the ACME account's and the certificate's.
struct DeviceKeys {
    account: SoftwareKey,
    device: SoftwareKey,
}

// ---- Buffers: every byte the enrolment uses, sized for Pebble -----------

/// TLS record read buffer: one full 16 KiB record plus header and tag.
static TLS_READ: ConstStaticCell<[u8; 16_640]> = ConstStaticCell::new([0; 16_640]);
/// TLS record write buffer: the largest request (finalize) plus overhead.
static TLS_WRITE: ConstStaticCell<[u8; 4096]> = ConstStaticCell::new([0; 4096]);
/// TCP socket buffers of the connection to the CA.
static TCP_RX: ConstStaticCell<[u8; 4096]> = ConstStaticCell::new([0; 4096]);
static TCP_TX: ConstStaticCell<[u8; 2048]> = ConstStaticCell::new([0; 2048]);
/// HTTP request (and certificate-check scratch) and response buffers.
static HTTP_TX: ConstStaticCell<[u8; 2048]> = ConstStaticCell::new([0; 2048]);
static HTTP_RX: ConstStaticCell<[u8; 4096]> = ConstStaticCell::new([0; 4096]);
/// One snapshot, and the flash store's item scratch.
static SNAPSHOT: ConstStaticCell<[u8; SNAPSHOT_MAX_LEN]> =
    ConstStaticCell::new([0; SNAPSHOT_MAX_LEN]);
static FLASH_SCRATCH: ConstStaticCell<[u8; SNAPSHOT_MAX_LEN + 64]> =
    ConstStaticCell::new([0; SNAPSHOT_MAX_LEN + 64]);
/// The http-01 listeners' socket buffers: one listener per validation
/// connection the CA may open at once.
const HTTP01_LISTENERS: usize = 4;
static HTTP01_BUFFERS: ConstStaticCell<[[u8; 512]; 2 * HTTP01_LISTENERS]> =
    ConstStaticCell::new([[0; 512]; 2 * HTTP01_LISTENERS]);
/// The network stack: sockets for the CA, the http-01 listeners, DNS, and
/// the dns-01 callback's connection to its publishing service.
static RESOURCES: ConstStaticCell<StackResources<{ 3 + HTTP01_LISTENERS }>> =
    ConstStaticCell::new(StackResources::new());
static TOKENS: Http01Tokens = Http01Tokens::new();

/// The snapshot lives in the first two 4 KiB pages of the flash.
const SNAPSHOT_PAGES: core::ops::Range<u32> = 0..2 * 4096;
/// The whole enrolment must finish within this.
const ENROLMENT_DEADLINE: Duration = Duration::from_secs(120);

/// How the enrolment ended.
enum Outcome {
    Enrolled,
    PoweredOff,
    Failed(Error),
}

/// Raised by the store once the simulated power cut is due.
static POWER_CUT: Signal<CriticalSectionRawMutex, ()> = Signal::new();
static SAVES: AtomicUsize = AtomicUsize::new(0);

/// Enrols, resuming from the snapshot in `flash`; `on_certificate`
/// receives the verified chain. This is the firmware's boot task body.
async fn enrol<F: NorFlash>(
    stack: Stack<'static>,
    config: &'static DeviceConfig,
    keys: &'static DeviceKeys,
    flash: F,
    power_off_after_saves: Option<usize>,
    on_certificate: impl FnMut(&[u8]),
) -> Outcome {
    stack.wait_config_up().await;

    let Ok(store) = FlashStore::new(flash, SNAPSHOT_PAGES, FLASH_SCRATCH.take()) else {
        return Outcome::Failed(Error::Storage);
    };
    let mut store = CountingStore {
        inner: store,
        power_off_after: power_off_after_saves,
    };

    let identifiers = [Identifier::Dns(config.identifier)];
    let preference = [config.challenge];
    let mut client_config = Config::new(config.directory_url);
    client_config.challenge_preference = &preference;
    let goal = Goal::Enrol(OrderRequest::new(&identifiers));
    let mut client: Client<'_> = match Client::new(&client_config, &keys.account, goal) {
        Ok(client) => client.with_device_key(&keys.device),
        Err(e) => return Outcome::Failed(Error::Acme(e)),
    };

    // Resume: the same account, and the same order if one is under way.
    let snapshot = SNAPSHOT.take();
    match store.inner.load(snapshot).await {
        Ok(Some(saved)) => match client.restore(saved) {
            Ok(()) => println!("resumed from a {}-byte snapshot", saved.len()),
            Err(e) => println!("snapshot not usable ({e}); starting afresh"),
        },
        Ok(None) => println!("no snapshot: first boot"),
        Err(e) => println!("flash unreadable ({e:?}); starting afresh"),
    }

    let mut connector = TlsConnector::new(stack, config.trust_anchor_der, OsRng);
    if let Some(address) = config.server_address {
        connector = connector.with_fixed_address(address);
    }
    if let Some(clock) = config.clock {
        connector = connector.with_clock(clock);
    }
    let limits = config.buffer_limits;
    let mut tls_buffers = TlsBuffers {
        tcp_rx: cut(TCP_RX.take(), limits.tcp_rx),
        tcp_tx: cut(TCP_TX.take(), limits.tcp_tx),
        tls_read: cut(TLS_READ.take(), limits.tls_read),
        tls_write: cut(TLS_WRITE.take(), limits.tls_write),
    };
    let mut solver = match (config.challenge, config.dns01_api) {
        (ChallengeType::Dns01, Some(endpoint)) => {
            DeviceSolver::Dns01(Dns01Solver::new(DnsApi { stack, endpoint }))
        }
        _ => DeviceSolver::Http01(Http01Solver::new(&TOKENS)),
    };
    let environment = Environment {
        connector: &mut connector,
        connection_buffers: &mut tls_buffers,
        solver: &mut solver,
        store: &mut store,
    };
    let buffers = DriverBuffers {
        tx: cut(HTTP_TX.take(), limits.http_tx),
        rx: cut(HTTP_RX.take(), limits.http_rx),
        snapshot,
    };
    let deadline = Instant::now() + ENROLMENT_DEADLINE;
    let flow = run(
        &mut client,
        environment,
        buffers,
        Some(deadline),
        on_certificate,
    );
    let outcome = match select(flow, POWER_CUT.wait()).await {
        Either::First(Ok(_)) => Outcome::Enrolled,
        Either::First(Err(e)) => Outcome::Failed(e),
        Either::Second(()) => Outcome::PoweredOff,
    };
    println!(
        "account {} order {} requests {}",
        client.account_url().unwrap_or("-"),
        client.order_url().unwrap_or("-"),
        client.requests_sent()
    );
    if let Outcome::Failed(_) = outcome {
        let problem = client.problem();
        if problem.status != 0 {
            println!("server problem: {problem:?}");
        }
    }
    outcome
}

/// The challenge types this device answers: http-01 with its own
/// responder, dns-01 through the application's publisher.
enum DeviceSolver {
    Http01(Http01Solver<'static>),
    Dns01(Dns01Solver<DnsApi>),
}

impl ChallengeSolver for DeviceSolver {
    async fn provision(&mut self, task: &ChallengeTask<'_>) -> Result<(), Error> {
        match self {
            DeviceSolver::Http01(solver) => solver.provision(task).await,
            DeviceSolver::Dns01(solver) => solver.provision(task).await,
        }
    }

    async fn cleanup(&mut self, task: &ChallengeTask<'_>) {
        match self {
            DeviceSolver::Http01(solver) => solver.cleanup(task).await,
            DeviceSolver::Dns01(solver) => solver.cleanup(task).await,
        }
    }
}

/// The application's dns-01 callback: it posts the TXT record to an HTTP
/// service on the network, as a fleet's provisioning service would take
/// it (here challtestsrv's management API, which Pebble resolves through).
struct DnsApi {
    stack: Stack<'static>,
    endpoint: (Ipv4Addr, u16),
}

/// The service did not take the record.
#[derive(Debug)]
struct DnsApiRefused;

impl DnsApi {
    /// `POST path` with a JSON `body`; Ok on a 200 answer.
    async fn post(&self, path: &str, body: &str) -> Result<(), DnsApiRefused> {
        use embedded_io_async::{Read as _, Write as _};
        let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
        let mut socket = embassy_net::tcp::TcpSocket::new(self.stack, &mut rx, &mut tx);
        socket.set_timeout(Some(Duration::from_secs(10)));
        let (ip, port) = self.endpoint;
        socket
            .connect(embassy_net::IpEndpoint::new(ip.into(), port))
            .await
            .map_err(|_| DnsApiRefused)?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        socket
            .write_all(request.as_bytes())
            .await
            .map_err(|_| DnsApiRefused)?;
        socket.flush().await.map_err(|_| DnsApiRefused)?;
        let mut answer = [0u8; 12];
        socket
            .read_exact(&mut answer)
            .await
            .map_err(|_| DnsApiRefused)?;
        socket.close();
        (answer.starts_with(b"HTTP/1.1 200"))
            .then_some(())
            .ok_or(DnsApiRefused)
    }
}

impl Dns01Publisher for DnsApi {
    type Error = DnsApiRefused;

    async fn publish(&mut self, name: &str, value: &str) -> Result<(), DnsApiRefused> {
        println!("dns-01: publishing TXT {name}");
        self.post(
            "/set-txt",
            &format!(r#"{{"host":"{name}.","value":"{value}"}}"#),
        )
        .await
    }

    async fn remove(&mut self, name: &str, _value: &str) {
        println!("dns-01: removing TXT {name}");
        let _ = self
            .post("/clear-txt", &format!(r#"{{"host":"{name}."}}"#))
            .await;
    }
}

/// The flash store, counting saves so a power cut can be simulated right
/// after one.
struct CountingStore<S> {
    inner: S,
    power_off_after: Option<usize>,
}

impl<S: SnapshotStore> SnapshotStore for CountingStore<S> {
    type Error = S::Error;

    async fn load<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, Self::Error> {
        self.inner.load(buf).await
    }

    async fn save(&mut self, snapshot: &[u8]) -> Result<(), Self::Error> {
        self.inner.save(snapshot).await?;
        let saves = SAVES.fetch_add(1, Ordering::Relaxed) + 1;
        if self.power_off_after == Some(saves) {
            POWER_CUT.signal(());
        }
        Ok(())
    }
}

// ---- Tasks -----------------------------------------------------------------

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, TunTapDevice>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn http01_task(stack: Stack<'static>, port: u16) -> ! {
    let mut buffers = HTTP01_BUFFERS.take().iter_mut();
    let sockets: [Http01Socket<'static>; HTTP01_LISTENERS] = core::array::from_fn(|_| {
        let (Some(rx), Some(tx)) = (buffers.next(), buffers.next()) else {
            unreachable!("two buffers per listener")
        };
        Http01Socket { rx, tx }
    });
    serve_http01(stack, port, &TOKENS, sockets).await
}

#[embassy_executor::task]
async fn enrol_task(
    stack: Stack<'static>,
    config: &'static DeviceConfig,
    keys: &'static DeviceKeys,
    flash: host::FileFlash,
    power_off_after_saves: Option<usize>,
    cert_out: &'static str,
) {
    let mut saved = false;
    let outcome = enrol(stack, config, keys, flash, power_off_after_saves, |pem| {
        saved = host::write_file(cert_out, pem, 0o644).is_ok();
    })
    .await;
    let code = match outcome {
        Outcome::Enrolled if saved => {
            println!("result enrolled; certificate in {cert_out}");
            0
        }
        Outcome::Enrolled => {
            println!("result failed: the certificate could not be written to {cert_out}");
            1
        }
        Outcome::PoweredOff => {
            println!("result powered-off");
            3
        }
        Outcome::Failed(e) => {
            println!("result failed: {e}");
            1
        }
    };
    std::process::exit(code);
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let env = host::Env::read();
    let tap = match TunTapDevice::new(&env.tap) {
        Ok(tap) => tap,
        Err(e) => {
            println!("result failed: cannot open TAP device {}: {e}", env.tap);
            std::process::exit(1);
        }
    };
    let net_config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(env.device_ip, 24),
        gateway: Some(env.gateway),
        dns_servers: env.dns_server.into_iter().collect(),
    });
    let seed = OsRng.next_u64();
    let (stack, runner) = embassy_net::new(tap, net_config, RESOURCES.take(), seed);

    static CONFIG: StaticCell<DeviceConfig> = StaticCell::new();
    let config = CONFIG.init(DeviceConfig {
        directory_url: env.directory,
        server_address: env.server_ip,
        clock: env.clock,
        challenge: env.challenge,
        dns01_api: env.dns01_api,
        trust_anchor_der: env.trust_anchor_der,
        identifier: env.identifier,
        http01_port: env.http01_port,
        buffer_limits: env.buffer_limits,
    });
    static KEYS: StaticCell<DeviceKeys> = StaticCell::new();
    let keys = KEYS.init(env.keys);

    spawner.spawn(net_task(runner).expect("one network task"));
    spawner.spawn(http01_task(stack, config.http01_port).expect("one http-01 task"));
    spawner.spawn(
        enrol_task(
            stack,
            config,
            keys,
            env.flash,
            env.power_off_after_saves,
            env.cert_out,
        )
        .expect("one enrolment task"),
    );
}

/// What stands in for the board on the host: configuration, key store and
/// flash.
mod host {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    use super::*;

    pub(super) struct Env {
        pub(super) tap: String,
        pub(super) device_ip: Ipv4Addr,
        pub(super) gateway: Ipv4Addr,
        pub(super) directory: &'static str,
        pub(super) server_ip: Option<Ipv4Addr>,
        pub(super) dns_server: Option<Ipv4Addr>,
        pub(super) clock: Option<WallClock>,
        pub(super) challenge: ChallengeType,
        pub(super) dns01_api: Option<(Ipv4Addr, u16)>,
        pub(super) trust_anchor_der: &'static [u8],
        pub(super) identifier: &'static str,
        pub(super) http01_port: u16,
        pub(super) flash: FileFlash,
        pub(super) keys: DeviceKeys,
        pub(super) cert_out: &'static str,
        pub(super) power_off_after_saves: Option<usize>,
        pub(super) buffer_limits: BufferLimits,
    }

    fn var(name: &str, default: Option<&str>) -> String {
        match (std::env::var(name), default) {
            (Ok(v), _) => v,
            (Err(_), Some(d)) => d.to_owned(),
            (Err(_), None) => fail(&format!("{name} must be set")),
        }
    }

    fn fail(message: &str) -> ! {
        println!("result failed: {message}");
        std::process::exit(1)
    }

    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    fn parse<T: std::str::FromStr>(name: &str, text: &str) -> T {
        text.parse()
            .unwrap_or_else(|_| fail(&format!("{name}: cannot parse {text:?}")))
    }

    impl Env {
        pub(super) fn read() -> Self {
            let anchor_path = var("ACME_TRUST_ANCHOR", None);
            let pem = std::fs::read(&anchor_path)
                .unwrap_or_else(|e| fail(&format!("{anchor_path}: {e}")));
            let block = acme_core::pem::certificates(&pem)
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| fail(&format!("{anchor_path}: no PEM certificate")));
            let mut der = vec![0u8; block.decoded_len()];
            let len = block
                .decode(&mut der)
                .unwrap_or_else(|e| fail(&format!("{anchor_path}: {e}")))
                .len();
            der.truncate(len);
            Self {
                tap: var("ACME_TAP", Some("tap0")),
                device_ip: parse(
                    "ACME_DEVICE_IP",
                    &var("ACME_DEVICE_IP", Some("192.168.69.2")),
                ),
                gateway: parse("ACME_GATEWAY", &var("ACME_GATEWAY", Some("192.168.69.1"))),
                directory: leak(var("ACME_DIRECTORY", None)),
                server_ip: std::env::var("ACME_SERVER_IP")
                    .ok()
                    .map(|v| parse("ACME_SERVER_IP", &v)),
                dns_server: std::env::var("ACME_DNS_SERVER")
                    .ok()
                    .map(|v| parse("ACME_DNS_SERVER", &v)),
                clock: clock(&var("ACME_CLOCK", Some("system"))),
                challenge: match var("ACME_CHALLENGE", Some("http-01")).as_str() {
                    "http-01" => ChallengeType::Http01,
                    "dns-01" => ChallengeType::Dns01,
                    other => fail(&format!(
                        "ACME_CHALLENGE: {other:?} is not http-01 or dns-01"
                    )),
                },
                dns01_api: std::env::var("ACME_DNS01_API").ok().map(|v| {
                    let address: std::net::SocketAddrV4 = parse("ACME_DNS01_API", &v);
                    (*address.ip(), address.port())
                }),
                trust_anchor_der: Box::leak(der.into_boxed_slice()),
                identifier: leak(var("ACME_IDENTIFIER", Some("device.acme.test"))),
                http01_port: parse("ACME_HTTP01_PORT", &var("ACME_HTTP01_PORT", Some("80"))),
                flash: FileFlash::open(var("ACME_FLASH", Some("acme-flash.bin"))),
                keys: load_or_create_keys(&var("ACME_KEYS", Some("acme-keys.bin"))),
                cert_out: leak(var("ACME_CERT_OUT", Some("acme-cert.pem"))),
                power_off_after_saves: std::env::var("ACME_POWER_OFF_AFTER_SAVES")
                    .ok()
                    .map(|v| parse("ACME_POWER_OFF_AFTER_SAVES", &v)),
                buffer_limits: buffer_limits(),
            }
        }
    }

    /// The seconds a fixed `ACME_CLOCK` reads.
    static FIXED_TIME: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// `ACME_CLOCK`: the host's clock, none, or a fixed time.
    fn clock(setting: &str) -> Option<WallClock> {
        match setting {
            "system" => Some(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| d.as_secs())
            }),
            "none" => None,
            seconds => {
                FIXED_TIME.store(parse("ACME_CLOCK", seconds), Ordering::Relaxed);
                Some(|| Some(FIXED_TIME.load(Ordering::Relaxed)))
            }
        }
    }

    /// `ACME_BUFFERS=tls_read,tls_write,tcp_rx,tcp_tx,http_tx,http_rx`
    /// cuts the static buffers to these lengths.
    fn buffer_limits() -> BufferLimits {
        let Ok(text) = std::env::var("ACME_BUFFERS") else {
            return BufferLimits::FULL;
        };
        let n: Vec<usize> = text.split(',').map(|v| parse("ACME_BUFFERS", v)).collect();
        let [tls_read, tls_write, tcp_rx, tcp_tx, http_tx, http_rx] = n[..] else {
            fail("ACME_BUFFERS takes six lengths");
        };
        BufferLimits {
            tls_read,
            tls_write,
            tcp_rx,
            tcp_tx,
            http_tx,
            http_rx,
        }
    }

    /// Writes `bytes` to `path` through a temporary file and a rename.
    pub(super) fn write_file(path: &str, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        let temp = format!("{path}.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    }

    /// The account and device keys: generated at first boot, kept after.
    /// (A board keeps them in a secure element or a protected flash page.)
    fn load_or_create_keys(path: &str) -> DeviceKeys {
        let scalars = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(_) => {
                let account = SoftwareKey::generate(&mut OsRng);
                let device = SoftwareKey::generate(&mut OsRng);
                let mut bytes = account.to_scalar_bytes().to_vec();
                bytes.extend_from_slice(&device.to_scalar_bytes()[..]);
                write_file(path, &bytes, 0o600).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
                bytes
            }
        };
        let key = |range: core::ops::Range<usize>| {
            scalars
                .get(range)
                .and_then(|s| SoftwareKey::from_scalar(s).ok())
                .unwrap_or_else(|| fail(&format!("{path}: not two P-256 scalars")))
        };
        DeviceKeys {
            account: key(0..32),
            device: key(32..64),
        }
    }

    /// NOR flash kept in a file: erased bytes are 0xFF, writes only clear
    /// bits, and every write reaches the file before it returns, so killing
    /// the process is a power cut.
    pub(super) struct FileFlash {
        path: String,
        data: Vec<u8>,
    }

    const FLASH_SIZE: usize = 4 * 4096;

    impl FileFlash {
        fn open(path: String) -> Self {
            let data = std::fs::read(&path)
                .ok()
                .filter(|d| d.len() == FLASH_SIZE)
                .unwrap_or_else(|| vec![0xFF; FLASH_SIZE]);
            Self { path, data }
        }

        fn persist(&self) -> Result<(), FlashError> {
            write_file(&self.path, &self.data, 0o600).map_err(|_| FlashError)
        }

        fn range(&self, offset: u32, len: usize) -> Result<core::ops::Range<usize>, FlashError> {
            let start = offset as usize;
            let end = start.checked_add(len).ok_or(FlashError)?;
            (end <= self.data.len())
                .then_some(start..end)
                .ok_or(FlashError)
        }
    }

    #[derive(Debug)]
    pub(super) struct FlashError;

    impl embedded_storage_async::nor_flash::NorFlashError for FlashError {
        fn kind(&self) -> embedded_storage_async::nor_flash::NorFlashErrorKind {
            embedded_storage_async::nor_flash::NorFlashErrorKind::OutOfBounds
        }
    }

    impl embedded_storage_async::nor_flash::ErrorType for FileFlash {
        type Error = FlashError;
    }

    impl embedded_storage_async::nor_flash::ReadNorFlash for FileFlash {
        const READ_SIZE: usize = 1;

        async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
            let range = self.range(offset, bytes.len())?;
            bytes.copy_from_slice(&self.data[range]);
            Ok(())
        }

        fn capacity(&self) -> usize {
            self.data.len()
        }
    }

    impl NorFlash for FileFlash {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = 4096;

        async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
            let range = self.range(from, to.saturating_sub(from) as usize)?;
            self.data[range].fill(0xFF);
            self.persist()
        }

        async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
            let range = self.range(offset, bytes.len())?;
            for (cell, byte) in self.data[range].iter_mut().zip(bytes) {
                *cell &= *byte;
            }
            self.persist()
        }
    }
}
