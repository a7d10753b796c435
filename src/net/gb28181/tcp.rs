//! TCP for the GB28181 driver: the accept loop and the framed reader that SIP and media
//! connections share, and SIP over TCP (RFC 3261 §18.3 framing by `Content-Length`).

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{handle_sip, GbHandle, MAX_SIP_TCP, READ_BUFFER, TCP_OUTBOX};
use crate::net::{admit, Shared};
use crate::server::RateLimit;
use crate::session::gb28181::{Peer, SipTransport};
use crate::wire::sip;

/// Accepts connections admitted by `max_connections` and then by `slot` (taken before the
/// connection's task runs, so a burst of connects cannot overshoot a cap), each served by
/// `serve` on a task of its own.
pub(super) async fn accept_loop<S, Fut>(
    gb: GbHandle,
    shared: Shared,
    listener: TcpListener,
    slot: fn(&GbHandle, &Shared) -> Option<S>,
    serve: fn(GbHandle, Shared, TcpStream, SocketAddr, S) -> Fut,
) where
    Fut: Future<Output = ()> + 'static,
{
    let mut refused = RateLimit::new();
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(guards) = admit(&shared.ctx, &mut refused, shared.clock, addr) else {
            continue;
        };
        let Some(slot) = slot(&gb, &shared) else {
            log::debug!("GB28181 tcp {addr}: all connections in use; refused");
            continue;
        };
        let task = serve(gb.clone(), shared.clone(), stream, addr, slot);
        crate::net::spawn(async move {
            task.await;
            drop(guards);
        });
    }
}

/// A SIP over TCP connection's slot: its id and the receiving end of its outbox, whose sender
/// in `tcp_out` holds one of [`MAX_SIP_TCP`] places.
pub(super) fn sip_tcp_slot(gb: &GbHandle, _: &Shared) -> Option<(u32, mpsc::Receiver<Bytes>)> {
    let mut g = gb.borrow_mut();
    if g.tcp_out.len() >= MAX_SIP_TCP {
        return None;
    }
    let (tx, rx) = mpsc::channel(TCP_OUTBOX);
    g.next_conn = g.next_conn.wrapping_add(1);
    let id = g.next_conn;
    g.tcp_out.insert(id, tx);
    Some((id, rx))
}

pub(super) async fn sip_tcp(
    gb: GbHandle,
    shared: Shared,
    stream: TcpStream,
    addr: SocketAddr,
    (id, mut rx): (u32, mpsc::Receiver<Bytes>),
) {
    let local = stream.local_addr().unwrap_or(addr);
    let (mut rd, mut wr) = stream.into_split();
    let task = shared.ctx.tasks.enter();
    let writer = crate::net::spawn(async move {
        let _task = task;
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let peer = Peer {
        transport: SipTransport::Tcp(id),
        addr,
        local,
    };
    let idle = Duration::from_secs(u64::from(shared.ctx.config().gb28181.keepalive_timeout_s) * 2);
    let decode = |buf: &mut BytesMut| {
        let decoded = sip::decode(buf)?;
        Ok::<_, sip::SipError>(decoded.map(|(msg, used)| {
            let _ = buf.split_to(used);
            msg
        }))
    };
    let handle = |msg| handle_sip(&gb, &shared, peer, msg);
    if let Err(e) = read_frames(&mut rd, idle, decode, handle).await {
        log::info!("GB28181 SIP tcp {addr}: {e}; closing");
        gb.borrow_mut().agent.handle_refused(addr, &e);
    }
    gb.borrow_mut().tcp_out.remove(&id);
    writer.abort();
}

/// Reads `rd` into a buffer of [`READ_BUFFER`] bytes a read and hands every message `decode`
/// takes off it to `handle`, until the peer closes, is silent for `idle`, or sends what does
/// not decode (the error).
pub(super) async fn read_frames<T, E: Display>(
    rd: &mut (impl AsyncRead + Unpin),
    idle: Duration,
    mut decode: impl FnMut(&mut BytesMut) -> Result<Option<T>, E>,
    mut handle: impl FnMut(T),
) -> Result<(), E> {
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    loop {
        buf.reserve(READ_BUFFER);
        match tokio::time::timeout(idle, rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Ok(()),
            Ok(Ok(_)) => {}
        }
        while let Some(message) = decode(&mut buf)? {
            handle(message);
        }
    }
}
