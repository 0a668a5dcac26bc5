//! The signing abstraction: who holds the ES256 private key.
//!
//! `acme-core` never needs the private key itself, only signatures over
//! SHA-256 digests. A secure element (ATECC608, SE050, a TPM) or an HSM
//! implements [`Es256Signer`] and the key never enters RAM. The software
//! implementation is [`crate::SoftwareKey`].

use crate::key::PublicKey;

/// An ECDSA P-256 signer over SHA-256 digests (JWS `ES256`, RFC 7518 §3.4).
///
/// The core hashes the signing input itself (streaming, without a scratch
/// buffer) and hands the 32-byte digest to [`Es256Signer::sign_digest`].
///
/// A secure element implements it in a few lines; the key never leaves
/// the chip:
///
/// ```
/// use acme_core::{Es256Signer, PublicKey, SignerError};
///
/// /// Stands in for a driver of an ATECC608, SE050 or TPM.
/// struct SecureElement {
///     slot: u8,
///     public: PublicKey,
/// }
///
/// impl SecureElement {
///     fn sign(&self, _slot: u8, _digest: &[u8; 32]) -> Result<[u8; 64], u8> {
///         Err(0x0F) // the chip reports an error code
///     }
/// }
///
/// impl Es256Signer for SecureElement {
///     fn public_key(&self) -> PublicKey {
///         self.public
///     }
///     fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64], SignerError> {
///         self.sign(self.slot, digest).map_err(|_code| SignerError)
///     }
/// }
///
/// let public = acme_core::SoftwareKey::from_scalar(&[3; 32])?.public_key();
/// let chip = SecureElement { slot: 0, public };
/// assert_eq!(chip.sign_digest(&[0; 32]), Err(SignerError));
/// # Ok::<(), acme_core::Error>(())
/// ```
pub trait Es256Signer {
    /// The public half of the key, used for JWKs, thumbprints and CSRs.
    fn public_key(&self) -> PublicKey;

    /// Signs a SHA-256 `digest` with ECDSA P-256.
    ///
    /// The returned signature is the fixed 64-byte big-endian `r‖s` form
    /// that JWS uses (and secure elements produce).
    /// A software signer should be deterministic (RFC 6979) so that no RNG
    /// is needed; a hardware signer may use its own RNG.
    ///
    /// # Errors
    /// Any failure of the device or key: the core reports it as
    /// [`crate::Error::Signer`].
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64], SignerError>;
}

/// A signer could not sign (the secure element failed, the key is locked,
/// ...). Implementations log their own cause; the core reports
/// [`crate::Error::Signer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SignerError;

impl core::fmt::Display for SignerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the signer failed to produce a signature")
    }
}

impl core::error::Error for SignerError {}

impl<T: Es256Signer + ?Sized> Es256Signer for &T {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64], SignerError> {
        (**self).sign_digest(digest)
    }
}
