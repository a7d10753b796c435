//! The WebRTC server above the socket (issue 15): WHEP players of hub streams and WHIP
//! publishers into the hub, one UDP port for every peer, and ICE-TCP connections to the same
//! port number ([`tcp`]). No socket and no clock: `net::rtc` passes datagrams and the time in
//! and sends what [`RtcServer::take_transmits`] hands out; `net::rtc_tcp` does the same for
//! each TCP connection. The protocol (ICE-lite, DTLS, SRTP, RTCP, SDP)
//! is str0m's, one `Rtc` per session, in its RTP mode.
//!
//! What a caller must know:
//! - [`RtcServer::play`] answers a WHEP offer: the stream must be published with H.264, H.265
//!   or AV1 video ([`RtcVideo`]) and the offer must take that codec (H.264 with packetization
//!   mode 1; H.265 as Safari and Chrome 136+ offer it), else 400 naming the stream's codec;
//!   the answer's video m-line has that codec alone, no transcoding. It has ICE-lite and
//!   the host candidates `rtc_server.protocol` asks for at `rtc_server.candidate`: UDP on the
//!   bound port, TCP passive (RFC 6544) on the TCP listener's ([`candidates`]).
//! - Media: each frame is packetized once (`server::rtsp_server::packets`, the RTP packets the
//!   RTSP server shares: RFC 6184 or RFC 7798, with the SPS/PPS or VPS/SPS/PPS before each
//!   keyframe; AV1 by `wire::rtp::av1`, the `av1C` record's sequence header before each
//!   keyframe that lacks one) and its payloads are held once as `Arc<[u8]>` in
//!   [`PACKET_CACHE_FRAMES`] recent frames, which every WebRTC player of the stream hands to
//!   str0m (each player only adds its header and its SRTP).
//! - A player starts with the hub's cached GOP (its keyframe first) once DTLS is up.
//! - Audio ([`audio`]): G.711 8 kHz mono as PCMA/PCMU and Opus as Opus, when the offer has
//!   that codec on its audio m-line; sent from the first keyframe on, its RTP timestamps the
//!   frames' DTS (the video's origin), its payloads shared like video's. Other audio (AAC has
//!   no WebRTC mapping) and a session whose audio m-line is missing, inactive or without the
//!   codec get video only (one log line per session); the video never waits for audio.
//! - A stream without such video (audio only, VP9...) is refused ([`OfferError::NoVideo`]).
//! - A session ends on `DELETE` of its resource, when ICE disconnects, when it is not
//!   connected within [`CONNECT_TIMEOUT_MS`], or when the publisher leaves.
//! - WHIP publishers are [`publish`]'s.
//! - Trickle ICE: a `PATCH` of the session's resource adds the client's candidates
//!   ([`trickle`]); an ICE restart is refused.
//! - Not supported: ICE-TCP active or simultaneous-open candidates
//!   (ours is passive: the browser connects), AAC audio (no transcoding), VP8/VP9, and a
//!   codec the stream does not have (no transcoding: a browser without H.265, as Debian's
//!   Chromium, cannot play an HEVC stream).

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::Codec as RtcCodec;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::net::TcpType;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, RtpWrite, SeqNo};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::config::{Config, RtcProtocol};
use crate::live::{ClientId, Hub, PlayerQueue, QueueItem, QueueLimits, StreamKey};
use crate::media::{Codec, FrameKind, SharedFrame, VideoCodec};
use crate::server::rtsp_server::{packets, rtp_timestamp, VideoParams, MTU};
use crate::server::stats::Registration;
use crate::server::{MAX_BATCH_BYTES, MAX_BATCH_ITEMS};
use crate::wire::rtp::{av1, FIXED_HEADER_LEN};

pub mod audio;
pub mod crypto;
pub mod publish;
pub mod tcp;
pub mod trickle;

/// A session that is not connected (ICE and DTLS) this long after its answer is dropped.
pub const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Recent frames whose RTP payloads stay built for the players that have not sent them yet.
/// RAM: the payloads of this many frames per server (they are the frames' bytes again).
pub const PACKET_CACHE_FRAMES: usize = 16;
/// Video RTP packets a session keeps to answer NACKs (str0m's send history). The payloads
/// are the shared ones; each entry is str0m's packet record (its `RtpPacket` is 408 bytes on
/// 64-bit targets, with its header) and the buffer's bookkeeping: about 430 bytes.
pub const SEND_HISTORY_PACKETS: usize = 512;
/// Audio RTP packets a session holds between a write and its send (str0m's audio send buffer;
/// audio is not resent, so one batch's packets is all it needs: 16 x 20 ms of G.711). Each
/// entry is its header and bookkeeping (the payloads are shared), about 100 bytes.
pub const SEND_BUFFER_AUDIO_PACKETS: usize = 16;
/// The largest datagram read from the socket (ICE, DTLS and SRTP all fit a 1500-byte MTU).
pub const MAX_DATAGRAM: usize = 2048;
/// Datagrams waiting for the driver at most; past it they are dropped (and counted): the
/// driver sends them right after each call, so only one batch of media ever waits.
pub const MAX_TRANSMITS: usize = 4096;
/// One session at worst, beyond its player queue and the shared payloads, as measured: 1.0 to
/// 1.1 MiB of the server's RSS per connected session with media flowing (`ci/bench-rtc`, 50
/// Chromium players, three runs). Of it, str0m's send histories are (512 + 16) x ~430 B, about
/// 220 KiB; the rest (str0m's `Rtc`, 10 KiB itself, with its ICE agent, DTLS and SRTP
/// contexts and stream state, one batch of datagrams in flight, and the allocator's share)
/// is not yet attributed piece by piece. The budget takes the measurement, not the sum of
/// the parts known.
pub const SESSION_BYTES: usize = 1152 * 1024;
/// Bytes of an `av1C` record before its configOBUs (AV1-ISOBMFF §2.3.3).
const AV1C_FIXED_LEN: usize = 4;
/// WebRTC players take client ids from this base up, apart from the TCP connections' ids.
pub const CLIENT_ID_BASE: ClientId = 0xC000_0000;

/// Why an offer is refused, with its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error("bad offer: {0}")]
    BadOffer(String),
    #[error("no such stream")]
    NotFound,
    #[error("the stream has no video WebRTC carries (H.264, H.265, AV1)")]
    NoVideo,
    #[error("the offer takes no H.264 (packetization-mode 1)")]
    NoH264,
    /// The stream's video is in a codec the offer does not have on its video m-line.
    #[error("the stream's video is {0} and the offer takes no {0}")]
    NoCodec(RtcVideo),
    /// A WHIP offer whose video is none of them.
    #[error("the offer sends no H.264 (packetization-mode 1), H.265 or AV1 video")]
    NoPublishCodec,
    #[error("rtc_server.max_sessions reached")]
    Full,
    #[error("the WebRTC port is not bound")]
    NotReady,
}

impl OfferError {
    pub fn status(&self) -> u16 {
        match self {
            OfferError::BadOffer(_)
            | OfferError::NoH264
            | OfferError::NoCodec(_)
            | OfferError::NoPublishCodec => 400,
            OfferError::NotFound | OfferError::NoVideo => 404,
            OfferError::Full | OfferError::NotReady => 503,
        }
    }
}

/// The video codecs a WHEP player is sent, one per session: the stream's own (no
/// transcoding), when the offer has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtcVideo {
    /// RFC 6184 with packetization mode 1 (FU-A).
    H264,
    /// RFC 7798.
    H265,
    /// AOM's "RTP Payload Format For AV1" ([`av1`]).
    Av1,
}

impl RtcVideo {
    /// The WebRTC codec of a stream's video codec, if it has one.
    pub fn of(codec: Option<Codec>) -> Option<RtcVideo> {
        match codec? {
            Codec::Video(VideoCodec::Avc) => Some(RtcVideo::H264),
            Codec::Video(VideoCodec::Hevc) => Some(RtcVideo::H265),
            Codec::Video(VideoCodec::Av1) => Some(RtcVideo::Av1),
            _ => None,
        }
    }

    fn codec(self) -> RtcCodec {
        match self {
            RtcVideo::H264 => RtcCodec::H264,
            RtcVideo::H265 => RtcCodec::H265,
            RtcVideo::Av1 => RtcCodec::Av1,
        }
    }
}

impl std::fmt::Display for RtcVideo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RtcVideo::H264 => "H.264",
            RtcVideo::H265 => "H.265",
            RtcVideo::Av1 => "AV1",
        })
    }
}

/// A packet for a peer, over UDP or over its TCP connection ([`tcp`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub proto: Protocol,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

impl From<str0m::net::Transmit> for Transmit {
    fn from(t: str0m::net::Transmit) -> Transmit {
        Transmit {
            proto: t.proto,
            to: t.destination,
            data: t.contents.into(),
        }
    }
}

/// The payloads of one frame's RTP packets: (marker bit, timestamp offset from the frame's
/// in the codec's clock, payload).
type Payloads = Rc<[(bool, u32, Arc<[u8]>)]>;

/// A session's audio m-line, when it carries the stream's audio ([`audio`]).
struct AudioOut {
    mid: Mid,
    pt: Pt,
    codec: audio::RtcAudio,
    seq: u64,
    talkspurt: audio::Talkspurt,
    /// Frames not sent because they do not fit the codec negotiated (logged once).
    refused: u64,
}

struct Session {
    id: u64,
    rtc: Rtc,
    key: StreamKey,
    client: ClientId,
    queue: Rc<RefCell<PlayerQueue>>,
    mid: Option<Mid>,
    pt: Pt,
    seq: u64,
    connected: bool,
    /// Server ms by which ICE and DTLS must be up.
    connect_by: u64,
    video: Option<VideoParams>,
    /// AV1: the stream's sequence header frame (its `av1C` record's sequence header OBU goes
    /// before each keyframe).
    av1_header: Option<SharedFrame>,
    audio: Option<AudioOut>,
    /// Frames are skipped until a keyframe (the first one sent, or after a queue shrink).
    want_keyframe: bool,
    timeout: Instant,
    ended: bool,
    /// Its `/api/v1/clients` entry (`rtc-play`), gone with the session.
    registration: Option<Registration>,
    /// The offer's ICE credentials, which a trickle `PATCH` must repeat ([`trickle`]).
    remote_ice: trickle::RemoteIce,
}

/// Every WebRTC session and the UDP port's pending output.
pub struct RtcServer {
    /// The server clock's zero as an `Instant` (str0m's time), set by the driver.
    epoch: Option<Instant>,
    /// The bound UDP address, once the driver has it.
    local: Option<SocketAddr>,
    /// The TCP listener's address (ICE-TCP), once its driver has it.
    tcp_local: Option<SocketAddr>,
    /// ICE-TCP connections.
    tcp: Vec<tcp::TcpConn>,
    next_tcp_id: u64,
    /// The DTLS certificate of every session (made once at start; its fingerprint is in
    /// every answer).
    cert: Option<DtlsCert>,
    sessions: Vec<Session>,
    /// WHIP publishers.
    publishers: Vec<publish::Publisher>,
    next_id: u64,
    out: Vec<Transmit>,
    cache: std::collections::VecDeque<(SharedFrame, Payloads)>,
    waker: Option<Waker>,
    /// Datagrams dropped past [`MAX_TRANSMITS`], and peer datagrams no session took.
    pub dropped_transmits: u64,
    pub stray_datagrams: u64,
}

impl Default for RtcServer {
    fn default() -> RtcServer {
        RtcServer::new()
    }
}

impl RtcServer {
    pub fn new() -> RtcServer {
        RtcServer {
            epoch: None,
            local: None,
            tcp_local: None,
            tcp: Vec::new(),
            next_tcp_id: 0,
            cert: None,
            sessions: Vec::new(),
            publishers: Vec::new(),
            next_id: 0,
            out: Vec::new(),
            cache: Default::default(),
            waker: None,
            dropped_transmits: 0,
            stray_datagrams: 0,
        }
    }

    /// The driver bound the port: `local` is its address, `epoch` the server clock's zero,
    /// `cert` the DTLS certificate ([`dtls_cert`]).
    pub fn bound(&mut self, local: SocketAddr, epoch: Instant, cert: DtlsCert) {
        self.cert = Some(cert);
        self.local = Some(local);
        self.epoch = Some(epoch);
    }

    /// The TCP listener of ICE-TCP is bound at `local`.
    pub fn tcp_bound(&mut self, local: SocketAddr) {
        self.tcp_local = Some(local);
    }

    /// Sessions: WHEP players and WHIP publishers.
    pub fn len(&self) -> usize {
        self.sessions.len() + self.publishers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn instant(&self, now_ms: u64) -> Option<Instant> {
        self.epoch.map(|e| e + Duration::from_millis(now_ms))
    }

    /// The driver's waker: woken when a session is added or removed.
    pub fn set_waker(&mut self, waker: &Waker) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.waker = Some(waker.clone());
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// A WHEP offer for `key`: the session's id (its resource) and the answer. `host` is the
    /// request's `Host` (for `rtc_server.candidate = "*"`).
    #[allow(clippy::too_many_arguments)]
    pub fn play(
        &mut self,
        config: &Config,
        hub: &RefCell<Hub>,
        key: &StreamKey,
        offer: &str,
        host: Option<&str>,
        limits: QueueLimits,
        settings: crate::live::SourceSettings,
        now_ms: u64,
    ) -> Result<(u64, String), OfferError> {
        let local = self.local.ok_or(OfferError::NotReady)?;
        let cert = self.cert.as_ref().ok_or(OfferError::NotReady)?;
        if self.len() >= config.rtc_server_max_sessions {
            return Err(OfferError::Full);
        }
        let source = hub.borrow().source(key).ok_or(OfferError::NotFound)?;
        let (codec, video, av1_header, wanted) = {
            let s = source.borrow();
            if s.publisher().is_none() {
                return Err(OfferError::NotFound);
            }
            let codec = RtcVideo::of(s.video_codec()).ok_or(OfferError::NoVideo)?;
            let sample = s
                .gop()
                .find(|f| f.kind == FrameKind::Audio && !f.sequence_header);
            let wanted = audio::choose(
                s.audio_codec(),
                s.audio_header().map(|h| &**h),
                sample.map(|f| &**f),
            );
            if let Err(why) = wanted {
                log::info!("rtc: {}/{} has {why}: video only", key.app, key.stream);
            }
            (
                codec,
                s.video_header().and_then(|h| VideoParams::of(h)),
                s.video_header().filter(|_| codec == RtcVideo::Av1).cloned(),
                wanted,
            )
        };
        let now = self.instant(now_ms).ok_or(OfferError::NotReady)?;
        let ip = candidate_ip(&config.rtc_server_candidate, local, host);
        let candidates = self.candidates(config, ip)?;
        let Accepted {
            rtc,
            mid,
            pt,
            answer,
            transmits,
            timeout,
        } = accept(offer, codec, cert, &candidates, now)?;
        let audio = match wanted {
            Ok(Some(codec)) => {
                let track = audio::track(&rtc, offer, codec);
                if track.is_none() {
                    log::info!(
                        "rtc: the offer for {}/{} takes no {codec:?} audio: video only",
                        key.app,
                        key.stream
                    );
                }
                track.map(|(mid, pt)| AudioOut {
                    mid,
                    pt,
                    codec,
                    seq: u64::from((now_ms as u16).wrapping_add(0x8000)),
                    talkspurt: Default::default(),
                    refused: 0,
                })
            }
            _ => None,
        };
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let client = client_id(id);
        let queue = hub
            .borrow_mut()
            .play(key, client, settings, limits, now_ms)
            .map_err(|_| OfferError::Full)?;
        let session = Session {
            id,
            rtc,
            key: key.clone(),
            client,
            queue,
            mid: Some(mid),
            pt,
            seq: u64::from(now_ms as u16),
            connected: false,
            connect_by: now_ms.saturating_add(CONNECT_TIMEOUT_MS),
            video,
            av1_header,
            audio,
            want_keyframe: true,
            timeout,
            ended: false,
            registration: None,
            remote_ice: trickle::RemoteIce::of(offer),
        };
        self.out.extend(transmits);
        log::info!(
            "rtc: WHEP session {id} plays {}/{} (client {client}), candidates {}, video {codec}, audio {:?}",
            key.app,
            key.stream,
            candidates
                .iter()
                .map(|c| format!("{} {}", c.proto(), c.addr()))
                .collect::<Vec<_>>()
                .join(", "),
            session.audio.as_ref().map(|a| a.codec)
        );
        self.sessions.push(session);
        self.wake();
        Ok((id, answer))
    }

    /// A WHIP offer: str0m's answer, before the stream is published (the glue checks the
    /// rules and hooks and publishes, then calls [`RtcServer::add_publisher`]). `host` is the
    /// request's `Host` (for `rtc_server.candidate = "*"`).
    pub fn accept_publish(
        &mut self,
        config: &Config,
        offer: &str,
        host: Option<&str>,
        now_ms: u64,
    ) -> Result<publish::Accepted, OfferError> {
        let local = self.local.ok_or(OfferError::NotReady)?;
        let cert = self.cert.as_ref().ok_or(OfferError::NotReady)?;
        if self.len() >= config.rtc_server_max_sessions {
            return Err(OfferError::Full);
        }
        let now = self.instant(now_ms).ok_or(OfferError::NotReady)?;
        let ip = candidate_ip(&config.rtc_server_candidate, local, host);
        let candidates = self.candidates(config, ip)?;
        publish::accept(offer, cert, &candidates, now)
    }

    /// The host candidates of an answer at `ip`: `rtc_server.protocol`'s, on the bound ports.
    fn candidates(&self, config: &Config, ip: IpAddr) -> Result<Vec<Candidate>, OfferError> {
        let local = self.local.ok_or(OfferError::NotReady)?;
        let tcp = self.tcp_local.filter(|_| config.rtc_server_tcp.enabled);
        let (udp, tcp) = match config.rtc_server_protocol {
            RtcProtocol::Udp => (Some(local.port()), None),
            RtcProtocol::Tcp => (None, Some(tcp.ok_or(OfferError::NotReady)?.port())),
            RtcProtocol::All => (Some(local.port()), tcp.map(|t| t.port())),
        };
        candidates(ip, udp, tcp).map_err(|e| OfferError::BadOffer(e.to_string()))
    }

    /// Keeps session `id`'s client entry (WHEP player or WHIP publisher) until it ends; the
    /// session counts its bytes there and ends when the API kicks it.
    pub fn register(&mut self, id: u64, registration: Registration) {
        if let Some(s) = self.sessions.iter_mut().find(|s| s.id == id) {
            s.registration = Some(registration);
        } else if let Some(p) = self.publishers.iter_mut().find(|p| p.id == id) {
            p.registration = Some(registration);
        }
    }

    /// A new session's id (its resource) and hub client id.
    pub fn next_session(&mut self) -> (u64, ClientId) {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        (id, client_id(id))
    }

    /// A WHIP publisher whose stream the glue published (`source`, as hub client `client`);
    /// `on_end` runs when the session ends, after the unpublish.
    #[allow(clippy::too_many_arguments)]
    pub fn add_publisher(
        &mut self,
        id: u64,
        client: ClientId,
        accepted: publish::Accepted,
        key: &StreamKey,
        source: Rc<RefCell<crate::live::Source>>,
        max_access_unit: usize,
        on_end: Option<Box<dyn FnOnce()>>,
        now_ms: u64,
    ) {
        let mut p = publish::Publisher::new(
            id,
            accepted,
            key.clone(),
            client,
            source,
            max_access_unit,
            now_ms,
            &mut self.out,
        );
        p.on_end = on_end;
        log::info!(
            "rtc: WHIP session {id} publishes {}/{} (client {client})",
            key.app,
            key.stream
        );
        self.publishers.push(p);
        self.wake();
    }

    /// `DELETE` of a session's resource: false if there is no such session.
    pub fn delete(&mut self, hub: &RefCell<Hub>, id: u64, now_ms: u64) -> bool {
        if let Some(i) = self.publishers.iter().position(|p| p.id == id) {
            let mut p = self.publishers.swap_remove(i);
            p.rtc.disconnect();
            end_publisher(hub, p, now_ms, "deleted");
            self.wake();
            return true;
        }
        let Some(i) = self.sessions.iter().position(|s| s.id == id) else {
            return false;
        };
        let mut s = self.sessions.swap_remove(i);
        s.rtc.disconnect();
        end(hub, &s, now_ms, "deleted");
        self.wake();
        true
    }

    /// A datagram from `source` to our UDP port.
    pub fn handle_datagram(&mut self, now_ms: u64, source: SocketAddr, data: &[u8]) {
        if let Some(local) = self.local {
            self.handle_receive(now_ms, Protocol::Udp, source, local, data);
        }
    }

    /// A packet (a datagram, or a frame of a TCP connection) from `source` to our
    /// `destination`: whether a session took it.
    fn handle_receive(
        &mut self,
        now_ms: u64,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> bool {
        let Some(now) = self.instant(now_ms) else {
            return false;
        };
        let Ok(contents) = data.try_into() else {
            self.stray_datagrams += 1;
            return false;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination,
                contents,
            },
        );
        if let Some(p) = self.publishers.iter_mut().find(|p| p.rtc.accepts(&input)) {
            if let Some(r) = &p.registration {
                r.record.recv.add(data.len() as u64);
            }
            if let Err(e) = p.rtc.handle_input(input) {
                log::debug!("rtc: WHIP session {}: {e}", p.id);
                p.ended = true;
            }
            p.drain(now_ms, &mut self.out, &mut self.dropped_transmits);
            return true;
        }
        let Some(s) = self.sessions.iter_mut().find(|s| s.rtc.accepts(&input)) else {
            self.stray_datagrams += 1;
            return false;
        };
        if let Some(r) = &s.registration {
            r.record.recv.add(data.len() as u64);
        }
        if let Err(e) = s.rtc.handle_input(input) {
            log::debug!("rtc: session {}: {e}", s.id);
            s.ended = true;
        }
        drain(s, &mut self.out, &mut self.dropped_transmits);
        true
    }

    /// Timers due by `now_ms`, media from the players' queues, ended sessions removed.
    pub fn handle_timeout(&mut self, hub: &RefCell<Hub>, now_ms: u64) {
        let Some(now) = self.instant(now_ms) else {
            return;
        };
        for s in &mut self.sessions {
            if s.timeout <= now {
                if let Err(e) = s.rtc.handle_input(Input::Timeout(now)) {
                    log::debug!("rtc: session {}: {e}", s.id);
                    s.ended = true;
                }
                drain(s, &mut self.out, &mut self.dropped_transmits);
            }
            if !s.connected && now_ms >= s.connect_by {
                s.ended = true;
            }
            if s.connected && !s.ended {
                send_media(
                    s,
                    &mut self.cache,
                    now,
                    &mut self.out,
                    &mut self.dropped_transmits,
                );
            }
        }
        for p in &mut self.publishers {
            if p.timeout <= now {
                if let Err(e) = p.rtc.handle_input(Input::Timeout(now)) {
                    log::debug!("rtc: WHIP session {}: {e}", p.id);
                    p.ended = true;
                }
            }
            if !p.connected && now_ms >= p.connect_by {
                p.ended = true;
            }
            p.handle_timeout(now_ms);
            p.drain(now_ms, &mut self.out, &mut self.dropped_transmits);
        }
        let mut i = 0;
        while i < self.publishers.len() {
            let kicked = kicked(&self.publishers[i].registration);
            if kicked || self.publishers[i].ended || !self.publishers[i].rtc.is_alive() {
                let p = self.publishers.swap_remove(i);
                let why = if kicked {
                    "kicked through the API"
                } else if p.connected {
                    "ended"
                } else {
                    "not connected in time"
                };
                end_publisher(hub, p, now_ms, why);
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.sessions.len() {
            let kicked = kicked(&self.sessions[i].registration);
            if kicked || self.sessions[i].ended || !self.sessions[i].rtc.is_alive() {
                let s = self.sessions.swap_remove(i);
                let why = if kicked {
                    "kicked through the API"
                } else if s.connected {
                    "ended"
                } else {
                    "not connected in time"
                };
                end(hub, &s, now_ms, why);
            } else {
                i += 1;
            }
        }
    }

    /// The next deadline, in server ms.
    pub fn poll_timeout(&self) -> Option<u64> {
        let epoch = self.epoch?;
        let publishers = self.publishers.iter().map(|p| {
            let t = p.timeout.saturating_duration_since(epoch).as_millis() as u64;
            t.min(p.deadline())
        });
        self.sessions
            .iter()
            .map(|s| {
                let t = s.timeout.saturating_duration_since(epoch).as_millis() as u64;
                if s.connected {
                    t
                } else {
                    t.min(s.connect_by)
                }
            })
            .chain(publishers)
            .min()
    }

    /// Whether any connected player has frames queued; otherwise registers `waker` with every
    /// such queue.
    pub fn poll_media(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let mut ready = false;
        for s in self.sessions.iter().filter(|s| s.connected) {
            if s.queue.borrow_mut().poll_ready(cx).is_ready() {
                ready = true;
            }
        }
        if ready {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    /// Every datagram waiting, in order: (destination, bytes). What goes over TCP is handed
    /// to its connection first.
    pub fn take_transmits(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.route_tcp();
        std::mem::take(&mut self.out)
            .into_iter()
            .map(|t| (t.to, t.data))
            .collect()
    }
}

/// A session's `Rtc` after it took an offer: the video m-line, its payload type for the
/// stream's codec, the answer, what it sent already and its first deadline.
pub struct Accepted {
    pub rtc: Rtc,
    pub mid: Mid,
    pub pt: Pt,
    pub answer: String,
    transmits: Vec<Transmit>,
    timeout: Instant,
}

/// The host candidates at `ip`: UDP on port `udp`, TCP passive (RFC 6544 §4.5: the browser
/// connects) on port `tcp`.
pub fn candidates(
    ip: IpAddr,
    udp: Option<u16>,
    tcp: Option<u16>,
) -> Result<Vec<Candidate>, str0m::error::IceError> {
    let mut out = Vec::new();
    if let Some(port) = udp {
        out.push(Candidate::host(SocketAddr::new(ip, port), "udp")?);
    }
    if let Some(port) = tcp {
        let c = Candidate::builder()
            .tcp()
            .host(SocketAddr::new(ip, port))
            .tcptype(TcpType::Passive)
            .build()?;
        out.push(c);
    }
    Ok(out)
}

/// Takes a WHEP offer (untrusted text: str0m parses it, [`video_mid`] scans it) for a stream
/// whose video is `video`: ICE-lite with the host `candidates`, that codec alone on the video
/// m-line (the answer names no codec the session will not send), and the audio codecs.
pub fn accept(
    offer: &str,
    video: RtcVideo,
    cert: &DtlsCert,
    candidates: &[Candidate],
    now: Instant,
) -> Result<Accepted, OfferError> {
    let video_mid = video_mid(offer);
    let offer =
        SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::BadOffer(e.to_string()))?;
    let mut rtc = Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_h264(video == RtcVideo::H264)
        .enable_h265(video == RtcVideo::H265)
        .enable_av1(video == RtcVideo::Av1)
        // The audio codecs a stream's audio is sent in ([`audio`]); they also give the audio
        // m-line a codec in the answer when nothing is sent on it (Chromium refuses an m-line
        // without any).
        .enable_opus(true, false)
        .enable_pcma(true, false)
        .enable_pcmu(true, false)
        .set_extension_map(player_extensions())
        .set_send_buffer_video(SEND_HISTORY_PACKETS)
        .set_send_buffer_audio(SEND_BUFFER_AUDIO_PACKETS)
        .set_stats_interval(None)
        .set_dtls_cert(cert.clone())
        .set_crypto_provider(crypto::provider())
        .build(now);
    for c in candidates {
        rtc.add_local_candidate(c.clone());
    }
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| OfferError::BadOffer(e.to_string()))?;
    // The video m-line (str0m announces it as an event) and the payload type of the stream's
    // codec on it (H.264: packetization mode 1, FU-A, which the packetizer makes).
    let mut mid = None;
    let mut transmits = Vec::new();
    let timeout = loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => break t,
            Ok(Output::Transmit(t)) => transmits.push(t.into()),
            Ok(Output::Event(Event::MediaAdded(m))) if m.kind == MediaKind::Video => {
                mid = mid.or(Some(m.mid));
            }
            Ok(Output::Event(_)) => {}
            Err(e) => return Err(OfferError::BadOffer(e.to_string())),
        }
    };
    let mid = mid.or(video_mid);
    let media = mid.and_then(|m| rtc.media(m));
    log::debug!(
        "rtc: offer video mid {mid:?}, remote pts {:?}",
        media.map(|m| m.remote_pts())
    );
    let pt = media.and_then(|media| {
        rtc.codec_config()
            .params()
            .iter()
            .find(|p| {
                let s = p.spec();
                s.codec == video.codec()
                    && (video != RtcVideo::H264 || s.format.packetization_mode == Some(1))
                    && media.remote_pts().contains(&p.pt())
            })
            .map(|p| p.pt())
    });
    let (Some(pt), Some(mid)) = (pt, mid) else {
        return Err(match video {
            RtcVideo::H264 => OfferError::NoH264,
            _ => OfferError::NoCodec(video),
        });
    };
    Ok(Accepted {
        rtc,
        mid,
        pt,
        answer: answer.to_sdp_string(),
        transmits,
        timeout,
    })
}

/// A player's RTP header extensions: str0m's standard ones but transport-wide congestion
/// control (TWCC). Nothing here estimates bandwidth from the browser's TWCC feedback (str0m's
/// BWE is off), and TWCC's send register keeps 1,000 packet records, about 88 KB per session
/// (heaptrack, 20 Chromium players).
fn player_extensions() -> ExtensionMap {
    let mut exts = ExtensionMap::empty();
    for (id, e) in ExtensionMap::standard().iter() {
        if *e != Extension::TransportSequenceNumber {
            exts.set(id, e.clone());
        }
    }
    exts
}

/// A self-signed DTLS certificate (ECDSA P-256 with SHA-256, X.509 v3, DER) for the secret
/// scalar `secret` and serial number `serial` (random, from the driver: browsers want serials
/// unique across machines), and its key as SEC1 DER. Valid from 2000 to 2099: the peer checks
/// only the fingerprint the answer carries (RFC 8827 §6.5), never the dates. `None` when
/// `secret` is not a valid scalar (the driver draws again).
pub fn dtls_cert(secret: &[u8; 32], serial: &[u8; 16]) -> Option<DtlsCert> {
    let cert = crate::wire::x509::self_signed(secret, serial, &[])?;
    Some(DtlsCert {
        certificate: cert.certificate,
        private_key: cert.private_key,
    })
}

/// The `a=mid` of the offer's first video m-line.
pub fn video_mid(offer: &str) -> Option<Mid> {
    first_mid(offer, MediaKind::Video)
}

/// The `a=mid` of the offer's first m-line of `kind` (audio or video).
pub fn first_mid(offer: &str, kind: MediaKind) -> Option<Mid> {
    let prefix = match kind {
        MediaKind::Audio => "audio ",
        MediaKind::Video => "video ",
    };
    let mut inside = false;
    for line in offer.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            inside = m.starts_with(prefix);
        } else if let Some(mid) = line.strip_prefix("a=mid:").filter(|_| inside) {
            return Some(Mid::from(mid.trim()));
        }
    }
    None
}

/// The candidate's address: `rtc_server.candidate` as an IP, or for `*` the listen address
/// when it names one, else the `Host` header's IP address, else 127.0.0.1.
pub fn candidate_ip(candidate: &str, local: SocketAddr, host: Option<&str>) -> IpAddr {
    if let Ok(ip) = candidate.parse::<IpAddr>() {
        return ip;
    }
    if !local.ip().is_unspecified() {
        return local.ip();
    }
    host.map(|h| crate::server::http::host_and_port(h).0)
        .and_then(|h| h.parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Session `id`'s hub and API client id.
pub fn client_id(id: u64) -> ClientId {
    CLIENT_ID_BASE.wrapping_add(id as u32 & 0x3FFF_FFFF)
}

/// Whether the API kicked the session's client.
fn kicked(registration: &Option<Registration>) -> bool {
    registration.as_ref().is_some_and(|r| r.record.is_kicked())
}

fn end(hub: &RefCell<Hub>, s: &Session, now_ms: u64, why: &str) {
    hub.borrow_mut().stop(&s.key, s.client, now_ms);
    log::info!(
        "rtc: session {} of {}/{} {why}",
        s.id,
        s.key.app,
        s.key.stream
    );
}

fn end_publisher(hub: &RefCell<Hub>, mut p: publish::Publisher, now_ms: u64, why: &str) {
    hub.borrow_mut().unpublish(&p.key, p.client, now_ms);
    log::info!(
        "rtc: WHIP session {} of {}/{} {why}: {} frames, {} packets of no track",
        p.id,
        p.key.app,
        p.key.stream,
        p.media.frames_out,
        p.media.stray_packets
    );
    if let Some(on_end) = p.on_end.take() {
        on_end();
    }
}

/// Polls a session's `Rtc` until it has nothing more than a deadline (str0m's rule after every
/// input): datagrams to `out`, events handled.
fn drain(s: &mut Session, out: &mut Vec<Transmit>, dropped: &mut u64) {
    loop {
        match s.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                s.timeout = t;
                return;
            }
            Ok(Output::Transmit(t)) => {
                if out.len() >= MAX_TRANSMITS {
                    *dropped += 1;
                } else {
                    if let Some(r) = &s.registration {
                        r.record.send.add(t.contents.len() as u64);
                    }
                    out.push(t.into());
                }
            }
            Ok(Output::Event(e)) => match e {
                Event::Connected => {
                    log::info!("rtc: session {} connected", s.id);
                    s.connected = true;
                }
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    s.ended = true;
                }
                Event::MediaAdded(m) if m.kind == MediaKind::Video && s.mid.is_none() => {
                    s.mid = Some(m.mid);
                }
                _ => {}
            },
            Err(e) => {
                log::debug!("rtc: session {}: {e}", s.id);
                s.ended = true;
                return;
            }
        }
    }
}

/// One batch of the player's queue as RTP through str0m.
fn send_media(
    s: &mut Session,
    cache: &mut std::collections::VecDeque<(SharedFrame, Payloads)>,
    now: Instant,
    out: &mut Vec<Transmit>,
    dropped: &mut u64,
) {
    let mut items = Vec::new();
    s.queue
        .borrow_mut()
        .drain_into(&mut items, MAX_BATCH_ITEMS, MAX_BATCH_BYTES);
    for item in items {
        let frame = match item {
            QueueItem::Frame(f) => f,
            QueueItem::Unpublished => {
                s.ended = true;
                return;
            }
            QueueItem::Published => continue,
        };
        if frame.kind == FrameKind::Audio {
            // After the first keyframe (the GOP's audio before it has no picture to go with).
            if !s.want_keyframe && !frame.sequence_header {
                send_audio(s, cache, &frame, now, out, dropped);
            }
            continue;
        }
        if frame.kind != FrameKind::Video {
            continue;
        }
        if frame.sequence_header {
            s.video = VideoParams::of(&frame).or(s.video.take());
            if frame.codec == Codec::Video(VideoCodec::Av1) {
                s.av1_header = Some(frame.clone());
            }
            continue;
        }
        if s.want_keyframe {
            if !frame.is_video_keyframe() {
                continue;
            }
            s.want_keyframe = false;
        }
        let payloads = payloads(cache, &frame, || match frame.codec {
            Codec::Video(VideoCodec::Av1) => av1_payloads(&frame, s.av1_header.as_ref()),
            _ => video_payloads(&frame, s.video.as_ref()),
        });
        let ts = rtp_timestamp(&frame, 90_000);
        let Some(mid) = s.mid else {
            return;
        };
        for (marker, _, payload) in payloads.iter() {
            let seq: SeqNo = s.seq.into();
            let write = RtpWrite::new(s.pt, seq, ts, now, payload.clone())
                .marker(*marker)
                .nackable(true);
            let mut api = s.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(mid, None) else {
                return;
            };
            tx.write_rtp(write);
            s.seq = s.seq.wrapping_add(1);
            drain(s, out, dropped);
        }
    }
}

/// One audio frame as RTP on the session's audio m-line, if it has one (and the frame fits
/// the codec negotiated: see [`audio::carries`]). Video never waits for it: a session without
/// audio skips it.
fn send_audio(
    s: &mut Session,
    cache: &mut std::collections::VecDeque<(SharedFrame, Payloads)>,
    frame: &SharedFrame,
    now: Instant,
    out: &mut Vec<Transmit>,
    dropped: &mut u64,
) {
    let Some(codec) = s.audio.as_ref().map(|a| a.codec) else {
        return;
    };
    if let Err(why) = audio::carries(codec, frame) {
        if s.audio.as_ref().is_some_and(|a| a.refused == 0) {
            log::info!(
                "rtc: session {} of {}/{}: {why}: its audio frames are not sent",
                s.id,
                s.key.app,
                s.key.stream
            );
        }
        if let Some(a) = s.audio.as_mut() {
            a.refused += 1;
        }
        return;
    }
    let payloads = payloads(cache, frame, || {
        audio::payloads(codec, frame)
            .into_iter()
            .map(|(offset, p)| (false, offset, p))
            .collect()
    });
    let ts = audio::rtp_timestamp(codec, frame);
    let mut marker = match s.audio.as_mut() {
        Some(a) => a.talkspurt.start(codec, frame),
        None => return,
    };
    for (_, offset, payload) in payloads.iter() {
        let Some(a) = s.audio.as_mut() else {
            return;
        };
        let write = RtpWrite::new(
            a.pt,
            a.seq.into(),
            ts.wrapping_add(*offset),
            now,
            payload.clone(),
        )
        .marker(marker);
        let mid = a.mid;
        let mut api = s.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        tx.write_rtp(write);
        a.seq = a.seq.wrapping_add(1);
        marker = false;
        drain(s, out, dropped);
    }
}

/// The shared payloads of `frame`: built once (by `build`) and kept for the other players in
/// `cache`.
fn payloads(
    cache: &mut std::collections::VecDeque<(SharedFrame, Payloads)>,
    frame: &SharedFrame,
    build: impl FnOnce() -> Vec<(bool, u32, Arc<[u8]>)>,
) -> Payloads {
    if let Some((_, p)) = cache.iter().find(|(f, _)| Rc::ptr_eq(f, frame)) {
        return p.clone();
    }
    let p: Payloads = build().into();
    if cache.len() >= PACKET_CACHE_FRAMES {
        cache.pop_front();
    }
    cache.push_back((frame.clone(), p.clone()));
    p
}

/// A video frame's payloads, from the RTSP server's packets (shared with its players).
fn video_payloads(frame: &SharedFrame, video: Option<&VideoParams>) -> Vec<(bool, u32, Arc<[u8]>)> {
    let all: Bytes = packets(frame, video, 0);
    let mut list = Vec::new();
    let mut rest = &all[..];
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let Some(packet) = rest.get(2..2 + len) else {
            break;
        };
        if let Some(payload) = packet.get(FIXED_HEADER_LEN..) {
            list.push((packet[1] & 0x80 != 0, 0, Arc::from(payload)));
        }
        rest = &rest[2 + len..];
    }
    list
}

/// An AV1 temporal unit's payloads ([`av1`]), the sequence header of the stream's `av1C`
/// record (`header`) before each keyframe that lacks one. None for a frame the publisher
/// broke (logged at debug: its bytes are the peer's).
fn av1_payloads(frame: &SharedFrame, header: Option<&SharedFrame>) -> Vec<(bool, u32, Arc<[u8]>)> {
    let config_obus = header
        .and_then(|h| h.data.get(h.payload_offset..))
        .and_then(|record| record.get(AV1C_FIXED_LEN..))
        .unwrap_or_default();
    let tu = frame.data.get(frame.payload_offset..).unwrap_or_default();
    let mut out = Vec::new();
    if let Err(e) = av1::Packetizer::new(MTU).packetize(
        tu,
        frame.keyframe,
        av1::sequence_header(config_obus),
        &mut out,
    ) {
        log::debug!("rtc: AV1 frame at {} ms not sent: {e}", frame.dts);
        return Vec::new();
    }
    let last = out.len().saturating_sub(1);
    out.into_iter()
        .enumerate()
        .map(|(i, p)| (i == last, 0, Arc::from(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_addresses() {
        let any: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let one: SocketAddr = "192.168.1.5:8000".parse().unwrap();
        assert_eq!(candidate_ip("10.0.0.1", any, None).to_string(), "10.0.0.1");
        assert_eq!(candidate_ip("*", one, None).to_string(), "192.168.1.5");
        let host = Some("192.168.7.7:8080");
        assert_eq!(candidate_ip("*", any, host).to_string(), "192.168.7.7");
        assert_eq!(
            candidate_ip("*", any, Some("box.lan")).to_string(),
            "127.0.0.1"
        );
    }

    fn udp(at: SocketAddr) -> Vec<Candidate> {
        candidates(at.ip(), Some(at.port()), None).unwrap()
    }

    fn cert() -> DtlsCert {
        dtls_cert(&[7; 32], &[0x80; 16]).unwrap()
    }

    #[test]
    fn the_certificate_is_der_that_str0m_takes() {
        let c = cert();
        // SEQUENCE of two-byte length, then the TBS certificate's SEQUENCE.
        assert_eq!(&c.certificate[..2], &[0x30, 0x82]);
        assert_eq!(
            c.certificate.len(),
            4 + usize::from(c.certificate[2]) * 256 + usize::from(c.certificate[3])
        );
        assert!(dtls_cert(&[0; 32], &[1; 16]).is_none());
        assert!(dtls_cert(&[0xff; 32], &[1; 16]).is_none());
    }

    /// The offer of Debian's Chromium 156 (`addTransceiver` video and audio, recvonly), as the
    /// players page's WHEP player sends it.
    const CHROMIUM_OFFER: &str = include_str!("../../../tests/data/rtc/chromium_whep_offer.sdp");

    #[test]
    fn chromium_offer_is_answered_with_h264_and_one_host_candidate() {
        let at: SocketAddr = "192.168.1.5:8000".parse().unwrap();
        let a = accept(
            CHROMIUM_OFFER,
            RtcVideo::H264,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        assert_eq!(video_mid(CHROMIUM_OFFER), Some(a.mid));
        assert!(a.answer.contains("a=ice-lite"), "{}", a.answer);
        assert!(
            a.answer.contains("192.168.1.5 8000 typ host"),
            "{}",
            a.answer
        );
        let rtpmap = format!("a=rtpmap:{} H264/90000", a.pt);
        assert!(a.answer.contains(&rtpmap), "{}", a.answer);
        assert!(a.answer.contains("a=sendonly"), "{}", a.answer);
        // Chromium offers TWCC; a player's answer leaves it out (and keeps the others).
        assert!(CHROMIUM_OFFER.contains("transport-wide-cc"));
        assert!(!a.answer.contains("transport-wide-cc"), "{}", a.answer);
        assert!(a.answer.contains("abs-send-time"), "{}", a.answer);
    }

    /// `rtc_server.protocol`: a TCP passive host candidate beside the UDP one, or alone.
    #[test]
    fn the_tcp_candidate_is_passive() {
        let ip: IpAddr = "192.168.1.5".parse().unwrap();
        let both = candidates(ip, Some(8000), Some(8000)).unwrap();
        let a = accept(
            CHROMIUM_OFFER,
            RtcVideo::H264,
            &cert(),
            &both,
            crate::testutil::now(),
        )
        .unwrap();
        assert!(
            a.answer
                .contains("udp 2130706175 192.168.1.5 8000 typ host"),
            "{}",
            a.answer
        );
        assert!(
            a.answer
                .contains("tcp 1526725887 192.168.1.5 8000 typ host tcptype passive"),
            "{}",
            a.answer
        );
        let tcp = candidates(ip, None, Some(8001)).unwrap();
        let a = accept(
            CHROMIUM_OFFER,
            RtcVideo::H264,
            &cert(),
            &tcp,
            crate::testutil::now(),
        )
        .unwrap();
        assert!(!a.answer.contains(" udp "), "{}", a.answer);
        assert!(
            a.answer.contains("8001 typ host tcptype passive"),
            "{}",
            a.answer
        );
    }

    #[test]
    fn offers_without_h264_or_sdp_are_refused() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let cert = cert();
        let err = |offer: &str| {
            accept(
                offer,
                RtcVideo::H264,
                &cert,
                &udp(at),
                crate::testutil::now(),
            )
            .err()
            .map(|e| e.status())
        };
        assert_eq!(err("garbage"), Some(400));
        assert_eq!(err(""), Some(400));
        // VP8 only: every H264 payload type (and its RTX) taken out of the m-line and its
        // attributes.
        let mut drop: Vec<String> = CHROMIUM_OFFER
            .lines()
            .filter(|l| l.starts_with("a=rtpmap:") && l.contains(" H264/"))
            .filter_map(|l| l["a=rtpmap:".len()..].split(' ').next())
            .map(str::to_string)
            .collect();
        assert!(!drop.is_empty());
        let rtx: Vec<String> = CHROMIUM_OFFER
            .lines()
            .filter(|l| drop.iter().any(|pt| l.ends_with(&format!("apt={pt}"))))
            .filter_map(|l| l["a=fmtp:".len()..].split(' ').next())
            .map(str::to_string)
            .collect();
        drop.extend(rtx);
        let vp8_only: String = CHROMIUM_OFFER
            .lines()
            .filter(|l| !drop.iter().any(|pt| l.contains(&format!(":{pt} "))))
            .map(|l| match l.starts_with("m=video") {
                true => l
                    .split(' ')
                    .filter(|w| !drop.iter().any(|pt| w == pt))
                    .collect::<Vec<_>>()
                    .join(" "),
                false => l.to_string(),
            })
            .map(|l| l + "\r\n")
            .collect();
        assert!(!vp8_only.contains("H264"));
        assert_eq!(err(&vp8_only), Some(400));
    }

    /// Chromium's offer with H.265 on its video m-line as Safari and Chrome 136+ offer it
    /// (payload types 50 and its RTX 51 are free in Chromium's offer).
    fn with_h265(offer: &str) -> String {
        let audio = offer.find("m=audio").unwrap();
        let (video, rest) = offer.split_at(audio);
        let video = video.replacen(" 118 119 120 49\r\n", " 118 119 120 49 50 51\r\n", 1);
        assert!(video.contains(" 49 50 51\r\n"), "the m=video line changed");
        format!(
            "{video}a=rtpmap:50 H265/90000\r\n\
             a=rtcp-fb:50 goog-remb\r\n\
             a=rtcp-fb:50 transport-cc\r\n\
             a=rtcp-fb:50 ccm fir\r\n\
             a=rtcp-fb:50 nack\r\n\
             a=rtcp-fb:50 nack pli\r\n\
             a=fmtp:50 level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST\r\n\
             a=rtpmap:51 rtx/90000\r\n\
             a=fmtp:51 apt=50\r\n{rest}"
        )
    }

    /// The video m-line of an answer.
    fn video_part(answer: &str) -> &str {
        let start = answer.find("m=video").unwrap();
        let end = answer[start..]
            .find("m=audio")
            .map_or(answer.len(), |e| start + e);
        &answer[start..end]
    }

    #[test]
    fn an_h265_stream_is_answered_with_h265_alone() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let offer = with_h265(CHROMIUM_OFFER);
        let a = accept(
            &offer,
            RtcVideo::H265,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        assert_eq!(a.pt, Pt::from(50));
        assert_eq!(video_mid(&offer), Some(a.mid));
        let video = video_part(&a.answer);
        assert!(video.contains("a=rtpmap:50 H265/90000"), "{}", a.answer);
        assert!(video.contains("a=sendonly"), "{}", a.answer);
        // The stream's codec alone (and its RTX): no H.264, VP8, VP9 or AV1.
        for other in ["H264", "VP8", "VP9", "AV1"] {
            assert!(!video.contains(other), "{other} in {}", a.answer);
        }
        assert!(video.lines().next().unwrap().ends_with(" 50 51"), "{video}");
    }

    #[test]
    fn an_av1_stream_is_answered_with_chromiums_av1() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let a = accept(
            CHROMIUM_OFFER,
            RtcVideo::Av1,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        let video = video_part(&a.answer);
        assert!(
            video.contains(&format!("a=rtpmap:{} AV1/90000", a.pt)),
            "{}",
            a.answer
        );
        for other in ["H264", "VP8", "VP9", "H265"] {
            assert!(!video.contains(other), "{other} in {}", a.answer);
        }
        // Without AV1 on the m-line: refused, naming it.
        // (Chromium's AV1 payload types are 45 and 47, their RTX 46 and 48.)
        let av1 = ["45", "46", "47", "48"];
        let no_av1: String = CHROMIUM_OFFER
            .lines()
            .filter(|l| !av1.iter().any(|pt| l.contains(&format!(":{pt} "))))
            .map(|l| match l.starts_with("m=video") {
                true => l
                    .split(' ')
                    .filter(|w| !av1.contains(w))
                    .collect::<Vec<_>>()
                    .join(" "),
                false => l.to_string(),
            })
            .map(|l| l + "\r\n")
            .collect();
        assert!(!no_av1.contains("AV1"));
        let e = accept(
            &no_av1,
            RtcVideo::Av1,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "the stream's video is AV1 and the offer takes no AV1"
        );
    }

    #[test]
    fn an_h264_stream_is_answered_with_h264_even_when_h265_is_offered() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let offer = with_h265(CHROMIUM_OFFER);
        let a = accept(
            &offer,
            RtcVideo::H264,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        let video = video_part(&a.answer);
        assert!(
            video.contains(&format!("a=rtpmap:{} H264/90000", a.pt)),
            "{}",
            a.answer
        );
        assert!(!video.contains("H265"), "{}", a.answer);
    }

    #[test]
    fn an_h265_stream_is_refused_to_an_offer_without_h265() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        // Debian's Chromium 156 offers no H.265.
        let e = accept(
            CHROMIUM_OFFER,
            RtcVideo::H265,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .err()
        .unwrap();
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_string(),
            "the stream's video is H.265 and the offer takes no H.265"
        );
        assert_eq!(
            RtcVideo::of(Some(Codec::Video(VideoCodec::Hevc))),
            Some(RtcVideo::H265)
        );
        assert_eq!(
            RtcVideo::of(Some(Codec::Video(VideoCodec::Avc))),
            Some(RtcVideo::H264)
        );
        assert_eq!(RtcVideo::of(Some(Codec::Video(VideoCodec::Vp9))), None);
        assert_eq!(RtcVideo::of(None), None);
    }

    #[test]
    fn chromium_offer_takes_each_audio_codec_on_its_audio_m_line() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let a = accept(
            CHROMIUM_OFFER,
            RtcVideo::H264,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        // PCMA and PCMU on their static payload types, Opus on Chromium's 111.
        for (codec, pt, rtpmap) in [
            (audio::RtcAudio::Pcma, 8, "a=rtpmap:8 PCMA/8000"),
            (audio::RtcAudio::Pcmu, 0, "a=rtpmap:0 PCMU/8000"),
            (audio::RtcAudio::Opus, 111, "a=rtpmap:111 opus/48000/2"),
        ] {
            let (mid, p) = audio::track(&a.rtc, CHROMIUM_OFFER, codec).expect("audio track");
            assert_eq!(mid, Mid::from("1"));
            assert_eq!(p, Pt::from(pt), "{codec:?}");
            assert!(a.answer.contains(rtpmap), "{}", a.answer);
        }
        let audio_part = &a.answer[a.answer.find("m=audio").unwrap()..];
        assert!(audio_part.contains("a=sendonly"), "{}", a.answer);
    }

    #[test]
    fn audio_is_not_taken_from_an_offer_without_it() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        // Opus only: no G.711 on the m-line.
        let opus_only: String = CHROMIUM_OFFER
            .lines()
            .filter(|l| !l.contains("PCMA") && !l.contains("PCMU"))
            .map(|l| match l.starts_with("m=audio") {
                true => l.replace(" 0 8 ", " "),
                false => l.to_string(),
            })
            .map(|l| l + "\r\n")
            .collect();
        let a = accept(
            &opus_only,
            RtcVideo::H264,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        assert_eq!(
            audio::track(&a.rtc, &opus_only, audio::RtcAudio::Pcma),
            None
        );
        assert!(audio::track(&a.rtc, &opus_only, audio::RtcAudio::Opus).is_some());
        // The audio m-line inactive: video only.
        let inactive = {
            let (v, au) = CHROMIUM_OFFER.split_at(CHROMIUM_OFFER.find("m=audio").unwrap());
            format!("{v}{}", au.replacen("a=recvonly", "a=inactive", 1))
        };
        let a = accept(
            &inactive,
            RtcVideo::H264,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        assert_eq!(audio::track(&a.rtc, &inactive, audio::RtcAudio::Pcma), None);
        // Video only.
        let video_only = &CHROMIUM_OFFER[..CHROMIUM_OFFER.find("m=audio").unwrap()];
        let video_only = video_only.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
        let a = accept(
            &video_only,
            RtcVideo::H264,
            &cert(),
            &udp(at),
            crate::testutil::now(),
        )
        .unwrap();
        assert_eq!(
            audio::track(&a.rtc, &video_only, audio::RtcAudio::Pcma),
            None
        );
    }

    #[test]
    fn video_mid_is_the_first_video_m_line() {
        let sdp = "v=0\r\nm=audio 9 x 111\r\na=mid:a0\r\nm=video 9 x 96\r\na=mid:v1\r\n";
        assert_eq!(video_mid(sdp), Some(Mid::from("v1")));
        assert_eq!(video_mid("m=audio 9 x 111\r\na=mid:0\r\n"), None);
        assert_eq!(video_mid(""), None);
    }
}
