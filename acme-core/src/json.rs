//! A minimal streaming JSON writer for request bodies.
//!
//! Requests are written straight into base64url and hash sinks (see
//! [`crate::jws`]), so a JWS needs no scratch buffer and a too-small output
//! buffer reports the exact size needed. Parsing of server responses uses
//! `serde-json-core`.

use crate::sink::Sink;

/// Writes JSON text into a sink. Obtained inside a [`JsonPayload`].
pub struct JsonWriter<'s> {
    sink: &'s mut dyn Sink,
}

impl<'s> JsonWriter<'s> {
    pub(crate) fn new(sink: &'s mut dyn Sink) -> Self {
        Self { sink }
    }

    /// Writes `text` verbatim. It must be valid JSON in its position.
    pub fn raw(&mut self, text: &[u8]) {
        self.sink.put(text);
    }

    /// Writes `value` as a quoted JSON string, escaping `"`, `\` and control
    /// characters.
    pub fn string(&mut self, value: &str) {
        self.sink.put(b"\"");
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'"' || b == b'\\' || b < 0x20 {
                if let Some(run) = bytes.get(start..i) {
                    self.sink.put(run);
                }
                let hex = b"0123456789abcdef";
                let escaped = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    hex.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
                    hex.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'),
                ];
                match b {
                    b'"' => self.sink.put(b"\\\""),
                    b'\\' => self.sink.put(b"\\\\"),
                    _ => self.sink.put(&escaped),
                }
                start = i + 1;
            }
        }
        if let Some(run) = bytes.get(start..) {
            self.sink.put(run);
        }
        self.sink.put(b"\"");
    }

    /// Writes `"name":` (the name must not need escaping).
    pub fn key(&mut self, name: &str) {
        self.sink.put(b"\"");
        self.sink.put(name.as_bytes());
        self.sink.put(b"\":");
    }

    pub(crate) fn sink(&mut self) -> &mut dyn Sink {
        self.sink
    }
}

/// Something that writes itself as one JSON value: a JWS payload.
///
/// ```
/// use acme_core::json::{JsonPayload, JsonWriter};
/// use acme_core::jws::{write_jws, KeyRef, Payload, Protected};
/// use acme_core::SoftwareKey;
///
/// /// An account update (RFC 8555 §7.3.2): `{"contact":["mailto:…"]}`.
/// struct Contact<'a>(&'a str);
///
/// impl JsonPayload for Contact<'_> {
///     fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), acme_core::Error> {
///         out.raw(b"{");
///         out.key("contact");
///         out.raw(b"[");
///         out.string(self.0); // quoted and escaped
///         out.raw(b"]}");
///         Ok(())
///     }
/// }
///
/// let account = SoftwareKey::from_scalar(&[1; 32])?;
/// let url = "https://acme.example/acct/17";
/// let protected = Protected { key: KeyRef::Kid(url), nonce: Some("n0nce"), url };
/// let payload = Contact("mailto:ops@example.com");
/// let mut out = [0u8; 512];
/// let jws = write_jws(&mut out, &account, &protected, Payload::Json(&payload))?;
/// // base64url of {"contact":["mailto:ops@example.com"]}
/// let expected = br#""payload":"eyJjb250YWN0IjpbIm1haWx0bzpvcHNAZXhhbXBsZS5jb20iXX0""#;
/// assert!(jws.windows(expected.len()).any(|w| w == expected));
/// # Ok::<(), acme_core::Error>(())
/// ```
pub trait JsonPayload {
    /// Writes the JSON value.
    ///
    /// # Errors
    /// Whatever a nested signature (keyChange, EAB) reports.
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), crate::Error>;
}

/// A payload that is already JSON text.
///
/// ```
/// use acme_core::json::RawJson;
/// use acme_core::jws::{write_jws, KeyRef, Payload, Protected};
/// use acme_core::{Es256Signer, SoftwareKey};
///
/// let account = SoftwareKey::from_scalar(&[1; 32])?;
/// let protected = Protected {
///     key: KeyRef::Jwk(account.public_key()), // newAccount names the key itself
///     nonce: Some("n0nce"),
///     url: "https://acme.example/new-account",
/// };
/// let payload = RawJson(br#"{"termsOfServiceAgreed":true}"#);
/// let mut out = [0u8; 1024];
/// let jws = write_jws(&mut out, &account, &protected, Payload::Json(&payload))?;
/// let expected = br#""payload":"eyJ0ZXJtc09mU2VydmljZUFncmVlZCI6dHJ1ZX0""#;
/// assert!(jws.windows(expected.len()).any(|w| w == expected));
/// # Ok::<(), acme_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RawJson<'a>(pub &'a [u8]);

impl JsonPayload for RawJson<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), crate::Error> {
        out.raw(self.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::SliceSink;

    #[test]
    fn escapes_strings() {
        let mut buf = [0u8; 64];
        let mut sink = SliceSink::new(&mut buf);
        JsonWriter::new(&mut sink).string("a\"b\\c\nd\u{1}é");
        let out = sink.finish().unwrap();
        assert_eq!(out, "\"a\\\"b\\\\c\\u000ad\\u0001é\"".as_bytes());
    }
}
