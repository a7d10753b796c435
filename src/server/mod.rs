//! Per-protocol glue between sessions and the live hub, and what connections share.
//! No I/O and no clock here: `net` drives these types and passes the time in.

#[cfg(feature = "api")]
pub mod api;
pub mod disk;
#[cfg(feature = "dvr")]
pub mod dvr;
#[cfg(feature = "edge")]
pub mod edge;
#[cfg(feature = "exec")]
pub mod exec;
#[cfg(feature = "http-flv")]
pub mod flv;
#[cfg(feature = "forward")]
pub mod forward;
#[cfg(feature = "gb28181")]
pub mod gb28181;
#[cfg(feature = "hooks")]
pub mod heartbeat;
#[cfg(feature = "hls")]
pub mod hls;
#[cfg(feature = "hls")]
pub mod hls_sessions;
#[cfg(feature = "hooks")]
pub mod hooks;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "edge")]
pub mod origin_cluster;
#[cfg(feature = "rtc")]
pub mod rtc;
#[cfg(feature = "rtmp")]
pub mod rtmp;
#[cfg(feature = "rtsp")]
pub mod rtsp;
#[cfg(feature = "rtsp")]
pub mod rtsp_server;
#[cfg(feature = "http")]
pub mod static_files;
pub mod stats;
#[cfg(feature = "mpegts")]
pub mod ts;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::config::{Config, Vhost};
use crate::live::{Hub, Source, SourceSettings};
use stats::{Clients, CpuShare, Gauge};

/// Queue items written to a player in one batch at most (one `writev` series).
pub const MAX_BATCH_ITEMS: usize = 256;

/// Frame cost taken from a player's queue per batch (see `Frame::cost`). RAM: while a
/// player is blocked in a write it holds this much (plus one frame) beyond its queue cap.
pub const MAX_BATCH_BYTES: usize = 512 * 1024;

/// What every connection shares: the config in force, the hub, the client registry and the
/// live counts.
#[derive(Clone)]
pub struct ServerCtx {
    config: Rc<RefCell<Rc<Config>>>,
    pub hub: Rc<RefCell<Hub>>,
    pub clients: Rc<Clients>,
    /// Accepted TCP connections open now (RTMP, HTTP, GB28181 SIP and media): what
    /// `max_connections` limits.
    pub connections: Gauge,
    /// Tasks spawned per connection or media session and still running (a connection's
    /// driver, a SIP connection's writer, a UDP media port's reader).
    pub tasks: Gauge,
    /// File work for the disk thread (HLS on disk, DVR), with its drop and failure counts.
    pub files: disk::Files,
    /// Our CPU share over the last second (`/api/v1/summaries`), sampled by the sweep.
    pub cpu: Rc<CpuShare>,
    #[cfg(feature = "hls")]
    pub hls: hls::HlsRegistry,
    /// Since when each RTMP-published stream has had no viewer (`rtmp::kickoff`).
    #[cfg(feature = "rtmp")]
    pub idle_publishers: Rc<RefCell<rtmp::kickoff::IdleSince>>,
    /// HLS players with an `hls_ctx` (`hls_sessions`).
    #[cfg(feature = "hls")]
    pub hls_sessions: Rc<hls_sessions::HlsSessions>,
    /// Every stream's recorder and the recordings of this process.
    #[cfg(feature = "dvr")]
    pub dvr: dvr::Dvr,
    /// The HTTP callbacks' client and identity.
    #[cfg(feature = "hooks")]
    pub hooks: hooks::Hooks,
    /// The forwarders of every published stream.
    #[cfg(feature = "forward")]
    pub forwards: forward::Forwards,
    /// The child processes (ingest commands, transcode, exec).
    #[cfg(feature = "exec")]
    pub children: Rc<exec::Children>,
    /// The edge's pulls from its origins.
    #[cfg(feature = "edge")]
    pub edges: Rc<edge::Edges>,
    /// Failed API logins per address (`api::logins`).
    #[cfg(feature = "api")]
    pub logins: Rc<RefCell<api::logins::Logins>>,
    /// Every `[[ingest]]`'s state, written by its driver, read by `/api/v1/ingests`.
    #[cfg(feature = "rtsp")]
    pub ingests: Rc<rtsp::IngestTable>,
    /// The GB28181 devices online and their channels by state, and the media sessions,
    /// as the driver's tick last counted them (`/metrics`).
    #[cfg(feature = "gb28181")]
    pub gb_census: Rc<std::cell::Cell<(crate::session::gb28181::Census, usize)>>,
    /// `/metrics` scrapes being answered (at most `metrics::MAX_SCRAPES`).
    #[cfg(feature = "metrics")]
    pub scrapes: Gauge,
    /// The WebRTC sessions (WHEP players) and the UDP port's output (`net::rtc` drives it).
    #[cfg(feature = "rtc")]
    pub rtc: Rc<RefCell<rtc::RtcServer>>,
}

impl ServerCtx {
    pub fn new(config: Config, hub: Hub) -> ServerCtx {
        ServerCtx {
            config: Rc::new(RefCell::new(Rc::new(config))),
            hub: Rc::new(RefCell::new(hub)),
            clients: Rc::new(Clients::default()),
            connections: Gauge::default(),
            tasks: Gauge::default(),
            files: disk::Files::new(Rc::new(disk::NoDisk)),
            cpu: Rc::default(),
            #[cfg(feature = "gb28181")]
            gb_census: Rc::default(),
            #[cfg(feature = "hls")]
            hls: Rc::default(),
            #[cfg(feature = "hls")]
            hls_sessions: Rc::default(),
            #[cfg(feature = "rtmp")]
            idle_publishers: Rc::default(),
            #[cfg(feature = "dvr")]
            dvr: dvr::Dvr::default(),
            #[cfg(feature = "hooks")]
            hooks: hooks::Hooks::default(),
            #[cfg(feature = "forward")]
            forwards: forward::Forwards::default(),
            #[cfg(feature = "exec")]
            children: Rc::default(),
            #[cfg(feature = "edge")]
            edges: Rc::default(),
            #[cfg(feature = "api")]
            logins: Rc::default(),
            #[cfg(feature = "rtsp")]
            ingests: Rc::default(),
            #[cfg(feature = "metrics")]
            scrapes: Gauge::default(),
            #[cfg(feature = "rtc")]
            rtc: Rc::default(),
        }
    }

    /// Sends file work to `sink` (the disk thread) instead of dropping it all.
    pub fn with_file_sink(mut self, sink: Rc<dyn disk::FileSink>) -> ServerCtx {
        self.files = disk::Files::new(sink);
        self
    }

    /// The config in force now. A session keeps the one it started with where it matters
    /// (its vhost), so a reload applies to new sessions.
    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    /// Replaces the config (SIGHUP reload).
    pub fn set_config(&self, config: Config) {
        *self.config.borrow_mut() = Rc::new(config);
    }
}

/// A Source's settings from its vhost (taken at publish or first play).
pub fn source_settings(vhost: &Vhost) -> SourceSettings {
    SourceSettings {
        gop_cache: vhost.gop_cache,
        gop_max_frames: vhost.gop_cache_max_frames,
        gop_max_bytes: vhost.gop_cache_max_bytes,
        time_jitter: vhost.time_jitter,
    }
}

type PublishHook = fn(&ServerCtx, &Rc<RefCell<Source>>, &Vhost);

/// The outputs a publish may attach, each compiled in with its feature (HLS, DVR, forward),
/// called in order by [`on_publish`].
const PUBLISH_HOOKS: &[PublishHook] = &[
    #[cfg(feature = "hls")]
    hls::on_publish,
    #[cfg(feature = "dvr")]
    dvr::on_publish,
    #[cfg(feature = "forward")]
    forward::on_publish,
];

/// Work each output does once a second (see [`sweep`]), compiled in with its feature.
const SWEEPS: &[fn(&ServerCtx, u64)] = &[
    #[cfg(feature = "hls")]
    hls::sweep,
    #[cfg(feature = "hls")]
    hls_sessions::sweep,
    #[cfg(feature = "rtmp")]
    rtmp::kickoff::sweep,
    #[cfg(feature = "api")]
    api::sweep,
    #[cfg(feature = "dvr")]
    dvr::sweep,
    #[cfg(all(feature = "hooks", feature = "hls"))]
    hooks::sweep,
];

/// What each output does with the config in force, at start and after each reload (see
/// [`on_config`]), compiled in with its feature.
const CONFIG_HOOKS: &[fn(&ServerCtx)] = &[
    #[cfg(feature = "dvr")]
    dvr::on_config,
    #[cfg(feature = "exec")]
    exec::on_config,
];

/// What each output does when the server stops (DVR ends its files), compiled in with its
/// feature: true while it still waits for the disk.
const STOP_HOOKS: &[fn(&ServerCtx) -> bool] = &[
    #[cfg(feature = "dvr")]
    dvr::stop_all,
];

/// The server is stopping: the outputs finish their files. True while some still wait for
/// the disk; the driver calls it again until false or it stops waiting.
pub fn stop_outputs(ctx: &ServerCtx) -> bool {
    STOP_HOOKS.iter().fold(false, |busy, hook| hook(ctx) | busy)
}

/// At start (before the listeners accept) and after each reload: the outputs take the config
/// in force.
pub fn on_config(ctx: &ServerCtx) {
    for hook in CONFIG_HOOKS {
        hook(ctx);
    }
}

/// What every ingest (RTMP, GB28181) calls once a publish is accepted: attaches the outputs the
/// vhost asks for.
pub fn on_publish(ctx: &ServerCtx, source: &Rc<RefCell<Source>>, vhost: &Vhost) {
    for hook in PUBLISH_HOOKS {
        hook(ctx, source, vhost);
    }
}

/// Once a second, from the driver's sweep: the outputs' housekeeping.
pub fn sweep(ctx: &ServerCtx, now_ms: u64) {
    for sweep in SWEEPS {
        sweep(ctx, now_ms);
    }
}

/// A connection's log context: SRS's short traceable id, printed on each of its lines, and a
/// rate limit for lines the peer can provoke.
pub struct ConnLog {
    pub cid: heapless::String<8>,
    pub limit: RateLimit,
}

impl ConnLog {
    /// The context id is 8 base-36 characters taken from `seed`.
    pub fn new(seed: u64) -> ConnLog {
        const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut cid = heapless::String::new();
        let mut v = seed;
        for _ in 0..8 {
            let _ = cid.write_char(char::from(DIGITS[(v % 36) as usize]));
            v /= 36;
        }
        ConnLog {
            cid,
            limit: RateLimit::new(),
        }
    }
}

/// At most `RateLimit::BURST` lines per `RateLimit::WINDOW_MS` for one connection.
#[derive(Debug)]
pub struct RateLimit {
    window_start_ms: u64,
    count: u32,
}

impl RateLimit {
    pub const BURST: u32 = 5;
    pub const WINDOW_MS: u64 = 10_000;

    pub fn new() -> RateLimit {
        RateLimit {
            window_start_ms: 0,
            count: 0,
        }
    }

    pub fn allow(&mut self, now_ms: u64) -> bool {
        if self.count == 0 || now_ms.saturating_sub(self.window_start_ms) >= Self::WINDOW_MS {
            self.window_start_ms = now_ms;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= Self::BURST
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_ids_are_eight_base36_chars() {
        let a = ConnLog::new(0x1234_5678_9abc);
        assert_eq!(a.cid.len(), 8);
        assert!(a.cid.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.cid, ConnLog::new(0x1234_5678_9abd).cid);
    }

    #[test]
    fn rate_limit_allows_a_burst_per_window() {
        let mut r = RateLimit::new();
        let allowed = (0..20).filter(|_| r.allow(1_000)).count();
        assert_eq!(allowed as u32, RateLimit::BURST);
        assert!(!r.allow(10_999));
        assert!(r.allow(11_000));
    }
}
