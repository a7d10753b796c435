//! A Source: one live stream (vhost/app/stream), its publisher, its cached headers and GOP,
//! and its players' queues.
//!
//! Lifecycle: created by the first publish or play; `publish` → frames → `unpublish` any number
//! of times; freed by the hub after the grace period once it has neither publisher nor player.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::jitter::{Jitter, TimeJitter};
use super::output::{Output, OutputKind};
use super::queue::{PlayerQueue, QueueItem};
use super::{ClientId, StreamKey};
use crate::media::{Codec, Frame, FrameKind, SharedFrame};

/// Per-Source settings taken from the vhost when a publisher starts (so a reload applies to
/// the next publish, not in the middle of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceSettings {
    pub gop_cache: bool,
    /// GOP cache limits (config `gop_cache_max_frames`, `gop_cache_max_bytes`).
    /// RAM: at most `gop_max_bytes` of payload per Source.
    pub gop_max_frames: usize,
    pub gop_max_bytes: usize,
    pub time_jitter: TimeJitter,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SourceStats {
    pub frames: u64,
    pub bytes: u64,
    pub video_frames: u64,
    pub audio_frames: u64,
    pub keyframes: u64,
    /// GOP caches dropped for going past their frame or byte cap.
    pub gop_overflows: u64,
    pub publishes: u64,
}

#[derive(Debug)]
pub struct Source {
    pub key: StreamKey,
    settings: SourceSettings,
    publisher: Option<ClientId>,
    jitter: Jitter,
    metadata: Option<SharedFrame>,
    video_header: Option<SharedFrame>,
    audio_header: Option<SharedFrame>,
    video_codec: Option<Codec>,
    audio_codec: Option<Codec>,
    /// The current GOP, starting at a video keyframe (or audio only, rolling).
    gop: VecDeque<SharedFrame>,
    gop_bytes: usize,
    /// The stream carried video since this publish began.
    has_video: bool,
    players: Vec<Rc<RefCell<PlayerQueue>>>,
    /// Derived outputs, run in this order before players get a frame.
    outputs: Vec<Rc<RefCell<dyn Output>>>,
    stats: SourceStats,
    /// Time (ms, driver clock) since which nobody is attached; `None` while in use.
    idle_since: Option<u64>,
}

impl Source {
    pub fn new(key: StreamKey, settings: SourceSettings, now_ms: u64) -> Source {
        Source {
            key,
            settings,
            publisher: None,
            jitter: Jitter::new(settings.time_jitter),
            metadata: None,
            video_header: None,
            audio_header: None,
            video_codec: None,
            audio_codec: None,
            gop: VecDeque::new(),
            gop_bytes: 0,
            has_video: false,
            players: Vec::new(),
            outputs: Vec::new(),
            stats: SourceStats::default(),
            idle_since: Some(now_ms),
        }
    }

    pub fn publisher(&self) -> Option<ClientId> {
        self.publisher
    }

    pub fn players(&self) -> usize {
        self.players.len()
    }

    /// The output of `kind`, if attached.
    pub fn output(&self, kind: OutputKind) -> Option<Rc<RefCell<dyn Output>>> {
        self.outputs
            .iter()
            .find(|o| o.borrow().kind() == kind)
            .cloned()
    }

    /// Attaches an output (unless one of its kind is there) and, if publishing, replays the
    /// metadata, sequence headers and cached GOP into it, so it starts where a new player
    /// would.
    pub fn add_output(&mut self, output: Rc<RefCell<dyn Output>>) {
        let kind = output.borrow().kind();
        if self.output(kind).is_some() {
            return;
        }
        if self.publisher.is_some() {
            let mut o = output.borrow_mut();
            o.on_publish();
            let headers = [&self.metadata, &self.video_header, &self.audio_header];
            for f in headers.into_iter().flatten().chain(self.gop.iter()) {
                o.on_frame(f);
            }
        }
        self.outputs.push(output);
    }

    pub fn remove_output(&mut self, kind: OutputKind) {
        self.outputs.retain(|o| o.borrow().kind() != kind);
    }

    /// Visits every player's queue.
    pub fn for_each_player(&self, mut f: impl FnMut(&mut PlayerQueue)) {
        for p in &self.players {
            f(&mut p.borrow_mut());
        }
    }

    pub fn stats(&self) -> SourceStats {
        self.stats
    }

    pub fn video_codec(&self) -> Option<Codec> {
        self.video_codec
    }

    pub fn audio_codec(&self) -> Option<Codec> {
        self.audio_codec
    }

    /// The latest video and audio sequence headers and metadata (codec details for the API).
    pub fn video_header(&self) -> Option<&SharedFrame> {
        self.video_header.as_ref()
    }

    pub fn audio_header(&self) -> Option<&SharedFrame> {
        self.audio_header.as_ref()
    }

    pub fn metadata(&self) -> Option<&SharedFrame> {
        self.metadata.as_ref()
    }

    /// Frames and bytes in the GOP cache.
    pub fn gop_len(&self) -> (usize, usize) {
        (self.gop.len(), self.gop_bytes)
    }

    /// The cached GOP, oldest first (it starts at a video keyframe when the stream has video).
    pub fn gop(&self) -> impl Iterator<Item = &SharedFrame> {
        self.gop.iter()
    }

    pub fn idle_since(&self) -> Option<u64> {
        self.idle_since
    }

    pub(super) fn start_publish(&mut self, client: ClientId, settings: SourceSettings) {
        // With `full` the timeline goes on across a republish, so attached players never see
        // time go backwards (the jump is replaced by one 10 ms step); `zero` and `off` start
        // again from the new publisher's clock.
        if settings.time_jitter != TimeJitter::Full || self.settings.time_jitter != TimeJitter::Full
        {
            self.jitter = Jitter::new(settings.time_jitter);
        }
        self.settings = settings;
        self.publisher = Some(client);
        self.clear_cache();
        self.stats.publishes += 1;
        self.idle_since = None;
        for o in &self.outputs {
            o.borrow_mut().on_publish();
        }
        for p in &self.players {
            p.borrow_mut().push_control(QueueItem::Published);
        }
    }

    pub(super) fn stop_publish(&mut self, now_ms: u64) {
        self.publisher = None;
        for o in &self.outputs {
            o.borrow_mut().on_unpublish();
        }
        self.clear_cache();
        for p in &self.players {
            p.borrow_mut().push_control(QueueItem::Unpublished);
        }
        self.update_idle(now_ms);
    }

    fn clear_cache(&mut self) {
        self.metadata = None;
        self.video_header = None;
        self.audio_header = None;
        self.gop.clear();
        self.gop_bytes = 0;
        self.has_video = false;
    }

    pub(super) fn attach(&mut self, queue: Rc<RefCell<PlayerQueue>>) {
        {
            let mut q = queue.borrow_mut();
            let headers = [&self.metadata, &self.video_header, &self.audio_header];
            for f in headers.into_iter().flatten() {
                q.push(f.clone());
            }
            for f in &self.gop {
                q.push(f.clone());
            }
        }
        self.players.push(queue);
        self.idle_since = None;
    }

    pub(super) fn detach(&mut self, client: ClientId, now_ms: u64) {
        self.players.retain(|p| p.borrow().client != client);
        self.update_idle(now_ms);
    }

    fn update_idle(&mut self, now_ms: u64) {
        if self.publisher.is_none() && self.players.is_empty() && self.idle_since.is_none() {
            self.idle_since = Some(now_ms);
        }
    }

    /// Takes one frame from the publisher: corrects its timestamp, updates the cached headers
    /// and GOP, and queues it to every player. `frame.dts` holds the publisher's raw 32-bit
    /// timestamp on entry. Never waits on a player.
    pub fn on_frame(&mut self, mut frame: Frame) {
        frame.dts =
            if frame.kind == FrameKind::Metadata && self.settings.time_jitter == TimeJitter::Full {
                // SRS's full jitter stamps every non-A/V message 0 and leaves the A/V timeline
                // alone. A publisher that re-sends onMetaData mid-stream (GStreamer's flvmux) would
                // otherwise have it cached and replayed to a new player before the sequence
                // headers at 0, which ffmpeg's FLV demuxer reads as a subtitle stream.
                // Zero and off pass it through corrected like any frame, as SRS does.
                0
            } else {
                self.jitter.correct(frame.dts as u32)
            };
        let frame = Rc::new(frame);
        self.stats.frames += 1;
        self.stats.bytes += frame.data.len() as u64;
        match frame.kind {
            FrameKind::Metadata => self.metadata = Some(frame.clone()),
            FrameKind::Video => {
                self.stats.video_frames += 1;
                self.has_video = true;
                self.video_codec = Some(frame.codec);
                if frame.sequence_header {
                    self.video_header = Some(frame.clone());
                } else if frame.keyframe {
                    self.stats.keyframes += 1;
                }
            }
            FrameKind::Audio => {
                self.stats.audio_frames += 1;
                self.audio_codec = Some(frame.codec);
                if frame.sequence_header {
                    self.audio_header = Some(frame.clone());
                }
            }
        }
        for o in &self.outputs {
            o.borrow_mut().on_frame(&frame);
        }
        self.cache(&frame);
        for p in &self.players {
            p.borrow_mut().push(frame.clone());
        }
    }

    fn cache(&mut self, frame: &SharedFrame) {
        if !self.settings.gop_cache || frame.sequence_header || frame.kind == FrameKind::Metadata {
            return;
        }
        if frame.is_video_keyframe() {
            self.gop.clear();
            self.gop_bytes = 0;
        } else if self.has_video && self.gop.is_empty() {
            // Mid-GOP: a player must not start here.
            return;
        }
        self.gop.push_back(frame.clone());
        self.gop_bytes += frame.cost();
        let s = &self.settings;
        if self.gop.len() > s.gop_max_frames || self.gop_bytes > s.gop_max_bytes {
            self.stats.gop_overflows += 1;
            if self.has_video {
                // A GOP too long to cache: cache nothing until the next keyframe.
                self.gop.clear();
                self.gop_bytes = 0;
            } else {
                // Audio only: keep the newest frames.
                while self.gop.len() > s.gop_max_frames || self.gop_bytes > s.gop_max_bytes {
                    match self.gop.pop_front() {
                        Some(f) => self.gop_bytes -= f.cost(),
                        None => break,
                    }
                }
            }
        }
    }
}
