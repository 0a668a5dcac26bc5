//! The bodies of the fuzz targets.
//!
//! Each `fuzz_targets/*.rs` is a one-line call into this file, and the
//! workspace's stable test (`tests/tests/fuzz_corpus.rs`) includes this
//! same file to replay every committed seed and regression input without
//! nightly. Bodies assert properties beyond "no panic" where there are any.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use acme_core::cert::Certificate;
use acme_core::challenge::{write_tls_alpn01_certificate, KeyAuthorization, Validity};
use acme_core::client::{Client, Config, Event, Goal, Handled, OrderRequest};
use acme_core::csr::write_csr;
use acme_core::http::{
    probe_response, read_response, AcmeHeaders, ReadStatus, Response, RetryAfter,
};
use acme_core::msg::{self, JsonStr};
use acme_core::time::Instant;
use acme_core::{b64, Es256Signer, Identifier, SoftwareKey};
use arbitrary::Arbitrary;

/// A target's body.
pub type TargetFn = fn(&[u8]);

/// Every target, by name, for the replay test.
pub const TARGETS: &[(&str, TargetFn)] = &[
    ("json_directory", json_directory),
    ("json_account", json_account),
    ("json_order", json_order),
    ("json_authorization", json_authorization),
    ("json_challenge", json_challenge),
    ("json_problem", json_problem),
    ("json_renewal_info", json_renewal_info),
    ("http_response_head", http_response_head),
    ("http_chunked_body", http_chunked_body),
    ("http_content_length_body", http_content_length_body),
    ("header_retry_after", header_retry_after),
    ("header_link", header_link),
    ("header_replay_nonce", header_replay_nonce),
    ("pem_chain", pem_chain),
    ("certificate", certificate),
    ("base64url_decode", base64url_decode),
    ("eab_key", eab_key),
    ("der_roundtrip", der_roundtrip_bytes),
    ("client_flow", client_flow_bytes),
];

fn touch(s: Option<JsonStr<'_>>) {
    if let Some(s) = s {
        let mut out: heapless::String<512> = heapless::String::new();
        let _ = s.unescape_into(&mut out, "fuzz");
        let _ = s.unescaped_eq("https://ca.example/x");
    }
}

pub fn json_directory(data: &[u8]) {
    if let Ok(d) = msg::parse::<msg::Directory<'_>>(data) {
        for url in [
            d.new_nonce,
            d.new_account,
            d.new_order,
            d.revoke_cert,
            d.key_change,
            d.renewal_info,
        ] {
            touch(url);
        }
        if let Some(meta) = d.meta {
            let _ = meta.profiles.contains("default");
        }
    }
}

pub fn json_account(data: &[u8]) {
    if let Ok(a) = msg::parse::<msg::Account<'_>>(data) {
        touch(a.orders);
    }
    if let Ok(p) = msg::parse::<msg::OrdersPage<'_>>(data) {
        assert!(p.orders.as_slice().len() <= msg::MAX_ORDERS_PER_PAGE);
    }
}

pub fn json_order(data: &[u8]) {
    if let Ok(o) = msg::parse::<msg::Order<'_>>(data) {
        assert!(o.authorizations.as_slice().len() <= msg::MAX_AUTHORIZATIONS);
        touch(o.finalize);
        touch(o.certificate);
    }
}

pub fn json_authorization(data: &[u8]) {
    if let Ok(a) = msg::parse::<msg::Authorization<'_>>(data) {
        for c in a.challenges.as_slice() {
            touch(Some(c.url));
            touch(c.token);
        }
    }
}

pub fn json_challenge(data: &[u8]) {
    if let Ok(c) = msg::parse::<msg::Challenge<'_>>(data) {
        touch(Some(c.url));
    }
}

pub fn json_problem(data: &[u8]) {
    if let Ok(p) = msg::parse::<msg::Problem<'_>>(data) {
        let _ = p.kind();
        touch(p.detail);
        touch(p.instance);
    }
}

pub fn json_renewal_info(data: &[u8]) {
    if let Ok(r) = msg::parse::<msg::RenewalInfo<'_>>(data) {
        let (start, end) = r.suggested_window.bounds().expect("checked by parse");
        assert!(start <= end);
    }
}

/// The response parser over arbitrary bytes: framing never changes the
/// buffer, and reading agrees with probing.
pub fn http_response_head(data: &[u8]) {
    for head in [false, true] {
        for eof in [false, true] {
            let mut buf = data.to_vec();
            buf.resize(data.len() + 64, 0);
            let probed = probe_response(&buf, data.len(), head, eof);
            assert_eq!(
                &buf[..data.len()],
                data,
                "probing must not change the buffer"
            );
            let read = read_response(&mut buf, data.len(), head, eof);
            match (&probed, &read) {
                (
                    Ok(Some(n)),
                    Ok(ReadStatus::Complete {
                        consumed, response, ..
                    }),
                ) => {
                    assert_eq!(n, consumed);
                    assert!(*consumed <= data.len());
                    assert!(response.body.len() <= data.len());
                    let _ = response.headers.links("next").count();
                }
                (Ok(None), Ok(ReadStatus::Partial)) | (Err(_), Err(_)) => {}
                _ => panic!("probe {probed:?} and read disagree"),
            }
        }
    }
}

/// Arbitrary bytes as a chunked body.
pub fn http_chunked_body(data: &[u8]) {
    let mut buf = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let head = buf.len();
    buf.extend_from_slice(data);
    let filled = buf.len();
    buf.resize(filled + 32, 0);
    if let Ok(ReadStatus::Complete {
        response, consumed, ..
    }) = read_response(&mut buf, filled, false, false)
    {
        assert!(response.body.len() <= data.len());
        assert!(consumed <= filled && consumed > head);
    }
}

/// Arbitrary bytes as a Content-Length body: the first two bytes pick the
/// announced length.
pub fn http_content_length_body(data: &[u8]) {
    let (len, body) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
    let mut buf = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    let head = buf.len();
    buf.extend_from_slice(body);
    let filled = buf.len();
    buf.resize(filled + 16, 0);
    match read_response(&mut buf, filled, false, false) {
        Ok(ReadStatus::Complete {
            response, consumed, ..
        }) => {
            assert_eq!(response.body.len(), len);
            assert_eq!(consumed, head + len);
        }
        Ok(ReadStatus::Partial) => assert!(body.len() < len),
        Err(_) => assert!(len > buf.len() - head || body.len() < len),
    }
}

pub fn header_retry_after(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(RetryAfter::Seconds(s)) = RetryAfter::parse(text) {
            assert_eq!(text.trim_ascii().parse::<u64>().ok(), Some(s));
        }
        let _ = acme_core::time::parse_http_date(text);
        let _ = acme_core::time::parse_rfc3339(text);
    }
}

pub fn header_link(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut headers = AcmeHeaders::default();
        for part in text.split('\n') {
            headers.add("Link", part);
        }
        for rel in ["next", "alternate", "index", "up"] {
            for target in headers.links(rel) {
                assert!(!target.contains('>'));
            }
        }
    }
}

pub fn header_replay_nonce(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let mut headers = AcmeHeaders::default();
        headers.add("Replay-Nonce", text);
        if let Some(nonce) = headers.replay_nonce {
            assert!(!nonce.is_empty());
            assert!(nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }
}

pub fn pem_chain(data: &[u8]) {
    let mut buf = [0u8; 4096];
    for block in acme_core::pem::certificates(data).take(16) {
        let Ok(block) = block else { break };
        match block.decode(&mut buf) {
            Ok(der) => assert_eq!(der.len(), block.decoded_len()),
            Err(acme_core::Error::BufferTooSmall { required }) => {
                assert_eq!(required, block.decoded_len())
            }
            Err(_) => {}
        }
    }
}

pub fn certificate(data: &[u8]) {
    if let Ok(cert) = Certificate::from_der(data) {
        let _ = cert.not_before();
        let _ = cert.not_after();
        let _ = cert.authority_key_id();
        if let Some(names) = cert.subject_alt_names() {
            for _ in names {}
        }
        for _ in cert.extensions() {}
        let mut out = [0u8; 512];
        let _ = cert.write_ari_cert_id(&mut out);
        let _ = acme_core::PublicKey::from_spki_der(cert.spki_der());
        // The parts lie inside the input.
        assert!(cert.tbs_der().len() < data.len());
    }
}

pub fn base64url_decode(data: &[u8]) {
    let mut out = vec![0u8; data.len()];
    if let Ok(decoded) = b64::decode(data, &mut out) {
        let mut text = vec![0u8; data.len() + 4];
        let encoded = b64::encode(decoded, &mut text).expect("fits");
        assert_eq!(encoded.as_bytes(), data);
    }
}

pub fn eab_key(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = acme_core::eab::EabKey::from_base64url(text);
    }
}

// ----- the DER round trip -------------------------------------------------

/// Identifiers for the round trip.
#[derive(Debug, Arbitrary)]
pub struct RoundTrip {
    names: Vec<String>,
    ips: Vec<(bool, [u8; 16])>,
    common_name: Option<u8>,
    token: String,
}

/// Builds a CSR and a tls-alpn-01 certificate from arbitrary identifiers
/// and parses both back with `x509-cert` (the `der` crate's X.509 types):
/// what was written must be what is read.
pub fn der_roundtrip(input: &RoundTrip) {
    let key = SoftwareKey::from_scalar(&[0x42; 32]).unwrap();
    let mut ids: Vec<Identifier<'_>> = input.names.iter().map(|n| Identifier::Dns(n)).collect();
    for (v6, bytes) in &input.ips {
        let ip = if *v6 {
            IpAddr::V6(Ipv6Addr::from(*bytes))
        } else {
            IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
        };
        ids.push(Identifier::Ip(ip));
    }
    let cn = input
        .common_name
        .and_then(|i| input.names.get(usize::from(i)))
        .map(String::as_str);
    let mut out = vec![0u8; 4096];
    let written = write_csr(&mut out, &key, &ids, cn);
    // A 4 KiB buffer holds any CSR the core accepts identifiers for
    // (`MAX_CSR_LEN`), and the software signer does not fail: the only
    // refusal left is of the identifiers themselves.
    if let Err(e) = &written {
        assert!(
            matches!(e, acme_core::Error::Identifier(_)),
            "the CSR could not be written for a reason other than its identifiers: {e:?}"
        );
    }
    if let Ok(csr) = written {
        use der::Decode as _;
        let parsed = x509_cert::request::CertReq::from_der(csr).expect("our CSR parses");
        assert_eq!(
            parsed.info.public_key.subject_public_key.raw_bytes(),
            &key.public_key().to_uncompressed()[..]
        );
        // The subject is the common name asked for, or empty.
        match cn {
            Some(cn) => assert_eq!(parsed.info.subject.to_string(), format!("CN={cn}")),
            None => assert!(
                parsed.info.subject.0.is_empty(),
                "a subject nobody asked for"
            ),
        }
        let mut sans = Vec::new();
        for attr in parsed.info.attributes.iter() {
            for value in attr.values.iter() {
                let exts: x509_cert::ext::Extensions = value.decode_as().expect("extensions");
                for ext in exts {
                    let san =
                        x509_cert::ext::pkix::SubjectAltName::from_der(ext.extn_value.as_bytes())
                            .expect("SAN");
                    sans.extend(san.0);
                }
            }
        }
        assert_eq!(sans.len(), ids.len());
        for (san, id) in sans.iter().zip(&ids) {
            assert!(same_name(san, id), "SAN mismatch {san:?} for {id:?}");
        }
    }
    let thumbprint = key.public_key().thumbprint();
    if let (Some(first), Ok(ka)) = (
        ids.first(),
        KeyAuthorization::new(&input.token, &thumbprint),
    ) {
        let validity = Validity {
            not_before: 0,
            not_after: 1,
        };
        if let Ok(der) = write_tls_alpn01_certificate(&mut out, &key, first, &ka, validity) {
            use der::Decode as _;
            let cert = x509_cert::Certificate::from_der(der).expect("our certificate parses");
            // The responder's key, and the identifier as the only SAN.
            assert_eq!(
                cert.tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
                &key.public_key().to_uncompressed()[..]
            );
            let exts = cert.tbs_certificate.extensions.expect("extensions");
            let san = exts
                .iter()
                .find(|e| e.extn_id.to_string() == "2.5.29.17")
                .expect("subjectAltName");
            let san = x509_cert::ext::pkix::SubjectAltName::from_der(san.extn_value.as_bytes())
                .expect("SAN");
            assert_eq!(san.0.len(), 1);
            assert!(same_name(&san.0[0], first), "{:?} for {first:?}", san.0[0]);
            let acme = exts
                .iter()
                .find(|e| e.extn_id.to_string() == "1.3.6.1.5.5.7.1.31")
                .expect("acmeIdentifier");
            assert!(acme.critical);
            assert_eq!(&acme.extn_value.as_bytes()[2..], &ka.digest()[..]);
        }
    }
}

/// Whether a subjectAltName entry names `id`.
fn same_name(san: &x509_cert::ext::pkix::name::GeneralName, id: &Identifier<'_>) -> bool {
    use x509_cert::ext::pkix::name::GeneralName;
    match (san, id) {
        (GeneralName::DnsName(d), Identifier::Dns(n)) => d.as_str() == *n,
        (GeneralName::IpAddress(o), Identifier::Ip(IpAddr::V4(a))) => o.as_bytes() == a.octets(),
        (GeneralName::IpAddress(o), Identifier::Ip(IpAddr::V6(a))) => o.as_bytes() == a.octets(),
        _ => false,
    }
}

fn der_roundtrip_bytes(data: &[u8]) {
    // As libFuzzer's fuzz_target! decodes a typed input.
    if let Ok(input) = RoundTrip::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
        der_roundtrip(&input);
    }
}

// ----- the state machine ----------------------------------------------------

const DIRECTORY: &str = "https://ca.example/dir";

/// What the server answers to one request.
#[derive(Debug, Arbitrary)]
pub enum Reply {
    /// What a conforming CA answers to this request ([`CorrectServer`]).
    Correct,
    /// A scripted answer, whatever was asked.
    Scripted(ScriptedReply),
}

/// An arbitrary answer.
#[derive(Debug, Arbitrary)]
pub struct ScriptedReply {
    /// Drop the connection instead of answering.
    transport_error: bool,
    status: Status,
    /// Index of a fresh nonce to send (none when `None`).
    nonce: Option<u8>,
    location: Option<u8>,
    retry_after: Option<RetryChoice>,
    link: Option<(u8, bool)>,
    body: Body,
}

#[derive(Debug, Arbitrary)]
enum Status {
    Ok,
    Created,
    NoContent,
    BadRequest,
    Forbidden,
    NotAllowed,
    Unavailable,
    Redirect,
    Other(u16),
}

#[derive(Debug, Arbitrary)]
enum RetryChoice {
    Seconds(u16),
    Date,
    Garbage,
}

#[derive(Debug, Arbitrary)]
enum Body {
    Directory {
        renewal_info: bool,
        eab: bool,
    },
    Account(u8),
    Order {
        status: u8,
        authzs: u8,
        certificate: bool,
        finalize: bool,
    },
    Authorization {
        status: u8,
        challenges: Vec<(u8, u8)>,
        wildcard: bool,
        identifier: u8,
    },
    Challenge {
        status: u8,
    },
    Problem {
        kind: u8,
        subproblems: u8,
    },
    Certificate(u8),
    RenewalInfo,
    Raw(Vec<u8>),
    Empty,
}

fn url(i: u8) -> String {
    match i % 8 {
        7 => format!("https://evil.example/r/{i}"),
        6 => format!("http://ca.example/r/{i}"),
        5 => format!("https:\\/\\/ca.example\\/r\\/{i}"),
        _ => format!("https://ca.example/r/{i}"),
    }
}

fn status_word(i: u8, words: &[&str]) -> String {
    words
        .get(usize::from(i) % (words.len() + 1))
        .copied()
        .unwrap_or("bogus")
        .to_owned()
}

impl Body {
    fn render(&self) -> Vec<u8> {
        let text = match self {
            Body::Directory { renewal_info, eab } => {
                let ri = if *renewal_info { r#","renewalInfo":"https://ca.example/ari""# } else { "" };
                format!(
                    r#"{{"newNonce":"https://ca.example/nonce","newAccount":"https://ca.example/acct","newOrder":"https://ca.example/order","revokeCert":"https://ca.example/revoke","keyChange":"https://ca.example/kc"{ri},"meta":{{"externalAccountRequired":{eab},"profiles":{{"a":"b"}}}}}}"#
                )
            }
            Body::Account(s) => format!(r#"{{"status":"{}","orders":"https://ca.example/orders"}}"#, status_word(*s, &["valid", "deactivated", "revoked"])),
            Body::Order { status, authzs, certificate, finalize } => {
                let list: Vec<String> = (0..authzs % 4).map(|i| format!("\"{}\"", url(i))).collect();
                let mut o = format!(
                    r#"{{"status":"{}","identifiers":[{{"type":"dns","value":"device.example.com"}}],"authorizations":[{}]"#,
                    status_word(*status, &["pending", "ready", "processing", "valid", "invalid"]),
                    list.join(",")
                );
                if *finalize {
                    o.push_str(r#","finalize":"https://ca.example/fin""#);
                }
                if *certificate {
                    o.push_str(r#","certificate":"https://ca.example/cert""#);
                }
                o.push_str(r#","error":{"type":"urn:ietf:params:acme:error:rejectedIdentifier","subproblems":[{"identifier":{"type":"dns","value":"x"}}]}}"#);
                o
            }
            Body::Authorization { status, challenges, wildcard, identifier } => {
                let cs: Vec<String> = challenges
                    .iter()
                    .take(10)
                    .map(|(t, s)| {
                        format!(
                            r#"{{"type":"{}","url":"{}","token":"tok{t}_{s}","status":"{}"}}"#,
                            status_word(*t, &["http-01", "dns-01", "tls-alpn-01"]),
                            url(*t),
                            status_word(*s, &["pending", "processing", "valid", "invalid"])
                        )
                    })
                    .collect();
                let value = if identifier % 2 == 0 { "device.example.com" } else { "other.example.com" };
                format!(
                    r#"{{"identifier":{{"type":"dns","value":"{value}"}},"status":"{}","wildcard":{wildcard},"challenges":[{}]}}"#,
                    status_word(*status, &["pending", "valid", "invalid", "deactivated", "expired"]),
                    cs.join(",")
                )
            }
            Body::Challenge { status } => format!(
                r#"{{"type":"http-01","url":"https://ca.example/c","token":"t","status":"{}"}}"#,
                status_word(*status, &["pending", "processing", "valid", "invalid"])
            ),
            Body::Problem { kind, subproblems } => {
                let kinds = ["badNonce", "rateLimited", "serverInternal", "orderNotReady", "userActionRequired", "unauthorized", "alreadyRevoked", "malformed"];
                let subs: Vec<&str> = (0..subproblems % 10).map(|_| r#"{"type":"urn:ietf:params:acme:error:dns","identifier":{"type":"dns","value":"a"}}"#).collect();
                format!(
                    r#"{{"type":"urn:ietf:params:acme:error:{}","detail":"d","instance":"https://ca.example/i","subproblems":[{}]}}"#,
                    status_word(*kind, &kinds),
                    subs.join(",")
                )
            }
            Body::Certificate(i) => {
                return match i % 4 {
                    0 => include_bytes!("../data/match.pem").to_vec(),
                    1 => include_bytes!("../data/wrong-key.pem").to_vec(),
                    2 => include_bytes!("../data/wrong-san.pem").to_vec(),
                    _ => b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
                }
            }
            Body::RenewalInfo => r#"{"suggestedWindow":{"start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z"}}"#.to_owned(),
            Body::Raw(bytes) => return bytes.clone(),
            Body::Empty => String::new(),
        };
        text.into_bytes()
    }
}

impl ScriptedReply {
    fn render(&self, nonce_counter: &mut u32) -> Vec<u8> {
        let status = match self.status {
            Status::Ok => 200,
            Status::Created => 201,
            Status::NoContent => 204,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotAllowed => 405,
            Status::Unavailable => 503,
            Status::Redirect => 302,
            Status::Other(s) => 100 + s % 500,
        };
        let body = self.body.render();
        let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
        if self.nonce.is_some() {
            // The server hands out a fresh nonce each time.
            *nonce_counter += 1;
            head.push_str(&format!("Replay-Nonce: n{nonce_counter}\r\n"));
        }
        if let Some(l) = self.location {
            head.push_str(&format!("Location: {}\r\n", url(l)));
        }
        match &self.retry_after {
            Some(RetryChoice::Seconds(s)) => head.push_str(&format!("Retry-After: {s}\r\n")),
            Some(RetryChoice::Date) => head.push_str("Retry-After: Thu, 01 Jan 2026 00:00:30 GMT\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"),
            Some(RetryChoice::Garbage) => head.push_str("Retry-After: soon\r\n"),
            None => {}
        }
        if let Some((l, alt)) = self.link {
            head.push_str(&format!(
                "Link: <{}>;rel=\"{}\"\r\n",
                url(l),
                if alt { "alternate" } else { "next" }
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// A CA that answers each request as RFC 8555 says, for one order of
/// `device.example.com` with one http-01 authorization, handing out a
/// fresh nonce every time.
#[derive(Debug, Default)]
struct CorrectServer {
    challenge_answered: bool,
    finalized: bool,
}

impl CorrectServer {
    fn answer(&mut self, request: &[u8], nonce_counter: &mut u32) -> Vec<u8> {
        let line = request.split(|b| *b == b'\r').next().unwrap_or(&[]);
        let line = String::from_utf8_lossy(line);
        let mut words = line.split(' ');
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let order = |status: &str, certificate: bool| {
            let cert = if certificate {
                r#","certificate":"https://ca.example/cert""#
            } else {
                ""
            };
            format!(
                r#"{{"status":"{status}","identifiers":[{{"type":"dns","value":"device.example.com"}}],"authorizations":["https://ca.example/authz/1"],"finalize":"https://ca.example/fin"{cert}}}"#
            )
        };
        let challenge = |status: &str| {
            format!(
                r#"{{"type":"http-01","url":"https://ca.example/chall/1","token":"tok3n","status":"{status}"}}"#
            )
        };
        let (status, location, content_type, body) = match (method, path) {
            ("GET", "/dir") => (200, None, "application/json", Body::Directory { renewal_info: false, eab: false }.render()),
            ("HEAD", "/nonce") => (200, None, "", Vec::new()),
            ("POST", "/acct") => (201, Some("https://ca.example/acct/1"), "application/json", br#"{"status":"valid","orders":"https://ca.example/orders"}"#.to_vec()),
            ("POST", "/order") => (201, Some("https://ca.example/order/1"), "application/json", order("pending", false).into_bytes()),
            ("POST", "/authz/1") => {
                let (authz, chall) = if self.challenge_answered { ("valid", "valid") } else { ("pending", "pending") };
                let body = format!(
                    r#"{{"identifier":{{"type":"dns","value":"device.example.com"}},"status":"{authz}","challenges":[{}]}}"#,
                    challenge(chall)
                );
                (200, None, "application/json", body.into_bytes())
            }
            ("POST", "/chall/1") => {
                self.challenge_answered = true;
                (200, None, "application/json", challenge("valid").into_bytes())
            }
            ("POST", "/order/1") => {
                let body = match (self.finalized, self.challenge_answered) {
                    (true, _) => order("valid", true),
                    (false, true) => order("ready", false),
                    (false, false) => order("pending", false),
                };
                (200, None, "application/json", body.into_bytes())
            }
            ("POST", "/fin") if self.challenge_answered => {
                self.finalized = true;
                (200, Some("https://ca.example/order/1"), "application/json", order("valid", true).into_bytes())
            }
            ("POST", "/cert") if self.finalized => (200, None, "application/pem-certificate-chain", Body::Certificate(0).render()),
            _ => (403, None, "application/problem+json", br#"{"type":"urn:ietf:params:acme:error:unauthorized","detail":"not for this order"}"#.to_vec()),
        };
        *nonce_counter += 1;
        let mut head = format!("HTTP/1.1 {status} X\r\nReplay-Nonce: n{nonce_counter}\r\n");
        if !content_type.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(location) = location {
            head.push_str(&format!("Location: {location}\r\n"));
        }
        // A HEAD answer has no body, whatever its Content-Length.
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

/// A whole scripted exchange.
#[derive(Debug, Arbitrary)]
pub struct Script {
    goal: u8,
    tx_len: u16,
    replies: Vec<Reply>,
}

/// Feeds arbitrary responses through the public adapter API and checks:
/// * every POST carries a JWS nonce never used before;
/// * every request the client reports fits the buffer it was lent, and a
///   buffer too small is reported with a size larger than it;
/// * the flow ends, in success or a typed error, within a bounded number
///   of steps once the script runs out;
/// * a certificate is delivered only when it matches the CSR.
pub fn client_flow(script: &Script) {
    let _ = run_flow(script);
}

/// [`client_flow`]'s body: whether a certificate was delivered.
fn run_flow(script: &Script) -> bool {
    let account = SoftwareKey::from_scalar(&[0x11; 32]).unwrap();
    let device = SoftwareKey::from_scalar(&[0x22; 32]).unwrap();
    let config = Config::new(DIRECTORY);
    let ids = [Identifier::Dns("device.example.com")];
    let goal = match script.goal % 6 {
        0 | 1 => Goal::Enrol(OrderRequest::new(&ids)),
        2 => Goal::ListOrders,
        3 => Goal::RenewalInfo {
            cert_id: "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
        },
        4 => Goal::DeactivateAccount,
        _ => Goal::UpdateContact(&["mailto:a@example.com"]),
    };
    let mut client: Client<'_> = Client::new(&config, &account, goal)
        .unwrap()
        .with_device_key(&device);
    let tx_len = 256 + usize::from(script.tx_len % 4096);
    let mut tx = vec![0u8; tx_len];
    let mut server = CorrectServer::default();
    let mut delivered = false;
    let mut used_nonces = HashSet::new();
    let mut nonce_counter = 0u32;
    let mut now = Instant(0);
    let mut replies = script.replies.iter();
    let mut exhausted_steps = 0usize;
    for _step in 0..20_000 {
        while let Some(event) = client.poll_event() {
            if let Event::Provision(task) = event {
                client.challenge_ready(task.id);
            }
        }
        if client.is_finished() {
            return delivered;
        }
        let request = match client.poll_transmit(now, &mut tx) {
            Ok(Some(t)) => {
                assert!(t.len <= tx_len, "a request of {} bytes in {tx_len}", t.len);
                Some((t.len, t.method))
            }
            Ok(None) => None,
            Err(acme_core::Error::BufferTooSmall { required }) => {
                assert!(required > tx_len);
                return delivered;
            }
            Err(_) => return delivered,
        };
        let Some((len, method)) = request else {
            match client.poll_timeout() {
                Some(t) => {
                    assert!(t >= now);
                    now = t;
                    client.handle_timeout(now);
                    continue;
                }
                None => {
                    // Waiting for nothing: only allowed once finished.
                    assert!(client.is_finished(), "stuck");
                    return delivered;
                }
            }
        };
        if method == acme_core::http::Method::Post {
            let nonce = jws_nonce(&tx[..len]).expect("a POST without a JWS nonce");
            assert!(
                used_nonces.insert(nonce.clone()),
                "nonce {nonce} used twice"
            );
        }
        let Some(reply) = replies.next() else {
            // The server is gone: every request fails; the client must give
            // up within its retry budget.
            exhausted_steps += 1;
            assert!(exhausted_steps <= 8, "no end after the script ran out");
            let _ = client.handle_transport_error(now);
            continue;
        };
        let mut rx = match reply {
            Reply::Correct => server.answer(&tx[..len], &mut nonce_counter),
            Reply::Scripted(scripted) if scripted.transport_error => {
                let _ = client.handle_transport_error(now);
                continue;
            }
            Reply::Scripted(scripted) => scripted.render(&mut nonce_counter),
        };
        let filled = rx.len();
        rx.resize(filled + 16, 0);
        let head = method == acme_core::http::Method::Head;
        let response = match read_response(&mut rx, filled, head, true) {
            Ok(ReadStatus::Complete { response, .. }) => response,
            _ => {
                let _ = client.handle_transport_error(now);
                continue;
            }
        };
        let response: Response<'_> = response;
        let mut scratch = vec![0u8; 4096];
        if let Ok(Handled::Certificate { pem, .. }) =
            client.handle_response(now, &response, &mut scratch)
        {
            assert_matches_csr(pem, &device, "device.example.com");
            delivered = true;
        }
        now = now.plus_millis(1);
    }
    panic!("no end within 20000 steps");
}

/// The nonce in a request's JWS, if it is a POST with a JWS body.
fn jws_nonce(request: &[u8]) -> Option<String> {
    let split = request.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body: serde_json::Value = serde_json::from_slice(&request[split..]).ok()?;
    let protected = body["protected"].as_str()?;
    let mut decoded = vec![0u8; protected.len()];
    let n = b64::decode(protected.as_bytes(), &mut decoded).ok()?.len();
    let header: serde_json::Value = serde_json::from_slice(&decoded[..n]).ok()?;
    header["nonce"].as_str().map(str::to_owned)
}

/// Checks, with x509-cert rather than acme-core, that the leaf has the
/// device key and exactly the one requested name.
fn assert_matches_csr(pem: &[u8], device: &SoftwareKey, name: &str) {
    use der::{Decode as _, DecodePem as _};
    let text = std::str::from_utf8(pem).expect("delivered chain is text");
    let leaf_pem = text
        .split_inclusive("-----END CERTIFICATE-----")
        .next()
        .expect("a block");
    let cert =
        x509_cert::Certificate::from_pem(leaf_pem.trim_start()).expect("delivered leaf parses");
    assert_eq!(
        cert.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
        &device.public_key().to_uncompressed()[..],
        "delivered a certificate for another key"
    );
    let exts = cert.tbs_certificate.extensions.expect("extensions");
    let san = exts
        .iter()
        .find(|e| e.extn_id.to_string() == "2.5.29.17")
        .expect("SAN");
    let san = x509_cert::ext::pkix::SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
    let names: Vec<String> = san
        .0
        .iter()
        .map(|n| match n {
            x509_cert::ext::pkix::name::GeneralName::DnsName(d) => d.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(names, [name], "delivered a certificate for other names");
}

fn client_flow_bytes(data: &[u8]) {
    let _ = client_flow_delivers(data);
}

/// Runs `data` through [`client_flow`], decoded as libFuzzer decodes a
/// typed input; whether a certificate was delivered.
#[must_use]
pub fn client_flow_delivers(data: &[u8]) -> bool {
    match Script::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
        Ok(script) => run_flow(&script),
        Err(_) => false,
    }
}

/// The committed seed `fuzz/seeds/client_flow/correct-server`: an
/// enrolment (goal 0) with a 4 KiB transmit buffer against a server that
/// answers every request correctly (each reply a continue byte, 1, then
/// variant 0 in four zero bytes, as `arbitrary` 1.5 reads the last field's
/// list), so that the fuzzer starts from a whole enrolment and mutates it.
#[must_use]
pub fn correct_server_seed() -> Vec<u8> {
    let mut seed = vec![0u8, 0xff, 0x0f];
    for _ in 0..CORRECT_SERVER_REPLIES {
        seed.extend_from_slice(&[1, 0, 0, 0, 0]);
    }
    seed
}

/// Replies in [`correct_server_seed`]: more than an enrolment takes.
pub const CORRECT_SERVER_REPLIES: usize = 24;
