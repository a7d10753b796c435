//! Outgoing connections of the upstream drivers (forward, edge, origin cluster) and of the
//! RTSP ingests: TCP to a host and port, bounded in time, and TLS over it for `rtmps://` and
//! `rtsps://` (`net::tls`).

use std::io;
#[cfg(feature = "forward")]
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::sock::read_some;
use super::write_all;

/// Connects to `host:port`: an IP address or `localhost` at once, a host name through the
/// resolver (Cargo feature `dns`; without it the config refuses host names).
#[cfg(feature = "forward")]
pub async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return TcpStream::connect((ip, port)).await;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return TcpStream::connect((std::net::Ipv4Addr::LOCALHOST, port)).await;
    }
    #[cfg(feature = "dns")]
    return TcpStream::connect((host, port)).await;
    #[cfg(not(feature = "dns"))]
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "host names need the Cargo feature dns",
    ))
}

/// [`connect`] within `timeout_ms`, with Nagle off (media and commands go out at once); the
/// error says which step failed, for the logs and the API.
#[cfg(feature = "edge")]
pub async fn connect_within(host: &str, port: u16, timeout_ms: u64) -> Result<TcpStream, String> {
    match tokio::time::timeout(Duration::from_millis(timeout_ms), connect(host, port)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err("connect: timeout".into()),
    }
}

/// A connection to a destination: TCP, or TLS over it for `rtmps://`/`rtsps://` (`net::tls`).
pub enum Link {
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Link {
    /// Connects within `timeout_ms` (the TLS handshake included).
    #[cfg(feature = "forward")]
    pub async fn connect(
        host: &str,
        port: u16,
        tls: bool,
        timeout_ms: u64,
    ) -> Result<Link, String> {
        let limit = Duration::from_millis(timeout_ms);
        match tokio::time::timeout(limit, Link::open(host, port, tls)).await {
            Ok(r) => r.map_err(|e| format!("connect: {e}")),
            Err(_) => Err("connect: timeout".into()),
        }
    }

    #[cfg(feature = "forward")]
    async fn open(host: &str, port: u16, tls: bool) -> io::Result<Link> {
        let tcp = connect(host, port).await?;
        let _ = tcp.set_nodelay(true);
        Link::over(tcp, host, tls).await
    }

    /// `tcp` as it is, or with a TLS handshake with `host` over it (`net::tls`: the `[tls]`
    /// section's `verify` and `ca_file`).
    pub async fn over(tcp: TcpStream, host: &str, tls: bool) -> io::Result<Link> {
        if !tls {
            return Ok(Link::Tcp(tcp));
        }
        #[cfg(feature = "tls")]
        return Ok(Link::Tls(Box::new(super::tls::connect(tcp, host).await?)));
        #[cfg(not(feature = "tls"))]
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS to {host} needs the Cargo feature tls"),
        ))
    }

    /// Reads what came (0: the peer closed). Cancel-safe: nothing is taken from the socket
    /// (or TLS's buffers) unless it returns.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => loop {
                s.readable().await?;
                match read_some(s, buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    read => return read,
                }
            },
            #[cfg(feature = "tls")]
            Link::Tls(s) => {
                use tokio::io::AsyncReadExt;
                match s.read(buf).await {
                    // Closed without TLS's close_notify: closed all the same.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                    read => read,
                }
            }
        }
    }

    /// Writes `out` whole (a vectored write over TCP; through TLS's send buffer, flushed,
    /// over TLS) and empties it.
    pub async fn write(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
        match self {
            Link::Tcp(s) => write_all(s, out).await,
            #[cfg(feature = "tls")]
            Link::Tls(s) => {
                use tokio::io::AsyncWriteExt;
                for b in out.iter() {
                    s.write_all(b).await?;
                }
                out.clear();
                s.flush().await
            }
        }
    }
}
