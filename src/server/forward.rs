//! Forward (SRS's `forward` per vhost): every stream published on a vhost with
//! `forward.enabled` is published again to each `forward.destination` by an RTMP client
//! (`session::rtmp::client`), one per destination, driven by `net::forward`.
//!
//! What a caller must know: [`on_publish`] (a publish hook, for every ingest) makes one
//! [`Forwarder`] per destination, each with its own [`PlayerQueue`] bounded by
//! `forward.queue_max_bytes` (a slow destination drops to the next keyframe like a slow
//! player, counted), and attaches a [`ForwardOutput`] that feeds those queues; the net layer
//! spawns a task per forwarder on the hub's Publish event ([`Forwards::take_unspawned`]). The
//! publisher's unpublish pushes `Unpublished` into every queue and marks the forwarders
//! stopped: their tasks end. Each forwarder's state (connecting, publishing, backoff with its
//! last error; bytes sent; frames dropped) is in `/api/v1/streams` (`forwards`).
//!
//! Reconnects: a failed session is retried after [`backoff_ms`] (1 s doubling to 30 s, back to
//! 1 s once a session reached publishing) while the stream is published. On every (re)start
//! the destination gets the stream's metadata and sequence headers first, then the cached GOP
//! (when it fits half the session's outbox), else frames from the next video keyframe
//! (audio-only streams at once).
//!
//! Dynamic forward (SRS 5.0 `forward.backend`, Cargo feature `hooks`): at the publish the
//! stream gets no static forwarders; the net layer posts SRS's `on_forward` body to the backend
//! ([`Forwards::take_backend`], `Hooks::forward_call`) and [`add_backend`] makes one forwarder
//! per URL of the answer `{"code":0,"data":{"urls":["rtmp://..."]}}` ([`backend_urls`], at most
//! `MAX_DESTINATIONS`). A failed or refused call is logged; the stream publishes without
//! forwarders (SRS refuses the publish instead).
//!
//! Not supported: `rtmps://`, forwarding only some apps/streams.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;

use super::ServerCtx;
use crate::config::{Destination, Vhost, MAX_DESTINATIONS};
use crate::live::{Output, OutputKind, PlayerQueue, QueueItem, QueueLimits, Source, StreamKey};
use crate::media::{FrameKind, SharedFrame};
use crate::session::rtmp::client::{ClientConfig, ClientRole, ClientSession, MAX_OUTBOX};
use crate::session::rtmp::MediaKind;
use crate::wire::rtmp::chunk::ChunkLimits;

/// Client ids of forward queues, far above the connections' (they count up from 1).
const FORWARD_CLIENT_BASE: u32 = 0xF000_0000;

/// First wait before a reconnect; it doubles per failure up to [`BACKOFF_MAX_MS`].
pub const BACKOFF_MIN_MS: u64 = 1_000;
/// Longest wait between two attempts.
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// Connect to `NetStream.Publish.Start` at most.
pub const SETUP_TIMEOUT_MS: u64 = 10_000;

/// Our outgoing chunk size to destinations (SRS's default 60000 keeps a frame in one chunk).
pub const OUT_CHUNK_SIZE: u32 = 60_000;

/// What a destination may send us: command replies only. RAM: per forwarder, at most
/// `max_pending_bytes`.
pub const CLIENT_LIMITS: ChunkLimits = ChunkLimits {
    max_message_len: 64 * 1024,
    max_chunk_streams: 8,
    max_pending_bytes: 64 * 1024,
};

/// The wait before attempt `failures + 1` (`failures` ≥ 1): 1 s, 2 s, 4 s ... 30 s.
pub fn backoff_ms(failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(5);
    (BACKOFF_MIN_MS << shift).min(BACKOFF_MAX_MS)
}

/// What a forwarder is doing. Transitions: `Connecting` → `Publishing` (the destination said
/// `NetStream.Publish.Start`) → `Backoff` on any error → `Connecting` after the wait; any
/// state → `Stopped` when the source unpublishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardState {
    Connecting,
    Publishing,
    Backoff,
    Stopped,
}

/// One destination of one published stream.
#[derive(Debug)]
pub struct Forwarder {
    pub key: StreamKey,
    pub destination: Destination,
    /// The app and stream published at the destination.
    pub app: String,
    pub stream: String,
    pub queue: Rc<RefCell<PlayerQueue>>,
    pub state: Cell<ForwardState>,
    pub last_error: RefCell<Option<String>>,
    /// Bytes written to the destination, over every session.
    pub send_bytes: Cell<u64>,
    /// Sessions that reached publishing.
    pub sessions: Cell<u64>,
    /// The task was started (by `net::forward`).
    spawned: Cell<bool>,
    /// An edge's publish: every origin, tried in turn from the first after each failure
    /// (empty: `destination` only).
    alternates: Vec<Destination>,
    current: Cell<usize>,
    /// Sessions failed in a row (reset by one that reached publishing): the backoff's step.
    failures: Cell<u32>,
    /// When dropped frames were last logged (ms): one line a second at most.
    drops_logged_ms: Cell<u64>,
}

impl Forwarder {
    /// `rtmp://host:port/app/stream` without the query (keys stay out of the API and logs).
    pub fn url(&self) -> String {
        let d = self.target();
        let host = if d.host.contains(':') {
            format!("[{}]", d.host)
        } else {
            d.host.clone()
        };
        let stream = self.stream.split('?').next().unwrap_or_default();
        format!("{}://{host}:{}/{}/{stream}", scheme(d), d.port, self.app)
    }

    /// Where the next session goes: the destination, or an edge's origin in turn.
    pub fn target(&self) -> &Destination {
        match self.alternates.len() {
            0 => &self.destination,
            n => &self.alternates[self.current.get() % n],
        }
    }

    /// A session ended (`Ok`: the destination closed the connection) while the stream is
    /// still published: counts the failure (from one again after a session that reached
    /// publishing), moves an edge's publish to the next origin, logs once, records the error
    /// for the API and enters the backoff. Returns the backoff's wait in ms.
    pub fn session_ended(&self, result: Result<(), String>) -> u64 {
        let error = match result {
            Ok(()) => "the destination closed the connection".to_owned(),
            Err(e) => e,
        };
        if self.state.get() == ForwardState::Publishing {
            self.failures.set(0);
        }
        let failures = self.failures.get().saturating_add(1);
        self.failures.set(failures);
        let wait = backoff_ms(failures);
        let failed = self.url();
        self.next_target();
        log::warn!(
            "forward {} to {failed}: {error}; retrying in {} s to {}",
            self.key,
            wait / 1000,
            self.url()
        );
        *self.last_error.borrow_mut() = Some(error);
        self.state.set(ForwardState::Backoff);
        wait
    }

    /// A session failed: an edge's publish tries the next origin.
    fn next_target(&self) {
        if !self.alternates.is_empty() {
            self.current
                .set((self.current.get() + 1) % self.alternates.len());
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.state.get() == ForwardState::Stopped
    }

    /// The client session's settings for one attempt.
    pub fn client_config(&self) -> ClientConfig {
        let d = self.target();
        let host = if d.host.contains(':') {
            format!("[{}]", d.host)
        } else {
            d.host.clone()
        };
        ClientConfig {
            app: self.app.clone(),
            tc_url: format!("{}://{host}:{}/{}", scheme(d), d.port, self.app),
            stream: self.stream.clone(),
            role: ClientRole::Publish,
            chunk_size: OUT_CHUNK_SIZE,
            limits: CLIENT_LIMITS,
            setup_timeout_ms: SETUP_TIMEOUT_MS,
        }
    }

    /// Logs the frames the queue dropped since the last line, at most one line a second.
    pub fn report_drops(&self, now_ms: u64) {
        if now_ms < self.drops_logged_ms.get() + 1_000 {
            return;
        }
        self.drops_logged_ms.set(now_ms);
        let mut q = self.queue.borrow_mut();
        let new = q.take_unreported_drops();
        if new > 0 {
            log::warn!(
                "forward {} to {}: dropped {new} frames ({} in all; the destination is slower \
                 than the stream, forward.queue_max_bytes)",
                self.key,
                self.url(),
                q.stats().dropped_frames
            );
        }
    }

    /// The session reached publishing: what waited in the queue is dropped; the source's
    /// metadata and sequence headers go first, then its cached GOP, so the destination has a
    /// picture at once. True when a GOP went out (the queue's frames follow it); false: frames
    /// wait for the next keyframe.
    pub fn start_stream(
        &self,
        ctx: &ServerCtx,
        session: &mut ClientSession,
    ) -> Result<bool, String> {
        self.state.set(ForwardState::Publishing);
        self.sessions.set(self.sessions.get() + 1);
        log::info!("forward {} to {}: publishing", self.key, self.url());
        self.queue
            .borrow_mut()
            .drain(usize::MAX, usize::MAX, |_| {});
        let source = ctx.hub.borrow().source(&self.key);
        let Some(source) = source else {
            return Ok(false);
        };
        let s = source.borrow();
        let mut gop = s.gop().peekable();
        // A GOP larger than half the session's outbox (a long GOP at a high bitrate) is not
        // replayed: the frames then wait for the next keyframe.
        let from_keyframe = gop.peek().is_some_and(|first| first.is_video_keyframe())
            && s.gop_len().1 <= MAX_OUTBOX / 2;
        let headers = [s.metadata(), s.video_header(), s.audio_header()];
        let gop = gop.filter(|_| from_keyframe);
        for frame in headers.into_iter().flatten().chain(gop) {
            let (kind, ts) = media_of(frame);
            session
                .send_media(kind, ts, &frame.data)
                .map_err(|e| e.to_string())?;
        }
        Ok(from_keyframe)
    }

    /// Sends up to [`MAX_BATCH_ITEMS`] of the queue to the session. After a (re)start, frames
    /// wait for a video keyframe (`waiting_keyframe`; headers go at once; an audio-only stream
    /// does not wait). True when the stream was unpublished.
    pub fn send_queued(
        &self,
        session: &mut ClientSession,
        waiting_keyframe: &mut bool,
    ) -> Result<bool, String> {
        let mut items = Vec::new();
        self.queue
            .borrow_mut()
            .drain(MAX_BATCH_ITEMS, usize::MAX, |i| items.push(i));
        for item in items {
            match item {
                QueueItem::Frame(frame) => {
                    let headers = frame.sequence_header || frame.kind == FrameKind::Metadata;
                    if *waiting_keyframe && !headers {
                        if !frame.is_video_keyframe() && self.queue.borrow().has_video() {
                            continue;
                        }
                        *waiting_keyframe = false;
                    }
                    let (kind, ts) = media_of(&frame);
                    session
                        .send_media(kind, ts, &frame.data)
                        .map_err(|e| e.to_string())?;
                }
                QueueItem::Unpublished => return Ok(true),
                QueueItem::Published => {}
            }
        }
        Ok(false)
    }

    /// While the task waits out the backoff: only the newest frames matter to the next
    /// session, which starts at a keyframe, so what waits is dropped here rather than at the
    /// cap.
    pub fn discard_queued(&self) {
        self.queue
            .borrow_mut()
            .drain(usize::MAX, usize::MAX, |_| {});
    }

    fn stop(&self) {
        self.state.set(ForwardState::Stopped);
        self.queue.borrow_mut().push_control(QueueItem::Unpublished);
    }
}

/// Queue items sent per wake-up at most, so one forwarder does not hold the event loop.
pub const MAX_BATCH_ITEMS: usize = 64;

/// The media kind and timestamp a frame is sent with.
pub fn media_of(frame: &SharedFrame) -> (MediaKind, u32) {
    let kind = match frame.kind {
        FrameKind::Audio => MediaKind::Audio,
        FrameKind::Video => MediaKind::Video,
        FrameKind::Metadata => MediaKind::Metadata,
    };
    (kind, frame.dts as u32)
}

/// A `forward.backend` call waiting for the net layer (made at the publish).
#[derive(Debug, Clone)]
pub struct BackendAsk {
    pub url: String,
    /// `http_hooks.hooks_timeout` of the vhost.
    pub timeout_ms: u64,
    limits: QueueLimits,
}

/// The forwarders of every published stream, for the net layer and the API; and the backend
/// calls not yet made (one per published stream at most).
#[derive(Debug, Default, Clone)]
pub struct Forwards(
    Rc<RefCell<HashMap<StreamKey, Vec<Rc<Forwarder>>>>>,
    Rc<RefCell<HashMap<StreamKey, BackendAsk>>>,
);

impl Forwards {
    /// The backend call of a newly published stream, if its vhost has `forward.backend`.
    pub fn take_backend(&self, key: &StreamKey) -> Option<BackendAsk> {
        self.1.borrow_mut().remove(key)
    }

    /// The forwarders of `key` whose task is not started yet, marked started.
    pub fn take_unspawned(&self, key: &StreamKey) -> Vec<Rc<Forwarder>> {
        let map = self.0.borrow();
        let Some(list) = map.get(key) else {
            return Vec::new();
        };
        list.iter()
            .filter(|f| !f.spawned.replace(true))
            .cloned()
            .collect()
    }

    /// The forwarders of `key` (the API).
    pub fn of(&self, key: &StreamKey) -> Vec<Rc<Forwarder>> {
        self.0.borrow().get(key).cloned().unwrap_or_default()
    }

    /// Forwarders of all streams.
    pub fn len(&self) -> usize {
        self.0.borrow().values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops and forgets the forwarders of `key` (and its backend call not yet made).
    pub fn stop(&self, key: &StreamKey) {
        self.1.borrow_mut().remove(key);
        if let Some(list) = self.0.borrow_mut().remove(key) {
            for f in list {
                f.stop();
            }
        }
    }
}

/// The Source output that feeds every forwarder's queue of one stream.
#[derive(Debug)]
pub struct ForwardOutput(Vec<Rc<Forwarder>>);

impl Output for ForwardOutput {
    fn kind(&self) -> OutputKind {
        OutputKind::Forward
    }

    fn on_publish(&mut self) {}

    fn on_frame(&mut self, frame: &SharedFrame) {
        for f in &self.0 {
            f.queue.borrow_mut().push(frame.clone());
        }
    }

    fn on_unpublish(&mut self) {
        for f in &self.0 {
            f.stop();
        }
    }
}

/// The publish hook: one forwarder per destination of the vhost, fed from the source.
pub fn on_publish(ctx: &ServerCtx, source: &Rc<RefCell<Source>>, vhost: &Vhost) {
    let mut s = source.borrow_mut();
    let key = s.key.clone();
    ctx.forwards.stop(&key);
    s.remove_output(OutputKind::Forward);
    let fw = &vhost.forward;
    let limits = QueueLimits {
        max_bytes: fw.queue_max_bytes,
        max_duration_ms: i64::from(vhost.queue_length_ms),
    };
    #[cfg(feature = "edge")]
    if vhost.cluster.is_edge() {
        return edge_publish(ctx, &mut s, vhost, limits);
    }
    if !fw.enabled {
        return;
    }
    if let Some(url) = fw.backend.0.clone().filter(|_| cfg!(feature = "hooks")) {
        let timeout_ms = u64::from(vhost.http_hooks.timeout_s) * 1000;
        let ask = BackendAsk {
            url,
            timeout_ms,
            limits,
        };
        ctx.forwards.1.borrow_mut().insert(key, ask);
        return;
    }
    if fw.destination.0.is_empty() {
        return;
    }
    let list = forwarders(&key, &fw.destination.0, limits);
    ctx.forwards.0.borrow_mut().insert(key, list.clone());
    s.add_output(Rc::new(RefCell::new(ForwardOutput(list))));
}

/// An edge (`cluster.mode = remote`): a stream published here by a client goes to the first
/// origin, with its app and name; a stream pulled from an origin goes nowhere.
#[cfg(feature = "edge")]
fn edge_publish(ctx: &ServerCtx, s: &mut Source, vhost: &Vhost, limits: QueueLimits) {
    if s.publisher().is_some_and(|c| ctx.edges.is_pull(c)) {
        return;
    }
    let key = s.key.clone();
    let origins = &vhost.cluster.origin.0;
    let mut list = forwarders(&key, &origins[..1], limits);
    if let Some(f) = list.first_mut().and_then(Rc::get_mut) {
        f.alternates = origins.clone();
    }
    log::info!("edge {key}: published here, forwarded to the origin");
    ctx.forwards.0.borrow_mut().insert(key, list.clone());
    s.add_output(Rc::new(RefCell::new(ForwardOutput(list))));
}

/// One forwarder per destination, each with its queue.
fn forwarders(key: &StreamKey, list: &[Destination], limits: QueueLimits) -> Vec<Rc<Forwarder>> {
    let list: Vec<Rc<Forwarder>> = list
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (app, stream) = d
                .app_stream
                .clone()
                .unwrap_or_else(|| (key.app.clone(), key.stream.clone()));
            Rc::new(Forwarder {
                key: key.clone(),
                destination: d.clone(),
                app,
                stream,
                queue: Rc::new(RefCell::new(PlayerQueue::new(
                    FORWARD_CLIENT_BASE + i as u32,
                    limits,
                ))),
                state: Cell::new(ForwardState::Connecting),
                last_error: RefCell::new(None),
                send_bytes: Cell::new(0),
                sessions: Cell::new(0),
                spawned: Cell::new(false),
                alternates: Vec::new(),
                current: Cell::new(0),
                failures: Cell::new(0),
                drops_logged_ms: Cell::new(0),
            })
        })
        .collect();
    for f in &list {
        log::info!("forward {key} to {} ({})", f.url(), f.destination.text);
    }
    list
}

/// The backend answered `destinations` for `key`: its forwarders, fed from the source from now
/// on (the net layer starts their tasks with [`Forwards::take_unspawned`]). Nothing when the
/// stream is no longer published.
pub fn add_backend(
    ctx: &ServerCtx,
    key: &StreamKey,
    ask: &BackendAsk,
    destinations: &[Destination],
) {
    let source = ctx.hub.borrow().source(key);
    let Some(source) = source else {
        return;
    };
    let mut s = source.borrow_mut();
    if s.publisher().is_none() || destinations.is_empty() {
        return;
    }
    s.remove_output(OutputKind::Forward);
    let list = forwarders(key, destinations, ask.limits);
    ctx.forwards
        .0
        .borrow_mut()
        .insert(key.clone(), list.clone());
    s.add_output(Rc::new(RefCell::new(ForwardOutput(list))));
}

/// `rtmp` or `rtmps`, as the destination was written.
fn scheme(d: &Destination) -> &'static str {
    if d.tls {
        "rtmps"
    } else {
        "rtmp"
    }
}

/// The destinations in a backend's answer (SRS: `data.urls`, strings; empty ones skipped),
/// each an `rtmp[s]://host[:port]/app/stream[?query]` URL, at most [`MAX_DESTINATIONS`] (more is
/// an error, as a destination list longer than that is in the config). The answer was already
/// judged allowing (`code` 0) by the hooks' client.
pub fn backend_urls(body: &[u8]) -> Result<Vec<Destination>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("answer not JSON: {e}"))?;
    let urls = value
        .get("data")
        .and_then(|d| d.get("urls"))
        .and_then(|u| u.as_array())
        .ok_or("no data.urls array in the answer")?;
    if urls.len() > MAX_DESTINATIONS {
        return Err(format!(
            "{} URLs in the answer, more than {MAX_DESTINATIONS}",
            urls.len()
        ));
    }
    let mut out = Vec::with_capacity(urls.len());
    for url in urls {
        let text = url.as_str().ok_or("a URL that is not a string")?;
        if text.is_empty() {
            continue;
        }
        let d = Destination::parse(text)?;
        if d.app_stream.is_none() {
            return Err(format!(
                "{text:?} is not an rtmp:// URL with app and stream"
            ));
        }
        out.push(d);
    }
    Ok(out)
}

/// The hub's Unpublish: the stream's forwarders stop (their queues already say so).
/// A stream published again before this event came keeps its new forwarders.
pub fn on_unpublish(ctx: &ServerCtx, key: &StreamKey) {
    let source = ctx.hub.borrow().source(key);
    if let Some(source) = source {
        let mut s = source.borrow_mut();
        if s.publisher().is_some() {
            return;
        }
        s.remove_output(OutputKind::Forward);
    }
    ctx.forwards.stop(key);
}

/// One forwarder in `/api/v1/streams` (`forwards`, ours).
#[derive(Debug, Serialize)]
pub struct ForwardObject {
    /// As configured.
    pub destination: String,
    /// Where it publishes, without the query.
    pub url: String,
    pub state: ForwardState,
    /// Why the last session ended, while it waits to retry (and after).
    pub error: Option<String>,
    pub send_bytes: u64,
    /// Frames its queue dropped (`forward.queue_max_bytes`).
    pub dropped_frames: u64,
    /// Sessions that reached publishing.
    pub sessions: u64,
}

pub fn objects(ctx: &ServerCtx, key: &StreamKey) -> Vec<ForwardObject> {
    ctx.forwards
        .of(key)
        .iter()
        .map(|f| ForwardObject {
            destination: f.destination.text.clone(),
            url: f.url(),
            state: f.state.get(),
            error: f.last_error.borrow().clone(),
            send_bytes: f.send_bytes.get(),
            dropped_frames: f.queue.borrow().stats().dropped_frames,
            sessions: f.sessions.get(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_answers_as_srs_writes_them() {
        let body = br#"{"code":0,"data":{"urls":["rtmp://127.0.0.1:19350/test/teststream?auth_token=123456",""]}}"#;
        let d = backend_urls(body).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].host.as_str(), d[0].port), ("127.0.0.1", 19350));
        assert_eq!(
            d[0].app_stream,
            Some(("test".into(), "teststream?auth_token=123456".into()))
        );
        assert!(backend_urls(br#"{"code":0,"data":{"urls":[]}}"#)
            .unwrap()
            .is_empty());
        let nine = format!(
            r#"{{"code":0,"data":{{"urls":[{}]}}}}"#,
            [r#""rtmp://10.0.0.1/a/b""#; 9].join(",")
        );
        for bad in [
            &b"0"[..],
            b"{\"code\":0}",
            b"{\"code\":0,\"data\":{\"urls\":\"rtmp://h/a/b\"}}",
            b"{\"code\":0,\"data\":{\"urls\":[1]}}",
            b"{\"code\":0,\"data\":{\"urls\":[\"10.0.0.1:1935\"]}}",
            b"{\"code\":0,\"data\":{\"urls\":[\"rtmpt://h/a/b\"]}}",
            nine.as_bytes(),
            b"{",
        ] {
            assert!(
                backend_urls(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn backoff_doubles_from_one_to_thirty_seconds() {
        let waits: Vec<u64> = (1..=8).map(backoff_ms).collect();
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]
        );
        assert_eq!(backoff_ms(u32::MAX), 30_000);
    }
}
