//! One stream's recorder: which frames go into which file, the bytes held for the disk, and
//! what happens when the disk fails. No I/O: file work goes to the disk thread as
//! [`DiskOp`]s through [`Files`], and its outcomes come back through [`Recorder::handle_done`].
//!
//! States (transitions):
//! * `Idle`: not publishing, or stopped. `on_publish` → `Waiting`.
//! * `Waiting`: publishing, no file. The first frame a file may start with (a video keyframe;
//!   audio while the stream has no video; any media frame without `dvr_wait_keyframe`) opens
//!   one → `Writing`.
//! * `Writing`: frames go into the file. Segment plan: the first such frame after
//!   `dvr_duration` closes it and opens the next. `on_unpublish`/`stop` close it → `Idle`. The
//!   disk reporting an error for it → `Failed`.
//! * `Failed`: frames are dropped; [`RETRY_MS`] after the failure → `Waiting` (a new file at
//!   the next keyframe; if that fails too, `Failed` again).
//!
//! A disk that is behind: the bytes held (the batch being gathered, ops the disk queue did not
//! take yet, ops it has not finished) are capped by `dvr_queue_bytes`; a frame that would go
//! past it starts a skip to the next keyframe, counted ([`Recorder::take_drops`]).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use super::disk::DiskOp;
use super::format::{self, Batch, Format, Headers, WRITE_BYTES};
use super::WallClock;
use crate::config::{Dvr, DvrPlan, DvrSync};
use crate::live::jitter::{Jitter, TimeJitter};
use crate::live::StreamKey;
use crate::media::{Frame, FrameKind, SharedFrame};
use crate::server::disk::{Dropped, FileOp, Files};

/// How long a recording stays stopped after a disk error before it tries a new file.
pub const RETRY_MS: u64 = 3_000;

/// Recordings the journal remembers (the API's list); the oldest closed ones leave first.
/// RAM: about 300 bytes each with its path.
pub const MAX_RECORDINGS: usize = 256;

/// What became of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingState {
    Writing,
    Closed,
    /// A leftover of an earlier run, cut after its last complete tag at start.
    Repaired,
    /// The disk failed; what was written before is kept when it holds media.
    Failed,
}

impl RecordingState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordingState::Writing => "writing",
            RecordingState::Closed => "closed",
            RecordingState::Repaired => "repaired",
            RecordingState::Failed => "failed",
        }
    }
}

/// One recording file, for the API.
#[derive(Debug, Clone)]
pub struct Recording {
    pub id: u32,
    pub key: Option<StreamKey>,
    pub path: PathBuf,
    /// Wall-clock ms since the epoch when it started.
    pub start_ms: u64,
    pub duration_ms: u64,
    pub bytes: u64,
    pub state: RecordingState,
    pub error: Option<String>,
    /// A write reached the file (`DvrStarted` was emitted).
    pub started: bool,
}

/// Whether `onMetaData` announces a video track (`videocodecid`, as ffmpeg, OBS and
/// GStreamer write it).
fn announces_video(body: &[u8]) -> bool {
    let Ok(values) = crate::wire::amf0::decode_all(body) else {
        return false;
    };
    values
        .get(1)
        .and_then(|v| v.get("videocodecid"))
        .is_some_and(|id| !matches!(id.as_f64(), Some(0.0)) && id.as_bool() != Some(false))
}

/// What every recorder shares: the recordings of this process and the file ids.
#[derive(Debug, Default)]
pub struct Journal {
    next_id: u32,
    pub recordings: VecDeque<Recording>,
    /// The stream of each file with ops outstanding.
    pub owners: HashMap<u32, StreamKey>,
}

impl Journal {
    fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Adds a recording, forgetting the oldest one not being written past
    /// [`MAX_RECORDINGS`].
    pub fn push(&mut self, r: Recording) {
        if self.recordings.len() >= MAX_RECORDINGS {
            let old = self
                .recordings
                .iter()
                .position(|r| r.state != RecordingState::Writing)
                .unwrap_or(0);
            self.recordings.remove(old);
        }
        self.recordings.push_back(r);
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Recording> {
        self.recordings.iter_mut().rev().find(|r| r.id == id)
    }

    /// Forgets recording `id` (a file that never got a byte).
    pub fn forget(&mut self, id: u32) {
        self.recordings.retain(|r| r.id != id);
        self.owners.remove(&id);
    }
}

/// The recorder's state; see the module doc.
#[derive(Debug)]
enum State {
    Idle,
    Waiting,
    Writing(Box<OpenFile>),
    Failed {
        error: String,
        /// When the sweep first saw the failure (driver clock).
        since_ms: Option<u64>,
    },
}

#[derive(Debug)]
struct OpenFile {
    id: u32,
    path: PathBuf,
    format: Box<dyn Format>,
    jitter: Jitter,
    /// The file's first and last timestamps.
    first_ts: Option<i64>,
    last_ts: i64,
    batch: Batch,
    /// A video keyframe is in the file (video before it is left out with wait_keyframe).
    video_started: bool,
    last_sync_ms: Option<u64>,
}

impl OpenFile {
    fn duration_ms(&self) -> u64 {
        self.first_ts
            .map_or(0, |first| (self.last_ts - first).max(0) as u64)
    }
}

/// A recorder's view for the API.
#[derive(Debug, Clone)]
pub struct RecorderStatus {
    /// idle | waiting | writing | failed.
    pub state: &'static str,
    pub path: Option<PathBuf>,
    pub error: Option<String>,
    pub dropped_frames: u64,
    pub queued_bytes: usize,
    pub files: u64,
}

/// What the disk's answer meant to the recorder.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to say.
    Quiet,
    /// The file being written failed: the recording stopped (log it once).
    Stopped,
    /// The file being written failed again, before any write succeeded (still stopped).
    StillStopped,
    /// A write succeeded after a failure: the recording goes on.
    Resumed,
}

/// One stream's recorder; see the module doc.
#[derive(Debug)]
pub struct Recorder {
    pub key: StreamKey,
    config: Dvr,
    files: Files,
    clock: Rc<dyn WallClock>,
    journal: Rc<RefCell<Journal>>,
    headers: Headers,
    /// The stream has sent video, or metadata that announces it, this publish: files start
    /// and are cut at video keyframes (else at any audio frame).
    has_video: bool,
    state: State,
    /// Ops the disk queue did not take yet, in order, and their bytes.
    pending: VecDeque<DiskOp>,
    pending_bytes: usize,
    /// Ops the disk thread has and has not finished, and their bytes.
    ops_in_flight: usize,
    in_flight: usize,
    /// Skipping to the next keyframe (the queue was full).
    dropping: bool,
    dropped_frames: u64,
    unreported_drops: u64,
    files_opened: u64,
    /// A failure was logged; the next file opened is logged as the recording going on.
    failing: bool,
}

impl Recorder {
    pub fn new(
        key: StreamKey,
        config: Dvr,
        files: Files,
        clock: Rc<dyn WallClock>,
        journal: Rc<RefCell<Journal>>,
    ) -> Recorder {
        Recorder {
            key,
            config,
            files,
            clock,
            journal,
            headers: Headers::default(),
            has_video: false,
            state: State::Idle,
            pending: VecDeque::new(),
            pending_bytes: 0,
            ops_in_flight: 0,
            in_flight: 0,
            dropping: false,
            dropped_frames: 0,
            unreported_drops: 0,
            files_opened: 0,
            failing: false,
        }
    }

    /// The vhost's settings now; a change applies to the next file.
    pub fn set_config(&mut self, config: Dvr) {
        self.config = config;
    }

    pub fn config(&self) -> &Dvr {
        &self.config
    }

    /// Bytes held for the disk: the batch, ops not taken, ops not finished.
    pub fn queued_bytes(&self) -> usize {
        let batch = match &self.state {
            State::Writing(f) => f.batch.len(),
            _ => 0,
        };
        batch + self.pending_bytes + self.in_flight
    }

    /// Nothing held and nothing to do: the registry may forget it.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle) && self.pending.is_empty() && self.ops_in_flight == 0
    }

    /// Whether ops of some file are still with the disk thread.
    pub fn ops_in_flight(&self) -> bool {
        self.ops_in_flight > 0 || !self.pending.is_empty()
    }

    /// The id of the file being written.
    pub fn current_id(&self) -> Option<u32> {
        match &self.state {
            State::Writing(f) => Some(f.id),
            _ => None,
        }
    }

    /// The path of the file being written.
    pub fn current_path(&self) -> Option<&PathBuf> {
        match &self.state {
            State::Writing(f) => Some(&f.path),
            _ => None,
        }
    }

    pub fn status(&self) -> RecorderStatus {
        let (state, error) = match &self.state {
            State::Idle => ("idle", None),
            State::Waiting => ("waiting", None),
            State::Writing(_) => ("writing", None),
            State::Failed { error, .. } => ("failed", Some(error.clone())),
        };
        RecorderStatus {
            state,
            path: self.current_path().cloned(),
            error,
            dropped_frames: self.dropped_frames,
            queued_bytes: self.queued_bytes(),
            files: self.files_opened,
        }
    }

    /// Frames skipped since the last call, and in all.
    pub fn take_drops(&mut self) -> Option<(u64, u64)> {
        let new = std::mem::take(&mut self.unreported_drops);
        (new > 0).then_some((new, self.dropped_frames))
    }

    pub fn on_publish(&mut self) {
        self.close();
        self.headers = Headers::default();
        self.has_video = false;
        self.dropping = false;
        self.state = State::Waiting;
    }

    pub fn on_unpublish(&mut self) {
        self.stop();
    }

    /// Ends the file being written, if any, and records nothing more until `on_publish`.
    pub fn stop(&mut self) {
        self.close();
        self.state = State::Idle;
    }

    pub fn on_frame(&mut self, frame: &SharedFrame) {
        match frame.kind {
            FrameKind::Metadata => {
                self.headers.metadata = Some(frame.clone());
                // ffmpeg's tee muxer sends the video sequence header with the first video
                // frame, after audio has begun: the metadata says video is coming.
                self.has_video |= announces_video(&frame.data);
            }
            FrameKind::Video => {
                if frame.sequence_header {
                    self.headers.video = Some(frame.clone());
                }
                self.has_video = true;
            }
            FrameKind::Audio if frame.sequence_header => self.headers.audio = Some(frame.clone()),
            FrameKind::Audio => {}
        }
        let header = frame.kind == FrameKind::Metadata || frame.sequence_header;
        let (open, cut) = match &self.state {
            State::Idle | State::Failed { .. } => return,
            State::Waiting => (true, false),
            State::Writing(file) => {
                let due = self.config.plan == DvrPlan::Segment
                    && file.first_ts.is_some_and(|first| {
                        let ts = file.jitter.clone().correct(frame.dts as u32);
                        ts - first >= i64::from(self.config.duration_s) * 1000
                    });
                (false, due)
            }
        };
        if open || cut {
            if header || !self.starts_file(frame) {
                if open {
                    // Waiting: headers are kept for the file, other frames skipped.
                    return;
                }
            } else {
                self.close();
                self.open(frame);
            }
        }
        self.write(frame);
    }

    /// Whether a file may start with `frame` (a media frame).
    fn starts_file(&self, frame: &Frame) -> bool {
        if !self.config.wait_keyframe {
            return true;
        }
        match frame.kind {
            FrameKind::Video => frame.is_video_keyframe(),
            FrameKind::Audio => !self.has_video,
            FrameKind::Metadata => false,
        }
    }

    /// Starts a file with `first`: its open op and its first bytes (header, metadata,
    /// sequence headers, stamped with the time of `first` on the file's timeline).
    fn open(&mut self, first: &Frame) {
        let (id, time) = (self.journal.borrow_mut().next_id(), self.clock.now());
        let k = &self.key;
        let path = self.config.path.expand(&k.vhost, &k.app, &k.stream, time);
        let mut file = OpenFile {
            id,
            path: path.clone(),
            format: format::new_file(
                self.config.path.format,
                format!("{k} {}", path.display()),
                self.config.fragment_s.saturating_mul(1000),
            ),
            jitter: Jitter::new(self.config.time_jitter),
            first_ts: None,
            last_ts: 0,
            batch: Batch::new(),
            video_started: false,
            last_sync_ms: None,
        };
        let start = file.jitter.clone().correct(first.dts as u32).max(0) as u32;
        file.format.begin(&self.headers, start, &mut file.batch);
        {
            let mut j = self.journal.borrow_mut();
            j.owners.insert(id, self.key.clone());
            j.push(Recording {
                id,
                key: Some(self.key.clone()),
                path: path.clone(),
                start_ms: time.unix_ms,
                duration_ms: 0,
                bytes: 0,
                state: RecordingState::Writing,
                error: None,
                started: false,
            });
        }
        self.files_opened += 1;
        self.dropping = false;
        self.state = State::Writing(Box::new(file));
        self.submit(DiskOp::Open { id, path });
    }

    /// Writes one frame into the open file (or skips it: queue full, video before the
    /// first keyframe).
    fn write(&mut self, frame: &SharedFrame) {
        let queued = self.queued_bytes();
        let queue_cap = self.config.queue_bytes;
        let wait_keyframe = self.config.wait_keyframe;
        let has_video = self.has_video;
        let State::Writing(file) = &mut self.state else {
            return;
        };
        let header = frame.kind == FrameKind::Metadata || frame.sequence_header;
        if !header {
            let key = frame.is_video_keyframe() || (frame.kind == FrameKind::Audio && !has_video);
            if frame.kind == FrameKind::Video && wait_keyframe && !file.video_started {
                if !frame.keyframe {
                    return;
                }
                file.video_started = true;
            }
            let cost = frame.data.len() + format::TAG_OVERHEAD;
            if self.dropping && key && queued + cost <= queue_cap {
                self.dropping = false;
            } else if !self.dropping && queued > 0 && queued + cost > queue_cap {
                self.dropping = true;
            }
            if self.dropping {
                self.dropped_frames += 1;
                self.unreported_drops += 1;
                return;
            }
        }
        let ts = match frame.kind {
            // Once per file (a later one is not written), at 0 as SRS does; on the stream's
            // timeline with time_jitter off.
            FrameKind::Metadata if self.config.time_jitter == TimeJitter::Off => file.last_ts,
            FrameKind::Metadata => 0,
            _ => file.jitter.correct(frame.dts as u32),
        };
        if !header {
            file.first_ts.get_or_insert(ts);
            file.last_ts = ts;
        }
        file.format.frame(frame, ts.max(0) as u32, &mut file.batch);
        if file.format.ready() || file.batch.len() >= WRITE_BYTES {
            self.flush();
        }
    }

    /// Sends the batch of the open file to the disk.
    fn flush(&mut self) {
        let State::Writing(file) = &mut self.state else {
            return;
        };
        if file.batch.is_empty() {
            return;
        }
        let (chunks, len) = file.batch.take();
        let (id, bytes, duration) = (file.id, file.batch.offset(), file.duration_ms());
        if let Some(r) = self.journal.borrow_mut().get_mut(id) {
            r.bytes = bytes;
            r.duration_ms = duration;
        }
        self.submit(DiskOp::Append { id, chunks, len });
    }

    /// Ends the open file: its last bytes, its patches, its close op.
    fn close(&mut self) {
        let State::Writing(file) = &mut self.state else {
            return;
        };
        let duration = file.duration_ms();
        let patches = file.format.finish(duration as u32, &mut file.batch);
        let (id, sync) = (file.id, self.config.sync != DvrSync::None);
        self.flush();
        self.submit(DiskOp::Close { id, patches, sync });
        self.state = State::Waiting;
    }

    fn submit(&mut self, op: DiskOp) {
        self.pending_bytes += op.bytes();
        self.pending.push_back(op);
        self.pump();
    }

    /// Offers the pending ops to the disk queue, in order, until it is full.
    pub fn pump(&mut self) {
        while let Some(op) = self.pending.pop_front() {
            let bytes = op.bytes();
            match self.files.offer(FileOp::Dvr(op)) {
                Ok(()) => {
                    self.pending_bytes -= bytes;
                    self.in_flight += bytes;
                    self.ops_in_flight += 1;
                }
                Err(Dropped(FileOp::Dvr(op))) => {
                    self.pending.push_front(op);
                    return;
                }
                Err(Dropped(_)) => return,
            }
        }
    }

    /// Once a second: retries after a failure, syncs on `dvr_sync` interval, offers what the
    /// disk queue refused.
    pub fn sweep(&mut self, now_ms: u64) {
        let sync_every_ms = match self.config.sync {
            DvrSync::Interval(s) => Some(u64::from(s) * 1000),
            DvrSync::Segment | DvrSync::None => None,
        };
        let mut sync = None;
        match &mut self.state {
            State::Failed { since_ms, .. } => {
                let since = *since_ms.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= RETRY_MS {
                    self.state = State::Waiting;
                }
            }
            State::Writing(file) => {
                if let Some(every) = sync_every_ms {
                    let last = *file.last_sync_ms.get_or_insert(now_ms);
                    if now_ms.saturating_sub(last) >= every {
                        file.last_sync_ms = Some(now_ms);
                        sync = Some(file.id);
                    }
                }
            }
            State::Idle | State::Waiting => {}
        }
        if let Some(id) = sync {
            self.flush();
            self.submit(DiskOp::Sync { id });
        }
        self.pump();
    }

    /// The disk thread's answer to one of this recorder's ops on file `id`.
    /// `wrote`: the op was an append (a write that succeeds after a failure is the recording
    /// going on; an open that succeeds is not yet: a full disk takes new files, not bytes).
    pub fn handle_done(
        &mut self,
        id: u32,
        bytes: usize,
        wrote: bool,
        result: &io::Result<()>,
    ) -> Outcome {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        self.ops_in_flight = self.ops_in_flight.saturating_sub(1);
        let current = matches!(&self.state, State::Writing(f) if f.id == id);
        match result {
            Err(e) if current => {
                // Ops of the dead file not sent yet are dropped with it.
                self.pending.retain(|op| op.id() != id);
                self.pending_bytes = self.pending.iter().map(DiskOp::bytes).sum();
                self.state = State::Failed {
                    error: e.to_string(),
                    since_ms: None,
                };
                if std::mem::replace(&mut self.failing, true) {
                    Outcome::StillStopped
                } else {
                    Outcome::Stopped
                }
            }
            Ok(()) if current && wrote && self.failing => {
                self.failing = false;
                Outcome::Resumed
            }
            _ => Outcome::Quiet,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DvrPath, WallTime};
    use crate::media::{AudioCodec, VideoCodec};
    use crate::server::disk::testing::Recorder as Sink;
    use bytes::Bytes;

    #[derive(Debug)]
    struct At(WallTime);

    impl WallClock for At {
        fn now(&self) -> WallTime {
            self.0
        }
    }

    fn key() -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "cam".into(),
        }
    }

    fn config(plan: DvrPlan) -> Dvr {
        Dvr {
            enabled: true,
            plan,
            duration_s: 2,
            path: DvrPath::parse("/r/[app]/[stream].[timestamp].flv").unwrap(),
            ..crate::config::Config::embedded()
                .default_vhost()
                .dvr
                .clone()
        }
    }

    fn recorder(plan: DvrPlan, sink: &Rc<Sink>) -> Recorder {
        let clock = At(WallTime {
            unix_ms: 1_000,
            utc_offset_s: 0,
        });
        Recorder::new(
            key(),
            config(plan),
            Files::new(sink.clone()),
            Rc::new(clock),
            Rc::default(),
        )
    }

    fn video(dts: i64, key: bool, len: usize) -> SharedFrame {
        let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        body.resize(len, 1);
        Rc::new(Frame::video(
            VideoCodec::Avc,
            dts,
            0,
            key,
            false,
            body.into(),
            5,
        ))
    }

    fn headers() -> Vec<SharedFrame> {
        vec![
            Rc::new(Frame::video(
                VideoCodec::Avc,
                0,
                0,
                true,
                true,
                Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
                5,
            )),
            Rc::new(Frame::audio(
                AudioCodec::Aac,
                0,
                true,
                Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
                2,
            )),
        ]
    }

    fn audio(dts: i64) -> SharedFrame {
        Rc::new(Frame::audio(
            AudioCodec::Aac,
            dts,
            false,
            Bytes::from_static(&[0xaf, 1, 9, 9]),
            2,
        ))
    }

    /// (verb, id) of each op the recorder sent.
    fn ops(sink: &Sink) -> Vec<(&'static str, u32)> {
        let mut out = Vec::new();
        while let Some(op) = sink.take() {
            match op {
                FileOp::Dvr(op) => out.push((op.verb(), op.id())),
                other => panic!("{other:?}"),
            }
        }
        out
    }

    /// Ten seconds at 25 fps with a keyframe every second, and AAC.
    fn feed(r: &mut Recorder, from_ms: i64, secs: i64) {
        for n in 0..secs * 25 {
            let dts = from_ms + n * 40;
            r.on_frame(&video(dts, n % 25 == 0, 2000));
            r.on_frame(&audio(dts + 20));
        }
    }

    #[test]
    fn session_plan_waits_for_a_keyframe_and_closes_at_unpublish() {
        let sink = Sink::new(1000);
        let mut r = recorder(DvrPlan::Session, &sink);
        r.on_publish();
        for h in headers() {
            r.on_frame(&h);
        }
        // Audio and video before the first keyframe: no file yet.
        r.on_frame(&audio(0));
        r.on_frame(&video(0, false, 100));
        assert!(ops(&sink).is_empty());
        feed(&mut r, 40, 10);
        r.on_unpublish();
        let got = ops(&sink);
        assert_eq!(got.first(), Some(&("open", 1)));
        assert_eq!(got.last(), Some(&("close", 1)));
        let appends = got.iter().filter(|(v, _)| *v == "write").count();
        // 10 s × 25 × (2015 + 19) bytes ≈ 508 KB: 7 full batches and the rest.
        assert_eq!(appends, 8, "{got:?}");
        assert_eq!(r.status().state, "idle");
        let j = r.journal.borrow();
        assert_eq!(j.recordings.len(), 1);
        assert_eq!(j.recordings[0].path, PathBuf::from("/r/live/cam.1000.flv"));
        assert!(
            j.recordings[0].duration_ms >= 9_900,
            "{:?}",
            j.recordings[0]
        );
    }

    #[test]
    fn segment_plan_cuts_at_the_first_keyframe_after_the_duration() {
        let sink = Sink::new(1000);
        let mut r = recorder(DvrPlan::Segment, &sink);
        r.on_publish();
        for h in headers() {
            r.on_frame(&h);
        }
        feed(&mut r, 0, 7);
        r.on_unpublish();
        let opens: Vec<u32> = ops(&sink)
            .into_iter()
            .filter(|(v, _)| *v == "open")
            .map(|(_, id)| id)
            .collect();
        // Keyframes each second, 2 s files: cuts at 2, 4, 6 s.
        assert_eq!(opens, [1, 2, 3, 4]);
        let j = r.journal.borrow();
        let durations: Vec<u64> = j.recordings.iter().map(|r| r.duration_ms).collect();
        // A file ends with the audio frame just before the cutting keyframe.
        assert_eq!(&durations[..3], [1980, 1980, 1980]);
    }

    /// The bytes of file `id` as the ops would write them, and its tags (type, timestamp).
    fn file_tags(sent: &[DiskOp], id: u32) -> Vec<(crate::wire::flv::TagType, u32)> {
        let mut bytes = bytes::BytesMut::new();
        for op in sent {
            if let DiskOp::Append { id: i, chunks, .. } = op {
                if *i == id {
                    chunks.iter().for_each(|c| bytes.extend_from_slice(c));
                }
            }
        }
        let mut reader = crate::wire::flv::FlvReader::new(1 << 20);
        std::iter::from_fn(|| reader.decode(&mut bytes).unwrap())
            .map(|t| (t.tag_type, t.timestamp))
            .collect()
    }

    fn take_ops(sink: &Sink) -> Vec<DiskOp> {
        std::iter::from_fn(|| sink.take())
            .map(|op| match op {
                FileOp::Dvr(op) => op,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// `time_jitter`: full starts every file at 0 (headers at 0 too); off keeps the
    /// stream's timestamps. Without `dvr_wait_keyframe` a file starts at the first frame.
    #[test]
    fn each_file_has_its_own_timeline() {
        use crate::wire::flv::TagType::{Audio, Video};
        for (jitter, wait, first) in [
            (crate::config::TimeJitter::Full, true, 0),
            (crate::config::TimeJitter::Off, true, 10_000),
            (crate::config::TimeJitter::Off, false, 9_980),
        ] {
            let sink = Sink::new(1000);
            let mut r = recorder(DvrPlan::Segment, &sink);
            r.config.time_jitter = jitter;
            r.config.wait_keyframe = wait;
            r.on_publish();
            for h in headers() {
                r.on_frame(&h);
            }
            r.on_frame(&audio(9_980));
            r.on_frame(&video(9_990, false, 100));
            feed(&mut r, 10_000, 3);
            r.on_unpublish();
            let sent = take_ops(&sink);
            let tags = file_tags(&sent, 1);
            let media: Vec<_> = tags.iter().skip(2).take(2).copied().collect();
            // The headers at the file's first time.
            assert_eq!(
                &tags[..2],
                [(Video, first), (Audio, first)],
                "{jitter:?}: headers"
            );
            if wait {
                assert_eq!(media, [(Video, first), (Audio, first + 20)], "{jitter:?}");
            } else {
                // Starts at the audio frame before the keyframe, and the video frame before
                // it is kept too.
                assert_eq!(media, [(Audio, first), (Video, 9_990)], "{jitter:?}");
            }
            // The second file starts at 0 again with full, at the cut with off: the keyframe
            // at 12 s, or without wait_keyframe the first frame 2 s in.
            let second = file_tags(&sent, 2);
            let want = match (jitter, wait) {
                (crate::config::TimeJitter::Full, _) => (Video, 0),
                (_, true) => (Video, 12_000),
                (_, false) => (Audio, 11_980),
            };
            assert_eq!(second[2], want, "{jitter:?}");
        }
    }

    #[test]
    fn a_disk_error_stops_the_recording_until_the_retry() {
        let sink = Sink::new(1000);
        let mut r = recorder(DvrPlan::Session, &sink);
        r.on_publish();
        for h in headers() {
            r.on_frame(&h);
        }
        feed(&mut r, 0, 2);
        let sent = ops(&sink);
        let held = r.queued_bytes();
        assert!(held > 0);
        let full = io::Error::other("No space left on device");
        assert_eq!(r.handle_done(1, 0, false, &Ok(())), Outcome::Quiet);
        assert_eq!(r.handle_done(1, 65_536, true, &Err(full)), Outcome::Stopped);
        assert_eq!(r.status().state, "failed");
        feed(&mut r, 2_000, 2);
        assert!(ops(&sink).is_empty(), "nothing sent while failed");
        r.sweep(10_000);
        r.sweep(12_000);
        assert_eq!(r.status().state, "failed");
        r.sweep(13_000);
        assert_eq!(r.status().state, "waiting");
        feed(&mut r, 4_000, 1);
        assert_eq!(ops(&sink)[0], ("open", 2));
        // Still full: the new file opens, its first write fails.
        assert_eq!(r.handle_done(2, 0, false, &Ok(())), Outcome::Quiet);
        let full = io::Error::other("No space left on device");
        assert_eq!(r.handle_done(2, 0, true, &Err(full)), Outcome::StillStopped);
        r.sweep(16_000);
        r.sweep(19_000);
        feed(&mut r, 5_000, 3);
        assert_eq!(ops(&sink)[0], ("open", 3));
        assert_eq!(r.handle_done(3, 0, false, &Ok(())), Outcome::Quiet);
        assert_eq!(r.handle_done(3, 100, true, &Ok(())), Outcome::Resumed);
        assert_eq!(sent, [("open", 1), ("write", 1)]);
    }

    #[test]
    fn a_slow_disk_skips_to_the_next_keyframe_and_counts() {
        // The disk takes nothing: everything stays queued.
        let sink = Sink::new(0);
        let mut r = recorder(DvrPlan::Session, &sink);
        r.config.queue_bytes = 200_000;
        r.on_publish();
        for h in headers() {
            r.on_frame(&h);
        }
        feed(&mut r, 0, 10);
        let (new, total) = r.take_drops().unwrap();
        assert_eq!(new, total);
        assert!(r.queued_bytes() <= 200_000 + 2_100, "{}", r.queued_bytes());
        // About 200 KB held of 500 KB sent: most of the rest was skipped.
        assert!(total > 200, "{total}");
        assert!(r.take_drops().is_none());
        // The disk takes ops again: the queue drains, recording goes on at a keyframe.
        let sink = Sink::new(1000);
        r.files = Files::new(sink.clone());
        r.sweep(0);
        let sent = ops(&sink);
        assert!(sent.len() >= 3, "{sent:?}");
        for (_, id) in &sent {
            assert_eq!(*id, 1);
        }
    }
}
