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

use bytes::BufMut;

/// Why a head's lines could not be split; the protocol maps it onto its own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// A syntax error at `offset` in the caller's buffer (where the line or the bad byte is).
    Malformed { what: &'static str, offset: usize },
    /// More header lines than the protocol's limit.
    TooManyHeaders { limit: usize },
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
