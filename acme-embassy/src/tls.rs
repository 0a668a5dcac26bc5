//! TLS 1.3 to the CA with embedded-tls, over an embassy-net TCP socket.
//!
//! # What is verified
//!
//! Every connection verifies the server with embedded-tls's `rustpki`
//! verifier against the trust anchor in the configuration:
//!
//! * the chain: each certificate's signature (ECDSA P-256/SHA-256) by the
//!   next, ending at the trust anchor;
//! * the host name: the URL's host must be among the leaf's DNS
//!   subjectAltNames (or its common name);
//! * the validity period, when the device has a clock
//!   ([`TlsConnector::with_clock`]); without one, validity is not checked;
//! * the handshake signature (CertificateVerify) with the leaf's key.
//!
//! There is no way to turn verification off: the connector only builds a
//! provider that has a verifier.

use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::TcpSocket;
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, TlsConfig, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};
use rand_core::CryptoRngCore;

use crate::driver::{Connector, Error};

/// The largest server certificate the verifier keeps while checking the
/// handshake signature.
pub const MAX_SERVER_CERT: usize = 2048;

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

/// The provider: the caller's RNG and a verifier bound to the trust anchor.
struct VerifyingProvider<'v, R> {
    rng: &'v mut R,
    verifier: CertVerifier<'v, Aes128GcmSha256, DeviceClock, MAX_SERVER_CERT>,
}

/// embedded-tls reads time through a type; the device's clock is a
/// function stored in a static by [`TlsConnector::with_clock`].
struct DeviceClock;

static CLOCK: embassy_sync::blocking_mutex::Mutex<
    embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex,
    core::cell::Cell<Option<WallClock>>,
> = embassy_sync::blocking_mutex::Mutex::new(core::cell::Cell::new(None));

impl embedded_tls::TlsClock for DeviceClock {
    fn now() -> Option<u64> {
        CLOCK.lock(|c| c.get()).and_then(|f| f())
    }
}

impl<R: CryptoRngCore> CryptoProvider for VerifyingProvider<'_, R> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = p256::ecdsa::DerSignature;

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Self::CipherSuite>, TlsError> {
        Ok(&mut self.verifier)
    }
}

/// Opens verified TLS connections over embassy-net.
pub struct TlsConnector<'a, R> {
    stack: Stack<'a>,
    trust_anchor: &'a [u8],
    rng: R,
    fixed_address: Option<IpAddress>,
}

impl<'a, R: CryptoRngCore> TlsConnector<'a, R> {
    /// Connects through `stack`, trusting the DER certificate
    /// `trust_anchor`, with `rng` for the TLS key exchange. Host names are
    /// resolved with the stack's DNS.
    pub fn new(stack: Stack<'a>, trust_anchor: &'a [u8], rng: R) -> Self {
        Self {
            stack,
            trust_anchor,
            rng,
            fixed_address: None,
        }
    }

    /// Connects to `address` whatever the host name (the name is still
    /// verified against the certificate).
    #[must_use]
    pub fn with_fixed_address(mut self, address: IpAddress) -> Self {
        self.fixed_address = Some(address);
        self
    }

    /// Checks certificate validity against `clock`.
    #[must_use]
    pub fn with_clock(self, clock: WallClock) -> Self {
        CLOCK.lock(|c| c.set(Some(clock)));
        self
    }

    async fn resolve(&self, host: &str) -> Result<IpAddress, Error> {
        if let Some(a) = self.fixed_address {
            return Ok(a);
        }
        if let Ok(ip) = host.parse::<core::net::Ipv4Addr>() {
            return Ok(IpAddress::Ipv4(ip));
        }
        let addrs = self
            .stack
            .dns_query(host, DnsQueryType::A)
            .await
            .map_err(|_| Error::Connect)?;
        addrs.first().copied().ok_or(Error::Connect)
    }
}

impl<'a, R: CryptoRngCore> Connector for TlsConnector<'a, R> {
    type Connection<'b>
        = TlsConnection<'b, TcpSocket<'b>, Aes128GcmSha256>
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
        let mut tls = TlsConnection::new(socket, &mut *buffers.tls_read, &mut *buffers.tls_write);
        let config = TlsConfig::new().with_server_name(host);
        let provider = VerifyingProvider {
            rng: &mut self.rng,
            verifier: CertVerifier::new(Certificate::X509(self.trust_anchor)),
        };
        tls.open(TlsContext::new(&config, provider))
            .await
            .map_err(|_| Error::Connect)?;
        Ok(tls)
    }
}
