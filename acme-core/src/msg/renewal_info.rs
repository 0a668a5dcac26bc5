//! ACME Renewal Information (RFC 9773 §4.2).

use serde::Deserialize;

use super::{JsonStr, Message};
use crate::time::{parse_rfc3339, UnixTime};
use crate::Error;

/// The renewalInfo object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RenewalInfo<'a> {
    /// `suggestedWindow`.
    #[serde(borrow, rename = "suggestedWindow")]
    pub suggested_window: SuggestedWindow<'a>,
    /// `explanationURL`.
    #[serde(borrow, rename = "explanationURL")]
    pub explanation_url: Option<JsonStr<'a>>,
}

/// The window in which the server suggests renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SuggestedWindow<'a> {
    /// `start`.
    #[serde(borrow)]
    pub start: JsonStr<'a>,
    /// `end`.
    #[serde(borrow)]
    pub end: JsonStr<'a>,
}

impl SuggestedWindow<'_> {
    /// The window as Unix times, when both ends parse and start ≤ end.
    #[must_use]
    pub fn bounds(&self) -> Option<(UnixTime, UnixTime)> {
        let start = parse_rfc3339(self.start.as_plain()?)?;
        let end = parse_rfc3339(self.end.as_plain()?)?;
        (start <= end).then_some((start, end))
    }
}

impl<'a> Message<'a> for RenewalInfo<'a> {
    fn check_limits(&self) -> Result<(), Error> {
        if self.suggested_window.bounds().is_none() {
            return Err(crate::msg::JsonError::Schema.into());
        }
        Ok(())
    }
}
