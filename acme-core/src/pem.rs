//! Iteration over an `application/pem-certificate-chain` body
//! (RFC 8555 §9.1), with `pem-rfc7468` decoding each block.
//!
//! The iterator borrows the body and yields each `CERTIFICATE` block as a
//! slice of it; a block is decoded to DER only when asked, into a buffer the
//! caller lends.

use crate::{Error, PemError};

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// Iterates over the PEM blocks of a certificate chain body.
///
/// ```
/// use acme_core::cert::Certificate;
/// use acme_core::pem;
///
/// # fn to_pem(der: &[u8]) -> String {
/// #     let mut buf = [0u8; 1024];
/// #     let ending = pem_rfc7468::LineEnding::LF;
/// #     pem_rfc7468::encode("CERTIFICATE", ending, der, &mut buf).unwrap().to_owned()
/// # }
/// # let leaf = to_pem(include_bytes!("../tests/data/issuers/leaf-by-p256.der"));
/// # let issuer = to_pem(include_bytes!("../tests/data/issuers/p256-ca.der"));
/// // A chain as the CA sends it (RFC 8555 §7.4.2): the leaf, then its issuer.
/// let body = format!("{leaf}\n{issuer}");
/// let mut der = [0u8; 1024];
/// let mut is_ca = Vec::new();
/// for block in pem::certificates(body.as_bytes()) {
///     let certificate = Certificate::from_der(block?.decode(&mut der)?)?;
///     is_ca.push(certificate.is_ca());
/// }
/// assert_eq!(is_ca, [false, true]);
/// # Ok::<(), acme_core::Error>(())
/// ```
#[must_use]
pub fn certificates(body: &[u8]) -> PemCertificates<'_> {
    PemCertificates {
        rest: body,
        failed: false,
    }
}

/// Checks a whole chain body and returns how many certificates it holds.
///
/// # Errors
/// [`PemError::Empty`] for a body with no certificate, or the first
/// block's error.
///
/// ```
/// use acme_core::{pem, Error, PemError};
///
/// # fn to_pem(der: &[u8]) -> String {
/// #     let mut buf = [0u8; 1024];
/// #     let ending = pem_rfc7468::LineEnding::LF;
/// #     pem_rfc7468::encode("CERTIFICATE", ending, der, &mut buf).unwrap().to_owned()
/// # }
/// # let leaf = to_pem(include_bytes!("../tests/data/issuers/leaf-by-p256.der"));
/// # let issuer = to_pem(include_bytes!("../tests/data/issuers/p256-ca.der"));
/// let body = format!("{leaf}{issuer}");
/// assert_eq!(pem::count_certificates(body.as_bytes()), Ok(2));
/// // A proxy's error page instead of the chain:
/// let html = b"<html>502 Bad Gateway</html>";
/// assert_eq!(pem::count_certificates(html), Err(Error::Pem(PemError::UnexpectedText)));
/// assert_eq!(pem::count_certificates(b"\n"), Err(Error::Pem(PemError::Empty)));
/// ```
pub fn count_certificates(body: &[u8]) -> Result<usize, Error> {
    let mut count = 0usize;
    for block in certificates(body) {
        block?;
        count += 1;
    }
    if count == 0 {
        return Err(PemError::Empty.into());
    }
    Ok(count)
}

/// Iterator over the `CERTIFICATE` blocks of a PEM body.
#[derive(Clone, Debug)]
pub struct PemCertificates<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// One PEM block, borrowed from the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PemBlock<'a> {
    text: &'a [u8],
    decoded_len: usize,
}

impl<'a> PemBlock<'a> {
    /// The block's text, from `-----BEGIN` to the end of the `-----END` line.
    #[must_use]
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// The size of the decoded DER.
    #[must_use]
    pub fn decoded_len(&self) -> usize {
        self.decoded_len
    }

    /// Decodes the block into `buf` and returns the DER.
    ///
    /// ```
    /// use acme_core::{pem, Error};
    ///
    /// # fn to_pem(der: &[u8]) -> String {
    /// #     let mut buf = [0u8; 1024];
    /// #     let ending = pem_rfc7468::LineEnding::LF;
    /// #     pem_rfc7468::encode("CERTIFICATE", ending, der, &mut buf).unwrap().to_owned()
    /// # }
    /// # let leaf = to_pem(include_bytes!("../tests/data/issuers/leaf-by-p256.der"));
    /// let block = pem::certificates(leaf.as_bytes()).next().unwrap()?;
    /// // Too small a buffer reports the exact size, as decoded_len() does.
    /// let mut small = [0u8; 64];
    /// assert_eq!(block.decode(&mut small), Err(Error::BufferTooSmall { required: 406 }));
    /// assert_eq!(block.decoded_len(), 406);
    /// let mut der = [0u8; 406];
    /// assert_eq!(block.decode(&mut der)?.len(), 406);
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the exact size, or
    /// [`PemError::Malformed`].
    pub fn decode<'o>(&self, buf: &'o mut [u8]) -> Result<&'o [u8], Error> {
        let required = self.decoded_len;
        if buf.len() < required {
            return Err(Error::BufferTooSmall { required });
        }
        pem_rfc7468::decode(self.text, buf)
            .map(|(_, der)| der)
            .map_err(|_| PemError::Malformed.into())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<'a> PemCertificates<'a> {
    fn next_block(&mut self) -> Result<Option<PemBlock<'a>>, PemError> {
        let start = self
            .rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(self.rest.len());
        let rest = self.rest.get(start..).unwrap_or(&[]);
        if rest.is_empty() {
            self.rest = rest;
            return Ok(None);
        }
        if !rest.starts_with(BEGIN) {
            return Err(PemError::UnexpectedText);
        }
        let end = find(rest, END).ok_or(PemError::Malformed)?;
        let after_end = rest.get(end + END.len()..).ok_or(PemError::Malformed)?;
        let label_end = find(after_end, DASHES).ok_or(PemError::Malformed)?;
        let mut block_len = end + END.len() + label_end + DASHES.len();
        // Include the line ending of the END line.
        match rest.get(block_len..) {
            Some([b'\r', b'\n', ..]) => block_len += 2,
            Some([b'\n', ..]) => block_len += 1,
            _ => {}
        }
        let text = rest.get(..block_len).ok_or(PemError::Malformed)?;
        self.rest = rest.get(block_len..).unwrap_or(&[]);
        let decoder = pem_rfc7468::Decoder::new(text).map_err(|_| PemError::Malformed)?;
        if decoder.type_label() != "CERTIFICATE" {
            return Err(PemError::NotACertificate);
        }
        let decoded_len = decoder.remaining_len();
        // Check the base64 now so iteration reports malformed blocks.
        let mut scratch = [0u8; 64];
        let mut check = pem_rfc7468::Decoder::new(text).map_err(|_| PemError::Malformed)?;
        while !check.is_finished() {
            let n = check.remaining_len().min(scratch.len());
            if n == 0 {
                // Text is left that decodes to nothing (blank lines before
                // the END line): malformed, and no progress is possible.
                return Err(PemError::Malformed);
            }
            let chunk = scratch.get_mut(..n).ok_or(PemError::Malformed)?;
            check.decode(chunk).map_err(|_| PemError::Malformed)?;
        }
        Ok(Some(PemBlock { text, decoded_len }))
    }
}

impl<'a> Iterator for PemCertificates<'a> {
    type Item = Result<PemBlock<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_block() {
            Ok(block) => block.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e.into()))
            }
        }
    }
}
