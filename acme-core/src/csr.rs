//! PKCS#10 certificate signing requests (RFC 2986) in DER, as ACME's
//! finalize expects (RFC 8555 §7.4).
//!
//! Every identifier goes into the subjectAltName extension (dns names as
//! `dNSName`, IP addresses as `iPAddress`). The subject is empty unless a
//! common name is asked for; when it is empty the SAN extension is marked
//! critical (RFC 5280 §4.2.1.6). The common name is never an IP address.
//! The request is signed with ecdsa-with-SHA256 by the device key.

use core::net::IpAddr;

use der::asn1::Utf8StringRef;
use der::{Encode, TagNumber};

use crate::der_util::{
    ecdsa_sha256_algorithm, encode_error, encode_into, implicit, raw, sign_der, BitWrap, Extension,
    GeneralNames, Name, Seq, Set, SinkWriter, OID_EXTENSION_REQUEST, OID_SUBJECT_ALT_NAME,
};
use crate::identifier::{validate_all, Identifier};
use crate::sink::Sink;
use crate::{Error, Es256Signer, IdentifierError};

/// A CSR's DER is at most this long for [`crate::identifier::MAX_IDENTIFIERS`]
/// maximal dns names: a safe size for a caller's buffer.
pub const MAX_CSR_LEN: usize = 2560;

/// Writes a DER CSR for `identifiers`, signed by `signer` (the device key
/// that will own the certificate), and returns it.
///
/// `common_name`, when given, must be one of the dns identifiers.
///
/// ```
/// use core::net::{IpAddr, Ipv4Addr};
/// use acme_core::csr::{write_csr, MAX_CSR_LEN};
/// use acme_core::{Error, Es256Signer, Identifier, IdentifierError, SoftwareKey};
///
/// let device = SoftwareKey::from_scalar(&[2; 32])?;
/// let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 17));
/// let identifiers = [Identifier::dns("device-17.example")?, Identifier::Ip(ip)];
/// let mut out = [0u8; MAX_CSR_LEN];
/// let csr = write_csr(&mut out, &device, &identifiers, None)?;
/// assert_eq!(csr[0], 0x30); // a DER SEQUENCE
/// // It carries the device's public key, which the certificate will hold.
/// let spki = device.public_key().spki_der();
/// assert!(csr.windows(spki.len()).any(|w| w == spki));
///
/// let cn = write_csr(&mut out, &device, &identifiers, Some("other.example"));
/// assert_eq!(cn, Err(Error::Identifier(IdentifierError::CommonNameNotRequested)));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// * [`Error::Identifier`] for an empty or over-long list, a malformed dns
///   name, or a common name that is an IP address or not among the
///   identifiers.
/// * [`Error::BufferTooSmall`] with the exact size.
/// * [`Error::Signer`] when the signer fails.
pub fn write_csr<'o>(
    out: &'o mut [u8],
    signer: &dyn Es256Signer,
    identifiers: &[Identifier<'_>],
    common_name: Option<&str>,
) -> Result<&'o [u8], Error> {
    with_csr(signer, identifiers, common_name, |csr| csr.encode_into(out))
}

/// Streams the DER CSR into a sink (the finalize payload's base64url
/// encoder), so no buffer holds it.
pub(crate) fn stream_csr(
    sink: &mut dyn Sink,
    signer: &dyn Es256Signer,
    identifiers: &[Identifier<'_>],
    common_name: Option<&str>,
) -> Result<(), Error> {
    with_csr(signer, identifiers, common_name, |csr| {
        csr.encode(&mut SinkWriter(sink)).map_err(encode_error)
    })
}

/// Builds and signs the CSR, then hands it to `f` to be encoded.
fn with_csr<R>(
    signer: &dyn Es256Signer,
    identifiers: &[Identifier<'_>],
    common_name: Option<&str>,
    f: impl FnOnce(&dyn CsrEncode) -> Result<R, Error>,
) -> Result<R, Error> {
    validate_all(identifiers)?;
    let common_name = match common_name {
        None => None,
        Some(cn) => {
            if cn.parse::<IpAddr>().is_ok() {
                return Err(IdentifierError::IpAddressAsCommonName.into());
            }
            if !identifiers.contains(&Identifier::Dns(cn)) {
                return Err(IdentifierError::CommonNameNotRequested.into());
            }
            Some(Utf8StringRef::new(cn).map_err(encode_error)?)
        }
    };
    let spki = signer.public_key().spki_der();
    let san = Extension {
        oid: OID_SUBJECT_ALT_NAME,
        critical: common_name.is_none(),
        value: GeneralNames(identifiers),
    };
    let extension_request = Seq((OID_EXTENSION_REQUEST, Set((Seq((san,)),))));
    let attributes = Set((extension_request,));
    let info = Seq((
        0u8,
        Name(common_name),
        raw(&spki)?,
        implicit(TagNumber::N0, &attributes),
    ));
    let signature = sign_der(&info, signer)?;
    let request = Seq((
        info,
        ecdsa_sha256_algorithm(),
        BitWrap(signature.as_bytes()),
    ));
    f(&request)
}

/// The two ways a CSR is written: into a slice, or streamed.
trait CsrEncode {
    fn encode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], Error>;
    fn encode(&self, writer: &mut SinkWriter<'_>) -> der::Result<()>;
}

impl<T: Encode> CsrEncode for T {
    fn encode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], Error> {
        encode_into(self, out)
    }
    fn encode(&self, writer: &mut SinkWriter<'_>) -> der::Result<()> {
        Encode::encode(self, writer)
    }
}
