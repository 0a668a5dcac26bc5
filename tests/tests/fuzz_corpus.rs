//! Replays every committed fuzz seed and regression input through the same
//! target bodies the fuzzer runs (`fuzz/src/lib.rs`), on stable Rust, as
//! part of `cargo test`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod bodies;

use std::path::Path;

/// The longest one input may run (the slowest, a whole enrolment with
/// signing, takes milliseconds).
const INPUT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

fn replay(kind: &str) -> usize {
    let root = acme_tests::workspace_root().join("fuzz").join(kind);
    let mut count = 0;
    for (name, body) in bodies::TARGETS {
        let dir = root.join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            // Each input on its own thread, so that a hang (some
            // regressions are hangs) fails the test instead of stalling it.
            let (done, outcome) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let passed = std::panic::catch_unwind(|| body(&data)).is_ok();
                let _ = done.send(passed);
            });
            match outcome.recv_timeout(INPUT_TIME_LIMIT) {
                Ok(true) => {}
                Ok(false) => panic!("{} fails on {}", name, display(&path)),
                Err(_) => panic!(
                    "{} runs over {INPUT_TIME_LIMIT:?} on {}: a hang",
                    name,
                    display(&path)
                ),
            }
            count += 1;
        }
    }
    count
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn every_target_has_committed_seeds() {
    let root = acme_tests::workspace_root().join("fuzz").join("seeds");
    for (name, _) in bodies::TARGETS {
        let count = std::fs::read_dir(root.join(name))
            .map(Iterator::count)
            .unwrap_or(0);
        assert!(count > 0, "no seeds for {name}");
    }
}

#[test]
fn seeds_replay_cleanly() {
    assert!(replay("seeds") > 50);
}

#[test]
fn regressions_replay_cleanly() {
    assert!(replay("regressions") >= 1);
}

/// The committed `correct-server` seed is what the fuzz library says it
/// is, and it drives a whole enrolment to a delivered certificate (checked
/// against the CSR), so the fuzzer starts from the end of the flow, not
/// only its first steps.
#[test]
fn the_correct_server_seed_enrols_to_a_certificate() {
    let path = acme_tests::workspace_root().join("fuzz/seeds/client_flow/correct-server");
    let seed = std::fs::read(&path).unwrap();
    assert_eq!(
        seed,
        bodies::correct_server_seed(),
        "{} is stale",
        display(&path)
    );
    assert!(
        bodies::client_flow_delivers(&seed),
        "no certificate delivered"
    );
    // The same enrolment with the server gone half-way delivers nothing,
    // and ends.
    assert!(!bodies::client_flow_delivers(&seed[..3 + 5 * 5]));
}
