//! The simulation harness: drives a real [`Client`] against [`FakeAcme`]
//! over HTTP/1.1 bytes, on a virtual clock, with no sleeps.

use acme_core::challenge::{write_tls_alpn01_certificate, Validity};
use acme_core::client::{Client, Event, Handled};
use acme_core::http::{read_response, ReadStatus};
use acme_core::msg::{self, ChallengeType};
use acme_core::time::Instant;
use acme_core::{Error, SoftwareKey};

use crate::fake::FakeAcme;

/// What one drive produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The certificate chains delivered (PEM), default first.
    pub certificates: Vec<String>,
    /// How many alternates the server offered with the default chain.
    pub alternates: usize,
    /// The order URLs of every orders page, in order.
    pub order_pages: Vec<Vec<String>>,
    /// ARI windows received, as (start, end) text, with the Retry-After.
    pub renewal_info: Vec<(String, String, bool)>,
    /// Account statuses received.
    pub accounts: Vec<String>,
    /// Whether the goal was reached.
    pub done: bool,
    /// The error that ended the flow.
    pub error: Option<Error>,
    /// Snapshots saved on each `SnapshotChanged`.
    pub snapshots: Vec<Vec<u8>>,
    /// Challenge types provisioned.
    pub provisioned: Vec<ChallengeType>,
    /// Challenge cleanups seen.
    pub cleanups: usize,
    /// Requests sent.
    pub requests: usize,
}

/// A virtual network and clock between one client and the fake server.
pub struct Sim {
    /// The server.
    pub server: FakeAcme,
    /// Virtual time.
    pub now: Instant,
    /// Transmit buffer size.
    pub tx_len: usize,
    /// Receive buffer size.
    pub rx_len: usize,
    /// Stop after this many requests (a runaway guard, not a budget).
    pub max_requests: usize,
    /// Stop the drive after this many requests, as if power failed.
    pub cut_after: Option<usize>,
    /// When an answer is lost ([`crate::fake::Failure::ResponseLost`]),
    /// stop as if power failed while waiting for it, instead of reporting
    /// the lost connection to the client.
    pub cut_on_lost_response: bool,
    /// After the default chain, fetch every alternate chain offered.
    pub fetch_alternates: bool,
    /// Lend each request exactly the buffer the client says it needs,
    /// after checking that one byte less is refused with that size.
    pub exact_buffers: bool,
    /// Virtual milliseconds from sending a request to having its answer.
    pub round_trip_ms: u64,
}

impl Sim {
    /// A harness around a fresh server with `quirks`; also returns the
    /// server's directory URL.
    pub fn start(quirks: crate::fake::Quirks) -> (Self, String) {
        let server = FakeAcme::new(quirks);
        let directory = server.directory_url();
        (Self::new(server), directory)
    }

    /// A harness around `server`.
    pub fn new(server: FakeAcme) -> Self {
        Self {
            server,
            now: Instant(0),
            tx_len: 4096,
            rx_len: 8192,
            max_requests: 200,
            cut_after: None,
            cut_on_lost_response: false,
            fetch_alternates: false,
            exact_buffers: false,
            round_trip_ms: 1,
        }
    }

    /// Drives `client` until its goal is reached or fails.
    pub fn drive<const N: usize>(&mut self, client: &mut Client<'_, N>) -> Outcome {
        let mut outcome = Outcome::default();
        let mut tx = vec![0u8; self.tx_len];
        let mut rx = vec![0u8; self.rx_len];
        loop {
            self.drain_events(client, &mut outcome);
            if outcome.done
                && self.fetch_alternates
                && outcome.certificates.len() <= outcome.alternates
            {
                let next = (outcome.certificates.len() - 1) as u8;
                client.fetch_alternate(next).expect("alternate exists");
                outcome.done = false;
            }
            if outcome.done || outcome.error.is_some() {
                return outcome;
            }
            if self.cut_after.is_some_and(|n| outcome.requests >= n) {
                return outcome;
            }
            if self.exact_buffers {
                let mut empty = [0u8; 0];
                match client.poll_transmit(self.now, &mut empty) {
                    Err(acme_core::Error::BufferTooSmall { required }) => {
                        let mut short = vec![0u8; required - 1];
                        assert_eq!(
                            client
                                .poll_transmit(self.now, &mut short)
                                .map(|t| t.map(|t| t.len)),
                            Err(acme_core::Error::BufferTooSmall { required }),
                            "one byte short"
                        );
                        tx = vec![0u8; required];
                    }
                    Ok(None) => {}
                    other => panic!("an empty buffer gave {other:?}"),
                }
            }
            let transmit = match client.poll_transmit(self.now, &mut tx) {
                Ok(t) => t.map(|t| t.len),
                Err(e) => {
                    outcome.error = Some(e);
                    return outcome;
                }
            };
            match transmit {
                Some(len) => {
                    if self.exact_buffers {
                        assert_eq!(len, tx.len(), "the size needed is the size used");
                    }
                    outcome.requests += 1;
                    assert!(outcome.requests <= self.max_requests, "runaway client");
                    let head_request = tx.starts_with(b"HEAD ");
                    let response = self.server.handle(&tx[..len], self.now.0);
                    self.now = self.now.plus_millis(self.round_trip_ms);
                    if response.is_empty() {
                        self.drain_events(client, &mut outcome);
                        if self.cut_on_lost_response {
                            return outcome;
                        }
                        if let Err(e) = client.handle_transport_error(self.now) {
                            outcome.error = Some(e);
                            return outcome;
                        }
                        continue;
                    }
                    rx[..response.len()].copy_from_slice(&response);
                    let status = read_response(&mut rx, response.len(), head_request, false)
                        .expect("response parses");
                    let ReadStatus::Complete { response, .. } = status else {
                        panic!("partial response");
                    };
                    // The transmit buffer is idle now: it is the scratch for
                    // checking a certificate (unless sized to the request).
                    let mut spare = vec![0u8; 4096];
                    let scratch = if self.exact_buffers {
                        &mut spare
                    } else {
                        &mut tx
                    };
                    match client.handle_response(self.now, &response, scratch) {
                        Ok(Handled::Certificate {
                            pem, alternates, ..
                        }) => {
                            outcome
                                .certificates
                                .push(String::from_utf8_lossy(pem).into_owned());
                            outcome.alternates = outcome.alternates.max(alternates);
                        }
                        Ok(Handled::OrdersPage { body }) => {
                            let page = msg::parse::<msg::OrdersPage<'_>>(body)
                                .expect("the client checked the page parses");
                            outcome.order_pages.push(
                                page.orders
                                    .as_slice()
                                    .iter()
                                    .map(|u| u.raw().to_owned())
                                    .collect(),
                            )
                        }
                        Ok(Handled::RenewalInfo { info, retry_after }) => {
                            outcome.renewal_info.push((
                                info.suggested_window.start.raw().to_owned(),
                                info.suggested_window.end.raw().to_owned(),
                                retry_after.is_some(),
                            ))
                        }
                        Ok(Handled::Account(account)) => {
                            outcome.accounts.push(format!("{:?}", account.status))
                        }
                        Ok(_) => {}
                        Err(e) => {
                            self.drain_events(client, &mut outcome);
                            outcome.error = Some(e);
                            return outcome;
                        }
                    }
                }
                None => {
                    if client.is_finished() {
                        self.drain_events(client, &mut outcome);
                        return outcome;
                    }
                    match client.poll_timeout() {
                        Some(deadline) => {
                            assert!(
                                deadline > self.now,
                                "deadline in the past with nothing to send"
                            );
                            self.now = deadline;
                            client.handle_timeout(self.now);
                        }
                        None => panic!("client is stuck: nothing to send, no deadline"),
                    }
                }
            }
        }
    }

    fn drain_events<const N: usize>(&mut self, client: &mut Client<'_, N>, outcome: &mut Outcome) {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Provision(task) => {
                    let value = match task.kind {
                        ChallengeType::Http01 => task.key_authorization.as_str().to_owned(),
                        ChallengeType::Dns01 => {
                            task.key_authorization.dns01_value().as_str().to_owned()
                        }
                        ChallengeType::TlsAlpn01 => {
                            // Build the real validation certificate and read
                            // the digest back out of it, as a validator does.
                            let key = SoftwareKey::from_scalar(&[0x33; 32]).expect("key");
                            let mut out = [0u8; 1024];
                            let der = write_tls_alpn01_certificate(
                                &mut out,
                                &key,
                                &task.identifier,
                                &task.key_authorization,
                                Validity {
                                    not_before: 0,
                                    not_after: 1,
                                },
                            )
                            .expect("alpn cert");
                            let cert = acme_core::cert::Certificate::from_der(der).expect("parse");
                            let oid = der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");
                            let ext = cert.extension(&oid).expect("acmeIdentifier");
                            assert!(ext.critical);
                            ext.value[2..].iter().map(|b| format!("{b:02x}")).collect()
                        }
                        ChallengeType::Unknown => String::new(),
                    };
                    outcome.provisioned.push(task.kind);
                    self.server
                        .provisioned
                        .insert(task.key_authorization.token().to_owned(), value);
                    client.challenge_ready(task.id);
                }
                Event::Cleanup(_) => outcome.cleanups += 1,
                Event::SnapshotChanged => {
                    let mut buf = vec![0u8; 8192];
                    let snapshot = client.snapshot(&mut buf).expect("snapshot fits");
                    outcome.snapshots.push(snapshot.to_vec());
                }
                Event::Done => outcome.done = true,
                Event::Failed(e) => outcome.error = Some(e),
            }
        }
    }
}
