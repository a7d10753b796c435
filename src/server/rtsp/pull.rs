//! One ingest's life as `net::rtsp` drives it, without I/O or the clock: [`Ingester`] holds
//! what lasts across connections (whether the ingest is wanted, the attempts, the status for
//! the API) and decides what follows a pull's end; [`Pull`] is one connection to the camera:
//! it turns the session's events and frames into the stream's publication, the status and the
//! log, decides when to tear the session down, and names the next deadline.
//!
//! The driver's loop per connection: [`Pull::poll`] until it returns [`Step::Idle`] (on
//! [`Step::Publish`] it asks the hooks with [`Pull::on_publish_call`] and calls
//! [`Pull::publish`]), write [`Pull::poll_transmit`] and [`Pull::poll_datagram`], then sleep
//! until [`Pull::deadline`] or input.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;

use super::attempts::{Attempts, Ended, Next};
use super::{client_config, client_id, stream_key, Demand, IngestStatus, Publisher};
use crate::config::{Config, Ingest};
use crate::live::{HubError, HubEvent, StreamKey};
use crate::server::ServerCtx;
use crate::session::rtsp::{self as rtsp_session, ClientSession, Event, State, MAX_TRACKS};
use crate::wire::rtsp::header::Pair;

/// Largest RTP or RTCP datagram taken from a camera; a longer one is dropped. Why: cameras
/// packetize to an Ethernet MTU (1500 bytes; GStreamer 1400). RAM: one buffer per camera
/// pulled over UDP (the driver's, one byte longer to tell a longer datagram).
pub const MAX_DATAGRAM: usize = 2048;

/// Kernel receive buffer asked for each RTP socket (`SO_RCVBUF`; Linux doubles it for its
/// bookkeeping and caps it at `net.core.rmem_max`, 208 KiB by default). Why: a keyframe of a
/// 4 Mbit/s camera is about 100 KiB sent at once, which must wait there while the thread
/// serves other connections.
pub const UDP_RECV_BUFFER: usize = 128 * 1024;

/// Kernel receive buffer asked for each RTCP socket (a sender report every few seconds).
pub const RTCP_RECV_BUFFER: usize = 4 * 1024;

/// How long the driver sleeps when nothing has a deadline (it wakes on input anyway).
pub const IDLE_WAIT_MS: u64 = 60_000;

/// How a pull ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Nobody wants the stream any more (on demand), or the server stops: torn down.
    Stopped,
    /// The API asked for a restart: connect again now.
    Restart,
}

/// Why a pull failed: the session's error (which tells a refused UDP), a hub refusal, I/O.
pub type PullError = Box<dyn std::error::Error>;

/// What the driver does after [`Pull::poll`].
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Publish the stream: ask the `on_publish` hooks, then [`Pull::publish`]; poll again.
    Publish,
    /// The camera redirected us: connect to the session's new target (same `Pull`).
    Redirect,
    /// The session is closed: the pull ends so.
    Closed(End),
    /// Write what the session has, then wait for input or the deadline.
    Idle,
}

/// A hub event that concerns ingests: a stream got its first viewer (`true`) or lost its
/// last (`false`).
pub fn watched_change(event: &HubEvent) -> Option<(&StreamKey, bool)> {
    match event {
        HubEvent::Watched { key } => Some((key, true)),
        HubEvent::Unwatched { key } => Some((key, false)),
        _ => None,
    }
}

/// One `[[ingest]]` for the life of the process.
pub struct Ingester {
    pub ingest: Ingest,
    pub index: usize,
    pub key: StreamKey,
    pub status: Rc<IngestStatus>,
    demand: Demand,
    attempts: Attempts,
}

impl Ingester {
    pub fn new(index: usize, config: &Config, ingest: &Ingest, now_ms: u64) -> Ingester {
        Ingester {
            ingest: ingest.clone(),
            index,
            key: stream_key(config, ingest),
            status: Rc::new(IngestStatus::new(index, config, ingest, now_ms)),
            demand: Demand::new(ingest),
            attempts: Attempts::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.ingest.stream
    }

    /// Whether the stream has viewers (the hub told the driver).
    pub fn set_watched(&mut self, watched: bool, now_ms: u64) {
        self.demand.set_watched(watched, now_ms);
    }

    /// Whether the ingest should pull now.
    pub fn wanted(&self, now_ms: u64) -> bool {
        self.demand.wanted(now_ms)
    }

    /// Not wanted: reported idle while the driver waits.
    pub fn idle(&self, now_ms: u64) {
        self.status.idle(now_ms);
    }

    /// The driver woke while idle: a restart asked meanwhile has nothing to restart.
    pub fn woke(&self) {
        self.status.take_restart();
    }

    /// Whether this attempt binds UDP ports for RTP.
    pub fn want_udp(&self) -> bool {
        self.attempts.want_udp(&self.ingest)
    }

    /// A new attempt with the config of the moment (a reload replaces it), logged and
    /// reported; `cnonce` and `ssrc` from the driver's generator. `None` (logged) when the
    /// URL does not parse: the ingest ends.
    pub fn begin(
        &mut self,
        config: &Config,
        cnonce: String,
        ssrc: u32,
        now_ms: u64,
    ) -> Option<Pull> {
        let name = &self.ingest.stream;
        let Some(client) = client_config(config, &self.ingest, cnonce) else {
            log::error!("ingest {name}: bad URL {}", self.ingest.url_for_log());
            return None;
        };
        let attempt = self.attempts.start();
        self.status.connecting(now_ms);
        log::info!(
            "ingest {name}: connecting to {} (attempt {attempt})",
            self.ingest.url_for_log()
        );
        let mut session = ClientSession::new(client, now_ms);
        session.set_ssrc(ssrc);
        let publisher = Publisher::new(self.key.clone(), client_id(self.index))
            .with_status(self.status.clone());
        Some(Pull {
            session,
            publisher,
            name: name.clone(),
            status: self.status.clone(),
            demand: self.demand.clone(),
            played: false,
            with_udp: false,
            restart: false,
            peer: None,
        })
    }

    /// The pull ended (its publication already stopped): when to connect again, if after a
    /// wait (reported with the error).
    pub fn ended(
        &mut self,
        pull: Pull,
        result: Result<End, PullError>,
        now_ms: u64,
    ) -> Option<u64> {
        self.demand = pull.demand;
        if pull.played {
            self.attempts.played();
        }
        let ended = match result {
            Ok(End::Restart) => Ended::Restart,
            Ok(End::Stopped) => Ended::Idle,
            Err(e) => Ended::Failed {
                udp_blocked: e
                    .downcast_ref::<rtsp_session::Error>()
                    .is_some_and(rtsp_session::Error::udp_blocked),
                error: e.to_string(),
            },
        };
        let error = match &ended {
            Ended::Failed { error, .. } => error.clone(),
            _ => String::new(),
        };
        match self.attempts.ended(&self.ingest, pull.with_udp, ended) {
            Next::Connect => None,
            Next::Backoff(wait) => {
                let until = now_ms + wait;
                self.status.backoff(now_ms, &error, until);
                Some(until)
            }
        }
    }

    /// During a backoff: whether the API asked for a restart (the wait ends; `auto` tries
    /// UDP again).
    pub fn take_restart(&mut self) -> bool {
        let restart = self.status.take_restart();
        if restart {
            self.attempts.restarted(&self.ingest);
        }
        restart
    }
}

/// One connection to the camera (and to where it redirects).
pub struct Pull {
    pub session: ClientSession,
    publisher: Publisher,
    name: String,
    status: Rc<IngestStatus>,
    /// The ingest's demand, kept up to date by [`Pull::set_watched`].
    demand: Demand,
    /// The camera played during the pull.
    played: bool,
    /// The pull has UDP ports.
    with_udp: bool,
    /// The API asked for a restart: torn down, then [`End::Restart`].
    restart: bool,
    peer: Option<SocketAddr>,
}

impl Pull {
    /// What the driver's binding of UDP sockets (RTP, RTCP per track) gave: the sockets
    /// to use, none (TCP interleaved this time, logged) when it failed.
    pub fn udp_bound<S>(
        &mut self,
        bound: std::io::Result<(Vec<S>, [Pair<u16>; MAX_TRACKS])>,
    ) -> Vec<S> {
        match bound {
            Ok((sockets, ports)) => {
                self.session.set_udp(ports);
                self.with_udp = true;
                sockets
            }
            Err(e) => {
                log::warn!(
                    "ingest {}: no UDP ports ({e}); TCP interleaved this time",
                    self.name
                );
                Vec::new()
            }
        }
    }

    /// The camera's address and port to connect to.
    pub fn target(&self) -> (&str, u16) {
        self.session.target()
    }

    /// Whether to speak TLS to it (`rtsps://`).
    pub fn tls(&self) -> bool {
        self.session.tls()
    }

    /// Connected to `peer`.
    pub fn connected(&mut self, ctx: &ServerCtx, peer: SocketAddr, now_ms: u64) {
        self.peer = Some(peer);
        self.publisher.connected(ctx, peer, now_ms);
        self.session.handle_connected(now_ms);
    }

    /// Viewers came or went (on demand).
    pub fn set_watched(&mut self, watched: bool, now_ms: u64) {
        self.demand.set_watched(watched, now_ms);
    }

    /// The session's events and frames, handed on; `stopping`: the server stops. Stops at
    /// what the driver must do (see [`Step`]).
    pub fn poll(&mut self, ctx: &ServerCtx, stopping: bool, now_ms: u64) -> Step {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Playing { tracks } => {
                    let transport = if self.session.over_udp() {
                        "udp"
                    } else {
                        "tcp"
                    };
                    let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
                    log::info!(
                        "ingest {}: playing from {peer}: {tracks} over {transport}",
                        self.name
                    );
                    let codecs = self.session.track_stats().map(|(name, _)| name);
                    self.status.playing(now_ms, codecs);
                    self.status.set_transport(transport);
                    self.played = true;
                    if !self.publisher.is_published() {
                        return Step::Publish;
                    }
                }
                Event::Redirect { .. } => {
                    self.publisher.stop(ctx, now_ms);
                    let (host, port) = self.session.target();
                    log::info!("ingest {}: redirected to {host}:{port}", self.name);
                    return Step::Redirect;
                }
            }
        }
        // Some cameras send media before their PLAY reply: the stream starts with its first
        // frame (its sequence header), whichever comes first.
        if !self.publisher.is_published() && self.session.has_frame() {
            return Step::Publish;
        }
        while let Some(frame) = self.session.poll_frame() {
            self.publisher.on_frame(frame);
        }
        self.restart |= self.status.take_restart();
        let closed = self.session.state() == State::Closed;
        if !closed && (stopping || self.restart || !self.demand.wanted(now_ms)) {
            self.session.teardown(now_ms);
        }
        if self.session.state() == State::Closed {
            return Step::Closed(if self.restart {
                End::Restart
            } else {
                End::Stopped
            });
        }
        Step::Idle
    }

    /// The `on_publish` decision to wait for before [`Pull::publish`].
    #[cfg(feature = "hooks")]
    pub fn on_publish_call(&self, ctx: &ServerCtx) -> Option<crate::server::hooks::HookCall> {
        self.publisher.on_publish_call(ctx)
    }

    /// Publishes the stream (the hooks allowed it).
    pub fn publish(&mut self, ctx: &ServerCtx, now_ms: u64) -> Result<(), HubError> {
        self.publisher.publish(ctx, now_ms)
    }

    /// The pull ends: unpublish (players stay attached) and leave the registry.
    pub fn stop(&mut self, ctx: &ServerCtx, now_ms: u64) {
        self.publisher.stop(ctx, now_ms);
    }

    /// Bytes for the camera's connection.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.session.poll_transmit()
    }

    /// A receiver report to send: (index of the driver's RTCP socket, to the camera's port,
    /// the datagram).
    pub fn poll_datagram(&mut self) -> Option<(usize, u16, Bytes)> {
        self.session
            .poll_datagram()
            .map(|(track, port, bytes)| (2 * track + 1, port, bytes))
    }

    /// Bytes sent to the camera (counted).
    pub fn sent(&self, n: usize) {
        self.publisher.sent(n);
    }

    /// Bytes from the camera's connection.
    pub fn handle_bytes(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), rtsp_session::Error> {
        self.publisher.received(bytes.len());
        self.session.handle_bytes(now_ms, bytes)
    }

    /// What the driver's `socket`th UDP socket (RTP, RTCP per track) received: a datagram
    /// and its sender (taken only from the camera's address and up to [`MAX_DATAGRAM`]
    /// bytes), or an error (an ICMP port unreachable for a report, say: nothing to do).
    pub fn handle_datagram(
        &mut self,
        now_ms: u64,
        socket: usize,
        received: std::io::Result<(&[u8], SocketAddr)>,
    ) {
        match received {
            Ok((d, from))
                if Some(from.ip()) == self.peer.map(|p| p.ip()) && d.len() <= MAX_DATAGRAM =>
            {
                self.publisher.received(d.len());
                let payload = Bytes::copy_from_slice(d);
                self.session
                    .handle_datagram(now_ms, socket / 2, socket % 2 == 1, payload);
            }
            Ok((d, from)) => {
                log::debug!(
                    "ingest {}: {}-byte datagram from {from} dropped",
                    self.name,
                    d.len()
                );
            }
            Err(e) => log::debug!("ingest {}: UDP: {e}", self.name),
        }
    }

    pub fn handle_timeout(&mut self, now_ms: u64) -> Result<(), rtsp_session::Error> {
        self.session.handle_timeout(now_ms)
    }

    /// When to call [`Pull::handle_timeout`] (the session's deadline or the end of the
    /// on-demand grace, whichever comes first).
    pub fn deadline(&self, now_ms: u64) -> u64 {
        match (self.session.poll_timeout(), self.demand.deadline()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(now_ms + IDLE_WAIT_MS),
        }
    }
}

/// How many ingests are connected to their camera now (the server waits for them to send
/// TEARDOWN when it stops).
#[derive(Debug, Default)]
pub struct Connections(Rc<Cell<usize>>);

impl Connections {
    pub fn count(&self) -> usize {
        self.0.get()
    }

    /// Counts one connection while the guard lives.
    pub fn guard(&self) -> ConnectionGuard {
        self.0.set(self.0.get() + 1);
        ConnectionGuard(self.0.clone())
    }
}

/// One connected ingest, counted in [`Connections`] until dropped.
pub struct ConnectionGuard(Rc<Cell<usize>>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Hub;
    use crate::server::rtsp::IngestState;

    fn setup(extra: &str) -> (ServerCtx, Ingester) {
        let text =
            format!("[[ingest]]\nurl = \"rtsp://10.0.0.2/s\"\nstream = \"live/cam\"\n{extra}");
        let config = Config::from_toml_str(&text, "t").unwrap();
        let ingester = Ingester::new(0, &config, &config.ingests[0], 0);
        let hub = Hub::new(config.max_streams);
        (ServerCtx::new(config, hub), ingester)
    }

    fn begin(ctx: &ServerCtx, ingester: &mut Ingester, now_ms: u64) -> Pull {
        ingester
            .begin(&ctx.config(), "00".into(), 1, now_ms)
            .expect("a pull")
    }

    #[test]
    fn a_failed_pull_backs_off_and_a_played_one_starts_over() {
        let (ctx, mut ingester) = setup("");
        let pull = begin(&ctx, &mut ingester, 0);
        assert_eq!(ingester.status.state(), IngestState::Connecting);
        let until = ingester.ended(pull, Err("refused".into()), 100);
        assert_eq!(until, Some(1_100));
        assert_eq!(ingester.status.state(), IngestState::Backoff);
        let pull = begin(&ctx, &mut ingester, 1_100);
        assert_eq!(
            ingester.ended(pull, Err("refused".into()), 1_200),
            Some(3_200)
        );
        let mut pull = begin(&ctx, &mut ingester, 3_200);
        pull.played = true;
        assert_eq!(
            ingester.ended(pull, Err("gone".into()), 9_000),
            Some(10_000)
        );
        // A restart asked during the wait ends it; a restart ending a pull reconnects at once.
        ingester.status.request_restart();
        assert!(ingester.take_restart());
        let pull = begin(&ctx, &mut ingester, 9_500);
        assert_eq!(ingester.ended(pull, Ok(End::Restart), 9_600), None);
    }

    #[test]
    fn auto_without_udp_ports_pulls_over_tcp() {
        let (ctx, mut ingester) = setup("transport = \"auto\"\n");
        assert!(ingester.want_udp());
        let mut pull = begin(&ctx, &mut ingester, 0);
        let sockets: Vec<()> = pull.udp_bound(Err(std::io::ErrorKind::AddrInUse.into()));
        assert!(sockets.is_empty() && !pull.with_udp && !pull.session.over_udp());
        let ports = [Pair::new(5000, 5001); MAX_TRACKS];
        assert_eq!(pull.udp_bound(Ok((vec![(), ()], ports))).len(), 2);
        assert!(pull.with_udp);
    }

    #[test]
    fn stopping_restarting_or_unwatched_tear_the_pull_down() {
        let (ctx, mut ingester) = setup("");
        let mut pull = begin(&ctx, &mut ingester, 0);
        assert_eq!(pull.poll(&ctx, false, 0), Step::Idle);
        assert_eq!(pull.poll(&ctx, true, 10), Step::Closed(End::Stopped));

        let mut pull = begin(&ctx, &mut ingester, 0);
        ingester.status.request_restart();
        assert_eq!(pull.poll(&ctx, false, 10), Step::Closed(End::Restart));

        let (ctx, mut ingester) = setup("mode = \"on_demand\"\non_demand_close_after = 5\n");
        ingester.set_watched(true, 0);
        let mut pull = begin(&ctx, &mut ingester, 0);
        pull.set_watched(false, 1_000);
        assert_eq!(
            pull.deadline(1_000),
            6_000.min(pull.session.poll_timeout().unwrap())
        );
        assert_eq!(pull.poll(&ctx, false, 5_999), Step::Idle);
        assert_eq!(pull.poll(&ctx, false, 6_000), Step::Closed(End::Stopped));
        // The ingest learns the pull's demand: nobody watches.
        assert_eq!(ingester.ended(pull, Ok(End::Stopped), 6_000), None);
        assert!(!ingester.wanted(6_000));
    }

    #[test]
    fn datagrams_come_only_from_the_camera() {
        let (ctx, mut ingester) = setup("");
        let mut pull = begin(&ctx, &mut ingester, 0);
        let camera: SocketAddr = "10.0.0.2:554".parse().unwrap();
        pull.peer = Some(camera);
        let other: SocketAddr = "10.0.0.3:5000".parse().unwrap();
        let rtcp = [0x81, 201, 0, 1, 0, 0, 0, 1];
        pull.handle_datagram(0, 1, Ok((&rtcp, other)));
        assert_eq!(ingester.status.view(0).recv_bytes, 0);
        pull.handle_datagram(0, 1, Ok((&[0; MAX_DATAGRAM + 1], camera)));
        assert_eq!(ingester.status.view(0).recv_bytes, 0);
        pull.handle_datagram(0, 1, Ok((&rtcp, "10.0.0.2:5001".parse().unwrap())));
        assert_eq!(ingester.status.view(0).recv_bytes, 8);
    }

    #[test]
    fn hub_events_about_viewers() {
        let key = StreamKey {
            vhost: "v".into(),
            app: "live".into(),
            stream: "cam".into(),
        };
        let watched = HubEvent::Watched { key: key.clone() };
        assert_eq!(watched_change(&watched), Some((&key, true)));
        let unwatched = HubEvent::Unwatched { key: key.clone() };
        assert_eq!(watched_change(&unwatched), Some((&key, false)));
    }

    #[test]
    fn connections_count_while_their_guards_live() {
        let c = Connections::default();
        let a = c.guard();
        let b = c.guard();
        assert_eq!(c.count(), 2);
        drop(a);
        drop(b);
        assert_eq!(c.count(), 0);
    }
}
