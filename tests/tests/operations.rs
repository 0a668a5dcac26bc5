//! Every client operation besides enrolment, each with its error paths,
//! plus snapshots and resuming after a reboot.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use acme_core::client::{
    Client, Config, Goal, OrderRequest, OrderStep, ProtocolError, RetryPolicy, RevocationReason,
    RevocationSigner, ServerError, SnapshotError,
};
use acme_core::msg::ProblemType;
use acme_core::{Error, Es256Signer, Identifier, SoftwareKey};
use acme_tests::fake::{Failure, Quirks, Route};
use acme_tests::sim::{Outcome, Sim};

const ONE: &[Identifier<'static>] = &[Identifier::Dns("device.example.com")];

fn key(seed: u8) -> SoftwareKey {
    SoftwareKey::from_scalar(&[seed; 32]).unwrap()
}

struct World {
    sim: Sim,
    directory: String,
}

impl World {
    fn new(quirks: Quirks) -> Self {
        let (sim, directory) = Sim::start(quirks);
        Self { sim, directory }
    }

    fn run(
        &mut self,
        account: &dyn Es256Signer,
        goal: Goal<'_>,
        snapshot: Option<&[u8]>,
    ) -> Outcome {
        let config = Config::new(&self.directory);
        let device = key(0x22);
        let mut client: Client<'_> = Client::new(&config, account, goal)
            .unwrap()
            .with_device_key(&device);
        if let Some(s) = snapshot {
            client.restore(s).unwrap();
        }
        let outcome = self.sim.drive(&mut client);
        assert!(
            self.sim.server.violations.is_empty(),
            "{:?}",
            self.sim.server.violations
        );
        outcome
    }

    fn since(&self, from: usize) -> Vec<String> {
        self.sim.server.transcript()[from..].to_vec()
    }

    /// Enrols once; returns the snapshot.
    fn enrolled(&mut self, account: &dyn Es256Signer) -> Vec<u8> {
        let outcome = self.run(account, Goal::Enrol(OrderRequest::new(ONE)), None);
        assert!(outcome.done, "{:?}", outcome.error);
        outcome.snapshots.last().unwrap().clone()
    }
}

#[test]
fn update_contact() {
    let mut world = World::new(Quirks::default());
    let account = key(1);
    let snapshot = world.enrolled(&account);
    let from = world.sim.server.log.len();
    let outcome = world.run(
        &account,
        Goal::UpdateContact(&["mailto:ops@example.com"]),
        Some(&snapshot),
    );
    assert!(outcome.done);
    assert_eq!(outcome.accounts, ["Valid"]);
    assert_eq!(world.since(from), ["HEAD /new-nonce", "POST /acct/0"]);
    let shown = world.run(&account, Goal::FetchAccount, Some(&snapshot));
    assert_eq!(shown.accounts, ["Valid"]);
}

#[test]
fn deactivation_then_a_new_order_is_refused_clearly() {
    let mut world = World::new(Quirks::default());
    let account = key(1);
    let snapshot = world.enrolled(&account);
    let outcome = world.run(&account, Goal::DeactivateAccount, Some(&snapshot));
    assert!(outcome.done);
    assert_eq!(outcome.accounts, ["Deactivated"]);
    assert_eq!(world.sim.server.account_status(0), Some("deactivated"));
    // The snapshot saved after deactivation has no account any more.
    let after = outcome.snapshots.last().unwrap();
    let from = world.sim.server.log.len();
    let refused = world.run(
        &account,
        Goal::Enrol(OrderRequest::new(ONE)),
        Some(&snapshot),
    );
    assert_eq!(
        refused.error,
        Some(Error::Server(ServerError {
            status: 401,
            kind: Some(ProblemType::Unauthorized)
        }))
    );
    assert_eq!(world.since(from), ["HEAD /new-nonce", "POST /new-order"]);
    // From the post-deactivation snapshot the client would look the account
    // up again: the server finds it deactivated.
    let again = world.run(&account, Goal::Enrol(OrderRequest::new(ONE)), Some(after));
    assert_eq!(
        again.error,
        Some(Error::Protocol(ProtocolError::AccountNotValid))
    );
    // Every other operation on the deactivated account is refused too.
    for goal in [
        Goal::UpdateContact(&["mailto:x@example.com"]),
        Goal::ListOrders,
        Goal::DeactivateAccount,
    ] {
        let refused = world.run(&account, goal, Some(&snapshot));
        assert_eq!(
            refused.error,
            Some(Error::Server(ServerError {
                status: 401,
                kind: Some(ProblemType::Unauthorized)
            }))
        );
    }
}

#[test]
fn key_rollover_then_enrol_with_the_new_key() {
    let mut world = World::new(Quirks::default());
    let old = key(1);
    let new = key(9);
    let snapshot = world.enrolled(&old);
    let from = world.sim.server.log.len();
    let outcome = world.run(&old, Goal::RolloverKey(&new), Some(&snapshot));
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(world.since(from), ["HEAD /new-nonce", "POST /key-change"]);
    let renewed = world.run(&new, Goal::Enrol(OrderRequest::new(ONE)), Some(&snapshot));
    assert!(renewed.done, "{:?}", renewed.error);
    assert_eq!(world.sim.server.account_count(), 1);
    // Rolling over to a key another account uses is refused.
    let other = key(7);
    world.enrolled(&other);
    let clash = world.run(&new, Goal::RolloverKey(&other), Some(&snapshot));
    assert_eq!(
        clash.error,
        Some(Error::Server(ServerError {
            status: 409,
            kind: Some(ProblemType::Malformed)
        }))
    );
}

#[test]
fn authorization_deactivation() {
    let mut world = World::new(Quirks::default());
    let account = key(1);
    let snapshot = world.enrolled(&account);
    let url = world.sim.server.authz_url(0, 0).unwrap();
    let outcome = world.run(
        &account,
        Goal::DeactivateAuthorization(&url),
        Some(&snapshot),
    );
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(world.sim.server.authz_status(0, 0), Some("deactivated"));
    let missing = format!(
        "{}/authz/999",
        world.directory.trim_end_matches("/directory")
    );
    let outcome = world.run(
        &account,
        Goal::DeactivateAuthorization(&missing),
        Some(&snapshot),
    );
    assert_eq!(
        outcome.error,
        Some(Error::Server(ServerError {
            status: 404,
            kind: Some(ProblemType::Malformed)
        }))
    );
    // An authorization on another host is refused before anything is sent.
    let config = Config::new(&world.directory);
    let foreign: Result<Client<'_>, Error> = Client::new(
        &config,
        &account,
        Goal::DeactivateAuthorization("https://evil.test/authz/1"),
    );
    assert_eq!(
        foreign.err(),
        Some(Error::Protocol(ProtocolError::ForeignHost))
    );
}

#[test]
fn revocation_by_account_key_then_by_certificate_key_is_already_revoked() {
    let mut world = World::new(Quirks::default());
    let account = key(1);
    let snapshot = world.enrolled(&account);
    let der = world.sim.server.issued_der(0).unwrap().to_vec();
    let from = world.sim.server.log.len();
    let by_account = world.run(
        &account,
        Goal::Revoke {
            certificate_der: &der,
            reason: Some(RevocationReason::KeyCompromise),
            signer: RevocationSigner::Account,
        },
        Some(&snapshot),
    );
    assert!(by_account.done, "{:?}", by_account.error);
    assert!(world.sim.server.is_revoked(0));
    assert_eq!(world.since(from), ["HEAD /new-nonce", "POST /revoke-cert"]);
    // Signed by the certificate's own key: no account is needed at all.
    let stranger = key(5);
    let by_cert_key = world.run(
        &stranger,
        Goal::Revoke {
            certificate_der: &der,
            reason: Some(RevocationReason::Superseded),
            signer: RevocationSigner::CertificateKey,
        },
        Some(&snapshot),
    );
    assert_eq!(
        by_cert_key.error,
        Some(Error::Server(ServerError {
            status: 400,
            kind: Some(ProblemType::AlreadyRevoked)
        }))
    );
    assert_eq!(
        world.sim.server.account_count(),
        1,
        "no account was created to revoke"
    );
}

#[test]
fn revocation_by_certificate_key_of_a_live_certificate() {
    let mut world = World::new(Quirks::default());
    let account = key(1);
    let snapshot = world.enrolled(&account);
    let der = world.sim.server.issued_der(0).unwrap().to_vec();
    let outcome = world.run(
        &key(5),
        Goal::Revoke {
            certificate_der: &der,
            reason: None,
            signer: RevocationSigner::CertificateKey,
        },
        Some(&snapshot),
    );
    assert!(outcome.done, "{:?}", outcome.error);
    assert!(world.sim.server.is_revoked(0));
}

#[test]
fn revocation_reasons_follow_rfc_5280() {
    assert_eq!(
        RevocationReason::parse("keyCompromise"),
        Some(RevocationReason::KeyCompromise)
    );
    assert_eq!(
        RevocationReason::parse("KEYCOMPROMISE"),
        Some(RevocationReason::KeyCompromise)
    );
    assert_eq!(
        RevocationReason::parse("4"),
        Some(RevocationReason::Superseded)
    );
    assert_eq!(RevocationReason::parse("7"), None, "code 7 is unused");
    assert_eq!(RevocationReason::parse("11"), None);
    assert_eq!(RevocationReason::parse("bogus"), None);
    assert_eq!(RevocationReason::AaCompromise as u8, 10);
}

#[test]
fn list_orders_follows_next_links() {
    let quirks = Quirks {
        orders_per_page: 2,
        ..Quirks::default()
    };
    let mut world = World::new(quirks);
    let account = key(1);
    let mut snapshot = world.enrolled(&account);
    for _ in 0..2 {
        let o = world.run(
            &account,
            Goal::Enrol(OrderRequest::new(ONE)),
            Some(&snapshot),
        );
        assert!(o.done);
        snapshot = o.snapshots.last().unwrap().clone();
    }
    let from = world.sim.server.log.len();
    let outcome = world.run(&account, Goal::ListOrders, Some(&snapshot));
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(outcome.order_pages.len(), 2);
    assert_eq!(outcome.order_pages[0].len(), 2);
    assert_eq!(outcome.order_pages[1], ["https://ca.test/order/2"]);
    assert_eq!(
        world.since(from),
        [
            "HEAD /new-nonce",
            "POST /acct/0",
            "POST /acct/0/orders",
            "POST /acct/0/orders?cursor=1"
        ]
    );
}

#[test]
fn renewal_info_errors() {
    // No renewalInfo in the directory: a clear error, nothing sent after it.
    let mut world = World::new(Quirks::default());
    let outcome = world.run(
        &key(1),
        Goal::RenewalInfo {
            cert_id: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        },
        None,
    );
    assert_eq!(
        outcome.error,
        Some(Error::Protocol(ProtocolError::MissingDirectoryEntry {
            name: "renewalInfo"
        }))
    );
    assert_eq!(world.sim.server.transcript(), ["GET /directory"]);
    // An unknown certificate: the server's 404.
    let mut world = World::new(Quirks {
        renewal_info: true,
        ..Quirks::default()
    });
    let outcome = world.run(
        &key(1),
        Goal::RenewalInfo {
            cert_id: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        },
        None,
    );
    assert_eq!(
        outcome.error,
        Some(Error::Server(ServerError {
            status: 404,
            kind: Some(ProblemType::Malformed)
        }))
    );
    // A CertID that is not base64url is refused.
    let mut world = World::new(Quirks {
        renewal_info: true,
        ..Quirks::default()
    });
    let outcome = world.run(
        &key(1),
        Goal::RenewalInfo {
            cert_id: "../../etc",
        },
        None,
    );
    assert_eq!(
        outcome.error,
        Some(Error::Protocol(ProtocolError::MalformedField {
            name: "ARI CertID"
        }))
    );
}

#[test]
fn a_reboot_at_every_step_resumes_the_same_account_and_order() {
    // The reference run: how many requests a cold enrolment takes.
    let mut reference = World::new(Quirks::default());
    let total = reference
        .run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None)
        .requests;
    for cut in 1..total {
        let mut world = World::new(Quirks::default());
        world.sim.cut_after = Some(cut);
        let first = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
        assert!(!first.done);
        world.sim.cut_after = None;
        let snapshot = first.snapshots.last().cloned();
        let second = world.run(
            &key(1),
            Goal::Enrol(OrderRequest::new(ONE)),
            snapshot.as_deref(),
        );
        assert!(second.done, "cut {cut}: {:?}", second.error);
        assert_eq!(
            world.sim.server.account_count(),
            1,
            "cut {cut}: same account"
        );
        assert_eq!(world.sim.server.order_count(), 1, "cut {cut}: same order");
    }
}

#[test]
fn resuming_after_finalize_only_polls_and_downloads() {
    let mut world = World::new(Quirks::default());
    world.sim.cut_after = Some(7); // after finalize
    let first = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    let snapshot = first.snapshots.last().unwrap().clone();
    world.sim.cut_after = None;
    // The device comes back after issuance has finished.
    world.sim.now = world.sim.now.plus_millis(2000);
    let config = Config::new(&world.directory);
    let account = key(1);
    let device = key(0x22);
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE)))
            .unwrap()
            .with_device_key(&device);
    client.restore(&snapshot).unwrap();
    assert_eq!(client.order_step(), OrderStep::Finalized);
    let from = world.sim.server.log.len();
    let outcome = world.sim.drive(&mut client);
    assert!(outcome.done);
    assert_eq!(
        world.since(from),
        ["HEAD /new-nonce", "POST /order/0", "POST /cert/0"]
    );
    assert!(outcome.provisioned.is_empty());
}

#[test]
fn a_resumed_order_the_server_invalidated_is_replaced() {
    let mut world = World::new(Quirks {
        fail_validation_later: true,
        validation_ms: 100,
        ..Quirks::default()
    });
    world.sim.cut_after = Some(6); // after the challenge response
    let first = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    let snapshot = first.snapshots.last().unwrap().clone();
    world.sim.cut_after = None;
    world.sim.now = world.sim.now.plus_millis(1000);
    world.sim.server.quirks.fail_validation_later = false;
    let second = world.run(
        &key(1),
        Goal::Enrol(OrderRequest::new(ONE)),
        Some(&snapshot),
    );
    assert!(second.done, "{:?}", second.error);
    assert_eq!(
        world.sim.server.order_count(),
        2,
        "one new order replaces the invalid one"
    );
}

#[test]
fn snapshots_are_checked_before_use() {
    let mut world = World::new(Quirks::default());
    let account = key(1);
    let snapshot = world.enrolled(&account);
    let config = Config::new(&world.directory);
    let mut client: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE))).unwrap();
    // Every single-bit corruption is caught.
    for i in 0..snapshot.len() {
        let mut bad = snapshot.clone();
        bad[i] ^= 0x40;
        assert!(
            matches!(client.restore(&bad), Err(Error::Snapshot(_))),
            "byte {i}"
        );
    }
    assert_eq!(
        client.restore(&snapshot[..10]),
        Err(Error::Snapshot(SnapshotError::Corrupt))
    );
    assert_eq!(
        client.restore(&[]),
        Err(Error::Snapshot(SnapshotError::Corrupt))
    );
    let other = Config::new("https://other.test/directory");
    let mut elsewhere: Client<'_> =
        Client::new(&other, &account, Goal::Enrol(OrderRequest::new(ONE))).unwrap();
    assert_eq!(
        elsewhere.restore(&snapshot),
        Err(Error::Snapshot(SnapshotError::OtherDirectory))
    );
    // A snapshot fits the documented maximum.
    assert!(
        snapshot.len() <= Client::<'_, { acme_core::client::DEFAULT_URL_ARENA }>::SNAPSHOT_MAX_LEN
    );
    client.restore(&snapshot).unwrap();
    assert_eq!(client.account_url(), Some("https://ca.test/acct/0"));
    // An order for other identifiers does not resume this snapshot's order.
    let two = [Identifier::Dns("a.example"), Identifier::Dns("b.example")];
    let mut different: Client<'_> =
        Client::new(&config, &account, Goal::Enrol(OrderRequest::new(&two))).unwrap();
    different.restore(&snapshot).unwrap();
    assert_eq!(different.order_url(), None);
}

fn posts_to(world: &World, path_part: &str) -> usize {
    world
        .sim
        .server
        .transcript()
        .iter()
        .filter(|line| line.starts_with("POST ") && line.contains(path_part))
        .count()
}

#[test]
fn a_lost_new_order_answer_finds_the_order_instead_of_creating_another() {
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::NewOrder, vec![Failure::ResponseLost]);
    let mut world = World::new(quirks);
    let outcome = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(world.sim.server.order_count(), 1, "one order in all");
    assert_eq!(
        posts_to(&world, "/new-order"),
        1,
        "newOrder was not sent again"
    );
    assert_eq!(outcome.certificates.len(), 1);
}

#[test]
fn a_power_cut_before_the_new_order_answer_resumes_without_a_second_order() {
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::NewOrder, vec![Failure::ResponseLost]);
    let mut world = World::new(quirks);
    world.sim.cut_on_lost_response = true;
    let first = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(!first.done);
    assert_eq!(
        world.sim.server.order_count(),
        1,
        "the server made the order"
    );
    // What the driver saved before sending newOrder.
    let saved = first.snapshots.last().unwrap().clone();
    {
        let config = Config::new(&world.directory);
        let account = key(1);
        let mut client: Client<'_> =
            Client::new(&config, &account, Goal::Enrol(OrderRequest::new(ONE))).unwrap();
        client.restore(&saved).unwrap();
        assert_eq!(client.order_step(), OrderStep::Requested);
    }
    world.sim.cut_on_lost_response = false;
    let second = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), Some(&saved));
    assert!(second.done, "{:?}", second.error);
    assert_eq!(world.sim.server.order_count(), 1, "the same order finished");
    assert_eq!(world.sim.server.account_count(), 1);
    assert_eq!(posts_to(&world, "/new-order"), 1);
}

#[test]
fn a_lost_new_order_answer_on_renewal_does_not_adopt_the_finished_order() {
    let mut world = World::new(Quirks::default());
    let snapshot = world.enrolled(&key(1));
    assert_eq!(world.sim.server.order_count(), 1);
    world
        .sim
        .server
        .quirks
        .failures
        .insert(Route::NewOrder, vec![Failure::ResponseLost]);
    world.sim.cut_on_lost_response = true;
    let cut = world.run(
        &key(1),
        Goal::Enrol(OrderRequest::new(ONE)),
        Some(&snapshot),
    );
    assert!(!cut.done);
    world.sim.cut_on_lost_response = false;
    let saved = cut.snapshots.last().unwrap().clone();
    let renewed = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), Some(&saved));
    assert!(renewed.done, "{:?}", renewed.error);
    // The lost order was found and finished: a second order, not a third,
    // and never the first (valid) order's old certificate again.
    assert_eq!(world.sim.server.order_count(), 2);
    assert_eq!(posts_to(&world, "/new-order"), 2);
    assert!(world.sim.server.issued_der(1).is_some());
}

#[test]
fn new_orders_that_never_reach_the_server_stop_at_the_retry_budget() {
    // Each lost newOrder sends the client searching the account's orders;
    // those answers must not renew the budget of the newOrder that keeps
    // failing.
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::NewOrder, vec![Failure::RequestLost; 20]);
    let mut world = World::new(quirks);
    let outcome = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(!outcome.done);
    assert!(
        matches!(
            outcome.error,
            Some(Error::Protocol(ProtocolError::RetriesExhausted))
        ),
        "{:?}",
        outcome.error
    );
    // The transcript holds every request sent, lost ones included.
    let budget = usize::from(RetryPolicy::DEFAULT.max_server_retries);
    assert_eq!(posts_to(&world, "/new-order"), budget + 1);
    assert_eq!(world.sim.server.order_count(), 0);
}

#[test]
fn a_lost_challenge_answer_reads_the_authorization_instead_of_answering_again() {
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::Challenge, vec![Failure::ResponseLost]);
    let mut world = World::new(quirks);
    let from = world.sim.server.transcript().len();
    let outcome = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(outcome.certificates.len(), 1);
    // The server took the one answer; the client then read the
    // authorization, saw validation under way, and went on to finalize.
    assert_eq!(posts_to(&world, "/chall/"), 1, "{:#?}", world.since(from));
    assert_eq!(posts_to(&world, "/authz/"), 2, "{:#?}", world.since(from));
    assert_eq!(world.sim.server.order_count(), 1);
}

#[test]
fn a_lost_finalize_answer_reads_the_order_instead_of_finalizing_again() {
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::Finalize, vec![Failure::ResponseLost]);
    let mut world = World::new(quirks);
    let from = world.sim.server.transcript().len();
    let outcome = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(outcome.done, "{:?}", outcome.error);
    assert_eq!(outcome.certificates.len(), 1);
    // The server took the CSR; the client read the order, saw it past
    // ready, and polled it to the certificate.
    assert_eq!(posts_to(&world, "/finalize"), 1, "{:#?}", world.since(from));
    assert_eq!(world.sim.server.order_count(), 1);
}

#[test]
fn a_finalize_lost_before_the_server_is_sent_again() {
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::Finalize, vec![Failure::RequestLost]);
    let mut world = World::new(quirks);
    let from = world.sim.server.transcript().len();
    let outcome = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(outcome.done, "{:?}", outcome.error);
    // The order read after the loss was still ready: finalized again (the
    // transcript holds the lost request too).
    assert_eq!(posts_to(&world, "/finalize"), 2, "{:#?}", world.since(from));
}

#[test]
fn a_challenge_answer_lost_before_the_server_is_given_again() {
    let mut quirks = Quirks::default();
    quirks
        .failures
        .insert(Route::Challenge, vec![Failure::RequestLost]);
    let mut world = World::new(quirks);
    let from = world.sim.server.transcript().len();
    let outcome = world.run(&key(1), Goal::Enrol(OrderRequest::new(ONE)), None);
    assert!(outcome.done, "{:?}", outcome.error);
    // The authorization still showed the challenge pending: answered again
    // (the transcript holds the lost request too).
    assert_eq!(posts_to(&world, "/chall/"), 2, "{:#?}", world.since(from));
    assert_eq!(posts_to(&world, "/authz/"), 2, "{:#?}", world.since(from));
}
