//! `blast`: the physical reference. One sender writes the same RTMP chunk bytes a server would
//! send (the synthetic stream, each frame chunked once) to N loopback sockets in real time and
//! measures its own CPU. The readers (a sink on a second thread, with its own current-thread
//! runtime) discard; their CPU is not counted. What the sender spends is about what the kernel
//! charges for moving the bytes: a server cannot do less per delivered byte with plain socket
//! writes batched the same way.
//!
//! Two batchings:
//! - unbatched (`mw_latency` 0): one `write` per socket per frame, as a server with
//!   `min_latency` on does;
//! - batched (`--batched`: the server's shipped `mw_latency`, or `--mw-latency MS`): what
//!   tinysrs does with its defaults (`net::rtmp`, `net::merge_wait`): a socket's first frame
//!   after a write opens a batch, the frames of the next `mw_latency` ms join it, then the
//!   batch goes out in `writev` calls of up to 64 slices (`MAX_IOVECS`), at most
//!   `server::MAX_BATCH_ITEMS` frames a batch. Sockets start one after another over the first
//!   `mw_latency`, so their batches are spread in time as a ramped server's players' are.
//!
//! What a caller must know: a batch is a range of frame numbers into the one looped copy of the
//! stream (16 bytes per socket, whatever `mw_latency` is); the slices of a `writev` are built
//! on the stack. A socket that cannot take a whole write (its send buffer is full) loses the
//! rest of that write, counted as a stall; the sink does not parse, so nothing else breaks.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tinysrs::wire::rtmp::chunk;
use tinysrs::wire::rtmp::message::{MessageHeader, MessageType};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::LocalSet;
use tokio::time::{sleep_until, Instant};

use crate::source::Stream;
use crate::stats::thread_cpu_s;

/// The server's chunk size (tinysrs's default).
const CHUNK_SIZE: u32 = 60_000;
/// Same SO_SNDBUF as the server sets (`net::rtmp::SEND_BUFFER`).
const SEND_BUFFER: usize = tinysrs::net::rtmp::SEND_BUFFER;
/// Slices per `writev`, as the server's `net::write_all` (Linux IOV_MAX is 1024).
const MAX_IOVECS: usize = 64;
/// Frames in one batch at most: the server's cap on queue items taken per write series.
const MAX_BATCH_FRAMES: u64 = tinysrs::server::MAX_BATCH_ITEMS as u64;

pub struct Figures {
    pub cpu_s: f64,
    /// Bytes the sink read in the window.
    pub bytes: u64,
    pub window_s: f64,
    /// Writes a socket could not take whole (its send buffer was full): the rest skipped.
    pub stalls: u64,
    /// `write`/`writev` calls in the window.
    pub writes: u64,
}

/// The server's shipped merged-write window (`play.mw_latency` of the embedded defaults).
pub fn shipped_mw_latency() -> Duration {
    let config = tinysrs::config::Config::embedded();
    Duration::from_millis(u64::from(config.default_vhost().mw_latency_ms))
}

pub fn run(
    players: usize,
    stream: &Stream,
    mw_latency: Duration,
    warmup: Duration,
    window: Duration,
) -> io::Result<Figures> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sink_received = received.clone();
    let sink = std::thread::spawn(move || sink_thread(listener, players, sink_received));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = LocalSet::new().block_on(&rt, async {
        let sockets = connect(addr, players).await?;
        let frames = chunked(stream);
        let mut sender = Sender {
            sockets: sockets
                .into_iter()
                .map(|stream| Socket {
                    stream,
                    batch: None,
                })
                .collect(),
            frames: &frames,
            stalls: 0,
            writes: 0,
        };
        sender
            .send(stream, mw_latency, warmup, window, &received)
            .await
    });
    drop(sink);
    figures
}

async fn connect(addr: SocketAddr, players: usize) -> io::Result<Vec<TcpStream>> {
    let mut sockets = Vec::with_capacity(players);
    for _ in 0..players {
        let s = TcpStream::connect(addr).await?;
        let _ = nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::SndBuf, &SEND_BUFFER);
        sockets.push(s);
    }
    Ok(sockets)
}

/// Each frame of the loop chunked once, shared by every socket.
fn chunked(stream: &Stream) -> Vec<(u32, Bytes)> {
    stream
        .frames
        .iter()
        .map(|m| {
            let header = MessageHeader {
                csid: 6,
                timestamp: m.timestamp,
                type_id: MessageType::Video,
                stream_id: 1,
            };
            let mut out = Vec::new();
            chunk::encode_message(CHUNK_SIZE, &header, &m.body, &mut out);
            (m.timestamp, Bytes::from(out))
        })
        .collect()
}

/// A socket's open batch: frames `first..` (numbered from the start, across laps) gathered
/// since `first` came, written at `due`.
#[derive(Clone, Copy)]
struct Batch {
    first: u64,
    due: Instant,
}

struct Socket {
    stream: TcpStream,
    batch: Option<Batch>,
}

struct Sender<'a> {
    sockets: Vec<Socket>,
    frames: &'a [(u32, Bytes)],
    stalls: u64,
    writes: u64,
}

impl Sender<'_> {
    async fn send(
        &mut self,
        stream: &Stream,
        mw_latency: Duration,
        warmup: Duration,
        window: Duration,
        received: &std::sync::atomic::AtomicUsize,
    ) -> io::Result<Figures> {
        let start = Instant::now();
        let window_start = start + warmup;
        let end = window_start + window;
        let n = self.sockets.len().max(1) as u32;
        // Batches due, in the order they opened (a batch is due `mw_latency` after it opens,
        // so this is also the order of their deadlines). At most one entry per socket, plus
        // stale ones of batches written early (full), skipped when they come up.
        let mut due: VecDeque<(Instant, usize)> = VecDeque::with_capacity(self.sockets.len());
        let mut measured: Option<(f64, usize, u64)> = None;
        let mut next = 0u64; // the next frame's number
        loop {
            let lap = next / self.frames.len() as u64;
            let (ts, _) = self.frames[(next % self.frames.len() as u64) as usize];
            let frame_due =
                start + Duration::from_millis(lap * u64::from(stream.period_ms) + u64::from(ts));
            let wake = due.front().map_or(frame_due, |&(d, _)| d.min(frame_due));
            sleep_until(wake).await;
            let now = Instant::now();
            if measured.is_none() && now >= window_start {
                measured = Some((
                    thread_cpu_s(),
                    received.load(std::sync::atomic::Ordering::Relaxed),
                    self.writes,
                ));
            }
            if now >= end {
                break;
            }
            if now >= frame_due {
                let frame = next;
                next += 1;
                for i in 0..self.sockets.len() {
                    // Socket i joins `i / n` of the way through the first `mw_latency`.
                    if now < start + mw_latency * (i as u32) / n {
                        continue;
                    }
                    let batch = *self.sockets[i].batch.get_or_insert(Batch {
                        first: frame,
                        due: now + mw_latency,
                    });
                    if mw_latency.is_zero() || next - batch.first >= MAX_BATCH_FRAMES {
                        self.write(i, next)?;
                    } else if batch.first == frame {
                        due.push_back((batch.due, i));
                    }
                }
            }
            while let Some(&(at, i)) = due.front() {
                if at > now {
                    break;
                }
                due.pop_front();
                if self.sockets[i].batch.is_some_and(|b| b.due == at) {
                    self.write(i, next)?;
                }
            }
        }
        let (cpu0, bytes0, writes0) = measured.unwrap_or((thread_cpu_s(), 0, self.writes));
        Ok(Figures {
            cpu_s: thread_cpu_s() - cpu0,
            bytes: (received.load(std::sync::atomic::Ordering::Relaxed) - bytes0) as u64,
            window_s: window.as_secs_f64(),
            stalls: self.stalls,
            writes: self.writes - writes0,
        })
    }

    /// Writes socket `i`'s batch (its frames up to `end`, exclusive) and closes it: one `write`
    /// for one frame, `writev` of up to `MAX_IOVECS` frames otherwise.
    fn write(&mut self, i: usize, end: u64) -> io::Result<()> {
        let Some(batch) = self.sockets[i].batch.take() else {
            return Ok(());
        };
        let frames = self.frames;
        let frame = |k: u64| &frames[(k % frames.len() as u64) as usize].1;
        let stream = &self.sockets[i].stream;
        let mut k = batch.first;
        while k < end {
            let upto = end.min(k + MAX_IOVECS as u64);
            let slices: heapless::Vec<IoSlice<'_>, MAX_IOVECS> =
                (k..upto).map(|k| IoSlice::new(frame(k))).collect();
            let len: usize = slices.iter().map(|s| s.len()).sum();
            self.writes += 1;
            let written = if slices.len() == 1 {
                stream.try_write(&slices[0])
            } else {
                stream.try_write_vectored(&slices)
            };
            match written {
                Ok(n) if n == len => {}
                // A partial write leaves the stream mid-frame; the sink does not parse it.
                Ok(_) => {
                    self.stalls += 1;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stalls += 1;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            k = upto;
        }
        Ok(())
    }
}

/// Accepts `players` connections and reads them until they close, counting bytes.
fn sink_thread(
    listener: std::net::TcpListener,
    players: usize,
    received: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    LocalSet::new().block_on(&rt, async move {
        let Ok(listener) = TcpListener::from_std(listener) else {
            return;
        };
        let buf = Rc::new(std::cell::RefCell::new(vec![0u8; 256 * 1024]));
        let mut tasks = Vec::new();
        for _ in 0..players {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let (buf, received) = (buf.clone(), received.clone());
            tasks.push(tokio::task::spawn_local(async move {
                loop {
                    if s.readable().await.is_err() {
                        return;
                    }
                    let r = s.try_read(&mut buf.borrow_mut());
                    match r {
                        Ok(0) => return,
                        Ok(n) => {
                            received.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
}
