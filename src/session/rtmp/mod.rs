//! The RTMP server session: a state machine with no I/O and no clock.
//!
//! Verbs: [`ServerSession::handle_bytes`] (bytes in, with the current time), [`poll_event`]
//! (what the server must decide on: connect, publish, play, media, unpublish, stop),
//! [`poll_transmit`] (bytes to send), [`poll_timeout`] / [`handle_timeout`] (deadlines).
//! The server answers events with `accept_*` / `reject_*`, which queue the replies real
//! clients (ffmpeg, OBS, librtmp, Flash-era encoders) expect.
//!
//! States and transitions:
//! `HandshakeC0C1` --C0C1--> `HandshakeC2` --C2--> `AwaitConnect` --connect--> `Connecting`
//! --accept_connect--> `Connected` (publish/play streams live here) ; any error → closed by
//! the driver. `reject_connect` queues `_error` and marks the session `Closing`.
//!
//! Pending decisions: from the `Connect`, `Publish` or `Play` event until the server's
//! `accept_*` / `reject_*` ([`ServerSession::awaits_decision`]), the session decodes no further
//! input (it stays buffered, within [`MAX_INPUT_BUFFER`]); the server then calls
//! [`ServerSession::process`] to go on. So a server may answer later (after an HTTP hook).
//!
//! [`poll_event`]: ServerSession::poll_event
//! [`poll_transmit`]: ServerSession::poll_transmit
//! [`poll_timeout`]: ServerSession::poll_timeout
//! [`handle_timeout`]: ServerSession::handle_timeout

pub mod client;
pub mod request;

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

pub use request::{Request, RequestError};

use crate::wire::amf0::{self, Amf0Error, Value};
use crate::wire::rtmp::chunk::{self, ChunkDecoder, ChunkError, ChunkLimits};
use crate::wire::rtmp::handshake::{self, HandshakeError, Scheme};
use crate::wire::rtmp::message::{
    ControlMessage, Message, MessageError, MessageHeader, MessageType, UserControl, CONTROL_CSID,
};

/// Chunk stream ids we send on (SRS's choice).
pub const CSID_COMMAND: u32 = 3;
pub const CSID_STREAM: u32 = 5;
pub const CSID_VIDEO: u32 = 6;
pub const CSID_AUDIO: u32 = 7;

/// Window acknowledgement size and peer bandwidth we announce (bytes).
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;

/// Chunk streams one connection may use; real clients use 3 to 8.
pub const MAX_CHUNK_STREAMS: usize = 16;

/// Chunk-stream limits until the peer asks to publish: connect, createStream and play
/// commands are a few hundred bytes, so a player (or a peer that never publishes) holds at
/// most 128 KiB of partly received messages. The session switches to
/// [`SessionConfig::chunk_limits`] (the server makes them from `rtmp.max_message_bytes` and
/// `rtmp.max_pending_bytes`) at the `publish` command, so a client that sends its sequence
/// headers and first keyframe right behind `publish` is not cut.
pub const COMMAND_CHUNK_LIMITS: ChunkLimits = ChunkLimits {
    max_message_len: 64 * 1024,
    max_chunk_streams: MAX_CHUNK_STREAMS,
    max_pending_bytes: 128 * 1024,
};

/// Message streams a connection may create; real clients use one.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 16;

/// Bytes of unparsed input the session holds at most. It holds the handshake's packets, and
/// the rest of a read when decoding paused on a full event queue (the server drains the
/// events before the next read, so about one read buffer); chunk bytes are otherwise decoded
/// where they were read. Reaching it takes a bug in the server or the driver.
pub const MAX_INPUT_BUFFER: usize = 256 * 1024;

/// Longest `pageUrl` kept from `connect` (longer ones are cut): it goes to the API's client
/// list and the HTTP hooks. RAM: per RTMP connection.
pub const MAX_PAGE_URL: usize = 512;

/// Queued outgoing control/command bytes at most; past it the peer is not reading its replies.
pub const MAX_OUTBOX: usize = 256 * 1024;

/// Events queued for the server at most before the session stops decoding input.
const MAX_PENDING_EVENTS: usize = 64;

/// Event slots a publisher keeps between reads (RAM: 4 × 136 bytes, an `Event` on 64-bit
/// targets, per publisher); a burst that grew them beyond is given back.
const PUBLISHER_EVENT_SLOTS: usize = 4;

#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// Our outgoing chunk size (config `chunk_size`).
    pub chunk_size: u32,
    /// Limits once the peer has sent `publish`: the longest message (a keyframe) and the
    /// partly received messages a publisher may hold. RAM: `max_pending_bytes` per publisher.
    pub chunk_limits: ChunkLimits,
    /// Limits before that (see [`COMMAND_CHUNK_LIMITS`]).
    pub command_chunk_limits: ChunkLimits,
    pub handshake_timeout_ms: u64,
    pub idle_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    HandshakeC0C1,
    HandshakeC2,
    AwaitConnect,
    Connecting,
    Connected,
    Closing,
}

/// What a publishing or playing message stream is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamRole {
    Idle,
    PublishPending,
    Publishing,
    PlayPending,
    Playing { unpublished: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    /// `onMetaData`, re-encoded as `["onMetaData", {...}]` without `@setDataFrame`.
    Metadata,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connect {
        request: Request,
        /// `connect`'s `pageUrl`, cut to [`MAX_PAGE_URL`] bytes (Flash players send the page's
        /// address; encoders nothing).
        page_url: String,
        object_encoding: f64,
    },
    Publish {
        stream_id: u32,
        request: Request,
    },
    Play {
        stream_id: u32,
        request: Request,
    },
    Media {
        stream_id: u32,
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// The publisher on `stream_id` stopped (FCUnpublish, closeStream or deleteStream).
    Unpublish {
        stream_id: u32,
    },
    /// The player on `stream_id` stopped (closeStream or deleteStream).
    StopPlay {
        stream_id: u32,
    },
}

/// Errors end the connection; they say why, with enough context to find the bad message.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("control message: {0}")]
    Control(#[from] MessageError),
    #[error("AMF0 in {command}: {source}")]
    Amf0 {
        command: &'static str,
        source: Amf0Error,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timeout: {0}")]
    Timeout(&'static str),
    #[error("peer does not read its replies ({0} bytes queued)")]
    OutboxFull(usize),
}

/// What a session keeps between calls is what it has not finished with: `input` (handshake
/// bytes, or a read's rest behind a full event queue; a cut chunk is the decoder's), `outbox` (replies not yet taken) and `events` (not yet polled) each give their
/// buffer back once emptied, so an idle player holds none of them. RAM: a player that plays
/// would otherwise keep the handshake's buffers (3 KiB of S0S1S2, 2.5 KiB of C0C1 and C2) and
/// the event queue of its connect (544 bytes) for as long as it plays.
pub struct ServerSession {
    config: SessionConfig,
    state: State,
    /// Received bytes not yet decoded (the handshake's, or what follows a full event queue);
    /// freed whenever all of them are.
    input: BytesMut,
    decoder: ChunkDecoder,
    /// Replies not yet taken by `poll_transmit`, which takes the buffer with them.
    outbox: BytesMut,
    /// Freed when the last event is polled.
    events: VecDeque<Event>,
    // Boxed and dropped once S0S1S2 is built: 1.5 KiB less per connection for its lifetime.
    random: Option<Box<[u8; handshake::PACKET_LEN]>>,
    epoch: u32,
    scheme: Option<Scheme>,
    request: Option<Request>,
    object_encoding: f64,
    /// Message streams created by createStream, with what each does.
    streams: heapless::Vec<(u32, StreamRole), { MAX_STREAMS_PER_CONNECTION as usize }>,
    /// Chunk size our outgoing messages are encoded at right now (128 until SetChunkSize).
    out_size_now: u32,
    next_stream_id: u32,
    /// Peer's window ack size, and the received-byte count at our last Acknowledgement.
    peer_window: u32,
    bytes_in: u64,
    acked_at: u64,
    /// Deadlines (ms on the driver's clock).
    started_ms: u64,
    last_activity_ms: u64,
    /// When we sent a keepalive ping that has not been answered by any byte yet.
    ping_sent_ms: Option<u64>,
    /// Publish timeouts: (first packet ms, normal ms, got first packet, last media ms).
    publish_timeouts: Option<(u64, u64, bool, u64)>,
}

impl ServerSession {
    /// `random` fills the handshake's random parts; `epoch` is S1's time field.
    pub fn new(
        config: SessionConfig,
        now_ms: u64,
        random: [u8; handshake::PACKET_LEN],
        epoch: u32,
    ) -> ServerSession {
        ServerSession {
            config,
            state: State::HandshakeC0C1,
            input: BytesMut::new(),
            decoder: ChunkDecoder::new(config.command_chunk_limits),
            outbox: BytesMut::new(),
            events: VecDeque::new(),
            random: Some(Box::new(random)),
            epoch,
            scheme: None,
            request: None,
            object_encoding: 0.0,
            streams: heapless::Vec::new(),
            out_size_now: chunk::DEFAULT_CHUNK_SIZE,
            next_stream_id: 1,
            peer_window: 0,
            bytes_in: 0,
            acked_at: 0,
            started_ms: now_ms,
            last_activity_ms: now_ms,
            ping_sent_ms: None,
            publish_timeouts: None,
        }
    }

    /// The handshake scheme the client used, once known.
    pub fn scheme(&self) -> Option<Scheme> {
        self.scheme
    }

    pub fn request(&self) -> Option<&Request> {
        self.request.as_ref()
    }

    /// The chunk size the player's media must be encoded at.
    pub fn out_chunk_size(&self) -> u32 {
        self.out_size_now
    }

    /// True once the session has queued its last words (a rejection) and should be closed
    /// after they are written.
    pub fn is_closing(&self) -> bool {
        self.state == State::Closing
    }

    /// Feeds received bytes. Events and replies become available through `poll_event` and
    /// `poll_transmit`.
    ///
    /// After the handshake the bytes are decoded where they are: the session copies none of
    /// them, unless decoding pauses on a full event queue (the rest waits in `input`).
    pub fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) -> Result<(), SessionError> {
        self.last_activity_ms = now_ms;
        self.ping_sent_ms = None;
        if self.input.is_empty() && self.decodes_chunks() {
            let used = self.decode_chunks(now_ms, data)?;
            return self.keep_input(data.get(used..).unwrap_or_default());
        }
        self.keep_input(data)?;
        self.process(now_ms)
    }

    /// Appends bytes to the unparsed input, within [`MAX_INPUT_BUFFER`].
    fn keep_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if data.is_empty() {
            return Ok(());
        }
        if self.input.len() + data.len() > MAX_INPUT_BUFFER {
            return Err(SessionError::Protocol(format!(
                "more than {MAX_INPUT_BUFFER} bytes of unparsed input"
            )));
        }
        self.input.extend_from_slice(data);
        Ok(())
    }

    /// Past the handshake, and not closing: input is chunk stream.
    fn decodes_chunks(&self) -> bool {
        !matches!(
            self.state,
            State::HandshakeC0C1 | State::HandshakeC2 | State::Closing
        )
    }

    /// Decodes buffered input as far as possible (also to be called after the server drained
    /// events, if decoding paused on a full event queue).
    pub fn process(&mut self, now_ms: u64) -> Result<(), SessionError> {
        let result = self.decode_input(now_ms);
        if self.input.is_empty() {
            // Also gives back what the split-off handshake packets shared.
            self.input = BytesMut::new();
        }
        result
    }

    fn decode_input(&mut self, now_ms: u64) -> Result<(), SessionError> {
        loop {
            match self.state {
                State::HandshakeC0C1 => {
                    if self.input.len() < handshake::C0C1_LEN {
                        return Ok(());
                    }
                    let c0c1 = self.input.split_to(handshake::C0C1_LEN);
                    let random = self
                        .random
                        .take()
                        .unwrap_or_else(|| Box::new([0; handshake::PACKET_LEN]));
                    let (scheme, s0s1s2) = handshake::server_response(&c0c1, &random, self.epoch)?;
                    self.scheme = Some(scheme);
                    self.outbox.extend_from_slice(&s0s1s2);
                    self.state = State::HandshakeC2;
                }
                State::HandshakeC2 => {
                    // C2 content is not checked: Flash-era clients fill it loosely.
                    if self.input.len() < handshake::PACKET_LEN {
                        return Ok(());
                    }
                    let _ = self.input.split_to(handshake::PACKET_LEN);
                    self.state = State::AwaitConnect;
                }
                State::Closing => {
                    self.input.clear();
                    return Ok(());
                }
                _ => {
                    let input = std::mem::take(&mut self.input);
                    let used = self.decode_chunks(now_ms, &input);
                    self.input = input;
                    self.input.advance(used?);
                    return Ok(());
                }
            }
            if self.outbox.len() > MAX_OUTBOX {
                return Err(SessionError::OutboxFull(self.outbox.len()));
            }
        }
    }

    /// Decodes chunk stream from `data` and handles its messages until `data` ends, the event
    /// queue is full or the session closes (the rest of `data` is then dropped, as a closing
    /// session reads nothing more). Returns the bytes consumed.
    fn decode_chunks(&mut self, now_ms: u64, data: &[u8]) -> Result<usize, SessionError> {
        let mut used = 0;
        loop {
            if self.state == State::Closing {
                return Ok(data.len());
            }
            // A command waiting for the server's decision (connect, publish, play) holds the
            // input behind it: what follows may depend on the answer (a pipelined
            // createStream, the publisher's first media).
            if self.events.len() >= MAX_PENDING_EVENTS
                || used == data.len()
                || self.awaits_decision()
            {
                return Ok(used);
            }
            let rest = data.get(used..).unwrap_or_default();
            let (message, n) = self.decoder.decode_slice(rest)?;
            used += n;
            self.count_received(n);
            match message {
                Some(message) => self.handle_message(now_ms, message)?,
                None => return Ok(used),
            }
            if self.outbox.len() > MAX_OUTBOX {
                return Err(SessionError::OutboxFull(self.outbox.len()));
            }
        }
    }

    fn count_received(&mut self, n: usize) {
        self.bytes_in += n as u64;
        if self.peer_window > 0 && self.bytes_in - self.acked_at >= u64::from(self.peer_window) {
            self.acked_at = self.bytes_in;
            // The sequence number is the byte count modulo 2^32 (spec 5.4.3).
            self.send_control(ControlMessage::Acknowledgement {
                sequence: self.bytes_in as u32,
            });
        }
    }

    /// The next event for the server.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front();
        // A publisher's frames come one event at a time: it keeps a few slots rather than
        // allocating them for every frame. Anyone else gives the buffer back.
        if self.events.is_empty()
            && (self.events.capacity() > PUBLISHER_EVENT_SLOTS || !self.is_publishing())
        {
            self.events = VecDeque::new();
        }
        event
    }

    fn is_publishing(&self) -> bool {
        self.streams
            .iter()
            .any(|(_, role)| *role == StreamRole::Publishing)
    }

    /// A `connect`, `publish` or `play` waits for `accept_*` / `reject_*` (the server may take
    /// its time, asking an HTTP hook): the session decodes nothing more until then. The
    /// driver stops reading meanwhile; the kernel's buffer holds what the peer sends.
    pub fn awaits_decision(&self) -> bool {
        self.state == State::Connecting
            || self
                .streams
                .iter()
                .any(|(_, r)| matches!(r, StreamRole::PublishPending | StreamRole::PlayPending))
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Bytes to send, if any. They take the outbox's buffer with them: `split` would leave the
    /// session sharing (and so keeping) it after the bytes are written.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.outbox.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.outbox).freeze())
        }
    }

    /// True when `poll_transmit` has bytes.
    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The driver wrote bytes to the peer: the connection is not idle. (An unanswered
    /// keepalive ping stays unanswered: only received bytes answer it.)
    pub fn handle_sent(&mut self, now_ms: u64) {
        self.last_activity_ms = now_ms;
    }

    /// The next deadline, in ms on the driver's clock.
    ///
    /// Idleness (no byte either way) for half of `idle_timeout` sends a keepalive ping (every
    /// RTMP client answers one), so a player waiting for a publisher stays connected as long
    /// as its peer is alive; a peer that answers nothing for the other half is closed.
    pub fn poll_timeout(&self) -> u64 {
        let half = self.config.idle_timeout_ms / 2;
        let mut t = match self.ping_sent_ms {
            Some(sent) => sent + half,
            None if self.state == State::Connected => self.last_activity_ms + half,
            None => self.last_activity_ms + self.config.idle_timeout_ms,
        };
        if !matches!(self.state, State::Connected | State::Closing) {
            t = t.min(self.started_ms + self.config.handshake_timeout_ms);
        }
        if let Some((first, normal, got_first, last)) = self.publish_timeouts {
            t = t.min(last + if got_first { normal } else { first });
        }
        t
    }

    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), SessionError> {
        if !matches!(self.state, State::Connected | State::Closing)
            && now_ms >= self.started_ms + self.config.handshake_timeout_ms
        {
            return Err(SessionError::Timeout(
                "handshake and connect not done in time",
            ));
        }
        if let Some((first, normal, got_first, last)) = self.publish_timeouts {
            if !got_first && now_ms >= last + first {
                return Err(SessionError::Timeout(
                    "no media after publish (firstpkt_timeout)",
                ));
            }
            if got_first && now_ms >= last + normal {
                return Err(SessionError::Timeout(
                    "publisher sent no media (normal_timeout)",
                ));
            }
        }
        let half = self.config.idle_timeout_ms / 2;
        match self.ping_sent_ms {
            Some(sent) if now_ms >= sent + half => {
                return Err(SessionError::Timeout("idle: no answer to a keepalive ping"))
            }
            None if self.state == State::Connected && now_ms >= self.last_activity_ms + half => {
                self.ping_sent_ms = Some(now_ms);
                // The ping's timestamp is the time of sending (spec 7.1.7), truncated.
                self.send_control(ControlMessage::UserControl(UserControl::PingRequest(
                    now_ms as u32,
                )));
            }
            None if now_ms >= self.last_activity_ms + self.config.idle_timeout_ms => {
                return Err(SessionError::Timeout("idle"))
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_message(&mut self, now_ms: u64, msg: Message) -> Result<(), SessionError> {
        let Message { header, payload } = msg;
        if let Some(control) = ControlMessage::decode(header.type_id, &payload)? {
            return self.handle_control(control);
        }
        match header.type_id {
            MessageType::CommandAmf0 => self.handle_command(&header, &payload),
            // AMF3 command: a format byte (0) then AMF0 values.
            MessageType::CommandAmf3 => {
                self.handle_command(&header, payload.get(1..).unwrap_or_default())
            }
            MessageType::Audio | MessageType::Video => {
                let kind = if header.type_id == MessageType::Audio {
                    MediaKind::Audio
                } else {
                    MediaKind::Video
                };
                self.media(now_ms, header.stream_id, kind, header.timestamp, payload);
                Ok(())
            }
            MessageType::DataAmf0 | MessageType::DataAmf3 => {
                let body = if header.type_id == MessageType::DataAmf3 {
                    payload.slice(payload.len().min(1)..)
                } else {
                    payload
                };
                self.handle_data(now_ms, &header, &body)
            }
            MessageType::Aggregate => self.handle_aggregate(now_ms, &header, &payload),
            other => {
                log::debug!("ignored RTMP message type {other:?}");
                Ok(())
            }
        }
    }

    fn handle_control(&mut self, control: ControlMessage) -> Result<(), SessionError> {
        match control {
            ControlMessage::SetChunkSize(size) => self.decoder.set_chunk_size(size)?,
            ControlMessage::Abort { csid } => self.decoder.abort(csid),
            ControlMessage::WindowAckSize(size) => self.peer_window = size,
            ControlMessage::UserControl(UserControl::PingRequest(t)) => {
                self.send_control(ControlMessage::UserControl(UserControl::PingResponse(t)))
            }
            // Acknowledgement, SetPeerBandwidth, SetBufferLength, PingResponse: nothing to do.
            _ => {}
        }
        Ok(())
    }

    fn role(&self, stream_id: u32) -> Option<StreamRole> {
        self.streams
            .iter()
            .find(|(id, _)| *id == stream_id)
            .map(|(_, r)| *r)
    }

    fn set_role(&mut self, stream_id: u32, role: StreamRole) {
        if let Some(entry) = self.streams.iter_mut().find(|(id, _)| *id == stream_id) {
            entry.1 = role;
        }
    }

    fn media(&mut self, now_ms: u64, stream_id: u32, kind: MediaKind, ts: u32, payload: Bytes) {
        if self.role(stream_id) != Some(StreamRole::Publishing) {
            log::debug!("media on stream {stream_id} that is not publishing, ignored");
            return;
        }
        if let Some(t) = &mut self.publish_timeouts {
            t.2 = true;
            t.3 = now_ms;
        }
        self.events.push_back(Event::Media {
            stream_id,
            kind,
            timestamp: ts,
            payload,
        });
    }

    fn handle_data(
        &mut self,
        now_ms: u64,
        header: &MessageHeader,
        body: &[u8],
    ) -> Result<(), SessionError> {
        let values = amf0::decode_all(body).map_err(|source| SessionError::Amf0 {
            command: "data message",
            source,
        })?;
        let mut values = values.into_iter();
        let mut name = values.next();
        if name.as_ref().and_then(Value::as_str) == Some("@setDataFrame") {
            name = values.next();
        }
        if name.as_ref().and_then(Value::as_str) != Some("onMetaData") {
            return Ok(());
        }
        let Some(meta) = values.next() else {
            return Ok(());
        };
        let out = [Value::String("onMetaData".into()), meta];
        let mut buf = BytesMut::new();
        amf0::encode_all(&out, &mut buf);
        self.media(
            now_ms,
            header.stream_id,
            MediaKind::Metadata,
            header.timestamp,
            buf.freeze(),
        );
        Ok(())
    }

    /// An aggregate message (spec 7.1.6) carries FLV tags: header (11 bytes), body,
    /// back pointer (4 bytes). Sub-message timestamps are relative to the first one.
    fn handle_aggregate(
        &mut self,
        now_ms: u64,
        header: &MessageHeader,
        payload: &Bytes,
    ) -> Result<(), SessionError> {
        let mut off = 0usize;
        let mut first_ts: Option<u32> = None;
        while off < payload.len() {
            let Some(h) = payload.get(off..off + 11) else {
                return Err(SessionError::Protocol(format!(
                    "aggregate message truncated at offset {off}"
                )));
            };
            let tag_type = h[0];
            let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
            let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
            let body_start = off + 11;
            let body_end = body_start + len;
            if body_end > payload.len() {
                return Err(SessionError::Protocol(format!(
                    "aggregate sub-message of {len} bytes at offset {off} overruns the message"
                )));
            }
            let base = *first_ts.get_or_insert(ts);
            let timestamp = header.timestamp.wrapping_add(ts.wrapping_sub(base));
            let body = payload.slice(body_start..body_end);
            match tag_type {
                8 => self.media(now_ms, header.stream_id, MediaKind::Audio, timestamp, body),
                9 => self.media(now_ms, header.stream_id, MediaKind::Video, timestamp, body),
                18 => {
                    let h = MessageHeader {
                        timestamp,
                        ..*header
                    };
                    self.handle_data(now_ms, &h, &body)?
                }
                other => log::debug!("aggregate sub-message type {other} ignored"),
            }
            off = body_end + 4;
        }
        Ok(())
    }

    fn handle_command(&mut self, header: &MessageHeader, body: &[u8]) -> Result<(), SessionError> {
        let values = amf0::decode_all(body).map_err(|source| SessionError::Amf0 {
            command: "command",
            source,
        })?;
        let name = values.first().and_then(Value::as_str).unwrap_or("");
        let txn = values.get(1).and_then(Value::as_f64).unwrap_or(0.0);
        let args = values.get(2..).unwrap_or_default();
        match name {
            "connect" => self.on_connect(txn, args),
            _ if self.state != State::Connected => Err(SessionError::Protocol(format!(
                "command {name:?} before connect succeeded"
            ))),
            "createStream" => self.on_create_stream(txn),
            "getStreamLength" => {
                // ffmpeg and VLC read the answer as a number (the length in seconds); a live
                // stream has none, so 0. `undefined` makes them log "Unexpected reply".
                self.send_command(
                    CSID_COMMAND,
                    0,
                    &[
                        Value::String("_result".into()),
                        Value::Number(txn),
                        Value::Null,
                        Value::Number(0.0),
                    ],
                );
                Ok(())
            }
            "releaseStream" | "FCPublish" | "_checkbw" => {
                self.send_empty_result(txn);
                Ok(())
            }
            "publish" => self.on_publish(header.stream_id, args),
            "play" => self.on_play(header.stream_id, args),
            "FCUnpublish" => {
                // The stream is given by name; the publishing message stream is the one.
                if let Some(id) = self.stream_with(StreamRole::Publishing) {
                    self.end_stream(id);
                }
                self.send_empty_result(txn);
                Ok(())
            }
            "closeStream" => {
                self.end_stream(header.stream_id);
                Ok(())
            }
            "deleteStream" => {
                let id = args.get(1).and_then(Value::as_f64).unwrap_or(0.0) as u32;
                self.end_stream(id);
                self.streams.retain(|(s, _)| *s != id);
                Ok(())
            }
            other => {
                log::debug!("command {other:?} ignored");
                Ok(())
            }
        }
    }

    fn stream_with(&self, role: StreamRole) -> Option<u32> {
        self.streams
            .iter()
            .find(|(_, r)| *r == role)
            .map(|(id, _)| *id)
    }

    /// Ends whatever the message stream does, telling the server.
    fn end_stream(&mut self, stream_id: u32) {
        match self.role(stream_id) {
            Some(StreamRole::Publishing) => {
                self.events.push_back(Event::Unpublish { stream_id });
                self.publish_timeouts = None;
                self.send_status(
                    stream_id,
                    "status",
                    "NetStream.Unpublish.Success",
                    "Stream is now unpublished",
                );
            }
            Some(StreamRole::Playing { .. }) => {
                self.events.push_back(Event::StopPlay { stream_id });
            }
            _ => return,
        }
        self.set_role(stream_id, StreamRole::Idle);
    }

    fn on_connect(&mut self, txn: f64, args: &[Value]) -> Result<(), SessionError> {
        if self.state != State::AwaitConnect {
            return Err(SessionError::Protocol("connect received twice".into()));
        }
        let obj = args.first();
        let get = |k: &str| obj.and_then(|o| o.get(k));
        let app = get("app").and_then(Value::as_str);
        let tc_url = get("tcUrl").and_then(Value::as_str);
        let page_url = get("pageUrl").and_then(Value::as_str).unwrap_or("");
        let mut end = page_url.len().min(MAX_PAGE_URL);
        while !page_url.is_char_boundary(end) {
            end -= 1;
        }
        let page_url = page_url[..end].to_owned();
        self.object_encoding = get("objectEncoding").and_then(Value::as_f64).unwrap_or(0.0);
        let request = Request::from_connect(app, tc_url)
            .map_err(|e| SessionError::Protocol(format!("connect: {e}")))?;
        let _ = txn;
        self.state = State::Connecting;
        self.request = Some(request.clone());
        self.events.push_back(Event::Connect {
            request,
            page_url,
            object_encoding: self.object_encoding,
        });
        Ok(())
    }

    /// Accepts `connect`: window, bandwidth, chunk size, `_result`, `onBWDone`.
    pub fn accept_connect(&mut self) {
        if self.state != State::Connecting {
            return;
        }
        self.state = State::Connected;
        self.send_control(ControlMessage::WindowAckSize(WINDOW_ACK_SIZE));
        self.send_control(ControlMessage::SetPeerBandwidth {
            size: WINDOW_ACK_SIZE,
            limit_type: 2,
        });
        self.send_control(ControlMessage::SetChunkSize(self.config.chunk_size));
        let props = Value::object([
            ("fmsVer", Value::String("FMS/3,5,3,888".into())),
            ("capabilities", Value::Number(127.0)),
            ("mode", Value::Number(1.0)),
        ]);
        let info = Value::object([
            ("level", Value::String("status".into())),
            (
                "code",
                Value::String("NetConnection.Connect.Success".into()),
            ),
            ("description", Value::String("Connection succeeded".into())),
            ("objectEncoding", Value::Number(self.object_encoding)),
            (
                "data",
                Value::EcmaArray(vec![
                    ("version".into(), Value::String("3,5,3,888".into())),
                    ("server".into(), Value::String("tinysrs".into())),
                    (
                        "tinysrs_version".into(),
                        Value::String(env!("CARGO_PKG_VERSION").into()),
                    ),
                ]),
            ),
        ]);
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                Value::String("_result".into()),
                Value::Number(1.0),
                props,
                info,
            ],
        );
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                Value::String("onBWDone".into()),
                Value::Number(0.0),
                Value::Null,
            ],
        );
    }

    /// Refuses `connect` with NetConnection.Connect.Rejected; the session then closes.
    pub fn reject_connect(&mut self, description: &str) {
        let info = Value::object([
            ("level", Value::String("error".into())),
            (
                "code",
                Value::String("NetConnection.Connect.Rejected".into()),
            ),
            ("description", Value::String(description.into())),
        ]);
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                Value::String("_error".into()),
                Value::Number(1.0),
                Value::Null,
                info,
            ],
        );
        self.state = State::Closing;
    }

    fn on_create_stream(&mut self, txn: f64) -> Result<(), SessionError> {
        let id = self.next_stream_id;
        if self.streams.push((id, StreamRole::Idle)).is_err() {
            return Err(SessionError::Protocol(format!(
                "more than {MAX_STREAMS_PER_CONNECTION} message streams"
            )));
        }
        self.next_stream_id += 1;
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                Value::String("_result".into()),
                Value::Number(txn),
                Value::Null,
                Value::Number(f64::from(id)),
            ],
        );
        Ok(())
    }

    fn stream_request(&self, args: &[Value], what: &str) -> Result<Request, SessionError> {
        // args: [null, name, ...]
        let name = args.get(1).and_then(Value::as_str).unwrap_or("");
        let base = self
            .request
            .as_ref()
            .ok_or_else(|| SessionError::Protocol(format!("{what} before connect")))?;
        base.with_stream(name)
            .map_err(|e| SessionError::Protocol(format!("{what} {name:?}: {e}")))
    }

    fn on_publish(&mut self, stream_id: u32, args: &[Value]) -> Result<(), SessionError> {
        if self.role(stream_id) != Some(StreamRole::Idle) {
            return Err(SessionError::Protocol(format!(
                "publish on message stream {stream_id} that was not created or is busy"
            )));
        }
        let request = self.stream_request(args, "publish")?;
        self.set_role(stream_id, StreamRole::PublishPending);
        self.decoder.set_limits(self.config.chunk_limits);
        self.events.push_back(Event::Publish { stream_id, request });
        Ok(())
    }

    /// Accepts a publish. `firstpkt_ms`/`normal_ms` are the vhost's publish timeouts.
    pub fn accept_publish(
        &mut self,
        stream_id: u32,
        now_ms: u64,
        firstpkt_ms: u64,
        normal_ms: u64,
    ) {
        if self.role(stream_id) != Some(StreamRole::PublishPending) {
            return;
        }
        self.set_role(stream_id, StreamRole::Publishing);
        self.publish_timeouts = Some((firstpkt_ms, normal_ms, false, now_ms));
        let info = status_object(
            "status",
            "NetStream.Publish.Start",
            "Started publishing stream.",
        );
        self.send_command(
            CSID_STREAM,
            stream_id,
            &[
                Value::String("onFCPublish".into()),
                Value::Number(0.0),
                Value::Null,
                info.clone(),
            ],
        );
        self.send_command(
            CSID_STREAM,
            stream_id,
            &[
                Value::String("onStatus".into()),
                Value::Number(0.0),
                Value::Null,
                info,
            ],
        );
    }

    /// Refuses a publish with `code` (e.g. NetStream.Publish.BadName); the session then closes.
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        self.set_role(stream_id, StreamRole::Idle);
        self.send_status(stream_id, "error", code, description);
        self.state = State::Closing;
    }

    fn on_play(&mut self, stream_id: u32, args: &[Value]) -> Result<(), SessionError> {
        if self.role(stream_id) != Some(StreamRole::Idle) {
            return Err(SessionError::Protocol(format!(
                "play on message stream {stream_id} that was not created or is busy"
            )));
        }
        // start (-2 live or recorded, -1 live, >=0 recorded) and duration are accepted and
        // ignored: everything here is live.
        let request = self.stream_request(args, "play")?;
        self.set_role(stream_id, StreamRole::PlayPending);
        self.events.push_back(Event::Play { stream_id, request });
        Ok(())
    }

    /// Accepts a play: Stream Begin, Play.Reset, Play.Start, |RtmpSampleAccess.
    pub fn accept_play(&mut self, stream_id: u32) {
        if self.role(stream_id) != Some(StreamRole::PlayPending) {
            return;
        }
        self.set_role(stream_id, StreamRole::Playing { unpublished: false });
        self.send_play_start(stream_id);
    }

    fn send_play_start(&mut self, stream_id: u32) {
        self.send_control(ControlMessage::UserControl(UserControl::StreamBegin(
            stream_id,
        )));
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Reset",
            "Playing and resetting stream.",
        );
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            "Started playing stream.",
        );
        let mut body = BytesMut::new();
        amf0::encode_all(
            &[
                Value::String("|RtmpSampleAccess".into()),
                Value::Boolean(true),
                Value::Boolean(true),
            ],
            &mut body,
        );
        self.send_message(CSID_STREAM, 0, MessageType::DataAmf0, stream_id, &body);
        // No `onStatus NetStream.Data.Start` data message: ffmpeg's FLV demuxer turns it
        // into an extra data stream of unknown codec.
    }

    /// Refuses a play (e.g. security rules); the session then closes.
    pub fn reject_play(&mut self, stream_id: u32, code: &str, description: &str) {
        self.set_role(stream_id, StreamRole::Idle);
        self.send_status(stream_id, "error", code, description);
        self.state = State::Closing;
    }

    /// Answers a play with SRS's RTMP 302 (`SrsRtmpServer::redirect`, SRS 3.0's origin
    /// cluster): `onStatus` on stream 0 with level `error`, `NetConnection.Connect.Rejected`
    /// and `ex` = `{code: 302, redirect: tcUrl, redirect2: url}`; the session then closes
    /// (SRS waits for the client's next command, then closes too).
    pub fn redirect_play(&mut self, stream_id: u32, url: &str) {
        self.set_role(stream_id, StreamRole::Idle);
        let tc_url = url.split('?').next().unwrap_or(url);
        let tc_url = tc_url.rsplit_once('/').map_or(tc_url, |(t, _)| t);
        let ex = Value::object([
            ("code", Value::Number(302.0)),
            ("redirect", Value::String(tc_url.into())),
            ("redirect2", Value::String(url.into())),
        ]);
        let info = Value::object([
            ("level", Value::String("error".into())),
            (
                "code",
                Value::String("NetConnection.Connect.Rejected".into()),
            ),
            ("description", Value::String("RTMP 302 Redirect".into())),
            ("ex", ex),
        ]);
        self.send_command(
            CSID_STREAM,
            0,
            &[
                Value::String("onStatus".into()),
                Value::Number(0.0),
                Value::Null,
                info,
            ],
        );
        self.state = State::Closing;
    }

    /// The stream's publisher left: NetStream.Play.UnpublishNotify to the player.
    pub fn notify_unpublished(&mut self, stream_id: u32) {
        if let Some(StreamRole::Playing { unpublished: false }) = self.role(stream_id) {
            self.set_role(stream_id, StreamRole::Playing { unpublished: true });
            self.send_status(
                stream_id,
                "status",
                "NetStream.Play.UnpublishNotify",
                "The stream is unpublished.",
            );
        }
    }

    /// A publisher (re)started the stream: if the player was told it had stopped, it gets
    /// Stream Begin, Play.Reset and Play.Start again before the new sequence headers.
    pub fn notify_published(&mut self, stream_id: u32) {
        if let Some(StreamRole::Playing { unpublished: true }) = self.role(stream_id) {
            self.set_role(stream_id, StreamRole::Playing { unpublished: false });
            self.send_play_start(stream_id);
        }
    }

    fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        self.send_command(
            CSID_STREAM,
            stream_id,
            &[
                Value::String("onStatus".into()),
                Value::Number(0.0),
                Value::Null,
                status_object(level, code, description),
            ],
        );
    }

    /// `_result` with no information, for commands that only need an answer.
    fn send_empty_result(&mut self, txn: f64) {
        self.send_command(
            CSID_COMMAND,
            0,
            &[
                Value::String("_result".into()),
                Value::Number(txn),
                Value::Null,
                Value::Undefined,
            ],
        );
    }

    fn send_command(&mut self, csid: u32, stream_id: u32, values: &[Value]) {
        let mut body = BytesMut::new();
        amf0::encode_all(values, &mut body);
        self.send_message(csid, 0, MessageType::CommandAmf0, stream_id, &body);
    }

    fn send_control(&mut self, control: ControlMessage) {
        let mut body = BytesMut::with_capacity(control.encoded_len());
        control.encode(&mut body);
        self.send_message(CONTROL_CSID, 0, control.type_id(), 0, &body);
    }

    fn send_message(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: MessageType,
        stream_id: u32,
        body: &[u8],
    ) {
        let header = MessageHeader {
            csid,
            timestamp,
            type_id,
            stream_id,
        };
        // Control messages are encoded at the chunk size in force: SetChunkSize itself goes
        // out at the old size, and everything after it at the new one.
        let size = self.out_size_now;
        chunk::encode_message(size, &header, body, &mut self.outbox);
        if let MessageType::SetChunkSize = type_id {
            self.out_size_now = self.config.chunk_size;
        }
    }
}

fn status_object(level: &str, code: &str, description: &str) -> Value {
    Value::object([
        ("level", Value::String(level.into())),
        ("code", Value::String(code.into())),
        ("description", Value::String(description.into())),
    ])
}

#[cfg(test)]
mod tests;
