//! The WebRTC driver: one task owns the UDP port (`rtc_server.listen`) of every WebRTC peer.
//! It reads datagrams (at most `server::rtc::MAX_DATAGRAM` bytes) into `server::rtc::RtcServer`,
//! sends what it hands out, and sleeps until the sessions' next deadline, a datagram, a new
//! session or a player's queued media. It runs the timers and media of ICE-TCP sessions too:
//! what they send goes to their connections' buffers (`net::rtc_tcp` writes them). Policy and
//! protocol live in `server::rtc` (and str0m).

use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;

use tokio::net::UdpSocket;

use super::{Clock, Shared};
use crate::server::rtc::{dtls_cert, MAX_DATAGRAM};

/// How long the driver sleeps when no session has a deadline (a spare wake-up is harmless).
const IDLE_MS: u64 = 1_000;

/// Binds the port (before privileges are dropped).
pub async fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(addr).await
}

/// Runs the port until the process ends.
pub async fn run(socket: UdpSocket, shared: Shared) {
    let clock: Clock = shared.clock;
    let ctx = shared.ctx.clone();
    let Ok(local) = socket.local_addr() else {
        log::error!("rtc: the UDP socket has no address");
        return;
    };
    // The DTLS certificate: a P-256 key from the kernel's random bytes (a draw that is not a
    // valid scalar, about 2^-32 of them, is drawn again).
    let cert = loop {
        let mut secret = [0u8; 32];
        let mut serial = [0u8; 16];
        if let Err(e) = getrandom::getrandom(&mut secret) {
            log::error!("rtc: no random bytes for the DTLS key: {e}");
            return;
        }
        shared.rng.fill(&mut serial);
        if let Some(cert) = dtls_cert(&secret, &serial) {
            break cert;
        }
    };
    ctx.rtc
        .borrow_mut()
        .bound(local, clock.instant(0).into_std(), cert);
    log::info!("WebRTC listening on udp {local}");
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let deadline = ctx.rtc.borrow().poll_timeout();
        let now = clock.now_ms();
        let until = deadline.unwrap_or(now + IDLE_MS).max(now);
        let sleep = tokio::time::sleep_until(clock.instant(until));
        tokio::pin!(sleep);
        let media = poll_fn(|cx| {
            let mut rtc = ctx.rtc.borrow_mut();
            rtc.set_waker(cx.waker());
            match rtc.poll_media(cx) {
                Poll::Ready(()) => Poll::Ready(()),
                Poll::Pending => Poll::Pending,
            }
        });
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    let data = buf.get(..n).unwrap_or_default();
                    ctx.rtc.borrow_mut().handle_datagram(clock.now_ms(), peer, data);
                }
                Err(e) => log::debug!("rtc: recv: {e}"),
            },
            _ = &mut sleep => {}
            _ = media => {}
        }
        ctx.rtc
            .borrow_mut()
            .handle_timeout(&ctx.hub, clock.now_ms());
        let out = ctx.rtc.borrow_mut().take_transmits();
        for (to, data) in out {
            // UDP: a full socket buffer drops the datagram (NACKs recover video).
            if let Err(e) = socket.try_send_to(&data, to) {
                log::debug!("rtc: send to {to}: {e}");
            }
        }
    }
}
