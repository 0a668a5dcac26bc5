//! The adapter's errors and the tool's exit codes.

use std::fmt;

/// What went wrong, grouped the way the exit code reports it: the kind
/// says what to do next.
///
/// ```
/// use acme_host::{HostError, Session, Settings};
///
/// let refused = Session::open(Settings::new("http://ca.example/dir", "/tmp/acme-doc"));
/// match refused {
///     Err(e @ HostError::Usage(_)) => {
///         // Fix the input: here the directory URL must be https://.
///         assert_eq!(e.exit_code(), 2);
///         assert_eq!(e.kind(), "usage");
///     }
///     Err(HostError::Network(_)) => { /* try again later: a rerun resumes */ }
///     Err(HostError::Refused(_)) => { /* the CA said no: read its problem */ }
///     Err(other) => panic!("{other}"),
///     Ok(_) => panic!("an http:// directory must be refused"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HostError {
    /// The command line or configuration is unusable: fix the input. This
    /// includes trust that does not cover the CA's TLS certificate, a port
    /// that cannot be bound and a dns hook that fails.
    Usage(String),
    /// The server refused: the message includes its problem document.
    Refused(String),
    /// The network failed, or the deadline passed: running again resumes.
    Network(String),
    /// A local file problem (state directory, keys).
    Storage(String),
    /// The server's answer failed the client's own checks: malformed HTTP,
    /// JSON or PEM, a URL it may not follow, a response that the protocol
    /// does not allow there, or a certificate that does not match the
    /// request. The core's typed error says which.
    Protocol(acme_core::Error),
    /// A certificate chain the CA issued was refused before anything was
    /// saved: its leaf is not signed by the next certificate, or a
    /// certificate in it does not parse.
    CertificateRefused(String),
    /// Anything else.
    Internal(String),
}

impl HostError {
    /// The process exit code: 2 usage, 3 refused by the server, 4 network,
    /// 5 local storage, 6 other.
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            HostError::Usage(_) => 2,
            HostError::Refused(_) => 3,
            HostError::Network(_) => 4,
            HostError::Storage(_) => 5,
            HostError::Protocol(_) | HostError::CertificateRefused(_) | HostError::Internal(_) => 6,
        }
    }

    /// A short name of the kind, for `--json` output.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Usage(_) => "usage",
            HostError::Refused(_) => "refused",
            HostError::Network(_) => "network",
            HostError::Storage(_) => "storage",
            HostError::Protocol(_) => "protocol",
            HostError::CertificateRefused(_) => "certificate",
            HostError::Internal(_) => "internal",
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Usage(m) => write!(f, "usage: {m}"),
            HostError::Refused(m) => write!(f, "refused by the server: {m}"),
            HostError::Network(m) => write!(f, "network: {m}"),
            HostError::Storage(m) => write!(f, "state: {m}"),
            HostError::Protocol(e) => write!(f, "protocol: {e}"),
            HostError::CertificateRefused(m) => write!(
                f,
                "certificate: the issued chain was refused and nothing was saved: {m}"
            ),
            HostError::Internal(m) => write!(f, "error: {m}"),
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HostError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

/// Storage errors from std I/O, naming the path.
pub(crate) fn storage(path: &std::path::Path, e: impl fmt::Display) -> HostError {
    HostError::Storage(format!("{}: {e}", path.display()))
}
