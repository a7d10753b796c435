//! HLS from the hub: a segmenter fed by the Source's TS output, a playlist, and the segments
//! in RAM (default, no flash wear) or as files under `hls_path`.
//!
//! Segments start where the TS output put PAT/PMT (video keyframes; once a second on
//! audio-only streams) and end at the first such point after `hls_fragment`, which is a
//! target, as with SRS's `hls_wait_keyframe`: a GOP longer than it (OBS's default 250 frames,
//! 8.3 s at 30 fps) makes segments as long as the GOP. The playlist keeps `hls_window` of
//! segments, and at least [`MIN_LISTED`] of them; `EXT-X-TARGETDURATION` is the longest segment in it, rounded to the nearest
//! second (RFC 8216 4.3.3.1), so long GOPs raise it.
//!
//! The one cut between keyframes is the RAM cap: a segment ends when the next frame would take
//! it past [`HlsStream::segment_cap`] bytes. The segment after such a forced cut still starts
//! with a PAT and a PMT (RFC 8216 3.2; Chromium's and hls.js's demuxers give up on a segment
//! without them), copies of the last ones on this stream's own continuity counters
//! ([`SegmentTables`]), and ends at the next keyframe whatever its length, so that segments
//! are aligned on keyframes again at once. It is not marked `EXT-X-DISCONTINUITY`: nothing
//! the tag stands for (RFC 8216 4.3.2.3: format, tracks, timestamps, encoding) changes there,
//! and the tag makes hls.js and Safari reset their decoders, after which they drop frames up
//! to the next keyframe: a player that plays on from the segment before would lose the rest
//! of the GOP, when it can decode it seamlessly (its frames, timestamps and counters follow
//! on). Only a player that joins on it waits for the next keyframe, as it would with the tag.
//! `EXT-X-DISCONTINUITY` marks a republish, and a jump back in time (a frame more than
//! [`MAX_STEP_BACK_MS`] before its segment's start), where the timestamps do change.
//!
//! RAM (ram storage), per published stream: the segments in the window, `EXTRA_SEGMENTS`
//! more and the one being written, about (hls_window + 3 × segment) × bitrate × 1.05 (TS
//! overhead), a segment being `hls_fragment` or the GOP if longer, and never over
//! `hls_max_bytes`; each segment holds shared references to the frames' TS packets (no copy
//! but the tables of [`SegmentTables`]). Measured with the defaults at 2 Mbit/s: +5.1 MiB RSS
//! (`ci/measure 1 1 hls-ram`).
//!
//! Disk storage never touches the file system from here: a closed segment is handed to the
//! disk thread as a [`FileOp`] and served from RAM until the thread reports its file written;
//! only then do its bytes leave RAM and the playlist file is rewritten, so neither a player of
//! ours nor a reader of `hls_path` is told of a segment before it can be fetched. A write the
//! disk could not take (queue full, counted) or that failed keeps the segment in RAM until it
//! leaves the window, so RAM stays under `hls_max_bytes` as with ram storage; a removal the
//! disk could not take is retried at the next segment (at most [`HlsStream::max_segments`] kept).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;

use super::disk::{Dropped, FileOp, Files};
use super::{ts, ServerCtx};
use crate::config::{Hls, HlsStorage, Vhost};
use crate::live::{Output, OutputKind, Source, StreamKey};
use crate::media::{FrameKind, SharedFrame};
use crate::wire::mpegts::{continuity_counter, set_continuity_counter, PACKET_LEN, TABLES_LEN};

/// A segment is cut once it holds this many bytes (a 20 Mbit/s stream fills it in 6.7 s).
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;
/// Segments the playlist lists at least, however long they are: RFC 8216 6.2.2 keeps three
/// target durations in a live playlist, and players join three segments from the end. Without
/// it a GOP as long as `hls_window` (OBS's 250 frames against the default 10 s) would list one
/// segment, and GStreamer's and hls.js's players would wait for ever at the live edge.
pub const MIN_LISTED: usize = 3;
/// A frame up to this many ms before its segment's first frame stays in the segment: audio
/// and video interleaved out of order (cameras; `time_jitter = "off"`). Further back, the
/// timeline jumped: a new segment starts, marked `EXT-X-DISCONTINUITY`.
pub const MAX_STEP_BACK_MS: i64 = 1_000;
/// Segments kept beyond the window for players still fetching them.
pub const EXTRA_SEGMENTS: usize = 2;
/// Closed segments waiting to be reported to the `on_hls` hooks (taken once a second); the
/// oldest go past it. RAM: 16 bytes each, per stream whose vhost has `on_hls`.
pub const MAX_UNREPORTED: usize = 16;

/// A segment closed (RAM storage) or written to its file (disk), for `on_hls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedSegment {
    pub seq: u64,
    pub duration_ms: i64,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    duration_ms: i64,
    discontinuity: bool,
    /// Starts between keyframes, after a forced cut or a jump back in time (with copies of
    /// the tables); ends at the next keyframe once it holds video.
    forced: bool,
    /// Holds a video frame: a forced segment ends at a keyframe only then, so a cut that fell
    /// on the audio just before a keyframe makes no segment of audio alone (seen under load:
    /// the byte cap crossed by an audio frame 20 ms before the keyframe).
    has_video: bool,
    /// The TS packets; empty once on disk.
    chunks: Vec<Bytes>,
    bytes: usize,
    /// Disk storage: the disk thread reported the file written.
    on_disk: bool,
}

impl Segment {
    /// Bytes held in RAM.
    fn ram_bytes(&self) -> usize {
        if self.on_disk {
            0
        } else {
            self.bytes
        }
    }
}

/// One stream's HLS state, shared by its `HlsOutput` and the HTTP handlers.
#[derive(Debug)]
pub struct HlsStream {
    key: StreamKey,
    config: Hls,
    segments: VecDeque<Segment>,
    current: Option<(Segment, i64)>,
    next_seq: u64,
    discontinuity_next: bool,
    /// Where disk storage writes: `hls_path/app/`.
    dir: Option<PathBuf>,
    files: Files,
    /// Disk storage: removals the disk queue refused, retried at the next segment; at most
    /// [`Self::max_segments`] paths.
    unremoved: VecDeque<PathBuf>,
    /// When the publisher left (ms on the driver's clock), for `hls_dispose`.
    pub unpublished_at: Option<u64>,
    last_dts: Option<i64>,
    tables: SegmentTables,
    /// Forced cuts since the stream was created (the first of a publish is logged).
    pub forced_cuts: u64,
    warned_forced: bool,
    /// The vhost has `on_hls` hooks: closed segments are kept in `closed` for them.
    pub report_closed: bool,
    closed: VecDeque<ClosedSegment>,
}

/// The PAT and PMT in this stream's segments, on continuity counters of their own: the TS
/// output writes them before each keyframe for every TS player, and HLS adds a copy at the
/// start of a segment cut between keyframes, so HLS counts its own (ISO/IEC 13818-1 2.4.3.3:
/// +1 per packet of the PID). A keyframe's tables are shared as they are while their counters
/// agree with ours (always, until the first forced cut), else copied with ours.
///
/// RAM: `TABLES_LEN` (376) bytes per stream, and 376 bytes per copy, counted in its
/// segment's bytes in place of the original (which stays in the frame's shared buffer).
#[derive(Debug, Default)]
struct SegmentTables {
    /// The last PAT and PMT the TS output wrote, for a segment that starts between keyframes.
    last: Option<[u8; TABLES_LEN]>,
    /// The continuity counters of the next PAT and PMT in the segments; None before the first.
    next_cc: Option<[u8; 2]>,
}

impl SegmentTables {
    /// `tables` (the first [`TABLES_LEN`] bytes of `packets`) as they go into a segment.
    fn stamp(&mut self, tables: &[u8; TABLES_LEN], packets: &Bytes) -> Bytes {
        self.last = Some(*tables);
        let own = [0, 1].map(|i| continuity_counter(&tables[i * PACKET_LEN..]).unwrap_or(0));
        let next = *self.next_cc.get_or_insert(own);
        self.next_cc = Some(next.map(|cc| (cc + 1) & 0x0F));
        if own == next {
            packets.slice(..TABLES_LEN)
        } else {
            Self::with_cc(tables, next)
        }
    }

    /// A copy of the last tables for a segment cut between keyframes; None before any.
    fn repeat(&mut self) -> Option<Bytes> {
        let last = self.last?;
        let next = self.next_cc.unwrap_or_default();
        self.next_cc = Some(next.map(|cc| (cc + 1) & 0x0F));
        Some(Self::with_cc(&last, next))
    }

    fn with_cc(tables: &[u8; TABLES_LEN], cc: [u8; 2]) -> Bytes {
        let mut copy = *tables;
        for (packet, cc) in copy.chunks_exact_mut(PACKET_LEN).zip(cc) {
            set_continuity_counter(packet, cc);
        }
        Bytes::copy_from_slice(&copy)
    }
}

impl HlsStream {
    pub fn new(key: StreamKey, config: Hls, files: Files) -> HlsStream {
        let dir =
            (config.storage == HlsStorage::Disk).then(|| Path::new(&config.path).join(&key.app));
        HlsStream {
            key,
            config,
            segments: VecDeque::new(),
            current: None,
            next_seq: 0,
            discontinuity_next: false,
            dir,
            files,
            unremoved: VecDeque::new(),
            unpublished_at: None,
            last_dts: None,
            tables: SegmentTables::default(),
            forced_cuts: 0,
            warned_forced: false,
            report_closed: false,
            closed: VecDeque::new(),
        }
    }

    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// The segments closed (RAM) or written (disk) since the last call, for `on_hls`.
    pub fn take_closed(&mut self) -> VecDeque<ClosedSegment> {
        std::mem::take(&mut self.closed)
    }

    /// Keeps a closed segment for `on_hls`, if its hooks want it.
    fn report(&mut self, seq: u64, duration_ms: i64) {
        if !self.report_closed {
            return;
        }
        if self.closed.len() >= MAX_UNREPORTED {
            self.closed.pop_front();
        }
        self.closed.push_back(ClosedSegment { seq, duration_ms });
    }

    /// Disk storage: the file of segment `seq` and the playlist's (`None` in RAM).
    pub fn files_of(&self, seq: u64) -> Option<(PathBuf, PathBuf)> {
        let dir = self.dir.as_ref()?;
        Some((self.segment_path(dir, seq), self.playlist_path(dir)))
    }

    pub fn storage(&self) -> HlsStorage {
        self.config.storage
    }

    /// `hls_dispose` in ms; 0 keeps the files.
    pub fn dispose_after_ms(&self) -> u64 {
        u64::from(self.config.dispose_s) * 1000
    }

    /// Bytes of segments held in RAM.
    pub fn ram_bytes(&self) -> usize {
        self.segments.iter().map(Segment::ram_bytes).sum::<usize>()
            + self.current.as_ref().map_or(0, |(s, _)| s.bytes)
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The playlist's `EXT-X-TARGETDURATION` in seconds (RFC 8216 4.3.3.1: every EXTINF of
    /// the window rounded to the nearest integer is at most this), or None before the first
    /// segment is complete.
    pub fn target_duration_s(&self) -> Option<i64> {
        let live = self.segments.iter().skip(self.window_start());
        let target = live.map(|s| (s.duration_ms + 500) / 1000).max()?;
        Some(target.max(1))
    }

    /// The playlist (RFC 8216), or None before the first segment is complete.
    pub fn playlist(&self) -> Option<String> {
        self.playlist_with("")
    }

    /// The playlist with `ts_query` (`?...`, or empty) after each segment's name: the HLS
    /// session of the player it is for (`hls_ts_ctx`).
    pub fn playlist_with(&self, ts_query: &str) -> Option<String> {
        let first = self.window_start();
        let live: Vec<&Segment> = self.segments.iter().skip(first).collect();
        let seq = live.first()?.seq;
        let target = self.target_duration_s().unwrap_or(1);
        let mut m = String::with_capacity(128 + live.len() * (48 + ts_query.len()));
        let _ = write!(
            m,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{seq}\n"
        );
        for s in live {
            if s.discontinuity {
                m.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = write!(
                m,
                "#EXTINF:{}.{:03},\n{}-{}.ts{ts_query}\n",
                s.duration_ms / 1000,
                s.duration_ms % 1000,
                self.key.stream,
                s.seq
            );
        }
        Some(m)
    }

    /// Index of the first segment listed: the window counts back from the newest.
    /// Segments in the playlist window at most, however short they are (a publisher whose
    /// timestamps stand still makes 1 ms segments): `hls_window / hls_fragment + 1`.
    pub fn max_window_segments(config: &Hls) -> usize {
        ((config.window_ms / config.fragment_ms.max(1)) as usize + 1).max(MIN_LISTED)
    }

    /// Segments held at most: the window, [`EXTRA_SEGMENTS`] and the one being written.
    pub fn max_segments(config: &Hls) -> usize {
        Self::max_window_segments(config) + EXTRA_SEGMENTS + 1
    }

    /// Bytes at which a segment is cut, keyframe or not: [`MAX_SEGMENT_BYTES`], or less so that
    /// [`Self::max_segments`] of them fit in `hls_max_bytes`.
    pub fn segment_cap(config: &Hls) -> usize {
        (config.max_bytes / Self::max_segments(config)).clamp(PACKET_LEN, MAX_SEGMENT_BYTES)
    }

    fn window_start(&self) -> usize {
        let mut total = 0i64;
        let mut start = self.segments.len();
        let max = Self::max_window_segments(&self.config);
        for (i, s) in self.segments.iter().enumerate().rev() {
            let listed = self.segments.len() - start;
            if (total >= i64::from(self.config.window_ms) && listed >= MIN_LISTED) || listed >= max
            {
                break;
            }
            total += s.duration_ms;
            start = i;
        }
        start
    }

    /// A segment's bytes (RAM storage, or disk storage until its file is written) or its file.
    pub fn segment(&self, seq: u64) -> Option<SegmentData> {
        let s = self.segments.iter().find(|s| s.seq == seq)?;
        match (&self.dir, s.on_disk) {
            (Some(dir), true) => Some(SegmentData::File(self.segment_path(dir, seq))),
            _ => Some(SegmentData::Ram(s.chunks.clone(), s.bytes)),
        }
    }

    /// A segment's length in bytes, in RAM or on disk: the `Content-Length` of a segment sent
    /// from its file without a `stat` on the event loop.
    pub fn segment_len(&self, seq: u64) -> Option<usize> {
        self.segments.iter().find(|s| s.seq == seq).map(|s| s.bytes)
    }

    fn segment_path(&self, dir: &Path, seq: u64) -> PathBuf {
        dir.join(format!("{}-{seq}.ts", self.key.stream))
    }

    fn push_frame(&mut self, frame: &SharedFrame, packets: Bytes) {
        let fragment = i64::from(self.config.fragment_ms);
        let tables = ts::tables(&packets).copied();
        // Whether the segment this frame starts has no tables of its own (a cut between
        // keyframes), and whether it starts a new timeline.
        let mut forced = false;
        let mut jumped = false;
        if let Some((seg, start)) = &self.current {
            let elapsed = frame.dts - start;
            jumped = elapsed < -MAX_STEP_BACK_MS;
            // `hls_fragment` is a target: cut at the first keyframe after it, or at the first
            // keyframe at all when the segment started between keyframes.
            let due = tables.is_some() && (elapsed >= fragment || (seg.forced && seg.has_video));
            let full = seg.bytes + packets.len() > Self::segment_cap(&self.config);
            if due || full || jumped {
                let end = if jumped {
                    self.last_dts.unwrap_or(frame.dts)
                } else {
                    frame.dts
                };
                self.close_segment(end);
                forced = tables.is_none();
                self.discontinuity_next |= jumped;
            }
        }
        if self.current.is_none() {
            if tables.is_none() && !forced {
                // A publish's segments start at its first keyframe (tables and all).
                return;
            }
            let mut seg = Segment {
                seq: self.next_seq,
                duration_ms: 0,
                discontinuity: std::mem::take(&mut self.discontinuity_next),
                forced,
                has_video: false,
                chunks: Vec::new(),
                bytes: 0,
                on_disk: false,
            };
            if forced {
                if let Some(copy) = self.tables.repeat() {
                    seg.bytes += copy.len();
                    seg.chunks.push(copy);
                }
                if !jumped {
                    self.note_forced_cut();
                }
            }
            self.next_seq += 1;
            self.current = Some((seg, frame.dts));
        }
        if let Some((seg, _)) = &mut self.current {
            seg.bytes += packets.len();
            seg.has_video |= frame.kind == FrameKind::Video;
            match &tables {
                Some(t) => {
                    seg.chunks.push(self.tables.stamp(t, &packets));
                    if packets.len() > TABLES_LEN {
                        seg.chunks.push(packets.slice(TABLES_LEN..));
                    }
                }
                None => seg.chunks.push(packets),
            }
        }
        // `hls_max_bytes`: the oldest segments go, from the window too if need be, so RAM
        // stays under it plus the frame just added (disk storage holds segments the disk has
        // not taken yet).
        while self.ram_bytes() > self.config.max_bytes {
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            self.retire(&old);
        }
        self.last_dts = Some(frame.dts);
    }

    /// Counts a cut the byte cap forced between keyframes; the first of a publish is logged,
    /// with what to change.
    fn note_forced_cut(&mut self) {
        self.forced_cuts += 1;
        if !std::mem::replace(&mut self.warned_forced, true) {
            log::warn!(
                "{}: HLS segment cut between keyframes at {} bytes: a GOP is over \
                 hls_max_bytes / (hls_window / hls_fragment + 4); players that join on the next \
                 segment wait for a keyframe (a longer hls_fragment or a larger hls_max_bytes \
                 makes room)",
                self.key,
                Self::segment_cap(&self.config)
            );
        }
    }

    /// Ends the segment being written at `end_dts` and trims the window.
    fn close_segment(&mut self, end_dts: i64) {
        let Some((mut seg, start)) = self.current.take() else {
            return;
        };
        seg.duration_ms = (end_dts - start).max(1);
        if let Some(dir) = self.dir.clone() {
            // The segment stays in RAM (and is served from there) until the disk thread
            // reports the file written; a drop is counted by `Files`.
            let _ = self.files.submit(FileOp::WriteAtomic {
                path: self.segment_path(&dir, seg.seq),
                chunks: seg.chunks.clone(),
            });
            self.retry_removes();
        } else {
            self.report(seg.seq, seg.duration_ms);
        }
        self.segments.push_back(seg);
        let keep = self.segments.len() - self.window_start() + EXTRA_SEGMENTS;
        while self.segments.len() > keep {
            if let Some(old) = self.segments.pop_front() {
                self.retire(&old);
            }
        }
    }

    /// A segment left the list: disk storage with `hls_cleanup` removes its file.
    fn retire(&mut self, old: &Segment) {
        if let (Some(dir), true) = (&self.dir, self.config.cleanup) {
            let path = self.segment_path(dir, old.seq);
            self.remove(path);
        }
    }

    fn remove(&mut self, path: PathBuf) {
        if let Err(Dropped(op)) = self.files.submit(FileOp::Remove(path)) {
            if self.unremoved.len() >= Self::max_segments(&self.config) {
                self.unremoved.pop_front();
            }
            self.unremoved.push_back(op.path().to_path_buf());
        }
    }

    fn retry_removes(&mut self) {
        while let Some(path) = self.unremoved.pop_front() {
            if let Err(Dropped(op)) = self.files.submit(FileOp::Remove(path)) {
                self.unremoved.push_front(op.path().to_path_buf());
                break;
            }
        }
    }

    fn playlist_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.m3u8", self.key.stream))
    }

    /// The disk thread wrote (`ok`) or failed to write the file `path`. True when the file
    /// is one of this stream's segments or its playlist. A segment written leaves RAM (it
    /// is served from its file now) and the playlist file is rewritten to list it.
    pub fn handle_written(&mut self, path: &Path, ok: bool) -> bool {
        let Some(dir) = self.dir.clone() else {
            return false;
        };
        if path == self.playlist_path(&dir) {
            return true;
        }
        let seq = path
            .strip_prefix(&dir)
            .ok()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix(self.key.stream.as_str()))
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".ts"))
            .and_then(|seq| seq.parse::<u64>().ok());
        let Some(seq) = seq else {
            return false;
        };
        let Some(seg) = self.segments.iter_mut().find(|s| s.seq == seq) else {
            // It left the list before the disk got to it (its removal follows it).
            return true;
        };
        if !ok {
            return true;
        }
        seg.on_disk = true;
        seg.chunks = Vec::new();
        let (seq, duration_ms) = (seg.seq, seg.duration_ms);
        self.report(seq, duration_ms);
        if let Some(m3u8) = self.playlist() {
            let _ = self.files.submit(FileOp::WriteAtomic {
                path: self.playlist_path(&dir),
                chunks: vec![Bytes::from(m3u8)],
            });
        }
        true
    }

    /// Disk storage: removes the stream's files (`hls_dispose`).
    pub fn dispose(&mut self) {
        if let Some(dir) = self.dir.clone() {
            self.retry_removes();
            let paths: Vec<PathBuf> = self
                .segments
                .iter()
                .map(|s| self.segment_path(&dir, s.seq))
                .collect();
            for path in paths {
                self.remove(path);
            }
            let playlist = self.playlist_path(&dir);
            self.remove(playlist);
        }
        self.segments.clear();
    }
}

/// A segment to send.
#[derive(Debug)]
pub enum SegmentData {
    Ram(Vec<Bytes>, usize),
    File(PathBuf),
}

/// The Source output that feeds an `HlsStream`. Attach it after the TS output.
#[derive(Debug)]
pub struct HlsOutput(pub Rc<RefCell<HlsStream>>);

impl Output for HlsOutput {
    fn kind(&self) -> OutputKind {
        OutputKind::Hls
    }

    fn on_publish(&mut self) {
        let mut s = self.0.borrow_mut();
        s.unpublished_at = None;
        s.warned_forced = false;
        if !s.segments.is_empty() || s.current.is_some() {
            s.discontinuity_next = true;
        }
    }

    fn on_frame(&mut self, frame: &SharedFrame) {
        if frame.kind == FrameKind::Metadata || frame.sequence_header {
            return;
        }
        if let Some(p) = ts::packets(frame) {
            self.0.borrow_mut().push_frame(frame, p);
        }
    }

    fn on_unpublish(&mut self) {
        let mut s = self.0.borrow_mut();
        // The last part is playable too; its end is the last frame seen.
        if let Some(end) = s.last_dts {
            s.close_segment(end);
        }
        s.discontinuity_next = true;
    }
}

/// Every stream's HLS state, for the HTTP handlers.
pub type HlsRegistry = Rc<RefCell<HashMap<StreamKey, Rc<RefCell<HlsStream>>>>>;

/// Target durations an HLS request counts as a viewer of its stream: a player reloads the
/// playlist about once a target duration (RFC 8216 6.3.4), so one that stops asking for three
/// has left.
pub const VIEWER_HOLD_TARGETS: u64 = 3;

/// How long an HLS request of `key` counts as a viewer ([`crate::live::Hub::view`]): three
/// target durations of its playlist or, before its first segment (an on-demand camera not
/// sending yet), three `hls_fragment`s of its vhost; at least 3 s.
pub fn viewer_hold_ms(ctx: &ServerCtx, key: &StreamKey) -> u64 {
    let target_ms = ctx
        .hls
        .borrow()
        .get(key)
        .and_then(|h| h.borrow().target_duration_s())
        .map(|s| s as u64 * 1000)
        .or_else(|| {
            let config = ctx.config();
            config
                .vhost(&key.vhost)
                .map(|v| u64::from(v.hls.fragment_ms))
        })
        .unwrap_or(0);
    VIEWER_HOLD_TARGETS * target_ms.max(1000)
}

/// Attaches HLS (and the TS muxer it needs) to a publish whose vhost has it on; removes it when
/// the vhost has it off (a republish after a reload).
pub fn on_publish(ctx: &ServerCtx, source: &Rc<RefCell<Source>>, vhost: &Vhost) {
    let mut s = source.borrow_mut();
    if !vhost.hls.enabled {
        s.remove_output(OutputKind::Hls);
        return;
    }
    ts::attach(&mut s);
    let hooks = &vhost.http_hooks;
    let report_closed =
        hooks.enabled && !(hooks.on_hls.is_empty() && hooks.on_hls_notify.is_empty());
    if let Some(stream) = ctx.hls.borrow().get(&s.key) {
        stream.borrow_mut().report_closed = report_closed;
    }
    if s.output(OutputKind::Hls).is_none() {
        let stream = ctx
            .hls
            .borrow_mut()
            .entry(s.key.clone())
            .or_insert_with(|| {
                let mut stream =
                    HlsStream::new(s.key.clone(), vhost.hls.clone(), ctx.files.clone());
                stream.report_closed = report_closed;
                Rc::new(RefCell::new(stream))
            })
            .clone();
        s.add_output(Rc::new(RefCell::new(HlsOutput(stream))));
    }
}

/// Once a second: forgets HLS streams whose Source is gone (RAM storage) and disposes of disk
/// segments `hls_dispose` seconds after the publisher left.
pub fn sweep(ctx: &ServerCtx, now_ms: u64) {
    let hub = ctx.hub.borrow();
    ctx.hls.borrow_mut().retain(|key, stream| {
        let publishing = hub
            .source(key)
            .is_some_and(|s| s.borrow().publisher().is_some());
        let mut st = stream.borrow_mut();
        if publishing {
            st.unpublished_at = None;
            return true;
        }
        let since = *st.unpublished_at.get_or_insert(now_ms);
        match st.storage() {
            HlsStorage::Ram => hub.source(key).is_some(),
            HlsStorage::Disk => {
                let dispose = st.dispose_after_ms();
                if dispose > 0 && now_ms.saturating_sub(since) >= dispose {
                    st.dispose();
                    false
                } else {
                    true
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Frame, VideoCodec};
    use crate::server::disk::testing::Recorder;
    use crate::server::disk::{NoDisk, OpKind};

    fn ram(key: StreamKey, config: Hls) -> HlsStream {
        HlsStream::new(key, config, Files::new(Rc::new(NoDisk)))
    }

    /// Performs the recorded ops in order, as the disk thread would, and reports each write.
    fn run_ops(rec: &Recorder, s: &mut HlsStream) {
        while let Some(op) = rec.take() {
            let result = op.perform();
            if let FileOp::WriteAtomic { path, .. } = &op {
                assert!(s.handle_written(path, result.is_ok()), "{path:?}");
            }
        }
    }

    fn disk_config(dir: &Path) -> Hls {
        let mut c = config(1_000, 2_000);
        c.storage = HlsStorage::Disk;
        c.path = dir.display().to_string();
        c
    }

    fn key() -> StreamKey {
        StreamKey {
            vhost: "v".into(),
            app: "live".into(),
            stream: "cam".into(),
        }
    }

    fn config(fragment_ms: u32, window_ms: u32) -> Hls {
        Hls {
            enabled: true,
            fragment_ms,
            window_ms,
            max_bytes: 16 << 20,
            storage: HlsStorage::Ram,
            path: String::new(),
            cleanup: true,
            dispose_s: 0,
            ctx: false,
            ts_ctx: true,
            nb_notify: 64,
        }
    }

    /// Fake TS: for keyframes a PAT (PID 0) then a PMT (PID 0x1000), else one packet on PID
    /// 0x100.
    fn packets(key: bool) -> Bytes {
        let packet = |pid: u16| {
            let mut p = vec![0xFFu8; 188];
            p[..4].copy_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10]);
            p
        };
        if key {
            Bytes::from([packet(0), packet(0x1000)].concat())
        } else {
            Bytes::from(packet(0x100))
        }
    }

    fn feed(s: &mut HlsStream, dts: i64, key: bool) {
        let f = std::rc::Rc::new(Frame::video(
            VideoCodec::Avc,
            dts,
            0,
            key,
            false,
            Bytes::new(),
            0,
        ));
        s.push_frame(&f, packets(key));
    }

    /// on_hls: closed segments are kept only when the hooks want them, at most
    /// MAX_UNREPORTED (the oldest go), and taken once.
    #[test]
    fn closed_segments_wait_for_on_hls_bounded() {
        let mut s = ram(key(), config(1_000, 6_000));
        for i in 0..100 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        assert!(s.take_closed().is_empty(), "nobody asked");
        s.report_closed = true;
        // 1 s GOPs for 40 s more: 40 segments closed.
        for i in 100..1_100 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        let closed = s.take_closed();
        assert_eq!(closed.len(), MAX_UNREPORTED);
        assert!(closed.iter().all(|c| c.duration_ms == 1_000));
        let seqs: Vec<u64> = closed.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (27..43).collect::<Vec<u64>>());
        assert!(s.take_closed().is_empty());
        assert_eq!(s.files_of(3), None, "RAM storage has no files");
    }

    /// Found by GStreamer's playbin in the interop matrix: a 10 s GOP against the default 10 s
    /// window listed one segment, and players that join three segments from the end waited
    /// for ever. The playlist lists at least MIN_LISTED segments (RFC 8216 6.2.2).
    #[test]
    fn a_gop_as_long_as_the_window_still_lists_three_segments() {
        let mut s = ram(key(), config(2_000, 10_000));
        // 10 s GOPs at 25 fps for 45 s: four closed segments of 10 s.
        for i in 0..1_125 {
            feed(&mut s, i * 40, i % 250 == 0);
        }
        let m3u8 = s.playlist().unwrap();
        assert!(m3u8.contains("#EXT-X-TARGETDURATION:10\n"), "{m3u8}");
        assert!(m3u8.contains("#EXT-X-MEDIA-SEQUENCE:1\n"), "{m3u8}");
        assert_eq!(
            m3u8.matches("#EXTINF:10.000,").count(),
            MIN_LISTED,
            "{m3u8}"
        );
    }

    #[test]
    fn segments_cut_at_keyframes_after_the_fragment_and_window_trims() {
        let mut s = ram(key(), config(2_000, 6_000));
        assert!(s.playlist().is_none());
        // 1 s GOPs at 25 fps for 20 s.
        for i in 0..500 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        let m3u8 = s.playlist().unwrap();
        assert!(m3u8.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"));
        // 9 closed segments of 2 s; the window of 6 s lists the last 3.
        assert!(m3u8.contains("#EXT-X-MEDIA-SEQUENCE:6\n"), "{m3u8}");
        assert_eq!(m3u8.matches("#EXTINF:2.000,").count(), 3, "{m3u8}");
        assert!(m3u8.ends_with("cam-8.ts\n"));
        // Segments that left the window (plus EXTRA_SEGMENTS) are freed.
        assert_eq!(s.segment_count(), 3 + EXTRA_SEGMENTS);
        assert!(s.segment(3).is_none());
        // 50 frames, the 2 keyframes with a PAT and a PMT (one chunk, shared).
        match s.segment(8) {
            Some(SegmentData::Ram(chunks, bytes)) => {
                assert_eq!(chunks.len(), 50);
                assert_eq!(bytes, 52 * 188);
            }
            other => panic!("{other:?}"),
        }
        // RAM: window + extra + current, bounded.
        assert!(s.ram_bytes() <= (3 + EXTRA_SEGMENTS + 1) * 52 * 188);
    }

    /// Timestamps that jump back (2 s a frame) cut a segment at every frame (1 ms each, each
    /// a discontinuity); the window still holds at most `hls_window / hls_fragment + 1` of
    /// them, so RAM stays bounded.
    #[test]
    fn short_segments_cannot_grow_the_window_past_its_count() {
        let mut s = ram(key(), config(2_000, 6_000));
        for i in 0..2_000 {
            feed(&mut s, 10_000_000 - i * 2_000, true);
        }
        let max = HlsStream::max_window_segments(&s.config);
        assert_eq!(max, 4);
        assert_eq!(s.segment_count(), max + EXTRA_SEGMENTS);
        let m3u8 = s.playlist().unwrap();
        assert_eq!(m3u8.matches("#EXTINF:0.001,").count(), max, "{m3u8}");
        assert_eq!(m3u8.matches("#EXT-X-DISCONTINUITY").count(), max, "{m3u8}");
    }

    /// Audio a little behind the keyframe that started a segment (out-of-order interleaving,
    /// up to MAX_STEP_BACK_MS) stays in that segment; a jump further back starts a segment
    /// marked as a discontinuity, with tables though it is no keyframe, and the next keyframe
    /// ends it.
    #[test]
    fn a_small_step_back_stays_in_the_segment_and_a_jump_back_is_a_discontinuity() {
        let mut s = ram(key(), config(1_000, 60_000));
        for i in 0..60 {
            feed(&mut s, 10_000 + i * 40, i % 25 == 0);
            if i % 25 == 0 {
                feed(&mut s, 10_000 + i * 40 - 300, false);
            }
        }
        let m = s.playlist().unwrap();
        assert_eq!(m.matches("#EXTINF:1.000,").count(), 2, "{m}");
        assert!(!m.contains("DISCONTINUITY"), "{m}");
        // Back to 0, mid-GOP: a segment with copied tables, a discontinuity; cut at the
        // next keyframe although it is short.
        feed(&mut s, 0, false);
        feed(&mut s, 40, false);
        feed(&mut s, 80, true);
        feed(&mut s, 2_000, true);
        let m = s.playlist().unwrap();
        let after = m.split("#EXT-X-DISCONTINUITY\n").nth(1).unwrap();
        assert!(
            after.starts_with("#EXTINF:0.080,\ncam-3.ts\n#EXTINF:1.920,"),
            "{m}"
        );
        let Some(SegmentData::Ram(chunks, _)) = s.segment(3) else {
            panic!("{m}");
        };
        assert_eq!(ts::tables(&chunks.concat()).map(|t| t.len()), Some(376));
        assert!(s.segments.iter().find(|x| x.seq == 3).unwrap().forced);
        assert_eq!(s.forced_cuts, 0, "a jump is not the byte cap");
    }

    /// A stream over the bitrate `hls_max_bytes` allows gets shorter segments, and the oldest
    /// go first: RAM stays under the cap plus one frame.
    #[test]
    fn ram_stays_under_hls_max_bytes() {
        let mut cfg = config(2_000, 10_000);
        cfg.max_bytes = 64 * 1024;
        assert_eq!(HlsStream::max_segments(&cfg), 6 + EXTRA_SEGMENTS + 1);
        let cap = HlsStream::segment_cap(&cfg);
        assert_eq!(cap, 64 * 1024 / 9);
        let mut s = ram(key(), cfg);
        let big = |key: bool| {
            let mut p = packets(key).to_vec();
            p.extend(std::iter::repeat_n(packets(false).to_vec(), 20).flatten());
            Bytes::from(p)
        };
        for i in 0..500 {
            let f = std::rc::Rc::new(Frame::video(
                VideoCodec::Avc,
                i * 40,
                0,
                i % 25 == 0,
                false,
                Bytes::new(),
                0,
            ));
            s.push_frame(&f, big(i % 25 == 0));
            assert!(s.ram_bytes() <= 64 * 1024 + 21 * 188, "{}", s.ram_bytes());
        }
        assert!(s.segment_count() >= 2, "the window still has segments");
        assert!(s.playlist().is_some());
    }

    #[test]
    fn target_duration_is_the_longest_segment_and_long_gops_make_long_segments() {
        let mut s = ram(key(), config(1_000, 60_000));
        // GOPs of 2.48 s: segments of 2.48 s, target round(2.48) = 2.
        for i in 0..250 {
            feed(&mut s, i * 40, i % 62 == 0);
        }
        let m = s.playlist().unwrap();
        assert!(m.contains("#EXT-X-TARGETDURATION:2\n"), "{m}");
        assert!(m.contains("#EXTINF:2.480,"), "{m}");
        // A 10 s GOP with fragment 1 s: segments of 10 s, target 10.
        let mut s = ram(key(), config(1_000, 60_000));
        for i in 0..760 {
            feed(&mut s, i * 40, i % 250 == 0);
        }
        let m = s.playlist().unwrap();
        assert!(m.contains("#EXT-X-TARGETDURATION:10\n"), "{m}");
        assert_eq!(m.matches("#EXTINF:10.000,").count(), 3, "{m}");
        assert_eq!(m.matches("#EXTINF:").count(), 3, "{m}");
    }

    #[test]
    fn republish_marks_a_discontinuity_and_unpublish_closes_the_last_segment() {
        let stream = Rc::new(RefCell::new(ram(key(), config(1_000, 60_000))));
        let mut out = HlsOutput(stream.clone());
        for i in 0..60 {
            feed(&mut stream.borrow_mut(), i * 40, i % 25 == 0);
        }
        out.on_unpublish();
        let m = stream.borrow().playlist().unwrap();
        assert_eq!(m.matches("#EXTINF").count(), 3, "{m}");
        out.on_publish();
        for i in 0..60 {
            feed(&mut stream.borrow_mut(), i * 40, i % 25 == 0);
        }
        let m = stream.borrow().playlist().unwrap();
        assert_eq!(m.matches("#EXT-X-DISCONTINUITY").count(), 1, "{m}");
        let after = m.split("#EXT-X-DISCONTINUITY\n").nth(1).unwrap();
        assert!(after.starts_with("#EXTINF:1.000,\ncam-3.ts"), "{m}");
    }

    #[test]
    fn disk_storage_writes_whole_files_and_cleans_up() {
        let dir = std::env::temp_dir().join(format!("tinysrs-hls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rec = Recorder::new(64);
        let mut s = HlsStream::new(key(), disk_config(&dir), Files::new(rec.clone()));
        for i in 0..250 {
            feed(&mut s, i * 40, i % 25 == 0);
            run_ops(&rec, &mut s);
        }
        let app = dir.join("live");
        let m3u8 = std::fs::read_to_string(app.join("cam.m3u8")).unwrap();
        assert_eq!(Some(m3u8), s.playlist());
        // 1 s segments: 25 frames, the keyframe with a PAT and a PMT.
        assert_eq!(
            s.ram_bytes(),
            26 * 188,
            "only the segment being written is in RAM"
        );
        let files: Vec<_> = std::fs::read_dir(&app)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")));
        assert_eq!(files.len(), 1 + MIN_LISTED + EXTRA_SEGMENTS, "{files:?}");
        let newest = std::fs::read(app.join("cam-8.ts")).unwrap();
        assert_eq!(newest.len(), 26 * 188);
        s.dispose();
        run_ops(&rec, &mut s);
        assert_eq!(std::fs::read_dir(&app).unwrap().count(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The disk is slow: a closed segment is listed and served from RAM while its write
    /// waits, and leaves RAM only once the write is reported; the playlist file follows the
    /// segment file, never precedes it.
    #[test]
    fn disk_segments_are_served_from_ram_until_written() {
        let dir = Path::new("/nonexistent/hls");
        let rec = Recorder::new(64);
        let mut s = HlsStream::new(key(), disk_config(dir), Files::new(rec.clone()));
        for i in 0..26 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        assert!(s.playlist().unwrap().contains("cam-0.ts"));
        assert!(matches!(s.segment(0), Some(SegmentData::Ram(c, _)) if c.len() == 25));
        assert_eq!(s.ram_bytes(), (26 + 2) * 188);
        let path = dir.join("live/cam-0.ts");
        {
            let pending = rec.pending.borrow();
            let ops: Vec<_> = pending.iter().map(|o| (o.kind(), o.path())).collect();
            assert_eq!(ops, [(OpKind::Write, path.as_path())], "no playlist yet");
        }
        let _ = rec.take();
        assert!(s.handle_written(&path, true));
        assert!(matches!(s.segment(0), Some(SegmentData::File(p)) if p == path));
        assert_eq!(s.segment_len(0), Some(26 * 188));
        assert_eq!(s.ram_bytes(), 2 * 188);
        let op = rec.take().unwrap();
        match &op {
            FileOp::WriteAtomic { path, chunks } => {
                assert_eq!(path, &dir.join("live/cam.m3u8"));
                assert_eq!(chunks.concat(), s.playlist().unwrap().as_bytes());
            }
            other => panic!("{other:?}"),
        }
        assert!(s.handle_written(op.path(), true));
        assert!(rec.take().is_none());
        // Not ours: another stream's segment, another directory.
        assert!(!s.handle_written(&dir.join("live/cam2-0.ts"), true));
        assert!(!s.handle_written(Path::new("/elsewhere/cam-0.ts"), true));
    }

    /// A full disk queue: the write is dropped and counted, the segment stays in RAM (still
    /// playable) until it leaves the window; a dropped removal is retried later.
    #[test]
    fn dropped_and_failed_writes_keep_the_segment_in_ram() {
        let dir = Path::new("/nonexistent/hls");
        let rec = Recorder::new(0);
        let files = Files::new(rec.clone());
        let mut s = HlsStream::new(key(), disk_config(dir), files.clone());
        for i in 0..26 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        assert_eq!(files.counts().dropped, 1);
        assert!(matches!(s.segment(0), Some(SegmentData::Ram(c, _)) if c.len() == 25));
        // Window 2 s of 1 s segments lists MIN_LISTED (3); plus EXTRA_SEGMENTS: segment 0
        // leaves at the 6th close.
        for i in 26..175 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        assert!(s.segment(0).is_none());
        assert_eq!(s.unremoved.len(), 1, "its removal waits for room");
        assert!(s.ram_bytes() <= 6 * 26 * 188);
        let rec = Recorder::new(64);
        s.files = Files::new(rec.clone());
        for i in 175..201 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        assert!(s.unremoved.is_empty());
        let kinds: Vec<_> = rec
            .pending
            .borrow()
            .iter()
            .map(|o| (o.kind(), o.path().to_path_buf()))
            .collect();
        assert_eq!(kinds[0].0, OpKind::Write, "the new segment goes first");
        assert_eq!(kinds[1], (OpKind::Remove, dir.join("live/cam-0.ts")));
        // A write that fails: the segment stays in RAM.
        while let Some(op) = rec.take() {
            if let FileOp::WriteAtomic { path, .. } = &op {
                assert!(s.handle_written(path, false));
                let seq = s.segments.back().unwrap().seq;
                assert!(matches!(s.segment(seq), Some(SegmentData::Ram(..))));
            }
        }
    }

    /// Real frames through the TS output into the HLS output, in the order a Source runs them.
    struct Chain {
        ts: ts::TsOutput,
        hls: HlsOutput,
        stream: Rc<RefCell<HlsStream>>,
    }

    /// AAC LC, 44.1 kHz, stereo.
    const ASC: [u8; 2] = [0x12, 0x10];

    impl Chain {
        fn new(config: Hls) -> Chain {
            let stream = Rc::new(RefCell::new(ram(key(), config)));
            let mut c = Chain {
                ts: ts::TsOutput::new("test".into()),
                hls: HlsOutput(stream.clone()),
                stream,
            };
            c.ts.on_publish();
            c.hls.on_publish();
            let sps = [0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9];
            let pps = [0x68, 0xee, 0x3c, 0x80];
            let mut avc = vec![0x17, 0x00, 0, 0, 0, 1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 6];
            avc.extend_from_slice(&sps);
            avc.extend_from_slice(&[1, 0, 4]);
            avc.extend_from_slice(&pps);
            c.push(Frame::video(
                VideoCodec::Avc,
                0,
                0,
                false,
                true,
                avc.into(),
                5,
            ));
            let aac = [0xAF, 0x00, ASC[0], ASC[1]];
            c.push(Frame::audio(
                crate::media::AudioCodec::Aac,
                0,
                true,
                Bytes::copy_from_slice(&aac),
                2,
            ));
            c
        }

        fn push(&mut self, f: Frame) {
            let f = Rc::new(f);
            self.ts.on_frame(&f);
            self.hls.on_frame(&f);
        }

        /// `secs` of video at `fps` with a keyframe every `gop` frames, `frame_len` bytes a
        /// frame (keyframes 4 times that), and AAC (200 bytes a frame), interleaved by DTS.
        fn run(&mut self, secs: i64, fps: i64, gop: i64, frame_len: usize) {
            let video = (0..secs * fps).map(|n| (n * 1000 / fps, Some(n % gop == 0)));
            let audio = (0..secs * 44_100 / 1024).map(|k| (k * 1024 * 1000 / 44_100, None));
            let mut all: Vec<(i64, Option<bool>)> = video.chain(audio).collect();
            all.sort_by_key(|&(dts, v)| (dts, v.is_some()));
            for (dts, v) in all {
                let f = match v {
                    Some(key) => {
                        let len = if key { 4 * frame_len } else { frame_len };
                        let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
                        body.extend_from_slice(&(len as u32 - 4).to_be_bytes()[..]);
                        body.push(if key { 0x65 } else { 0x41 });
                        body.resize(5 + len, (dts & 0x7F) as u8 | 0x80);
                        Frame::video(VideoCodec::Avc, dts, 0, key, false, body.into(), 5)
                    }
                    None => {
                        let mut body = vec![0xAF, 0x01];
                        body.resize(202, 0x5A);
                        Frame::audio(crate::media::AudioCodec::Aac, dts, false, body.into(), 2)
                    }
                };
                self.push(f);
            }
        }
    }

    /// What the checks found in one listed segment.
    #[derive(Debug)]
    struct Listed {
        duration: f64,
        discontinuity: bool,
        /// The first video PES is a keyframe (random_access_indicator).
        keyframe: bool,
        /// The segmenter marked it as started by a forced cut.
        forced: bool,
    }

    /// Checks the playlist and every segment it lists, each on its own and all in a row: a
    /// segment starts with the PAT (PID 0) then the PMT, a demuxer given only that segment
    /// finds the video stream, `EXT-X-TARGETDURATION` covers every `EXTINF` rounded (RFC 8216
    /// 4.3.3.1), and continuity counters run on from one segment to the next.
    fn check_segments(s: &HlsStream) -> Vec<Listed> {
        use crate::wire::mpegts::{Demuxer, PMT_PID, VIDEO_PID};
        let m3u8 = s.playlist().unwrap();
        let target: f64 = m3u8
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
            .unwrap()
            .parse()
            .unwrap();
        let mut seq: u64 = m3u8
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .unwrap()
            .parse()
            .unwrap();
        let mut all = Demuxer::new();
        let mut listed = Vec::new();
        let mut discontinuity = false;
        for line in m3u8.lines() {
            if line == "#EXT-X-DISCONTINUITY" {
                discontinuity = true;
            }
            let Some(d) = line.strip_prefix("#EXTINF:") else {
                continue;
            };
            let duration: f64 = d.trim_end_matches(',').parse().unwrap();
            assert!(duration.round() <= target, "{m3u8}");
            let Some(SegmentData::Ram(chunks, len)) = s.segment(seq) else {
                panic!("segment {seq} not in RAM");
            };
            let bytes = chunks.concat();
            assert_eq!(bytes.len(), len);
            assert_eq!(bytes.len() % PACKET_LEN, 0);
            let pid = |i: usize| {
                u16::from(bytes[i * PACKET_LEN + 1] & 0x1F) << 8
                    | u16::from(bytes[i * PACKET_LEN + 2])
            };
            assert_eq!(
                (pid(0), pid(1)),
                (0, PMT_PID),
                "segment {seq}: PAT, PMT first"
            );
            let mut alone = Demuxer::new();
            alone.push(&bytes).unwrap();
            alone.flush().unwrap();
            let first_video = std::iter::from_fn(|| alone.poll())
                .find(|p| p.pid == VIDEO_PID)
                .unwrap_or_else(|| panic!("segment {seq}: no video found alone"));
            all.push(&bytes).unwrap();
            let forced = s.segments.iter().find(|x| x.seq == seq).unwrap().forced;
            assert_eq!(forced, !first_video.random_access, "segment {seq}");
            listed.push(Listed {
                duration,
                discontinuity: std::mem::take(&mut discontinuity),
                keyframe: first_video.random_access,
                forced,
            });
            seq += 1;
        }
        assert_eq!(all.cc_errors(), 0, "continuity across segments");
        listed
    }

    fn target(s: &HlsStream) -> u32 {
        let m = s.playlist().unwrap();
        let t = m
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"));
        t.unwrap().parse().unwrap()
    }

    /// Issue 17: a 10 s GOP against 2 s fragments (OBS's 250 frames at 25 fps). Segments last
    /// until the first keyframe after `hls_fragment`, so each is a whole GOP starting with
    /// PAT, PMT and the keyframe; `EXT-X-TARGETDURATION` rises to cover them.
    #[test]
    fn a_long_gop_makes_long_segments_that_start_with_tables_and_a_keyframe() {
        let mut c = Chain::new(config(2_000, 60_000));
        c.run(35, 25, 250, 1_000);
        let s = c.stream.borrow();
        let listed = check_segments(&s);
        assert_eq!(listed.len(), 3, "{listed:?}");
        for l in &listed {
            assert!(l.keyframe && !l.discontinuity, "{listed:?}");
            assert!((l.duration - 10.0).abs() < 0.05, "{listed:?}");
        }
        assert_eq!(target(&s), 10);
    }

    /// A GOP over the segment's byte cap (`hls_max_bytes` / (`hls_window` / `hls_fragment` +
    /// 4)) is cut between keyframes. The segment after such a forced cut still starts with
    /// PAT and PMT, continuity counters included, and is not marked as a discontinuity: its
    /// timestamps and frames follow on from the segment before it. The next keyframe starts
    /// a segment again, however short the forced one is.
    #[test]
    fn a_gop_over_the_byte_cap_is_cut_and_the_next_segment_still_starts_with_tables() {
        // A segment cap of 7 MiB / (60 / 2 + 4) = 216 KiB, about 3 s; nothing leaves the
        // window.
        let mut cfg = config(2_000, 60_000);
        cfg.max_bytes = 7 << 20;
        let mut c = Chain::new(cfg);
        c.run(35, 25, 250, 2_000);
        let s = c.stream.borrow();
        let listed = check_segments(&s);
        let forced = listed.iter().filter(|l| l.forced).count() as u64;
        assert!(forced >= 6, "{listed:?}");
        assert!(s.forced_cuts >= forced, "the current one may be forced too");
        assert!(listed.iter().all(|l| !l.discontinuity), "{listed:?}");
        // Every keyframe (each 10 s) starts a segment.
        let mut t = 0.0;
        for l in &listed {
            let at_keyframe = (t / 10.0f64).fract().min(1.0 - (t / 10.0f64).fract()) < 0.005;
            assert_eq!(l.keyframe, at_keyframe, "at {t}: {listed:?}");
            t += l.duration;
        }
    }

    /// A forced cut that falls on the audio just before a keyframe: the keyframe goes into
    /// the forced segment (which has no video yet) instead of cutting again, so no segment
    /// holds audio alone; a forced segment with video still ends at the next keyframe.
    #[test]
    fn a_forced_cut_on_audio_before_a_keyframe_makes_no_audio_only_segment() {
        // A segment cap of 34 x 188 x 5 / (60 / 2 + 4) = 5 TS packets.
        let mut cfg = config(2_000, 60_000);
        cfg.max_bytes = 34 * 188 * 5;
        assert_eq!(HlsStream::segment_cap(&cfg), 5 * 188);
        let mut s = ram(key(), cfg);
        let audio = |s: &mut HlsStream, dts: i64| {
            let f = std::rc::Rc::new(Frame::audio(
                crate::media::AudioCodec::Aac,
                dts,
                false,
                Bytes::new(),
                0,
            ));
            s.push_frame(&f, packets(false));
        };
        // Keyframe (2 packets) and three P-frames fill the cap; the audio frame is cut off.
        feed(&mut s, 0, true);
        for dts in [40, 80, 120] {
            feed(&mut s, dts, false);
        }
        audio(&mut s, 130);
        assert_eq!(s.next_seq, 2, "the byte cap cut before the audio frame");
        feed(&mut s, 160, true);
        assert_eq!(
            s.next_seq, 2,
            "the keyframe joins the forced segment of audio only"
        );
        // That segment has video now: its next keyframe (or the cap) ends it.
        feed(&mut s, 200, true);
        assert_eq!(s.next_seq, 3);
    }

    /// The shipped defaults (2 s fragments, 10 s window, 16 MiB) against OBS's defaults: 250
    /// frames a GOP at 30 fps (8.3 s) and 2.5 Mbit/s. A GOP is bigger than the segment cap,
    /// so some cuts are forced; every segment is still valid on its own.
    #[test]
    fn obs_defaults_on_the_shipped_config_give_valid_segments() {
        let shipped = include_str!("../../rootfs/common/etc/tinysrs/tinysrs.toml");
        let shipped = crate::config::Config::from_toml_str(shipped, "shipped").unwrap();
        let hls = shipped.default_vhost().hls.clone();
        assert_eq!(hls, crate::config::Config::embedded().default_vhost().hls);
        let mut c = Chain::new(hls);
        c.run(40, 30, 250, 2_500_000 / 8 / 30);
        let s = c.stream.borrow();
        let listed = check_segments(&s);
        assert!(s.forced_cuts > 0, "{listed:?}");
        assert!(listed.iter().any(|l| l.keyframe), "{listed:?}");
        assert!(listed.iter().all(|l| !l.discontinuity), "{listed:?}");
        assert!(target(&s) >= 5, "{listed:?}");
    }
}
