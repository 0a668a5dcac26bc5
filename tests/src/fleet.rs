//! A fleet under load: many devices enrol at once against one real Pebble,
//! each on its own thread with its own state directory, account key and
//! device key, through acme-host's library API ([`Session`]).
//!
//! Pebble runs with `PEBBLE_VA_ALWAYS_VALID=1` (no challenge is fetched:
//! the load is the ACME protocol, not 200 http-01 validations) and
//! `PEBBLE_WFE_NONCEREJECT=0` (every request counts once). The pass
//! condition is checked after the clock stops: every device has a
//! certificate for its name and key whose chain verifies (OpenSSL) to
//! Pebble's root, and no account or order is duplicated: Pebble's log shows
//! exactly one new account and one new order per device, every account
//! lists exactly its device's order, and all account and order URLs are
//! distinct.
//!
//! Used by the `fleet` example (the benchmark, `--devices 200`) and by
//! `tests/tests/fleet.rs` (20 devices in CI, no timing asserted).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use acme_host::pebble::LocalPebble;
use acme_host::HostError;
use acme_host::Trust;
use acme_host::{Identifier, OrderSpec, Session, Settings};

/// What one device did.
#[derive(Debug, Clone, Default)]
pub struct Device {
    /// Its dns name.
    pub name: String,
    /// From the common start to its certificate being saved (opening the
    /// state directory and making its keys included).
    pub elapsed: Duration,
    /// When it started, after the fleet's epoch (threads are released
    /// together, but not scheduled in the same instant).
    pub started: Duration,
    /// Requests it made for the enrolment.
    pub requests: u64,
    /// The order's id, from the finalize URL it used.
    pub order_id: String,
    /// Its account's `orders` URL (unique per account at Pebble).
    pub account_orders_url: String,
    /// The orders its account lists.
    pub orders: Vec<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Its enrolment failed on the network (no answer in time).
    pub network_failure: bool,
}

/// What the fleet did.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every device.
    pub devices: Vec<Device>,
    /// From the first device's start to the last device's end.
    pub wall: Duration,
    /// Accounts Pebble created (its log).
    pub accounts_created: usize,
    /// newAccount POSTs Pebble received (its log).
    pub new_account_posts: usize,
    /// Orders Pebble created (its log), by id.
    pub orders_created: Vec<String>,
}

/// Runs `devices` devices at once against `pebble` and checks them. A
/// device gives up on a request after `io_timeout` and on its enrolment
/// after four times that: an enrolment takes seconds on loopback, so a
/// Pebble that stopped answering fails the run instead of hanging it.
#[must_use]
pub fn run(pebble: &LocalPebble, devices: usize, io_timeout: Duration) -> Outcome {
    let root = pebble.root_pem(0).unwrap();
    let epoch = Instant::now();
    let start = Arc::new(Barrier::new(devices + 1));
    let stop = Arc::new(Barrier::new(devices + 1));
    let threads: Vec<_> = (0..devices)
        .map(|i| {
            let name = format!("device-{i:04}.fleet.test");
            let state = pebble.dir().join("fleet").join(&name);
            let mut settings = Settings::new(&pebble.directory_url, &state);
            settings.trust = Trust::Only(pebble.ca_file.clone());
            settings.http01_listen = SocketAddr::from(([127, 0, 0, 1], 0));
            settings.deadline = io_timeout * 4;
            settings.io_timeout = io_timeout;
            let (start, stop, root) = (start.clone(), stop.clone(), root.clone());
            std::thread::Builder::new()
                .name(name.clone())
                .stack_size(1 << 20)
                .spawn(move || device(&name, settings, &state, &root, epoch, &start, &stop))
                .unwrap()
        })
        .collect();
    start.wait();
    // Every device waits here once its certificate is saved (or it
    // failed), so the checks that follow are not timed.
    stop.wait();
    let devices: Vec<Device> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let first = devices.iter().map(|d| d.started).min().unwrap_or_default();
    let last = devices
        .iter()
        .map(|d| d.started + d.elapsed)
        .max()
        .unwrap_or_default();
    let wall = last.saturating_sub(first);
    let log = std::fs::read_to_string(&pebble.log_file).unwrap();
    Outcome {
        devices,
        wall,
        accounts_created: log
            .lines()
            .filter(|l| l.contains("There are now") && l.contains("accounts in memory"))
            .count(),
        new_account_posts: log
            .lines()
            .filter(|l| l.contains("POST /sign-me-up "))
            .count(),
        orders_created: log
            .lines()
            .filter_map(|l| l.split_once("Added order \""))
            .filter_map(|(_, rest)| rest.split_once('"'))
            .map(|(id, _)| id.to_owned())
            .collect(),
    }
}

/// One device: enrol (timed), wait for the others, then check.
fn device(
    name: &str,
    settings: Settings,
    state: &Path,
    root: &str,
    epoch: Instant,
    start: &Barrier,
    stop: &Barrier,
) -> Device {
    let mut device = Device {
        name: name.to_owned(),
        ..Device::default()
    };
    let spec = OrderSpec::new([Identifier::Dns(name.to_owned())]);
    let mut lines = Vec::new();
    start.wait();
    let began = Instant::now();
    device.started = began.duration_since(epoch);
    let enrolled = Session::open(settings).and_then(|mut session| {
        let report = session.enrol(&spec, &mut |l| lines.push(l.to_owned()))?;
        Ok((session, report))
    });
    device.elapsed = began.elapsed();
    stop.wait();
    let (mut session, report) = match enrolled {
        Ok(done) => done,
        Err(e) => {
            device.network_failure = matches!(e, HostError::Network(_));
            device.error = Some(format!("enrolment: {e}"));
            return device;
        }
    };
    device.requests = u64::from(session.stats().requests);
    device.order_id = lines
        .iter()
        .find_map(|l| l.split_once("POST /finalize-order/"))
        .map(|(_, id)| id.to_owned())
        .unwrap_or_default();
    if let Err(e) = check_certificate(name, state, root, &report.path) {
        device.error = Some(e);
        return device;
    }
    match session.account(&mut |_| {}) {
        Ok(account) => device.account_orders_url = account.orders_url.unwrap_or_default(),
        Err(e) => device.error = Some(format!("fetching the account: {e}")),
    }
    match session.list_orders(&mut |_| {}) {
        Ok(orders) => device.orders = orders,
        Err(e) => device.error = Some(format!("listing orders: {e}")),
    }
    device
}

/// The certificate: its SAN is `name`, its key the device key, and its
/// chain verifies with `openssl verify` to `root`.
fn check_certificate(name: &str, state: &Path, root: &str, chain: &Path) -> Result<(), String> {
    use acme_core::Es256Signer as _;
    let pem = std::fs::read(chain).map_err(|e| format!("{}: {e}", chain.display()))?;
    let report = acme_host::CertificateReport::from_pem(&pem).map_err(|e| e.to_string())?;
    if report.sans != [format!("DNS:{name}")] {
        return Err(format!("certificate for {:?}", report.sans));
    }
    let ders = crate::chain_ders(&pem);
    let leaf = ders.first().ok_or("empty chain")?;
    let leaf = acme_core::cert::Certificate::from_der(leaf).map_err(|e| e.to_string())?;
    let key = crate::load_key(&state.join("device.key"));
    if leaf.spki_der() != &key.public_key().spki_der()[..] {
        return Err("the certificate is not for the device key".into());
    }
    let root_path = state.join("root.pem");
    std::fs::write(&root_path, root).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&root_path)
        .arg("-untrusted")
        .arg(chain)
        .arg(chain)
        .output()
        .map_err(|e| format!("openssl (apt-get install openssl): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chain does not verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

impl Outcome {
    /// Everything that breaks the pass condition; empty when it holds.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let n = self.devices.len();
        let mut problems: Vec<String> = self
            .devices
            .iter()
            .filter_map(|d| d.error.as_ref().map(|e| format!("{}: {e}", d.name)))
            .collect();
        let created: BTreeSet<&str> = self.orders_created.iter().map(String::as_str).collect();
        for d in self.devices.iter().filter(|d| d.error.is_none()) {
            if !created.contains(d.order_id.as_str()) {
                problems.push(format!(
                    "{}: order {:?} not in Pebble's log",
                    d.name, d.order_id
                ));
            }
            let suffix = format!("/{}", d.order_id);
            if d.orders.len() != 1 || !d.orders[0].ends_with(&suffix) {
                problems.push(format!(
                    "{}: its account lists {:?}, not just order {}",
                    d.name, d.orders, d.order_id
                ));
            }
        }
        let distinct = |f: &dyn Fn(&Device) -> &str| {
            self.devices
                .iter()
                .map(f)
                .filter(|s| !s.is_empty())
                .collect::<BTreeSet<_>>()
                .len()
        };
        for (what, count) in [
            (
                "distinct account URLs",
                distinct(&|d| &d.account_orders_url),
            ),
            ("distinct orders", distinct(&|d| &d.order_id)),
            ("accounts created (Pebble log)", self.accounts_created),
            ("newAccount POSTs (Pebble log)", self.new_account_posts),
            ("orders created (Pebble log)", self.orders_created.len()),
            ("distinct orders created (Pebble log)", created.len()),
        ] {
            if count != n {
                problems.push(format!("{what}: {count} for {n} devices"));
            }
        }
        problems
    }

    /// True when devices failed and every failure was the network (read
    /// timeouts): Pebble stopped answering. Pebble 2.4.0 (Debian) can
    /// deadlock when authorizations are fetched while orders and accounts
    /// are created: its authorization handler holds the authorization's
    /// write lock while it waits for the store's read lock, newOrder's
    /// `FindValidAuthorization` holds the store's read lock while it waits
    /// for that authorization, and a queued store writer (newAccount,
    /// newOrder) keeps new readers out. Every later request then waits.
    #[must_use]
    pub fn pebble_stopped_answering(&self) -> bool {
        let mut failed = self.devices.iter().filter(|d| d.error.is_some()).peekable();
        failed.peek().is_some() && failed.all(|d| d.network_failure)
    }

    /// Certificates per second, over the wall time.
    #[must_use]
    pub fn throughput(&self) -> f64 {
        let ok = self.devices.iter().filter(|d| d.error.is_none()).count();
        ok as f64 / self.wall.as_secs_f64()
    }

    /// A short Markdown table of the run.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut times: Vec<Duration> = self.devices.iter().map(|d| d.elapsed).collect();
        times.sort();
        let at = |q: f64| {
            let i = ((times.len() as f64 - 1.0) * q).round() as usize;
            times.get(i).copied().unwrap_or_default().as_secs_f64()
        };
        let ok = self.devices.iter().filter(|d| d.error.is_none()).count();
        let requests: u64 = self.devices.iter().map(|d| d.requests).sum();
        format!(
            "| devices | certificates | wall time | throughput | median device | p95 device | slowest device | requests | accounts / orders created |\n\
             |---|---|---|---|---|---|---|---|---|\n\
             | {} | {ok} | {:.2} s | {:.1} cert/s | {:.2} s | {:.2} s | {:.2} s | {requests} | {} / {} |\n",
            self.devices.len(),
            self.wall.as_secs_f64(),
            self.throughput(),
            at(0.5),
            at(0.95),
            at(1.0),
            self.accounts_created,
            self.orders_created.len(),
        )
    }
}
