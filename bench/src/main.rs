//! `acme-bench`: the wire efficiency of the `acme` tool against lego,
//! uacme and certbot, each against its own fresh local Pebble.
//!
//! For every client and run: a fresh Pebble (`PEBBLE_VA_ALWAYS_VALID=1`,
//! `PEBBLE_VA_NOSLEEP=1`, `PEBBLE_WFE_NONCEREJECT=0`,
//! `PEBBLE_AUTHZREUSE=0`), a TCP relay in front of its ACME port (which
//! counts connections and bytes and delays each direction), a cold
//! enrolment (new account) and then a warm renewal (stored account) of one
//! dns identifier. HTTP requests are counted in Pebble's log; the client's
//! CPU time is `getrusage(RUSAGE_CHILDREN)` around it. The medians go into
//! one Markdown table, printed and written to `bench/results.md` and into
//! README (between its `acme-bench` marker lines).
//!
//! ```text
//! cargo build --release -p acme-host
//! cargo run -p acme-bench -- --runs 5
//! ```

mod measure;
mod peers;
mod readme;
mod report;
mod trust;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};
use acme_tests::relay::{Relay, RelayOptions};

use measure::Sample;
use peers::{Context, Peer};
use report::Results;

const USAGE: &str = "\
usage: acme-bench [--runs N] [--delays MS,MS,...] [--peers ours,lego,uacme,certbot]
                  [--acme PATH] [--out PATH|-] [--readme PATH|-] [--name DNS-NAME]
                  [--timeout SECS]

  --runs N        runs per client and delay (default 5); the table has medians
  --delays LIST   one-way delays in ms added by the relay in each direction
                  (default 0,100); counts and CPU come from the first
  --peers LIST    which clients (default all four; a missing one is skipped)
  --acme PATH     our client (default target/release/acme; build it with
                  `cargo build --release -p acme-host`)
  --out PATH      where the Markdown table goes (default bench/results.md;
                  `-` only prints it)
  --readme PATH   the README whose section between the acme-bench marker
                  lines gets the table (default README.md; `-`: none); only
                  a full run (every peer, 5 runs or more, 0 and 100 ms, no
                  failure) is written there
  --name NAME     the dns identifier (default bench.device.test)
  --timeout SECS  per client command (default 300)
  --keep DIR      keep each run's Pebble log and client output under DIR";

/// The command line.
struct Args {
    runs: usize,
    delays: Vec<u64>,
    peers: Vec<Peer>,
    acme: PathBuf,
    out: Option<PathBuf>,
    readme: Option<PathBuf>,
    name: String,
    timeout: Duration,
    keep: Option<PathBuf>,
}

fn parse_args(root: &Path) -> Result<Args, String> {
    let mut args = Args {
        runs: 5,
        delays: vec![0, 100],
        peers: Peer::ALL.to_vec(),
        acme: root.join("target/release/acme"),
        out: Some(root.join("bench/results.md")),
        readme: Some(root.join("README.md")),
        name: "bench.device.test".to_owned(),
        timeout: Duration::from_secs(300),
        keep: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => {
                args.runs = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--runs: a positive number")?;
            }
            "--delays" => {
                args.delays = value
                    .split(',')
                    .map(|d| d.trim().parse())
                    .collect::<Result<_, _>>()
                    .map_err(|_| "--delays: milliseconds, comma-separated")?;
                if args.delays.is_empty() {
                    return Err("--delays: at least one".into());
                }
            }
            "--peers" => {
                args.peers = value
                    .split(',')
                    .map(|p| Peer::from_name(p.trim()).ok_or(format!("unknown peer {p}")))
                    .collect::<Result<_, _>>()?;
            }
            "--acme" => args.acme = PathBuf::from(value),
            "--out" => args.out = (value != "-").then(|| PathBuf::from(value)),
            "--readme" => args.readme = (value != "-").then(|| PathBuf::from(value)),
            "--name" => args.name = value,
            "--keep" => args.keep = Some(PathBuf::from(value)),
            "--timeout" => {
                args.timeout =
                    Duration::from_secs(value.parse().map_err(|_| "--timeout: seconds")?);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

/// The ACME port of a `LocalPebble` (from `https://localhost:PORT/dir`).
fn acme_port(pebble: &LocalPebble) -> Result<u16, String> {
    pebble
        .directory_url
        .trim_end_matches("/dir")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no port in {}", pebble.directory_url))
}

/// One run of one client at one delay: a fresh Pebble and relay, the cold
/// enrolment, then the warm renewal.
fn one_run(
    label: &str,
    peer: Peer,
    args: &Args,
    delay: Duration,
    system_trust: Option<&trust::SystemTrust>,
) -> Result<(Sample, Sample), String> {
    let options = PebbleOptions {
        env: [
            ("PEBBLE_VA_ALWAYS_VALID", "1"),
            ("PEBBLE_VA_NOSLEEP", "1"),
            ("PEBBLE_WFE_NONCEREJECT", "0"),
            ("PEBBLE_AUTHZREUSE", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        // 90 days, as Let's Encrypt's.
        certificate_validity_secs: Some(90 * 86_400),
        ..PebbleOptions::default()
    };
    let pebble = LocalPebble::start(&options).map_err(|e| format!("starting Pebble: {e}"))?;
    let upstream = SocketAddr::from(([127, 0, 0, 1], acme_port(&pebble)?));
    let relay = Relay::start(upstream, RelayOptions::default().with_delay(delay))
        .map_err(|e| format!("starting the relay: {e}"))?;
    // Pebble's HTTPS certificate names localhost and 127.0.0.1.
    let directory = format!("https://localhost:{}/dir", relay.local_addr().port());
    if peer == Peer::Uacme {
        system_trust
            .ok_or("uacme reads only the system trust directory, which could not be extended")?
            .trust(&pebble.ca_file)?;
    }
    let state = pebble.dir().join(peer.name());
    let logs = pebble.dir().join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let http_port = free_port().map_err(|e| e.to_string())?;
    let cx = Context {
        acme: &args.acme,
        directory: &directory,
        ca_file: &pebble.ca_file,
        state: &state,
        name: &args.name,
        http_port,
    };
    let phase = |name: &str, commands| {
        measure::phase(
            name,
            commands,
            &relay,
            delay,
            &pebble.log_file,
            &logs,
            args.timeout,
        )
    };
    let result = phase("cold", peer.cold(&cx))
        .and_then(|cold| phase("warm", peer.warm(&cx)).map(|warm| (cold, warm)));
    if let Some(keep) = &args.keep {
        let to = keep.join(label);
        let _ = std::fs::create_dir_all(&to);
        let _ = std::fs::copy(&pebble.log_file, to.join("pebble.log"));
        for entry in std::fs::read_dir(&logs).into_iter().flatten().flatten() {
            let _ = std::fs::copy(entry.path(), to.join(entry.file_name()));
        }
    }
    result
}

fn main() -> ExitCode {
    let root = acme_tests::workspace_root();
    let args = match parse_args(&root) {
        Ok(a) => a,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("acme-bench: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let scratch = std::env::temp_dir().join(format!("acme-bench-{}", std::process::id()));
    // Before any thread: the mount namespace is per thread.
    let system_trust = if args.peers.contains(&Peer::Uacme) {
        match trust::SystemTrust::set_up(&scratch) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("acme-bench: uacme cannot be made to trust Pebble: {e}");
                None
            }
        }
    } else {
        None
    };

    let mut results = Results::new(&args.delays, args.runs);
    for &peer in &args.peers {
        match peer.program(&args.acme) {
            Ok(path) => {
                eprintln!(
                    "{}: {} ({})",
                    peer.name(),
                    path.display(),
                    peer.version(&args.acme)
                );
                results.add_peer(peer, peer.version(&args.acme));
            }
            Err(why) => {
                eprintln!("acme-bench: {}: MISSING, skipped: {why}", peer.name());
                results.missing(peer, why);
            }
        }
    }
    if peer_uacme_untrusted(&results, system_trust.as_ref()) {
        results.missing(
            Peer::Uacme,
            "cannot add Pebble's root to the system trust directory libcurl reads (needs root for a private mount namespace)".into(),
        );
    }

    for run in 1..=args.runs {
        for &delay_ms in &args.delays {
            let delay = Duration::from_millis(delay_ms);
            for peer in results.present() {
                eprint!(
                    "run {run}/{} delay {delay_ms} ms {:<8}",
                    args.runs,
                    peer.name()
                );
                let label = format!("run{run}-{delay_ms}ms-{}", peer.name());
                match one_run(&label, peer, &args, delay, system_trust.as_ref()) {
                    Ok((cold, warm)) => {
                        eprintln!(
                            " cold {} | warm {}",
                            progress_line(&cold),
                            progress_line(&warm)
                        );
                        results.record(peer, delay_ms, cold, warm);
                    }
                    Err(e) => {
                        eprintln!(" FAILED: {e}");
                        results.failed(peer, e);
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    let command = std::env::args().collect::<Vec<_>>().join(" ");
    // Computed once: it holds the date and the load, which README and
    // bench/results.md must agree on.
    let body = results.body(&command);
    let markdown = format!("{}\n\n{body}", report::HEADING);
    println!("{markdown}");
    if let Some(out) = &args.out {
        if let Err(e) = std::fs::write(out, &markdown) {
            eprintln!("acme-bench: writing {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
        eprintln!("written to {}", out.display());
    }
    if let Some(path) = &args.readme {
        if let Some(why) = results.not_for_readme() {
            eprintln!("acme-bench: {} left as it was: {why}", path.display());
        } else if let Err(e) = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| readme::splice(&text, &body))
            .and_then(|text| std::fs::write(path, text).map_err(|e| e.to_string()))
        {
            eprintln!("acme-bench: writing the table into {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            eprintln!("written into {}", path.display());
        }
    }
    if results.any_measured() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Whether uacme is to be run but cannot trust Pebble.
fn peer_uacme_untrusted(results: &Results, trust: Option<&trust::SystemTrust>) -> bool {
    trust.is_none() && results.present().contains(&Peer::Uacme)
}

/// One phase of a run, as the progress output shows it.
fn progress_line(sample: &Sample) -> String {
    format!(
        "{:>2} req {} conn {:>6} up {:>6} down {:>7.3} s {:>6.3} s cpu",
        sample.requests,
        sample.connections,
        sample.bytes_up,
        sample.bytes_down,
        sample.wall.as_secs_f64(),
        sample.cpu.as_secs_f64(),
    )
}
