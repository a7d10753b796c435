//! The forward driver: one task per destination of a published stream (`server::forward`).
//! It connects, feeds the RTMP client session, writes what the session queues, and sends the
//! stream from the forwarder's bounded queue; on any error it waits out the backoff and starts
//! again, until the stream is unpublished.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::sock::read_some;
use super::{write_all, Shared};
use crate::live::{HubEvent, QueueItem};
use crate::media::FrameKind;
use crate::server::forward::{self, ForwardState, Forwarder};
use crate::session::rtmp::client::{ClientEvent, ClientSession, MAX_OUTBOX};
use crate::wire::rtmp::handshake::PACKET_LEN;

/// Bytes read from a destination at once (it sends only command replies and acks).
const READ_BUFFER: usize = 4 * 1024;

/// Queue items sent per wake-up at most, so one forwarder does not hold the event loop.
const MAX_BATCH_ITEMS: usize = 64;

/// A write that makes no progress for this long ends the session (the destination does not
/// read); meanwhile the queue drops frames as it must.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the goodbye commands may take to write at the unpublish (the destination may not
/// read; the frames queued before them go first).
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the tasks of a newly published stream's forwarders; stops them at its unpublish.
pub fn handle_hub_event(shared: &Shared, event: &HubEvent) {
    match event {
        HubEvent::Publish { key, .. } => {
            for f in shared.ctx.forwards.take_unspawned(key) {
                crate::net::spawn(run(shared.clone(), f));
            }
            #[cfg(feature = "hooks")]
            if let Some(ask) = shared.ctx.forwards.take_backend(key) {
                tokio::task::spawn_local(ask_backend(shared.clone(), key.clone(), ask));
            }
        }
        HubEvent::Unpublish { key, .. } => forward::on_unpublish(&shared.ctx, key),
        _ => {}
    }
}

/// `forward.backend`: posts `on_forward` with the publisher's request, then starts a
/// forwarder per URL of the answer. A failure is logged; the stream goes on unforwarded.
#[cfg(feature = "hooks")]
async fn ask_backend(shared: Shared, key: crate::live::StreamKey, ask: forward::BackendAsk) {
    let _task = shared.ctx.tasks.enter();
    let client = shared.ctx.hooks.publisher(&key);
    let call = shared
        .ctx
        .hooks
        .forward_call(&ask.url, ask.timeout_ms, &client);
    let answer = shared.ctx.hooks.ask(call).await;
    let destinations = answer.and_then(|body| forward::backend_urls(&body));
    match destinations {
        Ok(list) => {
            log::info!(
                "forward {key}: backend {} gave {} destinations",
                ask.url,
                list.len()
            );
            forward::add_backend(&shared.ctx, &key, &ask, &list);
            for f in shared.ctx.forwards.take_unspawned(&key) {
                tokio::task::spawn_local(run(shared.clone(), f));
            }
        }
        Err(why) => log::warn!(
            "forward {key}: backend {} failed, not forwarded: {why}",
            ask.url
        ),
    }
}

async fn run(shared: Shared, f: Rc<Forwarder>) {
    let _task = shared.ctx.tasks.enter();
    while !f.is_stopped() {
        f.state.set(ForwardState::Connecting);
        let result = session(&shared, &f).await;
        if f.is_stopped() {
            break;
        }
        let wait = f.session_ended(result);
        // Wait, but end at once if the stream is unpublished meanwhile; the queue keeps
        // filling (bounded) and is emptied when the next session starts.
        let sleep = tokio::time::sleep(Duration::from_millis(wait));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = poll_fn(|cx| f.queue.borrow_mut().poll_ready(cx)) => {
                    if f.is_stopped() {
                        break;
                    }
                    let mut q = f.queue.borrow_mut();
                    // Only the newest frames matter to the next session, which starts at a
                    // keyframe: what waits is dropped here rather than at the cap.
                    q.drain(usize::MAX, usize::MAX, |_| {});
                }
            }
        }
    }
    log::info!("forward {} to {} stopped", f.key, f.url());
}

/// One session: connect, publish, then the stream until an error or the unpublish.
async fn session(shared: &Shared, f: &Forwarder) -> Result<(), String> {
    let d = f.target();
    let clock = shared.clock;
    let connect = Link::connect(&d.host, d.port, d.tls);
    let mut stream =
        match tokio::time::timeout(Duration::from_millis(forward::SETUP_TIMEOUT_MS), connect).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("connect: {e}")),
            Err(_) => return Err("connect: timeout".into()),
        };
    let mut random = [0u8; PACKET_LEN];
    shared.rng.fill(&mut random);
    let mut session = ClientSession::new(f.client_config(), clock.now_ms(), &random);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut out: Vec<Bytes> = Vec::new();
    // After (re)start: frames wait for a video keyframe (headers go first).
    let mut waiting_keyframe = true;
    let mut last_drop_report = 0u64;
    loop {
        while let Some(b) = session.poll_transmit() {
            f.send_bytes.set(f.send_bytes.get() + b.len() as u64);
            out.push(b);
        }
        if !out.is_empty() {
            match tokio::time::timeout(SEND_TIMEOUT, stream.write(&mut out)).await {
                Ok(r) => r.map_err(|e| format!("write: {e}"))?,
                Err(_) => return Err("write: timeout (the destination does not read)".into()),
            }
        }
        if f.is_stopped() {
            return goodbye(&mut stream, &mut session).await;
        }
        let started = session.is_started();
        let deadline = clock.instant(session.poll_timeout().min(clock.now_ms() + 3_600_000));
        tokio::select! {
            read = stream.read(&mut buf) => {
                match read {
                    Ok(0) => return Ok(()),
                    Ok(n) => session
                        .handle_bytes(clock.now_ms(), &buf[..n])
                        .map_err(|e| e.to_string())?,
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                session.handle_timeout(clock.now_ms()).map_err(|e| e.to_string())?;
            }
            _ = poll_fn(|cx| f.queue.borrow_mut().poll_ready(cx)), if started => {
                // Drops, at most one line a second.
                if clock.now_ms() >= last_drop_report + 1_000 {
                    last_drop_report = clock.now_ms();
                    let mut q = f.queue.borrow_mut();
                    let new = q.take_unreported_drops();
                    if new > 0 {
                        log::warn!(
                            "forward {} to {}: dropped {new} frames ({} in all; the \
                             destination is slower than the stream, forward.queue_max_bytes)",
                            f.key,
                            f.url(),
                            q.stats().dropped_frames
                        );
                    }
                }
                let mut items = Vec::new();
                f.queue.borrow_mut().drain(MAX_BATCH_ITEMS, usize::MAX, |i| items.push(i));
                for item in items {
                    match item {
                        QueueItem::Frame(frame) => {
                            let headers = frame.sequence_header || frame.kind == FrameKind::Metadata;
                            if waiting_keyframe && !headers {
                                if !frame.is_video_keyframe() && has_video(f) {
                                    continue;
                                }
                                waiting_keyframe = false;
                            }
                            let (kind, ts) = forward::media_of(&frame);
                            session.send_media(kind, ts, &frame.data).map_err(|e| e.to_string())?;
                        }
                        QueueItem::Unpublished => {
                            return goodbye(&mut stream, &mut session).await
                        }
                        QueueItem::Published => {}
                    }
                }
            }
        }
        while let Some(event) = session.poll_event() {
            if event == ClientEvent::Started {
                f.state.set(ForwardState::Publishing);
                f.sessions.set(f.sessions.get() + 1);
                log::info!("forward {} to {}: publishing", f.key, f.url());
                waiting_keyframe = !start_stream(shared, f, &mut session)?;
            }
        }
    }
}

/// The unpublish: `FCUnpublish` and `deleteStream` (as ffmpeg sends them), written within
/// [`GOODBYE_TIMEOUT`], then the socket closes. The destination ends the stream on them.
async fn goodbye(stream: &mut Link, session: &mut ClientSession) -> Result<(), String> {
    session.close();
    let mut out: Vec<Bytes> = std::iter::from_fn(|| session.poll_transmit()).collect();
    let _ = tokio::time::timeout(GOODBYE_TIMEOUT, stream.write(&mut out)).await;
    Ok(())
}

/// The connection to a destination: TCP, or TLS over it for `rtmps://` (`net::tls`).
enum Link {
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Link {
    async fn connect(host: &str, port: u16, tls: bool) -> io::Result<Link> {
        let tcp = connect(host, port).await?;
        let _ = tcp.set_nodelay(true);
        if !tls {
            return Ok(Link::Tcp(tcp));
        }
        #[cfg(feature = "tls")]
        return Ok(Link::Tls(Box::new(super::tls::connect(tcp, host).await?)));
        #[cfg(not(feature = "tls"))]
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "rtmps:// needs the Cargo feature tls",
        ))
    }

    /// Reads what came (0: the destination closed). Cancel-safe: nothing is taken from the
    /// socket (or TLS's buffers) unless it returns.
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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
    async fn write(&mut self, out: &mut Vec<Bytes>) -> io::Result<()> {
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

/// Whether the stream carries video (an audio-only stream does not wait for a keyframe).
fn has_video(f: &Forwarder) -> bool {
    f.queue.borrow().has_video()
}

/// At publish start: what waited in the queue is dropped; the source's metadata and sequence
/// headers go first, then its cached GOP, so the destination has a picture at once. True when
/// a GOP went out (the queue's frames follow it); false: frames wait for the next keyframe.
fn start_stream(
    shared: &Shared,
    f: &Forwarder,
    session: &mut ClientSession,
) -> Result<bool, String> {
    f.queue.borrow_mut().drain(usize::MAX, usize::MAX, |_| {});
    let source = shared.ctx.hub.borrow().source(&f.key);
    let Some(source) = source else {
        return Ok(false);
    };
    let s = source.borrow();
    let mut gop = s.gop().peekable();
    // A GOP larger than half the session's outbox (a long GOP at a high bitrate) is not
    // replayed: the frames then wait for the next keyframe.
    let from_keyframe = gop.peek().is_some_and(|first| first.is_video_keyframe())
        && s.gop_len().1 <= MAX_OUTBOX / 2;
    let headers = [s.metadata(), s.video_header(), s.audio_header()];
    let gop = gop.filter(|_| from_keyframe);
    for frame in headers.into_iter().flatten().chain(gop) {
        let (kind, ts) = forward::media_of(frame);
        session
            .send_media(kind, ts, &frame.data)
            .map_err(|e| e.to_string())?;
    }
    Ok(from_keyframe)
}

/// Connects to `host:port`: an IP address or `localhost` at once, a host name through the
/// resolver (Cargo feature `dns`; without it the config refuses host names).
pub(super) async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
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
