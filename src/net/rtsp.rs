//! The RTSP camera ingest driver: one task per `[[ingest]]`. It waits until the ingest is
//! wanted (`server::rtsp::Demand`: always, or while its stream has viewers), connects,
//! feeds the client session (`session::rtsp`) the camera's bytes and the time, writes the
//! session's requests, hands its frames to the stream (`server::rtsp::Publisher`), sleeps
//! until the session's next deadline, and reconnects after a failure with exponential backoff
//! (1 s → 30 s). Each attempt is logged once, each failure once with the camera's reply.
//!
//! Viewers reach a waiting on-demand ingest through [`handle_hub_event`] (the hub's
//! Watched/Unwatched events), not by polling.
//!
//! With `transport = "udp"` or `"auto"`, each attempt binds two UDP sockets per track (RTP,
//! RTCP; an even/odd pair when the ports allow) before it connects, reads their datagrams
//! beside the RTSP connection (only from the camera's address) and sends the session's
//! receiver reports from the RTCP socket. `auto` falls back to TCP interleaved, at once and
//! for the rest of the process (or until the API restarts the ingest), when the camera
//! refuses UDP or no RTP comes over it.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Notify;

use super::sock::read_some;
use super::{write_all, Clock, Shared};
use crate::config::Ingest;
use crate::live::{HubEvent, StreamKey};
use crate::server::rtsp::attempts::{Attempts, Ended, Next};
use crate::server::rtsp::{client_config, client_id, stream_key, Demand, IngestStatus, Publisher};
use crate::session::rtsp::{
    self as rtsp_session, ClientSession, Event, State, MAX_READ, MAX_TRACKS,
};
use crate::wire::rtsp::header::Pair;

/// Bytes read from a camera's socket at once. RAM: one buffer per connected camera (a camera
/// sends all the time, so a buffer shared per thread would not save anything).
pub const READ_BUFFER: usize = MAX_READ;

/// Largest RTP or RTCP datagram taken from a camera; a longer one is dropped. Why: cameras
/// packetize to an Ethernet MTU (1500 bytes; GStreamer 1400). RAM: one buffer per camera
/// pulled over UDP.
pub const MAX_DATAGRAM: usize = 2048;

/// Kernel receive buffer asked for each RTP socket (`SO_RCVBUF`; Linux doubles it for its
/// bookkeeping and caps it at `net.core.rmem_max`, 208 KiB by default). Why: a keyframe of a
/// 4 Mbit/s camera is about 100 KiB sent at once, which must wait there while the thread
/// serves other connections. RTCP sockets keep the kernel's minimum.
pub const UDP_RECV_BUFFER: usize = 128 * 1024;

/// Kernel receive buffer asked for each RTCP socket (a sender report every few seconds).
pub const RTCP_RECV_BUFFER: usize = 4 * 1024;

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
    connected: Cell<usize>,
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
    shared.ingests.connected.get()
}

/// Counts a connected ingest while it lives.
struct Connected<'a>(&'a Ingests);

impl<'a> Connected<'a> {
    fn new(ingests: &'a Ingests) -> Connected<'a> {
        ingests.connected.set(ingests.connected.get() + 1);
        Connected(ingests)
    }
}

impl Drop for Connected<'_> {
    fn drop(&mut self) {
        self.0
            .connected
            .set(self.0.connected.get().saturating_sub(1));
    }
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
        let key = stream_key(&config, ingest);
        let status = Rc::new(IngestStatus::new(
            index,
            &config,
            ingest,
            shared.clock.now_ms(),
        ));
        shared.ctx.ingests.push(status.clone());
        let handle = Rc::new(IngestHandle {
            watched: Cell::new(shared.ctx.hub.borrow().is_watched(&key)),
            key,
            changed: Notify::new(),
        });
        shared.ingests.handles.borrow_mut().push(handle.clone());
        log::info!(
            "ingest {}: {} ({})",
            ingest.stream,
            ingest.url_for_log(),
            ingest.mode.as_str()
        );
        crate::net::spawn(run(shared.clone(), ingest.clone(), index, handle, status));
    }
}

/// A stream got its first viewer or lost its last: the ingest that publishes it learns it.
pub fn handle_hub_event(shared: &Shared, event: &HubEvent) {
    let (key, watched) = match event {
        HubEvent::Watched { key } => (key, true),
        HubEvent::Unwatched { key } => (key, false),
        _ => return,
    };
    for handle in shared.ingests.handles.borrow().iter() {
        if handle.key == *key {
            handle.watched.set(watched);
            handle.changed.notify_one();
        }
    }
}

/// How a pull ended without an error.
enum End {
    /// Nobody wants the stream any more (on demand): torn down.
    Stopped,
    /// The camera redirected us; connect to the session's new target.
    Redirect,
    /// The API asked for a restart: connect again now.
    Restart,
}

/// One ingest, for the life of the process.
async fn run(
    shared: Shared,
    ingest: Ingest,
    index: usize,
    handle: Rc<IngestHandle>,
    status: Rc<IngestStatus>,
) {
    let clock = shared.clock;
    let name = ingest.stream.clone();
    let mut demand = Demand::new(&ingest);
    let mut attempts = Attempts::default();
    let stopping = || shared.ingests.stopping.get();
    loop {
        demand.set_watched(handle.watched.get(), clock.now_ms());
        while !demand.wanted(clock.now_ms()) && !stopping() {
            status.idle(clock.now_ms());
            handle.changed.notified().await;
            // Nothing to restart while idle.
            status.take_restart();
            demand.set_watched(handle.watched.get(), clock.now_ms());
        }
        if stopping() {
            return;
        }
        let cnonce = format!("{:016x}", shared.rng.next_u64());
        // The config of the moment, not kept across the pull (a reload replaces it).
        let Some(client) = client_config(&shared.ctx.config(), &ingest, cnonce) else {
            log::error!("ingest {name}: bad URL {}", ingest.url_for_log());
            return;
        };
        let attempt = attempts.start();
        status.connecting(clock.now_ms());
        log::info!(
            "ingest {name}: connecting to {} (attempt {attempt})",
            ingest.url_for_log()
        );
        let mut session = ClientSession::new(client, clock.now_ms());
        session.set_ssrc(shared.rng.next_u64() as u32);
        let udp = if attempts.want_udp(&ingest) {
            match bind_udp() {
                Ok((sockets, ports)) => {
                    session.set_udp(ports);
                    sockets
                }
                Err(e) => {
                    log::warn!("ingest {name}: no UDP ports ({e}); TCP interleaved this time");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let mut publisher =
            Publisher::new(handle.key.clone(), client_id(index)).with_status(status.clone());
        let mut played = false;
        let result = loop {
            let r = pull(
                &shared,
                &name,
                &handle,
                &status,
                &mut demand,
                &mut session,
                &mut publisher,
                &mut played,
                &udp,
            )
            .await;
            publisher.stop(&shared.ctx, clock.now_ms());
            match r {
                Ok(End::Redirect) => {
                    let (host, port) = session.target();
                    log::info!("ingest {name}: redirected to {host}:{port}");
                }
                other => break other,
            }
        };
        if played {
            attempts.played();
        }
        if stopping() {
            log::info!("ingest {name}: stopped");
            return;
        }
        let ended = match result {
            Ok(End::Restart) => Ended::Restart,
            Ok(_) => Ended::Idle,
            Err(e) => Ended::Failed {
                udp_blocked: e
                    .downcast_ref::<rtsp_session::Error>()
                    .is_some_and(rtsp_session::Error::udp_blocked),
                error: e.to_string(),
            },
        };
        let error = match &ended {
            Ended::Failed { error, .. } => error.clone(),
            _ => String::new(),
        };
        if let Next::Backoff(wait) = attempts.ended(&ingest, !udp.is_empty(), ended) {
            let until = clock.now_ms() + wait;
            status.backoff(clock.now_ms(), &error, until);
            while clock.now_ms() < until && !stopping() {
                tokio::select! {
                    _ = tokio::time::sleep_until(clock.instant(until)) => {}
                    _ = handle.changed.notified() => {}
                }
                if status.take_restart() {
                    attempts.restarted(&ingest);
                    break;
                }
            }
        }
    }
}

/// One connection to the camera (or to where it redirects), until it fails, is no longer
/// wanted, or redirects.
#[allow(clippy::too_many_arguments)]
async fn pull(
    shared: &Shared,
    name: &str,
    handle: &IngestHandle,
    status: &IngestStatus,
    demand: &mut Demand,
    session: &mut ClientSession,
    publisher: &mut Publisher,
    played: &mut bool,
    udp: &[UdpSocket],
) -> Result<End, Box<dyn std::error::Error>> {
    let clock = shared.clock;
    let (host, port) = session.target();
    let timeout = Duration::from_millis(crate::server::rtsp::REQUEST_TIMEOUT_MS);
    let mut stream = match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(r) => r?,
        Err(_) => return Err(format!("no connection to {host}:{port} within {timeout:?}").into()),
    };
    let _ = stream.set_nodelay(true);
    let _connected = Connected::new(&shared.ingests);
    let peer = stream.peer_addr()?;
    publisher.connected(&shared.ctx, peer, clock.now_ms());
    session.handle_connected(clock.now_ms());
    drive(
        shared,
        name,
        handle,
        status,
        demand,
        session,
        publisher,
        played,
        &mut stream,
        peer,
        udp,
    )
    .await
}

/// Publishes the camera's stream once the `on_publish` hooks allow it (the pull waits for
/// them, at most `hooks_timeout` per URL; a refusal fails the pull).
async fn publish(
    shared: &Shared,
    publisher: &mut Publisher,
) -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "hooks")]
    if let Some(call) = publisher.on_publish_call(&shared.ctx) {
        if let Err(why) = shared.ctx.hooks.decide(call).await {
            return Err(format!("refused by the on_publish hook: {why}").into());
        }
    }
    publisher.publish(&shared.ctx, shared.clock.now_ms())?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    shared: &Shared,
    name: &str,
    handle: &IngestHandle,
    status: &IngestStatus,
    demand: &mut Demand,
    session: &mut ClientSession,
    publisher: &mut Publisher,
    played: &mut bool,
    stream: &mut TcpStream,
    peer: SocketAddr,
    udp: &[UdpSocket],
) -> Result<End, Box<dyn std::error::Error>> {
    let clock: Clock = shared.clock;
    let mut buf = vec![0u8; READ_BUFFER];
    // One byte more than the largest datagram taken, to tell a longer one.
    let mut datagram = vec![0u8; if udp.is_empty() { 0 } else { MAX_DATAGRAM + 1 }];
    let mut out: Vec<Bytes> = Vec::new();
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Playing { tracks } => {
                    let transport = if session.over_udp() { "udp" } else { "tcp" };
                    log::info!("ingest {name}: playing from {peer}: {tracks} over {transport}");
                    status.playing(clock.now_ms(), session.track_stats().map(|(name, _)| name));
                    status.set_transport(transport);
                    publish(shared, publisher).await?;
                    *played = true;
                }
                Event::Redirect { .. } => return Ok(End::Redirect),
            }
        }
        while let Some(frame) = session.poll_frame() {
            // Some cameras send media before their PLAY reply: the stream starts with its
            // first frame (its sequence header), whichever comes first.
            if !publisher.is_published() {
                publish(shared, publisher).await?;
            }
            publisher.on_frame(frame);
        }
        let stopping = shared.ingests.stopping.get();
        let restart = status.take_restart();
        if session.state() != State::Closed
            && (stopping || restart || !demand.wanted(clock.now_ms()))
        {
            session.teardown(clock.now_ms());
        }
        while let Some((track, port, bytes)) = session.poll_datagram() {
            if let Some(socket) = udp.get(2 * track + 1) {
                // A report lost to a full socket buffer is not worth waiting for.
                if socket
                    .try_send_to(&bytes, SocketAddr::new(peer.ip(), port))
                    .is_ok()
                {
                    publisher.sent(bytes.len());
                }
            }
        }
        out.extend(std::iter::from_fn(|| session.poll_transmit()));
        if !out.is_empty() {
            let n: usize = out.iter().map(Bytes::len).sum();
            match tokio::time::timeout(WRITE_TIMEOUT, write_all(stream, &mut out)).await {
                Ok(r) => r?,
                Err(_) => return Err("the camera does not read our requests".into()),
            }
            publisher.sent(n);
        }
        if session.state() == State::Closed {
            return Ok(if restart { End::Restart } else { End::Stopped });
        }
        let deadline = match (session.poll_timeout(), demand.deadline()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(clock.now_ms() + 60_000),
        };
        tokio::select! {
            ready = stream.readable() => {
                ready?;
                match read_some(stream, &mut buf) {
                    Ok(0) => return Err("the camera closed the connection".into()),
                    Ok(n) => {
                        publisher.received(n);
                        session.handle_bytes(clock.now_ms(), &buf[..n])?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e.into()),
                }
            }
            _ = tokio::time::sleep_until(clock.instant(deadline)) => {
                session.handle_timeout(clock.now_ms())?;
            }
            (index, received) = recv_any(udp, &mut datagram), if !udp.is_empty() => {
                match received {
                    Ok((n, from)) if from.ip() == peer.ip() && n <= MAX_DATAGRAM => {
                        publisher.received(n);
                        let payload = Bytes::copy_from_slice(&datagram[..n]);
                        session.handle_datagram(clock.now_ms(), index / 2, index % 2 == 1, payload);
                    }
                    Ok((n, from)) => {
                        log::debug!("ingest {name}: {n}-byte datagram from {from} dropped");
                    }
                    // ICMP port unreachable for a report, say: nothing to do.
                    Err(e) => log::debug!("ingest {name}: UDP: {e}"),
                }
            }
            _ = handle.changed.notified() => {
                demand.set_watched(handle.watched.get(), clock.now_ms());
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
