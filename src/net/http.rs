//! The HTTP/1.1 connection driver, one task per connection: reads heads (bounded in size by
//! `wire::http::MAX_HEAD_LEN` and in time: `idle_timeout` before the first byte,
//! `handshake_timeout` after), hands them to `server::http::HttpConn` and writes its answer:
//! in-memory bodies, files (and the pieces of a body) in `FILE_CHUNK` reads, or a live
//! player's output until it ends. A deferred answer's work runs on the disk thread first
//! (`Disk::plan`; 503 when the disk does not answer).
//! The HTTP server and the API's own port (`http_api.listen`) both run it, each with its
//! listener's route table (`server::http::Site`).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::disk::Disk;
use super::{write_all, write_now, Clock, ConnGuards, Shared};
use crate::live::ClientId;
#[cfg(any(feature = "hooks", feature = "edge"))]
use crate::server::http::Call;
use crate::server::http::{
    Answer, Body, Deferred, FileBody, HttpConn, HttpCtx, LivePlayer, Piece, Response, Site,
};
use crate::server::stats::{ClientRecord, Registration};
use crate::server::ConnLog;
use crate::wire::http::{decode_request_head, RequestHead};

/// Bytes read from a file per write when serving static files and disk HLS segments. RAM: one
/// such buffer per connection sending a file.
pub const FILE_CHUNK: usize = 64 * 1024;

/// Bytes reserved per read of a request head (capped at `wire::http::MAX_HEAD_LEN`) or body.
/// RAM: per connection while it reads a request; freed once what was read is parsed.
const HEAD_READ: usize = 4096;

/// Bytes read at once from a live player, which sends nothing we need (on the stack, not in
/// the connection's task).
const LIVE_READ: usize = 512;

/// How long a live player sleeps when its layer has no deadline (a spare wake-up is harmless).
const NO_DEADLINE_MS: u64 = 3_600_000;

type Error = Box<dyn std::error::Error>;

/// Sets up a connection accepted by the listener of `site` and returns its task, which holds
/// what the connection needs while it runs and its place under `max_connections` (`guards`);
/// the setup's temporaries stay out of it (see `net::rtmp::run`).
pub fn run(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    site: &'static Site,
    guards: ConnGuards,
) -> impl Future<Output = ()> {
    let log = ConnLog::new(shared.rng.next_u64());
    let record = ClientRecord::new(id, &log.cid, peer, shared.clock.now_ms());
    let registration = Registration::new(shared.ctx.clients.clone(), record);
    let mut driver = Driver {
        stream,
        conn: HttpConn::new(layer_ctx(shared, site), registration.record.clone()),
        clock: shared.clock,
        disk: shared.disk.clone(),
        buf: BytesMut::new(),
    };
    async move {
        let result = driver.serve().await;
        let record = &registration.record;
        match result {
            Ok(()) => log::debug!("[{}] HTTP {} closed", record.cid, record.peer),
            Err(e) => {
                log::info!("[{}] HTTP {} closed: {e}", record.cid, record.peer);
                record.fail();
            }
        }
        drop((driver, registration, guards));
    }
}

struct Driver {
    stream: TcpStream,
    conn: HttpConn,
    clock: Clock,
    /// File bodies are read by the disk thread (`net::disk`), never on the event loop.
    disk: Disk,
    /// Bytes read but not yet parsed (the next request head); freed whenever all are parsed.
    buf: BytesMut,
}

impl Driver {
    async fn serve(&mut self) -> Result<(), Error> {
        loop {
            let Some(head) = self.read_head().await? else {
                return Ok(());
            };
            match self.conn.check_body(&head) {
                Ok(len) => self.conn.body = self.read_body(len).await?,
                Err(refusal) => {
                    self.write(&mut vec![refusal]).await?;
                    return Err("request body over the limit".into());
                }
            }
            #[allow(unused_mut)]
            let mut answer = self.conn.handle_request(&head, self.clock.now_ms());
            #[cfg(any(feature = "hooks", feature = "edge"))]
            while let Answer::Decide(mut pending) = answer {
                let verdict = match pending.take_call() {
                    #[cfg(feature = "hooks")]
                    Some(Call::Hook(call)) => self.decide(call).await?,
                    #[cfg(feature = "edge")]
                    Some(Call::Traverse(call)) => self.traverse(call).await?,
                    None => Err("no call".to_owned()),
                };
                if verdict.is_err() {
                    self.conn.record.fail();
                }
                answer = pending.decided(&mut self.conn, verdict, self.clock.now_ms());
            }
            let close = match answer {
                Answer::Response(response) => self.send(response, &head).await?,
                Answer::Deferred(deferred) => {
                    let response = self.run_deferred(deferred, &head).await;
                    self.send(response, &head).await?
                }
                Answer::Live(mut player) => {
                    let result = self.stream_live(&mut player).await;
                    player.close(self.clock.now_ms());
                    result.map(|()| true)?
                }
                #[cfg(any(feature = "hooks", feature = "edge"))]
                Answer::Decide(_) => true,
            };
            if close {
                let _ = self.stream.shutdown().await;
                return Ok(());
            }
        }
    }

    /// Waits for the hooks' answer about this client (boxed: the task does not grow by it);
    /// a kick ends the wait.
    #[cfg(feature = "hooks")]
    async fn decide(
        &mut self,
        call: crate::server::hooks::HookCall,
    ) -> Result<Result<(), String>, Error> {
        let decision = self.conn.ctx.server.hooks.decide(call);
        let record = self.conn.record.clone();
        let answer = Box::pin(async move {
            tokio::select! {
                answer = decision => Some(answer),
                _ = poll_fn(|cx| record.poll_kicked(cx)) => None,
            }
        })
        .await;
        answer.ok_or_else(|| "kicked through the API".into())
    }

    /// An edge's token traverse for this player (`net::edge::traverse`); a kick ends the
    /// wait.
    #[cfg(feature = "edge")]
    async fn traverse(
        &mut self,
        call: crate::server::edge::TraverseCall,
    ) -> Result<Result<(), String>, Error> {
        let (clock, record) = (self.clock, self.conn.record.clone());
        let answer = Box::pin(async move {
            tokio::select! {
                answer = super::edge::traverse(call, clock) => Some(answer),
                _ = poll_fn(|cx| record.poll_kicked(cx)) => None,
            }
        })
        .await;
        let answer = answer.ok_or("kicked through the API")?;
        if let Ok(origin) = &answer {
            log::info!(
                "[{}] edge token traverse: accepted by {origin}",
                self.conn.record.cid
            );
        }
        Ok(answer.map(|_| ()))
    }

    /// `handshake_timeout` or `idle_timeout` (also the send timeout): `HttpConn::timeout_ms`.
    fn timeout(&self, handshake: bool) -> Duration {
        Duration::from_millis(self.conn.timeout_ms(handshake))
    }

    /// The next request head; None when the peer closes between requests.
    async fn read_head(&mut self) -> Result<Option<RequestHead>, Error> {
        let first = self.buf.is_empty();
        let mut deadline = tokio::time::Instant::now() + self.timeout(!first);
        let mut started = !first;
        loop {
            match decode_request_head(&self.buf) {
                Ok(Some((head, used))) => {
                    self.buf.advance(used);
                    self.conn.record.recv.add(used as u64);
                    if self.buf.is_empty() {
                        // Not kept through a response, least of all a live one that lasts.
                        self.buf = BytesMut::new();
                    }
                    return Ok(Some(head));
                }
                Ok(None) => {}
                Err(e) => {
                    let refusal = self.conn.bad_head(e.status());
                    self.write(&mut vec![refusal]).await?;
                    return Err(format!("bad request head: {e}").into());
                }
            }
            self.buf.reserve(HEAD_READ);
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await;
            match read {
                Err(_) if !started && self.buf.is_empty() => return Ok(None),
                Err(_) => {
                    return Err("request head not complete in time (handshake_timeout)".into())
                }
                Ok(Ok(0)) if self.buf.is_empty() => return Ok(None),
                Ok(Ok(0)) => return Err("peer closed in the middle of a request head".into()),
                Ok(Ok(_)) if !started => {
                    // From the first byte on, the head must complete within handshake_timeout.
                    started = true;
                    deadline = tokio::time::Instant::now() + self.timeout(true);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Reads the `len` bytes of a request body (at most `http_server.max_body_bytes`, checked
    /// by `check_body`), within `handshake_timeout`.
    async fn read_body(&mut self, len: u64) -> Result<Bytes, Error> {
        let len = usize::try_from(len).map_err(|_| "request body too large")?;
        let timeout = self.timeout(true);
        while self.buf.len() < len {
            self.buf.reserve(HEAD_READ.min(len - self.buf.len()));
            match tokio::time::timeout(timeout, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) => return Err("peer closed in the middle of a body".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err("request body not complete in time".into()),
            }
        }
        Ok(self.buf.split_to(len).freeze())
    }

    /// Writes `parts` within the send timeout (`idle_timeout`).
    async fn write(&mut self, parts: &mut Vec<Bytes>) -> Result<(), Error> {
        let n: usize = parts.iter().map(Bytes::len).sum();
        if !write_now(&self.stream, parts)? {
            let timeout = self.timeout(false);
            match tokio::time::timeout(timeout, write_all(&mut self.stream, parts)).await {
                Ok(r) => r?,
                Err(_) => return Err("send timeout: the peer does not read".into()),
            }
        }
        parts.clear();
        self.conn.record.send.add(n as u64);
        Ok(())
    }

    /// Runs a handler's disk work on the disk thread, then its `finish` (or, when the disk
    /// does not answer in time or is gone, `HttpConn::disk_failed`).
    async fn run_deferred(&mut self, deferred: Deferred, head: &RequestHead) -> Response {
        match self.disk.plan(deferred.work).await {
            Ok(result) => (deferred.finish)(&mut self.conn, head, result),
            Err(e) => self.conn.disk_failed(head, &e),
        }
    }

    /// Sends a response; true when the connection closes after it.
    async fn send(&mut self, response: Response, head: &RequestHead) -> Result<bool, Error> {
        let mut parts = vec![response.head];
        match response.body {
            Body::Empty => {}
            Body::Bytes(b) => parts.push(b),
            Body::Shared(mut chunks) => parts.append(&mut chunks),
            Body::File(file) => self.send_file(&mut parts, file).await?,
            Body::Pieces(pieces) => {
                if !self.send_pieces(&mut parts, pieces).await? {
                    // Nothing went out: the fallback instead.
                    parts = vec![self.conn.pieces_failed(head)];
                }
            }
        }
        self.write(&mut parts).await?;
        Ok(response.close)
    }

    /// Sends `parts` (the head) and the pieces in order, files in `FILE_CHUNK` reads; false
    /// (nothing sent) when a file's first read fails before any write; a file that shrank or
    /// fails later closes the connection.
    async fn send_pieces(
        &mut self,
        parts: &mut Vec<Bytes>,
        pieces: Vec<Piece>,
    ) -> Result<bool, Error> {
        let mut sent = false;
        for piece in pieces {
            let (path, mut offset, mut left) = match piece {
                Piece::Bytes(b) => {
                    parts.push(b);
                    continue;
                }
                Piece::File { path, start, len } => (path, start, len),
            };
            while left > 0 {
                let want = FILE_CHUNK.min(usize::try_from(left).unwrap_or(FILE_CHUNK));
                let chunk = match self.disk.read(path.clone(), offset, want).await {
                    Ok(chunk) => chunk,
                    Err(_) if !sent => return Ok(false),
                    Err(e) => return Err(e.into()),
                };
                let n = chunk.len() as u64;
                parts.push(chunk);
                self.write(parts).await?;
                sent = true;
                if n == 0 {
                    return Err("file shrank while it was sent".into());
                }
                (offset, left) = (offset + n, left.saturating_sub(n));
            }
        }
        Ok(true)
    }

    /// Sends `parts` (the head) and the file; only the fallback when the first read fails.
    async fn send_file(&mut self, parts: &mut Vec<Bytes>, file: FileBody) -> Result<(), Error> {
        let piece = Piece::File {
            path: file.path,
            start: file.start,
            len: file.len,
        };
        if !self.send_pieces(parts, vec![piece]).await? {
            *parts = vec![file.fallback];
        }
        Ok(())
    }

    /// Runs a live player until it is done, the player leaves (EOF) or is kicked.
    async fn stream_live(&mut self, player: &mut LivePlayer) -> Result<(), Error> {
        let queue = player.queue().clone();
        let record = self.conn.record.clone();
        let mut out = Vec::new();
        loop {
            player.poll_transmit(self.clock.now_ms(), &mut out);
            if !out.is_empty() {
                self.write(&mut out).await?;
            }
            // A batch's slots live as long as its write: an idle player holds none.
            out = Vec::new();
            if player.is_done() {
                return Ok(());
            }
            let idle = self.clock.now_ms() + NO_DEADLINE_MS;
            let deadline = player.poll_timeout().unwrap_or(idle);
            tokio::select! {
                _ = poll_fn(|cx| queue.borrow_mut().poll_ready(cx)) => {
                    if let Some(mw) = player.merge_latency_ms() {
                        super::merge_wait(&queue, mw).await;
                    }
                }
                ready = self.stream.readable() => {
                    // A player sends nothing more; EOF or an error means it left.
                    if ready.is_err() {
                        return Ok(());
                    }
                    let mut scratch = [0u8; LIVE_READ];
                    match self.stream.try_read(&mut scratch) {
                        Ok(0) => return Ok(()),
                        Ok(n) => record.recv.add(n as u64),
                        // Readiness can be spurious: wait again.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return Ok(()),
                    }
                }
                _ = poll_fn(|cx| record.poll_kicked(cx)) => return Err("kicked through the API".into()),
                _ = tokio::time::sleep_until(self.clock.instant(deadline)) => {
                    player.handle_timeout(self.clock.now_ms(), &mut out);
                }
            }
        }
    }
}

fn layer_ctx(shared: &Shared, site: &'static Site) -> HttpCtx {
    HttpCtx {
        server: shared.ctx.clone(),
        site,
        #[cfg(feature = "api")]
        api: crate::server::http::ApiCtx {
            settings: shared.api.clone(),
            extensions: api_extensions(shared),
        },
    }
}

#[cfg(all(feature = "api", not(feature = "gb28181")))]
const fn api_extensions(_: &Shared) -> Vec<crate::server::http::ApiExtension> {
    Vec::new()
}

/// `/api/v1/gb28181/...`, answered by the GB28181 agent once it runs.
#[cfg(all(feature = "api", feature = "gb28181"))]
fn api_extensions(shared: &Shared) -> Vec<crate::server::http::ApiExtension> {
    use crate::server::gb28181::api;
    let shared = shared.clone();
    let answer = move |now_ms: u64, path: &str| {
        let gb = shared.gb.borrow().clone();
        let (body, code) = match &gb {
            Some(gb) => api::handle(&mut gb.borrow_mut().agent, now_ms, path),
            None => ("{}".to_owned(), api::CODE_NOT_FOUND),
        };
        // A command (an invite, a bye) leaves now rather than at the agent's next tick.
        if let Some(gb) = &gb {
            crate::net::gb28181::pump(gb, &shared);
        }
        (body, i32::try_from(code).unwrap_or(i32::MAX))
    };
    let answer = std::rc::Rc::new(answer);
    vec![crate::server::http::ApiExtension {
        prefix: "/api/v1/gb28181",
        answer,
    }]
}
