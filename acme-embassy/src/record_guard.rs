//! A guard between the TCP socket and embedded-tls that refuses TLS
//! records embedded-tls 0.19 would panic on.
//!
//! embedded-tls decrypts a protected record and then takes the last byte of
//! its plaintext as the content type with `unwrap()`: a record of type
//! `application_data` whose body is only the 16-byte AEAD tag decrypts to
//! nothing, and the device panics. Anyone who can answer the TCP
//! connection can send one, during the handshake, before the server is
//! authenticated. RFC 8446 §5.2 makes such a record invalid (the inner
//! plaintext always ends with its content type), so the guard reads record
//! headers as the bytes go by and ends the connection on one, with an
//! error, before embedded-tls sees it.

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

/// A TLS record header: type, version, length.
const HEADER_LEN: usize = 5;
/// The record type of every protected TLS 1.3 record.
const APPLICATION_DATA: u8 = 23;
/// The shortest valid protected record: one byte of inner content type and
/// the 16-byte tag of TLS_AES_128_GCM_SHA256.
const MIN_PROTECTED_LEN: usize = 1 + 16;

/// The TCP stream under a [`TlsConnector`](crate::tls::TlsConnector)'s
/// connection, whose reads are checked record by record (see the
/// [`tls`](crate::tls) module docs).
pub struct RecordGuard<T> {
    inner: T,
    /// The current header's bytes seen so far.
    header: [u8; HEADER_LEN],
    header_seen: usize,
    /// Bytes of the current record's body still to come.
    body_left: usize,
    /// An invalid record was seen: every later read fails too.
    refused: bool,
}

/// An error of a [`RecordGuard`]ed stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum GuardError<E> {
    /// The transport failed.
    Transport(E),
    /// The server sent a protected record too short to be valid.
    InvalidRecord,
}

impl<E: core::fmt::Debug> core::fmt::Display for GuardError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GuardError::Transport(e) => write!(f, "transport: {e:?}"),
            GuardError::InvalidRecord => f.write_str("the server sent an invalid TLS record"),
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for GuardError<E> {}

impl<E: embedded_io_async::Error> embedded_io_async::Error for GuardError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            GuardError::Transport(e) => e.kind(),
            GuardError::InvalidRecord => ErrorKind::InvalidData,
        }
    }
}

impl<T> RecordGuard<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            header: [0; HEADER_LEN],
            header_seen: 0,
            body_left: 0,
            refused: false,
        }
    }

    /// Follows the record boundaries through `bytes`, the next bytes the
    /// server sent.
    fn inspect<E>(&mut self, mut bytes: &[u8]) -> Result<(), GuardError<E>> {
        if self.refused {
            return Err(GuardError::InvalidRecord);
        }
        while !bytes.is_empty() {
            if self.body_left > 0 {
                let skipped = self.body_left.min(bytes.len());
                self.body_left -= skipped;
                bytes = bytes.get(skipped..).unwrap_or_default();
                continue;
            }
            let Some((byte, rest)) = bytes.split_first() else {
                break;
            };
            bytes = rest;
            if let Some(slot) = self.header.get_mut(self.header_seen) {
                *slot = *byte;
            }
            self.header_seen += 1;
            if self.header_seen == HEADER_LEN {
                self.header_seen = 0;
                let [kind, _, _, high, low] = self.header;
                let len = usize::from(u16::from_be_bytes([high, low]));
                if kind == APPLICATION_DATA && len < MIN_PROTECTED_LEN {
                    self.refused = true;
                    return Err(GuardError::InvalidRecord);
                }
                self.body_left = len;
            }
        }
        Ok(())
    }
}

impl<T: ErrorType> ErrorType for RecordGuard<T> {
    type Error = GuardError<T::Error>;
}

impl<T: Read> Read for RecordGuard<T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if self.refused {
            return Err(GuardError::InvalidRecord);
        }
        let read = self.inner.read(buf).await.map_err(GuardError::Transport)?;
        self.inspect(buf.get(..read).unwrap_or_default())?;
        Ok(read)
    }
}

impl<T: Write> Write for RecordGuard<T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).await.map_err(GuardError::Transport)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await.map_err(GuardError::Transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Guard = RecordGuard<()>;

    fn feed(guard: &mut Guard, bytes: &[u8]) -> Result<(), GuardError<()>> {
        guard.inspect(bytes)
    }

    fn record(kind: u8, len: u16) -> std::vec::Vec<u8> {
        let [high, low] = len.to_be_bytes();
        let mut bytes = std::vec![kind, 3, 3, high, low];
        bytes.resize(HEADER_LEN + usize::from(len), 0xab);
        bytes
    }

    extern crate std;

    #[test]
    fn a_protected_record_with_no_room_for_its_content_type_is_refused() {
        // A server hello (handshake), then protected records: a valid one,
        // and one that is only a tag, however the bytes are split.
        let mut stream = record(22, 90);
        stream.extend(record(APPLICATION_DATA, 17));
        stream.extend(record(APPLICATION_DATA, 300));
        let good_len = stream.len();
        stream.extend(record(APPLICATION_DATA, 16));
        for chunk in [1, 2, 5, 7, 64, stream.len()] {
            let mut guard = Guard::new(());
            let outcome = stream.chunks(chunk).try_for_each(|c| feed(&mut guard, c));
            assert!(
                matches!(outcome, Err(GuardError::InvalidRecord)),
                "chunks of {chunk}"
            );
            let mut guard = Guard::new(());
            assert!(
                stream[..good_len]
                    .chunks(chunk)
                    .try_for_each(|c| feed(&mut guard, c))
                    .is_ok(),
                "chunks of {chunk}"
            );
        }
        // Other record types may be short (a change_cipher_spec is 1 byte).
        let mut guard = Guard::new(());
        assert!(feed(&mut guard, &record(20, 1)).is_ok());
        assert!(feed(&mut guard, &record(21, 2)).is_ok());
        assert!(matches!(
            feed(&mut guard, &record(APPLICATION_DATA, 0)),
            Err(GuardError::InvalidRecord)
        ));
        // Once refused, nothing more is let through.
        assert!(matches!(
            feed(&mut guard, &record(22, 4)),
            Err(GuardError::InvalidRecord)
        ));
    }
}
