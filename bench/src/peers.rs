//! The clients compared, and the commands of their cold enrolment and warm
//! renewal.
//!
//! Every client gets one dns identifier, a P-256 certificate key, no
//! contact address where the client allows it, and http-01 (Pebble runs
//! with `PEBBLE_VA_ALWAYS_VALID=1`, so nothing really validates it, but
//! each client still sets up its usual challenge method).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A client under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Our `acme` tool (release build).
    Ours,
    /// lego (Go), Debian package `lego`.
    Lego,
    /// uacme (C, libcurl + GnuTLS), Debian package `uacme`.
    Uacme,
    /// certbot (Python), Debian package `certbot`.
    Certbot,
}

/// Everything a client's commands need for one run.
pub(crate) struct Context<'a> {
    /// Our `acme` binary.
    pub(crate) acme: &'a Path,
    /// The ACME directory URL (through the relay).
    pub(crate) directory: &'a str,
    /// The PEM file of the root of Pebble's HTTPS certificate.
    pub(crate) ca_file: &'a Path,
    /// The client's own state directory (kept from cold to warm).
    pub(crate) state: &'a Path,
    /// The dns identifier.
    pub(crate) name: &'a str,
    /// A free loopback port for a client's own http-01 responder.
    pub(crate) http_port: u16,
}

impl Peer {
    /// Every peer, ours first.
    pub(crate) const ALL: [Peer; 4] = [Peer::Ours, Peer::Lego, Peer::Uacme, Peer::Certbot];

    /// The column name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::Lego => "lego",
            Peer::Uacme => "uacme",
            Peer::Certbot => "certbot",
        }
    }

    /// The peer named `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The program, or why it is missing.
    pub(crate) fn program(self, acme: &Path) -> Result<PathBuf, String> {
        match self {
            Peer::Ours => {
                if acme.is_file() {
                    Ok(acme.to_path_buf())
                } else {
                    Err(format!(
                        "{} not found: build it with `cargo build --release -p acme-host` (or pass --acme PATH)",
                        acme.display()
                    ))
                }
            }
            Peer::Lego | Peer::Uacme | Peer::Certbot => which(self.name()).ok_or_else(|| {
                format!(
                    "`{0}` is not on PATH: install it with `apt-get install {0}`",
                    self.name()
                )
            }),
        }
    }

    /// The installed version, for the report.
    pub(crate) fn version(self, acme: &Path) -> String {
        match self {
            Peer::Ours => Command::new(acme)
                .arg("--version")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_default(),
            Peer::Lego | Peer::Uacme | Peer::Certbot => debian_version(self.name()),
        }
    }

    /// The commands of a cold enrolment: new account, then a certificate.
    pub(crate) fn cold(self, cx: &Context<'_>) -> Vec<Command> {
        match self {
            Peer::Ours => vec![ours(cx, "enrol")],
            Peer::Lego => {
                let mut c = lego(cx);
                c.arg("run");
                vec![c]
            }
            Peer::Uacme => {
                // uacme creates the account with `new`, then `issue` finds
                // it again (onlyReturnExisting) and orders.
                let mut new = uacme(cx);
                new.args(["--yes", "new"]);
                let mut issue = uacme(cx);
                issue.args(["issue", cx.name]);
                vec![new, issue]
            }
            Peer::Certbot => {
                let mut c = certbot(cx);
                c.args([
                    "certonly",
                    "--agree-tos",
                    "--register-unsafely-without-email",
                    "--server",
                    cx.directory,
                    "--key-type",
                    "ecdsa",
                    "--elliptic-curve",
                    "secp256r1",
                    "--manual",
                    "--preferred-challenges",
                    "http",
                    "--manual-auth-hook",
                    "/bin/true",
                    "--cert-name",
                    "bench",
                    "-d",
                    cx.name,
                ]);
                vec![c]
            }
        }
    }

    /// The commands of a warm renewal: the stored account, a new
    /// certificate whatever the old one's expiry.
    pub(crate) fn warm(self, cx: &Context<'_>) -> Vec<Command> {
        match self {
            Peer::Ours => vec![ours(cx, "renew")],
            Peer::Lego => {
                let mut c = lego(cx);
                c.args(["renew", "--days", "99999", "--no-random-sleep"]);
                vec![c]
            }
            Peer::Uacme => {
                let mut c = uacme(cx);
                c.args(["--force", "issue", cx.name]);
                vec![c]
            }
            Peer::Certbot => {
                let mut c = certbot(cx);
                c.args([
                    "renew",
                    "--force-renewal",
                    "--no-random-sleep-on-renew",
                    "--cert-name",
                    "bench",
                ]);
                vec![c]
            }
        }
    }
}

/// `acme enrol|renew`: the built-in http-01 responder on a free loopback
/// port, trusting Pebble's root alone (`--ca-file --ca-file-only`), as
/// lego and certbot do.
fn ours(cx: &Context<'_>, subcommand: &str) -> Command {
    let mut c = Command::new(cx.acme);
    c.arg(subcommand)
        .arg("--directory")
        .arg(cx.directory)
        .arg("--state-dir")
        .arg(cx.state)
        .arg("--ca-file")
        .arg(cx.ca_file)
        .arg("--ca-file-only")
        .args(["--challenge", "http-01", "--http-listen"])
        .arg(format!("127.0.0.1:{}", cx.http_port))
        .arg("--identifier")
        .arg(format!("dns:{}", cx.name));
    c
}

/// lego's global options: its own http-01 server on a free loopback port,
/// Pebble's root in `LEGO_CA_CERTIFICATES`. lego insists on an e-mail
/// address for the account.
fn lego(cx: &Context<'_>) -> Command {
    let mut c = Command::new("lego");
    c.env("LEGO_CA_CERTIFICATES", cx.ca_file)
        .arg("--server")
        .arg(cx.directory)
        .arg("--path")
        .arg(cx.state)
        .args([
            "--accept-tos",
            "--key-type",
            "ec256",
            "--http",
            "--http.port",
        ])
        .arg(format!("127.0.0.1:{}", cx.http_port))
        .args(["--email", "bench@device.test", "--domains", cx.name]);
    c
}

/// uacme's global options: EC keys, the challenge hook `/bin/true` (accepts
/// the first challenge offered), no OCSP check. Pebble's root reaches it
/// through the system trust directory (see `trust`).
fn uacme(cx: &Context<'_>) -> Command {
    let mut c = Command::new("uacme");
    c.arg("--acme-url")
        .arg(cx.directory)
        .arg("--confdir")
        .arg(cx.state)
        .args([
            "--type",
            "EC",
            "--bits",
            "256",
            "--no-ocsp",
            "--hook",
            "/bin/true",
        ]);
    c
}

/// certbot's common options: its directories under the state directory,
/// Pebble's root in `REQUESTS_CA_BUNDLE`.
fn certbot(cx: &Context<'_>) -> Command {
    let mut c = Command::new("certbot");
    c.env("REQUESTS_CA_BUNDLE", cx.ca_file)
        .arg("--non-interactive")
        .arg("--config-dir")
        .arg(cx.state.join("config"))
        .arg("--work-dir")
        .arg(cx.state.join("work"))
        .arg("--logs-dir")
        .arg(cx.state.join("logs"));
    c
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// The version of an installed Debian package, or "unknown".
pub(crate) fn debian_version(package: &str) -> String {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", package])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
