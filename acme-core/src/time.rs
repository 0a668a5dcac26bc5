//! Time as `acme-core` sees it: given, never read.
//!
//! * [`Instant`] is the caller's monotonic clock in milliseconds; every
//!   `handle_*`/`poll_*` call takes one. Deadlines are returned in it.
//! * [`UnixTime`] is wall-clock seconds since 1970, for the few places the
//!   protocol speaks dates: Retry-After as an HTTP-date, order and ARI
//!   timestamps, certificate validity. A device without a real-time clock
//!   can still convert an HTTP-date Retry-After by subtracting the
//!   response's own `Date` header.

use der::DateTime;

/// A point on the caller's monotonic clock, in milliseconds.
///
/// ```
/// use acme_core::time::Instant;
///
/// let sent = Instant(1_000);
/// let deadline = sent.plus_millis(30_000);
/// assert_eq!(deadline, Instant(31_000));
/// assert_eq!(deadline.millis_since(sent), 30_000);
/// assert_eq!(sent.millis_since(deadline), 0); // never negative
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(pub u64);

impl Instant {
    /// The instant `ms` milliseconds later (saturating).
    #[must_use]
    pub const fn plus_millis(self, ms: u64) -> Self {
        Instant(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (zero if `earlier` is later).
    #[must_use]
    pub const fn millis_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Wall-clock time in seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UnixTime(pub u64);

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn to_unix(year: u32, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<UnixTime> {
    // A leap second (60) counts as second 59 of its minute.
    let s = s.min(59);
    let dt = DateTime::new(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(s).ok()?,
    )
    .ok()?;
    Some(UnixTime(dt.unix_duration().as_secs()))
}

/// Parses an RFC 3339 timestamp as ACME uses it, e.g.
/// `2025-01-02T03:04:05Z`, `2025-01-02T03:04:05.123456789Z` or
/// `2025-01-02T03:04:05+02:00`. Fractions are dropped.
///
/// ```
/// use acme_core::time::{parse_rfc3339, UnixTime};
///
/// let new_year = Some(UnixTime(1_767_225_600));
/// assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), new_year);
/// assert_eq!(parse_rfc3339("2026-01-01T00:00:00.123456789Z"), new_year);
/// assert_eq!(parse_rfc3339("2026-01-01T02:00:00+02:00"), new_year);
/// assert_eq!(parse_rfc3339("2026-01-01T00:00:00"), None); // no time zone
/// assert_eq!(parse_rfc3339("2026-01-01T00:00:00+99:99"), None); // no such offset
/// ```
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<UnixTime> {
    let b = text.as_bytes();
    let field = |from: usize, to: usize| b.get(from..to).and_then(digits);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(13) != Some(&b':') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(16) != Some(&b':') {
        return None;
    }
    let base = to_unix(
        field(0, 4)?,
        field(5, 7)?,
        field(8, 10)?,
        field(11, 13)?,
        field(14, 16)?,
        field(17, 19)?,
    )?;
    let mut rest = b.get(19..)?;
    if let Some((b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = frac.get(n..)?;
    }
    match rest {
        [b'Z' | b'z'] => Some(base),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            // RFC 3339 §5.6: time-numoffset is hours 00-23, minutes 00-59.
            let (hours, minutes) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = u64::from(hours) * 3600 + u64::from(minutes) * 60;
            if *sign == b'+' {
                base.0.checked_sub(offset).map(UnixTime)
            } else {
                base.0.checked_add(offset).map(UnixTime)
            }
        }
        _ => None,
    }
}

/// Parses an HTTP-date in its preferred IMF-fixdate form
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
///
/// ```
/// use acme_core::time::{parse_http_date, UnixTime};
///
/// let date = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
/// assert_eq!(date, Some(UnixTime(784_111_777)));
/// // The obsolete RFC 850 form is not accepted.
/// assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
/// ```
#[must_use]
pub fn parse_http_date(text: &str) -> Option<UnixTime> {
    let b = text.trim_ascii().as_bytes();
    if b.len() != 29 || b.get(3) != Some(&b',') || b.get(25..29) != Some(b" GMT") {
        return None;
    }
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let month_name = b.get(8..11)?;
    let month = MONTHS.iter().position(|m| &m[..] == month_name)?;
    if b.get(19) != Some(&b':') || b.get(22) != Some(&b':') {
        return None;
    }
    let field = |from: usize, to: usize| b.get(from..to).and_then(digits);
    to_unix(
        field(12, 16)?,
        u32::try_from(month).ok()? + 1,
        field(5, 7)?,
        field(17, 19)?,
        field(20, 22)?,
        field(23, 25)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UnixTime(0)));
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00Z"),
            Some(UnixTime(1_767_225_600))
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:00.123456789Z"),
            Some(UnixTime(1_767_225_600))
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T02:00:00+02:00"),
            Some(UnixTime(1_767_225_600))
        );
        assert_eq!(
            parse_rfc3339("2025-12-31T23:00:00-01:00"),
            Some(UnixTime(1_767_225_600))
        );
        for bad in [
            "",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "x026-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UnixTime(784_111_777))
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }
}
