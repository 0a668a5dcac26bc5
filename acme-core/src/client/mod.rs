//! The sans-IO ACME client: a deterministic state machine that performs
//! every client operation of RFC 8555 without doing any I/O.
//!
//! # Driving it
//!
//! The method families follow one shape:
//!
//! * `poll_*` (`#[must_use]`) give output: [`Client::poll_transmit`] (or
//!   [`Client::poll_request`]) the next request, [`Client::poll_timeout`]
//!   the next deadline, [`Client::poll_event`] events.
//! * `handle_*` take input: [`Client::handle_response`],
//!   [`Client::handle_timeout`], [`Client::handle_transport_error`].
//! * Commands: [`Client::challenge_ready`], [`Client::fetch_alternate`].
//!
//! A driver loops: send what `poll_transmit` gives, feed the response to
//! `handle_response`, drain `poll_event`, and when nothing is to be sent,
//! sleep until `poll_timeout` and call `handle_timeout`. Every call takes
//! `now` from the caller's monotonic clock; the client never reads a clock,
//! sleeps, allocates or spawns.
//!
//! # Buffers
//!
//! * The client holds its own state: URLs and challenge tokens in an
//!   arena of `N` bytes (default [`DEFAULT_URL_ARENA`], for eight
//!   identifiers; 1,024 is enough for one), the nonce, per-authorization
//!   progress and the last problem document. It is about `N + 2 KiB`
//!   (4.5 KB on Cortex-M with the default) and can live in a `static`.
//! * The caller lends a transmit buffer to each `poll_transmit` and a
//!   response (borrowing its receive buffer) to each `handle_response`.
//!   Certificates and other response data come back borrowed from the
//!   receive buffer: nothing is copied.
//! * [`Client::snapshot`] writes the state a reboot needs into the
//!   caller's buffer; [`Event::SnapshotChanged`] says when to save it.

mod arena;
mod config;
mod payload;
mod problem;
mod snapshot;

use core::net::IpAddr;

use heapless::{Deque, String, Vec};
use sha2::{Digest, Sha256};

pub use arena::MAX_URL_LEN;
pub use config::{Config, EabCredentials, OrderRequest, RetryPolicy, DEFAULT_CHALLENGE_PREFERENCE};
pub use problem::{
    ProblemRecord, SubproblemRecord, MAX_PROBLEM_DETAIL, MAX_PROBLEM_URI, MAX_SUBPROBLEMS_KEPT,
};
pub use snapshot::{SnapshotError, SNAPSHOT_VERSION};

use arena::{Arena, UrlRef};
use payload::{ContactUpdate, Deactivate, EmptyObject, Finalize, NewAccount, NewOrder, Revoke};

use crate::cert::{Certificate, SanEntry};
use crate::challenge::{validate_token, KeyAuthorization};
use crate::eab::ExternalAccountBinding;
use crate::http::{write_request_head, AcmeHeaders, Method, Response, RetryAfter, Url};
use crate::identifier::{validate_all, Identifier};
use crate::jws::{write_jws, KeyChange, KeyRef, Payload, Protected};
use crate::key::Thumbprint;
use crate::msg::{
    self, Authorization, AuthorizationStatus, ChallengeStatus, ChallengeType, IdentifierType,
    JsonStr, OrderStatus, ProblemType, MAX_AUTHORIZATIONS,
};
use crate::time::{Instant, UnixTime};
use crate::{Error, Es256Signer};

/// The default size of the URL arena, in bytes: room for a directory, an
/// account and an order of eight identifiers, each with its authorization
/// URL, challenge URL and token, at Let's Encrypt's lengths (about 2.1 KB).
/// A client for one identifier needs about 800 bytes.
pub const DEFAULT_URL_ARENA: usize = 2560;

/// The largest snapshot a client with the default URL arena writes: size
/// the save buffer and the flash record with it. For another arena size
/// use [`Client::SNAPSHOT_MAX_LEN`].
pub const SNAPSHOT_MAX_LEN: usize = snapshot::max_len(DEFAULT_URL_ARENA);
/// The longest nonce accepted (RFC 8555 §6.5.1 asks for at least 128 bits).
pub const MAX_NONCE_LEN: usize = 128;
/// Room for the directory's profile names (space-separated); names past
/// it are treated as not offered.
pub const MAX_PROFILE_NAMES: usize = 128;
/// The most alternate chains remembered.
pub const MAX_ALTERNATES: usize = 4;
/// Events that can wait in the queue; more than a flow can produce.
const EVENT_QUEUE: usize = 2 * MAX_AUTHORIZATIONS + 4;

/// Which protocol step a request performs (for progress output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Step {
    /// GET the directory.
    Directory,
    /// HEAD newNonce.
    Nonce,
    /// newAccount: create or find the account.
    Account,
    /// POST-as-GET the account (to find its orders list).
    AccountFetch,
    /// newOrder.
    NewOrder,
    /// Fetch an order (resume or poll).
    Order,
    /// Fetch an authorization.
    Authorization,
    /// Respond to a challenge.
    Challenge,
    /// Finalize the order with the CSR.
    Finalize,
    /// Download the certificate chain (or an alternate).
    Certificate,
    /// Update the account's contacts.
    UpdateContact,
    /// Deactivate the account.
    DeactivateAccount,
    /// Roll the account key over.
    KeyChange,
    /// Deactivate an authorization.
    DeactivateAuthorization,
    /// Revoke a certificate.
    Revoke,
    /// Fetch a page of the account's orders.
    OrdersList,
    /// Fetch ARI renewal information.
    RenewalInfo,
}

/// Who signs a revocation request (RFC 8555 §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RevocationSigner {
    /// The account key, with the account URL as `kid`.
    Account,
    /// The certificate's own key (the device key), with its `jwk`.
    CertificateKey,
}

/// A revocation reason (RFC 5280 §5.3.1); code 7 is unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum RevocationReason {
    /// 0
    Unspecified = 0,
    /// 1
    KeyCompromise = 1,
    /// 2
    CaCompromise = 2,
    /// 3
    AffiliationChanged = 3,
    /// 4
    Superseded = 4,
    /// 5
    CessationOfOperation = 5,
    /// 6
    CertificateHold = 6,
    /// 8
    RemoveFromCrl = 8,
    /// 9
    PrivilegeWithdrawn = 9,
    /// 10
    AaCompromise = 10,
}

impl RevocationReason {
    /// All reasons, in code order.
    pub const ALL: [RevocationReason; 10] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::RemoveFromCrl,
        Self::PrivilegeWithdrawn,
        Self::AaCompromise,
    ];

    /// The reason with RFC 5280 code `code` (7 and above 10 are none).
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| *r as u8 == code)
    }

    /// The RFC 5280 name, e.g. `keyCompromise`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::RemoveFromCrl => "removeFromCRL",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
            Self::AaCompromise => "aACompromise",
        }
    }

    /// The reason named `name` (case-insensitive) or numbered `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        if let Ok(code) = name.parse::<u8>() {
            return Self::from_code(code);
        }
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }
}

/// What one client session does.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Goal<'a> {
    /// Enrol (or renew) a certificate.
    Enrol(OrderRequest<'a>),
    /// Replace the account's contacts.
    UpdateContact(&'a [&'a str]),
    /// Deactivate the account (irreversible).
    DeactivateAccount,
    /// Roll the account key over to `new_key`. Afterwards sign with it.
    RolloverKey(&'a dyn Es256Signer),
    /// Deactivate the authorization at this URL.
    DeactivateAuthorization(&'a str),
    /// Revoke a certificate.
    Revoke {
        /// The certificate, DER.
        certificate_der: &'a [u8],
        /// The reason, sent when given.
        reason: Option<RevocationReason>,
        /// Which key signs.
        signer: RevocationSigner,
    },
    /// Fetch the account object.
    FetchAccount,
    /// List the account's orders, page by page.
    ListOrders,
    /// Fetch ARI renewal information for a certificate's CertID.
    RenewalInfo {
        /// The ARI CertID ([`crate::cert::Certificate::write_ari_cert_id`]).
        cert_id: &'a str,
    },
}

/// A request to send: the body is in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'s> {
    /// What this request does.
    pub step: Step,
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: &'s str,
    /// How many bytes of the caller's buffer hold the body (0 for GET and
    /// HEAD).
    pub body_len: usize,
}

/// A complete HTTP/1.1 request in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'s> {
    /// What this request does.
    pub step: Step,
    /// The method.
    pub method: Method,
    /// Where to send it: connect to `url.host:url.port`.
    pub url: Url<'s>,
    /// How many bytes of the caller's buffer to send.
    pub len: usize,
}

/// Identifies one authorization's challenge within the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChallengeId(pub u8);

/// A challenge to provision (or clean up), from [`Event::Provision`] and
/// [`Event::Cleanup`].
///
/// ```
/// use acme_core::challenge::KeyAuthorization;
/// use acme_core::client::{ChallengeId, ChallengeTask};
/// use acme_core::msg::ChallengeType;
/// use acme_core::{Es256Signer, Identifier, SoftwareKey};
///
/// # let thumbprint = SoftwareKey::from_scalar(&[1; 32])?.public_key().thumbprint();
/// # let task = ChallengeTask {
/// #     id: ChallengeId(0),
/// #     kind: ChallengeType::Dns01,
/// #     identifier: Identifier::dns("device-17.example")?,
/// #     key_authorization: KeyAuthorization::new("tok3n", &thumbprint)?,
/// # };
/// // What a solver does with a task the client handed out:
/// match task.kind {
///     ChallengeType::Http01 => {
///         // Serve task.key_authorization.as_str() at this path on port 80.
///         let _path = task.http01_path();
///     }
///     ChallengeType::Dns01 => {
///         let name = task.dns01_record_name()?;
///         assert_eq!(name.as_str(), "_acme-challenge.device-17.example");
///         let _txt = task.dns01_value(); // publish this TXT value
///     }
///     _ => {} // tls-alpn-01: see acme_core::challenge::write_tls_alpn01_certificate
/// }
/// // Then: client.challenge_ready(task.id)
/// # Ok::<(), acme_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeTask<'s> {
    /// Pass this to [`Client::challenge_ready`].
    pub id: ChallengeId,
    /// The challenge type chosen.
    pub kind: ChallengeType,
    /// The identifier being validated.
    pub identifier: Identifier<'s>,
    /// The key authorization: the http-01 body; hashed for dns-01 and
    /// tls-alpn-01.
    pub key_authorization: KeyAuthorization,
}

impl ChallengeTask<'_> {
    /// For dns-01: the TXT record's name, `_acme-challenge.<domain>`.
    ///
    /// # Errors
    /// [`Error::Identifier`] when the identifier is not a dns name.
    pub fn dns01_record_name(
        &self,
    ) -> Result<String<{ crate::challenge::MAX_DNS01_NAME_LEN }>, Error> {
        match self.identifier {
            Identifier::Dns(name) => crate::challenge::dns01_record_name(name),
            Identifier::Ip(_) => Err(crate::IdentifierError::NotDnsName.into()),
        }
    }

    /// For dns-01: the TXT record's value.
    #[must_use]
    pub fn dns01_value(&self) -> crate::key::Base64Text<43> {
        self.key_authorization.dns01_value()
    }

    /// For http-01: the path to serve the key authorization at.
    #[must_use]
    pub fn http01_path(&self) -> String<{ crate::challenge::MAX_HTTP01_PATH_LEN }> {
        self.key_authorization.http01_path()
    }
}

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'s> {
    /// Provision this challenge, then call [`Client::challenge_ready`].
    Provision(ChallengeTask<'s>),
    /// Validation is over: remove what was provisioned.
    Cleanup(ChallengeTask<'s>),
    /// The persistent state changed: save [`Client::snapshot`] now. It can
    /// also come out of [`Client::poll_transmit`] (before a newOrder):
    /// drivers drain events after polling a request and before sending it,
    /// so the saved state knows the order may exist.
    SnapshotChanged,
    /// The goal was reached.
    Done,
    /// The goal failed; nothing more will be sent.
    Failed(Error),
}

/// What a response produced, borrowed from the response.
// Returned by value once per response; there is no heap to box into. The
// large variant (an orders page) only occurs when listing orders.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled<'i> {
    /// Nothing to report; keep driving.
    Continue,
    /// The certificate chain (PEM), checked against the CSR's key and
    /// identifiers. Save it.
    Certificate {
        /// `application/pem-certificate-chain`.
        pem: &'i [u8],
        /// Which alternate this is (`None` for the default chain).
        alternate: Option<u8>,
        /// How many alternate chains the server offers
        /// ([`Client::fetch_alternate`]).
        alternates: usize,
    },
    /// The account object (fetched, after a contact update, or after a
    /// deactivation).
    Account(msg::Account<'i>),
    /// One page of the account's orders: the JSON body, which the client
    /// checked parses as a [`msg::OrdersPage`]. Read it with
    /// `msg::parse::<msg::OrdersPage>(body)`: a parsed page is 0.5 KB,
    /// which every caller of [`Client::handle_response`] would otherwise
    /// hold on its stack for this one goal.
    OrdersPage {
        /// The `orders` object (RFC 8555 §7.1.2.1).
        body: &'i [u8],
    },
    /// ARI renewal information.
    RenewalInfo {
        /// The suggested window and explanation.
        info: msg::RenewalInfo<'i>,
        /// When to ask again, if the server said.
        retry_after: Option<RetryAfter>,
    },
}

/// Where an order stands, as far as a reboot needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OrderStep {
    /// No order yet.
    None,
    /// newOrder has been sent and its answer not seen: the order may exist.
    /// A client restored in this step searches the account's orders for it
    /// before creating another.
    Requested,
    /// The order exists; authorizations may be in progress.
    Created,
    /// Finalize was accepted; only polling and download remain.
    Finalized,
}

/// The current phase: the request that is due next (or a wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Directory,
    Account,
    AccountFetch,
    NewOrder,
    FetchOrder,
    FetchAuthz(u8),
    AwaitReady,
    RespondChallenge(u8),
    Finalize,
    PollOrder,
    Certificate,
    Alternate(u8),
    UpdateContact,
    DeactivateAccount,
    KeyChange,
    DeactivateAuthz,
    Revoke,
    OrdersPage,
    RenewalInfo,
    Done,
    Failed,
}

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    phase: Phase,
    nonce_only: bool,
    method: Method,
}

/// Where one authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthzProgress {
    /// Not fetched yet.
    Unfetched,
    /// Already valid: nothing to do.
    Valid,
    /// A challenge was chosen; waiting for the caller to provision it.
    Provisioning,
    /// Provisioned; the challenge must be answered.
    Ready,
    /// The challenge was answered (or the server is already validating).
    Responded,
}

#[derive(Debug, Clone)]
struct AuthzSlot {
    url: UrlRef,
    identifier: u8,
    progress: AuthzProgress,
    kind: ChallengeType,
    challenge_url: Option<UrlRef>,
    /// The chosen challenge's token, in the arena beside its URL.
    token: Option<UrlRef>,
}

/// The directory's URLs, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DirectoryUrls {
    new_nonce: Option<UrlRef>,
    new_account: Option<UrlRef>,
    new_order: Option<UrlRef>,
    revoke_cert: Option<UrlRef>,
    key_change: Option<UrlRef>,
    renewal_info: Option<UrlRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventTag {
    Provision(u8),
    Cleanup(u8),
    SnapshotChanged,
    Done,
    /// The flow failed with [`Client::failure`]'s error.
    Failed,
}

/// The ACME client state machine. See the [module documentation](self).
pub struct Client<'a, const N: usize = DEFAULT_URL_ARENA> {
    config: &'a Config<'a>,
    account_key: &'a dyn Es256Signer,
    device_key: Option<&'a dyn Es256Signer>,
    goal: Goal<'a>,
    thumbprint: Thumbprint,
    arena: Arena<N>,
    have_directory: bool,
    dir: DirectoryUrls,
    eab_required: bool,
    /// The directory's profile names, space-separated (cut at the limit).
    offered_profiles: String<MAX_PROFILE_NAMES>,
    get_fallback: bool,
    /// The server refused HEAD newNonce: use GET (answered with 204).
    nonce_by_get: bool,
    account_url: Option<UrlRef>,
    order_url: Option<UrlRef>,
    finalize_url: Option<UrlRef>,
    certificate_url: Option<UrlRef>,
    order_step: OrderStep,
    resumed_order: bool,
    /// A newOrder got no response: the order may exist, so the account's
    /// orders list is searched before another is created.
    recovering_order: bool,
    authzs: Vec<AuthzSlot, MAX_AUTHORIZATIONS>,
    alternates: Vec<UrlRef, MAX_ALTERNATES>,
    next_url: Option<UrlRef>,
    nonce: String<MAX_NONCE_LEN>,
    phase: Phase,
    in_flight: Option<InFlight>,
    wait_until: Option<Instant>,
    /// When the latest request went out: polls are timed from it.
    sent_at: Instant,
    bad_nonce_retries: u8,
    server_retries: u8,
    /// The request whose answer was lost, while the client works around
    /// it (newOrder: searching the orders; a challenge: reading its
    /// authorization). Other requests' answers do not renew the retry
    /// budget then, or a request that keeps failing would be tried forever.
    unanswered: Option<Phase>,
    polls: u16,
    events: Deque<EventTag, EVENT_QUEUE>,
    /// Why the flow failed, for the queued [`EventTag::Failed`]: kept once
    /// here rather than in every queue slot.
    failure: Option<Error>,
    problem: ProblemRecord,
    wall_clock: Option<(Instant, UnixTime)>,
    requests_sent: u32,
}

impl<'a, const N: usize> Client<'a, N> {
    /// A client for `goal`, signing as the account with `account_key`.
    ///
    /// ```
    /// use acme_core::client::{Client, Config, Goal, OrderRequest, Step};
    /// use acme_core::time::Instant;
    /// use acme_core::{Identifier, SoftwareKey};
    ///
    /// // Keys come from the caller: a secure element, flash, or here raw scalars.
    /// let account = SoftwareKey::from_scalar(&[1; 32])?;
    /// let device = SoftwareKey::from_scalar(&[2; 32])?;
    /// let config = Config::new("https://acme.example/directory");
    /// let identifiers = [Identifier::dns("device-17.example")?];
    /// let goal = Goal::Enrol(OrderRequest::new(&identifiers));
    /// let mut client: Client<'_> = Client::new(&config, &account, goal)?.with_device_key(&device);
    ///
    /// // The first request is the directory; the caller's buffer holds it.
    /// let mut tx = [0u8; 2048];
    /// let Some(transmit) = client.poll_transmit(Instant(0), &mut tx)? else {
    ///     unreachable!("a new client always has a request to send")
    /// };
    /// assert_eq!(transmit.step, Step::Directory);
    /// assert_eq!((transmit.url.host, transmit.url.port), ("acme.example", 443));
    /// assert!(tx[..transmit.len].starts_with(b"GET /directory HTTP/1.1\r\n"));
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Identifier`] for an unusable order, and [`Error::Url`] for a
    /// directory URL that is not https.
    pub fn new(
        config: &'a Config<'a>,
        account_key: &'a dyn Es256Signer,
        goal: Goal<'a>,
    ) -> Result<Self, Error> {
        let directory = Url::parse(config.directory_url)?;
        match &goal {
            Goal::Enrol(order) => validate_all(order.identifiers)?,
            Goal::DeactivateAuthorization(url) => {
                check_origin(&Url::parse(url)?, &directory, config.allowed_hosts)?;
            }
            _ => {}
        }
        // Built straight into the result: a fresh client always starts by
        // reading the directory. (Building it first and moving it into `Ok`
        // would hold two copies of it on the caller's stack.)
        let thumbprint = account_key.public_key().thumbprint();
        Ok(Self {
            config,
            account_key,
            device_key: None,
            goal,
            thumbprint,
            arena: Arena::new(),
            have_directory: false,
            dir: DirectoryUrls::default(),
            eab_required: false,
            offered_profiles: String::new(),
            get_fallback: false,
            nonce_by_get: false,
            account_url: None,
            order_url: None,
            finalize_url: None,
            certificate_url: None,
            order_step: OrderStep::None,
            resumed_order: false,
            recovering_order: false,
            authzs: Vec::new(),
            alternates: Vec::new(),
            next_url: None,
            nonce: String::new(),
            phase: Phase::Directory,
            in_flight: None,
            wait_until: None,
            sent_at: Instant(0),
            bad_nonce_retries: 0,
            server_retries: 0,
            unanswered: None,
            polls: 0,
            events: Deque::new(),
            failure: None,
            problem: ProblemRecord::default(),
            wall_clock: None,
            requests_sent: 0,
        })
    }

    /// Sets the key that owns the certificate: it signs the CSR, and
    /// revocations by certificate key. Required for [`Goal::Enrol`].
    #[must_use]
    pub fn with_device_key(mut self, key: &'a dyn Es256Signer) -> Self {
        self.set_device_key(key);
        self
    }

    /// [`Client::with_device_key`] in place: for a client used where
    /// [`Client::new`] put it, without moving it (each move of a `Client`
    /// costs its size in stack on a device).
    pub fn set_device_key(&mut self, key: &'a dyn Es256Signer) {
        self.device_key = Some(key);
    }

    /// Tells the client the wall-clock time, when the device knows it. It
    /// is used to check certificate validity and to turn an HTTP-date
    /// `Retry-After` into a delay when the response has no `Date`.
    pub fn set_wall_clock(&mut self, now: Instant, unix: UnixTime) {
        self.wall_clock = Some((now, unix));
    }

    /// The wall-clock time at `now`, if known.
    fn unix_at(&self, now: Instant) -> Option<UnixTime> {
        self.wall_clock
            .map(|(at, unix)| UnixTime(unix.0 + now.millis_since(at) / 1000))
    }

    // ----- getters --------------------------------------------------------

    /// The last problem document the server sent.
    #[must_use]
    pub fn problem(&self) -> &ProblemRecord {
        &self.problem
    }

    /// The account URL, once known.
    #[must_use]
    pub fn account_url(&self) -> Option<&str> {
        self.account_url.map(|r| self.arena.get(r))
    }

    /// The current order's URL, once known.
    #[must_use]
    pub fn order_url(&self) -> Option<&str> {
        self.order_url.map(|r| self.arena.get(r))
    }

    /// Where the current order stands.
    #[must_use]
    pub fn order_step(&self) -> OrderStep {
        self.order_step
    }

    /// True once the goal is reached or has failed.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed)
    }

    /// How many requests this client has produced (including retries).
    #[must_use]
    pub fn requests_sent(&self) -> u32 {
        self.requests_sent
    }

    /// True when the directory offers profile `name`.
    #[must_use]
    pub fn profile_offered(&self, name: &str) -> bool {
        self.offered_profiles
            .split(' ')
            .any(|p| !p.is_empty() && p == name)
    }

    /// True when the directory says the CA requires EAB.
    #[must_use]
    pub fn external_account_required(&self) -> bool {
        self.eab_required
    }

    // ----- commands -------------------------------------------------------

    /// Says that the challenge from [`Event::Provision`] is in place. Once
    /// every challenge is ready the client answers them.
    pub fn challenge_ready(&mut self, id: ChallengeId) {
        if let Some(slot) = self.authzs.get_mut(usize::from(id.0)) {
            if slot.progress == AuthzProgress::Provisioning {
                slot.progress = AuthzProgress::Ready;
            }
        }
        if self.phase == Phase::AwaitReady
            && !self
                .authzs
                .iter()
                .any(|s| s.progress == AuthzProgress::Provisioning)
        {
            self.next_challenge_or_finalize(None);
        }
    }

    /// After the default chain was delivered, fetches alternate chain
    /// `index` (0-based, fewer than `alternates` in
    /// [`Handled::Certificate`]).
    ///
    /// # Errors
    /// [`Error::Protocol`] when there is no such alternate.
    pub fn fetch_alternate(&mut self, index: u8) -> Result<(), Error> {
        if self.phase != Phase::Done || usize::from(index) >= self.alternates.len() {
            return Err(ProtocolError::NoSuchAlternate.into());
        }
        self.phase = Phase::Alternate(index);
        self.events.retain(|e| *e != EventTag::Done);
        Ok(())
    }

    // ----- output ---------------------------------------------------------

    /// The next event, if any.
    #[must_use]
    #[inline(never)]
    pub fn poll_event(&mut self) -> Option<Event<'a>> {
        let tag = self.events.pop_front()?;
        Some(match tag {
            EventTag::Provision(i) => match self.task(i) {
                Some(task) => Event::Provision(task),
                None => return self.poll_event(),
            },
            EventTag::Cleanup(i) => match self.task(i) {
                Some(task) => Event::Cleanup(task),
                None => return self.poll_event(),
            },
            EventTag::SnapshotChanged => Event::SnapshotChanged,
            EventTag::Done => Event::Done,
            EventTag::Failed => match self.failure {
                Some(e) => Event::Failed(e),
                None => return self.poll_event(),
            },
        })
    }

    /// The next deadline: call [`Client::handle_timeout`] (or just poll
    /// again) at or after it.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight.is_some() || self.is_finished() {
            return None;
        }
        self.wait_until
    }

    /// Time passed; a wait that has ended lets the next request go. Calling
    /// it early, or twice, does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(t) = self.wait_until {
            if now >= t {
                self.wait_until = None;
            }
        }
    }

    /// Writes the next request as HTTP/1.1 into `out`.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the size needed (nothing is consumed;
    /// call again with a larger buffer), or a failure to sign.
    #[must_use = "the request must be sent"]
    #[inline(never)]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Transmit<'_>>, Error> {
        let Some(planned) = self.plan(now)? else {
            return Ok(None);
        };
        let url_text = self.planned_url(&planned);
        let url = Url::parse(url_text)?;
        // Reserve room for the head, write the body after it, then the
        // head, then close the gap.
        // The body goes after room for the head; the head's length depends
        // only on the digits of the body's length, so reserving the head
        // for a body as long as the whole buffer is enough.
        let post = planned.method == Method::Post;
        let (body_at, body_len) = if post {
            let reserve = head_len_for(planned.method, &url, Some(out.len()));
            match self.write_body(&planned, tail(out, reserve)) {
                Ok(n) => (reserve, n),
                Err(Error::BufferTooSmall { required }) => {
                    // It may still fit right after the exact head.
                    let head = head_len_for(planned.method, &url, Some(required));
                    if head + required > out.len() {
                        return Err(Error::BufferTooSmall {
                            required: head + required,
                        });
                    }
                    (head, self.write_body(&planned, tail(out, head))?)
                }
                Err(e) => return Err(e),
            }
        } else {
            (0, 0)
        };
        let body = post.then_some(body_len);
        let head_len = match write_request_head(out, planned.method, &url, body) {
            Ok(n) if n <= body_at || !post => n,
            _ => {
                return Err(Error::BufferTooSmall {
                    required: head_len_for(planned.method, &url, body) + body_len,
                })
            }
        };
        out.copy_within(body_at..body_at + body_len, head_len);
        self.commit(&planned, now);
        let url = Url::parse(self.planned_url(&planned))?;
        Ok(Some(Transmit {
            step: planned.step,
            method: planned.method,
            url,
            len: head_len + body_len,
        }))
    }

    /// Writes the next request's body (a JWS for POST) into `out`, for
    /// adapters with their own HTTP stack. They must send
    /// `Content-Type: application/jose+json` with a POST.
    ///
    /// # Errors
    /// As for [`Client::poll_transmit`].
    #[must_use = "the request must be sent"]
    pub fn poll_request(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Request<'_>>, Error> {
        let Some(planned) = self.plan(now)? else {
            return Ok(None);
        };
        let body_len = if planned.method == Method::Post {
            self.write_body(&planned, out)?
        } else {
            0
        };
        self.commit(&planned, now);
        Ok(Some(Request {
            step: planned.step,
            method: planned.method,
            url: self.planned_url(&planned),
            body_len,
        }))
    }

    // ----- input ----------------------------------------------------------

    /// Feeds the response to the request last sent.
    ///
    /// `scratch` is any idle buffer (the transmit buffer will do); the
    /// client decodes the issued certificate into it to check it against
    /// the CSR, so it must hold the leaf certificate's DER (2 KiB is
    /// plenty).
    ///
    /// # Errors
    /// A fatal error ends the flow: it is returned here and as
    /// [`Event::Failed`]. Transient ones (`badNonce`, 503, …) are retried
    /// within [`RetryPolicy`] and not reported.
    #[inline(never)]
    pub fn handle_response<'i>(
        &mut self,
        now: Instant,
        response: &Response<'i>,
        scratch: &mut [u8],
    ) -> Result<Handled<'i>, Error> {
        let Some(in_flight) = self.in_flight.take() else {
            return Err(ProtocolError::UnexpectedResponse.into());
        };
        if let Some(nonce) = response.headers.replay_nonce {
            self.nonce.clear();
            if self.nonce.push_str(nonce).is_err() {
                self.nonce.clear();
            }
        }
        if in_flight.nonce_only {
            return self.handle_nonce_response(now, response);
        }
        let result = if response.status >= 400 {
            self.handle_error_response(now, in_flight, response)
                .map(|()| Handled::Continue)
        } else if (300..400).contains(&response.status) || response.status < 200 {
            Err(ProtocolError::UnexpectedStatus {
                status: response.status,
            }
            .into())
        } else {
            self.bad_nonce_retries = 0;
            if self.unanswered.is_none_or(|phase| phase == in_flight.phase) {
                self.answered();
            }
            self.handle_success(now, in_flight.phase, response, scratch)
        };
        result.map_err(|e| self.fail(e))
    }

    /// The request last sent got no response: the connection failed,
    /// timed out, or closed early. Safe requests are retried within
    /// [`RetryPolicy::max_server_retries`]; the nonce it carried is spent.
    ///
    /// # Errors
    /// [`Error::Protocol`] with [`ProtocolError::RetriesExhausted`] once the
    /// budget is spent.
    pub fn handle_transport_error(&mut self, now: Instant) -> Result<(), Error> {
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(());
        };
        self.nonce.clear();
        if !in_flight.nonce_only {
            self.unanswered = Some(in_flight.phase);
        }
        match in_flight.phase {
            Phase::NewOrder if !in_flight.nonce_only => {
                // The server may have created the order and lost only the
                // answer: look for it before creating a second one.
                acme_warn!("acme: newOrder got no response; searching the account's orders");
                self.recovering_order = true;
                self.phase = Phase::AccountFetch;
            }
            Phase::RespondChallenge(i) if !in_flight.nonce_only => {
                // The server may have taken the answer and started
                // validating, and refuses a second answer to a challenge
                // that is no longer pending: read the authorization first.
                acme_warn!("acme: a challenge answer got no response; reading its authorization");
                self.set_slot(i, |s| s.progress = AuthzProgress::Unfetched);
                self.phase = Phase::FetchAuthz(i);
            }
            Phase::Finalize if !in_flight.nonce_only => {
                // The server may have taken the CSR and started issuing; an
                // order no longer ready refuses a second finalize. Read the
                // order first: it is finalized again only if still ready.
                acme_warn!("acme: finalize got no response; reading the order");
                self.phase = Phase::PollOrder;
            }
            _ => {}
        }
        if self.server_retries >= self.config.retry.max_server_retries {
            return Err(self.fail(ProtocolError::RetriesExhausted.into()));
        }
        self.server_retries += 1;
        let delay = self.backoff(u16::from(self.server_retries));
        self.wait_until = Some(now.plus_millis(delay));
        Ok(())
    }

    // ----- snapshot -------------------------------------------------------

    /// Writes the state a reboot needs (directory, account, current order)
    /// into `out`: at most [`Client::SNAPSHOT_MAX_LEN`] bytes.
    ///
    /// Save it whenever [`Event::SnapshotChanged`] comes out; after a
    /// reboot, [`Client::restore`] it into a client for the same goal:
    ///
    /// ```
    /// use acme_core::client::{Client, Config, Goal, OrderRequest, SNAPSHOT_MAX_LEN};
    /// use acme_core::{Identifier, SoftwareKey};
    ///
    /// let account = SoftwareKey::from_scalar(&[1; 32])?;
    /// let config = Config::new("https://acme.example/directory");
    /// let identifiers = [Identifier::dns("device-17.example")?];
    /// let goal = Goal::Enrol(OrderRequest::new(&identifiers));
    ///
    /// let client: Client<'_> = Client::new(&config, &account, goal)?;
    /// let mut flash = [0u8; SNAPSHOT_MAX_LEN]; // stands in for a flash page
    /// let saved = client.snapshot(&mut flash)?;
    ///
    /// // Power cycle: a fresh client picks up where the last one stopped.
    /// let mut resumed: Client<'_> = Client::new(&config, &account, goal)?;
    /// resumed.restore(saved)?;
    /// assert_eq!(resumed.account_url(), client.account_url());
    ///
    /// // A snapshot cut short by a power loss is refused, never misread.
    /// assert!(resumed.restore(&saved[..saved.len() - 1]).is_err());
    /// # Ok::<(), acme_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] with the exact size.
    pub fn snapshot<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], Error> {
        snapshot::write(self, out)
    }

    /// The largest snapshot this client can write.
    pub const SNAPSHOT_MAX_LEN: usize = snapshot::max_len(N);

    /// Restores a snapshot written by [`Client::snapshot`]: the directory
    /// and account are reused, and an unfinished order for the same
    /// identifiers is resumed instead of creating a new one.
    ///
    /// # Errors
    /// [`Error::Snapshot`] when the snapshot is corrupt, from another
    /// version, or for another directory; the client is then unchanged.
    pub fn restore(&mut self, snapshot: &[u8]) -> Result<(), Error> {
        snapshot::restore(self, snapshot)?;
        self.phase = self.start_phase();
        Ok(())
    }

    // ----- internals: planning --------------------------------------------

    fn start_phase(&self) -> Phase {
        if !self.have_directory {
            return Phase::Directory;
        }
        let needs_account = match self.goal {
            Goal::RenewalInfo { .. } => false,
            Goal::Revoke { signer, .. } => signer == RevocationSigner::Account,
            _ => true,
        };
        if needs_account && self.account_url.is_none() {
            return Phase::Account;
        }
        match self.goal {
            Goal::Enrol(_) => {
                if self.order_url.is_some() {
                    Phase::FetchOrder
                } else if self.recovering_order {
                    Phase::AccountFetch
                } else {
                    Phase::NewOrder
                }
            }
            Goal::UpdateContact(_) => Phase::UpdateContact,
            Goal::DeactivateAccount => Phase::DeactivateAccount,
            Goal::RolloverKey(_) => Phase::KeyChange,
            Goal::DeactivateAuthorization(_) => Phase::DeactivateAuthz,
            Goal::Revoke { .. } => Phase::Revoke,
            Goal::ListOrders | Goal::FetchAccount => Phase::AccountFetch,
            Goal::RenewalInfo { .. } => Phase::RenewalInfo,
        }
    }

    /// Decides the next request without changing anything.
    fn plan(&mut self, now: Instant) -> Result<Option<Planned<'a>>, Error> {
        if self.in_flight.is_some() || self.is_finished() || self.phase == Phase::AwaitReady {
            return Ok(None);
        }
        if let Some(t) = self.wait_until {
            if now < t {
                return Ok(None);
            }
            self.wait_until = None;
        }
        let phase = self.phase;
        let (step, method) = match phase {
            Phase::Directory => (Step::Directory, Method::Get),
            Phase::RenewalInfo => (Step::RenewalInfo, Method::Get),
            Phase::Account => (Step::Account, Method::Post),
            Phase::AccountFetch => (Step::AccountFetch, self.fetch_method()),
            Phase::NewOrder => (Step::NewOrder, Method::Post),
            Phase::FetchOrder | Phase::PollOrder => (Step::Order, self.fetch_method()),
            Phase::FetchAuthz(_) => (Step::Authorization, self.fetch_method()),
            Phase::RespondChallenge(_) => (Step::Challenge, Method::Post),
            Phase::Finalize => (Step::Finalize, Method::Post),
            Phase::Certificate | Phase::Alternate(_) => (Step::Certificate, self.fetch_method()),
            Phase::UpdateContact => (Step::UpdateContact, Method::Post),
            Phase::DeactivateAccount => (Step::DeactivateAccount, Method::Post),
            Phase::KeyChange => (Step::KeyChange, Method::Post),
            Phase::DeactivateAuthz => (Step::DeactivateAuthorization, Method::Post),
            Phase::Revoke => (Step::Revoke, Method::Post),
            Phase::OrdersPage => (Step::OrdersList, self.fetch_method()),
            Phase::AwaitReady | Phase::Done | Phase::Failed => return Ok(None),
        };
        if method == Method::Post && self.nonce.is_empty() {
            let url = self
                .dir
                .new_nonce
                .ok_or(ProtocolError::MissingDirectoryEntry { name: "newNonce" })?;
            return Ok(Some(Planned {
                phase,
                step: Step::Nonce,
                method: if self.nonce_by_get {
                    Method::Get
                } else {
                    Method::Head
                },
                url: PlannedUrl::Arena(url),
                nonce_only: true,
            }));
        }
        let url = self.phase_url(phase)?;
        Ok(Some(Planned {
            phase,
            step,
            method,
            url,
            nonce_only: false,
        }))
    }

    /// POST-as-GET, or plain GET for servers that refuse it.
    fn fetch_method(&self) -> Method {
        if self.get_fallback {
            Method::Get
        } else {
            Method::Post
        }
    }

    fn phase_url(&self, phase: Phase) -> Result<PlannedUrl<'a>, Error> {
        let missing = |name| Error::Protocol(ProtocolError::MissingDirectoryEntry { name });
        let arena = |r: Option<UrlRef>, name| r.map(PlannedUrl::Arena).ok_or_else(|| missing(name));
        match phase {
            Phase::Directory => Ok(PlannedUrl::Directory),
            Phase::Account => arena(self.dir.new_account, "newAccount"),
            Phase::NewOrder => arena(self.dir.new_order, "newOrder"),
            Phase::KeyChange => arena(self.dir.key_change, "keyChange"),
            Phase::Revoke => arena(self.dir.revoke_cert, "revokeCert"),
            Phase::RenewalInfo | Phase::OrdersPage => arena(self.next_url, "renewalInfo"),
            Phase::AccountFetch | Phase::UpdateContact | Phase::DeactivateAccount => {
                arena(self.account_url, "account URL")
            }
            Phase::FetchOrder | Phase::PollOrder => arena(self.order_url, "order URL"),
            Phase::Finalize => arena(self.finalize_url, "finalize"),
            Phase::Certificate => arena(self.certificate_url, "certificate"),
            Phase::Alternate(i) => arena(self.alternates.get(usize::from(i)).copied(), "alternate"),
            Phase::FetchAuthz(i) => arena(
                self.authzs.get(usize::from(i)).map(|s| s.url),
                "authorization",
            ),
            Phase::RespondChallenge(i) => arena(
                self.authzs
                    .get(usize::from(i))
                    .and_then(|s| s.challenge_url),
                "challenge",
            ),
            Phase::DeactivateAuthz => match self.goal {
                Goal::DeactivateAuthorization(url) => Ok(PlannedUrl::Goal(url)),
                _ => Err(missing("authorization")),
            },
            Phase::AwaitReady | Phase::Done | Phase::Failed => Err(missing("request")),
        }
    }

    fn planned_url(&self, planned: &Planned<'a>) -> &str {
        match planned.url {
            PlannedUrl::Directory => self.config.directory_url,
            PlannedUrl::Arena(r) => self.arena.get(r),
            PlannedUrl::Goal(url) => url,
        }
    }

    /// Writes the JWS body for a planned POST (takes the nonce only when
    /// committed).
    fn write_body(&self, planned: &Planned<'a>, out: &mut [u8]) -> Result<usize, Error> {
        let url = self.planned_url(planned);
        let nonce = Some(self.nonce.as_str());
        let kid = self.account_url.map(|r| self.arena.get(r));
        let account_kid = || kid.map(KeyRef::Kid).ok_or(ProtocolError::NoAccount);
        let (signer, key, payload): (&dyn Es256Signer, KeyRef<'_>, Payload<'_>) =
            match planned.phase {
                Phase::Account => {
                    let eab = self.config.eab.map(|c| ExternalAccountBinding {
                        kid: c.kid,
                        key: c.key,
                        account_key: self.account_key.public_key(),
                        new_account_url: url,
                    });
                    let body = NewAccount {
                        contact: self.config.contact,
                        terms_of_service_agreed: self.config.terms_of_service_agreed,
                        only_return_existing: self.config.only_return_existing,
                        eab,
                    };
                    return self.sign_into(
                        out,
                        self.account_key,
                        KeyRef::Jwk(self.account_key.public_key()),
                        url,
                        Payload::Json(&body),
                    );
                }
                Phase::NewOrder => {
                    let Goal::Enrol(order) = &self.goal else {
                        return Err(ProtocolError::UnexpectedResponse.into());
                    };
                    let body = NewOrder {
                        identifiers: order.identifiers,
                        not_before: order.not_before,
                        not_after: order.not_after,
                        profile: order.profile.filter(|p| self.profile_offered(p)),
                        replaces: order.replaces,
                    };
                    return self.sign_into(
                        out,
                        self.account_key,
                        account_kid()?,
                        url,
                        Payload::Json(&body),
                    );
                }
                Phase::Finalize => {
                    let Goal::Enrol(order) = &self.goal else {
                        return Err(ProtocolError::UnexpectedResponse.into());
                    };
                    let device_key = self.device_key.ok_or(ProtocolError::NoDeviceKey)?;
                    let body = Finalize {
                        device_key,
                        identifiers: order.identifiers,
                        common_name: order.common_name,
                    };
                    return self.sign_into(
                        out,
                        self.account_key,
                        account_kid()?,
                        url,
                        Payload::Json(&body),
                    );
                }
                Phase::RespondChallenge(_) => (
                    self.account_key,
                    account_kid()?,
                    Payload::Json(&EmptyObject),
                ),
                Phase::UpdateContact => {
                    let Goal::UpdateContact(contact) = self.goal else {
                        return Err(ProtocolError::UnexpectedResponse.into());
                    };
                    let body = ContactUpdate(contact);
                    return self.sign_into(
                        out,
                        self.account_key,
                        account_kid()?,
                        url,
                        Payload::Json(&body),
                    );
                }
                Phase::DeactivateAccount | Phase::DeactivateAuthz => {
                    (self.account_key, account_kid()?, Payload::Json(&Deactivate))
                }
                Phase::KeyChange => {
                    let Goal::RolloverKey(new_key) = self.goal else {
                        return Err(ProtocolError::UnexpectedResponse.into());
                    };
                    let account_url = kid.ok_or(ProtocolError::NoAccount)?;
                    let body = KeyChange {
                        account_url,
                        key_change_url: url,
                        old_key: self.account_key.public_key(),
                        new_key,
                    };
                    return self.sign_into(
                        out,
                        self.account_key,
                        account_kid()?,
                        url,
                        Payload::Json(&body),
                    );
                }
                Phase::Revoke => {
                    let Goal::Revoke {
                        certificate_der,
                        reason,
                        signer,
                    } = self.goal
                    else {
                        return Err(ProtocolError::UnexpectedResponse.into());
                    };
                    let body = Revoke {
                        certificate_der,
                        reason: reason.map(|r| r as u8),
                    };
                    let (signer, key) = match signer {
                        RevocationSigner::Account => (self.account_key, account_kid()?),
                        RevocationSigner::CertificateKey => {
                            let device = self.device_key.ok_or(ProtocolError::NoDeviceKey)?;
                            (device, KeyRef::Jwk(device.public_key()))
                        }
                    };
                    return self.sign_into(out, signer, key, url, Payload::Json(&body));
                }
                // Everything else is a POST-as-GET.
                _ => (self.account_key, account_kid()?, Payload::PostAsGet),
            };
        let protected = Protected { key, nonce, url };
        Ok(write_jws(out, signer, &protected, payload)?.len())
    }

    fn sign_into(
        &self,
        out: &mut [u8],
        signer: &dyn Es256Signer,
        key: KeyRef<'_>,
        url: &str,
        payload: Payload<'_>,
    ) -> Result<usize, Error> {
        let protected = Protected {
            key,
            nonce: Some(self.nonce.as_str()),
            url,
        };
        Ok(write_jws(out, signer, &protected, payload)?.len())
    }

    /// Marks a planned request as sent.
    fn commit(&mut self, planned: &Planned<'a>, now: Instant) {
        self.sent_at = now;
        if planned.method == Method::Post {
            // A nonce is good for one request.
            self.nonce.clear();
        }
        self.requests_sent = self.requests_sent.saturating_add(1);
        acme_debug!(
            "acme: request {} {}",
            planned.method.as_str(),
            self.planned_url(planned)
        );
        self.in_flight = Some(InFlight {
            phase: planned.phase,
            nonce_only: planned.nonce_only,
            method: planned.method,
        });
        if planned.phase == Phase::NewOrder
            && !planned.nonce_only
            && self.order_step != OrderStep::Requested
        {
            // Drivers save this before sending (see Event::SnapshotChanged),
            // so a power cut before the answer leads to a search, not to a
            // second order.
            self.order_step = OrderStep::Requested;
            self.snapshot_changed();
        }
    }

    // ----- internals: responses ------------------------------------------

    fn handle_nonce_response<'i>(
        &mut self,
        now: Instant,
        response: &Response<'i>,
    ) -> Result<Handled<'i>, Error> {
        if !self.nonce.is_empty() && response.status < 300 {
            return Ok(Handled::Continue);
        }
        if response.status == 405 && !self.nonce_by_get {
            // Some servers only answer GET newNonce (with 204).
            self.nonce_by_get = true;
            return Ok(Handled::Continue);
        }
        // No nonce: a broken or overloaded server. Retry within budget.
        if self.server_retries >= self.config.retry.max_server_retries {
            let error = if response.status >= 400 {
                ProtocolError::UnexpectedStatus {
                    status: response.status,
                }
            } else {
                ProtocolError::NoNonce
            };
            return Err(self.fail(error.into()));
        }
        self.server_retries += 1;
        let delay = self.retry_delay(now, &response.headers, u16::from(self.server_retries));
        self.wait_until = Some(now.plus_millis(delay));
        Ok(Handled::Continue)
    }

    /// Out of line: the problem document it parses is several KB of stack,
    /// which `handle_response` would otherwise reserve for every answer.
    #[inline(never)]
    fn handle_error_response(
        &mut self,
        now: Instant,
        in_flight: InFlight,
        response: &Response<'_>,
    ) -> Result<(), Error> {
        let problem = msg::parse::<msg::Problem<'_>>(response.body).ok();
        match &problem {
            Some(p) => self.problem.set(response.status, p),
            None => self.problem.set_bare(response.status),
        }
        let kind = problem.as_ref().map(msg::Problem::kind);
        let status = response.status;
        acme_debug!("acme: error response {}", status);
        if kind == Some(ProblemType::BadNonce) {
            if self.bad_nonce_retries >= self.config.retry.max_bad_nonce_retries {
                return Err(ServerError::new(status, kind).into());
            }
            self.bad_nonce_retries += 1;
            // Retry at once with the nonce this response carried (or a
            // fresh one from newNonce when it carried none).
            return Ok(());
        }
        let is_fetch = matches!(
            in_flight.phase,
            Phase::FetchOrder
                | Phase::PollOrder
                | Phase::FetchAuthz(_)
                | Phase::Certificate
                | Phase::Alternate(_)
                | Phase::AccountFetch
                | Phase::OrdersPage
        );
        if status == 405 && is_fetch && in_flight.method == Method::Post && !self.get_fallback {
            self.get_fallback = true;
            return Ok(());
        }
        if kind == Some(ProblemType::OrderNotReady) && in_flight.phase == Phase::Finalize {
            // Finalize was tried early (or the order went back): poll.
            return self.schedule_poll(now, &response.headers);
        }
        let transient = matches!(
            kind,
            Some(ProblemType::RateLimited | ProblemType::ServerInternal)
        ) || status == 429
            || (status >= 500 && kind.is_none())
            || status == 503;
        if transient && self.server_retries < self.config.retry.max_server_retries {
            self.server_retries += 1;
            let delay = self.retry_delay(now, &response.headers, u16::from(self.server_retries));
            self.wait_until = Some(now.plus_millis(delay));
            return Ok(());
        }
        Err(ServerError::new(status, kind).into())
    }

    fn handle_success<'i>(
        &mut self,
        now: Instant,
        phase: Phase,
        response: &Response<'i>,
        scratch: &mut [u8],
    ) -> Result<Handled<'i>, Error> {
        let body = response.body;
        match phase {
            Phase::Directory => self.handle_directory(body)?,
            Phase::Account => {
                let location = response
                    .headers
                    .location
                    .ok_or(ProtocolError::MissingLocation)?;
                let account: msg::Account<'_> = msg::parse(body)?;
                if account.status != msg::AccountStatus::Valid {
                    return Err(ProtocolError::AccountNotValid.into());
                }
                self.account_url = Some(self.store_url(JsonStr::plain(location))?);
                // The account URL lives for the session, not the order.
                self.arena.mark_order_scope();
                self.snapshot_changed();
                self.phase = self.start_phase();
            }
            Phase::AccountFetch => {
                if let Goal::FetchAccount = self.goal {
                    let account: msg::Account<'i> = msg::parse(body)?;
                    self.finish();
                    return Ok(Handled::Account(account));
                }
                let account: msg::Account<'_> = msg::parse(body)?;
                let Some(orders) = account.orders else {
                    if self.recovering_order {
                        // No orders list (Boulder has none, and reuses a
                        // pending order for the same names itself).
                        self.recovering_order = false;
                        self.phase = Phase::NewOrder;
                        return Ok(Handled::Continue);
                    }
                    return Err(ProtocolError::MissingField { name: "orders" }.into());
                };
                self.arena.clear_order_scope();
                self.next_url = Some(self.store_url(orders)?);
                self.phase = Phase::OrdersPage;
            }
            Phase::NewOrder | Phase::FetchOrder | Phase::PollOrder | Phase::Finalize => {
                self.handle_order(now, phase, response)?;
            }
            Phase::FetchAuthz(i) => self.handle_authorization(i, body)?,
            Phase::RespondChallenge(i) => self.handle_challenge(now, i, response)?,
            Phase::Certificate | Phase::Alternate(_) => {
                self.accept_certificate(now, body, scratch)?;
                let alternate = match phase {
                    Phase::Alternate(i) => Some(i),
                    _ => {
                        self.alternates.clear();
                        for link in response.headers.links("alternate") {
                            let Ok(r) = self.store_url(JsonStr::plain(link)) else {
                                continue;
                            };
                            if self.alternates.push(r).is_err() {
                                break;
                            }
                        }
                        self.cleanup_challenges();
                        self.order_step = OrderStep::None;
                        self.snapshot_changed();
                        None
                    }
                };
                self.finish();
                return Ok(Handled::Certificate {
                    pem: body,
                    alternate,
                    alternates: self.alternates.len(),
                });
            }
            Phase::UpdateContact => {
                let account: msg::Account<'i> = msg::parse(body)?;
                self.finish();
                return Ok(Handled::Account(account));
            }
            Phase::DeactivateAccount => {
                let account: msg::Account<'i> = msg::parse(body)?;
                if account.status != msg::AccountStatus::Deactivated {
                    return Err(ProtocolError::UnexpectedObjectStatus.into());
                }
                self.account_url = None;
                self.order_url = None;
                self.order_step = OrderStep::None;
                self.snapshot_changed();
                self.finish();
                return Ok(Handled::Account(account));
            }
            Phase::DeactivateAuthz => self.handle_deactivated_authorization(body)?,
            Phase::KeyChange | Phase::Revoke => self.finish(),
            Phase::OrdersPage if self.recovering_order => self.recover_order(response)?,
            Phase::OrdersPage => {
                check_parses::<msg::OrdersPage<'i>>(body)?;
                self.arena.clear_order_scope();
                self.next_url = match response.headers.link("next") {
                    Some(next) => Some(self.store_url(JsonStr::plain(next))?),
                    None => None,
                };
                if self.next_url.is_none() {
                    self.finish();
                }
                return Ok(Handled::OrdersPage { body });
            }
            Phase::RenewalInfo => {
                let info: msg::RenewalInfo<'i> = msg::parse(body)?;
                self.finish();
                return Ok(Handled::RenewalInfo {
                    info,
                    retry_after: response.headers.retry_after,
                });
            }
            Phase::AwaitReady | Phase::Done | Phase::Failed => {
                return Err(ProtocolError::UnexpectedResponse.into())
            }
        }
        Ok(Handled::Continue)
    }

    // The handlers of the large messages are kept out of line, so that each
    // parsed message occupies the stack only while its own handler runs
    // (inlined, their frames add up in `handle_success`).

    #[inline(never)]
    fn handle_challenge(
        &mut self,
        now: Instant,
        i: u8,
        response: &Response<'_>,
    ) -> Result<(), Error> {
        let challenge: msg::Challenge<'_> = msg::parse(response.body)?;
        if challenge.status == ChallengeStatus::Invalid {
            if let Some(problem) = &challenge.error {
                self.problem.set(response.status, problem);
            }
            return Err(ProtocolError::ChallengeInvalid { id: ChallengeId(i) }.into());
        }
        if let Some(slot) = self.authzs.get_mut(usize::from(i)) {
            slot.progress = AuthzProgress::Responded;
        }
        self.next_challenge_or_finalize(Some((now, response.headers)));
        Ok(())
    }

    #[inline(never)]
    fn handle_deactivated_authorization(&mut self, body: &[u8]) -> Result<(), Error> {
        let authz: Authorization<'_> = msg::parse(body)?;
        if authz.status != AuthorizationStatus::Deactivated {
            return Err(ProtocolError::UnexpectedObjectStatus.into());
        }
        self.finish();
        Ok(())
    }

    #[inline(never)]
    fn handle_directory(&mut self, body: &[u8]) -> Result<(), Error> {
        let directory: msg::Directory<'_> = msg::parse(body)?;
        self.store_directory(&directory)?;
        self.phase = self.start_phase();
        Ok(())
    }

    #[inline(never)]
    fn handle_order(
        &mut self,
        now: Instant,
        phase: Phase,
        response: &Response<'_>,
    ) -> Result<(), Error> {
        if phase == Phase::NewOrder {
            let location = response
                .headers
                .location
                .ok_or(ProtocolError::MissingLocation)?;
            let order: msg::Order<'_> = msg::parse(response.body)?;
            self.begin_order();
            self.order_url = Some(self.store_url(JsonStr::plain(location))?);
            self.order_step = OrderStep::Created;
            self.snapshot_changed();
            return self.process_order(now, &order, &response.headers);
        }
        let order: msg::Order<'_> = msg::parse(response.body)?;
        if self.recovering_order {
            self.recovering_order = false;
            let open = matches!(order.status, OrderStatus::Pending | OrderStatus::Ready);
            if !open || !self.order_is_requested(&order) {
                acme_warn!("acme: the newest order is another; creating the order");
                self.begin_order();
                self.phase = Phase::NewOrder;
                return Ok(());
            }
            acme_debug!("acme: found the order the lost newOrder created");
            self.answered();
            // Adopted like a resumed order: if it turns out invalid, a new
            // one is created.
            self.resumed_order = true;
            self.order_step = OrderStep::Created;
            self.snapshot_changed();
        }
        // A finalize whose answer was lost took effect if the order has
        // moved past ready.
        let finalize_took_effect = self.unanswered == Some(Phase::Finalize)
            && matches!(order.status, OrderStatus::Processing | OrderStatus::Valid);
        if finalize_took_effect {
            acme_debug!("acme: the finalize had arrived");
            self.answered();
        }
        if (phase == Phase::Finalize || finalize_took_effect)
            && self.order_step != OrderStep::Finalized
        {
            self.order_step = OrderStep::Finalized;
            self.snapshot_changed();
        }
        self.process_order(now, &order, &response.headers)
    }

    /// One page of the account's orders while recovering from a lost
    /// newOrder response: the newest order (the last one listed, on the
    /// last page) is fetched and adopted if it is for the same identifiers.
    #[inline(never)]
    fn recover_order(&mut self, response: &Response<'_>) -> Result<(), Error> {
        let page: msg::OrdersPage<'_> = msg::parse(response.body)?;
        self.arena.clear_order_scope();
        if let Some(next) = response.headers.link("next") {
            self.next_url = Some(self.store_url(JsonStr::plain(next))?);
            return Ok(());
        }
        self.next_url = None;
        match page.orders.as_slice().last() {
            Some(newest) => {
                self.begin_order();
                self.recovering_order = true;
                self.order_url = Some(self.store_url(*newest)?);
                self.phase = Phase::FetchOrder;
            }
            None => {
                self.recovering_order = false;
                self.phase = Phase::NewOrder;
            }
        }
        Ok(())
    }

    #[inline(never)]
    fn handle_authorization(&mut self, i: u8, body: &[u8]) -> Result<(), Error> {
        // Used where `parse` returned it: moving it out of the `Result`
        // would hold a second copy of it on the stack.
        let parsed = msg::parse::<Authorization<'_>>(body);
        match &parsed {
            Ok(authz) => self.process_authorization(i, authz),
            Err(e) => Err(*e),
        }
    }

    fn store_directory(&mut self, d: &msg::Directory<'_>) -> Result<(), Error> {
        self.arena.clear();
        fn required<'j>(v: Option<JsonStr<'j>>, name: &'static str) -> Result<JsonStr<'j>, Error> {
            v.ok_or(Error::Protocol(ProtocolError::MissingDirectoryEntry {
                name,
            }))
        }
        let new_nonce = required(d.new_nonce, "newNonce")?;
        let new_account = required(d.new_account, "newAccount")?;
        let new_order = required(d.new_order, "newOrder")?;
        self.dir = DirectoryUrls {
            new_nonce: Some(self.store_url(new_nonce)?),
            new_account: Some(self.store_url(new_account)?),
            new_order: Some(self.store_url(new_order)?),
            revoke_cert: d.revoke_cert.map(|u| self.store_url(u)).transpose()?,
            key_change: d.key_change.map(|u| self.store_url(u)).transpose()?,
            renewal_info: d.renewal_info.map(|u| self.store_url(u)).transpose()?,
        };
        self.account_url = None;
        self.order_url = None;
        self.order_step = OrderStep::None;
        self.eab_required = d.meta.as_ref().is_some_and(|m| m.external_account_required);
        self.offered_profiles.clear();
        if let Some(meta) = &d.meta {
            for (name, _) in meta.profiles.as_slice() {
                let Some(name) = name.as_plain().filter(|n| !n.contains(' ')) else {
                    continue;
                };
                if self.offered_profiles.len() + name.len() + 1 > MAX_PROFILE_NAMES {
                    break;
                }
                let _ = self.offered_profiles.push_str(name);
                let _ = self.offered_profiles.push(' ');
            }
        }
        if self.eab_required && self.config.eab.is_none() && !self.config.only_return_existing {
            return Err(ProtocolError::ExternalAccountRequired.into());
        }
        self.have_directory = true;
        self.prepare_renewal_info_url()?;
        self.arena.mark_order_scope();
        self.snapshot_changed();
        Ok(())
    }

    /// For [`Goal::RenewalInfo`], stores `renewalInfo "/" certID` as the
    /// URL to fetch (RFC 9773 §4.1).
    fn prepare_renewal_info_url(&mut self) -> Result<(), Error> {
        let Goal::RenewalInfo { cert_id } = self.goal else {
            return Ok(());
        };
        if cert_id.is_empty()
            || !cert_id
                .bytes()
                .all(|b| crate::b64::is_base64url_char(b) || b == b'.')
        {
            return Err(ProtocolError::MalformedField { name: "ARI CertID" }.into());
        }
        let base = self
            .dir
            .renewal_info
            .ok_or(ProtocolError::MissingDirectoryEntry {
                name: "renewalInfo",
            })?;
        let limit = Error::LimitExceeded {
            limit: "MAX_URL_LEN",
            max: MAX_URL_LEN,
        };
        let mut joined: String<MAX_URL_LEN> = String::new();
        joined
            .push_str(self.arena.get(base).trim_end_matches('/'))
            .map_err(|_| limit)?;
        joined.push('/').map_err(|_| limit)?;
        joined.push_str(cert_id).map_err(|_| limit)?;
        self.next_url = Some(self.store_url(JsonStr::plain(&joined))?);
        Ok(())
    }

    /// Stores a URL the server sent, after checking that it is https and on
    /// the directory's host (or an allowed one).
    fn store_url(&mut self, url: JsonStr<'_>) -> Result<UrlRef, Error> {
        let r = self.arena.push_json(url)?;
        let text = self.arena.get(r);
        let checked = Url::parse(text).map_err(Error::from).and_then(|u| {
            let directory = Url::parse(self.config.directory_url)?;
            check_origin(&u, &directory, self.config.allowed_hosts)
        });
        if let Err(e) = checked {
            self.arena.pop(r);
            return Err(e);
        }
        Ok(r)
    }

    fn begin_order(&mut self) {
        self.arena.clear_order_scope();
        self.order_url = None;
        self.finalize_url = None;
        self.certificate_url = None;
        self.authzs.clear();
        self.alternates.clear();
        self.polls = 0;
        self.resumed_order = false;
    }

    fn process_order(
        &mut self,
        now: Instant,
        order: &msg::Order<'_>,
        headers: &AcmeHeaders<'_>,
    ) -> Result<(), Error> {
        if self.finalize_url.is_none() {
            if let Some(f) = order.finalize {
                self.finalize_url = Some(self.store_url(f)?);
            }
        }
        match order.status {
            OrderStatus::Pending => {
                if self.authzs.is_empty() {
                    self.store_authorizations(order)?;
                    return self.fetch_next_authz();
                }
                self.schedule_poll(now, headers)
            }
            OrderStatus::Ready => {
                if self.finalize_url.is_none() {
                    return Err(ProtocolError::MissingField { name: "finalize" }.into());
                }
                self.phase = Phase::Finalize;
                Ok(())
            }
            OrderStatus::Processing => self.schedule_poll(now, headers),
            OrderStatus::Valid => {
                let cert = order.certificate.ok_or(ProtocolError::MissingField {
                    name: "certificate",
                })?;
                self.certificate_url = Some(self.store_url(cert)?);
                self.phase = Phase::Certificate;
                Ok(())
            }
            OrderStatus::Invalid => {
                if let Some(problem) = &order.error {
                    self.problem.set(403, problem);
                }
                if self.resumed_order {
                    // The server gave up on the order we resumed (it
                    // expired or failed while the device was off): start a
                    // new one.
                    acme_warn!("acme: resumed order is invalid; creating a new order");
                    self.begin_order();
                    self.order_step = OrderStep::None;
                    self.snapshot_changed();
                    self.phase = Phase::NewOrder;
                    return Ok(());
                }
                self.cleanup_challenges();
                Err(ProtocolError::OrderInvalid.into())
            }
            OrderStatus::Unknown => Err(ProtocolError::UnexpectedObjectStatus.into()),
        }
    }

    fn store_authorizations(&mut self, order: &msg::Order<'_>) -> Result<(), Error> {
        let Goal::Enrol(request) = self.goal else {
            return Err(ProtocolError::UnexpectedResponse.into());
        };
        let count = order.authorizations.as_slice().len();
        if count == 0 || count > request.identifiers.len() {
            return Err(ProtocolError::MalformedField {
                name: "authorizations",
            }
            .into());
        }
        for url in order.authorizations.as_slice() {
            let url = self.store_url(*url)?;
            let slot = AuthzSlot {
                url,
                identifier: 0,
                progress: AuthzProgress::Unfetched,
                kind: ChallengeType::Unknown,
                challenge_url: None,
                token: None,
            };
            if self.authzs.push(slot).is_err() {
                return Err(Error::LimitExceeded {
                    limit: "MAX_AUTHORIZATIONS",
                    max: MAX_AUTHORIZATIONS,
                });
            }
        }
        Ok(())
    }

    fn fetch_next_authz(&mut self) -> Result<(), Error> {
        if let Some(i) = self
            .authzs
            .iter()
            .position(|s| s.progress == AuthzProgress::Unfetched)
        {
            self.phase = Phase::FetchAuthz(i as u8);
            return Ok(());
        }
        // Every authorization is known: provision what needs it.
        let mut provisioning = false;
        for (i, slot) in self.authzs.iter().enumerate() {
            if slot.progress == AuthzProgress::Provisioning {
                provisioning = true;
                let _ = self.events.push_back(EventTag::Provision(i as u8));
            }
        }
        if provisioning {
            self.phase = Phase::AwaitReady;
        } else {
            self.next_challenge_or_finalize(None);
        }
        Ok(())
    }

    fn process_authorization(&mut self, index: u8, authz: &Authorization<'_>) -> Result<(), Error> {
        let Goal::Enrol(request) = self.goal else {
            return Err(ProtocolError::UnexpectedResponse.into());
        };
        let identifier = request
            .identifiers
            .iter()
            .position(|id| identifier_matches(id, authz))
            .ok_or(ProtocolError::UnexpectedAuthorization)?;
        match authz.status {
            AuthorizationStatus::Valid => {
                if self.unanswered == Some(Phase::RespondChallenge(index)) {
                    self.answered();
                }
                self.set_slot(index, |s| {
                    s.identifier = identifier as u8;
                    s.progress = AuthzProgress::Valid;
                });
            }
            AuthorizationStatus::Pending => {
                let preference = self.config.challenge_preference;
                let chosen = preference.iter().find_map(|kind| {
                    authz
                        .challenges
                        .as_slice()
                        .iter()
                        .find(|c| c.kind == *kind && *kind != ChallengeType::Unknown)
                });
                let Some(challenge) = chosen else {
                    return Err(ProtocolError::NoSupportedChallenge {
                        id: ChallengeId(index),
                    }
                    .into());
                };
                let token = challenge
                    .token
                    .and_then(|t| t.as_plain())
                    .ok_or(Error::InvalidChallengeToken)?;
                validate_token(token)?;
                let challenge_url = self.store_url(challenge.url)?;
                let token = self.arena.push_text(token)?;
                let progress = match challenge.status {
                    ChallengeStatus::Pending => AuthzProgress::Provisioning,
                    ChallengeStatus::Processing | ChallengeStatus::Valid => {
                        AuthzProgress::Responded
                    }
                    ChallengeStatus::Invalid | ChallengeStatus::Unknown => {
                        if let Some(problem) = &challenge.error {
                            self.problem.set(403, problem);
                        }
                        return Err(ProtocolError::ChallengeInvalid {
                            id: ChallengeId(index),
                        }
                        .into());
                    }
                };
                if progress == AuthzProgress::Responded
                    && self.unanswered == Some(Phase::RespondChallenge(index))
                {
                    acme_debug!("acme: the challenge answer had arrived");
                    self.answered();
                }
                let kind = challenge.kind;
                self.set_slot(index, |s| {
                    s.identifier = identifier as u8;
                    s.progress = progress;
                    s.kind = kind;
                    s.challenge_url = Some(challenge_url);
                    s.token = Some(token);
                });
            }
            _ => {
                if let Some(problem) = authz
                    .challenges
                    .as_slice()
                    .iter()
                    .find_map(|c| c.error.as_ref())
                {
                    self.problem.set(403, problem);
                }
                return Err(ProtocolError::AuthorizationInvalid {
                    id: ChallengeId(index),
                }
                .into());
            }
        }
        self.fetch_next_authz()
    }

    /// The request that lost its answer is settled (answered, or its
    /// effect found): the retry budget starts afresh.
    fn answered(&mut self) {
        self.unanswered = None;
        self.server_retries = 0;
    }

    fn set_slot(&mut self, index: u8, f: impl FnOnce(&mut AuthzSlot)) {
        if let Some(slot) = self.authzs.get_mut(usize::from(index)) {
            f(slot);
        }
    }

    /// Answers the next ready challenge, or, when all are answered, plans
    /// an early finalize after the first poll delay.
    fn next_challenge_or_finalize(&mut self, after: Option<(Instant, AcmeHeaders<'_>)>) {
        if let Some(i) = self
            .authzs
            .iter()
            .position(|s| s.progress == AuthzProgress::Ready)
        {
            self.phase = Phase::RespondChallenge(i as u8);
            return;
        }
        self.phase = Phase::Finalize;
        let answered = self
            .authzs
            .iter()
            .any(|s| s.progress == AuthzProgress::Responded);
        if answered {
            // Validation takes a moment: try finalize after the first poll
            // delay (or the server's Retry-After). If the order is not
            // ready yet, the server says orderNotReady and we poll.
            if let Some((now, headers)) = after {
                self.wait_until = Some(self.poll_at(now, &headers, 0));
            }
        }
    }

    fn schedule_poll(&mut self, now: Instant, headers: &AcmeHeaders<'_>) -> Result<(), Error> {
        self.polls = self.polls.saturating_add(1);
        if self.polls > self.config.retry.max_polls {
            self.cleanup_challenges();
            return Err(ProtocolError::PollLimit.into());
        }
        self.phase = Phase::PollOrder;
        self.wait_until = Some(self.poll_at(now, headers, self.polls));
        Ok(())
    }

    /// When to check again on validation or issuance: after the server's
    /// Retry-After, counted from its answer; or else after the backoff step,
    /// counted from when the request that started the wait went out. The
    /// server has been at work since that request reached it, so a round
    /// trip longer than the step costs no extra wait, and a poll never
    /// reaches the server sooner after that request than the step.
    fn poll_at(&self, now: Instant, headers: &AcmeHeaders<'_>, attempt: u16) -> Instant {
        if headers.retry_after.is_some() {
            return now.plus_millis(self.retry_delay(now, headers, attempt));
        }
        self.sent_at.plus_millis(self.backoff(attempt)).max(now)
    }

    /// The delay before retry `attempt`: the server's Retry-After (clamped),
    /// or exponential backoff from the first poll delay.
    fn retry_delay(&self, now: Instant, headers: &AcmeHeaders<'_>, attempt: u16) -> u64 {
        let max = self.config.retry.max_retry_after_ms;
        match headers.retry_after {
            Some(RetryAfter::Seconds(s)) => s.saturating_mul(1000).min(max),
            Some(RetryAfter::Date(at)) => {
                let reference = headers.date.or_else(|| self.unix_at(now));
                match reference {
                    Some(date) => at.0.saturating_sub(date.0).saturating_mul(1000).min(max),
                    None => self.backoff(attempt),
                }
            }
            None => self.backoff(attempt),
        }
    }

    fn backoff(&self, attempt: u16) -> u64 {
        let policy = &self.config.retry;
        let shift = u32::from(attempt.saturating_sub(1)).min(20);
        policy
            .poll_initial_ms
            .saturating_mul(1u64 << shift)
            .min(policy.poll_max_ms)
    }

    /// Out of line: the certificate checks (the issuer's RSA signature
    /// above all) need several KB of stack, which `handle_response` would
    /// otherwise reserve for every answer.
    #[inline(never)]
    fn accept_certificate(
        &self,
        now: Instant,
        pem: &[u8],
        scratch: &mut [u8],
    ) -> Result<(), Error> {
        let Goal::Enrol(request) = &self.goal else {
            return Err(ProtocolError::UnexpectedResponse.into());
        };
        let device_key = self.device_key.ok_or(ProtocolError::NoDeviceKey)?;
        let mut blocks = crate::pem::certificates(pem);
        let leaf = blocks.next().ok_or(crate::PemError::Empty)??;
        let issuer = blocks.next().transpose()?;
        for block in blocks {
            block?;
        }
        let der = leaf.decode(scratch)?;
        check_certificate(
            der,
            &device_key.public_key(),
            request.identifiers,
            self.unix_at(now),
        )?;
        if self.config.check_issuer_signature {
            let issuer = issuer.ok_or(CertificateRejection::IssuerUnverifiable)?;
            // What the issuer's key must have signed, kept while the issuer
            // is decoded over the leaf: the scratch holds one at a time.
            let signed = SignedPart::of(der)?;
            signed.check_signed_by(issuer.decode(scratch)?)?;
        }
        Ok(())
    }

    fn cleanup_challenges(&mut self) {
        for (i, slot) in self.authzs.iter().enumerate() {
            if matches!(
                slot.progress,
                AuthzProgress::Ready | AuthzProgress::Responded
            ) {
                let _ = self.events.push_back(EventTag::Cleanup(i as u8));
            }
        }
    }

    fn task(&self, index: u8) -> Option<ChallengeTask<'a>> {
        let Goal::Enrol(request) = &self.goal else {
            return None;
        };
        let slot = self.authzs.get(usize::from(index))?;
        let identifier = *request.identifiers.get(usize::from(slot.identifier))?;
        let key_authorization =
            KeyAuthorization::new(self.arena.get(slot.token?), &self.thumbprint).ok()?;
        Some(ChallengeTask {
            id: ChallengeId(index),
            kind: slot.kind,
            identifier,
            key_authorization,
        })
    }

    fn snapshot_changed(&mut self) {
        if !self.events.iter().any(|e| *e == EventTag::SnapshotChanged) {
            let _ = self.events.push_back(EventTag::SnapshotChanged);
        }
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        let _ = self.events.push_back(EventTag::Done);
    }

    /// Ends the flow with `error` and reports it.
    fn fail(&mut self, error: Error) -> Error {
        acme_warn!("acme: failed");
        self.phase = Phase::Failed;
        self.in_flight = None;
        self.wait_until = None;
        self.failure = Some(error);
        let _ = self.events.push_back(EventTag::Failed);
        error
    }
}

/// Refuses a URL on another origin than the directory's, unless its host
/// is explicitly allowed.
fn check_origin(url: &Url<'_>, directory: &Url<'_>, allowed_hosts: &[&str]) -> Result<(), Error> {
    let allowed = url.same_origin(directory)
        || allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(url.host));
    if allowed {
        Ok(())
    } else {
        Err(ProtocolError::ForeignHost.into())
    }
}

/// The part of `out` from `at` on (empty when `at` is past the end).
fn tail(out: &mut [u8], at: usize) -> &mut [u8] {
    let len = out.len();
    out.get_mut(at.min(len)..).unwrap_or_default()
}

/// The length of a request head, computed by writing it nowhere.
fn head_len_for(method: Method, url: &Url<'_>, body: Option<usize>) -> usize {
    match write_request_head(&mut [], method, url, body) {
        Err(Error::BufferTooSmall { required }) => required,
        Ok(n) => n,
        Err(_) => 0,
    }
}

impl<const N: usize> Client<'_, N> {
    /// True when `order` is for exactly the requested identifiers.
    fn order_is_requested(&self, order: &msg::Order<'_>) -> bool {
        let Goal::Enrol(request) = self.goal else {
            return false;
        };
        let listed = order.identifiers.as_slice();
        listed.len() == request.identifiers.len()
            && request
                .identifiers
                .iter()
                .all(|id| listed.iter().any(|l| same_identifier(id, l.kind, l.value)))
    }
}

/// True when `id` is the identifier a server object names as `kind` and
/// `value` (dns names compare case-insensitively, IP addresses as
/// addresses).
fn same_identifier(id: &Identifier<'_>, kind: IdentifierType, value: JsonStr<'_>) -> bool {
    let value = value.as_plain();
    match (id, kind) {
        (Identifier::Dns(name), IdentifierType::Dns) => {
            value.is_some_and(|v| v.eq_ignore_ascii_case(name))
        }
        (Identifier::Ip(addr), IdentifierType::Ip) => value
            .and_then(|v| v.parse::<IpAddr>().ok())
            .is_some_and(|v| v == *addr),
        _ => false,
    }
}

/// True when authorization `authz` is for requested identifier `id`. An
/// authorization for `*.example.com` names `example.com` and says
/// `wildcard`.
fn identifier_matches(id: &Identifier<'_>, authz: &Authorization<'_>) -> bool {
    let (kind, value) = (authz.identifier.kind, authz.identifier.value);
    match id {
        Identifier::Dns(name) => {
            let (wildcard, base) = match name.strip_prefix("*.") {
                Some(base) => (true, base),
                None => (false, *name),
            };
            wildcard == authz.wildcard && same_identifier(&Identifier::Dns(base), kind, value)
        }
        Identifier::Ip(_) => same_identifier(id, kind, value),
    }
}

/// How far the device's clock may be off the CA's when checking a new
/// certificate's validity: a CA that does not backdate `notBefore` issues
/// certificates that a device clock a little behind sees as "not yet
/// valid".
pub const VALIDITY_SKEW_SECS: u64 = 300;

/// Checks an issued certificate against the request: its public key must
/// be the device key, its subjectAltNames exactly the identifiers, and —
/// when the time is known — it must be valid now, give or take
/// [`VALIDITY_SKEW_SECS`].
///
/// # Errors
/// [`Error::CertificateRejected`] saying which check failed, or
/// [`Error::Certificate`] for a certificate that does not parse.
#[inline(never)]
pub fn check_certificate(
    der: &[u8],
    device_key: &crate::PublicKey,
    identifiers: &[Identifier<'_>],
    now: Option<UnixTime>,
) -> Result<(), Error> {
    let cert = Certificate::from_der(der)?;
    if cert.spki_der() != device_key.spki_der().as_slice() {
        return Err(CertificateRejection::KeyMismatch.into());
    }
    let sans = cert
        .subject_alt_names()
        .ok_or(CertificateRejection::IdentifierMismatch)?;
    let mut seen = [false; crate::identifier::MAX_IDENTIFIERS];
    for san in sans {
        let position = identifiers.iter().position(|id| match (id, san) {
            (Identifier::Dns(name), SanEntry::Dns(d)) => name.eq_ignore_ascii_case(d),
            (Identifier::Ip(addr), SanEntry::Ip(ip)) => *addr == ip,
            _ => false,
        });
        match position.and_then(|p| seen.get_mut(p)) {
            Some(flag) => *flag = true,
            None => return Err(CertificateRejection::IdentifierMismatch.into()),
        }
    }
    if seen.iter().take(identifiers.len()).any(|s| !s) {
        return Err(CertificateRejection::IdentifierMismatch.into());
    }
    if let Some(now) = now {
        if cert
            .not_before()
            .is_ok_and(|t| now.0.saturating_add(VALIDITY_SKEW_SECS) < t)
        {
            return Err(CertificateRejection::NotYetValid.into());
        }
        if cert
            .not_after()
            .is_ok_and(|t| now.0 > t.saturating_add(VALIDITY_SKEW_SECS))
        {
            return Err(CertificateRejection::Expired.into());
        }
    }
    Ok(())
}

/// Checks that the certificate `leaf` is signed by the key of `issuer`
/// (both DER): ECDSA P-256 with SHA-256, RSA (PKCS #1 v1.5, 1,024 to
/// 2,048 bits) with SHA-256, and with the `p384` feature also P-384 with SHA-384.
///
/// # Errors
/// [`CertificateRejection::NotIssuedByNext`] when the signature does not
/// verify, [`CertificateRejection::IssuerUnverifiable`] when it is of
/// another kind, [`Error::Certificate`] when either does not parse.
pub fn check_issued_by(leaf: &[u8], issuer: &[u8]) -> Result<(), Error> {
    SignedPart::of(leaf)?.check_signed_by(issuer)
}

/// The kinds of issuer signature this build verifies.
#[derive(Clone, Copy)]
enum SignatureKind {
    EcdsaP256Sha256,
    RsaPkcs1Sha256,
    #[cfg(feature = "p384")]
    EcdsaP384Sha384,
}

/// What a certificate's issuer signed, and the signature: enough to check
/// the issuer without the certificate itself.
struct SignedPart {
    kind: SignatureKind,
    /// The digest of the TBSCertificate (32 or 48 bytes used).
    digest: heapless::Vec<u8, 48>,
    /// The signature value (a DER ECDSA-Sig-Value or an RSA block).
    signature: heapless::Vec<u8, 512>,
}

impl SignedPart {
    /// Out of line: the parse and the hasher are off the stack before the
    /// issuer's check takes its own.
    #[inline(never)]
    fn of(der: &[u8]) -> Result<Self, Error> {
        use crate::der_util::{OID_ECDSA_SHA256, OID_SHA256_WITH_RSA};
        use sha2::Digest as _;
        let cert = Certificate::from_der(der)?;
        let unverifiable = || Error::from(CertificateRejection::IssuerUnverifiable);
        let (oid, parameters) = cert.signature_algorithm().map_err(|_| unverifiable())?;
        // ECDSA takes no parameters (RFC 5758); RSA a NULL or none.
        let no_parameters = parameters.is_empty();
        let null_or_none = no_parameters || parameters == [0x05, 0x00];
        let tbs = cert.tbs_der();
        let (kind, digest) = match oid {
            oid if oid == OID_ECDSA_SHA256.as_bytes() && no_parameters => (
                SignatureKind::EcdsaP256Sha256,
                heapless::Vec::from_slice(&sha2::Sha256::digest(tbs)),
            ),
            oid if oid == OID_SHA256_WITH_RSA.as_bytes() && null_or_none => (
                SignatureKind::RsaPkcs1Sha256,
                heapless::Vec::from_slice(&sha2::Sha256::digest(tbs)),
            ),
            #[cfg(feature = "p384")]
            oid if oid == crate::der_util::OID_ECDSA_SHA384.as_bytes() && no_parameters => (
                SignatureKind::EcdsaP384Sha384,
                heapless::Vec::from_slice(&sha2::Sha384::digest(tbs)),
            ),
            _ => return Err(unverifiable()),
        };
        Ok(Self {
            kind,
            digest: digest.map_err(|_| unverifiable())?,
            signature: heapless::Vec::from_slice(cert.signature()).map_err(|_| unverifiable())?,
        })
    }

    /// Whether the key of `issuer` (DER) made this signature.
    ///
    /// Out of line, as is each kind's check: the caller's frame need not
    /// hold their working sets, nor one kind's the others'.
    #[inline(never)]
    fn check_signed_by(&self, issuer: &[u8]) -> Result<(), Error> {
        let issuer = Certificate::from_der(issuer)?;
        let key = issuer.public_key_bytes();
        let verified = match self.kind {
            SignatureKind::EcdsaP256Sha256 => verify_p256(key, &self.digest, &self.signature)
                .ok_or(CertificateRejection::IssuerUnverifiable)?,
            SignatureKind::RsaPkcs1Sha256 => {
                crate::rsa::verify_pkcs1_sha256(key, &self.digest, &self.signature)
                    .ok_or(CertificateRejection::IssuerUnverifiable)?
            }
            #[cfg(feature = "p384")]
            SignatureKind::EcdsaP384Sha384 => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
                let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .map_err(|_| CertificateRejection::IssuerUnverifiable)?;
                p384::ecdsa::Signature::from_der(&self.signature)
                    .is_ok_and(|signature| key.verify_prehash(&self.digest, &signature).is_ok())
            }
        };
        if verified {
            Ok(())
        } else {
            Err(CertificateRejection::NotIssuedByNext.into())
        }
    }
}

/// Whether the P-256 key `key` (SEC1) signed `digest` with `signature` (a
/// DER ECDSA-Sig-Value); `None` when the key is not a P-256 point.
#[inline(never)]
fn verify_p256(key: &[u8], digest: &[u8], signature: &[u8]) -> Option<bool> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).ok()?;
    Some(
        p256::ecdsa::Signature::from_der(signature)
            .is_ok_and(|signature| key.verify_prehash(digest, &signature).is_ok()),
    )
}

/// Whether `body` parses as a `T`; the parsed value's stack is this
/// function's alone.
#[inline(never)]
fn check_parses<'i, T: msg::Message<'i>>(body: &'i [u8]) -> Result<(), Error> {
    msg::parse::<T>(body).map(drop)
}

/// Where a planned request goes.
#[derive(Debug, Clone, Copy)]
enum PlannedUrl<'g> {
    Directory,
    Arena(UrlRef),
    Goal(&'g str),
}

#[derive(Debug, Clone, Copy)]
struct Planned<'g> {
    phase: Phase,
    step: Step,
    method: Method,
    url: PlannedUrl<'g>,
    nonce_only: bool,
}

/// A fingerprint of an order's identifiers, so a snapshot's order is only
/// resumed for the same request.
pub(crate) fn order_fingerprint(identifiers: &[Identifier<'_>]) -> [u8; 8] {
    let mut hash = Sha256::new();
    for id in identifiers {
        match id {
            Identifier::Dns(name) => {
                hash.update(b"d");
                hash.update(name.as_bytes());
            }
            Identifier::Ip(addr) => {
                let (octets, len) = crate::der_util::ip_octets(addr);
                hash.update(b"i");
                hash.update(octets.get(..len).unwrap_or(&[]));
            }
        }
        hash.update([0]);
    }
    let digest = hash.finalize();
    let mut out = [0u8; 8];
    if let Some(src) = digest.get(..8) {
        out.copy_from_slice(src);
    }
    out
}

/// Why the flow failed on the client's side of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ProtocolError {
    /// A response arrived with no request outstanding.
    UnexpectedResponse,
    /// An HTTP status the protocol does not allow here (e.g. a redirect).
    UnexpectedStatus {
        /// The status.
        status: u16,
    },
    /// The directory lacks a resource this flow needs.
    MissingDirectoryEntry {
        /// The resource's name, e.g. `"keyChange"`.
        name: &'static str,
    },
    /// A response lacks its Location header (newAccount, newOrder).
    MissingLocation,
    /// An object lacks a member this step needs.
    MissingField {
        /// The member's name.
        name: &'static str,
    },
    /// An object has a member with an unusable value.
    MalformedField {
        /// The member's name.
        name: &'static str,
    },
    /// newNonce gave no nonce, even after retries.
    NoNonce,
    /// The CA requires External Account Binding and none was configured.
    ExternalAccountRequired,
    /// The account is not valid (deactivated or revoked).
    AccountNotValid,
    /// An object has a status the step cannot proceed from.
    UnexpectedObjectStatus,
    /// The goal needs an account and none is known.
    NoAccount,
    /// The goal needs the device key and none was given.
    NoDeviceKey,
    /// A URL points to a host other than the directory's and not allowed
    /// by the configuration.
    ForeignHost,
    /// An authorization is for an identifier that was not requested.
    UnexpectedAuthorization,
    /// No offered challenge type is in the preference list.
    NoSupportedChallenge {
        /// Which authorization.
        id: ChallengeId,
    },
    /// A challenge failed; see [`Client::problem`].
    ChallengeInvalid {
        /// Which authorization.
        id: ChallengeId,
    },
    /// An authorization is invalid, expired, deactivated or revoked.
    AuthorizationInvalid {
        /// Which authorization.
        id: ChallengeId,
    },
    /// The order is invalid; see [`Client::problem`] (with subproblems).
    OrderInvalid,
    /// The order did not become ready or valid within
    /// [`RetryPolicy::max_polls`] polls.
    PollLimit,
    /// A request failed more often than [`RetryPolicy`] allows.
    RetriesExhausted,
    /// [`Client::fetch_alternate`] named no alternate.
    NoSuchAlternate,
}

/// The server refused a request; [`Client::problem`] has its problem
/// document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerError {
    /// The HTTP status.
    pub status: u16,
    /// The problem type, or `None` when the body was not a problem
    /// document (e.g. an HTML error page).
    pub kind: Option<ProblemType>,
}

impl ServerError {
    fn new(status: u16, kind: Option<ProblemType>) -> Self {
        Self { status, kind }
    }
}

/// Why an issued certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CertificateRejection {
    /// Its public key is not the CSR's.
    KeyMismatch,
    /// Its subjectAltNames are not exactly the requested identifiers.
    IdentifierMismatch,
    /// Its validity starts in the future.
    NotYetValid,
    /// Its validity has ended.
    Expired,
    /// Its signature does not verify with the next certificate's key.
    NotIssuedByNext,
    /// Whether the next certificate signed it cannot be checked: there is
    /// no next certificate, or its signature is of a kind this build does
    /// not verify (ECDSA P-256 and RSA with SHA-256 always; P-384 with
    /// SHA-384 with the `p384` feature).
    IssuerUnverifiable,
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Self {
        Error::Server(e)
    }
}

impl From<CertificateRejection> for Error {
    fn from(e: CertificateRejection) -> Self {
        Error::CertificateRejected(e)
    }
}

impl From<SnapshotError> for Error {
    fn from(e: SnapshotError) -> Self {
        Error::Snapshot(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentifierError;

    fn task(identifier: Identifier<'_>) -> ChallengeTask<'_> {
        ChallengeTask {
            id: ChallengeId(0),
            kind: ChallengeType::Dns01,
            identifier,
            key_authorization: KeyAuthorization::new("token-1", &Thumbprint([7; 32])).unwrap(),
        }
    }

    #[test]
    fn a_dns01_record_name_needs_a_dns_identifier() {
        let name = task(Identifier::Dns("device.example.com")).dns01_record_name();
        assert_eq!(
            name.as_ref().map(|n| n.as_str()),
            Ok("_acme-challenge.device.example.com")
        );
        let ip = core::net::IpAddr::from([192, 0, 2, 1]);
        assert_eq!(
            task(Identifier::Ip(ip)).dns01_record_name(),
            Err(Error::Identifier(IdentifierError::NotDnsName))
        );
    }
}
