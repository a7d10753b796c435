//! One virtual host's settings (SRS: `vhost NAME { ... }`) and their embedded defaults.

use super::security::Security;
pub use crate::live::jitter::TimeJitter;

/// Where HLS segments live (`hls.hls_storage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsStorage {
    /// In RAM: no flash wear; RAM bounded by window × bitrate.
    Ram,
    /// Files under `hls_path`, written to a temporary name and renamed.
    Disk,
}

impl HlsStorage {
    pub fn as_str(self) -> &'static str {
        match self {
            HlsStorage::Ram => "ram",
            HlsStorage::Disk => "disk",
        }
    }
}

/// HLS settings of a vhost (SRS: `hls { ... }`).
#[derive(Debug, Clone, PartialEq)]
pub struct Hls {
    /// `hls.enabled` (SRS: `hls.enabled`).
    pub enabled: bool,
    /// `hls.hls_fragment`, seconds (SRS: `hls_fragment`): a segment is cut at the first
    /// keyframe after this long (audio-only streams: at this long).
    pub fragment_ms: u32,
    /// `hls.hls_window`, seconds (SRS: `hls_window`): the playlist covers this long.
    /// RAM (ram storage): about (window + 3 fragments) of the stream's bitrate per stream.
    pub window_ms: u32,
    /// `hls.hls_max_bytes` (ours): RAM cap of one stream's segments (ram storage): the window,
    /// the extra segments and the one being written. A segment is cut at
    /// `hls_max_bytes / (hls_window / hls_fragment + 4)` bytes, keyframe or not, so a stream
    /// over the bitrate this allows gets shorter segments instead of more RAM.
    pub max_bytes: usize,
    /// `hls.hls_storage`: ram (default) or disk.
    pub storage: HlsStorage,
    /// `hls.hls_path` (SRS: `hls_path`): directory for disk storage.
    pub path: String,
    /// `hls.hls_cleanup` (SRS: `hls_cleanup`): delete segments that left the window (disk).
    pub cleanup: bool,
    /// `hls.hls_dispose`, seconds (SRS: `hls_dispose`): delete a stream's files this long
    /// after it stops publishing; 0 keeps them (disk).
    pub dispose_s: u32,
}

/// The settings of one vhost, every key resolved. Names in the config file are given beside each
/// field; the RAM each one costs at most is in the shipped `tinysrs.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vhost {
    /// Canonical name: [`super::DEFAULT_VHOST`] for the default vhost, otherwise the configured
    /// host name in ASCII lower case. Use it (not the client's spelling) as the registry key.
    pub name: String,
    /// `enabled` (SRS: `enabled`). A disabled vhost refuses its clients.
    pub enabled: bool,
    /// `min_latency` (SRS: `min_latency`): send each frame at once, no merged write.
    pub min_latency: bool,
    /// `tcp_nodelay` (SRS: `tcp_nodelay`): set `TCP_NODELAY` on player sockets.
    pub tcp_nodelay: bool,
    /// `play.gop_cache` (SRS: `play.gop_cache`): keep the last GOP so players start at once.
    pub gop_cache: bool,
    /// `play.gop_cache_max_frames` (SRS: `gop_cache_max_frames`).
    pub gop_cache_max_frames: usize,
    /// `play.gop_cache_max_bytes`: RAM cap of one stream's GOP cache.
    pub gop_cache_max_bytes: usize,
    /// `play.queue_length`, given in seconds (SRS: `play.queue_length`): per-player queue span.
    pub queue_length_ms: u32,
    /// `play.queue_max_bytes`: per-player queue RAM cap.
    pub queue_max_bytes: usize,
    /// `play.mw_latency` (SRS: `play.mw_latency`): merged-write window, 0..=10000 ms.
    pub mw_latency_ms: u32,
    /// `play.time_jitter` (SRS: `play.time_jitter`).
    pub time_jitter: TimeJitter,
    /// `publish.firstpkt_timeout` (SRS: `publish.firstpkt_timeout`): ms to wait for the
    /// publisher's first media packet.
    pub firstpkt_timeout_ms: u32,
    /// `publish.normal_timeout` (SRS: `publish.normal_timeout`): ms between media packets
    /// before the publisher is dropped.
    pub normal_timeout_ms: u32,
    /// `security` (SRS: `security`).
    pub security: Security,
    /// `http_remux.enabled` (SRS: `http_remux.enabled`): serve `.flv` and `.ts` live.
    pub http_remux: bool,
    /// `hls` (SRS: `hls`).
    pub hls: Hls,
}

impl Vhost {
    /// The embedded defaults under `name`. Every vhost, default or named, starts from these (as
    /// SRS does): a named vhost does not inherit what the file sets for the default vhost.
    pub(super) fn embedded(name: String) -> Vhost {
        Vhost {
            name,
            enabled: true,
            min_latency: false,
            tcp_nodelay: false,
            gop_cache: true,
            gop_cache_max_frames: 2500,
            gop_cache_max_bytes: 8 * 1024 * 1024,
            queue_length_ms: 10_000,
            queue_max_bytes: 4 * 1024 * 1024,
            mw_latency_ms: 350,
            time_jitter: TimeJitter::Full,
            firstpkt_timeout_ms: 20_000,
            normal_timeout_ms: 5_000,
            security: Security::default(),
            http_remux: cfg!(any(feature = "http-flv", feature = "http-ts")),
            hls: Hls {
                enabled: cfg!(feature = "hls"),
                fragment_ms: 2_000,
                window_ms: 10_000,
                max_bytes: 16 * 1024 * 1024,
                storage: HlsStorage::Ram,
                path: "./hls".to_owned(),
                cleanup: true,
                dispose_s: 120,
            },
        }
    }
}
