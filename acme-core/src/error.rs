//! The typed errors of `acme-core`.
//!
//! Every error is a small `Copy` value: no allocation, no borrowed input, so
//! it can be stored, logged or sent across tasks freely.

use core::fmt;

use crate::client::{CertificateRejection, ProtocolError, ServerError, SnapshotError};
use crate::http::{HttpError, UrlError};
use crate::msg::{JsonError, ProblemType};

/// Everything that can go wrong in `acme-core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The caller's output buffer is too small: `required` bytes are needed.
    BufferTooSmall {
        /// The exact number of bytes the operation needs.
        required: usize,
    },
    /// Private or public key material could not be loaded.
    Key(KeyError),
    /// A base64url string was malformed.
    Base64(Base64Error),
    /// An External Account Binding MAC key was malformed.
    EabKey(EabKeyError),
    /// An identifier (dns name or IP address) was not acceptable.
    Identifier(IdentifierError),
    /// A certificate could not be parsed or lacks what was asked of it.
    Certificate(CertificateError),
    /// A PEM body was malformed.
    Pem(PemError),
    /// The signer (software key, secure element or HSM) failed to sign.
    Signer,
    /// A challenge token is empty or holds characters outside base64url
    /// (RFC 8555 §8.1); it is refused so it can never reach a file path or
    /// URL unchecked.
    InvalidChallengeToken,
    /// The server refused a request (its problem document is kept by the
    /// client).
    Server(crate::client::ServerError),
    /// The exchange broke the protocol, or a bound was reached.
    Protocol(crate::client::ProtocolError),
    /// The issued certificate does not match the request; nothing should
    /// be saved.
    CertificateRejected(crate::client::CertificateRejection),
    /// A snapshot could not be restored.
    Snapshot(crate::client::SnapshotError),
    /// A JSON body was malformed.
    Json(crate::msg::JsonError),
    /// An HTTP response was malformed or too large.
    Http(crate::http::HttpError),
    /// A URL was refused.
    Url(crate::http::UrlError),
    /// A time cannot be expressed in X.509 (after the year 9999).
    TimeOutOfRange,
    /// A value does not fit the limit named by the constant `limit`.
    LimitExceeded {
        /// The name of the limit that was exceeded, e.g. `"MAX_TOKEN_LEN"`.
        limit: &'static str,
        /// The limit's value.
        max: usize,
    },
}

/// Why key material was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KeyError {
    /// A raw scalar was not 32 bytes long.
    ScalarLength {
        /// The length that was given.
        actual: usize,
    },
    /// A raw scalar was zero or not below the P-256 group order.
    ScalarOutOfRange,
    /// The bytes are not a SEC1 `ECPrivateKey` for P-256.
    MalformedSec1,
    /// The bytes are not a PKCS#8 `PrivateKeyInfo` holding a P-256 key.
    MalformedPkcs8,
    /// The bytes are neither PKCS#8 nor SEC1 DER.
    UnrecognizedFormat,
    /// A public key is not a valid P-256 point.
    MalformedPublicKey,
}

/// Why a base64url string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Base64Error {
    /// A character outside the base64url alphabet, at byte offset `position`.
    InvalidCharacter {
        /// Byte offset of the first offending character.
        position: usize,
    },
    /// The length cannot be base64 (one character too many), or the last
    /// character carries non-zero padding bits.
    InvalidLength,
}

/// Why an External Account Binding MAC key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EabKeyError {
    /// The key string is empty.
    Empty,
    /// The key is not base64url: the character at `position` is not in the
    /// alphabet (standard base64 `+` and `/` are refused on purpose).
    InvalidCharacter {
        /// Byte offset of the first offending character.
        position: usize,
    },
    /// The key has an impossible base64 length or misplaced `=` padding.
    InvalidLength,
    /// The decoded key is longer than [`crate::eab::MAX_EAB_KEY_LEN`] bytes.
    TooLong,
}

/// Why an identifier was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IdentifierError {
    /// No identifier was given where at least one is needed.
    None,
    /// More identifiers than [`crate::identifier::MAX_IDENTIFIERS`].
    TooMany,
    /// A dns name is empty, longer than 253 bytes, or has an empty or
    /// over-long (more than 63 bytes) label.
    DnsNameLength,
    /// A dns name holds a character outside letters, digits, `-` and `.`,
    /// or a `*` anywhere but a leading `*.` label.
    DnsNameCharacter,
    /// A label of a dns name starts or ends with `-` (RFC 1123 §2.1).
    DnsNameHyphen,
    /// A dns name is needed and the identifier is an IP address (dns-01
    /// validates names only, RFC 8738 §7).
    NotDnsName,
    /// An IP address was given as a certificate common name.
    IpAddressAsCommonName,
    /// The common name is not one of the requested dns identifiers.
    CommonNameNotRequested,
}

/// Why a certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CertificateError {
    /// The DER is malformed at byte offset `position`.
    MalformedDer {
        /// Byte offset where decoding failed.
        position: usize,
    },
    /// A field holds a value X.509 does not allow (e.g. a bad time).
    InvalidValue,
    /// The certificate has no AuthorityKeyIdentifier with a keyIdentifier,
    /// which an ARI CertID needs.
    MissingAuthorityKeyId,
    /// The certificate has no subjectAltName extension.
    MissingSubjectAltName,
}

/// Why a PEM body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PemError {
    /// The body holds no PEM block at all.
    Empty,
    /// A block's boundaries or base64 are malformed.
    Malformed,
    /// A block is labelled something other than `CERTIFICATE`.
    NotACertificate,
    /// Non-whitespace text between or after the blocks.
    UnexpectedText,
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}
impl From<Base64Error> for Error {
    fn from(e: Base64Error) -> Self {
        Error::Base64(e)
    }
}
impl From<EabKeyError> for Error {
    fn from(e: EabKeyError) -> Self {
        Error::EabKey(e)
    }
}
impl From<IdentifierError> for Error {
    fn from(e: IdentifierError) -> Self {
        Error::Identifier(e)
    }
}
impl From<CertificateError> for Error {
    fn from(e: CertificateError) -> Self {
        Error::Certificate(e)
    }
}
impl From<PemError> for Error {
    fn from(e: PemError) -> Self {
        Error::Pem(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BufferTooSmall { required } => write!(
                f,
                "output buffer too small: {required} bytes are needed; lend a larger buffer"
            ),
            Error::Key(e) => write!(f, "key refused: {e}"),
            Error::Base64(e) => write!(f, "base64url refused: {e}"),
            Error::EabKey(e) => write!(f, "EAB MAC key refused: {e}"),
            Error::Identifier(e) => write!(f, "identifier refused: {e}"),
            Error::Certificate(e) => write!(f, "certificate refused: {e}"),
            Error::Pem(e) => write!(f, "PEM refused: {e}"),
            Error::Signer => f.write_str("the signer failed to produce a signature"),
            Error::Server(e) => write!(f, "{e}"),
            Error::Protocol(e) => write!(f, "protocol failure: {e}"),
            Error::CertificateRejected(e) => write!(
                f,
                "the issued certificate was refused and nothing was saved: {e}"
            ),
            Error::Snapshot(e) => write!(f, "snapshot not restored: {e}"),
            Error::Json(e) => write!(f, "JSON body refused: {e}"),
            Error::Http(e) => write!(f, "HTTP response refused: {e}"),
            Error::Url(e) => write!(f, "URL refused: {e}"),
            Error::TimeOutOfRange => f.write_str("time is past the year 9999"),
            Error::InvalidChallengeToken => {
                f.write_str("challenge token is empty or not base64url")
            }
            Error::LimitExceeded { limit, max } => {
                write!(f, "value longer than {limit} ({max} bytes)")
            }
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::ScalarLength { actual } => {
                write!(f, "a raw P-256 scalar is 32 bytes, got {actual}")
            }
            KeyError::ScalarOutOfRange => {
                f.write_str("the scalar is zero or not below the P-256 order")
            }
            KeyError::MalformedSec1 => f.write_str("not a SEC1 ECPrivateKey for P-256"),
            KeyError::MalformedPkcs8 => f.write_str("not a PKCS#8 PrivateKeyInfo for P-256"),
            KeyError::UnrecognizedFormat => {
                f.write_str("neither PKCS#8 nor SEC1 DER; convert the key to one of them")
            }
            KeyError::MalformedPublicKey => f.write_str("not a valid P-256 public point"),
        }
    }
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::InvalidCharacter { position } => {
                write!(f, "character at offset {position} is not base64url")
            }
            Base64Error::InvalidLength => {
                f.write_str("impossible base64url length or padding bits")
            }
        }
    }
}

impl fmt::Display for EabKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EabKeyError::Empty => f.write_str("the key is empty"),
            EabKeyError::InvalidCharacter { position } => write!(
                f,
                "character at offset {position} is not base64url (A-Z a-z 0-9 - _, optional = padding)"
            ),
            EabKeyError::InvalidLength => {
                f.write_str("impossible base64url length or misplaced '=' padding")
            }
            EabKeyError::TooLong => write!(
                f,
                "the decoded key is longer than {} bytes",
                crate::eab::MAX_EAB_KEY_LEN
            ),
        }
    }
}

impl fmt::Display for IdentifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentifierError::None => "at least one identifier is needed",
            IdentifierError::TooMany => "more identifiers than MAX_IDENTIFIERS",
            IdentifierError::DnsNameLength => "dns name or one of its labels has a bad length",
            IdentifierError::DnsNameCharacter => "dns name holds a character not allowed there",
            IdentifierError::DnsNameHyphen => "a label of the dns name starts or ends with '-'",
            IdentifierError::NotDnsName => "an IP address where a dns name is needed",
            IdentifierError::IpAddressAsCommonName => "an IP address cannot be the common name",
            IdentifierError::CommonNameNotRequested => {
                "the common name must be one of the requested dns identifiers"
            }
        })
    }
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateError::MalformedDer { position } => {
                write!(f, "malformed DER at offset {position}")
            }
            CertificateError::InvalidValue => f.write_str("a field holds a value X.509 forbids"),
            CertificateError::MissingAuthorityKeyId => {
                f.write_str("no AuthorityKeyIdentifier keyIdentifier (needed for ARI)")
            }
            CertificateError::MissingSubjectAltName => f.write_str("no subjectAltName extension"),
        }
    }
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemError::Empty => "no PEM block found",
            PemError::Malformed => "malformed PEM block",
            PemError::NotACertificate => "a PEM block is not labelled CERTIFICATE",
            PemError::UnexpectedText => "unexpected text between PEM blocks",
        })
    }
}

impl core::error::Error for Error {}
impl core::error::Error for KeyError {}
impl core::error::Error for Base64Error {}
impl core::error::Error for EabKeyError {}
impl core::error::Error for IdentifierError {}
impl core::error::Error for CertificateError {}
impl core::error::Error for PemError {}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(kind) => write!(
                f,
                "the server refused the request (HTTP {}): {kind}; its problem document says more",
                self.status
            ),
            None => write!(
                f,
                "the server answered HTTP {} without a problem document (a proxy or an outage?)",
                self.status
            ),
        }
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemType::BadNonce => "badNonce: the nonce was stale or reused",
            ProblemType::RateLimited => "rateLimited: wait before asking again",
            ProblemType::ServerInternal => "serverInternal: the CA failed; try again later",
            ProblemType::OrderNotReady => "orderNotReady: finalized before authorizations were valid",
            ProblemType::UserActionRequired => {
                "userActionRequired: a person must act at the problem's instance URL (e.g. new terms of service)"
            }
            ProblemType::Unauthorized => "unauthorized: the account may not do this",
            ProblemType::RejectedIdentifier => "rejectedIdentifier: the CA will not issue for an identifier",
            ProblemType::AccountDoesNotExist => "accountDoesNotExist: no account for this key",
            ProblemType::ExternalAccountRequired => {
                "externalAccountRequired: configure External Account Binding (key id and MAC key)"
            }
            ProblemType::Malformed => "malformed: the CA could not parse the request",
            ProblemType::AlreadyRevoked => "alreadyRevoked",
            ProblemType::BadCsr => "badCSR: the CA refused the certificate request",
            ProblemType::BadSignatureAlgorithm => "badSignatureAlgorithm: the CA does not take ES256",
            ProblemType::BadPublicKey => "badPublicKey: the CA refused the key",
            ProblemType::BadRevocationReason => "badRevocationReason",
            ProblemType::Validation => "validation failed: the CA could not verify the challenge",
            ProblemType::Other => "a problem type this client does not classify",
        })
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnexpectedResponse => {
                f.write_str("a response was handled with no request outstanding (a driver bug)")
            }
            ProtocolError::UnexpectedStatus { status } => {
                write!(f, "HTTP {status} is not an answer the protocol allows here")
            }
            ProtocolError::MissingDirectoryEntry { name } => write!(
                f,
                "the directory has no \"{name}\" resource; this CA does not offer the operation"
            ),
            ProtocolError::MissingLocation => {
                f.write_str("the server created a resource without a Location header")
            }
            ProtocolError::MissingField { name } => {
                write!(f, "the server's object lacks \"{name}\"")
            }
            ProtocolError::MalformedField { name } => {
                write!(f, "the server's \"{name}\" has an unusable value")
            }
            ProtocolError::NoNonce => f.write_str("the server gave no Replay-Nonce, even after retries"),
            ProtocolError::ExternalAccountRequired => f.write_str(
                "the CA requires External Account Binding: configure its key id and MAC key",
            ),
            ProtocolError::AccountNotValid => {
                f.write_str("the account is deactivated or revoked: register a new account key")
            }
            ProtocolError::UnexpectedObjectStatus => {
                f.write_str("the server's object is in a status this step cannot continue from")
            }
            ProtocolError::NoAccount => {
                f.write_str("this goal needs an account: enrol once, or restore a snapshot")
            }
            ProtocolError::NoDeviceKey => f.write_str("this goal needs the device key: give it with with_device_key"),
            ProtocolError::ForeignHost => f.write_str(
                "the server sent a URL on a host other than the directory's; allow that host in the configuration if it is expected",
            ),
            ProtocolError::UnexpectedAuthorization => {
                f.write_str("the order holds an authorization for an identifier that was not requested")
            }
            ProtocolError::NoSupportedChallenge { id } => write!(
                f,
                "authorization {} offers no challenge type in the preference list",
                id.0
            ),
            ProtocolError::ChallengeInvalid { id } => write!(
                f,
                "the challenge of authorization {} failed; the problem document says why",
                id.0
            ),
            ProtocolError::AuthorizationInvalid { id } => write!(
                f,
                "authorization {} is invalid, expired, deactivated or revoked",
                id.0
            ),
            ProtocolError::OrderInvalid => {
                f.write_str("the order is invalid; the problem document and its subproblems say why")
            }
            ProtocolError::PollLimit => f.write_str(
                "the order did not become ready or valid within the poll limit (RetryPolicy::max_polls)",
            ),
            ProtocolError::RetriesExhausted => {
                f.write_str("a request failed more often than the retry policy allows")
            }
            ProtocolError::NoSuchAlternate => f.write_str("no alternate chain has that index"),
        }
    }
}

impl fmt::Display for CertificateRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateRejection::KeyMismatch => "its public key is not the CSR's",
            CertificateRejection::IdentifierMismatch => {
                "its subjectAltNames are not exactly the requested identifiers"
            }
            CertificateRejection::NotYetValid => {
                "its validity starts in the future (or the device clock is behind)"
            }
            CertificateRejection::Expired => {
                "its validity has ended (or the device clock is ahead)"
            }
            CertificateRejection::NotIssuedByNext => {
                "it is not validly signed by the next certificate of the chain"
            }
            CertificateRejection::IssuerUnverifiable => {
                "its issuer's signature cannot be checked: no next certificate, or a kind this build does not verify (ECDSA P-256, RSA with SHA-256; P-384 with the p384 feature)"
            }
        })
    }
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Corrupt => {
                f.write_str("not a snapshot, cut short, or its checksum does not match; start afresh")
            }
            SnapshotError::Version { found } => write!(
                f,
                "written by snapshot format version {found}, which this build does not read; start afresh"
            ),
            SnapshotError::OtherDirectory => {
                f.write_str("written for another directory URL; start afresh for this CA")
            }
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonError::Syntax => "not JSON (an HTML error page from a proxy?)",
            JsonError::Truncated => "the JSON ends early",
            JsonError::Schema => {
                "the JSON has the wrong shape: not an object, or a member of the wrong type, missing, or twice"
            }
            JsonError::TooDeep => "nested deeper than MAX_JSON_DEPTH",
            JsonError::InvalidString => "a string holds an invalid escape or is not UTF-8",
        })
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::MalformedHead => f.write_str("the response head is not HTTP/1.1"),
            HttpError::TooManyHeaders => f.write_str("more header fields than MAX_RESPONSE_HEADERS"),
            HttpError::InvalidContentLength => {
                f.write_str("Content-Length is not a number, or two disagree")
            }
            HttpError::UnsupportedTransferEncoding => {
                f.write_str("a Transfer-Encoding other than chunked")
            }
            HttpError::MalformedChunk => f.write_str("a malformed chunk in a chunked body"),
            HttpError::BodyTooLarge { length } => write!(
                f,
                "the body ({length} bytes or more) does not fit the receive buffer; lend a larger one"
            ),
            HttpError::Truncated => {
                f.write_str("the server closed the connection before the response was complete")
            }
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::NotHttps => "only https:// URLs are used",
            UrlError::Malformed => "malformed host, port or characters",
            UrlError::HasUserinfo => "user@host URLs are refused",
        })
    }
}

impl core::error::Error for ServerError {}
impl core::error::Error for ProtocolError {}
impl core::error::Error for CertificateRejection {}
impl core::error::Error for SnapshotError {}
impl core::error::Error for JsonError {}
impl core::error::Error for HttpError {}
impl core::error::Error for UrlError {}
