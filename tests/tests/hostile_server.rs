//! Hostile servers: the `acme` tool first enrols against a real Pebble
//! (Debian package `pebble`) through `acme_tests::fault_proxy`, then renews
//! while the proxy answers one step with something hostile: a huge
//! `Content-Length`, an endless chunked body, a body larger than the
//! receive buffer, 10,000-deep JSON, wrong JSON types, duplicate keys, a
//! non-UTF-8 body, `http://` URLs, an order whose URLs point at another
//! host, a redirect, a chain that is not PEM, and chains whose leaf does
//! not match (another key; another name; expired; not yet valid; not
//! signed by the next certificate; an alternate chain not signed by the
//! next certificate).
//!
//! Each must end in a typed error (the right exit code and a readable
//! message), with no panic and no hang, leaving both keys and the
//! certificate byte for byte as they were and every file's mode unchanged;
//! a clean renewal afterwards must still work with the same account. An
//! order on another host is followed there once that host is allowed (the
//! proxy sees the requests under that name; Pebble, which signed the
//! order's URLs under the first name, then refuses them).
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
use acme_tests::cli::{acme, files, run, run_cases, scratch_dir, Files, Run};
use acme_tests::fault_proxy::{Fault, FaultProxy, Rule, Scripted};
use der::asn1::{BitString, UtcTime};
use der::pem::LineEnding;
use der::{Encode as _, EncodePem as _};
use p256::ecdsa::signature::Signer as _;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

const ACME: &str = env!("CARGO_BIN_EXE_acme-cli");

/// Pebble's paths.
const NEW_ORDER: &str = "/order-plz";
const CERT: &str = "/certZ/";

/// Files that must never change when a run fails.
const KEPT: [&str; 3] = ["account.key", "device.key", "cert.pem"];

const IO_TIMEOUT: u64 = 3;
/// Cases at once, each on its own Pebble.
const WORKERS: usize = 4;
const DEADLINE: u64 = 30;

/// How the hostile run must end: the exit code and a text the error
/// message contains.
enum Expect {
    Fails(i32, &'static str),
}

/// One hostile case: a rule built once the case's proxy exists (some need
/// its port or a donor chain).
struct Case {
    name: &'static str,
    rule: Box<dyn Fn(&FaultProxy) -> Rule + Send + Sync>,
    /// Extra arguments of the hostile run.
    args: &'static [&'static str],
    /// Another enrolment's chain served as this one's: `Some(true)` for a
    /// chain of the same name with another key, `Some(false)` for one of
    /// this device key with another name.
    donor: Option<bool>,
    /// No first enrolment: the hostile run is the first (the directory is
    /// fetched only then).
    fresh: bool,
    /// A host name the client must have used in the hostile run.
    expect_host: Option<&'static str>,
    expect: Expect,
}

fn case(
    name: &'static str,
    expect: Expect,
    rule: impl Fn(&FaultProxy) -> Rule + Send + Sync + 'static,
) -> Case {
    Case {
        name,
        rule: Box::new(rule),
        args: &[],
        donor: None,
        fresh: false,
        expect_host: None,
        expect,
    }
}

/// Edits the JSON body of the upstream's answer.
fn edit_json(f: impl Fn(&mut serde_json::Value) + Send + Sync + 'static) -> Fault {
    Fault::rewrite(move |answer: &mut Scripted| {
        let mut value: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        f(&mut value);
        answer.body = serde_json::to_vec_pretty(&value).unwrap();
    })
}

/// Enrols `name` in `state` through `proxy`, with extra `args`.
fn enrol(proxy: &FaultProxy, state: &Path, name: &str, args: &[&str]) -> Run {
    let mut command = acme(ACME, proxy, state, &["enrol"], IO_TIMEOUT, DEADLINE);
    command
        .arg("--identifier")
        .arg(format!("dns:{name}"))
        .args(args);
    run(command, Duration::from_secs(DEADLINE + 15))
}

fn renew(proxy: &FaultProxy, state: &Path, args: &[&str]) -> Run {
    let mut command = acme(ACME, proxy, state, &["renew"], IO_TIMEOUT, DEADLINE);
    command.args(args);
    run(command, Duration::from_secs(DEADLINE + 15))
}

/// What changed in a state directory that must not have: a kept file's
/// bytes, any file's mode, a file gone.
fn damage(before: &Files, after: &Files) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, (bytes, mode)) in before {
        match after.get(name) {
            None => problems.push(format!("{name} is gone")),
            Some((now, now_mode)) => {
                if KEPT.contains(&name.as_str()) && now != bytes {
                    problems.push(format!("{name} changed"));
                }
                if now_mode != mode {
                    problems.push(format!("{name}: mode {mode:o} became {now_mode:o}"));
                }
            }
        }
    }
    for (name, (_, mode)) in after {
        if name.contains(".tmp") {
            problems.push(format!("temporary file {name} left"));
        }
        if name.ends_with(".key") && *mode != 0o600 {
            problems.push(format!("{name} has mode {mode:o}"));
        }
    }
    problems
}

fn run_case(pebble: &LocalPebble, case: &Case) -> Result<String, String> {
    let proxy = FaultProxy::start(&pebble.directory_url, &pebble.ca_file).unwrap();
    let state = scratch_dir(&format!("hostile-{}", case.name));
    let name = format!("{}.hostile.test", case.name);
    let setup = |what: &str, r: &Run| {
        Err(format!(
            "case {}: {what} failed\n{}\n--- proxy log\n{}",
            case.name,
            r.describe(),
            proxy.describe()
        ))
    };
    if !case.fresh {
        let first = enrol(&proxy, &state, &name, &[]);
        if first.code != Some(0) {
            return setup("the first enrolment", &first);
        }
    }
    // A chain that does not belong to this enrolment, from a second one.
    let mut donor_chain: Option<Vec<u8>> = None;
    if let Some(same_name) = case.donor {
        let donor_state = scratch_dir(&format!("hostile-{}-donor", case.name));
        let device_key = state.join("device.key");
        let donor = if same_name {
            enrol(&proxy, &donor_state, &name, &[])
        } else {
            let other = format!("other-{name}");
            let key = device_key.to_str().unwrap();
            enrol(&proxy, &donor_state, &other, &["--key-file", key])
        };
        if donor.code != Some(0) {
            return setup("the donor enrolment", &donor);
        }
        donor_chain = Some(std::fs::read(donor_state.join("cert.pem")).unwrap());
        let _ = std::fs::remove_dir_all(&donor_state);
    }
    let before = files(&state);

    let mut rule = (case.rule)(&proxy);
    if let Some(chain) = donor_chain {
        rule = Rule::on(
            "POST",
            CERT,
            Fault::rewrite(move |answer| answer.body.clone_from(&chain)),
        );
    }
    let requests_before = proxy.requests().len();
    proxy.set_script(vec![rule]);
    let hostile = if case.fresh {
        enrol(&proxy, &state, &name, case.args)
    } else {
        renew(&proxy, &state, case.args)
    };
    proxy.set_script(Vec::new());
    let fail = |why: String| {
        Err(format!(
            "case {}: {why}\n{}\n--- proxy log\n{}",
            case.name,
            hostile.describe(),
            proxy.describe()
        ))
    };
    if let Some(bad) = hostile.misbehaviour() {
        return fail(bad);
    }
    if proxy.faults_fired() == 0 {
        return fail("the hostile answer was never given: the case tests nothing".into());
    }
    // A hostile answer is final: the client does not ask for it again
    // (a body too large for the buffer would not fit a second time either).
    if proxy.faults_fired() > 1 {
        return fail(format!(
            "the hostile answer was asked for {} times",
            proxy.faults_fired()
        ));
    }
    let after = files(&state);
    let message = hostile.last_line().to_owned();
    let Expect::Fails(code, text) = case.expect;
    if hostile.code != Some(code) {
        return fail(format!("expected exit code {code}"));
    }
    if !message.contains(text) {
        return fail(format!("the message lacks {text:?}"));
    }
    // A hostile answer the client's own checks refuse ends in a typed
    // error (the core's, or a refused chain), never the catch-all.
    if code == 6
        && !["acme: protocol: ", "acme: certificate: "]
            .iter()
            .any(|kind| message.starts_with(kind))
    {
        return fail("the error is not typed as protocol or certificate".into());
    }
    let problems = damage(&before, &after);
    if !problems.is_empty() {
        return fail(format!("the state was damaged: {problems:?}"));
    }
    if case.fresh && after.contains_key("cert.pem") {
        return fail("a certificate was saved".into());
    }
    let seen = proxy.requests();
    let hostile_requests = &seen[requests_before..];
    if let Some(host) = case.expect_host {
        if !hostile_requests.iter().any(|r| r.host.starts_with(host)) {
            return fail(format!("the client never went to {host}"));
        }
    }
    let hostile_requests = hostile_requests.len();

    // A clean renewal still works, with the same account: its orders list
    // holds the first enrolment's order too.
    let clean = if case.fresh {
        enrol(&proxy, &state, &name, &[])
    } else {
        renew(&proxy, &state, &[])
    };
    if clean.code != Some(0) {
        return fail(format!("the clean renewal failed:\n{}", clean.describe()));
    }
    let renewed = files(&state);
    for key in ["account.key", "device.key"] {
        if renewed.get(key).map(|f| &f.0) != after.get(key).map(|f| &f.0) {
            return fail(format!("{key} changed in the clean renewal"));
        }
    }
    if renewed.get("cert.pem").map(|f| &f.0) == after.get("cert.pem").map(|f| &f.0)
        || !renewed.contains_key("cert.pem")
    {
        return fail("the clean renewal did not replace the certificate".into());
    }
    let mut list = acme(ACME, &proxy, &state, &["account"], IO_TIMEOUT, DEADLINE);
    list.arg("list-orders");
    let listed = run(list, Duration::from_secs(DEADLINE + 15));
    let orders = listed.stdout.lines().count();
    let expected = if case.fresh { 1 } else { 2 };
    if listed.code != Some(0) || orders < expected {
        return fail(format!(
            "the account lists {orders} orders after two enrolments:\n{}",
            listed.describe()
        ));
    }
    let _ = std::fs::remove_dir_all(&state);
    Ok(format!(
        "refused in {:.1} s ({hostile_requests} requests, {} hostile answers): {message}",
        hostile.elapsed.as_secs_f64(),
        proxy.faults_fired(),
    ))
}

/// The proxy's authority as Pebble writes it into URLs.
fn authority(proxy: &FaultProxy) -> String {
    format!("localhost:{}", proxy.local_addr().port())
}

/// Rewrites the newOrder answer so that its URLs point at
/// `127.0.0.1:<proxy port>`: the same proxy under another host name.
fn order_on_another_host(proxy: &FaultProxy) -> Rule {
    let ours = authority(proxy);
    let theirs = format!("127.0.0.1:{}", proxy.local_addr().port());
    Rule::on(
        "POST",
        NEW_ORDER,
        Fault::rewrite(move |answer| {
            answer.body = answer.text().replace(&ours, &theirs).into_bytes();
        }),
    )
}

// Where each hostile answer goes: JSON ones replace the newOrder answer
// (always sent, and refused before anything else happens); framing ones
// the certificate download (always sent, a POST-as-GET the client retries
// within its budget). Pebble may hand back a ready order at once, so no
// case relies on an authorization fetch.
fn cases() -> Vec<Case> {
    vec![
        case(
            "huge-content-length",
            Expect::Fails(6, "does not fit"),
            |_| {
                Rule::on(
                "POST",
                CERT,
                Fault::Raw(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/pem-certificate-chain\r\nContent-Length: 99999999999999\r\n\r\n-----BEGIN"
                        .to_vec(),
                ),
            )
            },
        ),
        case(
            "endless-chunked-body",
            Expect::Fails(6, "does not fit"),
            |_| Rule::on("POST", CERT, Fault::EndlessChunked),
        ),
        case(
            "body-beyond-the-buffer",
            Expect::Fails(6, "does not fit"),
            |_| {
                Rule::on(
                    "POST",
                    CERT,
                    Fault::rewrite(|answer| {
                        answer.body.extend(std::iter::repeat_n(b'\n', 100_000))
                    }),
                )
            },
        ),
        case(
            "deeply-nested-json",
            Expect::Fails(6, "not an object"),
            |proxy| {
                let mut body = "[".repeat(10_000);
                body.push_str(&"]".repeat(10_000));
                let location = format!("https://{}/my-order/deep", authority(proxy));
                Rule::on(
                    "POST",
                    NEW_ORDER,
                    Fault::Respond(
                        Scripted::new(201)
                            .header("Content-Type", "application/json")
                            .header("Location", &location)
                            .body(body),
                    ),
                )
            },
        ),
        case(
            "deeply-nested-json-member",
            Expect::Fails(6, "JSON"),
            |_| {
                let mut nested = "[".repeat(10_000);
                nested.push_str(&"]".repeat(10_000));
                Rule::on(
                    "POST",
                    NEW_ORDER,
                    Fault::rewrite(move |answer| {
                        let text = answer.text();
                        let body = text.replacen('{', &format!("{{\"extra\": {nested},"), 1);
                        answer.body = body.into_bytes();
                    }),
                )
            },
        ),
        case("wrong-json-types", Expect::Fails(6, "JSON"), |_| {
            Rule::on(
                "POST",
                NEW_ORDER,
                edit_json(|v| {
                    v["status"] = serde_json::json!(7);
                    v["authorizations"] = serde_json::json!("none");
                }),
            )
        }),
        case("duplicate-keys", Expect::Fails(6, "JSON"), |_| {
            Rule::on(
                "POST",
                NEW_ORDER,
                Fault::rewrite(|answer| {
                    let text = answer.text();
                    let body = text.replacen('{', "{\"status\": \"valid\",", 1);
                    answer.body = body.into_bytes();
                }),
            )
        }),
        case("non-utf8-body", Expect::Fails(6, "UTF-8"), |_| {
            Rule::on(
                "POST",
                NEW_ORDER,
                Fault::rewrite(|answer| {
                    // The status value's first letter becomes 0xFF.
                    let text = answer.text();
                    let at = text.find("\"status\": \"").unwrap() + "\"status\": \"".len();
                    answer.body[at] = 0xff;
                }),
            )
        }),
        case(
            "http-urls-in-the-order",
            Expect::Fails(6, "https://"),
            |_| {
                Rule::on(
                    "POST",
                    NEW_ORDER,
                    Fault::rewrite(|answer| {
                        answer.body = answer.text().replace("https://", "http://").into_bytes();
                    }),
                )
            },
        ),
        Case {
            fresh: true,
            ..case(
                "http-urls-in-the-directory",
                Expect::Fails(6, "https://"),
                |_| {
                    Rule::on(
                        "GET",
                        "/dir",
                        Fault::rewrite(|answer| {
                            answer.body = answer.text().replace("https://", "http://").into_bytes();
                        }),
                    )
                },
            )
        },
        case(
            "order-on-another-host",
            Expect::Fails(6, "host other than the directory's"),
            order_on_another_host,
        ),
        // Allowed, the other host is used: the client follows the order's
        // URLs there (the proxy sees them under that name), and Pebble,
        // which knows the account under the first name only, refuses.
        Case {
            args: &["--allow-host", "127.0.0.1"],
            expect_host: Some("127.0.0.1"),
            ..case(
                "order-on-an-allowed-host",
                Expect::Fails(3, "malformed"),
                order_on_another_host,
            )
        },
        case("redirect", Expect::Fails(6, "HTTP 301"), |proxy| {
            let to = format!("https://{}/elsewhere", authority(proxy));
            Rule::on(
                "POST",
                NEW_ORDER,
                Fault::Respond(Scripted::new(301).header("Location", &to)),
            )
        }),
        case("chain-not-pem", Expect::Fails(6, "PEM"), |_| {
            Rule::on(
                "POST",
                CERT,
                Fault::rewrite(|answer| {
                    answer.body = b"this is not a certificate chain\n".to_vec();
                }),
            )
        }),
        // The real leaf, valid from 2020-01-01 to 2020-04-01.
        validity_case(
            "expired-leaf",
            "validity has ended",
            (1_577_836_800, 1_585_699_200),
        ),
        // The real leaf, valid from 2040-01-01 to 2041-01-01.
        validity_case(
            "leaf-not-yet-valid",
            "validity starts in the future",
            (2_208_988_800, 2_240_524_800),
        ),
        case(
            "leaf-not-signed-by-the-next",
            Expect::Fails(6, "not validly signed by the next certificate"),
            |proxy| Rule::on("POST", CERT, leaf_before_a_stranger(proxy)),
        ),
        Case {
            // The primary chain is right; the alternate one the CA offers
            // (Pebble's second root) is not, and nothing may be saved.
            args: &["--alternates"],
            ..case(
                "alternate-chain-not-signed-by-the-next",
                Expect::Fails(6, "not validly signed by the next certificate"),
                |proxy| Rule::on("POST", CERT, leaf_before_a_stranger(proxy)).nth(2),
            )
        },
        Case {
            donor: Some(true),
            ..case(
                "leaf-for-another-key",
                Expect::Fails(6, "public key is not the CSR's"),
                |_| Rule::any(Fault::Forward),
            )
        },
        Case {
            donor: Some(false),
            ..case(
                "leaf-for-another-name",
                Expect::Fails(6, "subjectAltNames are not exactly"),
                |_| Rule::any(Fault::Forward),
            )
        },
    ]
}

#[test]
fn hostile_answers_end_in_typed_errors_and_leave_the_state_untouched() {
    let cases = cases()
        .into_iter()
        .map(|c| (c.name.to_owned(), c))
        .collect();
    run_cases(WORKERS, cases, |pebble, case| run_case(pebble, &case));
}

/// The certificate answer's real leaf, followed by a CA that did not issue
/// it (the proxy's own).
fn leaf_before_a_stranger(proxy: &FaultProxy) -> Fault {
    let stranger = std::fs::read(proxy.ca_file()).unwrap();
    Fault::rewrite(move |answer| {
        let chain = Certificate::load_pem_chain(&answer.body).unwrap();
        let mut body = chain[0].to_pem(LineEnding::LF).unwrap().into_bytes();
        body.extend_from_slice(&stranger);
        answer.body = body;
    })
}

/// A case whose certificate answer is the real chain with the leaf's
/// validity set to `window` (Unix seconds).
fn validity_case(name: &'static str, text: &'static str, window: (u64, u64)) -> Case {
    case(name, Expect::Fails(6, text), move |_| {
        Rule::on(
            "POST",
            CERT,
            Fault::rewrite(move |answer| {
                answer.body = with_leaf_validity(&answer.body, window.0, window.1);
            }),
        )
    })
}

/// `chain` with its leaf's validity set to `not_before..not_after` (Unix
/// seconds) and signed again, by a key of no one's: everything else about
/// the leaf (key, names) stays right.
fn with_leaf_validity(chain: &[u8], not_before: u64, not_after: u64) -> Vec<u8> {
    let mut certs = Certificate::load_pem_chain(chain).unwrap();
    let at =
        |secs: u64| Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(secs)).unwrap());
    let leaf = &mut certs[0];
    leaf.tbs_certificate.validity = Validity {
        not_before: at(not_before),
        not_after: at(not_after),
    };
    let tbs = leaf.tbs_certificate.to_der().unwrap();
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let signature: p256::ecdsa::DerSignature = key.sign(&tbs);
    leaf.signature = BitString::from_bytes(signature.as_bytes()).unwrap();
    certs
        .iter()
        .map(|c| c.to_pem(LineEnding::LF).unwrap())
        .collect::<String>()
        .into_bytes()
}
