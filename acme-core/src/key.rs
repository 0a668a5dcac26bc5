//! ES256 keys: loading, generation, JWK export and thumbprints.
//!
//! A [`SoftwareKey`] keeps a P-256 private scalar in RAM and signs
//! deterministically (RFC 6979), so the core needs no RNG. The scalar is
//! zeroized when the key is dropped. Keys held by a secure element implement
//! [`crate::Es256Signer`] instead and never pass through here.

use core::fmt;

use p256::ecdsa::{signature::hazmat::PrehashSigner, Signature, SigningKey, VerifyingKey};
use p256::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::b64::encode_array;
use crate::json::JsonWriter;
use crate::sink::{DigestSink, SliceSink};
use crate::{Error, Es256Signer, KeyError, SignerError};

/// Length of a P-256 JWK in RFC 7638 canonical form:
/// `{"crv":"P-256","kty":"EC","x":"<43>","y":"<43>"}`.
pub const JWK_LEN: usize = 126;

/// Length of the DER `SubjectPublicKeyInfo` of a P-256 key.
pub const SPKI_DER_LEN: usize = 91;

/// DER prefix of a P-256 `SubjectPublicKeyInfo`, up to the uncompressed
/// point: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING }.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A P-256 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    /// The uncompressed SEC1 point `04‖x‖y`, validated to be on the curve.
    point: [u8; 65],
}

impl PublicKey {
    /// Loads a SEC1-encoded point (compressed or uncompressed).
    ///
    /// ```
    /// use acme_core::{Es256Signer, PublicKey, SoftwareKey};
    ///
    /// // As a secure element reports its key: the uncompressed point 04‖x‖y.
    /// let point = SoftwareKey::from_scalar(&[1; 32])?.public_key().to_uncompressed();
    /// let public = PublicKey::from_sec1_bytes(&point)?;
    /// assert_eq!(public.x(), point[1..33]);
    /// assert!(PublicKey::from_sec1_bytes(&[0x04; 65]).is_err()); // not on the curve
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::MalformedPublicKey`] when the bytes are not a P-256 point.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let key = VerifyingKey::from_sec1_bytes(bytes).map_err(|_| KeyError::MalformedPublicKey)?;
        Ok(Self::from_verifying_key(&key))
    }

    /// Loads a DER `SubjectPublicKeyInfo`, which must hold a P-256 key.
    ///
    /// ```
    /// use acme_core::{Es256Signer, KeyError, PublicKey, SoftwareKey};
    ///
    /// let public = SoftwareKey::from_scalar(&[1; 32])?.public_key();
    /// assert_eq!(PublicKey::from_spki_der(&public.spki_der())?, public);
    /// assert_eq!(
    ///     PublicKey::from_spki_der(b"not a key"),
    ///     Err(KeyError::MalformedPublicKey.into())
    /// );
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::MalformedPublicKey`] for any other key or encoding.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 => Self::from_sec1_bytes(point),
            _ => Err(KeyError::MalformedPublicKey.into()),
        }
    }

    /// Wraps a `p256` verifying key.
    #[must_use]
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        let encoded = key.to_encoded_point(false);
        let mut point = [0u8; 65];
        if let Some(src) = encoded.as_bytes().get(..65) {
            point.copy_from_slice(src);
        }
        Self { point }
    }

    /// The `p256` verifying key, for checking signatures.
    ///
    /// ```
    /// use acme_core::{Es256Signer, SoftwareKey};
    /// use p256::ecdsa::signature::hazmat::PrehashVerifier;
    /// use p256::ecdsa::Signature;
    ///
    /// let key = SoftwareKey::from_scalar(&[1; 32])?;
    /// let digest = [7u8; 32];
    /// let signature = Signature::from_slice(&key.sign_digest(&digest).unwrap()).unwrap();
    /// let verifying_key = key.public_key().verifying_key()?;
    /// assert!(verifying_key.verify_prehash(&digest, &signature).is_ok());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// Never in practice: the point was validated when the key was made.
    pub fn verifying_key(&self) -> Result<VerifyingKey, Error> {
        VerifyingKey::from_sec1_bytes(&self.point).map_err(|_| KeyError::MalformedPublicKey.into())
    }

    /// The uncompressed SEC1 point `04‖x‖y`.
    #[must_use]
    pub fn to_uncompressed(&self) -> [u8; 65] {
        self.point
    }

    /// The affine x coordinate, 32 bytes big-endian.
    #[must_use]
    pub fn x(&self) -> [u8; 32] {
        let mut x = [0u8; 32];
        if let Some(src) = self.point.get(1..33) {
            x.copy_from_slice(src);
        }
        x
    }

    /// The affine y coordinate, 32 bytes big-endian.
    #[must_use]
    pub fn y(&self) -> [u8; 32] {
        let mut y = [0u8; 32];
        if let Some(src) = self.point.get(33..65) {
            y.copy_from_slice(src);
        }
        y
    }

    /// The DER `SubjectPublicKeyInfo` (RFC 5480), as used in CSRs and
    /// certificates.
    ///
    /// ```
    /// use acme_core::key::SPKI_DER_LEN;
    /// use acme_core::{Es256Signer, SoftwareKey};
    ///
    /// let public = SoftwareKey::from_scalar(&[1; 32])?.public_key();
    /// let spki = public.spki_der();
    /// assert_eq!(spki.len(), SPKI_DER_LEN);
    /// // The uncompressed point closes the structure.
    /// assert!(spki.ends_with(&public.to_uncompressed()));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn spki_der(&self) -> [u8; SPKI_DER_LEN] {
        let mut out = [0u8; SPKI_DER_LEN];
        let (prefix, point) = out.split_at_mut(SPKI_PREFIX.len());
        prefix.copy_from_slice(&SPKI_PREFIX);
        point.copy_from_slice(&self.point);
        out
    }

    /// Writes the JWK (RFC 7517) in the canonical member order of RFC 7638
    /// (`crv`, `kty`, `x`, `y`) with no whitespace, and returns it.
    ///
    /// ```
    /// use acme_core::key::JWK_LEN;
    /// use acme_core::{Error, Es256Signer, SoftwareKey};
    ///
    /// let public = SoftwareKey::from_scalar(&[1; 32])?.public_key();
    /// let mut out = [0u8; JWK_LEN];
    /// let jwk = public.write_jwk(&mut out)?;
    /// assert!(jwk.starts_with(r#"{"crv":"P-256","kty":"EC","x":"b_A7lJJBzh2t1DUZ"#));
    /// assert_eq!(jwk.len(), JWK_LEN); // every P-256 JWK has this length
    ///
    /// let mut short = [0u8; 100];
    /// assert_eq!(public.write_jwk(&mut short), Err(Error::BufferTooSmall { required: JWK_LEN }));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] when `out` is shorter than [`JWK_LEN`].
    pub fn write_jwk<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Error> {
        let mut sink = SliceSink::new(out);
        self.write_jwk_json(&mut JsonWriter::new(&mut sink));
        let written = sink.finish()?;
        core::str::from_utf8(written).map_err(|_| Error::BufferTooSmall { required: JWK_LEN })
    }

    /// Streams the canonical JWK into a JSON writer.
    pub(crate) fn write_jwk_json(&self, out: &mut JsonWriter<'_>) {
        let x: [u8; 43] = encode_array(&self.x());
        let y: [u8; 43] = encode_array(&self.y());
        out.raw(b"{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"");
        out.raw(&x);
        out.raw(b"\",\"y\":\"");
        out.raw(&y);
        out.raw(b"\"}");
    }

    /// The JWK thumbprint (RFC 7638): SHA-256 of the canonical JWK.
    ///
    /// ```
    /// use acme_core::{Es256Signer, SoftwareKey};
    ///
    /// let account = SoftwareKey::from_scalar(&[1; 32])?;
    /// let thumbprint = account.public_key().thumbprint();
    /// assert_eq!(thumbprint.to_base64url().as_str(), "Nrqg3-M_Xwtx-1tbtc1J7Xul2DyeC0bUSy9u_5NSG6g");
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn thumbprint(&self) -> Thumbprint {
        let mut hash = Sha256::new();
        self.write_jwk_json(&mut JsonWriter::new(&mut DigestSink(&mut hash)));
        Thumbprint(hash.finalize().into())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x: [u8; 43] = encode_array(&self.x());
        f.debug_struct("PublicKey")
            .field("x", &core::str::from_utf8(&x).unwrap_or("?"))
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PublicKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "PublicKey({=[u8]:x})",
            self.point.get(1..9).unwrap_or(&[])
        );
    }
}

/// A JWK thumbprint (RFC 7638): 32 bytes of SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Thumbprint(pub [u8; 32]);

/// Length of a thumbprint in base64url: 43 characters.
pub const THUMBPRINT_B64_LEN: usize = 43;

impl Thumbprint {
    /// The thumbprint as base64url text (43 characters), as it appears in
    /// key authorizations.
    ///
    /// ```
    /// use acme_core::key::THUMBPRINT_B64_LEN;
    /// use acme_core::Thumbprint;
    ///
    /// let text = Thumbprint([0xff; 32]).to_base64url();
    /// assert_eq!(text.as_str().len(), THUMBPRINT_B64_LEN);
    /// assert!(text.as_str().starts_with("____")); // 0xff bytes are all `_`
    /// ```
    #[must_use]
    pub fn to_base64url(&self) -> Base64Text<THUMBPRINT_B64_LEN> {
        Base64Text(encode_array(&self.0))
    }
}

/// Fixed-length base64url text, held by value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Base64Text<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> Base64Text<N> {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // base64url output is always ASCII.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl<const N: usize> fmt::Debug for Base64Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for Base64Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Base64Text<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

/// An ES256 private key held in RAM, zeroized on drop.
///
/// Its `Debug` output shows the public key only.
#[derive(Clone)]
pub struct SoftwareKey {
    key: SigningKey,
}

/// Its one field is p256's signing key, which zeroizes its scalar on drop;
/// the assertion below fails to compile if that ever stops being so.
impl zeroize::ZeroizeOnDrop for SoftwareKey {}

const _: () = {
    const fn zeroized_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    zeroized_on_drop::<SigningKey>();
};

impl SoftwareKey {
    /// Loads a raw 32-byte big-endian private scalar.
    ///
    /// ```
    /// use acme_core::{Error, KeyError, SoftwareKey};
    ///
    /// let key = SoftwareKey::from_scalar(&[1; 32])?;
    /// assert_eq!(*key.to_scalar_bytes(), [1; 32]);
    ///
    /// let short = SoftwareKey::from_scalar(&[1; 31]).unwrap_err();
    /// assert_eq!(short, Error::Key(KeyError::ScalarLength { actual: 31 }));
    /// let zero = SoftwareKey::from_scalar(&[0; 32]).unwrap_err();
    /// assert_eq!(zero, Error::Key(KeyError::ScalarOutOfRange));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`KeyError::ScalarLength`] for a length other than 32 and
    /// [`KeyError::ScalarOutOfRange`] for zero or a value not below the
    /// group order.
    pub fn from_scalar(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() != 32 {
            return Err(KeyError::ScalarLength {
                actual: bytes.len(),
            }
            .into());
        }
        let key = SigningKey::from_slice(bytes).map_err(|_| KeyError::ScalarOutOfRange)?;
        Ok(Self { key })
    }

    /// Loads a SEC1 `ECPrivateKey` (RFC 5915; OpenSSL's "EC PRIVATE KEY")
    /// in DER.
    ///
    /// # Errors
    /// [`KeyError::MalformedSec1`] when the DER is not a P-256 SEC1 key.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        let secret = p256::SecretKey::from_sec1_der(der).map_err(|_| KeyError::MalformedSec1)?;
        Ok(Self {
            key: SigningKey::from(&secret),
        })
    }

    /// Loads a PKCS#8 `PrivateKeyInfo` (RFC 5208; "PRIVATE KEY") in DER.
    ///
    /// # Errors
    /// [`KeyError::MalformedPkcs8`] when the DER is not a P-256 PKCS#8 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let key = SigningKey::from_pkcs8_der(der).map_err(|_| KeyError::MalformedPkcs8)?;
        Ok(Self { key })
    }

    /// Loads DER in either PKCS#8 or SEC1 form.
    ///
    /// # Errors
    /// [`KeyError::UnrecognizedFormat`] when it is neither.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        Self::from_pkcs8_der(der)
            .or_else(|_| Self::from_sec1_der(der))
            .map_err(|_| KeyError::UnrecognizedFormat.into())
    }

    /// Generates a fresh key from the caller's cryptographic RNG.
    ///
    /// ```
    /// use acme_core::{Es256Signer, SoftwareKey};
    ///
    /// // On a board, the MCU's hardware RNG; here the OS's.
    /// let key = SoftwareKey::generate(&mut rand_core::OsRng);
    /// // Persist the scalar; loading it back gives the same key.
    /// let saved = key.to_scalar_bytes();
    /// let loaded = SoftwareKey::from_scalar(&saved[..])?;
    /// assert_eq!(loaded.public_key(), key.public_key());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> Self {
        Self {
            key: SigningKey::random(rng),
        }
    }

    /// The private scalar, 32 bytes big-endian, for persisting the key.
    /// The copy is zeroized when dropped.
    #[must_use]
    pub fn to_scalar_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes().into())
    }

    /// The underlying `p256` signing key.
    #[must_use]
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }
}

impl Es256Signer for SoftwareKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::from_verifying_key(self.key.verifying_key())
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64], SignerError> {
        let signature: Signature = self.key.sign_prehash(digest).map_err(|_| SignerError)?;
        Ok(signature.to_bytes().into())
    }
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for SoftwareKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "SoftwareKey {{ public: {}, .. }}", self.public_key());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_come_from_the_callers_rng_and_sign() {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        let a = SoftwareKey::generate(&mut rand_core::OsRng);
        let b = SoftwareKey::generate(&mut rand_core::OsRng);
        assert_ne!(a.public_key(), b.public_key());
        let digest = [7u8; 32];
        let signature = a.sign_digest(&digest).unwrap();
        let signature = Signature::from_slice(&signature).unwrap();
        a.public_key()
            .verifying_key()
            .unwrap()
            .verify_prehash(&digest, &signature)
            .unwrap();
        // Deterministic: RFC 6979 needs no RNG at signing time.
        assert_eq!(signature.to_bytes()[..], a.sign_digest(&digest).unwrap());
    }

    #[test]
    fn spki_round_trips_through_spki_crate() {
        use der::Decode as _;
        let key = SoftwareKey::from_scalar(&[1u8; 32]).unwrap();
        let spki_der = key.public_key().spki_der();
        let spki = spki::SubjectPublicKeyInfoRef::from_der(&spki_der).unwrap();
        assert_eq!(
            spki.subject_public_key.raw_bytes(),
            &key.public_key().to_uncompressed()[..]
        );
        assert_eq!(spki.algorithm.oid, crate::der_util::OID_EC_PUBLIC_KEY);
    }

    #[test]
    fn jwk_length_is_constant() {
        let key = SoftwareKey::from_scalar(&[9u8; 32]).unwrap();
        let mut out = [0u8; JWK_LEN];
        assert_eq!(key.public_key().write_jwk(&mut out).unwrap().len(), JWK_LEN);
        let mut short = [0u8; JWK_LEN - 1];
        assert_eq!(
            key.public_key().write_jwk(&mut short),
            Err(Error::BufferTooSmall { required: JWK_LEN })
        );
    }

    #[test]
    fn debug_never_shows_the_scalar() {
        extern crate std;
        let key = SoftwareKey::from_scalar(&[0x42u8; 32]).unwrap();
        let text = std::format!("{key:?}");
        assert!(!text.contains("4242"), "{text}");
        assert!(text.starts_with("SoftwareKey"));
    }
}
