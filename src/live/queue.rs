//! One player's queue: bounded in bytes and in duration.
//!
//! The Source pushes into every player's queue and never waits. When a push would go past a
//! limit the queue is shrunk like SRS does: every queued frame is dropped except the latest
//! metadata and sequence headers, and the queue then skips frames until the next video
//! keyframe, so the player resumes on a decodable picture. Drops are counted for the API and
//! for rate-limited logs by the driver.
//!
//! RAM: at most `max_bytes` of frame payload is referenced (the frames are shared, so this is
//! an upper bound of what this player keeps alive) plus one `QueueItem` (16 bytes) per frame.
//! A burst (the GOP cache a new player starts with, a stall) grows the slots; a drain that
//! leaves few items gives them back down to [`KEEP_SLOTS`].

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use super::ClientId;
use crate::media::{FrameKind, SharedFrame};

/// Queue slots a player keeps between drains. A player that keeps up holds one `mw_latency`
/// of frames (350 ms by default: 9 video frames at 25 fps, 25 with 44.1 kHz AAC), which this
/// covers without reallocating on every batch; what a burst grew beyond it is given back.
/// RAM: 16 bytes per slot, so 512 bytes per player at most once it keeps up.
pub const KEEP_SLOTS: usize = 32;

/// What a player receives.
#[derive(Debug, Clone)]
pub enum QueueItem {
    Frame(SharedFrame),
    /// The publisher left; the player stays attached (RTMP: NetStream.Play.UnpublishNotify).
    Unpublished,
    /// A publisher (re)started the stream (RTMP: NetStream.Play.Reset/Start if it had left).
    Published,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Bytes of frame payload held at most (config `queue_max_bytes`).
    pub max_bytes: usize,
    /// Milliseconds between the oldest and newest queued frame at most (config `queue_length`).
    pub max_duration_ms: i64,
}

/// Counters the API and the driver's rate-limited log read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames dropped by shrinks or while waiting for a keyframe.
    pub dropped_frames: u64,
    /// How many times the queue was shrunk.
    pub shrinks: u64,
    /// Frames accepted into the queue.
    pub queued_frames: u64,
}

#[derive(Debug)]
pub struct PlayerQueue {
    pub client: ClientId,
    limits: QueueLimits,
    items: VecDeque<QueueItem>,
    /// The timestamp of the oldest queued frame that counts for `max_duration_ms` (not a
    /// header), kept here: reading it off that frame on every push was a cache miss per
    /// frame (the frame was queued up to `queue_length` ago).
    first_dts: Option<i64>,
    /// The dts of the newest timed frame pushed (meaningful while `first_dts` is set): kept
    /// so that the duration a push checks reads no queue slot.
    last_dts: i64,
    bytes: usize,
    /// After a shrink: skip frames until the next video keyframe.
    waiting_keyframe: bool,
    /// The stream has video; if not, a shrink does not wait for a keyframe.
    has_video: bool,
    stats: QueueStats,
    /// `stats.dropped_frames` at the last report.
    reported_drops: u64,
    waker: Option<Waker>,
    /// The waker came from `poll_half_full`: a push wakes it only once the queue is half
    /// full. A player merging writes would otherwise be woken by every frame for nothing.
    wake_when_half_full: bool,
}

impl PlayerQueue {
    pub fn new(client: ClientId, limits: QueueLimits) -> PlayerQueue {
        PlayerQueue {
            client,
            limits,
            items: VecDeque::new(),
            first_dts: None,
            last_dts: 0,
            bytes: 0,
            waiting_keyframe: false,
            has_video: false,
            stats: QueueStats::default(),
            reported_drops: 0,
            waker: None,
            wake_when_half_full: false,
        }
    }

    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// A video frame went through this queue.
    pub fn has_video(&self) -> bool {
        self.has_video
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes of frame payload queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Milliseconds between the oldest and the newest queued frame.
    pub fn duration_ms(&self) -> i64 {
        // While a timed frame is queued, the newest one is the last pushed: frames join at
        // the back, leave at the front, and a shrink keeps none.
        self.first_dts.map_or(0, |first| self.last_dts - first)
    }

    /// Queues a control item. Consecutive control items collapse into the latest, so a
    /// publisher that comes and goes cannot grow a stalled player's queue.
    pub fn push_control(&mut self, item: QueueItem) {
        if matches!(
            self.items.back(),
            Some(QueueItem::Unpublished | QueueItem::Published)
        ) {
            self.items.pop_back();
        }
        self.items.push_back(item);
        self.wake();
    }

    pub fn push(&mut self, frame: SharedFrame) {
        if frame.kind == FrameKind::Video {
            self.has_video = true;
        }
        let headers = frame.sequence_header || frame.kind == FrameKind::Metadata;
        if self.waiting_keyframe && !headers {
            if frame.is_video_keyframe() {
                self.waiting_keyframe = false;
            } else {
                self.stats.dropped_frames += 1;
                return;
            }
        }
        if !headers && self.over_limit_with(&frame) {
            self.shrink();
            if self.has_video && !frame.is_video_keyframe() {
                self.waiting_keyframe = true;
                self.stats.dropped_frames += 1;
                self.wake();
                return;
            }
        }
        self.bytes += frame.cost();
        self.stats.queued_frames += 1;
        let item = QueueItem::Frame(frame);
        if let Some(dts) = item_dts(&item) {
            self.last_dts = dts;
            if self.first_dts.is_none() {
                self.first_dts = Some(dts);
            }
        }
        self.items.push_back(item);
        self.wake();
    }

    fn over_limit_with(&self, frame: &SharedFrame) -> bool {
        if self.bytes + frame.cost() > self.limits.max_bytes {
            return true;
        }
        match self.first_dts {
            Some(first) => frame.dts - first > self.limits.max_duration_ms,
            None => false,
        }
    }

    /// Drops every frame but the latest metadata and sequence headers (SRS's shrink). Of the
    /// control items only the latest survives: it is the stream's current state.
    fn shrink(&mut self) {
        let mut control = None;
        let mut slots: [Option<SharedFrame>; 3] = [None, None, None];
        for item in self.items.drain(..) {
            match item {
                QueueItem::Frame(f) => {
                    let slot = match f.kind {
                        FrameKind::Metadata => Some(0),
                        FrameKind::Video if f.sequence_header => Some(1),
                        FrameKind::Audio if f.sequence_header => Some(2),
                        _ => None,
                    };
                    match slot {
                        Some(i) => slots[i] = Some(f),
                        None => self.stats.dropped_frames += 1,
                    }
                }
                QueueItem::Unpublished | QueueItem::Published => control = Some(item),
            }
        }
        self.bytes = 0;
        self.first_dts = None;
        self.items.extend(control);
        for f in slots.into_iter().flatten() {
            self.bytes += f.cost();
            self.items.push_back(QueueItem::Frame(f));
        }
        self.stats.shrinks += 1;
    }

    /// Hands items to `each`, oldest first: at most `max_items`, and stops once the frames
    /// handed cost `max_bytes` or more (at least one item goes), so a player blocked in a
    /// write holds at most one batch beyond its queue. Slots a burst grew beyond
    /// [`KEEP_SLOTS`] are freed once few items are left.
    pub fn drain(&mut self, max_items: usize, max_bytes: usize, mut each: impl FnMut(QueueItem)) {
        let mut moved = 0usize;
        let mut bytes = 0usize;
        while moved < max_items && (moved == 0 || bytes < max_bytes) {
            let Some(item) = self.items.pop_front() else {
                break;
            };
            if let QueueItem::Frame(f) = &item {
                self.bytes -= f.cost();
                bytes += f.cost();
            }
            each(item);
            moved += 1;
        }
        if moved > 0 {
            self.first_dts = self.items.iter().find_map(item_dts);
        }
        if self.items.capacity() > KEEP_SLOTS && self.items.len() <= KEEP_SLOTS / 2 {
            self.items.shrink_to(KEEP_SLOTS);
        }
    }

    /// [`PlayerQueue::drain`] into `out`.
    pub fn drain_into(&mut self, out: &mut Vec<QueueItem>, max_items: usize, max_bytes: usize) {
        self.drain(max_items, max_bytes, |item| out.push(item));
    }

    /// Queue slots allocated (for tests of what a player keeps).
    pub fn capacity(&self) -> usize {
        self.items.capacity()
    }

    /// Drops not yet reported, and marks them reported (for the hub's rate-limited log).
    pub fn take_unreported_drops(&mut self) -> u64 {
        let new = self.stats.dropped_frames - self.reported_drops;
        self.reported_drops = self.stats.dropped_frames;
        new
    }

    /// Ready when something is queued; otherwise remembers the waker, which the next push
    /// wakes.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.items.is_empty() {
            return Poll::Ready(());
        }
        self.register(cx, false);
        Poll::Pending
    }

    /// Ready once the queue holds half its byte or duration limit; otherwise remembers the
    /// waker, which a push wakes only once the queue is that full. A driver merging writes
    /// over `mw_latency` stops waiting here: a queue smaller than `mw_latency` of the stream
    /// would otherwise overflow during every wait, and a player reading at full speed would
    /// only ever get drops.
    pub fn poll_half_full(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.half_full() {
            return Poll::Ready(());
        }
        self.register(cx, true);
        Poll::Pending
    }

    fn half_full(&self) -> bool {
        self.bytes.saturating_mul(2) >= self.limits.max_bytes
            || self.duration_ms().saturating_mul(2) >= self.limits.max_duration_ms
    }

    fn register(&mut self, cx: &mut Context<'_>, when_half_full: bool) {
        self.wake_when_half_full = when_half_full;
        match &self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.waker = Some(cx.waker().clone()),
        }
    }

    fn wake(&mut self) {
        if self.wake_when_half_full && !self.half_full() {
            return;
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

fn item_dts(item: &QueueItem) -> Option<i64> {
    match item {
        QueueItem::Frame(f) if !f.sequence_header && f.kind != FrameKind::Metadata => Some(f.dts),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use bytes::Bytes;

    use super::*;
    use crate::media::{AudioCodec, Frame, VideoCodec, FRAME_OVERHEAD};

    /// What a frame of `payload` bytes costs (see `Frame::cost`).
    const fn cost(payload: usize) -> usize {
        payload + FRAME_OVERHEAD
    }

    pub(crate) fn video(dts: i64, key: bool, len: usize) -> SharedFrame {
        Rc::new(Frame::video(
            VideoCodec::Avc,
            dts,
            0,
            key,
            false,
            Bytes::from(vec![0u8; len]),
            5,
        ))
    }

    fn header(kind: FrameKind) -> SharedFrame {
        let data = Bytes::from_static(&[1, 2, 3]);
        Rc::new(match kind {
            FrameKind::Audio => Frame::audio(AudioCodec::Aac, 0, true, data, 2),
            FrameKind::Video => Frame::video(VideoCodec::Avc, 0, 0, false, true, data, 5),
            FrameKind::Metadata => Frame::metadata(0, data),
        })
    }

    fn frames(q: &mut PlayerQueue) -> Vec<(FrameKind, bool, bool, i64)> {
        let mut out = Vec::new();
        q.drain_into(&mut out, usize::MAX, usize::MAX);
        out.into_iter()
            .filter_map(|i| match i {
                QueueItem::Frame(f) => Some((f.kind, f.sequence_header, f.keyframe, f.dts)),
                _ => None,
            })
            .collect()
    }

    fn limits(bytes: usize, ms: i64) -> QueueLimits {
        QueueLimits {
            max_bytes: bytes,
            max_duration_ms: ms,
        }
    }

    #[test]
    fn overflow_by_bytes_keeps_headers_and_waits_for_keyframe() {
        // Frames cost their payload plus the bookkeeping (no TS output built packets here).
        let headers = 3 * cost(3);
        let mut q = PlayerQueue::new(1, limits(headers + 2 * cost(200) + 10, 10_000));
        q.push(header(FrameKind::Metadata));
        q.push(header(FrameKind::Video));
        q.push(header(FrameKind::Audio));
        q.push(video(0, true, 200));
        q.push(video(40, false, 200));
        q.push(video(80, false, 200)); // over: shrink, then wait for a keyframe
        q.push(video(120, false, 200)); // dropped
        q.push(video(160, true, 200)); // resumes here
        q.push(video(200, false, 50));
        let got = frames(&mut q);
        assert_eq!(
            got,
            vec![
                (FrameKind::Metadata, false, false, 0),
                (FrameKind::Video, true, false, 0),
                (FrameKind::Audio, true, false, 0),
                (FrameKind::Video, false, true, 160),
                (FrameKind::Video, false, false, 200),
            ]
        );
        let s = q.stats();
        assert_eq!(s.shrinks, 1);
        assert_eq!(s.dropped_frames, 4, "two queued + two skipped");
        assert_eq!(q.bytes(), 0);
        assert_eq!(q.take_unreported_drops(), 4);
        assert_eq!(q.take_unreported_drops(), 0);
    }

    #[test]
    fn overflow_by_duration() {
        let mut q = PlayerQueue::new(1, limits(1 << 20, 100));
        for i in 0..4 {
            q.push(video(i * 40, i == 0, 10));
        }
        // 0..120 spans 120 ms > 100: the 4th push shrank and waits for a keyframe.
        assert_eq!(q.stats().shrinks, 1);
        assert!(q.is_empty());
        q.push(video(160, true, 10));
        assert_eq!(frames(&mut q), vec![(FrameKind::Video, false, true, 160)]);
    }

    #[test]
    fn audio_only_overflow_does_not_wait_for_video() {
        let mut q = PlayerQueue::new(1, limits(2 * cost(10) + cost(10) / 2, 10_000));
        let audio = |dts| {
            Rc::new(Frame::audio(
                AudioCodec::Aac,
                dts,
                false,
                Bytes::from(vec![0u8; 10]),
                2,
            ))
        };
        for i in 0..4 {
            q.push(audio(i * 23));
        }
        assert_eq!(q.stats().shrinks, 1);
        assert_eq!(q.len(), 2, "after the shrink audio flows on at once");
    }

    #[test]
    fn bytes_are_bounded_whatever_is_pushed() {
        let mut q = PlayerQueue::new(1, limits(10 * cost(333), 1_000_000));
        for i in 0..10_000 {
            q.push(video(i * 40, i % 50 == 0, 333));
            assert!(q.bytes() <= 10 * cost(333));
        }
    }

    #[test]
    fn drain_stops_at_the_byte_budget() {
        let mut q = PlayerQueue::new(1, limits(1 << 20, 1_000_000));
        for i in 0..10 {
            q.push(video(i * 40, i == 0, 100));
        }
        let mut out = Vec::new();
        q.drain_into(&mut out, 100, 2 * cost(100) + 1);
        assert_eq!(out.len(), 3, "the third item crosses the budget");
        out.clear();
        q.drain_into(&mut out, 2, usize::MAX);
        assert_eq!(out.len(), 2);
        out.clear();
        q.drain_into(&mut out, 100, 1);
        assert_eq!(out.len(), 1, "at least one item moves");
        assert_eq!(q.bytes(), 4 * cost(100));
    }

    /// Issue 16: the GOP cache a player starts with grows its queue; once drained the queue
    /// keeps `KEEP_SLOTS` slots, not the burst's.
    #[test]
    fn slots_grown_by_a_burst_are_given_back() {
        let mut q = PlayerQueue::new(1, limits(1 << 20, 1_000_000));
        for i in 0..500 {
            q.push(video(i * 10, i == 0, 10));
        }
        assert!(q.capacity() >= 500);
        let mut n = 0;
        q.drain(100, usize::MAX, |_| n += 1);
        assert!(q.capacity() >= 400, "a backlog keeps its slots");
        q.drain(usize::MAX, usize::MAX, |_| n += 1);
        assert_eq!(n, 500);
        assert!(q.capacity() <= KEEP_SLOTS, "{}", q.capacity());
        // A player that keeps up stays within them.
        for i in 500..520 {
            q.push(video(i * 10, false, 10));
        }
        q.drain(usize::MAX, usize::MAX, |_| {});
        assert!(q.capacity() <= KEEP_SLOTS);
    }

    #[test]
    fn waker_fires_on_push() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut q = PlayerQueue::new(1, limits(1000, 1000));
        assert!(q.poll_ready(&mut cx).is_pending());
        q.push(video(0, true, 1));
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(q.poll_ready(&mut cx).is_ready());
    }

    #[test]
    fn half_full_by_bytes_or_duration() {
        use std::task::Wake;
        struct Nop;
        impl Wake for Nop {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        let waker = Waker::from(std::sync::Arc::new(Nop));
        let mut cx = Context::from_waker(&waker);
        // Half of the byte cap is crossed by the second frame.
        let mut q = PlayerQueue::new(1, limits(2 * (cost(200) + cost(50)), 100_000));
        assert!(q.poll_half_full(&mut cx).is_pending());
        q.push(video(0, true, 200));
        assert!(q.poll_half_full(&mut cx).is_pending());
        q.push(video(40, false, 50));
        assert!(q.poll_half_full(&mut cx).is_ready());
        // 1000 ms: half is 500 ms of frames.
        let mut q = PlayerQueue::new(1, limits(1 << 20, 1000));
        for i in 0..13 {
            q.push(video(i * 40, i == 0, 1));
        }
        assert!(q.poll_half_full(&mut cx).is_pending(), "480 ms");
        q.push(video(13 * 40, false, 1));
        assert!(q.poll_half_full(&mut cx).is_ready(), "520 ms");
    }

    /// A player merging writes waits in `poll_half_full`: frames below half the queue do not
    /// wake it (issue 16: at 25 frames a second, 5000 useless wake-ups a second for 200
    /// players); the one that makes it half full does, once; `poll_ready` wakes on any push.
    #[test]
    fn a_merging_player_is_woken_once_half_full_not_by_every_frame() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let wakes = || count.0.load(Ordering::Relaxed);
        // 1000 ms: half is 500 ms of frames.
        let mut q = PlayerQueue::new(1, limits(1 << 20, 1000));
        q.push(video(0, true, 1));
        assert!(q.poll_half_full(&mut cx).is_pending());
        for i in 1..13 {
            q.push(video(i * 40, false, 1));
        }
        assert_eq!(wakes(), 0, "480 ms queued: not woken");
        q.push_control(QueueItem::Unpublished);
        assert_eq!(wakes(), 0);
        q.push(video(13 * 40, false, 1));
        assert_eq!(wakes(), 1, "520 ms: woken");
        q.push(video(14 * 40, false, 1));
        assert_eq!(wakes(), 1, "the waker was taken");
        assert!(q.poll_half_full(&mut cx).is_ready());
        // Back to waiting for any frame.
        q.drain_into(&mut Vec::new(), usize::MAX, usize::MAX);
        assert!(q.poll_ready(&mut cx).is_pending());
        q.push(video(15 * 40, false, 1));
        assert_eq!(wakes(), 2);
    }

    /// The oldest frame's timestamp is kept rather than read off the frame: whatever the
    /// pushes, drains and shrinks, it is the one the items hold (and so is the duration from
    /// the kept newest one).
    #[test]
    fn the_kept_first_timestamp_follows_the_items() {
        let mut rng = crate::testutil::XorShift(7);
        let mut q = PlayerQueue::new(1, limits(40 * cost(100), 1000));
        let mut dts = 0;
        for _ in 0..5000 {
            match rng.below(10) {
                0 => q.push(header(FrameKind::Video)),
                1 => q.push_control(QueueItem::Unpublished),
                2 | 3 => {
                    let n = rng.below(8);
                    q.drain(n.max(1), usize::MAX, |_| {});
                }
                _ => {
                    dts += rng.below(60) as i64;
                    q.push(video(dts, rng.below(25) == 0, 100));
                }
            }
            assert_eq!(q.first_dts, q.items.iter().find_map(item_dts));
            // The kept newest timestamp gives the duration the items give.
            let last = q.items.iter().rev().find_map(item_dts);
            let from_items = q.first_dts.zip(last).map_or(0, |(a, b)| b - a);
            assert_eq!(q.duration_ms(), from_items);
        }
        assert!(q.stats().shrinks > 0, "shrinks were exercised");
    }
}
