//! Our own blocking RTMP client, for tests that need to send or check exact bytes (synthetic
//! frames, H.265 in FLV, odd chunk sizes, malformed input) where ffmpeg cannot.
//!
//! It speaks through the crate's `wire` modules (handshake, chunk codec, AMF0, control
//! messages) over a `std::net::TcpStream`; every wait is bounded by a read timeout. It answers
//! nothing on its own (no Acknowledgement, no ping reply); it only follows the server's Set
//! Chunk Size, which it must to decode anything.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
pub use tinysrs::session::rtmp::MediaKind;
use tinysrs::wire::amf0::{self, Value};
use tinysrs::wire::rtmp::chunk::{self, ChunkDecoder, ChunkLimits};
use tinysrs::wire::rtmp::handshake;
use tinysrs::wire::rtmp::message::{ControlMessage, Message, MessageHeader, MessageType};

/// How long a reply (handshake, `_result`, `onStatus`) or a `recv` may take at most.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Chunk streams we send on (ffmpeg's choices).
const CSID_COMMAND: u32 = 3;
const CSID_AUDIO: u32 = 4;
const CSID_DATA: u32 = 5;
const CSID_VIDEO: u32 = 6;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub enum Error {
    /// Nothing (or not the awaited reply) arrived in time.
    Timeout,
    /// The server closed the connection (EOF or reset).
    Closed,
    /// The server sent something we cannot decode, or refused a command with `_error`.
    Protocol(String),
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => f.write_str("timed out"),
            Error::Closed => f.write_str("connection closed by the server"),
            Error::Protocol(s) => write!(f, "protocol: {s}"),
            Error::Io(e) => write!(f, "I/O: {e}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Error::Closed,
            _ => Error::Io(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// One message from the server, sorted by what a test looks at.
#[derive(Debug, Clone)]
pub enum Received {
    /// Audio, video, or `onMetaData` (the whole message payload, i.e. the FLV tag body).
    Media {
        kind: MediaKind,
        timestamp: u32,
        payload: Bytes,
    },
    /// An `onStatus` command: its info object's `code`.
    Status { code: String },
    /// A protocol or user control message (types 1–6).
    Control(ControlMessage),
    /// Anything else (`_result`, `onFCPublish`, `|RtmpSampleAccess`, ...).
    Other(Message),
}

pub struct Client {
    socket: TcpStream,
    decoder: ChunkDecoder,
    input: BytesMut,
    /// Our outgoing chunk size (128 until [`Client::set_chunk_size`]).
    chunk_size: u32,
    /// Message stream id from `createStream` (0 before).
    stream_id: u32,
    next_txn: f64,
    /// Media that arrived while a command waited for its reply; `recv` returns it first.
    stashed: VecDeque<Received>,
}

impl Client {
    /// TCP connect to `host_port` (e.g. "127.0.0.1:1935"), complex handshake, then `connect`
    /// to `app`; returns once the server answered `_result`.
    pub fn connect(host_port: &str, app: &str) -> Result<Client> {
        Client::connect_from_page(host_port, app, "")
    }

    /// [`Client::connect`] with `page_url` as connect's `pageUrl` (none if empty), as a Flash
    /// player or a web publisher embedded in that page sends it.
    pub fn connect_from_page(host_port: &str, app: &str, page_url: &str) -> Result<Client> {
        let mut client = Client::handshake(host_port)?;
        let tc_url = format!("rtmp://{host_port}/{app}");
        let mut props = Value::object([
            ("app", Value::String(app.into())),
            ("flashVer", Value::String("LNX 9,0,124,2".into())),
            ("tcUrl", Value::String(tc_url)),
            ("fpad", Value::Boolean(false)),
            ("capabilities", Value::Number(15.0)),
            ("audioCodecs", Value::Number(4071.0)),
            ("videoCodecs", Value::Number(252.0)),
            ("videoFunction", Value::Number(1.0)),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        if let (false, Value::Object(fields)) = (page_url.is_empty(), &mut props) {
            fields.push(("pageUrl".into(), Value::String(page_url.into())));
        }
        client.call("connect", 0, &[props])?;
        Ok(client)
    }

    /// TCP connect and the handshake only (C0C1, S0S1S2, C2): for tests that send their own
    /// bytes afterwards.
    pub fn handshake(host_port: &str) -> Result<Client> {
        let socket = TcpStream::connect(host_port)?;
        socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
        socket.set_write_timeout(Some(REPLY_TIMEOUT))?;
        socket.set_nodelay(true)?;
        let mut client = Client {
            socket,
            decoder: ChunkDecoder::new(ChunkLimits::default()),
            input: BytesMut::new(),
            chunk_size: chunk::DEFAULT_CHUNK_SIZE,
            stream_id: 0,
            next_txn: 1.0,
            stashed: VecDeque::new(),
        };
        let mut random = [0u8; handshake::PACKET_LEN];
        fill_random(&mut random);
        let c0c1 = handshake::client_c0c1(&random, 0, true);
        client.socket.write_all(&c0c1)?;
        let mut s0s1s2 = vec![0u8; handshake::S0S1S2_LEN];
        client.socket.read_exact(&mut s0s1s2)?;
        let c2 = handshake::client_c2(&c0c1, &s0s1s2)
            .map_err(|e| Error::Protocol(format!("handshake: {e}")))?;
        client.socket.write_all(&c2)?;
        Ok(client)
    }

    /// `createStream`; later publish/play/media use the returned message stream id.
    pub fn create_stream(&mut self) -> Result<u32> {
        let reply = self.call("createStream", 0, &[Value::Null])?;
        let id = reply
            .get(3)
            .and_then(Value::as_f64)
            .ok_or_else(|| Error::Protocol(format!("createStream _result: {reply:?}")))?;
        self.stream_id = id as u32;
        Ok(self.stream_id)
    }

    /// `publish name live`; returns the `onStatus` code (NetStream.Publish.Start, or the
    /// refusal such as NetStream.Publish.BadName).
    pub fn publish(&mut self, name: &str) -> Result<String> {
        let args = [
            Value::Null,
            Value::String(name.into()),
            Value::String("live".into()),
        ];
        self.command("publish", 0.0, self.stream_id, &args)?;
        self.wait_status(|_| true)
    }

    /// `play name` (live); returns the `onStatus` code after Play.Reset (NetStream.Play.Start,
    /// or a refusal such as NetStream.Play.Failed).
    pub fn play(&mut self, name: &str) -> Result<String> {
        let args = [
            Value::Null,
            Value::String(name.into()),
            Value::Number(-2000.0),
        ];
        self.command("play", 0.0, self.stream_id, &args)?;
        self.wait_status(|code| code != "NetStream.Play.Reset")
    }

    /// `closeStream` on the current message stream (a publisher stops; no reply).
    pub fn close_stream(&mut self) -> Result<()> {
        self.command("closeStream", 0.0, self.stream_id, &[Value::Null])
    }

    pub fn send_video(&mut self, timestamp: u32, body: &[u8]) -> Result<()> {
        self.send_message(CSID_VIDEO, MessageType::Video, timestamp, body)
    }

    pub fn send_audio(&mut self, timestamp: u32, body: &[u8]) -> Result<()> {
        self.send_message(CSID_AUDIO, MessageType::Audio, timestamp, body)
    }

    /// `@setDataFrame onMetaData {props}`, as encoders send it.
    pub fn send_metadata(&mut self, props: Vec<(&'static str, Value)>) -> Result<()> {
        let mut body = BytesMut::new();
        amf0::encode_all(
            &[
                Value::String("@setDataFrame".into()),
                Value::String("onMetaData".into()),
                Value::ecma_array(props),
            ],
            &mut body,
        );
        self.send_message(CSID_DATA, MessageType::DataAmf0, 0, &body)
    }

    /// Set Chunk Size: every later message we send is cut at `size`.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<()> {
        let control = ControlMessage::SetChunkSize(size);
        let mut body = BytesMut::new();
        control.encode(&mut body);
        let header = control.header(0);
        self.write_message(&header, &body)?;
        self.chunk_size = size;
        Ok(())
    }

    /// Any message on our message stream, chunked at our chunk size.
    pub fn send_message(
        &mut self,
        csid: u32,
        type_id: MessageType,
        timestamp: u32,
        body: &[u8],
    ) -> Result<()> {
        let header = MessageHeader {
            csid,
            timestamp,
            type_id,
            stream_id: self.stream_id,
        };
        self.write_message(&header, body)
    }

    /// Our end of the connection (the server logs it as the peer).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.socket.local_addr().expect("a connected socket")
    }

    /// Raw bytes, as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.socket.write_all(bytes)?;
        Ok(())
    }

    /// The next message, waiting up to [`REPLY_TIMEOUT`].
    pub fn recv(&mut self) -> Result<Received> {
        self.recv_timeout(REPLY_TIMEOUT)
    }

    /// The next message, waiting up to `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Received> {
        if let Some(r) = self.stashed.pop_front() {
            return Ok(r);
        }
        let message = self.recv_message(Instant::now() + timeout)?;
        Ok(classify(message))
    }

    /// The next media message, skipping everything else, waiting up to `timeout` in all.
    pub fn recv_media(&mut self, timeout: Duration) -> Result<(MediaKind, u32, Bytes)> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            if let Received::Media {
                kind,
                timestamp,
                payload,
            } = self.recv_timeout(left)?
            {
                return Ok((kind, timestamp, payload));
            }
        }
    }

    /// Reads one whole message, applying the server's Set Chunk Size and Abort.
    fn recv_message(&mut self, deadline: Instant) -> Result<Message> {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let decoded = self
                .decoder
                .decode(&mut self.input)
                .map_err(|e| Error::Protocol(format!("chunk stream: {e}")))?;
            if let Some(message) = decoded {
                match ControlMessage::decode(message.header.type_id, &message.payload) {
                    Ok(Some(ControlMessage::SetChunkSize(size))) => self
                        .decoder
                        .set_chunk_size(size)
                        .map_err(|e| Error::Protocol(format!("server chunk size: {e}")))?,
                    Ok(Some(ControlMessage::Abort { csid })) => self.decoder.abort(csid),
                    Ok(_) => {}
                    Err(e) => return Err(Error::Protocol(format!("control message: {e}"))),
                }
                return Ok(message);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            self.socket.set_read_timeout(Some(left))?;
            match self.socket.read(&mut buf) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                // A read with a timeout is not restarted after a stop signal (signal(7)).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends a command on message stream 0 and waits for its `_result` (all values returned).
    fn call(&mut self, name: &str, stream_id: u32, args: &[Value]) -> Result<Vec<Value>> {
        let txn = self.next_txn;
        self.next_txn += 1.0;
        self.command(name, txn, stream_id, args)?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let message = self.recv_message(deadline)?;
            let Some(values) = command_values(&message) else {
                self.stash(message);
                continue;
            };
            let reply_to = values.get(1).and_then(Value::as_f64);
            match values.first().and_then(Value::as_str) {
                Some("_result") if reply_to == Some(txn) => return Ok(values),
                Some("_error") if reply_to == Some(txn) => {
                    return Err(Error::Protocol(format!("{name} refused: {values:?}")))
                }
                _ => {}
            }
        }
    }

    /// Waits for an `onStatus` whose code `done` accepts.
    fn wait_status(&mut self, done: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let message = self.recv_message(deadline)?;
            match classify(message) {
                Received::Status { code } if done(&code) => return Ok(code),
                media @ Received::Media { .. } => self.stashed.push_back(media),
                _ => {}
            }
        }
    }

    fn stash(&mut self, message: Message) {
        if let media @ Received::Media { .. } = classify(message) {
            self.stashed.push_back(media);
        }
    }

    fn command(&mut self, name: &str, txn: f64, stream_id: u32, args: &[Value]) -> Result<()> {
        let mut values = vec![Value::String(name.into()), Value::Number(txn)];
        values.extend_from_slice(args);
        let mut body = BytesMut::new();
        amf0::encode_all(&values, &mut body);
        let header = MessageHeader {
            csid: CSID_COMMAND,
            timestamp: 0,
            type_id: MessageType::CommandAmf0,
            stream_id,
        };
        self.write_message(&header, &body)
    }

    fn write_message(&mut self, header: &MessageHeader, body: &[u8]) -> Result<()> {
        let mut out = Vec::with_capacity(chunk::encoded_len(self.chunk_size, header, body.len()));
        chunk::encode_message(self.chunk_size, header, body, &mut out);
        self.socket.write_all(&out)?;
        Ok(())
    }
}

/// AMF0 values of a command message (`None` for other message types or undecodable bodies).
fn command_values(message: &Message) -> Option<Vec<Value>> {
    match message.header.type_id {
        MessageType::CommandAmf0 => amf0::decode_all(&message.payload).ok(),
        MessageType::CommandAmf3 => amf0::decode_all(message.payload.get(1..)?).ok(),
        _ => None,
    }
}

fn classify(message: Message) -> Received {
    let header = message.header;
    let media = |kind| Received::Media {
        kind,
        timestamp: header.timestamp,
        payload: message.payload.clone(),
    };
    match header.type_id {
        MessageType::Audio => return media(MediaKind::Audio),
        MessageType::Video => return media(MediaKind::Video),
        MessageType::DataAmf0 => {
            if let Ok((name, _)) = amf0::decode(&message.payload) {
                if name.as_str() == Some("onMetaData") {
                    return media(MediaKind::Metadata);
                }
            }
        }
        _ => {}
    }
    if let Ok(Some(control)) = ControlMessage::decode(header.type_id, &message.payload) {
        return Received::Control(control);
    }
    if let Some(values) = command_values(&message) {
        if values.first().and_then(Value::as_str) == Some("onStatus") {
            if let Some(code) = values.get(3).and_then(|info| info.get("code")) {
                return Received::Status {
                    code: code.as_str().unwrap_or_default().to_string(),
                };
            }
        }
    }
    Received::Other(message)
}

/// Handshake filler; it need not be secret, only differ between connections.
fn fill_random(buf: &mut [u8]) {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    for b in buf {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
}
