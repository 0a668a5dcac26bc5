//! Transcript tests: the exact request sequence of each flow against the
//! simulation server, including the quirks of real servers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use acme_core::client::{
    Client, Config, Goal, OrderRequest, ProtocolError, RetryPolicy, ServerError,
};
use acme_core::msg::{ChallengeType, ProblemType};
use acme_core::{Es256Signer, Identifier, SoftwareKey};
use acme_tests::fake::{Failure, FinalizeMode, Quirks, Route};
use acme_tests::sim::{Outcome, Sim};

fn account_key() -> SoftwareKey {
    SoftwareKey::from_scalar(&[0x11; 32]).unwrap()
}

fn device_key() -> SoftwareKey {
    SoftwareKey::from_scalar(&[0x22; 32]).unwrap()
}

const ONE: &[Identifier<'static>] = &[Identifier::Dns("device.example.com")];

/// Enrols `identifiers` against a fake with `quirks`; returns the outcome
/// and the transcript.
fn enrol(quirks: Quirks, identifiers: &[Identifier<'_>]) -> (Outcome, Vec<String>, Sim) {
    enrol_over(quirks, identifiers, 1)
}

/// [`enrol`] over a link with this round trip (virtual milliseconds).
fn enrol_over(
    quirks: Quirks,
    identifiers: &[Identifier<'_>],
    round_trip_ms: u64,
) -> (Outcome, Vec<String>, Sim) {
    let (mut sim, directory) = Sim::start(quirks);
    sim.round_trip_ms = round_trip_ms;
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_> = Client::new(
        &config,
        &account,
        Goal::Enrol(OrderRequest::new(identifiers)),
    )
    .unwrap()
    .with_device_key(&device);
    let outcome = sim.drive(&mut client);
    let transcript = sim.server.transcript();
    assert!(
        sim.server.violations.is_empty(),
        "{:?}",
        sim.server.violations
    );
    (outcome, transcript, sim)
}

fn assert_certificate(outcome: &Outcome, identifiers: &[Identifier<'_>]) {
    assert!(outcome.done, "not done: {:?}", outcome.error);
    let pem = outcome.certificates.first().expect("a certificate");
    let block = acme_core::pem::certificates(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let mut der = vec![0u8; block.decoded_len()];
    let der = block.decode(&mut der).unwrap();
    acme_core::client::check_certificate(der, &device_key().public_key(), identifiers, None)
        .unwrap();
    assert_eq!(acme_core::pem::count_certificates(pem.as_bytes()), Ok(2));
}

const COLD_HAPPY: &[&str] = &[
    "GET /directory",
    "HEAD /new-nonce",
    "POST /new-account",
    "POST /new-order",
    "POST /authz/0",
    "POST /chall/0",
    "POST /order/0/finalize",
    "POST /order/0",
    "POST /cert/0",
];

#[test]
fn happy_path_cold_enrolment_takes_nine_requests() {
    let (outcome, transcript, _) = enrol(Quirks::default(), ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(transcript, COLD_HAPPY);
    assert!(transcript.len() <= 10, "cold budget");
    assert_eq!(outcome.provisioned, [ChallengeType::Http01]);
    assert_eq!(outcome.cleanups, 1);
}

#[test]
fn finalize_that_is_valid_at_once_skips_the_poll() {
    let quirks = Quirks {
        finalize: FinalizeMode::Valid,
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let expected: Vec<&str> = COLD_HAPPY
        .iter()
        .copied()
        .filter(|r| *r != "POST /order/0")
        .collect();
    assert_eq!(transcript, expected);
}

/// Runs one more client on the same simulated server.
fn run(
    sim: &mut Sim,
    config: &Config<'_>,
    account: &dyn Es256Signer,
    goal: Goal<'_>,
    snapshot: Option<&[u8]>,
) -> Outcome {
    let device = device_key();
    let mut client: Client<'_> = Client::new(config, account, goal)
        .unwrap()
        .with_device_key(&device);
    if let Some(s) = snapshot {
        client.restore(s).unwrap();
    }
    let before = sim.server.log.len();
    let outcome = sim.drive(&mut client);
    assert!(
        sim.server.violations.is_empty(),
        "{:?}",
        sim.server.violations
    );
    let _ = before;
    outcome
}

fn new_requests(sim: &Sim, from: usize) -> Vec<String> {
    sim.server.transcript()[from..].to_vec()
}

#[test]
fn warm_renewal_from_a_snapshot_takes_seven_requests_and_reuses_valid_authz() {
    let quirks = Quirks {
        reuse_valid_authz: true,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let goal = Goal::Enrol(OrderRequest::new(ONE));
    let first = run(&mut sim, &config, &account, goal, None);
    assert_certificate(&first, ONE);
    let snapshot = first.snapshots.last().unwrap().clone();

    // The authorization is still valid: the server reuses it, the order is
    // born ready, and the client skips authorizations and challenges.
    let from = sim.server.log.len();
    let second = run(&mut sim, &config, &account, goal, Some(&snapshot));
    assert_certificate(&second, ONE);
    assert_eq!(
        new_requests(&sim, from),
        // The order is ready at once: straight to finalize.
        [
            "HEAD /new-nonce",
            "POST /new-order",
            "POST /order/1/finalize",
            "POST /order/1",
            "POST /cert/1"
        ]
    );
    assert!(second.provisioned.is_empty());
    assert_eq!(sim.server.account_count(), 1);

    // Without reuse, a warm renewal is seven requests.
    sim.server.quirks.reuse_valid_authz = false;
    let from = sim.server.log.len();
    let third = run(&mut sim, &config, &account, goal, Some(&snapshot));
    assert_certificate(&third, ONE);
    let requests = new_requests(&sim, from);
    assert_eq!(
        requests,
        [
            "HEAD /new-nonce",
            "POST /new-order",
            "POST /authz/1",
            "POST /chall/3",
            "POST /order/2/finalize",
            "POST /order/2",
            "POST /cert/2"
        ]
    );
    assert!(requests.len() <= 7, "warm budget");
}

#[test]
fn processing_with_an_http_date_retry_after_waits_that_long() {
    let quirks = Quirks {
        finalize: FinalizeMode::ProcessingHttpDate { after_ms: 7000 },
        ..Quirks::default()
    };
    let (outcome, transcript, sim) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(transcript, COLD_HAPPY);
    // The client waited the 7 s the HTTP-date named, measured against the
    // response's Date header (the device has no clock).
    assert!(sim.now.0 >= 7000, "waited only {} ms", sim.now.0);
    assert!(sim.now.0 < 9000, "waited {} ms", sim.now.0);
}

/// Cold enrolment time, in virtual ms, on a link with this round trip,
/// against a server that validates at once, issues within `issue_ms` and
/// never sends Retry-After.
fn cold_enrolment_ms(round_trip_ms: u64, issue_ms: u64) -> (u64, usize) {
    let quirks = Quirks {
        finalize: FinalizeMode::ProcessingWithoutRetryAfter { after_ms: issue_ms },
        ..Quirks::default()
    };
    let (outcome, _, sim) = enrol_over(quirks, ONE, round_trip_ms);
    assert_certificate(&outcome, ONE);
    (sim.now.0, outcome.requests)
}

#[test]
fn poll_waits_count_from_the_request_that_started_them() {
    // Two waits without Retry-After: before the early finalize (validation)
    // and before the poll of the processing order (issuance). Each is the
    // first backoff step, 200 ms, counted from when the request went out.
    let step = RetryPolicy::DEFAULT.poll_initial_ms;
    assert_eq!(step, 200);
    // A 50 ms round trip: each wait adds the 150 ms the step has left.
    assert_eq!(cold_enrolment_ms(50, 0), (9 * 50 + 2 * (step - 50), 9));
    // A round trip longer than the step adds nothing: the answer came
    // later than the step, so the next request goes out at once.
    assert_eq!(cold_enrolment_ms(300, 0), (9 * 300, 9));
    // Issuance that outlasts the first step: the next poll doubles the
    // step, again counted from the poll before it went out.
    let (ms, requests) = cold_enrolment_ms(50, 300);
    assert_eq!(requests, 10);
    assert_eq!(ms, 10 * 50 + 2 * (step - 50) + (2 * step - 50));
}

#[test]
fn finalize_without_location_keeps_the_order_url() {
    let quirks = Quirks {
        finalize_location: false,
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(transcript, COLD_HAPPY);
}

#[test]
fn a_response_without_replay_nonce_costs_one_head_new_nonce() {
    let mut quirks = Quirks::default();
    quirks.fail(Route::NewOrder, Failure::NoNonce);
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let mut expected = COLD_HAPPY.to_vec();
    expected.insert(4, "HEAD /new-nonce");
    assert_eq!(transcript, expected);
}

#[test]
fn two_bad_nonces_in_a_row_are_retried_with_the_nonce_from_the_error() {
    let mut quirks = Quirks::default();
    quirks
        .fail(Route::NewOrder, Failure::BadNonce)
        .fail(Route::NewOrder, Failure::BadNonce);
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let mut expected = COLD_HAPPY.to_vec();
    expected.insert(3, "POST /new-order");
    expected.insert(3, "POST /new-order");
    assert_eq!(transcript, expected);
}

#[test]
fn bad_nonces_past_the_budget_fail_clearly() {
    let mut quirks = Quirks::default();
    for _ in 0..20 {
        quirks.fail(Route::NewOrder, Failure::BadNonce);
    }
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Server(ServerError {
            status: 400,
            kind: Some(ProblemType::BadNonce)
        }))
    );
    // One try and fifteen retries.
    assert_eq!(
        transcript
            .iter()
            .filter(|r| *r == "POST /new-order")
            .count(),
        16
    );
}

#[test]
fn unavailable_with_retry_after_is_waited_out_and_retried() {
    let mut quirks = Quirks::default();
    quirks.fail(Route::NewOrder, Failure::Unavailable { retry_after: 30 });
    let (outcome, transcript, sim) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let mut expected = COLD_HAPPY.to_vec();
    expected.insert(3, "POST /new-order");
    assert_eq!(transcript, expected);
    assert!(sim.now.0 >= 30_000, "honoured Retry-After: {}", sim.now.0);
}

#[test]
fn an_html_502_is_retried_then_reported_clearly() {
    let mut quirks = Quirks::default();
    quirks.fail(Route::Directory, Failure::HtmlBadGateway);
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(transcript[..2], ["GET /directory", "GET /directory"]);

    let mut quirks = Quirks::default();
    for _ in 0..4 {
        quirks.fail(Route::Directory, Failure::HtmlBadGateway);
    }
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Server(ServerError {
            status: 502,
            kind: None
        }))
    );
    assert_eq!(transcript, ["GET /directory"; 4]);
}

#[test]
fn rejected_identifier_keeps_the_problem_and_its_subproblems() {
    let quirks = Quirks {
        reject_identifier: Some("forbidden.example.com".into()),
        ..Quirks::default()
    };
    let ids = [
        Identifier::Dns("device.example.com"),
        Identifier::Dns("forbidden.example.com"),
    ];
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(&ids)))
            .unwrap()
            .with_device_key(&device);
    let outcome = sim.drive(&mut client);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Server(ServerError {
            status: 400,
            kind: Some(ProblemType::RejectedIdentifier)
        }))
    );
    let problem = client.problem();
    assert_eq!(problem.detail.as_str(), "Some identifiers were rejected");
    assert_eq!(problem.subproblems.len(), 1);
    assert_eq!(
        problem.subproblems[0].identifier.as_str(),
        "forbidden.example.com"
    );
    assert_eq!(
        problem.subproblems[0].kind,
        Some(ProblemType::RejectedIdentifier)
    );
    assert_eq!(sim.server.transcript().last().unwrap(), "POST /new-order");
}

#[test]
fn unknown_challenge_types_are_kept_and_never_chosen() {
    let quirks = Quirks {
        extra_challenges: vec!["device-attest-01", "dns-account-01"],
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(outcome.provisioned, [ChallengeType::Http01]);
    assert_eq!(transcript[5], "POST /chall/2");
}

#[test]
fn an_invalid_order_reports_its_subproblems_and_cleans_up() {
    let quirks = Quirks {
        fail_validation_later: true,
        validation_ms: 200,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE)))
            .unwrap()
            .with_device_key(&device);
    let outcome = sim.drive(&mut client);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Protocol(ProtocolError::OrderInvalid))
    );
    assert_eq!(
        sim.server.transcript(),
        [
            "GET /directory",
            "HEAD /new-nonce",
            "POST /new-account",
            "POST /new-order",
            "POST /authz/0",
            "POST /chall/0",
            "POST /order/0/finalize",
            "POST /order/0"
        ]
    );
    let problem = client.problem();
    assert_eq!(problem.kind, Some(ProblemType::Unauthorized));
    assert_eq!(
        problem.subproblems[0].identifier.as_str(),
        "device.example.com"
    );
    assert_eq!(outcome.cleanups, 1, "what was provisioned is cleaned up");
}

#[test]
fn a_challenge_that_fails_at_once_is_reported_with_its_error() {
    let quirks = Quirks {
        fail_validation: true,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE)))
            .unwrap()
            .with_device_key(&device);
    let outcome = sim.drive(&mut client);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Protocol(
            ProtocolError::ChallengeInvalid {
                id: acme_core::client::ChallengeId(0)
            }
        ))
    );
    assert_eq!(client.problem().kind, Some(ProblemType::Validation));
    assert!(
        client.problem().detail.starts_with("expected "),
        "{}",
        client.problem().detail
    );
}

#[test]
fn user_action_required_carries_its_instance_url() {
    let quirks = Quirks {
        user_action_required: true,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE))).unwrap();
    let outcome = sim.drive(&mut client);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Server(ServerError {
            status: 403,
            kind: Some(ProblemType::UserActionRequired)
        }))
    );
    assert_eq!(
        client.problem().instance.as_str(),
        "https://ca.test/terms/accept"
    );
    assert_eq!(
        sim.server.transcript(),
        ["GET /directory", "HEAD /new-nonce", "POST /new-account"]
    );
}

#[test]
fn servers_that_refuse_post_as_get_are_read_with_get() {
    let quirks = Quirks {
        get_only: true,
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    assert_eq!(
        transcript,
        [
            "GET /directory",
            "HEAD /new-nonce",
            "POST /new-account",
            "POST /new-order",
            "POST /authz/0",
            "GET /authz/0",
            "POST /chall/0",
            "POST /order/0/finalize",
            "GET /order/0",
            "GET /cert/0",
        ]
    );
}

#[test]
fn profile_prefixed_directories_work_through_discovery() {
    for prefix in ["/acme/iot-profile", "/acme/raProfile/devices", "/v1/acme"] {
        let quirks = Quirks {
            prefix: prefix.into(),
            ..Quirks::default()
        };
        let (outcome, transcript, sim) = enrol(quirks, ONE);
        assert_certificate(&outcome, ONE);
        assert_eq!(transcript, COLD_HAPPY);
        assert!(sim.server.log[0].starts_with(&format!("GET {prefix}/directory")));
    }
}

/// A path prefix that makes every URL of the fake CA at least as long as
/// Let's Encrypt's (`https://acme-v02.api.letsencrypt.org/acme/authz/
/// 1234567890/123456789012` and the like): its host is 21 characters
/// shorter and its paths 27.
const LETS_ENCRYPT_LENGTHS: &str = "/acme/lets-encrypt-length-urls/0123456789abcdef";

/// One enrolment with a URL arena of `N` bytes, at Let's Encrypt's URL
/// lengths.
fn enrol_with_arena<const N: usize>(identifiers: &[Identifier<'_>]) -> Outcome {
    let (mut sim, directory) = Sim::start(Quirks {
        prefix: LETS_ENCRYPT_LENGTHS.into(),
        ..Quirks::default()
    });
    assert!(directory.len() >= "https://acme-v02.api.letsencrypt.org/directory".len());
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_, N> = Client::new(
        &config,
        &account,
        Goal::Enrol(OrderRequest::new(identifiers)),
    )
    .unwrap()
    .with_device_key(&device);
    sim.drive(&mut client)
}

#[test]
fn the_url_arena_holds_eight_identifiers_by_default_and_one_in_a_kib() {
    let names: Vec<String> = (0..8).map(|i| format!("device-{i}.example.com")).collect();
    let eight: Vec<Identifier<'_>> = names.iter().map(|n| Identifier::Dns(n)).collect();
    assert_eq!(eight.len(), acme_core::identifier::MAX_IDENTIFIERS);
    // 2,048 bytes, the default before tokens moved into the arena, is
    // too small for this since.
    let outcome = enrol_with_arena::<{ acme_core::client::DEFAULT_URL_ARENA }>(&eight);
    assert_certificate(&outcome, &eight);
    // What a device enrolling its own name sizes it to.
    assert_certificate(&enrol_with_arena::<1024>(ONE), ONE);
    // Too small an arena is a typed error, not a panic.
    let outcome = enrol_with_arena::<512>(ONE);
    assert!(!outcome.done);
    assert!(
        matches!(
            outcome.error,
            Some(acme_core::Error::LimitExceeded { max: 512, .. })
        ),
        "{:?}",
        outcome.error
    );
}

#[test]
fn a_pending_order_with_a_reused_valid_authorization_skips_its_challenge() {
    let quirks = Quirks {
        reuse_valid_authz: true,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let first = run(
        &mut sim,
        &config,
        &account,
        Goal::Enrol(OrderRequest::new(ONE)),
        None,
    );
    assert_certificate(&first, ONE);
    // A second order for that name and a new one: one authorization is
    // reused (valid) and skipped, the other is validated.
    let ids = [
        Identifier::Dns("device.example.com"),
        Identifier::Dns("new.example.com"),
    ];
    let from = sim.server.log.len();
    let second = run(
        &mut sim,
        &config,
        &account,
        Goal::Enrol(OrderRequest::new(&ids)),
        first.snapshots.last().map(Vec::as_slice),
    );
    assert_certificate(&second, &ids);
    assert_eq!(
        new_requests(&sim, from),
        [
            "HEAD /new-nonce",
            "POST /new-order",
            "POST /authz/0",
            "POST /authz/1",
            "POST /chall/3",
            "POST /order/1/finalize",
            "POST /order/1",
            "POST /cert/1"
        ]
    );
    assert_eq!(second.provisioned, [ChallengeType::Http01]);
}

#[test]
fn three_identifiers_in_one_order() {
    let ids = [
        Identifier::Dns("device.example.com"),
        Identifier::Ip(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7))),
        Identifier::Dns("*.example.org"),
    ];
    let (outcome, transcript, _) = enrol(Quirks::default(), &ids);
    assert_certificate(&outcome, &ids);
    assert_eq!(
        transcript,
        [
            "GET /directory",
            "HEAD /new-nonce",
            "POST /new-account",
            "POST /new-order",
            "POST /authz/0",
            "POST /authz/1",
            "POST /authz/2",
            "POST /chall/0",
            "POST /chall/3",
            "POST /chall/6",
            "POST /order/0/finalize",
            "POST /order/0",
            "POST /cert/0",
        ]
    );
    // The wildcard can only be validated by dns-01.
    assert_eq!(
        outcome.provisioned,
        [
            ChallengeType::Http01,
            ChallengeType::Http01,
            ChallengeType::Dns01
        ]
    );
}

#[test]
fn ari_renewal_sends_replaces_and_the_offered_profile() {
    let quirks = Quirks {
        profiles: vec!["classic", "shortlived"],
        renewal_info: true,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    let config = Config::new(&directory);
    let account = account_key();
    let first = run(
        &mut sim,
        &config,
        &account,
        Goal::Enrol(OrderRequest::new(ONE)),
        None,
    );
    assert_certificate(&first, ONE);
    let snapshot = first.snapshots.last().unwrap().clone();
    let der = sim.server.issued_der(0).unwrap().to_vec();
    let mut id = [0u8; 128];
    let cert_id = acme_core::cert::Certificate::from_der(&der)
        .unwrap()
        .write_ari_cert_id(&mut id)
        .unwrap()
        .to_owned();

    // Ask ARI when to renew: a plain GET, no account needed.
    let from = sim.server.log.len();
    let info = run(
        &mut sim,
        &config,
        &account,
        Goal::RenewalInfo { cert_id: &cert_id },
        Some(&snapshot),
    );
    assert!(info.done);
    assert_eq!(
        info.renewal_info,
        [(
            "2026-03-01T00:00:00Z".to_owned(),
            "2026-03-03T00:00:00Z".to_owned(),
            true
        )]
    );
    assert_eq!(
        new_requests(&sim, from),
        [format!("GET /renewal-info/{cert_id}")]
    );

    // Renew, replacing the old certificate, in the short-lived profile.
    let mut order = OrderRequest::new(ONE);
    order.replaces = Some(&cert_id);
    order.profile = Some("shortlived");
    let renewed = run(
        &mut sim,
        &config,
        &account,
        Goal::Enrol(order),
        Some(&snapshot),
    );
    assert_certificate(&renewed, ONE);
    assert_eq!(
        sim.server.last_order_fields(),
        Some((Some("shortlived".to_owned()), Some(cert_id.clone())))
    );

    // A profile the directory does not offer is not sent.
    let mut order = OrderRequest::new(ONE);
    order.profile = Some("unknown-profile");
    let fresh = run(&mut sim, &config, &account, Goal::Enrol(order), None);
    assert_certificate(&fresh, ONE);
    assert_eq!(sim.server.last_order_fields(), Some((None, None)));
}

#[test]
fn a_server_that_refuses_head_new_nonce_is_asked_with_get() {
    let quirks = Quirks {
        nonce_get_only: true,
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let mut expected = COLD_HAPPY.to_vec();
    expected.insert(2, "GET /new-nonce");
    assert_eq!(transcript, expected);
}

#[test]
fn boulder_style_nonces_on_get_save_the_head_request() {
    let quirks = Quirks {
        nonce_on_get: true,
        ..Quirks::default()
    };
    let (outcome, transcript, _) = enrol(quirks, ONE);
    assert_certificate(&outcome, ONE);
    let expected: Vec<&str> = COLD_HAPPY
        .iter()
        .copied()
        .filter(|r| *r != "HEAD /new-nonce")
        .collect();
    assert_eq!(transcript, expected);
}

#[test]
fn redirects_are_refused() {
    let mut quirks = Quirks::default();
    quirks.fail(Route::NewOrder, Failure::Redirect);
    let (outcome, _, _) = enrol(quirks, ONE);
    assert_eq!(
        outcome.error,
        Some(acme_core::Error::Protocol(
            ProtocolError::UnexpectedStatus { status: 302 }
        ))
    );
}

#[test]
fn certificates_that_do_not_match_the_csr_are_refused() {
    use acme_core::client::CertificateRejection;
    for (quirks, expected) in [
        (
            Quirks {
                wrong_key_certificate: true,
                ..Quirks::default()
            },
            CertificateRejection::KeyMismatch,
        ),
        (
            Quirks {
                missing_san_certificate: true,
                ..Quirks::default()
            },
            CertificateRejection::IdentifierMismatch,
        ),
        (
            Quirks {
                leaf_not_signed_by_the_ca: true,
                ..Quirks::default()
            },
            CertificateRejection::NotIssuedByNext,
        ),
        (
            Quirks {
                leaf_without_chain: true,
                ..Quirks::default()
            },
            CertificateRejection::IssuerUnverifiable,
        ),
    ] {
        let (outcome, _, _) = enrol(quirks, ONE);
        assert!(outcome.certificates.is_empty(), "nothing is delivered");
        assert_eq!(
            outcome.error,
            Some(acme_core::Error::CertificateRejected(expected))
        );
    }
}

#[test]
fn alternate_chains_are_offered_and_fetched() {
    let quirks = Quirks {
        alternates: 2,
        ..Quirks::default()
    };
    let (mut sim, directory) = Sim::start(quirks);
    sim.fetch_alternates = true;
    let config = Config::new(&directory);
    let account = account_key();
    let device = device_key();
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE)))
            .unwrap()
            .with_device_key(&device);
    let outcome = sim.drive(&mut client);
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(outcome.alternates, 2);
    assert_eq!(outcome.certificates.len(), 3);
    // Same leaf, different issuers.
    let leaf = |pem: &str| {
        pem.split("-----END CERTIFICATE-----")
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        leaf(&outcome.certificates[0]),
        leaf(&outcome.certificates[1])
    );
    assert_ne!(outcome.certificates[0], outcome.certificates[1]);
    assert_ne!(outcome.certificates[1], outcome.certificates[2]);
    assert_eq!(
        &sim.server.transcript()[9..],
        ["POST /cert/0/0", "POST /cert/0/1"]
    );
    // There is no third alternate.
    assert_eq!(
        client.fetch_alternate(2),
        Err(acme_core::Error::Protocol(ProtocolError::NoSuchAlternate))
    );
}

#[test]
fn every_request_fits_exactly_the_size_the_client_asks_for() {
    // Found by the client_flow fuzz target: the size reported for a short
    // buffer must be exact at every step, for every flow shape.
    for quirks in [
        Quirks::default(),
        Quirks {
            prefix: "/acme/a-much-longer-profile-prefix-to-shift-lengths".into(),
            ..Quirks::default()
        },
        Quirks {
            get_only: true,
            ..Quirks::default()
        },
    ] {
        let (mut sim, directory) = Sim::start(quirks);
        sim.exact_buffers = true;
        let config = Config::new(&directory);
        let account = account_key();
        let device = device_key();
        let ids = [
            Identifier::Dns("device.example.com"),
            Identifier::Dns("second.example.com"),
        ];
        let mut client: Client<'_> =
            Client::new(&config, &account, Goal::Enrol(OrderRequest::new(&ids)))
                .unwrap()
                .with_device_key(&device);
        let outcome = sim.drive(&mut client);
        assert!(outcome.done, "{:?}", outcome.error);
    }
}

#[test]
fn certificate_validity_allows_five_minutes_of_clock_skew() {
    use acme_core::client::{check_certificate, CertificateRejection, VALIDITY_SKEW_SECS};
    use acme_core::time::UnixTime;
    // The fake issues certificates valid from EPOCH - 1 h for 90 days.
    let (outcome, _, _) = enrol(Quirks::default(), ONE);
    let pem = &outcome.certificates[0];
    let block = acme_core::pem::certificates(pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let mut der = vec![0u8; block.decoded_len()];
    let der = block.decode(&mut der).unwrap();
    let not_before = acme_tests::fake::EPOCH_UNIX - 3600;
    let not_after = acme_tests::fake::EPOCH_UNIX + 90 * 86_400;
    let key = device_key().public_key();
    let check = |t| check_certificate(der, &key, ONE, Some(UnixTime(t)));
    assert_eq!(check(not_before - VALIDITY_SKEW_SECS), Ok(()));
    assert_eq!(
        check(not_before - VALIDITY_SKEW_SECS - 1),
        Err(acme_core::Error::CertificateRejected(
            CertificateRejection::NotYetValid
        ))
    );
    assert_eq!(check(not_after + VALIDITY_SKEW_SECS), Ok(()));
    assert_eq!(
        check(not_after + VALIDITY_SKEW_SECS + 1),
        Err(acme_core::Error::CertificateRejected(
            CertificateRejection::Expired
        ))
    );
}
