//! What the HTTP driver needs of a connection's stream: TCP (`writev` batches, written at
//! once when the socket takes them) or TLS over it (HTTPS, `http_server.https`: writes go
//! through the TLS stream's send buffer, `net::tls::SEND_BUFFER`).

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

#[cfg(feature = "tls")]
use super::Driver;
#[cfg(feature = "tls")]
use crate::live::ClientId;
#[cfg(feature = "tls")]
use crate::net::{ConnGuards, Shared};
#[cfg(feature = "tls")]
use crate::server::http::Site;
#[cfg(feature = "tls")]
use std::{future::Future, net::SocketAddr, time::Duration};

/// Bytes read at once from a live player, which sends nothing we need (on the stack, not in
/// the connection's task, over TCP).
const LIVE_READ: usize = 512;

pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin {
    /// Writes what the stream takes now without waiting, removing it from `out`; true when
    /// all of it went (then no send timeout is set up for the batch).
    fn write_now(&mut self, out: &mut Vec<Bytes>) -> io::Result<bool>;

    /// Writes `out` whole and empties it.
    async fn write_all(&mut self, out: &mut Vec<Bytes>) -> io::Result<()>;

    /// Waits for bytes from a live player and drops them: how many, 0 at the end. Cancel-safe.
    async fn discard(&mut self) -> io::Result<usize>;
}

impl Stream for TcpStream {
    fn write_now(&mut self, out: &mut Vec<Bytes>) -> io::Result<bool> {
        crate::net::write_now(self, out)
    }

    async fn write_all(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
        crate::net::write_all(self, out).await
    }

    async fn discard(&mut self) -> io::Result<usize> {
        loop {
            self.readable().await?;
            let mut scratch = [0u8; LIVE_READ];
            match self.try_read(&mut scratch) {
                // Readiness can be spurious: wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
        }
    }
}

#[cfg(feature = "tls")]
impl Stream for tokio_rustls::server::TlsStream<TcpStream> {
    /// Nothing goes without waiting: the TLS stream encrypts as it writes.
    fn write_now(&mut self, _out: &mut Vec<Bytes>) -> io::Result<bool> {
        Ok(false)
    }

    /// Through TLS's send buffer, flushed.
    async fn write_all(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        for b in out.iter() {
            AsyncWriteExt::write_all(self, b).await?;
        }
        out.clear();
        self.flush().await
    }

    async fn discard(&mut self) -> io::Result<usize> {
        use tokio::io::AsyncReadExt;
        let mut scratch = [0u8; LIVE_READ];
        match self.read(&mut scratch).await {
            // Closed without TLS's close_notify: closed all the same.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

/// [`run`] for an HTTPS connection (`http_server.https`): the TLS handshake within
/// `handshake_timeout`, then the same driver over TLS.
#[cfg(feature = "tls")]
pub fn run_tls(
    stream: TcpStream,
    peer: SocketAddr,
    id: ClientId,
    shared: &Shared,
    site: &'static Site,
    guards: ConnGuards,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl Future<Output = ()> {
    let (tcp, registration) = super::start(stream, peer, id, shared, site);
    async move {
        let Driver {
            stream,
            conn,
            clock,
            disk,
            reader,
        } = tcp;
        let mut conn = conn;
        let timeout = Duration::from_millis(conn.timeout_ms(true));
        let result = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(mut tls)) => {
                crate::net::tls::limit_server(&mut tls);
                let mut driver = Driver {
                    stream: tls,
                    conn,
                    clock,
                    disk,
                    reader,
                };
                let result = driver.serve().await;
                conn = driver.conn;
                result
            }
            Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
            Err(_) => Err("TLS handshake: timeout".into()),
        };
        conn.closed(result.as_ref().err().map(|e| e as &dyn std::fmt::Display));
        drop((conn, registration, guards));
    }
}
