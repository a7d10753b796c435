//! Every cap on what peers can make the server hold, gathered in one place with the RAM each
//! allows at worst. The caps themselves live beside the code that enforces them (a named
//! constant or a config key); [`Limits::of`] collects them for a loaded config and
//! [`Limits::budget`] turns them into the worst-case memory that `tinysrs -t` prints.
//!
//! "Worst case" means every connection, stream and queue filled to its cap at the same time by
//! hostile or broken peers; a real box runs far below it (see the measured figures in the
//! shipped config). Kernel socket buffers are not our heap and are listed apart.
//!
//! What a protocol adds (its connections, buffers, largest frame, lines of its own) is a
//! [`Term`] from its file under `limits/`, compiled in with its feature: a build without a
//! protocol has no term for it, not a term of zeros.

use std::fmt;

use crate::config::{Config, HlsStorage};
use crate::media::FRAME_OVERHEAD;

// Each protocol's terms, compiled in with its feature.
#[cfg(feature = "dvr")]
mod dvr;
#[cfg(feature = "edge")]
mod edge;
#[cfg(feature = "exec")]
mod exec;
#[cfg(feature = "forward")]
mod forward;
#[cfg(feature = "gb28181")]
mod gb28181;
#[cfg(feature = "hls")]
mod hls;
#[cfg(feature = "hooks")]
mod hooks;
#[cfg(feature = "http")]
mod http;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "rtc")]
mod rtc;
#[cfg(feature = "rtmp")]
mod rtmp;
#[cfg(feature = "rtsp")]
mod rtsp;
#[cfg(feature = "rtsp")]
mod rtsp_server;
#[cfg(feature = "tls")]
mod tls;

/// The terms of every compiled-in protocol, in the order the budget lists them.
const PROTOCOLS: &[fn(&Config) -> Option<Term>] = &[
    #[cfg(feature = "rtmp")]
    rtmp::term,
    #[cfg(feature = "http")]
    http::term,
    #[cfg(feature = "gb28181")]
    gb28181::term,
    #[cfg(feature = "rtsp")]
    rtsp::term,
    #[cfg(feature = "rtsp")]
    rtsp_server::term,
];

/// Lines that need the whole of [`Limits`] (the largest frame of every ingest, say), made once
/// the terms are known; each compiled in with its feature.
const LATE_LINES: &[fn(&Config, &Limits) -> Option<BudgetLine>] = &[
    #[cfg(feature = "hls")]
    hls::disk_line,
    #[cfg(feature = "hls")]
    hls::sessions_line,
    #[cfg(feature = "dvr")]
    dvr::line,
    #[cfg(feature = "hooks")]
    hooks::line,
    #[cfg(feature = "forward")]
    forward::line,
    #[cfg(feature = "edge")]
    edge::line,
    #[cfg(feature = "edge")]
    edge::origin_cluster_line,
    #[cfg(feature = "exec")]
    exec::line,
    #[cfg(feature = "metrics")]
    metrics::line,
    #[cfg(feature = "rtsp")]
    rtsp_server::packets_line,
    #[cfg(feature = "rtc")]
    rtc::line,
    #[cfg(feature = "tls")]
    tls::line,
];

/// What one compiled-in protocol adds to the worst case (its module under `limits/` says
/// where each figure comes from). A protocol that is compiled out has no term at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The protocol, as the budget names it.
    pub protocol: &'static str,
    /// One of its connections at worst, counted under `max_connections` (0: it has none).
    pub connection_bytes: usize,
    /// What makes up `connection_bytes`, in the connections line.
    pub connection_parts: String,
    /// Buffers shared by all its connections, counted once (one read buffer per thread).
    pub shared_bytes: usize,
    /// Partly received input one publishing connection may hold (0: none).
    pub publisher_pending_bytes: usize,
    /// The largest frame it can put into a Source.
    pub frame_bytes: usize,
    /// Kernel send buffer per connection (`SO_SNDBUF`); kernel memory, not in the total.
    pub send_buffer_bytes: usize,
    /// Lines of its own, after the shared ones.
    pub lines: Vec<BudgetLine>,
}

/// All the caps in force for one config. Each field's doc gives its source and the RAM it
/// allows at worst; what a protocol adds is in its [`Term`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `max_connections`: TCP connections at once (RTMP, HTTP, GB28181 SIP and media); the
    /// excess is closed at accept. RAM: `connections × max(per connection of each protocol)`.
    pub connections: usize,
    /// `max_streams`: Sources alive at once (publishers, and streams players wait for).
    /// RAM: `streams × (Source + frames held for it + HLS segments)`.
    pub streams: usize,
    /// Players of one stream: each is a connection, so `max_connections − 1`. The frames
    /// players hold are shared with the Source (counted per stream); per player only its
    /// queue slots, `queue_bytes / FRAME_OVERHEAD × 16` bytes.
    pub players_per_stream: usize,
    /// The largest frame any compiled-in ingest accepts (an RTMP message,
    /// `rtmp.max_message_bytes`; a GB28181 access unit, `gb28181.max_frame_bytes`).
    pub message_bytes: usize,
    /// Partly received messages per publishing connection, the most of any protocol
    /// (`rtmp.max_pending_bytes`). RAM: `min(streams, connections) × publisher_pending_bytes`.
    pub publisher_pending_bytes: usize,
    /// Read buffers shared by every connection of a protocol, counted once.
    pub read_bytes: usize,
    /// GOP cache of one stream, the largest of the vhosts (`play.gop_cache_max_bytes`, 0
    /// where `gop_cache` is off). Counted in frame costs (payload + one encoding + overhead).
    pub gop_cache_bytes: usize,
    /// One player's queue, the largest of the vhosts (`play.queue_max_bytes`), in frame costs.
    pub queue_bytes: usize,
    /// One player's queue in time, the longest of the vhosts (`play.queue_length`).
    pub queue_ms: u32,
    /// HLS segments kept in RAM for one stream at worst, the largest of the vhosts with HLS on
    /// and `hls_storage = "ram"`: `hls.hls_max_bytes` plus the TS packets of one frame (the
    /// oldest segments are dropped past the cap, after the frame that crossed it is added).
    /// 0 where HLS is off, which it is in a build without it (the config refuses it).
    pub hls_bytes: usize,
    /// Kernel send buffer per connection, the largest of the protocols; kernel memory, not
    /// counted in the total.
    pub send_buffer_bytes: usize,
    /// What each compiled-in protocol adds, in budget order.
    pub terms: Vec<Term>,
    /// The [`LATE_LINES`] that apply to this config.
    pub late_lines: Vec<BudgetLine>,
}

/// One line of the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetLine {
    pub what: &'static str,
    /// How the figure is made, in the config's terms.
    pub formula: String,
    pub bytes: u64,
}

/// Worst-case memory, line by line; `total` is their sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub lines: Vec<BudgetLine>,
    pub total: u64,
    /// Kernel socket buffers, apart.
    pub kernel_bytes: u64,
}

/// A Source's own state without frames (its maps, settings, stats), rounded up.
pub const SOURCE_BYTES: usize = 1024;
/// A connection's own state beyond its buffers (session, task, registry entry), rounded up.
pub const CONNECTION_BYTES: usize = 4096;
/// One queue slot (a `QueueItem`).
const QUEUE_SLOT_BYTES: usize = 16;

impl Limits {
    pub fn of(config: &Config) -> Limits {
        let terms: Vec<Term> = PROTOCOLS.iter().filter_map(|term| term(config)).collect();
        let most = |f: fn(&Term) -> usize| terms.iter().map(f).max().unwrap_or(0);
        let message_bytes = most(|t| t.frame_bytes);
        let vhosts = || config.vhosts().filter(|v| v.enabled);
        let gop_cache_bytes = vhosts()
            .map(|v| {
                if v.gop_cache {
                    v.gop_cache_max_bytes
                } else {
                    0
                }
            })
            .max()
            .unwrap_or(0);
        let queue_bytes = vhosts().map(|v| v.queue_max_bytes).max().unwrap_or(0);
        let queue_ms = vhosts().map(|v| v.queue_length_ms).max().unwrap_or(0);
        let hls_bytes = vhosts()
            .filter(|v| v.hls.enabled && v.hls.storage == HlsStorage::Ram)
            .map(|v| hls_ram(v, message_bytes))
            .max()
            .unwrap_or(0);
        let mut limits = Limits {
            connections: config.max_connections,
            streams: config.max_streams,
            players_per_stream: config.max_connections.saturating_sub(1),
            message_bytes,
            publisher_pending_bytes: most(|t| t.publisher_pending_bytes),
            read_bytes: terms.iter().map(|t| t.shared_bytes).sum(),
            gop_cache_bytes,
            queue_bytes,
            queue_ms,
            hls_bytes,
            send_buffer_bytes: most(|t| t.send_buffer_bytes),
            terms,
            late_lines: Vec::new(),
        };
        let late = LATE_LINES.iter().filter_map(|line| line(config, &limits));
        limits.late_lines = late.collect();
        limits
    }

    /// Queue slots of one player at worst: every frame costs at least `FRAME_OVERHEAD`.
    pub fn queue_slot_bytes(&self) -> usize {
        self.queue_bytes / FRAME_OVERHEAD * QUEUE_SLOT_BYTES
    }

    /// Frames held for one stream at worst. The GOP cache and every player queue hold a
    /// suffix of the same frame sequence, so together they hold the longest of them. A
    /// frame's cost counts all it holds: its payload, its MPEG-TS packets when a TS output
    /// built them, and its small shared encodings (RTMP chunk headers, FLV framing) in
    /// `FRAME_OVERHEAD`; RTMP and FLV players send slices of the payload itself.
    pub fn stream_frame_bytes(&self) -> usize {
        self.gop_cache_bytes.max(self.queue_bytes)
    }

    /// The connections line: the costliest protocol's connection plus its player's queue
    /// slots, for every connection, plus the shared read buffers once.
    fn connections_line(&self) -> BudgetLine {
        let per_connection = self
            .terms
            .iter()
            .map(|t| t.connection_bytes)
            .max()
            .unwrap_or(0)
            .saturating_add(self.queue_slot_bytes());
        // "(parts of the first protocol, queue slots; parts of each other protocol)".
        let mut parts = self
            .terms
            .iter()
            .filter(|t| t.connection_bytes > 0)
            .map(|t| t.connection_parts.as_str());
        let mut detail = String::new();
        if let Some(first) = parts.next() {
            detail.push_str(first);
            detail.push_str(", ");
        }
        detail.push_str(&format!("queue slots {}", kib(self.queue_slot_bytes())));
        for part in parts {
            detail.push_str("; ");
            detail.push_str(part);
        }
        let mut formula = format!(
            "max_connections {} x {} ({detail})",
            self.connections,
            kib(per_connection),
        );
        if self.read_bytes > 0 {
            formula.push_str(&format!(
                " + one shared read buffer {}",
                kib(self.read_bytes)
            ));
        }
        BudgetLine {
            what: "connections",
            formula,
            bytes: (self.connections as u64)
                .saturating_mul(per_connection as u64)
                .saturating_add(self.read_bytes as u64),
        }
    }

    pub fn budget(&self) -> Budget {
        let publishers = self.streams.min(self.connections);
        let per_stream = SOURCE_BYTES
            .saturating_add(self.stream_frame_bytes())
            .saturating_add(self.hls_bytes);
        let mul = |n: usize, each: usize| (n as u64).saturating_mul(each as u64);
        let mut lines = vec![self.connections_line()];
        if self.publisher_pending_bytes > 0 {
            lines.push(BudgetLine {
                what: "publishers",
                formula: format!(
                    "min(max_streams, max_connections) {publishers} x {} partly received \
                     messages (rtmp.max_pending_bytes; largest frame {})",
                    kib(self.publisher_pending_bytes),
                    kib(self.message_bytes),
                ),
                bytes: mul(publishers, self.publisher_pending_bytes),
            });
        }
        lines.push(BudgetLine {
            what: "streams",
            formula: format!(
                "max_streams {} x {} (Source {}, frames max(gop_cache_max_bytes {}, \
                 queue_max_bytes {}), HLS in RAM {})",
                self.streams,
                kib(per_stream),
                kib(SOURCE_BYTES),
                kib(self.gop_cache_bytes),
                kib(self.queue_bytes),
                kib(self.hls_bytes),
            ),
            bytes: mul(self.streams, per_stream),
        });
        lines.extend(self.terms.iter().flat_map(|t| t.lines.iter().cloned()));
        lines.extend(self.late_lines.iter().cloned());
        let total = lines.iter().fold(0u64, |t, l| t.saturating_add(l.bytes));
        Budget {
            lines,
            total,
            kernel_bytes: mul(self.connections, self.send_buffer_bytes),
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "worst-case memory these limits allow (all caps full at once):"
        )?;
        for l in &self.lines {
            writeln!(f, "  {:<12} {:>12}  {}", l.what, mib(l.bytes), l.formula)?;
        }
        writeln!(f, "  {:<12} {:>12}", "total", mib(self.total))?;
        write!(
            f,
            "  {:<12} {:>12}  socket send buffers (kernel memory, not in the total)",
            "kernel",
            mib(self.kernel_bytes)
        )
    }
}

fn kib(bytes: usize) -> String {
    kib64(bytes as u64)
}

/// [`kib`] of a figure kept in u64 (a product of config values passes 4 GiB on a 32-bit
/// target).
fn kib64(bytes: u64) -> String {
    format!("{} KiB", bytes.div_ceil(1024))
}

fn mib(bytes: u64) -> String {
    // Not `{:.1}` of an f64: std's float formatting is about 18 KB of the router binary.
    format!(
        "{} MiB",
        crate::wire::decimal::ratio_text(bytes, 1024 * 1024, 1)
    )
}

/// HLS segments in RAM for one stream of `vhost` at worst: the cap plus one frame of up to
/// `frame` bytes in TS packets (an eighth more than the frame, for PES and TS headers, AUD and
/// parameter sets).
fn hls_ram(vhost: &crate::config::Vhost, frame: usize) -> usize {
    // Saturating: hls_max_bytes goes up to 4 GiB - 1, usize::MAX on a 32-bit target.
    vhost
        .hls
        .max_bytes
        .saturating_add(frame)
        .saturating_add(frame / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each compiled-in protocol adds its term (GB28181 only when the config turns it on,
    /// which the embedded defaults do where it is compiled in); a compiled-out one adds none.
    #[test]
    fn terms_are_the_compiled_in_protocols() {
        let l = Limits::of(&Config::embedded());
        let has = |p| l.terms.iter().any(|t| t.protocol == p);
        assert_eq!(has("RTMP"), cfg!(feature = "rtmp"));
        assert_eq!(has("HTTP"), cfg!(feature = "http"));
        assert_eq!(has("gb28181"), cfg!(feature = "gb28181"));
        let b = l.budget();
        assert_eq!(
            b.lines.iter().any(|x| x.what == "publishers"),
            cfg!(feature = "rtmp")
        );
    }

    /// RTMP's lines (publishers, the shared read buffer) need RTMP compiled in.
    #[cfg(feature = "rtmp")]
    #[test]
    fn budget_follows_the_config() {
        let text = |connections| {
            format!(
                "max_connections = {connections}\nmax_streams = 2\n\
                 [vhost.__defaultVhost__.play]\ngop_cache_max_bytes = 1048576\n\
                 queue_max_bytes = 524288\n[vhost.__defaultVhost__.hls]\nenabled = false\n\
                 [gb28181]\nenabled = false\n"
            )
        };
        let small = Config::from_toml_str(&text(10), "test").unwrap();
        let l = Limits::of(&small);
        assert_eq!((l.connections, l.streams, l.players_per_stream), (10, 2, 9));
        assert_eq!(
            (l.gop_cache_bytes, l.queue_bytes, l.hls_bytes),
            (1 << 20, 1 << 19, 0)
        );
        let b = l.budget();
        let line = |what| b.lines.iter().find(|x| x.what == what).unwrap().bytes;
        assert_eq!(line("streams"), 2 * (SOURCE_BYTES + (1 << 20)) as u64);
        assert_eq!(line("publishers"), 2 * l.publisher_pending_bytes as u64);
        assert_eq!(b.total, b.lines.iter().map(|x| x.bytes).sum::<u64>());
        assert!(b.lines.iter().all(|x| x.what != "gb28181"));

        // Twice the connections: the per-connection part doubles (the shared read buffer
        // does not), nothing else moves.
        let big = Limits::of(&Config::from_toml_str(&text(20), "test").unwrap()).budget();
        let conn = |b: &Budget| b.lines[0].bytes - l.read_bytes as u64;
        assert_eq!(conn(&big), 2 * conn(&b));
        assert_eq!(big.lines[1..], b.lines[1..]);
        let defaults = Limits::of(&Config::embedded()).budget();
        assert!(
            defaults.total > big.total,
            "the defaults allow 1000 connections"
        );
        let text = b.to_string();
        assert!(
            text.contains("total") && text.contains("max_connections 10 x"),
            "{text}"
        );
    }

    /// The per-item caps are config keys, and `tinysrs -t` follows them: lowering each one
    /// shrinks its line by what the formula says, and the total with it.
    #[cfg(all(feature = "rtmp", feature = "gb28181", feature = "hls"))]
    #[test]
    fn per_item_caps_shrink_the_worst_case() {
        let base = "max_connections = 16\nmax_streams = 4\n[gb28181]\nmax_media_sessions = 4\n";
        let lowered = format!(
            "{base}max_pes_bytes = 1048576\nmax_frame_bytes = 1048576\n\
             max_reorder_bytes = 262144\n[rtmp]\nmax_message_bytes = 1048576\n\
             max_pending_bytes = 1310720\n[http_server]\nmax_body_bytes = 16384\n"
        );
        let before = Limits::of(&Config::from_toml_str(base, "test").unwrap());
        let after = Limits::of(&Config::from_toml_str(&lowered, "test").unwrap());
        assert_eq!(
            (before.message_bytes, before.publisher_pending_bytes),
            (4 << 20, 6 << 20)
        );
        assert_eq!(
            (after.message_bytes, after.publisher_pending_bytes),
            (1 << 20, 1_310_720)
        );
        let (b, a) = (before.budget(), after.budget());
        let line =
            |budget: &Budget, what| budget.lines.iter().find(|l| l.what == what).unwrap().bytes;
        let mib = 1u64 << 20;
        // 4 publishers x (6 MiB - 1.25 MiB).
        assert_eq!(
            line(&b, "publishers") - line(&a, "publishers"),
            4 * 4_980_736
        );
        // 4 streams x one frame (+1/8) less in HLS: 3 MiB x 1.125.
        assert_eq!(
            line(&b, "streams") - line(&a, "streams"),
            4 * (3 * mib + 3 * mib / 8)
        );
        // 4 sessions x (PES 1 MiB + frame 3 MiB + reorder window 28 packets of 64 KiB - 1) less.
        let reorder = 28 * crate::wire::rtp::MAX_FRAME_LEN as u64;
        assert_eq!(
            line(&b, "gb28181") - line(&a, "gb28181"),
            4 * (4 * mib + reorder)
        );
        assert!(a
            .lines
            .iter()
            .find(|l| l.what == "gb28181")
            .unwrap()
            .formula
            .contains(
                "max_pes_bytes 1024 KiB + max_frame_bytes 1024 KiB + reorder window 4 packets"
            ));
        // HTTP connections are not the costliest: the connections line does not move.
        assert_eq!(line(&b, "connections"), line(&a, "connections"));
        let shrunk = ["publishers", "streams", "gb28181"]
            .map(|what| line(&b, what) - line(&a, what))
            .iter()
            .sum::<u64>();
        assert_eq!(b.total - a.total, shrunk, "{b}\n{a}");
        assert!(shrunk > 50 * mib);
        assert!(a.to_string().contains("rtmp.max_pending_bytes"), "{a}");
    }

    /// The worst case counts a SIP over TCP connection among max_connections (each TCP
    /// connection is admitted there), at the costliest protocol's price.
    #[cfg(all(feature = "rtmp", feature = "gb28181"))]
    #[test]
    fn sip_over_tcp_connections_are_among_max_connections() {
        let l = Limits::of(&Config::embedded());
        let gb = l.terms.iter().find(|t| t.protocol == "gb28181").unwrap();
        let rtmp = l.terms.iter().find(|t| t.protocol == "RTMP").unwrap();
        assert!(0 < gb.connection_bytes && gb.connection_bytes < rtmp.connection_bytes);
    }

    #[cfg(feature = "hls")]
    #[test]
    fn hls_in_ram_is_its_cap_plus_one_frame() {
        let c = Config::from_toml_str(
            "[vhost.__defaultVhost__.hls]\nenabled = true\nhls_max_bytes = 1048576\n",
            "test",
        )
        .unwrap();
        let l = Limits::of(&c);
        assert_eq!(
            l.hls_bytes,
            (1 << 20) + l.message_bytes + l.message_bytes / 8
        );
        let disk = Config::from_toml_str(
            "[vhost.__defaultVhost__.hls]\nenabled = true\nhls_storage = \"disk\"\n",
            "test",
        )
        .unwrap();
        assert_eq!(Limits::of(&disk).hls_bytes, 0);
    }
}
