//! `FakeAcme`: an in-process ACME server for deterministic simulation.
//!
//! It speaks HTTP/1.1 bytes, verifies every JWS it receives (ES256
//! signature, nonce issued and unused, `url` equal to the request URL,
//! `jwk` only where RFC 8555 allows it), validates challenges against what
//! the client provisioned, and issues real X.509 certificates from the
//! CSR with a test CA. [`Quirks`] script the behaviours of real servers and
//! hostile ones. Time is virtual: the harness passes `now` in.

use std::collections::{HashMap, HashSet};

use der::{Decode, Encode};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

pub use crate::pem_of;

/// The host every fake URL uses.
pub const HOST: &str = "ca.test";

/// Which endpoint a request hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The directory.
    Directory,
    /// newNonce.
    Nonce,
    /// newAccount.
    NewAccount,
    /// An account URL.
    Account,
    /// An account's orders list.
    Orders,
    /// newOrder.
    NewOrder,
    /// An order URL.
    Order,
    /// An authorization URL.
    Authz,
    /// A challenge URL.
    Challenge,
    /// A finalize URL.
    Finalize,
    /// A certificate URL.
    Certificate,
    /// keyChange.
    KeyChange,
    /// revokeCert.
    Revoke,
    /// renewalInfo.
    RenewalInfo,
    /// Anything else.
    Unknown,
}

/// A scripted failure for the next request to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `503` with `Retry-After: <seconds>` and a serverInternal problem.
    Unavailable {
        /// Retry-After seconds.
        retry_after: u64,
    },
    /// `502` with an HTML body, as a proxy sends.
    HtmlBadGateway,
    /// `400 badNonce`.
    BadNonce,
    /// The response carries no Replay-Nonce (the request succeeds).
    NoNonce,
    /// A redirect to another URL.
    Redirect,
    /// The server handles the request, but its answer never arrives (the
    /// connection drops): `handle` returns no bytes.
    ResponseLost,
    /// The connection drops before the request reaches the server: nothing
    /// happens there, and `handle` returns no bytes.
    RequestLost,
}

/// How finalize answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizeMode {
    /// The order is `valid` in the finalize response.
    Valid,
    /// The order is `processing` until `after_ms` later, with a
    /// Retry-After in seconds.
    ProcessingSeconds {
        /// How long issuance takes.
        after_ms: u64,
    },
    /// As above, with Retry-After as an HTTP-date (and a Date header).
    ProcessingHttpDate {
        /// How long issuance takes.
        after_ms: u64,
    },
    /// The order is `processing` until `after_ms` later, and neither the
    /// finalize answer nor an order fetch says when to look again (as
    /// Pebble does).
    ProcessingWithoutRetryAfter {
        /// How long issuance takes.
        after_ms: u64,
    },
}

/// The scripted behaviours.
#[derive(Debug, Clone)]
pub struct Quirks {
    /// Prefix of every path, e.g. `/acme/iot` (directory at
    /// `{prefix}/directory`).
    pub prefix: String,
    /// New orders reuse an already valid authorization.
    pub reuse_valid_authz: bool,
    /// How finalize answers.
    pub finalize: FinalizeMode,
    /// Send a Location header with the finalize response.
    pub finalize_location: bool,
    /// Extra challenge types offered before the real ones (unknown types).
    pub extra_challenges: Vec<&'static str>,
    /// Validation takes this long after the challenge response.
    pub validation_ms: u64,
    /// Challenges fail validation whatever was provisioned.
    pub fail_validation: bool,
    /// Challenges are accepted, then fail during validation: the order
    /// turns invalid.
    pub fail_validation_later: bool,
    /// newOrder refuses this identifier with rejectedIdentifier.
    pub reject_identifier: Option<String>,
    /// newAccount answers userActionRequired.
    pub user_action_required: bool,
    /// POST-as-GET to orders, authorizations and certificates is refused
    /// with 405; plain GET works.
    pub get_only: bool,
    /// Profiles the directory offers.
    pub profiles: Vec<&'static str>,
    /// Offer ARI renewalInfo.
    pub renewal_info: bool,
    /// Require EAB with this key id and MAC key.
    pub eab: Option<(String, Vec<u8>)>,
    /// Orders per page of the orders list.
    pub orders_per_page: usize,
    /// Alternate chains offered.
    pub alternates: usize,
    /// Issue the certificate for another key than the CSR's.
    pub wrong_key_certificate: bool,
    /// Issue the certificate without one of the identifiers.
    pub missing_san_certificate: bool,
    /// Sign the certificate with a key that is not the CA's (the chain
    /// still names the CA as the next certificate).
    pub leaf_not_signed_by_the_ca: bool,
    /// Serve the certificate without the rest of its chain.
    pub leaf_without_chain: bool,
    /// Scripted failures: route → failures, taken in order.
    pub failures: HashMap<Route, Vec<Failure>>,
    /// Send a Replay-Nonce with GET responses too (Boulder does).
    pub nonce_on_get: bool,
    /// newNonce refuses HEAD; GET answers 204.
    pub nonce_get_only: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            reuse_valid_authz: false,
            finalize: FinalizeMode::ProcessingSeconds { after_ms: 1000 },
            finalize_location: true,
            extra_challenges: Vec::new(),
            validation_ms: 0,
            fail_validation: false,
            fail_validation_later: false,
            reject_identifier: None,
            user_action_required: false,
            get_only: false,
            profiles: Vec::new(),
            renewal_info: false,
            eab: None,
            orders_per_page: 10,
            alternates: 0,
            wrong_key_certificate: false,
            missing_san_certificate: false,
            leaf_not_signed_by_the_ca: false,
            leaf_without_chain: false,
            failures: HashMap::new(),
            nonce_on_get: false,
            nonce_get_only: false,
        }
    }
}

impl Quirks {
    /// Adds a scripted failure for the next request to `route`.
    pub fn fail(&mut self, route: Route, failure: Failure) -> &mut Self {
        self.failures.entry(route).or_default().push(failure);
        self
    }
}

#[derive(Debug, Clone)]
struct AccountRec {
    key: VerifyingKey,
    status: &'static str,
    contact: Vec<String>,
    orders: Vec<usize>,
}

#[derive(Debug, Clone)]
struct OrderRec {
    account: usize,
    identifiers: Vec<(String, String)>,
    authzs: Vec<usize>,
    status: &'static str,
    processing_until: Option<u64>,
    certificate: Option<usize>,
    error: Option<Value>,
    profile: Option<String>,
    replaces: Option<String>,
}

#[derive(Debug, Clone)]
struct AuthzRec {
    identifier: (String, String),
    wildcard: bool,
    status: &'static str,
    challenges: Vec<usize>,
    account: usize,
}

#[derive(Debug, Clone)]
struct ChallengeRec {
    authz: usize,
    kind: String,
    token: String,
    status: &'static str,
    valid_at: Option<u64>,
    error: Option<Value>,
}

#[derive(Debug, Clone)]
struct CertRec {
    chains: Vec<String>,
    der: Vec<u8>,
    key: Vec<u8>,
    account: usize,
    revoked: bool,
    cert_id: String,
}

/// The fake server.
pub struct FakeAcme {
    /// The scripted behaviours (may be changed between requests).
    pub quirks: Quirks,
    /// Every request, as `METHOD path`.
    pub log: Vec<String>,
    /// What the client provisioned: token → value (key authorization for
    /// http-01, TXT value for dns-01, acmeIdentifier hex for tls-alpn-01).
    pub provisioned: HashMap<String, String>,
    /// The DNS zone the fake's dns-01 validation looks in: record name
    /// (`_acme-challenge.<domain>`, no trailing dot) → TXT value. A dns-01
    /// challenge is validated against it when it holds the name, and
    /// against [`FakeAcme::provisioned`] otherwise.
    pub txt_records: HashMap<String, String>,
    now_ms: u64,
    nonce_counter: u64,
    nonces: HashSet<String>,
    used_nonces: HashSet<String>,
    accounts: Vec<AccountRec>,
    orders: Vec<OrderRec>,
    authzs: Vec<AuthzRec>,
    challenges: Vec<ChallengeRec>,
    certs: Vec<CertRec>,
    ca_key: SigningKey,
    ca_cert_der: Vec<u8>,
    alt_root_pems: Vec<String>,
    /// JWS failures found (the test asserts there are none).
    pub violations: Vec<String>,
}

/// A response the fake sends.
pub struct FakeResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl FakeResponse {
    fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
        }
    }

    fn problem(status: u16, kind: &str, detail: &str) -> Self {
        let mut r = Self::json(
            status,
            &json!({"type": format!("urn:ietf:params:acme:error:{kind}"), "detail": detail, "status": status}),
        );
        r.headers[0].1 = "application/problem+json".into();
        r
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Serializes as HTTP/1.1.
    fn to_bytes(&self, head_request: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            _ => "Status",
        };
        let mut out = format!("HTTP/1.1 {} {reason}\r\n", self.status).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if self.status != 204 {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !head_request {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn b64(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 4 / 3 + 4];
    acme_core::b64::encode(bytes, &mut out)
        .unwrap_or_default()
        .to_owned()
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    let mut out = vec![0u8; text.len()];
    let len = acme_core::b64::decode(text.as_bytes(), &mut out)
        .ok()?
        .len();
    out.truncate(len);
    Some(out)
}

fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let dt = der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix))
        .unwrap_or(der::DateTime::INFINITY);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[((unix / 86_400) % 7) as usize],
        dt.day(),
        MONTHS[usize::from(dt.month() - 1)],
        dt.year(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    )
}

/// The Unix time the fake's virtual clock starts at (2026-01-01).
pub const EPOCH_UNIX: u64 = 1_767_225_600;

fn ca_name(cn: &str) -> Name {
    format!("CN={cn}").parse().unwrap_or_default()
}

impl FakeAcme {
    /// A fake with `quirks`.
    pub fn new(quirks: Quirks) -> Self {
        let ca_key = SigningKey::from_slice(&[0x5a; 32])
            .unwrap_or_else(|_| SigningKey::from_slice(&[1; 32]).expect("key"));
        let ca_cert_der = self_signed(&ca_key, "Fake ACME Root");
        // Each alternate chain is the same leaf, the CA's key certified
        // by another root (a cross-signature, as real CAs offer), and that
        // root: every chain verifies.
        let alt_root_pems = (0..quirks.alternates)
            .map(|i| {
                let key = SigningKey::from_slice(&[0x60 + i as u8; 32]).expect("key");
                let root_name = format!("Fake Alternate Root {i}");
                let cross = cross_signed(&ca_key, "Fake ACME Root", &key, &root_name);
                format!(
                    "{}{}",
                    pem_of(&cross),
                    pem_of(&self_signed(&key, &root_name))
                )
            })
            .collect();
        Self {
            quirks,
            log: Vec::new(),
            provisioned: HashMap::new(),
            txt_records: HashMap::new(),
            now_ms: 0,
            nonce_counter: 0,
            nonces: HashSet::new(),
            used_nonces: HashSet::new(),
            accounts: Vec::new(),
            orders: Vec::new(),
            authzs: Vec::new(),
            challenges: Vec::new(),
            certs: Vec::new(),
            ca_key,
            ca_cert_der,
            alt_root_pems,
            violations: Vec::new(),
        }
    }

    /// The directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://{HOST}{}/directory", self.quirks.prefix)
    }

    fn url(&self, path: &str) -> String {
        format!("https://{HOST}{}{path}", self.quirks.prefix)
    }

    /// The CA certificate (DER) that issues leaves.
    pub fn ca_cert_der(&self) -> &[u8] {
        &self.ca_cert_der
    }

    /// How many orders exist.
    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// How many accounts exist.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The transcript with the prefix removed from paths.
    pub fn transcript(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|l| l.replacen(&self.quirks.prefix, "", 1))
            .collect()
    }

    fn fresh_nonce(&mut self) -> String {
        self.nonce_counter += 1;
        let nonce = format!("nonce-{:08}", self.nonce_counter);
        self.nonces.insert(nonce.clone());
        nonce
    }

    /// Handles one HTTP/1.1 request at virtual time `now_ms`; returns the
    /// response bytes.
    pub fn handle(&mut self, request: &[u8], now_ms: u64) -> Vec<u8> {
        self.now_ms = now_ms;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut parsed = httparse::Request::new(&mut headers);
        let head_len = match parsed.parse(request) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => {
                self.violations.push("unparseable request".into());
                return FakeResponse::problem(400, "malformed", "bad HTTP").to_bytes(false);
            }
        };
        let method = parsed.method.unwrap_or("").to_owned();
        let path = parsed.path.unwrap_or("").to_owned();
        let host = parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("host"))
            .map(|h| String::from_utf8_lossy(h.value).into_owned());
        if host.as_deref() != Some(HOST) {
            self.violations.push(format!("Host header {host:?}"));
        }
        let has_ua = parsed
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("user-agent"));
        if !has_ua {
            self.violations.push("no User-Agent".into());
        }
        let body = request[head_len..].to_vec();
        if method == "POST" {
            let ct = parsed
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-type"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned());
            if ct.as_deref() != Some("application/jose+json") {
                self.violations.push(format!("Content-Type {ct:?}"));
            }
        }
        self.log.push(format!("{method} {path}"));
        let head = method == "HEAD";
        let route = self.route(&path);
        // A scripted failure replaces the request (nothing happens on the
        // server), except NoNonce, which only strips the nonce.
        let failure = self.take_failure(route);
        let mut response = match &failure {
            Some(Failure::ResponseLost) => {
                let _ = self.dispatch(&method, &path, route, &body);
                return Vec::new();
            }
            Some(Failure::RequestLost) => return Vec::new(),
            Some(f) if *f != Failure::NoNonce => FakeResponse::json(200, &json!(null)),
            _ => self.dispatch(&method, &path, route, &body),
        };
        if let Some(failure) = failure {
            response = match failure {
                Failure::Unavailable { retry_after } => {
                    FakeResponse::problem(503, "serverInternal", "maintenance")
                        .header("Retry-After", retry_after.to_string())
                }
                Failure::HtmlBadGateway => FakeResponse {
                    status: 502,
                    headers: vec![("Content-Type".into(), "text/html".into())],
                    body: b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
                },
                Failure::BadNonce => {
                    FakeResponse::problem(400, "badNonce", "JWS has an invalid anti-replay nonce")
                }
                Failure::NoNonce => {
                    let mut r = response;
                    r.headers.push(("X-No-Nonce".into(), "1".into()));
                    r
                }
                Failure::Redirect => FakeResponse {
                    status: 302,
                    headers: vec![("Location".into(), "https://elsewhere.test/".into())],
                    body: Vec::new(),
                },
                Failure::ResponseLost | Failure::RequestLost => unreachable!("returned above"),
            };
        }
        // Like Pebble: nonces on every POST and HEAD response and on
        // newNonce, not on other GETs.
        let wants_nonce = method != "GET" || route == Route::Nonce || self.quirks.nonce_on_get;
        if wants_nonce && !response.headers.iter().any(|(n, _)| n == "X-No-Nonce") {
            let nonce = self.fresh_nonce();
            response.headers.push(("Replay-Nonce".into(), nonce));
        }
        response.headers.push((
            "Link".into(),
            format!("<{}>;rel=\"index\"", self.directory_url()),
        ));
        response.to_bytes(head)
    }

    fn take_failure(&mut self, route: Route) -> Option<Failure> {
        let list = self.quirks.failures.get_mut(&route)?;
        if list.is_empty() {
            return None;
        }
        Some(list.remove(0))
    }

    fn route(&self, path: &str) -> Route {
        let Some(p) = path.strip_prefix(&self.quirks.prefix) else {
            return Route::Unknown;
        };
        let p = p.split('?').next().unwrap_or("");
        let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["directory"] => Route::Directory,
            ["new-nonce"] => Route::Nonce,
            ["new-account"] => Route::NewAccount,
            ["acct", _] => Route::Account,
            ["acct", _, "orders"] => Route::Orders,
            ["new-order"] => Route::NewOrder,
            ["order", _] => Route::Order,
            ["order", _, "finalize"] => Route::Finalize,
            ["authz", _] => Route::Authz,
            ["chall", _] => Route::Challenge,
            ["cert", _] | ["cert", _, _] => Route::Certificate,
            ["key-change"] => Route::KeyChange,
            ["revoke-cert"] => Route::Revoke,
            ["renewal-info", _] => Route::RenewalInfo,
            _ => Route::Unknown,
        }
    }

    fn id_at(path: &str, index_from_end: usize) -> Option<usize> {
        let parts: Vec<&str> = path.split('/').collect();
        parts
            .get(parts.len().checked_sub(1 + index_from_end)?)?
            .split('?')
            .next()?
            .parse()
            .ok()
    }

    fn dispatch(&mut self, method: &str, path: &str, route: Route, body: &[u8]) -> FakeResponse {
        match (method, route) {
            ("GET", Route::Directory) => self.directory(),
            ("HEAD", Route::Nonce) if self.quirks.nonce_get_only => {
                FakeResponse::problem(405, "malformed", "use GET").header("X-No-Nonce", "1")
            }
            ("HEAD", Route::Nonce) => FakeResponse::json(200, &json!(null)).no_body(),
            ("GET", Route::Nonce) => FakeResponse {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            },
            ("GET", Route::RenewalInfo) => self.renewal_info(path),
            ("GET", Route::Order | Route::Authz | Route::Certificate) if self.quirks.get_only => {
                self.get_resource(path, route, None)
            }
            ("POST", _) => self.post(path, route, body),
            _ => FakeResponse::problem(405, "malformed", "method not allowed"),
        }
    }

    fn directory(&self) -> FakeResponse {
        let mut dir = json!({
            "newNonce": self.url("/new-nonce"),
            "newAccount": self.url("/new-account"),
            "newOrder": self.url("/new-order"),
            "revokeCert": self.url("/revoke-cert"),
            "keyChange": self.url("/key-change"),
            "meta": {"termsOfService": self.url("/terms"), "caaIdentities": ["ca.test"], "website": "https://ca.test/"},
        });
        if self.quirks.eab.is_some() {
            dir["meta"]["externalAccountRequired"] = json!(true);
        }
        if !self.quirks.profiles.is_empty() {
            let profiles: serde_json::Map<String, Value> = self
                .quirks
                .profiles
                .iter()
                .map(|p| ((*p).to_owned(), json!(format!("the {p} profile"))))
                .collect();
            dir["meta"]["profiles"] = Value::Object(profiles);
        }
        if self.quirks.renewal_info {
            dir["renewalInfo"] = json!(self.url("/renewal-info"));
        }
        FakeResponse::json(200, &dir)
    }

    /// Verifies a JWS; returns (payload bytes, account index or jwk key).
    fn verify_jws(&mut self, path: &str, body: &[u8]) -> Result<(Vec<u8>, Signer), FakeResponse> {
        let malformed = |d: &str| FakeResponse::problem(400, "malformed", d);
        let jws: Value = serde_json::from_slice(body).map_err(|_| malformed("not JSON"))?;
        let (Some(protected_b64), Some(payload_b64), Some(sig_b64)) = (
            jws["protected"].as_str(),
            jws["payload"].as_str(),
            jws["signature"].as_str(),
        ) else {
            return Err(malformed("not a flattened JWS"));
        };
        let protected: Value = unb64(protected_b64)
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or_else(|| malformed("bad protected header"))?;
        if protected["alg"] != "ES256" {
            return Err(FakeResponse::problem(
                400,
                "badSignatureAlgorithm",
                "ES256 only",
            ));
        }
        let url = protected["url"].as_str().unwrap_or("");
        let expected = format!("https://{HOST}{path}");
        if url != expected {
            self.violations.push(format!("JWS url {url} != {expected}"));
            return Err(FakeResponse::problem(401, "unauthorized", "url mismatch"));
        }
        let nonce = protected["nonce"].as_str().unwrap_or("").to_owned();
        if !self.nonces.contains(&nonce) {
            self.violations
                .push(format!("nonce {nonce:?} was never issued"));
            return Err(FakeResponse::problem(400, "badNonce", "unknown nonce"));
        }
        if !self.used_nonces.insert(nonce.clone()) {
            self.violations.push(format!("nonce {nonce} reused"));
            return Err(FakeResponse::problem(400, "badNonce", "nonce reused"));
        }
        let signer = match (protected.get("jwk"), protected.get("kid")) {
            (Some(jwk), None) => Signer::Jwk(jwk_key(jwk).ok_or_else(|| malformed("bad jwk"))?),
            (None, Some(kid)) => {
                let kid = kid.as_str().unwrap_or("");
                let id = kid
                    .strip_prefix(&self.url("/acct/"))
                    .and_then(|s| s.parse::<usize>().ok())
                    .filter(|&i| i < self.accounts.len())
                    .ok_or_else(|| {
                        FakeResponse::problem(400, "accountDoesNotExist", "no such account")
                    })?;
                Signer::Account(id)
            }
            _ => return Err(malformed("exactly one of jwk and kid")),
        };
        let key = match &signer {
            Signer::Jwk(k) => *k,
            Signer::Account(id) => self.accounts[*id].key,
        };
        let signature = unb64(sig_b64)
            .and_then(|s| Signature::from_slice(&s).ok())
            .ok_or_else(|| malformed("bad signature encoding"))?;
        let input = format!("{protected_b64}.{payload_b64}");
        if key.verify(input.as_bytes(), &signature).is_err() {
            self.violations.push(format!("bad signature on {path}"));
            return Err(malformed("signature does not verify"));
        }
        if let Signer::Account(id) = signer {
            if self.accounts[id].status != "valid" {
                return Err(FakeResponse::problem(
                    401,
                    "unauthorized",
                    "account is deactivated",
                ));
            }
        }
        let payload = unb64(payload_b64).ok_or_else(|| malformed("bad payload"))?;
        Ok((payload, signer))
    }

    fn post(&mut self, path: &str, route: Route, body: &[u8]) -> FakeResponse {
        let (payload, signer) = match self.verify_jws(path, body) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let needs_kid = !matches!(route, Route::NewAccount | Route::Revoke);
        if needs_kid && !matches!(signer, Signer::Account(_)) {
            return FakeResponse::problem(400, "malformed", "kid required");
        }
        if route == Route::NewAccount && !matches!(signer, Signer::Jwk(_)) {
            return FakeResponse::problem(400, "malformed", "jwk required");
        }
        let value: Option<Value> = if payload.is_empty() {
            None
        } else {
            match serde_json::from_slice(&payload) {
                Ok(v) => Some(v),
                Err(_) => return FakeResponse::problem(400, "malformed", "payload is not JSON"),
            }
        };
        let account = match signer {
            Signer::Account(id) => Some(id),
            Signer::Jwk(_) => None,
        };
        match route {
            Route::NewAccount => self.new_account(value.unwrap_or(json!({})), signer, path),
            Route::Account => self.account(path, account.unwrap_or(0), value),
            Route::Orders => self.orders_page(path, account.unwrap_or(0), value.is_none()),
            Route::NewOrder => self.new_order(account.unwrap_or(0), value.unwrap_or(json!({}))),
            Route::Order | Route::Authz | Route::Certificate if value.is_none() => {
                if self.quirks.get_only {
                    return FakeResponse::problem(405, "malformed", "use GET");
                }
                self.get_resource(path, route, account)
            }
            Route::Authz => self.deactivate_authz(path, value),
            Route::Challenge => self.challenge(path, value),
            Route::Finalize => {
                self.finalize(path, account.unwrap_or(0), value.unwrap_or(json!({})))
            }
            Route::KeyChange => self.key_change(account.unwrap_or(0), value.unwrap_or(json!({}))),
            Route::Revoke => self.revoke(signer, value.unwrap_or(json!({}))),
            _ => FakeResponse::problem(404, "malformed", "no such resource"),
        }
    }

    fn new_account(&mut self, payload: Value, signer: Signer, path: &str) -> FakeResponse {
        let Signer::Jwk(key) = signer else {
            return FakeResponse::problem(400, "malformed", "jwk required");
        };
        let existing = self.accounts.iter().position(|a| a.key == key);
        if payload["onlyReturnExisting"] == true {
            return match existing {
                Some(id) => self.account_response(200, id),
                None => {
                    FakeResponse::problem(400, "accountDoesNotExist", "no account for this key")
                }
            };
        }
        if let Some(id) = existing {
            return self.account_response(200, id);
        }
        if self.quirks.user_action_required {
            let mut r = FakeResponse::problem(403, "userActionRequired", "Accept the new terms");
            r.body = serde_json::to_vec(&json!({"type": "urn:ietf:params:acme:error:userActionRequired", "detail": "Accept the new terms", "instance": self.url("/terms/accept"), "status": 403})).unwrap_or_default();
            return r;
        }
        if payload["termsOfServiceAgreed"] != true {
            return FakeResponse::problem(403, "malformed", "must agree to terms");
        }
        if let Some((kid, mac_key)) = self.quirks.eab.clone() {
            let Some(eab) = payload.get("externalAccountBinding") else {
                return FakeResponse::problem(400, "externalAccountRequired", "EAB required");
            };
            if let Err(why) = check_eab(eab, &kid, &mac_key, &key, &format!("https://{HOST}{path}"))
            {
                return FakeResponse::problem(400, "unauthorized", &why);
            }
        }
        let contact = payload["contact"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.accounts.push(AccountRec {
            key,
            status: "valid",
            contact,
            orders: Vec::new(),
        });
        self.account_response(201, self.accounts.len() - 1)
    }

    fn account_json(&self, id: usize) -> Value {
        let a = &self.accounts[id];
        json!({"status": a.status, "contact": a.contact, "orders": self.url(&format!("/acct/{id}/orders")), "key": {"kty": "EC"}})
    }

    fn account_response(&self, status: u16, id: usize) -> FakeResponse {
        FakeResponse::json(status, &self.account_json(id))
            .header("Location", self.url(&format!("/acct/{id}")))
    }

    fn account(
        &mut self,
        path: &str,
        signer_account: usize,
        payload: Option<Value>,
    ) -> FakeResponse {
        let Some(id) = Self::id_at(path, 0).filter(|&i| i == signer_account) else {
            return FakeResponse::problem(403, "unauthorized", "not your account");
        };
        if let Some(p) = payload {
            if p["status"] == "deactivated" {
                self.accounts[id].status = "deactivated";
            }
            if let Some(contact) = p["contact"].as_array() {
                self.accounts[id].contact = contact
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect();
            }
        }
        FakeResponse::json(200, &self.account_json(id))
    }

    fn orders_page(&self, path: &str, signer_account: usize, empty_payload: bool) -> FakeResponse {
        if !empty_payload {
            return FakeResponse::problem(400, "malformed", "POST-as-GET expected");
        }
        let (base, query) = path.split_once('?').unwrap_or((path, ""));
        let Some(id) = Self::id_at(base, 1).filter(|&i| i == signer_account) else {
            return FakeResponse::problem(403, "unauthorized", "not your account");
        };
        let page: usize = query
            .strip_prefix("cursor=")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let per = self.quirks.orders_per_page.max(1);
        let all = &self.accounts[id].orders;
        let urls: Vec<String> = all
            .iter()
            .skip(page * per)
            .take(per)
            .map(|o| self.url(&format!("/order/{o}")))
            .collect();
        let mut r = FakeResponse::json(200, &json!({"orders": urls}));
        if (page + 1) * per < all.len() {
            r = r.header(
                "Link",
                format!(
                    "<{}?cursor={}>;rel=\"next\"",
                    self.url(&format!("/acct/{id}/orders")),
                    page + 1
                ),
            );
        }
        r
    }

    fn new_order(&mut self, account: usize, payload: Value) -> FakeResponse {
        let Some(ids) = payload["identifiers"].as_array() else {
            return FakeResponse::problem(400, "malformed", "identifiers required");
        };
        let identifiers: Vec<(String, String)> = ids
            .iter()
            .map(|i| {
                (
                    i["type"].as_str().unwrap_or("").to_owned(),
                    i["value"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        if let Some(bad) = &self.quirks.reject_identifier {
            if identifiers.iter().any(|(_, v)| v == bad) {
                let body = json!({
                    "type": "urn:ietf:params:acme:error:rejectedIdentifier",
                    "detail": "Some identifiers were rejected",
                    "status": 400,
                    "subproblems": [{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": format!("{bad} is forbidden"), "identifier": {"type": "dns", "value": bad}}],
                });
                let mut r = FakeResponse::json(400, &body);
                r.headers[0].1 = "application/problem+json".into();
                return r;
            }
        }
        for key in ["notBefore", "notAfter"] {
            if let Some(v) = payload.get(key) {
                if !v.is_string() {
                    return FakeResponse::problem(400, "malformed", "bad date");
                }
            }
        }
        if let Some(p) = payload.get("profile") {
            if !self.quirks.profiles.iter().any(|q| p == q) {
                return FakeResponse::problem(400, "invalidProfile", "unknown profile");
            }
        }
        let order_id = self.orders.len();
        let mut authz_ids = Vec::new();
        for (kind, value) in &identifiers {
            let (wildcard, base) = match value.strip_prefix("*.") {
                Some(b) => (true, b.to_owned()),
                None => (false, value.clone()),
            };
            let reusable = self.quirks.reuse_valid_authz.then(|| {
                self.authzs.iter().position(|a| {
                    a.status == "valid"
                        && a.account == account
                        && a.identifier == (kind.clone(), base.clone())
                        && a.wildcard == wildcard
                })
            });
            if let Some(Some(existing)) = reusable {
                authz_ids.push(existing);
                continue;
            }
            let authz_id = self.authzs.len();
            let mut challenge_ids = Vec::new();
            let mut kinds: Vec<String> = self
                .quirks
                .extra_challenges
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            kinds.extend(["http-01", "dns-01", "tls-alpn-01"].map(str::to_owned));
            if wildcard {
                kinds.retain(|k| {
                    k == "dns-01"
                        || !k.ends_with("-01")
                        || self.quirks.extra_challenges.contains(&k.as_str())
                });
            }
            for k in kinds {
                let cid = self.challenges.len();
                let token = b64(&Sha256::digest(format!("token-{cid}-{order_id}")));
                self.challenges.push(ChallengeRec {
                    authz: authz_id,
                    kind: k,
                    token,
                    status: "pending",
                    valid_at: None,
                    error: None,
                });
                challenge_ids.push(cid);
            }
            self.authzs.push(AuthzRec {
                identifier: (kind.clone(), base),
                wildcard,
                status: "pending",
                challenges: challenge_ids,
                account,
            });
            authz_ids.push(authz_id);
        }
        self.orders.push(OrderRec {
            account,
            identifiers,
            authzs: authz_ids,
            status: "pending",
            processing_until: None,
            certificate: None,
            error: None,
            profile: payload["profile"].as_str().map(str::to_owned),
            replaces: payload["replaces"].as_str().map(str::to_owned),
        });
        self.accounts[account].orders.push(order_id);
        self.refresh(order_id);
        FakeResponse::json(201, &self.order_json(order_id))
            .header("Location", self.url(&format!("/order/{order_id}")))
    }

    /// Brings an order's status up to date with virtual time.
    fn refresh(&mut self, order_id: usize) {
        let now = self.now_ms;
        for &aid in &self.orders[order_id].authzs.clone() {
            for &cid in &self.authzs[aid].challenges.clone() {
                let c = &mut self.challenges[cid];
                if c.status == "processing" && c.valid_at.is_some_and(|t| now >= t) {
                    if c.error.is_some() {
                        c.status = "invalid";
                        self.authzs[aid].status = "invalid";
                    } else {
                        c.status = "valid";
                        self.authzs[aid].status = "valid";
                    }
                }
            }
        }
        let order = &mut self.orders[order_id];
        if order.status == "pending" {
            let statuses: Vec<&str> = order
                .authzs
                .iter()
                .map(|&a| self.authzs[a].status)
                .collect();
            if statuses.iter().all(|s| *s == "valid") {
                order.status = "ready";
            } else if statuses
                .iter()
                .any(|s| *s == "invalid" || *s == "deactivated")
            {
                order.status = "invalid";
                let subproblems: Vec<Value> = order
                    .identifiers
                    .iter()
                    .map(|(t, v)| json!({"type": "urn:ietf:params:acme:error:dns", "detail": format!("validation of {v} failed"), "identifier": {"type": t, "value": v}}))
                    .collect();
                order.error = Some(
                    json!({"type": "urn:ietf:params:acme:error:unauthorized", "detail": "an authorization failed", "subproblems": subproblems}),
                );
            }
        }
        if order.status == "processing" && order.processing_until.is_some_and(|t| now >= t) {
            order.status = "valid";
        }
    }

    fn order_json(&self, id: usize) -> Value {
        let o = &self.orders[id];
        let mut v = json!({
            "status": o.status,
            "expires": "2026-01-08T00:00:00Z",
            "identifiers": o.identifiers.iter().map(|(t, v)| json!({"type": t, "value": v})).collect::<Vec<_>>(),
            "authorizations": o.authzs.iter().map(|a| self.url(&format!("/authz/{a}"))).collect::<Vec<_>>(),
            "finalize": self.url(&format!("/order/{id}/finalize")),
        });
        if let Some(c) = o.certificate.filter(|_| o.status == "valid") {
            v["certificate"] = json!(self.url(&format!("/cert/{c}")));
        }
        if let Some(e) = &o.error {
            v["error"] = e.clone();
        }
        if let Some(p) = &o.profile {
            v["profile"] = json!(p);
        }
        if let Some(r) = &o.replaces {
            v["replaces"] = json!(r);
        }
        v
    }

    fn authz_json(&self, id: usize) -> Value {
        let a = &self.authzs[id];
        let challenges: Vec<Value> = a
            .challenges
            .iter()
            .map(|&c| {
                let ch = &self.challenges[c];
                let mut v = json!({"type": ch.kind, "url": self.url(&format!("/chall/{c}")), "status": ch.status, "token": ch.token});
                if let Some(e) = &ch.error {
                    v["error"] = e.clone();
                }
                v
            })
            .collect();
        let mut v = json!({"identifier": {"type": a.identifier.0, "value": a.identifier.1}, "status": a.status, "expires": "2026-01-08T00:00:00Z", "challenges": challenges});
        if a.wildcard {
            v["wildcard"] = json!(true);
        }
        v
    }

    fn get_resource(&mut self, path: &str, route: Route, _account: Option<usize>) -> FakeResponse {
        let Some(id) = Self::id_at(path.trim_end_matches('/'), 0).or_else(|| Self::id_at(path, 1))
        else {
            return FakeResponse::problem(404, "malformed", "not found");
        };
        match route {
            Route::Order if id < self.orders.len() => {
                self.refresh(id);
                let mut r = FakeResponse::json(200, &self.order_json(id));
                let silent = matches!(
                    self.quirks.finalize,
                    FinalizeMode::ProcessingWithoutRetryAfter { .. }
                );
                if self.orders[id].status == "processing" && !silent {
                    r = r.header("Retry-After", "1");
                }
                r
            }
            Route::Authz if id < self.authzs.len() => {
                for o in 0..self.orders.len() {
                    self.refresh(o);
                }
                FakeResponse::json(200, &self.authz_json(id))
            }
            Route::Certificate => {
                let parts: Vec<&str> = path.split('/').collect();
                let (cert, alt) = match parts.as_slice() {
                    [.., "cert", c, a] => (c.parse().ok(), a.parse::<usize>().ok()),
                    [.., "cert", c] => (c.parse().ok(), None),
                    _ => (None, None),
                };
                let Some(rec) = cert.and_then(|c: usize| self.certs.get(c)) else {
                    return FakeResponse::problem(404, "malformed", "no such certificate");
                };
                let chain = match alt {
                    Some(a) => rec.chains.get(a + 1),
                    None => rec.chains.first(),
                };
                let Some(chain) = chain else {
                    return FakeResponse::problem(404, "malformed", "no such chain");
                };
                let mut r = FakeResponse {
                    status: 200,
                    headers: vec![(
                        "Content-Type".into(),
                        "application/pem-certificate-chain".into(),
                    )],
                    body: chain.clone().into_bytes(),
                };
                if alt.is_none() {
                    for a in 0..rec.chains.len() - 1 {
                        r = r.header(
                            "Link",
                            format!(
                                "<{}>;rel=\"alternate\"",
                                self.url(&format!("/cert/{}/{a}", cert.unwrap_or(0)))
                            ),
                        );
                    }
                }
                r
            }
            _ => FakeResponse::problem(404, "malformed", "not found"),
        }
    }

    fn deactivate_authz(&mut self, path: &str, payload: Option<Value>) -> FakeResponse {
        let Some(id) = Self::id_at(path, 0).filter(|&i| i < self.authzs.len()) else {
            return FakeResponse::problem(404, "malformed", "not found");
        };
        if payload
            .as_ref()
            .is_some_and(|p| p["status"] == "deactivated")
        {
            self.authzs[id].status = "deactivated";
            return FakeResponse::json(200, &self.authz_json(id));
        }
        FakeResponse::problem(400, "malformed", "unexpected payload")
    }

    fn challenge(&mut self, path: &str, payload: Option<Value>) -> FakeResponse {
        let Some(cid) = Self::id_at(path, 0).filter(|&i| i < self.challenges.len()) else {
            return FakeResponse::problem(404, "malformed", "not found");
        };
        if payload != Some(json!({})) {
            // A POST-as-GET of a challenge: servers may start validating on
            // it, so a client must never send one before it is ready.
            self.violations
                .push(format!("challenge {cid} fetched (payload {payload:?})"));
        }
        let thumbprint = {
            let aid = self.challenges[cid].authz;
            let key = self.accounts[self.authzs[aid].account].key;
            jwk_thumbprint(&key)
        };
        let c = &mut self.challenges[cid];
        if c.status != "pending" {
            // As Pebble: a challenge is answered once.
            let detail = format!(
                "Cannot update challenge with status {}, only status pending",
                c.status
            );
            return FakeResponse::problem(400, "malformed", &detail);
        }
        {
            let key_authorization = format!("{}.{}", c.token, thumbprint);
            let expected = match c.kind.as_str() {
                "http-01" => key_authorization.clone(),
                "dns-01" => b64(&Sha256::digest(&key_authorization)),
                "tls-alpn-01" => hex(&Sha256::digest(&key_authorization)),
                _ => String::from("unsupported"),
            };
            let record_name = format!("_acme-challenge.{}", self.authzs[c.authz].identifier.1);
            let provisioned = match self.txt_records.get(&record_name) {
                Some(txt) if c.kind == "dns-01" => Some(txt),
                _ => self.provisioned.get(&c.token),
            };
            if self.quirks.fail_validation_later {
                // Accepted now, found wrong during (virtual) validation.
                c.status = "processing";
                c.valid_at = Some(self.now_ms + self.quirks.validation_ms);
                c.error = Some(
                    json!({"type": "urn:ietf:params:acme:error:dns", "detail": "DNS problem: NXDOMAIN looking up A for device.example.com", "status": 400}),
                );
            } else if self.quirks.fail_validation || provisioned != Some(&expected) {
                c.status = "invalid";
                c.error = Some(
                    json!({"type": "urn:ietf:params:acme:error:incorrectResponse", "detail": format!("expected {expected}, found {provisioned:?}"), "status": 403}),
                );
                let aid = c.authz;
                self.authzs[aid].status = "invalid";
            } else {
                c.status = "processing";
                c.valid_at = Some(self.now_ms + self.quirks.validation_ms);
            }
        }
        let c = &self.challenges[cid];
        let mut v = json!({"type": c.kind, "url": self.url(&format!("/chall/{cid}")), "status": c.status, "token": c.token});
        if let Some(e) = &c.error {
            v["error"] = e.clone();
        }
        FakeResponse::json(200, &v).header(
            "Link",
            format!("<{}>;rel=\"up\"", self.url(&format!("/authz/{}", c.authz))),
        )
    }

    fn finalize(&mut self, path: &str, account: usize, payload: Value) -> FakeResponse {
        let Some(id) = Self::id_at(path, 1)
            .filter(|&i| i < self.orders.len() && self.orders[i].account == account)
        else {
            return FakeResponse::problem(404, "malformed", "no such order");
        };
        self.refresh(id);
        if self.orders[id].status != "ready" {
            return FakeResponse::problem(403, "orderNotReady", "order is not ready");
        }
        let Some(csr) = payload["csr"].as_str().and_then(unb64) else {
            return FakeResponse::problem(400, "badCSR", "csr missing");
        };
        let issued = match self.issue(id, &csr) {
            Ok(c) => c,
            Err(why) => return FakeResponse::problem(400, "badCSR", &why),
        };
        let order = &mut self.orders[id];
        order.certificate = Some(issued);
        let mut extra = Vec::new();
        match self.quirks.finalize {
            FinalizeMode::Valid => order.status = "valid",
            FinalizeMode::ProcessingSeconds { after_ms } => {
                order.status = "processing";
                order.processing_until = Some(self.now_ms + after_ms);
                extra.push((
                    "Retry-After".to_owned(),
                    after_ms.div_ceil(1000).to_string(),
                ));
            }
            FinalizeMode::ProcessingWithoutRetryAfter { after_ms } => {
                order.status = "processing";
                order.processing_until = Some(self.now_ms + after_ms);
            }
            FinalizeMode::ProcessingHttpDate { after_ms } => {
                order.status = "processing";
                order.processing_until = Some(self.now_ms + after_ms);
                let now_unix = EPOCH_UNIX + self.now_ms / 1000;
                extra.push(("Date".to_owned(), http_date(now_unix)));
                extra.push((
                    "Retry-After".to_owned(),
                    http_date(now_unix + after_ms.div_ceil(1000)),
                ));
            }
        }
        let mut r = FakeResponse::json(200, &self.order_json(id));
        r.headers.extend(extra);
        if self.quirks.finalize_location {
            r = r.header("Location", self.url(&format!("/order/{id}")));
        }
        r
    }

    /// Issues a certificate for an order's CSR; returns the cert index.
    fn issue(&mut self, order_id: usize, csr_der: &[u8]) -> Result<usize, String> {
        let csr =
            x509_cert::request::CertReq::from_der(csr_der).map_err(|e| format!("CSR: {e}"))?;
        let info_der = csr.info.to_der().map_err(|e| e.to_string())?;
        let spki = csr.info.public_key.clone();
        let key = VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
            .map_err(|_| "CSR key is not P-256".to_owned())?;
        let sig = p256::ecdsa::DerSignature::try_from(csr.signature.raw_bytes())
            .map_err(|_| "CSR signature encoding")?;
        key.verify(&info_der, &sig)
            .map_err(|_| "CSR signature does not verify".to_owned())?;
        // The CSR's SANs must be exactly the order's identifiers.
        let mut names: Vec<(String, String)> = Vec::new();
        for attr in csr.info.attributes.iter() {
            for value in attr.values.iter() {
                let exts: x509_cert::ext::Extensions =
                    value.decode_as().map_err(|e| e.to_string())?;
                for ext in exts {
                    if ext.extn_id == const_oid_san() {
                        let san = SubjectAltName::from_der(ext.extn_value.as_bytes())
                            .map_err(|e| e.to_string())?;
                        for n in san.0 {
                            match n {
                                GeneralName::DnsName(d) => {
                                    names.push(("dns".into(), d.to_string()))
                                }
                                GeneralName::IpAddress(ip) => {
                                    names.push(("ip".into(), ip_text(ip.as_bytes())))
                                }
                                _ => return Err("unexpected SAN type".into()),
                            }
                        }
                    }
                }
            }
        }
        let mut wanted = self.orders[order_id].identifiers.clone();
        wanted.sort();
        let mut got = names.clone();
        got.sort();
        if wanted != got {
            return Err(format!("CSR names {got:?} != order {wanted:?}"));
        }
        if self.quirks.missing_san_certificate && names.len() > 1 {
            names.pop();
        } else if self.quirks.missing_san_certificate {
            names[0].1 = format!("other.{}", names[0].1);
        }
        let leaf_spki = if self.quirks.wrong_key_certificate {
            let other = SigningKey::from_slice(&[0x77; 32]).expect("key");
            SubjectPublicKeyInfoOwned::from_key(*other.verifying_key())
                .map_err(|e| e.to_string())?
        } else {
            spki
        };
        let cert_index = self.certs.len();
        let serial =
            SerialNumber::new(&[0x01, 0x23, cert_index as u8 + 1]).map_err(|e| e.to_string())?;
        let validity = Validity {
            not_before: x509_time(EPOCH_UNIX - 3600),
            not_after: x509_time(EPOCH_UNIX + 90 * 86_400),
        };
        let issuer =
            x509_cert::Certificate::from_der(&self.ca_cert_der).map_err(|e| e.to_string())?;
        let profile = Profile::Leaf {
            issuer: issuer.tbs_certificate.subject.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let stranger = SigningKey::from_slice(&[0x77; 32]).map_err(|e| e.to_string())?;
        let signer = if self.quirks.leaf_not_signed_by_the_ca {
            &stranger
        } else {
            &self.ca_key
        };
        let mut builder = CertificateBuilder::new(
            profile,
            serial,
            validity,
            Name::default(),
            leaf_spki,
            signer,
        )
        .map_err(|e| e.to_string())?;
        let general_names: Vec<GeneralName> = names
            .iter()
            .map(|(t, v)| {
                if t == "dns" {
                    GeneralName::DnsName(der::asn1::Ia5String::new(v).expect("ia5"))
                } else {
                    let ip: std::net::IpAddr = v.parse().expect("ip");
                    let octets = match ip {
                        std::net::IpAddr::V4(a) => a.octets().to_vec(),
                        std::net::IpAddr::V6(a) => a.octets().to_vec(),
                    };
                    GeneralName::IpAddress(der::asn1::OctetString::new(octets).expect("octets"))
                }
            })
            .collect();
        builder
            .add_extension(&SubjectAltName(general_names))
            .map_err(|e| e.to_string())?;
        let cert = builder
            .build::<p256::ecdsa::DerSignature>()
            .map_err(|e| e.to_string())?;
        let der = cert.to_der().map_err(|e| e.to_string())?;
        let leaf_pem = pem_of(&der);
        let mut chains = vec![if self.quirks.leaf_without_chain {
            leaf_pem.clone()
        } else {
            format!("{leaf_pem}{}", pem_of(&self.ca_cert_der))
        }];
        for alt in &self.alt_root_pems {
            chains.push(format!("{leaf_pem}{alt}"));
        }
        let parsed = acme_core::cert::Certificate::from_der(&der).map_err(|e| format!("{e}"))?;
        let mut id = [0u8; 128];
        let cert_id = parsed
            .write_ari_cert_id(&mut id)
            .map_err(|e| format!("{e}"))?
            .to_owned();
        self.certs.push(CertRec {
            chains,
            der,
            key: csr.info.public_key.subject_public_key.raw_bytes().to_vec(),
            account: self.orders[order_id].account,
            revoked: false,
            cert_id,
        });
        Ok(cert_index)
    }

    fn key_change(&mut self, account: usize, payload: Value) -> FakeResponse {
        let inner = &payload;
        let (Some(p), Some(pl), Some(s)) = (
            inner["protected"].as_str(),
            inner["payload"].as_str(),
            inner["signature"].as_str(),
        ) else {
            return FakeResponse::problem(400, "malformed", "inner JWS");
        };
        let Some(header) = unb64(p).and_then(|b| serde_json::from_slice::<Value>(&b).ok()) else {
            return FakeResponse::problem(400, "malformed", "inner header");
        };
        if header.get("nonce").is_some() || header["url"] != self.url("/key-change") {
            return FakeResponse::problem(400, "malformed", "inner header fields");
        }
        let Some(new_key) = jwk_key(&header["jwk"]) else {
            return FakeResponse::problem(400, "malformed", "inner jwk");
        };
        let Some(sig) = unb64(s).and_then(|b| Signature::from_slice(&b).ok()) else {
            return FakeResponse::problem(400, "malformed", "inner signature");
        };
        if new_key
            .verify(format!("{p}.{pl}").as_bytes(), &sig)
            .is_err()
        {
            return FakeResponse::problem(400, "malformed", "inner signature does not verify");
        }
        let Some(body) = unb64(pl).and_then(|b| serde_json::from_slice::<Value>(&b).ok()) else {
            return FakeResponse::problem(400, "malformed", "inner payload");
        };
        if body["account"] != self.url(&format!("/acct/{account}"))
            || jwk_key(&body["oldKey"]) != Some(self.accounts[account].key)
        {
            return FakeResponse::problem(400, "malformed", "inner payload fields");
        }
        if self.accounts.iter().any(|a| a.key == new_key) {
            return FakeResponse::problem(409, "malformed", "key in use");
        }
        self.accounts[account].key = new_key;
        FakeResponse::json(200, &self.account_json(account))
    }

    fn revoke(&mut self, signer: Signer, payload: Value) -> FakeResponse {
        let Some(der) = payload["certificate"].as_str().and_then(unb64) else {
            return FakeResponse::problem(400, "malformed", "certificate missing");
        };
        let Some(index) = self.certs.iter().position(|c| c.der == der) else {
            return FakeResponse::problem(404, "malformed", "unknown certificate");
        };
        if let Some(reason) = payload.get("reason") {
            let ok = reason.as_u64().is_some_and(|r| r <= 10 && r != 7);
            if !ok {
                return FakeResponse::problem(400, "badRevocationReason", "bad reason");
            }
        }
        let allowed = match signer {
            Signer::Account(a) => self.certs[index].account == a,
            Signer::Jwk(k) => {
                k.to_encoded_point(false).as_bytes() == self.certs[index].key.as_slice()
            }
        };
        if !allowed {
            return FakeResponse::problem(403, "unauthorized", "not allowed to revoke");
        }
        if self.certs[index].revoked {
            return FakeResponse::problem(400, "alreadyRevoked", "certificate already revoked");
        }
        self.certs[index].revoked = true;
        FakeResponse {
            status: 200,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn renewal_info(&self, path: &str) -> FakeResponse {
        let id = path.rsplit('/').next().unwrap_or("");
        if !self.quirks.renewal_info || !self.certs.iter().any(|c| c.cert_id == id) {
            return FakeResponse::problem(404, "malformed", "unknown certificate");
        }
        FakeResponse::json(200, &json!({"suggestedWindow": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-03T00:00:00Z"}, "explanationURL": "https://ca.test/why"}))
            .header("Retry-After", "21600")
    }

    /// The DER of issued certificate `index`.
    pub fn issued_der(&self, index: usize) -> Option<&[u8]> {
        self.certs.get(index).map(|c| c.der.as_slice())
    }

    /// True when issued certificate `index` is revoked.
    pub fn is_revoked(&self, index: usize) -> bool {
        self.certs.get(index).is_some_and(|c| c.revoked)
    }

    /// An authorization URL of order `order`.
    pub fn authz_url(&self, order: usize, index: usize) -> Option<String> {
        let id = *self.orders.get(order)?.authzs.get(index)?;
        Some(self.url(&format!("/authz/{id}")))
    }

    /// The status of authorization `index` of order `order`.
    pub fn authz_status(&self, order: usize, index: usize) -> Option<&'static str> {
        let id = *self.orders.get(order)?.authzs.get(index)?;
        Some(self.authzs[id].status)
    }

    /// The status of account `index`.
    pub fn account_status(&self, index: usize) -> Option<&'static str> {
        self.accounts.get(index).map(|a| a.status)
    }

    /// The last order's `profile` and `replaces` as received.
    pub fn last_order_fields(&self) -> Option<(Option<String>, Option<String>)> {
        self.orders
            .last()
            .map(|o| (o.profile.clone(), o.replaces.clone()))
    }
}

impl FakeResponse {
    fn no_body(mut self) -> Self {
        self.body.clear();
        self.headers.clear();
        self
    }
}

#[derive(Debug, Clone, Copy)]
enum Signer {
    Jwk(VerifyingKey),
    Account(usize),
}

fn const_oid_san() -> der::asn1::ObjectIdentifier {
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.17")
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => String::from("?"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn x509_time(unix: u64) -> x509_cert::time::Time {
    x509_cert::time::Time::UtcTime(
        der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(unix)).expect("time"),
    )
}

fn self_signed(key: &SigningKey, cn: &str) -> Vec<u8> {
    let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).expect("spki");
    let validity = Validity {
        not_before: x509_time(EPOCH_UNIX - 86_400),
        not_after: x509_time(EPOCH_UNIX + 3650 * 86_400),
    };
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::new(&[1]).expect("serial"),
        validity,
        ca_name(cn),
        spki,
        key,
    )
    .expect("builder");
    builder
        .build::<p256::ecdsa::DerSignature>()
        .expect("root")
        .to_der()
        .expect("der")
}

/// A CA certificate for `key` named `cn`, issued by `issuer_cn` and signed
/// with `issuer_key`.
fn cross_signed(key: &SigningKey, cn: &str, issuer_key: &SigningKey, issuer_cn: &str) -> Vec<u8> {
    let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).expect("spki");
    let validity = Validity {
        not_before: x509_time(EPOCH_UNIX - 86_400),
        not_after: x509_time(EPOCH_UNIX + 3650 * 86_400),
    };
    let profile = Profile::SubCA {
        issuer: ca_name(issuer_cn),
        path_len_constraint: None,
    };
    CertificateBuilder::new(
        profile,
        SerialNumber::new(&[2]).expect("serial"),
        validity,
        ca_name(cn),
        spki,
        issuer_key,
    )
    .expect("builder")
    .build::<p256::ecdsa::DerSignature>()
    .expect("cross-signed")
    .to_der()
    .expect("der")
}

fn jwk_key(jwk: &Value) -> Option<VerifyingKey> {
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return None;
    }
    let x = unb64(jwk["x"].as_str()?)?;
    let y = unb64(jwk["y"].as_str()?)?;
    if x.len() != 32 || y.len() != 32 {
        return None;
    }
    let mut point = vec![4u8];
    point.extend(x);
    point.extend(y);
    VerifyingKey::from_sec1_bytes(&point).ok()
}

/// RFC 7638 thumbprint, computed independently of acme-core.
pub fn jwk_thumbprint(key: &VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    let jwk = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        b64(point.x().expect("x")),
        b64(point.y().expect("y"))
    );
    b64(&Sha256::digest(jwk.as_bytes()))
}

fn check_eab(
    eab: &Value,
    kid: &str,
    mac_key: &[u8],
    account_key: &VerifyingKey,
    url: &str,
) -> Result<(), String> {
    use hmac::{Hmac, Mac};
    let (Some(p), Some(pl), Some(s)) = (
        eab["protected"].as_str(),
        eab["payload"].as_str(),
        eab["signature"].as_str(),
    ) else {
        return Err("EAB is not a JWS".into());
    };
    let header: Value = unb64(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("EAB header")?;
    if header["alg"] != "HS256" || header["kid"] != kid || header["url"] != url {
        return Err(format!("EAB header {header}"));
    }
    let payload_key = unb64(pl)
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| jwk_key(&v));
    if payload_key != Some(*account_key) {
        return Err("EAB payload is not the account key".into());
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key).map_err(|e| e.to_string())?;
    mac.update(format!("{p}.{pl}").as_bytes());
    let tag = unb64(s).ok_or("EAB signature encoding")?;
    mac.verify_slice(&tag)
        .map_err(|_| "EAB MAC does not verify".to_owned())
}
