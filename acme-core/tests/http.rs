//! The HTTP/1.1 codec: request heads, response framing, ACME headers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::panic
)]

use acme_core::http::{
    read_response, write_request_head, HttpError, Method, ReadStatus, RetryAfter, Url, UrlError,
};
use acme_core::time::UnixTime;
use acme_core::Error;

#[test]
fn urls() {
    let u = Url::parse("https://ca.example/acme/dir").unwrap();
    assert_eq!((u.host, u.port, u.path), ("ca.example", 443, "/acme/dir"));
    let u = Url::parse("https://127.0.0.1:14000/dir?x=1#frag").unwrap();
    assert_eq!((u.host, u.port, u.path), ("127.0.0.1", 14000, "/dir?x=1"));
    let u = Url::parse("HTTPS://[::1]:8443").unwrap();
    assert_eq!((u.host, u.port, u.path), ("[::1]", 8443, "/"));
    assert_eq!(Url::parse("http://ca.example/"), Err(UrlError::NotHttps));
    assert_eq!(Url::parse("ftp://x"), Err(UrlError::NotHttps));
    assert_eq!(
        Url::parse("https://u@ca.example/"),
        Err(UrlError::HasUserinfo)
    );
    for bad in [
        "https://",
        "https://:443/",
        "https://h:0/",
        "https://h:99999/",
        "https://h:x/",
        "https://h/a b",
        "https://h?q",
        "https://[::1/",
    ] {
        assert_eq!(Url::parse(bad), Err(UrlError::Malformed), "{bad}");
    }
    let a = Url::parse("https://CA.example/x").unwrap();
    assert!(a.same_origin(&Url::parse("https://ca.example:443/y").unwrap()));
    assert!(!a.same_origin(&Url::parse("https://ca.example:444/y").unwrap()));
    assert!(!a.same_origin(&Url::parse("https://evil.example/y").unwrap()));
}

#[test]
fn request_heads() {
    let mut out = [0u8; 256];
    let url = Url::parse("https://localhost:14000/order/1").unwrap();
    let n = write_request_head(&mut out, Method::Post, &url, Some(321)).unwrap();
    let head = std::str::from_utf8(&out[..n]).unwrap();
    assert_eq!(
        head,
        format!(
            "POST /order/1 HTTP/1.1\r\nHost: localhost:14000\r\nUser-Agent: {}\r\nContent-Type: application/jose+json\r\nContent-Length: 321\r\n\r\n",
            acme_core::http::USER_AGENT
        )
    );
    let url = Url::parse("https://ca.example/nonce").unwrap();
    let n = write_request_head(&mut out, Method::Head, &url, None).unwrap();
    let head = std::str::from_utf8(&out[..n]).unwrap();
    assert!(
        head.starts_with("HEAD /nonce HTTP/1.1\r\nHost: ca.example\r\n"),
        "{head}"
    );
    assert!(!head.contains("Content-Length"));
    let mut small = [0u8; 10];
    assert_eq!(
        write_request_head(&mut small, Method::Head, &url, None),
        Err(Error::BufferTooSmall { required: n })
    );
}

fn complete(buf: &mut [u8], filled: usize) -> (u16, Vec<u8>, usize, bool) {
    match read_response(buf, filled, false, false).unwrap() {
        ReadStatus::Complete {
            response,
            consumed,
            close,
        } => (response.status, response.body.to_vec(), consumed, close),
        ReadStatus::Partial => panic!("partial"),
    }
}

#[test]
fn content_length_bodies_arrive_in_pieces() {
    let wire = b"HTTP/1.1 201 Created\r\nReplay-Nonce: abc_-1\r\nLocation: https://ca/acct/1\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1";
    let mut buf = [0u8; 512];
    for cut in 0..wire.len() - 13 {
        buf[..cut].copy_from_slice(&wire[..cut]);
        assert_eq!(
            read_response(&mut buf, cut, false, false).unwrap(),
            ReadStatus::Partial,
            "cut {cut}"
        );
    }
    buf[..wire.len()].copy_from_slice(wire);
    match read_response(&mut buf, wire.len(), false, false).unwrap() {
        ReadStatus::Complete {
            response,
            consumed,
            close,
        } => {
            assert_eq!(response.status, 201);
            assert_eq!(response.body, b"hello");
            assert_eq!(response.headers.replay_nonce, Some("abc_-1"));
            assert_eq!(response.headers.location, Some("https://ca/acct/1"));
            assert_eq!(
                consumed,
                wire.len() - 8,
                "the next response's bytes are left"
            );
            assert!(!close);
        }
        ReadStatus::Partial => panic!(),
    }
}

#[test]
fn chunked_bodies_are_decoded_in_place() {
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json; charset=utf-8\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nTrailer: x\r\n\r\n";
    let mut buf = [0u8; 512];
    for cut in 0..wire.len() {
        buf[..cut].copy_from_slice(&wire[..cut]);
        let before = buf;
        assert_eq!(
            read_response(&mut buf, cut, false, false).unwrap(),
            ReadStatus::Partial,
            "cut {cut}"
        );
        assert_eq!(buf, before, "nothing moves until the body is whole");
    }
    buf[..wire.len()].copy_from_slice(wire);
    let (status, body, consumed, _) = complete(&mut buf, wire.len());
    assert_eq!(
        (status, body.as_slice(), consumed),
        (200, &b"{\"a\":1}"[..], wire.len())
    );
}

#[test]
fn bodies_that_cannot_fit_fail_at_once() {
    let mut buf = [0u8; 128];
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
    buf[..wire.len()].copy_from_slice(wire);
    assert_eq!(
        read_response(&mut buf, wire.len(), false, false),
        Err(Error::Http(HttpError::BodyTooLarge {
            length: 99_999_999_999
        }))
    );
    // An endless chunked body fills the buffer and is refused.
    let mut buf = [0u8; 128];
    let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    while wire.len() < 128 {
        wire.extend_from_slice(b"1\r\nx\r\n");
    }
    wire.truncate(128);
    buf.copy_from_slice(&wire);
    assert!(matches!(
        read_response(&mut buf, 128, false, false),
        Err(Error::Http(HttpError::BodyTooLarge { .. }))
    ));
    // A chunk announcing more than the buffer holds.
    let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n";
    let mut buf = [0u8; 128];
    buf[..wire.len()].copy_from_slice(wire);
    assert!(matches!(
        read_response(&mut buf, wire.len(), false, false),
        Err(Error::Http(HttpError::BodyTooLarge { .. }))
    ));
}

#[test]
fn malformed_responses() {
    let cases: [(&[u8], HttpError); 5] = [
        (b"HTTP/1.1 abc\r\n\r\n", HttpError::MalformedHead),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            HttpError::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            HttpError::InvalidContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            HttpError::UnsupportedTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            HttpError::MalformedChunk,
        ),
    ];
    for (wire, expected) in cases {
        let mut buf = [0u8; 256];
        buf[..wire.len()].copy_from_slice(wire);
        assert_eq!(
            read_response(&mut buf, wire.len(), false, false),
            Err(Error::Http(expected))
        );
    }
    let mut buf = [0u8; 256];
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let mut big = vec![0u8; 1024];
    big[..many.len()].copy_from_slice(&many);
    assert_eq!(
        read_response(&mut big, many.len(), false, false),
        Err(Error::Http(HttpError::TooManyHeaders))
    );
    // Truncated by the peer closing.
    let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    buf[..wire.len()].copy_from_slice(wire);
    assert_eq!(
        read_response(&mut buf, wire.len(), false, true),
        Err(Error::Http(HttpError::Truncated))
    );
}

#[test]
fn head_204_and_close_delimited_responses() {
    let mut buf = [0u8; 256];
    let wire = b"HTTP/1.1 200 OK\r\nReplay-Nonce: n1\r\nContent-Length: 42\r\n\r\n";
    buf[..wire.len()].copy_from_slice(wire);
    match read_response(&mut buf, wire.len(), true, false).unwrap() {
        ReadStatus::Complete {
            response, consumed, ..
        } => {
            assert_eq!(response.body, b"");
            assert_eq!(consumed, wire.len());
        }
        ReadStatus::Partial => panic!(),
    }
    let wire = b"HTTP/1.1 204 No Content\r\nReplay-Nonce: n2\r\n\r\n";
    buf[..wire.len()].copy_from_slice(wire);
    let (status, body, _, _) = complete(&mut buf, wire.len());
    assert_eq!((status, body.len()), (204, 0));
    let wire = b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n<html>bad</html>";
    buf[..wire.len()].copy_from_slice(wire);
    assert_eq!(
        read_response(&mut buf, wire.len(), false, false).unwrap(),
        ReadStatus::Partial
    );
    match read_response(&mut buf, wire.len(), false, true).unwrap() {
        ReadStatus::Complete {
            response, close, ..
        } => {
            assert_eq!(response.body, b"<html>bad</html>");
            assert!(close);
        }
        ReadStatus::Partial => panic!(),
    }
}

#[test]
fn acme_headers() {
    let wire = b"HTTP/1.1 200 OK\r\n\
Replay-Nonce: not a nonce!\r\n\
Retry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
Date: Sun, 06 Nov 1994 08:49:07 GMT\r\n\
Link: <https://ca/dir>;rel=\"index\", <https://ca/cert/1/alt/1>; rel=\"alternate\"\r\n\
link: <https://ca/cert/1/alt/2>;rel=alternate\r\n\
Link: <https://ca/orders?cursor=2>;title=\"a, b\";rel=\"next\"\r\n\
Link: <https://ca/up>;rel=\"up index\"\r\n\
Content-Length: 0\r\n\r\n";
    let mut buf = [0u8; 1024];
    buf[..wire.len()].copy_from_slice(wire);
    let ReadStatus::Complete { response, .. } =
        read_response(&mut buf, wire.len(), false, false).unwrap()
    else {
        panic!()
    };
    let h = response.headers;
    assert_eq!(h.replay_nonce, None, "a nonce must be base64url");
    assert_eq!(h.retry_after, Some(RetryAfter::Date(UnixTime(784_111_777))));
    assert_eq!(h.date, Some(UnixTime(784_111_747)));
    assert_eq!(
        h.links("alternate").collect::<Vec<_>>(),
        ["https://ca/cert/1/alt/1", "https://ca/cert/1/alt/2"]
    );
    assert_eq!(
        h.links("index").collect::<Vec<_>>(),
        ["https://ca/dir", "https://ca/up"]
    );
    assert_eq!(h.link("next"), Some("https://ca/orders?cursor=2"));
    assert_eq!(h.link("up"), Some("https://ca/up"));
    assert_eq!(RetryAfter::parse(" 120 "), Some(RetryAfter::Seconds(120)));
    assert_eq!(RetryAfter::parse("soon"), None);
}
