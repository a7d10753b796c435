//! The live hub: the registry of Sources (vhost/app/stream), and the events that callbacks,
//! DVR, the API and on-demand ingests consume (publish, unpublish, play, stop, freed, watched,
//! unwatched, and DVR's recordings).
//!
//! Frames from any ingest go into a [`Source`]; each player reads its own bounded
//! [`PlayerQueue`]. The hub does no I/O and reads no clock: times come in as milliseconds
//! from the driver. Shared through `Rc<RefCell<Hub>>`, never borrowed across an `.await`.
//!
//! Viewers: a stream is watched while it has a player (a session attached to its Source:
//! RTMP, HTTP-FLV, HTTP-TS) or a viewer without a session ([`Hub::view`]: an HLS request
//! counts for a while). [`HubEvent::Watched`] comes when a stream gets its first viewer and
//! [`HubEvent::Unwatched`] when it loses its last, so an ingest that costs something while it
//! runs (an on-demand GB28181 camera) starts and stops with its audience. Events wake the
//! one consumer that waits in [`Hub::poll_events`].

pub mod jitter;
pub mod output;
pub mod queue;
pub mod source;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub use jitter::TimeJitter;
pub use output::{Output, OutputKind};
pub use queue::{PlayerQueue, QueueItem, QueueLimits, QueueStats};
pub use source::{Source, SourceSettings, SourceStats};

/// A connection's id, unique for the life of the process (wraps after 2^32 connections).
pub type ClientId = u32;

/// Hub events not yet consumed; past this the oldest are dropped (and counted).
pub const MAX_PENDING_EVENTS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub vhost: String,
    pub app: String,
    pub stream: String,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vhost, self.app, self.stream)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEvent {
    Publish {
        key: StreamKey,
        client: ClientId,
    },
    Unpublish {
        key: StreamKey,
        client: ClientId,
    },
    Play {
        key: StreamKey,
        client: ClientId,
    },
    Stop {
        key: StreamKey,
        client: ClientId,
    },
    Freed {
        key: StreamKey,
    },
    /// The stream got its first viewer (a player, or an HLS request while nobody watched).
    Watched {
        key: StreamKey,
    },
    /// The stream lost its last viewer: no player left and no HLS request within its hold.
    Unwatched {
        key: StreamKey,
    },
    /// A recording file was created (`server::dvr`).
    DvrStarted {
        key: StreamKey,
        path: PathBuf,
    },
    /// A recording file was closed and renamed to `path` (SRS's `on_dvr` moment).
    DvrClosed {
        key: StreamKey,
        path: PathBuf,
        duration_ms: u64,
        bytes: u64,
    },
    /// A recording stopped on a disk error; it starts again by itself in a new file.
    DvrError {
        key: StreamKey,
        path: PathBuf,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("stream {key} already has a publisher (client {publisher})")]
    AlreadyPublishing { key: StreamKey, publisher: ClientId },
    #[error("too many streams (limit {limit})")]
    TooManyStreams { limit: usize },
}

#[derive(Debug)]
pub struct Hub {
    sources: HashMap<StreamKey, Rc<RefCell<Source>>>,
    /// Viewers without a session (HLS requests), by stream: until when (ms) each counts as
    /// watched. At most `max_streams` entries (RAM: about 150 bytes each, within the 1 KiB a
    /// stream is counted at); a view of one more stream is not counted.
    views: HashMap<StreamKey, u64>,
    events: VecDeque<HubEvent>,
    dropped_events: u64,
    max_streams: usize,
    /// The event consumer waiting in [`Hub::poll_events`].
    waker: Option<Waker>,
}

impl Hub {
    /// Changes the cap on streams (config reload); streams over a lowered cap stay until they
    /// end, new ones are refused meanwhile.
    pub fn set_max_streams(&mut self, max_streams: usize) {
        self.max_streams = max_streams;
    }
}

impl Hub {
    /// A hub that refuses a new stream once `max_streams` are alive (config `max_streams`).
    /// RAM: a Source without players or cache is about 400 bytes; its GOP cache adds up to
    /// `gop_cache_max_bytes`.
    pub fn new(max_streams: usize) -> Hub {
        Hub {
            sources: HashMap::new(),
            views: HashMap::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            max_streams,
            waker: None,
        }
    }

    pub fn source(&self, key: &StreamKey) -> Option<Rc<RefCell<Source>>> {
        self.sources.get(key).cloned()
    }

    pub fn sources(&self) -> impl Iterator<Item = &Rc<RefCell<Source>>> {
        self.sources.values()
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    fn get_or_create(
        &mut self,
        key: &StreamKey,
        settings: SourceSettings,
        now_ms: u64,
    ) -> Result<Rc<RefCell<Source>>, HubError> {
        if let Some(s) = self.sources.get(key) {
            return Ok(s.clone());
        }
        if self.sources.len() >= self.max_streams {
            return Err(HubError::TooManyStreams {
                limit: self.max_streams,
            });
        }
        let s = Rc::new(RefCell::new(Source::new(key.clone(), settings, now_ms)));
        self.sources.insert(key.clone(), s.clone());
        Ok(s)
    }

    /// Starts publishing `key`; a stream has one publisher at a time.
    pub fn publish(
        &mut self,
        key: &StreamKey,
        client: ClientId,
        settings: SourceSettings,
        now_ms: u64,
    ) -> Result<Rc<RefCell<Source>>, HubError> {
        let source = self.get_or_create(key, settings, now_ms)?;
        {
            let mut s = source.borrow_mut();
            if let Some(publisher) = s.publisher() {
                return Err(HubError::AlreadyPublishing {
                    key: key.clone(),
                    publisher,
                });
            }
            s.start_publish(client, settings);
        }
        self.emit(HubEvent::Publish {
            key: key.clone(),
            client,
        });
        Ok(source)
    }

    /// Ends `client`'s publish of `key`; players stay attached.
    pub fn unpublish(&mut self, key: &StreamKey, client: ClientId, now_ms: u64) {
        let Some(source) = self.sources.get(key) else {
            return;
        };
        let mut s = source.borrow_mut();
        if s.publisher() != Some(client) {
            return;
        }
        s.stop_publish(now_ms);
        drop(s);
        self.emit(HubEvent::Unpublish {
            key: key.clone(),
            client,
        });
    }

    /// Attaches a player to `key` (creating the Source if nobody publishes yet). The queue
    /// starts with metadata, sequence headers and the cached GOP.
    pub fn play(
        &mut self,
        key: &StreamKey,
        client: ClientId,
        settings: SourceSettings,
        limits: QueueLimits,
        now_ms: u64,
    ) -> Result<Rc<RefCell<PlayerQueue>>, HubError> {
        let source = self.get_or_create(key, settings, now_ms)?;
        let queue = Rc::new(RefCell::new(PlayerQueue::new(client, limits)));
        let first = {
            let mut s = source.borrow_mut();
            s.attach(queue.clone());
            s.players() == 1
        };
        self.emit(HubEvent::Play {
            key: key.clone(),
            client,
        });
        if first && !self.views.contains_key(key) {
            self.emit(HubEvent::Watched { key: key.clone() });
        }
        Ok(queue)
    }

    /// Detaches `client`'s player from `key`.
    pub fn stop(&mut self, key: &StreamKey, client: ClientId, now_ms: u64) {
        let Some(source) = self.sources.get(key) else {
            return;
        };
        let last = {
            let mut s = source.borrow_mut();
            let before = s.players();
            s.detach(client, now_ms);
            before > 0 && s.players() == 0
        };
        self.emit(HubEvent::Stop {
            key: key.clone(),
            client,
        });
        if last && !self.views.contains_key(key) {
            self.emit(HubEvent::Unwatched { key: key.clone() });
        }
    }

    /// A viewer without a session (an HLS playlist or segment request) at `now_ms`: the
    /// stream counts as watched until `now_ms + hold_ms` (later views extend it), whether it
    /// exists yet or not. Not counted past `max_streams` viewed streams.
    pub fn view(&mut self, key: &StreamKey, now_ms: u64, hold_ms: u64) {
        let until = now_ms.saturating_add(hold_ms);
        if let Some(t) = self.views.get_mut(key) {
            *t = (*t).max(until);
            return;
        }
        if self.views.len() >= self.max_streams {
            log::debug!(
                "hub: view of {key} not counted ({} streams viewed)",
                self.max_streams
            );
            return;
        }
        self.views.insert(key.clone(), until);
        if self.players(key) == 0 {
            self.emit(HubEvent::Watched { key: key.clone() });
        }
    }

    /// Players attached to `key` now.
    fn players(&self, key: &StreamKey) -> usize {
        self.sources.get(key).map_or(0, |s| s.borrow().players())
    }

    /// Whether `key` has a viewer: a player, or a view not yet ended by [`Hub::sweep`] (the
    /// same rule as the Watched/Unwatched events).
    pub fn is_watched(&self, key: &StreamKey) -> bool {
        self.players(key) > 0 || self.views.contains_key(key)
    }

    /// Every stream with a viewer ([`Hub::is_watched`]), each once.
    pub fn watched(&self) -> impl Iterator<Item = &StreamKey> {
        let players = self
            .sources
            .iter()
            .filter(|(k, s)| s.borrow().players() > 0 && !self.views.contains_key(*k))
            .map(|(k, _)| k);
        players.chain(self.views.keys())
    }

    /// Players that dropped frames since the last call: (stream, client, new drops, total).
    /// Called once a second by the driver, this is the rate-limited "slow player" log, and
    /// it runs while the slow player's own task is blocked in a write.
    pub fn take_drop_reports(&mut self) -> Vec<(StreamKey, ClientId, u64, u64)> {
        let mut reports = Vec::new();
        for source in self.sources.values() {
            let s = source.borrow();
            s.for_each_player(|q| {
                let new = q.take_unreported_drops();
                if new > 0 {
                    reports.push((s.key.clone(), q.client, new, q.stats().dropped_frames));
                }
            });
        }
        reports
    }

    /// Frees Sources that have had neither publisher nor player for `grace_ms`, and ends the
    /// views whose hold is over.
    pub fn sweep(&mut self, now_ms: u64, grace_ms: u64) {
        let mut ended = Vec::new();
        self.views.retain(|key, until| {
            let keep = *until > now_ms;
            if !keep {
                ended.push(key.clone());
            }
            keep
        });
        for key in ended {
            if self.players(&key) == 0 {
                self.emit(HubEvent::Unwatched { key });
            }
        }
        let mut freed = Vec::new();
        self.sources.retain(|key, s| {
            let idle = s.borrow().idle_since();
            let keep = !matches!(idle, Some(t) if now_ms.saturating_sub(t) >= grace_ms);
            if !keep {
                freed.push(key.clone());
            }
            keep
        });
        for key in freed {
            self.emit(HubEvent::Freed { key });
        }
    }

    /// Queues an event of an output (DVR), for the same consumers as the hub's own.
    pub fn emit_event(&mut self, event: HubEvent) {
        self.emit(event);
    }

    fn emit(&mut self, event: HubEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(event);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    pub fn poll_event(&mut self) -> Option<HubEvent> {
        self.events.pop_front()
    }

    /// Ready when events wait to be taken with [`Hub::poll_event`]; else the task is woken by
    /// the next one. For the one consumer of the hub's events (the driver's dispatcher).
    pub fn poll_events(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.events.is_empty() {
            self.waker = Some(cx.waker().clone());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Events dropped because nobody consumed them in time.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::media::{AudioCodec, Frame, VideoCodec};

    /// Far above what any test here creates.
    const TEST_MAX_STREAMS: usize = 1024;

    fn key(stream: &str) -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: stream.into(),
        }
    }

    fn settings() -> SourceSettings {
        SourceSettings {
            gop_cache: true,
            gop_max_frames: 100,
            gop_max_bytes: 1 << 20,
            time_jitter: TimeJitter::Off,
        }
    }

    fn limits() -> QueueLimits {
        QueueLimits {
            max_bytes: 1 << 20,
            max_duration_ms: 10_000,
        }
    }

    fn video(ts: u32, key: bool, sh: bool) -> Frame {
        Frame::video(
            VideoCodec::Avc,
            i64::from(ts),
            0,
            key,
            sh,
            Bytes::from(vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, 9]),
            5,
        )
    }

    fn audio(ts: u32, sh: bool) -> Frame {
        Frame::audio(
            AudioCodec::Aac,
            i64::from(ts),
            sh,
            Bytes::from_static(&[0xAF, 1, 7]),
            2,
        )
    }

    fn drain(q: &Rc<RefCell<PlayerQueue>>) -> Vec<String> {
        let mut items = Vec::new();
        q.borrow_mut()
            .drain_into(&mut items, usize::MAX, usize::MAX);
        items
            .into_iter()
            .map(|i| match i {
                QueueItem::Frame(f) => format!(
                    "{:?}{}{}@{}",
                    f.kind,
                    if f.sequence_header { "-sh" } else { "" },
                    if f.keyframe { "-key" } else { "" },
                    f.dts
                ),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn second_publisher_is_refused() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        hub.publish(&key("a"), 1, settings(), 0).unwrap();
        let err = hub.publish(&key("a"), 2, settings(), 0).unwrap_err();
        assert_eq!(
            err,
            HubError::AlreadyPublishing {
                key: key("a"),
                publisher: 1
            }
        );
        // Another stream is fine.
        hub.publish(&key("b"), 2, settings(), 0).unwrap();
    }

    #[test]
    fn late_joiner_gets_headers_and_gop_starting_at_keyframe() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let src = hub.publish(&key("a"), 1, settings(), 0).unwrap();
        {
            let mut s = src.borrow_mut();
            s.on_frame(video(0, false, true));
            s.on_frame(audio(0, true));
            s.on_frame(video(0, true, false));
            s.on_frame(audio(10, false));
            s.on_frame(video(40, false, false));
            s.on_frame(video(80, true, false)); // new GOP
            s.on_frame(video(120, false, false));
        }
        let q = hub.play(&key("a"), 2, settings(), limits(), 0).unwrap();
        assert_eq!(
            drain(&q),
            vec!["Video-sh@0", "Audio-sh@0", "Video-key@80", "Video@120"]
        );
        src.borrow_mut().on_frame(audio(130, false));
        assert_eq!(drain(&q), vec!["Audio@130"]);
    }

    #[test]
    fn frames_before_the_first_keyframe_are_not_cached() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let src = hub.publish(&key("a"), 1, settings(), 0).unwrap();
        src.borrow_mut().on_frame(video(0, false, true));
        src.borrow_mut().on_frame(video(40, false, false));
        assert_eq!(src.borrow().gop_len().0, 0);
        src.borrow_mut().on_frame(audio(50, false));
        assert_eq!(src.borrow().gop_len().0, 0);
        src.borrow_mut().on_frame(video(80, true, false));
        assert_eq!(src.borrow().gop_len().0, 1);
    }

    #[test]
    fn gop_cache_is_capped_in_frames_and_bytes() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let mut s = settings();
        s.gop_max_frames = 3;
        let src = hub.publish(&key("a"), 1, s, 0).unwrap();
        src.borrow_mut().on_frame(video(0, true, false));
        for i in 1..5 {
            src.borrow_mut().on_frame(video(i * 40, false, false));
        }
        assert_eq!(src.borrow().gop_len(), (0, 0), "overflow drops the GOP");
        assert_eq!(src.borrow().stats().gop_overflows, 1);
        s.gop_max_frames = 100;
        let cost = 2 * 3 + crate::media::FRAME_OVERHEAD; // an audio frame of 3 bytes
        s.gop_max_bytes = 4 * cost + 2;
        hub.unpublish(&key("a"), 1, 0);
        let src = hub.publish(&key("a"), 1, s, 0).unwrap();
        for i in 0..10 {
            src.borrow_mut().on_frame(audio(i * 23, false));
        }
        let (frames, bytes) = src.borrow().gop_len();
        assert!(
            bytes <= 4 * cost + 2 && frames == 4,
            "audio-only rolls: {frames} {bytes}"
        );
    }

    #[test]
    fn players_wait_for_publisher_and_survive_republish() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let q = hub.play(&key("a"), 9, settings(), limits(), 0).unwrap();
        assert!(drain(&q).is_empty());
        let src = hub.publish(&key("a"), 1, settings(), 0).unwrap();
        src.borrow_mut().on_frame(video(0, false, true));
        src.borrow_mut().on_frame(video(0, true, false));
        assert_eq!(drain(&q), vec!["Published", "Video-sh@0", "Video-key@0"]);
        hub.unpublish(&key("a"), 1, 10);
        assert_eq!(drain(&q), vec!["Unpublished"]);
        // Not the publisher: ignored.
        hub.unpublish(&key("a"), 5, 10);
        let src = hub.publish(&key("a"), 2, settings(), 20).unwrap();
        src.borrow_mut().on_frame(video(5000, false, true));
        assert_eq!(drain(&q), vec!["Published", "Video-sh@5000"]);
        // A new player after republish does not see the old stream's headers.
        let q2 = hub.play(&key("a"), 10, settings(), limits(), 0).unwrap();
        assert_eq!(drain(&q2), vec!["Video-sh@5000"]);
    }

    #[test]
    fn full_jitter_timeline_goes_on_across_republish() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let s = SourceSettings {
            time_jitter: TimeJitter::Full,
            ..settings()
        };
        let q = hub.play(&key("a"), 9, s, limits(), 0).unwrap();
        let src = hub.publish(&key("a"), 1, s, 0).unwrap();
        src.borrow_mut().on_frame(video(1000, true, false));
        src.borrow_mut().on_frame(video(1040, false, false));
        hub.unpublish(&key("a"), 1, 10);
        let src = hub.publish(&key("a"), 2, s, 20).unwrap();
        src.borrow_mut().on_frame(video(0, true, false));
        src.borrow_mut().on_frame(video(40, false, false));
        assert_eq!(
            drain(&q),
            vec![
                "Published",
                "Video-key@0",
                "Video@40",
                // Not drained in between: Unpublished collapsed into the Published after it.
                "Published",
                "Video-key@50",
                "Video@90"
            ]
        );
    }

    /// GStreamer's flvmux re-sends onMetaData mid-stream. In full jitter mode SRS stamps
    /// metadata 0 (its `SrsRtmpJitter::correct` sets non-A/V messages to 0), so a new player
    /// gets metadata at 0 before the sequence headers, and a player already attached gets the
    /// mid-stream copy in stream order, also at 0; the A/V timeline is not disturbed.
    #[test]
    fn full_jitter_metadata_is_cached_and_sent_at_zero() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let s = SourceSettings {
            time_jitter: TimeJitter::Full,
            ..settings()
        };
        let early = hub.play(&key("a"), 8, s, limits(), 0).unwrap();
        let src = hub.publish(&key("a"), 1, s, 0).unwrap();
        src.borrow_mut().on_frame(video(0, true, true));
        src.borrow_mut().on_frame(audio(0, true));
        src.borrow_mut().on_frame(video(2600, true, false));
        src.borrow_mut().on_frame(video(2640, false, false));
        src.borrow_mut()
            .on_frame(Frame::metadata(2642, Bytes::from_static(&[2, 0, 0])));
        src.borrow_mut().on_frame(video(2680, false, false));
        assert_eq!(
            drain(&early),
            vec![
                "Published",
                "Video-sh-key@0",
                "Audio-sh@0",
                // 2600 ms is a jump: full mode makes it a 10 ms step.
                "Video-key@10",
                "Video@50",
                "Metadata@0",
                "Video@90"
            ]
        );
        let late = hub.play(&key("a"), 9, s, limits(), 0).unwrap();
        let items = drain(&late);
        assert_eq!(items[..3], ["Metadata@0", "Video-sh-key@0", "Audio-sh@0"]);
    }

    #[test]
    fn sources_are_freed_after_grace_and_events_recorded() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        hub.publish(&key("a"), 1, settings(), 0).unwrap();
        let _q = hub.play(&key("a"), 2, settings(), limits(), 0).unwrap();
        hub.unpublish(&key("a"), 1, 100);
        hub.sweep(100_000, 5_000);
        assert_eq!(hub.len(), 1, "a player is still attached");
        hub.stop(&key("a"), 2, 200);
        hub.sweep(5_100, 5_000);
        assert_eq!(hub.len(), 1, "grace not over");
        hub.sweep(5_200, 5_000);
        assert_eq!(hub.len(), 0);
        let events: Vec<_> = std::iter::from_fn(|| hub.poll_event()).collect();
        assert_eq!(
            events,
            vec![
                HubEvent::Publish {
                    key: key("a"),
                    client: 1
                },
                HubEvent::Play {
                    key: key("a"),
                    client: 2
                },
                HubEvent::Watched { key: key("a") },
                HubEvent::Unpublish {
                    key: key("a"),
                    client: 1
                },
                HubEvent::Stop {
                    key: key("a"),
                    client: 2
                },
                HubEvent::Unwatched { key: key("a") },
                HubEvent::Freed { key: key("a") },
            ]
        );
    }

    fn watch_events(hub: &mut Hub) -> Vec<String> {
        std::iter::from_fn(|| hub.poll_event())
            .filter_map(|e| match e {
                HubEvent::Watched { key } => Some(format!("watched {}", key.stream)),
                HubEvent::Unwatched { key } => Some(format!("unwatched {}", key.stream)),
                _ => None,
            })
            .collect()
    }

    /// Issue 17 item 14: the first viewer and the last one leaving are events, whatever the
    /// kind of viewer: players (before or after a publisher) and HLS requests, held for a
    /// while after each.
    #[test]
    fn a_stream_is_watched_from_its_first_viewer_to_its_last() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let _q1 = hub.play(&key("a"), 1, settings(), limits(), 0).unwrap();
        let _q2 = hub.play(&key("a"), 2, settings(), limits(), 0).unwrap();
        assert_eq!(
            watch_events(&mut hub),
            ["watched a"],
            "before any publisher"
        );
        assert!(hub.is_watched(&key("a")));
        hub.stop(&key("a"), 1, 10);
        assert!(watch_events(&mut hub).is_empty(), "one player is left");
        hub.stop(&key("a"), 2, 20);
        hub.stop(&key("a"), 2, 20);
        assert_eq!(watch_events(&mut hub), ["unwatched a"], "once");
        assert!(!hub.is_watched(&key("a")));

        // An HLS request of a stream that does not exist yet, held for 3 s and renewed.
        hub.view(&key("b"), 1_000, 3_000);
        hub.view(&key("b"), 2_000, 3_000);
        assert_eq!(watch_events(&mut hub), ["watched b"]);
        hub.sweep(4_999, 5_000);
        assert!(hub.is_watched(&key("b")), "held until 5 s");
        let _q3 = hub.play(&key("b"), 3, settings(), limits(), 5_000).unwrap();
        hub.sweep(5_000, 5_000);
        assert!(watch_events(&mut hub).is_empty(), "a player took over");
        let watched: Vec<_> = hub.watched().collect();
        assert_eq!(watched, [&key("b")]);
        hub.view(&key("b"), 6_000, 1_000);
        hub.stop(&key("b"), 3, 6_500);
        assert!(watch_events(&mut hub).is_empty(), "the view holds on");
        hub.sweep(7_000, 5_000);
        assert_eq!(watch_events(&mut hub), ["unwatched b"]);
        assert_eq!(hub.watched().count(), 0);
    }

    #[test]
    fn views_are_bounded_by_max_streams() {
        let mut hub = Hub::new(2);
        hub.view(&key("a"), 0, 1_000);
        hub.view(&key("b"), 0, 1_000);
        hub.view(&key("c"), 0, 1_000);
        assert_eq!(watch_events(&mut hub), ["watched a", "watched b"]);
        assert!(!hub.is_watched(&key("c")));
        hub.view(&key("a"), 500, 1_000);
        assert!(
            watch_events(&mut hub).is_empty(),
            "a known stream is renewed"
        );
    }

    #[test]
    fn an_event_wakes_the_consumer() {
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
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        assert!(hub.poll_events(&mut cx).is_pending());
        hub.view(&key("a"), 0, 1_000);
        assert_eq!(count.0.load(Ordering::Relaxed), 1);
        assert!(hub.poll_events(&mut cx).is_ready());
        while hub.poll_event().is_some() {}
        assert!(hub.poll_events(&mut cx).is_pending());
    }

    #[derive(Debug, Default)]
    struct Recorder(Vec<String>);

    impl Output for Recorder {
        fn kind(&self) -> OutputKind {
            OutputKind::Ts
        }
        fn on_publish(&mut self) {
            self.0.push("publish".into());
        }
        fn on_frame(&mut self, f: &crate::media::SharedFrame) {
            self.0.push(format!(
                "{:?}{}@{}",
                f.kind,
                if f.sequence_header { "-sh" } else { "" },
                f.dts
            ));
        }
        fn on_unpublish(&mut self) {
            self.0.push("unpublish".into());
        }
    }

    #[test]
    fn an_output_attached_late_replays_headers_and_gop_then_follows() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let src = hub.publish(&key("a"), 1, settings(), 0).unwrap();
        for f in [
            video(0, false, true),
            audio(0, true),
            video(0, true, false),
            video(40, false, false),
        ] {
            src.borrow_mut().on_frame(f);
        }
        let rec = Rc::new(RefCell::new(Recorder::default()));
        src.borrow_mut().add_output(rec.clone());
        // A second output of the same kind is ignored.
        src.borrow_mut()
            .add_output(Rc::new(RefCell::new(Recorder::default())));
        src.borrow_mut().on_frame(video(80, false, false));
        hub.unpublish(&key("a"), 1, 0);
        assert_eq!(
            rec.borrow().0,
            vec![
                "publish",
                "Video-sh@0",
                "Audio-sh@0",
                "Video@0",
                "Video@40",
                "Video@80",
                "unpublish"
            ]
        );
        assert!(src.borrow().output(OutputKind::Ts).is_some());
        src.borrow_mut().remove_output(OutputKind::Ts);
        assert!(src.borrow().output(OutputKind::Ts).is_none());
    }

    #[test]
    fn stream_count_is_limited() {
        let mut hub = Hub::new(2);
        hub.publish(&key("a"), 1, settings(), 0).unwrap();
        hub.play(&key("b"), 2, settings(), limits(), 0).unwrap();
        assert_eq!(
            hub.publish(&key("c"), 3, settings(), 0).unwrap_err(),
            HubError::TooManyStreams { limit: 2 }
        );
    }

    #[test]
    fn one_frame_is_shared_by_all_players() {
        let mut hub = Hub::new(TEST_MAX_STREAMS);
        let src = hub.publish(&key("a"), 1, settings(), 0).unwrap();
        let qs: Vec<_> = (0..3)
            .map(|i| {
                hub.play(&key("a"), 10 + i, settings(), limits(), 0)
                    .unwrap()
            })
            .collect();
        src.borrow_mut().on_frame(video(0, true, false));
        let ptrs: Vec<_> = qs
            .iter()
            .map(|q| {
                let mut items = Vec::new();
                q.borrow_mut().drain_into(&mut items, 10, usize::MAX);
                match items.pop() {
                    Some(QueueItem::Frame(f)) => f.data.as_ptr(),
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert!(ptrs.windows(2).all(|w| w[0] == w[1]));
    }
}
