//! Problem documents (RFC 7807, RFC 8555 §6.7).

use serde::Deserialize;

use super::{Bounded, IdentifierJson, JsonStr, Message, MAX_SMALL_LIST, MAX_SUBPROBLEMS};
use crate::Error;

/// The ACME error types of RFC 8555 §6.7 a client acts on; others are
/// [`ProblemType::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProblemType {
    /// `badNonce`: retry with the nonce from this response.
    BadNonce,
    /// `rateLimited`.
    RateLimited,
    /// `serverInternal`.
    ServerInternal,
    /// `orderNotReady`.
    OrderNotReady,
    /// `userActionRequired`: see the `instance` URL.
    UserActionRequired,
    /// `unauthorized`.
    Unauthorized,
    /// `rejectedIdentifier`.
    RejectedIdentifier,
    /// `accountDoesNotExist`.
    AccountDoesNotExist,
    /// `externalAccountRequired`.
    ExternalAccountRequired,
    /// `malformed`.
    Malformed,
    /// `alreadyRevoked`.
    AlreadyRevoked,
    /// `badCSR`.
    BadCsr,
    /// `badSignatureAlgorithm`.
    BadSignatureAlgorithm,
    /// `badPublicKey`.
    BadPublicKey,
    /// `badRevocationReason`.
    BadRevocationReason,
    /// `caa`, `dns`, `connection`, `tls`, `incorrectResponse`: validation
    /// failures.
    Validation,
    /// Anything else, including types outside the ACME namespace.
    Other,
}

const ACME_NS: &str = "urn:ietf:params:acme:error:";

impl ProblemType {
    /// Classifies a problem `type` URI.
    #[must_use]
    pub fn from_uri(uri: &str) -> Self {
        let Some(name) = uri.strip_prefix(ACME_NS) else {
            return ProblemType::Other;
        };
        match name {
            "badNonce" => ProblemType::BadNonce,
            "rateLimited" => ProblemType::RateLimited,
            "serverInternal" => ProblemType::ServerInternal,
            "orderNotReady" => ProblemType::OrderNotReady,
            "userActionRequired" => ProblemType::UserActionRequired,
            "unauthorized" => ProblemType::Unauthorized,
            "rejectedIdentifier" => ProblemType::RejectedIdentifier,
            "accountDoesNotExist" => ProblemType::AccountDoesNotExist,
            "externalAccountRequired" => ProblemType::ExternalAccountRequired,
            "malformed" => ProblemType::Malformed,
            "alreadyRevoked" => ProblemType::AlreadyRevoked,
            "badCSR" => ProblemType::BadCsr,
            "badSignatureAlgorithm" => ProblemType::BadSignatureAlgorithm,
            "badPublicKey" => ProblemType::BadPublicKey,
            "badRevocationReason" => ProblemType::BadRevocationReason,
            "caa" | "dns" | "connection" | "tls" | "incorrectResponse" => ProblemType::Validation,
            _ => ProblemType::Other,
        }
    }
}

/// A problem document, keeping at most `SUBPROBLEMS` subproblems and
/// `ALGORITHMS` algorithm names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Problem<
    'a,
    const SUBPROBLEMS: usize = MAX_SUBPROBLEMS,
    const ALGORITHMS: usize = MAX_SMALL_LIST,
> {
    /// `type`.
    #[serde(borrow, rename = "type")]
    pub type_uri: Option<JsonStr<'a>>,
    /// `title`.
    #[serde(borrow)]
    pub title: Option<JsonStr<'a>>,
    /// `detail`.
    #[serde(borrow)]
    pub detail: Option<JsonStr<'a>>,
    /// `status`.
    pub status: Option<u16>,
    /// `instance` (for `userActionRequired`, the page the user must visit).
    #[serde(borrow)]
    pub instance: Option<JsonStr<'a>>,
    /// `subproblems` (RFC 8555 §6.7.1).
    #[serde(borrow, default)]
    pub subproblems: Bounded<Subproblem<'a>, SUBPROBLEMS>,
    /// `algorithms` (for `badSignatureAlgorithm`).
    #[serde(borrow, default)]
    pub algorithms: Bounded<JsonStr<'a>, ALGORITHMS>,
}

/// The `error` of a challenge. A challenge's error is about one identifier,
/// so it keeps one subproblem and no algorithm list (more are skipped, not
/// refused): an authorization with [`super::MAX_CHALLENGES`] challenges
/// then parses in a few hundred bytes of stack instead of kilobytes.
pub type ChallengeProblem<'a> = Problem<'a, 1, 0>;

impl<const SUBPROBLEMS: usize, const ALGORITHMS: usize> Problem<'_, SUBPROBLEMS, ALGORITHMS> {
    /// The classified `type`.
    #[must_use]
    pub fn kind(&self) -> ProblemType {
        match self.type_uri.and_then(|t| t.as_plain()) {
            Some(uri) => ProblemType::from_uri(uri),
            None => ProblemType::Other,
        }
    }
}

/// One subproblem: an error about one identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Subproblem<'a> {
    /// `type`.
    #[serde(borrow, rename = "type")]
    pub type_uri: Option<JsonStr<'a>>,
    /// `detail`.
    #[serde(borrow)]
    pub detail: Option<JsonStr<'a>>,
    /// `identifier`.
    #[serde(borrow)]
    pub identifier: Option<IdentifierJson<'a>>,
}

impl<'a> Message<'a> for Problem<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        self.subproblems.check("MAX_SUBPROBLEMS")?;
        self.algorithms.check("MAX_SMALL_LIST (algorithms)")
    }
}
