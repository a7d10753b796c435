//! HLS from the hub: a segmenter fed by the Source's TS output, a playlist, and the segments
//! in RAM (default, no flash wear) or as files under `hls_path`.
//!
//! Segments start where the TS output put PAT/PMT (video keyframes; once a second on
//! audio-only streams) and are cut at the first such point after `hls_fragment`. A GOP much
//! longer than that is cut anyway at `MAX_SEGMENT_FACTOR × hls_fragment` (the next segment then
//! starts without a keyframe; players recover at the next one), and at `MAX_SEGMENT_BYTES`.
//! The playlist keeps `hls_window` of segments; `EXT-X-TARGETDURATION` is the longest segment
//! in it, rounded to the nearest second (RFC 8216); `EXT-X-DISCONTINUITY` marks a republish or a codec change.
//!
//! RAM (ram storage), per published stream: the segments in the window, `EXTRA_SEGMENTS`
//! more and the one being written, about (hls_window + 3 × hls_fragment) × bitrate × 1.05
//! (TS overhead); each segment holds shared references to the frames' TS packets (no copy).
//! Measured with the defaults at 2 Mbit/s: +5.1 MiB RSS (`ci/measure 1 1 hls-ram`).
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
use crate::wire::mpegts::PACKET_LEN;

/// A segment is cut, keyframe or not, once it is this many times `hls_fragment` long.
pub const MAX_SEGMENT_FACTOR: i64 = 3;
/// A segment is cut once it holds this many bytes (a 20 Mbit/s stream fills it in 6.7 s).
pub const MAX_SEGMENT_BYTES: usize = 16 * 1024 * 1024;
/// Segments kept beyond the window for players still fetching them.
pub const EXTRA_SEGMENTS: usize = 2;

#[derive(Debug)]
struct Segment {
    seq: u64,
    duration_ms: i64,
    discontinuity: bool,
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
        }
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

    /// The playlist (RFC 8216), or None before the first segment is complete.
    pub fn playlist(&self) -> Option<String> {
        let first = self.window_start();
        let live: Vec<&Segment> = self.segments.iter().skip(first).collect();
        let seq = live.first()?.seq;
        // RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer is at most this.
        let target = live
            .iter()
            .map(|s| (s.duration_ms + 500) / 1000)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut m = String::with_capacity(128 + live.len() * 48);
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
                "#EXTINF:{}.{:03},\n{}-{}.ts\n",
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
        (config.window_ms / config.fragment_ms.max(1)) as usize + 1
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
            if total >= i64::from(self.config.window_ms) || self.segments.len() - start >= max {
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
        let can_start = ts::starts_with_tables(&packets);
        if let Some((seg, start)) = &self.current {
            let elapsed = frame.dts - start;
            let due = can_start && elapsed >= fragment;
            let forced = elapsed >= MAX_SEGMENT_FACTOR * fragment
                || seg.bytes + packets.len() > Self::segment_cap(&self.config)
                || elapsed < 0;
            if due || forced {
                self.close_segment(frame.dts);
            }
        }
        if self.current.is_none() {
            if !can_start && self.segments.is_empty() {
                // The first segment starts with tables (and a keyframe).
                return;
            }
            let seg = Segment {
                seq: self.next_seq,
                duration_ms: 0,
                discontinuity: std::mem::take(&mut self.discontinuity_next),
                chunks: Vec::new(),
                bytes: 0,
                on_disk: false,
            };
            self.next_seq += 1;
            self.current = Some((seg, frame.dts));
        }
        if let Some((seg, _)) = &mut self.current {
            seg.bytes += packets.len();
            seg.chunks.push(packets);
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

/// Attaches HLS (and the TS muxer it needs) to a publish whose vhost has it on; removes it when
/// the vhost has it off (a republish after a reload).
pub fn on_publish(ctx: &ServerCtx, source: &Rc<RefCell<Source>>, vhost: &Vhost) {
    let mut s = source.borrow_mut();
    if !vhost.hls.enabled {
        s.remove_output(OutputKind::Hls);
        return;
    }
    ts::attach(&mut s);
    if s.output(OutputKind::Hls).is_none() {
        let stream = ctx
            .hls
            .borrow_mut()
            .entry(s.key.clone())
            .or_insert_with(|| {
                Rc::new(RefCell::new(HlsStream::new(
                    s.key.clone(),
                    vhost.hls.clone(),
                    ctx.files.clone(),
                )))
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
        }
    }

    /// Fake TS: one packet, a PAT (PID 0) for keyframes, else PID 0x100.
    fn packets(key: bool) -> Bytes {
        let mut p = vec![0xFFu8; 188];
        p[0] = 0x47;
        p[1] = if key { 0x40 } else { 0x41 };
        p[2] = 0;
        Bytes::from(p)
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
        match s.segment(8) {
            Some(SegmentData::Ram(chunks, bytes)) => {
                assert_eq!(chunks.len(), 50);
                assert_eq!(bytes, 50 * 188);
            }
            other => panic!("{other:?}"),
        }
        // RAM: window + extra + current, bounded.
        assert!(s.ram_bytes() <= (3 + EXTRA_SEGMENTS + 1) * 50 * 188);
    }

    /// Timestamps that jump back cut a segment at every frame (1 ms each); the window still
    /// holds at most `hls_window / hls_fragment + 1` of them, so RAM stays bounded.
    #[test]
    fn short_segments_cannot_grow_the_window_past_its_count() {
        let mut s = ram(key(), config(2_000, 6_000));
        for i in 0..2_000 {
            feed(&mut s, 1_000_000 - i, true);
        }
        let max = HlsStream::max_window_segments(&s.config);
        assert_eq!(max, 4);
        assert_eq!(s.segment_count(), max + EXTRA_SEGMENTS);
        let m3u8 = s.playlist().unwrap();
        assert_eq!(m3u8.matches("#EXTINF:").count(), max, "{m3u8}");
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
    fn target_duration_is_the_longest_segment_and_long_gops_are_cut() {
        let mut s = ram(key(), config(1_000, 60_000));
        // GOPs of 2.48 s: segments of 2.48 s, target round(2.48) = 2.
        for i in 0..250 {
            feed(&mut s, i * 40, i % 62 == 0);
        }
        let m = s.playlist().unwrap();
        assert!(m.contains("#EXT-X-TARGETDURATION:2\n"), "{m}");
        assert!(m.contains("#EXTINF:2.480,"), "{m}");
        // A 10 s GOP with fragment 1 s: forced cuts at 3 s.
        let mut s = ram(key(), config(1_000, 60_000));
        for i in 0..300 {
            feed(&mut s, i * 40, i == 0);
        }
        let m = s.playlist().unwrap();
        assert!(m.contains("#EXTINF:3.000,"), "{m}");
        for line in m.lines().filter(|l| l.starts_with("#EXTINF:")) {
            let secs: f64 = line[8..line.len() - 1].parse().unwrap();
            assert!(secs <= 3.0, "{m}");
        }
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
        assert_eq!(
            s.ram_bytes(),
            25 * 188,
            "only the segment being written is in RAM"
        );
        let files: Vec<_> = std::fs::read_dir(&app)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")));
        assert_eq!(files.len(), 1 + 2 + EXTRA_SEGMENTS, "{files:?}");
        let newest = std::fs::read(app.join("cam-8.ts")).unwrap();
        assert_eq!(newest.len(), 25 * 188);
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
        assert_eq!(s.ram_bytes(), 26 * 188);
        let path = dir.join("live/cam-0.ts");
        {
            let pending = rec.pending.borrow();
            let ops: Vec<_> = pending.iter().map(|o| (o.kind(), o.path())).collect();
            assert_eq!(ops, [(OpKind::Write, path.as_path())], "no playlist yet");
        }
        let _ = rec.take();
        assert!(s.handle_written(&path, true));
        assert!(matches!(s.segment(0), Some(SegmentData::File(p)) if p == path));
        assert_eq!(s.segment_len(0), Some(25 * 188));
        assert_eq!(s.ram_bytes(), 188);
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
        // Window 2 s of 1 s segments, plus EXTRA_SEGMENTS: segment 0 leaves at the 5th close.
        for i in 26..150 {
            feed(&mut s, i * 40, i % 25 == 0);
        }
        assert!(s.segment(0).is_none());
        assert_eq!(s.unremoved.len(), 1, "its removal waits for room");
        assert!(s.ram_bytes() <= 5 * 25 * 188);
        let rec = Recorder::new(64);
        s.files = Files::new(rec.clone());
        for i in 150..176 {
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
}
