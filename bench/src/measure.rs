//! One phase (cold enrolment or warm renewal) of one client: its commands
//! run one after the other through the relay, and what it cost.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use acme_tests::relay::{Relay, RelayStats};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What one phase of one client cost.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// HTTP requests Pebble served (from its log).
    pub(crate) requests: u64,
    /// TCP connections through the relay; each is one TLS handshake.
    pub(crate) connections: u64,
    /// Bytes client→server (TCP payload: TLS records, handshakes included).
    pub(crate) bytes_up: u64,
    /// Bytes server→client.
    pub(crate) bytes_down: u64,
    /// Wall time from spawning the client to its exit (summed over the
    /// phase's commands).
    pub(crate) wall: Duration,
    /// User + system CPU time of the client processes (and anything they
    /// waited for, such as hooks).
    pub(crate) cpu: Duration,
    /// Requests to Pebble's finalize endpoint: at least one shows that a
    /// certificate was really issued in this phase.
    pub(crate) finalizes: u64,
}

/// Pebble's log line for every request it serves, e.g.
/// `Pebble 2025/01/01 00:00:00 POST /finalize-order/ -> calling handler()`.
const SERVED: &str = " -> calling handler()";

/// (requests, finalize requests) in Pebble's log so far.
fn served(log: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut requests = 0;
    let mut finalizes = 0;
    for line in text.lines().filter(|l| l.contains(SERVED)) {
        requests += 1;
        if line.contains("finalize") {
            finalizes += 1;
        }
    }
    (requests, finalizes)
}

fn children_cpu() -> Duration {
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(Duration::ZERO, |u| {
        let micros = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
        };
        micros(u.user_time()) + micros(u.system_time())
    })
}

/// Waits until the relay's counters stop moving (the last chunks, and
/// Pebble's log lines, may trail the client's exit by the relay's delay).
fn settle(relay: &Relay, delay: Duration) -> RelayStats {
    std::thread::sleep(2 * delay + Duration::from_millis(50));
    let mut last = relay.stats();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = relay.stats();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Runs `commands` in order (each a client process; output to files in
/// `logs` named `name-N.out`), and measures them. The relay and Pebble's
/// log are read before and after.
///
/// # Errors
/// When a command cannot start, fails, times out, or no certificate was
/// finalized: the message has the tail of its output.
pub(crate) fn phase(
    name: &str,
    commands: Vec<Command>,
    relay: &Relay,
    delay: Duration,
    pebble_log: &Path,
    logs: &Path,
    timeout: Duration,
) -> Result<Sample, String> {
    let stats_before = relay.stats();
    let (requests_before, finalizes_before) = served(pebble_log);
    let mut sample = Sample::default();
    for (i, mut command) in commands.into_iter().enumerate() {
        let out_path = logs.join(format!("{name}-{i}.out"));
        let out = File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let cpu_before = children_cpu();
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {command:?}: {e}"))?;
        let (done, wait_done) = mpsc::channel::<()>();
        let pid = i32::try_from(child.id()).map(Pid::from_raw);
        let watchdog = std::thread::spawn(move || {
            if let (Err(mpsc::RecvTimeoutError::Timeout), Ok(pid)) =
                (wait_done.recv_timeout(timeout), pid)
            {
                let _ = kill(pid, Signal::SIGKILL);
                return true;
            }
            false
        });
        let status = child.wait();
        sample.wall += started.elapsed();
        sample.cpu += children_cpu().saturating_sub(cpu_before);
        drop(done);
        let timed_out = watchdog.join().unwrap_or(false);
        let status = status.map_err(|e| format!("waiting for {command:?}: {e}"))?;
        if timed_out || !status.success() {
            return Err(format!(
                "{command:?} {}:\n{}",
                if timed_out {
                    format!("timed out after {timeout:?}")
                } else {
                    format!("failed ({status})")
                },
                tail(&out_path)
            ));
        }
    }
    let stats = settle(relay, delay).since(&stats_before);
    let (requests, finalizes) = served(pebble_log);
    sample.requests = requests - requests_before;
    sample.finalizes = finalizes - finalizes_before;
    sample.connections = stats.connections;
    sample.bytes_up = stats.bytes_up;
    sample.bytes_down = stats.bytes_down;
    if sample.finalizes == 0 {
        return Err(format!(
            "{name}: the client exited successfully but finalized no order (no certificate issued)"
        ));
    }
    Ok(sample)
}

/// The last lines of a client's output.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
