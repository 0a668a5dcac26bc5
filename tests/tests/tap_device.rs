//! The device adapter on a real IP stack: the acme-embassy boot example
//! (embassy-executor on std, embassy-net over `embassy-net-tuntap`) enrols
//! against a real Pebble on the other side of a TAP link, inside a network
//! namespace this test creates and always removes.
//!
//! ```text
//!  namespace acme-tap-<pid>
//!  ┌───────────────────────────────────────────────────────────────┐
//!  │ Pebble + challtestsrv          tap0 10.77.0.1 ◀──▶ embassy-net │
//!  │ (every name → 10.77.0.2)                         10.77.0.2     │
//!  │                                                  device:       │
//!  │   ACME over TLS 1.3 ───────────────────────────▶ boot example  │
//!  │   http-01 validation ◀── :5002 on 10.77.0.2 ──── responder     │
//!  └───────────────────────────────────────────────────────────────┘
//! ```
//!
//! Needs root (network namespaces, `/dev/net/tun`) and the `pebble`
//! package; `scripts/test-all` provides both on CI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use acme_core::Es256Signer as _;
use acme_host::pebble::{LocalPebble, PebbleOptions};

const HOST_SIDE: &str = "10.77.0.1";
const DEVICE_IP: &str = "10.77.0.2";
const HTTP01_PORT: u16 = 5002;

/// A network namespace with a TAP device in it; deleted on drop, which
/// also removes the TAP device.
struct Namespace {
    name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("the `ip` command (Debian package iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}\nthis test needs root and /dev/net/tun to create a network namespace with a TAP device",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Namespace {
    fn create(tag: &str) -> Self {
        remove_namespaces_of_dead_runs();
        let name = format!("acme-{tag}-{}", std::process::id());
        // A namespace left by a killed run of the same pid is replaced.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Self { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ip(&[
            "-n", &ns.name, "tuntap", "add", "dev", "tap0", "mode", "tap",
        ]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{HOST_SIDE}/24"),
            "dev",
            "tap0",
        ]);
        ip(&["-n", &ns.name, "link", "set", "tap0", "up"]);
        ns
    }

    /// Moves the calling thread (and every process it starts) into the
    /// namespace. Only this test's thread changes namespace.
    fn enter(&self) {
        let file = std::fs::File::open(Path::new("/var/run/netns").join(&self.name)).unwrap();
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    }
}

/// Deletes the namespaces (`acme-<tag>-<pid>`) of test runs that were
/// killed before their `Drop` could run: those whose process is gone.
fn remove_namespaces_of_dead_runs() {
    let Ok(entries) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("acme-")
            .and_then(|rest| rest.rsplit_once('-'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// One device: its flash, key store and certificate files.
struct Device {
    dir: PathBuf,
    identifier: String,
}

/// What one boot of the device printed.
#[derive(Debug)]
struct Boot {
    code: i32,
    account: String,
    order: String,
    requests: u32,
    output: String,
}

impl Boot {
    /// Panics unless the boot failed (exit code 1) with a `result failed:`
    /// line that says `says`.
    fn assert_failed_saying(&self, says: &str, case: &str) {
        assert_eq!(self.code, 1, "{case}: device output:\n{}", self.output);
        assert!(
            self.output
                .lines()
                .any(|line| line.starts_with("result failed: ") && line.contains(says)),
            "{case}: expected a result line saying '{says}':\n{}",
            self.output
        );
    }
}

impl Device {
    fn new(root: &Path, name: &str) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            identifier: format!("{name}.devices.test"),
        }
    }

    fn boot(&self, pebble: &LocalPebble, power_off_after_saves: Option<usize>) -> Boot {
        self.boot_with(pebble, power_off_after_saves, None)
    }

    fn boot_with(
        &self,
        pebble: &LocalPebble,
        power_off_after_saves: Option<usize>,
        buffers: Option<&str>,
    ) -> Boot {
        let mut settings = Vec::new();
        if let Some(b) = buffers {
            settings.push(("ACME_BUFFERS", b.to_owned()));
        }
        if let Some(n) = power_off_after_saves {
            settings.push(("ACME_POWER_OFF_AFTER_SAVES", n.to_string()));
        }
        self.boot_configured(pebble, &settings)
    }

    /// Boots with the usual configuration (Pebble's address fixed, the
    /// host's clock, http-01) changed by `settings`; an empty value
    /// removes a variable.
    fn boot_configured(&self, pebble: &LocalPebble, settings: &[(&str, String)]) -> Boot {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tap-device"));
        command
            .env("ACME_TAP", "tap0")
            .env("ACME_DEVICE_IP", DEVICE_IP)
            .env("ACME_GATEWAY", HOST_SIDE)
            .env("ACME_DIRECTORY", &pebble.directory_url)
            .env("ACME_SERVER_IP", HOST_SIDE)
            .env("ACME_TRUST_ANCHOR", &pebble.ca_file)
            .env("ACME_IDENTIFIER", &self.identifier)
            .env("ACME_HTTP01_PORT", HTTP01_PORT.to_string())
            .env("ACME_FLASH", self.dir.join("flash.bin"))
            .env("ACME_KEYS", self.dir.join("keys.bin"))
            .env("ACME_CERT_OUT", self.dir.join("cert.pem"));
        for (name, value) in settings {
            if value.is_empty() {
                command.env_remove(name);
            } else {
                command.env(name, value);
            }
        }
        let out = command.output().unwrap();
        let output = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let line = output
            .lines()
            .find(|l| l.starts_with("account "))
            .unwrap_or_else(|| panic!("no summary line in the device's output:\n{output}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        Boot {
            code: out.status.code().unwrap_or(-1),
            account: words[1].to_owned(),
            order: words[3].to_owned(),
            requests: words[5].parse().unwrap(),
            output,
        }
    }

    fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join("cert.pem")).unwrap()
    }

    /// The certificate key the device generated at first boot.
    fn device_public_key_spki(&self) -> Vec<u8> {
        let keys = std::fs::read(self.dir.join("keys.bin")).unwrap();
        let mode = std::fs::metadata(self.dir.join("keys.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key store is private");
        let key = acme_core::SoftwareKey::from_scalar(&keys[32..64]).unwrap();
        key.public_key().spki_der().to_vec()
    }
}

/// Checks the chain: the leaf names exactly the device's identifier, holds
/// the device's key, and verifies (with OpenSSL) up to Pebble's root.
fn assert_certificate(pebble: &LocalPebble, device: &Device) {
    let pem = device.cert_pem();
    let ders = acme_tests::chain_ders(&pem);
    assert!(ders.len() >= 2, "leaf and intermediate");
    let leaf = acme_core::cert::Certificate::from_der(&ders[0]).unwrap();
    let sans: Vec<String> = leaf
        .subject_alt_names()
        .expect("a subjectAltName extension")
        .map(|san| match san {
            acme_core::cert::SanEntry::Dns(name) => name.to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(sans, std::slice::from_ref(&device.identifier));
    assert_eq!(leaf.spki_der(), &device.device_public_key_spki()[..]);

    acme_tests::assert_chain_verifies(&device.dir, &pebble.root_pem(0).unwrap(), &ders);
}

fn start_pebble() -> LocalPebble {
    start_pebble_with(PebbleOptions::default())
}

/// Pebble for the device, on every address of the namespace, validating
/// against the device; `options` adds to that.
fn start_pebble_with(options: PebbleOptions) -> LocalPebble {
    LocalPebble::start(&PebbleOptions {
        // Pebble really validates: it fetches http-01 from the device.
        env: vec![
            ("PEBBLE_VA_ALWAYS_VALID".into(), "0".into()),
            // Request counts below are exact: no nonce rejections.
            ("PEBBLE_WFE_NONCEREJECT".into(), "0".into()),
        ],
        http01_port: HTTP01_PORT,
        tls_alpn01_port: 5001,
        listen_ip: Some(std::net::Ipv4Addr::UNSPECIFIED),
        challenge_ip: Some(DEVICE_IP.parse().unwrap()),
        ..options
    })
    .expect("Pebble starts (install it with `apt-get install pebble`)")
}

/// The directory URL under another host name (Pebble names its resources
/// after the host the directory was asked for).
fn directory_at(pebble: &LocalPebble, host: &str) -> String {
    pebble.directory_url.replace("localhost", host)
}

/// The device finds the CA by name through the DNS server its network
/// configuration gives (embassy-net's DNS socket; no fixed address), and
/// answers dns-01: its application callback posts the TXT record to a
/// service on the network (challtestsrv's API), and Pebble validates it
/// by querying that DNS server.
#[test]
fn device_resolves_the_ca_by_name_and_answers_dns01_through_its_callback() {
    let namespace = Namespace::create("dns");
    namespace.enter();
    let host_side: std::net::Ipv4Addr = HOST_SIDE.parse().unwrap();
    let pebble = start_pebble_with(PebbleOptions {
        dns_listen_ip: Some(host_side),
        ..PebbleOptions::default()
    });
    // Pebble's TLS certificate names `pebble`; every other name resolves
    // to the device.
    pebble.add_a("pebble", host_side).unwrap();

    let device = Device::new(pebble.dir(), "named");
    let boot = device.boot_configured(
        &pebble,
        &[
            ("ACME_SERVER_IP", String::new()),
            ("ACME_DIRECTORY", directory_at(&pebble, "pebble")),
            ("ACME_DNS_SERVER", HOST_SIDE.to_owned()),
            ("ACME_CHALLENGE", "dns-01".to_owned()),
            ("ACME_DNS01_API", pebble.challtestsrv.to_string()),
        ],
    );
    assert_eq!(boot.code, 0, "device output:\n{}", boot.output);
    assert!(
        boot.output.contains(&format!(
            "dns-01: publishing TXT _acme-challenge.{}",
            device.identifier
        )),
        "device output:\n{}",
        boot.output
    );
    assert_certificate(&pebble, &device);
    // The callback published the record through the service and removed
    // it afterwards; Pebble validated against it.
    let records = std::fs::read_to_string(pebble.dir().join("challtestsrv.log")).unwrap();
    let record = format!(
        "TXT challenge for Host \"_acme-challenge.{}.\"",
        device.identifier
    );
    assert!(
        records.contains(&format!("Added DNS-01 {record}"))
            && records.contains(&format!("Removed DNS-01 {record}")),
        "challtestsrv's log:\n{records}"
    );
    let log = std::fs::read_to_string(&pebble.log_file).unwrap();
    assert!(
        log.contains("set VALID by completed challenge"),
        "Pebble did not validate:\n{log}"
    );
    assert!(
        !log.contains("Attempting to validate w/ HTTP"),
        "the device answered by http-01, not dns-01:\n{log}"
    );
    drop(pebble);
    drop(namespace);
}

/// One way of making the device's CA unverifiable: a setting changed from
/// the usual boot, and what the device must say.
struct Refusal {
    name: &'static str,
    setting: (&'static str, String),
    says: &'static str,
}

/// The device refuses a CA whose TLS certificate it cannot verify, before
/// any ACME request: each with its own error, nothing saved and nothing
/// sent to the CA.
#[test]
fn device_refuses_a_ca_it_cannot_verify() {
    let namespace = Namespace::create("refuse");
    namespace.enter();
    let pebble = start_pebble();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // A trust anchor from another CA.
    let other_ca = acme_tests::unrelated_ca(pebble.dir());

    let cases = [
        Refusal {
            name: "another-anchor",
            setting: ("ACME_TRUST_ANCHOR", other_ca.display().to_string()),
            says: "does not chain to the configured trust anchor",
        },
        Refusal {
            name: "wrong-host",
            setting: ("ACME_DIRECTORY", directory_at(&pebble, "ca.elsewhere.test")),
            says: "does not name the directory URL's host",
        },
        Refusal {
            name: "clock-after-expiry",
            // Pebble's TLS certificate is valid for 30 days.
            setting: ("ACME_CLOCK", (now + 40 * 86_400).to_string()),
            says: "expired or not yet valid by the device's clock",
        },
        Refusal {
            name: "clock-before-issue",
            // ... from an hour ago.
            setting: ("ACME_CLOCK", (now - 2 * 3600).to_string()),
            says: "expired or not yet valid by the device's clock",
        },
        Refusal {
            name: "ip-literal-host",
            setting: ("ACME_DIRECTORY", directory_at(&pebble, "127.0.0.1")),
            says: "does not name the directory URL's host",
        },
    ];
    for Refusal {
        name,
        setting,
        says: refusal,
    } in cases
    {
        let settings = [setting];
        let device = Device::new(pebble.dir(), name);
        let boot = device.boot_configured(&pebble, &settings);
        boot.assert_failed_saying(refusal, name);
        assert!(!device.dir.join("cert.pem").exists(), "{name}");
    }
    assert_eq!(
        pebble_handled(&pebble),
        0,
        "no request reached Pebble from a device that refused it"
    );
    // The clock does not refuse a current certificate.
    let on_time = Device::new(pebble.dir(), "clock-now");
    let boot = on_time.boot_configured(&pebble, &[("ACME_CLOCK", now.to_string())]);
    assert_eq!(boot.code, 0, "device output:\n{}", boot.output);
    drop(pebble);

    // A chain whose every signature verifies, but whose certificate for
    // the host is signed by another leaf of the trusted root, not by a CA.
    let forged = start_pebble_with(PebbleOptions {
        forge_tls_chain_with_a_leaf: true,
        ..PebbleOptions::default()
    });
    let device = Device::new(forged.dir(), "forged-chain");
    let boot = device.boot(&forged, None);
    boot.assert_failed_saying("is not a CA certificate (basicConstraints)", "forged chain");
    assert_eq!(pebble_handled(&forged), 0);
    drop(forged);
    drop(namespace);
}

/// The small buffer set the acme-embassy README gives as working against
/// Pebble enrols; a TLS record buffer below embedded-tls's record overhead
/// is refused with a typed error instead of tripping embedded-tls.
#[test]
fn device_enrols_with_the_small_buffers_and_refuses_unusable_ones() {
    let namespace = Namespace::create("buffers");
    namespace.enter();
    let pebble = start_pebble();
    // tls_read, tls_write, tcp_rx, tcp_tx, http_tx, http_rx
    let small = Device::new(pebble.dir(), "small");
    let boot = small.boot_with(&pebble, None, Some("2560,512,1024,1024,1280,3072"));
    assert_eq!(boot.code, 0, "device output:\n{}", boot.output);
    assert_certificate(&pebble, &small);

    let unusable = Device::new(pebble.dir(), "unusable");
    let boot = unusable.boot_with(&pebble, None, Some("16640,128,4096,2048,2048,4096"));
    boot.assert_failed_saying("a lent buffer is too small", "unusable buffers");
    drop(pebble);
    drop(namespace);
}

/// How many requests of any kind Pebble's log shows it handled.
fn pebble_handled(pebble: &LocalPebble) -> usize {
    let log = std::fs::read_to_string(&pebble.log_file).unwrap();
    log.lines()
        .filter(|l| l.contains(" -> calling handler()"))
        .count()
}

/// How many times Pebble's log shows a request to `path`.
fn pebble_requests(pebble: &LocalPebble, path: &str) -> usize {
    let log = std::fs::read_to_string(&pebble.log_file).unwrap();
    log.lines()
        .filter(|l| l.contains(&format!("POST {path}")))
        .count()
}

#[test]
fn device_enrols_over_tap_and_resumes_its_order_after_a_reboot() {
    let namespace = Namespace::create("reboot");
    namespace.enter();
    let pebble = start_pebble();

    // 1. A first boot with nothing stored enrols in one go.
    let first = Device::new(pebble.dir(), "first");
    let boot = first.boot(&pebble, None);
    assert_eq!(boot.code, 0, "device output:\n{}", boot.output);
    assert!(boot.output.contains("no snapshot: first boot"));
    assert_certificate(&pebble, &first);
    assert_eq!(pebble_requests(&pebble, "/sign-me-up"), 1);
    assert_eq!(pebble_requests(&pebble, "/order-plz"), 1);
    // Pebble's validator fetched the token from the device's responder.
    let log = std::fs::read_to_string(&pebble.log_file).unwrap();
    assert!(
        log.contains(&format!(
            "Attempting to validate w/ HTTP: http://{}:{HTTP01_PORT}/.well-known/acme-challenge/",
            first.identifier
        )) && log.contains("set VALID by completed challenge"),
        "Pebble did not validate http-01 against the device:\n{log}"
    );

    // 2. Power is cut right after the finalize is saved (saves: directory,
    //    account, newOrder requested, order, finalize); the next boot
    //    restores the snapshot from flash into a fresh stack and finishes
    //    the same order.
    let second = Device::new(pebble.dir(), "second");
    let cut = second.boot(&pebble, Some(5));
    assert_eq!(cut.code, 3, "device output:\n{}", cut.output);
    assert!(!second.dir.join("cert.pem").exists());
    let accounts_before = pebble_requests(&pebble, "/sign-me-up");
    let orders_before = pebble_requests(&pebble, "/order-plz");
    let finalizes_before = pebble_requests(&pebble, "/finalize-order/");

    let resumed = second.boot(&pebble, None);
    assert_eq!(resumed.code, 0, "device output:\n{}", resumed.output);
    assert!(resumed.output.contains("resumed from a"));
    assert_eq!(resumed.account, cut.account, "the same account");
    assert_eq!(resumed.order, cut.order, "the same order");
    assert_eq!(
        pebble_requests(&pebble, "/sign-me-up"),
        accounts_before,
        "no new account"
    );
    assert_eq!(
        pebble_requests(&pebble, "/order-plz"),
        orders_before,
        "no new order"
    );
    assert_eq!(
        pebble_requests(&pebble, "/finalize-order/"),
        finalizes_before,
        "no second finalize"
    );
    assert!(
        resumed.requests <= 4,
        "resuming a finalized order takes the directory, a nonce, the order and the certificate, not {}",
        resumed.requests
    );
    assert_certificate(&pebble, &second);

    // 3. Power is cut right after "newOrder requested" is saved, as the
    //    request goes out: whether or not it reached Pebble, the next boot
    //    ends with exactly one order (it searches the account's orders
    //    before creating one).
    let third = Device::new(pebble.dir(), "third");
    let orders_before = pebble_requests(&pebble, "/order-plz");
    let cut = third.boot(&pebble, Some(3));
    assert_eq!(cut.code, 3, "device output:\n{}", cut.output);
    let resumed = third.boot(&pebble, None);
    assert_eq!(resumed.code, 0, "device output:\n{}", resumed.output);
    assert_eq!(resumed.account, cut.account, "the same account");
    assert_eq!(
        pebble_requests(&pebble, "/order-plz") - orders_before,
        1,
        "one newOrder in all across the power cut"
    );
    assert_certificate(&pebble, &third);
    drop(pebble);
    drop(namespace);
}
