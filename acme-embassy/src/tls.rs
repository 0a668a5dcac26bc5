//! TLS 1.3 to the CA with embedded-tls, over an embassy-net TCP socket.
//!
//! # What is verified
//!
//! Every connection verifies the server before a byte of ACME goes out,
//! with acme-core's certificate parsing and signature checks (the same
//! code that checks a newly issued certificate, so the firmware carries
//! one X.509 parser, not two):
//!
//! * the chain, against the trust anchor in the configuration: each
//!   certificate is signed by the next one, and the last by the trust
//!   anchor (or is the trust anchor): ECDSA P-256 with SHA-256, RSA
//!   (PKCS #1 v1.5, up to 2,048 bits) with SHA-256, and with the `p384`
//!   feature also P-384 with SHA-384 (which Let's Encrypt's ECDSA
//!   intermediates use); a chain signed otherwise is refused as
//!   [`TlsFailure::Untrusted`];
//! * the handshake signature (CertificateVerify, RFC 8446 §4.4.3) by the
//!   leaf's key: ECDSA P-256 with SHA-256, or P-384 with SHA-384 with the
//!   `p384` feature (a server with an RSA key is refused as
//!   [`TlsFailure::UnsupportedKey`]). A handshake that finishes without a
//!   verified certificate and signature (embedded-tls lets a server skip
//!   both) is refused as [`TlsFailure::NotAuthenticated`];
//! * every certificate the server sends parses as DER;
//! * the host name: the URL's host must match a `dNSName` of the leaf's
//!   subjectAltName (exactly, ASCII case aside, or as `*.` for one
//!   leftmost label). The common name is never used; a leaf without a
//!   subjectAltName is refused;
//! * every certificate above the leaf is a CA: its basicConstraints
//!   extension says `cA: TRUE` (without this a leaf of the trusted CA
//!   could sign a certificate for any name);
//! * validity: when the device has a clock ([`TlsConnector::with_clock`]),
//!   every certificate of the chain must be within its notBefore and
//!   notAfter. Without a clock, validity is **not** checked: a device
//!   that boots without knowing the time cannot tell an expired
//!   certificate from a current one. Give it one (an RTC, GNSS, or a
//!   time from the network) where you can.
//!
//! Not checked: key usage and extended key usage, name constraints, path
//! length constraints, revocation (CRL or OCSP), and the trust anchor's
//! own validity. A CA URL whose host is an IP address cannot be verified
//! (only names are matched) and is refused.
//!
//! Records embedded-tls 0.19 would panic on (a protected record too short
//! to hold its content type, which anyone answering the TCP connection can
//! send before the server is authenticated) are refused by a
//! [`RecordGuard`] under it, ending the connection with
//! [`TlsFailure::Handshake`].
//!
//! There is no way to turn verification off: the connector only builds a
//! provider whose verifier is the one above. A refusal is reported as
//! [`Error::Tls`] with the [`TlsFailure`] that caused it, and the driver
//! does not retry it.

use acme_core::cert::{Certificate as Inspected, SanEntry};
use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    SignatureScheme, TlsCipherSuite, TlsConfig, TlsConnection, TlsContext, TlsError, TlsVerifier,
};
use rand_core::CryptoRngCore;
use sha2::Digest as _;

use crate::driver::{Connector, Error};
pub use crate::record_guard::{GuardError, RecordGuard};

/// The largest leaf public key kept for the handshake signature: an
/// uncompressed P-384 point (97 bytes; P-256's is 65).
const MAX_LEAF_KEY: usize = 97;

/// Socket and TLS record buffers for one connection.
pub struct TlsBuffers<'a> {
    /// TCP receive buffer.
    pub tcp_rx: &'a mut [u8],
    /// TCP transmit buffer.
    pub tcp_tx: &'a mut [u8],
    /// TLS record read buffer: must hold a full 16 KiB record, as servers
    /// (Go's among them) do not negotiate smaller ones.
    pub tls_read: &'a mut [u8],
    /// TLS record write buffer.
    pub tls_write: &'a mut [u8],
}

/// What embedded-tls reserves in each record buffer (header, content type
/// and AEAD tag); a record buffer must be larger.
pub const TLS_RECORD_OVERHEAD: usize = 128;

/// A clock for certificate validity: seconds since 1970, if known.
pub type WallClock = fn() -> Option<u64>;

/// Why a TLS connection to the CA was refused or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TlsFailure {
    /// A certificate the server sent is not well-formed DER.
    Malformed,
    /// The chain does not lead to the trust anchor: a signature in it does
    /// not verify against the next certificate or the anchor.
    Untrusted,
    /// A certificate above the leaf is not a CA certificate.
    NotCa,
    /// The URL's host is not among the leaf's subjectAltNames.
    HostName,
    /// By the device's clock, a certificate of the chain has expired or
    /// is not valid yet.
    OutsideValidity,
    /// The server did not prove it holds its certificate's key: its
    /// handshake signature (CertificateVerify) does not verify, or the
    /// server finished the handshake without a certificate and signature.
    NotAuthenticated,
    /// The server's key, or the scheme it signed the handshake with, is
    /// one this build does not verify: RSA, or P-384 without the `p384`
    /// feature.
    UnsupportedKey,
    /// The handshake failed otherwise: an alert, no common cipher suite,
    /// a malformed record, or the connection dropped.
    Handshake,
}

impl TlsFailure {
    /// Whether trying again can help: a refused certificate will be
    /// refused again, a dropped handshake may not drop twice.
    ///
    /// ```
    /// use acme_embassy::tls::TlsFailure;
    ///
    /// assert!(TlsFailure::Handshake.is_transient());
    /// assert!(!TlsFailure::Untrusted.is_transient()); // fix the trust anchor instead
    /// assert!(!TlsFailure::OutsideValidity.is_transient()); // or the clock
    /// ```
    #[must_use]
    pub fn is_transient(self) -> bool {
        self == TlsFailure::Handshake
    }
}

impl core::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            TlsFailure::Malformed => {
                "the CA's TLS certificate is not well-formed DER; the server is misconfigured or not the CA"
            }
            TlsFailure::Untrusted => {
                "the CA's TLS certificate does not chain to the configured trust anchor; check the anchor the device was given"
            }
            TlsFailure::NotCa => {
                "a certificate above the CA's TLS leaf is not a CA certificate (basicConstraints); the chain is forged or broken"
            }
            TlsFailure::HostName => {
                "the CA's TLS certificate does not name the directory URL's host in its subjectAltName; check the URL"
            }
            TlsFailure::OutsideValidity => {
                "the CA's TLS certificate is expired or not yet valid by the device's clock; check the clock"
            }
            TlsFailure::NotAuthenticated => {
                "the CA did not prove it holds its TLS certificate's key (no valid handshake signature); the server is not the CA"
            }
            TlsFailure::UnsupportedKey => {
                "the CA's TLS key or handshake signature is of a kind this build does not verify (RSA; P-384 needs the p384 feature)"
            }
            TlsFailure::Handshake => "the TLS handshake with the CA failed",
        })
    }
}

/// The longest host name kept for verification.
const MAX_HOST_LEN: usize = 253;

/// The server's verification (see the module docs): the chain when the
/// Certificate message arrives, then the handshake signature with the
/// leaf's key and the transcript kept from then.
struct StrictVerifier<'v> {
    trust_anchor: &'v [u8],
    host: heapless::String<MAX_HOST_LEN>,
    clock: Option<WallClock>,
    failure: Option<TlsFailure>,
    /// The verified leaf's public key (SEC1), for CertificateVerify.
    leaf_key: heapless::Vec<u8, MAX_LEAF_KEY>,
    /// The transcript hash through the Certificate message, which the
    /// CertificateVerify signature covers.
    transcript: Option<[u8; 32]>,
    /// The handshake signature verified with the leaf's key: without it a
    /// finished handshake is refused (embedded-tls finishes one whose
    /// server sent no Certificate or CertificateVerify at all).
    authenticated: bool,
}

impl<'v> StrictVerifier<'v> {
    fn new(trust_anchor: &'v [u8], host: &str, clock: Option<WallClock>) -> Result<Self, Error> {
        let host =
            heapless::String::try_from(host).map_err(|_| Error::Tls(TlsFailure::HostName))?;
        Ok(Self {
            trust_anchor,
            host,
            clock,
            failure: None,
            leaf_key: heapless::Vec::new(),
            transcript: None,
            authenticated: false,
        })
    }

    /// Checks the chain the server sent, leaf first, and keeps the leaf's
    /// key.
    fn check(&mut self, chain: &CertificateRef<'_>) -> Result<(), TlsFailure> {
        if !self.leaf_key.is_empty() {
            // One Certificate message per handshake.
            return Err(TlsFailure::Malformed);
        }
        let now = self.clock.and_then(|clock| clock());
        let leaf = inspect(chain.entries.first())?;
        check_validity(&leaf, now)?;
        if !names_host(&leaf, &self.host) {
            return Err(TlsFailure::HostName);
        }
        let path = check_chain(&chain.entries, self.trust_anchor)?;
        // The certificates between the leaf and the anchor; any sent after
        // the anchor was reached are not part of the path.
        for entry in chain.entries.iter().take(path).skip(1) {
            let issuer = inspect(Some(entry))?;
            if !issuer.is_ca() {
                return Err(TlsFailure::NotCa);
            }
            check_validity(&issuer, now)?;
        }
        self.leaf_key = heapless::Vec::from_slice(leaf.public_key_bytes())
            .map_err(|_| TlsFailure::UnsupportedKey)?;
        Ok(())
    }
}

impl TlsVerifier<Aes128GcmSha256> for StrictVerifier<'_> {
    fn set_hostname_verification(&mut self, hostname: &str) -> Result<(), TlsError> {
        // The host was given to `new`; a different one here is a bug.
        if hostname == self.host.as_str() {
            Ok(())
        } else {
            self.failure = Some(TlsFailure::HostName);
            Err(TlsError::InvalidCertificate)
        }
    }

    fn verify_certificate(
        &mut self,
        transcript: &<Aes128GcmSha256 as TlsCipherSuite>::Hash,
        cert: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        if let Err(failure) = self.check(&cert) {
            self.failure = Some(failure);
            return Err(TlsError::InvalidCertificate);
        }
        self.transcript = Some(transcript.clone().finalize().into());
        Ok(())
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        // No verified certificate, no signature to accept.
        let Some(transcript) = self.transcript.take() else {
            self.failure = Some(TlsFailure::NotAuthenticated);
            return Err(TlsError::InvalidCertificate);
        };
        let verified = handshake_signature_verifies(
            &self.leaf_key,
            verify.signature_scheme,
            verify.signature,
            &transcript,
        );
        match verified {
            Ok(()) => self.authenticated = true,
            Err(TlsError::InvalidSignatureScheme) => {
                self.failure = Some(TlsFailure::UnsupportedKey);
            }
            Err(_) => self.failure = Some(TlsFailure::NotAuthenticated),
        }
        verified
    }
}

/// Follows `chain` (leaf first) to `trust_anchor`: each certificate must
/// be signed by the next one, until one is the anchor, or names the
/// anchor as its issuer and is signed by it, or is the last one sent,
/// which the anchor must have signed. Returns how many certificates of
/// `chain` are on that path below the anchor (certificates after it, such
/// as a cross-signed copy of the root, are not looked at).
fn check_chain(
    chain: &[CertificateEntryRef<'_>],
    trust_anchor: &[u8],
) -> Result<usize, TlsFailure> {
    let anchor = Inspected::from_der(trust_anchor).map_err(|_| TlsFailure::Untrusted)?;
    let mut at = 0;
    loop {
        let subject = inspect(chain.get(at))?;
        if subject.der() == trust_anchor {
            return Ok(at);
        }
        let names_anchor = subject.issuer_der() == anchor.subject_der();
        let issuer = match chain.get(at + 1) {
            Some(next) if !names_anchor => x509_der(Some(next))?,
            _ => trust_anchor,
        };
        acme_core::client::check_issued_by(subject.der(), issuer)
            .map_err(|_| TlsFailure::Untrusted)?;
        at += 1;
        if issuer == trust_anchor {
            return Ok(at);
        }
    }
}

/// The content a TLS 1.3 server signs in CertificateVerify (RFC 8446
/// §4.4.3): 64 spaces, the context string, a zero byte, the transcript
/// hash.
fn certificate_verify_content(transcript: &[u8; 32]) -> [u8; 130] {
    const CONTEXT: &[u8; 34] = b"TLS 1.3, server CertificateVerify\x00";
    let mut content = [0x20u8; 130];
    let (_, rest) = content.split_at_mut(64);
    let (context, hash) = rest.split_at_mut(CONTEXT.len());
    context.copy_from_slice(CONTEXT);
    hash.copy_from_slice(transcript);
    content
}

/// Whether `signature` (scheme `scheme`) by `leaf_key` (SEC1) signs the
/// CertificateVerify content of `transcript`.
fn handshake_signature_verifies(
    leaf_key: &[u8],
    scheme: SignatureScheme,
    signature: &[u8],
    transcript: &[u8; 32],
) -> Result<(), TlsError> {
    use p256::ecdsa::signature::Verifier as _;
    let content = certificate_verify_content(transcript);
    let verified = match scheme {
        SignatureScheme::EcdsaSecp256r1Sha256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(leaf_key)
                .map_err(|_| TlsError::InvalidSignatureScheme)?;
            p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(&content, &signature).is_ok())
        }
        #[cfg(feature = "p384")]
        SignatureScheme::EcdsaSecp384r1Sha384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(leaf_key)
                .map_err(|_| TlsError::InvalidSignatureScheme)?;
            p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(&content, &signature).is_ok())
        }
        _ => return Err(TlsError::InvalidSignatureScheme),
    };
    if verified {
        Ok(())
    } else {
        Err(TlsError::InvalidSignature)
    }
}

/// The DER of one certificate of the server's chain.
fn x509_der<'c>(entry: Option<&CertificateEntryRef<'c>>) -> Result<&'c [u8], TlsFailure> {
    match entry {
        Some(CertificateEntryRef::X509(der)) => Ok(der),
        _ => Err(TlsFailure::Malformed),
    }
}

/// Parses one certificate of the server's chain.
fn inspect<'c>(entry: Option<&CertificateEntryRef<'c>>) -> Result<Inspected<'c>, TlsFailure> {
    Inspected::from_der(x509_der(entry)?).map_err(|_| TlsFailure::Malformed)
}

/// Whether `now` (when known) is within the certificate's validity.
fn check_validity(cert: &Inspected<'_>, now: Option<u64>) -> Result<(), TlsFailure> {
    let Some(now) = now else {
        return Ok(());
    };
    let not_before = cert.not_before().map_err(|_| TlsFailure::Malformed)?;
    let not_after = cert.not_after().map_err(|_| TlsFailure::Malformed)?;
    if now < not_before || now > not_after {
        return Err(TlsFailure::OutsideValidity);
    }
    Ok(())
}

/// Whether a `dNSName` of the leaf's subjectAltName matches `host`.
fn names_host(leaf: &Inspected<'_>, host: &str) -> bool {
    leaf.subject_alt_names().is_some_and(|mut names| {
        names.any(|name| matches!(name, SanEntry::Dns(pattern) if dns_name_matches(pattern, host)))
    })
}

/// RFC 6125 §6.4: an exact match (ASCII case aside), or a `*.` wildcard
/// standing for exactly one leftmost label under a name of two or more
/// labels.
fn dns_name_matches(pattern: &str, host: &str) -> bool {
    if pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    let Some((label, rest)) = host.split_once('.') else {
        return false;
    };
    !label.is_empty() && suffix.contains('.') && rest.eq_ignore_ascii_case(suffix)
}

/// The provider: the caller's RNG and the verifier bound to the trust
/// anchor.
struct VerifyingProvider<'p, 'v, R> {
    rng: &'p mut R,
    verifier: &'p mut StrictVerifier<'v>,
}

impl<R: CryptoRngCore> CryptoProvider for VerifyingProvider<'_, '_, R> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = p256::ecdsa::DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut *self.verifier)
    }
}

/// Opens verified TLS connections over embassy-net.
///
/// ```no_run
/// use core::net::Ipv4Addr;
/// use acme_embassy::tls::TlsConnector;
/// use rand_core::CryptoRngCore;
///
/// /// Seconds since 1970 from the board's RTC, once something has set it.
/// fn rtc_seconds() -> Option<u64> {
///     None
/// }
///
/// fn connector<'a, R: CryptoRngCore>(
///     stack: embassy_net::Stack<'a>,
///     trust_anchor_der: &'a [u8], // the CA's root, in DER
///     rng: R,                     // the MCU's hardware RNG
/// ) -> TlsConnector<'a, R> {
///     TlsConnector::new(stack, trust_anchor_der, rng)
///         .with_clock(rtc_seconds) // also check certificate validity
///         .with_fixed_address(Ipv4Addr::new(192, 0, 2, 1)) // no DNS; name still verified
/// }
/// ```
pub struct TlsConnector<'a, R> {
    stack: Stack<'a>,
    trust_anchor: &'a [u8],
    rng: R,
    fixed_address: Option<core::net::Ipv4Addr>,
    clock: Option<WallClock>,
}

impl<'a, R: CryptoRngCore> TlsConnector<'a, R> {
    /// Connects through `stack`, trusting the DER certificate
    /// `trust_anchor`, with `rng` for the TLS key exchange. Host names are
    /// resolved with the stack's DNS (the stack's configuration must name
    /// a DNS server).
    pub fn new(stack: Stack<'a>, trust_anchor: &'a [u8], rng: R) -> Self {
        Self {
            stack,
            trust_anchor,
            rng,
            fixed_address: None,
            clock: None,
        }
    }

    /// Connects to `address` whatever the host name, without DNS (the name
    /// is still verified against the certificate).
    #[must_use]
    pub fn with_fixed_address(mut self, address: core::net::Ipv4Addr) -> Self {
        self.fixed_address = Some(address);
        self
    }

    /// Checks every certificate's validity against `clock`. Without a
    /// clock, validity is not checked (see the [module docs](self)).
    #[must_use]
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.clock = Some(clock);
        self
    }

    async fn resolve(&self, host: &str) -> Result<IpAddress, Error> {
        if let Some(address) = self.fixed_address {
            return Ok(IpAddress::Ipv4(address));
        }
        if host.parse::<core::net::IpAddr>().is_ok() {
            // An IP literal cannot be matched to the certificate's names.
            return Err(Error::Tls(TlsFailure::HostName));
        }
        let addresses = self
            .stack
            .dns_query(host, DnsQueryType::A)
            .await
            .map_err(|_| Error::Dns)?;
        addresses.first().copied().ok_or(Error::Dns)
    }
}

impl<'a, R: CryptoRngCore> Connector for TlsConnector<'a, R> {
    type Connection<'b>
        = TlsConnection<'b, RecordGuard<TcpSocket<'b>>, Aes128GcmSha256>
    where
        Self: 'b;
    type Buffers = TlsBuffers<'a>;

    async fn connect<'b>(
        &'b mut self,
        host: &str,
        port: u16,
        buffers: &'b mut Self::Buffers,
    ) -> Result<Self::Connection<'b>, Error> {
        if buffers.tls_read.len() <= TLS_RECORD_OVERHEAD
            || buffers.tls_write.len() <= TLS_RECORD_OVERHEAD
        {
            return Err(Error::BufferTooSmall);
        }
        let address = self.resolve(host).await?;
        let mut socket = TcpSocket::new(self.stack, &mut *buffers.tcp_rx, &mut *buffers.tcp_tx);
        socket.set_timeout(Some(embassy_time::Duration::from_secs(30)));
        socket
            .connect(IpEndpoint::new(address, port))
            .await
            .map_err(|_| Error::Connect)?;
        let mut tls = TlsConnection::new(
            RecordGuard::new(socket),
            &mut *buffers.tls_read,
            &mut *buffers.tls_write,
        );
        let config = TlsConfig::new().with_server_name(host);
        let mut verifier = StrictVerifier::new(self.trust_anchor, host, self.clock)?;
        let provider = VerifyingProvider {
            rng: &mut self.rng,
            verifier: &mut verifier,
        };
        let opened = tls.open(TlsContext::new(&config, provider)).await;
        match opened {
            Ok(()) if verifier.authenticated => Ok(tls),
            Ok(()) => Err(Error::Tls(TlsFailure::NotAuthenticated)),
            Err(_) => Err(Error::Tls(
                verifier.failure.unwrap_or(TlsFailure::Handshake),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_CA: &[u8] = include_bytes!("../../acme-core/tests/data/issuers/p256-ca.der");
    const LEAF_BY_P256: &[u8] =
        include_bytes!("../../acme-core/tests/data/issuers/leaf-by-p256.der");
    const RSA2048_CA: &[u8] = include_bytes!("../../acme-core/tests/data/issuers/rsa2048-ca.der");
    const LEAF_BY_RSA2048: &[u8] =
        include_bytes!("../../acme-core/tests/data/issuers/leaf-by-rsa2048.der");
    const RSA4096_CA: &[u8] = include_bytes!("../../acme-core/tests/data/issuers/rsa4096-ca.der");
    const LEAF_BY_RSA4096: &[u8] =
        include_bytes!("../../acme-core/tests/data/issuers/leaf-by-rsa4096.der");

    fn chain<'c>(ders: &[&'c [u8]]) -> heapless::Vec<CertificateEntryRef<'c>, 4> {
        ders.iter().map(|d| CertificateEntryRef::X509(d)).collect()
    }

    #[test]
    fn a_chain_must_lead_to_the_trust_anchor() {
        // Signed by the anchor, with the anchor sent along, with another
        // certificate after it (as a cross-signed root is): the path is
        // the leaf alone.
        assert_eq!(check_chain(&chain(&[LEAF_BY_P256]), P256_CA), Ok(1));
        assert_eq!(
            check_chain(&chain(&[LEAF_BY_P256, P256_CA]), P256_CA),
            Ok(1)
        );
        assert_eq!(
            check_chain(&chain(&[LEAF_BY_P256, RSA2048_CA]), P256_CA),
            Ok(1)
        );
        assert_eq!(check_chain(&chain(&[LEAF_BY_RSA2048]), RSA2048_CA), Ok(1));
        // The anchor itself.
        assert_eq!(check_chain(&chain(&[P256_CA]), P256_CA), Ok(0));
        // Another anchor; a forged signature; a next certificate that did
        // not sign the one before it.
        assert_eq!(
            check_chain(&chain(&[LEAF_BY_P256]), RSA2048_CA),
            Err(TlsFailure::Untrusted)
        );
        let mut forged = LEAF_BY_P256.to_vec();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            check_chain(&chain(&[&forged]), P256_CA),
            Err(TlsFailure::Untrusted)
        );
        assert_eq!(
            check_chain(&chain(&[&forged, P256_CA]), P256_CA),
            Err(TlsFailure::Untrusted)
        );
        assert_eq!(
            check_chain(&chain(&[LEAF_BY_P256, RSA2048_CA]), RSA2048_CA),
            Err(TlsFailure::Untrusted)
        );
        // A signature kind this build does not verify is not trusted.
        assert_eq!(
            check_chain(&chain(&[LEAF_BY_RSA4096]), RSA4096_CA),
            Err(TlsFailure::Untrusted)
        );
        // An empty chain and a raw public key are malformed; an anchor
        // that does not parse trusts nothing.
        assert_eq!(check_chain(&[], P256_CA), Err(TlsFailure::Malformed));
        assert_eq!(
            check_chain(&[CertificateEntryRef::RawPublicKey(&[4; 65])], P256_CA),
            Err(TlsFailure::Malformed)
        );
        assert_eq!(
            check_chain(&chain(&[LEAF_BY_P256]), &P256_CA[..40]),
            Err(TlsFailure::Untrusted)
        );
    }

    #[test]
    fn a_handshake_signature_without_a_verified_certificate_is_refused() {
        let mut verifier = StrictVerifier::new(P256_CA, "ca.example", None).unwrap();
        assert!(!verifier.authenticated);
        let refused = verifier.verify_signature(CertificateVerifyRef {
            signature_scheme: SignatureScheme::EcdsaSecp256r1Sha256,
            signature: &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
        });
        assert!(refused.is_err());
        assert!(!verifier.authenticated);
        assert_eq!(verifier.failure, Some(TlsFailure::NotAuthenticated));
        assert!(!TlsFailure::NotAuthenticated.is_transient());
        assert!(!TlsFailure::UnsupportedKey.is_transient());
    }

    /// The outcome's name: embedded-tls's errors do not compare.
    fn outcome(result: Result<(), TlsError>) -> &'static str {
        match result {
            Ok(()) => "verified",
            Err(TlsError::InvalidSignature) => "bad signature",
            Err(TlsError::InvalidSignatureScheme) => "unusable scheme or key",
            Err(_) => "other error",
        }
    }

    #[test]
    fn the_handshake_signature_covers_the_transcript_with_the_leafs_key() {
        use p256::ecdsa::signature::Signer as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
        let public = key.verifying_key().to_encoded_point(false);
        let transcript = [7u8; 32];
        let content = certificate_verify_content(&transcript);
        // RFC 8446 §4.4.3's layout.
        assert_eq!(&content[..64], &[0x20; 64]);
        assert_eq!(&content[64..98], b"TLS 1.3, server CertificateVerify\x00");
        assert_eq!(&content[98..], &transcript);
        let signature: p256::ecdsa::Signature = key.sign(&content);
        let der = signature.to_der();
        let p256_sha256 = SignatureScheme::EcdsaSecp256r1Sha256;
        let verify = |key: &[u8], scheme, transcript: &[u8; 32]| {
            outcome(handshake_signature_verifies(
                key,
                scheme,
                der.as_bytes(),
                transcript,
            ))
        };
        assert_eq!(
            verify(public.as_bytes(), p256_sha256, &transcript),
            "verified"
        );
        // Another transcript, another key, another scheme, no key.
        assert_eq!(
            verify(public.as_bytes(), p256_sha256, &[8; 32]),
            "bad signature"
        );
        let other = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
        let other_public = other.verifying_key().to_encoded_point(false);
        assert_eq!(
            verify(other_public.as_bytes(), p256_sha256, &transcript),
            "bad signature"
        );
        assert_eq!(
            verify(
                public.as_bytes(),
                SignatureScheme::RsaPssRsaeSha256,
                &transcript
            ),
            "unusable scheme or key"
        );
        assert_eq!(
            verify(&[], p256_sha256, &transcript),
            "unusable scheme or key"
        );
    }

    #[test]
    fn host_names_match_exactly_or_by_one_wildcard_label() {
        assert!(dns_name_matches("acme.example.com", "ACME.example.com"));
        assert!(dns_name_matches("*.example.com", "acme.example.com"));
        assert!(!dns_name_matches("*.example.com", "a.acme.example.com"));
        assert!(!dns_name_matches("*.example.com", "example.com"));
        assert!(!dns_name_matches("*.com", "example.com"));
        assert!(!dns_name_matches("acme.example.com", "example.com"));
        assert!(!dns_name_matches("a*.example.com", "ab.example.com"));
    }
}
