//! The fleet benchmark: N devices (default 200) enrol at once against one
//! local Pebble, each on its own thread with its own account and keys,
//! through acme-host's library API. Prints a Markdown table of throughput
//! (certificates per second) and per-device times, and exits non-zero
//! unless every device got a valid certificate and no account or order was
//! duplicated (see `acme_tests::fleet`).
//!
//! ```text
//! cargo run --release -p acme-tests --example fleet -- --devices 200
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut devices = 200usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--devices" => {
                devices = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--devices takes a positive number");
            }
            other => panic!("unknown argument {other}; usage: fleet [--devices N]"),
        }
    }
    let pebble = acme_tests::fleet::start_pebble();
    eprintln!(
        "{devices} devices enrolling at once against {}",
        pebble.directory_url
    );
    let outcome = acme_tests::fleet::run(&pebble, devices, Duration::from_secs(30));
    println!("{}", outcome.markdown());
    let problems = outcome.problems();
    if problems.is_empty() {
        println!("pass: {devices} valid certificates, {devices} accounts and {devices} orders, none duplicated");
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            println!("FAIL: {p}");
        }
        if outcome.pebble_stopped_answering() {
            // Pebble's directory goes with it: keep its log.
            let kept =
                std::env::temp_dir().join(format!("fleet-pebble-{}.log", std::process::id()));
            let _ = std::fs::copy(&pebble.log_file, &kept);
            println!(
                "every failure is a network timeout: Pebble stopped answering (Pebble 2.4.0 \
                 can deadlock under concurrent authorization fetches and new orders, see \
                 acme_tests::fleet::Outcome::pebble_stopped_answering); its log: {}",
                kept.display()
            );
        }
        ExitCode::FAILURE
    }
}
