//! Boot-time enrolment firmware for the STM32F767 Nucleo-144 board
//! (NUCLEO-F767ZI): the whole acme-embassy adapter (embassy-net over the
//! on-chip Ethernet MAC and the board's LAN8742A PHY, TLS 1.3 with
//! embedded-tls, the http-01 responder, the snapshot in flash) with no
//! heap.
//!
//! At boot the device
//! 1. brings the link up with DHCP,
//! 2. loads its two P-256 keys from flash, generating them with the
//!    hardware RNG on the first boot,
//! 3. resumes the enrolment from the acme-core snapshot in flash, if one is
//!    there,
//! 4. enrols `dev-<96-bit unique id>.<IDENTIFIER_DOMAIN>` against
//!    `DIRECTORY_URL`, answering http-01 on port 80, and
//! 5. keeps the verified certificate chain in flash.
//!
//! Build-time configuration: `ACME_DIRECTORY` (the directory URL),
//! `ACME_IDENTIFIER_DOMAIN` and `ACME_TRUST_ANCHOR` (see `build.rs`).
//! Flash layout: `memory.x`.
#![no_std]
#![no_main]

use acme_core::client::{Client, Config, Goal, OrderRequest};
use acme_core::{Identifier, SoftwareKey};
use acme_embassy::driver::{run, DriverBuffers, Environment, Error};
use acme_embassy::http01::{serve_http01, Http01Socket, Http01Solver, Http01Tokens};
use acme_embassy::persist::{FlashStore, SnapshotStore};
use acme_embassy::tls::{TlsBuffers, TlsConnector};
use core::ops::Range;
use defmt::{info, warn};
use defmt_rtt as _;
use embassy_embedded_hal::adapter::BlockingAsync;
use embassy_embedded_hal::flash::partition::Partition;
use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::flash::{Blocking, Flash};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::Rng;
use embassy_stm32::{bind_interrupts, eth, peripherals, rng};
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;
use embassy_time::{Duration, Instant, Timer};
use embedded_storage_async::nor_flash::{NorFlash, ReadNorFlash};
#[cfg(feature = "panic-messages")]
use panic_probe as _;
use static_cell::{ConstStaticCell, StaticCell};
use zeroize::Zeroize;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

// ---- Build-time configuration ---------------------------------------------

/// The CA's directory.
const DIRECTORY_URL: &str = match option_env!("ACME_DIRECTORY") {
    Some(url) => url,
    None => "https://acme.lab.internal:14000/dir",
};
/// Devices are named `dev-<unique id>.` this domain.
const IDENTIFIER_DOMAIN: &str = match option_env!("ACME_IDENTIFIER_DOMAIN") {
    Some(domain) => domain,
    None => "devices.lab.internal",
};
/// The CA that signs the ACME server's TLS certificate (DER).
static TRUST_ANCHOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trust-anchor.der"));
/// The port Pebble and RFC 8555 validators connect to for http-01.
const HTTP01_PORT: u16 = 80;
/// The whole enrolment must finish within this; the next boot resumes.
const ENROLMENT_DEADLINE: Duration = Duration::from_secs(300);
/// How long to wait before trying again after a failed enrolment.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

// ---- Flash partitions (offsets from 0x0800_0000; see memory.x) -----------

/// Two 256 KiB sectors for the certificate chain.
const CERTIFICATE_PARTITION: (u32, u32) = (0x08_0000, 0x08_0000);
/// One 256 KiB sector for the keys.
const KEY_PARTITION: (u32, u32) = (0x14_0000, 0x04_0000);
/// Two 256 KiB sectors for the snapshot.
const SNAPSHOT_PARTITION: (u32, u32) = (0x18_0000, 0x08_0000);

// ---- Buffers: every byte the firmware uses for enrolment ------------------

/// TLS record buffers: one full 16 KiB record in, the largest request out.
static TLS_READ: ConstStaticCell<[u8; 16_640]> = ConstStaticCell::new([0; 16_640]);
static TLS_WRITE: ConstStaticCell<[u8; 2048]> = ConstStaticCell::new([0; 2048]);
/// The CA connection's TCP buffers.
static TCP_RX: ConstStaticCell<[u8; 2048]> = ConstStaticCell::new([0; 2048]);
static TCP_TX: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);
/// HTTP request (and certificate-check scratch) and response buffers.
static HTTP_TX: ConstStaticCell<[u8; 2048]> = ConstStaticCell::new([0; 2048]);
static HTTP_RX: ConstStaticCell<[u8; 4096]> = ConstStaticCell::new([0; 4096]);
/// The snapshot, and the flash store's item scratch.
/// The client's URL arena, sized for this firmware's one identifier: about
/// 800 bytes at Let's Encrypt's URL lengths (the default, 2,560 bytes, is
/// sized for eight).
const URL_ARENA: usize = 1024;
/// The largest snapshot of a client with that arena.
const SNAPSHOT_MAX_LEN: usize = Client::<'static, URL_ARENA>::SNAPSHOT_MAX_LEN;

static SNAPSHOT: ConstStaticCell<[u8; SNAPSHOT_MAX_LEN]> =
    ConstStaticCell::new([0; SNAPSHOT_MAX_LEN]);
static SNAPSHOT_SCRATCH: ConstStaticCell<[u8; SNAPSHOT_MAX_LEN + 64]> =
    ConstStaticCell::new([0; SNAPSHOT_MAX_LEN + 64]);
/// One http-01 listener per validation connection the CA may open at once
/// (Pebble and Let's Encrypt validate from several places together).
const HTTP01_LISTENERS: usize = 4;
static HTTP01_BUFFERS: ConstStaticCell<[[u8; 512]; 2 * HTTP01_LISTENERS]> =
    ConstStaticCell::new([[0; 512]; 2 * HTTP01_LISTENERS]);
/// The tokens served: one, for the one identifier.
static HTTP01_TOKENS: Http01Tokens<1> = Http01Tokens::new();
/// Sockets: the CA connection, DNS, DHCP and the http-01 listeners.
static NET_RESOURCES: ConstStaticCell<StackResources<{ 3 + HTTP01_LISTENERS }>> =
    ConstStaticCell::new(StackResources::new());
/// Two transmit buffers are enough for what the device sends (requests of
/// at most a TCP window of 1 KiB, small http-01 answers): when both are in
/// flight, smoltcp waits for one; four receive buffers take the burst of
/// the CA's validation connections, which arrive together.
static PACKETS: ConstStaticCell<PacketQueue<2, 4>> = ConstStaticCell::new(PacketQueue::new());

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;
/// The F7's flash has no interrupt-driven driver: writes and erases block
/// the executor (a 256 KiB sector erase takes one to two seconds), which the
/// enrolment tolerates since it only saves between requests.
type InternalFlash = BlockingAsync<Flash<'static, Blocking>>;
type SharedFlash = Mutex<NoopRawMutex, InternalFlash>;
type FlashPartition = Partition<'static, NoopRawMutex, InternalFlash>;

/// The device's two keys: the ACME account's and the certificate's.
struct DeviceKeys {
    account: SoftwareKey,
    device: SoftwareKey,
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clock_config());
    let mut rng = Rng::new(p.RNG, Irqs);

    // The unique id names the device and its MAC address.
    let uid = embassy_stm32::uid::uid();
    let mac = [0x02, uid[0], uid[1], uid[2], uid[3], uid[4]];
    let device = Ethernet::new(
        PACKETS.take(),
        p.ETH,
        Irqs,
        p.PA1,
        p.PA7,
        p.PC4,
        p.PC5,
        p.PG13,
        p.PB13,
        p.PG11,
        mac,
        p.ETH_SMA,
        p.PA2,
        p.PC1,
    );
    let mut seed = [0; 8];
    rand_fill(&mut rng, &mut seed);
    let (stack, runner) = embassy_net::new(
        device,
        embassy_net::Config::dhcpv4(Default::default()),
        NET_RESOURCES.take(),
        u64::from_le_bytes(seed),
    );
    spawner.spawn(net_task(runner).expect("one network task"));
    spawner.spawn(http01_task(stack).expect("one http-01 task"));

    static FLASH: StaticCell<SharedFlash> = StaticCell::new();
    let flash = FLASH.init(Mutex::new(BlockingAsync::new(Flash::new_blocking(p.FLASH))));
    let partition = |(offset, size): (u32, u32)| FlashPartition::new(flash, offset, size);

    static KEYS: StaticCell<DeviceKeys> = StaticCell::new();
    let keys = match load_or_generate_keys(partition(KEY_PARTITION), &mut rng).await {
        Ok(keys) => KEYS.init(keys),
        Err(()) => halt("the key partition cannot be used").await,
    };
    let identifier = device_name(&uid);

    let Ok(snapshot_store) = FlashStore::new(
        partition(SNAPSHOT_PARTITION),
        0..SNAPSHOT_PARTITION.1,
        SNAPSHOT_SCRATCH.take(),
    ) else {
        halt("the snapshot partition is not whole flash sectors").await
    };

    let mut enrolment = Enrolment {
        stack,
        keys,
        identifier: &identifier,
        store: snapshot_store,
        snapshot: SNAPSHOT.take(),
        connector: TlsConnector::new(stack, TRUST_ANCHOR, rng),
        tls: TlsBuffers {
            tcp_rx: TCP_RX.take(),
            tcp_tx: TCP_TX.take(),
            tls_read: TLS_READ.take(),
            tls_write: TLS_WRITE.take(),
        },
        http_tx: HTTP_TX.take(),
        http_rx: HTTP_RX.take(),
    };
    loop {
        match enrolment.run().await {
            Ok(chain) => {
                // Written from the receive buffer, where the driver left
                // it, with the idle TLS read buffer as the store's
                // scratch: the chain needs no buffer of its own.
                let saved = enrolment
                    .save_certificate(chain, partition(CERTIFICATE_PARTITION))
                    .await;
                match saved {
                    Ok(len) => info!(
                        "enrolled {}: {} bytes of chain kept",
                        identifier.as_str(),
                        len
                    ),
                    Err(()) => warn!("enrolled, but the certificate could not be written"),
                }
                break;
            }
            Err(e) => {
                warn!("enrolment failed: {}; trying again later", e);
                Timer::after(RETRY_AFTER_FAILURE).await;
            }
        }
    }
    // The application takes over from here, with its certificate.
}

/// Everything one enrolment attempt borrows; kept across attempts.
struct Enrolment<'a, St> {
    stack: Stack<'static>,
    keys: &'static DeviceKeys,
    identifier: &'a str,
    store: St,
    snapshot: &'static mut [u8; SNAPSHOT_MAX_LEN],
    connector: TlsConnector<'static, Rng<'static, RNG>>,
    tls: TlsBuffers<'static>,
    http_tx: &'static mut [u8],
    http_rx: &'static mut [u8],
}

impl<St: SnapshotStore> Enrolment<'_, St> {
    /// Enrols (resuming from the stored snapshot); returns where the
    /// verified certificate chain lies in the receive buffer.
    async fn run(&mut self) -> Result<Range<usize>, Error> {
        self.stack.wait_config_up().await;
        let identifiers = [Identifier::Dns(self.identifier)];
        let config = Config::new(DIRECTORY_URL);
        let goal = Goal::Enrol(OrderRequest::new(&identifiers));
        // Used where `new` put it: moving the Client out of the Result
        // would keep a second copy of it in this task's future.
        let mut built: Result<Client<'_, URL_ARENA>, _> =
            Client::new(&config, &self.keys.account, goal);
        let client = match &mut built {
            Ok(client) => client,
            Err(e) => return Err((*e).into()),
        };
        client.set_device_key(&self.keys.device);

        // Resume: the same account, and the same order if one is under way.
        match self.store.load(self.snapshot).await {
            Ok(Some(saved)) => {
                if client.restore(saved).is_err() {
                    warn!("the stored snapshot is not usable; starting afresh");
                }
            }
            Ok(None) => info!("first boot: no snapshot"),
            Err(_) => warn!("the snapshot cannot be read; starting afresh"),
        }

        let mut solver = Http01Solver::new(&HTTP01_TOKENS);
        let environment = Environment {
            connector: &mut self.connector,
            connection_buffers: &mut self.tls,
            solver: &mut solver,
            store: &mut self.store,
        };
        let buffers = DriverBuffers {
            tx: self.http_tx,
            rx: self.http_rx,
            snapshot: self.snapshot,
        };
        let chain = run(
            client,
            environment,
            buffers,
            Some(Instant::now() + ENROLMENT_DEADLINE),
            |_| {},
        )
        .await?;
        info!("{} requests", client.requests_sent());
        chain.ok_or(Error::BufferTooSmall)
    }

    /// Writes the chain [`Enrolment::run`] left in the receive buffer to
    /// `flash`, with the TLS read buffer, idle now, as the flash store's
    /// scratch; returns the chain's length.
    async fn save_certificate(
        &mut self,
        chain: Range<usize>,
        flash: FlashPartition,
    ) -> Result<usize, ()> {
        let chain = self.http_rx.get(chain).ok_or(())?;
        let mut store = FlashStore::new(flash, 0..CERTIFICATE_PARTITION.1, &mut *self.tls.tls_read)
            .map_err(|_| ())?;
        store.save(chain).await.map_err(|_| ())?;
        Ok(chain.len())
    }
}

/// Reads the two key scalars from `partition`; on the first boot (erased
/// flash) generates them with the hardware RNG and writes them.
async fn load_or_generate_keys(
    mut partition: FlashPartition,
    rng: &mut Rng<'static, RNG>,
) -> Result<DeviceKeys, ()> {
    let mut scalars = [0u8; 64];
    partition.read(0, &mut scalars).await.map_err(|_| ())?;
    let keys = match keys_from(&scalars) {
        Some(keys) => keys,
        None => {
            info!("first boot: generating the account and device keys");
            partition.erase(0, KEY_PARTITION.1).await.map_err(|_| ())?;
            let keys = loop {
                rand_fill(rng, &mut scalars);
                if let Some(keys) = keys_from(&scalars) {
                    break keys;
                }
            };
            partition.write(0, &scalars).await.map_err(|_| ())?;
            keys
        }
    };
    scalars.zeroize();
    Ok(keys)
}

/// Both keys, when `scalars` holds two valid P-256 scalars (erased flash,
/// all ones, does not).
fn keys_from(scalars: &[u8; 64]) -> Option<DeviceKeys> {
    let (account, device) = scalars.split_at(32);
    Some(DeviceKeys {
        account: SoftwareKey::from_scalar(account).ok()?,
        device: SoftwareKey::from_scalar(device).ok()?,
    })
}

fn rand_fill(rng: &mut Rng<'static, RNG>, out: &mut [u8]) {
    rng.fill_bytes(out);
}

/// `dev-<unique id in hex>.<IDENTIFIER_DOMAIN>`, written without
/// `core::fmt`, which would add its machinery to the image.
fn device_name(uid: &[u8; 12]) -> heapless::String<DEVICE_NAME_MAX> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut name = heapless::String::new();
    let mut push = |c: char| {
        // Cannot fail: `DEVICE_NAME_MAX` holds the longest name (checked
        // at compile time below).
        let _ = name.push(c);
    };
    "dev-".chars().for_each(&mut push);
    for byte in uid {
        push(char::from(HEX[usize::from(byte >> 4)]));
        push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    push('.');
    IDENTIFIER_DOMAIN.chars().for_each(&mut push);
    name
}

/// The longest device name: `dev-`, 24 hex digits, `.` and the domain.
const DEVICE_NAME_MAX: usize = 64;
const _: () = assert!(
    4 + 24 + 1 + IDENTIFIER_DOMAIN.len() <= DEVICE_NAME_MAX,
    "ACME_IDENTIFIER_DOMAIN is too long for the device name"
);

/// Without the `panic-messages` feature a panic (which acme-core's own code
/// never reaches, but a dependency's bounds check could) logs one fixed
/// line and stops the core as panic-probe does (`udf`: a debugger shows
/// where). It does not reset: a panic that a server's answer causes would
/// otherwise become a loop of boots, each sending requests to the CA.
/// Formatting the panic's message and location would link `core::fmt`,
/// every `Debug` implementation of an error some dependency unwraps, and a
/// file path per panic site: 43 KB of flash. Build with `--features
/// panic-messages` to get them over RTT (panic-probe) while developing.
#[cfg(not(feature = "panic-messages"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    use core::sync::atomic::{AtomicBool, Ordering};
    // A panic inside a defmt call would re-enter the logger, which panics
    // again: log the first panic only.
    static PANICKED: AtomicBool = AtomicBool::new(false);
    cortex_m::interrupt::disable();
    if !PANICKED.swap(true, Ordering::Relaxed) {
        defmt::error!("panic: stopped");
    }
    cortex_m::asm::udf()
}

/// Stops here for good, saying why.
async fn halt(reason: &str) -> ! {
    defmt::error!("halted: {}", reason);
    loop {
        Timer::after_secs(3600).await;
    }
}

/// 216 MHz from the board's 8 MHz ST-LINK clock (HSE bypass): the
/// Ethernet MAC needs HCLK of at least 25 MHz, and faster signing shortens
/// the enrolment.
fn clock_config() -> embassy_stm32::Config {
    use embassy_stm32::rcc::*;
    use embassy_stm32::time::Hertz;
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL216,
        divp: Some(PllPDiv::DIV2),
        divq: None,
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    config
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn http01_task(stack: Stack<'static>) -> ! {
    let mut buffers = HTTP01_BUFFERS.take().iter_mut();
    let sockets: [Http01Socket<'static>; HTTP01_LISTENERS] = core::array::from_fn(|_| {
        let (Some(rx), Some(tx)) = (buffers.next(), buffers.next()) else {
            unreachable!("two buffers per listener")
        };
        Http01Socket { rx, tx }
    });
    serve_http01(stack, HTTP01_PORT, &HTTP01_TOKENS, sockets).await
}
