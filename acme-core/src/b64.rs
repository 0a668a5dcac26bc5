//! base64url without padding (RFC 7515 §2, RFC 4648 §5), over `base64ct`.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::{Base64Error, Error};

/// Length of the unpadded base64url encoding of `input_len` bytes.
///
/// ```
/// use acme_core::b64::encoded_len;
///
/// assert_eq!(encoded_len(32), 43); // a SHA-256 digest, as in a thumbprint
/// assert_eq!(encoded_len(64), 86); // an ES256 signature
/// ```
#[must_use]
pub const fn encoded_len(input_len: usize) -> usize {
    (input_len / 3) * 4
        + match input_len % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

/// Encodes `input` into `out`, returning the text written.
///
/// ```
/// use acme_core::b64::{encode, encoded_len};
/// use acme_core::Error;
///
/// let mut out = [0u8; 16];
/// assert_eq!(encode(b"foobar", &mut out)?, "Zm9vYmFy");
/// assert_eq!(encode(&[0xfb, 0xff], &mut out)?, "-_8"); // URL alphabet, no `=`
///
/// // Too small a buffer reports the size needed.
/// let mut short = [0u8; 4];
/// let required = encoded_len(b"foobar".len());
/// assert_eq!(encode(b"foobar", &mut short), Err(Error::BufferTooSmall { required }));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::BufferTooSmall`] when `out` is shorter than
/// [`encoded_len`]`(input.len())`.
pub fn encode<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error> {
    let required = encoded_len(input.len());
    let dst = out
        .get_mut(..required)
        .ok_or(Error::BufferTooSmall { required })?;
    Base64UrlUnpadded::encode(input, dst).map_err(|_| Error::BufferTooSmall { required })
}

/// Encodes exactly `N` bytes into a fixed array of `M` characters, where
/// `M` must be [`encoded_len`]`(N)`.
pub(crate) fn encode_array<const N: usize, const M: usize>(input: &[u8; N]) -> [u8; M] {
    let mut out = [0u8; M];
    // Cannot fail: callers pick M = encoded_len(N) (checked by tests).
    let _ = Base64UrlUnpadded::encode(input, &mut out);
    out
}

/// Decodes unpadded base64url `input` into `out`, returning the bytes.
///
/// ```
/// use acme_core::b64::decode;
/// use acme_core::{Base64Error, Error};
///
/// let mut out = [0u8; 16];
/// assert_eq!(decode(b"Zm9vYmFy", &mut out)?, b"foobar");
///
/// // Padding is refused, naming the offending position.
/// let padded = decode(b"Zm8=", &mut out);
/// assert_eq!(padded, Err(Error::Base64(Base64Error::InvalidCharacter { position: 3 })));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// * [`Base64Error::InvalidCharacter`] names the first byte outside the
///   alphabet (`=` padding is refused: ACME uses unpadded base64url).
/// * [`Base64Error::InvalidLength`] for an impossible length or non-zero
///   trailing bits.
/// * [`Error::BufferTooSmall`] when `out` cannot hold the decoded bytes.
pub fn decode<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], Error> {
    if let Some(position) = input.iter().position(|&c| !is_base64url_char(c)) {
        return Err(Base64Error::InvalidCharacter { position }.into());
    }
    if input.len() % 4 == 1 {
        return Err(Base64Error::InvalidLength.into());
    }
    let required = decoded_len(input.len());
    let dst = out
        .get_mut(..required)
        .ok_or(Error::BufferTooSmall { required })?;
    Base64UrlUnpadded::decode(input, dst).map_err(|_| Base64Error::InvalidLength.into())
}

/// Number of bytes that `encoded_len` characters of unpadded base64url
/// decode to (rounding down an impossible trailing character).
///
/// ```
/// use acme_core::b64::decoded_len;
///
/// assert_eq!(decoded_len(43), 32);
/// assert_eq!(decoded_len("Zm9vYmE".len()), 5);
/// ```
#[must_use]
pub const fn decoded_len(encoded_len: usize) -> usize {
    (encoded_len / 4) * 3
        + match encoded_len % 4 {
            2 => 1,
            3 => 2,
            _ => 0,
        }
}

/// True for the 64 characters of the base64url alphabet.
pub(crate) const fn is_base64url_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length() {
        let data: [u8; 40] = core::array::from_fn(|i| (i * 91 + 3) as u8);
        for len in 0..=data.len() {
            let mut text = [0u8; 64];
            let text = encode(&data[..len], &mut text).unwrap();
            assert_eq!(text.len(), encoded_len(len));
            let mut back = [0u8; 40];
            assert_eq!(decode(text.as_bytes(), &mut back).unwrap(), &data[..len]);
        }
    }

    #[test]
    fn rfc4648_vectors_in_url_alphabet() {
        let mut out = [0u8; 16];
        assert_eq!(encode(b"foobar", &mut out).unwrap(), "Zm9vYmFy");
        assert_eq!(encode(b"fo", &mut out).unwrap(), "Zm8");
        assert_eq!(encode(&[0xfb, 0xff], &mut out).unwrap(), "-_8");
    }

    #[test]
    fn errors_are_exact() {
        let mut out = [0u8; 2];
        assert_eq!(
            encode(b"abcd", &mut out),
            Err(Error::BufferTooSmall { required: 6 })
        );
        assert_eq!(
            decode(b"Zm9vYmFy", &mut out),
            Err(Error::BufferTooSmall { required: 6 })
        );
        let mut out = [0u8; 16];
        assert_eq!(
            decode(b"Zm9v+mFy", &mut out),
            Err(Error::Base64(Base64Error::InvalidCharacter { position: 4 }))
        );
        assert_eq!(
            decode(b"Zm8=", &mut out),
            Err(Error::Base64(Base64Error::InvalidCharacter { position: 3 }))
        );
        assert_eq!(
            decode(b"Zm9vY", &mut out),
            Err(Error::Base64(Base64Error::InvalidLength))
        );
        // "Zm9" has non-zero trailing bits in its last character.
        assert_eq!(
            decode(b"Zm9", &mut out),
            Err(Error::Base64(Base64Error::InvalidLength))
        );
    }

    #[test]
    fn encode_array_sizes_match() {
        let out: [u8; 43] = encode_array(&[7u8; 32]);
        assert_eq!(encoded_len(32), 43);
        let mut expected = [0u8; 43];
        encode(&[7u8; 32], &mut expected).unwrap();
        assert_eq!(out, expected);
        assert_eq!(encoded_len(64), 86);
    }
}
