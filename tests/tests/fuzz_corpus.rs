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
            let result = std::panic::catch_unwind(|| body(&data));
            assert!(result.is_ok(), "{} fails on {}", name, display(&path));
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
