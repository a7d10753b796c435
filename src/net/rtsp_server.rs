//! The RTSP server's connection driver: one task per player connection. It reads into the
//! thread's buffer, feeds `server::rtsp_server::RtspConn`, writes responses and media with
//! `writev`, waits for the hooks when a DESCRIBE asks them, and sleeps until the next
//! deadline (session timeout, a waiting DESCRIBE's next look, a sender report).

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::net::TcpStream;

use super::sock::read_some;
use super::{write_all, Clock, ConnGuards, Shared};
use crate::live::ClientId;
use crate::server::rtsp_server::RtspConn;
use crate::server::ConnLog;
use crate::session::rtsp_server::ServerSession;

/// Bytes read from the socket at once. RAM: one buffer per thread, shared by every RTSP
/// connection (the session copies what it keeps before the next await).
pub const READ_BUFFER: usize = 4 * 1024;

thread_local! {
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; READ_BUFFER]);
    /// RTSP connections open now, against `rtsp_server.max_sessions`.
    static SESSIONS: Cell<usize> = const { Cell::new(0) };
}

/// A connection's place under `rtsp_server.max_sessions`.
struct SessionGuard;

impl Drop for SessionGuard {
    fn drop(&mut self) {
        SESSIONS.with(|s| s.set(s.get().saturating_sub(1)));
    }
}

/// RTSP connections open now.
pub fn sessions() -> usize {
    SESSIONS.with(Cell::get)
}

/// The connection's task, or `None` (the connection is closed) past `max_sessions`.
pub fn run(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    guards: ConnGuards,
) -> Option<impl Future<Output = ()>> {
    let max = shared.ctx.config().rtsp_server_max_sessions;
    if sessions() >= max {
        log::warn!("refused RTSP {peer}: rtsp_server.max_sessions {max} reached");
        return None;
    }
    SESSIONS.with(|s| s.set(s.get() + 1));
    let session_guard = SessionGuard;
    let clock = shared.clock;
    let wall_epoch_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        .saturating_sub(clock.now_ms());
    let session = ServerSession::new(
        clock.now_ms(),
        shared.rng.next_u64(),
        shared.rng.next_u64() as u32,
    );
    let log = ConnLog::new(shared.rng.next_u64());
    log::debug!("[{}] accepted RTSP {peer} as client {id}", log.cid);
    let mut conn = RtspConn::new(
        id,
        log,
        peer,
        shared.ctx.clone(),
        session,
        clock.now_ms(),
        wall_epoch_ms,
    );
    let send_timeout = Duration::from_millis(u64::from(shared.ctx.config().idle_timeout_ms));
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    Some(async move {
        match drive(&mut stream, &mut conn, clock, send_timeout).await {
            Ok(()) => log::info!("[{}] RTSP {} closed", conn.log.cid, conn.peer),
            Err(e) => log::info!("[{}] RTSP {} closed: {e}", conn.log.cid, conn.peer),
        }
        conn.close(clock.now_ms());
        drop(session_guard);
        drop(guards);
    })
}

async fn drive(
    stream: &mut TcpStream,
    conn: &mut RtspConn,
    clock: Clock,
    send_timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut out: Vec<Bytes> = Vec::new();
    loop {
        loop {
            conn.take_output(clock.now_ms(), &mut out);
            if out.is_empty() {
                out = Vec::new();
                break;
            }
            let n: usize = out.iter().map(Bytes::len).sum();
            match tokio::time::timeout(send_timeout, write_all(stream, &mut out)).await {
                Ok(r) => r?,
                Err(_) => return Err("send timeout: the player does not read".into()),
            }
            conn.handle_sent(n);
        }
        if conn.is_done() {
            return Ok(());
        }
        let record = conn.registration.record.clone();
        #[cfg(feature = "hooks")]
        if let Some(call) = conn.take_call() {
            let decision = conn.hooks().decide(call);
            let answer = Box::pin(async move {
                tokio::select! {
                    answer = decision => Some(answer),
                    _ = poll_fn(|cx| record.poll_kicked(cx)) => None,
                }
            })
            .await;
            let Some(answer) = answer else {
                return Err("kicked through the API".into());
            };
            conn.decided(clock.now_ms(), answer);
            continue;
        }
        let queue = conn.queue();
        let deadline = conn.poll_timeout().unwrap_or(u64::MAX / 2);
        tokio::select! {
            _ = poll_fn(|cx| record.poll_kicked(cx)) => {
                return Err("kicked through the API".into());
            }
            ready = stream.readable() => {
                ready?;
                let n = READ_BUF.with_borrow_mut(|buf| match read_some(stream, buf) {
                    Ok(0) => Ok(Some(0)),
                    Ok(n) => conn
                        .handle_bytes(clock.now_ms(), &buf[..n])
                        .map(|()| Some(n))
                        .map_err(|e| -> Box<dyn std::error::Error> { e.into() }),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(e.into()),
                })?;
                if n == Some(0) {
                    return Ok(());
                }
            }
            _ = poll_fn(|cx| match &queue {
                Some(q) => q.borrow_mut().poll_ready(cx),
                None => Poll::Pending,
            }) => {}
            _ = tokio::time::sleep_until(clock.instant(deadline)) => {
                conn.handle_timeout(clock.now_ms());
            }
        }
    }
}
