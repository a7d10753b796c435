//! The RTSP server's glue between a player's session (`session::rtsp_server`), the hub and
//! the hooks: no socket, no clock (the driver, `net::rtsp_server`, passes the time in).
//!
//! * DESCRIBE: the vhost's `play` security rules (403), the `on_play` hooks with the URL's
//!   query as `param` (403 when they refuse), then the description of the stream's sequence
//!   headers ([`describe`]). A stream nobody publishes is 404 at once, unless an `[[ingest]]`
//!   pulls it: then the stream counts as viewed (an on-demand camera starts) and DESCRIBE
//!   waits for it up to [`DESCRIBE_WAIT_MS`]. The player attaches to the hub when the
//!   description goes out, so PLAY starts with the cached GOP.
//! * Media: each frame is packetized once ([`packets`], `Encoding::RtpPackets` on the frame)
//!   and shared by every RTSP player; a player adds its 16-byte header per packet
//!   (interleaved header, RTP header with its own sequence numbers and SSRC). Parameter sets
//!   go before each keyframe. An RTCP sender report (and SDES CNAME) per track every
//!   [`SENDER_REPORT_MS`].
//! * The queue is the hub's bounded player queue (the vhost's `queue_length`/queue bytes,
//!   keyframe drop on overflow, counted); the publisher leaving ends the session (the next
//!   publisher's parameters may differ from the description).
//! * Publish ([`publish`]): ANNOUNCE is checked as an RTMP publish is (security rules,
//!   `on_publish`), then the stream is published; the publisher's frames go to its Source,
//!   and the connection's end unpublishes it (`on_unpublish`).
//! * Not done here: the `refer` lists (RTSP has no Referer).

pub mod ports;
mod publish;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::config::Vhost;
use crate::live::{ClientId, PlayerQueue, QueueItem, QueueLimits, Source, StreamKey};
use crate::media::{AudioCodec, Codec, Encoding, Frame, FrameKind, VideoCodec};
#[cfg(feature = "hooks")]
use crate::server::hooks::{self, Action};
use crate::server::stats::{ClientKind, Registration};
use crate::server::{ConnLog, ServerCtx, MAX_BATCH_BYTES, MAX_BATCH_ITEMS};
use crate::session::rtsp_server::{Destination, Event, ServerSession, SessionError, TrackDesc};
use crate::wire::codec::h264::AvcConfig;
use crate::wire::codec::h265::HevcConfig;
use crate::wire::rtcp::{self, NtpTimestamp, Packet, SenderReport, SourceDescription};
use crate::wire::rtp::{aac, audio, h264, h265, RtpWriter, DEFAULT_MTU, FIXED_HEADER_LEN};
use crate::wire::sdp::fmtp::{AacParams, H264Params, H265Params, PayloadFormat};
use crate::wire::sdp::Sdp;

/// How long a DESCRIBE waits for a stream an `[[ingest]]` pulls (an on-demand camera
/// connecting) or for a new publisher's sequence headers.
pub const DESCRIBE_WAIT_MS: u64 = 10_000;
/// How long a DESCRIBE of a stream that just started waits for audio once its video is
/// there: a camera's first audio frame comes a moment after its first keyframe.
pub const AUDIO_WAIT_MS: u64 = 1_500;
/// How often a waiting DESCRIBE looks at the stream again.
pub const DESCRIBE_POLL_MS: u64 = 100;
/// RTCP sender reports per track, this often (RFC 3550 §6.2 suggests 5 s at least).
pub const SENDER_REPORT_MS: u64 = 5_000;
/// Dynamic payload types of the description.
pub const VIDEO_PT: u8 = 96;
pub const AUDIO_PT: u8 = 97;
/// RTP payload bytes per packet at most: under a 1500-byte Ethernet MTU with IP, TCP or UDP
/// and interleaving headers.
pub const MTU: usize = DEFAULT_MTU;

/// What the packetizer of a stream's video needs from its sequence header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoParams {
    pub nal_length_size: u8,
    /// VPS (H.265), SPS, PPS, NAL units with their headers, sent before each keyframe.
    pub sets: Vec<Bytes>,
}

impl VideoParams {
    /// From a video sequence header frame (AVC or HEVC decoder configuration record).
    pub fn of(header: &Frame) -> Option<VideoParams> {
        let record = header.data.get(header.payload_offset..)?;
        match header.codec {
            Codec::Video(VideoCodec::Avc) => {
                let c = AvcConfig::parse(record).ok()?;
                let sets = c.sps.into_iter().chain(c.pps).collect();
                Some(VideoParams {
                    nal_length_size: c.nal_length_size,
                    sets,
                })
            }
            Codec::Video(VideoCodec::Hevc) => {
                let c = HevcConfig::parse(record).ok()?;
                let sets = c.vps.into_iter().chain(c.sps).chain(c.pps).collect();
                Some(VideoParams {
                    nal_length_size: c.nal_length_size,
                    sets,
                })
            }
            _ => None,
        }
    }
}

/// A track of the description.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub kind: FrameKind,
    pub format: PayloadFormat,
}

/// The description of `source` from its sequence headers: H.264/H.265 video, AAC or G.711
/// audio (other codecs are left out). `None` without any track we can carry.
pub fn describe(source: &Source) -> Option<(String, Vec<TrackInfo>)> {
    let mut tracks = Vec::new();
    if let Some(h) = source.video_header() {
        let record = h.data.get(h.payload_offset..).unwrap_or_default();
        let format = match h.codec {
            Codec::Video(VideoCodec::Avc) => AvcConfig::parse(record)
                .ok()
                .map(|c| PayloadFormat::H264(H264Params::from_config(&c))),
            Codec::Video(VideoCodec::Hevc) => HevcConfig::parse(record)
                .ok()
                .map(|c| PayloadFormat::H265(H265Params::from_config(&c))),
            _ => None,
        };
        if let Some(format) = format {
            tracks.push(TrackInfo {
                kind: FrameKind::Video,
                format,
            });
        }
    }
    let audio = match (source.audio_header(), source.audio_codec()) {
        (Some(h), _) if h.codec == Codec::Audio(AudioCodec::Aac) => {
            let config = h.data.slice(h.payload_offset.min(h.data.len())..);
            AacParams::hbr(config).ok().map(PayloadFormat::Aac)
        }
        (_, Some(Codec::Audio(AudioCodec::G711A))) => Some(PayloadFormat::Pcma { channels: 1 }),
        (_, Some(Codec::Audio(AudioCodec::G711U))) => Some(PayloadFormat::Pcmu { channels: 1 }),
        _ => None,
    };
    if let Some(format) = audio {
        tracks.push(TrackInfo {
            kind: FrameKind::Audio,
            format,
        });
    }
    if tracks.is_empty() {
        return None;
    }
    let media = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let pt = t.format.static_payload_type().unwrap_or(match t.kind {
                FrameKind::Video => VIDEO_PT,
                _ => AUDIO_PT,
            });
            t.format.media(pt, &format!("trackID={i}"))
        })
        .collect();
    Some((Sdp::rtsp("tinysrs", media).encode(), tracks))
}

/// Whether `source` can be described fully now: published, with the video header if it has
/// video and the audio header if it has AAC.
fn complete(source: &Source) -> bool {
    let video = source.video_codec().is_none() || source.video_header().is_some();
    let audio = match source.audio_codec() {
        Some(Codec::Audio(AudioCodec::Aac)) => source.audio_header().is_some(),
        _ => true,
    };
    source.publisher().is_some()
        && (source.video_codec().is_some() || source.audio_codec().is_some())
        && video
        && audio
}

/// The RTP timestamp of a frame in `clock_rate` (presentation time for video).
pub fn rtp_timestamp(frame: &Frame, clock_rate: u32) -> u32 {
    let ms = frame.dts + i64::from(frame.cts);
    (ms.wrapping_mul(i64::from(clock_rate)) / 1000) as u32
}

/// The RTP packets of `frame` (sequence number 0, SSRC 0), each after its 16-bit length:
/// built once per frame and shared by every RTSP player (`Encoding::RtpPackets`). Empty for
/// what has no packetization here or does not packetize (logged at debug).
pub fn packets(frame: &Frame, video: Option<&VideoParams>, audio_rate: u32) -> Bytes {
    frame.encoded(Encoding::RtpPackets, |f| {
        let payload = f.data.get(f.payload_offset..).unwrap_or_default();
        let mut list = Vec::new();
        let writer = |payload_type| RtpWriter {
            payload_type,
            ssrc: 0,
            sequence: 0,
        };
        let result = match f.codec {
            Codec::Video(codec @ (VideoCodec::Avc | VideoCodec::Hevc)) => {
                let Some(v) = video else {
                    return Bytes::new();
                };
                let ts = rtp_timestamp(f, 90_000);
                let mut p = match codec {
                    VideoCodec::Avc => h264::packetizer(writer(VIDEO_PT), MTU, v.nal_length_size),
                    _ => h265::packetizer(writer(VIDEO_PT), MTU, v.nal_length_size),
                };
                if f.keyframe && !v.sets.is_empty() {
                    let len = usize::from(v.nal_length_size);
                    let mut au = BytesMut::with_capacity(payload.len() + 256);
                    for set in &v.sets {
                        let n = (set.len() as u32).to_be_bytes();
                        au.put_slice(&n[4 - len.min(4)..]);
                        au.put_slice(set);
                    }
                    au.put_slice(payload);
                    p.packetize(ts, &au, &mut list)
                } else {
                    p.packetize(ts, payload, &mut list)
                }
            }
            Codec::Audio(AudioCodec::Aac) => aac::Packetizer::new(writer(AUDIO_PT), MTU).packetize(
                rtp_timestamp(f, audio_rate),
                payload,
                &mut list,
            ),
            Codec::Audio(c @ (AudioCodec::G711A | AudioCodec::G711U)) => {
                let pt = if c == AudioCodec::G711A { 8 } else { 0 };
                audio::Packetizer::g711(writer(pt), MTU, 1).packetize(
                    rtp_timestamp(f, 8_000),
                    payload,
                    &mut list,
                )
            }
            _ => return Bytes::new(),
        };
        if let Err(e) = result {
            log::debug!("rtsp: frame at {} ms not packetized: {e}", f.dts);
            return Bytes::new();
        }
        let total: usize = list.iter().map(|p| p.len() + 2).sum();
        let mut out = BytesMut::with_capacity(total);
        for p in &list {
            out.put_u16(p.len() as u16);
            out.put_slice(p);
        }
        out.freeze()
    })
}

/// One described track's sending state.
#[derive(Debug)]
struct Track {
    kind: FrameKind,
    clock_rate: u32,
    packets: u32,
    octets: u32,
    /// RTP timestamp and server time of the last frame sent.
    last: Option<(u32, u64)>,
}

/// A DESCRIBE waiting for its stream.
#[derive(Debug)]
struct Waiting {
    url: String,
    deadline_ms: u64,
    /// The stream was not published when DESCRIBE came (an on-demand camera starting): its
    /// audio may follow its video by a moment.
    fresh: bool,
    /// When the stream was first found complete without audio (see [`AUDIO_WAIT_MS`]).
    video_only_since: Option<u64>,
}

/// One RTSP player connection.
pub struct RtspConn {
    pub session: ServerSession,
    pub registration: Registration,
    pub log: ConnLog,
    pub peer: SocketAddr,
    ctx: ServerCtx,
    key: Option<StreamKey>,
    vhost: Option<Vhost>,
    queue: Option<Rc<RefCell<PlayerQueue>>>,
    waiting: Option<Waiting>,
    tracks: Vec<Track>,
    video: Option<VideoParams>,
    audio_rate: u32,
    /// Wall-clock ms (Unix) at the server clock's zero, for sender reports.
    wall_epoch_ms: u64,
    next_report_ms: u64,
    /// When a waiting DESCRIBE last looked at the stream.
    last_poll: u64,
    /// A UDP SETUP waiting for the driver's ports: (track, the player's RTP and RTCP ports).
    udp_request: Option<(usize, (u16, u16))>,
    /// UDP datagrams to send: (track, RTCP rather than RTP, the datagram).
    datagrams: Vec<(usize, bool, Bytes)>,
    /// A UDP player starts at the next keyframe (see [`RtspConn::play`]).
    skip_to_keyframe: bool,
    /// The stream this connection publishes (ANNOUNCE accepted).
    publishing: Option<Rc<RefCell<Source>>>,
    /// The publisher left: the session ends once the output is written.
    ended: bool,
    closed: bool,
    #[cfg(feature = "hooks")]
    call: Option<hooks::HookCall>,
    /// Who the hooks were told about (on_play), for on_stop.
    #[cfg(feature = "hooks")]
    hook_client: Option<hooks::Client>,
    /// What waits for the hooks.
    #[cfg(feature = "hooks")]
    deciding: Option<Deciding>,
}

/// A request the hooks decide on.
#[cfg(feature = "hooks")]
#[derive(Debug)]
enum Deciding {
    /// A DESCRIBE, with its URL (on_play).
    Play(String),
    /// An ANNOUNCE (on_publish).
    Publish,
}

impl RtspConn {
    /// A connection from `peer` just accepted, with the config of the moment: UDP offered,
    /// publishing allowed, `rtsp_server.auth_*` asked when set. `seeds`: four draws of the
    /// driver's generator (session id, SSRC, auth nonce, log id).
    pub fn accept(
        id: ClientId,
        peer: SocketAddr,
        ctx: ServerCtx,
        seeds: [u64; 4],
        now_ms: u64,
        wall_epoch_ms: u64,
    ) -> RtspConn {
        let config = ctx.config();
        let session = ServerSession::new(now_ms, seeds[0], seeds[1] as u32)
            .with_udp(true)
            .with_record(config.rtmp_max_message_bytes);
        let session = match config.rtsp_server_auth_username.as_str() {
            "" => session,
            user => session.with_auth(
                user,
                &config.rtsp_server_auth_password,
                format!("{:016x}", seeds[2]),
            ),
        };
        drop(config);
        let log = ConnLog::new(seeds[3]);
        log::debug!("[{}] accepted RTSP {peer} as client {id}", log.cid);
        RtspConn::new(id, log, peer, ctx, session, now_ms, wall_epoch_ms)
    }

    pub fn new(
        id: ClientId,
        log: ConnLog,
        peer: SocketAddr,
        ctx: ServerCtx,
        session: ServerSession,
        now_ms: u64,
        wall_epoch_ms: u64,
    ) -> RtspConn {
        let record = crate::server::stats::ClientRecord::new(id, &log.cid, peer, now_ms);
        record.kind.set(ClientKind::RtspPlay);
        let registration = Registration::new(ctx.clients.clone(), record);
        RtspConn {
            session,
            registration,
            log,
            peer,
            ctx,
            key: None,
            vhost: None,
            queue: None,
            waiting: None,
            tracks: Vec::new(),
            video: None,
            audio_rate: 0,
            wall_epoch_ms,
            next_report_ms: 0,
            last_poll: now_ms,
            udp_request: None,
            datagrams: Vec::new(),
            skip_to_keyframe: false,
            publishing: None,
            ended: false,
            closed: false,
            #[cfg(feature = "hooks")]
            call: None,
            #[cfg(feature = "hooks")]
            hook_client: None,
            #[cfg(feature = "hooks")]
            deciding: None,
        }
    }

    /// Bytes from the player.
    pub fn handle_bytes(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), SessionError> {
        self.registration.record.recv.add(bytes.len() as u64);
        let result = self.session.handle_bytes(now_ms, bytes);
        self.handle_events(now_ms);
        self.take_frames();
        result
    }

    /// A UDP datagram from the peer on track `index`'s RTP or RTCP port.
    pub fn handle_datagram(&mut self, now_ms: u64, index: usize, rtcp: bool, payload: Bytes) {
        self.registration.record.recv.add(payload.len() as u64);
        self.session.handle_datagram(now_ms, index, rtcp, payload);
        self.take_frames();
    }

    fn handle_events(&mut self, now_ms: u64) {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Describe { url, path, query } => self.describe(now_ms, url, &path, query),
                Event::Play => self.play(now_ms),
                Event::Announce {
                    url,
                    path,
                    query,
                    codecs,
                } => self.announce(now_ms, url, &path, query, &codecs),
                Event::Teardown => {
                    log::info!("[{}] TEARDOWN", self.log.cid);
                }
                Event::SetupUdp {
                    track,
                    client_ports,
                } => self.udp_request = Some((track, client_ports)),
            }
        }
    }

    /// A UDP SETUP's track and the player's ports: the driver binds a pair of its own and
    /// calls [`RtspConn::udp_bound`].
    pub fn take_udp_request(&mut self) -> Option<(usize, (u16, u16))> {
        self.udp_request.take()
    }

    /// The driver's RTP and RTCP ports for `track` (`None`: none could be bound, 500).
    pub fn udp_bound(&mut self, now_ms: u64, track: usize, ports: Option<(u16, u16)>) {
        match ports {
            Some(p) => self.session.setup_udp_ok(now_ms, track, p),
            None => self.session.refuse(now_ms, 500),
        }
        self.handle_events(now_ms);
    }

    /// UDP datagrams the last [`RtspConn::take_output`] made, appended to `out`.
    /// The UDP ports a SETUP binds its pair in (`rtsp_server.rtp_port_min`, `rtp_port_max`);
    /// `(0, 0)`: the kernel picks.
    pub fn udp_port_range(&self) -> (u16, u16) {
        let config = self.ctx.config();
        (
            config.rtsp_server_rtp_port_min,
            config.rtsp_server_rtp_port_max,
        )
    }

    pub fn take_datagrams(&mut self, out: &mut Vec<(usize, bool, Bytes)>) {
        out.append(&mut self.datagrams);
        while let Some((track, rtcp)) = self.session.poll_datagram() {
            out.push((track, true, rtcp));
        }
    }

    /// The queue to wait on: only while playing (before PLAY, frames wait in it).
    pub fn queue(&self) -> Option<Rc<RefCell<PlayerQueue>>> {
        match self.session.is_playing() && !self.ended {
            true => self.queue.clone(),
            false => None,
        }
    }

    pub fn is_done(&self) -> bool {
        self.session.is_closed() || (self.ended && !self.session.has_transmit())
    }

    /// The hooks call a DESCRIBE waits for (the driver makes it, then calls
    /// [`RtspConn::decided`]).
    #[cfg(feature = "hooks")]
    pub fn take_call(&mut self) -> Option<hooks::HookCall> {
        self.call.take()
    }

    /// Where the hooks' calls go.
    #[cfg(feature = "hooks")]
    pub fn hooks(&self) -> &hooks::Hooks {
        &self.ctx.hooks
    }

    /// The on_play hooks answered.
    #[cfg(feature = "hooks")]
    pub fn decided(&mut self, now_ms: u64, answer: Result<(), String>) {
        let url = match self.deciding.take() {
            Some(Deciding::Play(url)) => url,
            Some(Deciding::Publish) => return self.publish_decided(now_ms, answer),
            None => return,
        };
        if let Err(why) = answer {
            log::warn!(
                "[{}] RTSP play {} refused by the on_play hook: {why}",
                self.log.cid,
                self.key.as_ref().map(|k| k.to_string()).unwrap_or_default()
            );
            self.forget_hooks();
            return self.session.refuse(now_ms, 403);
        }
        self.find_stream(now_ms, url);
    }

    /// The vhost and stream a DESCRIBE's or ANNOUNCE's request names: the URL's host
    /// resolves the vhost, `path` is `/app/stream`. `None` (a 404) when either is missing.
    fn stream_of(&self, url: &str, path: &str) -> Option<(crate::config::Vhost, StreamKey)> {
        let host = crate::wire::rtsp::url::Url::parse(url)
            .map(|u| u.host)
            .unwrap_or_default();
        let vhost = self.ctx.config().resolve_vhost(&host).cloned()?;
        let (app, stream) = path
            .trim_matches('/')
            .split_once('/')
            .filter(|(a, s)| !a.is_empty() && !s.is_empty())?;
        let key = StreamKey {
            vhost: vhost.name.clone(),
            app: app.to_owned(),
            stream: stream.to_owned(),
        };
        Some((vhost, key))
    }

    fn describe(&mut self, now_ms: u64, url: String, path: &str, query: String) {
        let Some((vhost, key)) = self.stream_of(&url, path) else {
            return self.session.refuse(now_ms, 404);
        };
        let record = self.registration.record.clone();
        if self.key.as_ref().is_some_and(|k| *k != key) {
            // A second DESCRIBE for another stream on the same connection.
            return self.session.refuse(now_ms, 455);
        }
        if !vhost
            .security
            .allows(crate::config::Method::Play, record.peer.ip())
        {
            log::warn!("[{}] RTSP play {key} denied by security rules", record.cid);
            return self.session.refuse(now_ms, 403);
        }
        *record.stream.borrow_mut() = Some(key.clone());
        *record.tc_url.borrow_mut() = tc_url(&url, &key);
        self.key = Some(key.clone());
        self.vhost = Some(vhost.clone());
        #[cfg(feature = "hooks")]
        if self.queue.is_none() {
            let client = hooks::Client {
                vhost: key.vhost.clone(),
                app: key.app.clone(),
                stream: key.stream.clone(),
                tc_url: tc_url(&url, &key),
                query: query.chars().take(512).collect(),
                ..hooks::Client::new(&record.cid, record.peer.ip())
            };
            let call = self
                .ctx
                .hooks
                .call(&vhost, Action::Play, &client, &hooks::Extra::default());
            if vhost.http_hooks.enabled {
                self.hook_client = Some(client);
            }
            if let Some(call) = call {
                self.call = Some(call);
                self.deciding = Some(Deciding::Play(url));
                return;
            }
        }
        let _ = query;
        self.find_stream(now_ms, url);
    }

    /// After the checks: describes the stream now, waits for it, or 404.
    fn find_stream(&mut self, now_ms: u64, url: String) {
        let Some(key) = self.key.clone() else {
            return;
        };
        let source = self.ctx.hub.borrow().source(&key);
        let published = source
            .as_ref()
            .is_some_and(|s| s.borrow().publisher().is_some());
        let pulled =
            self.ctx.config().ingests.iter().any(|i| {
                i.vhost == key.vhost && i.app() == key.app && i.stream_name() == key.stream
            });
        if !published && !pulled {
            log::info!("[{}] RTSP DESCRIBE {key}: not published", self.log.cid);
            self.forget_hooks();
            return self.session.refuse(now_ms, 404);
        }
        self.waiting = Some(Waiting {
            url,
            deadline_ms: now_ms.saturating_add(DESCRIBE_WAIT_MS),
            fresh: !published,
            video_only_since: None,
        });
        self.check_waiting(now_ms);
    }

    /// A waiting DESCRIBE: answered once the stream is complete, with what it has at the
    /// deadline, or 404.
    fn check_waiting(&mut self, now_ms: u64) {
        let (Some(w), Some(key)) = (&self.waiting, &self.key) else {
            return;
        };
        let late = now_ms >= w.deadline_ms;
        let source = self.ctx.hub.borrow().source(key);
        let mut video_only = false;
        let description = source.as_ref().and_then(|s| {
            let s = s.borrow();
            video_only = w.fresh && complete(&s) && s.audio_codec().is_none();
            let audio_waited = w
                .video_only_since
                .is_some_and(|t| now_ms >= t.saturating_add(AUDIO_WAIT_MS));
            let ready = complete(&s) && (!video_only || audio_waited);
            (ready || (late && s.publisher().is_some()))
                .then(|| describe(&s).map(|d| (d, s.video_header().cloned())))
                .flatten()
        });
        if video_only {
            if let Some(w) = self.waiting.as_mut() {
                w.video_only_since.get_or_insert(now_ms);
            }
        }
        let Some(((sdp, tracks), video_header)) = description else {
            if late {
                log::info!("[{}] RTSP DESCRIBE {key}: nothing to play", self.log.cid);
                self.waiting = None;
                self.forget_hooks();
                self.session.refuse(now_ms, 404);
            } else {
                // Counts as a viewer, so that an on-demand ingest starts (or stays).
                self.ctx
                    .hub
                    .borrow_mut()
                    .view(key, now_ms, DESCRIBE_POLL_MS * 2);
            }
            return;
        };
        let key = key.clone();
        let Some(w) = self.waiting.take() else {
            return;
        };
        let config = self.ctx.config();
        let vhost = self.vhost.as_ref().unwrap_or(config.default_vhost());
        let queue = self.ctx.hub.borrow_mut().play(
            &key,
            self.registration.record.id,
            crate::server::source_settings(vhost),
            QueueLimits {
                max_bytes: vhost.queue_max_bytes,
                max_duration_ms: i64::from(vhost.queue_length_ms),
            },
            now_ms,
        );
        let queue = match queue {
            Ok(q) => q,
            Err(e) => {
                log::warn!("[{}] RTSP play {key}: {e}", self.log.cid);
                self.forget_hooks();
                return self.session.refuse(now_ms, 503);
            }
        };
        log::info!(
            "[{}] RTSP play {key} as client {} from {}",
            self.log.cid,
            self.registration.record.id,
            self.peer
        );
        self.queue = Some(queue);
        self.video = video_header.as_deref().and_then(VideoParams::of);
        self.tracks = tracks
            .iter()
            .map(|t| Track {
                kind: t.kind,
                clock_rate: t.format.clock_rate(),
                packets: 0,
                octets: 0,
                last: None,
            })
            .collect();
        self.audio_rate = tracks
            .iter()
            .find(|t| t.kind == FrameKind::Audio)
            .map_or(0, |t| t.format.clock_rate());
        let descs = (0..tracks.len())
            .map(|i| TrackDesc {
                control: format!("trackID={i}"),
            })
            .collect();
        self.session.describe_ok(now_ms, &w.url, sdp, descs);
    }

    /// PLAY: RTP-Info from the first frame the player will get (the cached GOP's start).
    fn play(&mut self, now_ms: u64) {
        let Some(key) = &self.key else {
            return self.session.refuse(now_ms, 455);
        };
        let source = self.ctx.hub.borrow().source(key);
        let start = source
            .as_ref()
            .and_then(|s| s.borrow().gop().next().map(|f| f.dts))
            .unwrap_or(0);
        let times: Vec<u32> = self
            .tracks
            .iter()
            .map(|t| ((start.wrapping_mul(i64::from(t.clock_rate))) / 1000) as u32)
            .collect();
        self.session.play_ok(now_ms, &times);
        // Over UDP the cached GOP would go out as one burst of datagrams, more than a
        // player's socket buffer takes (ffmpeg lost packets of a 4 Mbit/s GOP): UDP players
        // start at the next keyframe instead, at the stream's pace.
        if self.session.uses_udp() && self.tracks.iter().any(|t| t.kind == FrameKind::Video) {
            self.skip_to_keyframe = true;
            if let Some(q) = &self.queue {
                q.borrow_mut().drain(usize::MAX, usize::MAX, drop);
            }
        }
        self.next_report_ms = now_ms.saturating_add(SENDER_REPORT_MS);
    }

    /// When to call [`RtspConn::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<u64> {
        let mut t = self.session.poll_timeout();
        if self.waiting.is_some() {
            t = Some(t.unwrap_or(u64::MAX).min(self.next_look()));
        }
        if self.session.is_playing() {
            t = Some(t.unwrap_or(u64::MAX).min(self.next_report_ms));
        }
        t
    }

    /// The next poll of a waiting DESCRIBE (its deadline bounds it).
    fn next_look(&self) -> u64 {
        self.waiting.as_ref().map_or(u64::MAX, |w| {
            w.deadline_ms.min(self.last_poll + DESCRIBE_POLL_MS)
        })
    }

    /// Deadlines: the session's timeout, a waiting DESCRIBE's next look, sender reports.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.session.handle_timeout(now_ms);
        // A publisher's reorder flush may have made frames.
        self.take_frames();
        if self.waiting.is_some() {
            self.last_poll = now_ms;
            self.check_waiting(now_ms);
        }
    }

    /// Responses, then (while playing) one batch of media from the queue, then sender
    /// reports when due.
    pub fn take_output(&mut self, now_ms: u64, out: &mut Vec<Bytes>) {
        while let Some(b) = self.session.poll_transmit() {
            out.push(b);
        }
        if !self.session.is_playing() || self.ended {
            return;
        }
        let Some(queue) = self.queue.clone() else {
            return;
        };
        let mut items = Vec::new();
        queue
            .borrow_mut()
            .drain_into(&mut items, MAX_BATCH_ITEMS, MAX_BATCH_BYTES);
        // Headers of the batch in one buffer; (header range, payload) per packet.
        let mut headers = BytesMut::new();
        let mut parts: Vec<(usize, Bytes)> = Vec::new();
        for item in items {
            let frame = match item {
                QueueItem::Frame(f) => f,
                QueueItem::Unpublished => {
                    log::info!("[{}] RTSP: the publisher left, session ends", self.log.cid);
                    self.ended = true;
                    break;
                }
                QueueItem::Published => continue,
            };
            if frame.sequence_header {
                if frame.kind == FrameKind::Video {
                    self.video = VideoParams::of(&frame).or(self.video.take());
                }
                continue;
            }
            if self.skip_to_keyframe {
                if !frame.is_video_keyframe() {
                    continue;
                }
                self.skip_to_keyframe = false;
            }
            let Some(index) = self.tracks.iter().position(|t| t.kind == frame.kind) else {
                continue;
            };
            if !self.session.is_set_up(index) {
                continue;
            }
            let all = packets(&frame, self.video.as_ref(), self.audio_rate);
            let mut rest = &all[..];
            while rest.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let Some(packet) = rest.get(2..2 + len) else {
                    break;
                };
                if let Some((to, h)) = self.session.packet_header(index, packet) {
                    let start = all.len() - rest.len() + 2 + FIXED_HEADER_LEN;
                    let payload = all.slice(start..start + len - FIXED_HEADER_LEN);
                    if to == Destination::Udp {
                        // One datagram: its own copy of the payload (UDP players only).
                        let mut d = BytesMut::with_capacity(len);
                        d.put_slice(&h[4..]);
                        d.put_slice(&payload);
                        self.datagrams.push((index, false, d.freeze()));
                    } else {
                        headers.extend_from_slice(&h);
                        parts.push((headers.len(), payload));
                    }
                    let t = &mut self.tracks[index];
                    t.packets = t.packets.wrapping_add(1);
                    t.octets = t.octets.wrapping_add((len - FIXED_HEADER_LEN) as u32);
                }
                rest = &rest[2 + len..];
            }
            let t = &mut self.tracks[index];
            t.last = Some((rtp_timestamp(&frame, t.clock_rate), now_ms));
        }
        let headers = headers.freeze();
        let mut from = 0;
        for (end, payload) in parts {
            out.push(headers.slice(from..end));
            out.push(payload);
            from = end;
        }
        if now_ms >= self.next_report_ms {
            self.next_report_ms = now_ms.saturating_add(SENDER_REPORT_MS);
            self.sender_reports(now_ms, out);
        }
    }

    /// One SR + SDES per track that sent something, on its interleaved RTCP channel.
    fn sender_reports(&mut self, now_ms: u64, out: &mut Vec<Bytes>) {
        let wall_us = (self.wall_epoch_ms.saturating_add(now_ms) as i64).saturating_mul(1000);
        for (i, t) in self.tracks.iter().enumerate() {
            let (Some((ts, at)), Some((to, channel, ssrc))) = (t.last, self.session.rtcp_target(i))
            else {
                continue;
            };
            let elapsed = now_ms
                .saturating_sub(at)
                .wrapping_mul(u64::from(t.clock_rate))
                / 1000;
            let report = [
                Packet::SenderReport(SenderReport {
                    ssrc,
                    ntp: NtpTimestamp::from_unix_micros(wall_us),
                    rtp_timestamp: ts.wrapping_add(elapsed as u32),
                    packet_count: t.packets,
                    octet_count: t.octets,
                    reports: Vec::new(),
                }),
                Packet::SourceDescription(SourceDescription {
                    chunks: vec![(ssrc, Some("tinysrs".to_owned()))],
                }),
            ];
            let mut body = BytesMut::new();
            if rtcp::encode_compound(&report, &mut body).is_err() {
                continue;
            }
            if to == Destination::Udp {
                self.datagrams.push((i, true, body.freeze()));
                continue;
            }
            let mut frame = BytesMut::with_capacity(4 + body.len());
            frame.put_u8(b'$');
            frame.put_u8(channel);
            frame.put_u16(body.len() as u16);
            frame.put_slice(&body);
            out.push(frame.freeze());
        }
    }

    /// No on_stop for a player that never played (refused, or nothing to play).
    fn forget_hooks(&mut self) {
        #[cfg(feature = "hooks")]
        {
            self.hook_client = None;
        }
    }

    /// Bytes sent (for the API's counters).
    pub fn handle_sent(&self, n: usize) {
        self.registration.record.send.add(n as u64);
    }

    /// Detaches from the hub and tells the hooks (once): the driver's last call.
    pub fn close(&mut self, now_ms: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        let Some(key) = self.key.clone() else {
            return;
        };
        if self.session.is_publisher() {
            // Published or not (refused, or gone while on_publish decided): never on_stop.
            return self.unpublish(now_ms, &key);
        }
        if let Some(queue) = self.queue.take() {
            let stats = queue.borrow().stats();
            log::info!(
                "[{}] stop RTSP playing {key}: {} frames queued, {} dropped",
                self.log.cid,
                stats.queued_frames,
                stats.dropped_frames
            );
            self.ctx
                .hub
                .borrow_mut()
                .stop(&key, self.registration.record.id, now_ms);
        }
        #[cfg(feature = "hooks")]
        if let (Some(client), Some(vhost)) = (self.hook_client.take(), self.vhost.as_ref()) {
            let extra = hooks::Extra::default();
            self.ctx.hooks.notify(vhost, Action::Stop, &client, &extra);
        }
    }
}

/// SRS's tcUrl for a player: the URL's scheme and authority and the app.
fn tc_url(url: &str, key: &StreamKey) -> String {
    let authority_end = url.find("://").map_or(0, |i| {
        i + 3 + url[i + 3..].find('/').unwrap_or(url.len() - i - 3)
    });
    let mut out: String = url[..authority_end].chars().take(256).collect();
    out.push('/');
    out.push_str(&key.app);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rtp::{Depacketizer, RtpPacket};

    const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF, 0xE5];
    const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

    /// The shared packets of `frame`, each with the sequence number a player would give it.
    fn numbered(all: &Bytes) -> Vec<RtpPacket> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < all.len() {
            let len = usize::from(u16::from_be_bytes([all[at], all[at + 1]]));
            let mut p = all[at + 2..at + 2 + len].to_vec();
            p[2..4].copy_from_slice(&(out.len() as u16).to_be_bytes());
            out.push(RtpPacket::decode(Bytes::from(p)).unwrap());
            at += 2 + len;
        }
        out
    }

    /// A keyframe of one 5000-byte IDR slice: the parameter sets go first (aggregated), the
    /// slice in FU-A fragments within the MTU; the depacketizer gives back SPS, PPS and the
    /// slice. Built once, shared.
    #[test]
    fn a_keyframe_is_packetized_once_with_its_parameter_sets_and_round_trips() {
        let mut idr = vec![0x65];
        idr.extend((0..4999).map(|i| (i % 251) as u8));
        let mut body = vec![0x17, 1, 0, 0, 0];
        body.extend_from_slice(&(idr.len() as u32).to_be_bytes());
        body.extend_from_slice(&idr);
        let frame = Frame::video(VideoCodec::Avc, 1000, 40, true, false, Bytes::from(body), 5);
        let params = VideoParams {
            nal_length_size: 4,
            sets: vec![Bytes::from_static(SPS), Bytes::from_static(PPS)],
        };
        let all = packets(&frame, Some(&params), 0);
        assert_eq!(
            packets(&frame, None, 0).as_ptr(),
            all.as_ptr(),
            "built once and shared"
        );
        let list = numbered(&all);
        assert!(list.len() >= 5, "{} packets", list.len());
        assert!(list.iter().all(|p| p.payload.len() <= MTU));
        assert!(list.iter().all(|p| p.timestamp == 1040 * 90 && p.ssrc == 0));
        assert_eq!(list[0].payload[0] & 0x1f, h264::STAP_A);
        assert_eq!(list[1].payload[0] & 0x1f, h264::FU_A);
        assert_eq!(
            list.iter().map(|p| p.marker).collect::<Vec<_>>(),
            (0..list.len())
                .map(|i| i == list.len() - 1)
                .collect::<Vec<_>>()
        );
        let format = PayloadFormat::H264(H264Params::parse("packetization-mode=1"));
        let mut d = Depacketizer::new(&format);
        for p in &list {
            d.push(p).unwrap();
        }
        let au = d.pop().expect("one access unit");
        assert!(au.keyframe);
        let mut expected = Vec::new();
        for nal in [SPS, PPS, &idr[..]] {
            expected.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            expected.extend_from_slice(nal);
        }
        assert_eq!(au.data[..], expected[..]);
    }

    /// AAC: one AAC-hbr packet per frame, timestamp in the sample rate; a frame without a
    /// packetization (MP3) has no packets.
    #[test]
    fn audio_frames_packetize_in_their_clock() {
        let frame = Frame::audio(
            AudioCodec::Aac,
            2000,
            false,
            Bytes::from_static(&[0xAF, 1, 0x21, 0x10, 0x04]),
            2,
        );
        let list = numbered(&packets(&frame, None, 44_100));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].timestamp, 88_200);
        assert!(list[0].marker);
        // AU-headers-length 16 bits, one 13+3-bit header (size 3), then the unit.
        assert_eq!(list[0].payload[..], [0, 16, 0, 3 << 3, 0x21, 0x10, 0x04]);
        let mp3 = Frame::audio(AudioCodec::Mp3, 0, false, Bytes::from_static(&[0x2F, 1]), 1);
        assert!(packets(&mp3, None, 44_100).is_empty());
    }
}
