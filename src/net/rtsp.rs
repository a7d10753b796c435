//! The RTSP camera ingest driver: one task per `[[ingest]]`. It waits until the ingest is
//! wanted, connects, feeds the camera's bytes, datagrams and the time to the ingest's glue
//! (`server::rtsp::pull`: the session, the stream, the status, the decisions), writes what it
//! has to send, sleeps until its deadline, and waits out the backoff it names between pulls.
//! Viewers reach a waiting on-demand ingest through [`handle_hub_event`], not by polling.
//! An `rtsps://` camera is read and written through TLS (`dial::Link`, the `[tls]` settings).
//!
//! With `transport = "udp"` or `"auto"`, each attempt binds two UDP sockets per track (RTP,
//! RTCP; an even/odd pair when the ports allow) before it connects and reads their datagrams
//! beside the RTSP connection.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Notify;

use super::dial::Link;
use super::Shared;
use crate::live::{HubEvent, StreamKey};
use crate::server::rtsp::pull::{
    watched_change, Connections, End, Ingester, Pull, PullError, Step, MAX_DATAGRAM,
    RTCP_RECV_BUFFER, UDP_RECV_BUFFER,
};
use crate::session::rtsp::{MAX_READ, MAX_TRACKS};
use crate::wire::rtsp::header::Pair;

/// Bytes read from a camera's socket at once. RAM: one buffer per connected camera (a camera
/// sends all the time, so a buffer shared per thread would not save anything).
pub const READ_BUFFER: usize = MAX_READ;

/// How long a write to the camera may block (our requests are small: a camera that does not
/// take them is gone).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the hub and the server tell an ingest's task: whether its stream is watched, and
/// that the server stops.
pub struct IngestHandle {
    pub key: StreamKey,
    watched: Cell<bool>,
    changed: Notify,
}

/// The ingests of this process, for [`handle_hub_event`] and [`stop`].
#[derive(Default)]
pub struct Ingests {
    handles: RefCell<Vec<Rc<IngestHandle>>>,
    /// The server stops: every ingest tears its session down and ends.
    stopping: Cell<bool>,
    /// Ingests connected to their camera now.
    connected: Connections,
}

/// The server stops: each connected ingest sends TEARDOWN (cameras limit their RTSP sessions,
/// and one left open until its timeout can keep a restarted server out). Returns at once; see
/// [`connected`] for when they are done.
pub fn stop(shared: &Shared) {
    shared.ingests.stopping.set(true);
    for handle in shared.ingests.handles.borrow().iter() {
        handle.changed.notify_one();
    }
}

/// Ingests still connected to their camera.
pub fn connected(shared: &Shared) -> usize {
    shared.ingests.connected.count()
}

/// Starts one task per `[[ingest]]` of the config (read at start).
pub fn start(shared: &Shared) {
    let config = shared.ctx.config();
    let ingests = shared.ingests.clone();
    shared.ctx.ingests.set_waker(Rc::new(move |index| {
        if let Some(handle) = ingests.handles.borrow().get(index) {
            handle.changed.notify_one();
        }
    }));
    for (index, ingest) in config.ingests.iter().enumerate() {
        let ingester = Ingester::new(index, &config, ingest, shared.clock.now_ms());
        shared.ctx.ingests.push(ingester.status.clone());
        let handle = Rc::new(IngestHandle {
            watched: Cell::new(shared.ctx.hub.borrow().is_watched(&ingester.key)),
            key: ingester.key.clone(),
            changed: Notify::new(),
        });
        shared.ingests.handles.borrow_mut().push(handle.clone());
        log::info!(
            "ingest {}: {} ({})",
            ingest.stream,
            ingest.url_for_log(),
            ingest.mode.as_str()
        );
        crate::net::spawn(run(shared.clone(), ingester, handle));
    }
}

/// A stream got its first viewer or lost its last: the ingest that publishes it learns it.
pub fn handle_hub_event(shared: &Shared, event: &HubEvent) {
    let Some((key, watched)) = watched_change(event) else {
        return;
    };
    for handle in shared.ingests.handles.borrow().iter() {
        if handle.key == *key {
            handle.watched.set(watched);
            handle.changed.notify_one();
        }
    }
}

/// One ingest, for the life of the process: wait until wanted, pull, back off.
async fn run(shared: Shared, mut ingester: Ingester, handle: Rc<IngestHandle>) {
    let clock = shared.clock;
    let stopping = || shared.ingests.stopping.get();
    loop {
        ingester.set_watched(handle.watched.get(), clock.now_ms());
        while !ingester.wanted(clock.now_ms()) && !stopping() {
            ingester.idle(clock.now_ms());
            handle.changed.notified().await;
            ingester.woke();
            ingester.set_watched(handle.watched.get(), clock.now_ms());
        }
        if stopping() {
            return;
        }
        let cnonce = format!("{:016x}", shared.rng.next_u64());
        let ssrc = shared.rng.next_u64() as u32;
        let Some(mut pull) = ingester.begin(&shared.ctx.config(), cnonce, ssrc, clock.now_ms())
        else {
            return;
        };
        let udp = match ingester.want_udp() {
            true => pull.udp_bound(bind_udp()),
            false => Vec::new(),
        };
        let result = loop {
            let r = drive(&shared, &handle, &mut pull, &udp).await;
            pull.stop(&shared.ctx, clock.now_ms());
            if let Some(r) = r.transpose() {
                break r;
            }
        };
        if stopping() {
            log::info!("ingest {}: stopped", ingester.name());
            return;
        }
        if let Some(until) = ingester.ended(pull, result, clock.now_ms()) {
            while clock.now_ms() < until && !stopping() {
                tokio::select! {
                    _ = tokio::time::sleep_until(clock.instant(until)) => {}
                    _ = handle.changed.notified() => {}
                }
                if ingester.take_restart() {
                    break;
                }
            }
        }
    }
}

/// One connection to the camera (or to where it redirects), until it fails, ends
/// (`Some`), or redirects (`None`).
async fn drive(
    shared: &Shared,
    handle: &IngestHandle,
    pull: &mut Pull,
    udp: &[UdpSocket],
) -> Result<Option<End>, PullError> {
    let clock = shared.clock;
    let (host, port) = pull.target();
    let timeout = Duration::from_millis(crate::server::rtsp::REQUEST_TIMEOUT_MS);
    let open = async {
        let tcp = TcpStream::connect((host, port)).await?;
        let _ = tcp.set_nodelay(true);
        let peer = tcp.peer_addr()?;
        let link = Link::over(tcp, host, pull.tls()).await;
        let link = link.map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
        Ok::<_, PullError>((link, peer))
    };
    let (mut link, peer) = match tokio::time::timeout(timeout, open).await {
        Ok(r) => r?,
        Err(_) => return Err(format!("no connection to {host}:{port} within {timeout:?}").into()),
    };
    let _connected = shared.ingests.connected.guard();
    pull.connected(&shared.ctx, peer, clock.now_ms());
    let mut buf = vec![0u8; READ_BUFFER];
    // One byte more than the largest datagram taken, to tell a longer one.
    let mut datagram = vec![0u8; if udp.is_empty() { 0 } else { MAX_DATAGRAM + 1 }];
    let mut out: Vec<Bytes> = Vec::new();
    loop {
        let step = loop {
            match pull.poll(&shared.ctx, shared.ingests.stopping.get(), clock.now_ms()) {
                Step::Publish => {
                    #[cfg(feature = "hooks")]
                    if let Some(call) = pull.on_publish_call(&shared.ctx) {
                        if let Err(why) = shared.ctx.hooks.decide(call).await {
                            return Err(format!("refused by the on_publish hook: {why}").into());
                        }
                    }
                    pull.publish(&shared.ctx, clock.now_ms())?;
                }
                Step::Redirect => return Ok(None),
                step => break step,
            }
        };
        while let Some((socket, port, bytes)) = pull.poll_datagram() {
            // A report lost to a full socket buffer is not worth waiting for.
            let to = SocketAddr::new(peer.ip(), port);
            if let Some(Ok(_)) = udp.get(socket).map(|s| s.try_send_to(&bytes, to)) {
                pull.sent(bytes.len());
            }
        }
        out.extend(std::iter::from_fn(|| pull.poll_transmit()));
        if !out.is_empty() {
            let n: usize = out.iter().map(Bytes::len).sum();
            match tokio::time::timeout(WRITE_TIMEOUT, link.write(&mut out)).await {
                Ok(r) => r?,
                Err(_) => return Err("the camera does not read our requests".into()),
            }
            pull.sent(n);
        }
        if let Step::Closed(end) = step {
            return Ok(Some(end));
        }
        let deadline = pull.deadline(clock.now_ms());
        tokio::select! {
            read = link.read(&mut buf) => match read? {
                0 => return Err("the camera closed the connection".into()),
                n => pull.handle_bytes(clock.now_ms(), &buf[..n])?,
            },
            _ = tokio::time::sleep_until(clock.instant(deadline)) => {
                pull.handle_timeout(clock.now_ms())?;
            }
            (index, received) = recv_any(udp, &mut datagram), if !udp.is_empty() => {
                let received = received.map(|(n, from)| (&datagram[..n], from));
                pull.handle_datagram(clock.now_ms(), index, received);
            }
            _ = handle.changed.notified() => {
                pull.set_watched(handle.watched.get(), clock.now_ms());
            }
        }
    }
}

/// The next datagram on any of `sockets`: its index and length with its sender.
async fn recv_any(
    sockets: &[UdpSocket],
    buf: &mut [u8],
) -> (usize, io::Result<(usize, SocketAddr)>) {
    std::future::poll_fn(|cx| {
        for (i, socket) in sockets.iter().enumerate() {
            let mut read = tokio::io::ReadBuf::new(buf);
            match socket.poll_recv_from(cx, &mut read) {
                Poll::Ready(Ok(from)) => return Poll::Ready((i, Ok((read.filled().len(), from)))),
                Poll::Ready(Err(e)) => return Poll::Ready((i, Err(e))),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

/// Two UDP sockets per track (RTP, RTCP), on any IPv4 address: an even port and the next
/// when a few tries find such a pair (RFC 3550 §11), else any two.
fn bind_udp() -> io::Result<(Vec<UdpSocket>, [Pair<u16>; MAX_TRACKS])> {
    let mut sockets = Vec::with_capacity(2 * MAX_TRACKS);
    let mut ports = [Pair::new(0, 0); MAX_TRACKS];
    for pair in ports.iter_mut() {
        let (rtp, rtcp) = bind_pair()?;
        *pair = Pair::new(rtp.local_addr()?.port(), rtcp.local_addr()?.port());
        for (socket, size) in [(rtp, UDP_RECV_BUFFER), (rtcp, RTCP_RECV_BUFFER)] {
            // Best effort: the kernel's default works, only with less room for bursts.
            let _ = nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBuf, &size);
            socket.set_nonblocking(true)?;
            sockets.push(UdpSocket::from_std(socket)?);
        }
    }
    Ok((sockets, ports))
}

fn bind_pair() -> io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
    let any = |port| std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port));
    for _ in 0..8 {
        let rtp = any(0)?;
        let port = rtp.local_addr()?.port();
        if port % 2 == 0 && port < u16::MAX {
            if let Ok(rtcp) = any(port + 1) {
                return Ok((rtp, rtcp));
            }
        }
    }
    Ok((any(0)?, any(0)?))
}
