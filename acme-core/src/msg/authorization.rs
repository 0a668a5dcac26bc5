//! Authorizations and challenges (RFC 8555 §7.1.4, §8).

use serde::Deserialize;

use super::{Bounded, ChallengeProblem, IdentifierJson, JsonStr, Message, MAX_CHALLENGES};
use crate::Error;

/// An authorization's status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationStatus {
    /// Waiting for a challenge.
    Pending,
    /// Validated.
    Valid,
    /// Failed.
    Invalid,
    /// Deactivated by the client.
    Deactivated,
    /// Expired.
    Expired,
    /// Revoked by the server.
    Revoked,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// A challenge's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "lowercase")]
pub enum ChallengeStatus {
    /// Not yet attempted.
    Pending,
    /// Being validated.
    Processing,
    /// Validated.
    Valid,
    /// Failed.
    Invalid,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// A challenge type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChallengeType {
    /// `http-01` (RFC 8555 §8.3).
    #[serde(rename = "http-01")]
    Http01,
    /// `dns-01` (RFC 8555 §8.4).
    #[serde(rename = "dns-01")]
    Dns01,
    /// `tls-alpn-01` (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// Any other type (e.g. `device-attest-01`): kept, never chosen.
    #[serde(other)]
    Unknown,
}

impl ChallengeType {
    /// The type's name on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ChallengeType::Http01 => "http-01",
            ChallengeType::Dns01 => "dns-01",
            ChallengeType::TlsAlpn01 => "tls-alpn-01",
            ChallengeType::Unknown => "unknown",
        }
    }
}

/// A challenge object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Challenge<'a> {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: ChallengeType,
    /// `url`.
    #[serde(borrow)]
    pub url: JsonStr<'a>,
    /// `status`.
    pub status: ChallengeStatus,
    /// `token` (absent for unknown types).
    #[serde(borrow)]
    pub token: Option<JsonStr<'a>>,
    /// `validated`.
    #[serde(borrow)]
    pub validated: Option<JsonStr<'a>>,
    /// `error`.
    #[serde(borrow)]
    pub error: Option<ChallengeProblem<'a>>,
}

/// An authorization object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Authorization<'a> {
    /// `identifier`.
    #[serde(borrow)]
    pub identifier: IdentifierJson<'a>,
    /// `status`.
    pub status: AuthorizationStatus,
    /// `expires`.
    #[serde(borrow)]
    pub expires: Option<JsonStr<'a>>,
    /// `challenges`: those of the types the client knows (others are
    /// skipped), at most [`MAX_CHALLENGES`].
    #[serde(borrow, default, deserialize_with = "known_challenges")]
    pub challenges: Bounded<Challenge<'a>, MAX_CHALLENGES>,
    /// `wildcard`.
    #[serde(default)]
    pub wildcard: bool,
}

/// The challenges of the types the client knows: one of an unknown type
/// can never be answered, and keeping none of them halves an
/// authorization's size on the stack.
fn known_challenges<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Bounded<Challenge<'de>, MAX_CHALLENGES>, D::Error> {
    Bounded::deserialize_keeping(
        deserializer,
        Some(|c: &Challenge<'_>| c.kind != ChallengeType::Unknown),
    )
}

impl<'a> Message<'a> for Authorization<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        // A challenge's error is informational: its lists are cut, not
        // refused (see ChallengeProblem).
        self.challenges.check("MAX_CHALLENGES")
    }
}

impl<'a> Message<'a> for Challenge<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        Ok(())
    }
}
