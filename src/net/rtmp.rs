//! The RTMP connection driver: one task per connection. It reads into a capped buffer, feeds
//! the session through `server::rtmp::RtmpConn`, writes replies and player media with
//! `writev` (batched per `mw_latency`), and sleeps until the session's next deadline.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use std::os::fd::AsRawFd;

use bytes::Bytes;
use nix::sys::socket::MsgFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::{write_all, Clock, ConnGuards, Shared};
use crate::live::ClientId;
use crate::server::rtmp::{session_config, RtmpConn};
use crate::server::ConnLog;
use crate::session::rtmp::ServerSession;
use crate::wire::rtmp::handshake::PACKET_LEN;

/// Bytes read from the socket at once. RAM: one buffer per thread, shared by every connection
/// (a read is handed to the session, which copies what it keeps, before the next await).
pub const READ_BUFFER: usize = 16 * 1024;

thread_local! {
    /// The read buffer of every RTMP connection on this thread. Players send almost nothing,
    /// so a buffer per connection would be 16 KiB of RAM per player for a few bytes a second.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; READ_BUFFER]);
}

/// SO_SNDBUF asked for every connection (Linux doubles it). Without a cap the kernel grows a
/// stalled player's send buffer to `tcp_wmem` max (4 MiB on desktop kernels), which is kernel
/// RAM a small board does not have; 256 KiB holds over a second of a 1 Mbit/s stream.
/// RAM: at most 2 × this per connection, in the kernel.
pub const SEND_BUFFER: usize = 256 * 1024;

/// Sets the connection up and returns its task, which holds only what it needs while it runs:
/// the socket, the connection's state, the driver's own state, and the connection's place
/// under `max_connections` (`guards`). The setup runs here, not in the task, so its temporaries
/// (the handshake's 1.5 KiB of random bytes, the session before it moves into the connection)
/// never take room in the task, whose future is allocated for the connection's lifetime.
/// RAM: the task is 1.7 KiB per connection on 64-bit targets (`size_of_val` of what this
/// returns; `net::tests` holds it under 2 KiB).
pub fn run(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    guards: ConnGuards,
) -> impl Future<Output = ()> {
    let (mut stream, mut conn, clock, send_timeout) = start(stream, peer, id, shared);
    async move {
        let result = drive(&mut stream, &mut conn, clock, send_timeout).await;
        match result {
            Ok(()) => log::info!("[{}] closed by peer {}", conn.log.cid, conn.peer),
            Err(e) => log::info!("[{}] closed {}: {e}", conn.log.cid, conn.peer),
        }
        conn.close(clock.now_ms());
        drop(guards);
    }
}

fn start(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
) -> (TcpStream, RtmpConn, Clock, Duration) {
    let Shared {
        ctx, clock, rng, ..
    } = shared;
    let (ctx, clock) = (ctx.clone(), *clock);
    let config = ctx.config();
    if let Err(e) =
        nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::SndBuf, &SEND_BUFFER)
    {
        log::debug!("SO_SNDBUF {SEND_BUFFER} for {peer}: {e}");
    }
    let mut random = [0u8; PACKET_LEN];
    rng.fill(&mut random);
    let epoch = clock.now_ms() as u32;
    let session = ServerSession::new(session_config(&config), clock.now_ms(), random, epoch);
    let log = ConnLog::new(rng.next_u64());
    log::debug!("[{}] accepted {peer} as client {id}", log.cid);
    let conn = RtmpConn::new(id, log, peer, ctx, session, clock.now_ms());
    let send_timeout = Duration::from_millis(u64::from(config.idle_timeout_ms));
    (stream, conn, clock, send_timeout)
}

async fn drive(
    stream: &mut TcpStream,
    conn: &mut RtmpConn,
    clock: Clock,
    send_timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Vec<Bytes> = Vec::new();
    let mut nodelay_set = false;
    // One timer for the connection's life, moved only to an earlier deadline: the session's
    // deadline moves later with every byte (the idle timeout counts from the last one), and
    // re-arming a timer per read cost as much as the read's own bookkeeping. When it fires
    // early the session finds nothing due and the timer goes to the deadline then in force.
    let mut armed = conn.session.poll_timeout();
    let timer = tokio::time::sleep_until(clock.instant(armed));
    tokio::pin!(timer);
    loop {
        // Write everything pending: replies first, then media, in one writev batch.
        loop {
            conn.take_output(&mut out);
            if out.is_empty() {
                // Idle until the next batch: the batch's slots (32 bytes per frame, 8 KiB
                // after the GOP cache a player starts with) are not kept meanwhile.
                out = Vec::new();
                break;
            }
            let n: usize = out.iter().map(Bytes::len).sum();
            match tokio::time::timeout(send_timeout, write_all(stream, &mut out)).await {
                Ok(r) => r?,
                Err(_) => return Err("send timeout: the peer does not read".into()),
            }
            conn.registration.record.send.add(n as u64);
            conn.session.handle_sent(clock.now_ms());
        }
        if conn.session.is_closing() {
            return Err("session refused (reply sent)".into());
        }
        let (min_latency, mw_latency) = match conn.vhost() {
            Some(v) => {
                if !nodelay_set {
                    nodelay_set = true;
                    if v.tcp_nodelay || v.min_latency {
                        let _ = stream.set_nodelay(true);
                    }
                }
                (v.min_latency, u64::from(v.mw_latency_ms))
            }
            None => (true, 0),
        };
        let queue = conn.queue();
        let record = conn.registration.record.clone();
        let deadline = conn.session.poll_timeout();
        if deadline < armed {
            armed = deadline;
            timer.as_mut().reset(clock.instant(armed));
        }
        tokio::select! {
            _ = poll_fn(|cx| record.poll_kicked(cx)) => {
                return Err("kicked through the API".into());
            }
            ready = stream.readable() => {
                ready?;
                let read = READ_BUF.with_borrow_mut(|buf| match read_some(stream, buf) {
                    Ok(0) => Ok(false),
                    Ok(n) => conn.handle_bytes(clock.now_ms(), &buf[..n]).map(|()| true).map_err(Into::into),
                    // Readiness can be spurious: wait again.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
                    Err(e) => Err(Box::<dyn std::error::Error>::from(e)),
                });
                if !read? {
                    return Ok(());
                }
            }
            _ = poll_fn(|cx| match &queue {
                Some(q) => q.borrow_mut().poll_ready(cx),
                None => Poll::Pending,
            }) => {
                // Merged write: let `mw_latency` of media gather (or half a queue), then send
                // it in one go.
                if let (false, true, Some(q)) = (min_latency, mw_latency > 0, &queue) {
                    super::merge_wait(q, mw_latency).await;
                }
            }
            _ = &mut timer => {
                conn.session.handle_timeout(clock.now_ms())?;
                armed = conn.session.poll_timeout();
                timer.as_mut().reset(clock.instant(armed));
            }
        }
    }
}

/// Reads what the socket holds into `buf`. A read that does not fill `buf` took everything
/// the kernel had, so it also clears the socket's readiness (as nginx does after a short
/// `recv`): without that, every read would be followed by one that only finds `EAGAIN`,
/// twice the system calls of a publisher. Nothing is missed: the socket is registered
/// edge-triggered, bytes arriving after the read raise a new readiness event, and tokio does
/// not clear readiness that arrived after the read began.
fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let fd = stream.as_raw_fd();
    let mut got = None;
    let result = stream.try_io(Interest::READABLE, || {
        let n = nix::sys::socket::recv(fd, buf, MsgFlags::empty()).map_err(io::Error::from)?;
        got = Some(n);
        if n > 0 && n < buf.len() {
            // Drained: readiness cleared; `n` is returned below.
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match (result, got) {
        (_, Some(n)) => Ok(n),
        (result, None) => result,
    }
}
