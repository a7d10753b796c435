//! A live HTTP-FLV / HTTP-TS player as a state machine: no socket, no clock.
//!
//! ```text
//! Waiting --publisher arrives (queue ready)--> Streaming --publisher leaves--> Done
//!    |                                            \--HEAD: after the head--> Done
//!    \--deadline (idle_timeout), nobody publishes: 404 "stream not published"--> Done
//! ```
//!
//! The driver calls [`LivePlayer::poll_transmit`] whenever the queue is ready (and once at
//! the start), [`LivePlayer::handle_timeout`] at [`LivePlayer::poll_timeout`], writes what
//! comes out, and stops at [`LivePlayer::is_done`] (or when the player leaves or is kicked),
//! then calls [`LivePlayer::close`] once. A live response always ends its connection.
//!
//! Framing per format comes from a [`Format`]: FLV tags (`server::flv`) or TS packets
//! (`server::ts`); the body is HTTP/1.1 chunked, or raw for HTTP/1.0.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;

use super::{encode_head, host_and_port, Answer, HttpConn};
use crate::config::{Vhost, DEFAULT_VHOST};
use crate::live::{Hub, PlayerQueue, QueueItem, QueueLimits, Source, StreamKey};
use crate::media::SharedFrame;
#[cfg(feature = "hooks")]
use crate::server::hooks::{self, Action};
use crate::server::stats::{ClientKind, ClientRecord};
use crate::server::{MAX_BATCH_BYTES, MAX_BATCH_ITEMS};
use crate::wire::http::{chunk_size_line, Method, RequestHead, CRLF, LAST_CHUNK};

/// Longest tcUrl and pageUrl (the Referer) kept in an HTTP player's client record for the API;
/// longer ones are cut at a character boundary. RAM: twice this per HTTP connection
/// (`limits/http.rs`).
pub const MAX_CLIENT_URL: usize = 512;

/// An HTTP live output format.
pub trait Format {
    /// For logs: `HTTP-FLV`.
    fn name(&self) -> &'static str;
    fn content_type(&self) -> &'static str;
    fn client_kind(&self) -> ClientKind;
    /// Attaches the Source outputs this format reads (at play and when the stream starts).
    fn attach(&self, _source: &mut Source) {}
    /// What comes before the first frame.
    fn header(&self, _source: Option<&Source>) -> Option<Bytes> {
        None
    }
    /// Appends `frame`'s framed bytes (shared, not copied) to `out`; with `chunked`, as one
    /// complete HTTP/1.1 chunk whose framing is shared too, so that a player adds nothing of
    /// its own per frame.
    fn frame(&self, frame: &SharedFrame, chunked: bool, out: &mut Vec<Bytes>);
}

/// Answers a live route of `format`: 404 for a vanished vhost, 403 refused by the security
/// rules, a decision to wait for when the vhost has on_play hooks (403 if they refuse), 503
/// (then close) when the hub refuses, else a player.
pub fn play(
    conn: &mut HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    format: &'static dyn Format,
    now_ms: u64,
) -> Answer {
    let config = conn.ctx.server.config();
    let Some(vhost) = config.vhost(&key.vhost).cloned() else {
        return Answer::Response(conn.text(head, 404, "not found"));
    };
    let record = conn.record.clone();
    if !vhost
        .security
        .allows(crate::config::Method::Play, record.peer.ip())
    {
        log::warn!("[{}] play {key} denied by security rules", record.cid);
        return Answer::Response(conn.text(head, 403, "denied by security rules"));
    }
    if !vhost
        .refer
        .allows_http_play(head.referer.as_deref().unwrap_or(""))
    {
        log::warn!(
            "[{}] play {key} refused by refer: Referer {:?}",
            record.cid,
            head.referer
        );
        return Answer::Response(conn.text(head, 403, "denied by referer"));
    }
    #[cfg(feature = "edge")]
    if vhost.cluster.is_edge() && vhost.cluster.token_traverse {
        return Answer::Decide(Box::new(PendingTraverse {
            head: head.clone(),
            key: key.clone(),
            format,
            call: Some(traverse_call(conn, head, key, &vhost)),
        }));
    }
    hooks_or_start(conn, head, key, format, &vhost, now_ms)
}

/// The `on_play` hooks' decision to wait for when the vhost has them, else the play.
fn hooks_or_start(
    conn: &mut HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    format: &'static dyn Format,
    vhost: &Vhost,
    now_ms: u64,
) -> Answer {
    #[cfg(feature = "hooks")]
    if let Some(call) = conn.ctx.server.hooks.call(
        vhost,
        Action::Play,
        &hook_client(conn, head, key),
        &hooks::Extra::default(),
    ) {
        return Answer::Decide(Box::new(PendingPlay {
            head: head.clone(),
            key: key.clone(),
            format,
            call: Some(call),
        }));
    }
    start(conn, head, key, format, vhost, now_ms)
}

/// The token traverse of an HTTP player of an edge (SRS makes it for RTMP clients only): an
/// RTMP `connect` at an origin with the player's tcUrl (`rtmp://` for `http://`) and its query
/// (`?token=...`), so that the origin's `on_connect` hooks see what they see from an RTMP
/// player.
#[cfg(feature = "edge")]
pub(super) fn traverse_call(
    conn: &HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    vhost: &Vhost,
) -> crate::server::edge::TraverseCall {
    let http = tc_url(head, key);
    let mut tc_url = format!("rtmp{}", http.strip_prefix("http").unwrap_or(&http));
    if !head.query.is_empty() {
        tc_url.push('?');
        tc_url.push_str(&head.query);
    }
    crate::server::edge::TraverseCall {
        origins: vhost.cluster.origin.0.clone(),
        app: key.app.clone(),
        tc_url: capped(&tc_url),
        cid: conn.record.cid.clone(),
    }
}

/// A play of an edge waiting for its token traverse: the driver makes the call and hands the
/// answer to [`super::Pending::decided`].
#[cfg(feature = "edge")]
pub struct PendingTraverse {
    head: RequestHead,
    key: StreamKey,
    format: &'static dyn Format,
    call: Option<crate::server::edge::TraverseCall>,
}

#[cfg(feature = "edge")]
impl super::Pending for PendingTraverse {
    fn take_call(&mut self) -> Option<super::Call> {
        self.call.take().map(super::Call::Traverse)
    }

    /// The origin answered: 403 when it refused (or none answered), else the play goes on to
    /// the hooks here, if any (the vhost and its rules as they are now).
    fn decided(
        self: Box<Self>,
        conn: &mut HttpConn,
        answer: Result<(), String>,
        now_ms: u64,
    ) -> Answer {
        let (head, key) = (&self.head, &self.key);
        if let Err(why) = answer {
            log::warn!(
                "[{}] {} play {key} refused by the origin (token traverse): {why}",
                conn.record.cid,
                self.format.name()
            );
            return Answer::Response(conn.text(head, 403, "refused by the origin"));
        }
        let config = conn.ctx.server.config();
        let Some(vhost) = config.vhost(&key.vhost).cloned() else {
            return Answer::Response(conn.text(head, 404, "not found"));
        };
        hooks_or_start(conn, head, key, self.format, &vhost, now_ms)
    }
}

/// A play waiting for the on_play hooks: the driver makes the call ([`super::Pending::take_call`])
/// and hands the answer to [`super::Pending::decided`].
#[cfg(feature = "hooks")]
pub struct PendingPlay {
    head: RequestHead,
    key: StreamKey,
    format: &'static dyn Format,
    call: Option<hooks::HookCall>,
}

#[cfg(feature = "hooks")]
impl super::Pending for PendingPlay {
    fn take_call(&mut self) -> Option<super::Call> {
        self.call.take().map(super::Call::Hook)
    }

    /// The hooks answered: 403 when they refused, else the play goes on (the vhost and its
    /// rules as they are now).
    fn decided(
        self: Box<Self>,
        conn: &mut HttpConn,
        answer: Result<(), String>,
        now_ms: u64,
    ) -> Answer {
        let (head, key) = (&self.head, &self.key);
        if let Err(why) = answer {
            log::warn!(
                "[{}] {} play {key} refused by the on_play hook: {why}",
                conn.record.cid,
                self.format.name()
            );
            return Answer::Response(conn.text(head, 403, "refused by the on_play hook"));
        }
        let config = conn.ctx.server.config();
        let Some(vhost) = config.vhost(&key.vhost).cloned() else {
            return Answer::Response(conn.text(head, 404, "not found"));
        };
        start(conn, head, key, self.format, &vhost, now_ms)
    }
}

/// Who an HTTP player is, for the hooks' payloads: SRS's tcUrl, the query as `param`, the
/// Referer as `pageUrl`.
#[cfg(feature = "hooks")]
pub(super) fn hook_client(conn: &HttpConn, head: &RequestHead, key: &StreamKey) -> hooks::Client {
    hooks::Client {
        vhost: key.vhost.clone(),
        app: key.app.clone(),
        stream: key.stream.clone(),
        tc_url: capped(&tc_url(head, key)),
        query: capped(&head.query),
        page_url: capped(head.referer.as_deref().unwrap_or("")),
        ..hooks::Client::new(&conn.record.cid, conn.record.peer.ip())
    }
}

/// The hub admits the player (or 503), which then waits for the publisher.
fn start(
    conn: &mut HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    format: &'static dyn Format,
    vhost: &Vhost,
    now_ms: u64,
) -> Answer {
    let config = conn.ctx.server.config();
    let record = conn.record.clone();
    let hub = conn.ctx.server.hub.clone();
    let queue = hub.borrow_mut().play(
        key,
        record.id,
        crate::server::source_settings(vhost),
        limits(vhost),
        now_ms,
    );
    let queue = match queue {
        Ok(q) => q,
        Err(e) => {
            let mut response = conn.text(head, 503, &e.to_string());
            response.close = true;
            return Answer::Response(response);
        }
    };
    record.kind.set(format.client_kind());
    *record.stream.borrow_mut() = Some(key.clone());
    *record.tc_url.borrow_mut() = capped(&tc_url(head, key));
    *record.page_url.borrow_mut() = capped(head.referer.as_deref().unwrap_or(""));
    log::info!(
        "[{}] {} play {key} as client {} from {}",
        record.cid,
        format.name(),
        record.id,
        record.peer
    );
    let source = hub.borrow().source(key);
    if let Some(s) = source {
        format.attach(&mut s.borrow_mut());
    }
    let player = LivePlayer {
        key: key.clone(),
        format,
        hub,
        record,
        queue,
        head_only: head.method == Method::Head,
        chunked: !head.http10,
        keep_alive: head.keep_alive,
        cors: config.http.crossdomain,
        merge_latency_ms: (!vhost.min_latency && vhost.mw_latency_ms > 0)
            .then_some(u64::from(vhost.mw_latency_ms)),
        state: State::Waiting {
            deadline_ms: now_ms.saturating_add(u64::from(config.idle_timeout_ms)),
        },
        header: None,
        closed: false,
        #[cfg(feature = "hooks")]
        hooks: conn.ctx.server.hooks.clone(),
        #[cfg(feature = "hooks")]
        stop_hook: vhost
            .http_hooks
            .enabled
            .then(|| (vhost.clone(), hook_client(conn, head, key))),
    };
    Answer::Live(Box::new(player))
}

/// SRS's tcUrl for an HTTP client (`srs_generate_tc_url` with the `http` schema, which
/// `SrsRequest::as_http` applies to the request `SrsHttpMessage::to_request` makes): `http://`,
/// the Host header's name on the default vhost (`__defaultVhost__` without a Host) or the
/// vhost's name on a named one, `:port` when the Host header has a port other than 1935,
/// then `/app`.
pub(super) fn tc_url(head: &RequestHead, key: &StreamKey) -> String {
    let (name, port) = host_and_port(head.host.as_deref().unwrap_or(""));
    let name = match (key.vhost.as_str(), name) {
        (DEFAULT_VHOST, "") => DEFAULT_VHOST,
        (DEFAULT_VHOST, name) => name,
        (vhost, _) => vhost,
    };
    let mut url = String::from("http://");
    if name.contains(':') {
        url.push('[');
        url.push_str(name);
        url.push(']');
    } else {
        url.push_str(name);
    }
    let port = port.and_then(|p| p.parse::<u16>().ok());
    if let Some(p) = port.filter(|p| *p != 0 && *p != 1935) {
        url.push(':');
        url.push_str(&p.to_string());
    }
    url.push('/');
    url.push_str(&key.app);
    url
}

/// `s` cut to [`MAX_CLIENT_URL`] bytes.
pub(super) fn capped(s: &str) -> String {
    let mut end = s.len().min(MAX_CLIENT_URL);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

fn limits(vhost: &Vhost) -> QueueLimits {
    QueueLimits {
        max_bytes: vhost.queue_max_bytes,
        max_duration_ms: i64::from(vhost.queue_length_ms),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Attached to the hub, nothing sent: waiting for a publisher until `deadline_ms`.
    Waiting { deadline_ms: u64 },
    /// The head went out; frames follow.
    Streaming,
    /// The response is complete.
    Done,
}

pub struct LivePlayer {
    key: StreamKey,
    format: &'static dyn Format,
    hub: Rc<RefCell<Hub>>,
    record: Rc<ClientRecord>,
    queue: Rc<RefCell<PlayerQueue>>,
    head_only: bool,
    chunked: bool,
    /// The request's keep-alive, echoed by the 404 (the connection closes anyway).
    keep_alive: bool,
    cors: bool,
    merge_latency_ms: Option<u64>,
    state: State,
    /// The format's header, sent in the first chunk.
    header: Option<Bytes>,
    closed: bool,
    /// on_stop's vhost and payload, when the vhost has hooks.
    #[cfg(feature = "hooks")]
    stop_hook: Option<(Vhost, hooks::Client)>,
    /// Where on_stop goes.
    #[cfg(feature = "hooks")]
    hooks: hooks::Hooks,
}

impl LivePlayer {
    /// The queue to wait on (`poll_ready`).
    pub fn queue(&self) -> &Rc<RefCell<PlayerQueue>> {
        &self.queue
    }

    /// While streaming: how long to let media gather before a write (`mw_latency`), if
    /// writes are merged.
    pub fn merge_latency_ms(&self) -> Option<u64> {
        match self.state {
            State::Streaming => self.merge_latency_ms,
            _ => None,
        }
    }

    /// When to call [`LivePlayer::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Waiting { deadline_ms } => Some(deadline_ms),
            _ => None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn publishing(&self) -> bool {
        self.hub
            .borrow()
            .source(&self.key)
            .is_some_and(|s| s.borrow().publisher().is_some())
    }

    /// At the deadline: a publisher that came starts the stream, else 404.
    pub fn handle_timeout(&mut self, now_ms: u64, out: &mut Vec<Bytes>) {
        let State::Waiting { deadline_ms } = self.state else {
            return;
        };
        if self.publishing() {
            self.start(out);
        } else if now_ms >= deadline_ms {
            let body = "stream not published\n";
            let len = body.len().to_string();
            out.push(encode_head(
                404,
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", &len),
                ],
                self.keep_alive,
                self.cors,
            ));
            if !self.head_only {
                out.push(Bytes::from_static(body.as_bytes()));
            }
            self.state = State::Done;
        }
    }

    /// Takes one batch from the queue and appends what to send to `out`: the head once a
    /// publisher is there, then framed media; the last chunk when the publisher leaves.
    pub fn poll_transmit(&mut self, now_ms: u64, out: &mut Vec<Bytes>) {
        if let State::Waiting { .. } = self.state {
            if !self.publishing() {
                // Control items only (no publisher): drop them.
                self.queue.borrow_mut().drain(usize::MAX, usize::MAX, drop);
                self.handle_timeout(now_ms, out);
                return;
            }
            self.start(out);
        }
        if self.state != State::Streaming {
            return;
        }
        if let Some(header) = self.header.take() {
            self.frame_body(header, out);
        }
        let (format, chunked) = (self.format, self.chunked);
        let mut ended = false;
        let mut queue = self.queue.borrow_mut();
        // Room for three slices per frame (FLV's) at once, not a chain of regrowths.
        out.reserve(queue.len().min(MAX_BATCH_ITEMS).saturating_mul(3));
        queue.drain(MAX_BATCH_ITEMS, MAX_BATCH_BYTES, |item| match item {
            QueueItem::Frame(f) => format.frame(&f, chunked, out),
            QueueItem::Unpublished => ended = true,
            QueueItem::Published => {}
        });
        drop(queue);
        if ended {
            if self.chunked {
                out.push(Bytes::from_static(LAST_CHUNK));
            }
            log::info!(
                "[{}] {} unpublished: response ended",
                self.record.cid,
                self.key
            );
            self.state = State::Done;
        }
    }

    /// The 200 head (and the format's header): the stream starts.
    fn start(&mut self, out: &mut Vec<Bytes>) {
        let source = self.hub.borrow().source(&self.key);
        if let Some(s) = &source {
            self.format.attach(&mut s.borrow_mut());
        }
        let mut headers = vec![
            ("Content-Type", self.format.content_type()),
            ("Cache-Control", "no-cache"),
        ];
        if self.chunked {
            headers.push(("Transfer-Encoding", "chunked"));
        }
        out.push(encode_head(200, &headers, false, self.cors));
        if self.head_only {
            self.state = State::Done;
            return;
        }
        self.state = State::Streaming;
        // The header travels in the first batch's chunk.
        let s = source.as_ref().map(|s| s.borrow());
        self.header = self.format.header(s.as_deref());
    }

    /// `body` (the format's header) as one chunk (HTTP/1.1) or raw (HTTP/1.0).
    fn frame_body(&self, body: Bytes, out: &mut Vec<Bytes>) {
        if body.is_empty() {
            return;
        }
        if self.chunked {
            out.push(Bytes::copy_from_slice(chunk_size_line(body.len()).as_ref()));
            out.push(body);
            out.push(Bytes::from_static(CRLF));
        } else {
            out.push(body);
        }
    }

    /// Detaches from the hub (once): the driver's last call.
    pub fn close(&mut self, now_ms: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        let stats = self.queue.borrow().stats();
        log::info!(
            "[{}] stop playing {}: {} frames queued, {} dropped",
            self.record.cid,
            self.key,
            stats.queued_frames,
            stats.dropped_frames
        );
        self.hub
            .borrow_mut()
            .stop(&self.key, self.record.id, now_ms);
        #[cfg(feature = "hooks")]
        if let Some((vhost, client)) = self.stop_hook.take() {
            let extra = hooks::Extra::default();
            self.hooks.notify(&vhost, Action::Stop, &client, &extra);
        }
    }
}
