//! The kill test: the `acme` tool is killed with SIGKILL right after each
//! request of an enrolment against a real Pebble (Debian package `pebble`),
//! then run again on the same state directory. Every rerun must finish the
//! enrolment with the same account, without a second order, and no key
//! file may ever be left missing, truncated or readable by others.
//!
//! Each k is killed at two points, by test hooks that make the process
//! send itself SIGKILL, so every k is hit exactly, without racing a
//! watcher: once the answer to request k has been handled and saved
//! (`ACME_TEST_KILL_AFTER_REQUEST`, acme-host's `main.rs`), and with
//! request k written but its answer unread (`ACME_TEST_KILL_AFTER_SENDING`,
//! acme-host's transport), where the server has acted on a request the
//! client never heard back from.
//!
//! Pebble runs with `PEBBLE_VA_ALWAYS_VALID=1`: a kill right after the
//! challenge request takes the http-01 responder down while Pebble would
//! validate, which rightly invalidates the order (the rerun then needs a
//! new one). What is tested here is the client's own state.
//!
//! Fails, with the command that installs it, when Pebble is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

use acme_host::pebble::LocalPebble;
use acme_tests::cli::acme_at;
use acme_tests::{describe_output, start_pebble_always_valid};
use p256::pkcs8::DecodePrivateKey as _;

const KEYS: [&str; 2] = ["account.key", "device.key"];

/// The `acme` tool with the arguments of an enrolment of `name`.
fn acme(pebble: &LocalPebble, state: &Path, args: &[&str]) -> Command {
    let mut command = acme_at(
        env!("CARGO_BIN_EXE_acme-cli"),
        &pebble.directory_url,
        &pebble.ca_file,
        state,
        args,
    );
    command.args(["--http-listen", "127.0.0.1:0", "--deadline-secs", "60"]);
    command
}

fn enrol(pebble: &LocalPebble, state: &Path, name: &str) -> Command {
    let mut command = acme(pebble, state, &["enrol"]);
    command.arg("--identifier").arg(format!("dns:{name}"));
    command
}

/// The request lines the tool printed (`Step: METHOD path`).
fn requests(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("acme: "))
        .filter(|l| {
            [": GET ", ": HEAD ", ": POST "]
                .iter()
                .any(|m| l.contains(m))
        })
        .map(str::to_owned)
        .collect()
}

/// Checks both key files: present, mode 0600, a P-256 PKCS#8 PEM key, and
/// no temporary file left beside them. Returns their bytes.
fn check_keys(state: &Path, when: &str) -> BTreeMap<&'static str, Vec<u8>> {
    let mut keys = BTreeMap::new();
    for name in KEYS {
        let path = state.join(name);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("{when}: {name} is missing: {e}"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{when}: {name} has mode {mode:o}");
        let pem = std::str::from_utf8(&bytes)
            .unwrap_or_else(|_| panic!("{when}: {name} is not PEM text"));
        p256::SecretKey::from_pkcs8_pem(pem)
            .unwrap_or_else(|e| panic!("{when}: {name} is not a P-256 PKCS#8 key: {e}"));
        keys.insert(name, bytes);
    }
    let leftovers: Vec<String> = std::fs::read_dir(state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "{when}: temporary files {leftovers:?}"
    );
    keys
}

/// Checks the saved certificate: its SAN is `name`, its key the device
/// key, and its chain verifies (OpenSSL) to Pebble's root.
fn check_certificate(pebble: &LocalPebble, state: &Path, name: &str) {
    let pem = std::fs::read(state.join("cert.pem")).unwrap();
    let report = acme_host::CertificateReport::from_pem(&pem).unwrap();
    assert_eq!(report.sans, [format!("DNS:{name}")]);
    let ders = acme_tests::chain_ders(&pem);
    let leaf = acme_core::cert::Certificate::from_der(&ders[0]).unwrap();
    let device_key = acme_tests::load_key(&state.join("device.key"));
    use acme_core::Es256Signer as _;
    assert_eq!(leaf.spki_der(), &device_key.public_key().spki_der()[..]);
    acme_tests::assert_chain_verifies(state, &pebble.root_pem(0).unwrap(), &ders);
}

/// The account's orders, as Pebble lists them (`acme account list-orders`).
fn orders(pebble: &LocalPebble, state: &Path) -> Vec<String> {
    let output = acme(pebble, state, &["account"])
        .arg("list-orders")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "list-orders: {}",
        describe_output(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Accounts and orders Pebble created so far, counted in its log. Pebble
/// logs "There are now N accounts in memory" only when it creates an
/// account (newAccount with a known key returns the existing one), and
/// "Added order" for every order.
fn created(pebble: &LocalPebble) -> (usize, usize) {
    let log = std::fs::read_to_string(&pebble.log_file).unwrap();
    let count = |what: &dyn Fn(&str) -> bool| log.lines().filter(|l| what(l)).count();
    (
        count(&|l| l.contains("There are now") && l.contains("accounts in memory")),
        count(&|l| l.contains("Added order")),
    )
}

/// Where in request k the kill lands.
#[derive(Clone, Copy)]
enum KillPoint {
    /// Once the answer to request k has been handled and saved
    /// (`ACME_TEST_KILL_AFTER_REQUEST`).
    AfterAnswer,
    /// As soon as request k has been written, its answer unread: the
    /// server acts on it, the client never learns how
    /// (`ACME_TEST_KILL_AFTER_SENDING`).
    InFlight,
}

/// The requests of a whole cold enrolment, each as `Step: METHOD path`.
fn whole_enrolment(pebble: &LocalPebble) -> Vec<String> {
    let state = pebble.dir().join("state-whole");
    let whole = enrol(pebble, &state, "whole.kill.test").output().unwrap();
    assert!(whole.status.success(), "{}", describe_output(&whole));
    let steps = requests(&whole);
    assert!(
        steps.len() >= 8,
        "a cold enrolment takes at least 8 requests: {steps:?}"
    );
    check_certificate(pebble, &state, "whole.kill.test");
    assert_eq!(orders(pebble, &state).len(), 1);
    steps
}

/// Kills a fresh enrolment at `point` of request `k` (of the `steps` a
/// whole one takes), reruns it on the same state directory, and checks
/// that it finished with the same account, one order, and keys that were
/// never missing, truncated or readable by others.
fn kill_then_rerun(pebble: &LocalPebble, point: KillPoint, k: usize, steps: &[String]) {
    let n = steps.len();
    let (tag, hook, what) = match point {
        KillPoint::AfterAnswer => ("k", "ACME_TEST_KILL_AFTER_REQUEST", "after request"),
        KillPoint::InFlight => ("f", "ACME_TEST_KILL_AFTER_SENDING", "in flight at request"),
    };
    let name = format!("{tag}{k}.kill.test");
    let state = pebble.dir().join(format!("state-{tag}{k}"));
    let (accounts_before, orders_before) = created(pebble);
    let killed = enrol(pebble, &state, &name)
        .env(hook, k.to_string())
        .output()
        .unwrap();
    let at = format!(
        "killed {what} {k} ({})",
        if k == 0 {
            "before any request"
        } else {
            steps[k - 1].as_str()
        }
    );
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "{at}: not ended by SIGKILL: {}",
        describe_output(&killed)
    );
    let before = requests(&killed);
    assert_eq!(before.len(), k, "{at}: {}", describe_output(&killed));
    let keys = check_keys(&state, &at);
    // Only a kill after the last answer comes after the certificate was
    // saved: in flight, its answer (the certificate) was never read.
    let finished = matches!(point, KillPoint::AfterAnswer) && k == n;
    assert_eq!(state.join("cert.pem").exists(), finished, "{at}");

    let rerun = enrol(pebble, &state, &name).output().unwrap();
    assert!(
        rerun.status.success(),
        "{at}, rerun: {}",
        describe_output(&rerun)
    );
    let resumed = requests(&rerun);
    assert_eq!(
        check_keys(&state, &format!("{at}, after the rerun")),
        keys,
        "{at}: the rerun replaced a key"
    );
    check_certificate(pebble, &state, &name);

    // One account for this state directory, created once.
    let (accounts_after, orders_after) = created(pebble);
    assert_eq!(
        accounts_after - accounts_before,
        1,
        "{at}: accounts created: {}",
        describe_output(&rerun)
    );
    let account_known = match point {
        KillPoint::AfterAnswer => before.iter().any(|s| s.starts_with("Account:")),
        // The newAccount answer was never read when it was in flight.
        KillPoint::InFlight => before
            .iter()
            .rev()
            .skip(1)
            .any(|s| s.starts_with("Account:")),
    };
    if account_known {
        assert!(
            !resumed.iter().any(|s| s.starts_with("Account:")),
            "{at}: the rerun asked for the account again: {resumed:?}"
        );
    }
    // One order for the enrolment, unless it had finished before the kill
    // (then the rerun is a renewal with its own order).
    let orders = orders(pebble, &state);
    let expected = if finished { 2 } else { 1 };
    assert_eq!(orders.len(), expected, "{at}: orders {orders:?}");
    assert_eq!(orders_after - orders_before, expected, "{at}: Pebble's log");
    if matches!(point, KillPoint::AfterAnswer) {
        let new_orders = before
            .iter()
            .chain(&resumed)
            .filter(|s| s.starts_with("NewOrder:"))
            .count();
        assert_eq!(new_orders, expected, "{at}: {resumed:?}");
    }
    eprintln!(
        "{tag}={k:2}: killed {what} {:<45} rerun took {} requests",
        if k == 0 { "nothing" } else { &steps[k - 1] },
        resumed.len()
    );
}

#[test]
fn killed_after_every_request_the_rerun_finishes_the_same_enrolment() {
    let started = Instant::now();
    let pebble = start_pebble_always_valid();
    let steps = whole_enrolment(&pebble);
    let n = steps.len();
    for k in 0..=n {
        kill_then_rerun(&pebble, KillPoint::AfterAnswer, k, &steps);
    }
    eprintln!(
        "{} kills (k = 0..={n}) in {:.1} s",
        n + 1,
        started.elapsed().as_secs_f64()
    );
}

/// The other side of each request: killed with request k written and its
/// answer unread, for every k. The server has acted (an account, an order,
/// a finalize exist) without the client knowing; the rerun must find them
/// rather than make new ones.
#[test]
fn killed_with_every_request_in_flight_the_rerun_finishes_the_same_enrolment() {
    let started = Instant::now();
    let pebble = start_pebble_always_valid();
    let steps = whole_enrolment(&pebble);
    let n = steps.len();
    for k in 1..=n {
        kill_then_rerun(&pebble, KillPoint::InFlight, k, &steps);
    }
    eprintln!(
        "{n} kills in flight (k = 1..={n}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The narrowest window: the certificate has arrived (the client has
/// already forgotten the order) but is not yet on disk. The snapshot that
/// forgets the order must not be saved before the certificate, or the
/// rerun would order again.
#[test]
fn killed_between_the_certificate_arriving_and_being_saved_the_rerun_orders_nothing_new() {
    let pebble = start_pebble_always_valid();
    let state = pebble.dir().join("state-cert-window");
    let name = "window.kill.test";
    let (_, orders_before) = created(&pebble);
    let killed = enrol(&pebble, &state, name)
        .env("ACME_TEST_KILL_BEFORE_CERTIFICATE_SAVE", "1")
        .output()
        .unwrap();
    assert_eq!(
        killed.status.signal(),
        Some(9),
        "{}",
        describe_output(&killed)
    );
    assert!(!state.join("cert.pem").exists());
    let keys = check_keys(&state, "killed before the certificate was saved");

    let rerun = enrol(&pebble, &state, name).output().unwrap();
    assert!(rerun.status.success(), "rerun: {}", describe_output(&rerun));
    assert_eq!(check_keys(&state, "after the rerun"), keys);
    check_certificate(&pebble, &state, name);
    let resumed = requests(&rerun);
    assert!(
        !resumed.iter().any(|s| s.starts_with("NewOrder:")),
        "the rerun ordered again: {resumed:?}"
    );
    assert_eq!(orders(&pebble, &state).len(), 1);
    let (_, orders_after) = created(&pebble);
    assert_eq!(orders_after - orders_before, 1, "Pebble's log");
}
