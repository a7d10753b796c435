//! The HTTP/1.1 connection driver: one task per connection, keep-alive, a head read bounded
//! in size (`wire::http::MAX_HEAD_LEN`) and time (`handshake_timeout`, so a slow-loris head is
//! closed), then the route's handler: live HTTP-FLV / HTTP-TS from the hub (chunked, batched
//! per `mw_latency`), HLS playlists and segments, the API, static files.

#[cfg(any(feature = "http-flv", feature = "http-ts"))]
use std::future::poll_fn;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::SocketAddr;
#[cfg(any(feature = "api", feature = "http-flv", feature = "http-ts"))]
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{write_all, Clock, Shared};
use crate::config::Config;
#[cfg(any(feature = "http-flv", feature = "http-ts"))]
use crate::config::Vhost;
use crate::live::{ClientId, StreamKey};
#[cfg(any(feature = "http-flv", feature = "http-ts"))]
use crate::live::{QueueItem, QueueLimits, SourceSettings};
#[cfg(feature = "api")]
use crate::server::api;
#[cfg(feature = "http-flv")]
use crate::server::flv;
#[cfg(feature = "hls")]
use crate::server::hls::SegmentData;
use crate::server::http::{route, Route, CORS_HEADERS};
use crate::server::static_files::{Plan, WebRoot};
#[cfg(any(feature = "api", feature = "http-flv", feature = "http-ts"))]
use crate::server::stats::ClientKind;
use crate::server::stats::{ClientRecord, Registration};
#[cfg(feature = "http-ts")]
use crate::server::ts;
use crate::server::{ConnLog, ServerCtx};
use crate::wire::http::{self, decode_request_head, Method, RequestHead};
#[cfg(any(feature = "http-flv", feature = "http-ts"))]
use crate::wire::http::{chunk_size_line, CRLF, LAST_CHUNK};

/// Request body bytes read and discarded at most (the API takes no body we need); a larger
/// body ends the connection with 413.
pub const MAX_BODY: u64 = 64 * 1024;

/// Bytes read from a file per write when serving static files and disk HLS segments.
pub const FILE_CHUNK: usize = 64 * 1024;

type Error = Box<dyn std::error::Error>;

pub async fn run(mut stream: TcpStream, peer: SocketAddr, id: ClientId, shared: Shared) {
    let log = ConnLog::new(shared.rng.next_u64());
    let Shared { ctx, clock, .. } = shared.clone();
    let record = ClientRecord::new(id, &log.cid, peer, clock.now_ms());
    let registration = Registration::new(ctx.clients.clone(), record);
    let mut conn = HttpConn {
        id,
        peer,
        ctx,
        clock,
        log,
        registration,
        #[cfg(feature = "api")]
        api: shared.api,
        #[cfg(feature = "gb28181")]
        gb: shared.gb,
        buf: BytesMut::with_capacity(1024),
    };
    match conn.serve(&mut stream).await {
        Ok(()) => log::debug!("[{}] HTTP {peer} closed", conn.log.cid),
        Err(e) => log::info!("[{}] HTTP {peer} closed: {e}", conn.log.cid),
    }
}

#[cfg_attr(not(any(feature = "http-flv", feature = "http-ts")), allow(dead_code))]
struct HttpConn {
    id: ClientId,
    peer: SocketAddr,
    ctx: ServerCtx,
    clock: Clock,
    log: ConnLog,
    registration: Registration,
    #[cfg(feature = "api")]
    api: Rc<api::ApiSettings>,
    #[cfg(feature = "gb28181")]
    gb: Rc<std::cell::RefCell<Option<super::gb28181::GbHandle>>>,
    /// Bytes read but not yet parsed (the next request head).
    buf: BytesMut,
}

/// How a handler left the connection.
enum After {
    KeepAlive,
    #[cfg_attr(not(any(feature = "http-flv", feature = "http-ts")), allow(dead_code))]
    Close,
}

impl HttpConn {
    async fn serve(&mut self, stream: &mut TcpStream) -> Result<(), Error> {
        loop {
            let config = self.ctx.config();
            let Some(head) = self.read_head(stream, &config).await? else {
                return Ok(());
            };
            self.discard_body(stream, &head, &config).await?;
            let after = self.handle(stream, &head, &config).await?;
            if matches!(after, After::Close) || !head.keep_alive {
                let _ = stream.shutdown().await;
                return Ok(());
            }
        }
    }

    /// The next request head; None when the peer closes between requests.
    async fn read_head(
        &mut self,
        stream: &mut TcpStream,
        config: &Config,
    ) -> Result<Option<RequestHead>, Error> {
        let first = self.buf.is_empty();
        let idle = Duration::from_millis(u64::from(config.idle_timeout_ms));
        let head_timeout = Duration::from_millis(u64::from(config.handshake_timeout_ms));
        let mut deadline = tokio::time::Instant::now() + if first { idle } else { head_timeout };
        let mut started = !first;
        loop {
            match decode_request_head(&self.buf) {
                Ok(Some((head, used))) => {
                    self.buf.advance(used);
                    self.registration.record.recv.add(used as u64);
                    return Ok(Some(head));
                }
                Ok(None) => {}
                Err(e) => {
                    let status = e.status();
                    self.simple(
                        stream,
                        status,
                        "text/plain; charset=utf-8",
                        http::reason(status),
                        false,
                    )
                    .await?;
                    return Err(format!("bad request head: {e}").into());
                }
            }
            self.buf.reserve(4096);
            let read = tokio::time::timeout_at(deadline, stream.read_buf(&mut self.buf)).await;
            match read {
                Err(_) if !started && self.buf.is_empty() => return Ok(None),
                Err(_) => {
                    return Err("request head not complete in time (handshake_timeout)".into())
                }
                Ok(Ok(0)) if self.buf.is_empty() => return Ok(None),
                Ok(Ok(0)) => return Err("peer closed in the middle of a request head".into()),
                Ok(Ok(_)) => {
                    if !started {
                        // From the first byte on, the head must complete within
                        // handshake_timeout.
                        started = true;
                        deadline = tokio::time::Instant::now() + head_timeout;
                    }
                }
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    async fn discard_body(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        config: &Config,
    ) -> Result<(), Error> {
        if head.chunked_body || head.content_length > MAX_BODY {
            self.simple(
                stream,
                413,
                "text/plain; charset=utf-8",
                "request body too large",
                false,
            )
            .await?;
            return Err("request body over the limit".into());
        }
        let mut left = head.content_length as usize;
        let timeout = Duration::from_millis(u64::from(config.handshake_timeout_ms));
        while left > 0 {
            if self.buf.is_empty() {
                self.buf.reserve(4096);
                match tokio::time::timeout(timeout, stream.read_buf(&mut self.buf)).await {
                    Ok(Ok(0)) => return Err("peer closed in the middle of a body".into()),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => return Err("request body not complete in time".into()),
                }
            }
            let n = left.min(self.buf.len());
            self.buf.advance(n);
            left -= n;
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        config: &Config,
    ) -> Result<After, Error> {
        #[cfg(feature = "hls")]
        let hls = self.ctx.hls.clone();
        #[cfg(feature = "hls")]
        let is_hls = |k: &StreamKey| hls.borrow().contains_key(k);
        #[cfg(not(feature = "hls"))]
        let is_hls = |_: &StreamKey| false;
        let route = route(config, head, is_hls);
        log::debug!(
            "[{}] HTTP {:?} {} -> {route:?}",
            self.log.cid,
            head.method,
            head.target
        );
        if head.method == Method::Options {
            self.respond(stream, head, 200, &[("Content-Length", "0")], &[])
                .await?;
            return Ok(After::KeepAlive);
        }
        let live = matches!(
            route,
            Route::Flv(_) | Route::Ts(_) | Route::Playlist(_) | Route::Segment(..)
        );
        if live && !matches!(head.method, Method::Get | Method::Head) {
            self.respond_text(stream, head, 405, "method not allowed")
                .await?;
            return Ok(After::KeepAlive);
        }
        // Routes of compiled-out features fall to the last arm (404).
        #[allow(unreachable_patterns)]
        match route {
            #[cfg(feature = "http-flv")]
            Route::Flv(key) => self.live(stream, head, key, LiveFormat::Flv).await,
            #[cfg(feature = "http-ts")]
            Route::Ts(key) => self.live(stream, head, key, LiveFormat::Ts).await,
            #[cfg(feature = "hls")]
            Route::Playlist(key) => self.playlist(stream, head, &key).await,
            #[cfg(feature = "hls")]
            Route::Segment(key, seq) => self.segment(stream, head, &key, seq).await,
            #[cfg(feature = "api")]
            Route::Api(path) => self.api(stream, head, &path).await,
            Route::Static => self.static_file(stream, head, config).await,
            _ => {
                self.respond_text(stream, head, 404, "not found").await?;
                Ok(After::KeepAlive)
            }
        }
    }

    /// Writes a response head (with Server, Connection and CORS) and a small body.
    async fn respond(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Error> {
        let out = self.head_bytes(status, headers, head.keep_alive);
        let mut parts = vec![out];
        if head.method != Method::Head && !body.is_empty() {
            parts.push(Bytes::copy_from_slice(body));
        }
        self.write(stream, &mut parts).await
    }

    fn head_bytes(&self, status: u16, headers: &[(&str, &str)], keep_alive: bool) -> Bytes {
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 8);
        all.push(("Server", concat!("tinysrs/", env!("CARGO_PKG_VERSION"))));
        all.push((
            "Connection",
            if keep_alive { "keep-alive" } else { "close" },
        ));
        if self.ctx.config().http.crossdomain {
            all.extend_from_slice(CORS_HEADERS);
        }
        all.extend_from_slice(headers);
        let mut out = BytesMut::with_capacity(512);
        http::encode_response_head(status, &all, &mut out);
        out.freeze()
    }

    async fn respond_text(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        status: u16,
        text: &str,
    ) -> Result<(), Error> {
        let len = (text.len() + 1).to_string();
        let body = format!("{text}\n");
        self.respond(
            stream,
            head,
            status,
            &[
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", &len),
            ],
            body.as_bytes(),
        )
        .await
    }

    /// A response before a request head could be parsed (no keep-alive, no HEAD).
    async fn simple(
        &mut self,
        stream: &mut TcpStream,
        status: u16,
        content_type: &str,
        text: &str,
        keep_alive: bool,
    ) -> Result<(), Error> {
        let len = text.len().to_string();
        let head = self.head_bytes(
            status,
            &[("Content-Type", content_type), ("Content-Length", &len)],
            keep_alive,
        );
        let mut parts = vec![head, Bytes::copy_from_slice(text.as_bytes())];
        self.write(stream, &mut parts).await
    }

    async fn write(&mut self, stream: &mut TcpStream, parts: &mut Vec<Bytes>) -> Result<(), Error> {
        let n: usize = parts.iter().map(Bytes::len).sum();
        let timeout = Duration::from_millis(u64::from(self.ctx.config().idle_timeout_ms));
        match tokio::time::timeout(timeout, write_all(stream, parts)).await {
            Ok(r) => r?,
            Err(_) => return Err("send timeout: the peer does not read".into()),
        }
        self.registration.record.send.add(n as u64);
        Ok(())
    }

    #[cfg(all(feature = "api", feature = "gb28181"))]
    async fn gb_api(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        path: &str,
    ) -> Result<After, Error> {
        let config = self.ctx.config();
        if !api::authorized(config.api.auth.as_ref(), head.authorization.as_deref()) {
            let headers = [
                ("WWW-Authenticate", "Basic realm=\"tinysrs\""),
                ("Content-Length", "0"),
            ];
            self.respond(stream, head, 401, &headers, &[]).await?;
            return Ok(After::KeepAlive);
        }
        let gb = self.gb.borrow().clone();
        let (mut body, code) = match gb {
            Some(gb) => crate::server::gb28181::api::handle(
                &mut gb.borrow_mut().agent,
                self.clock.now_ms(),
                path,
            ),
            None => (
                serde_json::json!({}),
                crate::server::gb28181::api::CODE_NOT_FOUND,
            ),
        };
        if let Some(obj) = body.as_object_mut() {
            obj.insert("code".into(), code.into());
            obj.insert("server".into(), self.api.server_id.clone().into());
            obj.insert("service".into(), self.api.service_id.clone().into());
            obj.insert("pid".into(), std::process::id().to_string().into());
        }
        let text = body.to_string();
        let len = text.len().to_string();
        self.respond(
            stream,
            head,
            200,
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", &len),
            ],
            text.as_bytes(),
        )
        .await?;
        Ok(After::KeepAlive)
    }

    #[cfg(feature = "api")]
    async fn api(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        path: &str,
    ) -> Result<After, Error> {
        if !self.ctx.config().api.enabled {
            self.respond_text(stream, head, 404, "not found").await?;
            return Ok(After::KeepAlive);
        }
        self.registration.record.kind.set(ClientKind::Api);
        #[cfg(feature = "gb28181")]
        if path.starts_with("/api/v1/gb28181") {
            return self.gb_api(stream, head, path).await;
        }
        let request = api::ApiRequest {
            method: head.method,
            path,
            query: &head.query,
            authorization: head.authorization.as_deref(),
        };
        let response = api::handle(&self.ctx, &self.api, self.clock.now_ms(), &request);
        let len = response.body.len().to_string();
        let mut headers: Vec<(&str, &str)> = vec![
            ("Content-Type", response.content_type),
            ("Content-Length", &len),
        ];
        for (k, v) in &response.extra_headers {
            headers.push((k, v));
        }
        self.respond(
            stream,
            head,
            response.status,
            &headers,
            response.body.as_bytes(),
        )
        .await?;
        Ok(After::KeepAlive)
    }

    async fn static_file(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        config: &Config,
    ) -> Result<After, Error> {
        let plan = match WebRoot::new(std::path::Path::new(&config.http.dir)) {
            Ok(root) => root.plan_request(head),
            Err(_) => Plan::Error {
                status: 404,
                message: "not found",
            },
        };
        match plan {
            Plan::File {
                ref path,
                status,
                content_type,
                start,
                len,
                ref last_modified,
                ..
            } => {
                let range = plan.content_range();
                let len_s = len.to_string();
                let mut headers = vec![
                    ("Content-Type", content_type),
                    ("Content-Length", len_s.as_str()),
                    ("Accept-Ranges", "bytes"),
                ];
                if let Some(r) = &range {
                    headers.push(("Content-Range", r));
                }
                if let Some(m) = last_modified {
                    headers.push(("Last-Modified", m));
                }
                let file = open_no_follow(path).and_then(|mut f| {
                    f.seek(SeekFrom::Start(start))?;
                    Ok(f)
                });
                let Ok(file) = file else {
                    self.respond_text(stream, head, 404, "not found").await?;
                    return Ok(After::KeepAlive);
                };
                let mut parts = vec![self.head_bytes(status, &headers, head.keep_alive)];
                self.write(stream, &mut parts).await?;
                if head.method == Method::Head {
                    return Ok(After::KeepAlive);
                }
                self.send_file(stream, file, len).await
            }
            Plan::NotModified { ref last_modified } => {
                let headers = vec![
                    ("Content-Length", "0"),
                    ("Last-Modified", last_modified.as_str()),
                ];
                self.respond(stream, head, 304, &headers, &[]).await?;
                Ok(After::KeepAlive)
            }
            Plan::Error { status, message } => {
                let mut headers = vec![];
                if status == 405 {
                    headers.push(("Allow", crate::server::static_files::ALLOW));
                }
                let body = format!("{message}\n");
                let len = body.len().to_string();
                headers.push(("Content-Type", "text/plain; charset=utf-8"));
                headers.push(("Content-Length", &len));
                self.respond(stream, head, status, &headers, body.as_bytes())
                    .await?;
                Ok(After::KeepAlive)
            }
        }
    }

    /// Sends `len` bytes of `file` in `FILE_CHUNK` reads; a file that shrank closes the
    /// connection (the promised length cannot be met).
    async fn send_file(
        &mut self,
        stream: &mut TcpStream,
        mut file: std::fs::File,
        len: u64,
    ) -> Result<After, Error> {
        let mut left = len;
        let mut chunk = vec![0u8; FILE_CHUNK.min(len as usize).max(1)];
        while left > 0 {
            let want = chunk.len().min(left as usize);
            let n = file.read(&mut chunk[..want])?;
            if n == 0 {
                return Err("file shrank while it was sent".into());
            }
            let mut parts = vec![Bytes::copy_from_slice(&chunk[..n])];
            self.write(stream, &mut parts).await?;
            left -= n as u64;
        }
        Ok(After::KeepAlive)
    }

    #[cfg(feature = "hls")]
    async fn playlist(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        key: &StreamKey,
    ) -> Result<After, Error> {
        let text = self
            .ctx
            .hls
            .borrow()
            .get(key)
            .and_then(|h| h.borrow().playlist());
        let Some(text) = text else {
            self.respond_text(stream, head, 404, "no such HLS stream")
                .await?;
            return Ok(After::KeepAlive);
        };
        let len = text.len().to_string();
        self.respond(
            stream,
            head,
            200,
            &[
                ("Content-Type", "application/vnd.apple.mpegurl"),
                ("Cache-Control", "no-cache"),
                ("Content-Length", &len),
            ],
            text.as_bytes(),
        )
        .await?;
        Ok(After::KeepAlive)
    }

    #[cfg(feature = "hls")]
    async fn segment(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        key: &StreamKey,
        seq: u64,
    ) -> Result<After, Error> {
        let data = self
            .ctx
            .hls
            .borrow()
            .get(key)
            .and_then(|h| h.borrow().segment(seq));
        match data {
            Some(SegmentData::Ram(chunks, bytes)) => {
                let len = bytes.to_string();
                let mut parts = vec![self.head_bytes(
                    200,
                    &[("Content-Type", "video/mp2t"), ("Content-Length", &len)],
                    head.keep_alive,
                )];
                if head.method != Method::Head {
                    parts.extend(chunks);
                }
                self.write(stream, &mut parts).await?;
                Ok(After::KeepAlive)
            }
            Some(SegmentData::File(path)) => {
                let file = open_no_follow(&path);
                let len = file
                    .as_ref()
                    .ok()
                    .and_then(|f| f.metadata().ok())
                    .map(|m| m.len());
                let (Ok(file), Some(len)) = (file, len) else {
                    self.respond_text(stream, head, 404, "segment gone").await?;
                    return Ok(After::KeepAlive);
                };
                let len_s = len.to_string();
                let mut parts = vec![self.head_bytes(
                    200,
                    &[("Content-Type", "video/mp2t"), ("Content-Length", &len_s)],
                    head.keep_alive,
                )];
                self.write(stream, &mut parts).await?;
                if head.method == Method::Head {
                    return Ok(After::KeepAlive);
                }
                self.send_file(stream, file, len).await
            }
            None => {
                self.respond_text(stream, head, 404, "no such segment")
                    .await?;
                Ok(After::KeepAlive)
            }
        }
    }

    /// A live HTTP-FLV or HTTP-TS player: waits (up to `idle_timeout`) for a publisher before
    /// answering, then streams until the publisher leaves, the player closes or is kicked.
    #[cfg(any(feature = "http-flv", feature = "http-ts"))]
    async fn live(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        key: StreamKey,
        format: LiveFormat,
    ) -> Result<After, Error> {
        let config = self.ctx.config();
        let Some(vhost) = config.vhost(&key.vhost).cloned() else {
            self.respond_text(stream, head, 404, "not found").await?;
            return Ok(After::KeepAlive);
        };
        if !vhost
            .security
            .allows(crate::config::Method::Play, self.peer.ip())
        {
            log::warn!("[{}] play {key} denied by security rules", self.log.cid);
            self.respond_text(stream, head, 403, "denied by security rules")
                .await?;
            return Ok(After::KeepAlive);
        }
        let now = self.clock.now_ms();
        let queue =
            self.ctx
                .hub
                .borrow_mut()
                .play(&key, self.id, settings(&vhost), limits(&vhost), now);
        let queue = match queue {
            Ok(q) => q,
            Err(e) => {
                self.respond_text(stream, head, 503, &e.to_string()).await?;
                return Ok(After::Close);
            }
        };
        let record = self.registration.record.clone();
        record.kind.set(format.kind());
        *record.stream.borrow_mut() = Some(key.clone());
        log::info!(
            "[{}] {} play {key} as client {} from {}",
            self.log.cid,
            format.name(),
            self.id,
            self.peer
        );
        let source = self.ctx.hub.borrow().source(&key);
        #[cfg(feature = "http-ts")]
        if format == LiveFormat::Ts {
            if let Some(s) = &source {
                crate::server::attach_ts(&mut s.borrow_mut());
            }
        }
        let _ = &source;
        let result = self
            .stream_live(stream, head, &key, &vhost, format, queue.clone())
            .await;
        let stats = queue.borrow().stats();
        log::info!(
            "[{}] stop playing {key}: {} frames queued, {} dropped",
            self.log.cid,
            stats.queued_frames,
            stats.dropped_frames
        );
        self.ctx
            .hub
            .borrow_mut()
            .stop(&key, self.id, self.clock.now_ms());
        result.map(|()| After::Close)
    }

    #[cfg(any(feature = "http-flv", feature = "http-ts"))]
    async fn stream_live(
        &mut self,
        stream: &mut TcpStream,
        head: &RequestHead,
        key: &StreamKey,
        vhost: &Vhost,
        format: LiveFormat,
        queue: Rc<std::cell::RefCell<crate::live::PlayerQueue>>,
    ) -> Result<(), Error> {
        let wait = Duration::from_millis(u64::from(self.ctx.config().idle_timeout_ms));
        let record = self.registration.record.clone();
        // Wait for the publisher (bounded) before answering.
        let publishing = || {
            self.ctx
                .hub
                .borrow()
                .source(key)
                .is_some_and(|s| s.borrow().publisher().is_some())
        };
        if !publishing() {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    _ = poll_fn(|cx| queue.borrow_mut().poll_ready(cx)) => {}
                    _ = tokio::time::sleep_until(deadline) => {}
                    _ = poll_fn(|cx| record.poll_kicked(cx)) => return Err("kicked through the API".into()),
                }
                if publishing() {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    self.respond_text(stream, head, 404, "stream not published")
                        .await?;
                    return Ok(());
                }
                // Control items only (no publisher): drop them.
                let mut items = Vec::new();
                queue
                    .borrow_mut()
                    .drain_into(&mut items, usize::MAX, usize::MAX);
            }
            #[cfg(feature = "http-ts")]
            if format == LiveFormat::Ts {
                if let Some(s) = self.ctx.hub.borrow().source(key) {
                    crate::server::attach_ts(&mut s.borrow_mut());
                }
            }
        }
        let chunked = !head.http10;
        let mut headers: Vec<(&str, &str)> = vec![
            ("Content-Type", format.content_type()),
            ("Cache-Control", "no-cache"),
        ];
        if chunked {
            headers.push(("Transfer-Encoding", "chunked"));
        }
        let mut parts = vec![self.head_bytes(200, &headers, false)];
        if head.method == Method::Head {
            self.write(stream, &mut parts).await?;
            return Ok(());
        }
        let mut body: Vec<Bytes> = Vec::new();
        #[cfg(feature = "http-flv")]
        if format == LiveFormat::Flv {
            let source = self.ctx.hub.borrow().source(key);
            let source = source.as_ref().map(|s| s.borrow());
            body.push(flv::file_header(source.as_deref()));
        }
        let mut batch = Vec::new();
        let mut read_buf = [0u8; 512];
        let (min_latency, mw) = (vhost.min_latency, u64::from(vhost.mw_latency_ms));
        loop {
            let mut ended = false;
            batch.clear();
            queue.borrow_mut().drain_into(
                &mut batch,
                crate::server::MAX_BATCH_ITEMS,
                crate::server::MAX_BATCH_BYTES,
            );
            for item in batch.drain(..) {
                match item {
                    #[allow(unreachable_patterns)]
                    QueueItem::Frame(f) => match format {
                        #[cfg(feature = "http-flv")]
                        LiveFormat::Flv => {
                            let (h, t) = flv::framing(&f);
                            body.push(h);
                            body.push(f.data.clone());
                            body.push(t);
                        }
                        #[cfg(feature = "http-ts")]
                        LiveFormat::Ts => body.extend(ts::packets(&f)),
                        _ => {}
                    },
                    QueueItem::Unpublished => ended = true,
                    QueueItem::Published => {}
                }
            }
            let len: usize = body.iter().map(Bytes::len).sum();
            if len > 0 {
                if chunked {
                    parts.push(Bytes::copy_from_slice(chunk_size_line(len).as_ref()));
                    parts.append(&mut body);
                    parts.push(Bytes::from_static(CRLF));
                } else {
                    parts.append(&mut body);
                }
            }
            body.clear();
            if ended && chunked {
                parts.push(Bytes::from_static(LAST_CHUNK));
            }
            if !parts.is_empty() {
                self.write(stream, &mut parts).await?;
                parts.clear();
            }
            if ended {
                log::info!("[{}] {key} unpublished: response ended", self.log.cid);
                return Ok(());
            }
            tokio::select! {
                _ = poll_fn(|cx| queue.borrow_mut().poll_ready(cx)) => {
                    if !min_latency && mw > 0 {
                        super::merge_wait(&queue, mw).await;
                    }
                }
                read = stream.read(&mut read_buf) => {
                    // A player sends nothing more; EOF or an error means it left.
                    match read {
                        Ok(0) | Err(_) => return Ok(()),
                        Ok(n) => self.registration.record.recv.add(n as u64),
                    }
                }
                _ = poll_fn(|cx| record.poll_kicked(cx)) => return Err("kicked through the API".into()),
            }
        }
    }
}

#[cfg(any(feature = "http-flv", feature = "http-ts"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LiveFormat {
    #[cfg(feature = "http-flv")]
    Flv,
    #[cfg(feature = "http-ts")]
    Ts,
}

#[cfg(any(feature = "http-flv", feature = "http-ts"))]
impl LiveFormat {
    fn content_type(self) -> &'static str {
        match self {
            #[cfg(feature = "http-flv")]
            LiveFormat::Flv => "video/x-flv",
            #[cfg(feature = "http-ts")]
            LiveFormat::Ts => "video/mp2t",
        }
    }

    fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "http-flv")]
            LiveFormat::Flv => "HTTP-FLV",
            #[cfg(feature = "http-ts")]
            LiveFormat::Ts => "HTTP-TS",
        }
    }

    fn kind(self) -> ClientKind {
        match self {
            #[cfg(feature = "http-flv")]
            LiveFormat::Flv => ClientKind::FlvPlay,
            #[cfg(feature = "http-ts")]
            LiveFormat::Ts => ClientKind::TsPlay,
        }
    }
}

#[cfg(any(feature = "http-flv", feature = "http-ts"))]
fn settings(vhost: &Vhost) -> SourceSettings {
    crate::server::source_settings(vhost)
}

#[cfg(any(feature = "http-flv", feature = "http-ts"))]
fn limits(vhost: &Vhost) -> QueueLimits {
    QueueLimits {
        max_bytes: vhost.queue_max_bytes,
        max_duration_ms: i64::from(vhost.queue_length_ms),
    }
}

/// Opens a file without following a symlink in its last component (the planner resolved it).
fn open_no_follow(path: &std::path::Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
}
