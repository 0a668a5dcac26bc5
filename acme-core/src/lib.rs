#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code, unused_must_use)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
mod rsa;
pub mod signer;
mod sink;
pub mod time;

pub use error::{
    Base64Error, CertificateError, EabKeyError, Error, IdentifierError, KeyError, PemError,
};
pub use identifier::Identifier;
pub use key::{PublicKey, SoftwareKey, Thumbprint};
pub use signer::{Es256Signer, SignerError};
