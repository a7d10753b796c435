//! Every cap on what peers can make the server hold, gathered in one place with the RAM each
//! allows at worst. The caps themselves live beside the code that enforces them (a named
//! constant or a config key); [`Limits::of`] collects them for a loaded config and
//! [`Limits::budget`] turns them into the worst-case memory that `tinysrs -t` prints.
//!
//! "Worst case" means every connection, stream and queue filled to its cap at the same time by
//! hostile or broken peers; a real box runs far below it (see the measured figures in the
//! shipped config). Kernel socket buffers are not our heap and are listed apart.

use std::fmt;

use crate::config::{Config, HlsStorage};
use crate::media::{FRAME_OVERHEAD, MAX_ENCODINGS_PER_FRAME};

/// All the caps in force for one config. Each field's doc gives its source and the RAM it
/// allows at worst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `max_connections`: RTMP and HTTP connections at once; the excess is closed at accept.
    /// RAM: `connections × max(per RTMP connection, per HTTP connection)`.
    pub connections: usize,
    /// `max_streams`: Sources alive at once (publishers, and streams players wait for).
    /// RAM: `streams × (Source + frames held for it + HLS segments)`.
    pub streams: usize,
    /// Players of one stream: each is a connection, so `max_connections − 1`. The frames
    /// players hold are shared with the Source (counted per stream); per player only its
    /// queue slots, `queue_bytes / FRAME_OVERHEAD × 16` bytes.
    pub players_per_stream: usize,
    /// Longest RTMP message from a publisher (`session::rtmp::CHUNK_LIMITS`).
    pub message_bytes: usize,
    /// Partly received RTMP messages per publishing connection, all chunk streams together.
    /// RAM: `min(streams, connections) × publisher_pending_bytes`.
    pub publisher_pending_bytes: usize,
    /// The same before a connection sends `publish` (`COMMAND_CHUNK_LIMITS`): what a player
    /// or an idle peer can make us hold. RAM: part of the per-connection figure.
    pub command_pending_bytes: usize,
    /// RTMP chunk streams per connection (header state, about 64 bytes each).
    pub chunk_streams: usize,
    /// Unparsed RTMP input per connection (`MAX_INPUT_BUFFER`).
    pub rtmp_input_bytes: usize,
    /// Outgoing RTMP control and command bytes per connection (`MAX_OUTBOX`).
    pub rtmp_outbox_bytes: usize,
    /// One socket read (`net::rtmp::READ_BUFFER`): one buffer per thread, shared by every
    /// RTMP connection, so counted once.
    pub read_bytes: usize,
    /// HTTP request head (`wire::http::MAX_HEAD_LEN`) + body (`net::http::MAX_BODY`) +
    /// one static-file chunk (`net::http::FILE_CHUNK`) per HTTP connection.
    pub http_connection_bytes: usize,
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
    pub hls_bytes: usize,
    /// HLS segments of one stream held in RAM while the disk catches up, the largest of the
    /// vhosts with HLS on and `hls_storage = "disk"`: a closed segment stays in RAM until the
    /// disk thread has written it (for good when the write was dropped or failed), under the
    /// same cap as ram storage, `hls.hls_max_bytes` plus one frame. 0 without disk HLS.
    pub hls_disk_bytes: usize,
    /// The disk thread (`net::disk`, with the HTTP server): its stack (`STACK_BYTES`), the
    /// outcomes waiting for the event loop (`DONE_SLOTS` × [`DONE_BYTES`]) and its queue,
    /// `WRITE_JOBS` ops each holding references to one segment's TS packets, at most the
    /// largest segment cap of the disk-HLS vhosts (`hls_max_bytes / (hls_window /
    /// hls_fragment + 4)`): mostly the bytes the streams hold anyway, but a queued write
    /// keeps them past the window while the disk stalls. Reads queue a path only; the buffer
    /// of a read belongs to the HTTP connection that asked (`FILE_CHUNK`).
    pub disk_thread_bytes: usize,
    /// `gb28181.max_media_sessions`: camera channels receiving media at once (0 when GB28181
    /// is off or compiled out).
    pub gb28181_sessions: usize,
    /// GB28181: memory of the camera gateway at its caps (see `gb28181()` below).
    pub gb28181_bytes: usize,
    /// Kernel send buffer per connection (`SO_SNDBUF`, `net::rtmp::SEND_BUFFER`); kernel
    /// memory, not counted in the total.
    pub send_buffer_bytes: usize,
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
/// One outcome of a file op waiting for the event loop (`FileDone` and a path).
pub const DONE_BYTES: usize = 256;

impl Limits {
    pub fn of(config: &Config) -> Limits {
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
            .map(hls_ram)
            .max()
            .unwrap_or(0);
        let disk_hls = || {
            vhosts().filter(|v| {
                v.hls.enabled && v.hls.storage == HlsStorage::Disk && cfg!(feature = "hls")
            })
        };
        let hls_disk_bytes = disk_hls().map(hls_ram).max().unwrap_or(0);
        let segment_cap = disk_hls()
            .map(|v| hls_segment_cap(&v.hls))
            .max()
            .unwrap_or(0);
        Limits {
            connections: config.max_connections,
            streams: config.max_streams,
            players_per_stream: config.max_connections.saturating_sub(1),
            message_bytes: rtmp::message_bytes(),
            publisher_pending_bytes: rtmp::publisher_pending(),
            command_pending_bytes: rtmp::command_pending(),
            chunk_streams: rtmp::chunk_streams(),
            rtmp_input_bytes: rtmp::input(),
            rtmp_outbox_bytes: rtmp::outbox(),
            read_bytes: rtmp::read(),
            http_connection_bytes: http_connection(),
            gop_cache_bytes,
            queue_bytes,
            queue_ms,
            hls_bytes,
            hls_disk_bytes,
            disk_thread_bytes: disk::thread_bytes(segment_cap),
            gb28181_sessions: match gb28181(config) {
                0 => 0,
                _ => config.gb28181.max_media_sessions,
            },
            gb28181_bytes: gb28181(config),
            send_buffer_bytes: rtmp::send_buffer(),
        }
    }

    /// RTMP connection at worst, before `publish` (player or idle peer).
    pub fn rtmp_connection_bytes(&self) -> usize {
        CONNECTION_BYTES
            + self.rtmp_input_bytes
            + self.rtmp_outbox_bytes
            + self.command_pending_bytes
            + self.chunk_streams * 64
    }

    /// Queue slots of one player at worst: every frame costs at least `FRAME_OVERHEAD`.
    pub fn queue_slot_bytes(&self) -> usize {
        self.queue_bytes / FRAME_OVERHEAD * QUEUE_SLOT_BYTES
    }

    /// Frames held for one stream at worst. The GOP cache and every player queue hold a
    /// suffix of the same frame sequence, so together they hold the longest of them; each
    /// frame may carry up to `MAX_ENCODINGS_PER_FRAME` derived encodings (RTMP chunks, FLV
    /// tag, TS packets) where its cost counts one.
    pub fn stream_frame_bytes(&self) -> usize {
        let held = self.gop_cache_bytes.max(self.queue_bytes);
        held / 2 * (1 + MAX_ENCODINGS_PER_FRAME)
    }

    pub fn budget(&self) -> Budget {
        let per_connection =
            self.rtmp_connection_bytes().max(self.http_connection_bytes) + self.queue_slot_bytes();
        let publishers = self.streams.min(self.connections);
        let per_stream = SOURCE_BYTES + self.stream_frame_bytes() + self.hls_bytes;
        let mul = |n: usize, each: usize| (n as u64).saturating_mul(each as u64);
        let mut lines = vec![
            BudgetLine {
                what: "connections",
                formula: format!(
                    "max_connections {} x {} (state {}, RTMP input {}, outbox {}, \
                     pending before publish {}, queue slots {}; HTTP {}) + one shared read \
                     buffer {}",
                    self.connections,
                    kib(per_connection),
                    kib(CONNECTION_BYTES),
                    kib(self.rtmp_input_bytes),
                    kib(self.rtmp_outbox_bytes),
                    kib(self.command_pending_bytes),
                    kib(self.queue_slot_bytes()),
                    kib(self.http_connection_bytes),
                    kib(self.read_bytes),
                ),
                bytes: mul(self.connections, per_connection).saturating_add(self.read_bytes as u64),
            },
            BudgetLine {
                what: "publishers",
                formula: format!(
                    "min(max_streams, max_connections) {publishers} x {} partly received \
                     messages (message up to {})",
                    kib(self.publisher_pending_bytes),
                    kib(self.message_bytes),
                ),
                bytes: mul(publishers, self.publisher_pending_bytes),
            },
            BudgetLine {
                what: "streams",
                formula: format!(
                    "max_streams {} x {} (Source {}, frames max(gop_cache_max_bytes {}, \
                     queue_max_bytes {}) x {} encodings / 2, HLS in RAM {})",
                    self.streams,
                    kib(per_stream),
                    kib(SOURCE_BYTES),
                    kib(self.gop_cache_bytes),
                    kib(self.queue_bytes),
                    1 + MAX_ENCODINGS_PER_FRAME,
                    kib(self.hls_bytes),
                ),
                bytes: mul(self.streams, per_stream),
            },
        ];
        if self.disk_thread_bytes > 0 {
            // A stream is of one vhost: disk HLS costs what RAM HLS (counted above) does not.
            let extra = self.hls_disk_bytes.saturating_sub(self.hls_bytes);
            lines.push(BudgetLine {
                what: "disk",
                formula: format!(
                    "disk thread {} (stack, queue of {} ops x largest disk-HLS segment, \
                     outcomes) + max_streams {} x {} (disk HLS segments in RAM until written: \
                     hls_max_bytes + one frame, beyond RAM HLS)",
                    kib(self.disk_thread_bytes),
                    disk::write_jobs(),
                    self.streams,
                    kib(extra),
                ),
                bytes: (self.disk_thread_bytes as u64).saturating_add(mul(self.streams, extra)),
            });
        }
        if self.gb28181_bytes > 0 {
            lines.push(BudgetLine {
                what: "gb28181",
                formula: format!(
                    "gb28181.max_media_sessions {} x (PES 2 MiB + access unit 4 MiB + reorder \
                     window 2 MiB + read buffer) + SIP TCP connections and devices",
                    self.gb28181_sessions
                ),
                bytes: self.gb28181_bytes as u64,
            });
        }
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
    format!("{} KiB", bytes.div_ceil(1024))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// HLS segments in RAM for one stream of `vhost` at worst: the cap plus one frame in TS
/// packets (an eighth more than the frame, for PES and TS headers, AUD and parameter sets).
fn hls_ram(vhost: &crate::config::Vhost) -> usize {
    let frame = rtmp::message_bytes();
    match cfg!(feature = "hls") {
        true => vhost.hls.max_bytes + frame + frame / 8,
        false => 0,
    }
}

#[cfg(feature = "hls")]
fn hls_segment_cap(hls: &crate::config::Hls) -> usize {
    crate::server::hls::HlsStream::segment_cap(hls)
}

#[cfg(not(feature = "hls"))]
fn hls_segment_cap(_hls: &crate::config::Hls) -> usize {
    0
}

#[cfg(feature = "http")]
mod disk {
    use crate::net::disk::{DONE_SLOTS, STACK_BYTES, WRITE_JOBS};

    pub fn thread_bytes(segment_cap: usize) -> usize {
        STACK_BYTES + DONE_SLOTS * super::DONE_BYTES + WRITE_JOBS * segment_cap
    }
    pub fn write_jobs() -> usize {
        WRITE_JOBS
    }
}

#[cfg(not(feature = "http"))]
mod disk {
    pub fn thread_bytes(_segment_cap: usize) -> usize {
        0
    }
    pub fn write_jobs() -> usize {
        0
    }
}

#[cfg(feature = "http")]
fn http_connection() -> usize {
    use crate::net::http::{FILE_CHUNK, MAX_BODY};
    CONNECTION_BYTES + crate::wire::http::MAX_HEAD_LEN + MAX_BODY as usize + FILE_CHUNK
}

#[cfg(not(feature = "http"))]
fn http_connection() -> usize {
    0
}

#[cfg(feature = "rtmp")]
mod rtmp {
    use crate::net::rtmp::{READ_BUFFER, SEND_BUFFER};
    use crate::session::rtmp::{CHUNK_LIMITS, COMMAND_CHUNK_LIMITS, MAX_INPUT_BUFFER, MAX_OUTBOX};

    pub fn message_bytes() -> usize {
        CHUNK_LIMITS.max_message_len as usize
    }
    pub fn publisher_pending() -> usize {
        CHUNK_LIMITS.max_pending_bytes
    }
    pub fn command_pending() -> usize {
        COMMAND_CHUNK_LIMITS.max_pending_bytes
    }
    pub fn chunk_streams() -> usize {
        CHUNK_LIMITS.max_chunk_streams
    }
    pub fn input() -> usize {
        MAX_INPUT_BUFFER
    }
    pub fn outbox() -> usize {
        MAX_OUTBOX
    }
    pub fn read() -> usize {
        READ_BUFFER
    }
    pub fn send_buffer() -> usize {
        SEND_BUFFER
    }
}

#[cfg(not(feature = "rtmp"))]
mod rtmp {
    pub fn message_bytes() -> usize {
        0
    }
    pub fn publisher_pending() -> usize {
        0
    }
    pub fn command_pending() -> usize {
        0
    }
    pub fn chunk_streams() -> usize {
        0
    }
    pub fn input() -> usize {
        0
    }
    pub fn outbox() -> usize {
        0
    }
    pub fn read() -> usize {
        0
    }
    pub fn send_buffer() -> usize {
        0
    }
}

/// The camera gateway at its caps: every media session assembling a full PES and access unit
/// with a full reorder window, on its own media TCP connection or UDP port with a full read
/// buffer, every SIP TCP connection with a full message, and every device with every channel.
#[cfg(feature = "gb28181")]
fn gb28181(config: &Config) -> usize {
    use crate::net::gb28181::{MAX_DATAGRAM, MAX_SIP_TCP, MEDIA_TCP_BYTES, READ_BUFFER};
    use crate::server::gb28181::assemble::MAX_ACCESS_UNIT;
    use crate::session::gb28181::{MAX_CHANNELS, MAX_DEVICES};
    use crate::wire::{mpegps::MAX_PES_LEN, rtp, sip};
    if !config.gb28181.enabled {
        return 0;
    }
    let sessions = config.gb28181.max_media_sessions;
    let session = MAX_PES_LEN
        + MAX_ACCESS_UNIT
        + rtp::DEFAULT_WINDOW * rtp::MAX_FRAME_LEN
        + MEDIA_TCP_BYTES.max(MAX_DATAGRAM);
    let sip_tcp = READ_BUFFER + sip::MAX_MESSAGE_LEN;
    let devices = MAX_DEVICES * MAX_CHANNELS * 256;
    sessions * session + MAX_SIP_TCP * sip_tcp + devices + MAX_DATAGRAM
}

#[cfg(not(feature = "gb28181"))]
fn gb28181(_config: &Config) -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            line("streams"),
            2 * (SOURCE_BYTES + (1 << 19) * (1 + MAX_ENCODINGS_PER_FRAME)) as u64
        );
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

    /// Disk HLS: segments wait in RAM for the disk under the same cap, and the disk queue can
    /// hold WRITE_JOBS segments past the window.
    #[cfg(feature = "hls")]
    #[test]
    fn disk_hls_counts_segments_waiting_for_the_disk_and_the_queue() {
        use crate::net::disk::{DONE_SLOTS, STACK_BYTES, WRITE_JOBS};
        let disk = Config::from_toml_str(
            "max_streams = 3\n[vhost.__defaultVhost__.hls]\nenabled = true\n\
             hls_storage = \"disk\"\nhls_max_bytes = 1048576\nhls_fragment = 2\nhls_window = 10\n",
            "test",
        )
        .unwrap();
        let l = Limits::of(&disk);
        assert_eq!(
            l.hls_disk_bytes,
            (1 << 20) + l.message_bytes + l.message_bytes / 8
        );
        let cap = (1 << 20) / (10 / 2 + 4);
        assert_eq!(
            l.disk_thread_bytes,
            STACK_BYTES + DONE_SLOTS * DONE_BYTES + WRITE_JOBS * cap
        );
        let b = l.budget();
        let line = b.lines.iter().find(|x| x.what == "disk").unwrap();
        assert_eq!(
            line.bytes,
            (l.disk_thread_bytes + 3 * l.hls_disk_bytes) as u64
        );
        // RAM HLS: only the thread itself.
        let ram = Limits::of(&Config::embedded());
        assert_eq!(ram.hls_disk_bytes, 0);
        assert_eq!(ram.disk_thread_bytes, STACK_BYTES + DONE_SLOTS * DONE_BYTES);
    }
}
