//! The GB28181 driver: SIP over UDP and TCP, the shared TCP media port (RFC 4571), UDP media
//! ports opened per call, TCP-active media connections, and a one-second tick for the agent's
//! timers. The agent (`session::gb28181`) and the media path (`server::gb28181::media`) do the
//! work; this module moves bytes and reads the clock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{admit, Shared};
use crate::config::{Config, GbStreamName};
use crate::live::StreamKey;
use crate::server::gb28181::{self, media::MediaRouter};
use crate::server::stats::{Gauge, GaugeGuard};
use crate::server::{RateLimit, ServerCtx};
use crate::session::gb28181::{Agent, AgentEvent, MediaTransport, Peer, SipTransport, MAX_DEVICES};
use crate::wire::rtp::{FrameDecoder, RtpPacket};
use crate::wire::sip;

/// Largest UDP datagram read (SIP or RTP).
pub const MAX_DATAGRAM: usize = 65_536;
/// SIP messages queued for one TCP connection at most.
const TCP_OUTBOX: usize = 64;
/// Bytes read per TCP read.
pub const READ_BUFFER: usize = 16 * 1024;
/// SIP over TCP connections at once: one per registered device at most, so [`MAX_DEVICES`];
/// more are closed at accept. RAM: up to 16 KiB read buffer + 64 KiB message each.
pub const MAX_SIP_TCP: usize = MAX_DEVICES;
/// Media TCP connections (passive and active) at once: one per media session at most, so
/// `gb28181.max_media_sessions`; more are closed at accept. RAM: a 16 KiB read buffer + one
/// RFC 4571 frame (64 KiB) each.
pub const MEDIA_TCP_BYTES: usize = READ_BUFFER + crate::wire::rtp::MAX_FRAME_LEN;
/// GB28181 media sessions get client ids from here up, apart from connection ids.
const MEDIA_CLIENT_BASE: u32 = 0x8000_0000;

/// The agent, the media router and the sockets they need, shared by the driver's tasks.
pub struct Gb {
    pub agent: Agent,
    router: MediaRouter,
    udp: Rc<UdpSocket>,
    tcp_out: HashMap<u32, mpsc::Sender<bytes::Bytes>>,
    media_tasks: HashMap<u32, (JoinHandle<()>, Option<u16>)>,
    /// Media TCP connections alive (at most `gb28181.max_media_sessions`).
    media_conns: Gauge,
    next_conn: u32,
    next_client: u32,
    local_ips: HashMap<IpAddr, IpAddr>,
}

pub type GbHandle = Rc<RefCell<Gb>>;

/// Binds the SIP (UDP + TCP) and media ports and starts the driver's tasks.
pub async fn start(shared: Shared) -> io::Result<GbHandle> {
    let config = shared.ctx.config();
    let g = &config.gb28181;
    let (udp, sip_tcp) = bind_sip(g.sip_listen).await?;
    let media = TcpListener::bind(g.media_listen).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", g.media_listen),
        )
    })?;
    let mut agent_cfg = gb28181::agent_config(&config);
    agent_cfg.media_tcp_port = media.local_addr()?.port();
    log::info!(
        "GB28181 SIP listening on {} (udp, tcp), media on {}",
        udp.local_addr()?,
        media.local_addr()?
    );
    let udp = Rc::new(udp);
    let gb = Rc::new(RefCell::new(Gb {
        agent: Agent::new(agent_cfg, shared.rng.next_u64()),
        router: MediaRouter::default(),
        udp: udp.clone(),
        tcp_out: HashMap::new(),
        media_tasks: HashMap::new(),
        media_conns: Gauge::default(),
        next_conn: 0,
        next_client: MEDIA_CLIENT_BASE,
        local_ips: HashMap::new(),
    }));
    tokio::task::spawn_local(sip_udp(gb.clone(), shared.clone(), udp));
    tokio::task::spawn_local(sip_tcp_accept(gb.clone(), shared.clone(), sip_tcp));
    tokio::task::spawn_local(media_accept(gb.clone(), shared.clone(), media));
    tokio::task::spawn_local(tick(gb.clone(), shared));
    Ok(gb)
}

/// How many ephemeral ports to try for SIP when `sip_listen` has port 0: the UDP socket picks
/// one, and the TCP listener must get the same number, which another socket may hold.
const SIP_PORT_TRIES: usize = 32;

/// Binds SIP over UDP and TCP on the same port. With port 0, the kernel's pick for UDP may be
/// taken for TCP; then we try another pick.
async fn bind_sip(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    let mut tries = if addr.port() == 0 { SIP_PORT_TRIES } else { 1 };
    loop {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on udp {addr}: {e}")))?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if tries > 1 && e.kind() == io::ErrorKind::AddrInUse => tries -= 1,
            Err(e) => {
                let at = udp.local_addr()?;
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot listen on tcp {at}: {e}"),
                ));
            }
        }
    }
}

/// GB28181's Date format (§ 9.1.2.1): local time as `YYYY-MM-DDTHH:MM:SS.mmm` (we send UTC).
fn date_now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    sip::header::format_date(ms)
}

/// Our address as the peer sees it: for a socket bound to 0.0.0.0 the kernel's route decides.
fn local_for(gb: &mut Gb, bound: SocketAddr, peer: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let ip = *gb.local_ips.entry(peer.ip()).or_insert_with(|| {
        std::net::UdpSocket::bind((bound.ip(), 0))
            .and_then(|s| {
                s.connect(peer)?;
                s.local_addr()
            })
            .map(|a| a.ip())
            .unwrap_or(bound.ip())
    });
    SocketAddr::new(ip, bound.port())
}

fn handle_sip(gb: &GbHandle, shared: &Shared, peer: Peer, msg: sip::SipMessage) {
    let now = shared.clock.now_ms();
    gb.borrow_mut()
        .agent
        .handle_message(now, &date_now(), peer, msg);
    pump(gb, shared);
}

/// Sends what the agent queued and carries out its events.
fn pump(gb: &GbHandle, shared: &Shared) {
    loop {
        let mut g = gb.borrow_mut();
        let Some((peer, bytes)) = g.agent.poll_transmit() else {
            break;
        };
        match peer.transport {
            SipTransport::Udp => {
                if let Err(e) = g.udp.try_send_to(&bytes, peer.addr) {
                    log::debug!("GB28181 SIP to {}: {e}", peer.addr);
                }
            }
            SipTransport::Tcp(id) => {
                if let Some(tx) = g.tcp_out.get(&id) {
                    if tx.try_send(bytes).is_err() {
                        log::debug!("GB28181 SIP to {}: connection busy or gone", peer.addr);
                    }
                }
            }
        }
    }
    loop {
        let event = gb.borrow_mut().agent.poll_event();
        let Some(event) = event else {
            break;
        };
        on_event(gb, shared, event);
    }
}

fn stream_key(config: &Config, device: &str, channel: &str) -> StreamKey {
    let g = &config.gb28181;
    StreamKey {
        vhost: config.default_vhost().name.clone(),
        app: g.app.clone(),
        stream: match g.stream_name {
            GbStreamName::Channel => channel.to_string(),
            GbStreamName::Device => device.to_string(),
        },
    }
}

fn on_event(gb: &GbHandle, shared: &Shared, event: AgentEvent) {
    let now = shared.clock.now_ms();
    match event {
        AgentEvent::DeviceOnline { device } => log::debug!("GB28181 device {device} online"),
        AgentEvent::DeviceOffline { device } => log::info!("GB28181 device {device} offline"),
        AgentEvent::MediaStart {
            device,
            channel,
            ssrc,
            transport,
            remote,
        } => {
            let config = shared.ctx.config();
            let key = stream_key(&config, &device, &channel);
            let mut g = gb.borrow_mut();
            g.next_client = g.next_client.wrapping_add(1).max(MEDIA_CLIENT_BASE);
            let client = g.next_client;
            if !g
                .router
                .start(ssrc, key, client, now, config.gb28181.max_media_sessions)
            {
                log::warn!("GB28181: too many media sessions, {device}/{channel} not received");
                return;
            }
            match transport {
                MediaTransport::TcpPassive => {}
                MediaTransport::Udp { port } => {
                    let task =
                        tokio::task::spawn_local(media_udp(gb.clone(), shared.clone(), port));
                    g.media_tasks.insert(ssrc, (task, Some(port)));
                }
                MediaTransport::TcpActive => {
                    let Some(remote) = remote else {
                        log::warn!(
                            "GB28181 {device}/{channel}: tcp_active but no address in the answer"
                        );
                        return;
                    };
                    let task = tokio::task::spawn_local(media_tcp_active(
                        gb.clone(),
                        shared.clone(),
                        remote,
                    ));
                    g.media_tasks.insert(ssrc, (task, None));
                }
            }
        }
        AgentEvent::MediaStop { ssrc } => {
            let mut g = gb.borrow_mut();
            if let Some((task, port)) = g.media_tasks.remove(&ssrc) {
                task.abort();
                if let Some(port) = port {
                    g.agent.release_udp_port(port);
                }
            }
            g.router.stop(&shared.ctx, ssrc, now);
        }
    }
}

async fn sip_udp(gb: GbHandle, shared: Shared, udp: Rc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let bound = udp
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        let (n, addr) = match udp.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                log::debug!("GB28181 SIP udp: {e}");
                continue;
            }
        };
        match sip::decode_datagram(&buf[..n]) {
            Ok(msg) => {
                let local = local_for(&mut gb.borrow_mut(), bound, addr);
                let peer = Peer {
                    transport: SipTransport::Udp,
                    addr,
                    local,
                };
                handle_sip(&gb, &shared, peer, msg);
            }
            Err(e) => log::debug!("GB28181 SIP from {addr}: {e}"),
        }
    }
}

async fn sip_tcp_accept(gb: GbHandle, shared: Shared, listener: TcpListener) {
    let mut refused = RateLimit::new();
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(guards) = admit(&shared.ctx, &mut refused, shared.clock, addr) else {
            continue;
        };
        // The slot (the outbox's sender in `tcp_out`) is taken here, before the task runs,
        // so a burst of connects cannot overshoot the cap.
        let (tx, rx) = mpsc::channel::<bytes::Bytes>(TCP_OUTBOX);
        let id = {
            let mut g = gb.borrow_mut();
            if g.tcp_out.len() >= MAX_SIP_TCP {
                log::debug!("GB28181 SIP tcp {addr}: {MAX_SIP_TCP} connections open; refused");
                continue;
            }
            g.next_conn = g.next_conn.wrapping_add(1);
            let id = g.next_conn;
            g.tcp_out.insert(id, tx);
            id
        };
        let (gb, shared) = (gb.clone(), shared.clone());
        tokio::task::spawn_local(async move {
            sip_tcp(gb, shared, stream, addr, id, rx).await;
            drop(guards);
        });
    }
}

async fn sip_tcp(
    gb: GbHandle,
    shared: Shared,
    stream: TcpStream,
    addr: SocketAddr,
    id: u32,
    mut rx: mpsc::Receiver<bytes::Bytes>,
) {
    let local = stream.local_addr().unwrap_or(addr);
    let (mut rd, mut wr) = stream.into_split();
    let task = shared.ctx.tasks.enter();
    let writer = tokio::task::spawn_local(async move {
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
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let idle = Duration::from_secs(u64::from(shared.ctx.config().gb28181.keepalive_timeout_s) * 2);
    loop {
        match tokio::time::timeout(idle, rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
        loop {
            match sip::decode(&buf) {
                Ok(Some((msg, used))) => {
                    let _ = buf.split_to(used);
                    handle_sip(&gb, &shared, peer, msg);
                }
                Ok(None) => break,
                Err(e) => {
                    log::info!("GB28181 SIP tcp {addr}: {e}; closing");
                    gb.borrow_mut().tcp_out.remove(&id);
                    writer.abort();
                    return;
                }
            }
        }
    }
    gb.borrow_mut().tcp_out.remove(&id);
    writer.abort();
}

async fn media_accept(gb: GbHandle, shared: Shared, listener: TcpListener) {
    let mut refused = RateLimit::new();
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(guards) = admit(&shared.ctx, &mut refused, shared.clock, addr) else {
            continue;
        };
        let max = shared.ctx.config().gb28181.max_media_sessions;
        let Some(slot) = media_slot(&gb, max) else {
            log::debug!("GB28181 media tcp {addr}: {max} connections open; refused");
            continue;
        };
        let (gb, shared) = (gb.clone(), shared.clone());
        tokio::task::spawn_local(async move {
            media_tcp(gb, shared, stream, addr, slot).await;
            drop(guards);
        });
    }
}

/// One of the `gb28181.max_media_sessions` media connection slots, held until dropped; taken
/// before the connection's task runs, so a burst of connects cannot overshoot the cap.
fn media_slot(gb: &GbHandle, max: usize) -> Option<GaugeGuard> {
    let g = gb.borrow();
    (g.media_conns.get() < max).then(|| g.media_conns.enter())
}

async fn media_tcp_active(gb: GbHandle, shared: Shared, remote: SocketAddr) {
    let _task = shared.ctx.tasks.enter();
    let max = shared.ctx.config().gb28181.max_media_sessions;
    let Some(slot) = media_slot(&gb, max) else {
        log::warn!("GB28181 tcp_active {remote}: {max} connections open; not connecting");
        return;
    };
    match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(remote)).await {
        Ok(Ok(stream)) => media_tcp(gb, shared, stream, remote, slot).await,
        _ => log::warn!("GB28181 tcp_active: cannot connect to {remote}"),
    }
}

/// RFC 4571 framed RTP over one TCP connection, any number of SSRCs.
async fn media_tcp(
    gb: GbHandle,
    shared: Shared,
    mut stream: TcpStream,
    addr: SocketAddr,
    _slot: GaugeGuard,
) {
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    let mut frames = FrameDecoder::new();
    let idle = Duration::from_secs(u64::from(shared.ctx.config().gb28181.media_timeout_s) * 2);
    loop {
        buf.reserve(READ_BUFFER);
        match tokio::time::timeout(idle, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(_)) => {}
        }
        loop {
            match frames.decode(&mut buf) {
                Ok(Some(packet)) => rtp_in(&gb, &shared, addr, packet),
                Ok(None) => break,
                Err(e) => {
                    log::info!("GB28181 media tcp {addr}: {e}; closing");
                    return;
                }
            }
        }
    }
    log::debug!("GB28181 media tcp {addr} closed");
}

async fn media_udp(gb: GbHandle, shared: Shared, port: u16) {
    let _task = shared.ctx.tasks.enter();
    let ip = shared.ctx.config().gb28181.sip_listen.ip();
    let socket = match UdpSocket::bind((ip, port)).await {
        Ok(s) => s,
        Err(e) => {
            log::warn!("GB28181: cannot bind udp media port {port}: {e}");
            return;
        }
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((n, addr)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        rtp_in(&gb, &shared, addr, bytes::Bytes::copy_from_slice(&buf[..n]));
    }
}

fn rtp_in(gb: &GbHandle, shared: &Shared, from: SocketAddr, packet: bytes::Bytes) {
    let now = shared.clock.now_ms();
    if crate::wire::rtp::is_rtcp(&packet) {
        return;
    }
    let packet = match RtpPacket::decode(packet) {
        Ok(p) => p,
        Err(e) => {
            log::debug!("GB28181 media from {from}: {e}");
            return;
        }
    };
    let mut g = gb.borrow_mut();
    let fallback = g.agent.only_call_from(from.ip());
    let original = packet.ssrc;
    let ctx: &ServerCtx = &shared.ctx;
    if let Some(ssrc) = g.router.route(ctx, now, packet, fallback) {
        if let (true, Some(old)) = (
            ssrc != fallback.unwrap_or(ssrc) && ssrc == original,
            fallback,
        ) {
            g.agent.rename_ssrc(old, ssrc);
        }
        g.agent.media_activity(now, ssrc);
    }
}

async fn tick(gb: GbHandle, shared: Shared) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        let now = shared.clock.now_ms();
        {
            let mut g = gb.borrow_mut();
            g.agent.handle_timeout(now);
            let ctx = shared.ctx.clone();
            g.router.flush(&ctx, now);
        }
        pump(&gb, &shared);
    }
}
