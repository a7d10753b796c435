//! The only layer that touches tokio, sockets and the clock: listeners, connection drivers,
//! signals and shutdown. Everything runs on one thread (current-thread runtime + LocalSet).

#[cfg(any(feature = "forward", feature = "rtsp"))]
mod dial;
#[cfg(feature = "disk")]
pub mod disk;
#[cfg(feature = "edge")]
pub mod edge;
#[cfg(feature = "exec")]
pub mod exec;
#[cfg(feature = "forward")]
pub mod forward;
#[cfg(feature = "gb28181")]
pub mod gb28181;
#[cfg(feature = "hooks")]
mod heartbeat;
#[cfg(feature = "hooks")]
pub mod hooks;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "edge")]
mod origin_cluster;
#[cfg(feature = "rtc")]
pub mod rtc;
#[cfg(feature = "rtc")]
pub mod rtc_tcp;
#[cfg(feature = "rtmp")]
pub mod rtmp;
#[cfg(feature = "rtsp")]
pub mod rtsp;
#[cfg(feature = "rtsp")]
pub mod rtsp_server;
pub mod sock;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "dvr")]
pub mod wall;

use std::cell::Cell;
#[cfg(feature = "gb28181")]
use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

use crate::config::Config;
use crate::server::stats::GaugeGuard;
use crate::server::ServerCtx;

/// Milliseconds since the server started: the one clock every session and the hub see.
#[derive(Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The instant of a time on this clock, for timers.
    pub fn instant(&self, ms: u64) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.start + Duration::from_millis(ms))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A small non-cryptographic generator (xorshift64*) for handshake random bytes and context
/// ids; neither needs to be secret.
pub struct Rng(Cell<u64>);

impl Rng {
    pub fn from_time() -> Rng {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Rng(Cell::new(t ^ (u64::from(std::process::id()) << 32) | 1))
    }

    pub fn next_u64(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// How often idle Sources are swept and hub events logged.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Which listener a connection came from.
#[derive(Clone, Copy)]
enum Protocol {
    Rtmp,
    Http,
    /// The API's own port (`http_api.listen`): HTTP with the API's route table.
    Api,
    /// The exporter's own port (`exporter.listen`): HTTP with `/metrics` only.
    Metrics,
    /// The RTSP server (`rtsp_server.listen`).
    Rtsp,
    /// RTMP over TLS (`rtmps.listen`).
    Rtmps,
    /// The HTTP server over TLS (`http_server.https.listen`).
    Https,
}

/// What every connection task gets.
#[derive(Clone)]
pub struct Shared {
    pub ctx: ServerCtx,
    pub clock: Clock,
    pub rng: Rc<Rng>,
    #[cfg(feature = "api")]
    pub api: Rc<crate::server::api::ApiSettings>,
    /// The GB28181 agent and media, once started (for the API).
    #[cfg(feature = "gb28181")]
    pub gb: Rc<RefCell<Option<gb28181::GbHandle>>>,
    /// The disk thread, for file reads (its writes go through `ctx.files`).
    #[cfg(feature = "http")]
    pub disk: disk::Disk,
    /// The `[[ingest]]` tasks' handles, for the hub's viewer events.
    #[cfg(feature = "rtsp")]
    pub ingests: Rc<rtsp::Ingests>,
}

/// Spawns a task on the `LocalSet` as a boxed future: every task spawned so shares one copy
/// of tokio's task code (its poll, harness, join and shutdown functions are generic over the
/// future), about 2 KB of code per kind of task on the router build. The cost is one more
/// allocation per task, so the tasks there are many of (an RTMP or HTTP connection) are
/// spawned directly instead.
pub(crate) fn spawn<F: std::future::Future<Output = ()> + 'static>(
    task: F,
) -> tokio::task::JoinHandle<()> {
    spawn_boxed(Box::pin(task))
}

#[inline(never)]
fn spawn_boxed(
    task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_local(task)
}

/// Accepts on `listener`, or never when there is none.
async fn accept(listener: &Option<TcpListener>) -> io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Runs the server until SIGTERM or SIGINT. Must be called inside a `LocalSet`.
pub async fn serve(config: Config, config_path: Option<PathBuf>) -> io::Result<()> {
    // Every port is bound before "RTMP listening on", the last line of a successful start
    // (tests and init scripts wait for it), and before privileges are dropped.
    let http = match config.http.enabled && cfg!(feature = "http") {
        true => Some(bind(config.http.listen).await?),
        false => None,
    };
    let rtmp = match cfg!(feature = "rtmp") {
        true => Some(bind(config.listen).await?),
        false => None,
    };
    // The API on a port of its own; on the HTTP server's own address (a port other than 0,
    // which is a new port each time) it is that server.
    let same_as_http =
        |a: std::net::SocketAddr| http.is_some() && a == config.http.listen && a.port() != 0;
    let api = match config.api.listen {
        Some(addr) if config.api.enabled && !same_as_http(addr) => Some(bind(addr).await?),
        _ => None,
    };
    // `/metrics` on a port of its own (SRS's exporter.listen).
    let metrics = match config.exporter_listen {
        Some(addr) if config.exporter_enabled && cfg!(feature = "metrics") => {
            Some(bind(addr).await?)
        }
        _ => None,
    };
    let rtsp_server = match config.rtsp_server_enabled && cfg!(feature = "rtsp") {
        true => Some(bind(config.rtsp_server_listen).await?),
        false => None,
    };
    #[cfg(feature = "rtc")]
    let (rtc_socket, rtc_tcp) = match config.rtc_server_enabled {
        true => rtc_ports(&config).await?,
        false => (None, None),
    };
    // The CA file is read before the server starts (a bad one stops the start).
    #[cfg(feature = "tls")]
    tls::init(config.tls_verify, &config.tls_ca_file)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // RTMPS: its port, and its certificate and key read before the server starts (a bad
    // one stops the start).
    #[cfg(feature = "tls")]
    let (rtmps, rtmps_acceptor) = match config.rtmps_enabled {
        true => {
            let acceptor = tls::acceptor(&config.rtmps_cert, &config.rtmps_key)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("rtmps: {e}")))?;
            (Some(bind(config.rtmps_listen).await?), Some(acceptor))
        }
        false => (None, None),
    };
    #[cfg(not(feature = "tls"))]
    let rtmps: Option<TcpListener> = None;
    // HTTPS: its port, and its certificate and key read (or made) before the server starts.
    #[cfg(all(feature = "tls", feature = "http"))]
    let (https, https_acceptor) = match config.http.enabled && config.http.https.enabled {
        true => {
            let h = &config.http.https;
            let acceptor = tls::acceptor_or_self_signed(&h.cert, &h.key, h.listen)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("https: {e}")))?;
            (Some(bind(h.listen).await?), Some(acceptor))
        }
        false => (None, None),
    };
    #[cfg(not(all(feature = "tls", feature = "http")))]
    let https: Option<TcpListener> = None;
    let user = config.user.clone();
    let hub = crate::live::Hub::new(config.max_streams);
    let clock = Clock::new();
    let rng = Rc::new(Rng::from_time());
    #[cfg(feature = "disk")]
    let (disk, completions) = disk::Disk::start()?;
    #[cfg(feature = "disk")]
    let ctx = ServerCtx::new(config, hub).with_file_sink(Rc::new(disk.clone()));
    #[cfg(not(feature = "disk"))]
    let ctx = ServerCtx::new(config, hub);
    // Recording file names carry the local date (the time zone is read here, once).
    #[cfg(feature = "dvr")]
    ctx.dvr.set_clock(Rc::new(wall::SystemWall::new()));
    // Only the HTTP server reads files through the disk thread; DVR writes through the sink.
    #[cfg(all(feature = "disk", not(feature = "http")))]
    drop(disk);
    let shared = Shared {
        ctx,
        clock,
        #[cfg(feature = "api")]
        api: {
            // Wall-clock ms at the clock's zero, for the API's epoch times (SRS's live_ms).
            let epoch_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
                .saturating_sub(clock.now_ms());
            let mut settings = crate::server::api::ApiSettings::new(epoch_ms, rng.next_u64());
            let addr = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
            settings.listens = crate::server::api::Listens {
                rtmp: addr(&rtmp),
                api: addr(&api).or(addr(&http)),
            };
            Rc::new(settings)
        },
        rng,
        #[cfg(feature = "gb28181")]
        gb: Rc::default(),
        #[cfg(feature = "http")]
        disk,
        #[cfg(feature = "rtsp")]
        ingests: Rc::default(),
    };
    let ctx = shared.ctx.clone();
    #[cfg(feature = "hooks")]
    ctx.hooks.start(
        Rc::new(hooks::HttpHookClient::new(clock)),
        crate::server::hooks::Identity {
            server_id: shared.api.server_id.clone(),
            service_id: shared.api.service_id.clone(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        },
    );
    #[cfg(feature = "hooks")]
    if ctx.config().heartbeat_enabled {
        spawn(heartbeat::run(shared.clone()));
    }
    #[cfg(feature = "disk")]
    spawn(completions.run(ctx.clone()));
    // The outputs take the config (DVR repairs its roots before any recording starts).
    crate::server::on_config(&ctx);
    #[cfg(feature = "gb28181")]
    if shared.ctx.config().gb28181.enabled {
        let handle = gb28181::start(shared.clone()).await?;
        *shared.gb.borrow_mut() = Some(handle);
    }
    drop_privileges(user.as_deref())?;
    #[cfg(feature = "rtsp")]
    rtsp::start(&shared);
    #[cfg(feature = "rtc")]
    if let Some(listener) = rtc_tcp {
        spawn(rtc_tcp::run(listener, shared.clone()));
    }
    #[cfg(feature = "rtc")]
    if let Some(socket) = rtc_socket {
        spawn(rtc::run(socket, shared.clone()));
    }
    // Child processes publish to our RTMP port (`[port]`).
    #[cfg(feature = "exec")]
    exec::start(
        &shared,
        rtmp.as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(0, |a| a.port()),
    );
    if let Some(l) = &http {
        log::info!("HTTP listening on {}", l.local_addr()?);
    }
    if let Some(l) = &api {
        log::info!("HTTP API listening on {}", l.local_addr()?);
    }
    if let Some(l) = &metrics {
        log::info!("metrics listening on {}", l.local_addr()?);
    }
    if let Some(l) = &rtsp_server {
        log::info!("RTSP listening on {}", l.local_addr()?);
    }
    if let Some(l) = &rtmps {
        log::info!("RTMPS listening on {}", l.local_addr()?);
    }
    if let Some(l) = &https {
        log::info!("HTTPS listening on {}", l.local_addr()?);
    }
    if let Some(l) = &rtmp {
        log::info!("RTMP listening on {}", l.local_addr()?);
    }
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    spawn(sweep(ctx.clone(), clock));
    spawn(hub_events(shared.clone()));
    let mut refused = crate::server::RateLimit::new();
    let mut next_id: u32 = 0;
    loop {
        let (accepted, protocol) = tokio::select! {
            a = accept(&rtmp) => (a, Protocol::Rtmp),
            a = accept(&http) => (a, Protocol::Http),
            a = accept(&api) => (a, Protocol::Api),
            a = accept(&metrics) => (a, Protocol::Metrics),
            a = accept(&rtsp_server) => (a, Protocol::Rtsp),
            a = accept(&rtmps) => (a, Protocol::Rtmps),
            a = accept(&https) => (a, Protocol::Https),
            _ = hangup.recv() => {
                reload(&ctx, config_path.as_deref());
                continue;
            }
            _ = terminate.recv() => { log::info!("SIGTERM: shutting down"); break; }
            _ = interrupt.recv() => { log::info!("SIGINT: shutting down"); break; }
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(guards) = admit(&ctx, &mut refused, clock, peer) else {
            drop(stream);
            continue;
        };
        next_id = next_id.wrapping_add(1);
        let id = next_id;
        // One task per connection, each of its protocol's own size (a task's future is
        // allocated for the connection's lifetime: an RTMP player does not pay for HTTP's).
        // A listener exists only for a compiled-in protocol.
        match protocol {
            #[cfg(feature = "rtmp")]
            Protocol::Rtmp => {
                tokio::task::spawn_local(rtmp::run(stream, peer, id, &shared, guards));
            }
            #[cfg(feature = "http")]
            Protocol::Http => {
                let site = &crate::server::http::HTTP_SITE;
                tokio::task::spawn_local(http::run(stream, peer, id, &shared, site, guards));
            }
            #[cfg(feature = "api")]
            Protocol::Api => {
                let site = &crate::server::http::API_SITE;
                tokio::task::spawn_local(http::run(stream, peer, id, &shared, site, guards));
            }
            #[cfg(feature = "metrics")]
            Protocol::Metrics => {
                let site = &crate::server::http::METRICS_SITE;
                tokio::task::spawn_local(http::run(stream, peer, id, &shared, site, guards));
            }
            #[cfg(feature = "rtsp")]
            Protocol::Rtsp => {
                if let Some(task) = rtsp_server::run(stream, peer, id, &shared, guards) {
                    tokio::task::spawn_local(task);
                }
            }
            #[cfg(all(feature = "rtmp", feature = "tls"))]
            Protocol::Rtmps => {
                if let Some(acceptor) = &rtmps_acceptor {
                    let task = rtmp::run_tls(stream, peer, id, &shared, guards, acceptor.clone());
                    tokio::task::spawn_local(task);
                }
            }
            #[cfg(all(feature = "http", feature = "tls"))]
            Protocol::Https => {
                if let Some(acceptor) = &https_acceptor {
                    let site = &crate::server::http::HTTP_SITE;
                    let task =
                        http::run_tls(stream, peer, id, &shared, site, guards, acceptor.clone());
                    tokio::task::spawn_local(task);
                }
            }
            #[allow(unreachable_patterns)]
            _ => drop((stream, peer, id, guards)),
        }
    }
    // Files being written (recordings) are finished, for a few seconds at most: a disk that
    // does not answer leaves them to the repair at the next start.
    let give_up = clock.now_ms() + STOP_WAIT_MS;
    // Pulled cameras get their TEARDOWN (sent at once; the wait is for a camera that does not
    // take it, bounded like the files).
    #[cfg(feature = "rtsp")]
    {
        rtsp::stop(&shared);
        while rtsp::connected(&shared) > 0 && clock.now_ms() < give_up {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Child processes: SIGTERM, SIGKILL after the grace, all reaped.
    #[cfg(feature = "exec")]
    exec::stop(&shared).await;
    while crate::server::stop_outputs(&ctx) && clock.now_ms() < give_up {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The WebRTC UDP socket and, with `rtc_server.tcp`, its TCP listener, by default on the
/// UDP port's number. When `listen` asks the kernel for a port (0: tests, scripts), the
/// number it gives UDP may be taken on TCP: then both are bound again, a few times.
#[cfg(feature = "rtc")]
async fn rtc_ports(
    config: &Config,
) -> io::Result<(Option<tokio::net::UdpSocket>, Option<TcpListener>)> {
    let mut tries = 0;
    loop {
        let udp = rtc::bind(config.rtc_server_listen).await?;
        if !config.rtc_server_tcp.enabled {
            return Ok((Some(udp), None));
        }
        let addr = config.rtc_server_tcp.address(udp.local_addr()?);
        match rtc_tcp::bind(addr).await {
            Ok(tcp) => return Ok((Some(udp), Some(tcp))),
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && config.rtc_server_listen.port() == 0
                    && config.rtc_server_tcp.listen.is_none()
                    && tries < 8 =>
            {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How long a stopping server waits for the disk to finish the outputs' files.
const STOP_WAIT_MS: u64 = 3_000;

/// Started as root (a plain init script): after binding, become `user` (its uid, primary gid,
/// no supplementary groups). Without `user` a root server says so once.
fn drop_privileges(user: Option<&str>) -> io::Result<()> {
    use nix::unistd::{setgid, setuid, Uid, User};
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let Some(name) = user else {
        log::warn!("running as root; set `user` in the config to drop privileges after binding");
        return Ok(());
    };
    // nix's errors as io::Errors (libc's strerror): nix's own Display is about 9 KB of the
    // router binary.
    let err = |what: &str, e: nix::Error| {
        let e = io::Error::from(e);
        io::Error::other(format!("cannot {what} for user {name:?}: {e}"))
    };
    let u = User::from_name(name)
        .map_err(|e| err("look up", e))?
        .ok_or_else(|| io::Error::other(format!("no user {name:?} (config key `user`)")))?;
    clear_supplementary_groups(u.gid).map_err(|e| err("set groups", e))?;
    setgid(u.gid).map_err(|e| err("set gid", e))?;
    setuid(u.uid).map_err(|e| err("set uid", e))?;
    log::info!(
        "dropped privileges to {name} (uid {}, gid {})",
        u.uid,
        u.gid
    );
    Ok(())
}

/// Leaves `gid` as the only supplementary group, so that root's groups do not stay with us.
#[cfg(not(target_vendor = "apple"))]
fn clear_supplementary_groups(gid: nix::unistd::Gid) -> nix::Result<()> {
    nix::unistd::setgroups(&[gid])
}

/// nix has neither `setgroups` nor `initgroups` for Apple targets, so a macOS build (developers'
/// machines; no board runs macOS) keeps root's supplementary groups when it drops privileges,
/// and says so.
#[cfg(target_vendor = "apple")]
fn clear_supplementary_groups(_: nix::unistd::Gid) -> nix::Result<()> {
    log::warn!("macOS build: supplementary groups are kept when dropping privileges");
    Ok(())
}

/// What an accepted connection's task holds: its place under `max_connections` and in the
/// task count, both given back when the task ends, whichever way.
pub struct ConnGuards {
    _connection: GaugeGuard,
    _task: GaugeGuard,
}

/// Admits an accepted TCP connection, or refuses it (logged at a limited rate) when
/// `max_connections` are open. The caller closes a refused connection at once.
pub fn admit(
    ctx: &ServerCtx,
    refused: &mut crate::server::RateLimit,
    clock: Clock,
    peer: std::net::SocketAddr,
) -> Option<ConnGuards> {
    let max = ctx.config().max_connections;
    if ctx.connections.get() >= max {
        if refused.allow(clock.now_ms()) {
            log::warn!("refused {peer}: max_connections {max} reached");
        }
        return None;
    }
    Some(ConnGuards {
        _connection: ctx.connections.enter(),
        _task: ctx.tasks.enter(),
    })
}

fn reload(ctx: &ServerCtx, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        log::info!("SIGHUP: no config file (embedded defaults), nothing to reload");
        return;
    };
    match Config::load(path) {
        Ok(new) => {
            let old = ctx.config();
            let changes = old.diff(&new);
            log::set_max_level(new.log_level);
            ctx.hub.borrow_mut().set_max_streams(new.max_streams);
            ctx.set_config(new);
            crate::server::on_config(ctx);
            if changes.is_empty() {
                log::info!("SIGHUP: reloaded {}, nothing changed", path.display());
            } else {
                log::info!(
                    "SIGHUP: reloaded {}: {}",
                    path.display(),
                    changes.join("; ")
                );
            }
        }
        Err(e) => log::error!("SIGHUP: {e}; keeping the current config"),
    }
}

async fn sweep(ctx: ServerCtx, clock: Clock) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    loop {
        tick.tick().await;
        ctx.clients.sample(clock.now_ms());
        ctx.files.log_report(clock.now_ms());
        crate::server::sweep(&ctx, clock.now_ms());
        let grace = u64::from(ctx.config().grace_period_ms);
        let mut hub = ctx.hub.borrow_mut();
        hub.sweep(clock.now_ms(), grace);
        for (key, client, new, total) in hub.take_drop_reports() {
            log::warn!(
                "slow player: client {client} on {key} dropped {new} frames in the last \
                 second ({total} in all; queue limits)"
            );
        }
    }
}

/// The one consumer of the hub's events: woken by each, it logs them (debug) and hands them
/// to what follows them (on-demand GB28181 invites and RTSP ingests on Watched/Unwatched), so
/// a player's
/// arrival reaches a camera at once, not at the next sweep.
async fn hub_events(shared: Shared) {
    let hub = shared.ctx.hub.clone();
    let mut events = Vec::new();
    loop {
        std::future::poll_fn(|cx| hub.borrow_mut().poll_events(cx)).await;
        events.extend(std::iter::from_fn(|| hub.borrow_mut().poll_event()));
        for event in events.drain(..) {
            log::debug!("hub: {event:?}");
            #[cfg(all(feature = "hooks", feature = "dvr"))]
            if let crate::live::HubEvent::DvrClosed { key, path, .. } = &event {
                crate::server::hooks::on_dvr(&shared.ctx, key, path);
            }
            #[cfg(feature = "gb28181")]
            {
                let gb = shared.gb.borrow().clone();
                if let Some(gb) = gb {
                    gb28181::handle_hub_event(&gb, &shared, &event);
                }
            }
            #[cfg(feature = "rtsp")]
            rtsp::handle_hub_event(&shared, &event);
            #[cfg(feature = "forward")]
            forward::handle_hub_event(&shared, &event);
            #[cfg(feature = "edge")]
            edge::handle_hub_event(&shared, &event);
            #[cfg(feature = "exec")]
            exec::handle_hub_event(&shared, &event);
        }
    }
}

/// Merged write: waits `mw_latency_ms` for more media to gather before a player's next
/// write, but only until its queue is half full (see `PlayerQueue::poll_half_full`).
#[cfg(any(feature = "rtmp", feature = "http"))]
pub async fn merge_wait(queue: &std::cell::RefCell<crate::live::PlayerQueue>, mw_latency_ms: u64) {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(mw_latency_ms)) => {}
        _ = std::future::poll_fn(|cx| queue.borrow_mut().poll_half_full(cx)) => {}
    }
}

/// `answer`, unless the client is kicked through the API first (None): a connection's wait
/// for the hooks, an origin or the coworkers. Boxed, so a connection's task holds only the box
/// while it waits, not the wait's state.
#[cfg(all(
    any(feature = "rtmp", feature = "http"),
    any(feature = "hooks", feature = "edge")
))]
pub fn unless_kicked<F: std::future::Future + 'static>(
    record: &Rc<crate::server::stats::ClientRecord>,
    answer: F,
) -> std::pin::Pin<Box<impl std::future::Future<Output = Option<F::Output>>>> {
    let record = record.clone();
    Box::pin(async move {
        tokio::select! {
            answer = answer => Some(answer),
            _ = std::future::poll_fn(|cx| record.poll_kicked(cx)) => None,
        }
    })
}

/// Slices per `writev` call (Linux IOV_MAX is 1024).
const MAX_IOVECS: usize = 64;

/// Writes every buffer in `out` (and empties it), `MAX_IOVECS` slices per `writev`.
pub async fn write_all(stream: &mut TcpStream, out: &mut Vec<Bytes>) -> io::Result<()> {
    // What the socket takes now, then the rest as it becomes writable: one writev loop
    // (write_now's) for both.
    while !write_now(stream, out)? {
        stream.writable().await?;
    }
    Ok(())
}

/// Writes what the socket takes now, `MAX_IOVECS` slices per `writev`, without waiting, and
/// removes what went from `out`; true when all of it went. A player's batch mostly goes in
/// one call made this way, with no readiness future and no send timeout set up for it (each
/// costs more than the call's own bookkeeping); [`write_all`] writes what is left.
pub fn write_now(stream: &TcpStream, out: &mut Vec<Bytes>) -> io::Result<bool> {
    let mut first = 0;
    let all = loop {
        if first >= out.len() {
            break true;
        }
        let end = (first + MAX_IOVECS).min(out.len());
        let written = {
            let slices: heapless::Vec<IoSlice<'_>, MAX_IOVECS> =
                out[first..end].iter().map(|b| IoSlice::new(b)).collect();
            // Without a readiness event on record tokio answers WouldBlock without a syscall.
            stream.try_write_vectored(&slices)
        };
        match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => advance(out, &mut first, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
            Err(e) => return Err(e),
        }
    };
    match all {
        true => out.clear(),
        false => drop(out.drain(..first)),
    }
    Ok(all)
}

/// Moves `first` past the `n` bytes written from `out[first..]` (a buffer written in part
/// keeps its rest) and past empty buffers.
fn advance(out: &mut [Bytes], first: &mut usize, mut n: usize) {
    while n > 0 && *first < out.len() {
        let len = out[*first].len();
        if n >= len {
            n -= len;
            *first += 1;
        } else {
            out[*first].advance(n);
            n = 0;
        }
    }
    while *first < out.len() && out[*first].is_empty() {
        *first += 1;
    }
}

#[cfg(all(test, any(feature = "rtmp", feature = "http")))]
mod tests {
    use super::*;

    fn shared() -> Shared {
        let ctx = ServerCtx::new(Config::embedded(), crate::live::Hub::new(4));
        Shared {
            ctx,
            clock: Clock::new(),
            rng: Rc::new(Rng::from_time()),
            #[cfg(feature = "api")]
            api: Rc::new(crate::server::api::ApiSettings::new(0, 1)),
            #[cfg(feature = "gb28181")]
            gb: Rc::default(),
            #[cfg(feature = "http")]
            disk: disk::Disk::start().expect("disk thread").0,
            #[cfg(feature = "rtsp")]
            ingests: Rc::default(),
        }
    }

    /// Issue 16: a connection's task is allocated for the connection's whole life, so all it
    /// holds is RAM per player. Setup temporaries and another protocol's state stay out.
    #[test]
    fn connection_tasks_hold_only_what_they_need() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, async {
            let shared = shared();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut refused = crate::server::RateLimit::new();
            let mut accept = async || {
                let client = TcpStream::connect(addr).await.unwrap();
                let (stream, peer) = listener.accept().await.unwrap();
                let guards = admit(&shared.ctx, &mut refused, shared.clock, peer).unwrap();
                (client, stream, peer, guards)
            };
            #[cfg(feature = "rtmp")]
            {
                let (_client, stream, peer, guards) = accept().await;
                let task = rtmp::run(stream, peer, 1, &shared, guards);
                let size = std::mem::size_of_val(&task);
                println!("RTMP task {size} bytes");
                // 2,176 bytes with the HTTP hooks, 2,384 once the vhost settings grew (refer,
                // forward, hls_ctx, kickoff): the connection's Vhost is boxed since, 1,696.
                // Per player it stays far under issue 16's 8 KiB (4.2-5 KiB by ci/bench).
                assert!(size <= 1792, "RTMP task {size} bytes");
            }
            #[cfg(feature = "http")]
            {
                let (_client, stream, peer, guards) = accept().await;
                let task = http::run(
                    stream,
                    peer,
                    2,
                    &shared,
                    &crate::server::http::HTTP_SITE,
                    guards,
                );
                let size = std::mem::size_of_val(&task);
                println!("HTTP task {size} bytes");
                assert!(size <= 2048, "HTTP task {size} bytes");
            }
        });
    }
}
