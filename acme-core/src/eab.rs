//! External Account Binding (RFC 8555 §7.3.4).
//!
//! A CA that requires EAB hands out a key identifier and a MAC key. The
//! newAccount payload then carries an inner JWS, MACed with HS256 over the
//! account's public JWK, binding the new ACME account to the CA's account.

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroize;

use crate::b64::{decoded_len, encode_array, is_base64url_char};
use crate::json::{JsonPayload, JsonWriter};
use crate::jws::{write_signing_input, Payload};
use crate::key::PublicKey;
use crate::{EabKeyError, Error};

/// The longest EAB MAC key accepted, in bytes (HS256 keys are usually 32).
pub const MAX_EAB_KEY_LEN: usize = 128;

/// An EAB MAC key, zeroized on drop. `Debug` never shows it.
#[derive(Clone)]
pub struct EabKey {
    bytes: [u8; MAX_EAB_KEY_LEN],
    len: usize,
}

impl EabKey {
    /// Decodes a key given as base64url, with or without `=` padding, as
    /// CAs print it. Surrounding ASCII whitespace (a pasted newline) is
    /// ignored.
    ///
    /// ```
    /// use acme_core::client::{Config, EabCredentials};
    /// use acme_core::eab::EabKey;
    /// use acme_core::{EabKeyError, Error};
    ///
    /// // As a CA's account page shows it, pasted with its newline.
    /// let key = EabKey::from_base64url("zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W\n")?;
    /// assert_eq!(format!("{key:?}"), "EabKey(48 bytes, redacted)");
    /// // Padded and unpadded forms decode alike.
    /// assert_eq!(format!("{:?}", EabKey::from_base64url("AQI=")?), "EabKey(2 bytes, redacted)");
    /// assert_eq!(format!("{:?}", EabKey::from_base64url("AQI")?), "EabKey(2 bytes, redacted)");
    /// // Standard base64's `+` and `/` are not base64url.
    /// let error = EabKey::from_base64url("ab+c").unwrap_err();
    /// assert_eq!(error, Error::EabKey(EabKeyError::InvalidCharacter { position: 2 }));
    ///
    /// let mut config = Config::new("https://acme.example/directory");
    /// config.eab = Some(EabCredentials::new("kid-1", &key));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`EabKeyError::Empty`], [`EabKeyError::InvalidCharacter`] (with the
    /// offset in the trimmed text), [`EabKeyError::InvalidLength`] or
    /// [`EabKeyError::TooLong`].
    pub fn from_base64url(text: &str) -> Result<Self, Error> {
        let text = text.trim_ascii().as_bytes();
        if text.is_empty() {
            return Err(EabKeyError::Empty.into());
        }
        if let Some(position) = text
            .iter()
            .position(|&c| !is_base64url_char(c) && c != b'=')
        {
            return Err(EabKeyError::InvalidCharacter { position }.into());
        }
        let unpadded_len = text.iter().position(|&c| c == b'=').unwrap_or(text.len());
        let (body, padding) = text.split_at(unpadded_len);
        let padding_ok = padding.is_empty()
            || (padding.len() <= 2
                && padding.iter().all(|&c| c == b'=')
                && text.len().is_multiple_of(4));
        if !padding_ok || body.len() % 4 == 1 {
            return Err(EabKeyError::InvalidLength.into());
        }
        if decoded_len(body.len()) > MAX_EAB_KEY_LEN {
            return Err(EabKeyError::TooLong.into());
        }
        let mut key = Self {
            bytes: [0; MAX_EAB_KEY_LEN],
            len: 0,
        };
        let decoded = Base64UrlUnpadded::decode(body, &mut key.bytes)
            .map_err(|_| EabKeyError::InvalidLength)?;
        key.len = decoded.len();
        if key.len == 0 {
            return Err(EabKeyError::Empty.into());
        }
        Ok(key)
    }

    /// Wraps raw key bytes.
    ///
    /// ```
    /// use acme_core::eab::{EabKey, MAX_EAB_KEY_LEN};
    /// use acme_core::{EabKeyError, Error};
    ///
    /// let key = EabKey::from_bytes(&[0xab; 32])?;
    /// assert_eq!(format!("{key:?}"), "EabKey(32 bytes, redacted)");
    /// let too_long = EabKey::from_bytes(&[0; MAX_EAB_KEY_LEN + 1]).unwrap_err();
    /// assert_eq!(too_long, Error::EabKey(EabKeyError::TooLong));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`EabKeyError::Empty`] or [`EabKeyError::TooLong`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut key = Self {
            bytes: [0; MAX_EAB_KEY_LEN],
            len: bytes.len(),
        };
        let dst = key
            .bytes
            .get_mut(..bytes.len())
            .ok_or(EabKeyError::TooLong)?;
        dst.copy_from_slice(bytes);
        if bytes.is_empty() {
            return Err(EabKeyError::Empty.into());
        }
        Ok(key)
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl Drop for EabKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for EabKey {}

impl core::fmt::Debug for EabKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "EabKey({} bytes, redacted)", self.len)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for EabKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "EabKey({=usize} bytes, redacted)", self.len);
    }
}

/// The `externalAccountBinding` member of a newAccount payload: a JWS
/// `{"alg":"HS256","kid":<kid>,"url":<newAccount URL>}` over the account's
/// JWK, MACed with the EAB key.
pub struct ExternalAccountBinding<'a> {
    /// The key identifier the CA issued with the MAC key.
    pub kid: &'a str,
    /// The MAC key.
    pub key: &'a EabKey,
    /// The public key of the ACME account being created.
    pub account_key: PublicKey,
    /// The newAccount URL (the same as the outer JWS's `url`).
    pub new_account_url: &'a str,
}

/// Length of a base64url HS256 MAC (32 bytes).
const HS256_B64_LEN: usize = 43;

impl JsonPayload for ExternalAccountBinding<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_bytes())
            .map_err(|_| EabKeyError::Empty)?;
        let header = |w: &mut JsonWriter<'_>| {
            w.raw(b"{\"alg\":\"HS256\",");
            w.key("kid");
            w.string(self.kid);
            w.raw(b",");
            w.key("url");
            w.string(self.new_account_url);
            w.raw(b"}");
        };
        let jwk = AccountJwk(self.account_key);
        write_signing_input(out.sink(), &mut mac, &header, Payload::Json(&jwk))?;
        let tag: [u8; 32] = mac.finalize().into_bytes().into();
        let text: [u8; HS256_B64_LEN] = encode_array(&tag);
        out.raw(&text);
        out.raw(b"\"}");
        Ok(())
    }
}

struct AccountJwk(PublicKey);

impl JsonPayload for AccountJwk {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        self.0.write_jwk_json(out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Error {
        EabKey::from_base64url(text).unwrap_err()
    }

    #[test]
    fn padded_and_unpadded_keys_decode_alike() {
        let a = EabKey::from_base64url(
            "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
        )
        .unwrap();
        let b = EabKey::from_base64url(
            "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W\n",
        )
        .unwrap();
        assert_eq!(a.as_bytes(), b.as_bytes());
        let padded = EabKey::from_base64url("AQID").unwrap();
        assert_eq!(padded.as_bytes(), &[1, 2, 3]);
        let one = EabKey::from_base64url("AQ==").unwrap();
        let one_unpadded = EabKey::from_base64url("AQ").unwrap();
        assert_eq!(one.as_bytes(), one_unpadded.as_bytes());
        assert_eq!(EabKey::from_base64url("AQI=").unwrap().as_bytes(), &[1, 2]);
    }

    #[test]
    fn malformed_keys_say_why() {
        assert_eq!(err(""), Error::EabKey(EabKeyError::Empty));
        assert_eq!(err("  \n"), Error::EabKey(EabKeyError::Empty));
        assert_eq!(
            err("ab+c"),
            Error::EabKey(EabKeyError::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            err("ab/c"),
            Error::EabKey(EabKeyError::InvalidCharacter { position: 2 })
        );
        assert_eq!(
            err("ab c"),
            Error::EabKey(EabKeyError::InvalidCharacter { position: 2 })
        );
        assert_eq!(err("A"), Error::EabKey(EabKeyError::InvalidLength));
        assert_eq!(err("AQ="), Error::EabKey(EabKeyError::InvalidLength));
        assert_eq!(err("AQ=A"), Error::EabKey(EabKeyError::InvalidLength));
        assert_eq!(err("A==="), Error::EabKey(EabKeyError::InvalidLength));
        assert_eq!(err("AR"), Error::EabKey(EabKeyError::InvalidLength));
        let long = [b'A'; 200];
        assert_eq!(
            err(core::str::from_utf8(&long).unwrap()),
            Error::EabKey(EabKeyError::TooLong)
        );
        assert_eq!(
            EabKey::from_bytes(&[0; 129]).unwrap_err(),
            Error::EabKey(EabKeyError::TooLong)
        );
        assert_eq!(
            EabKey::from_bytes(&[]).unwrap_err(),
            Error::EabKey(EabKeyError::Empty)
        );
    }

    #[test]
    fn debug_redacts() {
        extern crate std;
        let key = EabKey::from_bytes(&[0xab; 16]).unwrap();
        assert_eq!(std::format!("{key:?}"), "EabKey(16 bytes, redacted)");
    }
}
