//! Media sockets of the GB28181 driver: the shared TCP media port's connections, tcp_active
//! connections to cameras, UDP media ports; every packet goes to the gateway's router.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;

use super::tcp::read_frames;
use super::{Gb, GbHandle, MAX_DATAGRAM};
use crate::net::Shared;
use crate::server::gb28181::media::ConnId;
use crate::server::stats::GaugeGuard;
use crate::wire::rtp::FrameDecoder;

/// One of the `gb28181.max_media_sessions` media connection slots, held until dropped.
pub(super) fn media_slot(gb: &GbHandle, shared: &Shared) -> Option<GaugeGuard> {
    let max = shared.ctx.config().gb28181.max_media_sessions;
    let g = gb.borrow();
    (g.media_conns.get() < max).then(|| g.media_conns.enter())
}

/// tcp_active: connects to the camera for the call of `ssrc` and reads its media.
pub(super) async fn media_tcp_active(gb: GbHandle, shared: Shared, ssrc: u32, remote: SocketAddr) {
    let _task = shared.ctx.tasks.enter();
    let Some(slot) = media_slot(&gb, &shared) else {
        log::warn!("GB28181 tcp_active {remote}: all media connections in use; not connecting");
        return;
    };
    match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(remote)).await {
        Ok(Ok(stream)) => media_conn(gb, shared, stream, remote, slot, Some(ssrc)).await,
        _ => log::warn!("GB28181 tcp_active: cannot connect to {remote}"),
    }
}

/// A connection to the shared TCP media port (tcp_passive).
pub(super) async fn media_tcp(
    gb: GbHandle,
    shared: Shared,
    stream: TcpStream,
    addr: SocketAddr,
    slot: GaugeGuard,
) {
    media_conn(gb, shared, stream, addr, slot, None).await;
}

/// RFC 4571 framed RTP over one TCP connection, any number of SSRCs (`call`: the SSRC of
/// the call it was made for, tcp_active). When the peer closes it, the calls it was the only
/// media connection of are hung up at once; when their calls end, we close it.
async fn media_conn(
    gb: GbHandle,
    shared: Shared,
    mut stream: TcpStream,
    addr: SocketAddr,
    _slot: GaugeGuard,
    call: Option<u32>,
) {
    let (closer, closed) = oneshot::channel();
    let conn = {
        let mut g = gb.borrow_mut();
        g.next_conn = g.next_conn.wrapping_add(1);
        let conn = g.next_conn;
        if let Some(ssrc) = call {
            if !g.router.attach(ssrc, conn) {
                log::debug!("GB28181 tcp_active {addr}: the call ended while connecting");
                return;
            }
        }
        g.media_closers.insert(conn, closer);
        conn
    };
    let mut frames = FrameDecoder::new();
    let idle = Duration::from_secs(u64::from(shared.ctx.config().gb28181.media_timeout_s) * 2);
    let decode = |buf: &mut BytesMut| frames.decode(buf);
    let handle = |packet| rtp_in(&gb, &shared, addr, Some(conn), packet);
    tokio::select! {
        read = read_frames(&mut stream, idle, decode, handle) => match read {
            Ok(()) => log::debug!("GB28181 media tcp {addr} closed"),
            Err(e) => log::info!("GB28181 media tcp {addr}: {e}; closing"),
        },
        _ = closed => log::info!("GB28181 media tcp {addr}: its calls are over; closing"),
    }
    drop(stream);
    let now = shared.clock.now_ms();
    {
        let g = &mut *gb.borrow_mut();
        g.media_closers.remove(&conn);
        for ssrc in g.router.conn_closed(conn) {
            g.agent.media_closed(now, ssrc);
        }
    }
    super::pump(&gb, &shared);
}

/// Gives a UDP media port back to the agent when dropped: with the socket, when its reader
/// ends or is aborted, so the port is never offered again while still bound.
struct PortLease {
    gb: Weak<RefCell<Gb>>,
    port: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let Some(gb) = self.gb.upgrade() else {
            return;
        };
        // Tasks are dropped by the runtime between polls, when no borrow is held.
        match gb.try_borrow_mut() {
            Ok(mut g) => g.agent.release_udp_port(self.port),
            Err(_) => log::debug!("GB28181: udp media port {} not given back", self.port),
        };
    }
}

/// A bound UDP media port: the socket closes first, then the lease gives the port back
/// (fields drop in order).
struct UdpPort {
    socket: UdpSocket,
    _lease: PortLease,
}

/// Reads a UDP media port the driver bound for an offer, until aborted.
pub(super) async fn media_udp(gb: GbHandle, shared: Shared, socket: UdpSocket, port: u16) {
    let _task = shared.ctx.tasks.enter();
    let lease = PortLease {
        gb: Rc::downgrade(&gb),
        port,
    };
    let port = UdpPort {
        socket,
        _lease: lease,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, addr) = match port.socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // Transient (ENOBUFS, an ICMP error): a short pause, so that an error that
                // keeps coming cannot spin the thread every other task runs on.
                log::debug!("GB28181 media port: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        rtp_in(&gb, &shared, addr, None, Bytes::copy_from_slice(&buf[..n]));
    }
}

fn rtp_in(gb: &GbHandle, shared: &Shared, from: SocketAddr, conn: Option<ConnId>, packet: Bytes) {
    let now = shared.clock.now_ms();
    let g = &mut *gb.borrow_mut();
    g.router
        .handle_packet(&mut g.agent, &shared.ctx, now, from, conn, packet);
}
