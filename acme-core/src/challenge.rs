//! Challenge material: key authorizations (RFC 8555 §8.1), the dns-01
//! TXT value (§8.4), the http-01 path (§8.3) and the tls-alpn-01
//! validation certificate (RFC 8737).

use der::asn1::{OctetStringRef, UintRef};
use der::TagNumber;
use heapless::String;
use sha2::{Digest, Sha256};

use crate::b64::{encode_array, is_base64url_char};
use crate::der_util::{
    ecdsa_sha256_algorithm, encode_error, encode_into, explicit, raw, sign_der, BitWrap, Extension,
    GeneralNames, Name, Seq, X509Time, OID_ACME_IDENTIFIER, OID_SUBJECT_ALT_NAME,
};
use crate::identifier::{validate_all, Identifier, MAX_DNS_NAME_LEN};
use crate::key::{Base64Text, Thumbprint, THUMBPRINT_B64_LEN};
use crate::{Error, Es256Signer};

/// The longest challenge token accepted, in characters. RFC 8555 asks for
/// at least 128 bits of entropy (22 characters); servers use 43.
pub const MAX_TOKEN_LEN: usize = 128;

/// The longest key authorization: a token, `.`, and a thumbprint.
pub const MAX_KEY_AUTHORIZATION_LEN: usize = MAX_TOKEN_LEN + 1 + THUMBPRINT_B64_LEN;

/// The longest dns-01 record name: `_acme-challenge.` and a dns name.
pub const MAX_DNS01_NAME_LEN: usize = 16 + MAX_DNS_NAME_LEN;

/// The http-01 path prefix (RFC 8555 §8.3).
pub const HTTP01_PATH_PREFIX: &str = "/.well-known/acme-challenge/";

/// The longest http-01 path.
pub const MAX_HTTP01_PATH_LEN: usize = HTTP01_PATH_PREFIX.len() + MAX_TOKEN_LEN;

/// The ALPN protocol a tls-alpn-01 responder negotiates (RFC 8737 §6.2).
pub const ACME_TLS_ALPN_PROTOCOL: &[u8] = b"acme-tls/1";

/// A tls-alpn-01 certificate is at most this long for one maximal dns name.
pub const MAX_TLS_ALPN01_CERT_LEN: usize = 768;

/// Checks that a token is a non-empty base64url string of at most
/// [`MAX_TOKEN_LEN`] characters.
///
/// # Errors
/// [`Error::InvalidChallengeToken`] or [`Error::LimitExceeded`].
pub(crate) fn validate_token(token: &str) -> Result<(), Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::LimitExceeded {
            limit: "MAX_TOKEN_LEN",
            max: MAX_TOKEN_LEN,
        });
    }
    if token.is_empty() || !token.bytes().all(is_base64url_char) {
        return Err(Error::InvalidChallengeToken);
    }
    Ok(())
}

/// A key authorization, `token "." base64url(thumbprint)` (RFC 8555 §8.1).
///
/// The http-01 example of RFC 8555 §8.3, from the token and the account
/// key's thumbprint:
///
/// ```
/// use acme_core::challenge::KeyAuthorization;
/// use acme_core::{b64, Thumbprint};
///
/// let mut thumbprint = Thumbprint([0; 32]);
/// b64::decode(b"9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI", &mut thumbprint.0)?;
/// let token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
/// let key_authorization = KeyAuthorization::new(token, &thumbprint)?;
/// assert_eq!(
///     key_authorization.as_str(),
///     "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
/// );
/// assert_eq!(key_authorization.token(), token);
/// # Ok::<(), acme_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyAuthorization {
    text: String<MAX_KEY_AUTHORIZATION_LEN>,
}

impl KeyAuthorization {
    /// Builds the key authorization for `token` and the account key's
    /// thumbprint.
    ///
    /// ```
    /// use acme_core::challenge::KeyAuthorization;
    /// use acme_core::{Error, Es256Signer, SoftwareKey};
    ///
    /// let thumbprint = SoftwareKey::from_scalar(&[1; 32])?.public_key().thumbprint();
    /// let key_authorization = KeyAuthorization::new("tok3n", &thumbprint)?;
    /// assert_eq!(key_authorization.as_str(), "tok3n.Nrqg3-M_Xwtx-1tbtc1J7Xul2DyeC0bUSy9u_5NSG6g");
    /// // A token must be base64url: a server cannot smuggle a path in.
    /// let refused = KeyAuthorization::new("../etc", &thumbprint);
    /// assert_eq!(refused, Err(Error::InvalidChallengeToken));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidChallengeToken`] or [`Error::LimitExceeded`] for a bad token.
    pub fn new(token: &str, thumbprint: &Thumbprint) -> Result<Self, Error> {
        validate_token(token)?;
        let mut text = String::new();
        let too_long = Error::LimitExceeded {
            limit: "MAX_KEY_AUTHORIZATION_LEN",
            max: MAX_KEY_AUTHORIZATION_LEN,
        };
        text.push_str(token).map_err(|_| too_long)?;
        text.push('.').map_err(|_| too_long)?;
        text.push_str(thumbprint.to_base64url().as_str())
            .map_err(|_| too_long)?;
        Ok(Self { text })
    }

    /// The key authorization text: the http-01 response body.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The token part.
    #[must_use]
    pub fn token(&self) -> &str {
        self.text.split('.').next().unwrap_or("")
    }

    /// SHA-256 of the key authorization: the tls-alpn-01 acmeIdentifier.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }

    /// The dns-01 TXT record value: base64url(SHA-256(key authorization)).
    ///
    /// ```
    /// use acme_core::challenge::KeyAuthorization;
    /// use acme_core::{b64, Thumbprint};
    ///
    /// let mut thumbprint = Thumbprint([0; 32]);
    /// b64::decode(b"9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI", &mut thumbprint.0)?;
    /// let key_authorization =
    ///     KeyAuthorization::new("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", &thumbprint)?;
    /// let value = key_authorization.dns01_value();
    /// assert_eq!(value.as_str(), "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo");
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn dns01_value(&self) -> Base64Text<43> {
        Base64Text(encode_array(&self.digest()))
    }

    /// The http-01 path, `/.well-known/acme-challenge/{token}`.
    ///
    /// ```
    /// use acme_core::challenge::KeyAuthorization;
    /// use acme_core::Thumbprint;
    ///
    /// let token = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0";
    /// let key_authorization = KeyAuthorization::new(token, &Thumbprint([7; 32]))?;
    /// assert_eq!(
    ///     key_authorization.http01_path(),
    ///     "/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
    /// );
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn http01_path(&self) -> String<MAX_HTTP01_PATH_LEN> {
        let mut path = String::new();
        // Cannot overflow: the token is at most MAX_TOKEN_LEN.
        let _ = path.push_str(HTTP01_PATH_PREFIX);
        let _ = path.push_str(self.token());
        path
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for KeyAuthorization {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str());
    }
}

/// The dns-01 TXT record name for a dns identifier:
/// `_acme-challenge.` plus the name, with a wildcard's `*.` removed
/// (RFC 8555 §8.4).
///
/// ```
/// use acme_core::challenge::dns01_record_name;
/// use acme_core::{Error, IdentifierError};
///
/// assert_eq!(dns01_record_name("device-17.example")?, "_acme-challenge.device-17.example");
/// // A wildcard is validated at its base name.
/// assert_eq!(dns01_record_name("*.example.org")?, "_acme-challenge.example.org");
/// let refused = dns01_record_name("bad_name.example");
/// assert_eq!(refused, Err(Error::Identifier(IdentifierError::DnsNameCharacter)));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::Identifier`] for a malformed name.
pub fn dns01_record_name(dns_name: &str) -> Result<String<MAX_DNS01_NAME_LEN>, Error> {
    crate::identifier::validate_dns_name(dns_name)?;
    let base = dns_name.strip_prefix("*.").unwrap_or(dns_name);
    let mut name = String::new();
    let too_long = Error::LimitExceeded {
        limit: "MAX_DNS01_NAME_LEN",
        max: MAX_DNS01_NAME_LEN,
    };
    name.push_str("_acme-challenge.").map_err(|_| too_long)?;
    name.push_str(base).map_err(|_| too_long)?;
    Ok(name)
}

/// The validity window of a certificate, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Validity {
    /// Start of validity.
    pub not_before: u64,
    /// End of validity.
    pub not_after: u64,
}

/// Writes the self-signed tls-alpn-01 validation certificate (RFC 8737 §3)
/// in DER and returns it.
///
/// The certificate has an empty subject, the identifier as its only
/// (critical) subjectAltName, and the critical `id-pe-acmeIdentifier`
/// extension holding SHA-256 of the key authorization. `signer` is the key
/// the responder presents in its TLS handshake. Validators do not check
/// `validity`; a window around the current time is customary.
///
/// ```
/// use acme_core::cert::{Certificate, SanEntry};
/// use acme_core::challenge::{write_tls_alpn01_certificate, KeyAuthorization, Validity};
/// use acme_core::challenge::MAX_TLS_ALPN01_CERT_LEN;
/// use acme_core::{Es256Signer, Identifier, SoftwareKey};
///
/// let account = SoftwareKey::from_scalar(&[1; 32])?;
/// let responder = SoftwareKey::from_scalar(&[2; 32])?;
/// let key_authorization = KeyAuthorization::new("tok3n", &account.public_key().thumbprint())?;
/// let now = 1_767_225_600;
/// let validity = Validity { not_before: now - 3600, not_after: now + 86_400 };
/// let identifier = Identifier::dns("device-17.example")?;
/// let mut out = [0u8; MAX_TLS_ALPN01_CERT_LEN];
/// let der =
///     write_tls_alpn01_certificate(&mut out, &responder, &identifier, &key_authorization, validity)?;
///
/// let certificate = Certificate::from_der(der)?;
/// assert_eq!(certificate.public_key_bytes(), responder.public_key().to_uncompressed());
/// let names: Vec<_> = certificate.subject_alt_names().into_iter().flatten().collect();
/// assert_eq!(names, [SanEntry::Dns("device-17.example")]);
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// [`Error::Identifier`] for a malformed identifier,
/// [`Error::BufferTooSmall`] with the exact size, or [`Error::Signer`].
pub fn write_tls_alpn01_certificate<'o>(
    out: &'o mut [u8],
    signer: &dyn Es256Signer,
    identifier: &Identifier<'_>,
    key_authorization: &KeyAuthorization,
    validity: Validity,
) -> Result<&'o [u8], Error> {
    let identifiers = core::slice::from_ref(identifier);
    validate_all(identifiers)?;
    let digest = key_authorization.digest();
    // A positive 128-bit serial derived from the digest: unique per
    // challenge, deterministic, and never zero.
    let mut serial = [0u8; 16];
    if let (Some(dst), Some(src)) = (serial.get_mut(..), digest.get(..16)) {
        dst.copy_from_slice(src);
    }
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    let spki = signer.public_key().spki_der();
    let san = Extension {
        oid: OID_SUBJECT_ALT_NAME,
        critical: true,
        value: GeneralNames(identifiers),
    };
    let acme_identifier = Extension {
        oid: OID_ACME_IDENTIFIER,
        critical: true,
        value: OctetStringRef::new(&digest).map_err(encode_error)?,
    };
    let extensions = Seq((san, acme_identifier));
    let tbs = Seq((
        explicit(TagNumber::N0, &2u8),
        UintRef::new(&serial).map_err(encode_error)?,
        ecdsa_sha256_algorithm(),
        Name(None),
        Seq((
            X509Time::from_unix(validity.not_before)?,
            X509Time::from_unix(validity.not_after)?,
        )),
        Name(None),
        raw(&spki)?,
        explicit(TagNumber::N3, &extensions),
    ));
    let signature = sign_der(&tbs, signer)?;
    let certificate = Seq((tbs, ecdsa_sha256_algorithm(), BitWrap(signature.as_bytes())));
    encode_into(&certificate, out)
}
