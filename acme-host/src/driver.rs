//! The blocking loop that drives an acme-core [`Client`] over a
//! [`Transport`], answering challenges with the built-in responders.

use std::time::{Duration, Instant as StdInstant, SystemTime};

use acme_core::client::{Client, Event, Handled};
use acme_core::http::Method;
use acme_core::msg::ChallengeType;
use acme_core::time::{Instant, UnixTime};

use crate::error::HostError;
use crate::responders::{Dns01Hook, Http01Responder, TlsAlpn01Responder};
use crate::session::{from_unix_seconds, unix_seconds, RenewalInfo};
use crate::store::{names, StateDir};
use crate::transport::Transport;

/// The responders available to answer challenges.
#[derive(Default)]
pub(crate) struct Responders {
    /// http-01.
    pub http01: Option<Http01Responder>,
    /// tls-alpn-01.
    pub tls_alpn01: Option<TlsAlpn01Responder>,
    /// dns-01.
    pub dns01: Option<Dns01Hook>,
}

/// What a run produced.
#[derive(Debug, Default)]
pub(crate) struct RunOutput {
    /// Certificate chains (PEM): the default first, then alternates.
    pub certificates: Vec<Vec<u8>>,
    /// Alternate chains the server offered.
    pub alternates: usize,
    /// The account object, when the goal returns one.
    pub account: Option<AccountSummary>,
    /// Order URLs, for list-orders.
    pub orders: Vec<String>,
    /// The ARI answer, for the renewal-info goal.
    pub renewal_info: Option<RenewalInfo>,
    /// The snapshot written after a certificate arrived, held back: it no
    /// longer knows the order, so it must reach the disk only after the
    /// certificate does (a crash in between would otherwise leave neither,
    /// and the next run would order again). The caller saves it once the
    /// certificate is stored.
    pub deferred_snapshot: Option<Vec<u8>>,
}

/// The parts of an account object worth showing.
#[derive(Debug, Clone, Default)]
pub struct AccountSummary {
    /// `status`.
    pub status: String,
    /// `contact`.
    pub contact: Vec<String>,
    /// `orders`.
    pub orders_url: Option<String>,
}

/// Options for one run.
pub(crate) struct RunOptions<'s> {
    /// Give up after this instant.
    pub deadline: StdInstant,
    /// Where to save the snapshot whenever it changes.
    pub state: Option<&'s StateDir>,
    /// Fetch every alternate chain after the default one.
    pub fetch_alternates: bool,
    /// Transmit buffer size.
    pub tx_len: usize,
}

/// What a run that ran out of time says.
pub(crate) const DEADLINE_PASSED: &str =
    "the overall deadline passed (Settings::deadline, the tool's \
     --deadline-secs); running again resumes where this run stopped";

/// Maps a core error to a host error, with the server's problem document.
pub(crate) fn core_error<const N: usize>(
    client: &Client<'_, N>,
    error: acme_core::Error,
) -> HostError {
    match error {
        acme_core::Error::Server(e) => {
            let p = client.problem();
            let mut message = match e.kind {
                Some(kind) => format!("{kind} (HTTP {})", e.status),
                None => format!("HTTP {} without a problem document", e.status),
            };
            if !p.detail.is_empty() {
                message.push_str(&format!(": {}", p.detail));
            }
            if !p.instance.is_empty() {
                message.push_str(&format!(" (see {})", p.instance));
            }
            append_subproblems(&mut message, p);
            HostError::Refused(message)
        }
        acme_core::Error::Protocol(acme_core::client::ProtocolError::ChallengeInvalid {
            ..
        })
        | acme_core::Error::Protocol(acme_core::client::ProtocolError::OrderInvalid)
        | acme_core::Error::Protocol(acme_core::client::ProtocolError::AuthorizationInvalid {
            ..
        }) => {
            let p = client.problem();
            let mut message = format!("{error}: {}", p.detail);
            append_subproblems(&mut message, p);
            HostError::Refused(message)
        }
        acme_core::Error::Protocol(acme_core::client::ProtocolError::RetriesExhausted) => {
            HostError::Network(error.to_string())
        }
        other => HostError::Protocol(other),
    }
}

/// Appends `; identifier: detail` for each kept subproblem.
fn append_subproblems(message: &mut String, problem: &acme_core::client::ProblemRecord) {
    for sub in &problem.subproblems {
        message.push_str(&format!("; {}: {}", sub.identifier, sub.detail));
    }
}

fn wall_clock() -> UnixTime {
    UnixTime(unix_seconds(SystemTime::now()))
}

/// Writes the client's snapshot to the state directory, if there is one;
/// once a certificate has arrived, holds it back in
/// [`RunOutput::deferred_snapshot`] instead.
fn save_snapshot<const N: usize>(
    client: &Client<'_, N>,
    options: &RunOptions<'_>,
    output: &mut RunOutput,
) -> Result<(), HostError> {
    if let Some(state) = options.state {
        let mut buf = vec![0u8; Client::<'_, N>::SNAPSHOT_MAX_LEN];
        let snapshot = client
            .snapshot(&mut buf)
            .map_err(|e| HostError::Internal(e.to_string()))?;
        if output.certificates.is_empty() {
            state.write(names::SNAPSHOT, snapshot, 0o600)?;
        } else {
            output.deferred_snapshot = Some(snapshot.to_vec());
        }
    }
    Ok(())
}

/// Runs `client` until its goal is reached or fails.
///
/// # Errors
/// The failure, mapped to a [`HostError`].
pub(crate) fn run<const N: usize>(
    client: &mut Client<'_, N>,
    transport: &mut Transport,
    responders: &Responders,
    options: &RunOptions<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<RunOutput, HostError> {
    let start = StdInstant::now();
    let now = || Instant(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));
    client.set_wall_clock(now(), wall_clock());
    let mut tx = vec![0u8; options.tx_len];
    let mut output = RunOutput::default();
    let mut done = false;
    // The step whose request got no answer, and how many times in all: as
    // in the client's retry budget, the requests that work around a lost
    // answer (a newOrder's search of the orders list) do not reset it.
    let mut unanswered: Option<(acme_core::client::Step, u32)> = None;
    loop {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Provision(task) => {
                    provision(responders, &task, true)?;
                    progress(&format!(
                        "challenge {} ready for {}",
                        task.kind.as_str(),
                        identifier_text(&task.identifier)
                    ));
                    client.challenge_ready(task.id);
                }
                Event::Cleanup(task) => {
                    if let Err(e) = provision(responders, &task, false) {
                        log::warn!("cleanup of {}: {e}", task.kind.as_str());
                    }
                }
                Event::SnapshotChanged => save_snapshot(client, options, &mut output)?,
                Event::Done => done = true,
                Event::Failed(e) => return Err(core_error(client, e)),
            }
        }
        if done {
            if options.fetch_alternates && output.certificates.len() <= output.alternates {
                let next = u8::try_from(output.certificates.len() - 1).unwrap_or(u8::MAX);
                client
                    .fetch_alternate(next)
                    .map_err(|e| core_error(client, e))?;
                done = false;
            } else {
                return Ok(output);
            }
        }
        if StdInstant::now() >= options.deadline {
            return Err(HostError::Network(DEADLINE_PASSED.into()));
        }
        let polled = client.poll_transmit(now(), &mut tx).map(|t| {
            t.map(|t| Outgoing {
                host: t.url.host.to_owned(),
                port: t.url.port,
                path: t.url.path.to_owned(),
                method: t.method,
                step: t.step,
                len: t.len,
            })
        });
        let transmit = match polled {
            Ok(t) => t,
            Err(e) => return Err(core_error(client, e)),
        };
        let Some(transmit) = transmit else {
            if client.is_finished() {
                return Ok(output);
            }
            let Some(deadline) = client.poll_timeout() else {
                return Err(HostError::Internal(
                    "the client is waiting for nothing".into(),
                ));
            };
            let wait = std::time::Duration::from_millis(deadline.millis_since(now()));
            if StdInstant::now() + wait > options.deadline {
                // The wait is the server's Retry-After or the client's own
                // backoff after a failure.
                return Err(HostError::Network(format!(
                    "{DEADLINE_PASSED}; the next request was due in {:.1} s",
                    wait.as_secs_f64()
                )));
            }
            std::thread::sleep(wait);
            client.handle_timeout(now());
            continue;
        };
        // Polling a newOrder marks the order as requested: save that before
        // the request goes out, so a crash before the answer searches for
        // the order instead of creating a second one.
        while let Some(event) = client.poll_event() {
            if let Event::SnapshotChanged = event {
                save_snapshot(client, options, &mut output)?;
            }
        }
        let head = transmit.method == Method::Head;
        progress(&format!(
            "{:?}: {} {}",
            transmit.step,
            transmit.method.as_str(),
            transmit.path
        ));
        let response = match transport.round_trip(
            &transmit.host,
            transmit.port,
            &tx[..transmit.len],
            head,
            options.deadline,
        ) {
            Ok(response) => response,
            // Only a network failure may go better on another try.
            Err(e @ HostError::Network(_)) => {
                log::debug!("transport: {e}");
                let attempts = match unanswered {
                    Some((step, n)) if step == transmit.step => n + 1,
                    _ => 1,
                };
                unanswered = Some((transmit.step, attempts));
                if client.handle_transport_error(now()).is_err() {
                    return Err(gave_up(e, transmit.step, attempts));
                }
                if StdInstant::now() >= options.deadline {
                    return Err(e);
                }
                progress(&format!("{e}; trying again"));
                continue;
            }
            Err(e) => return Err(e),
        };
        if unanswered.is_some_and(|(step, _)| step == transmit.step) {
            unanswered = None;
        }
        log::debug!("HTTP {}", response.status);
        match client.handle_response(now(), &response, &mut tx) {
            Ok(Handled::Certificate {
                pem, alternates, ..
            }) => {
                output.certificates.push(pem.to_vec());
                output.alternates = alternates;
            }
            Ok(Handled::Account(account)) => {
                output.account = Some(AccountSummary {
                    status: format!("{:?}", account.status).to_ascii_lowercase(),
                    contact: account
                        .contact
                        .as_slice()
                        .iter()
                        .map(|c| c.raw().to_owned())
                        .collect(),
                    orders_url: account.orders.map(|o| o.raw().to_owned()),
                });
            }
            Ok(Handled::OrdersPage { body }) => {
                let page = acme_core::msg::parse::<acme_core::msg::OrdersPage<'_>>(body)
                    .map_err(|e| core_error(client, e))?;
                output
                    .orders
                    .extend(page.orders.as_slice().iter().map(|u| u.raw().to_owned()));
            }
            Ok(Handled::RenewalInfo { info, retry_after }) => {
                let retry = match retry_after {
                    Some(acme_core::http::RetryAfter::Seconds(s)) => Some(s),
                    Some(acme_core::http::RetryAfter::Date(d)) => {
                        Some(d.0.saturating_sub(wall_clock().0))
                    }
                    None => None,
                };
                // The core checked that both ends parse, start first.
                let (start, end) = info.suggested_window.bounds().ok_or_else(|| {
                    HostError::Internal("the renewal window does not parse".into())
                })?;
                output.renewal_info = Some(RenewalInfo {
                    window_start: from_unix_seconds(start.0),
                    window_end: from_unix_seconds(end.0),
                    explanation_url: info.explanation_url.map(|u| u.raw().to_owned()),
                    retry_after: retry.map(Duration::from_secs),
                });
            }
            Ok(_) => {}
            Err(e) => return Err(core_error(client, e)),
        }
    }
}

/// The error of the last of `attempts` failed attempts at `step`, once the
/// client's retry budget is spent.
fn gave_up(error: HostError, step: acme_core::client::Step, attempts: u32) -> HostError {
    match error {
        HostError::Network(m) => HostError::Network(format!(
            "{m} (gave up after {attempts} attempts at {step:?})"
        )),
        other => other,
    }
}

/// A request to send, copied out of the client's borrow.
struct Outgoing {
    host: String,
    port: u16,
    path: String,
    method: Method,
    step: acme_core::client::Step,
    len: usize,
}

fn identifier_text(id: &acme_core::Identifier<'_>) -> String {
    match id {
        acme_core::Identifier::Dns(d) => (*d).to_owned(),
        acme_core::Identifier::Ip(ip) => ip.to_string(),
    }
}

fn provision(
    responders: &Responders,
    task: &acme_core::client::ChallengeTask<'_>,
    add: bool,
) -> Result<(), HostError> {
    match task.kind {
        ChallengeType::Http01 => {
            let r = responders.http01.as_ref().ok_or_else(|| {
                HostError::Usage("http-01 chosen but no http-01 responder".into())
            })?;
            if add {
                r.add(
                    task.key_authorization.token(),
                    task.key_authorization.as_str(),
                );
            } else {
                r.remove(task.key_authorization.token());
            }
        }
        ChallengeType::TlsAlpn01 => {
            let r = responders
                .tls_alpn01
                .as_ref()
                .ok_or_else(|| HostError::Usage("tls-alpn-01 chosen but no responder".into()))?;
            if add {
                r.add(task)?;
            } else {
                r.remove(task);
            }
        }
        ChallengeType::Dns01 => {
            let hook = responders
                .dns01
                .as_ref()
                .ok_or_else(|| HostError::Usage("dns-01 chosen but no hook command to publish the TXT record (Settings::dns_hook, the tool's --dns-hook)".into()))?;
            let name = task
                .dns01_record_name()
                .map_err(|e| HostError::Usage(e.to_string()))?;
            hook.run(
                if add { "add" } else { "remove" },
                &name,
                task.dns01_value().as_str(),
            )?;
        }
        ChallengeType::Unknown => {
            return Err(HostError::Usage(
                "Settings::challenge must be http-01, dns-01 or tls-alpn-01".into(),
            ))
        }
    }
    Ok(())
}
