//! The GB28181 driver: SIP over UDP and TCP, the shared TCP media port (RFC 4571), UDP media
//! ports opened per call, TCP-active media connections, and a one-second tick for the agent's
//! timers. The agent (`session::gb28181`) and the gateway (`server::gb28181`: agent events,
//! the media path) do the work; this module moves bytes, opens what they ask for and reads the
//! clock. Here: the shared state, SIP over UDP, sending and the tick; `tcp`: accepting,
//! framed reads, SIP over TCP; `media`: the media sockets.

mod media;
mod tcp;

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Shared;
use crate::server::gb28181::media::{ConnId, MediaRouter};
use crate::server::gb28181::{self, MediaSocket};
use crate::server::stats::Gauge;
use crate::session::gb28181::{Agent, Peer, SipTransport, MAX_DEVICES};
use crate::sorted_map::SortedMap;
use crate::wire::sip;
use media::{media_slot, media_tcp, media_tcp_active, media_udp};
use tcp::{accept_loop, sip_tcp, sip_tcp_slot};

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

/// The agent, the media router and the sockets they need, shared by the driver's tasks.
pub struct Gb {
    pub agent: Agent,
    router: MediaRouter,
    udp: Rc<UdpSocket>,
    tcp_out: SortedMap<u32, mpsc::Sender<Bytes>>,
    /// UDP media ports open, by port: their readers (the port goes back to the agent when
    /// its socket is dropped).
    udp_ports: SortedMap<u16, JoinHandle<()>>,
    /// Media TCP connections (passive and active), by id: dropping the sender closes the
    /// connection (at most `gb28181.max_media_sessions` of them).
    media_closers: SortedMap<ConnId, oneshot::Sender<()>>,
    /// Media TCP connections alive (at most `gb28181.max_media_sessions`).
    media_conns: Gauge,
    next_conn: u32,
    local_ips: SortedMap<IpAddr, IpAddr>,
}

pub type GbHandle = Rc<RefCell<Gb>>;

/// Binds the SIP (UDP + TCP) and media ports and starts the driver's tasks.
pub async fn start(shared: Shared) -> io::Result<GbHandle> {
    let config = shared.ctx.config();
    let g = &config.gb28181;
    let (udp, sip_listener) = bind_sip(g.sip_listen).await?;
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
        tcp_out: SortedMap::new(),
        udp_ports: SortedMap::new(),
        media_closers: SortedMap::new(),
        media_conns: Gauge::default(),
        next_conn: 0,
        local_ips: SortedMap::new(),
    }));
    crate::net::spawn(sip_udp(gb.clone(), shared.clone(), udp));
    let sip = accept_loop(
        gb.clone(),
        shared.clone(),
        sip_listener,
        sip_tcp_slot,
        sip_tcp,
    );
    crate::net::spawn(sip);
    let media = accept_loop(gb.clone(), shared.clone(), media, media_slot, media_tcp);
    crate::net::spawn(media);
    crate::net::spawn(tick(gb.clone(), shared));
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
    let ip = *gb.local_ips.get_or_insert_with(peer.ip(), || {
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

/// Carries out the agent's events (the gateway starts and stops the media; the sockets it
/// asks for are opened and closed here), then sends what the agent queued: in that order, so
/// the UDP port an INVITE offers is bound before the INVITE leaves.
/// `/api/v1/gb28181/...` for the HTTP API (`net::http`), answered by the agent once it runs.
#[cfg(feature = "api")]
pub fn api_extension(shared: &Shared) -> crate::server::http::ApiExtension {
    use crate::server::gb28181::api;
    let shared = shared.clone();
    let answer = move |now_ms: u64, path: &str| {
        let gb = shared.gb.borrow().clone();
        let (body, code) = match &gb {
            Some(gb) => api::handle(&mut gb.borrow_mut().agent, now_ms, path),
            None => ("{}".to_owned(), api::CODE_NOT_FOUND),
        };
        // A command (an invite, a bye) leaves now rather than at the agent's next tick.
        if let Some(gb) = &gb {
            pump(gb, &shared);
        }
        (body, i32::try_from(code).unwrap_or(i32::MAX))
    };
    crate::server::http::ApiExtension {
        prefix: "/api/v1/gb28181",
        answer: Rc::new(answer),
    }
}

/// Runs after SIP input, each tick, and each API command (so an API invite leaves at once).
pub fn pump(gb: &GbHandle, shared: &Shared) {
    let now = shared.clock.now_ms();
    let mut g = gb.borrow_mut();
    while let Some(event) = g.agent.poll_event() {
        match gb28181::handle_event(&mut g.router, &shared.ctx, now, event) {
            None => {}
            Some(MediaSocket::OpenUdp { port }) => {
                if g.udp_ports.contains_key(&port) {
                    continue;
                }
                let ip = shared.ctx.config().gb28181.sip_listen.ip();
                match bind_udp(SocketAddr::new(ip, port)) {
                    Ok(socket) => {
                        let task = media_udp(gb.clone(), shared.clone(), socket, port);
                        g.udp_ports.insert(port, crate::net::spawn(task));
                    }
                    // The port goes back when the call ends (CloseUdp finds no socket).
                    Err(e) => log::warn!("GB28181: cannot bind udp media port {port}: {e}"),
                }
            }
            Some(MediaSocket::Connect { ssrc, remote }) => {
                let task = media_tcp_active(gb.clone(), shared.clone(), ssrc, remote);
                crate::net::spawn(task);
            }
            Some(MediaSocket::CloseUdp { port }) => match g.udp_ports.remove(&port) {
                // The reader's port lease gives the port back once the socket is dropped.
                Some(task) => task.abort(),
                None => g.agent.release_udp_port(port),
            },
            Some(MediaSocket::CloseTcp { conns }) => {
                for conn in conns {
                    // Its reader sees the closer gone and ends, closing the socket.
                    g.media_closers.remove(&conn);
                }
            }
        }
    }
    #[cfg(feature = "hooks")]
    {
        let Gb { agent, router, .. } = &mut *g;
        for (id, call) in gb28181::hooks::asks(router, agent, &shared.ctx) {
            let (gb, task_shared) = (gb.clone(), shared.clone());
            let done = move |verdict| on_publish(&gb, &task_shared, id, verdict);
            shared.ctx.hooks.decide_then(call, Box::new(done));
        }
    }
    while let Some((peer, bytes)) = g.agent.poll_transmit() {
        match peer.transport {
            SipTransport::Udp => {
                if let Err(e) = g.udp.try_send_to(&bytes, peer.addr) {
                    log::debug!("GB28181 SIP to {}: {e}", peer.addr);
                }
            }
            SipTransport::Tcp(id) => {
                let sent = g.tcp_out.get(&id).map(|tx| tx.try_send(bytes));
                if let Some(Err(_)) = sent {
                    log::debug!("GB28181 SIP to {}: connection busy or gone", peer.addr);
                }
            }
        }
    }
}

/// The `on_publish` decision of a call (made in the hook client's task; only that call's
/// media waited, dropped meanwhile): its media goes through, or the call is hung up.
#[cfg(feature = "hooks")]
fn on_publish(
    gb: &GbHandle,
    shared: &Shared,
    id: crate::live::ClientId,
    verdict: Result<(), String>,
) {
    {
        let now = shared.clock.now_ms();
        let mut g = gb.borrow_mut();
        let Gb { agent, router, .. } = &mut *g;
        gb28181::hooks::decided(router, agent, now, id, verdict);
    }
    pump(gb, shared);
}

/// A UDP media socket bound now (not in a task that runs later), ready for tokio.
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
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
            // CR/LF only: an RFC 5626 keepalive, not a refusal.
            Err(sip::SipError::Empty) => {}
            Err(e) => gb.borrow_mut().agent.handle_refused(addr, &e),
        }
    }
}

/// A hub event (from the driver's dispatcher): a camera stream's viewers reach the agent, and
/// an INVITE or BYE it decides on leaves at once.
pub fn handle_hub_event(gb: &GbHandle, shared: &Shared, event: &crate::live::HubEvent) {
    let now = shared.clock.now_ms();
    let config = shared.ctx.config();
    if gb28181::handle_hub_event(&mut gb.borrow_mut().agent, &config, now, event) {
        pump(gb, shared);
    }
}

async fn tick(gb: GbHandle, shared: Shared) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        let now = shared.clock.now_ms();
        {
            let mut g = gb.borrow_mut();
            gb28181::sync_viewers(&mut g.agent, &shared.ctx, now);
            g.agent.handle_timeout(now);
            g.router.flush(&shared.ctx, now);
            let census = (g.agent.census(), g.router.sessions.len());
            shared.ctx.gb_census.set(census);
        }
        pump(&gb, &shared);
    }
}
