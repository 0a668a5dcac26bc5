//! Medians, ratios and the Markdown table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::measure::Sample;
use crate::peers::{debian_version, Peer};

/// What one client gave over all its runs.
struct PeerResults {
    peer: Peer,
    version: String,
    missing: Option<String>,
    failures: Vec<String>,
    /// (cold, warm) per run, by one-way delay in ms.
    samples: BTreeMap<u64, Vec<(Sample, Sample)>>,
}

/// Everything measured, in the order the peers were given.
pub(crate) struct Results {
    delays: Vec<u64>,
    runs: usize,
    peers: Vec<PeerResults>,
    load_at_start: String,
}

/// One row of the table: how to get the value from a (cold, warm) pair.
struct Row {
    phase: &'static str,
    measure: String,
    /// Which delay's runs.
    delay: u64,
    /// The warm renewal's sample, or the cold enrolment's.
    warm: bool,
    value: fn(&Sample) -> f64,
    unit: Unit,
    target: Target,
}

#[derive(Clone, Copy)]
enum Unit {
    Count,
    Bytes,
    Millis,
}

#[derive(Clone, Copy)]
enum Target {
    None,
    AtMost(f64),
    Exactly(f64),
    /// Ours at most this fraction of the best peer.
    RatioAtMost(f64),
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let upper = *values.get(mid)?;
    if values.len() % 2 == 1 {
        Some(upper)
    } else {
        Some((values.get(mid - 1)? + upper) / 2.0)
    }
}

/// Counts here are far below 2^53, so exact as f64.
#[allow(clippy::cast_precision_loss)]
fn count(n: u64) -> f64 {
    n as f64
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count | Unit::Bytes if v.fract() != 0.0 => format!("{v:.1}"),
        // Counts and byte totals are whole, and far below 2^53.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Unit::Count | Unit::Bytes => thousands(v as u64),
        Unit::Millis if v < 100.0 => format!("{v:.1} ms"),
        Unit::Millis => format!("{} ms", thousands(v.round() as u64)),
    }
}

/// `YYYY-MM-DD HH:MM UTC` (civil-from-days, proleptic Gregorian).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let parts: Vec<&str> = s.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The heading of `bench/results.md`, above [`Results::body`] (README has
/// its own).
pub(crate) const HEADING: &str = "## Wire efficiency against lego, uacme and certbot";

impl Results {
    /// Nothing measured yet.
    pub(crate) fn new(delays: &[u64], runs: usize) -> Self {
        Self {
            delays: delays.to_vec(),
            runs,
            peers: Vec::new(),
            load_at_start: loadavg(),
        }
    }

    fn entry(&mut self, peer: Peer) -> &mut PeerResults {
        let i = match self.peers.iter().position(|p| p.peer == peer) {
            Some(i) => i,
            None => {
                self.peers.push(PeerResults {
                    peer,
                    version: String::new(),
                    missing: None,
                    failures: Vec::new(),
                    samples: BTreeMap::new(),
                });
                self.peers.len() - 1
            }
        };
        &mut self.peers[i]
    }

    /// A client that will be measured.
    pub(crate) fn add_peer(&mut self, peer: Peer, version: String) {
        self.entry(peer).version = version;
    }

    /// A client that cannot run, and why.
    pub(crate) fn missing(&mut self, peer: Peer, why: String) {
        self.entry(peer).missing = Some(why);
    }

    /// The clients that are to be measured.
    pub(crate) fn present(&self) -> Vec<Peer> {
        self.peers
            .iter()
            .filter(|p| p.missing.is_none())
            .map(|p| p.peer)
            .collect()
    }

    /// One successful run.
    pub(crate) fn record(&mut self, peer: Peer, delay: u64, cold: Sample, warm: Sample) {
        self.entry(peer)
            .samples
            .entry(delay)
            .or_default()
            .push((cold, warm));
    }

    /// One failed run.
    pub(crate) fn failed(&mut self, peer: Peer, why: String) {
        self.entry(peer).failures.push(why);
    }

    /// Why these results are not the README's table, if they are not: the
    /// README shows every peer, at least 5 runs, at 0 and 100 ms, with no
    /// failed run.
    pub(crate) fn not_for_readme(&self) -> Option<String> {
        if self.runs < 5 {
            return Some(format!("{} run(s), fewer than 5", self.runs));
        }
        if !(self.delays.contains(&0) && self.delays.contains(&100)) {
            return Some("the delays are not 0 and 100 ms".into());
        }
        for peer in Peer::ALL {
            match self.peers.iter().find(|p| p.peer == peer) {
                None => return Some(format!("{} was not run", peer.name())),
                Some(p) if p.missing.is_some() => {
                    return Some(format!("{} is missing", peer.name()))
                }
                Some(p) if !p.failures.is_empty() => {
                    return Some(format!("{} failed a run", peer.name()))
                }
                Some(_) => {}
            }
        }
        None
    }

    /// Whether any run of any client succeeded.
    pub(crate) fn any_measured(&self) -> bool {
        self.peers.iter().any(|p| !p.samples.is_empty())
    }

    fn rows(&self) -> Vec<Row> {
        let first = self.delays.first().copied().unwrap_or(0);
        let mut rows = Vec::new();
        for (phase, warm) in [("cold enrolment", false), ("warm renewal", true)] {
            rows.push(Row {
                phase,
                warm,
                measure: "HTTP requests".into(),
                delay: first,
                value: |s| count(s.requests),
                unit: Unit::Count,
                target: Target::AtMost(if warm { 7.0 } else { 10.0 }),
            });
            rows.push(Row {
                phase,
                warm,
                measure: "TCP connections (= TLS handshakes)".into(),
                delay: first,
                value: |s| count(s.connections),
                unit: Unit::Count,
                target: Target::Exactly(1.0),
            });
            rows.push(Row {
                phase,
                warm,
                measure: "bytes sent (client→server)".into(),
                delay: first,
                value: |s| count(s.bytes_up),
                unit: Unit::Bytes,
                target: if warm {
                    Target::None
                } else {
                    Target::AtMost(4000.0)
                },
            });
            rows.push(Row {
                phase,
                warm,
                measure: "bytes received (server→client)".into(),
                delay: first,
                value: |s| count(s.bytes_down),
                unit: Unit::Bytes,
                target: Target::None,
            });
            for &delay in &self.delays {
                rows.push(Row {
                    phase,
                    warm,
                    measure: format!("wall time, {delay} ms one-way delay"),
                    delay,
                    value: |s| millis(s.wall),
                    unit: Unit::Millis,
                    target: if delay == 100 {
                        Target::RatioAtMost(0.9)
                    } else {
                        Target::None
                    },
                });
            }
            rows.push(Row {
                phase,
                warm,
                measure: "client CPU (user+sys)".into(),
                delay: first,
                value: |s| millis(s.cpu),
                unit: Unit::Millis,
                target: Target::RatioAtMost(1.0),
            });
        }
        rows
    }

    fn median_of(&self, peer: &PeerResults, row: &Row) -> Option<f64> {
        let samples = peer.samples.get(&row.delay)?;
        median(
            samples
                .iter()
                .map(|(cold, warm)| (row.value)(if row.warm { warm } else { cold }))
                .collect(),
        )
    }

    /// How it was measured, the table, and how each client ran.
    pub(crate) fn body(&self, command: &str) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "* command: `{command}`");
        let _ = writeln!(md, "* date: {}", utc_now());
        let _ = writeln!(
            md,
            "* {} run(s) per client and delay, medians; each run a fresh Pebble {} (`PEBBLE_VA_ALWAYS_VALID=1`, `PEBBLE_VA_NOSLEEP=1`, `PEBBLE_WFE_NONCEREJECT=0`, `PEBBLE_AUTHZREUSE=0`, 90-day certificates) on loopback, behind the relay",
            self.runs,
            debian_version("pebble")
        );
        let versions: Vec<String> = self
            .peers
            .iter()
            .map(|p| {
                if p.missing.is_some() {
                    format!("{} (missing)", p.peer.name())
                } else {
                    format!("{} `{}`", p.peer.name(), p.version)
                }
            })
            .collect();
        let _ = writeln!(md, "* clients: {}", versions.join(", "));
        let _ = writeln!(
            md,
            "* machine: {} CPU(s); load average at start {}, at end {}\n",
            std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
            self.load_at_start,
            loadavg()
        );

        let mut header = String::from("| phase | measure |");
        let mut rule = String::from("|---|---|");
        for p in &self.peers {
            let _ = write!(header, " {} |", p.peer.name());
            rule.push_str("---:|");
        }
        header.push_str(" ours / best peer | target |");
        rule.push_str("---:|---|");
        let _ = writeln!(md, "{header}\n{rule}");

        for row in self.rows() {
            let mut line = format!("| {} | {} |", row.phase, row.measure);
            let mut ours = None;
            let mut best: Option<(f64, Peer)> = None;
            for p in &self.peers {
                let cell = if p.missing.is_some() {
                    "missing".to_owned()
                } else if let Some(v) = self.median_of(p, &row) {
                    if p.peer == Peer::Ours {
                        ours = Some(v);
                    } else if best.is_none_or(|(b, _)| v < b) {
                        best = Some((v, p.peer));
                    }
                    format_value(v, row.unit)
                } else {
                    "failed".to_owned()
                };
                let _ = write!(line, " {cell} |");
            }
            let ratio = match (ours, best) {
                (Some(o), Some((b, _))) if b > 0.0 => Some(o / b),
                _ => None,
            };
            match (ratio, best) {
                (Some(r), Some((_, peer))) => {
                    let _ = write!(line, " {r:.2}× ({}) |", peer.name());
                }
                _ => line.push_str(" — |"),
            }
            let target = match row.target {
                Target::None => "—".to_owned(),
                Target::AtMost(t) => verdict(
                    format!("≤ {}", format_value(t, row.unit)),
                    ours.map(|o| o <= t),
                ),
                Target::Exactly(t) => verdict(
                    format_value(t, row.unit),
                    ours.map(|o| (o - t).abs() < f64::EPSILON),
                ),
                Target::RatioAtMost(t) => verdict(
                    if (t - 1.0).abs() < f64::EPSILON {
                        "≤ best peer".to_owned()
                    } else {
                        format!("≤ {t}× best peer")
                    },
                    ratio.map(|r| r <= t),
                ),
            };
            let _ = writeln!(line, " {target} |");
            md.push_str(&line);
        }

        let first = self.delays.first().copied().unwrap_or(0);
        let _ = writeln!(
            md,
            "\nCounts, bytes and CPU are from the {first} ms runs. Bytes are TCP payload through the relay (TLS records, handshakes included). Wall time is from spawning the client to its exit; CPU is user+system time of the client process and what it waited for (`getrusage(RUSAGE_CHILDREN)`)."
        );
        let _ = writeln!(md, "\n{CONFIGURATION}");
        let mut notes = Vec::new();
        for p in &self.peers {
            if let Some(why) = &p.missing {
                notes.push(format!("* {}: missing — {why}", p.peer.name()));
            }
            if !p.failures.is_empty() {
                let first_failure: String = p
                    .failures
                    .first()
                    .map(|f| f.lines().take(6).collect::<Vec<_>>().join(" / "))
                    .unwrap_or_default();
                notes.push(format!(
                    "* {}: {} failed run(s); first: {first_failure}",
                    p.peer.name(),
                    p.failures.len()
                ));
            }
            let counts = |delay: u64| -> Option<[f64; 4]> {
                let samples = p.samples.get(&delay)?;
                let m = |f: fn(&(Sample, Sample)) -> u64| {
                    median(samples.iter().map(|s| count(f(s))).collect())
                };
                Some([
                    m(|s| s.0.requests)?,
                    m(|s| s.0.connections)?,
                    m(|s| s.1.requests)?,
                    m(|s| s.1.connections)?,
                ])
            };
            let reference = counts(first);
            for &delay in self.delays.iter().skip(1) {
                if let (Some(r), Some(c)) = (reference, counts(delay)) {
                    if r != c {
                        notes.push(format!(
                            "* {}: at {delay} ms the medians are cold {} requests / {} connection(s), warm {} / {} (at {first} ms: cold {} / {}, warm {} / {})",
                            p.peer.name(), c[0], c[1], c[2], c[3], r[0], r[1], r[2], r[3]
                        ));
                    }
                }
            }
            for (delay, samples) in &p.samples {
                if samples.len() < self.runs {
                    notes.push(format!(
                        "* {}: only {} of {} runs at {delay} ms succeeded",
                        p.peer.name(),
                        samples.len(),
                        self.runs
                    ));
                }
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(md, "\n{}", notes.join("\n"));
        }
        md
    }
}

/// How each client is run (see `peers.rs`).
const CONFIGURATION: &str = "\
How each client runs (one dns identifier, P-256 account and certificate keys, http-01; with `PEBBLE_VA_ALWAYS_VALID=1` nothing is really validated):

* ours: `acme enrol` (cold), then `acme renew` (warm) with the same `--state-dir`; Pebble's root alone (`--ca-file` with `--ca-file-only`: the system's roots are not read), the built-in http-01 responder on a free loopback port.
* lego: `lego --http --http.port 127.0.0.1:PORT --key-type ec256 --email … run` (lego insists on an e-mail contact), then `renew --days 99999 --no-random-sleep` with the same `--path`; Pebble's root in `LEGO_CA_CERTIFICATES`.
* uacme: `uacme --yes new` then `uacme issue` (cold: two processes, summed), then `uacme --force issue` (warm), with `--type EC --bits 256 --no-ocsp --hook /bin/true` and the same `--confdir`. Debian's uacme (libcurl-gnutls) has no CA option and reads only `/etc/ssl/certs`, so the benchmark runs in a private mount namespace in which a copy of that directory, plus Pebble's root, is mounted over it (the system's stays untouched).
* certbot: `certbot certonly --manual --preferred-challenges http --manual-auth-hook /bin/true --key-type ecdsa --register-unsafely-without-email`, then `certbot renew --force-renewal --no-random-sleep-on-renew`, with its own config, work and logs directories; Pebble's root in `REQUESTS_CA_BUNDLE`.

Every client connects to `https://localhost:RELAY/dir`. Each TCP connection starts with one TLS handshake (each client is a fresh process), so connections = TLS handshakes. HTTP requests are the lines Pebble logs for each request it serves (`-> calling handler()`).";

fn verdict(target: String, met: Option<bool>) -> String {
    match met {
        Some(true) => format!("{target}: met"),
        Some(false) => format!("{target}: **missed**"),
        None => target,
    }
}
