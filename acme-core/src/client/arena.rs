//! A fixed-size store for the URLs (and challenge tokens) a flow learns,
//! so each takes only its real length instead of a worst-case slot.

use crate::msg::JsonStr;
use crate::Error;

/// The longest single URL accepted.
pub const MAX_URL_LEN: usize = 512;

/// A URL's place in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlRef {
    start: u16,
    len: u16,
}

/// URLs packed end to end. Directory and account URLs stay for the whole
/// session; order-scoped ones are dropped when a new order starts.
pub(crate) struct Arena<const N: usize> {
    bytes: [u8; N],
    used: usize,
    /// Everything before this belongs to the session, after it to the order.
    order_mark: usize,
}

impl<const N: usize> Arena<N> {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; N],
            used: 0,
            order_mark: 0,
        }
    }

    fn overflow() -> Error {
        Error::LimitExceeded {
            limit: "URL arena (Client's const parameter)",
            max: N,
        }
    }

    fn reserve(&mut self, len: usize) -> Result<(usize, &mut [u8]), Error> {
        if len > MAX_URL_LEN {
            return Err(Error::LimitExceeded {
                limit: "MAX_URL_LEN",
                max: MAX_URL_LEN,
            });
        }
        let start = self.used;
        let end = start.checked_add(len).ok_or_else(Self::overflow)?;
        let dst = self.bytes.get_mut(start..end).ok_or_else(Self::overflow)?;
        Ok((start, dst))
    }

    fn commit(&mut self, start: usize, len: usize) -> UrlRef {
        self.used = start + len;
        UrlRef {
            start: start as u16,
            len: len as u16,
        }
    }

    /// Stores `text` as it is (a challenge token).
    pub(crate) fn push_text(&mut self, text: &str) -> Result<UrlRef, Error> {
        let (start, dst) = self.reserve(text.len())?;
        dst.copy_from_slice(text.as_bytes());
        Ok(self.commit(start, text.len()))
    }

    /// Stores a JSON string, unescaping it on the way in.
    pub(crate) fn push_json(&mut self, text: JsonStr<'_>) -> Result<UrlRef, Error> {
        // Unescaping never lengthens a string, so the raw length bounds it.
        let (start, dst) = self.reserve(text.raw().len())?;
        let mut written = 0usize;
        text.for_each_piece(|piece| {
            if let Some(slot) = dst.get_mut(written..written + piece.len()) {
                slot.copy_from_slice(piece.as_bytes());
                written += piece.len();
            }
        })?;
        Ok(self.commit(start, written))
    }

    /// The text stored at `r`.
    pub(crate) fn get(&self, r: UrlRef) -> &str {
        let start = usize::from(r.start);
        let end = start + usize::from(r.len);
        self.bytes
            .get(start..end)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// Gives back the space of `r` when it is the last URL stored.
    pub(crate) fn pop(&mut self, r: UrlRef) {
        if usize::from(r.start) + usize::from(r.len) == self.used {
            self.used = usize::from(r.start);
        }
    }

    /// Marks the end of the session-scoped URLs.
    pub(crate) fn mark_order_scope(&mut self) {
        self.order_mark = self.used;
    }

    /// Drops every order-scoped URL.
    pub(crate) fn clear_order_scope(&mut self) {
        self.used = self.order_mark;
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.used = 0;
        self.order_mark = 0;
    }

    /// Bytes in use.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pack_and_scopes_drop() {
        let mut arena = Arena::<64>::new();
        let dir = arena.push_text("https://ca/dir").unwrap();
        arena.mark_order_scope();
        let order = arena
            .push_json(JsonStr::plain("https:\\/\\/ca\\/order\\/1"))
            .unwrap();
        assert_eq!(arena.get(order), "https://ca/order/1");
        arena.clear_order_scope();
        assert_eq!(arena.used(), "https://ca/dir".len());
        assert_eq!(arena.get(dir), "https://ca/dir");
        assert!(arena.push_text(&"x".repeat(60)).is_err());
        assert_eq!(
            arena.get(dir),
            "https://ca/dir",
            "a failed push changes nothing"
        );
    }
}
