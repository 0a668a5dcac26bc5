//! What the caller tells the client: where, who, what, and how patiently.

use crate::eab::EabKey;
use crate::identifier::Identifier;
use crate::msg::ChallengeType;

/// External Account Binding credentials (RFC 8555 §7.3.4).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EabCredentials<'a> {
    /// The key identifier the CA issued.
    pub kid: &'a str,
    /// The MAC key.
    pub key: &'a EabKey,
}

impl<'a> EabCredentials<'a> {
    /// The key identifier `kid` and MAC `key` the CA issued.
    #[must_use]
    pub const fn new(kid: &'a str, key: &'a EabKey) -> Self {
        Self { kid, key }
    }
}

/// How patiently the client retries and polls. Every bound is finite, so
/// every flow ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries of one request after `badNonce` (RFC 8555 §6.5). Servers may
    /// reject good nonces on purpose (Pebble rejects 5% by default).
    pub max_bad_nonce_retries: u8,
    /// Retries of one request after `rateLimited`, `serverInternal`, a 503
    /// or another 5xx, or a lost connection.
    pub max_server_retries: u8,
    /// A `Retry-After` longer than this (milliseconds) is clamped to it.
    pub max_retry_after_ms: u64,
    /// The first wait before checking on validation or issuance, and the
    /// base of the exponential backoff, when the server gives no
    /// `Retry-After`. Each wait counts from when the request that started it
    /// went out, so on a link whose round trip is longer than this step the
    /// check goes out as soon as the answer is in. A larger step spends
    /// fewer requests on a CA that takes seconds to validate; a smaller one
    /// finishes sooner on a fast one.
    pub poll_initial_ms: u64,
    /// The longest backoff step.
    pub poll_max_ms: u64,
    /// The most order polls (and early finalize attempts) per order.
    pub max_polls: u16,
}

impl RetryPolicy {
    /// The defaults: 15 badNonce retries, 3 server retries, Retry-After
    /// clamped to 5 minutes, polls from 200 ms doubling to 30 s, 40 polls.
    pub const DEFAULT: Self = Self {
        max_bad_nonce_retries: 15,
        max_server_retries: 3,
        max_retry_after_ms: 300_000,
        poll_initial_ms: 200,
        poll_max_ms: 30_000,
        max_polls: 40,
    };
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The challenge types tried, most preferred first: the default order.
pub const DEFAULT_CHALLENGE_PREFERENCE: &[ChallengeType] = &[
    ChallengeType::Http01,
    ChallengeType::TlsAlpn01,
    ChallengeType::Dns01,
];

/// The client's configuration, borrowed for the client's lifetime.
///
/// Start from [`Config::new`] and set the fields that differ:
///
/// ```
/// use acme_core::client::Config;
///
/// let mut config = Config::new("https://acme.example/directory");
/// config.contact = &["mailto:ops@example.com"];
/// config.retry.max_polls = 20;
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Config<'a> {
    /// The directory URL (RFC 8555 §7.1.1); must be https.
    pub directory_url: &'a str,
    /// Account contact URLs, e.g. `mailto:ops@example.com`.
    pub contact: &'a [&'a str],
    /// Agree to the CA's terms of service when creating the account.
    pub terms_of_service_agreed: bool,
    /// EAB credentials, for CAs that require them.
    pub eab: Option<EabCredentials<'a>>,
    /// Find an existing account for the key instead of creating one
    /// (`onlyReturnExisting`, RFC 8555 §7.3.1).
    pub only_return_existing: bool,
    /// Challenge types to use, most preferred first.
    pub challenge_preference: &'a [ChallengeType],
    /// Hosts besides the directory's that resource URLs may point to.
    /// Everything else is refused, so a server cannot steer the device to a
    /// third party.
    pub allowed_hosts: &'a [&'a str],
    /// Retry and polling bounds.
    pub retry: RetryPolicy,
    /// Refuse an issued certificate unless the next certificate of its
    /// chain verifiably signed it ([`crate::client::check_issued_by`]).
    /// On by default; an adapter that verifies the whole chain itself,
    /// with more algorithms (as `acme-host` does with webpki), may turn
    /// it off.
    pub check_issuer_signature: bool,
}

impl<'a> Config<'a> {
    /// A configuration with defaults for everything but the directory URL:
    /// no contact, no EAB, create the account if none exists, challenge
    /// types in [`DEFAULT_CHALLENGE_PREFERENCE`], no hosts besides the
    /// directory's, [`RetryPolicy::DEFAULT`], the issuer's signature on a
    /// new certificate checked.
    ///
    /// It **agrees to the CA's terms of service** (`termsOfServiceAgreed`),
    /// as choosing the CA's directory for a device fleet implies and as
    /// most CAs require; set [`Config::terms_of_service_agreed`] to `false`
    /// to have such a CA refuse instead.
    #[must_use]
    pub const fn new(directory_url: &'a str) -> Self {
        Self {
            directory_url,
            contact: &[],
            terms_of_service_agreed: true,
            eab: None,
            only_return_existing: false,
            challenge_preference: DEFAULT_CHALLENGE_PREFERENCE,
            allowed_hosts: &[],
            retry: RetryPolicy::DEFAULT,
            check_issuer_signature: true,
        }
    }
}

/// What to order (RFC 8555 §7.4). Start from [`OrderRequest::new`] and set
/// the optional fields.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OrderRequest<'a> {
    /// The identifiers; at most [`crate::identifier::MAX_IDENTIFIERS`].
    pub identifiers: &'a [Identifier<'a>],
    /// `notBefore` (RFC 3339), sent only when set.
    pub not_before: Option<&'a str>,
    /// `notAfter` (RFC 3339), sent only when set.
    pub not_after: Option<&'a str>,
    /// The profile to request, sent only when the directory offers it.
    pub profile: Option<&'a str>,
    /// The ARI CertID of the certificate this order replaces (RFC 9773 §5).
    pub replaces: Option<&'a str>,
    /// The CSR's common name; must be one of the dns identifiers.
    pub common_name: Option<&'a str>,
}

impl<'a> OrderRequest<'a> {
    /// An order for `identifiers` with nothing else set.
    #[must_use]
    pub const fn new(identifiers: &'a [Identifier<'a>]) -> Self {
        Self {
            identifiers,
            not_before: None,
            not_after: None,
            profile: None,
            replaces: None,
            common_name: None,
        }
    }
}
