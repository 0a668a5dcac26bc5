//! `acme`: enrol, renew and revoke certificates with acme-core, answering
//! challenges itself. Run `acme --help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

#[cfg(feature = "pebble")]
use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};
use acme_host::{
    AccountReport, CertificateReport, ChallengeType, EabBinding, HostError, Identifier, OrderSpec,
    RevocationReason, RevokeWith, Session, Settings, Trust, SAVING_CERTIFICATE,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// An ACME client for devices: enrol, renew and revoke certificates.
#[derive(Parser, Debug)]
#[command(name = "acme", version, about)]
struct Cli {
    /// Log more (-v protocol steps in detail, -vv everything).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Print a machine-readable result on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Enrol a certificate (or resume an unfinished enrolment).
    #[command(visible_alias = "enroll")]
    Enrol {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        order: OrderArgs,
    },
    /// Renew the saved certificate.
    Renew {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        order: OrderArgs,
        /// Renew only when due: per ARI when the CA offers it, otherwise
        /// when less than a third of the lifetime is left.
        #[arg(long)]
        if_due: bool,
    },
    /// Revoke the saved certificate.
    Revoke {
        #[command(flatten)]
        common: Common,
        /// Reason: a name (keyCompromise, superseded, …) or an RFC 5280
        /// code (0–10 except 7).
        #[arg(long)]
        reason: Option<String>,
        /// Which key signs the request.
        #[arg(long, value_enum, default_value_t = RevokeBy::Account)]
        by: RevokeBy,
    },
    /// Account operations.
    Account {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: AccountAction,
    },
    /// Start a local Pebble CA and enrol a device certificate against it
    /// (in builds with the `pebble` feature).
    Demo {
        /// The identifier to enrol.
        #[arg(long, default_value = "dns:device.demo.test")]
        identifier: String,
        /// The challenge type (http-01 or tls-alpn-01).
        #[arg(long, value_enum, default_value_t = Challenge::Http01)]
        challenge: Challenge,
        /// Keep the state here instead of a temporary directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum AccountAction {
    /// Show the account.
    Show,
    /// Replace the contacts with those given by --contact.
    UpdateContact,
    /// Deactivate the account (irreversible).
    Deactivate,
    /// Replace the account key with a fresh one.
    RolloverKey,
    /// List the account's orders.
    ListOrders,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum RevokeBy {
    /// The account key.
    Account,
    /// The certificate's own key.
    Certificate,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Challenge {
    #[value(name = "http-01")]
    Http01,
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
    #[value(name = "dns-01")]
    Dns01,
}

impl Challenge {
    fn core(self) -> ChallengeType {
        match self {
            Challenge::Http01 => ChallengeType::Http01,
            Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            Challenge::Dns01 => ChallengeType::Dns01,
        }
    }
}

#[derive(Args, Debug)]
struct Common {
    /// The ACME directory URL.
    #[arg(long)]
    directory: String,
    /// Where keys, the snapshot and certificates live.
    #[arg(long, default_value = "acme-state")]
    state_dir: PathBuf,
    /// Trust the CA certificates in this PEM file (in addition to the
    /// system roots). Verification is never switched off.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Trust only the certificates of --ca-file, not the system roots: for
    /// a private CA (and no start-up time spent reading the system's
    /// roots).
    #[arg(long, requires = "ca_file")]
    ca_file_only: bool,
    /// The challenge type.
    #[arg(long, value_enum, default_value_t = Challenge::Http01)]
    challenge: Challenge,
    /// Address and port of the http-01 responder.
    #[arg(long, default_value = "0.0.0.0:80")]
    http_listen: SocketAddr,
    /// Address and port of the tls-alpn-01 responder.
    #[arg(long, default_value = "0.0.0.0:443")]
    tls_listen: SocketAddr,
    /// dns-01 hook: run as `CMD add|remove NAME VALUE`.
    #[arg(long)]
    dns_hook: Option<PathBuf>,
    /// External Account Binding key id.
    #[arg(long)]
    eab_kid: Option<String>,
    /// External Account Binding MAC key (base64url, padded or not). Other
    /// users can see a command line: prefer --eab-hmac-key-file.
    #[arg(long, requires = "eab_kid", conflicts_with = "eab_hmac_key_file")]
    eab_hmac_key: Option<RedactedArg>,
    /// File holding the External Account Binding MAC key (base64url; mode
    /// 0600: a file others can read is refused).
    #[arg(long, requires = "eab_kid")]
    eab_hmac_key_file: Option<PathBuf>,
    /// Account contact, e.g. mailto:ops@example.com (repeatable).
    #[arg(long)]
    contact: Vec<String>,
    /// Use this device key (PKCS#8 or SEC1, PEM or DER; mode 0600).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    /// Give up on a connection when the server sends nothing for this many
    /// seconds (one socket read, write or connect).
    #[arg(long, default_value_t = 30)]
    io_timeout_secs: u64,
    /// Allow resource URLs on this host too (repeatable).
    #[arg(long)]
    allow_host: Vec<String>,
}

#[derive(Args, Debug)]
struct OrderArgs {
    /// dns:NAME or ip:ADDR (repeatable).
    #[arg(long = "identifier", short = 'd')]
    identifiers: Vec<String>,
    /// The certificate profile, when the CA offers it.
    #[arg(long)]
    profile: Option<String>,
    /// Requested notBefore (RFC 3339).
    #[arg(long)]
    not_before: Option<String>,
    /// Requested notAfter (RFC 3339).
    #[arg(long)]
    not_after: Option<String>,
    /// Also save the alternate chains the CA offers.
    #[arg(long)]
    alternates: bool,
}

/// A secret given on the command line: zeroized on drop, and printed as
/// `<redacted>` by `Debug`, so logging the parsed arguments never shows it.
#[derive(Clone)]
struct RedactedArg(Zeroizing<String>);

impl std::str::FromStr for RedactedArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(Zeroizing::new(s.to_owned())))
    }
}

impl std::fmt::Debug for RedactedArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Common {
    /// The EAB MAC key, from the command line or its file.
    fn eab_hmac_key(&self) -> Result<Option<Zeroizing<String>>, HostError> {
        if let Some(key) = &self.eab_hmac_key {
            return Ok(Some(key.0.clone()));
        }
        let Some(path) = &self.eab_hmac_key_file else {
            return Ok(None);
        };
        use std::os::unix::fs::PermissionsExt as _;
        let shown = path.display();
        let mode = std::fs::metadata(path)
            .map_err(|e| HostError::Usage(format!("--eab-hmac-key-file {shown}: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(HostError::Usage(format!(
                "--eab-hmac-key-file {shown} can be read by others (mode {:o}); chmod 600 it",
                mode & 0o777
            )));
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| HostError::Usage(format!("--eab-hmac-key-file {shown}: {e}")))?,
        );
        Ok(Some(Zeroizing::new(text.trim().to_owned())))
    }

    fn settings(&self) -> Result<Settings, HostError> {
        let mut s = Settings::new(&self.directory, &self.state_dir);
        s.trust = match (&self.ca_file, self.ca_file_only) {
            (Some(path), true) => Trust::Only(path.clone()),
            (Some(path), false) => Trust::SystemAnd(path.clone()),
            (None, _) => Trust::System,
        };
        s.challenge = self.challenge.core();
        s.http01_listen = self.http_listen;
        s.tls_alpn01_listen = self.tls_listen;
        s.dns_hook = self.dns_hook.clone();
        s.eab = match (&self.eab_kid, self.eab_hmac_key()?) {
            (Some(kid), Some(key)) => Some(EabBinding::new(kid, key.as_str())),
            (None, None) => None,
            _ => {
                return Err(HostError::Usage(
                    "--eab-kid needs --eab-hmac-key-file (or --eab-hmac-key)".into(),
                ))
            }
        };
        s.contact = self.contact.clone();
        s.device_key_file = self.key_file.clone();
        // Debugging aid: record every exchange (`ACME_RECORD_DIR=dir`).
        s.record_dir = std::env::var_os("ACME_RECORD_DIR").map(PathBuf::from);
        s.deadline = Duration::from_secs(self.deadline_secs);
        s.io_timeout = Duration::from_secs(self.io_timeout_secs.max(1));
        s.allowed_hosts = self.allow_host.clone();
        Ok(s)
    }
}

impl OrderArgs {
    fn spec(&self) -> Result<OrderSpec, HostError> {
        let identifiers: Vec<Identifier> = self
            .identifiers
            .iter()
            .map(|i| Identifier::parse(i))
            .collect::<Result<_, _>>()?;
        let mut spec = OrderSpec::new(identifiers);
        spec.profile = self.profile.clone();
        spec.not_before = self.not_before.clone();
        spec.not_after = self.not_after.clone();
        Ok(spec)
    }
}

/// Logs to stderr. Key material never reaches the log.
struct StderrLogger(log::LevelFilter);

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.0
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("[{}] {}", record.level(), record.args());
        }
    }
    fn flush(&self) {}
}

fn print_certificate(report: &CertificateReport) {
    eprintln!("certificate saved to {}", report.path.display());
    eprintln!(
        "  subject:  {}",
        if report.subject.is_empty() {
            "(empty)"
        } else {
            &report.subject
        }
    );
    eprintln!("  SANs:     {}", report.sans.join(", "));
    eprintln!(
        "  valid:    {} .. {} (Unix seconds)",
        unix_seconds(report.not_before),
        unix_seconds(report.not_after)
    );
    eprintln!("  issuer:   {}", report.issuer);
    eprintln!("  serial:   {}", report.serial);
    for alt in &report.alternates {
        eprintln!("  alternate chain saved to {}", alt.display());
    }
}

/// Seconds since the Unix epoch, as the tool prints times.
fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn print_account(account: &AccountReport) {
    eprintln!(
        "account status: {}; contact: {}",
        account.status,
        account.contact.join(", ")
    );
}

fn certificate_json(report: &CertificateReport) -> serde_json::Value {
    serde_json::json!({
        "certificate": report.path,
        "alternates": report.alternates,
        "subject": report.subject,
        "issuer": report.issuer,
        "sans": report.sans,
        "not_before": unix_seconds(report.not_before),
        "not_after": unix_seconds(report.not_after),
        "serial": report.serial,
        "ari_cert_id": report.ari_cert_id,
    })
}

fn execute(cli: &Cli, progress: &mut dyn FnMut(&str)) -> Result<serde_json::Value, HostError> {
    match &cli.command {
        Command::Enrol { common, order } => {
            let mut settings = common.settings()?;
            settings.fetch_alternates = order.alternates;
            let mut session = Session::open(settings)?;
            let report = session.enrol(&order.spec()?, progress)?;
            print_certificate(&report);
            Ok(certificate_json(&report))
        }
        Command::Renew {
            common,
            order,
            if_due,
        } => {
            let mut settings = common.settings()?;
            settings.fetch_alternates = order.alternates;
            let mut session = Session::open(settings)?;
            let mut spec = order.spec()?;
            if spec.identifiers.is_empty() {
                // Renew what the saved certificate covers.
                let current = session.current_certificate()?;
                for san in &current.sans {
                    let id = san
                        .strip_prefix("DNS:")
                        .map(|d| format!("dns:{d}"))
                        .or_else(|| san.strip_prefix("IP:").map(|i| format!("ip:{i}")))
                        .unwrap_or_default();
                    spec.identifiers.push(Identifier::parse(&id)?);
                }
            }
            let report = if *if_due {
                session.renew_if_due(&spec, progress)?
            } else {
                spec.replaces = session
                    .current_certificate()
                    .ok()
                    .and_then(|c| c.ari_cert_id);
                Some(session.enrol(&spec, progress)?)
            };
            match report {
                Some(report) => {
                    print_certificate(&report);
                    Ok(
                        serde_json::json!({"renewed": true, "certificate": certificate_json(&report)}),
                    )
                }
                None => {
                    eprintln!("not due for renewal");
                    Ok(serde_json::json!({"renewed": false}))
                }
            }
        }
        Command::Revoke { common, reason, by } => {
            let reason = match reason {
                Some(r) => Some(RevocationReason::parse(r).ok_or_else(|| {
                    HostError::Usage(format!(
                        "unknown reason {r}: use a name like keyCompromise or a code 0-10 except 7"
                    ))
                })?),
                None => None,
            };
            let mut session = Session::open(common.settings()?)?;
            let signed_with = match by {
                RevokeBy::Account => RevokeWith::AccountKey,
                RevokeBy::Certificate => RevokeWith::CertificateKey,
            };
            session.revoke(reason, signed_with, progress)?;
            eprintln!("certificate revoked");
            Ok(serde_json::json!({"revoked": true, "reason": reason.map(RevocationReason::name)}))
        }
        Command::Account { common, action } => {
            let mut session = Session::open(common.settings()?)?;
            let account = match action {
                AccountAction::Show => session.account(progress)?,
                AccountAction::UpdateContact => {
                    session.update_contacts(&common.contact, progress)?
                }
                AccountAction::Deactivate => session.deactivate_account(progress)?,
                AccountAction::RolloverKey => {
                    session.rollover_key(progress)?;
                    eprintln!(
                        "account key rolled over; new thumbprint {}",
                        session.account_thumbprint()
                    );
                    return Ok(
                        serde_json::json!({"rolled_over": true, "thumbprint": session.account_thumbprint()}),
                    );
                }
                AccountAction::ListOrders => {
                    let orders = session.list_orders(progress)?;
                    if !cli.json {
                        for order in &orders {
                            println!("{order}");
                        }
                    }
                    return Ok(serde_json::json!({"orders": orders}));
                }
            };
            print_account(&account);
            Ok(serde_json::json!({
                "status": account.status,
                "contact": account.contact,
                "orders_url": account.orders_url,
            }))
        }
        Command::Demo {
            identifier,
            challenge,
            state_dir,
        } => demo(identifier, *challenge, state_dir.clone(), progress),
    }
}

/// Without the `pebble` feature there is no local CA to start.
#[cfg(not(feature = "pebble"))]
fn demo(
    _identifier: &str,
    _challenge: Challenge,
    _state_dir: Option<PathBuf>,
    _progress: &mut dyn FnMut(&str),
) -> Result<serde_json::Value, HostError> {
    Err(HostError::Usage(
        "this acme was built without the `pebble` feature, which the demo needs: \
         cargo install acme-host --features pebble"
            .into(),
    ))
}

#[cfg(feature = "pebble")]
fn demo(
    identifier: &str,
    challenge: Challenge,
    state_dir: Option<PathBuf>,
    progress: &mut dyn FnMut(&str),
) -> Result<serde_json::Value, HostError> {
    if challenge == Challenge::Dns01 {
        return Err(HostError::Usage(
            "the demo answers http-01 or tls-alpn-01".into(),
        ));
    }
    let http_port = free_port()?;
    let tls_port = free_port()?;
    progress("starting a local Pebble CA");
    let pebble = LocalPebble::start(&PebbleOptions {
        env: vec![("PEBBLE_VA_ALWAYS_VALID".into(), "0".into())],
        http01_port: http_port,
        tls_alpn01_port: tls_port,
        ..PebbleOptions::default()
    })?;
    progress(&format!("Pebble is at {}", pebble.directory_url));
    let temp = pebble.dir().join("state");
    let state = state_dir.unwrap_or(temp);
    let mut settings = Settings::new(&pebble.directory_url, &state);
    settings.trust = Trust::Only(pebble.ca_file.clone());
    settings.challenge = challenge.core();
    settings.http01_listen = SocketAddr::from(([127, 0, 0, 1], http_port));
    settings.tls_alpn01_listen = SocketAddr::from(([127, 0, 0, 1], tls_port));
    settings.deadline = Duration::from_secs(120);
    let mut session = Session::open(settings)?;
    let spec = OrderSpec::new([Identifier::parse(identifier)?]);
    let report = session.enrol(&spec, progress)?;
    print_certificate(&report);
    let stats = session.stats();
    eprintln!(
        "{} requests on {} connection(s), {} bytes sent, {} received (HTTP, before TLS)",
        stats.requests, stats.connections, stats.bytes_sent, stats.bytes_received
    );
    Ok(certificate_json(&report))
}

/// Test hook, off unless this variable is set: with
/// `ACME_TEST_KILL_AFTER_REQUEST=k` the tool sends itself SIGKILL once the
/// response to its k-th request has been handled and everything the
/// response changed has been saved. That is just before request k+1 goes
/// out, or, when k is the command's last request, once the command has
/// finished (the certificate saved) and before the process exits; 0 means
/// before the first request, after the keys exist. `tests/tests/kill.rs`
/// uses it to kill an enrolment after every request and check that a rerun
/// finishes it. Not meant for anything but tests.
const TEST_HOOK_KILL_AFTER_REQUEST: &str = "ACME_TEST_KILL_AFTER_REQUEST";

/// Test hook, off unless set: with `ACME_TEST_KILL_BEFORE_CERTIFICATE_SAVE=1`
/// the tool sends itself SIGKILL once the certificate has arrived and just
/// before it is checked and saved. Not meant for anything but tests.
const TEST_HOOK_KILL_BEFORE_CERTIFICATE_SAVE: &str = "ACME_TEST_KILL_BEFORE_CERTIFICATE_SAVE";

/// The state of the [`TEST_HOOK_KILL_AFTER_REQUEST`] test hook.
struct TestKillHook {
    /// Kill after this many requests; `None` (the default) never kills.
    after: Option<u64>,
    /// Requests started so far.
    requests: u64,
    /// Kill as the certificate is about to be saved.
    before_certificate_save: bool,
}

impl TestKillHook {
    /// The hooks asked for, in builds with the `test-hooks` feature; none in
    /// any other build, whatever the environment says.
    fn from_env() -> Self {
        if !cfg!(feature = "test-hooks") {
            return Self {
                after: None,
                requests: 0,
                before_certificate_save: false,
            };
        }
        let after = std::env::var(TEST_HOOK_KILL_AFTER_REQUEST)
            .ok()
            .and_then(|v| v.trim().parse().ok());
        let before_certificate_save =
            std::env::var(TEST_HOOK_KILL_BEFORE_CERTIFICATE_SAVE).is_ok_and(|v| v == "1");
        Self {
            after,
            requests: 0,
            before_certificate_save,
        }
    }

    /// Sees a progress line; the driver prints `Step: METHOD path` just
    /// before sending each request.
    fn progress(&mut self, line: &str) {
        if self.before_certificate_save && line == SAVING_CERTIFICATE {
            kill_self(TEST_HOOK_KILL_BEFORE_CERTIFICATE_SAVE);
        }
        if self.after.is_none() {
            return;
        }
        let is_request = line.split_once(": ").is_some_and(|(step, rest)| {
            !step.contains(' ')
                && ["GET ", "HEAD ", "POST "]
                    .iter()
                    .any(|m| rest.starts_with(m))
        });
        if is_request {
            self.kill_if_due();
            self.requests += 1;
        }
    }

    /// Kills the process when `after` requests have been made.
    fn kill_if_due(&self) {
        if self.after == Some(self.requests) {
            eprintln!(
                "acme: test hook {TEST_HOOK_KILL_AFTER_REQUEST}: SIGKILL after request {}",
                self.requests
            );
            kill_self(TEST_HOOK_KILL_AFTER_REQUEST);
        }
    }
}

/// Sends this process SIGKILL, exactly as an outside kill would deliver
/// it; it does not get past this call.
fn kill_self(hook: &str) -> ! {
    eprintln!("acme: test hook {hook}: SIGKILL");
    let _ = std::process::Command::new("kill")
        .args(["-s", "KILL", &std::process::id().to_string()])
        .status();
    // No `kill` program: die without cleanup anyway.
    std::process::abort();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    let _ = log::set_boxed_logger(Box::new(StderrLogger(level)));
    log::set_max_level(level);
    let mut hook = TestKillHook::from_env();
    let mut progress = |line: &str| {
        hook.progress(line);
        eprintln!("acme: {line}");
    };
    let result = execute(&cli, &mut progress);
    if result.is_ok() {
        hook.kill_if_due();
    }
    match result {
        Ok(value) => {
            if cli.json {
                println!("{}", serde_json::json!({"ok": true, "result": value}));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("acme: {e}");
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.kind(), "message": e.to_string()})
                );
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
