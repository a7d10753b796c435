//! The RTMP client session: a state machine with no I/O and no clock, beside the server
//! session and built on the same `wire` codecs. Forward (publish to another server) drives it
//! today; an edge (play from an origin) can drive it with [`ClientRole::Play`].
//!
//! Verbs: [`ClientSession::new`] (queues C0+C1), [`ClientSession::handle_bytes`] (bytes in,
//! with the current time), [`ClientSession::poll_event`], [`ClientSession::poll_transmit`]
//! (bytes to send), [`ClientSession::poll_timeout`] / [`ClientSession::handle_timeout`] (the
//! setup deadline), and, once started, [`ClientSession::send_media`].
//!
//! States and transitions (what the client sent → what it waits for):
//! `Handshake` (C0C1 → S0S1S2; then C2 + `connect`) --`_result`--> `Connecting` → sends Set
//! Chunk Size, and for a publisher `releaseStream` and `FCPublish` (as ffmpeg and OBS do),
//! then `createStream` --`_result`--> `Starting` (`publish name live` or `play name`)
//! --`onStatus` `NetStream.Publish.Start` / `NetStream.Play.Start`--> `Started`; with
//! [`ClientRole::Connect`], `Connecting` --`_result`--> `Started` (nothing more is sent). An `_error`
//! or an `onStatus` of level `error` is [`ClientError::Refused`] (or, with SRS's `ex.code` 302,
//! [`ClientError::Redirect`]); no answer within
//! [`ClientConfig::setup_timeout_ms`] of the start is [`ClientError::Timeout`]. Any state
//! --[`ClientSession::close`] (`FCUnpublish` for a publisher, `deleteStream`)--> `Closed`.
//!
//! What a caller must know: the handshake is the simple one (RTMP 1.0 §5.2, no digest; every
//! server takes it). The session answers what a server may wait for: Acknowledgement at the
//! server's window, ping responses; it follows Set Chunk Size and Abort. Input is decoded as it
//! arrives; the chunk decoder holds at most [`ClientConfig::limits`].
//!
//! Not supported: AMF3 commands from the server are read as AMF0 after their marker byte
//! only; RTMPT/RTMPE; reconnect (the driver makes a new session).

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::MediaKind;
use crate::wire::amf0::{self, Value};
use crate::wire::rtmp::chunk::{self, ChunkDecoder, ChunkError, ChunkLimits};
use crate::wire::rtmp::handshake::{self, HandshakeError, PACKET_LEN, S0S1S2_LEN};
use crate::wire::rtmp::message::{
    ControlMessage, Message, MessageError, MessageHeader, MessageType, UserControl,
};

/// Chunk streams the client sends on (ffmpeg's choice).
pub const CSID_COMMAND: u32 = 3;
pub const CSID_DATA: u32 = 5;
pub const CSID_VIDEO: u32 = 6;
pub const CSID_AUDIO: u32 = 4;

/// Bytes of queued outgoing data at most before [`ClientSession::send_media`] refuses more:
/// the driver must write the outbox before it asks to send again. RAM: per client session.
pub const MAX_OUTBOX: usize = 1024 * 1024;

/// Events queued at most; past this, media from the server is dropped (counted). A player
/// driver polls after every read, so this is only reached by a driver bug.
const MAX_PENDING_EVENTS: usize = 64;

/// `@setDataFrame` as an AMF0 string: what a publisher puts before `onMetaData` so the server
/// stores the metadata (SRS and nginx-rtmp take it with or without).
const SET_DATA_FRAME: &[u8] = b"\x02\x00\x0d@setDataFrame";

/// `onMetaData` as an AMF0 string: the data message a player keeps.
const ON_METADATA: &[u8] = b"\x02\x00\x0aonMetaData";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    /// `publish name live`: we send media.
    Publish,
    /// `play name`: the server sends media ([`ClientEvent::Media`]).
    Play,
    /// `connect` only: [`ClientEvent::Started`] at its `_result` (an edge's token traverse,
    /// which asks the origin whether it accepts a client's connect).
    Connect,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `connect`'s `app` (with any `?query` the URL carried there).
    pub app: String,
    /// `connect`'s `tcUrl`: `rtmp://host[:port]/app`.
    pub tc_url: String,
    /// The stream name given to `publish`/`play`, with its `?query` (keys, tokens).
    pub stream: String,
    pub role: ClientRole,
    /// Our outgoing chunk size, sent after `connect`.
    pub chunk_size: u32,
    /// Limits of what the server sends (a player's largest frame).
    pub limits: ChunkLimits,
    /// From the session's start to `Started` at most.
    pub setup_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Connecting,
    CreatingStream,
    Starting,
    Started,
    /// [`ClientSession::close`] queued the goodbye: nothing more is sent or reported.
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `NetStream.Publish.Start` or `NetStream.Play.Start`: media may flow.
    Started,
    /// Media from the server (a player).
    Media {
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// The server's `onStatus` after start (e.g. `NetStream.Play.UnpublishNotify`).
    Status { code: String },
}

/// Errors end the session; they say why.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    #[error("control message: {0}")]
    Control(#[from] MessageError),
    #[error("refused by the server: {0}")]
    Refused(String),
    /// SRS's RTMP 302 (origin cluster): the server sends us to this URL (`ex.redirect2`, the
    /// full URL, else `ex.redirect`, a tcUrl). A driver may start a new session there.
    #[error("redirected (RTMP 302) to {0}")]
    Redirect(String),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("timeout: no {0} within the setup timeout")]
    Timeout(&'static str),
    #[error("{0} bytes wait to be sent: the server does not read")]
    OutboxFull(usize),
}

pub struct ClientSession {
    config: ClientConfig,
    state: State,
    /// Our C0+C1 until S0+S1+S2 came (to build C2), then dropped.
    c0c1: Option<Vec<u8>>,
    /// Handshake bytes received so far (S0S1S2 is read whole before chunks begin).
    input: BytesMut,
    decoder: ChunkDecoder,
    outbox: BytesMut,
    events: VecDeque<ClientEvent>,
    next_txn: f64,
    connect_txn: f64,
    create_txn: f64,
    stream_id: u32,
    /// The chunk size of what we queue.
    out_chunk_size: u32,
    /// The server's Window Acknowledgement Size (0 = none asked) and our count.
    ack_window: u32,
    acked_at: u64,
    deadline_ms: u64,
    dropped_events: u64,
}

impl ClientSession {
    /// A session that starts with C0+C1 in its outbox; `random` fills C1.
    pub fn new(config: ClientConfig, now_ms: u64, random: &[u8; PACKET_LEN]) -> ClientSession {
        let c0c1 = handshake::client_c0c1(random, now_ms as u32, false);
        let mut outbox = BytesMut::new();
        outbox.extend_from_slice(&c0c1);
        ClientSession {
            decoder: ChunkDecoder::new(config.limits),
            deadline_ms: now_ms.saturating_add(config.setup_timeout_ms),
            config,
            state: State::Handshake,
            c0c1: Some(c0c1),
            input: BytesMut::new(),
            outbox,
            events: VecDeque::new(),
            next_txn: 1.0,
            connect_txn: 0.0,
            create_txn: 0.0,
            stream_id: 0,
            out_chunk_size: chunk::DEFAULT_CHUNK_SIZE,
            ack_window: 0,
            acked_at: 0,
            dropped_events: 0,
        }
    }

    pub fn is_started(&self) -> bool {
        self.state == State::Started
    }

    /// The message stream `createStream` gave us (0 before).
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Media events dropped on a full event queue.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    pub fn handle_bytes(&mut self, now_ms: u64, mut data: &[u8]) -> Result<(), ClientError> {
        let _ = now_ms;
        if self.state == State::Handshake {
            let want = S0S1S2_LEN - self.input.len();
            let take = want.min(data.len());
            self.input.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.input.len() < S0S1S2_LEN {
                return Ok(());
            }
            let c0c1 = self.c0c1.take().unwrap_or_default();
            let c2 = handshake::client_c2(&c0c1, &self.input)?;
            self.input = BytesMut::new();
            self.outbox.extend_from_slice(&c2);
            self.send_connect();
            self.state = State::Connecting;
        }
        while !data.is_empty() {
            let (message, used) = self.decoder.decode_slice(data)?;
            data = &data[used..];
            if let Some(message) = message {
                self.handle_message(message)?;
            }
        }
        let received = self.decoder.bytes_received();
        if self.ack_window > 0 && received - self.acked_at >= u64::from(self.ack_window) {
            self.acked_at = received;
            self.control(ControlMessage::Acknowledgement {
                sequence: received as u32,
            });
        }
        Ok(())
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        let event = self.events.pop_front();
        if self.events.is_empty() && self.events.capacity() > MAX_PENDING_EVENTS {
            self.events = VecDeque::new();
        }
        event
    }

    /// Bytes to send, all at once (the buffer goes with them).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.outbox.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.outbox).freeze())
    }

    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The setup deadline until started; `u64::MAX` after (the driver watches the socket).
    pub fn poll_timeout(&self) -> u64 {
        if matches!(self.state, State::Started | State::Closed) {
            u64::MAX
        } else {
            self.deadline_ms
        }
    }

    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), ClientError> {
        if matches!(self.state, State::Started | State::Closed) || now_ms < self.deadline_ms {
            return Ok(());
        }
        Err(ClientError::Timeout(match self.state {
            State::Handshake => "handshake",
            State::Connecting => "connect reply",
            State::CreatingStream => "createStream reply",
            _ => "publish/play start",
        }))
    }

    /// Queues one media message on our stream (a publisher, once started). `Metadata` gets
    /// `@setDataFrame` in front, as a publisher sends it. Refused past [`MAX_OUTBOX`].
    pub fn send_media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        if self.state == State::Closed {
            return Ok(());
        }
        if self.outbox.len() > MAX_OUTBOX {
            return Err(ClientError::OutboxFull(self.outbox.len()));
        }
        let (csid, type_id) = match kind {
            MediaKind::Audio => (CSID_AUDIO, MessageType::Audio),
            MediaKind::Video => (CSID_VIDEO, MessageType::Video),
            MediaKind::Metadata => (CSID_DATA, MessageType::DataAmf0),
        };
        let header = MessageHeader {
            csid,
            timestamp,
            type_id,
            stream_id: self.stream_id,
        };
        if kind == MediaKind::Metadata {
            let mut body = BytesMut::with_capacity(SET_DATA_FRAME.len() + payload.len());
            body.put_slice(SET_DATA_FRAME);
            body.put_slice(payload);
            chunk::encode_message(self.out_chunk_size, &header, &body, &mut self.outbox);
        } else {
            chunk::encode_message(self.out_chunk_size, &header, payload, &mut self.outbox);
        }
        Ok(())
    }

    /// Queues what a client says before it closes, as ffmpeg does (`rtmp_close`): a publisher's
    /// `FCUnpublish` (transaction 0, before `deleteStream`), then `deleteStream` for the stream
    /// `createStream` gave (a publisher's or a player's). The server then ends the stream at
    /// once (SRS, nginx-rtmp) instead of at the TCP close. Nothing before `createStream`
    /// answered; idempotent (the stream is forgotten). The driver writes the outbox, then
    /// closes the socket.
    pub fn close(&mut self) {
        if self.stream_id == 0 {
            return;
        }
        if self.config.role == ClientRole::Publish && self.state == State::Started {
            let stream = Value::String(self.config.stream.clone());
            self.encode_command("FCUnpublish", 0.0, 0, &[Value::Null, stream]);
        }
        let id = Value::Number(f64::from(self.stream_id));
        self.encode_command("deleteStream", 0.0, 0, &[Value::Null, id]);
        self.stream_id = 0;
        self.state = State::Closed;
    }

    fn handle_message(&mut self, message: Message) -> Result<(), ClientError> {
        let type_id = message.header.type_id;
        if let Some(control) = ControlMessage::decode(type_id, &message.payload)? {
            match control {
                ControlMessage::SetChunkSize(size) => self.decoder.set_chunk_size(size)?,
                ControlMessage::Abort { csid } => self.decoder.abort(csid),
                ControlMessage::WindowAckSize(size) => self.ack_window = size,
                ControlMessage::UserControl(UserControl::PingRequest(t)) => {
                    self.control(ControlMessage::UserControl(UserControl::PingResponse(t)));
                }
                _ => {}
            }
            return Ok(());
        }
        match type_id {
            MessageType::CommandAmf0 => self.handle_command(&message.payload),
            MessageType::CommandAmf3 => match message.payload.get(1..) {
                Some(body) => self.handle_command(body),
                None => Ok(()),
            },
            MessageType::Audio | MessageType::Video | MessageType::DataAmf0
                if self.state == State::Started && self.config.role == ClientRole::Play =>
            {
                let mut payload = message.payload;
                let kind = match type_id {
                    MessageType::Audio => MediaKind::Audio,
                    MessageType::Video => MediaKind::Video,
                    _ => {
                        // Metadata only (`onMetaData`, `@setDataFrame` taken off); other
                        // data messages (`|RtmpSampleAccess`) are for Flash.
                        if payload.starts_with(SET_DATA_FRAME) {
                            let _ = payload.split_to(SET_DATA_FRAME.len());
                        }
                        if !payload.starts_with(ON_METADATA) {
                            return Ok(());
                        }
                        MediaKind::Metadata
                    }
                };
                if self.events.len() >= MAX_PENDING_EVENTS {
                    self.dropped_events += 1;
                } else {
                    self.events.push_back(ClientEvent::Media {
                        kind,
                        timestamp: message.header.timestamp,
                        payload,
                    });
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn handle_command(&mut self, body: &[u8]) -> Result<(), ClientError> {
        let values = amf0::decode_all(body)
            .map_err(|e| ClientError::Protocol(format!("AMF0 command from the server: {e}")))?;
        let name = values.first().and_then(Value::as_str).unwrap_or_default();
        let txn = values.get(1).and_then(Value::as_f64).unwrap_or(-1.0);
        match name {
            "_result" if self.state == State::Connecting && txn == self.connect_txn => {
                if self.config.role == ClientRole::Connect {
                    self.state = State::Started;
                    self.events.push_back(ClientEvent::Started);
                    return Ok(());
                }
                self.control(ControlMessage::SetChunkSize(self.config.chunk_size));
                if self.config.role == ClientRole::Publish {
                    let stream = Value::String(self.config.stream.clone());
                    self.command("releaseStream", 0, &[Value::Null, stream.clone()]);
                    self.command("FCPublish", 0, &[Value::Null, stream]);
                }
                self.create_txn = self.command("createStream", 0, &[Value::Null]);
                self.state = State::CreatingStream;
            }
            "_result" if self.state == State::CreatingStream && txn == self.create_txn => {
                let id = values.get(3).and_then(Value::as_f64).unwrap_or(-1.0);
                if !(1.0..=f64::from(u16::MAX)).contains(&id) {
                    return Err(ClientError::Protocol(format!(
                        "createStream answered stream id {id}"
                    )));
                }
                self.stream_id = id as u32;
                let stream = Value::String(self.config.stream.clone());
                match self.config.role {
                    ClientRole::Publish => {
                        let args = [Value::Null, stream, Value::String("live".into())];
                        self.stream_command("publish", &args);
                    }
                    ClientRole::Play => {
                        self.control(ControlMessage::UserControl(UserControl::SetBufferLength {
                            stream_id: self.stream_id,
                            ms: 1000,
                        }));
                        let args = [Value::Null, stream, Value::Number(-1000.0)];
                        self.stream_command("play", &args);
                    }
                    ClientRole::Connect => {}
                }
                self.state = State::Starting;
            }
            "_error" if txn == self.connect_txn || txn == self.create_txn => {
                return Err(ClientError::Refused(describe(&values)));
            }
            "onStatus" => {
                let info = values.get(3);
                let field = |key| {
                    info.and_then(|i| i.get(key))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                };
                let (code, level) = (field("code"), field("level"));
                if level == "error" {
                    return Err(match redirect(info) {
                        Some(url) => ClientError::Redirect(url),
                        None => ClientError::Refused(describe(&values)),
                    });
                }
                let start = match self.config.role {
                    ClientRole::Publish => "NetStream.Publish.Start",
                    ClientRole::Play => "NetStream.Play.Start",
                    ClientRole::Connect => "NetConnection.Connect.Success",
                };
                if self.state == State::Starting && code == start {
                    self.state = State::Started;
                    self.events.push_back(ClientEvent::Started);
                } else if self.state == State::Started && self.events.len() < MAX_PENDING_EVENTS {
                    self.events.push_back(ClientEvent::Status {
                        code: code.to_owned(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn send_connect(&mut self) {
        let props = Value::object([
            ("app", Value::String(self.config.app.clone())),
            ("type", Value::String("nonprivate".into())),
            (
                "flashVer",
                Value::String("FMLE/3.0 (compatible; tinysrs)".into()),
            ),
            ("tcUrl", Value::String(self.config.tc_url.clone())),
        ]);
        self.connect_txn = self.command("connect", 0, &[props]);
    }

    /// A command on stream 0 with the next transaction id, which it returns.
    fn command(&mut self, name: &str, stream_id: u32, args: &[Value]) -> f64 {
        let txn = self.next_txn;
        self.next_txn += 1.0;
        self.encode_command(name, txn, stream_id, args);
        txn
    }

    /// `publish`/`play` on our stream, transaction 0 (no `_result` expected).
    fn stream_command(&mut self, name: &str, args: &[Value]) {
        self.encode_command(name, 0.0, self.stream_id, args);
    }

    fn encode_command(&mut self, name: &str, txn: f64, stream_id: u32, args: &[Value]) {
        let mut values = Vec::with_capacity(2 + args.len());
        values.push(Value::String(name.into()));
        values.push(Value::Number(txn));
        values.extend_from_slice(args);
        let mut body = BytesMut::new();
        amf0::encode_all(&values, &mut body);
        let header = MessageHeader {
            csid: CSID_COMMAND,
            timestamp: 0,
            type_id: MessageType::CommandAmf0,
            stream_id,
        };
        chunk::encode_message(self.current_chunk_size(), &header, &body, &mut self.outbox);
    }

    fn control(&mut self, control: ControlMessage) {
        let mut body = BytesMut::with_capacity(control.encoded_len());
        control.encode(&mut body);
        let chunk_size = self.current_chunk_size();
        chunk::encode_message(chunk_size, &control.header(0), &body, &mut self.outbox);
        if let ControlMessage::SetChunkSize(size) = control {
            // Everything queued after it is chunked at the new size.
            self.out_chunk_size = size;
        }
    }

    /// The chunk size the server knows we use: the default until our Set Chunk Size is queued
    /// (right after `connect`'s `_result`, before anything large).
    fn current_chunk_size(&self) -> u32 {
        self.out_chunk_size
    }
}

/// An error `onStatus`'s RTMP 302 (SRS: `ex.code` 302 with `ex.redirect2` or `ex.redirect`,
/// as SRS's edge reads it), if it is one.
fn redirect(info: Option<&Value>) -> Option<String> {
    let ex = info?.get("ex")?;
    if ex.get("code").and_then(Value::as_f64) != Some(302.0) {
        return None;
    }
    let url = ex
        .get("redirect2")
        .and_then(Value::as_str)
        .or_else(|| ex.get("redirect").and_then(Value::as_str))?;
    Some(url.to_owned())
}

/// `_error` or error `onStatus`: its code and description, for the log.
fn describe(values: &[Value]) -> String {
    let info = values.iter().skip(2).find(|v| v.get("code").is_some());
    let field = |key| {
        info.and_then(|i| i.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    format!("{} {}", field("code"), field("description"))
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests;
