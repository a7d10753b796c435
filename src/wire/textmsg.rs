//! The message head SIP (RFC 3261 §7) and RTSP (RFC 2326 §4, §6, §7) share, both borrowed
//! from HTTP/1.1 (RFC 2616 §4): a start line, `Name: value` header lines, an empty line, then
//! `Content-Length` bytes of body. [`crate::wire::sip`] and [`crate::wire::rtsp`] keep their
//! own start lines, header names, limits and errors; the line handling is here, once.
//!
//! Pure code over byte slices: no I/O, no clock.
//!
//! What both protocols get from [`parse_head`]: LF-only line ends, folded header lines
//! (a line starting with SP or HT continues the previous value; unfolded with one space),
//! whitespace before the colon and around values, names checked to be tokens, control
//! characters refused (other than HT and the CR of CRLF), bytes that are not UTF-8 replaced by
//! U+FFFD, and a cap on the number of header lines counted without `Content-Length` (encoders
//! write their own, so what decodes re-encodes within the cap).

use std::ops::RangeInclusive;

use bytes::BufMut;

/// Why a head's lines could not be split; the protocol maps it onto its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// A syntax error at `offset` in the caller's buffer (where the line or the bad byte is).
    Malformed { what: &'static str, offset: usize },
    /// More header lines than the protocol's limit.
    TooManyHeaders { limit: usize },
    /// The start line names another protocol or version.
    UnsupportedVersion { offset: usize },
}

/// The fields of a start line, before the protocol types the method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartFields {
    /// `METHOD Request-URI VERSION`: the method is a token, the URI as sent.
    Request { method: String, uri: String },
    /// `VERSION Status-Code Reason-Phrase`.
    Response { status: u16, reason: String },
}

/// A start line to write.
#[derive(Debug, Clone, Copy)]
pub enum StartRef<'a> {
    Request { method: &'a str, uri: &'a str },
    Response { status: u16, reason: &'a str },
}

/// When [`encode`] writes `Content-Length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentLength {
    /// Always (SIP over streams needs it, RFC 3261 §18.3).
    Always,
    /// Only for a body (RTSP: absent means none, RFC 2326 §12.14).
    WithBody,
}

/// RFC 3261 §25.1 / RFC 2616 §2.2 `token` characters (header names, methods, parameter
/// names).
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Linear white space inside a line: SP or HT.
pub fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Number of CR and LF bytes at the start of `buf`: what RFC 3261 §7.5 (and RFC 2616 §4.1,
/// which RTSP follows) say to ignore before a start line.
pub fn leading_crlf_len(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// The index just past the empty line that ends the head, searching from `from` (the start
/// line). Any of CRLF CRLF, LF LF, CRLF LF, LF CRLF ends it.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = buf.get(i..)?.iter().position(|&b| b == b'\n') {
        let lf = i + p;
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return Some(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(lf + 3),
            _ => i = lf + 1,
        }
    }
    None
}

/// Splits a head (start line through the empty line, or a datagram's whole text when it has
/// no empty line) into the start line, parsed by `start` (given the line and its offset), and
/// the header fields: names through `canonical`, values trimmed and unfolded. `base` is the
/// head's offset in the caller's buffer, for error offsets.
///
/// At most `max_headers` header lines other than `Content-Length`, and `max_headers + 1`
/// lines in all, else [`HeadError::TooManyHeaders`].
pub fn parse_head<S, E: From<HeadError>>(
    head: &[u8],
    base: usize,
    max_headers: usize,
    canonical: fn(&str) -> &str,
    start: impl FnOnce(&[u8], usize) -> Result<S, E>,
) -> Result<(S, Vec<(String, String)>), E> {
    let mut start = Some(start);
    let mut start_line = None;
    // A constant capacity that fits every camera's head, not a size read from the wire.
    let mut headers: Vec<(String, String)> = Vec::with_capacity(16);
    // Headers other than Content-Length (see above).
    let mut others = 0usize;
    let mut pos = 0;
    while pos < head.len() {
        let end = head[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |p| pos + p);
        let line = head[pos..end]
            .strip_suffix(b"\r")
            .unwrap_or(&head[pos..end]);
        let offset = base + pos;
        pos = end + 1;
        if let Some(bad) = line
            .iter()
            .position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(HeadError::Malformed {
                what: "control character",
                offset: offset + bad,
            }
            .into());
        }
        if let Some(parse) = start.take() {
            start_line = Some(parse(line, offset)?);
            continue;
        }
        match line.first() {
            None => break,
            // RFC 3261 §7.3.1, RFC 2616 §2.2: a line starting with whitespace continues the
            // previous value.
            Some(b' ' | b'\t') => {
                let Some((_, value)) = headers.last_mut() else {
                    return Err(HeadError::Malformed {
                        what: "folded line before any header",
                        offset,
                    }
                    .into());
                };
                let more = String::from_utf8_lossy(trim_lws(line));
                if !more.is_empty() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(&more);
                }
            }
            Some(_) => {
                if headers.len() > max_headers {
                    return Err(HeadError::TooManyHeaders { limit: max_headers }.into());
                }
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    return Err(HeadError::Malformed {
                        what: "header line without a colon",
                        offset,
                    }
                    .into());
                };
                // RFC 3261 §25.1 HCOLON allows whitespace before the colon; cameras send it
                // in RTSP too.
                let name = trim_lws(&line[..colon]);
                if name.is_empty() || !name.iter().copied().all(is_token_byte) {
                    return Err(HeadError::Malformed {
                        what: "header name",
                        offset,
                    }
                    .into());
                }
                let name = String::from_utf8_lossy(name);
                let name = canonical(&name);
                if name != "Content-Length" {
                    others += 1;
                    if others > max_headers {
                        return Err(HeadError::TooManyHeaders { limit: max_headers }.into());
                    }
                }
                let value = String::from_utf8_lossy(trim_lws(&line[colon + 1..]));
                headers.push((name.to_owned(), value.into_owned()));
            }
        }
    }
    let Some(start_line) = start_line else {
        return Err(HeadError::Malformed {
            what: "empty message",
            offset: base,
        }
        .into());
    };
    Ok((start_line, headers))
}

/// RFC 3261 §7.1/§7.2 and RFC 2326 §6.1/§7.1: a request line or a status line of `version`
/// (`SIP/2.0`, `RTSP/1.0`; compared without case), the status within `statuses`. Runs of
/// spaces between the fields are tolerated. A first field with the protocol's name but
/// another version, or a request line ending in another version, is `UnsupportedVersion`.
pub fn parse_start_line(
    line: &[u8],
    offset: usize,
    version: &str,
    statuses: RangeInclusive<u16>,
) -> Result<StartFields, HeadError> {
    let text = String::from_utf8_lossy(line);
    let mut fields = text.split(is_lws).filter(|f| !f.is_empty());
    let first = fields.next().unwrap_or("");
    let protocol = version.split_inclusive('/').next().unwrap_or(version);
    if first
        .as_bytes()
        .get(..protocol.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(protocol.as_bytes()))
    {
        if !first.eq_ignore_ascii_case(version) {
            return Err(HeadError::UnsupportedVersion { offset });
        }
        let malformed = HeadError::Malformed {
            what: "status line",
            offset,
        };
        let rest = text.trim_start_matches(is_lws)[first.len()..].trim_start_matches(is_lws);
        let (code, reason) = rest.split_once(is_lws).unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed);
        }
        let status: u16 = code.parse().map_err(|_| malformed)?;
        if !statuses.contains(&status) {
            return Err(malformed);
        }
        return Ok(StartFields::Response {
            status,
            reason: reason.trim_matches(is_lws).to_owned(),
        });
    }
    let (Some(uri), Some(request_version), None) = (fields.next(), fields.next(), fields.next())
    else {
        // `GET / HTTP/1.1` has three fields and is caught below; anything else is garbage.
        return Err(HeadError::Malformed {
            what: "request line",
            offset,
        });
    };
    if !request_version.eq_ignore_ascii_case(version) {
        return Err(HeadError::UnsupportedVersion { offset });
    }
    if !is_token(first) {
        return Err(HeadError::Malformed {
            what: "method",
            offset,
        });
    }
    Ok(StartFields::Request {
        method: first.to_owned(),
        uri: uri.to_owned(),
    })
}

/// The values of every header named `name` (through `canonical`, without case), in order.
pub fn header_values<'a>(
    headers: &'a [(String, String)],
    name: &str,
    canonical: fn(&str) -> &str,
) -> impl Iterator<Item = &'a str> + 'a {
    let name = canonical(name).to_owned();
    headers
        .iter()
        .filter(move |(n, _)| canonical(n).eq_ignore_ascii_case(&name))
        .map(|(_, v)| v.as_str())
}

/// Replaces every header named `name` with one (where the first was, else at the end); the
/// name is stored through `canonical`.
pub fn set_header(
    headers: &mut Vec<(String, String)>,
    name: &str,
    value: String,
    canonical: fn(&str) -> &str,
) {
    let name = canonical(name);
    match headers
        .iter()
        .position(|(n, _)| canonical(n).eq_ignore_ascii_case(name))
    {
        Some(first) => {
            headers[first] = (name.to_owned(), value);
            let mut i = 0;
            headers.retain(|(n, _)| {
                i += 1;
                i - 1 == first || !canonical(n).eq_ignore_ascii_case(name)
            });
        }
        None => headers.push((name.to_owned(), value)),
    }
}

/// Removes every header named `name`.
pub fn remove_header(headers: &mut Vec<(String, String)>, name: &str, canonical: fn(&str) -> &str) {
    let name = canonical(name);
    headers.retain(|(n, _)| !canonical(n).eq_ignore_ascii_case(name));
}

/// The headers [`encode`] writes: all but `Content-Length`.
fn encoded_headers(
    headers: &[(String, String)],
    canonical: fn(&str) -> &str,
) -> impl Iterator<Item = (&str, &str)> {
    headers
        .iter()
        .filter(move |(n, _)| !canonical(n).eq_ignore_ascii_case("Content-Length"))
        .map(|(n, v)| (n.as_str(), v.as_str()))
}

/// Writes a message: start line, `headers` in order but any `Content-Length`, then the
/// `Content-Length` of `body` (see [`ContentLength`]), the empty line and the body. CR and LF
/// inside names, values, the URI or the reason are written as spaces.
pub fn encode(
    out: &mut impl BufMut,
    version: &str,
    start: StartRef<'_>,
    headers: &[(String, String)],
    body: &[u8],
    content_length: ContentLength,
    canonical: fn(&str) -> &str,
) {
    match start {
        StartRef::Request { method, uri } => {
            put_text(out, method);
            out.put_u8(b' ');
            put_text(out, uri);
            out.put_u8(b' ');
            out.put_slice(version.as_bytes());
        }
        StartRef::Response { status, reason } => {
            out.put_slice(version.as_bytes());
            out.put_u8(b' ');
            put_text(out, &status.to_string());
            out.put_u8(b' ');
            put_text(out, reason);
        }
    }
    out.put_slice(b"\r\n");
    for (name, value) in encoded_headers(headers, canonical) {
        put_text(out, name);
        out.put_slice(b": ");
        put_text(out, value);
        out.put_slice(b"\r\n");
    }
    if content_length == ContentLength::Always || !body.is_empty() {
        out.put_slice(b"Content-Length: ");
        out.put_slice(body.len().to_string().as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.put_slice(body);
}

/// The number of bytes [`encode`] writes.
pub fn encoded_len(
    version: &str,
    start: StartRef<'_>,
    headers: &[(String, String)],
    body_len: usize,
    content_length: ContentLength,
    canonical: fn(&str) -> &str,
) -> usize {
    let start = match start {
        StartRef::Request { method, uri } => method.len() + 1 + uri.len() + 1 + version.len(),
        StartRef::Response { status, reason } => {
            version.len() + 1 + decimal_len(u64::from(status)) + 1 + reason.len()
        }
    };
    let headers: usize = encoded_headers(headers, canonical)
        .map(|(n, v)| n.len() + 2 + v.len() + 2)
        .sum();
    let length = if content_length == ContentLength::Always || body_len > 0 {
        "Content-Length: ".len() + decimal_len(body_len as u64) + 2
    } else {
        0
    };
    start + 2 + headers + length + 2 + body_len
}

pub fn trim_lws(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The declared body length of canonically named headers: absent, or one decimal number
/// (repeated identically at most). Conflicting values are refused, since on a stream they
/// would make the framing ambiguous.
pub fn content_length(headers: &[(String, String)], base: usize) -> Result<Option<u64>, HeadError> {
    let mut found = None;
    for (_, value) in headers.iter().filter(|(n, _)| n == "Content-Length") {
        let Some(len) = parse_decimal(value) else {
            return Err(HeadError::Malformed {
                what: "Content-Length",
                offset: base,
            });
        };
        if found.is_some_and(|f| f != len) {
            return Err(HeadError::Malformed {
                what: "conflicting Content-Length",
                offset: base,
            });
        }
        found = Some(len);
    }
    Ok(found)
}

/// Digits only, no sign, no overflow.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// A `delta-seconds` (RFC 3261 §25.1, RFC 2616 §3.3.2) such as SIP's `Expires` or the
/// `timeout` of RTSP's `Session` (RFC 2326 §12.37); values beyond 2^32-1 are taken as 2^32-1.
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = s.bytes().fold(0u64, |n, b| {
        (n * 10 + u64::from(b - b'0')).min(u64::from(u32::MAX))
    });
    u32::try_from(n).ok()
}

/// Writes `s` with every CR and LF replaced by a space (same length), so that no string can
/// inject a header line.
pub fn put_text(out: &mut impl BufMut, s: &str) {
    for (i, piece) in s.split(['\r', '\n']).enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        out.put_slice(piece.as_bytes());
    }
}

/// Digits of `n` in decimal.
pub fn decimal_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}
