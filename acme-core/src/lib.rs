//! # acme-core
//!
//! The protocol engine of an ACME (RFC 8555) client for devices.
//!
//! `acme-core` is `#![no_std]`, uses **no allocator** and performs **no I/O**.
//! It never reads a clock and never draws randomness: time comes in as an
//! argument and keys come from the caller. Every byte it produces is written
//! into a buffer the caller lends it; a buffer that is too small gives
//! [`Error::BufferTooSmall`] with the exact size needed.
//!
//! ```text
//!  application ──keys, identifiers──▶ acme-core ──request bytes──▶ adapter ──▶ socket / TLS
//!       ▲                                 ▲                          │
//!       └──────── events, certificate ────┴──── response bytes ◀─────┘
//! ```
//!
//! ## What is here
//!
//! | module | what it provides |
//! |---|---|
//! | [`b64`] | base64url without padding (RFC 7515 §2) |
//! | [`key`] | ES256 keys: loading (raw scalar, SEC1, PKCS#8), generation, JWK, thumbprint |
//! | [`signer`] | the [`signer::Es256Signer`] trait, so a secure element can hold the key |
//! | [`jws`] | flattened JWS (RFC 7515 §7.2.2, RFC 8555 §6.2), keyChange inner JWS |
//! | [`eab`] | External Account Binding (RFC 8555 §7.3.4), HS256 |
//! | [`challenge`] | key authorizations, dns-01 values, the tls-alpn-01 certificate (RFC 8737) |
//! | [`csr`] | PKCS#10 certificate signing requests in DER |
//! | [`cert`] | allocation-free inspection of X.509 certificates, ARI CertID (RFC 9773) |
//! | [`pem`] | iteration over a `application/pem-certificate-chain` body |
//! | [`identifier`] | dns and ip identifiers (RFC 8555 §9.7.7, RFC 8738) |
//!
//! ## Features
//!
//! * `defmt`: log through `defmt` and derive `defmt::Format` on public types.
//! * `log`: log through the `log` facade.
//!
//! The two are mutually exclusive. Key material is never logged.
#![no_std]
#![forbid(unsafe_code, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("acme-core: the `defmt` and `log` features are mutually exclusive; enable one");

// Declared first so the logging macros are visible to every module.
#[macro_use]
mod fmt;

pub mod b64;
pub mod cert;
pub mod challenge;
pub mod client;
pub mod csr;
mod der_util;
pub mod eab;
mod error;
pub mod http;
pub mod identifier;
pub mod json;
pub mod jws;
pub mod key;
pub mod msg;
pub mod pem;
pub mod signer;
mod sink;
pub mod time;

pub use error::{
    Base64Error, CertificateError, EabKeyError, Error, IdentifierError, KeyError, PemError,
};
pub use identifier::Identifier;
pub use key::{PublicKey, SoftwareKey, Thumbprint};
pub use signer::Es256Signer;
