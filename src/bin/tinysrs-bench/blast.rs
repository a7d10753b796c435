//! `blast`: the physical reference. One sender writes the same RTMP chunk bytes a server would
//! send (the synthetic stream, each frame chunked once) to N loopback sockets in real time, one
//! `write` per socket per frame, and measures its own CPU. The readers (a sink on a second
//! thread, with its own current-thread runtime) discard; their CPU is not counted. What the
//! sender spends is about what the kernel charges for moving the bytes: a server cannot do
//! less per delivered byte with plain socket writes.

use std::cell::Cell;
use std::io;
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

pub struct Figures {
    pub cpu_s: f64,
    /// Bytes the sink read in the window.
    pub bytes: u64,
    pub window_s: f64,
    /// Frames a socket could not take at once (its send buffer was full): skipped.
    pub stalls: u64,
}

pub fn run(
    players: usize,
    stream: &Stream,
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
        send(addr, players, stream, warmup, window, &received).await
    });
    drop(sink);
    figures
}

async fn send(
    addr: SocketAddr,
    players: usize,
    stream: &Stream,
    warmup: Duration,
    window: Duration,
    received: &std::sync::atomic::AtomicUsize,
) -> io::Result<Figures> {
    let mut sockets = Vec::with_capacity(players);
    for _ in 0..players {
        let s = TcpStream::connect(addr).await?;
        let _ = nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::SndBuf, &SEND_BUFFER);
        sockets.push(s);
    }
    // Each frame chunked once, shared by every socket.
    let frames: Vec<(u32, Bytes)> = stream
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
        .collect();
    let stalls = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    let window_start = start + warmup;
    let end = window_start + window;
    let mut measured: Option<(f64, usize)> = None;
    let mut lap = 0u64;
    'outer: loop {
        for (ts, bytes) in &frames {
            let due =
                start + Duration::from_millis(lap * u64::from(stream.period_ms) + u64::from(*ts));
            sleep_until(due).await;
            let now = Instant::now();
            if measured.is_none() && now >= window_start {
                measured = Some((
                    thread_cpu_s(),
                    received.load(std::sync::atomic::Ordering::Relaxed),
                ));
            }
            if now >= end {
                break 'outer;
            }
            for s in &sockets {
                match s.try_write(bytes) {
                    Ok(n) if n == bytes.len() => {}
                    // A partial write leaves the stream mid-frame; the sink does not parse it.
                    Ok(_) => stalls.set(stalls.get() + 1),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => stalls.set(stalls.get() + 1),
                    Err(e) => return Err(e),
                }
            }
        }
        lap += 1;
    }
    let (cpu0, bytes0) = measured.unwrap_or((thread_cpu_s(), 0));
    Ok(Figures {
        cpu_s: thread_cpu_s() - cpu0,
        bytes: (received.load(std::sync::atomic::Ordering::Relaxed) - bytes0) as u64,
        window_s: window.as_secs_f64(),
        stalls: stalls.get(),
    })
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
