//! Running the `acme` tool (built as `acme-cli`) as a process against a
//! [`FaultProxy`], with a watchdog: the fault and hostile-server tests.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fault_proxy::FaultProxy;

/// How one run of the tool ended.
#[derive(Debug)]
pub struct Run {
    /// Exit code; `None` when the watchdog killed it or a signal did.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
    /// The watchdog had to kill it.
    pub killed: bool,
}

impl Run {
    /// The last `acme: …` line of stderr: the error message, on failure.
    #[must_use]
    pub fn last_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("acme: "))
            .unwrap_or("")
    }

    /// Everything, for assertion messages.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "exit {:?} after {:.1} s{}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.elapsed.as_secs_f64(),
            if self.killed {
                " (killed by the watchdog)"
            } else {
                ""
            },
            self.stdout,
            self.stderr
        )
    }

    /// Problems that no run may show, whatever the fault: a panic, a
    /// watchdog kill, a raw OS error text instead of a message.
    #[must_use]
    pub fn misbehaviour(&self) -> Option<String> {
        if self.killed {
            return Some("hung: the watchdog killed it".into());
        }
        if self.code.is_none() {
            return Some("killed by a signal".into());
        }
        for bad in [
            "panicked",
            "RUST_BACKTRACE",
            "os error 11",
            "Resource temporarily",
        ] {
            if self.stderr.contains(bad) {
                return Some(format!("stderr contains {bad:?}"));
            }
        }
        None
    }
}

/// The `acme` tool at `program` (an integration test's
/// `env!("CARGO_BIN_EXE_acme-cli")`) with `args`, then `--directory`, `--ca-file` and
/// `--state-dir` for `proxy` and `state`, an http-01 responder on an
/// ephemeral port, the given I/O timeout and overall deadline.
#[must_use]
pub fn acme(
    program: &str,
    proxy: &FaultProxy,
    state: &Path,
    args: &[&str],
    io_timeout_secs: u64,
    deadline_secs: u64,
) -> Command {
    let mut command = acme_at(
        program,
        &proxy.directory_url(),
        proxy.ca_file(),
        state,
        args,
    );
    command
        .args(["--http-listen", "127.0.0.1:0"])
        .arg("--io-timeout-secs")
        .arg(io_timeout_secs.to_string())
        .arg("--deadline-secs")
        .arg(deadline_secs.to_string());
    command
}

/// The `acme` tool at `program` running `args` against the CA at
/// `directory_url`, trusting `ca_file`, with its state in `state`. The
/// tool's test hooks (`ACME_TEST_*`, `ACME_RECORD_DIR`) are cleared, so a
/// test sets only the ones it means.
#[must_use]
pub fn acme_at(
    program: &str,
    directory_url: &str,
    ca_file: &Path,
    state: &Path,
    args: &[&str],
) -> Command {
    let mut command = Command::new(program);
    command
        .args(args)
        .arg("--directory")
        .arg(directory_url)
        .arg("--ca-file")
        .arg(ca_file)
        .arg("--state-dir")
        .arg(state)
        .env_remove("ACME_TEST_KILL_AFTER_REQUEST")
        .env_remove("ACME_TEST_KILL_BEFORE_CERTIFICATE_SAVE")
        .env_remove("ACME_RECORD_DIR");
    command
}

/// Runs `command`, killing it after `limit` (the watchdog).
///
/// # Panics
/// When the process cannot be started.
#[must_use]
pub fn run(mut command: Command, limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting acme-cli");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let mut killed = false;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            killed = true;
            break child.wait().expect("waiting for acme-cli");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let text = |v: Vec<u8>| String::from_utf8_lossy(&v).into_owned();
    Run {
        code: status.code(),
        stdout: text(out_reader.join().unwrap_or_default()),
        stderr: text(err_reader.join().unwrap_or_default()),
        elapsed,
        killed,
    }
}

/// Every file of a state directory: name → (bytes, mode).
pub type Files = std::collections::BTreeMap<String, (Vec<u8>, u32)>;

/// Reads every regular file of `dir` with its mode.
///
/// # Panics
/// When the directory cannot be read.
#[must_use]
pub fn files(dir: &Path) -> Files {
    std::fs::read_dir(dir)
        .expect("state directory")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let path: PathBuf = e.path();
            let bytes = std::fs::read(&path).unwrap_or_default();
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0);
            (e.file_name().to_string_lossy().into_owned(), (bytes, mode))
        })
        .collect()
}

/// A fresh, empty scratch directory named after `name`, under the system
/// temporary directory (removed first if left over).
///
/// # Panics
/// When it cannot be made.
#[must_use]
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("acme-tests-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Runs `cases` on `workers` threads, each with its own Pebble
/// ([`start_pebble_always_valid`](crate::start_pebble_always_valid)) that
/// takes one case at a time: Pebble 2.4.0 can deadlock when requests for
/// several accounts' orders and authorizations arrive at once (see the
/// fleet benchmark), so no Pebble sees two cases together. `check` returns
/// a summary line or what went wrong; every summary is printed, and all
/// failures are reported together.
///
/// # Panics
/// When a case fails (or panics), with every failure's text.
pub fn run_cases<C: Send>(
    workers: usize,
    cases: Vec<(String, C)>,
    check: impl Fn(&acme_host::pebble::LocalPebble, C) -> Result<String, String> + Sync,
) {
    let started = Instant::now();
    let queue = std::sync::Mutex::new(cases.into_iter().collect::<std::collections::VecDeque<_>>());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| {
                let pebble = crate::start_pebble_always_valid();
                loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .pop_front();
                    let Some((name, case)) = next else { break };
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        check(&pebble, case)
                    }))
                    .unwrap_or_else(|_| Err(format!("case {name} panicked")));
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((name, outcome));
                }
            });
        }
    });
    let mut failures = Vec::new();
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, result) in results {
        match result {
            Ok(summary) => eprintln!("{name}: {summary}"),
            Err(e) => failures.push(e),
        }
    }
    eprintln!("all cases in {:.1} s", started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
