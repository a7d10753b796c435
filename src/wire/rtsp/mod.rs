//! RTSP 1.0 (RFC 2326) on a TCP connection: requests and responses, mixed with the
//! interleaved binary frames (`$`, channel, 16-bit length, payload; RFC 2326 §10.12) that carry
//! RTP and RTCP when the transport is `RTP/AVP/TCP`. Typed header values are in [`header`],
//! URLs and `a=control` resolution in [`url`].
//!
//! Pure code over byte slices: no I/O, no clock. The camera client and the server build on it.
//!
//! What a caller must know:
//!
//! * [`decode`] takes the next [`Item`] off the front of a connection's buffer, a message or an
//!   interleaved frame, and says how many bytes it used; `Ok(None)` means "need more bytes".
//!   [`decode_buf`] does the same on a `BytesMut` and hands the payload out without copying.
//!   Neither keeps state: until a message is complete each call re-reads its head (at most
//!   [`MAX_HEAD_LEN`] bytes are scanned).
//! * Every [`RtspError`] from them ends the connection: the framing is lost and there is no
//!   way to find the next message. None is worth more than a debug log line: peers control
//!   them.
//! * Tolerated, as cameras send it: LF-only line ends, folded header lines, header names in
//!   any case (stored in their RFC 2326 §12 spelling when known, [`canonical_name`]),
//!   whitespace before the colon and after values (Longse cameras put it after `CSeq`), CR/LF
//!   between messages, a message without `Content-Length` (no body; RFC 2326 §12.14).
//! * Refused: control characters in the head, a version other than `RTSP/1.0`, conflicting or
//!   non-numeric `Content-Length`, and the limits below, each checked before what it bounds
//!   is buffered. A head is also refused when its encoding would break the head or line
//!   limit, so that whatever decodes re-encodes to bytes that decode.
//! * `Content-Length`: [`Message::encode`] writes its own, from the body, as the last header
//!   (and only when there is a body), and skips any in `headers`.
//! * Interleaved frames are returned for any channel; which channels belong to which track
//!   (and what to do with the others) is the session's business.
//! * Not supported: RTSP 2.0 (RFC 7826), RTSP over HTTP tunnelling, `rtspu://`, multipart
//!   bodies, `Content-Encoding` (bodies are passed through).

use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::textmsg::{
    self, find_head_end, is_lws, is_token, leading_crlf_len, parse_decimal, ContentLength,
    HeadError, StartFields, StartRef,
};

pub mod header;
#[cfg(test)]
mod tests;
pub mod url;

/// The only protocol version spoken (RFC 2326 §3.1).
pub const VERSION: &str = "RTSP/1.0";

/// Longest message head accepted: start line, header lines and the empty line (plus any CR/LF
/// before the start line).
///
/// Why: the head is buffered whole before it can be parsed, so this is what a slow or hostile
/// peer costs a connection before the body limit applies. Cameras send 150–600 byte heads; the
/// longest are 401 replies with two `WWW-Authenticate` lines and PLAY replies whose `RTP-Info`
/// names every track. 8 KiB, as for SIP and HTTP.
pub const MAX_HEAD_LEN: usize = 8 * 1024;

/// Longest line of a head, its line end included.
///
/// Why: the longest lines seen are a camera URL with a query of tokens (about 300 bytes), a
/// Digest `Authorization` (about 300) and an `RTP-Info` for three tracks (about 450). A stream
/// that is not RTSP (binary garbage, a desynchronised interleaved stream) has no line end:
/// this finds it after 2 KiB instead of [`MAX_HEAD_LEN`].
pub const MAX_LINE_LEN: usize = 2 * 1024;

/// Most header lines in one message, not counting `Content-Length` (one more line of any kind
/// is allowed for it).
///
/// Why: each stored header is two `String`s (48 bytes of bookkeeping on 64-bit plus its text,
/// which [`MAX_HEAD_LEN`] bounds), so this caps a message's overhead at about 1.5 KiB. Cameras
/// send 4–12 headers.
pub const MAX_HEADERS: usize = 32;

/// Largest body accepted.
///
/// Why: the bodies RTSP carries are an SDP (DESCRIBE replies, ANNOUNCE), a few parameter
/// lines (GET_PARAMETER/SET_PARAMETER) or nothing; an SDP longer than
/// [`crate::wire::sdp::MAX_SDP_LEN`] would be refused by its parser anyway. So a message is at
/// most `MAX_HEAD_LEN + MAX_BODY_LEN` = 16 KiB in the connection's buffer.
pub const MAX_BODY_LEN: usize = crate::wire::sdp::MAX_SDP_LEN;

/// The first byte of an interleaved frame (RFC 2326 §10.12).
pub const INTERLEAVED_MAGIC: u8 = b'$';
/// `$`, channel, 16-bit big-endian length.
pub const INTERLEAVED_HEADER_LEN: usize = 4;
/// Largest interleaved payload: its length field is 16 bits. The caller's read buffer must
/// hold `INTERLEAVED_HEADER_LEN + MAX_INTERLEAVED_LEN` bytes for every frame to complete.
pub const MAX_INTERLEAVED_LEN: usize = u16::MAX as usize;

/// Request method (RFC 2326 §6.1, §10). Methods are case-sensitive: `play` is
/// `Unknown("play")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Options,
    Describe,
    Announce,
    Setup,
    Play,
    Pause,
    Teardown,
    GetParameter,
    SetParameter,
    Record,
    Redirect,
    Unknown(String),
}

impl Method {
    /// Maps a method token as sent on the wire.
    pub fn from_token(token: &str) -> Method {
        match token {
            "OPTIONS" => Method::Options,
            "DESCRIBE" => Method::Describe,
            "ANNOUNCE" => Method::Announce,
            "SETUP" => Method::Setup,
            "PLAY" => Method::Play,
            "PAUSE" => Method::Pause,
            "TEARDOWN" => Method::Teardown,
            "GET_PARAMETER" => Method::GetParameter,
            "SET_PARAMETER" => Method::SetParameter,
            "RECORD" => Method::Record,
            "REDIRECT" => Method::Redirect,
            other => Method::Unknown(other.to_owned()),
        }
    }

    /// The method token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Options => "OPTIONS",
            Method::Describe => "DESCRIBE",
            Method::Announce => "ANNOUNCE",
            Method::Setup => "SETUP",
            Method::Play => "PLAY",
            Method::Pause => "PAUSE",
            Method::Teardown => "TEARDOWN",
            Method::GetParameter => "GET_PARAMETER",
            Method::SetParameter => "SET_PARAMETER",
            Method::Record => "RECORD",
            Method::Redirect => "REDIRECT",
            Method::Unknown(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message (RFC 2326 §6.1, §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD Request-URI RTSP/1.0`; the URI is kept as sent (`*` for a server-wide
    /// OPTIONS).
    Request { method: Method, uri: String },
    /// `RTSP/1.0 Status-Code Reason-Phrase`; `status` is 100..=599 when decoded.
    Response { status: u16, reason: String },
}

/// One RTSP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// In arrival order. Names in their RFC 2326 spelling when known ([`canonical_name`]),
    /// values trimmed, folded lines unfolded, non-UTF-8 bytes replaced by U+FFFD. Use
    /// [`Message::header`] rather than comparing names here.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What a connection carries: a message or an interleaved frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Message(Message),
    /// An RTP or RTCP packet on `channel` (RFC 2326 §10.12); the payload may be empty.
    Interleaved {
        channel: u8,
        payload: Bytes,
    },
}

/// Why the bytes on a connection are not RTSP. Every one ends the connection (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtspError {
    /// A syntax error; `offset` is where in the buffer the bad line (or byte) is.
    #[error("malformed RTSP {what} at byte {offset}")]
    Malformed { what: &'static str, offset: usize },
    /// The start line names another protocol or version (an HTTP request, RTSP/2.0).
    #[error("not RTSP/1.0 at byte {offset}")]
    UnsupportedVersion { offset: usize },
    #[error("more than {limit} RTSP header fields")]
    TooManyHeaders { limit: usize },
    /// The head is longer than `limit`, or its encoding would be (CRLF for LF, U+FFFD for
    /// bytes that are not UTF-8).
    #[error("RTSP head longer than {limit} bytes")]
    HeadTooLarge { limit: usize },
    /// A head line without its line end after `limit` bytes, starting at `offset`; or a line
    /// of a head at `offset` whose encoding would be longer (after unfolding, and with each
    /// byte that is not UTF-8 written as U+FFFD).
    #[error("RTSP line at byte {offset} longer than {limit} bytes")]
    LineTooLong { offset: usize, limit: usize },
    /// The declared `Content-Length`, refused as soon as the head is complete.
    #[error("RTSP body of {len} bytes longer than {limit}")]
    BodyTooLarge { len: u64, limit: usize },
    /// [`encode_interleaved`] was given more than [`MAX_INTERLEAVED_LEN`] bytes.
    #[error("interleaved payload of {len} bytes longer than 65535")]
    InterleavedTooLong { len: usize },
}

impl From<HeadError> for RtspError {
    fn from(e: HeadError) -> RtspError {
        match e {
            HeadError::Malformed { what, offset } => RtspError::Malformed { what, offset },
            HeadError::TooManyHeaders { limit } => RtspError::TooManyHeaders { limit },
            HeadError::UnsupportedVersion { offset } => RtspError::UnsupportedVersion { offset },
        }
    }
}

/// Where the parts of the next item are in the buffer.
enum Located {
    Message {
        start: StartLine,
        headers: Vec<(String, String)>,
        body: Range<usize>,
    },
    Interleaved {
        channel: u8,
        payload: Range<usize>,
    },
}

/// Decodes the next item from the front of a connection's bytes.
///
/// `Ok(Some((item, used)))`: the first `used` bytes (leading CR/LF, then the message or the
/// frame) form `item`; they are copied out. `Ok(None)`: incomplete, call again
/// with more bytes. A caller never needs to buffer more than `MAX_HEAD_LEN + MAX_BODY_LEN`
/// bytes for a message or `INTERLEAVED_HEADER_LEN + MAX_INTERLEAVED_LEN` for a frame.
pub fn decode(buf: &[u8]) -> Result<Option<(Item, usize)>, RtspError> {
    let Some((located, used)) = locate(buf)? else {
        return Ok(None);
    };
    let item = located.into_item(Bytes::copy_from_slice(&buf[..used]));
    Ok(Some((item, used)))
}

/// [`decode`] on a connection's read buffer: the item's bytes are split off the front of
/// `buf` (not copied; the payload shares the buffer's allocation). On `Ok(None)` and on
/// error, `buf` is left as it was.
pub fn decode_buf(buf: &mut BytesMut) -> Result<Option<Item>, RtspError> {
    let Some((located, used)) = locate(buf)? else {
        return Ok(None);
    };
    Ok(Some(located.into_item(buf.split_to(used).freeze())))
}

impl Located {
    /// The item, its body or payload sliced out of `bytes` (the item's bytes).
    fn into_item(self, bytes: Bytes) -> Item {
        match self {
            Located::Message {
                start,
                headers,
                body,
            } => Item::Message(Message {
                start,
                headers,
                body: bytes.slice(body),
            }),
            Located::Interleaved { channel, payload } => Item::Interleaved {
                channel,
                payload: bytes.slice(payload),
            },
        }
    }
}

fn locate(buf: &[u8]) -> Result<Option<(Located, usize)>, RtspError> {
    let start = leading_crlf_len(&buf[..buf.len().min(MAX_HEAD_LEN)]);
    let Some(&first) = buf.get(start) else {
        if start >= MAX_HEAD_LEN {
            return Err(RtspError::HeadTooLarge {
                limit: MAX_HEAD_LEN,
            });
        }
        return Ok(None);
    };
    if first == INTERLEAVED_MAGIC {
        let Some(header) = buf.get(start..start + INTERLEAVED_HEADER_LEN) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        let payload = start + INTERLEAVED_HEADER_LEN..start + INTERLEAVED_HEADER_LEN + len;
        if buf.len() < payload.end {
            return Ok(None);
        }
        let end = payload.end;
        let channel = header[1];
        return Ok(Some((Located::Interleaved { channel, payload }, end)));
    }
    let window = &buf[..buf.len().min(MAX_HEAD_LEN)];
    let head_end = find_head_end(window, start);
    check_lines(&window[..head_end.unwrap_or(window.len())], start)?;
    let Some(head_end) = head_end else {
        if buf.len() >= MAX_HEAD_LEN {
            return Err(RtspError::HeadTooLarge {
                limit: MAX_HEAD_LEN,
            });
        }
        return Ok(None);
    };
    let (start_line, headers) = textmsg::parse_head(
        &buf[start..head_end],
        start,
        MAX_HEADERS,
        canonical_name,
        parse_start_line,
    )?;
    check_encoded_head(&start_line, &headers, start)?;
    let body_len = textmsg::content_length(&headers, start)?.unwrap_or(0);
    if body_len > MAX_BODY_LEN as u64 {
        return Err(RtspError::BodyTooLarge {
            len: body_len,
            limit: MAX_BODY_LEN,
        });
    }
    // body_len <= MAX_BODY_LEN here, so the cast and the sum are exact.
    let end = head_end + body_len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let message = Located::Message {
        start: start_line,
        headers,
        body: head_end..end,
    };
    Ok(Some((message, end)))
}

/// Refuses a line (complete, or still arriving at the end of `head`) longer than
/// [`MAX_LINE_LEN`]; `from` is where the start line begins.
fn check_lines(head: &[u8], from: usize) -> Result<(), RtspError> {
    let mut line_start = from;
    for (i, &b) in head.iter().enumerate().skip(from) {
        if b == b'\n' {
            line_start = i + 1;
        } else if i + 1 - line_start >= MAX_LINE_LEN {
            return Err(RtspError::LineTooLong {
                offset: line_start,
                limit: MAX_LINE_LEN,
            });
        }
    }
    Ok(())
}

/// Refuses a head whose encoding ([`Message::encode`]) would break a limit, so that what
/// decodes always encodes to bytes that decode: unfolding joins lines, CRLF replaces LF, and
/// bytes that are not UTF-8 become U+FFFD (three bytes each). `offset` is the head's.
fn check_encoded_head(
    start: &StartLine,
    headers: &[(String, String)],
    offset: usize,
) -> Result<(), RtspError> {
    let start_len = match start {
        StartLine::Request { method, uri } => method.as_str().len() + uri.len() + VERSION.len() + 2,
        StartLine::Response { reason, .. } => VERSION.len() + 5 + reason.len(),
    };
    let longest_header = headers
        .iter()
        .map(|(name, value)| name.len() + 2 + value.len())
        .max()
        .unwrap_or(0);
    // Line ends included, as `check_lines` counts them.
    if start_len.max(longest_header) + 2 > MAX_LINE_LEN {
        return Err(RtspError::LineTooLong {
            offset,
            limit: MAX_LINE_LEN,
        });
    }
    // The encoding's head: start line, headers (with the Content-Length the body gets, at
    // most "Content-Length: 8192"), the empty line.
    let head_len = start_len
        + 2
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>()
        + 2;
    if head_len > MAX_HEAD_LEN {
        return Err(RtspError::HeadTooLarge {
            limit: MAX_HEAD_LEN,
        });
    }
    Ok(())
}

/// RFC 2326 §6.1 `Request-Line` or §7.1 `Status-Line` (status 100..=599).
fn parse_start_line(line: &[u8], offset: usize) -> Result<StartLine, RtspError> {
    Ok(
        match textmsg::parse_start_line(line, offset, VERSION, 100..=599)? {
            StartFields::Request { method, uri } => StartLine::Request {
                method: Method::from_token(&method),
                uri,
            },
            StartFields::Response { status, reason } => StartLine::Response { status, reason },
        },
    )
}

/// RFC 2326 §12 header names (and `Content-Location`, `Location`, `Authentication-Info` that
/// it takes from HTTP/1.1), in their usual spelling.
const KNOWN_NAMES: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Allow",
    "Authorization",
    "Authentication-Info",
    "Bandwidth",
    "Blocksize",
    "Cache-Control",
    "Conference",
    "Connection",
    "Content-Base",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Location",
    "Content-Type",
    "CSeq",
    "Date",
    "Expires",
    "From",
    "Host",
    "If-Match",
    "If-Modified-Since",
    "Last-Modified",
    "Location",
    "Proxy-Authenticate",
    "Proxy-Require",
    "Public",
    "Range",
    "Referer",
    "Retry-After",
    "Require",
    "RTP-Info",
    "Scale",
    "Speed",
    "Server",
    "Session",
    "Timestamp",
    "Transport",
    "Unsupported",
    "User-Agent",
    "Vary",
    "Via",
    "WWW-Authenticate",
];

/// The usual spelling of a known header name (`cseq` → `CSeq`); anything else as given.
pub fn canonical_name(name: &str) -> &str {
    KNOWN_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

/// Writes an interleaved frame header and `payload` (RFC 2326 §10.12). Nothing is written when
/// the payload is longer than [`MAX_INTERLEAVED_LEN`].
pub fn encode_interleaved(
    channel: u8,
    payload: &[u8],
    out: &mut impl BufMut,
) -> Result<(), RtspError> {
    out.put_slice(&interleaved_header(channel, payload.len())?);
    out.put_slice(payload);
    Ok(())
}

/// The 4 bytes in front of an interleaved payload of `len` bytes, for a writer that sends the
/// header and a shared payload separately (`writev`).
pub fn interleaved_header(channel: u8, len: usize) -> Result<[u8; 4], RtspError> {
    let len16 = u16::try_from(len).map_err(|_| RtspError::InterleavedTooLong { len })?;
    let [hi, lo] = len16.to_be_bytes();
    Ok([INTERLEAVED_MAGIC, channel, hi, lo])
}

impl Message {
    /// A request with no headers and no body.
    pub fn request(method: Method, uri: impl Into<String>) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: uri.into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A response with no headers and no body; see [`Message::response_to`] and
    /// [`reason_phrase`].
    pub fn response(status: u16, reason: impl Into<String>) -> Message {
        Message {
            start: StartLine::Response {
                status,
                reason: reason.into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A response to this request with its `CSeq` (RFC 2326 §12.17: every response copies
    /// it) and `Session` when the request had them, and the standard reason phrase.
    pub fn response_to(&self, status: u16) -> Message {
        let mut response = Message::response(status, reason_phrase(status));
        for name in ["CSeq", "Session"] {
            if let Some(value) = self.header(name) {
                response.push_header(name, value);
            }
        }
        response
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Request { .. } => None,
            StartLine::Response { status, .. } => Some(*status),
        }
    }

    /// The first header of that name, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        textmsg::header_values(&self.headers, name, canonical_name).next()
    }

    /// Every header line of that name, in order (several `WWW-Authenticate`, say).
    pub fn headers_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        textmsg::header_values(&self.headers, name, canonical_name)
    }

    /// Appends a header; a known name is stored in its usual spelling.
    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers
            .push((canonical_name(name).to_owned(), value.into()));
    }

    /// [`Message::push_header`], builder style.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Message {
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

    /// Sets the body and its `Content-Type` (`application/sdp`, `text/parameters`), builder
    /// style.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Message {
        self.set_header("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// `CSeq` (RFC 2326 §12.17): the number; `None` if absent or not a 32-bit number.
    pub fn cseq(&self) -> Option<u32> {
        parse_decimal(self.header("CSeq")?).and_then(|n| u32::try_from(n).ok())
    }

    /// `Session` (RFC 2326 §12.37): id and timeout.
    pub fn session(&self) -> Option<header::Session> {
        header::Session::parse(self.header("Session")?)
    }

    /// Every transport of the `Transport` header(s) (RFC 2326 §12.39), in order; those that
    /// do not parse are skipped. At most [`header::MAX_TRANSPORTS`].
    pub fn transports(&self) -> Vec<header::Transport> {
        self.headers_all("Transport")
            .flat_map(header::Transport::parse_list)
            .take(header::MAX_TRANSPORTS)
            .collect()
    }

    /// `RTP-Info` (RFC 2326 §12.33) entries, in order. At most [`header::MAX_RTP_INFO`].
    pub fn rtp_info(&self) -> Vec<header::RtpInfo> {
        self.header("RTP-Info")
            .map(header::RtpInfo::parse_list)
            .unwrap_or_default()
    }

    /// The methods of `Public` (RFC 2326 §12.28), in order. At most [`header::MAX_METHODS`].
    pub fn public(&self) -> Vec<Method> {
        self.headers_all("Public")
            .flat_map(|v| v.split(','))
            .map(|m| m.trim_matches(is_lws))
            .filter(|m| is_token(m))
            .take(header::MAX_METHODS)
            .map(Method::from_token)
            .collect()
    }

    /// The base URL of a DESCRIBE reply's relative `a=control` URLs (RFC 2326 §C.1.1):
    /// `Content-Base`, else `Content-Location`, else `request_url`; see [`url::base`].
    pub fn content_base(&self, request_url: &str) -> String {
        url::base(
            self.header("Content-Base")
                .or_else(|| self.header("Content-Location")),
            request_url,
        )
    }

    /// The challenges of the `WWW-Authenticate` headers (RFC 2326 §12.44), in order, those
    /// of unknown schemes skipped. At most [`header::MAX_CHALLENGES`].
    pub fn challenges(&self) -> Vec<header::Challenge> {
        self.headers_all("WWW-Authenticate")
            .filter_map(header::Challenge::parse)
            .take(header::MAX_CHALLENGES)
            .collect()
    }

    /// The `Content-Length` the message declares (as received; [`Message::encode`] writes
    /// its own). `None` when absent or not a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("Content-Length").and_then(parse_decimal)
    }

    /// Writes the message: start line, headers in order except any `Content-Length`, then
    /// `Content-Length` when the body is not empty, the empty line and the body. CR and LF
    /// inside names, values, the URI or the reason are written as spaces.
    pub fn encode(&self, out: &mut impl BufMut) {
        textmsg::encode(
            out,
            VERSION,
            self.start_ref(),
            &self.headers,
            &self.body,
            ContentLength::WithBody,
            canonical_name,
        );
    }

    /// The number of bytes [`Message::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        textmsg::encoded_len(
            VERSION,
            self.start_ref(),
            &self.headers,
            self.body.len(),
            ContentLength::WithBody,
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

/// The RFC 2326 §7.1.1 reason phrase of a status code; `""` for others.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        250 => "Low on Storage Space",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        451 => "Parameter Not Understood",
        452 => "Conference Not Found",
        453 => "Not Enough Bandwidth",
        454 => "Session Not Found",
        455 => "Method Not Valid in This State",
        456 => "Header Field Not Valid for Resource",
        457 => "Invalid Range",
        458 => "Parameter Is Read-Only",
        459 => "Aggregate operation not allowed",
        460 => "Only aggregate operation allowed",
        461 => "Unsupported transport",
        462 => "Destination unreachable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "RTSP Version not supported",
        551 => "Option not supported",
        _ => "",
    }
}
