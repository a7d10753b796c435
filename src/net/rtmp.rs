//! The RTMP connection driver: one task per connection. It reads into a capped buffer (for a
//! publisher with `publish.mr`, once 16 KiB wait or at its read deadline), feeds the session
//! through `server::rtmp::RtmpConn`, writes replies and player media with `writev` (batched
//! per `mw_latency`), and sleeps until the session's next deadline. RTMPS (`rtmps.listen`,
//! Cargo feature `tls`) is the same driver over TLS (`net::tls`): its writes go through the TLS
//! stream instead of `writev`, and merged read is off (the TLS records are read as they come).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::socket::setsockopt;
use tokio::net::TcpStream;

use super::sock::RcvLowat;
use super::{Clock, ConnGuards, Shared};
use crate::live::ClientId;
use crate::server::rtmp::{ReadTiming, RtmpConn};
#[cfg(any(feature = "hooks", feature = "edge"))]
use crate::server::rtmp::{Wait, WaitAnswer};
use crate::wire::rtmp::handshake::PACKET_LEN;
#[cfg(feature = "tls")]
use socket::TlsSocket;
use socket::{read_once, Read, ReadMode, Socket};

/// The sockets the driver reads and writes: TCP, or TLS over it (RTMPS).
mod socket;

/// Bytes read from the socket at once. RAM: one buffer per thread, shared by every connection
/// (a read is handed to the session, which copies what it keeps, before the next await).
pub const READ_BUFFER: usize = 16 * 1024;

/// With merged read (`publish.mr`), a publisher's socket reports readable once this many bytes
/// wait (`SO_RCVLOWAT`): one read then fills the read buffer. At 1 Mbit/s that is a read every
/// 130 ms instead of one per packet; a slower stream is read at its `mr_latency` deadline.
pub const MERGED_READ_LOWAT: usize = READ_BUFFER;

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
/// RAM: the task is 1.9 KiB per connection on 64-bit targets (`size_of_val` of what this
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
        finish(result, conn, clock);
        drop(guards);
    }
}

/// How long an RTMPS client may take over its TLS handshake.
#[cfg(feature = "tls")]
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// [`run`] for an RTMPS connection: the TLS handshake (within [`TLS_HANDSHAKE_TIMEOUT`]), then
/// the same driver over TLS.
#[cfg(feature = "tls")]
pub fn run_tls(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    guards: ConnGuards,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Future<Output = ()> {
    let (stream, mut conn, clock, send_timeout) = start(stream, peer, id, shared);
    async move {
        let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
        let result = match handshake {
            Ok(Ok(mut tls)) => {
                super::tls::limit_server(&mut tls);
                let mut stream = Box::new(TlsSocket {
                    stream: tls,
                    buf: vec![0u8; READ_BUFFER].into_boxed_slice(),
                    filled: None,
                });
                drive(&mut *stream, &mut conn, clock, send_timeout).await
            }
            Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
            Err(_) => Err("TLS handshake: timeout".into()),
        };
        finish(result, conn, clock);
        drop(guards);
    }
}

fn finish(result: Result<(), Box<dyn std::error::Error>>, mut conn: RtmpConn, clock: Clock) {
    let error = result.as_ref().err().map(|e| e as &dyn std::fmt::Display);
    conn.finish(clock.now_ms(), error);
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
    if let Err(e) = setsockopt(&stream, nix::sys::socket::sockopt::SndBuf, &SEND_BUFFER) {
        // As an io::Error (libc's strerror): nix's own Display (its Debug names and errno
        // texts) is about 9 KB of the router binary.
        log::debug!("SO_SNDBUF {SEND_BUFFER} for {peer}: {}", io::Error::from(e));
    }
    let mut random = [0u8; PACKET_LEN];
    rng.fill(&mut random);
    let conn = RtmpConn::accept(
        id,
        peer,
        ctx.clone(),
        random,
        rng.next_u64(),
        clock.now_ms(),
    );
    let send_timeout = Duration::from_millis(conn.send_timeout_ms());
    (stream, conn, *clock, send_timeout)
}

async fn drive<S: Socket>(
    stream: &mut S,
    conn: &mut RtmpConn,
    clock: Clock,
    send_timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Vec<Bytes> = Vec::new();
    let mut nodelay_set = false;
    let mut timing = ReadTiming::new(clock.now_ms());
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
            if !stream.write_now(&mut out)? {
                match tokio::time::timeout(send_timeout, stream.write_all(&mut out)).await {
                    Ok(r) => r?,
                    Err(_) => return Err("send timeout: the peer does not read".into()),
                }
            }
            conn.handle_sent(clock.now_ms(), n);
        }
        if conn.session.is_closing() {
            return Err("session refused (reply sent)".into());
        }
        // A connect, publish or play waits for the HTTP hooks, an origin or the coworkers:
        // nothing is read meanwhile, only a kick ends the wait early (boxed, so the task does
        // not grow by it).
        #[cfg(any(feature = "hooks", feature = "edge"))]
        if let Some(wait) = conn.take_wait() {
            let answer = super::unless_kicked(&conn.registration.record, answer(wait, clock));
            let answer = answer.await.ok_or("kicked through the API")?;
            conn.handle_wait(clock.now_ms(), answer)?;
            continue;
        }
        if let Some(nodelay) = conn.nodelay().filter(|_| !nodelay_set) {
            nodelay_set = true;
            if nodelay {
                let _ = stream.tcp().set_nodelay(true);
            }
        }
        // Not over TLS: the TLS stream reads records as they come.
        if let Some(on) = timing.handle_mode(conn.merged_read_ms().filter(|_| S::MERGED_READ)) {
            let lowat = if on { MERGED_READ_LOWAT } else { 1 };
            if let Err(e) = setsockopt(stream.tcp(), RcvLowat, &lowat) {
                let e = io::Error::from(e);
                log::debug!("[{}] SO_RCVLOWAT {lowat}: {e}", conn.log.cid);
            }
        }
        let queue = conn.queue();
        let record = conn.registration.record.clone();
        // Until there is something to write: reads and deadlines under one timer, moved only
        // as `ReadTiming::rearm` says. The timer lives only in this loop, so it takes no room
        // in the task while a write waits.
        let media = {
            let mut armed = timing.deadline(conn.session.poll_timeout());
            let timer = tokio::time::sleep_until(clock.instant(armed));
            tokio::pin!(timer);
            loop {
                tokio::select! {
                    _ = poll_fn(|cx| record.poll_kicked(cx)) => {
                        return Err("kicked through the API".into());
                    }
                    ready = stream.ready() => {
                        ready?;
                        match stream.read(conn, clock)? {
                            Read::Closed => return Ok(()),
                            Read::Bytes { .. } => timing.handle_read(clock.now_ms()),
                            Read::Nothing => {}
                        }
                    }
                    _ = poll_fn(|cx| match &queue {
                        Some(q) => q.borrow_mut().poll_ready(cx),
                        None => Poll::Pending,
                    }) => break true,
                    _ = &mut timer => {
                        if timing.is_merged() {
                            // What waits below the low-water mark (also before a timeout is
                            // judged).
                            loop {
                                match read_once(stream.tcp(), conn, clock, ReadMode::BelowLowWater)? {
                                    Read::Closed => return Ok(()),
                                    Read::Bytes { drained: false } => {}
                                    Read::Bytes { drained: true } | Read::Nothing => break,
                                }
                            }
                            timing.handle_read(clock.now_ms());
                        }
                        conn.session.handle_timeout(clock.now_ms())?;
                        armed = timing.deadline(conn.session.poll_timeout());
                        timer.as_mut().reset(clock.instant(armed));
                    }
                }
                // Replies, a new role (whose replies these are) or a call to make: the outer
                // loop's.
                if conn.needs_driver() {
                    break false;
                }
                let next = timing.deadline(conn.session.poll_timeout());
                if timing.rearm(armed, next) {
                    armed = next;
                    timer.as_mut().reset(clock.instant(armed));
                }
            }
        };
        // Merged write: let `mw_latency` of media gather (or half a queue), then send it in
        // one go.
        if let (true, Some(mw_latency), Some(q)) = (media, conn.merge_write_ms(), &queue) {
            super::merge_wait(q, mw_latency).await;
        }
    }
}

/// The answer to a [`Wait`]: the hooks' decision, an origin's (`net::edge::traverse`) or the
/// coworkers' (`net::origin_cluster::discover`).
#[cfg(any(feature = "hooks", feature = "edge"))]
async fn answer(wait: Wait, clock: Clock) -> WaitAnswer {
    #[cfg(not(feature = "edge"))]
    let _ = clock;
    match wait {
        #[cfg(feature = "hooks")]
        Wait::Decision(decision) => WaitAnswer::Decision(decision.await),
        #[cfg(feature = "edge")]
        Wait::Traverse(call) => WaitAnswer::Traverse(super::edge::traverse(call, clock).await),
        #[cfg(feature = "edge")]
        Wait::Coworkers(query) => {
            WaitAnswer::Coworkers(super::origin_cluster::discover(&query).await)
        }
    }
}
