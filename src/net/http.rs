//! The HTTP/1.1 connection driver, one task per connection: reads heads (bounded in size by
//! `wire::http::MAX_HEAD_LEN` and in time: `idle_timeout` before the first byte,
//! `handshake_timeout` after; `server::http::RequestReader` keeps the unparsed bytes and says
//! which), hands them to `server::http::HttpConn` and writes its answer:
//! in-memory bodies, files (and the pieces of a body) in `FILE_CHUNK` reads, or a live
//! player's output until it ends. A deferred answer's work runs on the disk thread first
//! (`Disk::plan`; 503 when the disk does not answer).
//! The HTTP server and the API's own port (`http_api.listen`) both run it, each with its
//! listener's route table (`server::http::Site`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::disk::Disk;
use super::{Clock, ConnGuards, Shared};
use crate::live::ClientId;
#[cfg(any(feature = "hooks", feature = "edge"))]
use crate::server::http::Call;
use crate::server::http::{
    Answer, Deferred, FileReads, HttpConn, HttpCtx, Piece, RequestReader, Response, Site,
};
use crate::server::ConnLog;
use crate::wire::http::RequestHead;

/// Bytes read from a file per write when serving static files and disk HLS segments. RAM: one
/// such buffer per connection sending a file.
pub const FILE_CHUNK: usize = 64 * 1024;

type Error = Box<dyn std::error::Error>;

/// A live HTTP-FLV/HTTP-TS player's loop.
mod live;
/// TCP or TLS, and the HTTPS connection's start.
mod stream;

#[cfg(feature = "tls")]
pub use stream::run_tls;
use stream::Stream;

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
    let (mut driver, registration) = start(stream, peer, id, shared, site);
    async move {
        let result = driver.serve().await;
        (driver.conn).closed(result.as_ref().err().map(|e| e as &dyn std::fmt::Display));
        drop((driver, registration, guards));
    }
}

/// The connection's driver over TCP, and its registration (held while it runs).
fn start(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    site: &'static Site,
) -> (Driver<TcpStream>, crate::server::stats::Registration) {
    let log = ConnLog::new(shared.rng.next_u64());
    let now_ms = shared.clock.now_ms();
    let (conn, registration) =
        HttpConn::accept(layer_ctx(shared, site), id, &log.cid, peer, now_ms);
    let driver = Driver {
        stream,
        conn,
        clock: shared.clock,
        disk: shared.disk.clone(),
        reader: RequestReader::default(),
    };
    (driver, registration)
}

struct Driver<S> {
    stream: S,
    conn: HttpConn,
    clock: Clock,
    /// File bodies are read by the disk thread (`net::disk`), never on the event loop.
    disk: Disk,
    /// Bytes read but not yet parsed (the next request head, a body).
    reader: RequestReader,
}

impl<S: Stream> Driver<S> {
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
                    Some(call) => super::unless_kicked(&self.conn.record, self.call(call))
                        .await
                        .ok_or("kicked through the API")?,
                    None => Err("no call".to_owned()),
                };
                answer = (self.conn).handle_decision(pending, verdict, self.clock.now_ms());
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

    /// The answer to a pending request's call: the hooks' decision about this client, or an
    /// edge's token traverse for this player (`net::edge::traverse`).
    #[cfg(any(feature = "hooks", feature = "edge"))]
    fn call(&self, call: Call) -> impl Future<Output = Result<(), String>> + 'static {
        #[cfg(feature = "hooks")]
        let hooks = self.conn.ctx.server.hooks.clone();
        #[cfg(feature = "edge")]
        let (clock, cid) = (self.clock, self.conn.record.cid.clone());
        async move {
            match call {
                #[cfg(feature = "hooks")]
                Call::Hook(call) => hooks.decide(call).await,
                #[cfg(feature = "edge")]
                Call::Traverse(call) => {
                    let answer = super::edge::traverse(call, clock).await;
                    if let Ok(origin) = &answer {
                        log::info!("[{cid}] edge token traverse: accepted by {origin}");
                    }
                    answer.map(|_| ())
                }
            }
        }
    }

    /// `handshake_timeout` or `idle_timeout` (also the send timeout): `HttpConn::timeout_ms`.
    fn timeout(&self, handshake: bool) -> Duration {
        Duration::from_millis(self.conn.timeout_ms(handshake))
    }

    /// The next request head; None when the peer closes between requests.
    async fn read_head(&mut self) -> Result<Option<RequestHead>, Error> {
        let handshake = self.reader.start_head();
        let mut deadline = tokio::time::Instant::now() + self.timeout(handshake);
        loop {
            match self.reader.poll_head(&self.conn.record) {
                Ok(Some(head)) => return Ok(Some(head)),
                Ok(None) => {}
                Err(e) => {
                    let refusal = self.conn.bad_head(e.status());
                    self.write(&mut vec![refusal]).await?;
                    return Err(format!("bad request head: {e}").into());
                }
            }
            let buf = self.reader.head_buf();
            match tokio::time::timeout_at(deadline, self.stream.read_buf(buf)).await {
                Err(_) => {
                    return self
                        .reader
                        .handle_head_end(false)
                        .map(|()| None)
                        .map_err(Into::into)
                }
                Ok(Ok(0)) => {
                    return self
                        .reader
                        .handle_head_end(true)
                        .map(|()| None)
                        .map_err(Into::into)
                }
                Ok(Ok(_)) => {
                    if self.reader.handle_head_read() {
                        // From the first byte on, the head must complete within handshake_timeout.
                        deadline = tokio::time::Instant::now() + self.timeout(true);
                    }
                }
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    /// Reads the `len` bytes of a request body (at most `http_server.max_body_bytes`, checked
    /// by `check_body`), within `handshake_timeout`.
    async fn read_body(&mut self, len: u64) -> Result<Bytes, Error> {
        let len = usize::try_from(len).map_err(|_| "request body too large")?;
        let timeout = self.timeout(true);
        while let Some(buf) = self.reader.body_buf(len) {
            match tokio::time::timeout(timeout, self.stream.read_buf(buf)).await {
                Ok(Ok(0)) => return Err("peer closed in the middle of a body".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err("request body not complete in time".into()),
            }
        }
        Ok(self.reader.take_body(len))
    }

    /// Writes `parts` within the send timeout (`idle_timeout`).
    async fn write(&mut self, parts: &mut Vec<Bytes>) -> Result<(), Error> {
        let n: usize = parts.iter().map(Bytes::len).sum();
        if !self.stream.write_now(parts)? {
            let timeout = self.timeout(false);
            match tokio::time::timeout(timeout, self.stream.write_all(parts)).await {
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
        let close = response.close;
        let (mut parts, pieces, fallback) = response.into_parts();
        if !self.send_pieces(&mut parts, pieces).await? {
            // Nothing went out: the fallback instead.
            parts = vec![fallback.unwrap_or_else(|| self.conn.pieces_failed(head))];
        }
        self.write(&mut parts).await?;
        Ok(close)
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
            let (path, mut reads) = match piece {
                Piece::Bytes(b) => {
                    parts.push(b);
                    continue;
                }
                Piece::File { path, start, len } => (path, FileReads::new(start, len)),
            };
            while let Some((offset, want)) = reads.next_read(FILE_CHUNK) {
                let chunk = match self.disk.read(path.clone(), offset, want).await {
                    Ok(chunk) => chunk,
                    Err(_) if !sent => return Ok(false),
                    Err(e) => return Err(e.into()),
                };
                let n = chunk.len() as u64;
                parts.push(chunk);
                self.write(parts).await?;
                sent = true;
                reads.handle_read(n)?;
            }
        }
        Ok(true)
    }
}

fn layer_ctx(shared: &Shared, site: &'static Site) -> HttpCtx {
    HttpCtx {
        server: shared.ctx.clone(),
        site,
        #[cfg(feature = "api")]
        api: crate::server::http::ApiCtx {
            settings: shared.api.clone(),
            // `/api/v1/gb28181/...`, answered by the GB28181 agent once it runs.
            #[cfg(feature = "gb28181")]
            extensions: vec![super::gb28181::api_extension(shared)],
            #[cfg(not(feature = "gb28181"))]
            extensions: Vec::new(),
        },
    }
}
