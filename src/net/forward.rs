//! The forward driver: one task per destination of a published stream (`server::forward`).
//! It connects, feeds the RTMP client session, writes what the session queues, and sends the
//! stream from the forwarder's bounded queue; on any error it waits out the backoff and starts
//! again, until the stream is unpublished.

use std::future::poll_fn;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::dial::Link;
use super::Shared;
use crate::live::HubEvent;
use crate::server::forward::{self, ForwardState, Forwarder};
use crate::session::rtmp::client::{ClientEvent, ClientSession};
use crate::wire::rtmp::handshake::PACKET_LEN;

/// Bytes read from a destination at once (it sends only command replies and acks).
const READ_BUFFER: usize = 4 * 1024;

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
                    f.discard_queued();
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
    let mut stream = Link::connect(&d.host, d.port, d.tls, forward::SETUP_TIMEOUT_MS).await?;
    let mut random = [0u8; PACKET_LEN];
    shared.rng.fill(&mut random);
    let mut session = ClientSession::new(f.client_config(), clock.now_ms(), &random);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut out: Vec<Bytes> = Vec::new();
    // After (re)start: frames wait for a video keyframe (headers go first).
    let mut waiting_keyframe = true;
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
                f.report_drops(clock.now_ms());
                if f.send_queued(&mut session, &mut waiting_keyframe)? {
                    return goodbye(&mut stream, &mut session).await;
                }
            }
        }
        while let Some(event) = session.poll_event() {
            if event == ClientEvent::Started {
                waiting_keyframe = !f.start_stream(&shared.ctx, &mut session)?;
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
