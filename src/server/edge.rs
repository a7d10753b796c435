//! Edge (SRS's `cluster.mode = remote`): a stream played on an edge vhost is pulled from one of
//! its `cluster.origin` servers over RTMP (the RTMP client session in play mode, driven by
//! `net::edge`) and published into the hub here, so every player of it on the edge (RTMP,
//! HTTP-FLV, HTTP-TS, HLS) shares that one upstream connection.
//!
//! What a caller must know:
//! - The hub's `Watched` event for a stream of an edge vhost that nobody publishes here makes an
//!   [`Upstream`] ([`on_watched`]); the net layer runs it. `Unwatched` starts the grace
//!   ([`GRACE_MS`]): a viewer back within it keeps the pull, else the pull ends (`FCUnpublish`
//!   is not sent: a player sends `deleteStream`) and the stream is unpublished here.
//! - Origins: the first pull of a stream starts at the next origin in turn (round-robin over
//!   the edge's pulls); a failure moves to the next origin and waits [`backoff_ms`] (1 s
//!   doubling to 30 s, back to 1 s after a pull that played). The stream stays published
//!   here across a failover (players stay attached and get the new origin's sequence headers
//!   and frames, as after a codec change); it is unpublished once every origin failed in a
//!   row, or when the pull ends.
//! - The origin's `NetStream.Play.UnpublishNotify` unpublishes here; its next media publishes
//!   again.
//! - A stream published on the edge by a client is forwarded to an origin
//!   (`server::forward`): the first, then the next after each failure; a pulled stream is
//!   never forwarded.
//! - State per pulled stream in `/api/v1/streams` (`edge`, ours): state, origin, error,
//!   bytes, sessions.
//!
//! Bounds: one upstream per stream, so at most `max_streams`; each reads with the publisher's
//! chunk limits (`rtmp.max_message_bytes`, `rtmp.max_pending_bytes`), as a publisher's
//! connection does, and holds a read buffer of [`READ_BUFFER`].
//!
//! - `token_traverse` (SRS): an RTMP client's `connect` on the edge is first made at an origin
//!   ([`TraverseCall`], made by the net layer): the client is accepted when the origin accepts
//!   it, refused when the origin refuses it or no origin answers. As SRS, the origins are tried
//!   in order and the first that takes the TCP connection decides; only the connect is checked
//!   (a token must ride on the tcUrl or app, not on the stream name).
//!
//! - `cluster.protocol = "flv"`: the pull is `GET http://origin/app/stream.flv` (the HTTP-FLV
//!   client session, `session::flv_client`) instead of an RTMP play; an origin without a port
//!   is at [`HTTP_PORT`]. Everything else (sharing, grace, failover) is the same.
//!
//! - RTMP 302 (SRS 3.0's origin cluster): an origin that answers the play with a redirect
//!   ([`Redirect`]) is left for the URL it gives, for this pull only (at most
//!   [`MAX_REDIRECTS`] in a row); the next pull starts at the configured origins again.
//!
//! Not supported: `cluster.protocol = "flvs"`, HTTP redirects, `rtmps://` origins.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use bytes::Bytes;
use serde::Serialize;

use super::ServerCtx;
use crate::config::{ClusterProtocol, Destination, Vhost};
use crate::live::{ClientId, Source, StreamKey};
use crate::session::flv_client::FlvClientConfig;
use crate::session::rtmp::client::{ClientConfig, ClientError, ClientEvent, ClientRole};
use crate::session::rtmp::{MediaKind, Request, COMMAND_CHUNK_LIMITS};

/// How long a pull goes on after its last viewer left. Why: a player that reconnects (a page
/// reload, an HLS player between two playlist requests) finds the stream still there.
pub const GRACE_MS: u64 = 3_000;

/// An origin's port with `cluster.protocol = "flv"` when its `host` has none (SRS's).
pub const HTTP_PORT: u16 = 8080;

/// Connect to `NetStream.Play.Start` (or the first FLV tag) at most.
pub const SETUP_TIMEOUT_MS: u64 = 10_000;

/// How often a pull's task looks at whether its stream is still wanted ([`Upstream::wake_at`]).
pub const CHECK_EVERY_MS: u64 = 500;

/// A token traverse's TCP connect to one origin at most (SRS's
/// `SRS_EDGE_TOKEN_TRAVERSE_TIMEOUT`); the next origin is tried after it.
pub const TRAVERSE_CONNECT_TIMEOUT_MS: u64 = 3_000;

/// First wait before a retry; it doubles per failure up to [`BACKOFF_MAX_MS`].
pub const BACKOFF_MIN_MS: u64 = 1_000;
/// Longest wait between two attempts.
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// RTMP 302s followed in a row by one pull. Why: two origins that send a player to each other
/// must not keep a pull busy.
pub const MAX_REDIRECTS: usize = 3;

/// Bytes read from an origin at once. RAM: per pulled stream.
pub const READ_BUFFER: usize = 16 * 1024;

/// Client ids of the pulls (publishers in the hub), apart from connections (from 1 up),
/// GB28181 media (from 2^31 up), ingests (from 2^31 − 1 down) and forward queues (2^32 −
/// 2^28 up).
const EDGE_CLIENT_BASE: ClientId = 0xE000_0000;

/// The wait before attempt `failures + 1` (`failures` ≥ 1): 1 s, 2 s, 4 s ... 30 s.
pub fn backoff_ms(failures: u32) -> u64 {
    let shift = failures.saturating_sub(1).min(5);
    (BACKOFF_MIN_MS << shift).min(BACKOFF_MAX_MS)
}

/// What a pull is doing. Transitions: `Connecting` → `Playing` (the origin said
/// `NetStream.Play.Start`) → `Backoff` on any error (the next origin after the wait) →
/// `Connecting`; any state → `Stopped` once nobody watched for [`GRACE_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeState {
    Connecting,
    Playing,
    Backoff,
    Stopped,
}

/// The pull of one stream from the origins.
#[derive(Debug)]
pub struct Upstream {
    pub key: StreamKey,
    pub origins: Vec<Destination>,
    /// How the origins are read (`cluster.protocol`).
    pub protocol: ClusterProtocol,
    /// The origin in use (or next to try), an index into `origins`.
    pub origin: Cell<usize>,
    pub state: Cell<EdgeState>,
    pub last_error: RefCell<Option<String>>,
    pub recv_bytes: Cell<u64>,
    /// Pulls that reached playing.
    pub sessions: Cell<u64>,
    /// Pulls failed in a row (reset by one that reached playing): the backoff's step.
    failures: Cell<u32>,
    /// `cluster.pull_timeout`: the origin's longest silence.
    pull_timeout_ms: u64,
    /// When the origin last sent a byte (or the connection to it started).
    heard_ms: Cell<u64>,
    watched: Cell<bool>,
    unwatched_since: Cell<Option<u64>>,
    client: ClientId,
    source: RefCell<Option<Rc<RefCell<Source>>>>,
    bad_frames: Cell<u64>,
}

impl Upstream {
    /// Pull now? While watched, and for [`GRACE_MS`] after the last viewer left.
    pub fn wanted(&self, now_ms: u64) -> bool {
        self.watched.get()
            || self
                .unwatched_since
                .get()
                .is_some_and(|t| now_ms < t.saturating_add(GRACE_MS))
    }

    /// A pull ended (`Ok`: the origin closed the connection) while the stream is still
    /// wanted: counts the failure (from one again after a pull that reached playing). The
    /// stream stays published here while the next origin is tried, so players stay attached
    /// (ffmpeg and others end at an unpublish); once every origin failed in a row, it is
    /// unpublished. Moves to the next origin, logs once, records the error for the API and
    /// enters the backoff. Returns the backoff's wait in ms.
    pub fn pull_ended(&self, ctx: &ServerCtx, result: Result<(), String>, now_ms: u64) -> u64 {
        let error = match result {
            Ok(()) => "the origin closed the connection".to_owned(),
            Err(e) => e,
        };
        if self.state.get() == EdgeState::Playing {
            self.failures.set(0);
        }
        let failures = self.failures.get().saturating_add(1);
        self.failures.set(failures);
        if failures as usize >= self.origins.len() {
            self.unpublish(ctx, now_ms);
        }
        let wait = backoff_ms(failures);
        let failed = self.origin_url();
        self.next_origin();
        log::warn!(
            "edge {} from {failed}: {error}; trying {} in {} ms",
            self.key,
            self.origin_url(),
            wait
        );
        *self.last_error.borrow_mut() = Some(error);
        self.state.set(EdgeState::Backoff);
        wait
    }

    /// A connection to the origin starts at `now_ms`: its silence counts from now.
    pub fn connecting(&self, now_ms: u64) {
        self.heard_ms.set(now_ms);
    }

    /// The origin sent `n` bytes at `now_ms`.
    pub fn received(&self, n: usize, now_ms: u64) {
        self.recv_bytes
            .set(self.recv_bytes.get().saturating_add(n as u64));
        self.heard_ms.set(now_ms);
    }

    /// When the origin's silence ends the pull (`cluster.pull_timeout`).
    pub fn silence_deadline(&self) -> u64 {
        self.heard_ms.get().saturating_add(self.pull_timeout_ms)
    }

    /// Err (the pull fails, the next origin is tried) once the origin has sent nothing for
    /// `cluster.pull_timeout`: a TCP connection that stays open with nothing coming (a hung
    /// origin, a half-open connection) is noticed like a closed one.
    pub fn check_silence(&self, now_ms: u64) -> Result<(), String> {
        if now_ms < self.silence_deadline() {
            return Ok(());
        }
        Err(format!(
            "no data from the origin for {} ms (cluster.pull_timeout)",
            now_ms.saturating_sub(self.heard_ms.get())
        ))
    }

    /// When the pull's task must wake at the latest (ms): the session's own deadline
    /// (`session_ms`), the origin's silence limit, the grace's end, and every
    /// [`CHECK_EVERY_MS`] (the grace's end comes from the hub's events, which do not wake the
    /// task).
    pub fn wake_at(&self, session_ms: u64, now_ms: u64) -> u64 {
        session_ms
            .min(now_ms + CHECK_EVERY_MS)
            .min(self.silence_deadline())
            .min(self.deadline().unwrap_or(u64::MAX))
    }

    /// What the origin said, into the stream here: `Err` ends the pull.
    pub fn on_event(&self, ctx: &ServerCtx, event: ClientEvent, now_ms: u64) -> Result<(), String> {
        match event {
            ClientEvent::Started => {
                self.state.set(EdgeState::Playing);
                self.sessions.set(self.sessions.get() + 1);
                log::info!("edge {}: playing from {}", self.key, self.origin_url());
                if !self.publish(ctx, now_ms) {
                    return Err("a client publishes the stream here".into());
                }
            }
            ClientEvent::Media {
                kind,
                timestamp,
                payload,
            } => {
                if !self.is_published() && !self.publish(ctx, now_ms) {
                    return Err("a client publishes the stream here".into());
                }
                self.on_media(kind, timestamp, payload, now_ms);
            }
            ClientEvent::Status { code } => {
                log::info!("edge {}: origin says {code}", self.key);
                if code == "NetStream.Play.UnpublishNotify" {
                    self.unpublish(ctx, now_ms);
                }
            }
        }
        Ok(())
    }

    /// When [`Upstream::wanted`] turns false by itself, if it will.
    pub fn deadline(&self) -> Option<u64> {
        match (self.watched.get(), self.unwatched_since.get()) {
            (false, Some(t)) => Some(t.saturating_add(GRACE_MS)),
            _ => None,
        }
    }

    /// The origin in use as `rtmp://host:port` (or `http://host:port` with HTTP-FLV).
    pub fn origin_url(&self) -> String {
        let scheme = match self.protocol {
            ClusterProtocol::Rtmp => "rtmp",
            ClusterProtocol::Flv => "http",
        };
        format!("{scheme}://{}", self.authority())
    }

    /// `host:port` of the origin in use (`[v6]:port`).
    fn authority(&self) -> String {
        let d = self.destination();
        let host = if d.host.contains(':') {
            format!("[{}]", d.host)
        } else {
            d.host.clone()
        };
        format!("{host}:{}", self.port())
    }

    /// The port to connect to: the origin's, or with HTTP-FLV and none given, 8080 (SRS's
    /// `SRS_DEFAULT_HTTP_PORT`).
    pub fn port(&self) -> u16 {
        let d = self.destination();
        let explicit = d
            .text
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
        match self.protocol {
            ClusterProtocol::Flv if !explicit => HTTP_PORT,
            _ => d.port,
        }
    }

    /// The HTTP-FLV client's settings for one pull from the origin in use: `GET
    /// /app/stream.flv`, tags up to the publisher's message limit.
    pub fn flv_config(&self, ctx: &ServerCtx) -> FlvClientConfig {
        FlvClientConfig {
            host: self.authority(),
            path: format!("/{}/{}.flv", self.key.app, self.key.stream),
            max_tag_len: crate::server::rtmp::chunk_limits(&ctx.config()).max_message_len,
            setup_timeout_ms: SETUP_TIMEOUT_MS,
        }
    }

    /// The origin in use.
    pub fn destination(&self) -> &Destination {
        &self.origins[self.origin.get() % self.origins.len()]
    }

    /// A failure: the next origin.
    pub fn next_origin(&self) {
        self.origin
            .set((self.origin.get() + 1) % self.origins.len());
    }

    /// The client session's settings for one pull from the origin in use.
    pub fn client_config(&self, ctx: &ServerCtx) -> ClientConfig {
        let app = self.key.app.clone();
        ClientConfig {
            tc_url: format!("{}/{app}", self.origin_url()),
            app,
            stream: self.key.stream.clone(),
            role: ClientRole::Play,
            chunk_size: 4096,
            limits: crate::server::rtmp::chunk_limits(&ctx.config()),
            setup_timeout_ms: SETUP_TIMEOUT_MS,
        }
    }

    /// The client session's settings for a pull sent elsewhere by an RTMP 302.
    pub fn redirect_config(&self, ctx: &ServerCtx, to: &Redirect) -> ClientConfig {
        ClientConfig {
            tc_url: format!("{}/{}", to.origin_url(), to.app),
            app: to.app.clone(),
            stream: to.stream.clone(),
            ..self.client_config(ctx)
        }
    }

    /// The origin plays (or publishes again): publish the stream here. Refused (logged) when
    /// a client published it here meanwhile.
    pub fn publish(&self, ctx: &ServerCtx, now_ms: u64) -> bool {
        if self.source.borrow().is_some() {
            return true;
        }
        let config = ctx.config();
        let vhost = config
            .resolve_vhost(&self.key.vhost)
            .unwrap_or(config.default_vhost())
            .clone();
        let settings = crate::server::source_settings(&vhost);
        let published = ctx
            .hub
            .borrow_mut()
            .publish(&self.key, self.client, settings, now_ms);
        match published {
            Ok(source) => {
                crate::server::on_publish(ctx, &source, &vhost);
                *self.source.borrow_mut() = Some(source);
                true
            }
            Err(e) => {
                log::warn!("edge {}: not published here: {e}", self.key);
                false
            }
        }
    }

    /// Media from the origin, into the stream (dropped while not published here).
    pub fn on_media(&self, kind: MediaKind, timestamp: u32, payload: Bytes, now_ms: u64) {
        let source = self.source.borrow().clone();
        let Some(source) = source else {
            return;
        };
        match crate::server::rtmp::classify(kind, timestamp, payload) {
            Ok(frame) => source.borrow_mut().on_frame(frame),
            Err(crate::wire::flv::FlvError::NotMedia(_)) => {}
            Err(e) => {
                let n = self.bad_frames.get() + 1;
                self.bad_frames.set(n);
                if n.is_power_of_two() {
                    log::warn!(
                        "edge {}: dropped a {kind:?} message from the origin that does not \
                         parse ({e}); {n} so far",
                        self.key
                    );
                }
                let _ = now_ms;
            }
        }
    }

    /// The pull ended or the origin's publisher left: unpublish here (players stay attached).
    pub fn unpublish(&self, ctx: &ServerCtx, now_ms: u64) {
        if self.source.borrow_mut().take().is_some() {
            ctx.hub
                .borrow_mut()
                .unpublish(&self.key, self.client, now_ms);
        }
    }

    pub fn is_published(&self) -> bool {
        self.source.borrow().is_some()
    }
}

/// Why one RTMP play at an origin ended.
#[derive(Debug, PartialEq, Eq)]
pub enum PlayEnded {
    /// The origin sent the pull elsewhere (RTMP 302): the URL it gave.
    Redirect(String),
    Error(String),
}

impl From<ClientError> for PlayEnded {
    fn from(e: ClientError) -> PlayEnded {
        match e {
            ClientError::Redirect(url) => PlayEnded::Redirect(url),
            e => PlayEnded::Error(e.to_string()),
        }
    }
}

impl From<String> for PlayEnded {
    fn from(e: String) -> PlayEnded {
        PlayEnded::Error(e)
    }
}

/// Where an origin's RTMP 302 sends a pull: `rtmp://host[:port]/app/stream[?query]` (SRS's
/// `redirect2`), or a tcUrl `rtmp://host[:port]/app` (`redirect`), which keeps the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub host: String,
    pub port: u16,
    pub app: String,
    /// With its query.
    pub stream: String,
}

impl Redirect {
    pub fn parse(url: &str, stream: &str) -> Result<Redirect, String> {
        let d = Destination::parse(url)
            .or_else(|_| Destination::parse(&format!("{url}/{stream}")))
            .map_err(|e| format!("redirect: {e}"))?;
        let Some((app, stream)) = d.app_stream else {
            return Err(format!("redirect {url:?}: not an rtmp:// URL"));
        };
        Ok(Redirect {
            host: d.host,
            port: d.port,
            app,
            stream,
        })
    }

    /// `rtmp://host:port`, for the log and the tcUrl.
    pub fn origin_url(&self) -> String {
        if self.host.contains(':') {
            format!("rtmp://[{}]:{}", self.host, self.port)
        } else {
            format!("rtmp://{}:{}", self.host, self.port)
        }
    }
}

/// A token traverse to make (SRS: `check_edge_token_traverse_auth`): the client's `connect`,
/// made again at the first origin that takes a TCP connection.
#[derive(Debug, Clone)]
pub struct TraverseCall {
    pub origins: Vec<Destination>,
    /// The client's `connect` app, with the query it carried when its tcUrl has none.
    pub app: String,
    /// The client's tcUrl, as it sent it.
    pub tc_url: String,
    /// The client connection's id, for the log.
    pub cid: String,
}

impl TraverseCall {
    pub fn new(request: &Request, origins: &[Destination], cid: &str) -> TraverseCall {
        let app = if request.params.is_empty() || request.tc_url.contains('?') {
            request.app.clone()
        } else {
            format!("{}?{}", request.app, request.params)
        };
        TraverseCall {
            origins: origins.to_vec(),
            app,
            tc_url: request.tc_url.clone(),
            cid: cid.to_owned(),
        }
    }

    /// The client session's settings: `connect` only. The origin's answer is a few commands,
    /// so the command limits bound what it may send.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            app: self.app.clone(),
            tc_url: self.tc_url.clone(),
            stream: String::new(),
            role: ClientRole::Connect,
            chunk_size: 4096,
            limits: COMMAND_CHUNK_LIMITS,
            setup_timeout_ms: SETUP_TIMEOUT_MS,
        }
    }
}

/// Token traverses of HLS players remembered at most (each by its tcUrl; the oldest goes
/// first). An HLS player is a request per playlist refresh, not a connection: each would
/// otherwise be a connect at the origin. RAM: each up to [`TRAVERSE_KEY_BYTES`] of tcUrl and
/// [`TRAVERSE_WHY_BYTES`] of refusal, 32 x 768 B = 24 KiB.
pub const TRAVERSE_CACHE: usize = 32;

/// How long an origin's answer to an HLS player's traverse stands: a token the origin
/// revokes is refused from the next playlist request after this.
pub const TRAVERSE_CACHE_MS: u64 = 30_000;

/// The tcUrl bytes a remembered traverse keeps at most (longer ones are not remembered).
pub const TRAVERSE_KEY_BYTES: usize = 512;

/// The refusal's text a remembered traverse keeps at most.
pub const TRAVERSE_WHY_BYTES: usize = 256;

/// The origin's recent answers to HLS players' token traverses, by tcUrl (the player's token
/// rides on its query): bounded by [`TRAVERSE_CACHE`], each standing [`TRAVERSE_CACHE_MS`].
#[derive(Debug, Default)]
pub struct TraverseCache(RefCell<VecDeque<Remembered>>);

#[derive(Debug)]
struct Remembered {
    tc_url: String,
    until_ms: u64,
    answer: Result<(), String>,
}

impl TraverseCache {
    /// The answer for `tc_url`, if one stands at `now_ms`.
    pub fn get(&self, tc_url: &str, now_ms: u64) -> Option<Result<(), String>> {
        let mut list = self.0.borrow_mut();
        list.retain(|r| r.until_ms > now_ms);
        let r = list.iter().find(|r| r.tc_url == tc_url)?;
        Some(r.answer.clone())
    }

    /// Remembers the origin's answer for `tc_url` (its refusal cut to [`TRAVERSE_WHY_BYTES`]).
    pub fn put(&self, tc_url: &str, answer: &Result<(), String>, now_ms: u64) {
        if tc_url.len() > TRAVERSE_KEY_BYTES {
            return;
        }
        let answer = answer.clone().map_err(|why| {
            let mut end = why.len().min(TRAVERSE_WHY_BYTES);
            while !why.is_char_boundary(end) {
                end -= 1;
            }
            why[..end].to_owned()
        });
        let mut list = self.0.borrow_mut();
        list.retain(|r| r.tc_url != tc_url);
        if list.len() >= TRAVERSE_CACHE {
            list.pop_front();
        }
        list.push_back(Remembered {
            tc_url: tc_url.to_owned(),
            until_ms: now_ms.saturating_add(TRAVERSE_CACHE_MS),
            answer,
        });
    }
}

/// Every pull of this process.
#[derive(Debug, Default)]
pub struct Edges {
    pulls: RefCell<HashMap<StreamKey, Rc<Upstream>>>,
    /// HLS players' token traverses, remembered for a while.
    pub traversed: TraverseCache,
    /// The round-robin's next origin (over every pull).
    next_origin: Cell<usize>,
    next_client: Cell<u32>,
}

impl Edges {
    pub fn of(&self, key: &StreamKey) -> Option<Rc<Upstream>> {
        self.pulls.borrow().get(key).cloned()
    }

    /// Whether `client` is one of the pulls (their streams are not forwarded).
    pub fn is_pull(&self, client: ClientId) -> bool {
        (EDGE_CLIENT_BASE..EDGE_CLIENT_BASE + 0x1000_0000).contains(&client)
    }

    /// The pull's task ended.
    pub fn remove(&self, up: &Rc<Upstream>) {
        let mut pulls = self.pulls.borrow_mut();
        if pulls.get(&up.key).is_some_and(|u| Rc::ptr_eq(u, up)) {
            pulls.remove(&up.key);
        }
    }

    pub fn len(&self) -> usize {
        self.pulls.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The vhost of `key`, if it is an edge.
fn edge_vhost(ctx: &ServerCtx, key: &StreamKey) -> Option<Vhost> {
    let config = ctx.config();
    let vhost = config
        .resolve_vhost(&key.vhost)
        .unwrap_or(config.default_vhost());
    vhost.cluster.is_edge().then(|| vhost.clone())
}

/// The stream got its first viewer: a new pull to start (the net layer runs it), or `None`
/// (not an edge vhost, published here by a client, or already pulled: then it is watched
/// again).
pub fn on_watched(ctx: &ServerCtx, key: &StreamKey) -> Option<Rc<Upstream>> {
    if let Some(up) = ctx.edges.of(key) {
        up.watched.set(true);
        up.unwatched_since.set(None);
        return None;
    }
    let vhost = edge_vhost(ctx, key)?;
    let source = ctx.hub.borrow().source(key);
    if source.is_some_and(|s| s.borrow().publisher().is_some()) {
        return None;
    }
    let origins = vhost.cluster.origin.0.clone();
    let protocol = vhost.cluster.protocol;
    let pull_timeout_ms = u64::from(vhost.cluster.pull_timeout_ms);
    let edges = &ctx.edges;
    let first = edges.next_origin.get() % origins.len();
    edges.next_origin.set(first + 1);
    let n = edges.next_client.get();
    edges.next_client.set((n + 1) % 0x1000_0000);
    let up = Rc::new(Upstream {
        key: key.clone(),
        origins,
        protocol,
        origin: Cell::new(first),
        state: Cell::new(EdgeState::Connecting),
        last_error: RefCell::new(None),
        recv_bytes: Cell::new(0),
        sessions: Cell::new(0),
        failures: Cell::new(0),
        pull_timeout_ms,
        heard_ms: Cell::new(0),
        watched: Cell::new(true),
        unwatched_since: Cell::new(None),
        client: EDGE_CLIENT_BASE + n,
        source: RefCell::new(None),
        bad_frames: Cell::new(0),
    });
    edges.pulls.borrow_mut().insert(key.clone(), up.clone());
    Some(up)
}

/// The stream lost its last viewer: the grace starts.
pub fn on_unwatched(ctx: &ServerCtx, key: &StreamKey, now_ms: u64) {
    if let Some(up) = ctx.edges.of(key) {
        up.watched.set(false);
        up.unwatched_since.set(Some(now_ms));
        log::info!("edge {key}: no viewer; the pull ends in {GRACE_MS} ms unless one comes");
    }
}

/// A pull in `/api/v1/streams` (`edge`, ours).
#[derive(Debug, Serialize)]
pub struct EdgeObject {
    pub state: EdgeState,
    /// The origin in use (or next tried), `rtmp://host:port`.
    pub origin: String,
    /// Why the last pull ended, while it waits to retry (and after).
    pub error: Option<String>,
    pub recv_bytes: u64,
    /// Pulls that reached playing.
    pub sessions: u64,
}

pub fn object(ctx: &ServerCtx, key: &StreamKey) -> Option<EdgeObject> {
    let up = ctx.edges.of(key)?;
    let error = up.last_error.borrow().clone();
    Some(EdgeObject {
        state: up.state.get(),
        origin: up.origin_url(),
        error,
        recv_bytes: up.recv_bytes.get(),
        sessions: up.sessions.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::live::Hub;

    fn ctx() -> ServerCtx {
        let config = Config::from_toml_str(
            "[vhost.__defaultVhost__.cluster]\nmode = \"remote\"\n\
             origin = \"127.0.0.1:19350 127.0.0.1:19351\"\n",
            "test",
        )
        .unwrap();
        let hub = Hub::new(config.max_streams);
        ServerCtx::new(config, hub)
    }

    fn key(stream: &str) -> StreamKey {
        StreamKey {
            vhost: crate::media::DEFAULT_VHOST.into(),
            app: "live".into(),
            stream: stream.into(),
        }
    }

    #[test]
    fn one_pull_per_stream_round_robin_and_a_grace() {
        let ctx = ctx();
        let a = on_watched(&ctx, &key("a")).expect("a pull");
        assert!(on_watched(&ctx, &key("a")).is_none(), "one per stream");
        let b = on_watched(&ctx, &key("b")).expect("a pull");
        assert_ne!(a.origin.get(), b.origin.get(), "round-robin");
        assert_eq!(a.client_config(&ctx).tc_url, "rtmp://127.0.0.1:19350/live");
        a.next_origin();
        assert_eq!(a.origin_url(), "rtmp://127.0.0.1:19351");
        on_unwatched(&ctx, &key("a"), 10_000);
        assert!(a.wanted(10_000 + GRACE_MS - 1));
        assert!(!a.wanted(10_000 + GRACE_MS));
        assert_eq!(a.deadline(), Some(10_000 + GRACE_MS));
        assert!(
            on_watched(&ctx, &key("a")).is_none(),
            "back within the grace"
        );
        assert!(a.wanted(1_000_000));
        ctx.edges.remove(&a);
        assert!(ctx.edges.of(&key("a")).is_none());
        assert!(ctx.edges.is_pull(a.client) && !ctx.edges.is_pull(1));
    }

    #[test]
    fn a_redirect_names_where_to_play() {
        let r = Redirect::parse("rtmp://127.0.0.1:19350/live/s?vhost=v", "x").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.app.as_str(), r.stream.as_str()),
            ("127.0.0.1", 19350, "live", "s?vhost=v")
        );
        let tc = Redirect::parse("rtmp://10.0.0.2/live", "cam").unwrap();
        assert_eq!((tc.port, tc.stream.as_str()), (1935, "cam"));
        assert_eq!(tc.origin_url(), "rtmp://10.0.0.2:1935");
        assert!(Redirect::parse("http://10.0.0.2/live/s", "s").is_err());
    }

    #[test]
    fn the_traverse_cache_remembers_answers_for_a_while_and_stays_bounded() {
        let cache = TraverseCache::default();
        let refused: Result<(), String> = Err("x".repeat(1000));
        cache.put("rtmp://e/live?token=good", &Ok(()), 1_000);
        cache.put("rtmp://e/live?token=bad", &refused, 1_000);
        assert_eq!(cache.get("rtmp://e/live?token=good", 2_000), Some(Ok(())));
        let why = cache
            .get("rtmp://e/live?token=bad", 2_000)
            .unwrap()
            .unwrap_err();
        assert_eq!(why.len(), TRAVERSE_WHY_BYTES);
        assert_eq!(cache.get("rtmp://e/live?token=other", 2_000), None);
        // Expired: asked again.
        assert_eq!(
            cache.get("rtmp://e/live?token=good", 1_000 + TRAVERSE_CACHE_MS),
            None
        );
        // A tcUrl too long to keep is not kept.
        let long = format!("rtmp://e/live?token={}", "t".repeat(TRAVERSE_KEY_BYTES));
        cache.put(&long, &Ok(()), 1_000);
        assert_eq!(cache.get(&long, 1_001), None);
        // Bounded: the oldest goes first.
        for n in 0..TRAVERSE_CACHE + 5 {
            cache.put(&format!("rtmp://e/live?token={n}"), &Ok(()), 5_000);
        }
        assert_eq!(cache.0.borrow().len(), TRAVERSE_CACHE);
        assert_eq!(cache.get("rtmp://e/live?token=0", 5_001), None);
        let last = format!("rtmp://e/live?token={}", TRAVERSE_CACHE + 4);
        assert_eq!(cache.get(&last, 5_001), Some(Ok(())));
    }

    #[test]
    fn a_traverse_repeats_the_clients_connect() {
        let origins = vec![Destination::parse("127.0.0.1:19350").unwrap()];
        let r = Request::from_connect(Some("live?token=a"), Some("rtmp://e:1935/live")).unwrap();
        let call = TraverseCall::new(&r, &origins, "c1");
        assert_eq!(
            (call.app.as_str(), call.tc_url.as_str()),
            ("live?token=a", "rtmp://e:1935/live")
        );
        let r = Request::from_connect(Some("live"), Some("rtmp://e/live?token=b")).unwrap();
        let call = TraverseCall::new(&r, &origins, "c1");
        assert_eq!(
            (call.app.as_str(), call.tc_url.as_str()),
            ("live", "rtmp://e/live?token=b")
        );
        assert_eq!(call.client_config().role, ClientRole::Connect);
    }

    #[test]
    fn a_pull_publishes_and_unpublishes_the_stream_here() {
        let ctx = ctx();
        let up = on_watched(&ctx, &key("c")).unwrap();
        assert!(up.publish(&ctx, 0));
        let source = ctx.hub.borrow().source(&key("c")).unwrap();
        assert_eq!(source.borrow().publisher(), Some(up.client));
        up.unpublish(&ctx, 1);
        assert_eq!(source.borrow().publisher(), None);
    }
}
