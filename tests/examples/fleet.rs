//! The fleet benchmark: N devices (default 200) enrol at once against one
//! local Pebble, each on its own thread with its own account and keys,
//! through acme-host's library API. Prints a Markdown table of throughput
//! (certificates per second) and per-device times, and exits non-zero
//! unless every device got a valid certificate and no account or order was
//! duplicated (see `acme_tests::fleet`).
//!
//! Pebble 2.4.0 can deadlock under this load (see
//! `acme_tests::fleet::Outcome::pebble_stopped_answering`): a run in which
//! every device timed out is reported and repeated with a fresh Pebble, up
//! to `--attempts` runs (default 10; at 200 devices most runs deadlock it).
//!
//! ```text
//! cargo run --release -p acme-tests --example fleet -- --devices 200
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::ExitCode;
use std::time::Duration;

fn number(args: &mut impl Iterator<Item = String>, flag: &str) -> usize {
    args.next()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| panic!("{flag} takes a positive number"))
}

fn main() -> ExitCode {
    let (mut devices, mut attempts) = (200, 10);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--devices" => devices = number(&mut args, "--devices"),
            "--attempts" => attempts = number(&mut args, "--attempts"),
            other => panic!("unknown argument {other}; usage: fleet [--devices N] [--attempts N]"),
        }
    }
    for attempt in 1..=attempts {
        let pebble = acme_tests::start_pebble_always_valid();
        eprintln!(
            "attempt {attempt}: {devices} devices enrolling at once against {}",
            pebble.directory_url
        );
        let outcome = acme_tests::fleet::run(&pebble, devices, Duration::from_secs(10));
        let problems = outcome.problems();
        if outcome.pebble_stopped_answering() && attempt < attempts {
            let failed = outcome.devices.iter().filter(|d| d.error.is_some()).count();
            println!(
                "attempt {attempt}: Pebble stopped answering ({failed} devices timed out; \
                 Pebble 2.4.0's deadlock, see acme_tests::fleet::Outcome::pebble_stopped_answering); \
                 again with a fresh Pebble"
            );
            continue;
        }
        println!("{}", outcome.markdown());
        if problems.is_empty() {
            println!(
                "pass (attempt {attempt} of {attempts}): {devices} valid certificates, \
                 {devices} accounts and {devices} orders, none duplicated"
            );
            return ExitCode::SUCCESS;
        }
        for p in &problems {
            println!("FAIL: {p}");
        }
        if outcome.pebble_stopped_answering() {
            // Pebble's directory goes with it: keep its log.
            let kept =
                std::env::temp_dir().join(format!("fleet-pebble-{}.log", std::process::id()));
            let _ = std::fs::copy(&pebble.log_file, &kept);
            println!(
                "every failure is a network timeout: Pebble stopped answering in all {attempts} \
                 attempts; the last one's log: {}",
                kept.display()
            );
        }
        return ExitCode::FAILURE;
    }
    ExitCode::FAILURE
}
