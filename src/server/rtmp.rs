//! Glue between one RTMP session and the live hub: turns session events into hub calls
//! (publish, play, frames) and player queue items into chunked bytes. No I/O, no clock: the
//! driver in `net::rtmp` owns the socket and passes the time in.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;

#[cfg(feature = "hooks")]
use super::hooks::Action;
use super::stats::{ClientKind, ClientRecord, Registration};
use super::{ConnLog, ServerCtx};
use crate::config::{Config, Method, Vhost};
use crate::live::{
    ClientId, PlayerQueue, QueueItem, QueueLimits, Source, SourceSettings, StreamKey,
};
use crate::media::{Encoding, Frame, FrameKind, SharedFrame};
use crate::session::rtmp::{
    Event, MediaKind, Request, ServerSession, SessionConfig, SessionError, COMMAND_CHUNK_LIMITS,
    CSID_AUDIO, CSID_STREAM, CSID_VIDEO, MAX_CHUNK_STREAMS,
};
use crate::wire::flv;
use crate::wire::rtmp::chunk::{self, ChunkError, ChunkLimits};
use crate::wire::rtmp::handshake::PACKET_LEN;
use crate::wire::rtmp::message::{MessageHeader, MessageType};
#[cfg(feature = "hooks")]
use hooks::{HookState, Pending};

use super::{MAX_BATCH_BYTES, MAX_BATCH_ITEMS};

/// An origin cluster's redirected plays.
#[cfg(feature = "edge")]
mod coworkers;
/// The HTTP callbacks of a connection.
#[cfg(feature = "hooks")]
mod hooks;
pub mod kickoff;
/// When the driver reads and wakes (merged read).
mod read_timing;
/// An edge's token traverse.
#[cfg(feature = "edge")]
mod traverse;
/// What the connection waits for before it reads on (hooks, origin, coworkers).
#[cfg(any(feature = "hooks", feature = "edge"))]
mod wait;

pub use read_timing::{ReadTiming, MERGED_READ_GRID_MS};
#[cfg(any(feature = "hooks", feature = "edge"))]
pub use wait::{Wait, WaitAnswer};

/// The chunk limits of a publisher (after `publish`): `rtmp.max_message_bytes` and
/// `rtmp.max_pending_bytes`, the latter raised to the former (a message of the longest length
/// must fit). RAM: `max_pending_bytes` of partly received messages per publisher.
pub fn chunk_limits(config: &Config) -> ChunkLimits {
    let max_message = config.rtmp_max_message_bytes;
    ChunkLimits {
        // The config allows at most 16 MiB - 1 (the wire's 24-bit length).
        max_message_len: u32::try_from(max_message).unwrap_or(u32::MAX),
        max_chunk_streams: MAX_CHUNK_STREAMS,
        max_pending_bytes: config.rtmp_max_pending_bytes.max(max_message),
    }
}

/// A new connection's session settings from the config in force.
pub fn session_config(config: &Config) -> SessionConfig {
    SessionConfig {
        chunk_size: config.chunk_size,
        chunk_limits: chunk_limits(config),
        command_chunk_limits: COMMAND_CHUNK_LIMITS,
        handshake_timeout_ms: u64::from(config.handshake_timeout_ms),
        idle_timeout_ms: u64::from(config.idle_timeout_ms),
    }
}

/// The config key to raise when `e` is a publisher's message over one of the RTMP caps.
pub fn cap_exceeded(e: &SessionError) -> Option<&'static str> {
    match e {
        SessionError::Chunk(ChunkError::MessageTooLong { .. }) => Some("rtmp.max_message_bytes"),
        SessionError::Chunk(ChunkError::PendingTooLarge { .. }) => Some("rtmp.max_pending_bytes"),
        _ => None,
    }
}

/// What this connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unknown,
    Publisher,
    Player,
}

pub struct RtmpConn {
    pub id: ClientId,
    pub log: ConnLog,
    pub peer: SocketAddr,
    ctx: ServerCtx,
    pub session: ServerSession,
    /// This connection in the API's client list (removed on drop).
    pub registration: Registration,
    /// Boxed: a `Vhost` is over a KiB and the connection's task future holds this struct;
    /// the heap copy is the same size, the future stays small.
    vhost: Option<Box<Vhost>>,
    publishing: Option<(u32, StreamKey, Rc<RefCell<Source>>)>,
    /// While publishing on a vhost with `publish.mr` (and not `min_latency`): `mr_latency`.
    merged_read_ms: Option<u32>,
    playing: Option<(u32, StreamKey, Rc<RefCell<PlayerQueue>>)>,
    /// Frames refused because their tag body did not parse.
    pub bad_frames: u64,
    /// The HTTP callbacks' view of this connection (boxed: most connections have none).
    #[cfg(feature = "hooks")]
    hooks: Option<Box<HookState>>,
    /// A connect that waits for an origin's answer (an edge's `token_traverse`).
    #[cfg(feature = "edge")]
    traverse: Option<Box<traverse::Traverse>>,
    /// A play that waits for the coworkers' answer (an origin cluster).
    #[cfg(feature = "edge")]
    coworkers: Option<Box<coworkers::CoworkerPlay>>,
}

impl RtmpConn {
    pub fn new(
        id: ClientId,
        log: ConnLog,
        peer: SocketAddr,
        ctx: ServerCtx,
        session: ServerSession,
        now_ms: u64,
    ) -> RtmpConn {
        let record = ClientRecord::new(id, &log.cid, peer, now_ms);
        let registration = Registration::new(ctx.clients.clone(), record);
        RtmpConn {
            registration,
            id,
            log,
            peer,
            ctx,
            session,
            vhost: None,
            publishing: None,
            merged_read_ms: None,
            playing: None,
            bad_frames: 0,
            #[cfg(feature = "hooks")]
            hooks: None,
            #[cfg(feature = "edge")]
            traverse: None,
            #[cfg(feature = "edge")]
            coworkers: None,
        }
    }

    /// A connection accepted from `peer` as client `id`, on the config in force: its session
    /// (`random`: the handshake's random bytes) and its log id (from `cid_seed`).
    pub fn accept(
        id: ClientId,
        peer: SocketAddr,
        ctx: ServerCtx,
        random: [u8; PACKET_LEN],
        cid_seed: u64,
        now_ms: u64,
    ) -> RtmpConn {
        let config = ctx.config();
        let epoch = now_ms as u32;
        let session = ServerSession::new(session_config(&config), now_ms, random, epoch);
        let log = ConnLog::new(cid_seed);
        log::debug!("[{}] accepted {peer} as client {id}", log.cid);
        RtmpConn::new(id, log, peer, ctx, session, now_ms)
    }

    /// How long a write may wait for the peer to read (`idle_timeout`), in ms.
    pub fn send_timeout_ms(&self) -> u64 {
        u64::from(self.ctx.config().idle_timeout_ms)
    }

    /// The connection ends, closed by the peer (`error` None) or for `error` (then counted as
    /// failed in the API): logged, and the hub forgets its publish or play.
    pub fn finish(&mut self, now_ms: u64, error: Option<&dyn std::fmt::Display>) {
        match error {
            None => log::info!("[{}] closed by peer {}", self.log.cid, self.peer),
            Some(e) => {
                log::info!("[{}] closed {}: {e}", self.log.cid, self.peer);
                self.registration.record.fail();
            }
        }
        self.close(now_ms);
    }

    /// TCP_NODELAY for the socket, once the vhost is known (`tcp_nodelay` or
    /// `min_latency`); None before.
    pub fn nodelay(&self) -> Option<bool> {
        self.vhost().map(|v| v.tcp_nodelay || v.min_latency)
    }

    /// How long media may gather before a player's write (SRS's merged write,
    /// `mw_latency`), if writes are merged: not with `min_latency`, nor before connect.
    pub fn merge_write_ms(&self) -> Option<u64> {
        let v = self.vhost().filter(|v| !v.min_latency)?;
        Some(u64::from(v.mw_latency_ms)).filter(|&ms| ms > 0)
    }

    /// Whether the driver must stop waiting for input and media: replies to write, the
    /// session closing, or a call to make ([`RtmpConn::take_wait`]).
    pub fn needs_driver(&self) -> bool {
        #[cfg(any(feature = "hooks", feature = "edge"))]
        if self.has_wait() {
            return true;
        }
        self.session.has_transmit() || self.session.is_closing()
    }

    /// `n` bytes of output were written at `now_ms`.
    pub fn handle_sent(&mut self, now_ms: u64, n: usize) {
        self.registration.record.send.add(n as u64);
        self.session.handle_sent(now_ms);
    }

    pub fn kind(&self) -> Kind {
        if self.publishing.is_some() {
            Kind::Publisher
        } else if self.playing.is_some() {
            Kind::Player
        } else {
            Kind::Unknown
        }
    }

    /// The vhost this connection was accepted on (after connect).
    pub fn vhost(&self) -> Option<&Vhost> {
        self.vhost.as_deref()
    }

    /// How long the publisher's bytes may wait in the kernel before they are read (SRS's
    /// merged read, `publish.mr` and `mr_latency`), if the driver should merge its reads.
    pub fn merged_read_ms(&self) -> Option<u64> {
        self.merged_read_ms.map(u64::from)
    }

    /// The player's queue, when playing.
    pub fn queue(&self) -> Option<Rc<RefCell<PlayerQueue>>> {
        self.playing.as_ref().map(|(_, _, q)| q.clone())
    }

    /// Bytes from the peer. An error ends the connection; one that a cap of the config
    /// caused (a keyframe over `rtmp.max_message_bytes`) is logged as a warning naming the key,
    /// so that the operator of a small board sees which camera it refuses and why.
    pub fn handle_bytes(&mut self, now_ms: u64, data: &[u8]) -> Result<(), SessionError> {
        self.registration.record.recv.add(data.len() as u64);
        let result = self
            .session
            .handle_bytes(now_ms, data)
            .and_then(|()| self.drain_events(now_ms));
        if let Err(e) = &result {
            if let Some(key) = cap_exceeded(e) {
                log::warn!(
                    "[{}] {}: {e}: over {key}; closing (raise {key} for this encoder)",
                    self.log.cid,
                    self.peer
                );
            }
        }
        result
    }

    fn drain_events(&mut self, now_ms: u64) -> Result<(), SessionError> {
        loop {
            while let Some(event) = self.session.poll_event() {
                self.on_event(now_ms, event);
            }
            // Decoding may have paused on a full event queue.
            self.session.process(now_ms)?;
            if !self.session.has_events() {
                return Ok(());
            }
        }
    }

    fn on_event(&mut self, now_ms: u64, event: Event) {
        match event {
            Event::Connect {
                request, page_url, ..
            } => {
                *self.registration.record.page_url.borrow_mut() = page_url;
                self.on_connect(request)
            }
            Event::Publish { stream_id, request } => self.on_publish(now_ms, stream_id, request),
            Event::Play { stream_id, request } => self.on_play(now_ms, stream_id, request),
            Event::Media {
                stream_id,
                kind,
                timestamp,
                payload,
            } => self.on_media(now_ms, stream_id, kind, timestamp, payload),
            Event::Unpublish { stream_id } => {
                if matches!(&self.publishing, Some((id, _, _)) if *id == stream_id) {
                    self.stop_publishing(now_ms);
                }
            }
            Event::StopPlay { stream_id } => {
                if matches!(&self.playing, Some((id, _, _)) if *id == stream_id) {
                    self.stop_playing(now_ms);
                }
            }
        }
    }

    fn on_connect(&mut self, request: Request) {
        let config = self.ctx.config();
        let Some(vhost) = config.resolve_vhost(&request.vhost) else {
            log::warn!(
                "[{}] connect refused: no vhost {:?} (and the default vhost is disabled)",
                self.log.cid,
                request.vhost
            );
            self.session.reject_connect("vhost not found");
            return;
        };
        let vhost = vhost.clone();
        let page_url = self.registration.record.page_url.borrow().clone();
        if !vhost.refer.allows_connect(&page_url) {
            log::warn!(
                "[{}] connect refused by refer.all: pageUrl {page_url:?}",
                self.log.cid
            );
            self.session.reject_connect("denied by referer");
            return;
        }
        #[cfg(feature = "edge")]
        if self.ask_origin(&request, &vhost) {
            return;
        }
        self.connect_checked(request, vhost);
    }

    /// A connect the vhost's own rules and the origin (token traverse) allowed: the hooks,
    /// then accepted.
    fn connect_checked(&mut self, request: Request, vhost: Vhost) {
        #[cfg(feature = "hooks")]
        self.hooks_connected(&request, &vhost);
        #[cfg(feature = "hooks")]
        if self.ask_hooks(Action::Connect, &request, &vhost) {
            self.hook_state().pending = Some(Pending::Connect(request, vhost));
            return;
        }
        self.accept_connect(request, vhost);
    }

    fn accept_connect(&mut self, request: Request, vhost: Vhost) {
        log::info!(
            "[{}] connect vhost={} app={} tcUrl={} from {}",
            self.log.cid,
            vhost.name,
            request.app,
            request.tc_url,
            self.peer
        );
        self.vhost = Some(Box::new(vhost));
        let record = &self.registration.record;
        *record.tc_url.borrow_mut() = request.tc_url.clone();
        self.session.accept_connect();
    }

    /// The vhost's `refer` list for `method` against the page this connection reported.
    fn refer_allows(&self, method: Method, vhost: &Vhost) -> bool {
        let page_url = self.registration.record.page_url.borrow();
        vhost.refer.allows(method, &page_url)
    }

    fn key(&self, request: &Request, vhost: &Vhost) -> StreamKey {
        StreamKey {
            vhost: vhost.name.clone(),
            app: request.app.clone(),
            stream: request.stream.clone(),
        }
    }

    fn settings(vhost: &Vhost) -> SourceSettings {
        super::source_settings(vhost)
    }

    /// The vhost named by a stream request (a `?vhost=` on the stream name may pick another).
    fn stream_vhost(&self, request: &Request) -> Option<Vhost> {
        let current = self.vhost.as_ref()?;
        if request.vhost == current.name {
            return Some(Vhost::clone(current));
        }
        self.ctx.config().resolve_vhost(&request.vhost).cloned()
    }

    fn on_publish(&mut self, now_ms: u64, stream_id: u32, request: Request) {
        let Some(vhost) = self.stream_vhost(&request) else {
            self.session
                .reject_publish(stream_id, "NetStream.Publish.Rejected", "vhost not found");
            return;
        };
        let key = self.key(&request, &vhost);
        if self.publishing.is_some() || self.playing.is_some() {
            log::warn!(
                "[{}] publish {key} refused: connection already busy",
                self.log.cid
            );
            self.session
                .reject_publish(stream_id, "NetStream.Publish.Rejected", "connection busy");
            return;
        }
        if !vhost.security.allows(Method::Publish, self.peer.ip()) {
            log::warn!(
                "[{}] publish {key} denied by security rules for {}",
                self.log.cid,
                self.peer.ip()
            );
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "denied by security rules",
            );
            return;
        }
        if !self.refer_allows(Method::Publish, &vhost) {
            log::warn!("[{}] publish {key} refused by refer.publish", self.log.cid);
            self.session.reject_publish(
                stream_id,
                "NetStream.Publish.Rejected",
                "denied by referer",
            );
            return;
        }
        #[cfg(feature = "hooks")]
        if self.ask_hooks(Action::Publish, &request, &vhost) {
            self.hook_state().pending = Some(Pending::Publish(stream_id, request, vhost));
            return;
        }
        self.publish_now(now_ms, stream_id, request, vhost);
    }

    fn publish_now(&mut self, now_ms: u64, stream_id: u32, request: Request, vhost: Vhost) {
        let key = self.key(&request, &vhost);
        let result =
            self.ctx
                .hub
                .borrow_mut()
                .publish(&key, self.id, Self::settings(&vhost), now_ms);
        match result {
            Ok(source) => {
                log::info!(
                    "[{}] publish {key} params={:?}",
                    self.log.cid,
                    request.params
                );
                self.session.accept_publish(
                    stream_id,
                    now_ms,
                    u64::from(vhost.firstpkt_timeout_ms),
                    u64::from(vhost.normal_timeout_ms),
                );
                super::on_publish(&self.ctx, &source, &vhost);
                let record = &self.registration.record;
                record.kind.set(ClientKind::RtmpPublish);
                *record.stream.borrow_mut() = Some(key.clone());
                self.publishing = Some((stream_id, key, source));
                self.merged_read_ms =
                    (vhost.mr && !vhost.min_latency).then_some(vhost.mr_latency_ms);
                #[cfg(feature = "hooks")]
                self.hooks_streaming(&request, vhost, true);
            }
            Err(e) => {
                log::warn!("[{}] publish refused: {e}", self.log.cid);
                let code = match e {
                    crate::live::HubError::AlreadyPublishing { .. } => "NetStream.Publish.BadName",
                    crate::live::HubError::TooManyStreams { .. } => "NetStream.Publish.Rejected",
                };
                self.session.reject_publish(stream_id, code, &e.to_string());
            }
        }
    }

    fn on_play(&mut self, now_ms: u64, stream_id: u32, request: Request) {
        let Some(vhost) = self.stream_vhost(&request) else {
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "vhost not found");
            return;
        };
        let key = self.key(&request, &vhost);
        if self.publishing.is_some() || self.playing.is_some() {
            log::warn!(
                "[{}] play {key} refused: connection already busy",
                self.log.cid
            );
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "connection busy");
            return;
        }
        if !vhost.security.allows(Method::Play, self.peer.ip()) {
            log::warn!(
                "[{}] play {key} denied by security rules for {}",
                self.log.cid,
                self.peer.ip()
            );
            self.session.reject_play(
                stream_id,
                "NetStream.Play.Failed",
                "denied by security rules",
            );
            return;
        }
        if !self.refer_allows(Method::Play, &vhost) {
            log::warn!("[{}] play {key} refused by refer.play", self.log.cid);
            self.session
                .reject_play(stream_id, "NetStream.Play.Failed", "denied by referer");
            return;
        }
        #[cfg(feature = "hooks")]
        if self.ask_hooks(Action::Play, &request, &vhost) {
            self.hook_state().pending = Some(Pending::Play(stream_id, request, vhost));
            return;
        }
        self.play_now(now_ms, stream_id, request, vhost);
    }

    fn play_now(&mut self, now_ms: u64, stream_id: u32, request: Request, vhost: Vhost) {
        #[cfg(feature = "edge")]
        if self.ask_coworkers(stream_id, &request, &vhost) {
            return;
        }
        let key = self.key(&request, &vhost);
        let limits = QueueLimits {
            max_bytes: vhost.queue_max_bytes,
            max_duration_ms: i64::from(vhost.queue_length_ms),
        };
        let result =
            self.ctx
                .hub
                .borrow_mut()
                .play(&key, self.id, Self::settings(&vhost), limits, now_ms);
        match result {
            Ok(queue) => {
                log::info!(
                    "[{}] play {key} as client {} params={:?}",
                    self.log.cid,
                    self.id,
                    request.params
                );
                self.session.accept_play(stream_id);
                let record = &self.registration.record;
                record.kind.set(ClientKind::RtmpPlay);
                *record.stream.borrow_mut() = Some(key.clone());
                self.playing = Some((stream_id, key, queue));
                #[cfg(feature = "hooks")]
                self.hooks_streaming(&request, vhost, false);
            }
            Err(e) => {
                log::warn!("[{}] play refused: {e}", self.log.cid);
                self.session
                    .reject_play(stream_id, "NetStream.Play.Failed", &e.to_string());
            }
        }
    }

    fn on_media(&mut self, now_ms: u64, stream_id: u32, kind: MediaKind, ts: u32, data: Bytes) {
        let Some((id, _, source)) = &self.publishing else {
            return;
        };
        if *id != stream_id || data.is_empty() {
            return;
        }
        let frame = match classify(kind, ts, data) {
            Ok(frame) => frame,
            // Well-formed messages without a frame (video command frames, audio silence,
            // enhanced metadata/sequence end): nothing for players.
            Err(flv::FlvError::NotMedia(what)) => {
                log::trace!(
                    "[{}] {kind:?} message without a frame: {what:?}",
                    self.log.cid
                );
                return;
            }
            Err(e) => {
                self.bad_frames += 1;
                if self.log.limit.allow(now_ms) {
                    log::warn!(
                        "[{}] dropped a {kind:?} message that does not parse ({e}); {} so far",
                        self.log.cid,
                        self.bad_frames
                    );
                }
                return;
            }
        };
        source.borrow_mut().on_frame(frame);
    }

    fn stop_publishing(&mut self, now_ms: u64) {
        self.merged_read_ms = None;
        if let Some((_, key, _)) = self.publishing.take() {
            log::info!("[{}] unpublish {key}", self.log.cid);
            self.ctx.hub.borrow_mut().unpublish(&key, self.id, now_ms);
            #[cfg(feature = "hooks")]
            self.hooks_stopped(Action::Unpublish);
        }
    }

    fn stop_playing(&mut self, now_ms: u64) {
        if let Some((_, key, queue)) = self.playing.take() {
            let stats = queue.borrow().stats();
            log::info!(
                "[{}] stop playing {key}: {} frames queued, {} dropped",
                self.log.cid,
                stats.queued_frames,
                stats.dropped_frames
            );
            self.ctx.hub.borrow_mut().stop(&key, self.id, now_ms);
            #[cfg(feature = "hooks")]
            self.hooks_stopped(Action::Stop);
        }
    }

    /// The connection ends: the hub forgets its publish or play.
    pub fn close(&mut self, now_ms: u64) {
        self.stop_publishing(now_ms);
        self.stop_playing(now_ms);
        #[cfg(feature = "hooks")]
        self.hooks_closed();
    }

    /// Collects what to send next, in order: session replies, then up to `MAX_BATCH_ITEMS`
    /// queued media (each frame's chunks built once and shared with every player).
    pub fn take_output(&mut self, out: &mut Vec<Bytes>) {
        if let Some(b) = self.session.poll_transmit() {
            out.push(b);
        }
        let Some((stream_id, _, queue)) = &self.playing else {
            return;
        };
        let stream_id = *stream_id;
        let session = &mut self.session;
        let chunk_size = session.out_chunk_size();
        // Straight from the queue into `out`: no batch buffer of our own to keep. Room for
        // two slices per frame (a one-chunk frame's) at once, not a chain of regrowths.
        let mut queue = queue.borrow_mut();
        out.reserve(queue.len().min(MAX_BATCH_ITEMS).saturating_mul(2));
        queue.drain(MAX_BATCH_ITEMS, MAX_BATCH_BYTES, |item| match item {
            QueueItem::Frame(frame) => push_chunks(&frame, chunk_size, stream_id, out),
            QueueItem::Unpublished => {
                session.notify_unpublished(stream_id);
                out.extend(session.poll_transmit());
            }
            QueueItem::Published => {
                session.notify_published(stream_id);
                out.extend(session.poll_transmit());
            }
        });
    }
}

/// The RTMP chunk headers of one frame, for [`Bytes::from_owner`].
#[derive(Default)]
struct ChunkHeaders {
    bytes: [u8; chunk::MAX_HEADERS_LEN + 1],
    len: usize,
}

impl AsRef<[u8]> for ChunkHeaders {
    fn as_ref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// Appends the RTMP chunks of `frame` for a player to `out` without copying the payload: the
/// chunk headers are built once per frame and message stream id and shared by every player
/// (whatever its chunk size); the chunks' bodies are slices of the frame's own buffer.
fn push_chunks(frame: &SharedFrame, chunk_size: u32, stream_id: u32, out: &mut Vec<Bytes>) {
    let headers = frame.encoded(Encoding::RtmpHeaders { stream_id }, |f| {
        let (csid, type_id) = match f.kind {
            FrameKind::Audio => (CSID_AUDIO, MessageType::Audio),
            FrameKind::Video => (CSID_VIDEO, MessageType::Video),
            FrameKind::Metadata => (CSID_STREAM, MessageType::DataAmf0),
        };
        let header = MessageHeader {
            csid,
            timestamp: f.timestamp32(),
            type_id,
            stream_id,
        };
        let mut headers = ChunkHeaders::default();
        let mut buf = &mut headers.bytes[..chunk::MAX_HEADERS_LEN];
        let first = chunk::encode_headers(&header, f.data.len(), &mut buf);
        let written = chunk::MAX_HEADERS_LEN - buf.len();
        // The type 0 header's length rides in the last byte (at most 18).
        headers.bytes[written] = first as u8;
        headers.len = written + 1;
        // One allocation that the players' slices share (a `BytesMut` frozen and sliced
        // would take two: its buffer, then the shared header its first slice creates).
        Bytes::from_owner(headers)
    });
    let Some((&first, both)) = headers.split_last() else {
        return;
    };
    let first = usize::from(first).min(both.len());
    let both = both.len();
    let chunk_size = (chunk_size.max(1) as usize).min(chunk::MAX_MESSAGE_LEN as usize);
    let data = &frame.data;
    let len = data.len().min(chunk::MAX_MESSAGE_LEN as usize);
    // Most frames are one chunk (the default chunk size is 60,000): the type 0 header is the
    // shared headers cut short, without a second reference to them (each costs an atomic
    // increment and decrement per player per frame).
    if len <= chunk_size {
        let mut type0 = headers;
        type0.truncate(first);
        out.push(type0);
        if len > 0 {
            out.push(data.slice(..len));
        }
        return;
    }
    let type3 = headers.slice(first..both);
    let mut type0 = headers;
    type0.truncate(first);
    out.push(type0);
    let mut at = 0;
    while at < len {
        let end = (at + chunk_size).min(len);
        if at > 0 {
            out.push(type3.clone());
        }
        out.push(data.slice(at..end));
        at = end;
    }
}

/// Builds a hub frame from an RTMP media message (the timestamp is the publisher's raw one;
/// the Source corrects it).
pub fn classify(kind: MediaKind, ts: u32, data: Bytes) -> Result<Frame, flv::FlvError> {
    let dts = i64::from(ts);
    Ok(match kind {
        MediaKind::Video => {
            let tag = flv::parse_video(&data)?;
            Frame::video(
                tag.codec,
                dts,
                tag.composition_time,
                // FrameType 1 on a sequence header or end-of-sequence is not a picture.
                tag.keyframe && !tag.sequence_header && !tag.end_of_sequence,
                tag.sequence_header,
                data,
                tag.payload_offset,
            )
        }
        MediaKind::Audio => {
            let tag = flv::parse_audio(&data)?;
            Frame::audio(
                tag.codec,
                dts,
                tag.sequence_header,
                data,
                tag.payload_offset,
            )
        }
        MediaKind::Metadata => Frame::metadata(dts, data),
    })
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use bytes::BytesMut;

    use super::*;
    use crate::wire::rtmp::chunk::ChunkDecoder;

    fn keyframe(len: usize) -> SharedFrame {
        let mut body = vec![0x17, 1, 0, 0, 0];
        body.extend((0..len).map(|i| i as u8));
        Rc::new(classify(MediaKind::Video, 0x0100_0000, Bytes::from(body)).unwrap())
    }

    /// A publisher on a connection made from `config` (handshake, connect, createStream,
    /// publish `live/cam`, all accepted), and the server's context.
    fn publishing(config: &str) -> (RtmpConn, ServerCtx) {
        use crate::wire::amf0::{encode_all, Value};
        use crate::wire::rtmp::handshake::{client_c0c1, client_c2, PACKET_LEN};
        let config = Config::from_toml_str(config, "test.toml").unwrap();
        let session = ServerSession::new(session_config(&config), 0, [1; PACKET_LEN], 0);
        let ctx = ServerCtx::new(config, crate::live::Hub::new(4));
        let peer = "192.0.2.1:40000".parse().unwrap();
        let mut conn = RtmpConn::new(1, ConnLog::new(1), peer, ctx.clone(), session, 0);
        let c0c1 = client_c0c1(&[7; PACKET_LEN], 0, true);
        conn.handle_bytes(1, &c0c1).unwrap();
        let s0s1s2 = conn.session.poll_transmit().unwrap();
        conn.handle_bytes(2, &client_c2(&c0c1, &s0s1s2).unwrap())
            .unwrap();
        let s = |v: &str| Value::String(v.into());
        let tc_url = s("rtmp://127.0.0.1/live");
        let commands = [
            (
                0,
                vec![
                    s("connect"),
                    Value::Number(1.0),
                    Value::object([("app", s("live")), ("tcUrl", tc_url)]),
                ],
            ),
            (0, vec![s("createStream"), Value::Number(2.0), Value::Null]),
            (
                1,
                vec![s("publish"), Value::Number(3.0), Value::Null, s("cam")],
            ),
        ];
        for (stream_id, values) in commands {
            let mut body = BytesMut::new();
            encode_all(&values, &mut body);
            conn.handle_bytes(3, &message(3, MessageType::CommandAmf0, stream_id, &body))
                .unwrap();
        }
        assert_eq!(conn.kind(), Kind::Publisher);
        (conn, ctx)
    }

    /// One message as a client sends it (chunk size 128).
    fn message(csid: u32, type_id: MessageType, stream_id: u32, body: &[u8]) -> Vec<u8> {
        let header = MessageHeader {
            csid,
            timestamp: 0,
            type_id,
            stream_id,
        };
        let mut out = BytesMut::new();
        chunk::encode_message(128, &header, body, &mut out);
        out.to_vec()
    }

    /// What the driver asks of a connection: TCP_NODELAY and the merged write once the vhost
    /// is known (none before connect), the send timeout, and a publish's merged read.
    #[test]
    fn the_driver_reads_its_socket_settings_off_the_vhost() {
        let config = Config::from_toml_str("", "test.toml").unwrap();
        let idle_timeout_ms = u64::from(config.idle_timeout_ms);
        let ctx = ServerCtx::new(config, crate::live::Hub::new(4));
        let peer = "192.0.2.1:40000".parse().unwrap();
        let mut conn = RtmpConn::accept(1, peer, ctx, [1; PACKET_LEN], 1, 0);
        assert_eq!((conn.nodelay(), conn.merge_write_ms()), (None, None));
        assert_eq!(conn.send_timeout_ms(), idle_timeout_ms);
        assert!(!conn.needs_driver(), "nothing to send before the handshake");
        conn.finish(1, None);

        let mw = "[vhost.__defaultVhost__.play]\nmw_latency = 350\n";
        let mr = "[vhost.__defaultVhost__.publish]\nmr = true\nmr_latency = 300\n";
        let (conn, _) = publishing(&format!("{mw}{mr}"));
        assert_eq!(
            (conn.nodelay(), conn.merge_write_ms()),
            (Some(false), Some(350))
        );
        assert_eq!(conn.merged_read_ms(), Some(300));
        let min = "[vhost.__defaultVhost__]\nmin_latency = true\n";
        let (mut conn, _) = publishing(&format!("{min}{mw}{mr}"));
        assert_eq!((conn.nodelay(), conn.merge_write_ms()), (Some(true), None));
        assert_eq!(conn.merged_read_ms(), None, "min_latency reads at once");
        conn.handle_sent(5, 100);
        assert_eq!(conn.registration.record.send.total(), 100);
        conn.finish(6, Some(&"kicked"));
        assert_eq!(conn.kind(), Kind::Unknown);
    }

    /// `rtmp.max_message_bytes` lowered to 100 000: a keyframe of exactly that size reaches
    /// the stream, one byte more closes the connection with the chunk error, and the error is
    /// one the server names the key for.
    #[test]
    fn a_message_over_rtmp_max_message_bytes_is_refused() {
        let config = "[rtmp]\nmax_message_bytes = 100000\nmax_pending_bytes = 65536\n";
        let limits = chunk_limits(&Config::from_toml_str(config, "t").unwrap());
        assert_eq!(limits.max_message_len, 100_000);
        assert_eq!(
            limits.max_pending_bytes, 100_000,
            "raised to max_message_bytes"
        );
        let (mut conn, ctx) = publishing(config);
        let keyframe = |len: usize| {
            let mut body = vec![0x17, 1, 0, 0, 0];
            body.resize(len, 0x88);
            message(6, MessageType::Video, 1, &body)
        };
        conn.handle_bytes(4, &keyframe(100_000)).unwrap();
        let key = StreamKey {
            vhost: crate::media::DEFAULT_VHOST.into(),
            app: "live".into(),
            stream: "cam".into(),
        };
        let source = ctx.hub.borrow().source(&key).unwrap();
        assert_eq!(source.borrow().stats().keyframes, 1);
        assert_eq!(source.borrow().stats().bytes, 100_000);
        let e = conn.handle_bytes(5, &keyframe(100_001)).unwrap_err();
        assert!(
            matches!(
                e,
                SessionError::Chunk(ChunkError::MessageTooLong {
                    len: 100_001,
                    max: 100_000,
                    ..
                })
            ),
            "{e}"
        );
        assert_eq!(cap_exceeded(&e), Some("rtmp.max_message_bytes"));
        assert_eq!(source.borrow().stats().keyframes, 1);
        // The embedded defaults: 4 MiB messages, 6 MiB pending.
        let defaults = chunk_limits(&Config::embedded());
        assert_eq!(
            (defaults.max_message_len, defaults.max_pending_bytes),
            (4 << 20, 6 << 20)
        );
    }

    #[test]
    fn chunks_share_the_payload_and_headers_and_decode_back() {
        let frame = keyframe(10_000);
        for size in [4096, 128, 60_000] {
            let mut a = Vec::new();
            push_chunks(&frame, size, 1, &mut a);
            let mut b = Vec::new();
            push_chunks(&frame, size, 1, &mut b);
            assert_eq!(a[0].as_ptr(), b[0].as_ptr(), "players share the headers");
            assert!(
                a.iter().any(|p| p.as_ptr() == frame.data.as_ptr()
                    && p.len() == (size as usize).min(frame.data.len())),
                "the first chunk's body is the frame's own bytes"
            );
            let mut d = ChunkDecoder::new(ChunkLimits::default());
            d.set_chunk_size(size).unwrap();
            let mut input = bytes::BytesMut::new();
            for p in &a {
                input.extend_from_slice(p);
            }
            let m = d.decode(&mut input).unwrap().unwrap();
            assert!(input.is_empty());
            assert_eq!(m.header.type_id, MessageType::Video);
            assert_eq!(m.header.csid, CSID_VIDEO);
            // The timestamp needs the extended field (>= 0xFFFFFF) and survives it.
            assert_eq!(m.header.timestamp, 0x0100_0000);
            assert_eq!(m.payload, frame.data);
        }
    }

    #[test]
    fn classify_reads_codec_and_flags() {
        let f = keyframe(4);
        assert!(f.is_video_keyframe());
        let sh = classify(
            MediaKind::Video,
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        )
        .unwrap();
        assert!(sh.sequence_header && !sh.keyframe);
        let eos = classify(MediaKind::Video, 0, Bytes::from_static(&[0x17, 2, 0, 0, 0])).unwrap();
        assert!(!eos.keyframe, "end of sequence is not a picture");
        let aac = classify(
            MediaKind::Audio,
            0,
            Bytes::from_static(&[0xAF, 0, 0x12, 0x10]),
        )
        .unwrap();
        assert!(aac.sequence_header);
        assert!(classify(MediaKind::Video, 0, Bytes::from_static(&[0x17])).is_err());
    }
}
