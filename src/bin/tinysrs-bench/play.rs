//! The players: RTMP, HTTP-FLV or RTSP (`rtsp.rs`), reading and discarding, counting bytes and reading the
//! stamps of video frames into the shared [`Board`].
//!
//! Cost per player: one task, one socket, and an input buffer (8 KiB reserved per read; the
//! RTMP decoder takes what it is given, an HTTP-FLV player's buffer grows to hold one FLV tag),
//! plus the message being reassembled. That is 10–130 KiB per player, 20–260 MiB for 2000: the
//! load generator is meant to run on a host with that to spare, not on the board.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use bytes::{Buf, BytesMut};
use tinysrs::wire::flv::{FlvReader, TagType};
use tinysrs::wire::rtmp::message::MessageType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::timeout;

use crate::client::{protocol, Client, SETUP_TIMEOUT};
use crate::stamp::Stamp;
use crate::stats::{mono_us, Histogram};
use crate::url::{Scheme, Url};

/// Longest HTTP response head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Largest FLV tag accepted from the server.
const MAX_TAG: u32 = 4 * 1024 * 1024;
/// Bytes reserved in an HTTP-FLV player's buffer before each read.
const READ_RESERVE: usize = 8 * 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum State {
    #[default]
    Connecting,
    Playing,
    /// Setup failed or the connection ended.
    Failed,
}

/// One player's counters.
#[derive(Debug, Default, Clone)]
pub struct Player {
    pub state: State,
    /// Bytes read from the socket since `Play.Start` (or the HTTP response head).
    pub bytes: u64,
    /// Stamped frames seen.
    pub frames: u64,
    /// Stamped frames missing between two seen ones (sequence gaps).
    pub lost: u64,
    /// (RTSP) RTP packets missing in the sequence numbers of the player's channels.
    pub rtp_gaps: u64,
    last_seq: Option<u64>,
}

/// What all players share: their counters and the latency histograms.
#[derive(Debug, Default)]
pub struct Board {
    pub players: Vec<Player>,
    /// Latencies since the last per-second report.
    pub latency_second: Histogram,
    /// Latencies in the measurement window.
    pub latency_window: Histogram,
    /// Latencies are only recorded in the window (not the GOP cache burst of a new player).
    pub measuring: bool,
    pub first_error: Option<String>,
    /// Set at the end of the run, with `stop` notified: the RTSP players send TEARDOWN.
    pub stopping: bool,
    pub stop: Rc<Notify>,
}

impl Board {
    #[cfg(feature = "rtsp")]
    pub fn add_rtp_gap(&mut self, i: usize, n: u64) {
        if let Some(p) = self.players.get_mut(i) {
            p.rtp_gaps += n;
        }
    }

    /// Ends the run: the RTSP players tear their sessions down.
    pub fn stop(&mut self) {
        self.stopping = true;
        self.stop.notify_waiters();
    }

    pub fn add_bytes(&mut self, i: usize, n: usize) {
        if let Some(p) = self.players.get_mut(i) {
            p.bytes += n as u64;
        }
    }

    pub fn on_video(&mut self, i: usize, body: &[u8]) {
        let Some(stamp) = Stamp::find(body) else {
            return;
        };
        let latency = mono_us().saturating_sub(stamp.time_us);
        if let Some(p) = self.players.get_mut(i) {
            p.frames += 1;
            if let Some(last) = p.last_seq {
                if stamp.seq > last + 1 {
                    p.lost += stamp.seq - last - 1;
                }
            }
            p.last_seq = Some(stamp.seq);
        }
        if self.measuring {
            self.latency_second.record(latency);
            self.latency_window.record(latency);
        }
    }
}

/// Runs player `i` until its connection ends; the board records how.
pub async fn run(url: Rc<Url>, i: usize, board: Rc<RefCell<Board>>) {
    let result = match url.scheme {
        Scheme::Rtmp => rtmp(&url, i, &board).await,
        Scheme::HttpFlv => http_flv(&url, i, &board).await,
        #[cfg(feature = "rtsp")]
        Scheme::Rtsp => crate::rtsp::run(&url, i, &board).await,
        #[cfg(not(feature = "rtsp"))]
        Scheme::Rtsp => Err(io::Error::other("built without the rtsp feature")),
    };
    if board.borrow().stopping {
        return;
    }
    let mut b = board.borrow_mut();
    if let Some(p) = b.players.get_mut(i) {
        p.state = State::Failed;
    }
    let e = match result {
        Ok(()) => "the server closed the connection".to_string(),
        Err(e) => e.to_string(),
    };
    b.first_error.get_or_insert(format!("player {i}: {e}"));
}

pub fn playing(board: &RefCell<Board>, i: usize) {
    if let Some(p) = board.borrow_mut().players.get_mut(i) {
        p.state = State::Playing;
    }
}

async fn rtmp(url: &Url, i: usize, board: &RefCell<Board>) -> io::Result<()> {
    let mut client = timeout(SETUP_TIMEOUT, async {
        let mut client = Client::connect(url, mono_us() ^ i as u64).await?;
        client.play(&url.stream).await?;
        Ok::<_, io::Error>(client)
    })
    .await
    .map_err(|_| io::Error::other("no Play.Start in time"))??;
    playing(board, i);
    loop {
        while let Some(message) = client.decode()? {
            if message.header.type_id == MessageType::Video {
                board.borrow_mut().on_video(i, &message.payload);
            } else {
                client.answer(&message).await?;
            }
        }
        client.ack_if_due().await?;
        let n = client.read().await?;
        if n == 0 {
            return Ok(());
        }
        board.borrow_mut().add_bytes(i, n);
    }
}

async fn http_flv(url: &Url, i: usize, board: &RefCell<Board>) -> io::Result<()> {
    let (mut stream, mut input) = timeout(SETUP_TIMEOUT, async {
        let mut stream = TcpStream::connect(&url.host_port).await?;
        // HTTP/1.0: the body is the bare FLV stream, no chunked encoding.
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: tinysrs-bench\r\n\r\n",
            url.path, url.host_port
        );
        stream.write_all(request.as_bytes()).await?;
        let mut input = BytesMut::with_capacity(READ_RESERVE);
        let head_len = loop {
            if let Some(at) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if input.len() > MAX_HEAD {
                return Err(protocol("HTTP response head too long"));
            }
            input.reserve(READ_RESERVE);
            if stream.read_buf(&mut input).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let status = input[..head_len]
            .split(|&b| b == b'\r')
            .next()
            .unwrap_or_default();
        if !status.windows(5).any(|w| w == b" 200 ") {
            return Err(protocol(format!(
                "HTTP status {:?}",
                String::from_utf8_lossy(status)
            )));
        }
        input.advance(head_len);
        Ok::<_, io::Error>((stream, input))
    })
    .await
    .map_err(|_| io::Error::other("no HTTP response in time"))??;
    playing(board, i);
    board.borrow_mut().add_bytes(i, input.len());
    let mut reader = FlvReader::new(MAX_TAG);
    loop {
        while let Some(tag) = reader
            .decode(&mut input)
            .map_err(|e| protocol(format!("FLV: {e}")))?
        {
            if tag.tag_type == TagType::Video {
                board.borrow_mut().on_video(i, &tag.body);
            }
        }
        input.reserve(READ_RESERVE);
        let n = stream.read_buf(&mut input).await?;
        if n == 0 {
            return Ok(());
        }
        board.borrow_mut().add_bytes(i, n);
    }
}
