//! Secrets stay secret: at its most verbose (`-vv`, every log level) the
//! `acme` tool enrols against a real Pebble (Debian package `pebble`) with
//! External Account Binding, rolls its account key over, and is refused a
//! wrong MAC key, and none of its output (stdout or stderr) holds a private
//! key or the MAC key in any encoding: PEM, base64 or base64url at every
//! byte alignment, hex, decimal, Rust's `Debug` of the bytes, or the raw
//! bytes. Key files are created with mode 0600 in a 0700 directory, and a
//! key file that group or others can read is refused with exit code 5
//! before anything is sent. `--ca-file-only` trusts that file and not the
//! system's roots.
//!
//! Fails, with the command that installs it, when Pebble is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};
use acme_host::HostError;
use acme_tests::cli::acme_at;
use acme_tests::{describe_output, start_pebble_always_valid};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rand_core::RngCore as _;

const BIN: &str = env!("CARGO_BIN_EXE_acme-cli");

fn acme() -> Command {
    let mut command = Command::new(BIN);
    command.env_remove("ACME_TEST_KILL_AFTER_REQUEST");
    command
}

fn base64(bytes: &[u8], url: bool) -> String {
    use base64ct::{Base64Unpadded, Base64UrlUnpadded, Encoding as _};
    if url {
        Base64UrlUnpadded::encode_string(bytes)
    } else {
        Base64Unpadded::encode_string(bytes)
    }
}

/// The bytes as one big-endian unsigned integer, in decimal.
fn decimal(bytes: &[u8]) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::new();
    while number.iter().any(|&b| b != 0) {
        let mut rest = 0u32;
        for b in &mut number {
            let value = (rest << 8) | u32::from(*b);
            *b = (value / 10) as u8;
            rest = value % 10;
        }
        digits.push(char::from(b'0' + rest as u8));
    }
    digits.iter().rev().collect()
}

/// Strings any of which in the output would reveal (part of) `secret`:
/// every 8-byte window in hex (plain, upper case, colon-separated) and as
/// Rust's `Debug` of a byte slice (decimal and hex), the whole value in
/// decimal, and every 12-byte window base64 and base64url encoded at each
/// of the three alignments a longer encoding (a PEM body, a PKCS#8 DER, a
/// JSON field) can give it.
fn needles(secret: &[u8]) -> Vec<String> {
    let mut out = vec![decimal(secret)];
    for window in secret.windows(8) {
        let hex: Vec<String> = window.iter().map(|b| format!("{b:02x}")).collect();
        out.push(hex.concat());
        out.push(hex.concat().to_ascii_uppercase());
        out.push(hex.join(":"));
        out.push(
            window
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push(
            window
                .iter()
                .map(|b| format!("{b:x}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    for align in 0..3 {
        let groups = &secret[align..];
        for start in (0..groups.len()).step_by(3) {
            if let Some(window) = groups.get(start..start + 12) {
                out.push(base64(window, false));
                out.push(base64(window, true));
            }
        }
    }
    out
}

/// How `bytes` (one output stream) shows `secret`, if it does. Line
/// breaks and literal `\n` escapes are taken out first, so a wrapped PEM
/// body is found too.
fn shown(bytes: &[u8], secret: &[u8]) -> Option<String> {
    if bytes.windows(8).any(|w| secret.windows(8).any(|s| s == w)) {
        return Some("raw bytes".into());
    }
    let raw = String::from_utf8_lossy(bytes);
    let joined: String = raw
        .replace("\\r", "")
        .replace("\\n", "")
        .chars()
        .filter(|c| !matches!(c, '\n' | '\r'))
        .collect();
    needles(secret)
        .into_iter()
        .find(|needle| raw.contains(needle) || joined.contains(needle))
}

/// Panics when the output shows any of `secrets` (name, bytes).
fn assert_no_secret(output: &Output, secrets: &[(&str, Vec<u8>)], what: &str) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        for (name, secret) in secrets {
            if let Some(how) = shown(bytes, secret) {
                panic!(
                    "{what}: {stream} shows {name} as {how:?}:\n{}",
                    describe_output(output)
                );
            }
        }
    }
}

/// The detector itself finds a key file printed whole, and its scalar in
/// hex, in decimal and as `Debug` output, inside other text.
fn assert_detector_works(path: &Path) {
    let pem = std::fs::read_to_string(path).unwrap();
    let scalar = p256::SecretKey::from_pkcs8_pem(&pem).unwrap().to_bytes();
    let hex: String = scalar.iter().map(|b| format!("{b:02X}")).collect();
    for shown_as in [
        format!("key: {pem}"),
        format!("{{\"key\":{:?}}}", pem),
        format!("d={hex}."),
        format!("d = {}", decimal(&scalar)),
        format!("SecretKey({:?})", &scalar[3..20]),
    ] {
        assert!(
            shown(shown_as.as_bytes(), &scalar).is_some(),
            "not detected: {shown_as}"
        );
    }
}

/// A key file's secret: the 32-byte scalar. Every encoding of the key
/// holds it, so the windows of [`needles`] find a PEM body, a DER dump or
/// a JWK `d` as well (the base64 encoder is checked here against the key
/// file's own PEM body).
fn key_secrets(path: &Path) -> Vec<Vec<u8>> {
    let pem = std::fs::read_to_string(path).unwrap();
    let key = p256::SecretKey::from_pkcs8_pem(&pem).unwrap();
    let der = key.to_pkcs8_der().unwrap();
    // The file is the PEM of exactly this DER.
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(body, base64(der.as_bytes(), false));
    vec![key.to_bytes().to_vec()]
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn no_key_or_mac_key_in_the_most_verbose_output() {
    // A fresh MAC key each run, as a CA would hand it out.
    let mut mac = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut mac);
    let mac_b64url = base64(&mac, true);
    let http_port = free_port().unwrap();
    let pebble = match LocalPebble::start(&PebbleOptions {
        env: vec![("PEBBLE_VA_ALWAYS_VALID".into(), "0".into())],
        http01_port: http_port,
        tls_alpn01_port: free_port().unwrap(),
        eab_keys: vec![("kid-secrets".into(), mac_b64url.clone())],
        ..PebbleOptions::default()
    }) {
        Ok(p) => p,
        Err(HostError::Usage(message)) => panic!("{message}"),
        Err(e) => panic!("starting Pebble: {e}"),
    };
    let run = |state: &Path, mac: &str, args: &[&str], tail: &[&str]| -> Output {
        let args = [&["-vv", "--json"][..], args].concat();
        acme_at(BIN, &pebble.directory_url, &pebble.ca_file, state, &args)
            .args(["--http-listen", &format!("127.0.0.1:{http_port}")])
            .args(["--eab-kid", "kid-secrets"])
            // Joined with `=`: a random base64url key may start with `-`,
            // which as a separate word is read as an option.
            .arg(format!("--eab-hmac-key={mac}"))
            .args(["--contact", "mailto:ops@secrets.test"])
            .args(tail)
            .output()
            .unwrap()
    };
    let state = pebble.dir().join("state").join("device");
    let enrolled = run(
        &state,
        &mac_b64url,
        &["enrol", "--identifier", "dns:secrets.device.test"],
        &[],
    );
    assert!(enrolled.status.success(), "{}", describe_output(&enrolled));
    // It really logged at every level: protocol steps and TLS detail.
    let stderr = String::from_utf8_lossy(&enrolled.stderr);
    assert!(stderr.contains("[DEBUG]"), "{stderr}");
    assert!(stderr.contains("[TRACE]"), "{stderr}");
    assert!(stderr.contains("Finalize: POST"), "{stderr}");

    // Key files 0600, in a directory only the owner can enter.
    assert_eq!(
        mode(&state),
        0o700,
        "state directory mode {:o}",
        mode(&state)
    );
    for name in ["account.key", "device.key", "snapshot.bin"] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    assert_detector_works(&state.join("device.key"));
    let old_account = key_secrets(&state.join("account.key"));
    let device = key_secrets(&state.join("device.key"));
    let mut secrets: Vec<(&str, Vec<u8>)> = vec![("the EAB MAC key", mac.to_vec())];
    for (name, key) in [
        ("the account key", &old_account),
        ("the device key", &device),
    ] {
        for part in key {
            secrets.push((name, part.clone()));
        }
    }
    assert_no_secret(&enrolled, &secrets, "enrolment");

    // A key rollover handles both account keys at once.
    let rolled = run(&state, &mac_b64url, &["account"], &["rollover-key"]);
    assert!(rolled.status.success(), "{}", describe_output(&rolled));
    for name in ["account.key", "account.key.old"] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    let new_account = key_secrets(&state.join("account.key"));
    assert_ne!(new_account, old_account);
    for part in &new_account {
        secrets.push(("the new account key", part.clone()));
    }
    assert_no_secret(&rolled, &secrets, "rollover");

    // A wrong MAC key is refused, and not shown in the refusal either.
    let mut wrong = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut wrong);
    let other = pebble.dir().join("state").join("wrong");
    let refused = run(
        &other,
        &base64(&wrong, true),
        &["enrol", "--identifier", "dns:wrong.device.test"],
        &[],
    );
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        describe_output(&refused)
    );
    secrets.push(("the wrong MAC key", wrong.to_vec()));
    for part in key_secrets(&other.join("account.key")) {
        secrets.push(("the refused account key", part));
    }
    assert_no_secret(&refused, &secrets, "refused enrolment");

    // The MAC key from a file, which no other user can see on the command
    // line; the file must be private.
    let key_file = pebble.dir().join("eab-hmac.key");
    std::fs::write(&key_file, format!("{mac_b64url}\n")).unwrap();
    let from_file = |state: &Path| -> Output {
        let args = [
            "-vv",
            "--json",
            "enrol",
            "--identifier",
            "dns:file.device.test",
        ];
        acme_at(BIN, &pebble.directory_url, &pebble.ca_file, state, &args)
            .args(["--http-listen", &format!("127.0.0.1:{http_port}")])
            .args(["--eab-kid", "kid-secrets", "--eab-hmac-key-file"])
            .arg(&key_file)
            .output()
            .unwrap()
    };
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let readable = from_file(&pebble.dir().join("state").join("readable-eab"));
    assert_eq!(
        readable.status.code(),
        Some(2),
        "{}",
        describe_output(&readable)
    );
    assert!(
        String::from_utf8_lossy(&readable.stderr).contains("can be read by others"),
        "{}",
        describe_output(&readable)
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let state = pebble.dir().join("state").join("eab-from-file");
    let enrolled = from_file(&state);
    assert!(enrolled.status.success(), "{}", describe_output(&enrolled));
    for part in key_secrets(&state.join("account.key")) {
        secrets.push(("the account key of the file enrolment", part));
    }
    assert_no_secret(
        &enrolled,
        &secrets,
        "enrolment with the MAC key from a file",
    );
}

#[test]
fn key_files_group_or_others_can_read_are_refused_with_exit_5() {
    let dir = std::env::temp_dir().join(format!("acme-secrets-modes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Nothing listens on the CA's port: exit 5 (not 4) shows the key was
    // refused before any connection.
    let directory = format!("https://127.0.0.1:{}/dir", free_port().unwrap());
    let write_key = |path: &Path, mode: u32| -> Vec<u8> {
        let key = acme_core::SoftwareKey::generate(&mut rand_core::OsRng);
        let pem = acme_tests::key_pem(&key);
        std::fs::write(path, pem.as_bytes()).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        pem.as_bytes().to_vec()
    };
    for bad in [0o640, 0o604, 0o660, 0o644, 0o666] {
        for (file, from_option) in [
            ("account.key", false),
            ("device.key", false),
            ("own-device.key", true),
        ] {
            let state = dir.join(format!("{file}-{bad:o}"));
            std::fs::create_dir_all(&state).unwrap();
            let target = state.join(file);
            let mut keys = Vec::new();
            for name in ["account.key", "device.key"] {
                let path = state.join(name);
                let mode = if path == target { bad } else { 0o600 };
                keys.push((path.clone(), write_key(&path, mode), mode));
            }
            if from_option {
                keys.push((target.clone(), write_key(&target, bad), bad));
            }
            let mut command = acme();
            command
                .args(["enrol", "--identifier", "dns:modes.device.test"])
                .args(["--directory", &directory, "--state-dir"])
                .arg(&state);
            if from_option {
                command.arg("--key-file").arg(&target);
            }
            let out = command.output().unwrap();
            let what = format!("{file} with mode {bad:o}");
            assert_eq!(
                out.status.code(),
                Some(5),
                "{what}: {}",
                describe_output(&out)
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("chmod 600"), "{what}: {stderr}");
            assert!(stderr.contains(file), "{what}: {stderr}");
            // Refused, not repaired or replaced.
            for (path, bytes, mode) in &keys {
                assert_eq!(&std::fs::read(path).unwrap(), bytes, "{what}");
                assert_eq!(self::mode(path), *mode, "{what}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--ca-file-only` trusts the `--ca-file` alone. Here the system's roots
/// (`SSL_CERT_FILE`) are the CA of Pebble's TLS certificate, and
/// `--ca-file` names another CA (Pebble's issuing root, which signed no
/// server certificate): without the flag the tool also trusts the system's
/// roots and enrols; with it the same command refuses the server in the
/// handshake, an error of configuration (exit 2).
#[test]
fn ca_file_only_does_not_trust_the_system_roots() {
    let pebble = start_pebble_always_valid();
    let stranger = pebble.dir().join("issuing-root.pem");
    std::fs::write(&stranger, pebble.root_pem(0).unwrap()).unwrap();
    let run = |name: &str, extra: &[&str]| -> Output {
        let state = pebble.dir().join("state").join(name);
        let args = [
            &["enrol", "--identifier", "dns:trust.device.test"][..],
            extra,
        ]
        .concat();
        acme_at(BIN, &pebble.directory_url, &stranger, &state, &args)
            .args(["--http-listen", "127.0.0.1:0"])
            .args(["--deadline-secs", "60"])
            .env("SSL_CERT_FILE", &pebble.ca_file)
            .env_remove("SSL_CERT_DIR")
            .output()
            .unwrap()
    };

    let with_system = run("with-system-roots", &[]);
    assert!(
        with_system.status.success(),
        "{}",
        describe_output(&with_system)
    );

    let only = run("ca-file-only", &["--ca-file-only"]);
    assert_eq!(only.status.code(), Some(2), "{}", describe_output(&only));
    let stderr = String::from_utf8_lossy(&only.stderr);
    assert!(
        stderr.contains("TLS certificate was refused") && stderr.contains("UnknownIssuer"),
        "{}",
        describe_output(&only)
    );

    // The flag means nothing without a file to trust: refused before
    // anything is sent.
    let state = pebble.dir().join("state").join("no-ca-file");
    let usage = acme()
        .args([
            "enrol",
            "--directory",
            &pebble.directory_url,
            "--ca-file-only",
        ])
        .args(["--identifier", "dns:trust.device.test", "--state-dir"])
        .arg(&state)
        .env("SSL_CERT_FILE", &pebble.ca_file)
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2), "{}", describe_output(&usage));
    let stderr = String::from_utf8_lossy(&usage.stderr);
    assert!(
        stderr.contains("required") && stderr.contains("--ca-file <"),
        "{}",
        describe_output(&usage)
    );
    assert!(!state.exists(), "state was created: {}", state.display());
}
