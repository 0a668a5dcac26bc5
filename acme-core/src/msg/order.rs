//! Orders (RFC 8555 §7.1.3).

use serde::Deserialize;

use super::{Bounded, JsonStr, Message, Problem, MAX_AUTHORIZATIONS};
use crate::identifier::MAX_IDENTIFIERS;
use crate::Error;

/// An order's status (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Authorizations are not all valid yet.
    Pending,
    /// Ready to finalize.
    Ready,
    /// The certificate is being issued.
    Processing,
    /// The certificate is issued.
    Valid,
    /// The order failed.
    Invalid,
    /// A status this client does not know.
    #[serde(other)]
    Unknown,
}

/// The type of an identifier in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(rename_all = "lowercase")]
pub enum IdentifierType {
    /// `dns`.
    Dns,
    /// `ip` (RFC 8738).
    Ip,
    /// Anything else.
    #[serde(other)]
    Unknown,
}

/// `{"type": …, "value": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IdentifierJson<'a> {
    /// `type`.
    #[serde(rename = "type")]
    pub kind: IdentifierType,
    /// `value`.
    #[serde(borrow)]
    pub value: JsonStr<'a>,
}

/// An order object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order<'a> {
    /// `status`.
    pub status: OrderStatus,
    /// `expires`.
    #[serde(borrow)]
    pub expires: Option<JsonStr<'a>>,
    /// `identifiers`.
    #[serde(borrow, default)]
    pub identifiers: Bounded<IdentifierJson<'a>, MAX_IDENTIFIERS>,
    /// `notBefore`.
    #[serde(borrow)]
    pub not_before: Option<JsonStr<'a>>,
    /// `notAfter`.
    #[serde(borrow)]
    pub not_after: Option<JsonStr<'a>>,
    /// `error`.
    #[serde(borrow)]
    pub error: Option<Problem<'a>>,
    /// `authorizations`.
    #[serde(borrow, default)]
    pub authorizations: Bounded<JsonStr<'a>, MAX_AUTHORIZATIONS>,
    /// `finalize`.
    #[serde(borrow)]
    pub finalize: Option<JsonStr<'a>>,
    /// `certificate`.
    #[serde(borrow)]
    pub certificate: Option<JsonStr<'a>>,
    /// `replaces` (RFC 9773 §5).
    #[serde(borrow)]
    pub replaces: Option<JsonStr<'a>>,
    /// `profile`.
    #[serde(borrow)]
    pub profile: Option<JsonStr<'a>>,
}

impl<'a> Message<'a> for Order<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        self.identifiers.check("MAX_IDENTIFIERS")?;
        self.authorizations.check("MAX_AUTHORIZATIONS")?;
        if let Some(error) = &self.error {
            error.check_limits()?;
        }
        Ok(())
    }
}
