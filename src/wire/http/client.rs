//! The client side of HTTP/1.1, as much as the HTTP callbacks need: a request head to send,
//! and a response to read (head, then a body framed by `Content-Length`, `chunked` or the
//! connection's close), bounded in every dimension.
//!
//! Spec: RFC 9112 (HTTP/1.1 message syntax); `§` numbers refer to it.
//!
//! What a caller must know:
//!
//! * [`ResponseReader`] is fed whatever the socket gives ([`ResponseReader::handle_bytes`]),
//!   then told of the close ([`ResponseReader::handle_eof`]); it says when the response is
//!   complete. It keeps at most [`super::MAX_HEAD_LEN`] bytes of head and `max_body` bytes of
//!   body: a longer body is [`HttpError::BodyTooLarge`], never a larger buffer. Interim 1xx
//!   responses (a `100 Continue` we did not ask for) are skipped.
//! * Bytes after a complete response are ignored: we send one request per connection
//!   (`Connection: close`), so nothing may follow.
//! * [`encode_request_head`] writes a request line and fields; a target or field that could
//!   split the request (CR, LF, spaces, controls) is refused by leaving the request unwritten
//!   (`false`), so no configured URL can inject a header.
//!
//! Not supported: trailers are read and dropped, `Transfer-Encoding` codings other than
//! `chunked` (an error), HTTP/1.0 keep-alive (we close anyway).

use bytes::BufMut;

use super::{is_valid_field, list_items, parse_decimal, trim_ows, HttpError, CRLF, MAX_HEADERS};

/// Longest chunk extension (`;name=value` after a chunk size) we skip. Why: extensions are
/// read byte by byte without being kept, but a peer must not make us read forever.
pub const MAX_CHUNK_EXT: usize = 1024;

/// Longest trailer section of a chunked body, all lines together (dropped as read). Why: as
/// for a head, [`super::MAX_HEAD_LEN`].
pub const MAX_TRAILER: usize = super::MAX_HEAD_LEN;

/// How a response's body ends (§6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: 1xx, 204, 304 (§6.3 rule 1). (We never send HEAD.)
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes (§6.3 rule 8).
    Close,
}

/// The parts of a response head the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// 100..=599 (others are refused).
    pub status: u16,
    pub framing: Framing,
}

/// Decodes one response head from the start of `buf`: `Ok(None)` while incomplete and shorter
/// than [`super::MAX_HEAD_LEN`], then the head and the bytes it took (its empty line included).
/// Refused as for requests: conflicting `Content-Length`s, `Content-Length` with
/// `Transfer-Encoding`, codings other than `chunked`.
pub fn decode_response_head(buf: &[u8]) -> Result<Option<(ResponseHead, usize)>, HttpError> {
    let window = &buf[..buf.len().min(super::MAX_HEAD_LEN)];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut fields);
    let consumed = match res.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= super::MAX_HEAD_LEN {
                return Err(HttpError::HeadTooLarge {
                    limit: super::MAX_HEAD_LEN,
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
    let Some(status) = res.code else {
        return Err(HttpError::Malformed("incomplete status line".into()));
    };
    // RFC 9110 §15: three digits, 100..=599 (httparse takes any three, `099` too).
    if !(100..600).contains(&status) {
        return Err(HttpError::Malformed(format!("status {status:03}")));
    }
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for field in res.headers.iter() {
        let value = trim_ows(field.value);
        if field.name.eq_ignore_ascii_case("content-length") {
            let len = parse_decimal(value)
                .ok_or_else(|| HttpError::Malformed("invalid Content-Length".into()))?;
            if content_length.is_some_and(|prev| prev != len) {
                return Err(HttpError::Malformed("conflicting Content-Length".into()));
            }
            content_length = Some(len);
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = std::str::from_utf8(value)
                .map_err(|_| HttpError::Malformed("non-ASCII Transfer-Encoding".into()))?;
            for coding in list_items(value) {
                if !coding.eq_ignore_ascii_case("chunked") {
                    return Err(HttpError::UnsupportedTransferCoding(coding.to_owned()));
                }
                if chunked {
                    return Err(HttpError::Malformed("chunked applied twice".into()));
                }
                chunked = true;
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        if content_length.is_some() {
            return Err(HttpError::Malformed(
                "both Transfer-Encoding and Content-Length".into(),
            ));
        }
        Framing::Chunked
    } else {
        content_length.map_or(Framing::Close, Framing::Length)
    };
    Ok(Some((ResponseHead { status, framing }, consumed)))
}

/// Writes `METHOD target HTTP/1.1`, each `name: value`, then the empty line. `false` (and
/// nothing written) when the target is empty or has a byte outside visible ASCII, or when a
/// field fails [`is_valid_field`].
pub fn encode_request_head(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    out: &mut impl BufMut,
) -> bool {
    let target_ok = !target.is_empty() && target.bytes().all(|b| b.is_ascii_graphic());
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !target_ok || !method_ok || !headers.iter().all(|(n, v)| is_valid_field(n, v)) {
        return false;
    }
    out.put_slice(method.as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.put_slice(name.as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(CRLF);
    }
    out.put_slice(CRLF);
    true
}

/// Where a chunked body's decoding is (§7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size: `digits` so far.
    Size {
        value: u64,
        digits: u8,
    },
    /// Skipping a chunk extension (`;...`) up to CR: `len` bytes so far.
    Ext {
        value: u64,
        len: usize,
    },
    /// After the size line's CR.
    SizeLf {
        value: u64,
    },
    /// `left` data bytes to go.
    Data {
        left: u64,
    },
    DataCr,
    DataLf,
    /// In the trailer section: `line` bytes into the current line, `total` in all.
    Trailer {
        line: usize,
        total: usize,
    },
    TrailerLf {
        empty: bool,
        total: usize,
    },
    Done,
}

/// Decodes a chunked body incrementally: any cut of the input gives the same data.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: Chunk,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: Chunk::Size {
                value: 0,
                digits: 0,
            },
        }
    }

    /// The last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    /// Decodes from `input`, appending chunk data to `out`, which may hold `max_body` bytes at
    /// most. Returns the bytes of `input` used: all of them unless the body ended before.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<usize, HttpError> {
        let bad = |what: &str| HttpError::Malformed(format!("chunked body: {what}"));
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            self.state = match self.state {
                Chunk::Size { value, digits } => match hex_digit(b) {
                    Some(d) => {
                        if digits >= 15 {
                            return Err(bad("chunk size over 15 hex digits"));
                        }
                        Chunk::Size {
                            value: value << 4 | u64::from(d),
                            digits: digits + 1,
                        }
                    }
                    None if digits == 0 => return Err(bad("no chunk size")),
                    None if b == b'\r' => Chunk::SizeLf { value },
                    None if matches!(b, b';' | b' ' | b'\t') => Chunk::Ext { value, len: 1 },
                    None => return Err(bad("invalid chunk size")),
                },
                Chunk::Ext { value, len } => match b {
                    b'\r' => Chunk::SizeLf { value },
                    b'\n' => return Err(bad("bare LF in chunk extension")),
                    _ if len >= MAX_CHUNK_EXT => return Err(bad("chunk extension too long")),
                    _ => Chunk::Ext {
                        value,
                        len: len + 1,
                    },
                },
                Chunk::SizeLf { value } => match (b, value) {
                    (b'\n', 0) => Chunk::Trailer { line: 0, total: 0 },
                    (b'\n', left) => {
                        let room = max_body.saturating_sub(out.len()) as u64;
                        if left > room {
                            return Err(HttpError::BodyTooLarge { limit: max_body });
                        }
                        Chunk::Data { left }
                    }
                    _ => return Err(bad("CR without LF after the chunk size")),
                },
                Chunk::Data { left } => {
                    // `left` fits in `max_body` (checked at the size line).
                    let take = (input.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&input[i..i + take]);
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data { left }
                    };
                    continue;
                }
                Chunk::DataCr if b == b'\r' => Chunk::DataLf,
                Chunk::DataLf if b == b'\n' => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                Chunk::DataCr | Chunk::DataLf => {
                    return Err(bad("chunk data not followed by CRLF"))
                }
                Chunk::Trailer { line, total } => {
                    if total >= MAX_TRAILER {
                        return Err(bad("trailer section too long"));
                    }
                    match b {
                        b'\r' => Chunk::TrailerLf {
                            empty: line == 0,
                            total: total + 1,
                        },
                        b'\n' => return Err(bad("bare LF in the trailer section")),
                        _ => Chunk::Trailer {
                            line: line + 1,
                            total: total + 1,
                        },
                    }
                }
                Chunk::TrailerLf { empty, total } => match (b, empty) {
                    (b'\n', true) => Chunk::Done,
                    (b'\n', false) => Chunk::Trailer { line: 0, total },
                    _ => return Err(bad("CR without LF in the trailer section")),
                },
                Chunk::Done => return Ok(i),
            };
            i += 1;
        }
        Ok(i)
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Where a [`ResponseReader`] is.
#[derive(Debug, Clone)]
enum Reading {
    Head,
    Length { left: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
    Done,
}

/// Reads one response: head, then body, each bounded.
///
/// ```text
/// Head --final head--> Length | Chunked | UntilClose --body complete (or EOF for UntilClose)--> Done
///  \--1xx head: skipped--^
/// ```
#[derive(Debug)]
pub struct ResponseReader {
    max_body: usize,
    /// Head bytes not yet decoded (at most MAX_HEAD_LEN).
    head_buf: Vec<u8>,
    status: u16,
    body: Vec<u8>,
    state: Reading,
}

impl ResponseReader {
    /// A reader that keeps at most `max_body` body bytes.
    pub fn new(max_body: usize) -> ResponseReader {
        ResponseReader {
            max_body,
            head_buf: Vec::new(),
            status: 0,
            body: Vec::new(),
            state: Reading::Head,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, Reading::Done)
    }

    /// The final status, once its head is read (0 before).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body read so far (all of it once done).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Feeds received bytes; `Ok(true)` once the response is complete.
    pub fn handle_bytes(&mut self, mut data: &[u8]) -> Result<bool, HttpError> {
        while !data.is_empty() {
            match &mut self.state {
                Reading::Head => {
                    let room = super::MAX_HEAD_LEN.saturating_sub(self.head_buf.len());
                    if room == 0 {
                        return Err(HttpError::HeadTooLarge {
                            limit: super::MAX_HEAD_LEN,
                        });
                    }
                    let take = data.len().min(room);
                    self.head_buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    self.decode_heads()?;
                }
                Reading::Done => return Ok(true),
                _ => {
                    let all = std::mem::take(&mut data);
                    return self.body_bytes(all);
                }
            }
        }
        Ok(self.is_done())
    }

    /// Decodes the heads in `head_buf`: 1xx ones are dropped, the final one sets the framing
    /// and what follows it goes to the body.
    fn decode_heads(&mut self) -> Result<(), HttpError> {
        loop {
            let Some((head, used)) = decode_response_head(&self.head_buf)? else {
                return Ok(());
            };
            let rest = self.head_buf.split_off(used);
            if (100..200).contains(&head.status) {
                self.head_buf = rest;
                continue;
            }
            self.head_buf = Vec::new();
            self.status = head.status;
            self.state = match head.framing {
                Framing::None | Framing::Length(0) => Reading::Done,
                Framing::Length(n) if n > self.max_body as u64 => {
                    return Err(HttpError::BodyTooLarge {
                        limit: self.max_body,
                    })
                }
                Framing::Length(n) => Reading::Length { left: n },
                Framing::Chunked => Reading::Chunked(ChunkedDecoder::new()),
                Framing::Close => Reading::UntilClose,
            };
            self.body_bytes(&rest)?;
            return Ok(());
        }
    }

    fn body_bytes(&mut self, data: &[u8]) -> Result<bool, HttpError> {
        match &mut self.state {
            Reading::Length { left } => {
                let take = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                self.body.extend_from_slice(&data[..take]);
                *left -= take as u64;
                if *left == 0 {
                    self.state = Reading::Done;
                }
            }
            Reading::Chunked(decoder) => {
                decoder.decode(data, &mut self.body, self.max_body)?;
                if decoder.is_done() {
                    self.state = Reading::Done;
                }
            }
            Reading::UntilClose => {
                if self.body.len() + data.len() > self.max_body {
                    return Err(HttpError::BodyTooLarge {
                        limit: self.max_body,
                    });
                }
                self.body.extend_from_slice(data);
            }
            Reading::Head | Reading::Done => {}
        }
        Ok(self.is_done())
    }

    /// The server closed: a close-delimited body is complete; anything else cut short is an
    /// error.
    pub fn handle_eof(&mut self) -> Result<(), HttpError> {
        match self.state {
            Reading::Done => Ok(()),
            Reading::UntilClose => {
                self.state = Reading::Done;
                Ok(())
            }
            Reading::Head => Err(HttpError::Malformed(
                "connection closed before the response head".into(),
            )),
            _ => Err(HttpError::Malformed(
                "connection closed in the middle of the body".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
