//! The fault proxy of `acme_tests::fault_proxy` itself, in front of a real
//! Pebble (Debian package `pebble`), driven by acme-host's transport: the
//! directory it relays names the proxy in every URL (Pebble builds them
//! from the `Host` header, passed through unchanged), scripted answers and
//! resets reach the client, rules fire on the right request, and the log
//! says what reached Pebble.
//!
//! Fails, with the command that installs it, when Pebble is missing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use acme_tests::fault_proxy::{https_get, Fault, FaultProxy, Rule, Scripted};
use acme_tests::start_pebble_always_valid;

/// GETs `url` on a new connection trusting `proxy`'s CA (a kept-alive one
/// would send a GET again after a reset): status and body, or the error.
fn get(proxy: &FaultProxy, url: &str) -> std::io::Result<(u16, String)> {
    https_get(proxy.ca_file(), url)
}

#[test]
fn the_proxy_relays_pebble_under_its_own_name_and_applies_its_script() {
    let pebble = start_pebble_always_valid();
    let proxy = FaultProxy::start(&pebble.directory_url, &pebble.ca_file).unwrap();
    let directory = proxy.directory_url();
    let port = proxy.local_addr().port();

    // Forwarded: every URL of the directory is on the proxy.
    let (status, body) = get(&proxy, &directory).unwrap();
    assert_eq!(status, 200, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    let new_order = value["newOrder"].as_str().unwrap();
    assert_eq!(new_order, format!("https://localhost:{port}/order-plz"));
    for url in value
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_str())
    {
        assert!(
            url.starts_with(&format!("https://localhost:{port}/")),
            "{url}"
        );
    }

    // The second GET of the directory is answered by the script; the
    // third is reset before Pebble sees it; the fourth is forwarded and
    // rewritten.
    proxy.set_script(vec![
        Rule::on("GET", "/dir", Fault::unavailable(7)).nth(2),
        Rule::on("GET", "/dir", Fault::ResetBeforeForwarding).nth(3),
        Rule::on(
            "GET",
            "/dir",
            Fault::rewrite(|answer| answer.body = b"rewritten".to_vec()),
        )
        .nth(4),
    ]);
    assert_eq!(get(&proxy, &directory).unwrap().0, 200);
    let (status, body) = get(&proxy, &directory).unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("serverInternal"), "{body}");
    let reset = get(&proxy, &directory).unwrap_err();
    assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset, "{reset}");
    assert_eq!(
        get(&proxy, &directory).unwrap(),
        (200, "rewritten".to_owned())
    );
    assert_eq!(get(&proxy, &directory).unwrap().0, 200);

    // Raw bytes and garbage.
    proxy.set_script(vec![Rule::any(Fault::Raw(
        Scripted::new(418).body("teapot").to_bytes(false),
    ))
    .times(1)]);
    assert_eq!(get(&proxy, &directory).unwrap(), (418, "teapot".to_owned()));
    proxy.set_script(vec![
        Rule::any(Fault::Garbage(b"\0\0garbage".to_vec())).times(1)
    ]);
    assert!(get(&proxy, &directory).is_err());
    assert_eq!(get(&proxy, &directory).unwrap().0, 200);

    let log = proxy.requests();
    let faults: Vec<&str> = log.iter().map(|s| s.fault).collect();
    assert_eq!(
        faults,
        [
            "forward",
            "forward",
            "respond",
            "reset-before",
            "rewrite",
            "forward",
            "raw",
            "garbage",
            "forward"
        ]
    );
    let forwarded: Vec<bool> = log.iter().map(|s| s.forwarded).collect();
    assert_eq!(
        forwarded,
        [true, true, false, false, true, true, false, false, true]
    );
    assert!(log
        .iter()
        .all(|s| s.method == "GET" && s.path == "/dir" && s.host == format!("localhost:{port}")));
    assert_eq!(proxy.forwarded("GET", "/dir"), 5);
    assert_eq!(proxy.faults_fired(), 5);
}
