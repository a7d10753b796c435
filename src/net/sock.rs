//! Socket calls tokio does not offer, shared by the connection drivers: `SO_RCVLOWAT` (merged
//! read), a `recv` that ignores tokio's readiness, and a read that clears readiness after a
//! short read.

use std::io;
use std::os::fd::AsRawFd;

use nix::sys::socket::MsgFlags;
use nix::{libc, setsockopt_impl, sockopt_impl};
use tokio::io::Interest;
use tokio::net::TcpStream;

sockopt_impl!(
    /// `SO_RCVLOWAT` (socket(7)), which nix does not define: the bytes a socket must hold
    /// before poll reports it readable (a non-blocking read still returns fewer).
    RcvLowat,
    SetOnly,
    libc::SOL_SOCKET,
    libc::SO_RCVLOWAT,
    usize
);

/// `recv` on the (non-blocking) socket, whatever tokio thinks of its readiness.
pub fn recv(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    nix::sys::socket::recv(stream.as_raw_fd(), buf, MsgFlags::empty()).map_err(io::Error::from)
}

/// Reads what the socket holds into `buf`. A read that does not fill `buf` took everything
/// the kernel had, so it also clears the socket's readiness (as nginx does after a short
/// `recv`): without that, every read would be followed by one that only finds `EAGAIN`,
/// twice the system calls of a publisher. Nothing is missed: the socket is registered
/// edge-triggered, bytes arriving after the read raise a new readiness event, and tokio does
/// not clear readiness that arrived after the read began.
pub fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = None;
    let result = stream.try_io(Interest::READABLE, || {
        let n = recv(stream, buf)?;
        got = Some(n);
        if n > 0 && n < buf.len() {
            // Drained: readiness cleared; `n` is returned below.
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match (result, got) {
        (_, Some(n)) => Ok(n),
        (result, None) => result,
    }
}
