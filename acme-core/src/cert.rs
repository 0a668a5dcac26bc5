//! Allocation-free inspection of DER X.509 certificates (RFC 5280).
//!
//! [`Certificate::from_der`] checks the structure once and records where
//! each field lies; every accessor then borrows from the input. It reads
//! what an ACME client needs: the serial, the validity period, the
//! SubjectPublicKeyInfo, the subjectAltName entries, the
//! AuthorityKeyIdentifier, and the ARI CertID of RFC 9773 §4.1.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use der::asn1::{GeneralizedTime, ObjectIdentifier, UtcTime};
use der::{Decode, Header, Reader, SliceReader};

use crate::b64;
use crate::der_util::{OID_AUTHORITY_KEY_ID, OID_BASIC_CONSTRAINTS, OID_SUBJECT_ALT_NAME};
use crate::{CertificateError, Error};

/// DER tag bytes used below.
mod tag {
    pub(super) const BOOLEAN: u8 = 0x01;
    pub(super) const INTEGER: u8 = 0x02;
    pub(super) const BIT_STRING: u8 = 0x03;
    pub(super) const OCTET_STRING: u8 = 0x04;
    pub(super) const OID: u8 = 0x06;
    pub(super) const UTC_TIME: u8 = 0x17;
    pub(super) const GENERALIZED_TIME: u8 = 0x18;
    pub(super) const SEQUENCE: u8 = 0x30;
    pub(super) const EXPLICIT_0: u8 = 0xa0;
    pub(super) const IMPLICIT_1: u8 = 0x81;
    pub(super) const IMPLICIT_2: u8 = 0x82;
    pub(super) const EXPLICIT_3: u8 = 0xa3;
    pub(super) const KEY_ID: u8 = 0x80;
    pub(super) const DNS_NAME: u8 = 0x82;
    pub(super) const IP_ADDRESS: u8 = 0x87;
}

/// One DER element: its tag byte, its contents and its whole encoding.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    whole: &'a [u8],
    /// Offset of `value` in the certificate, for error positions.
    value_offset: usize,
}

/// Walks the elements of one DER constructed value.
#[derive(Clone, Copy, Debug)]
struct Cursor<'a> {
    rest: &'a [u8],
    offset: usize,
}

fn malformed(position: usize) -> CertificateError {
    CertificateError::MalformedDer { position }
}

impl<'a> Cursor<'a> {
    fn new(input: &'a [u8], offset: usize) -> Self {
        Self {
            rest: input,
            offset,
        }
    }

    fn of(tlv: &Tlv<'a>) -> Self {
        Self::new(tlv.value, tlv.value_offset)
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn next(&mut self) -> Result<Tlv<'a>, CertificateError> {
        let at = self.offset;
        let mut reader = SliceReader::new(self.rest).map_err(|_| malformed(at))?;
        let header = Header::decode(&mut reader).map_err(|_| malformed(at))?;
        let header_len = usize::try_from(reader.position()).map_err(|_| malformed(at))?;
        let value_len = usize::try_from(header.length).map_err(|_| malformed(at))?;
        let total = header_len
            .checked_add(value_len)
            .ok_or_else(|| malformed(at))?;
        let whole = self.rest.get(..total).ok_or_else(|| malformed(at))?;
        let value = whole.get(header_len..).ok_or_else(|| malformed(at))?;
        let tag = *whole.first().ok_or_else(|| malformed(at))?;
        self.rest = self.rest.get(total..).unwrap_or(&[]);
        self.offset = at.saturating_add(total);
        Ok(Tlv {
            tag,
            value,
            whole,
            value_offset: at.saturating_add(header_len),
        })
    }

    fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, CertificateError> {
        let at = self.offset;
        let tlv = self.next()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(malformed(at))
        }
    }

    /// The next element if it has `tag`.
    fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, CertificateError> {
        if self.peek_tag() == Some(tag) {
            self.next().map(Some)
        } else {
            Ok(None)
        }
    }

    fn finish(&self) -> Result<(), CertificateError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(malformed(self.offset))
        }
    }
}

/// A parsed view of a DER certificate. Nothing is copied.
///
/// ```
/// use acme_core::cert::{Certificate, SanEntry};
///
/// let der: &[u8] = include_bytes!("../tests/data/issuers/leaf-by-p256.der");
/// let certificate = Certificate::from_der(der)?;
/// assert_eq!(certificate.serial(), [2]);
/// let names: Vec<_> = certificate.subject_alt_names().into_iter().flatten().collect();
/// assert_eq!(names, [SanEntry::Dns("device.example.com")]);
/// assert_eq!(certificate.not_before()?, 1_796_267_196); // 2026-12-03T03:06:36Z
/// assert_eq!(certificate.not_after()?, 4_949_867_196);
/// # Ok::<(), acme_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Certificate<'a> {
    der: &'a [u8],
    tbs: &'a [u8],
    serial: &'a [u8],
    issuer: &'a [u8],
    subject: &'a [u8],
    not_before: Tlv<'a>,
    not_after: Tlv<'a>,
    spki: &'a [u8],
    public_key: &'a [u8],
    extensions: Cursor<'a>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

/// One extension of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExtensionRef<'a> {
    /// The extnID, as DER OID contents.
    pub oid: &'a [u8],
    /// Whether the extension is critical.
    pub critical: bool,
    /// The extnValue contents (the DER of the extension's own type).
    pub value: &'a [u8],
}

/// One subjectAltName entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanEntry<'a> {
    /// A `dNSName`.
    Dns(&'a str),
    /// An `iPAddress`.
    Ip(IpAddr),
    /// Any other GeneralName form (email, URI, …), with its tag byte.
    Other(u8),
}

#[cfg(feature = "defmt")]
impl defmt::Format for SanEntry<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            SanEntry::Dns(name) => defmt::write!(f, "dns:{=str}", name),
            SanEntry::Ip(IpAddr::V4(a)) => defmt::write!(f, "ip:{=[u8]}", a.octets()),
            SanEntry::Ip(IpAddr::V6(a)) => defmt::write!(f, "ip:{=[u8]:x}", a.octets()),
            SanEntry::Other(tag) => defmt::write!(f, "other:{=u8:x}", tag),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Certificate<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Certificate {{ serial: {=[u8]:x}, {=usize} bytes }}",
            self.serial,
            self.der.len()
        );
    }
}

impl<'a> Certificate<'a> {
    /// Parses and checks the structure of a DER certificate.
    ///
    /// # Errors
    /// [`CertificateError::MalformedDer`] with the offset of the first
    /// problem, including trailing bytes after the certificate.
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    /// use acme_core::{CertificateError, Error};
    ///
    /// let der: &[u8] = include_bytes!("../tests/data/issuers/leaf-by-p256.der");
    /// assert_eq!(Certificate::from_der(der)?.der().len(), der.len());
    /// // Cut short, the certificate's outer SEQUENCE no longer fits.
    /// let truncated = Certificate::from_der(&der[..200]).unwrap_err();
    /// assert_eq!(truncated, Error::Certificate(CertificateError::MalformedDer { position: 0 }));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    pub fn from_der(der: &'a [u8]) -> Result<Self, Error> {
        Ok(Self::parse(der)?)
    }

    fn parse(der: &'a [u8]) -> Result<Self, CertificateError> {
        let mut top = Cursor::new(der, 0);
        let certificate = top.expect(tag::SEQUENCE)?;
        top.finish()?;
        let mut fields = Cursor::of(&certificate);
        let tbs = fields.expect(tag::SEQUENCE)?;
        let signature_algorithm = fields.expect(tag::SEQUENCE)?;
        let signature = fields.expect(tag::BIT_STRING)?;
        fields.finish()?;
        let signature_bytes = bit_string_bytes(&signature)?;

        let mut t = Cursor::of(&tbs);
        t.optional(tag::EXPLICIT_0)?;
        let serial = t.expect(tag::INTEGER)?;
        if serial.value.is_empty() {
            return Err(malformed(serial.value_offset));
        }
        t.expect(tag::SEQUENCE)?; // signature AlgorithmIdentifier
        let issuer = t.expect(tag::SEQUENCE)?;
        let validity = t.expect(tag::SEQUENCE)?;
        let subject = t.expect(tag::SEQUENCE)?;
        let spki = t.expect(tag::SEQUENCE)?;
        t.optional(tag::IMPLICIT_1)?;
        t.optional(tag::IMPLICIT_2)?;
        let extensions = match t.optional(tag::EXPLICIT_3)? {
            Some(wrapper) => {
                let mut w = Cursor::of(&wrapper);
                let list = w.expect(tag::SEQUENCE)?;
                w.finish()?;
                Cursor::of(&list)
            }
            None => Cursor::new(&[], tbs.value_offset),
        };
        t.finish()?;

        let mut v = Cursor::of(&validity);
        let not_before = expect_time(&mut v)?;
        let not_after = expect_time(&mut v)?;
        v.finish()?;

        let mut k = Cursor::of(&spki);
        k.expect(tag::SEQUENCE)?;
        let public_key = k.expect(tag::BIT_STRING)?;
        k.finish()?;
        let public_key = bit_string_bytes(&public_key)?;

        let cert = Self {
            der,
            tbs: tbs.whole,
            serial: serial.value,
            issuer: issuer.whole,
            subject: subject.whole,
            not_before,
            not_after,
            spki: spki.whole,
            public_key,
            extensions,
            signature_algorithm: signature_algorithm.whole,
            signature: signature_bytes,
        };
        // Check every extension, and the SAN and AKI contents, once, so the
        // iterators below never meet malformed input.
        let mut list = cert.extensions;
        while !list.is_empty() {
            let ext = parse_extension(&mut list)?;
            if ext.oid == OID_SUBJECT_ALT_NAME.as_bytes() {
                let mut names = san_cursor(ext.value, list.offset)?;
                while !names.is_empty() {
                    general_name(&names.next()?)?;
                }
            } else if ext.oid == OID_AUTHORITY_KEY_ID.as_bytes() {
                aki_key_id(ext.value, list.offset)?;
            }
        }
        Ok(cert)
    }

    /// The whole certificate DER.
    #[must_use]
    pub fn der(&self) -> &'a [u8] {
        self.der
    }

    /// The DER `TBSCertificate`: the signed part.
    #[must_use]
    pub fn tbs_der(&self) -> &'a [u8] {
        self.tbs
    }

    /// The serial number as DER INTEGER contents (with a leading zero byte
    /// where DER needs one).
    #[must_use]
    pub fn serial(&self) -> &'a [u8] {
        self.serial
    }

    /// The DER issuer `Name`.
    #[must_use]
    pub fn issuer_der(&self) -> &'a [u8] {
        self.issuer
    }

    /// The DER subject `Name`.
    #[must_use]
    pub fn subject_der(&self) -> &'a [u8] {
        self.subject
    }

    /// The DER `SubjectPublicKeyInfo`.
    #[must_use]
    pub fn spki_der(&self) -> &'a [u8] {
        self.spki
    }

    /// The subjectPublicKey bits (for EC keys, the SEC1 point).
    #[must_use]
    pub fn public_key_bytes(&self) -> &'a [u8] {
        self.public_key
    }

    /// The DER outer signature `AlgorithmIdentifier`.
    #[must_use]
    pub fn signature_algorithm_der(&self) -> &'a [u8] {
        self.signature_algorithm
    }

    /// The outer signature algorithm: its OID (DER contents) and its
    /// parameters (their whole DER, empty when absent).
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    ///
    /// let certificate = Certificate::from_der(include_bytes!("../tests/data/issuers/leaf-by-p256.der"))?;
    /// let (oid, parameters) = certificate.signature_algorithm()?;
    /// // ecdsa-with-SHA256 (1.2.840.10045.4.3.2), which has no parameters.
    /// assert_eq!(oid, [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]);
    /// assert!(parameters.is_empty());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`CertificateError::MalformedDer`] when the `AlgorithmIdentifier`
    /// holds no OID.
    pub fn signature_algorithm(&self) -> Result<(&'a [u8], &'a [u8]), Error> {
        let mut outer = Cursor::new(self.signature_algorithm, 0);
        let mut fields = Cursor::of(&outer.expect(tag::SEQUENCE)?);
        let oid = fields.expect(tag::OID)?;
        Ok((oid.value, fields.rest))
    }

    /// The signature bits (for ECDSA, a DER `Ecdsa-Sig-Value`).
    #[must_use]
    pub fn signature(&self) -> &'a [u8] {
        self.signature
    }

    /// Start of validity, in Unix seconds.
    ///
    /// # Errors
    /// [`CertificateError::InvalidValue`] for a time before 1970 or
    /// otherwise not representable.
    pub fn not_before(&self) -> Result<u64, Error> {
        Ok(time_to_unix(&self.not_before)?)
    }

    /// End of validity, in Unix seconds.
    ///
    /// # Errors
    /// [`CertificateError::InvalidValue`] as for [`Self::not_before`].
    pub fn not_after(&self) -> Result<u64, Error> {
        Ok(time_to_unix(&self.not_after)?)
    }

    /// Iterates over the extensions.
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    ///
    /// let leaf = Certificate::from_der(include_bytes!("../tests/data/issuers/leaf-by-p256.der"))?;
    /// // subjectAltName, basicConstraints, and the two key identifiers.
    /// assert_eq!(leaf.extensions().count(), 4);
    /// assert_eq!(leaf.extensions().filter(|e| e.critical).count(), 0);
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions {
            cursor: self.extensions,
        }
    }

    /// The extension with `oid`, if present.
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    /// use der::asn1::ObjectIdentifier;
    ///
    /// const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
    /// let ca = Certificate::from_der(include_bytes!("../tests/data/issuers/p256-ca.der"))?;
    /// let extension = ca.extension(&BASIC_CONSTRAINTS).map(|e| e.critical);
    /// assert_eq!(extension, Some(true));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<ExtensionRef<'a>> {
        self.extensions().find(|e| e.oid == oid.as_bytes())
    }

    /// Iterates over the subjectAltName entries, or `None` when the
    /// certificate has no subjectAltName extension.
    ///
    /// ```
    /// use acme_core::cert::{Certificate, SanEntry};
    ///
    /// let leaf = Certificate::from_der(include_bytes!("../tests/data/issuers/leaf-by-p256.der"))?;
    /// let mut names = leaf.subject_alt_names().into_iter().flatten();
    /// assert_eq!(names.next(), Some(SanEntry::Dns("device.example.com")));
    /// assert_eq!(names.next(), None);
    /// // The test CA names nobody.
    /// let ca = Certificate::from_der(include_bytes!("../tests/data/issuers/p256-ca.der"))?;
    /// assert!(ca.subject_alt_names().is_none());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn subject_alt_names(&self) -> Option<SubjectAltNames<'a>> {
        let ext = self.extension(&OID_SUBJECT_ALT_NAME)?;
        let cursor = san_cursor(ext.value, 0).ok()?;
        Some(SubjectAltNames { cursor })
    }

    /// Whether its basicConstraints extension says it is a CA (`cA:
    /// TRUE`): only a CA certificate may sign others.
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    ///
    /// let ca = Certificate::from_der(include_bytes!("../tests/data/issuers/p256-ca.der"))?;
    /// let leaf = Certificate::from_der(include_bytes!("../tests/data/issuers/leaf-by-p256.der"))?;
    /// assert!(ca.is_ca());
    /// assert!(!leaf.is_ca());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn is_ca(&self) -> bool {
        // SEQUENCE { cA BOOLEAN TRUE, ... }: DER encodes TRUE as 0xFF, and
        // a cA of FALSE is left out (DEFAULT FALSE).
        self.extension(&OID_BASIC_CONSTRAINTS)
            .is_some_and(|extension| matches!(extension.value, [0x30, _, 0x01, 0x01, 0xff, ..]))
    }

    /// The AuthorityKeyIdentifier's keyIdentifier, if present.
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    ///
    /// let leaf = Certificate::from_der(include_bytes!("../tests/data/issuers/leaf-by-p256.der"))?;
    /// let issuer = Certificate::from_der(include_bytes!("../tests/data/issuers/p256-ca.der"))?;
    /// let key_id = leaf.authority_key_id().map(|id| id.len());
    /// assert_eq!(key_id, Some(20)); // a SHA-1 of the issuer's key
    /// // The self-signed CA names the same key: its own.
    /// assert_eq!(issuer.authority_key_id(), leaf.authority_key_id());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    #[must_use]
    pub fn authority_key_id(&self) -> Option<&'a [u8]> {
        let ext = self.extension(&OID_AUTHORITY_KEY_ID)?;
        aki_key_id(ext.value, 0).ok().flatten()
    }

    /// Writes the ARI CertID (RFC 9773 §4.1),
    /// `base64url(AKI keyIdentifier) "." base64url(serial)`, and returns it.
    ///
    /// ```
    /// use acme_core::cert::Certificate;
    /// use acme_core::Error;
    ///
    /// let leaf = Certificate::from_der(include_bytes!("../tests/data/issuers/leaf-by-p256.der"))?;
    /// let mut out = [0u8; 64];
    /// assert_eq!(leaf.write_ari_cert_id(&mut out)?, "oZ7hpSuNmUMDr_lnaK831yh9KyA.Ag");
    /// let mut short = [0u8; 16];
    /// assert_eq!(leaf.write_ari_cert_id(&mut short), Err(Error::BufferTooSmall { required: 30 }));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`CertificateError::MissingAuthorityKeyId`], or
    /// [`Error::BufferTooSmall`] with the exact size.
    pub fn write_ari_cert_id<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Error> {
        let aki = self
            .authority_key_id()
            .ok_or(CertificateError::MissingAuthorityKeyId)?;
        let aki_len = b64::encoded_len(aki.len());
        let required = aki_len + 1 + b64::encoded_len(self.serial.len());
        let out = out
            .get_mut(..required)
            .ok_or(Error::BufferTooSmall { required })?;
        let (left, right) = out.split_at_mut(aki_len);
        b64::encode(aki, left)?;
        let (dot, serial) = right.split_at_mut(1);
        dot.copy_from_slice(b".");
        b64::encode(self.serial, serial)?;
        core::str::from_utf8(out).map_err(|_| CertificateError::InvalidValue.into())
    }
}

fn expect_time<'a>(cursor: &mut Cursor<'a>) -> Result<Tlv<'a>, CertificateError> {
    let at = cursor.offset;
    let tlv = cursor.next()?;
    if tlv.tag == tag::UTC_TIME || tlv.tag == tag::GENERALIZED_TIME {
        Ok(tlv)
    } else {
        Err(malformed(at))
    }
}

fn time_to_unix(tlv: &Tlv<'_>) -> Result<u64, CertificateError> {
    let duration = if tlv.tag == tag::UTC_TIME {
        UtcTime::from_der(tlv.whole).map(|t| t.to_unix_duration())
    } else {
        GeneralizedTime::from_der(tlv.whole).map(|t| t.to_unix_duration())
    };
    duration
        .map(|d| d.as_secs())
        .map_err(|_| CertificateError::InvalidValue)
}

/// The bytes of a BIT STRING with no unused bits.
fn bit_string_bytes<'a>(tlv: &Tlv<'a>) -> Result<&'a [u8], CertificateError> {
    match tlv.value.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(malformed(tlv.value_offset)),
    }
}

fn parse_extension<'a>(list: &mut Cursor<'a>) -> Result<ExtensionRef<'a>, CertificateError> {
    let ext = list.expect(tag::SEQUENCE)?;
    let mut e = Cursor::of(&ext);
    let oid = e.expect(tag::OID)?;
    let critical = match e.optional(tag::BOOLEAN)? {
        Some(b) => match b.value {
            [0xff] => true,
            [0x00] => false,
            _ => return Err(malformed(b.value_offset)),
        },
        None => false,
    };
    let value = e.expect(tag::OCTET_STRING)?;
    e.finish()?;
    Ok(ExtensionRef {
        oid: oid.value,
        critical,
        value: value.value,
    })
}

/// A cursor over the GeneralNames inside a SAN extension value.
fn san_cursor(value: &[u8], offset: usize) -> Result<Cursor<'_>, CertificateError> {
    let mut outer = Cursor::new(value, offset);
    let names = outer.expect(tag::SEQUENCE)?;
    outer.finish()?;
    Ok(Cursor::of(&names))
}

fn general_name<'a>(tlv: &Tlv<'a>) -> Result<SanEntry<'a>, CertificateError> {
    match tlv.tag {
        tag::DNS_NAME => {
            if !tlv.value.is_ascii() {
                return Err(malformed(tlv.value_offset));
            }
            core::str::from_utf8(tlv.value)
                .map(SanEntry::Dns)
                .map_err(|_| malformed(tlv.value_offset))
        }
        tag::IP_ADDRESS => {
            if let Ok(v4) = <[u8; 4]>::try_from(tlv.value) {
                Ok(SanEntry::Ip(IpAddr::V4(Ipv4Addr::from(v4))))
            } else if let Ok(v6) = <[u8; 16]>::try_from(tlv.value) {
                Ok(SanEntry::Ip(IpAddr::V6(Ipv6Addr::from(v6))))
            } else {
                Err(malformed(tlv.value_offset))
            }
        }
        other => Ok(SanEntry::Other(other)),
    }
}

/// The keyIdentifier of an AuthorityKeyIdentifier extension value.
fn aki_key_id(value: &[u8], offset: usize) -> Result<Option<&[u8]>, CertificateError> {
    let mut outer = Cursor::new(value, offset);
    let aki = outer.expect(tag::SEQUENCE)?;
    outer.finish()?;
    let mut fields = Cursor::of(&aki);
    let key_id = fields.optional(tag::KEY_ID)?.map(|t| t.value);
    while !fields.is_empty() {
        fields.next()?;
    }
    Ok(key_id)
}

/// Iterator over a certificate's extensions.
#[derive(Clone, Debug)]
pub struct Extensions<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Iterator for Extensions<'a> {
    type Item = ExtensionRef<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor.is_empty() {
            return None;
        }
        parse_extension(&mut self.cursor).ok()
    }
}

/// Iterator over subjectAltName entries.
#[derive(Clone, Debug)]
pub struct SubjectAltNames<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Iterator for SubjectAltNames<'a> {
    type Item = SanEntry<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.cursor.is_empty() {
            return None;
        }
        let tlv = self.cursor.next().ok()?;
        general_name(&tlv).ok()
    }
}
