//! Parsing of every ACME object, including the shapes of the servers the
//! project started from and hostile input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::panic
)]

use acme_core::msg::{
    parse, Account, AccountStatus, Authorization, AuthorizationStatus, Challenge, ChallengeStatus,
    ChallengeType, Directory, IdentifierType, JsonError, Order, OrderStatus, OrdersPage, Problem,
    ProblemType, RenewalInfo,
};
use acme_core::time::UnixTime;
use acme_core::Error;

#[test]
fn pebble_directory() {
    let body = br#"{
   "keyChange": "https://localhost:14000/rollover-account-key",
   "meta": {
      "externalAccountRequired": false,
      "termsOfService": "data:text/plain,Do%20what%20thou%20wilt",
      "profiles": {"default": "The profile you know and love", "shortlived": "A short-lived cert profile"}
   },
   "newAccount": "https://localhost:14000/sign-me-up",
   "newNonce": "https://localhost:14000/nonce-plz",
   "newOrder": "https://localhost:14000/order-plz",
   "revokeCert": "https://localhost:14000/revoke-cert",
   "renewalInfo": "https://localhost:14000/draft-ietf-acme-ari-03/renewalInfo/"
}"#;
    let d: Directory = parse(body).unwrap();
    assert_eq!(
        d.new_nonce.unwrap().raw(),
        "https://localhost:14000/nonce-plz"
    );
    assert_eq!(
        d.key_change.unwrap().raw(),
        "https://localhost:14000/rollover-account-key"
    );
    let meta = d.meta.unwrap();
    assert!(!meta.external_account_required);
    assert!(meta.profiles.contains("shortlived"));
    assert!(!meta.profiles.contains("long"));
    assert!(d.renewal_info.is_some());
}

#[test]
fn seed_directories_with_escaped_slashes_and_caa() {
    let body = br#"{"newNonce":"https:\/\/upki-ra:8000\/acme\/new-nonce","newAccount":"https://upki-ra:8000/acme/new-account","newOrder":"https://upki-ra:8000/acme/new-order","revokeCert":"https://upki-ra:8000/acme/revoke-cert","keyChange":"https://upki-ra:8000/acme/key-change","meta":{"termsOfService":"https://upki-ra:8000/acme/terms","caaIdentities":["upki.example"],"website":"https://upki.example"}}"#;
    let d: Directory = parse(body).unwrap();
    assert!(d
        .new_nonce
        .unwrap()
        .unescaped_eq("https://upki-ra:8000/acme/new-nonce"));
    let meta = d.meta.unwrap();
    assert_eq!(meta.caa_identities.as_slice()[0].raw(), "upki.example");
    assert!(d.renewal_info.is_none());
}

#[test]
fn orders_in_every_state() {
    let body = br#"{"status":"pending","expires":"2026-01-08T00:00:00Z","identifiers":[{"type":"dns","value":"a.example"},{"type":"ip","value":"192.0.2.1"},{"type":"email","value":"x"}],"authorizations":["https://ca/authz/1","https://ca/authz/2"],"finalize":"https://ca/order/1/finalize","profile":"shortlived","replaces":"aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE","unknownField":{"nested":[1,2,{"x":null}]}}"#;
    let o: Order = parse(body).unwrap();
    assert_eq!(o.status, OrderStatus::Pending);
    let kinds: Vec<_> = o.identifiers.as_slice().iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [
            IdentifierType::Dns,
            IdentifierType::Ip,
            IdentifierType::Unknown
        ]
    );
    assert_eq!(o.authorizations.as_slice().len(), 2);
    assert_eq!(o.profile.unwrap().raw(), "shortlived");
    assert_eq!(
        o.replaces.unwrap().raw(),
        "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    );
    for (status, expected) in [
        ("ready", OrderStatus::Ready),
        ("processing", OrderStatus::Processing),
        ("valid", OrderStatus::Valid),
        ("invalid", OrderStatus::Invalid),
        ("archived", OrderStatus::Unknown),
    ] {
        let body = format!(
            r#"{{"status":"{status}","identifiers":[],"authorizations":[],"finalize":"f"}}"#
        );
        assert_eq!(parse::<Order>(body.as_bytes()).unwrap().status, expected);
    }
}

#[test]
fn invalid_order_keeps_its_problem_and_subproblems() {
    let body = br#"{"status":"invalid","identifiers":[],"authorizations":[],"finalize":"f","error":{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Some identifiers were rejected","status":400,"subproblems":[{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"bad \"name\"","identifier":{"type":"dns","value":"bad.example"}},{}],"algorithms":["ES256"]}}"#;
    let o: Order = parse(body).unwrap();
    let e = o.error.unwrap();
    assert_eq!(e.kind(), ProblemType::RejectedIdentifier);
    assert_eq!(e.status, Some(400));
    let sub = &e.subproblems.as_slice()[0];
    assert_eq!(sub.identifier.unwrap().value.raw(), "bad.example");
    assert!(sub.detail.unwrap().unescaped_eq("bad \"name\""));
    assert_eq!(e.subproblems.as_slice().len(), 2);
}

#[test]
fn authorizations_and_challenges() {
    let body = br#"{"status":"pending","identifier":{"type":"dns","value":"example.com"},"wildcard":true,"expires":"2026-01-08T00:00:00Z","challenges":[
        {"type":"http-01","url":"https://ca/chall/1","token":"tok1","status":"pending"},
        {"type":"dns-01","url":"https://ca/chall/2","token":"tok2","status":"pending"},
        {"type":"tls-alpn-01","url":"https://ca/chall/3","token":"tok3","status":"pending"},
        {"type":"device-attest-01","url":"https://ca/chall/4","status":"pending","extra":{"a":[1]}},
        {"type":"dns-account-01","url":"https://ca/chall/5","token":"t","status":"quantum"}]}"#;
    let a: Authorization = parse(body).unwrap();
    assert_eq!(a.status, AuthorizationStatus::Pending);
    assert!(a.wildcard);
    // The two of types the client does not know are skipped.
    let types: Vec<_> = a.challenges.as_slice().iter().map(|c| c.kind).collect();
    assert_eq!(
        types,
        [
            ChallengeType::Http01,
            ChallengeType::Dns01,
            ChallengeType::TlsAlpn01
        ]
    );
    let odd: Challenge =
        parse(br#"{"type":"http-01","url":"u","token":"t","status":"quantum"}"#).unwrap();
    assert_eq!(odd.status, ChallengeStatus::Unknown);
    let c: Challenge = parse(br#"{"type":"http-01","url":"u","token":"t","status":"invalid","validated":"2026-01-01T00:00:00Z","error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}}"#).unwrap();
    assert_eq!(c.status, ChallengeStatus::Invalid);
    assert_eq!(c.error.unwrap().kind(), ProblemType::Validation);
    assert_eq!(c.validated.unwrap().raw(), "2026-01-01T00:00:00Z");
}

#[test]
fn problems_accounts_orders_lists_and_renewal_info() {
    let p: Problem = parse(br#"{"type":"urn:ietf:params:acme:error:userActionRequired","detail":"Terms changed","instance":"https://ca/tos-accept","status":403}"#).unwrap();
    assert_eq!(p.kind(), ProblemType::UserActionRequired);
    assert_eq!(p.instance.unwrap().raw(), "https://ca/tos-accept");
    let p: Problem = parse(br#"{"type":"about:blank","title":"Not Found"}"#).unwrap();
    assert_eq!(p.kind(), ProblemType::Other);
    let a: Account = parse(br#"{"status":"valid","contact":["mailto:a@example.com"],"orders":"https://ca/acct/1/orders","key":{"kty":"EC"}}"#).unwrap();
    assert_eq!(a.status, AccountStatus::Valid);
    assert_eq!(a.orders.unwrap().raw(), "https://ca/acct/1/orders");
    let a: Account = parse(br#"{"status":"deactivated"}"#).unwrap();
    assert_eq!(a.status, AccountStatus::Deactivated);
    let page: OrdersPage =
        parse(br#"{"orders":["https://ca/order/1","https://ca/order/2"]}"#).unwrap();
    assert_eq!(page.orders.as_slice().len(), 2);
    let r: RenewalInfo = parse(br#"{"suggestedWindow":{"start":"2026-02-01T00:00:00Z","end":"2026-02-03T00:00:00Z"},"explanationURL":"https://ca/why"}"#).unwrap();
    assert_eq!(
        r.suggested_window.bounds(),
        Some((UnixTime(1_769_904_000), UnixTime(1_770_076_800)))
    );
    assert_eq!(r.explanation_url.unwrap().raw(), "https://ca/why");
    // A window that ends before it starts is refused.
    assert_eq!(
        parse::<RenewalInfo>(
            br#"{"suggestedWindow":{"start":"2026-02-03T00:00:00Z","end":"2026-02-01T00:00:00Z"}}"#
        ),
        Err(Error::Json(JsonError::Schema))
    );
}

#[test]
fn hostile_bodies_give_typed_errors() {
    let cases: [(&[u8], JsonError); 14] = [
        (b"<html><body>502 Bad Gateway</body></html>", JsonError::Syntax),
        // JSON, but not an object: the wrong shape, not "not JSON".
        (b"[[[[]]]]", JsonError::Schema),
        (b" \"status\"", JsonError::Schema),
        (b"42", JsonError::Schema),
        (b"null", JsonError::Schema),
        (b"", JsonError::Truncated),
        (br#"{"status":"valid","contact":"not-a-list"}"#, JsonError::Schema),
        (br#"{"status":true}"#, JsonError::Schema),
        (br#"{"status":7}"#, JsonError::Schema),
        (br#"{"status":"valid","status":"deactivated"}"#, JsonError::Schema),
        (br#"{"contact":[]}"#, JsonError::Schema),
        (b"{\"status\":\"valid\",\"orders\":\"\xff\xfe\"}", JsonError::InvalidString),
        (br#"{"status":"valid""#, JsonError::Truncated),
        (br#"{"status":"valid","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#, JsonError::TooDeep),
    ];
    for (body, expected) in cases {
        assert_eq!(
            parse::<Account>(body),
            Err(Error::Json(expected)),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A huge nesting depth never reaches the recursive parser.
    let mut deep = b"{\"status\":\"valid\",\"x\":".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    assert_eq!(
        parse::<Account>(&deep),
        Err(Error::Json(JsonError::TooDeep))
    );
}

#[test]
fn lists_past_their_limits_name_the_limit() {
    let urls: Vec<String> = (0..9)
        .map(|i| format!("\"https://ca/authz/{i}\""))
        .collect();
    let body = format!(
        r#"{{"status":"pending","authorizations":[{}],"finalize":"f"}}"#,
        urls.join(",")
    );
    assert_eq!(
        parse::<Order>(body.as_bytes()),
        Err(Error::LimitExceeded {
            limit: "MAX_AUTHORIZATIONS",
            max: 8
        })
    );
    let challenges: Vec<String> = (0..9)
        .map(|i| format!(r#"{{"type":"http-01","url":"u{i}","token":"t","status":"pending"}}"#))
        .collect();
    let body = format!(
        r#"{{"status":"pending","identifier":{{"type":"dns","value":"a"}},"challenges":[{}]}}"#,
        challenges.join(",")
    );
    assert_eq!(
        parse::<Authorization>(body.as_bytes()),
        Err(Error::LimitExceeded {
            limit: "MAX_CHALLENGES",
            max: 4
        })
    );
}

#[test]
fn challenges_of_unknown_types_are_skipped_not_counted() {
    // Six types the client does not know, around three it does: the three
    // are kept, in order, and the others count against no limit.
    let unknown = |i: usize| {
        format!(r#"{{"type":"future-0{i}","url":"x{i}","token":"t","status":"pending"}}"#)
    };
    let known = |kind: &str| {
        format!(r#"{{"type":"{kind}","url":"{kind}","token":"t","status":"pending"}}"#)
    };
    let list = [
        unknown(1),
        known("dns-01"),
        unknown(2),
        unknown(3),
        known("http-01"),
        unknown(4),
        unknown(5),
        known("tls-alpn-01"),
        unknown(6),
    ];
    let body = format!(
        r#"{{"status":"pending","identifier":{{"type":"dns","value":"a"}},"challenges":[{}]}}"#,
        list.join(",")
    );
    let authz = parse::<Authorization>(body.as_bytes()).unwrap();
    let kinds: Vec<_> = authz.challenges.as_slice().iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ChallengeType::Dns01,
            ChallengeType::Http01,
            ChallengeType::TlsAlpn01
        ]
    );
    assert!(!authz.challenges.overflowed());
}
