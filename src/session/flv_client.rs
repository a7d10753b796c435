//! The HTTP-FLV client session: a state machine with no I/O and no clock that plays one live
//! FLV stream over HTTP/1.1 (an edge's pull with `cluster.protocol = "flv"`, driven by
//! `net::edge`). Built on `wire::http::client` (the request head, the response head, the
//! chunked body) and `wire::flv` (the file header and tags).
//!
//! Verbs: [`FlvClient::new`] (queues the `GET`), [`FlvClient::poll_transmit`],
//! [`FlvClient::handle_bytes`] (bytes in; the body is only buffered),
//! [`FlvClient::poll_event`] (decodes the next tag from that buffer),
//! [`FlvClient::poll_timeout`] / [`FlvClient::handle_timeout`] (the setup deadline).
//!
//! States and transitions: `Head` (the `GET` sent, reading the response head) --`200`-->
//! `Body` ([`ClientEvent::Started`], then a [`ClientEvent::Media`] per audio, video and
//! `onMetaData` tag) --end of the body (`Content-Length` reached, last chunk)--> `Ended`, where
//! [`FlvClient::handle_bytes`] is [`FlvClientError::Ended`]. Another status, a head or body
//! that does not parse is an error that ends the session.
//!
//! Bounds: the response head is at most `wire::http::MAX_HEAD_LEN` (plus the read it came in), a tag
//! body at most [`FlvClientConfig::max_tag_len`] (checked at the tag header, before the body
//! is buffered), and the buffered body at most that plus [`MAX_READ`]: the driver must poll
//! the events after each read of at most [`MAX_READ`] bytes.
//!
//! Not supported: redirects (a 302 is an error, as any status but 200), `https://`, keep-alive
//! (one request per connection, `Connection: close`).

use bytes::{Bytes, BytesMut};

use crate::session::rtmp::client::ClientEvent;
use crate::session::rtmp::MediaKind;
use crate::wire::flv::{FlvError, FlvReader, TagType};
use crate::wire::http::client::{
    decode_response_head, encode_request_head, ChunkedDecoder, Framing,
};
use crate::wire::http::HttpError;

/// Most bytes a driver hands to [`FlvClient::handle_bytes`] at once (its read buffer; the
/// edge's is as large).
pub const MAX_READ: usize = 16 * 1024;

/// A tag's header (11) and PreviousTagSize (4) around its body.
pub const TAG_OVERHEAD: usize = 15;

/// The most body bytes a session buffers with tags of at most `max_tag_len`: a partial tag
/// and one read. RAM: per HTTP-FLV pull.
pub fn max_buffered(max_tag_len: u32) -> usize {
    max_tag_len as usize + TAG_OVERHEAD + MAX_READ
}

/// `onMetaData` as an AMF0 string: the script tag a player keeps.
const ON_METADATA: &[u8] = b"\x02\x00\x0aonMetaData";

#[derive(Debug, Clone)]
pub struct FlvClientConfig {
    /// The `Host` field: `host:port`.
    pub host: String,
    /// The request target: `/app/stream.flv[?query]`.
    pub path: String,
    /// Longest tag body taken (a player's largest frame).
    pub max_tag_len: u32,
    /// From the session's start to the first tag at most.
    pub setup_timeout_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FlvClientError {
    #[error("HTTP: {0}")]
    Http(#[from] HttpError),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("FLV: {0}")]
    Flv(#[from] FlvError),
    #[error("the request could not be written (a target or Host with bytes HTTP refuses)")]
    BadRequest,
    #[error("{0} bytes of body wait to be decoded: the driver does not poll the events")]
    PendingTooLarge(usize),
    #[error("timeout: no {0} within the setup timeout")]
    Timeout(&'static str),
    #[error("the response body ended")]
    Ended,
}

#[derive(Debug)]
enum Body {
    /// `Content-Length`: bytes left.
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the server closes.
    Close,
}

#[derive(Debug)]
enum State {
    Head,
    Body(Body),
    Ended,
}

pub struct FlvClient {
    config: FlvClientConfig,
    state: State,
    /// The response head so far.
    head: BytesMut,
    /// Body bytes not yet decoded into tags.
    input: BytesMut,
    reader: FlvReader,
    outbox: Option<Bytes>,
    /// `Started` waits to be polled.
    started: bool,
    /// A tag came: no setup deadline any more.
    playing: bool,
    deadline_ms: u64,
}

impl FlvClient {
    /// A session with its `GET` in the outbox; [`FlvClientError::BadRequest`] when the path
    /// or host could not be sent.
    pub fn new(config: FlvClientConfig, now_ms: u64) -> Result<FlvClient, FlvClientError> {
        let mut request = BytesMut::new();
        let fields = [
            ("Host", config.host.as_str()),
            ("User-Agent", "tinysrs"),
            ("Accept", "*/*"),
            ("Connection", "close"),
        ];
        if !encode_request_head("GET", &config.path, &fields, &mut request) {
            return Err(FlvClientError::BadRequest);
        }
        Ok(FlvClient {
            reader: FlvReader::new(config.max_tag_len),
            deadline_ms: now_ms.saturating_add(config.setup_timeout_ms),
            config,
            state: State::Head,
            head: BytesMut::new(),
            input: BytesMut::new(),
            outbox: Some(request.freeze()),
            started: false,
            playing: false,
        })
    }

    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.take()
    }

    /// Bytes from the server (at most [`MAX_READ`] at once; poll the events after each).
    pub fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) -> Result<(), FlvClientError> {
        let _ = now_ms;
        match self.state {
            State::Head => {
                self.head.extend_from_slice(data);
                let Some((head, used)) = decode_response_head(&self.head)? else {
                    return Ok(());
                };
                if head.status != 200 {
                    return Err(FlvClientError::Status(head.status));
                }
                let body = match head.framing {
                    Framing::None => return Err(FlvClientError::Status(head.status)),
                    Framing::Length(n) => Body::Length(n),
                    Framing::Chunked => Body::Chunked(ChunkedDecoder::new()),
                    Framing::Close => Body::Close,
                };
                self.state = State::Body(body);
                self.started = true;
                let rest = std::mem::take(&mut self.head).split_off(used);
                self.body(&rest)
            }
            State::Body(_) => self.body(data),
            State::Ended => Err(FlvClientError::Ended),
        }
    }

    fn body(&mut self, data: &[u8]) -> Result<(), FlvClientError> {
        let limit = max_buffered(self.config.max_tag_len);
        let room = limit.saturating_sub(self.input.len());
        let State::Body(body) = &mut self.state else {
            return Ok(());
        };
        let ended = match body {
            Body::Length(left) => {
                let take = data.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                if take > room {
                    return Err(FlvClientError::PendingTooLarge(self.input.len() + take));
                }
                self.input.extend_from_slice(&data[..take]);
                *left -= take as u64;
                *left == 0
            }
            Body::Chunked(decoder) => {
                let mut out = Vec::new();
                decoder.decode(data, &mut out, room).map_err(|e| match e {
                    HttpError::BodyTooLarge { .. } => {
                        FlvClientError::PendingTooLarge(self.input.len() + data.len())
                    }
                    e => FlvClientError::Http(e),
                })?;
                self.input.extend_from_slice(&out);
                decoder.is_done()
            }
            Body::Close => {
                if data.len() > room {
                    return Err(FlvClientError::PendingTooLarge(
                        self.input.len() + data.len(),
                    ));
                }
                self.input.extend_from_slice(data);
                false
            }
        };
        if ended {
            self.state = State::Ended;
        }
        Ok(())
    }

    /// The next event: `Started` once the `200` came, then the tags' media. `Ok(None)` until
    /// more bytes come; an error ends the session.
    pub fn poll_event(&mut self) -> Result<Option<ClientEvent>, FlvClientError> {
        if std::mem::take(&mut self.started) {
            return Ok(Some(ClientEvent::Started));
        }
        loop {
            let Some(tag) = self.reader.decode(&mut self.input)? else {
                if self.input.is_empty() && self.input.capacity() > MAX_READ {
                    self.input = BytesMut::new();
                }
                return Ok(None);
            };
            self.playing = true;
            let kind = match tag.tag_type {
                TagType::Audio => MediaKind::Audio,
                TagType::Video => MediaKind::Video,
                TagType::Script if tag.body.starts_with(ON_METADATA) => MediaKind::Metadata,
                // Other script data (`|RtmpSampleAccess`) and unknown tag types.
                _ => continue,
            };
            return Ok(Some(ClientEvent::Media {
                kind,
                timestamp: tag.timestamp,
                payload: tag.body,
            }));
        }
    }

    /// The setup deadline until the first tag; `u64::MAX` after.
    pub fn poll_timeout(&self) -> u64 {
        if self.playing {
            u64::MAX
        } else {
            self.deadline_ms
        }
    }

    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), FlvClientError> {
        if self.playing || now_ms < self.deadline_ms {
            return Ok(());
        }
        Err(FlvClientError::Timeout(match self.state {
            State::Head => "response head",
            _ => "FLV tag",
        }))
    }
}

#[cfg(test)]
mod tests;
