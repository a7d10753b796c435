//! ICE-TCP (RFC 6544, passive host candidates; SRS 5's WebRTC over TCP): the connections of
//! peers that reach `rtc_server.tcp.listen` (by default the UDP port's number), each an
//! RFC 4571 stream of the same packets a UDP peer sends as datagrams: STUN, DTLS and SRTP.
//! No socket and no clock: `net::rtc_tcp` reads into [`RtcServer::handle_tcp`], writes what
//! [`TcpConn::output`] holds and sleeps until [`TcpConn::deadline`].
//!
//! What a caller must know:
//! - At most `rtc_server.max_sessions` × [`TCP_CONNECTIONS_PER_SESSION`] connections; one more
//!   is refused at accept ([`RtcServer::tcp_accept`] gives `None`): close it.
//! - A frame longer than [`MAX_TCP_FRAME`] closes the connection as soon as its length is
//!   read (a browser's packets fit an MTU, as over UDP); so does a stream that no session takes
//!   a frame of within [`TCP_FIRST_FRAME_MS`] (garbage, a port scan), and one silent for
//!   [`TCP_IDLE_MS`] after that (a browser sends ICE consent checks every few seconds).
//! - Output: str0m's transmits to the connection's peer are framed into one buffer of at most
//!   [`TCP_OUT_BYTES`]; a packet that does not fit is dropped whole (counted in
//!   [`TcpConn::dropped`]), so the stream stays framed and a slow peer costs a bounded
//!   buffer; NACKs recover what video needs, as after a UDP loss.
//! - A connection is told apart by its peer address: str0m's transmits name only the peer.

use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};

use super::{RtcServer, MAX_DATAGRAM};
use crate::wire::rtp::{encode_frame, FrameDecoder, RtpError, FRAME_HEADER_LEN};

/// The longest RFC 4571 frame read: what a datagram may be (ICE, DTLS and SRTP fit an MTU).
pub const MAX_TCP_FRAME: usize = MAX_DATAGRAM;
/// Framed packets waiting for a slow peer at most; past it packets are dropped. RAM: per
/// connection at worst; 256 KiB is about one second of a 2 Mbit/s stream.
pub const TCP_OUT_BYTES: usize = 256 * 1024;
/// TCP connections per session: a browser opens one per local address it tries, and the
/// losers of the race close once ICE has picked; this leaves room for that.
pub const TCP_CONNECTIONS_PER_SESSION: usize = 2;
/// A connection that no session has taken a frame of this long after accept is closed.
pub const TCP_FIRST_FRAME_MS: u64 = 5_000;
/// A connection silent this long (after its first frame) is closed.
pub const TCP_IDLE_MS: u64 = 30_000;
/// Input held between reads: a partial frame of at most [`MAX_TCP_FRAME`] and its length,
/// beside one read of the driver's buffer.
pub const TCP_INPUT_BYTES: usize = FRAME_HEADER_LEN + MAX_TCP_FRAME;
/// One connection at worst: its input and its output buffer.
pub const TCP_CONNECTION_BYTES: usize = TCP_INPUT_BYTES + TCP_OUT_BYTES;

/// Why a TCP connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TcpClose {
    #[error("{0}")]
    Frame(RtpError),
    #[error("no session took a frame within {TCP_FIRST_FRAME_MS} ms")]
    NothingValid,
    #[error("silent for {TCP_IDLE_MS} ms")]
    Idle,
    #[error("no such connection")]
    Gone,
}

/// One ICE-TCP connection's framing and buffers.
#[derive(Debug)]
pub struct TcpConn {
    pub id: u64,
    pub peer: SocketAddr,
    /// Our address on it (str0m's destination of what it sends).
    pub local: SocketAddr,
    decoder: FrameDecoder,
    input: BytesMut,
    out: BytesMut,
    /// Some session took one of its frames.
    valid: bool,
    /// Server ms by which the next valid frame must come.
    close_by: u64,
    waker: Option<Waker>,
    /// Packets dropped because [`TCP_OUT_BYTES`] were waiting.
    pub dropped: u64,
}

impl TcpConn {
    pub fn new(id: u64, peer: SocketAddr, local: SocketAddr, now_ms: u64) -> TcpConn {
        TcpConn {
            id,
            peer,
            local,
            decoder: FrameDecoder::any_payload(MAX_TCP_FRAME),
            input: BytesMut::new(),
            out: BytesMut::new(),
            valid: false,
            close_by: now_ms.saturating_add(TCP_FIRST_FRAME_MS),
            waker: None,
            dropped: 0,
        }
    }

    /// Bytes read off the socket: the whole frames they complete (the rest waits for the next
    /// read), or why the connection must close.
    pub fn handle_bytes(&mut self, data: &[u8]) -> Result<Vec<Bytes>, TcpClose> {
        self.input.extend_from_slice(data);
        let mut frames = Vec::new();
        while let Some(frame) = self
            .decoder
            .decode(&mut self.input)
            .map_err(TcpClose::Frame)?
        {
            frames.push(frame);
        }
        Ok(frames)
    }

    /// A session took a frame: the connection is a peer's, and alive until `now_ms` plus
    /// [`TCP_IDLE_MS`].
    pub fn handle_valid(&mut self, now_ms: u64) {
        self.valid = true;
        self.close_by = now_ms.saturating_add(TCP_IDLE_MS);
    }

    /// One packet to send: framed into the output, or dropped (false) when it does not fit.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        if self.out.len() + FRAME_HEADER_LEN + packet.len() > TCP_OUT_BYTES
            || encode_frame(packet, &mut self.out).is_err()
        {
            self.dropped += 1;
            return false;
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        true
    }

    /// Ready when there is output; otherwise `cx` is woken when some is pushed.
    pub fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.out.is_empty() {
            return Poll::Ready(());
        }
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// What waits to be written.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// `n` bytes of [`TcpConn::output`] were written.
    pub fn consume(&mut self, n: usize) {
        self.out.advance(n.min(self.out.len()));
    }

    /// Server ms of the next check.
    pub fn deadline(&self) -> u64 {
        self.close_by
    }

    /// Whether the connection must close by `now_ms`.
    pub fn handle_timeout(&self, now_ms: u64) -> Result<(), TcpClose> {
        match (now_ms >= self.close_by, self.valid) {
            (false, _) => Ok(()),
            (true, false) => Err(TcpClose::NothingValid),
            (true, true) => Err(TcpClose::Idle),
        }
    }
}

impl RtcServer {
    /// A TCP connection from `peer` to our `local`: its id, or `None` past `max` connections
    /// (close it).
    pub fn tcp_accept(
        &mut self,
        peer: SocketAddr,
        local: SocketAddr,
        max: usize,
        now_ms: u64,
    ) -> Option<u64> {
        if self.tcp.len() >= max {
            return None;
        }
        self.next_tcp_id = self.next_tcp_id.wrapping_add(1);
        let id = self.next_tcp_id;
        self.tcp.push(TcpConn::new(id, peer, local, now_ms));
        Some(id)
    }

    /// The connection `id`, while it is open.
    pub fn tcp_conn(&mut self, id: u64) -> Option<&mut TcpConn> {
        self.tcp.iter_mut().find(|c| c.id == id)
    }

    /// The driver closed connection `id`.
    pub fn tcp_closed(&mut self, id: u64) {
        if let Some(i) = self.tcp.iter().position(|c| c.id == id) {
            let c = self.tcp.swap_remove(i);
            if c.dropped > 0 {
                log::info!(
                    "rtc: TCP connection from {} dropped {} packets (slow peer)",
                    c.peer,
                    c.dropped
                );
            }
        }
    }

    /// TCP connections open.
    pub fn tcp_len(&self) -> usize {
        self.tcp.len()
    }

    /// Bytes read on connection `id`: each whole frame goes to the session that takes it, as
    /// a datagram would; `Err`: close the connection.
    pub fn handle_tcp(&mut self, now_ms: u64, id: u64, data: &[u8]) -> Result<(), TcpClose> {
        let conn = self.tcp_conn(id).ok_or(TcpClose::Gone)?;
        let (peer, local) = (conn.peer, conn.local);
        let frames = conn.handle_bytes(data)?;
        let mut valid = false;
        for frame in frames {
            valid |= self.handle_receive(now_ms, str0m::net::Protocol::Tcp, peer, local, &frame);
        }
        if valid {
            if let Some(conn) = self.tcp_conn(id) {
                conn.handle_valid(now_ms);
            }
            // The session's deadline may have moved: the UDP driver keeps the timers.
            self.wake();
        }
        self.route_tcp();
        Ok(())
    }

    /// Moves the TCP transmits waiting in the output to their connections (by peer address);
    /// one whose connection is gone is dropped.
    pub(super) fn route_tcp(&mut self) {
        if !self
            .out
            .iter()
            .any(|t| t.proto != str0m::net::Protocol::Udp)
        {
            return;
        }
        let mut udp = Vec::with_capacity(self.out.len());
        for t in std::mem::take(&mut self.out) {
            if t.proto == str0m::net::Protocol::Udp {
                udp.push(t);
                continue;
            }
            match self.tcp.iter_mut().find(|c| c.peer == t.to) {
                Some(c) => {
                    c.push(&t.data);
                }
                None => self.dropped_transmits += 1,
            }
        }
        self.out = udp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> TcpConn {
        let peer: SocketAddr = "192.168.1.9:50000".parse().unwrap();
        let local: SocketAddr = "192.168.1.5:8000".parse().unwrap();
        TcpConn::new(1, peer, local, 1_000)
    }

    #[test]
    fn frames_are_cut_at_every_byte() {
        let stun = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        let mut stream = Vec::new();
        encode_frame(&stun, &mut stream).unwrap();
        encode_frame(&[0x16; 100], &mut stream).unwrap();
        for split in 0..=stream.len() {
            let mut c = conn();
            let mut frames = c.handle_bytes(&stream[..split]).unwrap();
            frames.extend(c.handle_bytes(&stream[split..]).unwrap());
            assert_eq!(frames.len(), 2, "split at {split}");
            assert_eq!(&frames[0][..], &stun);
            assert_eq!(frames[1].len(), 100);
        }
    }

    #[test]
    fn an_oversize_frame_closes_at_its_length() {
        let mut c = conn();
        let len = (MAX_TCP_FRAME + 1) as u16;
        assert_eq!(
            c.handle_bytes(&len.to_be_bytes()),
            Err(TcpClose::Frame(RtpError::FrameOversize {
                length: MAX_TCP_FRAME + 1,
                max: MAX_TCP_FRAME
            }))
        );
        // A frame of the limit passes.
        let mut c = conn();
        let mut stream = Vec::new();
        encode_frame(&[0x17; MAX_TCP_FRAME], &mut stream).unwrap();
        assert_eq!(c.handle_bytes(&stream).unwrap().len(), 1);
    }

    #[test]
    fn nothing_valid_then_idle() {
        let mut c = conn();
        assert_eq!(c.handle_timeout(1_000 + TCP_FIRST_FRAME_MS - 1), Ok(()));
        assert_eq!(c.deadline(), 1_000 + TCP_FIRST_FRAME_MS);
        assert_eq!(
            c.handle_timeout(1_000 + TCP_FIRST_FRAME_MS),
            Err(TcpClose::NothingValid)
        );
        c.handle_valid(3_000);
        assert_eq!(c.handle_timeout(3_000 + TCP_IDLE_MS - 1), Ok(()));
        assert_eq!(c.handle_timeout(3_000 + TCP_IDLE_MS), Err(TcpClose::Idle));
    }

    #[test]
    fn output_is_framed_and_bounded() {
        let mut c = conn();
        let packet = [0x80u8; 1200];
        let fits = TCP_OUT_BYTES / (packet.len() + FRAME_HEADER_LEN);
        for _ in 0..fits {
            assert!(c.push(&packet));
        }
        assert!(!c.push(&packet));
        assert_eq!(c.dropped, 1);
        assert!(c.output().len() <= TCP_OUT_BYTES);
        assert_eq!(&c.output()[..2], &1200u16.to_be_bytes());
        // A partial write keeps the rest in order; then room comes back.
        c.consume(2);
        assert_eq!(c.output()[0], 0x80);
        c.consume(1200);
        assert!(c.push(&packet));
        assert_eq!(c.output().len(), fits * (packet.len() + FRAME_HEADER_LEN));
    }

    #[test]
    fn connections_are_bounded_and_transmits_find_theirs() {
        let mut server = RtcServer::new();
        let local: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let a: SocketAddr = "127.0.0.1:50001".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:50002".parse().unwrap();
        let id = server.tcp_accept(a, local, 1, 0).unwrap();
        assert_eq!(server.tcp_accept(b, local, 1, 0), None);
        let tx = |proto, to| super::super::Transmit {
            proto,
            to,
            data: vec![1, 2, 3],
        };
        server.out.push(tx(str0m::net::Protocol::Tcp, a));
        server.out.push(tx(str0m::net::Protocol::Udp, a));
        server.out.push(tx(str0m::net::Protocol::Tcp, b));
        server.route_tcp();
        assert_eq!(server.take_transmits(), vec![(a, vec![1, 2, 3])]);
        assert_eq!(server.dropped_transmits, 1);
        assert_eq!(server.tcp_conn(id).unwrap().output(), &[0, 3, 1, 2, 3]);
        // Garbage that no session takes is not an error until the first-frame deadline.
        assert_eq!(server.handle_tcp(10, id, &[0, 2, 0xde, 0xad]), Ok(()));
        assert_eq!(
            server
                .tcp_conn(id)
                .unwrap()
                .handle_timeout(TCP_FIRST_FRAME_MS),
            Err(TcpClose::NothingValid)
        );
        server.tcp_closed(id);
        assert_eq!(server.tcp_len(), 0);
        assert_eq!(server.handle_tcp(10, id, &[]), Err(TcpClose::Gone));
    }
}
