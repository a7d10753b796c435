//! A small async RTMP client over tokio, built on the crate's `wire` codecs: handshake,
//! `connect`, `createStream`, `publish` / `play`, then raw message I/O. It answers what a
//! server may wait for (Acknowledgement at the server's window, ping responses) and follows
//! Set Chunk Size and Abort.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tinysrs::wire::amf0::{self, Value};
use tinysrs::wire::rtmp::chunk::{self, ChunkDecoder, ChunkLimits};
use tinysrs::wire::rtmp::handshake;
use tinysrs::wire::rtmp::message::{
    ControlMessage, Message, MessageHeader, MessageType, UserControl,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::url::Url;

/// How long connecting up to `Play.Start` / `Publish.Start` may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Bytes reserved in the input buffer before each read. The decoder takes every byte it is
/// given (a cut chunk goes into its message's buffer), so the buffer stays near this size.
const READ_RESERVE: usize = 8 * 1024;

/// Messages larger than this are refused (a frame of a benchmark stream is far smaller).
const LIMITS: ChunkLimits = ChunkLimits {
    max_message_len: 4 * 1024 * 1024,
    max_chunk_streams: 16,
    max_pending_bytes: 8 * 1024 * 1024,
};

pub const CSID_COMMAND: u32 = 3;
pub const CSID_DATA: u32 = 5;
pub const CSID_VIDEO: u32 = 6;
pub const CSID_AUDIO: u32 = 4;

/// Our outgoing chunk size after `connect` (what ffmpeg uses).
pub const OUT_CHUNK_SIZE: u32 = 4096;

pub fn protocol(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

pub struct Client {
    pub stream: TcpStream,
    pub input: BytesMut,
    decoder: ChunkDecoder,
    out_chunk_size: u32,
    pub stream_id: u32,
    next_txn: f64,
    /// The server's Window Acknowledgement Size (0 = none asked).
    ack_window: u32,
    acked_at: u64,
    received: u64,
    out: Vec<u8>,
}

impl Client {
    /// TCP connect, handshake, `connect` to the URL's app, Set Chunk Size, `createStream`.
    pub async fn connect(url: &Url, random: u64) -> io::Result<Client> {
        let stream = TcpStream::connect(&url.host_port).await?;
        stream.set_nodelay(true)?;
        let mut client = Client {
            stream,
            input: BytesMut::with_capacity(READ_RESERVE),
            decoder: ChunkDecoder::new(LIMITS),
            out_chunk_size: chunk::DEFAULT_CHUNK_SIZE,
            stream_id: 0,
            next_txn: 1.0,
            ack_window: 0,
            acked_at: 0,
            received: 0,
            out: Vec::new(),
        };
        let mut c1 = [0u8; handshake::PACKET_LEN];
        let mut x = random | 1;
        for b in c1.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 24) as u8;
        }
        let c0c1 = handshake::client_c0c1(&c1, 0, true);
        client.stream.write_all(&c0c1).await?;
        let mut s0s1s2 = vec![0u8; handshake::S0S1S2_LEN];
        client.stream.read_exact(&mut s0s1s2).await?;
        let c2 = handshake::client_c2(&c0c1, &s0s1s2)
            .map_err(|e| protocol(format!("handshake: {e}")))?;
        client.stream.write_all(&c2).await?;

        let tc_url = format!("rtmp://{}/{}", url.host_port, url.app);
        let props = Value::object([
            ("app", Value::String(url.app.clone())),
            ("flashVer", Value::String("LNX 9,0,124,2".into())),
            ("tcUrl", Value::String(tc_url)),
            ("fpad", Value::Boolean(false)),
            ("capabilities", Value::Number(15.0)),
            ("audioCodecs", Value::Number(4071.0)),
            ("videoCodecs", Value::Number(252.0)),
            ("videoFunction", Value::Number(1.0)),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        client.call("connect", &[props]).await?;
        let control = ControlMessage::SetChunkSize(OUT_CHUNK_SIZE);
        let mut body = BytesMut::new();
        control.encode(&mut body);
        client.send(&control.header(0), &body).await?;
        client.out_chunk_size = OUT_CHUNK_SIZE;
        let reply = client.call("createStream", &[Value::Null]).await?;
        client.stream_id = reply
            .get(3)
            .and_then(Value::as_f64)
            .ok_or_else(|| protocol(format!("createStream _result: {reply:?}")))?
            as u32;
        Ok(client)
    }

    /// `publish name live`, waiting for `NetStream.Publish.Start`.
    pub async fn publish(&mut self, name: &str) -> io::Result<()> {
        let args = [
            Value::Null,
            Value::String(name.into()),
            Value::String("live".into()),
        ];
        self.command("publish", 0.0, self.stream_id, &args).await?;
        self.wait_status("NetStream.Publish.Start").await
    }

    /// `play name`, waiting for `NetStream.Play.Start`. Media that arrives before it is
    /// dropped (the caller only measures after this returns).
    pub async fn play(&mut self, name: &str) -> io::Result<()> {
        let mut body = BytesMut::new();
        let buffer = ControlMessage::UserControl(UserControl::SetBufferLength {
            stream_id: self.stream_id,
            ms: 1000,
        });
        buffer.encode(&mut body);
        self.send(&buffer.header(0), &body).await?;
        let args = [
            Value::Null,
            Value::String(name.into()),
            Value::Number(-2000.0),
        ];
        self.command("play", 0.0, self.stream_id, &args).await?;
        self.wait_status("NetStream.Play.Start").await
    }

    /// Sends one message, chunked at our chunk size (one write).
    pub async fn send(&mut self, header: &MessageHeader, body: &[u8]) -> io::Result<()> {
        self.out.clear();
        chunk::encode_message(self.out_chunk_size, header, body, &mut self.out);
        self.stream.write_all(&self.out).await
    }

    /// A media or data message on our stream (reusing the output buffer).
    pub async fn send_media(
        &mut self,
        type_id: MessageType,
        timestamp: u32,
        body: &[u8],
    ) -> io::Result<()> {
        let csid = match type_id {
            MessageType::Video => CSID_VIDEO,
            MessageType::Audio => CSID_AUDIO,
            _ => CSID_DATA,
        };
        let header = MessageHeader {
            csid,
            timestamp,
            type_id,
            stream_id: self.stream_id,
        };
        self.send(&header, body).await
    }

    /// Decodes the next whole message already in the input buffer, applying control messages
    /// (Set Chunk Size, Abort); `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> io::Result<Option<Message>> {
        let Some(message) = self
            .decoder
            .decode(&mut self.input)
            .map_err(|e| protocol(format!("chunk stream: {e}")))?
        else {
            return Ok(None);
        };
        match ControlMessage::decode(message.header.type_id, &message.payload) {
            Ok(Some(ControlMessage::SetChunkSize(size))) => self
                .decoder
                .set_chunk_size(size)
                .map_err(|e| protocol(format!("server chunk size: {e}")))?,
            Ok(Some(ControlMessage::Abort { csid })) => self.decoder.abort(csid),
            Ok(Some(ControlMessage::WindowAckSize(size))) => self.ack_window = size,
            Ok(_) => {}
            Err(e) => return Err(protocol(format!("control message: {e}"))),
        }
        Ok(Some(message))
    }

    /// Reads what the socket has (at least one byte; 0 = the server closed).
    pub async fn read(&mut self) -> io::Result<usize> {
        self.input.reserve(READ_RESERVE);
        let n = self.stream.read_buf(&mut self.input).await?;
        self.received += n as u64;
        Ok(n)
    }

    /// Replies the server may wait for: a ping response to `message` if it is a ping, and an
    /// Acknowledgement once a window of bytes has come in.
    pub async fn answer(&mut self, message: &Message) -> io::Result<()> {
        if message.header.type_id == MessageType::UserControl {
            if let Ok(UserControl::PingRequest(t)) = UserControl::decode(&message.payload) {
                let pong = ControlMessage::UserControl(UserControl::PingResponse(t));
                let mut body = BytesMut::new();
                pong.encode(&mut body);
                self.send(&pong.header(0), &body).await?;
            }
        }
        Ok(())
    }

    /// Sends an Acknowledgement when a window's worth of bytes came in since the last one.
    pub async fn ack_if_due(&mut self) -> io::Result<()> {
        if self.ack_window > 0 && self.received - self.acked_at >= u64::from(self.ack_window) {
            self.acked_at = self.received;
            let ack = ControlMessage::Acknowledgement {
                sequence: self.received as u32,
            };
            let mut body = BytesMut::new();
            ack.encode(&mut body);
            self.send(&ack.header(0), &body).await?;
        }
        Ok(())
    }

    async fn next_message(&mut self) -> io::Result<Message> {
        loop {
            if let Some(message) = self.decode()? {
                self.answer(&message).await?;
                return Ok(message);
            }
            if self.read().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn call(&mut self, name: &str, args: &[Value]) -> io::Result<Vec<Value>> {
        let txn = self.next_txn;
        self.next_txn += 1.0;
        self.command(name, txn, 0, args).await?;
        loop {
            let message = self.next_message().await?;
            let Some(values) = command_values(&message) else {
                continue;
            };
            let reply_to = values.get(1).and_then(Value::as_f64);
            match values.first().and_then(Value::as_str) {
                Some("_result") if reply_to == Some(txn) => return Ok(values),
                Some("_error") if reply_to == Some(txn) => {
                    return Err(protocol(format!("{name} refused: {values:?}")))
                }
                _ => {}
            }
        }
    }

    async fn wait_status(&mut self, wanted: &str) -> io::Result<()> {
        loop {
            let message = self.next_message().await?;
            let Some(values) = command_values(&message) else {
                continue;
            };
            if values.first().and_then(Value::as_str) != Some("onStatus") {
                continue;
            }
            let info = values.get(3);
            let code = info
                .and_then(|i| i.get("code"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let level = info
                .and_then(|i| i.get("level"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if code == wanted {
                return Ok(());
            }
            if level == "error" || code.ends_with("Failed") || code.ends_with("BadName") {
                return Err(protocol(format!("refused: {code}")));
            }
        }
    }

    async fn command(
        &mut self,
        name: &str,
        txn: f64,
        stream_id: u32,
        args: &[Value],
    ) -> io::Result<()> {
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
        self.send(&header, &body).await
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
