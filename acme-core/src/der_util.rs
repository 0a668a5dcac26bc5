//! DER building blocks shared by the CSR and the tls-alpn-01 certificate:
//! encode-only SEQUENCE/SET wrappers over borrowed parts, so nothing is
//! allocated and lengths are computed before anything is written.

use core::net::IpAddr;

use der::asn1::{
    AnyRef, ContextSpecificRef, GeneralizedTime, Ia5StringRef, ObjectIdentifier, OctetStringRef,
    UtcTime, Utf8StringRef,
};
use der::{Encode, EncodeValue, FixedTag, Length, Tag, TagMode, TagNumber, Writer};

use crate::identifier::Identifier;
use crate::Error;

/// id-ecPublicKey (RFC 5480).
#[cfg(test)]
pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// ecdsa-with-SHA256 (RFC 5758).
pub(crate) const OID_ECDSA_SHA256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384 (RFC 5758).
#[cfg(feature = "p384")]
pub(crate) const OID_ECDSA_SHA384: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// sha256WithRSAEncryption (RFC 4055).
pub(crate) const OID_SHA256_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// basicConstraints.
pub(crate) const OID_BASIC_CONSTRAINTS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.19");
/// commonName.
pub(crate) const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// subjectAltName.
pub(crate) const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
/// authorityKeyIdentifier.
pub(crate) const OID_AUTHORITY_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// PKCS#9 extensionRequest.
pub(crate) const OID_EXTENSION_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
pub(crate) const OID_ACME_IDENTIFIER: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.31");

/// Maps a DER encoding failure. The only failure of encoding into a slice
/// whose size was computed first is a length overflow.
pub(crate) fn encode_error(_: der::Error) -> Error {
    Error::LimitExceeded {
        limit: "DER length",
        max: u16::MAX as usize,
    }
}

/// Total encoded length of `value` as `usize`.
pub(crate) fn encoded_len(value: &impl Encode) -> Result<usize, Error> {
    let len = value.encoded_len().map_err(encode_error)?;
    usize::try_from(len).map_err(encode_error)
}

/// Encodes `value` into `out` after checking the size, so a short buffer
/// gives [`Error::BufferTooSmall`] with the exact size.
pub(crate) fn encode_into<'o>(value: &impl Encode, out: &'o mut [u8]) -> Result<&'o [u8], Error> {
    let required = encoded_len(value)?;
    let dst = out
        .get_mut(..required)
        .ok_or(Error::BufferTooSmall { required })?;
    value.encode_to_slice(dst).map_err(encode_error)
}

/// A SEQUENCE whose elements are the members of a tuple.
pub(crate) struct Seq<T>(pub(crate) T);
/// A SET with the members of a tuple (callers keep DER order: one member).
pub(crate) struct Set<T>(pub(crate) T);

macro_rules! tuple_encoding {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Encode),+> EncodeValue for Seq<($($name,)+)> {
            fn value_len(&self) -> der::Result<Length> {
                Length::ZERO $(+ self.0.$idx.encoded_len()?)+
            }
            fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
                $(self.0.$idx.encode(writer)?;)+
                Ok(())
            }
        }
        impl<$($name: Encode),+> EncodeValue for Set<($($name,)+)> {
            fn value_len(&self) -> der::Result<Length> {
                Length::ZERO $(+ self.0.$idx.encoded_len()?)+
            }
            fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
                $(self.0.$idx.encode(writer)?;)+
                Ok(())
            }
        }
    };
}
tuple_encoding!(A 0);
tuple_encoding!(A 0, B 1);
tuple_encoding!(A 0, B 1, C 2);
tuple_encoding!(A 0, B 1, C 2, D 3);
tuple_encoding!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

impl<T> FixedTag for Seq<T> {
    const TAG: Tag = Tag::Sequence;
}
impl<T> FixedTag for Set<T> {
    const TAG: Tag = Tag::Set;
}

/// An OCTET STRING holding the DER of `T` (an extension's extnValue).
pub(crate) struct OctetWrap<'a, T>(pub(crate) &'a T);

impl<T: Encode> EncodeValue for OctetWrap<'_, T> {
    fn value_len(&self) -> der::Result<Length> {
        self.0.encoded_len()
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}
impl<T> FixedTag for OctetWrap<'_, T> {
    const TAG: Tag = Tag::OctetString;
}

/// A BIT STRING with no unused bits holding the DER of `T`, or raw bytes.
pub(crate) struct BitWrap<'a>(pub(crate) &'a [u8]);

impl EncodeValue for BitWrap<'_> {
    fn value_len(&self) -> der::Result<Length> {
        Length::ONE + Length::try_from(self.0.len())?
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write_byte(0)?;
        writer.write(self.0)
    }
}
impl FixedTag for BitWrap<'_> {
    const TAG: Tag = Tag::BitString;
}

/// `AlgorithmIdentifier { ecdsa-with-SHA256 }` (parameters absent).
pub(crate) fn ecdsa_sha256_algorithm() -> Seq<(ObjectIdentifier,)> {
    Seq((OID_ECDSA_SHA256,))
}

/// An X.509 `Name`: empty, or one RDN holding a UTF8String commonName.
pub(crate) struct Name<'a>(pub(crate) Option<Utf8StringRef<'a>>);

impl EncodeValue for Name<'_> {
    fn value_len(&self) -> der::Result<Length> {
        match &self.0 {
            None => Ok(Length::ZERO),
            Some(cn) => Set((Seq((OID_COMMON_NAME, *cn)),)).encoded_len(),
        }
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        match &self.0 {
            None => Ok(()),
            Some(cn) => Set((Seq((OID_COMMON_NAME, *cn)),)).encode(writer),
        }
    }
}
impl FixedTag for Name<'_> {
    const TAG: Tag = Tag::Sequence;
}

/// `GeneralNames` for a subjectAltName: `dNSName [2]` and `iPAddress [7]`.
pub(crate) struct GeneralNames<'a>(pub(crate) &'a [Identifier<'a>]);

/// An IP address's octets: 4 or 16 of them.
pub(crate) fn ip_octets(addr: &IpAddr) -> ([u8; 16], usize) {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => {
            if let Some(dst) = out.get_mut(..4) {
                dst.copy_from_slice(&a.octets());
            }
            (out, 4)
        }
        IpAddr::V6(a) => (a.octets(), 16),
    }
}

/// `dNSName [2] IMPLICIT IA5String` or `iPAddress [7] IMPLICIT OCTET STRING`.
struct GeneralName<'a>(&'a Identifier<'a>);

impl Encode for GeneralName<'_> {
    fn encoded_len(&self) -> der::Result<Length> {
        match self.0 {
            Identifier::Dns(name) => {
                implicit(TagNumber::N2, &Ia5StringRef::new(name)?).encoded_len()
            }
            Identifier::Ip(addr) => {
                let (octets, len) = ip_octets(addr);
                let value = OctetStringRef::new(octets.get(..len).unwrap_or(&[]))?;
                implicit(TagNumber::N7, &value).encoded_len()
            }
        }
    }
    fn encode(&self, writer: &mut impl Writer) -> der::Result<()> {
        match self.0 {
            Identifier::Dns(name) => {
                implicit(TagNumber::N2, &Ia5StringRef::new(name)?).encode(writer)
            }
            Identifier::Ip(addr) => {
                let (octets, len) = ip_octets(addr);
                let value = OctetStringRef::new(octets.get(..len).unwrap_or(&[]))?;
                implicit(TagNumber::N7, &value).encode(writer)
            }
        }
    }
}

/// `[n] IMPLICIT value`.
pub(crate) fn implicit<T>(tag_number: TagNumber, value: &T) -> ContextSpecificRef<'_, T> {
    ContextSpecificRef {
        tag_number,
        tag_mode: TagMode::Implicit,
        value,
    }
}

/// `[n] EXPLICIT value`.
pub(crate) fn explicit<T>(tag_number: TagNumber, value: &T) -> ContextSpecificRef<'_, T> {
    ContextSpecificRef {
        tag_number,
        tag_mode: TagMode::Explicit,
        value,
    }
}

impl EncodeValue for GeneralNames<'_> {
    fn value_len(&self) -> der::Result<Length> {
        let mut total = Length::ZERO;
        for identifier in self.0 {
            total = (total + GeneralName(identifier).encoded_len()?)?;
        }
        Ok(total)
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        for identifier in self.0 {
            GeneralName(identifier).encode(writer)?;
        }
        Ok(())
    }
}
impl FixedTag for GeneralNames<'_> {
    const TAG: Tag = Tag::Sequence;
}

/// An X.509 `Time`: UTCTime through 2049, GeneralizedTime after
/// (RFC 5280 §4.1.2.5).
pub(crate) enum X509Time {
    Utc(UtcTime),
    Generalized(GeneralizedTime),
}

impl X509Time {
    pub(crate) fn from_unix(seconds: u64) -> Result<Self, Error> {
        let duration = core::time::Duration::from_secs(seconds);
        match UtcTime::from_unix_duration(duration) {
            Ok(t) => Ok(X509Time::Utc(t)),
            Err(_) => GeneralizedTime::from_unix_duration(duration)
                .map(X509Time::Generalized)
                .map_err(|_| Error::TimeOutOfRange),
        }
    }
}

impl Encode for X509Time {
    fn encoded_len(&self) -> der::Result<Length> {
        match self {
            X509Time::Utc(t) => t.encoded_len(),
            X509Time::Generalized(t) => t.encoded_len(),
        }
    }
    fn encode(&self, writer: &mut impl Writer) -> der::Result<()> {
        match self {
            X509Time::Utc(t) => t.encode(writer),
            X509Time::Generalized(t) => t.encode(writer),
        }
    }
}

/// A pre-encoded DER element embedded as-is.
pub(crate) fn raw(der_bytes: &[u8]) -> Result<AnyRef<'_>, Error> {
    use der::Decode as _;
    AnyRef::from_der(der_bytes).map_err(encode_error)
}

/// An X.509 `Extension { extnID, critical DEFAULT FALSE, extnValue }`,
/// whose extnValue is the DER of `value`.
pub(crate) struct Extension<T> {
    pub(crate) oid: ObjectIdentifier,
    pub(crate) critical: bool,
    pub(crate) value: T,
}

impl<T: Encode> EncodeValue for Extension<T> {
    fn value_len(&self) -> der::Result<Length> {
        let critical = if self.critical {
            true.encoded_len()?
        } else {
            Length::ZERO
        };
        self.oid.encoded_len()? + critical + OctetWrap(&self.value).encoded_len()?
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.oid.encode(writer)?;
        if self.critical {
            true.encode(writer)?;
        }
        OctetWrap(&self.value).encode(writer)
    }
}
impl<T> FixedTag for Extension<T> {
    const TAG: Tag = Tag::Sequence;
}

/// A DER writer that only hashes: the signed part of a CSR or certificate
/// is hashed without being buffered.
pub(crate) struct DigestWriter<'d>(pub(crate) &'d mut sha2::Sha256);

impl Writer for DigestWriter<'_> {
    fn write(&mut self, slice: &[u8]) -> der::Result<()> {
        sha2::Digest::update(self.0, slice);
        Ok(())
    }
}

/// The SHA-256 digest of the DER of `value`. Out of line, so the hasher
/// and the encoder's state are off the stack before signing takes its
/// own.
#[inline(never)]
fn der_digest(value: &impl Encode) -> Result<[u8; 32], Error> {
    let mut hash = <sha2::Sha256 as sha2::Digest>::new();
    value
        .encode(&mut DigestWriter(&mut hash))
        .map_err(encode_error)?;
    Ok(sha2::Digest::finalize(hash).into())
}

/// Hashes the DER of `value` with SHA-256 and signs it; returns the
/// DER-encoded ECDSA signature (at most 72 bytes).
pub(crate) fn sign_der(
    value: &impl Encode,
    signer: &dyn crate::Es256Signer,
) -> Result<p256::ecdsa::DerSignature, Error> {
    let digest = der_digest(value)?;
    let raw = signer.sign_digest(&digest).map_err(|_| Error::Signer)?;
    // A signer's r or s of zero (or not below the order) is its failure.
    let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| Error::Signer)?;
    Ok(signature.to_der())
}

/// A DER writer that streams into a sink (base64url, for a CSR inside a
/// JWS payload).
pub(crate) struct SinkWriter<'s>(pub(crate) &'s mut dyn crate::sink::Sink);

impl Writer for SinkWriter<'_> {
    fn write(&mut self, slice: &[u8]) -> der::Result<()> {
        self.0.put(slice);
        Ok(())
    }
}
