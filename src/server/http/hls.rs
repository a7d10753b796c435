//! HLS from the hub (`/{app}/{stream}.m3u8`, `/{app}/{stream}-{seq}.ts`): the playlist from
//! RAM, segments as shared RAM buffers or as a file plan (disk storage). Each request counts
//! as a viewer of its stream for three target durations (`Hub::view`). The vhost's security
//! rules (`play`) and `refer` lists (`all` and `play`, against the Referer) apply to every
//! request (403).
//!
//! With `hls_ctx` each player is a session (`server::hls_sessions`): a playlist request
//! without a known `hls_ctx` asks the `on_play` hooks (403 when they refuse) and gets a master
//! playlist pointing at its session's URL; requests with a kicked session's id are 403.

use bytes::Bytes;

use super::{Answer, Body, FileBody, HttpConn, Response, Route};
use crate::config::Vhost;
use crate::live::StreamKey;
#[cfg(feature = "edge")]
use crate::server::edge;
use crate::server::hls::{self, SegmentData};
use crate::server::hls_sessions::{self, Lookup, NewSession, CTX_PARAM};
use crate::wire::http::{Method, RequestHead};

pub fn handle(conn: &mut HttpConn, head: &RequestHead, route: &Route, now: u64) -> Option<Answer> {
    let (Route::Playlist(key) | Route::Segment(key, _)) = route else {
        return None;
    };
    let config = conn.ctx.server.config();
    let Some(vhost) = config.vhost(&key.vhost) else {
        return Some(Answer::Response(conn.text(head, 404, "not found")));
    };
    let record = &conn.record;
    if !vhost
        .security
        .allows(crate::config::Method::Play, record.peer.ip())
    {
        log::warn!("[{}] HLS {key} denied by security rules", record.cid);
        return Some(Answer::Response(conn.text(
            head,
            403,
            "denied by security rules",
        )));
    }
    if !vhost
        .refer
        .allows_http_play(head.referer.as_deref().unwrap_or(""))
    {
        log::warn!(
            "[{}] HLS {key} refused by refer: Referer {:?}",
            record.cid,
            head.referer
        );
        return Some(Answer::Response(conn.text(head, 403, "denied by referer")));
    }
    let (ctx, rest) = hls_sessions::split_query(&head.query);
    let session = match ctx.filter(|_| vhost.hls.ctx) {
        Some(ctx) => conn.ctx.server.hls_sessions.touch(ctx, now),
        None => Lookup::Unknown,
    };
    let session = match session {
        Lookup::Kicked => {
            return Some(Answer::Response(conn.text(head, 403, "HLS session kicked")));
        }
        Lookup::Live(record) => Some(record),
        Lookup::Unknown => None,
    };
    #[cfg(feature = "edge")]
    if session.is_none() && matches!(route, Route::Playlist(_)) {
        if let Some(answer) = traverse_gate(conn, head, route, key, vhost, now) {
            return Some(answer);
        }
    }
    view(conn, key, now);
    let response = match route {
        Route::Segment(_, seq) => segment(conn, head, key, *seq),
        _ if session.is_some() || !vhost.hls.ctx => {
            let ts_query = match &session {
                Some(r) if vhost.hls.ts_ctx => format!("?{CTX_PARAM}={}", r.cid),
                _ => String::new(),
            };
            playlist(conn, head, key, &ts_query)
        }
        _ => return Some(new_session(conn, head, key, vhost, &rest, now)),
    };
    if let Some(record) = session {
        record.send.add(sent_bytes(&response));
    }
    Some(Answer::Response(response))
}

/// An edge's token traverse for HLS players (`cluster.token_traverse`; ours, SRS checks RTMP
/// clients only): a playlist request without a live `hls_ctx` session is first made as an RTMP
/// connect at an origin with the player's query on the tcUrl, as for HTTP-FLV players (403
/// when the origin refuses; no pull starts before it accepts). The origin's answer stands for
/// [`edge::TRAVERSE_CACHE_MS`] per tcUrl, so a player's playlist refreshes (a request each,
/// not a connection) do not each connect to the origin. Segments are not checked.
#[cfg(feature = "edge")]
fn traverse_gate(
    conn: &HttpConn,
    head: &RequestHead,
    route: &Route,
    key: &StreamKey,
    vhost: &Vhost,
    now: u64,
) -> Option<Answer> {
    if !(vhost.cluster.is_edge() && vhost.cluster.token_traverse) {
        return None;
    }
    let call = super::live::traverse_call(conn, head, key, vhost);
    match conn.ctx.server.edges.traversed.get(&call.tc_url, now) {
        Some(Ok(())) => None,
        Some(Err(why)) => Some(traverse_refused(conn, head, key, &why)),
        None => Some(Answer::Decide(Box::new(PendingTraverse {
            head: head.clone(),
            route: route.clone(),
            tc_url: call.tc_url.clone(),
            call: Some(call),
        }))),
    }
}

/// 403 for a player the origin refused (or that no origin answered for).
#[cfg(feature = "edge")]
fn traverse_refused(conn: &HttpConn, head: &RequestHead, key: &StreamKey, why: &str) -> Answer {
    log::warn!(
        "[{}] HLS play {key} refused by the origin (token traverse): {why}",
        conn.record.cid
    );
    Answer::Response(conn.text(head, 403, "refused by the origin"))
}

/// A playlist request waiting for its token traverse; once the origin accepts, the request is
/// handled again (the answer now stands in [`edge::TraverseCache`]).
#[cfg(feature = "edge")]
struct PendingTraverse {
    head: RequestHead,
    route: Route,
    tc_url: String,
    call: Option<edge::TraverseCall>,
}

#[cfg(feature = "edge")]
impl super::Pending for PendingTraverse {
    fn take_call(&mut self) -> Option<super::Call> {
        self.call.take().map(super::Call::Traverse)
    }

    fn decided(
        self: Box<Self>,
        conn: &mut HttpConn,
        answer: Result<(), String>,
        now_ms: u64,
    ) -> Answer {
        let edges = conn.ctx.server.edges.clone();
        edges.traversed.put(&self.tc_url, &answer, now_ms);
        if let (Err(why), Route::Playlist(key)) = (&answer, &self.route) {
            return traverse_refused(conn, &self.head, key, why);
        }
        match handle(conn, &self.head, &self.route, now_ms) {
            Some(answer) => answer,
            None => Answer::Response(conn.text(&self.head, 404, "not found")),
        }
    }
}

fn sent_bytes(response: &Response) -> u64 {
    let body = match &response.body {
        Body::Bytes(b) => b.len() as u64,
        Body::Shared(parts) => parts.iter().map(|b| b.len() as u64).sum(),
        Body::File(f) => f.len,
        Body::Empty | Body::Pieces(_) => 0,
    };
    response.head.len() as u64 + body
}

/// A playlist request without a session: 404 before the stream's first segment (no session:
/// the player asks again), 503 when [`hls_sessions::MAX_HLS_SESSIONS`] are open, else the
/// `on_play` hooks decide (when the vhost has them) and the session opens.
fn new_session(
    conn: &mut HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    vhost: &Vhost,
    rest: &str,
    now: u64,
) -> Answer {
    let server = &conn.ctx.server;
    let has_playlist = server
        .hls
        .borrow()
        .get(key)
        .is_some_and(|h| h.borrow().playlist().is_some());
    if !has_playlist {
        return Answer::Response(conn.text(head, 404, "no such HLS stream"));
    }
    let Some(new) = server.hls_sessions.reserve(
        &server.clients,
        now ^ conn.record.started_ms.rotate_left(17) ^ u64::from(conn.record.id),
    ) else {
        log::warn!(
            "[{}] HLS play {key} refused: {} sessions open",
            conn.record.cid,
            hls_sessions::MAX_HLS_SESSIONS
        );
        return Answer::Response(conn.text(head, 503, "too many HLS sessions"));
    };
    #[cfg(feature = "hooks")]
    {
        use crate::server::hooks::{Action, Extra};
        let client = hook_client(conn, head, key, &new);
        if let Some(call) = server
            .hooks
            .call(vhost, Action::Play, &client, &Extra::default())
        {
            return Answer::Decide(Box::new(PendingSession {
                head: head.clone(),
                key: key.clone(),
                rest: rest.to_owned(),
                new,
                call: Some(call),
            }));
        }
    }
    open(conn, head, key, vhost, rest, new, now)
}

/// Opens the session and answers its master playlist (503 if the sessions filled meanwhile).
fn open(
    conn: &mut HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    vhost: &Vhost,
    rest: &str,
    new: NewSession,
    now: u64,
) -> Answer {
    let server = &conn.ctx.server;
    let tc_url = super::live::capped(&super::live::tc_url(head, key));
    let page_url = super::live::capped(head.referer.as_deref().unwrap_or(""));
    #[cfg(feature = "hooks")]
    let stop = vhost
        .http_hooks
        .enabled
        .then(|| hook_client(conn, head, key, &new));
    #[cfg(not(feature = "hooks"))]
    let stop = None;
    let idle_ms = 2 * u64::from(vhost.hls.window_ms);
    let cid = new.cid.clone();
    let opened = server.hls_sessions.open(
        &server.clients,
        new,
        conn.record.peer,
        key,
        (tc_url, page_url),
        idle_ms,
        stop,
        now,
    );
    let Some(record) = opened else {
        return Answer::Response(conn.text(head, 503, "too many HLS sessions"));
    };
    log::info!(
        "[{}] HLS play {key} as client {} (session {cid}) from {}",
        conn.record.cid,
        record.id,
        record.peer
    );
    let text = hls_sessions::master_playlist(&head.target, &cid, rest);
    let response = mpegurl(conn, head, text);
    record.send.add(sent_bytes(&response));
    Answer::Response(response)
}

/// Who a new session is for the hooks: the player's request, with the session's id as
/// `client_id` (SRS's context id is the `hls_ctx`).
#[cfg(feature = "hooks")]
fn hook_client(
    conn: &HttpConn,
    head: &RequestHead,
    key: &StreamKey,
    new: &NewSession,
) -> crate::server::hooks::Client {
    crate::server::hooks::Client {
        cid: new.cid.clone(),
        ..super::live::hook_client(conn, head, key)
    }
}

/// A new session waiting for the `on_play` hooks.
#[cfg(feature = "hooks")]
struct PendingSession {
    head: RequestHead,
    key: StreamKey,
    rest: String,
    new: NewSession,
    call: Option<crate::server::hooks::HookCall>,
}

#[cfg(feature = "hooks")]
impl super::Pending for PendingSession {
    fn take_call(&mut self) -> Option<super::Call> {
        self.call.take().map(super::Call::Hook)
    }

    fn decided(
        self: Box<Self>,
        conn: &mut HttpConn,
        answer: Result<(), String>,
        now_ms: u64,
    ) -> Answer {
        let PendingSession {
            head,
            key,
            rest,
            new,
            ..
        } = *self;
        if let Err(why) = answer {
            log::warn!(
                "[{}] HLS play {key} refused by the on_play hook: {why}",
                conn.record.cid
            );
            return Answer::Response(conn.text(&head, 403, "refused by the on_play hook"));
        }
        let config = conn.ctx.server.config();
        let Some(vhost) = config.vhost(&key.vhost) else {
            return Answer::Response(conn.text(&head, 404, "not found"));
        };
        open(conn, &head, &key, vhost, &rest, new, now_ms)
    }
}

/// An HLS player is not a session: its requests count as a viewer of the stream for a while
/// (three target durations), so that an on-demand camera starts for it (the playlist is 404
/// until its first segment) and stops once it has gone.
fn view(conn: &HttpConn, key: &StreamKey, now: u64) {
    let server = &conn.ctx.server;
    let hold = hls::viewer_hold_ms(server, key);
    server.hub.borrow_mut().view(key, now, hold);
}

fn playlist(conn: &HttpConn, head: &RequestHead, key: &StreamKey, ts_query: &str) -> Response {
    let text = conn
        .ctx
        .server
        .hls
        .borrow()
        .get(key)
        .and_then(|h| h.borrow().playlist_with(ts_query));
    let Some(text) = text else {
        return conn.text(head, 404, "no such HLS stream");
    };
    mpegurl(conn, head, text)
}

fn mpegurl(conn: &HttpConn, head: &RequestHead, text: String) -> Response {
    let len = text.len().to_string();
    conn.respond(
        head,
        200,
        &[
            ("Content-Type", "application/vnd.apple.mpegurl"),
            ("Cache-Control", "no-cache"),
            ("Content-Length", &len),
        ],
        Some(Bytes::from(text)),
    )
}

fn segment(conn: &HttpConn, head: &RequestHead, key: &StreamKey, seq: u64) -> Response {
    let data = conn.ctx.server.hls.borrow().get(key).and_then(|h| {
        let h = h.borrow();
        Some((h.segment(seq)?, h.segment_len(seq)?))
    });
    let (body, len) = match data {
        Some((SegmentData::Ram(chunks, bytes), _)) => (Body::Shared(chunks), bytes as u64),
        Some((SegmentData::File(path), len)) => {
            // The segmenter knows the length (the file is written once, then only removed);
            // the driver reads the file through the disk thread.
            let fallback = conn.text(head, 404, "segment gone").to_bytes();
            let len = len as u64;
            let file = FileBody {
                path,
                start: 0,
                len,
                fallback,
            };
            (Body::File(file), len)
        }
        None => return conn.text(head, 404, "no such segment"),
    };
    let len_s = len.to_string();
    let mut response = conn.respond(
        head,
        200,
        &[("Content-Type", "video/mp2t"), ("Content-Length", &len_s)],
        None,
    );
    if head.method != Method::Head {
        response.body = body;
    }
    response
}
