//! The ICE-TCP driver: the TCP listener of WebRTC (`rtc_server.tcp.listen`, by default the UDP
//! port's address) and one task per connection. A task reads into the thread's buffer and
//! hands the bytes to `server::rtc::RtcServer::handle_tcp`, writes the framed output its
//! connection holds, and sleeps until the connection's deadline; framing, limits and timeouts
//! are `server::rtc::tcp`'s.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use tokio::net::{TcpListener, TcpStream};

use super::{Clock, Shared};
use crate::server::rtc::tcp::TCP_CONNECTIONS_PER_SESSION;
use crate::server::ServerCtx;

/// Bytes read from a connection at once. RAM: one buffer per thread, shared by every
/// connection (`handle_tcp` copies what it keeps before the next await).
pub const READ_BUFFER: usize = 4 * 1024;

thread_local! {
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; READ_BUFFER]);
}

/// Binds the listener (before privileges are dropped).
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    super::bind(addr).await
}

/// Accepts connections until the process ends.
pub async fn run(listener: TcpListener, shared: Shared) {
    let clock = shared.clock;
    let ctx = shared.ctx.clone();
    let Ok(local) = listener.local_addr() else {
        log::error!("rtc: the TCP listener has no address");
        return;
    };
    ctx.rtc.borrow_mut().tcp_bound(local);
    log::info!("WebRTC listening on tcp {local}");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: try again shortly rather than spin.
                log::warn!("rtc: TCP accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let max = ctx
            .config()
            .rtc_server_max_sessions
            .saturating_mul(TCP_CONNECTIONS_PER_SESSION);
        let to = stream.local_addr().unwrap_or(local);
        let Some(id) = ctx
            .rtc
            .borrow_mut()
            .tcp_accept(peer, to, max, clock.now_ms())
        else {
            log::warn!("rtc: refused TCP {peer}: {max} WebRTC TCP connections open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        tokio::task::spawn_local(async move {
            let why = drive(&stream, id, &ctx, clock).await;
            log::debug!("rtc: TCP connection from {peer} closed: {why}");
            ctx.rtc.borrow_mut().tcp_closed(id);
        });
    }
}

/// Runs one connection until it closes: why it did.
async fn drive(stream: &TcpStream, id: u64, ctx: &ServerCtx, clock: Clock) -> String {
    loop {
        let (deadline, pending) = match ctx.rtc.borrow_mut().tcp_conn(id) {
            Some(c) => (c.deadline(), !c.output().is_empty()),
            None => return "ended".to_owned(),
        };
        let sleep = tokio::time::sleep_until(clock.instant(deadline));
        let output = poll_fn(|cx| match ctx.rtc.borrow_mut().tcp_conn(id) {
            Some(c) => c.poll_output(cx),
            None => Poll::Ready(()),
        });
        tokio::select! {
            r = stream.readable() => {
                if let Err(e) = r {
                    return e.to_string();
                }
                let read = READ_BUF.with(|buf| {
                    let mut buf = buf.borrow_mut();
                    match stream.try_read(&mut buf) {
                        Ok(0) => Err("closed by the peer".to_owned()),
                        Ok(n) => ctx
                            .rtc
                            .borrow_mut()
                            .handle_tcp(clock.now_ms(), id, buf.get(..n).unwrap_or_default())
                            .map_err(|e| e.to_string()),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                        Err(e) => Err(e.to_string()),
                    }
                });
                if let Err(why) = read {
                    return why;
                }
            }
            r = stream.writable(), if pending => {
                if let Err(e) = r {
                    return e.to_string();
                }
                let mut rtc = ctx.rtc.borrow_mut();
                let Some(c) = rtc.tcp_conn(id) else {
                    return "ended".to_owned();
                };
                match stream.try_write(c.output()) {
                    Ok(n) => c.consume(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return e.to_string(),
                }
            }
            _ = output, if !pending => {}
            _ = sleep => {
                let now = clock.now_ms();
                if let Some(Err(e)) = ctx.rtc.borrow_mut().tcp_conn(id).map(|c| c.handle_timeout(now)) {
                    return e.to_string();
                }
            }
        }
    }
}
