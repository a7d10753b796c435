//! HTTP/1.1 message heads: request-head decoding and response-head encoding, plus the small
//! pieces of the wire format around them (chunked coding framing, percent-decoding, query
//! strings, HTTP-date). The client side (a request head to send, a response to read, for the
//! HTTP callbacks) is [`client`].
//!
//! Spec: RFC 9110 (HTTP Semantics) and RFC 9112 (HTTP/1.1); `§` numbers below refer to them.
//!
//! Pure code over byte slices. The request line and header fields are tokenised by the
//! `httparse` crate (we do not hand-write HTTP parsing); this module adds the limits and the
//! semantics we rely on: framing (`Content-Length` / `Transfer-Encoding`), persistence
//! (`Connection`), the request-target forms, and the few fields the server uses.
//!
//! What a caller must know:
//!
//! * [`decode_request_head`] returns `Ok(None)` while the head is incomplete and shorter than
//!   [`MAX_HEAD_LEN`]; then `Ok(Some((head, consumed)))`, where `consumed` counts the head up to
//!   and including its empty line. Body bytes (if any) start at `consumed`.
//! * Every [`HttpError`] ends the connection: answer with [`HttpError::status`] and
//!   `Connection: close`, then close. None of them is worth an error-level log line (the peer
//!   controls them).
//! * Request smuggling is refused rather than repaired: `Transfer-Encoding` together with
//!   `Content-Length`, conflicting `Content-Length` values, `Transfer-Encoding` in HTTP/1.0,
//!   and more than one `Host` are all [`HttpError::Malformed`]. A body is either
//!   `content_length` bytes or chunked (`chunked_body`); bodies are the caller's to cap.
//! * Strings in [`RequestHead`] are bounded by [`MAX_HEAD_LEN`] together. `target` is *not*
//!   percent-decoded: decode it with [`percent_decode`] where a path is needed.
//!
//! Not supported: HTTP/0.9 and HTTP/2 (the h2 preface is [`HttpError::UnsupportedVersion`]),
//! transfer codings other than `chunked`, obsolete line folding (§5.2 of RFC 9112; refused by
//! httparse), CONNECT's authority-form targets, trailer fields.

pub mod client;

use bytes::BufMut;

use super::date::{civil_from_days, CivilDate};

/// Longest request head accepted: request line plus header fields plus the empty line.
///
/// Why: the head is buffered whole before it can be parsed, so this is the per-connection
/// cost of an idle or slow client before any other limit applies. 8 KiB is what nginx
/// (`large_client_header_buffers`, one buffer) and most servers accept; players, browsers
/// and curl send 200–1500 bytes, the rest is room for cookies and long signed URLs.
pub const MAX_HEAD_LEN: usize = 8 * 1024;

/// Most header fields in one request head.
///
/// Why: httparse writes each field into a fixed array of this many slots on the stack
/// (16 bytes × 2 per slot on 64-bit ≈ 1 KiB). Browsers send about 15, players fewer than 10.
pub const MAX_HEADERS: usize = 32;

/// The line terminator, also the bytes that end each chunk's data (RFC 9112 §7.1).
pub const CRLF: &[u8] = b"\r\n";

/// The last chunk of a chunked body with no trailer section (RFC 9112 §7.1).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Request method (RFC 9110 §9). Methods are case-sensitive: `get` is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Other,
}

impl Method {
    /// Maps a method token as sent on the wire.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// The parts of a request head the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The path of the request target, raw (not percent-decoded), always starting with `/`;
    /// `*` for `OPTIONS *`. For an absolute-form target (`http://host/path`, RFC 9112
    /// §3.2.2) this is its path and `host` its authority.
    pub target: String,
    /// The query string after the first `?`, raw, without the `?` (empty when none).
    pub query: String,
    /// The request line said `HTTP/1.0`.
    pub http10: bool,
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3):
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Host` (or the absolute-form authority), lowercased; `None` when absent or empty.
    /// RFC 9112 §3.2 asks for 400 when HTTP/1.1 lacks it; we accept that and leave it to the
    /// caller, since the host only selects a vhost.
    pub host: Option<String>,
    pub range: Option<String>,
    /// `If-Range` (RFC 9110 §13.1.5), raw.
    pub if_range: Option<String>,
    /// `If-Modified-Since` (RFC 9110 §13.1.3), raw.
    pub if_modified_since: Option<String>,
    pub authorization: Option<String>,
    pub origin: Option<String>,
    /// `Content-Type`, raw (checked by the routes that take a body of one type).
    pub content_type: Option<String>,
    /// `If-Match` (RFC 9110 §13.1.1), raw.
    pub if_match: Option<String>,
    /// Body length from `Content-Length`; 0 when absent or when `chunked_body`.
    pub content_length: u64,
    /// `Transfer-Encoding: chunked`: the body is chunked and `content_length` is 0.
    pub chunked_body: bool,
    /// `Expect: 100-continue` (RFC 9110 §10.1.1): send `100 Continue` before reading the body
    /// (curl waits a second for it on larger POSTs).
    pub expect_continue: bool,
    /// Informational; bytes that are not UTF-8 become U+FFFD.
    pub user_agent: Option<String>,
    /// Informational; bytes that are not UTF-8 become U+FFFD.
    pub referer: Option<String>,
}

/// Why a request head was refused. Each one ends the connection.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("request head longer than {limit} bytes")]
    HeadTooLarge { limit: usize },
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    #[error("malformed request head: {0}")]
    Malformed(String),
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    #[error("unsupported transfer coding: {0}")]
    UnsupportedTransferCoding(String),
    #[error("invalid percent-encoding")]
    InvalidPercentEncoding,
    /// A response body longer than the reader keeps (`client::ResponseReader`).
    #[error("body longer than {limit} bytes")]
    BodyTooLarge { limit: usize },
}

impl HttpError {
    /// The response status to answer with before closing.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge { .. } | HttpError::TooManyHeaders { .. } => 431,
            HttpError::Malformed(_) | HttpError::InvalidPercentEncoding => 400,
            HttpError::UnsupportedVersion => 505,
            HttpError::UnsupportedTransferCoding(_) => 501,
            HttpError::BodyTooLarge { .. } => 413,
        }
    }
}

/// Decodes one request head from the start of `buf`.
///
/// `Ok(None)`: the head is incomplete and `buf.len() < MAX_HEAD_LEN`; call again with more
/// bytes. `Ok(Some((head, consumed)))`: `consumed <= MAX_HEAD_LEN` bytes form the head
/// (empty lines before the request line, which RFC 9112 §2.2 lets us skip, included).
/// Only the first [`MAX_HEAD_LEN`] bytes are ever looked at, so an oversized head is
/// [`HttpError::HeadTooLarge`] as soon as that many bytes have arrived, complete or not.
pub fn decode_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let window = &buf[..buf.len().min(MAX_HEAD_LEN)];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let consumed = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= MAX_HEAD_LEN {
                return Err(HttpError::HeadTooLarge {
                    limit: MAX_HEAD_LEN,
                });
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::TooManyHeaders { limit: MAX_HEADERS });
        }
        Err(httparse::Error::Version) => return Err(HttpError::UnsupportedVersion),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    // On `Complete` httparse has filled method, path and version.
    let (Some(method), Some(raw_target), Some(version)) = (req.method, req.path, req.version)
    else {
        return Err(HttpError::Malformed("incomplete request line".into()));
    };
    let http10 = version == 0;
    let method = Method::from_token(method);
    let (target, query, target_host) = split_target(method, raw_target)?;

    let mut head = RequestHead {
        method,
        target,
        query,
        http10,
        keep_alive: !http10,
        host: None,
        range: None,
        if_range: None,
        if_modified_since: None,
        authorization: None,
        origin: None,
        content_type: None,
        if_match: None,
        content_length: 0,
        chunked_body: false,
        expect_continue: false,
        user_agent: None,
        referer: None,
    };
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut host_seen = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;

    for field in req.headers.iter() {
        let name = field.name;
        let value = trim_ows(field.value);
        if name.eq_ignore_ascii_case("host") {
            if host_seen {
                return Err(HttpError::Malformed("more than one Host".into()));
            }
            host_seen = true;
            let host = ascii_value(name, value)?;
            if !host.bytes().all(is_host_char) {
                return Err(HttpError::Malformed("invalid Host".into()));
            }
            if !host.is_empty() {
                head.host = Some(host.to_ascii_lowercase());
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // §6.3: a list or differing repeated values cannot frame a body.
            let len = parse_decimal(value)
                .ok_or_else(|| HttpError::Malformed("invalid Content-Length".into()))?;
            if content_length.is_some_and(|prev| prev != len) {
                return Err(HttpError::Malformed("conflicting Content-Length".into()));
            }
            content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let value = ascii_value(name, value)?;
            for coding in list_items(value) {
                if !coding.eq_ignore_ascii_case("chunked") {
                    return Err(HttpError::UnsupportedTransferCoding(coding.to_owned()));
                }
                // RFC 9112 §7.1: chunked must not be applied more than once.
                if transfer_encoding {
                    return Err(HttpError::Malformed("chunked applied twice".into()));
                }
                transfer_encoding = true;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for option in list_items(ascii_value(name, value)?) {
                if option.eq_ignore_ascii_case("close") {
                    conn_close = true;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    conn_keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("range") {
            set_first(&mut head.range, name, value)?;
        } else if name.eq_ignore_ascii_case("if-range") {
            set_first(&mut head.if_range, name, value)?;
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            set_first(&mut head.if_modified_since, name, value)?;
        } else if name.eq_ignore_ascii_case("authorization") {
            set_first(&mut head.authorization, name, value)?;
        } else if name.eq_ignore_ascii_case("origin") {
            set_first(&mut head.origin, name, value)?;
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type
                .get_or_insert_with(|| String::from_utf8_lossy(value).into_owned());
        } else if name.eq_ignore_ascii_case("if-match") {
            head.if_match
                .get_or_insert_with(|| String::from_utf8_lossy(value).into_owned());
        } else if name.eq_ignore_ascii_case("user-agent") {
            head.user_agent
                .get_or_insert_with(|| String::from_utf8_lossy(value).into_owned());
        } else if name.eq_ignore_ascii_case("referer") {
            head.referer
                .get_or_insert_with(|| String::from_utf8_lossy(value).into_owned());
        }
    }

    if transfer_encoding {
        // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; with
        // Content-Length it is the classic smuggling vector. Refuse both.
        if http10 {
            return Err(HttpError::Malformed("Transfer-Encoding in HTTP/1.0".into()));
        }
        if content_length.is_some() {
            return Err(HttpError::Malformed(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        head.chunked_body = true;
    }
    head.content_length = content_length.unwrap_or(0);
    head.keep_alive = !conn_close && (!http10 || conn_keep_alive);
    if let Some(host) = target_host {
        // RFC 9112 §3.2.2: the absolute-form authority replaces Host.
        head.host = (!host.is_empty()).then_some(host);
    }
    Ok(Some((head, consumed)))
}

/// Splits a request-target (RFC 9112 §3.2) into (path, query, authority of absolute-form).
fn split_target(method: Method, raw: &str) -> Result<(String, String, Option<String>), HttpError> {
    if raw.contains('#') {
        return Err(HttpError::Malformed("fragment in request target".into()));
    }
    if raw == "*" {
        if method != Method::Options {
            return Err(HttpError::Malformed("'*' target outside OPTIONS".into()));
        }
        return Ok(("*".into(), String::new(), None));
    }
    let (path_and_query, authority) = if raw.starts_with('/') {
        (raw, None)
    } else {
        let rest = strip_prefix_ignore_case(raw, "http://")
            .or_else(|| strip_prefix_ignore_case(raw, "https://"))
            .ok_or_else(|| HttpError::Malformed("unsupported request-target form".into()))?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !authority.bytes().all(is_host_char) {
            return Err(HttpError::Malformed("invalid authority".into()));
        }
        (tail, Some(authority.to_ascii_lowercase()))
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_and_query, ""),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok((path.to_owned(), query.to_owned(), authority))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Characters of `uri-host [ ":" port ]` (RFC 3986 §3.2.2: reg-name, IP-literal, IPv4).
/// Excludes `/`, `@`, `?`, `#`, whitespace and controls, so a Host cannot smuggle a path.
fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%[]".contains(&b)
}

/// Strips optional whitespace (SP / HTAB, RFC 9110 §5.6.3) around a field value.
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// A field value the server interprets must be ASCII (httparse lets obs-text through).
fn ascii_value<'a>(name: &str, value: &'a [u8]) -> Result<&'a str, HttpError> {
    if !value.is_ascii() {
        return Err(HttpError::Malformed(format!("non-ASCII {name}")));
    }
    std::str::from_utf8(value).map_err(|_| HttpError::Malformed(format!("non-ASCII {name}")))
}

/// Keeps the first occurrence of a singleton field; later ones are ignored.
fn set_first(slot: &mut Option<String>, name: &str, value: &[u8]) -> Result<(), HttpError> {
    if slot.is_none() {
        *slot = Some(ascii_value(name, value)?.to_owned());
    }
    Ok(())
}

/// Items of a comma-separated list (RFC 9110 §5.6.1), empty elements skipped.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty())
}

/// `1*DIGIT` as a u64; `None` for anything else (sign, spaces, list, overflow).
fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Whether `encode_response_head` would write this field: the name is a token (RFC 9110
/// §5.6.2) and the value has no CR, LF, NUL or other control but HTAB.
pub fn is_valid_field(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(is_tchar)
        && value
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes `HTTP/1.1 <status> <reason>\r\n`, each `name: value\r\n`, then `\r\n`.
///
/// A status outside 100..=599 is written as 500. A field that fails [`is_valid_field`] is
/// left out rather than written, so no value can split the response (CRLF injection); the
/// caller adds `Content-Length`, `Date`, `Connection` and the rest itself.
pub fn encode_response_head(status: u16, headers: &[(&str, &str)], out: &mut impl BufMut) {
    let status = if (100..=599).contains(&status) {
        status
    } else {
        500
    };
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.put_slice(reason(status).as_bytes());
    out.put_slice(CRLF);
    for (name, value) in headers {
        if is_valid_field(name, value) {
            out.put_slice(name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(value.as_bytes());
            out.put_slice(CRLF);
        }
    }
    out.put_slice(CRLF);
}

/// The reason phrase for `status` (RFC 9110 §15); empty for codes we do not name (the
/// phrase is optional on the wire and clients ignore it).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        412 => "Precondition Failed",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Longest chunk-size line: 16 hex digits of a 64-bit `usize` plus CRLF.
const CHUNK_LINE_CAP: usize = 2 * std::mem::size_of::<usize>() + 2;

/// A chunk-size line, `<hex>\r\n`, on the stack (no allocation per chunk).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChunkSizeLine {
    buf: [u8; CHUNK_LINE_CAP],
    len: u8,
}

impl ChunkSizeLine {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl AsRef<[u8]> for ChunkSizeLine {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::ops::Deref for ChunkSizeLine {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for ChunkSizeLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChunkSizeLine({:?})",
            self.as_bytes().escape_ascii().to_string()
        )
    }
}

/// The size line of a chunk of `len` data bytes (RFC 9112 §7.1): lowercase hex, no
/// extensions, then CRLF. A chunk is the size line, the data, then [`CRLF`].
///
/// `chunk_size_line(0)` is the start of the last chunk: never frame empty data with it, or
/// the body ends there. End a body with [`LAST_CHUNK`].
pub fn chunk_size_line(len: usize) -> ChunkSizeLine {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = if len == 0 {
        1
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(4) as usize
    };
    let mut buf = [0u8; CHUNK_LINE_CAP];
    for (i, slot) in buf[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *slot = HEX[(len >> shift) & 0xf];
    }
    buf[digits] = b'\r';
    buf[digits + 1] = b'\n';
    ChunkSizeLine {
        buf,
        len: (digits + 2) as u8,
    }
}

/// Percent-decodes a path (RFC 3986 §2.1). `+` stays `+`.
///
/// Errors ([`HttpError::InvalidPercentEncoding`]): a `%` not followed by two hex digits,
/// `%00` or a raw NUL, and a result that is not UTF-8. `%2F` decodes to `/`: check segments
/// after decoding, not before only.
pub fn percent_decode(s: &str) -> Result<String, HttpError> {
    decode_component(s, false)
}

/// The value of the first `key` in a query string (`a=1&b=2`), percent-decoded with `+` as
/// space (the HTML form encoding). Keys are compared after decoding. A key without `=` has
/// the value `""`. Pairs that do not decode are skipped.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode_component(k, true).ok()? != key {
            return None;
        }
        decode_component(v, true).ok()
    })
}

fn decode_component(s: &str, plus_as_space: bool) -> Result<String, HttpError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(HttpError::InvalidPercentEncoding);
                };
                let b = hi << 4 | lo;
                if b == 0 {
                    return Err(HttpError::InvalidPercentEncoding);
                }
                out.push(b);
                i += 3;
            }
            0 => return Err(HttpError::InvalidPercentEncoding),
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::InvalidPercentEncoding)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Formats seconds since the Unix epoch as an IMF-fixdate (RFC 9110 §5.6.7), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`. Pure arithmetic, no clock. `None` past year 9999.
pub fn http_date(unix_secs: u64) -> Option<String> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let CivilDate { year, month, day } = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    Some(format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// curl 7.88 `curl http://127.0.0.1:8080/live/livestream.flv`.
    const CURL_GET: &[u8] = b"GET /live/livestream.flv HTTP/1.1\r\n\
Host: 127.0.0.1:8080\r\n\
User-Agent: curl/7.88.1\r\n\
Accept: */*\r\n\r\n";

    /// ffmpeg 5.1 (libavformat 59) `ffplay http://127.0.0.1:8080/live/a.flv`.
    const FFMPEG_GET: &[u8] = b"GET /live/a.flv HTTP/1.1\r\n\
User-Agent: Lavf/59.27.100\r\n\
Accept: */*\r\n\
Range: bytes=0-\r\n\
Connection: close\r\n\
Host: 127.0.0.1:8080\r\n\
Icy-MetaData: 1\r\n\r\n";

    /// VLC 3.0.18 opening an HTTP-FLV URL.
    const VLC_GET: &[u8] = b"GET /live/a.flv?token=abc%20d HTTP/1.1\r\n\
Host: 192.168.1.10:8080\r\n\
Accept: */*\r\n\
Accept-Language: en_US\r\n\
User-Agent: VLC/3.0.18 LibVLC/3.0.18\r\n\
Range: bytes=0-\r\n\r\n";

    /// Chrome 120 fetching an HLS playlist for hls.js from another origin.
    const CHROME_GET: &[u8] = b"GET /live/a.m3u8 HTTP/1.1\r\n\
Host: cam.local:8080\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Not_A Brand\";v=\"8\", \"Chromium\";v=\"120\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Accept: */*\r\n\
Origin: http://player.local\r\n\
Sec-Fetch-Site: cross-site\r\n\
Sec-Fetch-Mode: cors\r\n\
Sec-Fetch-Dest: empty\r\n\
Referer: http://player.local/\r\n\
Accept-Encoding: gzip, deflate\r\n\
Accept-Language: en-US,en;q=0.9\r\n\r\n";

    fn decode_all(buf: &[u8]) -> RequestHead {
        let (head, n) = decode_request_head(buf).unwrap().unwrap();
        assert_eq!(n, buf.len());
        head
    }

    fn decode_err(buf: &[u8]) -> HttpError {
        decode_request_head(buf).unwrap_err()
    }

    #[test]
    fn curl_golden() {
        let h = decode_all(CURL_GET);
        assert_eq!(h.method, Method::Get);
        assert_eq!(h.target, "/live/livestream.flv");
        assert_eq!(h.query, "");
        assert!(!h.http10);
        assert!(h.keep_alive);
        assert_eq!(h.host.as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(h.user_agent.as_deref(), Some("curl/7.88.1"));
        assert_eq!(h.range, None);
        assert_eq!(h.content_length, 0);
        assert!(!h.chunked_body);
    }

    #[test]
    fn ffmpeg_golden() {
        let h = decode_all(FFMPEG_GET);
        assert_eq!(h.target, "/live/a.flv");
        assert_eq!(h.user_agent.as_deref(), Some("Lavf/59.27.100"));
        assert_eq!(h.range.as_deref(), Some("bytes=0-"));
        assert!(!h.keep_alive, "Connection: close");
        assert_eq!(h.host.as_deref(), Some("127.0.0.1:8080"));
    }

    #[test]
    fn vlc_golden() {
        let h = decode_all(VLC_GET);
        assert_eq!(h.target, "/live/a.flv");
        assert_eq!(h.query, "token=abc%20d");
        assert_eq!(query_param(&h.query, "token").as_deref(), Some("abc d"));
        assert_eq!(h.user_agent.as_deref(), Some("VLC/3.0.18 LibVLC/3.0.18"));
        assert!(h.keep_alive);
    }

    #[test]
    fn chrome_golden() {
        let h = decode_all(CHROME_GET);
        assert_eq!(h.target, "/live/a.m3u8");
        assert_eq!(h.origin.as_deref(), Some("http://player.local"));
        assert_eq!(h.referer.as_deref(), Some("http://player.local/"));
        assert_eq!(h.host.as_deref(), Some("cam.local:8080"));
        assert!(h.keep_alive);
    }

    #[test]
    fn every_split_is_need_more_then_same_result() {
        for golden in [CURL_GET, FFMPEG_GET, VLC_GET, CHROME_GET] {
            let whole = decode_request_head(golden).unwrap().unwrap();
            for cut in 0..golden.len() {
                assert_eq!(
                    decode_request_head(&golden[..cut]),
                    Ok(None),
                    "cut at {cut}"
                );
            }
            // Bytes after the head (a pipelined request, a body) are not consumed.
            let mut more = golden.to_vec();
            more.extend_from_slice(b"GET / HTTP/1.1\r\n");
            assert_eq!(decode_request_head(&more).unwrap().unwrap(), whole);
        }
    }

    #[test]
    fn post_with_body_reports_length_and_leaves_body() {
        let req = b"POST /api/v1/clients HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
Expect: 100-continue\r\nAuthorization: Basic YTpi\r\n\r\nhello";
        let (h, n) = decode_request_head(req).unwrap().unwrap();
        assert_eq!(h.method, Method::Post);
        assert_eq!(h.content_length, 5);
        assert!(h.expect_continue);
        assert_eq!(h.authorization.as_deref(), Some("Basic YTpi"));
        assert_eq!(&req[n..], b"hello");
    }

    #[test]
    fn methods() {
        for (m, want) in [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("POST", Method::Post),
            ("PUT", Method::Put),
            ("DELETE", Method::Delete),
            ("OPTIONS", Method::Options),
            ("PATCH", Method::Patch),
            ("TRACE", Method::Other),
            ("get", Method::Other),
        ] {
            let req = format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(decode_all(req.as_bytes()).method, want, "{m}");
        }
    }

    #[test]
    fn keep_alive_rules() {
        for (req, want) in [
            (&b"GET / HTTP/1.1\r\n\r\n"[..], true),
            (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
            (
                b"GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                false,
            ),
        ] {
            let h = decode_all(req);
            assert_eq!(h.keep_alive, want, "{}", req.escape_ascii());
        }
        assert!(decode_all(b"GET / HTTP/1.0\r\n\r\n").http10);
    }

    #[test]
    fn oversized_head_is_refused_even_when_incomplete() {
        let mut req = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        req.resize(MAX_HEAD_LEN - 1, b'a');
        assert_eq!(decode_request_head(&req), Ok(None));
        req.push(b'a');
        let want = HttpError::HeadTooLarge {
            limit: MAX_HEAD_LEN,
        };
        assert_eq!(decode_request_head(&req), Err(want.clone()));
        req.extend_from_slice(b"\r\n\r\n");
        assert_eq!(decode_request_head(&req), Err(want));
        // Endless empty lines before the request line count too.
        assert_eq!(
            decode_err(&b"\r\n".repeat(MAX_HEAD_LEN / 2)),
            HttpError::HeadTooLarge {
                limit: MAX_HEAD_LEN
            }
        );
    }

    #[test]
    fn head_of_exactly_the_limit_is_accepted() {
        let mut req = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        req.resize(MAX_HEAD_LEN - 4, b'a');
        req.extend_from_slice(b"\r\n\r\n");
        assert_eq!(req.len(), MAX_HEAD_LEN);
        let (_, n) = decode_request_head(&req).unwrap().unwrap();
        assert_eq!(n, MAX_HEAD_LEN);
        // And with more bytes behind it.
        req.extend_from_slice(b"body");
        assert_eq!(decode_request_head(&req).unwrap().unwrap().1, MAX_HEAD_LEN);
    }

    #[test]
    fn header_count_limit() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut ok = req.clone();
        ok.extend_from_slice(b"\r\n");
        assert!(decode_request_head(&ok).unwrap().is_some());
        req.extend_from_slice(b"X-33: v\r\n\r\n");
        assert_eq!(
            decode_err(&req),
            HttpError::TooManyHeaders { limit: MAX_HEADERS }
        );
        assert_eq!(decode_err(&req).status(), 431);
    }

    #[test]
    fn framing_and_smuggling() {
        let h = decode_all(b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(h.chunked_body);
        assert_eq!(h.content_length, 0);
        let h = decode_all(b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.content_length, 3);
        for bad in [
            &b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
            b"POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: \r\n\r\n",
            b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n",
        ] {
            let e = decode_err(bad);
            assert!(
                matches!(e, HttpError::Malformed(_)),
                "{}: {e:?}",
                bad.escape_ascii()
            );
            assert_eq!(e.status(), 400);
        }
        let h = decode_all(b"POST /a HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n");
        assert_eq!(h.content_length, u64::MAX);
        let e = decode_err(b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(e, HttpError::UnsupportedTransferCoding("gzip".into()));
        assert_eq!(e.status(), 501);
    }

    #[test]
    fn request_targets() {
        let h =
            decode_all(b"GET http://Cam.Local:8080/live/a.flv?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
        assert_eq!(h.target, "/live/a.flv");
        assert_eq!(h.query, "x=1");
        assert_eq!(h.host.as_deref(), Some("cam.local:8080"));
        let h = decode_all(b"GET http://cam HTTP/1.1\r\n\r\n");
        assert_eq!((h.target.as_str(), h.host.as_deref()), ("/", Some("cam")));
        let h = decode_all(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(h.target, "*");
        let h = decode_all(b"GET /a?b?c HTTP/1.1\r\n\r\n");
        assert_eq!((h.target.as_str(), h.query.as_str()), ("/a", "b?c"));
        let h = decode_all(b"GET /%2e%2e/x HTTP/1.1\r\nHost: A.B\r\n\r\n");
        assert_eq!(h.target, "/%2e%2e/x", "target stays raw");
        assert_eq!(h.host.as_deref(), Some("a.b"));
        for bad in [
            &b"GET * HTTP/1.1\r\n\r\n"[..],
            b"GET a/b HTTP/1.1\r\n\r\n",
            b"GET /a#frag HTTP/1.1\r\n\r\n",
            b"CONNECT cam:443 HTTP/1.1\r\n\r\n",
            b"GET ftp://x/ HTTP/1.1\r\n\r\n",
            b"GET http://u@x/ HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(decode_err(bad), HttpError::Malformed(_)),
                "{}",
                bad.escape_ascii()
            );
        }
    }

    #[test]
    fn syntax_errors_from_httparse() {
        for bad in [
            &b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"G\x01T / HTTP/1.1\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ] {
            let e = decode_err(bad);
            assert_eq!(e.status(), 400, "{}: {e:?}", bad.escape_ascii());
        }
        for bad in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\n\r\n",
        ] {
            assert_eq!(decode_err(bad), HttpError::UnsupportedVersion);
        }
        assert_eq!(HttpError::UnsupportedVersion.status(), 505);
    }

    #[test]
    fn field_values() {
        let h = decode_all(
            b"GET / HTTP/1.1\r\nRange:   bytes=1-2 \t\r\nRange: bytes=3-4\r\n\
User-Agent: caf\xc3\xa9 \xff\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        );
        assert_eq!(h.range.as_deref(), Some("bytes=1-2"), "trimmed, first wins");
        assert_eq!(h.user_agent.as_deref(), Some("café \u{fffd}"));
        assert_eq!(h.if_range.as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
        assert!(h.if_modified_since.is_some());
        assert!(matches!(
            decode_err(b"GET / HTTP/1.1\r\nRange: bytes=\xff\r\n\r\n"),
            HttpError::Malformed(_)
        ));
        let h = decode_all(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
        assert_eq!(h.host, None);
        let h = decode_all(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(h.target, "/", "leading empty lines skipped");
    }

    #[test]
    fn golden_response_heads() {
        let mut out = Vec::new();
        encode_response_head(
            200,
            &[("Content-Type", "video/x-flv"), ("Connection", "close")],
            &mut out,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        encode_response_head(
            206,
            &[("Content-Range", "bytes 0-0/10"), ("Content-Length", "1")],
            &mut out,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/10\r\nContent-Length: 1\r\n\r\n"
        );
        out.clear();
        encode_response_head(404, &[], &mut out);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\n\r\n");
        out.clear();
        encode_response_head(599, &[], &mut out);
        assert_eq!(out, b"HTTP/1.1 599 \r\n\r\n");
        out.clear();
        encode_response_head(42, &[], &mut out);
        assert_eq!(out, b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
    }

    #[test]
    fn response_fields_cannot_inject() {
        let mut out = Vec::new();
        encode_response_head(
            302,
            &[
                ("Location", "/a\r\nSet-Cookie: x=1"),
                ("Bad Name", "v"),
                ("", "v"),
                ("X-Tab", "a\tb"),
            ],
            &mut out,
        );
        assert_eq!(out, b"HTTP/1.1 302 Found\r\nX-Tab: a\tb\r\n\r\n");
    }

    #[test]
    fn reasons() {
        assert_eq!(reason(200), "OK");
        assert_eq!(reason(416), "Range Not Satisfiable");
        assert_eq!(reason(431), "Request Header Fields Too Large");
        assert_eq!(reason(299), "");
    }

    #[test]
    fn chunk_size_lines() {
        assert_eq!(chunk_size_line(0).as_bytes(), b"0\r\n");
        assert_eq!(chunk_size_line(1).as_bytes(), b"1\r\n");
        assert_eq!(chunk_size_line(15).as_bytes(), b"f\r\n");
        assert_eq!(chunk_size_line(16).as_bytes(), b"10\r\n");
        assert_eq!(chunk_size_line(0xabc).as_bytes(), b"abc\r\n");
        assert_eq!(chunk_size_line(0x1a2b).as_bytes(), b"1a2b\r\n");
        assert_eq!(&*chunk_size_line(65536), b"10000\r\n");
        let max = format!("{:x}\r\n", usize::MAX);
        assert_eq!(chunk_size_line(usize::MAX).as_ref(), max.as_bytes());
        for n in [2usize, 255, 256, 4095, 4096, 1 << 31, usize::MAX / 3] {
            assert_eq!(
                chunk_size_line(n).as_bytes(),
                format!("{n:x}\r\n").as_bytes()
            );
        }
        assert_eq!(CRLF, b"\r\n");
        assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
    }

    #[test]
    fn percent_decode_vectors() {
        for (input, want) in [
            ("/live/a.flv", "/live/a.flv"),
            ("/a%20b", "/a b"),
            ("/%2e%2E/x", "/../x"),
            ("/a%2fb", "/a/b"),
            ("/a+b", "/a+b"),
            ("/caf%C3%A9", "/café"),
            ("/%7e", "/~"),
            ("", ""),
        ] {
            assert_eq!(percent_decode(input).as_deref(), Ok(want), "{input}");
        }
        for bad in [
            "%", "/%4", "/%zz", "/%g0", "/%00", "/a\0b", "/%ff", "/%C3", "/%c3%28",
        ] {
            assert_eq!(
                percent_decode(bad),
                Err(HttpError::InvalidPercentEncoding),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn query_params() {
        let q = "app=live&stream=a%2Fb&name=John+Doe&flag&empty=&app=second&bad=%zz";
        assert_eq!(query_param(q, "app").as_deref(), Some("live"));
        assert_eq!(query_param(q, "stream").as_deref(), Some("a/b"));
        assert_eq!(query_param(q, "name").as_deref(), Some("John Doe"));
        assert_eq!(query_param(q, "flag").as_deref(), Some(""));
        assert_eq!(query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(query_param(q, "bad"), None);
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param("a%20b=1", "a b").as_deref(), Some("1"));
        assert_eq!(query_param("", "a"), None);
        assert_eq!(query_param("k=a=b", "k").as_deref(), Some("a=b"));
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            http_date(0).as_deref(),
            Some("Thu, 01 Jan 1970 00:00:00 GMT")
        );
        assert_eq!(
            http_date(784_111_777).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            http_date(951_782_400).as_deref(),
            Some("Tue, 29 Feb 2000 00:00:00 GMT")
        );
        assert_eq!(
            http_date(1_700_000_000).as_deref(),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert_eq!(
            http_date(253_402_300_799).as_deref(),
            Some("Fri, 31 Dec 9999 23:59:59 GMT")
        );
        assert_eq!(http_date(253_402_300_800), None);
        assert_eq!(http_date(u64::MAX), None);
    }

    use crate::testutil::XorShift;

    #[test]
    fn fuzz_decode_request_head() {
        const PIECES: &[&[u8]] = &[
            b"GET ",
            b"HEAD ",
            b"POST ",
            b"/",
            b"..",
            b"%2e",
            b"?",
            b"#",
            b" HTTP/1.1",
            b" HTTP/1.0",
            b"\r\n",
            b"\n",
            b"\r",
            b": ",
            b":",
            b"Host",
            b"Content-Length",
            b"Transfer-Encoding",
            b"chunked",
            b"Connection",
            b"close",
            b"keep-alive",
            b"Range",
            b"bytes=0-",
            b"0",
            b"99999999999999999999",
            b",",
            b" ",
            b"\t",
            b"\0",
            b"\xff",
            b"http://",
            b"*",
            b"a",
            b"\r\n\r\n",
        ];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut seen = [0usize; 3];
        for iter in 0..20_000 {
            let mut buf = Vec::new();
            if rng.below(2) == 0 {
                let golden = [CURL_GET, FFMPEG_GET, VLC_GET, CHROME_GET][rng.below(4)];
                buf.extend_from_slice(golden);
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(buf.len());
                    buf[i] = rng.next() as u8;
                }
            } else {
                for _ in 0..rng.below(40) {
                    buf.extend_from_slice(PIECES[rng.below(PIECES.len())]);
                }
            }
            match decode_request_head(&buf) {
                Ok(Some((head, n))) => {
                    seen[0] += 1;
                    assert!(n <= buf.len() && n <= MAX_HEAD_LEN, "iter {iter}");
                    assert!(
                        head.target.starts_with('/') || head.target == "*",
                        "iter {iter}"
                    );
                    assert!(
                        !(head.chunked_body && head.content_length != 0),
                        "iter {iter}"
                    );
                }
                Ok(None) => {
                    seen[1] += 1;
                    assert!(buf.len() < MAX_HEAD_LEN, "iter {iter}");
                }
                Err(e) => {
                    seen[2] += 1;
                    assert!(e.status() >= 400, "iter {iter}");
                }
            }
        }
        assert!(
            seen.iter().all(|&n| n > 500),
            "every outcome exercised: {seen:?}"
        );
    }
}
