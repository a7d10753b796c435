//! One virtual host's settings (SRS: `vhost NAME { ... }`) and their embedded defaults, each key
//! defined once (see `section`); the RAM each one costs at most is in the shipped `tinysrs.toml`.

use super::cluster::Cluster;
use super::dvr::Dvr;
use super::exec::{Exec, Transcode};
use super::forward::Forward;
use super::hooks::HttpHooks;
use super::refer::Refer;
use super::schema::{Bytes, Int, Keyword, QueueLength, Seconds, Timeout};
use super::section::{compiled_in, no_hook, Section};
use super::security::Security;
pub use crate::live::jitter::TimeJitter;

keywords! {
    /// Where HLS segments live (`hls.hls_storage`).
    pub enum HlsStorage {
        /// In RAM: no flash wear; RAM bounded by window × bitrate.
        Ram = "ram",
        /// Files under `hls_path`, written to a temporary name and renamed.
        Disk = "disk",
    }
}

/// Milliseconds as the file writes them, in seconds: `10`, `0.5`, `0.125`.
pub(super) fn seconds(ms: &u32) -> String {
    let ms = *ms;
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        let fraction = format!("{:03}", ms % 1000);
        format!("{}.{}", ms / 1000, fraction.trim_end_matches('0'))
    }
}

section! {
    /// HLS settings of a vhost (SRS: `hls { ... }`).
    pub struct Hls: RawHls, "a table of HLS settings" {
        /// `hls.enabled` (SRS: `hls.enabled`).
        @check(compiled_in(cfg!(feature = "hls"), "hls"))
        enabled: bool = cfg!(feature = "hls") => enabled: toml::Spanned<bool>;
        /// `hls.hls_fragment`, seconds (SRS: `hls_fragment`): a segment is cut at the first
        /// keyframe after this long (audio-only streams: within a second of it); a target, so
        /// a longer GOP makes segments as long as the GOP.
        @show(seconds)
        fragment_ms: u32 = 2_000 => hls_fragment: Seconds;
        /// `hls.hls_window`, seconds (SRS: `hls_window`): the playlist covers this long.
        /// RAM (ram storage): about (window + 3 segments) of the stream's bitrate per stream, a
        /// segment being a fragment or the GOP if longer.
        @show(seconds)
        window_ms: u32 = 10_000 => hls_window: Seconds;
        /// `hls.hls_max_bytes` (ours): RAM cap of one stream's segments (ram storage): the
        /// window, the extra segments and the one being written. A segment is cut at
        /// `hls_max_bytes / (hls_window / hls_fragment + 4)` bytes, keyframe or not, so a stream
        /// over the bitrate this allows gets shorter segments instead of more RAM (the next
        /// segment starts with PAT/PMT but no keyframe, see `server::hls`).
        max_bytes: usize = 16 * 1024 * 1024 => hls_max_bytes: Int<65_536, 4_294_967_295>;
        /// `hls.hls_storage`: ram (default) or disk.
        storage: HlsStorage = HlsStorage::Ram => hls_storage: Keyword<HlsStorage>;
        /// `hls.hls_path` (SRS: `hls_path`): directory for disk storage.
        path: String = "./hls".to_owned() => hls_path: String;
        /// `hls.hls_cleanup` (SRS: `hls_cleanup`): delete segments that left the window (disk).
        cleanup: bool = true => hls_cleanup: bool;
        /// `hls.hls_dispose`, seconds (SRS: `hls_dispose`): delete a stream's files this long
        /// after it stops publishing; 0 keeps them (disk).
        dispose_s: u32 = 120 => hls_dispose: Int<0, 86_400>;
        /// `hls.hls_ctx` (SRS: `hls_ctx`): each HLS player is a session (`hls-play` in the
        /// API, `on_play`/`on_stop`), identified by an `hls_ctx` query parameter that a first
        /// playlist request gets through a master playlist. Off by default (SRS 5: on): with it
        /// a caching proxy misses on every player. RAM: `tinysrs -t`'s "HLS sessions" line.
        ctx: bool = false => hls_ctx: bool;
        /// `hls.hls_ts_ctx` (SRS: `hls_ts_ctx`): with `hls_ctx`, segment URLs carry the session
        /// too, so that their bytes count as the player's.
        ts_ctx: bool = true => hls_ts_ctx: bool;
        /// `hls.hls_nb_notify` (SRS: `hls_nb_notify`, default 64): bytes of an
        /// `on_hls_notify` answer's body read before the connection is closed.
        nb_notify: usize = 64 => hls_nb_notify: Int<1, 65_536>;
    }
    nested {}
    extra {}
    raw no_hook {}
}

section! {
    /// The settings of one vhost, every key resolved. Names in the config file are given beside
    /// each field; the RAM each one costs at most is in the shipped `tinysrs.toml`.
    pub struct Vhost: RawVhost, "a table of vhost settings" {
        /// `enabled` (SRS: `enabled`). A disabled vhost refuses its clients.
        enabled: bool = true => enabled: bool;
        /// `min_latency` (SRS: `min_latency`): send each frame at once, no merged write.
        min_latency: bool = false => min_latency: bool;
        /// `tcp_nodelay` (SRS: `tcp_nodelay`): set `TCP_NODELAY` on player sockets.
        tcp_nodelay: bool = false => tcp_nodelay: bool;
    }
    table play: RawPlay, "a table of play settings" {
        /// `play.gop_cache` (SRS: `play.gop_cache`): keep the last GOP so players start at once.
        gop_cache: bool = true => gop_cache: bool;
        /// `play.gop_cache_max_frames` (SRS: `gop_cache_max_frames`).
        gop_cache_max_frames: usize = 2500 => gop_cache_max_frames: Int<1, 1_000_000>;
        /// `play.gop_cache_max_bytes`: RAM cap of one stream's GOP cache.
        gop_cache_max_bytes: usize = 8 * 1024 * 1024 => gop_cache_max_bytes: Bytes;
        /// `play.queue_length`, given in seconds (SRS: `play.queue_length`): per-player queue
        /// span.
        @show(seconds)
        queue_length_ms: u32 = 10_000 => queue_length: QueueLength;
        /// `play.queue_max_bytes`: per-player queue RAM cap.
        queue_max_bytes: usize = 4 * 1024 * 1024 => queue_max_bytes: Bytes;
        /// `play.mw_latency` (SRS: `play.mw_latency`): merged-write window, 0..=10000 ms.
        mw_latency_ms: u32 = 350 => mw_latency: Int<0, 10_000>;
        /// `play.time_jitter` (SRS: `play.time_jitter`).
        time_jitter: TimeJitter = TimeJitter::Full => time_jitter: Keyword<TimeJitter>;
    }
    table publish: RawPublish, "a table of publish settings" {
        /// `publish.firstpkt_timeout` (SRS: `publish.firstpkt_timeout`): ms to wait for the
        /// publisher's first media packet.
        firstpkt_timeout_ms: u32 = 20_000 => firstpkt_timeout: Timeout;
        /// `publish.normal_timeout` (SRS: `publish.normal_timeout`): ms between media packets
        /// before the publisher is dropped.
        normal_timeout_ms: u32 = 5_000 => normal_timeout: Timeout;
        /// `publish.mr` (SRS: `publish.mr`): merged read. A publisher's socket is read once
        /// 16 KiB have arrived or `mr_latency` has passed, not on every packet: fewer reads
        /// and wake-ups, up to `mr_latency` more latency. Off with `min_latency`.
        mr: bool = false => mr: bool;
        /// `publish.mr_latency` (SRS: `publish.mr_latency`): the longest a publisher's bytes
        /// wait in the kernel with `mr`, 1..=10000 ms (rounded up to 50 ms).
        mr_latency_ms: u32 = 350 => mr_latency: Int<1, 10_000>;
        /// `publish.kickoff_for_idle`, seconds (SRS 5: `publish.kickoff_for_idle`): an RTMP
        /// publisher whose stream has had no viewer for this long is disconnected; 0 never.
        kickoff_for_idle_s: u32 = 0 => kickoff_for_idle: Int<0, 86_400>;
    }
    table http_remux: RawHttpRemux, "a table of HTTP remux settings" {
        /// `http_remux.enabled` (SRS: `http_remux.enabled`): serve `.flv` and `.ts` live.
        @check(compiled_in(
            cfg!(any(feature = "http-flv", feature = "http-ts")),
            "http-flv or http-ts",
        ))
        http_remux: bool = cfg!(any(feature = "http-flv", feature = "http-ts"))
            => enabled: toml::Spanned<bool>;
    }
    nested {
        /// `security` (SRS: `security`).
        security: Security => security;
        /// `refer` (SRS: `refer`): which pages may embed players and publishers.
        refer: Refer => refer;
        /// `hls` (SRS: `hls`).
        hls: Hls => hls;
        /// `dvr` (SRS: `dvr`): recording.
        dvr: Dvr => dvr;
        /// `http_hooks` (SRS: `http_hooks`): HTTP callbacks.
        http_hooks: HttpHooks => http_hooks;
        /// `forward` (SRS: `forward`): publish every stream again to other servers.
        forward: Forward => forward;
        /// `cluster` (SRS: `cluster`): an edge of other servers.
        cluster: Cluster => cluster;
        /// `exec` (SRS: `exec`): a command run while each stream is published.
        exec: Exec => exec;
        /// `transcode` (SRS: `transcode`): ffmpeg publishes each stream again, transcoded.
        transcode: Transcode => transcode;
    }
    extra {
        /// Canonical name: [`super::DEFAULT_VHOST`] for the default vhost, otherwise the
        /// configured host name in ASCII lower case. Use it (not the client's spelling) as the
        /// registry key.
        pub name: String = String::new();
    }
    raw no_hook {}
}

impl Vhost {
    /// The embedded defaults under `name`. Every vhost, default or named, starts from these (as
    /// SRS does): a named vhost does not inherit what the file sets for the default vhost.
    pub(super) fn embedded(name: String) -> Vhost {
        Vhost {
            name,
            ..Vhost::defaults()
        }
    }
}
