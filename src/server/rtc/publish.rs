//! WHIP publish (RFC 9725): a browser or OBS sends H.264, H.265 or AV1 (and Opus or G.711) over
//! WebRTC and the stream goes into the hub like any publisher's.
//!
//! What a caller must know:
//! - [`accept`] answers a WHIP offer (sendonly from the client) recvonly, with one codec per
//!   m-line: the first of the offer's list (the publisher's preference, as a WebRTC answerer
//!   keeps it) that we take. Video: H.264 with packetization mode 1, H.265 (RFC 7798,
//!   parameter sets in band, carried as Enhanced RTMP `hvc1`) or AV1 (the AOM RTP payload
//!   format, carried as Enhanced RTMP `av01`: an AV1CodecConfigurationRecord made from the
//!   stream's sequence header OBU, then temporal units); an offer with none of them is
//!   refused. Audio, when the offer has one of them: Opus (the hub carries it as Enhanced
//!   RTMP `Opus`), G.711 A-law or µ-law 8 kHz mono (as FLV sound formats 7 and 8, as a
//!   GB28181 camera's). The glue checks the vhost's rules and hooks and publishes into the
//!   hub, then hands the Source to [`Publisher::new`].
//! - Media: str0m's RTP packets (RTP mode, after SRTP) → a reorder window of
//!   [`REORDER_WINDOW`] packets per track (a gap is waited for [`GAP_WAIT_MS`] at most) → the RTSP client's tracks
//!   ([`crate::session::rtsp::Track`]: FU-A/STAP-A, RFC 7798 AP/FU or AV1 depacketizer
//!   ([`crate::wire::rtp::av1_depacketizer`]), AVC or HEVC sequence header from in-band
//!   parameter sets or `av1C` record from the sequence header OBU, keyframes from IDR/IRAP or
//!   AV1's new coded video sequences, 90 kHz timestamps unwrapped from anywhere) → the
//!   Source. str0m NACKs gaps and turns RTX retransmissions back into the packets they
//!   repair (and drops duplicates); packets of other payload types are dropped and counted.
//!   A loss that is not repaired drops the access unit it hits.
//! - Transport: as WHEP's, UDP or ICE-TCP ([`super::tcp`]), by the candidates
//!   `rtc_server.protocol` offers.
//! - Keyframes: a PLI goes to the publisher once connected and every [`PLI_INTERVAL_MS`]
//!   until the first keyframe comes, then whenever none came for [`KEYFRAME_INTERVAL_MS`]
//!   (browsers send keyframes only when asked; players and HLS need them).
//! - The session ends on `DELETE`, ICE disconnect, not connected within
//!   [`super::CONNECT_TIMEOUT_MS`], or no media for [`MEDIA_TIMEOUT_MS`]; the stream is
//!   unpublished then.
//! - Memory: per session str0m's state ([`super::SESSION_BYTES`]), one access unit being
//!   assembled per track (video at most the `max_access_unit` given, audio
//!   [`MAX_AUDIO_ACCESS_UNIT`]) and two reorder windows of at most [`REORDER_WINDOW`]
//!   packets of at most [`super::MAX_DATAGRAM`] bytes (`limits/rtc.rs`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::Codec as RtcCodec;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::{Candidate, Event, Output, Rtc};

use super::{crypto, OfferError, Transmit};
use crate::live::{ClientId, Source, StreamKey};
use crate::media::{Frame, FrameKind};
use crate::session::rtsp::Track;
use crate::wire::rtp::{Popped, Reorder, RtpPacket};
use crate::wire::sdp::fmtp::{H264Params, H265Params, OpusParams, PayloadFormat};

/// Packets a track holds to put them back in order (UDP reorders little on one path; str0m
/// NACKs a gap and the retransmission must still find its slot). RAM: this many datagrams
/// (at most `MAX_DATAGRAM` bytes) per track, two tracks per WHIP session.
pub const REORDER_WINDOW: usize = 64;
/// How long a gap in a track's sequence is waited for when nothing more comes out of its
/// window: a NACK and its RTX retransmission take a round trip (str0m NACKs at once), and a
/// low-bitrate track would otherwise hold a gap until [`REORDER_WINDOW`] packets came.
pub const GAP_WAIT_MS: u64 = 300;
/// Audio access units at most (one Opus packet is one frame of at most 120 ms: about 1.3 KB
/// at 510 kbit/s; RFC 7587 §4.2 allows one per packet).
pub const MAX_AUDIO_ACCESS_UNIT: usize = 4 * 1024;
/// A publishing session without media this long ends (a browser tab closed without DELETE
/// and without ICE noticing: str0m's ICE-lite sees the consent checks stop later).
pub const MEDIA_TIMEOUT_MS: u64 = 10_000;
/// Media lines of an offer looked at (a WHIP client sends one video and one audio).
const MAX_MEDIA_LINES: usize = 8;
/// Payload types of an m-line looked at (Chromium offers 9 audio and about 30 video ones).
const MAX_FORMATS: usize = 64;
/// PLIs are sent this often until the first keyframe (RFC 4585 §6.3.1).
pub const PLI_INTERVAL_MS: u64 = 1_000;
/// Then a PLI whenever no keyframe came for this long. Why: WebRTC encoders send keyframes
/// only when asked (Chromium: one at the start), and the hub's players start at a keyframe
/// from the GOP cache and HLS cuts fragments at keyframes; SRS asks every 6 s
/// (`rtc_to_rtmp.pli_for_rtmp`), we follow the HLS fragment's 2 s default. Costs a keyframe's
/// bits every interval.
pub const KEYFRAME_INTERVAL_MS: u64 = 2_000;

/// A WHIP offer taken: the `Rtc` and what its media lines carry.
pub struct Accepted {
    pub rtc: Rtc,
    pub answer: String,
    video: (Mid, Vec<Pt>, PayloadFormat),
    audio: Option<(Mid, Pt, PayloadFormat)>,
    transmits: Vec<Transmit>,
    timeout: Instant,
    remote_ice: super::trickle::RemoteIce,
}

/// Takes a WHIP offer (untrusted text: str0m parses it): ICE-lite with the host
/// `candidates`, recvonly; on each m-line the first codec of the offer's list that we take
/// ([`Wanted`]), alone, as a WebRTC answerer keeps the offerer's preference.
pub fn accept(
    offer: &str,
    cert: &DtlsCert,
    candidates: &[Candidate],
    now: Instant,
) -> Result<Accepted, OfferError> {
    let offered = media_lines(offer);
    let remote_ice = super::trickle::RemoteIce::of(offer);
    log::debug!("rtc: WHIP offer media {offered:?}");
    let chosen = |kind: MediaKind| {
        offered
            .iter()
            .filter(|l| l.kind == kind)
            .find_map(|l| l.first.map(|c| (l.mid, c)))
    };
    let (video_mid, video) = chosen(MediaKind::Video).ok_or(OfferError::NoPublishCodec)?;
    let audio_line = chosen(MediaKind::Audio);
    let audio = audio_line.map(|(_, c)| c);
    let offer =
        SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::BadOffer(e.to_string()))?;
    let mut rtc = Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_h264(video == Wanted::H264)
        .enable_h265(video == Wanted::H265)
        .enable_av1(video == Wanted::Av1)
        .enable_opus(audio == Some(Wanted::Opus), false)
        .enable_pcma(audio == Some(Wanted::Pcma), false)
        .enable_pcmu(audio == Some(Wanted::Pcmu), false)
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
    let mut transmits = Vec::new();
    let timeout = loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => break t,
            Ok(Output::Transmit(t)) => transmits.push(t.into()),
            Ok(Output::Event(_)) => {}
            Err(e) => return Err(OfferError::BadOffer(e.to_string())),
        }
    };
    // The payload types str0m matched on the m-line (H.264: one per profile offered).
    let pts = |mid: Mid, codec: Wanted| -> Vec<Pt> {
        let Some(media) = rtc.media(mid) else {
            return Vec::new();
        };
        rtc.codec_config()
            .params()
            .iter()
            .filter(|p| {
                let s = p.spec();
                s.codec == codec.rtc()
                    && (codec != Wanted::H264 || s.format.packetization_mode == Some(1))
                    && media.remote_pts().contains(&p.pt())
            })
            .map(|p| p.pt())
            .collect()
    };
    let video_pts = pts(video_mid, video);
    if video_pts.is_empty() {
        return Err(OfferError::NoPublishCodec);
    }
    let audio = audio_line.and_then(|(mid, codec)| {
        let pt = *pts(mid, codec).first()?;
        Some((mid, pt, codec.format()))
    });
    Ok(Accepted {
        rtc,
        answer: answer.to_sdp_string(),
        video: (video_mid, video_pts, video.format()),
        audio,
        transmits,
        timeout,
        remote_ice,
    })
}

/// The codecs a WHIP publisher may send us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted {
    /// Packetization mode 1 (FU-A, STAP-A) only.
    H264,
    /// RFC 7798, without decoding order numbers (str0m refuses `sprop-max-don-diff`).
    H265,
    /// The AOM RTP payload format v1.0.0 (no scalability structures).
    Av1,
    Opus,
    /// G.711 A-law, 8 kHz mono.
    Pcma,
    /// G.711 µ-law, 8 kHz mono.
    Pcmu,
}

impl Wanted {
    /// The codec of an `a=rtpmap` value (`H264/90000`; H.264 is taken only when an `a=fmtp`
    /// says `packetization-mode=1`).
    fn of_rtpmap(rtpmap: &str) -> Option<Wanted> {
        let mut parts = rtpmap.trim().split('/');
        let name = parts.next()?;
        let rate = parts.next()?;
        let channels = parts.next();
        let is = |n: &str, r: &str| name.eq_ignore_ascii_case(n) && rate == r;
        if is("H264", "90000") {
            Some(Wanted::H264)
        } else if is("H265", "90000") {
            Some(Wanted::H265)
        } else if is("AV1", "90000") {
            Some(Wanted::Av1)
        } else if is("opus", "48000") {
            Some(Wanted::Opus)
        } else if channels.is_some_and(|c| c != "1") {
            None
        } else if is("PCMA", "8000") {
            Some(Wanted::Pcma)
        } else if is("PCMU", "8000") {
            Some(Wanted::Pcmu)
        } else {
            None
        }
    }

    fn rtc(self) -> RtcCodec {
        match self {
            Wanted::H264 => RtcCodec::H264,
            Wanted::H265 => RtcCodec::H265,
            Wanted::Av1 => RtcCodec::Av1,
            Wanted::Opus => RtcCodec::Opus,
            Wanted::Pcma => RtcCodec::PCMA,
            Wanted::Pcmu => RtcCodec::PCMU,
        }
    }

    /// The RTSP track's format of the codec (parameter sets come in-band).
    fn format(self) -> PayloadFormat {
        match self {
            Wanted::H264 => PayloadFormat::H264(H264Params {
                packetization_mode: 1,
                profile_level_id: None,
                sps: Vec::new(),
                pps: Vec::new(),
            }),
            Wanted::H265 => PayloadFormat::H265(H265Params::parse("")),
            Wanted::Av1 => PayloadFormat::Av1,
            Wanted::Opus => PayloadFormat::Opus(OpusParams { stereo: true }),
            Wanted::Pcma => PayloadFormat::Pcma { channels: 1 },
            Wanted::Pcmu => PayloadFormat::Pcmu { channels: 1 },
        }
    }
}

/// An audio or video m-line of an offer: its `a=mid`, kind and the first codec of its
/// format list that we take.
#[derive(Debug)]
struct MediaLine {
    mid: Mid,
    kind: MediaKind,
    first: Option<Wanted>,
}

/// One m-line section being read: its payload types in the offer's order of preference,
/// their codecs, which H.264 ones are packetization mode 1.
#[derive(Default)]
struct Section {
    kind: Option<MediaKind>,
    mid: Option<Mid>,
    order: Vec<u8>,
    codecs: Vec<(u8, Wanted)>,
    mode1: Vec<u8>,
}

impl Section {
    fn first(&self) -> Option<Wanted> {
        self.order.iter().find_map(|pt| {
            let (_, c) = self.codecs.iter().find(|(p, _)| p == pt)?;
            (*c != Wanted::H264 || self.mode1.contains(pt)).then_some(*c)
        })
    }
}

/// The payload type and value of an `a=rtpmap:` or `a=fmtp:` line's rest.
fn pt_and(rest: &str) -> Option<(u8, &str)> {
    let (pt, value) = rest.split_once(' ')?;
    Some((pt.parse().ok()?, value))
}

/// The audio and video m-lines of an offer (untrusted text: at most [`MAX_MEDIA_LINES`] are
/// looked at, and [`MAX_FORMATS`] payload types of each).
fn media_lines(offer: &str) -> Vec<MediaLine> {
    let mut out = Vec::new();
    let mut section = Section::default();
    let end = |s: &mut Section, out: &mut Vec<MediaLine>| {
        let s = std::mem::take(s);
        if let (Some(kind), Some(mid)) = (s.kind, s.mid) {
            if out.len() < MAX_MEDIA_LINES {
                let first = s.first();
                out.push(MediaLine { mid, kind, first });
            }
        }
    };
    for line in offer.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            end(&mut section, &mut out);
            let mut fields = m.split_whitespace();
            section.kind = match fields.next() {
                Some("video") => Some(MediaKind::Video),
                Some("audio") => Some(MediaKind::Audio),
                _ => None,
            };
            // Port and protocol, then the formats.
            section.order = fields
                .skip(2)
                .filter_map(|f| f.parse().ok())
                .take(MAX_FORMATS)
                .collect();
        } else if section.kind.is_none() {
            continue;
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            section.mid.get_or_insert(Mid::from(mid.trim()));
        } else if let Some((pt, map)) = line.strip_prefix("a=rtpmap:").and_then(pt_and) {
            if let Some(c) = Wanted::of_rtpmap(map) {
                if section.order.contains(&pt) && section.codecs.len() < MAX_FORMATS {
                    section.codecs.push((pt, c));
                }
            }
        } else if let Some((pt, fmtp)) = line.strip_prefix("a=fmtp:").and_then(pt_and) {
            let mode1 = fmtp
                .split(';')
                .any(|p| p.trim().eq_ignore_ascii_case("packetization-mode=1"));
            if mode1 && section.order.contains(&pt) && section.mode1.len() < MAX_FORMATS {
                section.mode1.push(pt);
            }
        }
    }
    end(&mut section, &mut out);
    out
}

/// One track of a publisher: its payload types, reorder window and depacketizing track.
struct Inbound {
    pts: Vec<Pt>,
    reorder: Reorder,
    track: Track,
    /// When a packet last came out of the window.
    progress_ms: u64,
}

impl Inbound {
    fn new(pts: Vec<Pt>, format: PayloadFormat, max_access_unit: usize) -> Inbound {
        Inbound {
            pts,
            reorder: Reorder::new(REORDER_WINDOW),
            track: Track::new(format, max_access_unit),
            progress_ms: 0,
        }
    }

    /// What the window has ready into the track; `start`: when the session's first packet came.
    fn pop(&mut self, now_ms: u64, start: u64, frames: &mut Vec<Frame>) {
        while let Some(popped) = self.reorder.pop() {
            self.progress_ms = now_ms;
            let Popped::Packet(p) = popped else {
                continue;
            };
            // A refused packet is counted by the track; the next access unit starts clean.
            let _ = self.track.push(&p, now_ms.saturating_sub(start), frames);
        }
    }

    /// When a held gap is given up on, if the window holds one.
    fn deadline(&self) -> Option<u64> {
        (self.reorder.held() > 0).then(|| self.progress_ms.saturating_add(GAP_WAIT_MS))
    }
}

/// The media half of a WHIP session: RTP packets in, hub frames out (sans-IO: the time is
/// an argument).
pub struct Media {
    video: Inbound,
    audio: Option<Inbound>,
    first_packet_ms: Option<u64>,
    /// When the last RTP packet came.
    pub last_media_ms: u64,
    pub keyframe_seen: bool,
    /// When the last keyframe came.
    pub last_keyframe_ms: u64,
    frames: Vec<Frame>,
    /// Frames given out, packets of no track of ours.
    pub frames_out: u64,
    pub stray_packets: u64,
}

impl Media {
    /// Video on payload types `video.0` in format `video.1`, audio on `audio.0` in `audio.1`;
    /// video access units up to `max_access_unit` bytes.
    pub fn new(
        video: (Vec<Pt>, PayloadFormat),
        audio: Option<(Pt, PayloadFormat)>,
        max_access_unit: usize,
        now_ms: u64,
    ) -> Media {
        Media {
            video: Inbound::new(video.0, video.1, max_access_unit),
            audio: audio.map(|(pt, f)| Inbound::new(vec![pt], f, MAX_AUDIO_ACCESS_UNIT)),
            first_packet_ms: None,
            last_media_ms: now_ms,
            keyframe_seen: false,
            last_keyframe_ms: 0,
            frames: Vec::new(),
            frames_out: 0,
            stray_packets: 0,
        }
    }

    /// One RTP packet (its header fields and payload as str0m parsed them); the frames it
    /// completes go to `out`.
    pub fn handle_packet(&mut self, now_ms: u64, packet: RtpPacket, out: &mut Vec<Frame>) {
        let pt = Pt::from(packet.payload_type);
        let inbound = if self.video.pts.contains(&pt) {
            &mut self.video
        } else if let Some(a) = self.audio.as_mut().filter(|a| a.pts.contains(&pt)) {
            a
        } else {
            self.stray_packets += 1;
            return;
        };
        self.last_media_ms = now_ms;
        let start = *self.first_packet_ms.get_or_insert(now_ms);
        if inbound.reorder.held() == 0 {
            inbound.progress_ms = now_ms;
        }
        inbound.reorder.push(packet);
        inbound.pop(now_ms, start, &mut self.frames);
        self.take_frames(now_ms, out);
    }

    /// Gaps waited for [`GAP_WAIT_MS`] are given up on; the frames behind them go to `out`.
    pub fn handle_timeout(&mut self, now_ms: u64, out: &mut Vec<Frame>) {
        let start = self.first_packet_ms.unwrap_or(now_ms);
        let tracks = std::iter::once(&mut self.video).chain(self.audio.as_mut());
        for inbound in tracks {
            if inbound.deadline().is_some_and(|d| now_ms >= d) {
                inbound.reorder.flush();
                inbound.pop(now_ms, start, &mut self.frames);
            }
        }
        self.take_frames(now_ms, out);
    }

    /// The next gap deadline, if a window holds a gap.
    pub fn deadline(&self) -> Option<u64> {
        let audio = self.audio.as_ref().and_then(Inbound::deadline);
        match (self.video.deadline(), audio) {
            (Some(v), Some(a)) => Some(v.min(a)),
            (v, a) => v.or(a),
        }
    }

    fn take_frames(&mut self, now_ms: u64, out: &mut Vec<Frame>) {
        for frame in self.frames.drain(..) {
            if frame.kind == FrameKind::Video && frame.keyframe && !frame.sequence_header {
                self.keyframe_seen = true;
                self.last_keyframe_ms = now_ms;
            }
            self.frames_out += 1;
            out.push(frame);
        }
    }
}

/// A WHIP session: str0m's `Rtc`, the stream it publishes and its media.
pub struct Publisher {
    pub id: u64,
    pub rtc: Rtc,
    pub key: StreamKey,
    pub client: ClientId,
    pub source: Rc<RefCell<Source>>,
    pub media: Media,
    video_mid: Mid,
    pub connected: bool,
    pub connect_by: u64,
    next_pli_ms: u64,
    pub timeout: Instant,
    pub ended: bool,
    /// Run once when the session ends, after the unpublish (the `on_unpublish` hooks).
    pub on_end: Option<Box<dyn FnOnce()>>,
    /// Its `/api/v1/clients` entry (`rtc-publish`), gone with the session.
    pub registration: Option<crate::server::stats::Registration>,
    /// The offer's ICE credentials, which a trickle `PATCH` must repeat.
    pub remote_ice: super::trickle::RemoteIce,
}

impl Publisher {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        accepted: Accepted,
        key: StreamKey,
        client: ClientId,
        source: Rc<RefCell<Source>>,
        max_access_unit: usize,
        now_ms: u64,
        out: &mut Vec<Transmit>,
    ) -> Publisher {
        let Accepted {
            rtc,
            video,
            audio,
            transmits,
            timeout,
            remote_ice,
            ..
        } = accepted;
        out.extend(transmits);
        Publisher {
            id,
            rtc,
            key,
            client,
            source,
            media: Media::new(
                (video.1, video.2),
                audio.map(|a| (a.1, a.2)),
                max_access_unit,
                now_ms,
            ),
            video_mid: video.0,
            connected: false,
            connect_by: now_ms.saturating_add(super::CONNECT_TIMEOUT_MS),
            next_pli_ms: 0,
            timeout,
            ended: false,
            on_end: None,
            registration: None,
            remote_ice,
        }
    }

    /// Polls the `Rtc` until it has nothing more than a deadline: datagrams to `out`, RTP
    /// into the Source.
    pub fn drain(&mut self, now_ms: u64, out: &mut Vec<Transmit>, dropped: &mut u64) {
        let mut frames = Vec::new();
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    if out.len() >= super::MAX_TRANSMITS {
                        *dropped += 1;
                    } else {
                        out.push(t.into());
                    }
                }
                Ok(Output::Event(e)) => match e {
                    Event::Connected => {
                        log::info!("rtc: WHIP session {} connected", self.id);
                        self.connected = true;
                        self.media.last_media_ms = now_ms;
                    }
                    Event::IceConnectionStateChange(str0m::IceConnectionState::Disconnected) => {
                        self.ended = true;
                    }
                    Event::RtpPacket(p) => {
                        let packet = RtpPacket {
                            marker: p.header.marker,
                            payload_type: *p.header.payload_type,
                            sequence: p.seq_no.as_u16(),
                            timestamp: p.header.timestamp,
                            ssrc: *p.header.ssrc,
                            payload: Bytes::copy_from_slice(&p.payload),
                        };
                        self.media.handle_packet(now_ms, packet, &mut frames);
                        let mut source = self.source.borrow_mut();
                        for f in frames.drain(..) {
                            source.on_frame(f);
                        }
                    }
                    _ => {}
                },
                Err(e) => {
                    log::debug!("rtc: WHIP session {}: {e}", self.id);
                    self.ended = true;
                    break;
                }
            }
        }
    }

    /// Whether a keyframe is due: none yet, or none for [`KEYFRAME_INTERVAL_MS`].
    fn keyframe_due(&self, now_ms: u64) -> bool {
        !self.media.keyframe_seen
            || now_ms.saturating_sub(self.media.last_keyframe_ms) >= KEYFRAME_INTERVAL_MS
    }

    /// Timers: gaps given up on, a PLI until the first keyframe and when keyframes stop, the
    /// media timeout.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if !self.connected {
            return;
        }
        let mut frames = Vec::new();
        self.media.handle_timeout(now_ms, &mut frames);
        if !frames.is_empty() {
            let mut source = self.source.borrow_mut();
            for f in frames {
                source.on_frame(f);
            }
        }
        if now_ms.saturating_sub(self.media.last_media_ms) >= MEDIA_TIMEOUT_MS {
            log::info!(
                "rtc: WHIP session {} sent no media for {MEDIA_TIMEOUT_MS} ms",
                self.id
            );
            self.ended = true;
            return;
        }
        if self.keyframe_due(now_ms) && now_ms >= self.next_pli_ms {
            if let Some(rx) = self.rtc.direct_api().stream_rx_by_mid(self.video_mid, None) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
                self.next_pli_ms = now_ms + PLI_INTERVAL_MS;
            } else {
                // No stream yet (no packet came): try again soon.
                self.next_pli_ms = now_ms + PLI_INTERVAL_MS / 10;
            }
        }
    }

    /// The next deadline in server ms (beyond str0m's own).
    pub fn deadline(&self) -> u64 {
        if !self.connected {
            return self.connect_by;
        }
        let media = self.media.last_media_ms.saturating_add(MEDIA_TIMEOUT_MS);
        let keyframe = if self.media.keyframe_seen {
            self.media
                .last_keyframe_ms
                .saturating_add(KEYFRAME_INTERVAL_MS)
                .max(self.next_pli_ms)
        } else {
            self.next_pli_ms
        };
        let gap = self.media.deadline().unwrap_or(u64::MAX);
        media.min(keyframe).min(gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AudioCodec, Codec, VideoCodec};
    use crate::testutil::XorShift;
    use crate::wire::rtp::h264;
    use crate::wire::rtp::payload::RtpWriter;
    use std::net::SocketAddr;

    /// Debian Chromium 156's WHIP offer as ci/browser-whip.mjs makes it: the fake microphone
    /// and camera from `getUserMedia`, `addTransceiver(track, {direction: "sendonly"})`, the
    /// video's codecs narrowed to H.264 (packetization mode 1) with RTX, RED and ULPFEC.
    const CHROMIUM_OFFER: &str = include_str!("../../../tests/data/rtc/chromium_whip_offer.sdp");

    fn udp(at: SocketAddr) -> Vec<Candidate> {
        super::super::candidates(at.ip(), Some(at.port()), None).unwrap()
    }

    fn cert() -> DtlsCert {
        super::super::dtls_cert(&[7; 32], &[0x80; 16]).unwrap()
    }

    #[test]
    fn chromium_offer_is_answered_recvonly_with_h264_and_opus() {
        let at: SocketAddr = "192.168.1.5:8000".parse().unwrap();
        let a = accept(CHROMIUM_OFFER, &cert(), &udp(at), crate::testutil::now()).unwrap();
        assert!(a.answer.contains("a=ice-lite"), "{}", a.answer);
        assert!(a.answer.contains("a=recvonly"), "{}", a.answer);
        assert!(!a.answer.contains("a=sendonly"), "{}", a.answer);
        assert!(!a.video.1.is_empty());
        for pt in &a.video.1 {
            let rtpmap = format!("a=rtpmap:{pt} H264/90000");
            assert!(a.answer.contains(&rtpmap), "{}", a.answer);
        }
        let (_, opus, _) = a.audio.expect("Opus accepted");
        let rtpmap = format!("a=rtpmap:{opus} opus/48000/2");
        assert!(a.answer.contains(&rtpmap), "{}", a.answer);
    }

    /// Chromium's offer with `setCodecPreferences` putting `codec` first on the audio m-line
    /// (its payload type moved to the head of the list).
    fn audio_first(codec_pt: &str) -> String {
        CHROMIUM_OFFER.replace(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
            &format!(
                "m=audio 9 UDP/TLS/RTP/SAVPF {codec_pt} {}",
                "111 63 9 0 8 13 110 126"
                    .split(' ')
                    .filter(|p| *p != codec_pt)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )
    }

    #[test]
    fn the_publishers_first_audio_codec_is_taken_alone() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        for (pt, rtpmap, format) in [
            ("8", "PCMA/8000", PayloadFormat::Pcma { channels: 1 }),
            ("0", "PCMU/8000", PayloadFormat::Pcmu { channels: 1 }),
            ("111", "opus/48000/2", opus().unwrap().1),
        ] {
            let offer = audio_first(pt);
            let a = accept(&offer, &cert(), &udp(at), crate::testutil::now()).unwrap();
            let (_, got, f) = a.audio.expect("audio accepted");
            assert_eq!(f, format, "{pt}");
            assert!(
                a.answer.contains(&format!("a=rtpmap:{got} {rtpmap}")),
                "{}",
                a.answer
            );
            // The other audio codecs are not in the answer: the publisher sends this one.
            let audio = a.answer.split("m=video").next().unwrap();
            let rtpmaps = audio.matches("a=rtpmap:").count();
            assert_eq!(rtpmaps, 1, "{pt}: {audio}");
        }
        // G.722 first (not ours): the next one of the list that is, Opus.
        let a = accept(&audio_first("9"), &cert(), &udp(at), now()).unwrap();
        assert_eq!(a.audio.map(|a| a.2), opus().map(|o| o.1));
    }

    /// Chromium's offer with an H.265 payload type (str0m's, as a publisher that can send it
    /// offers it) before or after its H.264 ones.
    fn with_h265(first: bool) -> String {
        let list = "102 103 108 109 116 117 118 119 120";
        let m = if first {
            format!("m=video 9 UDP/TLS/RTP/SAVPF 49 {list}")
        } else {
            format!("m=video 9 UDP/TLS/RTP/SAVPF {list} 49")
        };
        CHROMIUM_OFFER
            .replace(&format!("m=video 9 UDP/TLS/RTP/SAVPF {list}"), &m)
            .replace(
                "a=rtpmap:102 H264/90000",
                "a=rtpmap:49 H265/90000\r\na=fmtp:49 level-id=93;profile-id=1;tier-flag=0;\
                 tx-mode=SRST\r\na=rtpmap:102 H264/90000",
            )
    }

    #[test]
    fn the_publishers_first_video_codec_is_taken_alone() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let a = accept(&with_h265(true), &cert(), &udp(at), now()).unwrap();
        assert!(
            matches!(a.video.2, PayloadFormat::H265(_)),
            "{:?}",
            a.video.2
        );
        let video = a.answer.split("m=video").nth(1).unwrap();
        assert!(video.contains("H265/90000"), "{video}");
        assert!(!video.contains("H264/90000"), "{video}");
        let a = accept(&with_h265(false), &cert(), &udp(at), now()).unwrap();
        assert!(
            matches!(a.video.2, PayloadFormat::H264(_)),
            "{:?}",
            a.video.2
        );
        let video = a.answer.split("m=video").nth(1).unwrap();
        assert!(!video.contains("H265/90000"), "{video}");
    }

    /// H.265 VPS/SPS/PPS with short payloads (as the RTSP track's tests: Main, level 3.0).
    const HEVC_VPS: &[u8] = &[0x40, 0x01, 0x0C, 0x01];
    const HEVC_SPS: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90, 0xA0,
    ];
    const HEVC_PPS: &[u8] = &[0x44, 0x01, 0xC1, 0x73];

    #[test]
    fn h265_packets_become_an_hvc1_sequence_start_and_frames() {
        let format = Wanted::H265.format();
        let mut media = Media::new((vec![Pt::from(49)], format), None, 1 << 20, 0);
        let writer = RtpWriter {
            payload_type: 49,
            ssrc: 0x4455,
            sequence: 7,
        };
        let mut p = crate::wire::rtp::h265::packetizer(writer, 1200, 4);
        let unit = |nals: &[&[u8]]| -> Vec<u8> {
            nals.iter()
                .flat_map(|n| [&(n.len() as u32).to_be_bytes()[..], n].concat())
                .collect()
        };
        let mut out = Vec::new();
        let idr = [&[0x26u8, 0x01, 0xaf][..], &[0x55; 3000][..]].concat();
        p.packetize(0, &unit(&[HEVC_VPS, HEVC_SPS, HEVC_PPS, &idr]), &mut out)
            .unwrap();
        for i in 1..=3u32 {
            p.packetize(3000 * i, &unit(&[&[0x02, 0x01, 0xd0, i as u8]]), &mut out)
                .unwrap();
        }
        let mut frames = Vec::new();
        for (i, b) in out.into_iter().enumerate() {
            media.handle_packet(i as u64, RtpPacket::decode(b).unwrap(), &mut frames);
        }
        assert!(media.keyframe_seen);
        assert!(frames[0].sequence_header, "{frames:?}");
        assert_eq!(&frames[0].data[..5], &[0x90, b'h', b'v', b'c', b'1']);
        assert!(frames[1].keyframe && !frames[1].sequence_header);
        assert!(frames.len() >= 4, "{frames:?}");
        assert!(frames
            .iter()
            .all(|f| f.codec == Codec::Video(VideoCodec::Hevc)));
    }

    #[test]
    fn av1_first_in_the_offer_is_taken() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let list = "102 103 108 109 116 117 118 119 120";
        let offer = CHROMIUM_OFFER
            .replace(
                &format!("m=video 9 UDP/TLS/RTP/SAVPF {list}"),
                &format!("m=video 9 UDP/TLS/RTP/SAVPF 45 {list}"),
            )
            .replace(
                "a=rtpmap:102 H264/90000",
                "a=rtpmap:45 AV1/90000\r\na=fmtp:45 level-idx=5;profile=0;tier=0\r\n\
                 a=rtpmap:102 H264/90000",
            );
        let a = accept(&offer, &cert(), &udp(at), now()).unwrap();
        assert_eq!(a.video.2, PayloadFormat::Av1);
        assert_eq!(a.video.1, [Pt::from(45)]);
        let video = a.answer.split("m=video").nth(1).unwrap();
        assert!(video.contains("AV1/90000"), "{video}");
        assert!(!video.contains("H264/90000"), "{video}");
    }

    #[test]
    fn av1_packets_become_an_av01_sequence_start_and_frames() {
        // libsvtav1's 320x240 sequence header OBU (as wire::codec::av1's golden record).
        const SEQ: &[u8] = &[
            0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8, 0x00, 0x40,
        ];
        let mut media = Media::new((vec![Pt::from(45)], PayloadFormat::Av1), None, 1 << 20, 0);
        let writer = RtpWriter {
            payload_type: 45,
            ssrc: 0x4455,
            sequence: 65530,
        };
        let mut p = crate::wire::rtp::Packetizer::new(&PayloadFormat::Av1, writer, 1200, 4);
        let mut out = Vec::new();
        // A temporal delimiter, the sequence header and a 3000-byte frame OBU (type 6).
        let mut key = vec![0x12, 0x00];
        key.extend_from_slice(SEQ);
        key.extend_from_slice(&[0x32, 0xb8, 0x17]);
        key.extend_from_slice(&[0x55; 3000]);
        p.packetize(u32::MAX - 1000, &key, &mut out).unwrap();
        for i in 1..=3u32 {
            let ts = (u32::MAX - 1000).wrapping_add(3000 * i);
            p.packetize(ts, &[0x32, 2, 0x10, i as u8], &mut out)
                .unwrap();
        }
        let mut frames = Vec::new();
        for (i, b) in out.into_iter().enumerate() {
            media.handle_packet(i as u64, RtpPacket::decode(b).unwrap(), &mut frames);
        }
        assert!(media.keyframe_seen);
        assert_eq!(frames.len(), 5, "{frames:?}");
        assert!(frames[0].sequence_header);
        assert_eq!(
            &frames[0].data[..9],
            &[0x90, b'a', b'v', b'0', b'1', 0x81, 0, 0x0c, 0]
        );
        assert_eq!(&frames[0].data[9..], SEQ);
        assert!(frames[1].keyframe && !frames[1].sequence_header);
        assert_eq!(&frames[1].data[..5], &[0x91, b'a', b'v', b'0', b'1']);
        assert_eq!(&frames[1].data[5..], &key[2..]);
        assert_eq!(&frames[4].data[..], b"\xa1av01\x32\x02\x10\x03");
        let dts: Vec<i64> = frames.iter().map(|f| f.dts).collect();
        assert_eq!(dts, [0, 0, 33, 66, 100]);
        assert!(frames
            .iter()
            .all(|f| f.codec == Codec::Video(VideoCodec::Av1)));
    }

    #[test]
    fn offer_media_lines_keep_the_offers_order_and_bounds() {
        let lines = media_lines(&audio_first("0"));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].first, Some(Wanted::Pcmu));
        assert_eq!(lines[1].first, Some(Wanted::H264));
        // H.264 without packetization mode 1 is not ours; a stereo PCMA neither.
        let offer = "m=video 9 RTP/SAVPF 96 97\r\na=mid:v\r\na=rtpmap:96 H264/90000\r\n\
                     a=fmtp:96 packetization-mode=0\r\na=rtpmap:97 H264/90000\r\n\
                     a=fmtp:97 profile-level-id=42e01f;packetization-mode=1\r\n\
                     m=audio 9 RTP/SAVPF 8 0\r\na=mid:a\r\na=rtpmap:8 PCMA/8000/2\r\n\
                     a=rtpmap:0 PCMU/8000\r\n";
        let lines = media_lines(offer);
        assert_eq!(lines[0].first, Some(Wanted::H264));
        assert_eq!(lines[1].first, Some(Wanted::Pcmu));
        let many = "m=audio 9 RTP/SAVPF 8\r\na=mid:a\r\n".repeat(100);
        assert_eq!(media_lines(&many).len(), MAX_MEDIA_LINES);
    }

    fn now() -> Instant {
        crate::testutil::now()
    }

    #[test]
    fn g711_packets_become_hub_frames() {
        let mut frames = Vec::new();
        for (format, codec) in [
            (PayloadFormat::Pcma { channels: 1 }, AudioCodec::G711A),
            (PayloadFormat::Pcmu { channels: 1 }, AudioCodec::G711U),
        ] {
            let mut media = Media::new(h264(), Some((Pt::from(8), format)), 1 << 20, 0);
            frames.clear();
            for i in 0..5u16 {
                let packet = RtpPacket {
                    marker: i == 0,
                    payload_type: 8,
                    sequence: 1000 + i,
                    timestamp: 160 * u32::from(i),
                    ssrc: 9,
                    payload: Bytes::from(vec![0xd5; 160]),
                };
                media.handle_packet(20 * u64::from(i), packet, &mut frames);
            }
            assert!(frames.len() >= 4, "{frames:?}");
            let dts: Vec<i64> = frames.iter().map(|f| f.dts).collect();
            assert_eq!(&dts[..4], &[0, 20, 40, 60]);
            for f in &frames {
                assert_eq!(f.kind, FrameKind::Audio);
                assert_eq!(f.codec, Codec::Audio(codec), "{f:?}");
                assert_eq!(f.data.len(), 161, "one FLV byte, 20 ms of samples");
            }
        }
    }

    #[test]
    fn offers_without_h264_or_h265_are_refused() {
        let at: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let no_video: String = CHROMIUM_OFFER
            .replace("H264/90000", "VP9/90000")
            .replace("packetization-mode=1", "packetization-mode=0");
        let e = accept(&no_video, &cert(), &udp(at), crate::testutil::now()).err();
        assert_eq!(e.map(|e| e.status()), Some(400));
        let e = accept("v=0\r\n", &cert(), &udp(at), crate::testutil::now()).err();
        assert_eq!(e.map(|e| e.status()), Some(400));
    }

    fn h264() -> (Vec<Pt>, PayloadFormat) {
        (vec![Pt::from(102)], Wanted::H264.format())
    }

    fn opus() -> Option<(Pt, PayloadFormat)> {
        Some((Pt::from(111), Wanted::Opus.format()))
    }

    /// SPS (Baseline, 320x240) and PPS as a camera sends them.
    const SPS: &[u8] = &[
        0x67, 0x42, 0xc0, 0x15, 0xda, 0x05, 0x07, 0xec, 0x05, 0xa8, 0x30, 0x30, 0x35, 0x28, 0, 0,
        3, 0, 8, 0, 0, 3, 1, 0x94, 0x78, 0xb1, 0x75,
    ];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    /// Access units as 4-byte-length NAL units: a keyframe (SPS, PPS, a 3000-byte IDR slice,
    /// so FU-A) then `n` P slices.
    fn packets(first_ts: u32, first_seq: u16, n: usize) -> Vec<RtpPacket> {
        let writer = RtpWriter {
            payload_type: 102,
            ssrc: 0x1234,
            sequence: first_seq,
        };
        let mut p = h264::packetizer(writer, 1200, 4);
        let mut out = Vec::new();
        let unit = |nals: &[&[u8]]| -> Vec<u8> {
            nals.iter()
                .flat_map(|n| [&(n.len() as u32).to_be_bytes()[..], n].concat())
                .collect()
        };
        let idr = [&[0x65u8][..], &[0x88; 2999][..]].concat();
        p.packetize(first_ts, &unit(&[SPS, PPS, &idr]), &mut out)
            .unwrap();
        for i in 1..=n {
            let slice = [0x41u8, 0x9a, i as u8, 0x11];
            let ts = first_ts.wrapping_add(3000 * i as u32);
            p.packetize(ts, &unit(&[&slice]), &mut out).unwrap();
        }
        out.into_iter()
            .map(|b| RtpPacket::decode(b).unwrap())
            .collect()
    }

    #[test]
    fn rtp_becomes_a_sequence_header_and_frames_across_the_timestamp_wrap() {
        let mut media = Media::new(h264(), opus(), 1 << 20, 0);
        let mut frames = Vec::new();
        // Starts 2 frames before the 32-bit wrap; two packets swapped on the way.
        let mut list = packets(u32::MAX - 5999, 65530, 5);
        list.swap(2, 3);
        for (i, p) in list.into_iter().enumerate() {
            media.handle_packet(i as u64, p, &mut frames);
        }
        // A stray payload type (RTX) is not ours.
        let mut rtx = packets(0, 0, 0).remove(0);
        rtx.payload_type = 103;
        media.handle_packet(10, rtx, &mut frames);
        assert_eq!(media.stray_packets, 1);
        assert!(media.keyframe_seen);
        let video: Vec<&Frame> = frames
            .iter()
            .filter(|f| f.kind == FrameKind::Video)
            .collect();
        assert!(video[0].sequence_header, "{video:?}");
        assert!(video[1].keyframe && !video[1].sequence_header);
        // The last P slice may wait for the next access unit's first packet (no marker on
        // a single-packet unit is needed: the marker ends it), so 4 or 5 follow.
        let dts: Vec<i64> = video[1..].iter().map(|f| f.dts).collect();
        assert!(dts.len() >= 5, "{dts:?}");
        // 3000 ticks at 90 kHz: 33.3 ms, rounded down from the track's zero.
        for w in dts.windows(2) {
            assert!((33..=34).contains(&(w[1] - w[0])), "{dts:?}");
        }
        assert_eq!(dts[5] - dts[0], 166, "{dts:?}");
    }

    #[test]
    fn a_gap_is_given_up_on_after_the_wait() {
        let mut media = Media::new(h264(), None, 1 << 20, 0);
        let mut frames = Vec::new();
        let mut list = packets(1000, 100, 3);
        // The keyframe's last FU-A packet is lost: the P slices wait behind the gap.
        let lost = list.iter().position(|p| p.marker).unwrap();
        list.remove(lost);
        for p in list {
            media.handle_packet(10, p, &mut frames);
        }
        let before = frames.len();
        assert_eq!(media.deadline(), Some(10 + GAP_WAIT_MS));
        media.handle_timeout(10 + GAP_WAIT_MS - 1, &mut frames);
        assert_eq!(frames.len(), before);
        media.handle_timeout(10 + GAP_WAIT_MS, &mut frames);
        assert!(frames.len() > before, "{before} {}", frames.len());
        assert_eq!(media.deadline(), None);
    }

    /// Random packets of our payload types (and others), random sequence numbers,
    /// timestamps and payloads: no panic, and what comes out stays bounded.
    #[test]
    fn random_rtp_never_panics() {
        let mut rng = XorShift(0x5eed_1234_abcd_0001);
        for round in 0..200 {
            let mut media = Media::new(h264(), opus(), 64 * 1024, 0);
            let mut frames = Vec::new();
            for i in 0..200u64 {
                let len = rng.below(1400);
                let mut payload = vec![0u8; len];
                for b in &mut payload {
                    *b = rng.next() as u8;
                }
                // Mostly valid NAL headers, so that FU-A and STAP-A paths are taken.
                if let Some(b) = payload.first_mut() {
                    if rng.below(2) == 0 {
                        *b = [0x65, 0x41, 0x67, 0x68, 0x7c, 0x78, 0x1c][rng.below(7)];
                    }
                }
                let packet = RtpPacket {
                    marker: rng.below(3) == 0,
                    payload_type: [102, 111, 103, 0][rng.below(4)],
                    sequence: if rng.below(4) == 0 {
                        rng.next() as u16
                    } else {
                        i as u16
                    },
                    timestamp: (i as u32).wrapping_mul(3000) ^ (rng.below(2) as u32 * 77),
                    ssrc: 1,
                    payload: Bytes::from(payload),
                };
                media.handle_packet(i, packet, &mut frames);
            }
            assert!(frames.len() <= 400, "round {round}: {}", frames.len());
            assert!(frames.iter().all(|f| f.data.len() <= 64 * 1024 + 64));
        }
    }
}
