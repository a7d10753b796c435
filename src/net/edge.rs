//! The edge driver: one task per pulled stream (`server::edge`). It connects to the origin in
//! use, plays the stream with the RTMP client session (or the HTTP-FLV one), hands the origin's media to the stream
//! here (following an origin's RTMP 302 to where it sends the pull), and on any error moves to
//! the next origin after the backoff; it ends once nobody
//! watched the stream for the grace, with `deleteStream` before it closes.
//!
//! [`traverse`] makes a token traverse for an RTMP connection's driver (`net::rtmp`).

use std::io;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use super::dial::connect_within;
use super::sock::read_some;
use super::{write_all, Clock, Rng, Shared};
use crate::config::ClusterProtocol;
use crate::live::HubEvent;
use crate::server::edge::{self, EdgeState, PlayEnded, Redirect, TraverseCall, Upstream};
use crate::server::edge::{CHECK_EVERY_MS, READ_BUFFER};
use crate::session::flv_client::{self, FlvClient};
use crate::session::rtmp::client::{ClientEvent, ClientSession};
use crate::wire::rtmp::handshake::PACKET_LEN;

/// A write to the origin (acknowledgements, pongs) that takes this long ends the pull.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a pull at a stream's first viewer; starts its grace at its last viewer's leave.
pub fn handle_hub_event(shared: &Shared, event: &HubEvent) {
    match event {
        HubEvent::Watched { key } => {
            if let Some(up) = edge::on_watched(&shared.ctx, key) {
                tokio::task::spawn_local(run(shared.clone(), up));
            }
        }
        HubEvent::Unwatched { key } => edge::on_unwatched(&shared.ctx, key, shared.clock.now_ms()),
        _ => {}
    }
}

async fn run(shared: Shared, up: Rc<Upstream>) {
    let _task = shared.ctx.tasks.enter();
    let clock = shared.clock;
    log::info!("edge {}: pulling from {}", up.key, up.origin_url());
    while up.wanted(clock.now_ms()) {
        up.state.set(EdgeState::Connecting);
        let result = pull(&shared, &up).await;
        if !up.wanted(clock.now_ms()) {
            break;
        }
        let wait = up.pull_ended(&shared.ctx, result, clock.now_ms());
        let until = clock.now_ms() + wait;
        while clock.now_ms() < until && up.wanted(clock.now_ms()) {
            let step = until.saturating_sub(clock.now_ms()).min(CHECK_EVERY_MS);
            tokio::time::sleep(Duration::from_millis(step)).await;
        }
    }
    up.unpublish(&shared.ctx, clock.now_ms());
    up.state.set(EdgeState::Stopped);
    shared.ctx.edges.remove(&up);
    log::info!("edge {}: stopped (no viewer)", up.key);
}

/// Connects to the origin in use (bounded by the setup timeout).
async fn connect_origin(up: &Upstream) -> Result<TcpStream, String> {
    connect_within(&up.destination().host, up.port(), edge::SETUP_TIMEOUT_MS).await
}

/// One pull: connect, play, then the origin's media until an error or the end of the grace.
async fn pull(shared: &Shared, up: &Upstream) -> Result<(), String> {
    match up.protocol {
        ClusterProtocol::Rtmp => pull_rtmp(shared, up).await,
        ClusterProtocol::Flv => pull_flv(shared, up).await,
    }
}

/// An RTMP pull from the origin in use, following its RTMP 302s (origin cluster).
async fn pull_rtmp(shared: &Shared, up: &Upstream) -> Result<(), String> {
    let mut to: Option<Redirect> = None;
    for _ in 0..=edge::MAX_REDIRECTS {
        let url = match pull_rtmp_at(shared, up, to.as_ref()).await {
            Err(PlayEnded::Redirect(url)) => url,
            Err(PlayEnded::Error(e)) => return Err(e),
            Ok(()) => return Ok(()),
        };
        log::info!("edge {}: redirected (RTMP 302) to {url}", up.key);
        to = Some(Redirect::parse(&url, &up.key.stream)?);
    }
    Err(format!(
        "more than {} RTMP 302s in a row",
        edge::MAX_REDIRECTS
    ))
}

/// One RTMP play at the origin in use, or where a 302 sent the pull (`to`).
async fn pull_rtmp_at(
    shared: &Shared,
    up: &Upstream,
    to: Option<&Redirect>,
) -> Result<(), PlayEnded> {
    let clock = shared.clock;
    let (stream, config) = match to {
        None => (connect_origin(up).await, up.client_config(&shared.ctx)),
        Some(r) => (
            connect_within(&r.host, r.port, edge::SETUP_TIMEOUT_MS).await,
            up.redirect_config(&shared.ctx, r),
        ),
    };
    let mut stream = stream?;
    up.connecting(clock.now_ms());
    let mut random = [0u8; PACKET_LEN];
    shared.rng.fill(&mut random);
    let mut session = ClientSession::new(config, clock.now_ms(), &random);
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let out: Vec<Bytes> = std::iter::from_fn(|| session.poll_transmit()).collect();
        write(&mut stream, out).await?;
        let now = clock.now_ms();
        if !up.wanted(now) {
            session.close();
            let out: Vec<Bytes> = std::iter::from_fn(|| session.poll_transmit()).collect();
            let _ = write(&mut stream, out).await;
            return Ok(());
        }
        let deadline = up.wake_at(session.poll_timeout(), now);
        let wake = wait_origin(&stream, &mut buf, clock, deadline).await?;
        match wake {
            Wake::Read(n) => {
                up.received(n, clock.now_ms());
                session.handle_bytes(clock.now_ms(), &buf[..n])?;
            }
            Wake::Closed => return Ok(()),
            Wake::Deadline => {
                up.check_silence(clock.now_ms())?;
                session.handle_timeout(clock.now_ms())?
            }
            Wake::Nothing => {}
        }
        while let Some(event) = session.poll_event() {
            up.on_event(&shared.ctx, event, clock.now_ms())?;
        }
    }
}

/// One pull over HTTP-FLV (`cluster.protocol = "flv"`): `GET /app/stream.flv`, then its tags.
async fn pull_flv(shared: &Shared, up: &Upstream) -> Result<(), String> {
    let clock = shared.clock;
    let mut stream = connect_origin(up).await?;
    up.connecting(clock.now_ms());
    let mut session =
        FlvClient::new(up.flv_config(&shared.ctx), clock.now_ms()).map_err(|e| e.to_string())?;
    let request: Vec<Bytes> = session.poll_transmit().into_iter().collect();
    write(&mut stream, request).await?;
    let mut buf = vec![0u8; READ_BUFFER.min(flv_client::MAX_READ)];
    loop {
        let now = clock.now_ms();
        if !up.wanted(now) {
            return Ok(());
        }
        let deadline = up.wake_at(session.poll_timeout(), now);
        match wait_origin(&stream, &mut buf, clock, deadline).await? {
            Wake::Read(n) => {
                up.received(n, clock.now_ms());
                session
                    .handle_bytes(clock.now_ms(), &buf[..n])
                    .map_err(|e| e.to_string())?;
            }
            Wake::Closed => return Ok(()),
            Wake::Deadline => {
                up.check_silence(clock.now_ms())?;
                session
                    .handle_timeout(clock.now_ms())
                    .map_err(|e| e.to_string())?
            }
            Wake::Nothing => {}
        }
        while let Some(event) = session.poll_event().map_err(|e| e.to_string())? {
            up.on_event(&shared.ctx, event, clock.now_ms())?;
        }
    }
}

/// Bytes read at once from an origin answering a token traverse: a few commands. RAM: per
/// traverse in progress (one per connecting client at most).
const TRAVERSE_READ_BUFFER: usize = 4096;

/// A token traverse (SRS: `check_edge_token_traverse_auth`): the client's `connect` at the
/// first origin that takes a TCP connection (each tried for
/// [`edge::TRAVERSE_CONNECT_TIMEOUT_MS`], in order); `Ok` with that origin and the time its
/// handshake and `connect` took when it accepts, else why not.
pub async fn traverse(call: TraverseCall, clock: Clock) -> Result<String, String> {
    for d in &call.origins {
        let origin = format!("{}:{}", d.host, d.port);
        let timeout = edge::TRAVERSE_CONNECT_TIMEOUT_MS;
        let stream = match connect_within(&d.host, d.port, timeout).await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("[{}] token traverse: {origin}: {e}", call.cid);
                continue;
            }
        };
        let asked = clock.now_ms();
        return connect_at(stream, &call, clock)
            .await
            .map(|()| format!("{origin} in {} ms", clock.now_ms() - asked))
            .map_err(|e| format!("{origin}: {e}"));
    }
    Err(format!("no origin of {} answered", call.origins.len()))
}

/// Handshake and `connect` on `stream` until the origin's `_result` (or its refusal).
async fn connect_at(
    mut stream: TcpStream,
    call: &TraverseCall,
    clock: Clock,
) -> Result<(), String> {
    let mut random = [0u8; PACKET_LEN];
    Rng::from_time().fill(&mut random);
    let mut session = ClientSession::new(call.client_config(), clock.now_ms(), &random);
    let mut buf = vec![0u8; TRAVERSE_READ_BUFFER];
    loop {
        let out: Vec<Bytes> = std::iter::from_fn(|| session.poll_transmit()).collect();
        write(&mut stream, out).await?;
        if session.poll_event() == Some(ClientEvent::Started) {
            return Ok(());
        }
        match wait_origin(&stream, &mut buf, clock, session.poll_timeout()).await? {
            Wake::Read(n) => session
                .handle_bytes(clock.now_ms(), &buf[..n])
                .map_err(|e| e.to_string())?,
            Wake::Closed => return Err("the origin closed the connection".into()),
            Wake::Deadline => session
                .handle_timeout(clock.now_ms())
                .map_err(|e| e.to_string())?,
            Wake::Nothing => {}
        }
    }
}

/// What one wait on an origin's socket gave.
enum Wake {
    /// This many bytes were read into the buffer.
    Read(usize),
    /// The origin closed the connection.
    Closed,
    /// The deadline came first.
    Deadline,
    /// Readable, but nothing to read after all.
    Nothing,
}

/// Waits until the origin's socket has bytes (read into `buf`) or `deadline` (ms) passes:
/// the one wait of the RTMP pull, the HTTP-FLV pull and the token traverse.
async fn wait_origin(
    stream: &TcpStream,
    buf: &mut [u8],
    clock: Clock,
    deadline: u64,
) -> Result<Wake, String> {
    tokio::select! {
        ready = stream.readable() => {
            ready.map_err(|e| format!("read: {e}"))?;
            match read_some(stream, buf) {
                Ok(0) => Ok(Wake::Closed),
                Ok(n) => Ok(Wake::Read(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Wake::Nothing),
                Err(e) => Err(format!("read: {e}")),
            }
        }
        _ = tokio::time::sleep_until(clock.instant(deadline)) => Ok(Wake::Deadline),
    }
}

async fn write(stream: &mut TcpStream, mut out: Vec<Bytes>) -> Result<(), String> {
    if out.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(WRITE_TIMEOUT, write_all(stream, &mut out)).await {
        Ok(r) => r.map_err(|e| format!("write: {e}")),
        Err(_) => Err("write: timeout".into()),
    }
}
