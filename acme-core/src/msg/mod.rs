//! The ACME objects of RFC 8555 §7.1 (and RFC 9773's renewalInfo), parsed
//! with `serde` + `serde-json-core` straight from the receive buffer.
//!
//! * Strings are borrowed as [`JsonStr`]: the raw JSON text, unescaped only
//!   when copied out (some servers escape `/` as `\/`).
//! * Unknown fields are ignored; unknown statuses and challenge types parse
//!   as `Unknown` variants instead of failing.
//! * Lists are [`Bounded`]: a list longer than its named limit parses, and
//!   [`parse`] then reports [`Error::LimitExceeded`] naming the limit.
//! * Nesting deeper than [`MAX_JSON_DEPTH`] is refused before parsing, so a
//!   hostile body cannot exhaust the stack.

mod account;
mod authorization;
mod directory;
mod order;
mod problem;
mod renewal_info;

use core::fmt;
use core::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json_core::str::{EscapedStr, EscapedStringFragment};

pub use account::{Account, AccountStatus, OrdersPage};
pub use authorization::{
    Authorization, AuthorizationStatus, Challenge, ChallengeStatus, ChallengeType,
};
pub use directory::{Directory, DirectoryMeta, Profiles};
pub use order::{IdentifierJson, IdentifierType, Order, OrderStatus};
pub use problem::{ChallengeProblem, Problem, ProblemType, Subproblem};
pub use renewal_info::{RenewalInfo, SuggestedWindow};

use crate::Error;

/// The deepest JSON nesting accepted in a response.
pub const MAX_JSON_DEPTH: usize = 16;
/// The most authorizations an order may list.
pub const MAX_AUTHORIZATIONS: usize = crate::identifier::MAX_IDENTIFIERS;
/// The most challenges of known types (http-01, dns-01, tls-alpn-01) an
/// authorization may offer; challenges of other types are skipped, not
/// counted: the client could not answer them anyway.
pub const MAX_CHALLENGES: usize = 4;
/// The most subproblems a problem document may carry.
pub const MAX_SUBPROBLEMS: usize = 8;
/// The most entries kept from small string lists (contacts, CAA
/// identities, algorithms, profiles).
pub const MAX_SMALL_LIST: usize = 8;
/// The most order URLs one page of an account's orders list may hold.
pub const MAX_ORDERS_PER_PAGE: usize = 64;

/// Why a JSON body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum JsonError {
    /// Not JSON (e.g. an HTML error page from a proxy).
    Syntax,
    /// The JSON ends early.
    Truncated,
    /// The body is JSON but not an object, or a member has the wrong
    /// type, a required member is missing, or a member appears twice.
    Schema,
    /// Nested deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
    /// A string holds an invalid escape or is not UTF-8.
    InvalidString,
}

impl JsonError {
    /// The kind of a serde-json-core failure. A function rather than a
    /// `From` impl, so that serde-json-core stays out of the public API.
    fn of(e: serde_json_core::de::Error) -> Self {
        use serde_json_core::de::Error as E;
        match e {
            E::EofWhileParsingList
            | E::EofWhileParsingObject
            | E::EofWhileParsingString
            | E::EofWhileParsingNumber
            | E::EofWhileParsingValue => JsonError::Truncated,
            // A value of the wrong kind where a string or enum belongs is
            // reported by serde-json-core as "expected some value".
            E::InvalidType
            | E::ExpectedSomeValue
            | E::CustomError
            | E::AnyIsUnsupported
            | E::BytesIsUnsupported => JsonError::Schema,
            E::InvalidUnicodeCodePoint | E::InvalidEscapeSequence | E::EscapedStringIsTooLong => {
                JsonError::InvalidString
            }
            _ => JsonError::Syntax,
        }
    }
}

impl From<JsonError> for Error {
    fn from(e: JsonError) -> Self {
        Error::Json(e)
    }
}

mod sealed {
    /// Only this crate's message types are [`super::Message`]s.
    pub trait Sealed {}
    impl Sealed for super::account::Account<'_> {}
    impl Sealed for super::account::OrdersPage<'_> {}
    impl Sealed for super::authorization::Authorization<'_> {}
    impl Sealed for super::authorization::Challenge<'_> {}
    impl Sealed for super::directory::Directory<'_> {}
    impl Sealed for super::order::Order<'_> {}
    impl Sealed for super::problem::Problem<'_> {}
    impl Sealed for super::renewal_info::RenewalInfo<'_> {}
}

/// A message that checks its own limits after parsing: the ACME objects of
/// this module, which [`parse`] reads. Sealed.
pub trait Message<'a>: Deserialize<'a> + sealed::Sealed {
    /// [`Error::LimitExceeded`] when a list was longer than its limit.
    ///
    /// # Errors
    /// The first limit exceeded.
    fn check_limits(&self) -> Result<(), Error>;
}

/// Parses one ACME object from a response body.
///
/// ```
/// use acme_core::msg::{self, Directory, JsonError};
/// use acme_core::Error;
///
/// let body = br#"{
///     "newNonce": "https:\/\/acme.example\/new-nonce",
///     "newAccount": "https://acme.example/new-account",
///     "meta": {"externalAccountRequired": true, "profiles": {"tlsserver": "90 days"}}
/// }"#;
/// let directory: Directory<'_> = msg::parse(body)?;
/// let new_nonce = directory.new_nonce.unwrap_or_default();
/// assert!(new_nonce.unescaped_eq("https://acme.example/new-nonce"));
/// assert_eq!(directory.new_order, None); // absent members are `None`
/// let meta = directory.meta.unwrap_or_default();
/// assert!(meta.external_account_required && meta.profiles.contains("tlsserver"));
///
/// let html = msg::parse::<Directory<'_>>(b"<html>502 Bad Gateway</html>");
/// assert_eq!(html, Err(Error::Json(JsonError::Syntax)));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::Json`] for malformed, too deep or mistyped JSON, and
/// [`Error::LimitExceeded`] for over-long lists.
pub fn parse<'a, T: Message<'a>>(body: &'a [u8]) -> Result<T, Error> {
    // Every ACME object is a JSON object. Another JSON value (an array, a
    // string, a number, a literal) has the wrong shape; anything else (an
    // HTML page from a proxy, plain text) is not JSON at all.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(JsonError::Truncated.into()),
        Some(b'{') => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(JsonError::Schema.into())
        }
        Some(_) => return Err(JsonError::Syntax.into()),
    }
    check_depth(body)?;
    let (value, _) = serde_json_core::from_slice::<T>(body).map_err(JsonError::of)?;
    value.check_limits()?;
    Ok(value)
}

/// Refuses nesting deeper than [`MAX_JSON_DEPTH`] with a byte scan that
/// skips strings.
fn check_depth(body: &[u8]) -> Result<(), JsonError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(JsonError::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A JSON string borrowed from the body, still escaped.
///
/// ```
/// use acme_core::msg::{self, Directory};
///
/// // Some servers escape `/` as `\/`.
/// let body = br#"{"newNonce":"https:\/\/acme.example\/nonce"}"#;
/// let directory: Directory<'_> = msg::parse(body)?;
/// let new_nonce = directory.new_nonce.unwrap_or_default();
/// assert_eq!(new_nonce.raw(), r"https:\/\/acme.example\/nonce"); // as sent
/// assert_eq!(new_nonce.as_plain(), None); // it holds escapes
/// let mut url: heapless::String<64> = heapless::String::new();
/// new_nonce.unescape_into(&mut url, "newNonce")?;
/// assert_eq!(url, "https://acme.example/nonce");
/// # Ok::<(), acme_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct JsonStr<'a>(#[serde(borrow)] EscapedStr<'a>);

#[cfg(feature = "defmt")]
impl defmt::Format for JsonStr<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.raw());
    }
}

impl<'a> JsonStr<'a> {
    /// A string with no escapes.
    ///
    /// ```
    /// use acme_core::msg::JsonStr;
    ///
    /// let text = JsonStr::plain("https://acme.example/order/42");
    /// assert_eq!(text.as_plain(), Some("https://acme.example/order/42"));
    /// assert!(text.unescaped_eq("https://acme.example/order/42"));
    /// ```
    #[must_use]
    pub const fn plain(text: &'a str) -> Self {
        JsonStr(EscapedStr(text))
    }

    /// The raw JSON text between the quotes (escapes not processed).
    #[must_use]
    pub fn raw(&self) -> &'a str {
        self.0 .0
    }

    /// The text, when it holds no escapes.
    #[must_use]
    pub fn as_plain(&self) -> Option<&'a str> {
        (!self.raw().contains('\\')).then_some(self.raw())
    }

    /// Calls `f` with each unescaped piece of the string.
    ///
    /// # Errors
    /// [`JsonError::InvalidString`] for an invalid escape.
    pub fn for_each_piece(&self, mut f: impl FnMut(&str)) -> Result<(), Error> {
        for fragment in self.0.fragments() {
            match fragment.map_err(|_| JsonError::InvalidString)? {
                EscapedStringFragment::NotEscaped(s) => f(s),
                EscapedStringFragment::Escaped(c) => f(c.encode_utf8(&mut [0u8; 4])),
            }
        }
        Ok(())
    }

    /// Copies the unescaped string into `out` (replacing its contents).
    ///
    /// # Errors
    /// [`JsonError::InvalidString`], or [`Error::LimitExceeded`] naming
    /// `limit` when it does not fit.
    ///
    /// ```
    /// use acme_core::msg::JsonStr;
    /// use acme_core::Error;
    ///
    /// let url = JsonStr::plain("https://acme.example/order/42");
    /// let mut short: heapless::String<16> = heapless::String::new();
    /// let too_long = url.unescape_into(&mut short, "ORDER_URL_LEN");
    /// assert_eq!(too_long, Err(Error::LimitExceeded { limit: "ORDER_URL_LEN", max: 16 }));
    /// ```
    pub fn unescape_into<const N: usize>(
        &self,
        out: &mut heapless::String<N>,
        limit: &'static str,
    ) -> Result<(), Error> {
        out.clear();
        let mut full = false;
        self.for_each_piece(|piece| {
            if !full && out.push_str(piece).is_err() {
                full = true;
            }
        })?;
        if full {
            return Err(Error::LimitExceeded { limit, max: N });
        }
        Ok(())
    }

    /// True when the unescaped string equals `other`.
    #[must_use]
    pub fn unescaped_eq(&self, other: &str) -> bool {
        let mut rest = other;
        let mut equal = true;
        let ok = self.for_each_piece(|piece| {
            if equal {
                match rest.strip_prefix(piece) {
                    Some(r) => rest = r,
                    None => equal = false,
                }
            }
        });
        ok.is_ok() && equal && rest.is_empty()
    }
}

/// A list parsed into at most `N` entries; longer lists set
/// [`Bounded::overflowed`] instead of failing mid-parse.
///
/// ```
/// use acme_core::msg::{self, Directory};
///
/// let body = br#"{"meta":{"caaIdentities":["acme.example","ca.example"]}}"#;
/// let directory: Directory<'_> = msg::parse(body)?;
/// let caa = directory.meta.unwrap_or_default().caa_identities;
/// assert_eq!(caa.as_slice().len(), 2);
/// assert!(caa.as_slice()[0].unescaped_eq("acme.example"));
/// assert!(!caa.overflowed());
/// # Ok::<(), acme_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounded<T, const N: usize> {
    items: heapless::Vec<T, N>,
    overflowed: bool,
}

impl<T, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Self {
            items: heapless::Vec::new(),
            overflowed: false,
        }
    }
}

impl<T, const N: usize> Bounded<T, N> {
    /// The entries kept.
    #[must_use]
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// True when the list had more than `N` entries.
    #[must_use]
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// [`Error::LimitExceeded`] naming `limit` when the list overflowed.
    ///
    /// # Errors
    /// As described.
    pub(crate) fn check(&self, limit: &'static str) -> Result<(), Error> {
        if self.overflowed {
            Err(Error::LimitExceeded { limit, max: N })
        } else {
            Ok(())
        }
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Bounded<T, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::deserialize_keeping(deserializer, None)
    }
}

impl<T, const N: usize> Bounded<T, N> {
    /// Deserializes the list. With `keep`, items it refuses are parsed and
    /// then neither stored nor counted against the limit (an authorization
    /// keeps only the challenges of types the client knows). Without it,
    /// items past the limit are skipped unparsed and mark the list
    /// overflowed.
    pub(crate) fn deserialize_keeping<'de, D: Deserializer<'de>>(
        deserializer: D,
        keep: Option<fn(&T) -> bool>,
    ) -> Result<Self, D::Error>
    where
        T: Deserialize<'de>,
    {
        struct BoundedVisitor<T, const N: usize>(Option<fn(&T) -> bool>);

        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for BoundedVisitor<T, N> {
            type Value = Bounded<T, N>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Bounded::default();
                loop {
                    if self.0.is_none() && out.items.is_full() {
                        if seq.next_element::<IgnoredAny>()?.is_none() {
                            break;
                        }
                        out.overflowed = true;
                        continue;
                    }
                    let Some(item) = seq.next_element::<T>()? else {
                        break;
                    };
                    if self.0.is_some_and(|keep| !keep(&item)) {
                        continue;
                    }
                    if out.items.push(item).is_err() {
                        out.overflowed = true;
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_seq(BoundedVisitor::<T, N>(keep))
    }
}

/// A map from names to descriptions (the directory's `meta.profiles`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedEntries<'a, const N: usize> {
    entries: heapless::Vec<(JsonStr<'a>, JsonStr<'a>), N>,
    overflowed: bool,
}

impl<'a, const N: usize> NamedEntries<'a, N> {
    /// The (name, description) pairs kept.
    #[must_use]
    pub fn as_slice(&self) -> &[(JsonStr<'a>, JsonStr<'a>)] {
        &self.entries
    }

    /// True when `name` is one of the entries.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n.unescaped_eq(name))
    }

    /// [`Error::LimitExceeded`] naming `limit` when the map overflowed.
    ///
    /// # Errors
    /// As described.
    pub(crate) fn check(&self, limit: &'static str) -> Result<(), Error> {
        if self.overflowed {
            Err(Error::LimitExceeded { limit, max: N })
        } else {
            Ok(())
        }
    }
}

impl<'de: 'a, 'a, const N: usize> Deserialize<'de> for NamedEntries<'a, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<'a, const N: usize>(PhantomData<&'a ()>);

        impl<'de: 'a, 'a, const N: usize> Visitor<'de> for MapVisitor<'a, N> {
            type Value = NamedEntries<'a, N>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = NamedEntries {
                    entries: heapless::Vec::new(),
                    overflowed: false,
                };
                // Keys are read as plain `&str`: the JSON library's key
                // deserializer supports nothing else.
                while let Some(name) = map.next_key::<&'de str>()? {
                    let value = map.next_value::<JsonStr<'de>>()?;
                    if out.entries.push((JsonStr::plain(name), value)).is_err() {
                        out.overflowed = true;
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_map(MapVisitor::<N>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_skips_strings() {
        assert_eq!(
            check_depth(br#"{"a":"[[[[[[[[[[[[[[[[[[[[[[\"[["}"#),
            Ok(())
        );
        let deep = [b'['; MAX_JSON_DEPTH + 1];
        assert_eq!(check_depth(&deep), Err(JsonError::TooDeep));
        let ok = [b'['; MAX_JSON_DEPTH];
        assert_eq!(check_depth(&ok), Ok(()));
    }

    #[test]
    fn escaped_strings_unescape() {
        let s = JsonStr(EscapedStr(r"https:\/\/ca.example\/a\u0026b"));
        let mut out: heapless::String<64> = heapless::String::new();
        s.unescape_into(&mut out, "X").unwrap();
        assert_eq!(out.as_str(), "https://ca.example/a&b");
        assert!(s.unescaped_eq("https://ca.example/a&b"));
        assert!(!s.unescaped_eq("https://ca.example/a&bc"));
        assert!(!s.unescaped_eq("https://ca.example/a&"));
        assert_eq!(s.as_plain(), None);
        let mut small: heapless::String<4> = heapless::String::new();
        assert_eq!(
            s.unescape_into(&mut small, "SMALL"),
            Err(Error::LimitExceeded {
                limit: "SMALL",
                max: 4
            })
        );
        let bad = JsonStr(EscapedStr(r"\x"));
        assert_eq!(
            bad.unescape_into(&mut out, "X"),
            Err(Error::Json(JsonError::InvalidString))
        );
    }
}
