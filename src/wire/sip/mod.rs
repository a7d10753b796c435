//! SIP messages (RFC 3261) as GB/T 28181-2016 devices exchange them: the message model,
//! decoding from a stream (TCP) or a datagram (UDP), encoding, and the header accessors a
//! GB/T 28181 agent needs (`CSeq`, `Call-ID`, tags, `Via` branch, expiry). Digest
//! authentication is in [`digest`], header-value helpers in [`header`].
//!
//! Pure code over byte slices: no I/O, no clock.
//!
//! What a caller must know:
//!
//! * Tolerated, because cameras (Hikvision, Dahua, Uniview, TP-Link) send it: LF-only line
//!   ends, folded header lines (RFC 3261 §7.3.1; unfolded with one space), compact names
//!   (`v:`, `i:`, `l:`; RFC 3261 §7.3.3), names in any case, whitespace before the colon and
//!   after values, duplicate headers, leading CR/LF before the start line (RFC 3261 §7.5), a
//!   datagram without the empty line after its head, and wrong `Content-Length` on UDP (see
//!   [`decode_datagram`]). Header names are stored in their canonical long form
//!   ([`header::canonical_name`]); values trimmed, and bytes that are not UTF-8 become U+FFFD.
//! * Refused: control characters in the head (other than HT and the CR of CRLF), a header
//!   name that is not a token, a version other than `SIP/2.0`, conflicting or non-numeric
//!   `Content-Length`, and the limits below.
//! * The body is bytes and stays bytes: MANSCDP bodies are often GB2312.
//! * `Content-Length`: [`SipMessage::encode`] always writes its own, computed from the body,
//!   as the last header, and skips any `Content-Length` in `headers` (a decoded message keeps
//!   the one it arrived with, so [`SipMessage::content_length`] tells what the peer declared).
//! * Errors: over TCP every [`SipError`] from [`decode`] ends the connection (the framing is
//!   lost); over UDP it drops the datagram. Nothing is answered (without a parsed `Via` there
//!   is nowhere to answer), and none is worth more than a debug log line: peers control them.
//! * [`decode`] keeps no state: until a message is complete each call re-reads it from the
//!   start (at most [`MAX_HEAD_LEN`] bytes are scanned for the head, and the head is parsed
//!   again while the body is still arriving).
//! * TCP keepalives: RFC 5626 §4.4.1 CRLF pings between messages are skipped by [`decode`]
//!   but count against [`MAX_HEAD_LEN`] until a message follows; a driver drains them with
//!   [`leading_crlf_len`] (and may answer a double CRLF with [`KEEPALIVE_PONG`]).
//! * Not supported: `sips:`/TLS specifics, multipart bodies, `Content-Encoding` (bodies are
//!   passed through), header-value escapes beyond quoted strings, SIP versions other than 2.0.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

pub mod header;
#[cfg(test)]
mod tests;

/// Digest authentication, shared with RTSP; its errors convert into [`SipError::Digest`].
pub use crate::wire::digest;

use crate::wire::digest::DigestError;
use crate::wire::textmsg::{
    self, find_head_end, is_lws, is_token, parse_decimal, parse_delta_seconds, ContentLength,
    HeadError, StartFields, StartRef,
};
use header::{canonical_name, param};

/// Longest message head accepted: start line, header lines and the empty line (plus any CR/LF
/// before the start line).
///
/// Why: the head is buffered whole before it can be parsed, so this is what an incomplete or
/// slow peer costs a TCP connection before the message limit applies. GB/T 28181 cameras send
/// 350–700 byte heads; 8 KiB, the same as our HTTP head limit, leaves room for long
/// `Via`/`Record-Route` chains from platforms in a cascade.
pub const MAX_HEAD_LEN: usize = 8 * 1024;

/// Longest message accepted, head plus body.
///
/// Why: a UDP datagram cannot carry more than 65,507 bytes, so a larger SIP message can only
/// come over TCP, where this bounds the per-connection receive buffer. MANSCDP bodies are
/// small: devices split a large `Catalog` response into several MESSAGEs (`SumNum`), each a
/// few KiB; the biggest NVR catalog pages seen are around 20 KiB.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Most header lines in one message, not counting `Content-Length` lines (at most one more
/// line of any kind is allowed for it): encoding writes every other header and then its own
/// `Content-Length`, so anything decoded re-encodes within the limit.
///
/// Why: each stored header is two `String`s (48 bytes of bookkeeping on 64-bit plus its text,
/// which [`MAX_HEAD_LEN`] bounds), so this caps a decoded message's overhead at about 3 KiB.
/// Cameras send 9–12 headers; a request that crossed a few proxies, about 20.
pub const MAX_HEADERS: usize = 64;

/// The only protocol version spoken (RFC 3261 §7.1).
pub const SIP_VERSION: &str = "SIP/2.0";

/// The answer to a double-CRLF keepalive ping on a stream (RFC 5626 §4.4.1).
pub const KEEPALIVE_PONG: &[u8] = b"\r\n";

/// Request method (RFC 3261 §7.1, plus RFC 2976 INFO and RFC 6665 SUBSCRIBE/NOTIFY, which
/// GB/T 28181 uses for catalog and alarm subscriptions). Methods are case-sensitive:
/// `register` is `Other("register")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Register,
    Message,
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Subscribe,
    Notify,
    Other(String),
}

impl Method {
    /// Maps a method token as sent on the wire.
    pub fn from_token(token: &str) -> Method {
        match token {
            "REGISTER" => Method::Register,
            "MESSAGE" => Method::Message,
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The method token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Register => "REGISTER",
            Method::Message => "MESSAGE",
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message (RFC 3261 §7.1, §7.2).
#[derive(Debug, Clone, PartialEq)]
pub enum StartLine {
    /// `METHOD Request-URI SIP/2.0`. The URI is kept as sent.
    Request { method: Method, uri: String },
    /// `SIP/2.0 Status-Code Reason-Phrase`; `status` is 100..=699 when decoded.
    Response { status: u16, reason: String },
}

/// One SIP request or response.
#[derive(Debug, Clone, PartialEq)]
pub struct SipMessage {
    pub start: StartLine,
    /// In arrival order. Names canonical (long form, [`header::canonical_name`]), values
    /// trimmed, folded lines unfolded, non-UTF-8 bytes replaced by U+FFFD. Use
    /// [`SipMessage::header`] rather than comparing names here: a caller may have pushed
    /// any spelling.
    pub headers: Vec<(String, String)>,
    /// The body, raw bytes in whatever charset the peer used.
    pub body: Bytes,
}

/// Why a message was refused, from the least to the most damaging. Over TCP, every error from
/// [`decode`] other than `Empty` ends the connection; over UDP it drops the datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    /// The datagram held only CR/LF (an RFC 5626 keepalive) or nothing: ignore it.
    #[error("no message, only CR/LF")]
    Empty,
    /// An `Authorization` or `WWW-Authenticate` value that is not usable Digest: answer the
    /// request with 400 (or 401 with a fresh challenge); the dialog and connection live on.
    #[error("bad Digest value: {0}")]
    Digest(&'static str),
    /// A syntax error; `offset` is where in the decoded buffer the bad line starts (or the
    /// bad byte is).
    #[error("malformed {what} at byte {offset}")]
    Malformed { what: &'static str, offset: usize },
    /// The start line names another protocol or version (an HTTP request on port 5060, say).
    #[error("not SIP/2.0 at byte {offset}")]
    UnsupportedVersion { offset: usize },
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    #[error("message head longer than {limit} bytes")]
    HeadTooLarge { limit: usize },
    /// Head plus declared body exceed the limit; on TCP detected from the head, before the
    /// body is buffered.
    #[error("message of {len} bytes longer than {limit}")]
    MessageTooLarge { len: u64, limit: usize },
}

/// How a datagram's body compared with its `Content-Length` (see [`decode_datagram_checked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLength {
    /// The `Content-Length` value, if the head had one.
    pub declared: Option<u64>,
    /// Bytes after the head in the datagram.
    pub received: usize,
}

impl BodyLength {
    /// The datagram ended before the declared body did (the body kept is what arrived).
    pub fn is_short(&self) -> bool {
        self.declared.is_some_and(|d| d > self.received as u64)
    }

    /// Bytes after the declared body, dropped.
    pub fn excess(&self) -> usize {
        match self.declared {
            Some(d) if d < self.received as u64 => self.received - d as usize,
            _ => 0,
        }
    }
}

/// Number of CR and LF bytes at the start of `buf`: what RFC 3261 §7.5 says to ignore before a
/// start line, and what RFC 5626 keepalives (`\r\n\r\n` ping, `\r\n` pong) consist of. A TCP
/// driver may drop them from its buffer before calling [`decode`].
pub fn leading_crlf_len(buf: &[u8]) -> usize {
    textmsg::leading_crlf_len(buf)
}

/// Decodes one message from the start of a stream (TCP).
///
/// `Ok(None)`: incomplete; call again with more bytes. `Ok(Some((message, consumed)))`:
/// `consumed` bytes (leading CR/LF, head, body) form the message. The body is exactly
/// `Content-Length` bytes; a missing `Content-Length` means an empty body (RFC 3261 §18.3
/// makes it mandatory on streams; we do not refuse its absence).
///
/// Limits: the head must end within the first [`MAX_HEAD_LEN`] bytes, or
/// [`SipError::HeadTooLarge`] as soon as that many bytes have arrived; head plus declared body
/// over [`MAX_MESSAGE_LEN`] is [`SipError::MessageTooLarge`] as soon as the head is complete.
/// So a caller never needs to buffer more than `MAX_MESSAGE_LEN` bytes.
///
/// For UDP use [`decode_datagram`]: a datagram is one message whatever its `Content-Length`.
pub fn decode(buf: &[u8]) -> Result<Option<(SipMessage, usize)>, SipError> {
    let window = &buf[..buf.len().min(MAX_HEAD_LEN)];
    let start = leading_crlf_len(window);
    let Some(head_end) = find_head_end(window, start) else {
        if buf.len() >= MAX_HEAD_LEN {
            return Err(SipError::HeadTooLarge {
                limit: MAX_HEAD_LEN,
            });
        }
        return Ok(None);
    };
    let head = parse_head(&buf[start..head_end], start)?;
    let body_len = head.content_length.unwrap_or(0);
    let len = ((head_end - start) as u64).saturating_add(body_len);
    if len > MAX_MESSAGE_LEN as u64 {
        return Err(SipError::MessageTooLarge {
            len,
            limit: MAX_MESSAGE_LEN,
        });
    }
    // body_len <= MAX_MESSAGE_LEN here, so the cast and the sum are exact.
    let end = head_end + body_len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let message = SipMessage {
        start: head.start,
        headers: head.headers,
        body: Bytes::copy_from_slice(&buf[head_end..end]),
    };
    Ok(Some((message, end)))
}

/// Decodes one UDP datagram as one message (RFC 3261 §18.3).
///
/// Lenient where cameras get it wrong: a `Content-Length` larger than what arrived keeps the
/// bytes that are there; a smaller one cuts the body to it; none means the rest of the
/// datagram; a head without its empty line is a message without a body. Use
/// [`decode_datagram_checked`] to count those cases.
pub fn decode_datagram(buf: &[u8]) -> Result<SipMessage, SipError> {
    decode_datagram_checked(buf).map(|(message, _)| message)
}

/// [`decode_datagram`], also telling how the body compared with `Content-Length`.
pub fn decode_datagram_checked(buf: &[u8]) -> Result<(SipMessage, BodyLength), SipError> {
    if buf.len() > MAX_MESSAGE_LEN {
        return Err(SipError::MessageTooLarge {
            len: buf.len() as u64,
            limit: MAX_MESSAGE_LEN,
        });
    }
    let start = leading_crlf_len(buf);
    if start == buf.len() {
        return Err(SipError::Empty);
    }
    let window = &buf[..buf.len().min(MAX_HEAD_LEN)];
    let head_end = match find_head_end(window, start) {
        Some(end) => end,
        None if buf.len() <= MAX_HEAD_LEN => buf.len(),
        None => {
            return Err(SipError::HeadTooLarge {
                limit: MAX_HEAD_LEN,
            })
        }
    };
    let head = parse_head(&buf[start..head_end], start)?;
    let received = buf.len() - head_end;
    let kept = match head.content_length {
        Some(declared) if declared < received as u64 => declared as usize,
        _ => received,
    };
    let message = SipMessage {
        start: head.start,
        headers: head.headers,
        body: Bytes::copy_from_slice(&buf[head_end..head_end + kept]),
    };
    let length = BodyLength {
        declared: head.content_length,
        received,
    };
    Ok((message, length))
}

struct Head {
    start: StartLine,
    headers: Vec<(String, String)>,
    content_length: Option<u64>,
}

/// Parses a head (start line through the empty line, or a datagram's whole text when it has
/// no empty line). `base` is the head's offset in the caller's buffer, for error offsets.
fn parse_head(head: &[u8], base: usize) -> Result<Head, SipError> {
    let (start, headers) =
        textmsg::parse_head(head, base, MAX_HEADERS, canonical_name, parse_start_line)?;
    let content_length = textmsg::content_length(&headers, base)?;
    Ok(Head {
        start,
        headers,
        content_length,
    })
}

impl From<HeadError> for SipError {
    fn from(e: HeadError) -> SipError {
        match e {
            HeadError::Malformed { what, offset } => SipError::Malformed { what, offset },
            HeadError::TooManyHeaders { limit } => SipError::TooManyHeaders { limit },
            HeadError::UnsupportedVersion { offset } => SipError::UnsupportedVersion { offset },
        }
    }
}

impl From<DigestError> for SipError {
    fn from(e: DigestError) -> SipError {
        SipError::Digest(e.0)
    }
}

/// RFC 3261 §7.1 `Request-Line` or §7.2 `Status-Line` (status 100..=699).
fn parse_start_line(line: &[u8], offset: usize) -> Result<StartLine, SipError> {
    Ok(
        match textmsg::parse_start_line(line, offset, SIP_VERSION, 100..=699)? {
            StartFields::Request { method, uri } => StartLine::Request {
                method: Method::from_token(&method),
                uri,
            },
            StartFields::Response { status, reason } => StartLine::Response { status, reason },
        },
    )
}

impl SipMessage {
    /// A request with no headers and no body.
    pub fn request(method: Method, uri: impl Into<String>) -> SipMessage {
        SipMessage {
            start: StartLine::Request {
                method,
                uri: uri.into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A response with no headers and no body; see also [`SipMessage::response_to`] and
    /// [`reason_phrase`].
    pub fn response(status: u16, reason: impl Into<String>) -> SipMessage {
        SipMessage {
            start: StartLine::Response {
                status,
                reason: reason.into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Request { .. } => None,
            StartLine::Response { status, .. } => Some(*status),
        }
    }

    /// The first header of that name: case-insensitive, compact forms accepted (`"i"` finds
    /// `Call-ID`).
    pub fn header(&self, name: &str) -> Option<&str> {
        textmsg::header_values(&self.headers, name, canonical_name).next()
    }

    /// Every header line of that name, in order (several `Via`, say). A comma-joined value
    /// (`Via: a, b`) is one item; split it with [`header::split_list`].
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        textmsg::header_values(&self.headers, name, canonical_name)
    }

    /// Appends a header; the name is stored canonical.
    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers
            .push((canonical_name(name).to_owned(), value.into()));
    }

    /// [`SipMessage::push_header`], builder style.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> SipMessage {
        self.push_header(name, value);
        self
    }

    /// Replaces every header of that name with one (where the first was, else at the end).
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        textmsg::set_header(&mut self.headers, name, value.into(), canonical_name);
    }

    /// Removes every header of that name.
    pub fn remove_header(&mut self, name: &str) {
        textmsg::remove_header(&mut self.headers, name, canonical_name);
    }

    /// Sets the body and its `Content-Type` (e.g. `Application/MANSCDP+xml`,
    /// `application/sdp`), builder style.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Bytes>) -> SipMessage {
        self.set_header("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// `CSeq` number and method (RFC 3261 §20.16). `None` if absent or malformed.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let mut fields = self.header("CSeq")?.split(is_lws).filter(|f| !f.is_empty());
        let number = parse_decimal(fields.next()?)?;
        let method = fields.next().filter(|m| is_token(m))?;
        Some((u32::try_from(number).ok()?, Method::from_token(method)))
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID").filter(|v| !v.is_empty())
    }

    /// Requested registration lifetime in seconds: the first `Contact`'s `;expires=` if it has
    /// one, else the `Expires` header (RFC 3261 §10.3 step 7 gives the parameter precedence).
    /// `None` when neither is present or valid. `Expires: 0` (unregister) is `Some(0)`.
    pub fn expires(&self) -> Option<u32> {
        self.header("Contact")
            .and_then(|c| param(c, "expires"))
            .and_then(parse_delta_seconds)
            .or_else(|| self.header("Expires").and_then(parse_delta_seconds))
    }

    /// The `tag` parameter of `From` (the peer's half of a dialog id).
    pub fn from_tag(&self) -> Option<&str> {
        self.header("From")
            .and_then(|v| param(v, "tag"))
            .filter(|t| !t.is_empty())
    }

    /// The `tag` parameter of `To`; absent in an out-of-dialog request.
    pub fn to_tag(&self) -> Option<&str> {
        self.header("To")
            .and_then(|v| param(v, "tag"))
            .filter(|t| !t.is_empty())
    }

    /// The user part of the `From` URI: the GB/T 28181 device id for a camera's requests
    /// (`<sip:34020000001320000001@3402000000>` → `34020000001320000001`).
    pub fn from_user(&self) -> Option<&str> {
        header::uri_user(header::uri(self.header("From")?))
    }

    /// The user part of the `To` URI.
    pub fn to_user(&self) -> Option<&str> {
        header::uri_user(header::uri(self.header("To")?))
    }

    /// The `branch` of the top `Via` (the transaction id, RFC 3261 §17.2.3).
    pub fn via_branch(&self) -> Option<&str> {
        self.header("Via")
            .and_then(|v| param(v, "branch"))
            .filter(|b| !b.is_empty())
    }

    /// The `Content-Length` the message declares (as received; [`SipMessage::encode`] writes
    /// its own). `None` when absent or not a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("Content-Length").and_then(parse_decimal)
    }

    /// Stamps the top `Via` of a received request with its source address (`received`, and
    /// `rport` when the client asked for it), so responses built by
    /// [`SipMessage::response_to`] carry it (RFC 3261 §18.2.1, RFC 3581 §4). See
    /// [`header::via_received`].
    pub fn stamp_received(&mut self, ip: &str, port: u16) {
        if let Some((_, via)) = self
            .headers
            .iter_mut()
            .find(|(n, _)| canonical_name(n) == "Via")
        {
            *via = header::via_received(via, ip, port);
        }
    }

    /// A response to this request with the headers RFC 3261 §8.2.6.2 says to copy: every
    /// `Via` (in order), `From`, `To`, `Call-ID`, `CSeq`. `to_tag` is added to `To` unless it
    /// already has a tag; every response but 100 Trying needs one, and it must be the same
    /// for every response in one dialog (the caller makes and remembers it). Headers missing
    /// from the request are missing from the response. The body is empty.
    pub fn response_to(&self, status: u16, reason: &str, to_tag: Option<&str>) -> SipMessage {
        let mut response = SipMessage::response(status, reason);
        for via in self.headers_all("Via") {
            response.push_header("Via", via);
        }
        if let Some(from) = self.header("From") {
            response.push_header("From", from);
        }
        if let Some(to) = self.header("To") {
            let to = match to_tag {
                Some(tag) if param(to, "tag").is_none() => header::with_param(to, "tag", tag),
                _ => to.to_owned(),
            };
            response.push_header("To", to);
        }
        for name in ["Call-ID", "CSeq"] {
            if let Some(value) = self.header(name) {
                response.push_header(name, value);
            }
        }
        response
    }

    /// Writes the message: start line, headers in order except any `Content-Length`, then
    /// `Content-Length` computed from the body, the empty line and the body. CR and LF inside
    /// names, values, the URI or the reason are written as spaces, so no string can inject a
    /// header line.
    pub fn encode(&self, out: &mut impl BufMut) {
        textmsg::encode(
            out,
            SIP_VERSION,
            self.start_ref(),
            &self.headers,
            &self.body,
            ContentLength::Always,
            canonical_name,
        );
    }

    /// The number of bytes [`SipMessage::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        textmsg::encoded_len(
            SIP_VERSION,
            self.start_ref(),
            &self.headers,
            self.body.len(),
            ContentLength::Always,
            canonical_name,
        )
    }

    /// The encoded message in one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }

    fn start_ref(&self) -> StartRef<'_> {
        match &self.start {
            StartLine::Request { method, uri } => StartRef::Request {
                method: method.as_str(),
                uri,
            },
            StartLine::Response { status, reason } => StartRef::Response {
                status: *status,
                reason,
            },
        }
    }
}

/// The RFC 3261 §21 reason phrase for the status codes a GB/T 28181 agent sends or meets; `""`
/// for others.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        513 => "Message Too Large",
        _ => "",
    }
}
