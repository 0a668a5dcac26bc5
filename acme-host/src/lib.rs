#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod chain;
mod driver;
mod error;
mod responders;
mod session;
mod store;
mod tls;
mod transport;

#[cfg(feature = "pebble")]
#[cfg_attr(docsrs, doc(cfg(feature = "pebble")))]
pub mod pebble;

pub use acme_core;
pub use acme_core::client::RevocationReason;
pub use acme_core::msg::ChallengeType;
pub use error::HostError;
pub use session::{
    AccountReport, CertificateReport, EabBinding, Identifier, OrderSpec, RenewalInfo, RevokeWith,
    Session, Settings, SAVING_CERTIFICATE,
};
pub use tls::Trust;
pub use transport::TransportStats;
