//! HTTP/1.1 for adapters that own a raw byte stream (a TLS socket).
//!
//! * Requests: [`write_request_head`] writes the head an ACME request needs
//!   into the caller's buffer: request line, `Host` (with the port when it
//!   is not 443), `User-Agent` (RFC 8555 §6.1 requires one), and for a body
//!   `Content-Type: application/jose+json` and `Content-Length`. The
//!   connection stays open: persistence is HTTP/1.1's default, so no
//!   `Connection` header is spent on it.
//! * Responses: [`read_response`] parses the head with `httparse`, frames
//!   the body by `Content-Length` or `chunked` (decoded in place), and
//!   extracts the headers ACME needs into [`AcmeHeaders`].
//!
//! An adapter that already has parsed HTTP builds a [`Response`] directly
//! from its status, headers and body instead.

use crate::time::{parse_http_date, UnixTime};
use crate::Error;

/// The most response headers parsed; more gives [`HttpError::TooManyHeaders`].
pub const MAX_RESPONSE_HEADERS: usize = 32;

/// The most `Link` header fields kept from one response.
pub const MAX_LINK_HEADERS: usize = 8;

/// The `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("acme-device/", env!("CARGO_PKG_VERSION"));

/// Why an HTTP exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HttpError {
    /// The response head is not valid HTTP/1.1.
    MalformedHead,
    /// More than [`MAX_RESPONSE_HEADERS`] header fields.
    TooManyHeaders,
    /// A `Content-Length` that is not a number, or two that disagree.
    InvalidContentLength,
    /// A `Transfer-Encoding` other than `chunked`.
    UnsupportedTransferEncoding,
    /// A malformed chunk in a chunked body.
    MalformedChunk,
    /// The body does not fit the receive buffer; `length` is what the
    /// server announced (or, for chunked bodies, at least what it sent).
    BodyTooLarge {
        /// Announced or observed body length in bytes.
        length: u64,
    },
    /// The server closed the connection before the response was complete.
    Truncated,
}

/// The request methods ACME uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method {
    /// GET: the directory, ARI renewalInfo, and servers that refuse
    /// POST-as-GET.
    Get,
    /// HEAD: newNonce.
    Head,
    /// POST: every JWS request.
    Post,
}

impl Method {
    /// The method token.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
        }
    }
}

/// Why a URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UrlError {
    /// Not an `https://` URL.
    NotHttps,
    /// Empty or malformed host, port, or characters not allowed in a URL.
    Malformed,
    /// Userinfo (`user@host`) is refused.
    HasUserinfo,
}

/// An `https` URL split into the parts a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Url<'a> {
    /// The host, with brackets for an IPv6 literal (`[::1]`).
    pub host: &'a str,
    /// The port (443 unless given).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub path: &'a str,
}

impl<'a> Url<'a> {
    /// Parses an `https://host[:port][/path][?query]` URL; a fragment is
    /// dropped.
    ///
    /// # Errors
    /// [`UrlError`] saying why.
    pub fn parse(url: &'a str) -> Result<Self, UrlError> {
        let rest = match url.get(..8) {
            Some(scheme) if scheme.eq_ignore_ascii_case("https://") => url.get(8..).unwrap_or(""),
            _ => return Err(UrlError::NotHttps),
        };
        if rest
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'"' || b == b'<' || b == b'>' || b == b'\\')
        {
            return Err(UrlError::Malformed);
        }
        let rest = rest.split('#').next().unwrap_or("");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(UrlError::HasUserinfo);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let close = v6.find(']').ok_or(UrlError::Malformed)?;
            let host = authority.get(..close + 2).ok_or(UrlError::Malformed)?;
            let after = v6.get(close + 1..).unwrap_or("");
            (host, after)
        } else {
            let colon = authority.find(':').unwrap_or(authority.len());
            authority.split_at(colon)
        };
        let port = match port {
            "" => 443,
            p => p
                .strip_prefix(':')
                .filter(|d| !d.is_empty() && d.len() <= 5 && d.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|d| d.parse::<u16>().ok())
                .filter(|&p| p != 0)
                .ok_or(UrlError::Malformed)?,
        };
        if host.is_empty() || host == "[]" {
            return Err(UrlError::Malformed);
        }
        let path = match path {
            "" => "/",
            // "https://host?x" has no path to borrow a leading '/' from.
            p if !p.starts_with('/') => return Err(UrlError::Malformed),
            p => p,
        };
        Ok(Self { host, port, path })
    }

    /// True when both URLs name the same host and port (the origin, since
    /// both are https). Host names compare case-insensitively.
    #[must_use]
    pub fn same_origin(&self, other: &Url<'_>) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(other.host)
    }
}

/// Writes an HTTP/1.1 request head for `url` into `out`; `body_len` is the
/// length of a JWS body that follows, if any. Returns the head's length.
///
/// # Errors
/// [`Error::BufferTooSmall`] with the exact size.
pub fn write_request_head(
    out: &mut [u8],
    method: Method,
    url: &Url<'_>,
    body_len: Option<usize>,
) -> Result<usize, Error> {
    let mut w = crate::sink::SliceSink::new(out);
    use crate::sink::Sink as _;
    w.put(method.as_str().as_bytes());
    w.put(b" ");
    w.put(url.path.as_bytes());
    w.put(b" HTTP/1.1\r\nHost: ");
    w.put(url.host.as_bytes());
    if url.port != 443 {
        w.put(b":");
        put_decimal(&mut w, u64::from(url.port));
    }
    w.put(b"\r\nUser-Agent: ");
    w.put(USER_AGENT.as_bytes());
    if let Some(len) = body_len {
        w.put(b"\r\nContent-Type: application/jose+json\r\nContent-Length: ");
        put_decimal(&mut w, len as u64);
    }
    w.put(b"\r\n\r\n");
    Ok(w.finish()?.len())
}

/// Writes `value` in decimal without the formatting machinery.
pub(crate) fn put_decimal(sink: &mut dyn crate::sink::Sink, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (value % 10) as u8;
        }
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    sink.put(digits.get(start..).unwrap_or(&[]));
}

/// A `Retry-After` value (RFC 9110 §10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetryAfter {
    /// delay-seconds.
    Seconds(u64),
    /// An HTTP-date.
    Date(UnixTime),
}

impl RetryAfter {
    /// Parses delay-seconds or an IMF-fixdate; anything else is `None`.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_ascii();
        if !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()) {
            return value.parse().ok().map(RetryAfter::Seconds);
        }
        parse_http_date(value).map(RetryAfter::Date)
    }
}

/// The response headers ACME needs, borrowed from the response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcmeHeaders<'b> {
    /// `Replay-Nonce`, when it is a valid nonce (base64url).
    pub replay_nonce: Option<&'b str>,
    /// `Location`.
    pub location: Option<&'b str>,
    /// `Retry-After`, when it parses.
    pub retry_after: Option<RetryAfter>,
    /// `Content-Type`, without parameters.
    pub content_type: Option<&'b str>,
    /// `Date`, when it parses: lets an HTTP-date `Retry-After` be turned
    /// into a delay without a local clock.
    pub date: Option<UnixTime>,
    /// The `Link` header fields (each may hold several links).
    links: [Option<&'b str>; MAX_LINK_HEADERS],
}

impl<'b> AcmeHeaders<'b> {
    /// Takes one header field; names compare case-insensitively and
    /// unknown ones are ignored. Adapters with their own HTTP stack feed
    /// every field through this.
    pub fn add(&mut self, name: &str, value: &'b str) {
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case("replay-nonce") {
            if !value.is_empty() && value.bytes().all(crate::b64::is_base64url_char) {
                self.replay_nonce = Some(value);
            }
        } else if name.eq_ignore_ascii_case("location") {
            self.location = Some(value);
        } else if name.eq_ignore_ascii_case("retry-after") {
            self.retry_after = RetryAfter::parse(value);
        } else if name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or("").trim_ascii();
            self.content_type = Some(media);
        } else if name.eq_ignore_ascii_case("date") {
            self.date = parse_http_date(value);
        } else if name.eq_ignore_ascii_case("link") {
            if let Some(slot) = self.links.iter_mut().find(|l| l.is_none()) {
                *slot = Some(value);
            }
        }
    }

    /// The targets of every link with relation `rel` (RFC 8288), in order.
    pub fn links(&self, rel: &'static str) -> impl Iterator<Item = &'b str> + '_ {
        self.links
            .iter()
            .flatten()
            .flat_map(|field| LinkValues { rest: field })
            .filter(move |(_, rels)| {
                rels.split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(rel))
            })
            .map(|(target, _)| target)
    }

    /// The first link with relation `rel`.
    #[must_use]
    pub fn link(&self, rel: &'static str) -> Option<&'b str> {
        self.links(rel).next()
    }
}

/// Iterates `<target>; rel="a b", <target2>; rel=c` as (target, rels).
struct LinkValues<'b> {
    rest: &'b str,
}

impl<'b> Iterator for LinkValues<'b> {
    type Item = (&'b str, &'b str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let start = self.rest.find('<')?;
            let after = self.rest.get(start + 1..)?;
            let end = after.find('>')?;
            let target = after.get(..end)?;
            let params_and_rest = after.get(end + 1..)?;
            // Parameters run to the next comma outside quotes.
            let mut in_quotes = false;
            let mut params_end = params_and_rest.len();
            for (i, c) in params_and_rest.char_indices() {
                match c {
                    '"' => in_quotes = !in_quotes,
                    ',' if !in_quotes => {
                        params_end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let params = params_and_rest.get(..params_end)?;
            self.rest = params_and_rest.get(params_end..).unwrap_or("");
            let rel = params.split(';').find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim_ascii()
                    .eq_ignore_ascii_case("rel")
                    .then(|| value.trim_ascii().trim_matches('"'))
            });
            if let Some(rel) = rel {
                return Some((target, rel));
            }
        }
    }
}

/// An HTTP response as the protocol layer consumes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'b> {
    /// The status code.
    pub status: u16,
    /// The headers ACME needs.
    pub headers: AcmeHeaders<'b>,
    /// The body (already de-chunked).
    pub body: &'b [u8],
}

/// The outcome of [`read_response`].
// No heap to box into: the response lives on the caller's stack briefly.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum ReadStatus<'b> {
    /// More bytes are needed; read more into the buffer and call again.
    Partial,
    /// A whole response.
    Complete {
        /// The response, borrowing the buffer.
        response: Response<'b>,
        /// How many bytes of the buffer it used; bytes after that belong
        /// to the next response.
        consumed: usize,
        /// The server said `Connection: close`: reconnect before the next
        /// request.
        close: bool,
    },
}

/// How the body is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Where a complete response lies in the buffer.
struct Frame {
    status: u16,
    head_len: usize,
    body_len: usize,
    consumed: usize,
    close: bool,
    chunked: bool,
}

/// Checks whether `buf[..filled]` holds a whole response, without changing
/// the buffer. Returns how many bytes it spans.
///
/// Adapters call this after each read and [`read_response`] once it says
/// the response is whole.
///
/// # Errors
/// As for [`read_response`].
pub fn probe_response(
    buf: &[u8],
    filled: usize,
    head_request: bool,
    eof: bool,
) -> Result<Option<usize>, Error> {
    Ok(frame(buf, filled, head_request, eof)?.map(|f| f.consumed))
}

/// Parses the response at the start of `buf[..filled]`.
///
/// `buf` is the whole receive buffer: when a body cannot fit in it the
/// error says so at once, instead of waiting for bytes that cannot come.
/// Pass `head_request` for the response to a HEAD request, which has no
/// body. Set `eof` once the peer has closed the stream. A chunked body is
/// decoded in place, so the returned body is contiguous; the buffer is
/// changed only when the response is complete.
///
/// ```
/// use acme_core::http::{read_response, ReadStatus};
///
/// let mut rx = [0u8; 512];
/// let wire = b"HTTP/1.1 200 OK\r\nReplay-Nonce: abc\r\nContent-Length: 2\r\n\r\n{}";
///
/// // Bytes arrive in pieces: a partial response asks for more.
/// rx[..10].copy_from_slice(&wire[..10]);
/// assert_eq!(read_response(&mut rx, 10, false, false)?, ReadStatus::Partial);
///
/// rx[..wire.len()].copy_from_slice(wire);
/// let ReadStatus::Complete { response, consumed, close } =
///     read_response(&mut rx, wire.len(), false, false)?
/// else {
///     unreachable!("the whole response is in the buffer")
/// };
/// assert_eq!((response.status, response.body, consumed, close), (200, &b"{}"[..], wire.len(), false));
/// assert_eq!(response.headers.replay_nonce, Some("abc"));
/// # Ok::<(), acme_core::Error>(())
/// ```
///
/// # Errors
/// [`HttpError`] for malformed or over-large responses, and
/// [`HttpError::Truncated`] when `eof` is set before the response is whole.
#[inline(never)]
pub fn read_response(
    buf: &mut [u8],
    filled: usize,
    head_request: bool,
    eof: bool,
) -> Result<ReadStatus<'_>, Error> {
    let Some(frame) = frame(buf, filled, head_request, eof)? else {
        return Ok(ReadStatus::Partial);
    };
    if frame.chunked {
        dechunk_in_place(buf, frame.head_len, filled)?;
    }
    let (head, rest) = buf.split_at(frame.head_len);
    let body = rest.get(..frame.body_len).ok_or(HttpError::MalformedHead)?;
    let mut header_storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut parsed = httparse::Response::new(&mut header_storage);
    parsed.parse(head).map_err(|_| HttpError::MalformedHead)?;
    let mut headers = AcmeHeaders::default();
    for h in parsed.headers.iter() {
        if let Ok(value) = core::str::from_utf8(h.value) {
            headers.add(h.name, value);
        }
    }
    Ok(ReadStatus::Complete {
        response: Response {
            status: frame.status,
            headers,
            body,
        },
        consumed: frame.consumed,
        close: frame.close,
    })
}

/// Frames the response at the start of `buf[..filled]` without changing
/// anything; `None` while it is incomplete.
fn frame(buf: &[u8], filled: usize, head_request: bool, eof: bool) -> Result<Option<Frame>, Error> {
    let capacity = buf.len();
    let data = buf.get(..filled).ok_or(HttpError::MalformedHead)?;
    let mut header_storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut parsed = httparse::Response::new(&mut header_storage);
    let head_len = match parsed.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return partial(filled, capacity, eof, 0),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders.into()),
        Err(_) => return Err(HttpError::MalformedHead.into()),
    };
    let status = parsed.code.ok_or(HttpError::MalformedHead)?;
    let mut framing = Framing::UntilClose;
    let mut close = parsed.version == Some(0);
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let value = core::str::from_utf8(h.value)
                .ok()
                .map(str::trim_ascii)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(HttpError::InvalidContentLength)?;
            match framing {
                Framing::Length(prev) if prev != value => {
                    return Err(HttpError::InvalidContentLength.into())
                }
                Framing::Chunked => {}
                _ => framing = Framing::Length(value),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = core::str::from_utf8(h.value).unwrap_or("").trim_ascii();
            if value.eq_ignore_ascii_case("chunked") {
                framing = Framing::Chunked;
            } else if !value.eq_ignore_ascii_case("identity") {
                return Err(HttpError::UnsupportedTransferEncoding.into());
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            let value = core::str::from_utf8(h.value).unwrap_or("");
            let has = |token: &str| {
                value
                    .split(',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
            };
            if has("close") {
                close = true;
            } else if has("keep-alive") {
                close = false;
            }
        }
    }
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::None;
    }
    let body_capacity = capacity - head_len;
    let (body_len, consumed, chunked) = match framing {
        Framing::None => (0, head_len, false),
        Framing::Length(len) => {
            if len > body_capacity as u64 {
                return Err(HttpError::BodyTooLarge { length: len }.into());
            }
            let len = len as usize;
            if filled < head_len + len {
                return partial(filled, capacity, eof, head_len);
            }
            (len, head_len + len, false)
        }
        Framing::Chunked => match chunked_extent(buf, filled, head_len)? {
            Some((len, end)) => (len, end, true),
            None => return partial(filled, capacity, eof, head_len),
        },
        Framing::UntilClose => {
            if !eof {
                return partial(filled, capacity, false, head_len);
            }
            close = true;
            (filled - head_len, filled, false)
        }
    };
    Ok(Some(Frame {
        status,
        head_len,
        body_len,
        consumed,
        close,
        chunked,
    }))
}

fn partial(
    filled: usize,
    capacity: usize,
    eof: bool,
    head_len: usize,
) -> Result<Option<Frame>, Error> {
    if eof {
        return Err(HttpError::Truncated.into());
    }
    if filled >= capacity {
        let length = (filled - head_len) as u64;
        return Err(HttpError::BodyTooLarge { length }.into());
    }
    Ok(None)
}

/// Finds the end of a chunked body that starts at `start`, without
/// changing anything. Returns the decoded length and the bytes consumed,
/// or `None` when incomplete.
fn chunked_extent(
    buf: &[u8],
    filled: usize,
    start: usize,
) -> Result<Option<(usize, usize)>, HttpError> {
    let mut pos = start;
    let mut total: u64 = 0;
    loop {
        let rest = buf.get(pos..filled).unwrap_or(&[]);
        let (header_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(v)) => v,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpError::MalformedChunk),
        };
        total = total.saturating_add(size);
        if total > (buf.len() - start) as u64 {
            return Err(HttpError::BodyTooLarge { length: total });
        }
        pos += header_len;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let rest = buf.get(pos..filled).unwrap_or(&[]);
                let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                pos += line_end + 2;
                if line_end == 0 {
                    return Ok(Some((total as usize, pos)));
                }
            }
        }
        let size = size as usize;
        if filled < pos + size + 2 {
            return Ok(None);
        }
        if buf.get(pos + size..pos + size + 2) != Some(b"\r\n") {
            return Err(HttpError::MalformedChunk);
        }
        pos += size + 2;
    }
}

/// Moves each chunk's data down so the body is contiguous. Only called
/// once [`chunked_extent`] has checked the whole body.
fn dechunk_in_place(buf: &mut [u8], start: usize, filled: usize) -> Result<(), HttpError> {
    let mut read = start;
    let mut write = start;
    loop {
        let rest = buf.get(read..filled).unwrap_or(&[]);
        let Ok(httparse::Status::Complete((header_len, size))) = httparse::parse_chunk_size(rest)
        else {
            return Err(HttpError::MalformedChunk);
        };
        if size == 0 {
            return Ok(());
        }
        let size = size as usize;
        let data = read + header_len;
        if buf.get(data..data + size).is_none() {
            return Err(HttpError::MalformedChunk);
        }
        buf.copy_within(data..data + size, write);
        write += size;
        read = data + size + 2;
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        Error::Http(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::Url(e)
    }
}
