//! The RTMP driver's sockets: what it needs of one ([`Socket`]), over TCP (reads into the
//! thread's shared buffer, `writev` batches) and over TLS (RTMPS: a read buffer of its own,
//! writes through the TLS stream).

use std::cell::RefCell;
use std::io;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::READ_BUFFER;
use crate::net::sock::{read_some, recv};
use crate::net::{write_all, write_now, Clock};
use crate::server::rtmp::RtmpConn;

thread_local! {
    /// The read buffer of every RTMP connection on this thread. Players send almost nothing,
    /// so a buffer per connection would be 16 KiB of RAM per player for a few bytes a second.
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; READ_BUFFER]);
}

/// What the driver needs of a connection's socket: TCP, or TLS over it (RTMPS). A trait,
/// not an enum, so that the plain RTMP task stays as small as it was (`net::tests`).
pub(super) trait Socket {
    /// With merged read (`SO_RCVLOWAT` on the TCP socket).
    const MERGED_READ: bool;

    fn tcp(&self) -> &TcpStream;

    /// Writes `out` whole and empties it.
    async fn write_all(&mut self, out: &mut Vec<Bytes>) -> io::Result<()>;

    /// Writes what the socket takes now without waiting, removing it from `out`; true when
    /// all of it went (then no send timeout is set up for the batch). By default nothing.
    fn write_now(&mut self, _out: &mut Vec<Bytes>) -> io::Result<bool> {
        Ok(false)
    }

    /// Waits until [`Socket::read`] has something (or the end). Cancel-safe.
    async fn ready(&mut self) -> io::Result<()>;

    /// Hands what came to the connection.
    fn read(
        &mut self,
        conn: &mut RtmpConn,
        clock: Clock,
    ) -> Result<Read, Box<dyn std::error::Error>>;
}

impl Socket for TcpStream {
    const MERGED_READ: bool = true;

    fn tcp(&self) -> &TcpStream {
        self
    }

    /// One `writev` batch.
    async fn write_all(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
        write_all(self, out).await
    }

    fn write_now(&mut self, out: &mut Vec<Bytes>) -> io::Result<bool> {
        write_now(self, out)
    }

    /// Through the socket's own reader slot (`poll_read_ready`), not `readable()`: that
    /// future joins the socket's list of waiters under its lock on every turn of the driver's
    /// select and leaves it when dropped, for every read of every publisher.
    async fn ready(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    fn read(
        &mut self,
        conn: &mut RtmpConn,
        clock: Clock,
    ) -> Result<Read, Box<dyn std::error::Error>> {
        read_once(self, conn, clock, ReadMode::Ready)
    }
}

/// An RTMPS connection: the TLS stream and the plaintext of one read, which waits in a
/// buffer of its own between [`Socket::ready`] and [`Socket::read`] (RAM: [`READ_BUFFER`]
/// per RTMPS connection, counted in `net::tls::CONNECTION_BYTES`' line).
#[cfg(feature = "tls")]
pub(super) struct TlsSocket {
    pub stream: tokio_rustls::server::TlsStream<TcpStream>,
    pub buf: Box<[u8]>,
    /// Bytes in `buf` from the last read; `None`: none read; `Some(0)`: the end.
    pub filled: Option<usize>,
}

#[cfg(feature = "tls")]
impl Socket for TlsSocket {
    /// The TLS stream reads records as they come.
    const MERGED_READ: bool = false;

    fn tcp(&self) -> &TcpStream {
        self.stream.get_ref().0
    }

    /// Through TLS's send buffer, flushed.
    async fn write_all(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        for b in out.iter() {
            self.stream.write_all(b).await?;
        }
        out.clear();
        self.stream.flush().await
    }

    async fn ready(&mut self) -> io::Result<()> {
        use tokio::io::AsyncReadExt;
        if self.filled.is_some() {
            return Ok(());
        }
        let n = match self.stream.read(&mut self.buf).await {
            // Closed without TLS's close_notify: closed all the same.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            other => other?,
        };
        self.filled = Some(n);
        Ok(())
    }

    fn read(
        &mut self,
        conn: &mut RtmpConn,
        clock: Clock,
    ) -> Result<Read, Box<dyn std::error::Error>> {
        match self.filled.take() {
            None => Ok(Read::Nothing),
            Some(0) => Ok(Read::Closed),
            Some(n) => {
                conn.handle_bytes(clock.now_ms(), &self.buf[..n])?;
                Ok(Read::Bytes { drained: true })
            }
        }
    }
}

/// What one read did.
pub(super) enum Read {
    /// The peer closed the connection.
    Closed,
    /// Bytes went to the session; `drained`: they were all the socket held (a short read).
    Bytes { drained: bool },
    /// Nothing was there (readiness can be spurious).
    Nothing,
}

/// Why a read is made.
#[derive(Clone, Copy)]
pub(super) enum ReadMode {
    /// The socket reported readable.
    Ready,
    /// A merged read's deadline: what waits below the low-water mark, which the socket does
    /// not report (nor tokio, which then would not even try).
    BelowLowWater,
}

/// Reads once into the thread's buffer and hands the bytes to the connection.
pub(super) fn read_once(
    stream: &TcpStream,
    conn: &mut RtmpConn,
    clock: Clock,
    mode: ReadMode,
) -> Result<Read, Box<dyn std::error::Error>> {
    READ_BUF.with_borrow_mut(|buf| {
        match match mode {
            ReadMode::Ready => read_some(stream, buf),
            ReadMode::BelowLowWater => recv(stream, buf),
        } {
            Ok(0) => Ok(Read::Closed),
            Ok(n) => {
                conn.handle_bytes(clock.now_ms(), &buf[..n])?;
                Ok(Read::Bytes {
                    // A short read took everything (see read_some).
                    drained: n < buf.len(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Read::Nothing),
            Err(e) => Err(e.into()),
        }
    })
}
