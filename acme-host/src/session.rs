//! The operations the tool offers, as library calls: enrol, renew, revoke,
//! and the account operations. Each restores the core's snapshot from the
//! state directory (so a rerun resumes), runs one goal, and saves what it
//! produced.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use acme_core::client::{
    Client, Config, EabCredentials, Goal, OrderRequest, RevocationReason, RevocationSigner,
};
use acme_core::eab::EabKey;
use acme_core::msg::ChallengeType;
use acme_core::{Es256Signer as _, Identifier as CoreIdentifier, SoftwareKey};
use der::Decode as _;
use zeroize::Zeroizing;

use crate::driver::{run, AccountSummary, Responders, RunOptions, RunOutput};
use crate::error::{storage, HostError};
use crate::responders::{Dns01Hook, Http01Responder, TlsAlpn01Responder};
use crate::store::{load_key, names, StateDir};
use crate::tls::{client_config, Trust};
use crate::transport::{Transport, TransportStats};

/// An identifier to order a certificate for (RFC 8555 §9.7.7, RFC 8738):
/// a dns name or an IP address. [`Identifier::parse`] reads the command
/// line's form, `dns:NAME` or `ip:ADDR` (a bare name is a dns name).
///
/// ```
/// use acme_host::Identifier;
///
/// let name = Identifier::parse("Device-42.Example.com")?;
/// assert_eq!(name, Identifier::Dns("device-42.example.com".into()));
/// let ip = Identifier::parse("ip:192.0.2.7")?;
/// assert_eq!(ip, Identifier::Ip([192, 0, 2, 7].into()));
/// assert!(Identifier::parse("dns:no_underscores.example").is_err());
/// # Ok::<(), acme_host::HostError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identifier {
    /// A dns name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl Identifier {
    /// Parses `dns:NAME`, `ip:ADDR` or `NAME`.
    ///
    /// # Errors
    /// [`HostError::Usage`] for a malformed identifier.
    pub fn parse(text: &str) -> Result<Self, HostError> {
        let id = if let Some(ip) = text.strip_prefix("ip:") {
            Identifier::Ip(
                ip.parse()
                    .map_err(|_| HostError::Usage(format!("not an IP address: {ip}")))?,
            )
        } else {
            let name = text.strip_prefix("dns:").unwrap_or(text);
            acme_core::identifier::validate_dns_name(name)
                .map_err(|e| HostError::Usage(format!("identifier {name}: {e}")))?;
            Identifier::Dns(name.to_ascii_lowercase())
        };
        Ok(id)
    }

    /// The core's borrowed form.
    #[must_use]
    pub fn as_core(&self) -> CoreIdentifier<'_> {
        match self {
            Identifier::Dns(d) => CoreIdentifier::Dns(d),
            Identifier::Ip(ip) => CoreIdentifier::Ip(*ip),
        }
    }
}

/// External Account Binding credentials issued by the CA (RFC 8555
/// §7.3.4).
///
/// The MAC key is zeroized on drop, and `Debug` prints `<redacted>` in its
/// place, so logging [`Settings`] never shows it.
#[derive(Clone)]
pub struct EabBinding {
    /// The key identifier the CA issued.
    pub key_id: String,
    /// The MAC key, base64url (padded or not) as the CA hands it out.
    pub hmac_key: Zeroizing<String>,
}

impl EabBinding {
    /// Credentials from the CA's key identifier and base64url MAC key.
    #[must_use]
    pub fn new(key_id: impl Into<String>, hmac_key: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            hmac_key: Zeroizing::new(hmac_key.into()),
        }
    }
}

impl fmt::Debug for EabBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EabBinding")
            .field("key_id", &self.key_id)
            .field("hmac_key", &"<redacted>")
            .finish()
    }
}

/// Everything an operation needs to reach the CA. Start from
/// [`Settings::new`] and set the fields that differ from its defaults.
///
/// ```
/// use std::time::Duration;
/// use acme_host::{ChallengeType, Settings, Trust};
///
/// let mut settings = Settings::new("https://acme.example.com/directory", "/var/lib/acme");
/// settings.trust = Trust::SystemAnd("/etc/acme/private-ca.pem".into());
/// settings.challenge = ChallengeType::TlsAlpn01;
/// settings.deadline = Duration::from_secs(120);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// The ACME directory URL.
    pub directory: String,
    /// TLS trust.
    pub trust: Trust,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Account contacts (`mailto:…`).
    pub contact: Vec<String>,
    /// External Account Binding, when the CA asks for it.
    pub eab: Option<EabBinding>,
    /// The challenge type to use.
    pub challenge: ChallengeType,
    /// Where the http-01 responder listens.
    pub http01_listen: SocketAddr,
    /// Where the tls-alpn-01 responder listens.
    pub tls_alpn01_listen: SocketAddr,
    /// The dns-01 hook command.
    pub dns_hook: Option<PathBuf>,
    /// A device key file (PKCS#8 or SEC1, PEM or DER; mode 0600) to use
    /// instead of the state directory's `device.key`.
    pub device_key_file: Option<PathBuf>,
    /// Overall deadline.
    pub deadline: Duration,
    /// Per socket operation timeout.
    pub io_timeout: Duration,
    /// Hosts besides the directory's that resource URLs may use.
    pub allowed_hosts: Vec<String>,
    /// Save alternate chains too.
    pub fetch_alternates: bool,
    /// Write every HTTP request and response, as sent and received (before
    /// TLS), into this directory: for debugging a CA's answers. The
    /// requests hold signatures and the account URL, never a key.
    pub record_dir: Option<PathBuf>,
}

impl Settings {
    /// Settings with defaults: http-01 on port 80, tls-alpn-01 on 443,
    /// 5 minutes overall, 30 s per socket operation.
    #[must_use]
    pub fn new(directory: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            directory: directory.into(),
            trust: Trust::System,
            state_dir: state_dir.into(),
            contact: Vec::new(),
            eab: None,
            challenge: ChallengeType::Http01,
            http01_listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            tls_alpn01_listen: SocketAddr::from(([0, 0, 0, 0], 443)),
            dns_hook: None,
            device_key_file: None,
            deadline: Duration::from_secs(300),
            io_timeout: Duration::from_secs(30),
            allowed_hosts: Vec::new(),
            fetch_alternates: false,
            record_dir: None,
        }
    }
}

/// What to order: the identifiers, and the optional order fields.
///
/// ```
/// use acme_host::{Identifier, OrderSpec};
///
/// let mut spec = OrderSpec::new([Identifier::parse("device-42.example.com")?]);
/// spec.profile = Some("shortlived".into()); // sent only when the CA offers it
/// # Ok::<(), acme_host::HostError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OrderSpec {
    /// The identifiers.
    pub identifiers: Vec<Identifier>,
    /// `profile`, sent when the CA offers it.
    pub profile: Option<String>,
    /// `notBefore` (RFC 3339).
    pub not_before: Option<String>,
    /// `notAfter` (RFC 3339).
    pub not_after: Option<String>,
    /// ARI CertID of the certificate replaced.
    pub replaces: Option<String>,
}

impl OrderSpec {
    /// An order for `identifiers`, with no optional fields.
    #[must_use]
    pub fn new(identifiers: impl IntoIterator<Item = Identifier>) -> Self {
        Self {
            identifiers: identifiers.into_iter().collect(),
            ..Self::default()
        }
    }
}

/// A saved certificate, described.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CertificateReport {
    /// Where the chain was saved.
    pub path: PathBuf,
    /// Alternate chains saved.
    pub alternates: Vec<PathBuf>,
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// subjectAltNames.
    pub sans: Vec<String>,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Serial, hex.
    pub serial: String,
    /// ARI CertID, when the certificate has an AKI.
    pub ari_cert_id: Option<String>,
}

/// The progress line [`Session::enrol`] gives as the issued chain is
/// checked and saved.
pub const SAVING_CERTIFICATE: &str = "saving the certificate";

/// The renewal window the CA suggests for a certificate (ACME Renewal
/// Information, RFC 9773).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenewalInfo {
    /// Renew after this time.
    pub window_start: SystemTime,
    /// ... and before this one.
    pub window_end: SystemTime,
    /// A page explaining the window, when the CA gives one.
    pub explanation_url: Option<String>,
    /// When to ask again (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// The account as the CA reports it (RFC 8555 §7.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountReport {
    /// `status`: `valid`, `deactivated` or `revoked`.
    pub status: String,
    /// `contact` URLs.
    pub contact: Vec<String>,
    /// The URL of the account's orders list, when the CA gives one.
    pub orders_url: Option<String>,
}

impl From<AccountSummary> for AccountReport {
    fn from(summary: AccountSummary) -> Self {
        Self {
            status: summary.status,
            contact: summary.contact,
            orders_url: summary.orders_url,
        }
    }
}

/// Which key signs a revocation request (RFC 8555 §7.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeWith {
    /// The account key: the account that ordered the certificate.
    AccountKey,
    /// The certificate's own key (the device key), as anyone holding it
    /// may do, with or without the account.
    CertificateKey,
}

/// An open state directory with its keys: enrol, renew, revoke and the
/// account operations. The [crate docs](crate#from-rust) enrol with it in
/// a dozen lines.
pub struct Session {
    settings: Settings,
    state: StateDir,
    account_key: SoftwareKey,
    device_key: SoftwareKey,
    eab_key: Option<EabKey>,
    transport: Transport,
    created_account_key: bool,
}

impl Session {
    /// Opens the state directory, loading or creating the keys.
    ///
    /// # Errors
    /// [`HostError`] for unusable settings, keys or TLS trust.
    pub fn open(settings: Settings) -> Result<Self, HostError> {
        // Checked before anything is written, keys included.
        acme_core::http::Url::parse(&settings.directory).map_err(|e| {
            HostError::Usage(format!(
                "directory URL {}: {e} (Settings::directory, the tool's --directory)",
                settings.directory
            ))
        })?;
        let state = StateDir::open(&settings.state_dir)?;
        let (account_key, created_account_key) = state.load_or_create_key(names::ACCOUNT_KEY)?;
        let device_key = match &settings.device_key_file {
            Some(path) => load_key(path)?,
            None => state.load_or_create_key(names::DEVICE_KEY)?.0,
        };
        let eab_key = match &settings.eab {
            Some(binding) => Some(EabKey::from_base64url(&binding.hmac_key).map_err(|e| {
                HostError::Usage(format!(
                    "the EAB MAC key (Settings::eab, the tool's --eab-hmac-key): {e}"
                ))
            })?),
            None => None,
        };
        let config = client_config(&settings.trust)?;
        let mut transport = Transport::new(config, 64 * 1024, settings.io_timeout);
        if let Some(dir) = &settings.record_dir {
            transport.record_to(dir);
        }
        Ok(Self {
            settings,
            state,
            account_key,
            device_key,
            eab_key,
            transport,
            created_account_key,
        })
    }

    /// Transport counters so far.
    #[must_use]
    pub fn stats(&self) -> TransportStats {
        self.transport.stats
    }

    /// The state directory: `account.key`, `device.key` (PKCS#8 PEM, mode
    /// 0600), `snapshot.bin` (the unfinished enrolment) and `cert.pem`.
    #[must_use]
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// True when [`Session::open`] found no account key and generated one:
    /// the next operation registers a new account.
    #[must_use]
    pub fn created_account_key(&self) -> bool {
        self.created_account_key
    }

    fn responders(&self) -> Result<Responders, HostError> {
        let mut r = Responders::default();
        match self.settings.challenge {
            ChallengeType::Http01 => {
                r.http01 = Some(Http01Responder::start(self.settings.http01_listen)?)
            }
            ChallengeType::TlsAlpn01 => {
                r.tls_alpn01 = Some(TlsAlpn01Responder::start(self.settings.tls_alpn01_listen)?);
            }
            ChallengeType::Dns01 => {
                let hook = self
                    .settings
                    .dns_hook
                    .as_ref()
                    .ok_or_else(|| HostError::Usage("dns-01 needs a hook command to publish the TXT record (Settings::dns_hook, the tool's --dns-hook)".into()))?;
                r.dns01 = Some(Dns01Hook::new(hook));
            }
            ChallengeType::Unknown => {
                return Err(HostError::Usage(
                    "Settings::challenge must be http-01, dns-01 or tls-alpn-01".into(),
                ))
            }
        }
        Ok(r)
    }

    /// Runs one goal with `account_key` as the account key.
    fn run_goal(
        &mut self,
        goal: Goal<'_>,
        account_key: Option<&SoftwareKey>,
        responders: &Responders,
        progress: &mut dyn FnMut(&str),
    ) -> Result<RunOutput, HostError> {
        let eab = match (&self.settings.eab, &self.eab_key) {
            (Some(binding), Some(key)) => Some(EabCredentials::new(&binding.key_id, key)),
            _ => None,
        };
        let allowed: Vec<&str> = self
            .settings
            .allowed_hosts
            .iter()
            .map(String::as_str)
            .collect();
        let contact: Vec<&str> = self.settings.contact.iter().map(String::as_str).collect();
        let preference = [self.settings.challenge];
        let mut config = Config::new(&self.settings.directory);
        // The session checks every chain itself with webpki, which also
        // verifies RSA and P-384 issuers (`chain::check_leaf_issued_by_next`).
        config.check_issuer_signature = false;
        config.contact = &contact;
        config.eab = eab;
        config.allowed_hosts = &allowed;
        config.challenge_preference = &preference;
        let account = account_key.unwrap_or(&self.account_key);
        let mut client: Client<'_> = Client::new(&config, account, goal)
            .map_err(|e| HostError::Usage(e.to_string()))?
            .with_device_key(&self.device_key);
        if let Some(snapshot) = self.state.read(names::SNAPSHOT)? {
            if let Err(e) = client.restore(&snapshot) {
                log::warn!("ignoring the saved snapshot ({e}); starting afresh");
            }
        }
        let options = RunOptions {
            deadline: Instant::now() + self.settings.deadline,
            state: Some(&self.state),
            fetch_alternates: self.settings.fetch_alternates,
            tx_len: 16 * 1024,
        };
        let out = run(
            &mut client,
            &mut self.transport,
            responders,
            &options,
            progress,
        );
        self.transport.close();
        out
    }

    /// Enrols (or re-enrols) a certificate and saves it.
    ///
    /// # Errors
    /// [`HostError`] describing the failure; nothing is overwritten then.
    #[doc(alias = "enroll")]
    pub fn enrol(
        &mut self,
        spec: &OrderSpec,
        progress: &mut dyn FnMut(&str),
    ) -> Result<CertificateReport, HostError> {
        if spec.identifiers.is_empty() {
            return Err(HostError::Usage(
                "the order names no identifier: give at least one (OrderSpec::new, the tool's --identifier)".into(),
            ));
        }
        let ids: Vec<CoreIdentifier<'_>> =
            spec.identifiers.iter().map(Identifier::as_core).collect();
        let mut order = OrderRequest::new(&ids);
        order.profile = spec.profile.as_deref();
        order.not_before = spec.not_before.as_deref();
        order.not_after = spec.not_after.as_deref();
        order.replaces = spec.replaces.as_deref();
        let responders = self.responders()?;
        let output = self.run_goal(Goal::Enrol(order), None, &responders, progress)?;
        let chain = output
            .certificates
            .first()
            .ok_or_else(|| HostError::Internal("the flow ended without a certificate".into()))?;
        progress(SAVING_CERTIFICATE);
        // The core checked each leaf against the CSR; every chain, the
        // alternates too, must also parse, and its leaf be signed by its
        // issuer, before anything replaces the old certificate: one bad
        // chain and nothing is written.
        for offered in &output.certificates {
            crate::chain::check_leaf_issued_by_next(&crate::chain::chain_ders(offered)?)?;
        }
        self.state.write(names::CERTIFICATE, chain, 0o644)?;
        let mut alternates = Vec::new();
        for (i, alt) in output.certificates.iter().enumerate().skip(1) {
            let name = format!("cert-alt-{}.pem", i - 1);
            self.state.write(&name, alt, 0o644)?;
            alternates.push(self.state.file(&name));
        }
        // Only now may the state forget the order.
        if let Some(snapshot) = &output.deferred_snapshot {
            self.state.write(names::SNAPSHOT, snapshot, 0o600)?;
        }
        // Checked above: a failure here is the client's own.
        let mut report = CertificateReport::from_pem(chain)
            .map_err(|e| HostError::Internal(format!("the saved chain: {e}")))?;
        report.path = self.state.file(names::CERTIFICATE);
        report.alternates = alternates;
        Ok(report)
    }

    /// The saved certificate, described.
    ///
    /// # Errors
    /// [`HostError::Storage`] when there is none or it is malformed.
    pub fn current_certificate(&self) -> Result<CertificateReport, HostError> {
        let path = self.state.file(names::CERTIFICATE);
        let pem = self
            .state
            .read(names::CERTIFICATE)?
            .ok_or_else(|| storage(&path, "no certificate yet"))?;
        let mut report = CertificateReport::from_pem(&pem).map_err(|e| storage(&path, e))?;
        report.path = path;
        Ok(report)
    }

    /// Fetches the CA's suggested renewal window for the saved certificate
    /// (ARI, RFC 9773).
    ///
    /// # Errors
    /// [`HostError`], including when the CA offers no ARI or the
    /// certificate has no authority key identifier to name it by.
    pub fn renewal_info(
        &mut self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<RenewalInfo, HostError> {
        let cert = self.current_certificate()?;
        let id = cert.ari_cert_id.ok_or_else(|| {
            HostError::Refused(
                "the certificate has no authority key identifier, which ARI names it by: \
                     decide renewal from its lifetime"
                    .into(),
            )
        })?;
        let responders = Responders::default();
        let output = self.run_goal(
            Goal::RenewalInfo { cert_id: &id },
            None,
            &responders,
            progress,
        )?;
        output
            .renewal_info
            .ok_or_else(|| HostError::Internal("the flow ended without renewal info".into()))
    }

    /// Renews when due. With ARI, due means now is past the suggested
    /// window's start; without, less than a third of the lifetime is left.
    /// Returns `None` when not due.
    ///
    /// Run it from a timer, as often as the CA allows (daily is common):
    ///
    /// ```no_run
    /// use acme_host::{HostError, Identifier, OrderSpec, Session, Settings};
    ///
    /// fn daily() -> Result<(), HostError> {
    ///     let settings = Settings::new("https://acme.example.com/directory", "/var/lib/acme");
    ///     let mut session = Session::open(settings)?;
    ///     let spec = OrderSpec::new([Identifier::parse("device-42.example.com")?]);
    ///     match session.renew_if_due(&spec, &mut |step| log::info!("{step}"))? {
    ///         Some(report) => println!("renewed: {}", report.path.display()),
    ///         None => println!("not due yet"),
    ///     }
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    /// [`HostError`]; a failed renewal leaves the current certificate in
    /// place, and the next run resumes it.
    pub fn renew_if_due(
        &mut self,
        spec: &OrderSpec,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Option<CertificateReport>, HostError> {
        let current = self.current_certificate()?;
        let now = SystemTime::now();
        let mut spec = spec.clone();
        let due = match self.renewal_info(progress) {
            Ok(info) => {
                progress(&format!(
                    "ARI window starts at {} (Unix seconds)",
                    unix_seconds(info.window_start)
                ));
                spec.replaces = current.ari_cert_id.clone();
                now >= info.window_start
            }
            Err(e) => {
                progress(&format!(
                    "no ARI ({e}); deciding from the remaining lifetime"
                ));
                let lifetime = current
                    .not_after
                    .duration_since(current.not_before)
                    .unwrap_or_default();
                let left = current.not_after.duration_since(now).unwrap_or_default();
                left < lifetime / 3
            }
        };
        if !due {
            return Ok(None);
        }
        self.enrol(&spec, progress).map(Some)
    }

    /// Revokes the saved certificate.
    ///
    /// # Errors
    /// [`HostError`].
    pub fn revoke(
        &mut self,
        reason: Option<RevocationReason>,
        signed_with: RevokeWith,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), HostError> {
        let pem = self.state.read(names::CERTIFICATE)?.ok_or_else(|| {
            storage(
                &self.state.file(names::CERTIFICATE),
                "no certificate to revoke",
            )
        })?;
        let der = crate::chain::chain_ders(&pem)?
            .into_iter()
            .next()
            .ok_or_else(|| HostError::Internal("empty chain".into()))?;
        let signer = match signed_with {
            RevokeWith::CertificateKey => RevocationSigner::CertificateKey,
            RevokeWith::AccountKey => RevocationSigner::Account,
        };
        let goal = Goal::Revoke {
            certificate_der: &der,
            reason,
            signer,
        };
        self.run_goal(goal, None, &Responders::default(), progress)
            .map(|_| ())
    }

    /// Fetches the account (registering it first when the CA does not know
    /// the account key yet).
    ///
    /// # Errors
    /// [`HostError`].
    pub fn account(&mut self, progress: &mut dyn FnMut(&str)) -> Result<AccountReport, HostError> {
        self.account_goal(Goal::FetchAccount, progress)
    }

    /// Replaces the account's contacts with `contacts` (`mailto:` URLs; none
    /// removes them all).
    ///
    /// # Errors
    /// [`HostError`]; [`HostError::Refused`] when the CA refuses a contact.
    pub fn update_contacts(
        &mut self,
        contacts: &[String],
        progress: &mut dyn FnMut(&str),
    ) -> Result<AccountReport, HostError> {
        let contacts: Vec<&str> = contacts.iter().map(String::as_str).collect();
        self.account_goal(Goal::UpdateContact(&contacts), progress)
    }

    /// Deactivates the account. This cannot be undone: the CA refuses the
    /// account key from then on.
    ///
    /// # Errors
    /// [`HostError`].
    pub fn deactivate_account(
        &mut self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<AccountReport, HostError> {
        self.account_goal(Goal::DeactivateAccount, progress)
    }

    /// The URLs of the account's orders, every page of the list.
    ///
    /// # Errors
    /// [`HostError`]; [`HostError::Refused`] when the CA has no orders list.
    pub fn list_orders(
        &mut self,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<String>, HostError> {
        let output = self.run_goal(Goal::ListOrders, None, &Responders::default(), progress)?;
        Ok(output.orders)
    }

    fn account_goal(
        &mut self,
        goal: Goal<'_>,
        progress: &mut dyn FnMut(&str),
    ) -> Result<AccountReport, HostError> {
        let output = self.run_goal(goal, None, &Responders::default(), progress)?;
        output
            .account
            .map(AccountReport::from)
            .ok_or_else(|| HostError::Internal("the flow ended without the account".into()))
    }

    /// Rolls the account key over to a fresh key, then replaces
    /// `account.key` (the old one is kept as `account.key.old`).
    ///
    /// # Errors
    /// [`HostError`]; the old key stays in place on failure.
    pub fn rollover_key(&mut self, progress: &mut dyn FnMut(&str)) -> Result<(), HostError> {
        let new_key = SoftwareKey::generate(&mut rand_core::OsRng);
        let new_pem = crate::store::key_pem(&new_key)?;
        // Saved first, so a crash after the server switched keeps the key.
        self.state
            .write("account.key.new", new_pem.as_bytes(), 0o600)?;
        let old = self.account_key.clone();
        self.run_goal(
            Goal::RolloverKey(&new_key),
            Some(&old),
            &Responders::default(),
            progress,
        )?;
        let old_pem = crate::store::key_pem(&old)?;
        self.state
            .write("account.key.old", old_pem.as_bytes(), 0o600)?;
        self.state
            .write(names::ACCOUNT_KEY, new_pem.as_bytes(), 0o600)?;
        self.state.remove("account.key.new")?;
        self.account_key = new_key;
        Ok(())
    }

    /// The account key's public JWK thumbprint.
    #[must_use]
    pub fn account_thumbprint(&self) -> String {
        self.account_key
            .public_key()
            .thumbprint()
            .to_base64url()
            .as_str()
            .to_owned()
    }
}

impl CertificateReport {
    /// Describes the leaf of a PEM chain, such as `cert.pem`; `path` and
    /// `alternates` are left empty.
    ///
    /// # Errors
    /// [`HostError::Usage`] when the text holds no certificate or its leaf
    /// does not parse.
    pub fn from_pem(pem: &[u8]) -> Result<CertificateReport, HostError> {
        let refused =
            |e: &dyn fmt::Display| HostError::Usage(format!("not a PEM certificate chain: {e}"));
        let ders = crate::chain::chain_ders(pem).map_err(|e| refused(&e))?;
        let leaf_der = ders.first().ok_or_else(|| refused(&"empty chain"))?;
        let leaf = x509_cert::Certificate::from_der(leaf_der).map_err(|e| refused(&e))?;
        let core = acme_core::cert::Certificate::from_der(leaf_der).map_err(|e| refused(&e))?;
        let sans = core
            .subject_alt_names()
            .map(|names| {
                names
                    .map(|n| match n {
                        acme_core::cert::SanEntry::Dns(d) => format!("DNS:{d}"),
                        acme_core::cert::SanEntry::Ip(ip) => format!("IP:{ip}"),
                        acme_core::cert::SanEntry::Other(t) => format!("other:{t:#x}"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let time = |t: Result<u64, _>| from_unix_seconds(t.unwrap_or(0));
        let mut id = [0u8; 256];
        Ok(CertificateReport {
            path: PathBuf::new(),
            alternates: Vec::new(),
            subject: leaf.tbs_certificate.subject.to_string(),
            issuer: leaf.tbs_certificate.issuer.to_string(),
            sans,
            not_before: time(core.not_before()),
            not_after: time(core.not_after()),
            serial: core.serial().iter().map(|b| format!("{b:02x}")).collect(),
            ari_cert_id: core.write_ari_cert_id(&mut id).ok().map(str::to_owned),
        })
    }
}

/// Seconds since the Unix epoch (0 before it), as the core counts time.
#[must_use]
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time `secs` seconds after the Unix epoch.
#[must_use]
pub(crate) fn from_unix_seconds(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}
