//! Streaming byte sinks: the plumbing that lets a JWS be written, base64url
//! encoded and hashed in one pass, with no scratch buffer.

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::digest::Update;

use crate::Error;

/// Somewhere bytes go. Writing never fails: a sink that runs out of room
/// keeps counting, so the caller learns the exact size it needed.
pub(crate) trait Sink {
    /// Appends `bytes`.
    fn put(&mut self, bytes: &[u8]);
}

/// Writes into the caller's slice and counts what does not fit.
pub(crate) struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// True when `more` further bytes would not fit.
    pub(crate) fn would_overflow(&self, more: usize) -> bool {
        self.len.saturating_add(more) > self.buf.len()
    }

    /// The written prefix, or [`Error::BufferTooSmall`] with the total size.
    pub(crate) fn finish(self) -> Result<&'a mut [u8], Error> {
        let len = self.len;
        self.buf
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { required: len })
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }
}

/// Feeds every byte to a hash or MAC on its way to the inner sink.
pub(crate) struct TeeSink<'s, D: Update> {
    pub(crate) inner: &'s mut dyn Sink,
    pub(crate) digest: &'s mut D,
}

impl<D: Update> Sink for TeeSink<'_, D> {
    fn put(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.inner.put(bytes);
    }
}

/// A sink that only hashes (used for thumbprints and signatures over data
/// that need not be kept).
pub(crate) struct DigestSink<'d, D: Update>(pub(crate) &'d mut D);

impl<D: Update> Sink for DigestSink<'_, D> {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Encodes everything written to it as base64url without padding.
///
/// The alphabet work is done by `base64ct` (constant time); this type only
/// carries the up-to-two bytes that straddle two `put` calls.
pub(crate) struct Base64UrlSink<'s> {
    inner: &'s mut dyn Sink,
    pending: [u8; 3],
    pending_len: usize,
}

/// Input bytes encoded per `base64ct` call: a multiple of 3.
const BASE64_CHUNK: usize = 48;

impl<'s> Base64UrlSink<'s> {
    pub(crate) fn new(inner: &'s mut dyn Sink) -> Self {
        Self {
            inner,
            pending: [0; 3],
            pending_len: 0,
        }
    }

    /// Flushes the last one or two bytes (as two or three characters).
    pub(crate) fn finish(self) {
        if let Some(rest) = self.pending.get(..self.pending_len) {
            emit_base64url(self.inner, rest);
        }
    }
}

/// Encodes at most [`BASE64_CHUNK`] bytes into `sink`.
fn emit_base64url(sink: &mut dyn Sink, bytes: &[u8]) {
    let mut out = [0u8; BASE64_CHUNK / 3 * 4];
    if let Ok(text) = Base64UrlUnpadded::encode(bytes, &mut out) {
        sink.put(text.as_bytes());
    }
}

impl Sink for Base64UrlSink<'_> {
    fn put(&mut self, mut bytes: &[u8]) {
        // Complete a pending group first.
        while self.pending_len > 0 && self.pending_len < 3 {
            let Some((first, rest)) = bytes.split_first() else {
                return;
            };
            if let Some(slot) = self.pending.get_mut(self.pending_len) {
                *slot = *first;
            }
            self.pending_len += 1;
            bytes = rest;
        }
        if self.pending_len == 3 {
            emit_base64url(self.inner, &self.pending);
            self.pending_len = 0;
        }
        let mut chunks = bytes.chunks_exact(BASE64_CHUNK);
        for chunk in &mut chunks {
            emit_base64url(self.inner, chunk);
        }
        let tail = chunks.remainder();
        let whole = tail.len() - tail.len() % 3;
        let (groups, rest) = tail.split_at(whole);
        if !groups.is_empty() {
            emit_base64url(self.inner, groups);
        }
        if let Some(dst) = self.pending.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
            self.pending_len = rest.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_base64_matches_one_shot_for_every_split() {
        let data: [u8; 200] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        for len in 0..data.len() {
            let input = &data[..len];
            let mut expected = [0u8; 300];
            let expected = Base64UrlUnpadded::encode(input, &mut expected).unwrap();
            for split_a in [0, 1, 2, 3, 4, 47, 48, 49, 100] {
                for split_b in [0, 1, 2, 5, 50] {
                    let a = split_a.min(len);
                    let b = (a + split_b).min(len);
                    let mut buf = [0u8; 300];
                    let mut slice = SliceSink::new(&mut buf);
                    let mut enc = Base64UrlSink::new(&mut slice);
                    enc.put(&input[..a]);
                    enc.put(&input[a..b]);
                    enc.put(&input[b..]);
                    enc.finish();
                    let out = slice.finish().unwrap();
                    assert_eq!(out, expected.as_bytes(), "len {len} splits {a},{b}");
                }
            }
        }
    }

    #[test]
    fn slice_sink_reports_exact_required_size() {
        let mut buf = [0u8; 4];
        let mut sink = SliceSink::new(&mut buf);
        sink.put(b"abc");
        sink.put(b"defg");
        assert!(sink.would_overflow(0));
        assert_eq!(sink.finish(), Err(Error::BufferTooSmall { required: 7 }));
    }
}
