//! Interop with a real Pebble CA (Debian package `pebble`), started by the
//! tests on loopback, with every challenge really validated
//! (`PEBBLE_VA_ALWAYS_VALID=0`): Pebble's VA fetches http-01 from our
//! responder, does the tls-alpn-01 handshake with our responder, and
//! resolves dns-01 through pebble-challtestsrv, where our hook puts the TXT
//! record.
//!
//! These tests fail, with the command that installs it, when Pebble is
//! missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use acme_core::msg::ChallengeType;
use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};
use acme_host::HostError;
use acme_host::Trust;
use acme_host::{CertificateReport, EabBinding, Identifier, OrderSpec, Session, Settings};

struct Env {
    pebble: LocalPebble,
    http_port: u16,
    tls_port: u16,
    state: PathBuf,
}

fn start(env: &[(&str, &str)]) -> Env {
    start_with(env, |_| {})
}

fn start_with(env: &[(&str, &str)], tweak: impl FnOnce(&mut PebbleOptions)) -> Env {
    let http_port = free_port().unwrap();
    let tls_port = free_port().unwrap();
    let mut options = PebbleOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        http01_port: http_port,
        tls_alpn01_port: tls_port,
        ..PebbleOptions::default()
    };
    if !options
        .env
        .iter()
        .any(|(k, _)| k == "PEBBLE_VA_ALWAYS_VALID")
    {
        options
            .env
            .push(("PEBBLE_VA_ALWAYS_VALID".into(), "0".into()));
    }
    tweak(&mut options);
    let pebble = match LocalPebble::start(&options) {
        Ok(p) => p,
        Err(HostError::Usage(message)) => panic!("{message}"),
        Err(e) => panic!("starting Pebble: {e}"),
    };
    let state = pebble.dir().join("state");
    Env {
        pebble,
        http_port,
        tls_port,
        state,
    }
}

impl Env {
    fn settings(&self, challenge: ChallengeType) -> Settings {
        let mut s = Settings::new(&self.pebble.directory_url, &self.state);
        s.trust = Trust::Only(self.pebble.ca_file.clone());
        s.challenge = challenge;
        s.http01_listen = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        s.tls_alpn01_listen = SocketAddr::from(([127, 0, 0, 1], self.tls_port));
        s.deadline = Duration::from_secs(90);
        if challenge == ChallengeType::Dns01 {
            s.dns_hook = Some(self.dns_hook());
        }
        s
    }

    /// A dns-01 hook script that sets the TXT record in challtestsrv
    /// through its management API (bash's /dev/tcp: no curl needed).
    fn dns_hook(&self) -> PathBuf {
        let path = self.pebble.dir().join("dns-hook.sh");
        let port = self.pebble.challtestsrv.port();
        let script = format!(
            r#"#!/bin/bash
set -e
action="$1"; name="$2."; value="$3"
if [ "$action" = add ]; then path=/set-txt; body="{{\"host\":\"$name\",\"value\":\"$value\"}}";
else path=/clear-txt; body="{{\"host\":\"$name\"}}"; fi
exec 3<>/dev/tcp/127.0.0.1/{port}
printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "$path" "${{#body}}" "$body" >&3
read -r status <&3
case "$status" in *" 200 "*) exit 0;; *) echo "challtestsrv: $status" >&2; exit 1;; esac
"#
        );
        std::fs::write(&path, script).unwrap();
        Command::new("chmod")
            .arg("755")
            .arg(&path)
            .status()
            .unwrap();
        path
    }

    fn session(&self, challenge: ChallengeType) -> Session {
        Session::open(self.settings(challenge)).unwrap()
    }

    /// Downloads a root from Pebble's management interface.
    fn root_pem(&self, index: usize) -> String {
        self.pebble.root_pem(index).unwrap()
    }
}

fn spec(ids: &[&str]) -> OrderSpec {
    OrderSpec::new(ids.iter().map(|i| Identifier::parse(i).unwrap()))
}

/// Checks an issued certificate: SANs, public key equal to the device key,
/// and the chain verifying (with OpenSSL) to Pebble's root `root`.
fn assert_issued(
    env: &Env,
    report: &CertificateReport,
    chain_path: &Path,
    expected_sans: &[&str],
    root: usize,
) {
    let mut sans = report.sans.clone();
    sans.sort();
    let mut expected: Vec<String> = expected_sans.iter().map(|s| (*s).to_owned()).collect();
    expected.sort();
    assert_eq!(sans, expected);
    // Public key = the device key.
    let pem = std::fs::read(chain_path).unwrap();
    let ders = acme_tests::chain_ders(&pem);
    let leaf = acme_core::cert::Certificate::from_der(&ders[0]).unwrap();
    let device_key = acme_tests::load_key(&env.state.join("device.key"));
    use acme_core::Es256Signer as _;
    assert_eq!(leaf.spki_der(), &device_key.public_key().spki_der()[..]);
    // The chain verifies to the root, independently of our code.
    acme_tests::assert_chain_verifies(env.pebble.dir(), &env.root_pem(root), &ders);
}

fn enrol(env: &Env, challenge: ChallengeType, ids: &[&str]) -> (CertificateReport, Vec<String>) {
    let mut session = env.session(challenge);
    let mut lines = Vec::new();
    let report = session
        .enrol(&spec(ids), &mut |l| lines.push(l.to_owned()))
        .unwrap_or_else(|e| {
            panic!(
                "enrolment failed: {e}\n{}",
                std::fs::read_to_string(&env.pebble.log_file).unwrap_or_default()
            )
        });
    (report, lines)
}

#[test]
fn http01() {
    let env = start(&[]);
    let (report, lines) = enrol(&env, ChallengeType::Http01, &["dns:http.device.test"]);
    assert_issued(&env, &report, &report.path, &["DNS:http.device.test"], 0);
    assert!(lines.iter().any(|l| l.contains("challenge http-01 ready")));
}

#[test]
fn tls_alpn01() {
    let env = start(&[]);
    let (report, lines) = enrol(&env, ChallengeType::TlsAlpn01, &["dns:alpn.device.test"]);
    assert_issued(&env, &report, &report.path, &["DNS:alpn.device.test"], 0);
    assert!(lines
        .iter()
        .any(|l| l.contains("challenge tls-alpn-01 ready")));
}

#[test]
fn dns01() {
    let env = start(&[]);
    let (report, lines) = enrol(&env, ChallengeType::Dns01, &["dns:dns.device.test"]);
    assert_issued(&env, &report, &report.path, &["DNS:dns.device.test"], 0);
    assert!(lines.iter().any(|l| l.contains("challenge dns-01 ready")));
}

#[test]
fn ip_identifier() {
    let env = start(&[]);
    let (report, _) = enrol(&env, ChallengeType::Http01, &["ip:127.0.0.1"]);
    assert_issued(&env, &report, &report.path, &["IP:127.0.0.1"], 0);
}

#[test]
fn three_names_in_one_order() {
    let env = start(&[]);
    let names = [
        "dns:a.device.test",
        "dns:b.device.test",
        "dns:c.device.test",
    ];
    let (report, lines) = enrol(&env, ChallengeType::Http01, &names);
    assert_issued(
        &env,
        &report,
        &report.path,
        &[
            "DNS:a.device.test",
            "DNS:b.device.test",
            "DNS:c.device.test",
        ],
        0,
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("challenge http-01 ready"))
            .count(),
        3
    );
}

#[test]
fn renewal_reuses_the_account() {
    let env = start(&[("PEBBLE_AUTHZREUSE", "0"), ("PEBBLE_WFE_NONCEREJECT", "0")]);
    let (first, lines) = enrol(&env, ChallengeType::Http01, &["dns:renew.device.test"]);
    assert!(lines.iter().any(|l| l.contains("Account: POST")));
    let (second, lines) = enrol(&env, ChallengeType::Http01, &["dns:renew.device.test"]);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("Account: POST") || l.contains("Directory")),
        "{lines:?}"
    );
    assert_ne!(first.serial, second.serial);
    assert_issued(&env, &second, &second.path, &["DNS:renew.device.test"], 0);
    // Pebble offers no ARI, so nothing is `replaces`d; the renewal still
    // works, and a warm renewal takes at most 7 requests.
    let requests = lines
        .iter()
        .filter(|l| l.contains(": POST ") || l.contains(": HEAD ") || l.contains(": GET "))
        .count();
    assert!(requests <= 7, "{requests} requests: {lines:?}");
}

#[test]
fn revocation_by_account_key_and_by_certificate_key() {
    use acme_host::{RevocationReason, RevokeWith};
    let env = start(&[]);
    let mut session = env.session(ChallengeType::Http01);
    let report = session
        .enrol(&spec(&["dns:revoke.device.test"]), &mut |_| {})
        .unwrap();
    assert_issued(&env, &report, &report.path, &["DNS:revoke.device.test"], 0);
    session
        .revoke(
            Some(RevocationReason::KeyCompromise),
            RevokeWith::AccountKey,
            &mut |_| {},
        )
        .unwrap();
    let again = session.revoke(
        Some(RevocationReason::Superseded),
        RevokeWith::CertificateKey,
        &mut |_| {},
    );
    match again {
        Err(HostError::Refused(m)) => assert!(m.contains("alreadyRevoked"), "{m}"),
        other => panic!("expected alreadyRevoked, got {other:?}"),
    }
    // A fresh certificate revoked by its own key.
    session
        .enrol(&spec(&["dns:revoke2.device.test"]), &mut |_| {})
        .unwrap();
    session
        .revoke(
            Some(RevocationReason::CessationOfOperation),
            RevokeWith::CertificateKey,
            &mut |_| {},
        )
        .unwrap();
}

#[test]
fn key_rollover_then_enrolment_with_the_new_key() {
    let env = start(&[]);
    let mut session = env.session(ChallengeType::Http01);
    session
        .enrol(&spec(&["dns:roll.device.test"]), &mut |_| {})
        .unwrap();
    let before = session.account_thumbprint();
    session.rollover_key(&mut |_| {}).unwrap();
    assert_ne!(before, session.account_thumbprint());
    drop(session);
    // A new process loads the new key and reuses the account.
    let (report, lines) = enrol(&env, ChallengeType::Http01, &["dns:roll.device.test"]);
    assert!(
        !lines.iter().any(|l| l.contains("Account: POST")),
        "{lines:?}"
    );
    assert_issued(&env, &report, &report.path, &["DNS:roll.device.test"], 0);
}

#[test]
fn deactivated_account_cannot_order() {
    let env = start(&[]);
    let mut session = env.session(ChallengeType::Http01);
    session
        .enrol(&spec(&["dns:deact.device.test"]), &mut |_| {})
        .unwrap();
    let account = session.deactivate_account(&mut |_| {}).unwrap();
    assert_eq!(account.status, "deactivated");
    let refused = session.enrol(&spec(&["dns:deact.device.test"]), &mut |_| {});
    match refused {
        Err(e @ (HostError::Refused(_) | HostError::Protocol(_) | HostError::Internal(_))) => {
            let m = e.to_string();
            assert!(
                m.contains("unauthorized") || m.contains("deactivated"),
                "{m}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn external_account_binding() {
    // A 48-byte key needs no padding; a 1-byte key is given padded ("AQ==")
    // to the client while Pebble holds it unpadded.
    let unpadded = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let short_padded = "AQ==";
    let env = start_with(&[], |o| {
        o.eab_keys = vec![
            ("kid-1".into(), unpadded.into()),
            ("kid-3".into(), "AQ".into()),
        ];
    });
    let mut settings = env.settings(ChallengeType::Http01);
    settings.eab = Some(EabBinding::new("kid-1", unpadded));
    let mut session = Session::open(settings).unwrap();
    let report = session
        .enrol(&spec(&["dns:eab.device.test"]), &mut |_| {})
        .unwrap();
    assert_issued(&env, &report, &report.path, &["DNS:eab.device.test"], 0);
    // Padded key, separate state (new account).
    let mut settings = env.settings(ChallengeType::Http01);
    settings.state_dir = env.pebble.dir().join("state-padded");
    settings.eab = Some(EabBinding::new("kid-3", short_padded));
    let mut session = Session::open(settings).unwrap();
    session
        .enrol(&spec(&["dns:eab2.device.test"]), &mut |_| {})
        .unwrap();
    // A wrong key is refused clearly.
    let mut settings = env.settings(ChallengeType::Http01);
    settings.state_dir = env.pebble.dir().join("state-wrong");
    settings.eab = Some(EabBinding::new(
        "kid-1",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ));
    // Logging the settings never shows the MAC key.
    let shown = format!("{settings:?}");
    assert!(
        shown.contains("kid-1") && shown.contains("<redacted>"),
        "{shown}"
    );
    assert!(!shown.contains("AAAAAAAAAAAAAAAA"), "{shown}");
    let mut session = Session::open(settings).unwrap();
    match session.enrol(&spec(&["dns:eab3.device.test"]), &mut |_| {}) {
        Err(HostError::Refused(m)) => {
            assert!(m.contains("unauthorized") || m.contains("malformed"), "{m}")
        }
        other => panic!("expected refusal, got {other:?}"),
    }
    // No EAB at all: a clear local error before any account request.
    let mut settings = env.settings(ChallengeType::Http01);
    settings.state_dir = env.pebble.dir().join("state-none");
    let mut session = Session::open(settings).unwrap();
    match session.enrol(&spec(&["dns:eab4.device.test"]), &mut |_| {}) {
        Err(e) => assert!(
            e.to_string().contains("requires External Account Binding"),
            "{e}"
        ),
        Ok(_) => panic!("enrolled without EAB"),
    }
}

#[test]
fn nonce_rejection_at_fifty_percent() {
    let env = start(&[("PEBBLE_WFE_NONCEREJECT", "50")]);
    let mut session = env.session(ChallengeType::Http01);
    for i in 0..10 {
        let name = format!("nonce{i}.device.test");
        let report = session
            .enrol(&spec(&[&format!("dns:{name}")]), &mut |_| {})
            .unwrap_or_else(|e| panic!("enrolment {i}: {e}"));
        assert_issued(&env, &report, &report.path, &[&format!("DNS:{name}")], 0);
    }
}

#[test]
fn strict_mode() {
    let env = start_with(&[], |o| o.strict = true);
    let (report, _) = enrol(&env, ChallengeType::Http01, &["dns:strict.device.test"]);
    assert_issued(&env, &report, &report.path, &["DNS:strict.device.test"], 0);
}

#[test]
fn reused_valid_authorization_is_skipped() {
    let env = start(&[("PEBBLE_AUTHZREUSE", "100")]);
    let (_, first) = enrol(&env, ChallengeType::Http01, &["dns:reuse.device.test"]);
    assert!(first.iter().any(|l| l.contains("challenge http-01 ready")));
    let (report, second) = enrol(&env, ChallengeType::Http01, &["dns:reuse.device.test"]);
    assert!(
        !second.iter().any(|l| l.contains("challenge")),
        "{second:?}"
    );
    assert!(
        !second.iter().any(|l| l.contains("Challenge:")),
        "{second:?}"
    );
    assert_issued(&env, &report, &report.path, &["DNS:reuse.device.test"], 0);
}

#[test]
fn list_orders_across_pages() {
    let env = start(&[
        ("PEBBLE_WFE_ORDERS_PER_PAGE", "2"),
        ("PEBBLE_AUTHZREUSE", "100"),
    ]);
    let mut session = env.session(ChallengeType::Http01);
    for i in 0..5 {
        let name = format!("list{i}.device.test");
        let report = session
            .enrol(&spec(&[&format!("dns:{name}")]), &mut |_| {})
            .unwrap();
        assert_issued(&env, &report, &report.path, &[&format!("DNS:{name}")], 0);
    }
    let mut lines = Vec::new();
    let orders = session
        .list_orders(&mut |l| lines.push(l.to_owned()))
        .unwrap();
    assert!(orders.len() >= 5, "{orders:?}");
    let pages = lines.iter().filter(|l| l.starts_with("OrdersList")).count();
    assert!(pages >= 3, "{lines:?}");
}

/// A CA whose TLS certificate does not chain to the trusted root is
/// refused at the handshake, once (not retried as a network failure), and
/// no request reaches it.
#[test]
fn a_ca_whose_certificate_is_not_trusted_is_refused_once() {
    let env = start(&[]);
    let other_ca = acme_tests::unrelated_ca(env.pebble.dir());
    let mut settings = env.settings(ChallengeType::Http01);
    settings.trust = Trust::Only(other_ca);
    let mut session = Session::open(settings).unwrap();
    match session.enrol(&spec(&["dns:untrusted.device.test"]), &mut |_| {}) {
        Err(e @ HostError::Usage(_)) => {
            let message = e.to_string();
            assert!(
                message.contains("TLS certificate was refused")
                    && message.contains("UnknownIssuer"),
                "{message}"
            );
            assert_eq!(e.exit_code(), 2, "the trust setting is the input to fix");
        }
        other => panic!("expected the certificate to be refused, got {other:?}"),
    }
    let log = std::fs::read_to_string(&env.pebble.log_file).unwrap();
    assert!(
        !log.contains("-> calling handler()"),
        "a request reached the untrusted CA:\n{log}"
    );
    // One handshake only (Pebble's start-up probes end in EOF).
    let refused_handshakes = log
        .lines()
        .filter(|l| l.contains("TLS handshake error") && !l.ends_with("EOF"))
        .count();
    assert_eq!(refused_handshakes, 1, "{log}");
    assert!(!env.state.join("cert.pem").exists());
}

#[test]
fn alternate_chains() {
    let env = start(&[("PEBBLE_ALTERNATE_ROOTS", "1")]);
    let mut settings = env.settings(ChallengeType::Http01);
    settings.fetch_alternates = true;
    let mut session = Session::open(settings).unwrap();
    let report = session
        .enrol(&spec(&["dns:alt.device.test"]), &mut |_| {})
        .unwrap();
    assert_eq!(report.alternates.len(), 1);
    assert_issued(&env, &report, &report.path, &["DNS:alt.device.test"], 0);
    assert_issued(
        &env,
        &report,
        &report.alternates[0],
        &["DNS:alt.device.test"],
        1,
    );
}

#[test]
fn renew_if_due_decides_from_the_remaining_lifetime_without_ari() {
    let env = start_with(&[], |o| o.certificate_validity_secs = Some(6));
    let mut session = env.session(ChallengeType::Http01);
    let first = session
        .enrol(&spec(&["dns:due.device.test"]), &mut |_| {})
        .unwrap();
    // Pebble offers no ARI: the decision falls back to the lifetime, and a
    // fresh certificate is not due.
    let mut lines = Vec::new();
    let not_due = session
        .renew_if_due(&spec(&["dns:due.device.test"]), &mut |l| {
            lines.push(l.to_owned())
        })
        .unwrap();
    assert!(not_due.is_none(), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("no ARI")), "{lines:?}");
    // Less than a third of the lifetime left: due, and renewed.
    let lifetime = first.not_after.duration_since(first.not_before).unwrap();
    let until = first.not_before + lifetime * 2 / 3 + Duration::from_secs(1);
    let left = until
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    std::thread::sleep(left + Duration::from_secs(1));
    let renewed = session
        .renew_if_due(&spec(&["dns:due.device.test"]), &mut |_| {})
        .unwrap()
        .expect("due by now");
    assert_ne!(renewed.serial, first.serial);
    assert_issued(&env, &renewed, &renewed.path, &["DNS:due.device.test"], 0);
}
