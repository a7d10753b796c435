//! RTSP camera ingest (`[[ingest]]`): the glue between a camera's client session
//! (`session::rtsp`) and the hub. No I/O and no clock: `net::rtsp` connects, reads, writes,
//! sleeps and passes the time in.
//!
//! * [`Publisher`]: the stream a camera publishes, as an RTMP publisher does: it publishes when
//!   the camera starts playing, hands every frame to the Source and unpublishes when the
//!   connection ends (players stay attached and get the stream again after a reconnect). It
//!   is a client of the registry (`/api/v1/clients`, the stream's byte counts) while
//!   connected, listed as `rtsp-ingest`.
//! * [`Demand`]: whether an ingest should run now: always, or (on demand) while its stream
//!   has viewers and `on_demand_close_after` seconds after the last left. It learns about
//!   viewers from the hub's Watched/Unwatched events.
//! * [`Backoff`]: the wait before a reconnect, 1 s doubling to 30 s, back to 1 s once the
//!   camera played; [`attempts`]: what follows a pull's end (backoff, `auto`'s fallback to
//!   TCP, the log).
//! * [`status`]: each ingest's state for `/api/v1/ingests`, and the restart the API asks for.
//! * [`pull`]: one ingest's life as `net::rtsp` drives it: when to pull, what a pull's
//!   events mean (publish, status, log, teardown), its deadline, what follows its end.
//!
//! Hooks: before it publishes, an ingest asks the vhost's `on_publish` hooks
//! ([`Publisher::on_publish_call`]; a refusal fails the pull, which backs off and retries) and
//! when it unpublishes it tells `on_unpublish`. The payload is that of SRS's ingest, which is
//! an ffmpeg publishing to SRS over RTMP from the same box: `ip` 127.0.0.1, `tcUrl`
//! `rtmp://127.0.0.1/{app}`, empty `param`; `client_id` is the ingest's API id.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::config::{Config, Ingest, IngestMode};
use crate::live::{ClientId, HubError, Source, StreamKey};
use crate::media::Frame;
use crate::server::stats::{ClientKind, ClientRecord, Registration};
use crate::server::{ConnLog, ServerCtx};
use crate::session::rtsp::ClientConfig;
use crate::wire::rtsp::url::Url;

pub mod attempts;
pub mod pull;
pub mod status;

pub use status::{IngestState, IngestStatus, IngestTable};

/// First wait before reconnecting to a camera that failed.
pub const BACKOFF_MIN_MS: u64 = 1_000;
/// Longest wait between reconnects.
pub const BACKOFF_MAX_MS: u64 = 30_000;
/// How long a camera may take to accept the connection and to answer each request.
pub const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// How long a playing camera may send no media before the connection is given up.
pub const MEDIA_TIMEOUT_MS: u64 = 20_000;
/// Ingest client ids count down from here, apart from connection ids (which count up from 1)
/// and GB28181 media sessions (from 2^31 up).
const INGEST_CLIENT_BASE: ClientId = 0x7FFF_FFFF;

/// The hub stream an ingest publishes: its vhost as configured (the default vhost when that
/// is not a configured one), app and stream.
pub fn stream_key(config: &Config, ingest: &Ingest) -> StreamKey {
    let vhost = config
        .resolve_vhost(&ingest.vhost)
        .unwrap_or(config.default_vhost());
    StreamKey {
        vhost: vhost.name.clone(),
        app: ingest.app().to_owned(),
        stream: ingest.stream_name().to_owned(),
    }
}

/// The client id of the `index`th ingest.
pub fn client_id(index: usize) -> ClientId {
    INGEST_CLIENT_BASE - index as ClientId
}

/// The session's settings for an ingest; `cnonce` from the driver's generator. `None` when
/// the URL does not parse (the config refuses such a URL, so only for a build without the
/// check).
pub fn client_config(config: &Config, ingest: &Ingest, cnonce: String) -> Option<ClientConfig> {
    Some(ClientConfig {
        url: Url::parse(&ingest.url)?,
        cnonce,
        max_access_unit: config.rtmp_max_message_bytes,
        request_timeout_ms: REQUEST_TIMEOUT_MS,
        media_timeout_ms: MEDIA_TIMEOUT_MS,
    })
}

/// The stream of one camera connection in the hub.
pub struct Publisher {
    pub key: StreamKey,
    client: ClientId,
    source: Option<Rc<RefCell<Source>>>,
    registration: Option<Registration>,
    /// The ingest's status for the API, which counts the bytes of every connection.
    status: Option<Rc<IngestStatus>>,
}

impl Publisher {
    pub fn new(key: StreamKey, client: ClientId) -> Publisher {
        Publisher {
            key,
            client,
            source: None,
            registration: None,
            status: None,
        }
    }

    /// Counts the bytes received into `status` too.
    pub fn with_status(mut self, status: Rc<IngestStatus>) -> Publisher {
        self.status = Some(status);
        self
    }

    /// The connection to the camera at `peer` is up: a client of the registry from now on.
    pub fn connected(&mut self, ctx: &ServerCtx, peer: SocketAddr, now_ms: u64) {
        let log = ConnLog::new(u64::from(self.client).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let record = ClientRecord::new(self.client, &log.cid, peer, now_ms);
        self.registration = Some(Registration::new(ctx.clients.clone(), record));
    }

    /// Bytes received from the camera, for the stream's and the client's counts.
    pub fn received(&self, bytes: usize) {
        if let Some(s) = &self.status {
            s.received(bytes);
        }
        if let Some(r) = &self.registration {
            r.record.recv.add(bytes as u64);
        }
    }

    /// Bytes sent to the camera.
    pub fn sent(&self, bytes: usize) {
        if let Some(r) = &self.registration {
            r.record.send.add(bytes as u64);
        }
    }

    /// Who the ingest is for the hooks (see the module doc).
    #[cfg(feature = "hooks")]
    fn hook_client(&self) -> crate::server::hooks::Client {
        let cid = self.registration.as_ref().map_or_else(
            || ConnLog::new(u64::from(self.client).wrapping_mul(0x9e37_79b9_7f4a_7c15)).cid,
            |r| heapless::String::try_from(r.record.cid.as_str()).unwrap_or_default(),
        );
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        crate::server::hooks::Client {
            vhost: self.key.vhost.clone(),
            app: self.key.app.clone(),
            stream: self.key.stream.clone(),
            tc_url: format!("rtmp://127.0.0.1/{}", self.key.app),
            ..crate::server::hooks::Client::new(&cid, ip)
        }
    }

    /// The `on_publish` decision to wait for before [`Publisher::publish`], when the vhost
    /// has such hooks and the stream is not published yet.
    #[cfg(feature = "hooks")]
    pub fn on_publish_call(&self, ctx: &ServerCtx) -> Option<crate::server::hooks::HookCall> {
        if self.source.is_some() {
            return None;
        }
        let config = ctx.config();
        let vhost = config.vhost(&self.key.vhost)?;
        let client = self.hook_client();
        let extra = crate::server::hooks::Extra::default();
        ctx.hooks.call(
            vhost,
            crate::server::hooks::Action::Publish,
            &client,
            &extra,
        )
    }

    /// The camera plays: publish the stream (refused when another publisher has it).
    pub fn publish(&mut self, ctx: &ServerCtx, now_ms: u64) -> Result<(), HubError> {
        if self.source.is_some() {
            return Ok(());
        }
        let config = ctx.config();
        let vhost = config
            .resolve_vhost(&self.key.vhost)
            .unwrap_or(config.default_vhost())
            .clone();
        let settings = crate::server::source_settings(&vhost);
        let source = ctx
            .hub
            .borrow_mut()
            .publish(&self.key, self.client, settings, now_ms)?;
        crate::server::on_publish(ctx, &source, &vhost);
        #[cfg(feature = "hooks")]
        ctx.hooks.published(&self.hook_client());
        if let Some(r) = &self.registration {
            r.record.kind.set(ClientKind::RtspIngest);
            *r.record.stream.borrow_mut() = Some(self.key.clone());
        }
        self.source = Some(source);
        Ok(())
    }

    /// A frame from the camera (dropped until published).
    pub fn on_frame(&mut self, frame: Frame) {
        if let Some(source) = &self.source {
            source.borrow_mut().on_frame(frame);
        }
    }

    pub fn is_published(&self) -> bool {
        self.source.is_some()
    }

    /// The connection ended: unpublish (players stay attached) and leave the registry.
    pub fn stop(&mut self, ctx: &ServerCtx, now_ms: u64) {
        if self.source.take().is_some() {
            ctx.hub
                .borrow_mut()
                .unpublish(&self.key, self.client, now_ms);
            #[cfg(feature = "hooks")]
            if let Some(vhost) = ctx.config().vhost(&self.key.vhost) {
                let extra = crate::server::hooks::Extra::default();
                let unpublish = crate::server::hooks::Action::Unpublish;
                ctx.hooks
                    .notify(vhost, unpublish, &self.hook_client(), &extra);
            }
        }
        self.registration = None;
    }
}

/// Whether an ingest should be pulling now.
#[derive(Debug, Clone)]
pub struct Demand {
    mode: IngestMode,
    close_after_ms: u64,
    watched: bool,
    /// When the last viewer left (on demand), while nobody watches.
    unwatched_since: Option<u64>,
}

impl Demand {
    pub fn new(ingest: &Ingest) -> Demand {
        Demand {
            mode: ingest.mode,
            close_after_ms: u64::from(ingest.on_demand_close_after_s) * 1000,
            watched: false,
            unwatched_since: None,
        }
    }

    /// The stream got its first viewer (`true`) or lost its last (`false`).
    pub fn set_watched(&mut self, watched: bool, now_ms: u64) {
        if watched == self.watched {
            return;
        }
        self.watched = watched;
        self.unwatched_since = (!watched).then_some(now_ms);
    }

    /// Pull now? Always; on demand while watched or within `on_demand_close_after` of the
    /// last viewer leaving.
    pub fn wanted(&self, now_ms: u64) -> bool {
        match self.mode {
            IngestMode::Always => true,
            IngestMode::OnDemand => {
                self.watched
                    || self
                        .unwatched_since
                        .is_some_and(|t| now_ms < t.saturating_add(self.close_after_ms))
            }
        }
    }

    /// When [`Demand::wanted`] turns false by itself, if it will.
    pub fn deadline(&self) -> Option<u64> {
        match (self.mode, self.watched, self.unwatched_since) {
            (IngestMode::OnDemand, false, Some(t)) => Some(t.saturating_add(self.close_after_ms)),
            _ => None,
        }
    }
}

/// The wait before the next connection attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    next_ms: u64,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            next_ms: BACKOFF_MIN_MS,
        }
    }
}

impl Backoff {
    /// The wait after a failure; the next one is twice as long, up to [`BACKOFF_MAX_MS`].
    pub fn after_failure(&mut self) -> u64 {
        let wait = self.next_ms;
        self.next_ms = (wait * 2).min(BACKOFF_MAX_MS);
        wait
    }

    /// The camera played: the next failure waits [`BACKOFF_MIN_MS`] again.
    pub fn reset(&mut self) {
        self.next_ms = BACKOFF_MIN_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ingest(mode: IngestMode) -> Ingest {
        let text = format!(
            "[[ingest]]\nurl = \"rtsp://10.0.0.2/s\"\nstream = \"live/cam\"\nmode = \"{}\"\n\
             on_demand_close_after = 5\n",
            mode.as_str()
        );
        Config::from_toml_str(&text, "t").unwrap().ingests[0].clone()
    }

    #[test]
    fn always_is_always_wanted() {
        let mut d = Demand::new(&ingest(IngestMode::Always));
        assert!(d.wanted(0));
        d.set_watched(true, 10);
        d.set_watched(false, 20);
        assert!(d.wanted(1_000_000));
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn on_demand_pulls_while_watched_and_for_the_grace_after() {
        let mut d = Demand::new(&ingest(IngestMode::OnDemand));
        assert!(!d.wanted(0));
        assert_eq!(d.deadline(), None);
        d.set_watched(true, 1_000);
        assert!(d.wanted(1_000));
        assert!(d.wanted(100_000));
        d.set_watched(false, 100_000);
        assert_eq!(d.deadline(), Some(105_000));
        assert!(d.wanted(104_999));
        assert!(!d.wanted(105_000));
        // A viewer back within the grace keeps it going.
        d.set_watched(true, 104_000);
        assert!(d.wanted(200_000));
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn backoff_doubles_to_30_s_and_resets() {
        let mut b = Backoff::default();
        let waits: Vec<u64> = (0..7).map(|_| b.after_failure()).collect();
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
        b.reset();
        assert_eq!(b.after_failure(), 1_000);
    }

    #[test]
    fn the_publisher_is_a_hub_source_and_a_client_while_connected() {
        use crate::live::Hub;
        use bytes::Bytes;
        let config = Config::embedded();
        let ctx = ServerCtx::new(config.clone(), Hub::new(4));
        let key = stream_key(&config, &ingest(IngestMode::Always));
        let mut p = Publisher::new(key.clone(), client_id(0));
        p.connected(&ctx, "10.0.0.2:554".parse().unwrap(), 0);
        let record = ctx.clients.get(client_id(0)).expect("in the registry");
        assert_eq!(record.kind.get(), ClientKind::Unknown);
        p.received(1000);
        // Frames before publishing go nowhere.
        p.on_frame(Frame::audio(
            crate::media::AudioCodec::G711A,
            0,
            false,
            Bytes::from_static(&[0x72, 1]),
            1,
        ));
        p.publish(&ctx, 10).unwrap();
        assert_eq!(record.kind.get(), ClientKind::RtspIngest);
        let source = ctx.hub.borrow().source(&key).unwrap();
        assert_eq!(source.borrow().publisher(), Some(client_id(0)));
        p.on_frame(Frame::audio(
            crate::media::AudioCodec::G711A,
            20,
            false,
            Bytes::from_static(&[0x72, 2]),
            1,
        ));
        // Another publisher of the stream is refused while the camera has it.
        let mut other = Publisher::new(key.clone(), client_id(1));
        assert!(other.publish(&ctx, 20).is_err());
        p.stop(&ctx, 30);
        assert_eq!(source.borrow().publisher(), None);
        assert!(ctx.clients.get(client_id(0)).is_none());
        assert!(!p.is_published());
    }

    #[test]
    fn the_stream_key_is_app_and_stream_on_the_default_vhost() {
        let config = Config::embedded();
        let key = stream_key(&config, &ingest(IngestMode::Always));
        assert_eq!(
            (key.vhost.as_str(), key.app.as_str(), key.stream.as_str()),
            (crate::config::DEFAULT_VHOST, "live", "cam")
        );
    }
}
