//! JSON Web Signatures in the flattened JSON serialization
//! (RFC 7515 §7.2.2), as ACME requires (RFC 8555 §6.2).
//!
//! A JWS is written in one pass: the protected header and the payload are
//! base64url-encoded straight into the caller's buffer while SHA-256 runs
//! over the encoded text, so no scratch buffer is needed. The digest then
//! goes to the [`Es256Signer`], which may be a secure element.
//!
//! ```text
//! {"protected":"<b64(header)>","payload":"<b64(payload)>","signature":"<b64(r‖s)>"}
//! ```

use sha2::digest::Update;
use sha2::{Digest, Sha256};

use crate::b64::encode_array;
use crate::json::{JsonPayload, JsonWriter};
use crate::key::PublicKey;
use crate::sink::{Base64UrlSink, Sink, SliceSink, TeeSink};
use crate::{Error, Es256Signer};

/// Length of a base64url ES256 signature (64 bytes `r‖s`).
pub const ES256_SIGNATURE_B64_LEN: usize = 86;

/// How the protected header names the signing key (RFC 8555 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyRef<'a> {
    /// The whole public key, as a `jwk` member: for newAccount, and for
    /// revocation signed by the certificate key.
    Jwk(PublicKey),
    /// The account URL, as a `kid` member: for every other request.
    Kid(&'a str),
}

/// The protected header of an ES256 JWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Protected<'a> {
    /// `jwk` or `kid`.
    pub key: KeyRef<'a>,
    /// The anti-replay nonce. Only the keyChange inner JWS has none.
    pub nonce: Option<&'a str>,
    /// The URL the request is sent to.
    pub url: &'a str,
}

impl Protected<'_> {
    /// Streams `{"alg":"ES256",("jwk":{..}|"kid":".."),"nonce":"..","url":".."}`.
    fn write_json(&self, out: &mut JsonWriter<'_>) {
        out.raw(b"{\"alg\":\"ES256\",");
        match self.key {
            KeyRef::Jwk(key) => {
                out.key("jwk");
                key.write_jwk_json(out);
            }
            KeyRef::Kid(kid) => {
                out.key("kid");
                out.string(kid);
            }
        }
        if let Some(nonce) = self.nonce {
            out.raw(b",");
            out.key("nonce");
            out.string(nonce);
        }
        out.raw(b",");
        out.key("url");
        out.string(self.url);
        out.raw(b"}");
    }
}

/// The payload of a JWS.
#[derive(Clone, Copy)]
pub enum Payload<'p> {
    /// The empty payload of a POST-as-GET request (RFC 8555 §6.3).
    PostAsGet,
    /// A JSON value.
    Json(&'p dyn JsonPayload),
}

/// Writes an ES256 JWS into `out` and returns the bytes written.
///
/// ```
/// use acme_core::jws::{write_jws, KeyRef, Payload, Protected};
/// use acme_core::{Error, SoftwareKey};
///
/// let account = SoftwareKey::from_scalar(&[1; 32])?;
/// let protected = Protected {
///     key: KeyRef::Kid("https://acme.example/acct/17"),
///     nonce: Some("oFvnlFP1wIhRlYS2jTaXbA"),
///     url: "https://acme.example/order/42",
/// };
/// // A buffer too small is told the exact size; nothing is signed.
/// let mut out = [0u8; 512];
/// let too_small = write_jws(&mut out[..100], &account, &protected, Payload::PostAsGet);
/// assert_eq!(too_small, Err(Error::BufferTooSmall { required: 294 }));
///
/// let jws = write_jws(&mut out[..294], &account, &protected, Payload::PostAsGet)?;
/// assert!(jws.starts_with(br#"{"protected":"eyJhbGciOiJFUzI1NiIs"#)); // {"alg":"ES256",
/// let empty_payload = br#""payload":"","#; // POST-as-GET
/// assert!(jws.windows(empty_payload.len()).any(|w| w == empty_payload));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// * [`Error::BufferTooSmall`] with the exact size needed. The signer is
///   not called in that case.
/// * [`Error::Signer`] when the signer fails, or whatever a nested payload
///   (keyChange, EAB) reports.
pub fn write_jws<'o>(
    out: &'o mut [u8],
    signer: &dyn Es256Signer,
    protected: &Protected<'_>,
    payload: Payload<'_>,
) -> Result<&'o [u8], Error> {
    let mut sink = SliceSink::new(out);
    let mut hash = Sha256::new();
    write_signing_input(&mut sink, &mut hash, &|w| protected.write_json(w), payload)?;
    const SUFFIX: &[u8] = b"\"}";
    if sink.would_overflow(ES256_SIGNATURE_B64_LEN + SUFFIX.len()) {
        // Count the signature without computing it.
        sink.put(&[0; ES256_SIGNATURE_B64_LEN]);
    } else {
        put_es256_signature(&mut sink, signer, hash.finalize().into())?;
    }
    sink.put(SUFFIX);
    Ok(sink.finish()?)
}

/// Streams an ES256-signed JWS into any sink (used for nested JWSs).
pub(crate) fn stream_jws(
    sink: &mut dyn Sink,
    signer: &dyn Es256Signer,
    protected: &Protected<'_>,
    payload: Payload<'_>,
) -> Result<(), Error> {
    let mut hash = Sha256::new();
    write_signing_input(sink, &mut hash, &|w| protected.write_json(w), payload)?;
    put_es256_signature(sink, signer, hash.finalize().into())?;
    sink.put(b"\"}");
    Ok(())
}

fn put_es256_signature(
    sink: &mut dyn Sink,
    signer: &dyn Es256Signer,
    digest: [u8; 32],
) -> Result<(), Error> {
    let raw = signer.sign_digest(&digest).map_err(|_| Error::Signer)?;
    let text: [u8; ES256_SIGNATURE_B64_LEN] = encode_array(&raw);
    sink.put(&text);
    Ok(())
}

/// Streams `{"protected":"…","payload":"…","signature":"` and runs `digest`
/// over the JWS signing input `b64(protected) "." b64(payload)`.
pub(crate) fn write_signing_input<D: Update>(
    sink: &mut dyn Sink,
    digest: &mut D,
    protected: &dyn Fn(&mut JsonWriter<'_>),
    payload: Payload<'_>,
) -> Result<(), Error> {
    sink.put(b"{\"protected\":\"");
    {
        let mut tee = TeeSink {
            inner: &mut *sink,
            digest: &mut *digest,
        };
        let mut b64 = Base64UrlSink::new(&mut tee);
        protected(&mut JsonWriter::new(&mut b64));
        b64.finish();
    }
    digest.update(b".");
    sink.put(b"\",\"payload\":\"");
    if let Payload::Json(json) = payload {
        let mut tee = TeeSink {
            inner: &mut *sink,
            digest: &mut *digest,
        };
        let mut b64 = Base64UrlSink::new(&mut tee);
        json.write_json(&mut JsonWriter::new(&mut b64))?;
        b64.finish();
    }
    sink.put(b"\",\"signature\":\"");
    Ok(())
}

/// The payload of a keyChange request (RFC 8555 §7.3.5): an inner JWS,
/// signed by the **new** key, whose payload names the account and the old
/// key. Send it as the payload of an outer JWS signed by the old key with
/// the account URL as `kid`.
pub struct KeyChange<'a> {
    /// The account URL (the outer JWS's `kid`).
    pub account_url: &'a str,
    /// The keyChange URL from the directory.
    pub key_change_url: &'a str,
    /// The account's current (old) public key.
    pub old_key: PublicKey,
    /// The new account key, which signs the inner JWS.
    pub new_key: &'a dyn Es256Signer,
}

impl JsonPayload for KeyChange<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        let protected = Protected {
            key: KeyRef::Jwk(self.new_key.public_key()),
            nonce: None,
            url: self.key_change_url,
        };
        let inner = KeyChangeInner {
            account_url: self.account_url,
            old_key: self.old_key,
        };
        stream_jws(out.sink(), self.new_key, &protected, Payload::Json(&inner))
    }
}

/// `{"account":"…","oldKey":{jwk}}`
struct KeyChangeInner<'a> {
    account_url: &'a str,
    old_key: PublicKey,
}

impl JsonPayload for KeyChangeInner<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{");
        out.key("account");
        out.string(self.account_url);
        out.raw(b",");
        out.key("oldKey");
        self.old_key.write_jwk_json(out);
        out.raw(b"}");
        Ok(())
    }
}
