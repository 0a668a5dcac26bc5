//! Network faults: the `acme` tool enrols against a real Pebble (Debian
//! package `pebble`) through `acme_tests::fault_proxy`, which resets
//! connections, cuts responses short, stalls, answers 500/503 itself or
//! sends garbage at chosen requests. Each case runs the tool as a process
//! under a watchdog and asserts that it either completes (the fault retried
//! within the budget) with exactly one order at Pebble, or fails with a
//! typed, readable error and the right exit code; never a panic, a hang or
//! a raw OS error text, and always well within the overall deadline.
//!
//! The cases run on a few threads, each with its own Pebble that sees one
//! case at a time; every case has its own proxy and state directory.
//!
//! Fails, with the command that installs it, when Pebble is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::path::Path;
use std::time::Duration;

use acme_host::pebble::LocalPebble;
use acme_tests::cli::{acme, run, run_cases, scratch_dir};
use acme_tests::fault_proxy::{Fault, FaultProxy, Rule, Scripted};

const ACME: &str = env!("CARGO_BIN_EXE_acme-cli");

/// Cases at once, each on its own Pebble.
const WORKERS: usize = 4;

/// Pebble's paths.
const NEW_ORDER: &str = "/order-plz";
const NEW_ACCOUNT: &str = "/sign-me-up";
const AUTHZ: &str = "/authZ/";
const CHALLENGE: &str = "/chalZ/";
const FINALIZE: &str = "/finalize-order/";
const ORDER: &str = "/my-order/";
const CERT: &str = "/certZ/";

/// What a case must end with.
enum Expect {
    /// The enrolment completes; at least `min_secs` pass (a wait the fault
    /// asked for).
    Completes { min_secs: u64 },
    /// It fails with this exit code and a message containing each text.
    Fails {
        exit: i32,
        texts: &'static [&'static str],
    },
    /// As `Fails`, well before the overall deadline (within half of it):
    /// nothing is waited out that cannot end in time.
    FailsAtOnce {
        exit: i32,
        texts: &'static [&'static str],
    },
}

struct Case {
    name: &'static str,
    rules: Vec<Rule>,
    io_timeout_secs: u64,
    deadline_secs: u64,
    expect: Expect,
}

fn case(name: &'static str, rules: Vec<Rule>, expect: Expect) -> Case {
    Case {
        name,
        rules,
        io_timeout_secs: 2,
        deadline_secs: 40,
        expect,
    }
}

fn completes() -> Expect {
    Expect::Completes { min_secs: 0 }
}

/// Runs one case; returns what went wrong, if anything, and a summary line.
fn run_case(pebble: &LocalPebble, case: Case) -> Result<String, String> {
    let proxy = FaultProxy::start(&pebble.directory_url, &pebble.ca_file).unwrap();
    let state = scratch_dir(&format!("faults-{}", case.name));
    let name = format!("{}.faults.test", case.name);
    proxy.set_script(case.rules);
    let mut command = acme(
        ACME,
        &proxy,
        &state,
        &["enrol"],
        case.io_timeout_secs,
        case.deadline_secs,
    );
    command.arg("--identifier").arg(format!("dns:{name}"));
    // The watchdog: well past the deadline means a hang.
    let limit = Duration::from_secs(case.deadline_secs + 15);
    let outcome = run(command, limit);
    let fail = |why: String| {
        Err(format!(
            "case {}: {why}\n{}\n--- proxy log\n{}",
            case.name,
            outcome.describe(),
            proxy.describe()
        ))
    };
    if let Some(bad) = outcome.misbehaviour() {
        return fail(bad);
    }
    // The deadline starts once the keys are loaded: a second of slack for
    // the process itself.
    if outcome.elapsed > Duration::from_secs(case.deadline_secs + 1) {
        return fail("ran past its overall deadline".into());
    }
    if proxy.faults_fired() == 0 {
        return fail("no fault fired: the case tests nothing".into());
    }
    // The steps that are not idempotent reach the CA at most once: a
    // lost answer is recovered by reading the resource, not by sending
    // the step again.
    for (step, path) in [
        ("newOrder", NEW_ORDER),
        ("challenge answer", CHALLENGE),
        ("finalize", FINALIZE),
    ] {
        let forwarded = proxy.forwarded("POST", path);
        if forwarded > 1 {
            return fail(format!("{forwarded} {step} requests reached Pebble"));
        }
    }
    let requests = proxy.requests().len();
    let summary = match case.expect {
        Expect::Completes { min_secs } => {
            if outcome.code != Some(0) {
                return fail("expected the enrolment to complete".into());
            }
            if outcome.elapsed < Duration::from_secs(min_secs) {
                return fail(format!("finished before the {min_secs} s wait"));
            }
            if let Err(e) = check_one_order(&proxy, &state, &name) {
                return fail(e);
            }
            format!(
                "completed in {:.1} s after {} fault(s), {requests} requests",
                outcome.elapsed.as_secs_f64(),
                proxy.faults_fired(),
            )
        }
        Expect::Fails { exit, texts } | Expect::FailsAtOnce { exit, texts } => {
            if outcome.code != Some(exit) {
                return fail(format!("expected exit code {exit}"));
            }
            let half = Duration::from_secs(case.deadline_secs / 2);
            if matches!(case.expect, Expect::FailsAtOnce { .. }) && outcome.elapsed > half {
                return fail(format!(
                    "waited {:.1} s for a failure due at once",
                    outcome.elapsed.as_secs_f64()
                ));
            }
            let message = outcome.last_line();
            if let Some(missing) = texts.iter().find(|t| !message.contains(*t)) {
                return fail(format!("the message lacks {missing:?}"));
            }
            format!(
                "failed in {:.1} s after {} fault(s): {message}",
                outcome.elapsed.as_secs_f64(),
                proxy.faults_fired()
            )
        }
    };
    let _ = std::fs::remove_dir_all(&state);
    Ok(summary)
}

/// The enrolment in `state` is done, and Pebble holds exactly one order
/// for the account.
fn check_one_order(proxy: &FaultProxy, state: &Path, name: &str) -> Result<(), String> {
    check_enrolled(state, name)?;
    proxy.set_script(Vec::new());
    let mut list = acme(ACME, proxy, state, &["account"], 5, 20);
    list.arg("list-orders");
    let listed = run(list, Duration::from_secs(30));
    let orders = listed.stdout.lines().count();
    if listed.code != Some(0) || orders != 1 {
        return Err(format!(
            "list-orders gives {orders} orders:\n{}",
            listed.describe()
        ));
    }
    Ok(())
}

/// The certificate saved in `state` is for `name` and the device key.
fn check_enrolled(state: &Path, name: &str) -> Result<(), String> {
    let pem = std::fs::read(state.join("cert.pem")).map_err(|e| format!("cert.pem: {e}"))?;
    let report = acme_host::CertificateReport::from_pem(&pem).map_err(|e| e.to_string())?;
    if report.sans != [format!("DNS:{name}")] {
        return Err(format!("certificate SANs {:?}", report.sans));
    }
    let ders = acme_tests::chain_ders(&pem);
    let leaf = acme_core::cert::Certificate::from_der(&ders[0]).map_err(|e| e.to_string())?;
    let device = acme_tests::load_key(&state.join("device.key"));
    use acme_core::Es256Signer as _;
    if leaf.spki_der() != &device.public_key().spki_der()[..] {
        return Err("the certificate is not for the device key".into());
    }
    Ok(())
}

#[test]
fn faults_are_retried_within_the_budget_or_end_in_a_typed_error() {
    let cases = vec![
        case(
            "reset-before-neworder",
            vec![Rule::on("POST", NEW_ORDER, Fault::ResetBeforeForwarding).nth(1)],
            completes(),
        ),
        case(
            "reset-after-neworder",
            vec![Rule::on("POST", NEW_ORDER, Fault::ResetAfterForwarding).nth(1)],
            completes(),
        ),
        case(
            "reset-after-newaccount",
            vec![Rule::on("POST", NEW_ACCOUNT, Fault::ResetAfterForwarding).nth(1)],
            completes(),
        ),
        case(
            "truncated-authz",
            vec![Rule::on("POST", AUTHZ, Fault::Truncate { keep: 40 }).nth(1)],
            completes(),
        ),
        case(
            "close-notify-mid-certificate",
            vec![Rule::on("POST", CERT, Fault::CloseNotifyMidBody { keep: 100 }).nth(1)],
            completes(),
        ),
        // The challenge POST reached Pebble, which started validating;
        // its answer was lost. Pebble refuses a second answer (only a
        // pending challenge may be answered), so the client reads the
        // authorization instead and goes on.
        case(
            "reset-after-challenge",
            vec![Rule::on("POST", CHALLENGE, Fault::ResetAfterForwarding).nth(1)],
            completes(),
        ),
        // The challenge POST never reached Pebble: the authorization
        // still shows it pending, and the client answers it again.
        case(
            "reset-before-challenge",
            vec![Rule::on("POST", CHALLENGE, Fault::ResetBeforeForwarding).nth(1)],
            completes(),
        ),
        case(
            "reset-after-finalize",
            vec![Rule::on("POST", FINALIZE, Fault::ResetAfterForwarding).nth(1)],
            completes(),
        ),
        case(
            "stalled-order-poll",
            vec![Rule::on("POST", ORDER, Fault::Stall(Duration::from_secs(20))).nth(1)],
            Expect::Completes { min_secs: 2 },
        ),
        case(
            "503-retry-after-on-finalize",
            vec![Rule::on("POST", FINALIZE, Fault::unavailable(2)).nth(1)],
            Expect::Completes { min_secs: 2 },
        ),
        // A wait the server asks for that ends after the overall deadline
        // is not waited out: the run ends at once, saying so, not when the
        // deadline (40 s) comes.
        Case {
            name: "retry-after-beyond-the-deadline",
            rules: vec![Rule::on("POST", FINALIZE, Fault::unavailable(3600)).nth(1)],
            io_timeout_secs: 2,
            deadline_secs: 40,
            expect: Expect::FailsAtOnce {
                exit: 4,
                texts: &["network:", "deadline", "the next request was due in"],
            },
        },
        case(
            "500-on-neworder",
            vec![Rule::on(
                "POST",
                NEW_ORDER,
                Fault::Respond(Scripted::new(500).body("oops")),
            )
            .nth(1)],
            completes(),
        ),
        case(
            "garbage-for-the-directory",
            vec![Rule::on(
                "GET",
                "/dir",
                Fault::Garbage(b"\x16\x03\x01garbage\r\n\r\n".to_vec()),
            )
            .nth(1)],
            completes(),
        ),
        case(
            "every-authz-reset",
            vec![Rule::on("POST", AUTHZ, Fault::ResetBeforeForwarding)],
            Expect::Fails {
                exit: 4,
                texts: &["network:", "gave up after 4 attempts at Authorization"],
            },
        ),
        case(
            "every-authz-stalls",
            vec![Rule::on(
                "POST",
                AUTHZ,
                Fault::Stall(Duration::from_secs(60)),
            )],
            Expect::Fails {
                exit: 4,
                texts: &["network:", "did not answer within 2 s"],
            },
        ),
        Case {
            name: "stall-past-the-deadline",
            rules: vec![Rule::on(
                "POST",
                AUTHZ,
                Fault::Stall(Duration::from_secs(60)),
            )],
            io_timeout_secs: 30,
            deadline_secs: 6,
            expect: Expect::Fails {
                exit: 4,
                texts: &["network:", "deadline"],
            },
        },
        // No newOrder gets through. Each lost answer sends the client to
        // the account's orders list, which has no new order, and then to
        // newOrder again; those searches do not renew the budget, so the
        // run ends after the budget's attempts, long before its deadline.
        Case {
            name: "every-neworder-reset",
            rules: vec![Rule::on("POST", NEW_ORDER, Fault::ResetBeforeForwarding)],
            io_timeout_secs: 2,
            deadline_secs: 30,
            expect: Expect::Fails {
                exit: 4,
                texts: &["network:", "gave up after 4 attempts at NewOrder"],
            },
        },
        case(
            "every-neworder-503",
            vec![Rule::on("POST", NEW_ORDER, Fault::unavailable(1))],
            Expect::Fails {
                exit: 3,
                texts: &["503"],
            },
        ),
    ];
    let cases = cases.into_iter().map(|c| (c.name.to_owned(), c)).collect();
    run_cases(WORKERS, cases, run_case);
}
