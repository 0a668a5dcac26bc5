//! The `acme` command line: the demo against a local Pebble, `--json`
//! output, and exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::process::Command;

fn acme() -> Command {
    Command::new(env!("CARGO_BIN_EXE_acme"))
}

#[test]
#[cfg(feature = "pebble")]
fn demo_enrols_against_a_local_pebble_and_prints_the_certificate() {
    let out = acme().args(["demo", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(
        json["result"]["sans"],
        serde_json::json!(["DNS:device.demo.test"])
    );
    assert!(json["result"]["issuer"]
        .as_str()
        .unwrap()
        .contains("Pebble Intermediate"));
    for label in ["subject:", "SANs:", "valid:", "issuer:"] {
        assert!(stderr.contains(label), "{label} missing:\n{stderr}");
    }
    assert!(stderr.contains("1 connection(s)"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let state = std::env::temp_dir().join(format!("acme-cli-usage-{}", std::process::id()));
    let out = acme()
        .args([
            "enrol",
            "--directory",
            "http://ca.example/dir",
            "--identifier",
            "dns:a.example",
            "--state-dir",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("only https:// URLs"));
    let out = acme().args(["enrol"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = acme()
        .args([
            "revoke",
            "--directory",
            "https://localhost:1/dir",
            "--reason",
            "7",
            "--state-dir",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn network_failures_exit_4_with_json() {
    let state = std::env::temp_dir().join(format!("acme-cli-net-{}", std::process::id()));
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = acme()
        .args([
            "--json",
            "enrol",
            "--directory",
            &format!("https://127.0.0.1:{port}/dir"),
            "--identifier",
            "dns:a.example",
            "--deadline-secs",
            "20",
            "--http-listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"], "network");
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn world_readable_keys_are_refused_with_exit_5() {
    use std::os::unix::fs::PermissionsExt as _;
    let state = std::env::temp_dir().join(format!("acme-cli-perm-{}", std::process::id()));
    std::fs::create_dir_all(&state).unwrap();
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
    let key = p256::SecretKey::random(&mut rand_core::OsRng);
    let path = state.join("account.key");
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(&path, pem.as_bytes()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = acme()
        .args([
            "account",
            "--directory",
            "https://127.0.0.1:1/dir",
            "--state-dir",
        ])
        .arg(&state)
        .arg("show")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    let _ = std::fs::remove_dir_all(&state);
}
