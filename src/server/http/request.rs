//! Reading requests, without the socket: the bytes read but not yet parsed, which timeout a
//! head is under, how a wait for a head ends, a request body. `net::http` reads into
//! [`RequestReader::head_buf`] / [`RequestReader::body_buf`] and asks this what it has.

use bytes::{Buf, Bytes, BytesMut};

use crate::server::stats::ClientRecord;
use crate::wire::http::{decode_request_head, HttpError, RequestHead};

/// Bytes reserved per read of a request head (capped at `wire::http::MAX_HEAD_LEN`) or body.
/// RAM: per connection while it reads a request; freed once what was read is parsed.
pub const HEAD_READ: usize = 4096;

/// One connection's unparsed input.
///
/// ```text
/// waiting (idle_timeout) --first byte--> started (handshake_timeout) --head--> waiting
/// ```
#[derive(Default)]
pub struct RequestReader {
    /// Bytes read but not yet parsed (the next request head); freed whenever all are parsed.
    buf: BytesMut,
    /// The head's first byte came: it must complete within `handshake_timeout`.
    started: bool,
}

impl RequestReader {
    /// A wait for the next head begins: true when its first byte is already here (a pipelined
    /// request), so it is under `handshake_timeout` from now; else `idle_timeout` runs until
    /// its first byte.
    pub fn start_head(&mut self) -> bool {
        self.started = !self.buf.is_empty();
        self.started
    }

    /// The next head, once all of it is here (its bytes counted as received by `record`).
    /// Err: a head that cannot be parsed (answer `HttpError::status`, then close).
    pub fn poll_head(&mut self, record: &ClientRecord) -> Result<Option<RequestHead>, HttpError> {
        let Some((head, used)) = decode_request_head(&self.buf)? else {
            return Ok(None);
        };
        self.buf.advance(used);
        record.recv.add(used as u64);
        if self.buf.is_empty() {
            // Not kept through a response, least of all a live one that lasts.
            self.buf = BytesMut::new();
        }
        Ok(Some(head))
    }

    /// Where the next read of a head goes ([`HEAD_READ`] more bytes of room).
    pub fn head_buf(&mut self) -> &mut BytesMut {
        self.buf.reserve(HEAD_READ);
        &mut self.buf
    }

    /// Bytes of a head came: true when they were its first (its deadline is now
    /// `handshake_timeout` from the read).
    pub fn handle_head_read(&mut self) -> bool {
        !std::mem::replace(&mut self.started, true)
    }

    /// The wait for a head ended without one, by the peer's close (`eof`) or the deadline:
    /// Ok when the peer left (or stayed idle) between requests, Err when a head was cut.
    pub fn handle_head_end(&self, eof: bool) -> Result<(), &'static str> {
        match (eof, self.buf.is_empty()) {
            (true, true) => Ok(()),
            (true, false) => Err("peer closed in the middle of a request head"),
            (false, true) if !self.started => Ok(()),
            (false, _) => Err("request head not complete in time (handshake_timeout)"),
        }
    }

    /// Where the next read of a `len`-byte body goes, or None once all of it is here (then
    /// [`RequestReader::take_body`]). `len` is at most `http_server.max_body_bytes`.
    pub fn body_buf(&mut self, len: usize) -> Option<&mut BytesMut> {
        let left = len.checked_sub(self.buf.len()).filter(|&n| n > 0)?;
        self.buf.reserve(HEAD_READ.min(left));
        Some(&mut self.buf)
    }

    /// The `len`-byte body, once [`RequestReader::body_buf`] says it is here.
    pub fn take_body(&mut self, len: usize) -> Bytes {
        self.buf.split_to(len.min(self.buf.len())).freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ClientRecord {
        ClientRecord::new(1, "c", "192.0.2.1:4000".parse().unwrap(), 0)
    }

    #[test]
    fn heads_are_taken_whole_and_pipelined_ones_start_under_the_handshake_timeout() {
        let record = record();
        let mut reader = RequestReader::default();
        let two = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n";
        assert!(!reader.start_head());
        for (i, b) in two.iter().enumerate() {
            reader.head_buf().extend_from_slice(&[*b]);
            assert_eq!(reader.handle_head_read(), i == 0);
            if i + 1 < 28 {
                assert!(reader.poll_head(&record).unwrap().is_none(), "at {i}");
            }
        }
        let head = reader.poll_head(&record).unwrap().unwrap();
        assert_eq!(head.target, "/a");
        assert_eq!(record.recv.total(), 28);
        // The next one's first bytes are here: handshake_timeout, and a cut head is an error.
        assert!(reader.start_head());
        assert!(reader.poll_head(&record).unwrap().is_none());
        assert!(reader.handle_head_end(true).is_err());
        assert!(reader.handle_head_end(false).is_err());
    }

    #[test]
    fn a_wait_between_requests_ends_quietly() {
        let mut reader = RequestReader::default();
        assert!(!reader.start_head());
        assert_eq!(reader.handle_head_end(true), Ok(()));
        assert_eq!(reader.handle_head_end(false), Ok(()));
    }

    #[test]
    fn a_bad_head_is_an_error_with_its_status() {
        let mut reader = RequestReader::default();
        reader
            .head_buf()
            .extend_from_slice(b"\x16\x03\x01 not http\r\n\r\n");
        let e = reader.poll_head(&record()).unwrap_err();
        assert!(e.status() >= 400, "{e}");
    }

    #[test]
    fn a_body_is_read_to_its_length_and_what_follows_stays() {
        let record = record();
        let mut reader = RequestReader::default();
        reader
            .head_buf()
            .extend_from_slice(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
        reader.poll_head(&record).unwrap().unwrap();
        reader.body_buf(5).unwrap().extend_from_slice(b"cdeGET");
        assert!(reader.body_buf(5).is_none());
        assert_eq!(reader.take_body(5), Bytes::from_static(b"abcde"));
        assert!(reader.start_head());
        assert!(reader.body_buf(0).is_none());
        assert_eq!(reader.take_body(0), Bytes::new());
    }
}
