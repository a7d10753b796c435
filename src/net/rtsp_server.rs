//! The RTSP server's connection driver: one task per player or publisher connection. It
//! reads into the thread's buffer, feeds `server::rtsp_server::RtspConn`, writes responses
//! and media with `writev`, reads a UDP peer's datagrams (a publisher's RTP, RTCP), waits for
//! the hooks when a DESCRIBE or ANNOUNCE asks them, and sleeps until the next deadline
//! (session timeout, a waiting DESCRIBE's next look, a sender report).

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::ReadBuf;
use tokio::net::{TcpStream, UdpSocket};

use super::sock::read_some;
use super::{write_all, Clock, ConnGuards, Shared};
use crate::live::ClientId;
use crate::server::rtsp_server::ports::PortPairs;
use crate::server::rtsp_server::RtspConn;

/// Bytes read from the socket at once. RAM: one buffer per thread, shared by every RTSP
/// connection (the session copies what it keeps before the next await).
pub const READ_BUFFER: usize = 4 * 1024;

thread_local! {
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; READ_BUFFER]);
    /// Index in `rtsp_server.rtp_port_min..` of the next UDP pair to try.
    static NEXT_PAIR: Cell<usize> = const { Cell::new(0) };
    /// RTSP connections open now, against `rtsp_server.max_sessions`.
    static SESSIONS: Cell<usize> = const { Cell::new(0) };
}

/// Bytes of a datagram from a UDP peer that are read: a publisher's RTP packet (ffmpeg and
/// GStreamer send at most 1472, within an Ethernet MTU) or RTCP; a longer one is dropped.
/// On the stack of the poll, not kept.
pub const MAX_DATAGRAM: usize = 2048;

/// One track's UDP sockets and where its player listens.
struct UdpTrack {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The player's RTP and RTCP ports.
    client: (u16, u16),
}

/// An even port and the next one on `ip`, both bound, as `server::rtsp_server::ports` names
/// them for `range` (`rtsp_server.rtp_port_min..=rtp_port_max`).
fn bind_pair(ip: IpAddr, range: (u16, u16)) -> Option<(UdpSocket, UdpSocket, (u16, u16))> {
    let mut tries = PortPairs::new(range, NEXT_PAIR.get());
    while let Some(wanted) = tries.next() {
        NEXT_PAIR.set(tries.cursor());
        let Ok(rtp) = std::net::UdpSocket::bind((ip, wanted)) else {
            continue;
        };
        let port = rtp.local_addr().ok()?.port();
        if !PortPairs::usable(port) {
            continue;
        }
        let Ok(rtcp) = std::net::UdpSocket::bind((ip, port + 1)) else {
            continue;
        };
        rtp.set_nonblocking(true).ok()?;
        rtcp.set_nonblocking(true).ok()?;
        let rtp = UdpSocket::from_std(rtp).ok()?;
        let rtcp = UdpSocket::from_std(rtcp).ok()?;
        return Some((rtp, rtcp, (port, port + 1)));
    }
    None
}

/// A connection's place under `rtsp_server.max_sessions`.
struct SessionGuard;

impl Drop for SessionGuard {
    fn drop(&mut self) {
        SESSIONS.with(|s| s.set(s.get().saturating_sub(1)));
    }
}

/// RTSP connections open now.
pub fn sessions() -> usize {
    SESSIONS.with(Cell::get)
}

/// The connection's task, or `None` (the connection is closed) past `max_sessions`.
pub fn run(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    guards: ConnGuards,
) -> Option<impl Future<Output = ()>> {
    let max = shared.ctx.config().rtsp_server_max_sessions;
    if sessions() >= max {
        log::warn!("refused RTSP {peer}: rtsp_server.max_sessions {max} reached");
        return None;
    }
    SESSIONS.with(|s| s.set(s.get() + 1));
    let session_guard = SessionGuard;
    let clock = shared.clock;
    let wall_epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_sub(clock.now_ms());
    let seeds = [(); 4].map(|()| shared.rng.next_u64());
    let now_ms = clock.now_ms();
    let mut conn = RtspConn::accept(id, peer, shared.ctx.clone(), seeds, now_ms, wall_epoch_ms);
    let send_timeout = Duration::from_millis(u64::from(shared.ctx.config().idle_timeout_ms));
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    Some(async move {
        match drive(&mut stream, &mut conn, clock, send_timeout).await {
            Ok(()) => log::info!("[{}] RTSP {} closed", conn.log.cid, conn.peer),
            Err(e) => log::info!("[{}] RTSP {} closed: {e}", conn.log.cid, conn.peer),
        }
        conn.close(clock.now_ms());
        drop(session_guard);
        drop(guards);
    })
}

async fn drive(
    stream: &mut TcpStream,
    conn: &mut RtspConn,
    clock: Clock,
    send_timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Vec<Bytes> = Vec::new();
    let mut udp: Vec<Option<UdpTrack>> = Vec::new();
    let mut datagrams = Vec::new();
    let peer_ip = conn.peer.ip();
    loop {
        loop {
            conn.take_output(clock.now_ms(), &mut out);
            conn.take_datagrams(&mut datagrams);
            for (track, rtcp, d) in datagrams.drain(..) {
                let Some(Some(u)) = udp.get(track) else {
                    continue;
                };
                let (socket, port) = match rtcp {
                    true => (&u.rtcp, u.client.1),
                    false => (&u.rtp, u.client.0),
                };
                // Waits while the socket buffer is full (a GOP sent at PLAY is a burst of
                // hundreds of datagrams), within the send timeout; a send error drops the
                // datagram, as UDP would anyway.
                let to = SocketAddr::new(peer_ip, port);
                match tokio::time::timeout(send_timeout, socket.send_to(&d, to)).await {
                    Ok(Ok(_)) => conn.handle_sent(d.len()),
                    Ok(Err(e)) => log::debug!("[{}] RTSP UDP send: {e}", conn.log.cid),
                    Err(_) => return Err("send timeout: UDP socket full".into()),
                }
            }
            if out.is_empty() {
                out = Vec::new();
                break;
            }
            let n: usize = out.iter().map(Bytes::len).sum();
            match tokio::time::timeout(send_timeout, write_all(stream, &mut out)).await {
                Ok(r) => r?,
                Err(_) => return Err("send timeout: the player does not read".into()),
            }
            conn.handle_sent(n);
        }
        if conn.is_done() {
            return Ok(());
        }
        let record = conn.registration.record.clone();
        #[cfg(feature = "hooks")]
        if let Some(call) = conn.take_call() {
            let decision = conn.hooks().decide(call);
            let answer = Box::pin(async move {
                tokio::select! {
                    answer = decision => Some(answer),
                    _ = poll_fn(|cx| record.poll_kicked(cx)) => None,
                }
            })
            .await;
            let Some(answer) = answer else {
                return Err("kicked through the API".into());
            };
            conn.decided(clock.now_ms(), answer);
            continue;
        }
        if let Some((track, client)) = conn.take_udp_request() {
            let local = stream.local_addr()?.ip();
            let bound = bind_pair(local, conn.udp_port_range());
            let ports = bound.as_ref().map(|b| b.2);
            if let Some((rtp, rtcp, _)) = bound {
                if udp.len() <= track {
                    udp.resize_with(track + 1, || None);
                }
                udp[track] = Some(UdpTrack { rtp, rtcp, client });
            } else {
                log::warn!("[{}] RTSP: no UDP port pair to bind", conn.log.cid);
            }
            conn.udp_bound(clock.now_ms(), track, ports);
            continue;
        }
        let queue = conn.queue();
        let deadline = conn.poll_timeout().unwrap_or(u64::MAX / 2);
        tokio::select! {
            _ = poll_fn(|cx| record.poll_kicked(cx)) => {
                return Err("kicked through the API".into());
            }
            ready = stream.readable() => {
                ready?;
                let n = READ_BUF.with_borrow_mut(|buf| match read_some(stream, buf) {
                    Ok(0) => Ok(Some(0)),
                    Ok(n) => conn
                        .handle_bytes(clock.now_ms(), &buf[..n])
                        .map(|()| Some(n))
                        .map_err(|e| -> Box<dyn std::error::Error> { e.into() }),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(e.into()),
                })?;
                if n == Some(0) {
                    return Ok(());
                }
            }
            _ = poll_fn(|cx| match &queue {
                Some(q) => q.borrow_mut().poll_ready(cx),
                None => Poll::Pending,
            }) => {}
            (track, rtcp, datagram) = poll_fn(|cx| poll_datagram(&udp, peer_ip, cx)) => {
                conn.handle_datagram(clock.now_ms(), track, rtcp, datagram);
            }
            _ = tokio::time::sleep_until(clock.instant(deadline)) => {
                conn.handle_timeout(clock.now_ms());
            }
        }
    }
}

/// Ready with (track, RTCP rather than RTP, the datagram) when a datagram from the peer's
/// address came on any track's ports; others (and longer than [`MAX_DATAGRAM`]) are dropped
/// unseen.
fn poll_datagram(
    udp: &[Option<UdpTrack>],
    peer: IpAddr,
    cx: &mut std::task::Context<'_>,
) -> Poll<(usize, bool, Bytes)> {
    let mut bytes = [0u8; MAX_DATAGRAM + 1];
    for (track, u) in udp.iter().enumerate() {
        let Some(u) = u else { continue };
        for (socket, rtcp) in [(&u.rtp, false), (&u.rtcp, true)] {
            // Drains what is queued, so that the socket registers for the next wake-up.
            loop {
                let mut buf = ReadBuf::new(&mut bytes);
                match socket.poll_recv_from(cx, &mut buf) {
                    Poll::Ready(Ok(from)) => {
                        let n = buf.filled().len();
                        if from.ip() == peer && n <= MAX_DATAGRAM {
                            let datagram = Bytes::copy_from_slice(buf.filled());
                            return Poll::Ready((track, rtcp, datagram));
                        }
                    }
                    Poll::Ready(Err(_)) | Poll::Pending => break,
                }
            }
        }
    }
    Poll::Pending
}
