//! The HTTP server above the socket: a parsed request head and the time go in, a response plan
//! comes out. No I/O and no clock here; `net::http` reads heads, writes what [`HttpConn`]
//! answers and sleeps until a live player's deadline.
//!
//! What a caller must know:
//! - [`HttpConn::handle_request`] answers one request: an [`Answer::Response`] (head, then a
//!   [`Body`] that is empty, in memory, shared `Bytes`, a [`FileBody`] or [`Piece`]s the
//!   driver reads in pieces), an [`Answer::Deferred`] (work for the disk thread, e.g. path
//!   resolution, then a `finish` that makes the response from its result) or an
//!   [`Answer::Live`] player, a state machine that writes its own head once it knows the
//!   status (it waits up to `idle_timeout` for a publisher).
//! - No handler touches the file system: what needs `stat`, `canonicalize` or a read goes
//!   into a [`Deferred`]'s `work`, which the driver runs on the disk thread (`net::disk`). A
//!   disk that does not answer in time makes the driver answer 503.
//! - Every response carries `Server`, `Connection` and, with `http_server.crossdomain`, the
//!   CORS headers. OPTIONS is answered 200 on every path; a live path takes GET and HEAD only
//!   (405).
//! - Routes go to the handlers of the connection's [`Site`], one per feature: the HTTP
//!   server's [`HTTP_SITE`] asks [`HANDLERS`], the API's own port (`http_api.listen`)
//!   [`API_SITE`], where every path outside `/api/`, `/metrics` and `/rtc/v1/` (WHIP/WHEP, as
//!   SRS) is 404, the exporter's
//!   port (`exporter.listen`) `METRICS_SITE`, `/metrics` only. A new endpoint is a new entry there
//!   (and a [`Route`] arm if it needs one), never a change to the driver.
//! - After a response with `close`, and after every live stream, the driver closes.

#[cfg(feature = "api")]
mod api;
#[cfg(feature = "dvr")]
mod dvr;
mod files;
#[cfg(feature = "http-flv")]
mod flv;
#[cfg(feature = "hls")]
mod hls;
pub mod live;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(all(feature = "api", feature = "dvr"))]
mod playback;
mod request;
mod route;
#[cfg(feature = "rtc")]
mod rtc;
#[cfg(test)]
mod tests;
#[cfg(feature = "http-ts")]
mod ts;

use std::any::Any;
use std::path::PathBuf;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

#[cfg(feature = "api")]
pub use api::{ApiCtx, ApiExtension};
pub use live::LivePlayer;
pub use request::{RequestReader, HEAD_READ};
pub use route::{host_and_port, requested_vhost, route, Route};

use super::stats::{ClientRecord, Registration};
use super::ServerCtx;
use crate::wire::http::{self, Method, RequestHead};

/// CORS headers added to every response when `http_server.crossdomain` is on (SRS's
/// `crossdomain on`).
pub const CORS_HEADERS: &[(&str, &str)] = &[
    ("Access-Control-Allow-Origin", "*"),
    (
        "Access-Control-Allow-Methods",
        "GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS",
    ),
    (
        "Access-Control-Allow-Headers",
        "Origin, X-Requested-With, Content-Type, Accept, Authorization, Range, If-Match",
    ),
    (
        "Access-Control-Expose-Headers",
        "Server, Content-Length, Content-Range, Date, Location",
    ),
];

/// The `Server` header.
pub const SERVER: &str = concat!("tinysrs/", env!("CARGO_PKG_VERSION"));

/// A route handler: answers the requests whose route it owns, `None` for the others.
pub type Handler = fn(&mut HttpConn, &RequestHead, &Route, u64) -> Option<Answer>;

/// The handlers, asked in order; a route nobody owns (a compiled-out feature, a stream path
/// of a disabled vhost) is 404.
pub const HANDLERS: &[Handler] = &[
    #[cfg(feature = "http-flv")]
    flv::handle,
    #[cfg(feature = "http-ts")]
    ts::handle,
    #[cfg(feature = "hls")]
    hls::handle,
    #[cfg(feature = "api")]
    api::handle,
    #[cfg(feature = "metrics")]
    metrics::handle,
    #[cfg(feature = "dvr")]
    dvr::handle,
    #[cfg(feature = "rtc")]
    rtc::handle,
    files::handle,
];

/// What a listener serves: a route table.
#[derive(Debug)]
pub struct Site {
    /// Asked in order; a route nobody owns is 404.
    pub handlers: &'static [Handler],
    /// The routes that exist here; any other is 404 (no stream, no file).
    pub serves: fn(&Route) -> bool,
}

/// The HTTP server (`http_server.listen`): live streams, HLS, the API and static files.
pub static HTTP_SITE: Site = Site {
    handlers: HANDLERS,
    serves: |_| true,
};

/// The API's own port (`http_api.listen`, SRS's 1985): the API, `/metrics` and, as SRS,
/// WHIP/WHEP (`/rtc/v1/`, where OBS and SRS's pages look for them) only.
#[cfg(feature = "api")]
pub static API_SITE: Site = Site {
    handlers: &[
        api::handle,
        #[cfg(feature = "metrics")]
        metrics::handle,
        #[cfg(feature = "rtc")]
        rtc::handle,
    ],
    serves: |r| match r {
        Route::Api(_) => true,
        #[cfg(feature = "metrics")]
        Route::Metrics => true,
        #[cfg(feature = "rtc")]
        Route::Rtc(_) => true,
        _ => false,
    },
};

/// The exporter's own port (`exporter.listen`, SRS's 9972): `/metrics` only.
#[cfg(feature = "metrics")]
pub static METRICS_SITE: Site = Site {
    handlers: &[metrics::handle],
    serves: |r| matches!(r, Route::Metrics),
};

/// What every HTTP connection shares: the server, the listener's [`Site`] and, with the API,
/// its settings.
#[derive(Clone)]
pub struct HttpCtx {
    pub server: ServerCtx,
    pub site: &'static Site,
    #[cfg(feature = "api")]
    pub api: ApiCtx,
}

/// What to send for one request.
pub enum Answer {
    Response(Response),
    /// A live HTTP-FLV/HTTP-TS stream; the connection closes when it is done.
    Live(Box<LivePlayer>),
    /// Work for the disk thread, then the response made from its result.
    Deferred(Deferred),
    /// A play (live, or a new HLS session) that waits for the on_play hooks or an edge's
    /// token traverse: the driver makes the call and hands the answer to
    /// [`Pending::decided`], which answers in turn (possibly with another decision).
    #[cfg(any(feature = "hooks", feature = "edge"))]
    Decide(Box<dyn Pending>),
}

/// A call the driver makes for a [`Pending`] request.
#[cfg(any(feature = "hooks", feature = "edge"))]
pub enum Call {
    /// The hooks' decision (`on_play`).
    #[cfg(feature = "hooks")]
    Hook(super::hooks::HookCall),
    /// An edge's token traverse: the player's connect made at an origin, whose hooks decide.
    #[cfg(feature = "edge")]
    Traverse(super::edge::TraverseCall),
}

/// A request that waits for a decision: the hooks' or an origin's.
#[cfg(any(feature = "hooks", feature = "edge"))]
pub trait Pending {
    /// The decision to wait for (once).
    fn take_call(&mut self) -> Option<Call>;
    /// The hooks answered (`Err` says why they refused): the answer to the request.
    fn decided(
        self: Box<Self>,
        conn: &mut HttpConn,
        answer: Result<(), String>,
        now_ms: u64,
    ) -> Answer;
}

/// What a handler hands to the disk thread: `work` runs there (it may `stat`, `canonicalize`
/// and read), then `finish` runs on the event loop with its result and makes the response.
/// The driver answers 503 instead when the disk does not answer within
/// `net::disk::READ_TIMEOUT` or is gone.
pub struct Deferred {
    pub work: Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>,
    pub finish: fn(&mut HttpConn, &RequestHead, Box<dyn Any + Send>) -> Response,
}

/// A complete response: the encoded head, then the body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Status line and headers.
    pub head: Bytes,
    pub body: Body,
    /// Close the connection once this is sent.
    pub close: bool,
}

#[derive(Debug)]
pub enum Body {
    Empty,
    /// API documents, playlists, error text.
    Bytes(Bytes),
    /// Shared buffers sent as they are (RAM HLS segments).
    Shared(Vec<Bytes>),
    /// Part of a file (static files, disk HLS segments).
    File(FileBody),
    /// Buffers and file ranges, sent in order (an FLV recording from `?start=`: its head,
    /// then the file from a keyframe on). When a file's first read fails before any byte
    /// went out the driver answers 404 instead; a file that shrank closes the connection.
    Pieces(Vec<Piece>),
}

/// One part of a [`Body::Pieces`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Bytes),
    /// `len` bytes of `path` from `start`, read by the driver in pieces.
    File {
        path: PathBuf,
        start: u64,
        len: u64,
    },
}

/// `len` bytes of `path` from `start`, read by the driver in pieces.
#[derive(Debug)]
pub struct FileBody {
    pub path: PathBuf,
    pub start: u64,
    pub len: u64,
    /// The whole response (head and body) to send instead when the file cannot be read
    /// before the head went out (it vanished since the plan was made).
    pub fallback: Bytes,
}

/// One connection's HTTP state: requests in, answers out.
pub struct HttpConn {
    pub ctx: HttpCtx,
    pub record: Rc<ClientRecord>,
    /// The body of the request being answered (the driver reads it, at most
    /// `http_server.max_body_bytes`, before [`HttpConn::handle_request`]); only the API's
    /// `POST /api/v1/dvrs` looks at it.
    pub body: Bytes,
    /// A time-based playback's place, held while its response is sent.
    #[cfg(all(feature = "api", feature = "dvr"))]
    playback: Option<crate::server::dvr::PlaybackSlot>,
    /// A `/metrics` scrape's place, held while its response is sent.
    #[cfg(feature = "metrics")]
    scrape: Option<super::stats::GaugeGuard>,
}

impl HttpConn {
    pub fn new(ctx: HttpCtx, record: Rc<ClientRecord>) -> HttpConn {
        HttpConn {
            ctx,
            record,
            body: Bytes::new(),
            #[cfg(all(feature = "api", feature = "dvr"))]
            playback: None,
            #[cfg(feature = "metrics")]
            scrape: None,
        }
    }

    /// A new connection of client `id` (its log id `cid`) from `peer`: its state and its
    /// place in the API's client list (removed when the registration drops).
    pub fn accept(
        ctx: HttpCtx,
        id: crate::live::ClientId,
        cid: &str,
        peer: std::net::SocketAddr,
        now_ms: u64,
    ) -> (HttpConn, Registration) {
        let record = ClientRecord::new(id, cid, peer, now_ms);
        let registration = Registration::new(ctx.server.clients.clone(), record);
        (
            HttpConn::new(ctx, registration.record.clone()),
            registration,
        )
    }

    /// The connection ended, by the peer between requests (`error` None) or for `error`:
    /// logged, and in the latter case counted as failed in the API.
    pub fn closed(&self, error: Option<&dyn std::fmt::Display>) {
        let record = &self.record;
        match error {
            None => log::debug!("[{}] HTTP {} closed", record.cid, record.peer),
            Some(e) => {
                log::info!("[{}] HTTP {} closed: {e}", record.cid, record.peer);
                record.fail();
            }
        }
    }

    /// The answer to a [`Pending`] request's call came (`Err`: why not, counted as a
    /// failure in the API): the answer to the request.
    #[cfg(any(feature = "hooks", feature = "edge"))]
    pub fn handle_decision(
        &mut self,
        pending: Box<dyn Pending>,
        verdict: Result<(), String>,
        now_ms: u64,
    ) -> Answer {
        if verdict.is_err() {
            self.record.fail();
        }
        pending.decided(self, verdict, now_ms)
    }

    /// Answers one request. `now_ms` is the server clock.
    pub fn handle_request(&mut self, head: &RequestHead, now_ms: u64) -> Answer {
        // The previous response is sent when the next request is read.
        #[cfg(all(feature = "api", feature = "dvr"))]
        {
            self.playback = None;
        }
        #[cfg(feature = "metrics")]
        {
            self.scrape = None;
        }
        let config = self.ctx.server.config();
        let mut route = route(&config, head, |k| self.is_hls_stream(k));
        if !(self.ctx.site.serves)(&route) {
            route = Route::NotFound;
        }
        log::debug!(
            "[{}] HTTP {:?} {} -> {route:?}",
            self.record.cid,
            head.method,
            head.target
        );
        if head.method == Method::Options {
            return Answer::Response(self.respond(head, 200, &[("Content-Length", "0")], None));
        }
        let media = matches!(
            route,
            Route::Flv(_) | Route::Ts(_) | Route::Playlist(_) | Route::Segment(..)
        );
        if media && !matches!(head.method, Method::Get | Method::Head) {
            return Answer::Response(self.text(head, 405, "method not allowed"));
        }
        for handler in self.ctx.site.handlers {
            if let Some(answer) = handler(self, head, &route, now_ms) {
                return answer;
            }
        }
        Answer::Response(self.text(head, 404, "not found"))
    }

    /// The body bytes to read after `head` (kept for the request, then dropped; only the API's
    /// `POST /api/v1/dvrs` reads one), or the 413 to send before closing: a body over
    /// `http_server.max_body_bytes`, or a chunked one.
    pub fn check_body(&self, head: &RequestHead) -> Result<u64, Bytes> {
        let max = self.ctx.server.config().http.max_body_bytes as u64;
        if head.chunked_body || head.content_length > max {
            return Err(self.refusal(413, "request body too large"));
        }
        Ok(head.content_length)
    }

    /// How long the driver waits (ms): for a request head once its first byte came, or a body
    /// (`handshake_timeout`), else for the first byte and for the peer to read what we send
    /// (`idle_timeout`); the config in force.
    pub fn timeout_ms(&self, handshake: bool) -> u64 {
        let c = self.ctx.server.config();
        u64::from(if handshake {
            c.handshake_timeout_ms
        } else {
            c.idle_timeout_ms
        })
    }

    /// A [`Deferred`]'s work did not come back from the disk thread (`error`: a timeout, or
    /// the thread is gone): 503, so the client tries again.
    pub fn disk_failed(&mut self, head: &RequestHead, error: &dyn std::fmt::Display) -> Response {
        log::info!(
            "[{}] HTTP {}: the disk did not answer: {error}",
            self.record.cid,
            head.target
        );
        self.text(head, 503, "disk busy, try again")
    }

    /// What replaces a [`Body::Pieces`] response whose first file read failed before anything
    /// went out: a plain 404.
    pub fn pieces_failed(&self, head: &RequestHead) -> Bytes {
        self.text(head, 404, "not found").to_bytes()
    }

    /// The answer to a head that cannot be parsed (`status` from the decoder), before closing.
    pub fn bad_head(&self, status: u16) -> Bytes {
        self.refusal(status, http::reason(status))
    }

    /// A response before (or instead of) a parsed request: no keep-alive, a plain body.
    fn refusal(&self, status: u16, text: &str) -> Bytes {
        let len = text.len().to_string();
        let mut out = BytesMut::from(
            &self.head_bytes(
                status,
                &[
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", &len),
                ],
                false,
            )[..],
        );
        out.extend_from_slice(text.as_bytes());
        out.freeze()
    }

    #[cfg(feature = "hls")]
    fn is_hls_stream(&self, key: &crate::live::StreamKey) -> bool {
        self.ctx.server.hls.borrow().contains_key(key)
    }

    #[cfg(not(feature = "hls"))]
    fn is_hls_stream(&self, _: &crate::live::StreamKey) -> bool {
        false
    }

    /// A response head with `Server`, `Connection` and the CORS headers, then `headers`.
    pub fn head_bytes(&self, status: u16, headers: &[(&str, &str)], keep_alive: bool) -> Bytes {
        let cors = self.ctx.server.config().http.crossdomain;
        encode_head(status, headers, keep_alive, cors)
    }

    /// A response to `head` with a small body (none for HEAD; Content-Length stays).
    pub fn respond(
        &self,
        head: &RequestHead,
        status: u16,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Response {
        let body = match body {
            Some(b) if head.method != Method::Head && !b.is_empty() => Body::Bytes(b),
            _ => Body::Empty,
        };
        Response {
            status,
            head: self.head_bytes(status, headers, head.keep_alive),
            body,
            close: !head.keep_alive,
        }
    }

    /// A plain-text response: `text` and a newline.
    pub fn text(&self, head: &RequestHead, status: u16, text: &str) -> Response {
        let body = Bytes::from(format!("{text}\n"));
        let len = body.len().to_string();
        self.respond(
            head,
            status,
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &len),
            ],
            Some(body),
        )
    }
}

/// Encodes a response head: status line, `Server`, `Connection`, CORS (when `cors`), then
/// `headers`.
pub fn encode_head(status: u16, headers: &[(&str, &str)], keep_alive: bool, cors: bool) -> Bytes {
    let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 2 + CORS_HEADERS.len());
    all.push(("Server", SERVER));
    all.push((
        "Connection",
        if keep_alive { "keep-alive" } else { "close" },
    ));
    if cors {
        all.extend_from_slice(CORS_HEADERS);
    }
    all.extend_from_slice(headers);
    let mut out = BytesMut::with_capacity(512);
    http::encode_response_head(status, &all, &mut out);
    out.freeze()
}

/// A [`Piece::File`] as the driver reads it: at most `chunk` bytes at a time, each read
/// starting where the last ended.
#[derive(Debug, PartialEq, Eq)]
pub struct FileReads {
    offset: u64,
    left: u64,
}

impl FileReads {
    pub fn new(start: u64, len: u64) -> FileReads {
        FileReads {
            offset: start,
            left: len,
        }
    }

    /// The next read, `(offset, length)` of at most `chunk` bytes, or None when all is read.
    pub fn next_read(&self, chunk: usize) -> Option<(u64, usize)> {
        let want = chunk.min(usize::try_from(self.left).unwrap_or(chunk));
        (self.left > 0).then_some((self.offset, want))
    }

    /// The last read brought `n` bytes. Err when it brought none: the file shrank while it
    /// was sent (the connection closes, its response cut).
    pub fn handle_read(&mut self, n: u64) -> Result<(), &'static str> {
        if n == 0 {
            return Err("file shrank while it was sent");
        }
        (self.offset, self.left) = (self.offset + n, self.left.saturating_sub(n));
        Ok(())
    }
}

impl Response {
    /// The response as the driver sends it: `parts` (the head and what is in memory), then
    /// `pieces` in order (files read in pieces, [`FileReads`]); when a file's first read fails
    /// before anything went out, the fallback instead (None: [`HttpConn::pieces_failed`]).
    pub fn into_parts(self) -> (Vec<Bytes>, Vec<Piece>, Option<Bytes>) {
        let mut parts = vec![self.head];
        let (pieces, fallback) = match self.body {
            Body::Empty => (Vec::new(), None),
            Body::Bytes(b) => {
                parts.push(b);
                (Vec::new(), None)
            }
            Body::Shared(mut chunks) => {
                parts.append(&mut chunks);
                (Vec::new(), None)
            }
            Body::File(f) => {
                let file = Piece::File {
                    path: f.path,
                    start: f.start,
                    len: f.len,
                };
                (vec![file], Some(f.fallback))
            }
            Body::Pieces(pieces) => (pieces, None),
        };
        (parts, pieces, fallback)
    }

    /// The whole response in one buffer when its body is in memory (tests, fallbacks).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::from(&self.head[..]);
        match &self.body {
            Body::Bytes(b) => out.extend_from_slice(b),
            Body::Shared(parts) => parts.iter().for_each(|b| out.extend_from_slice(b)),
            Body::Pieces(pieces) => pieces.iter().for_each(|p| {
                if let Piece::Bytes(b) = p {
                    out.extend_from_slice(b);
                }
            }),
            Body::Empty | Body::File(_) => {}
        }
        out.freeze()
    }
}
