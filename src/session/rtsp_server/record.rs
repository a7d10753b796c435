//! The publishing side of a server session (RFC 2326 §10.11 ANNOUNCE, §10.4 SETUP with
//! `mode=record`, §10.11 RECORD): the ANNOUNCE's SDP chooses the tracks, and the RTP packets
//! the publisher sends become hub frames through the RTSP client's tracks
//! ([`crate::session::rtsp::Track`]: the same depacketizers, timestamps and sequence
//! headers as a pulled camera).
//!
//! What a caller must know:
//!
//! * Tracks: the first [`super::MAX_TRACKS`] `m=` sections may be set up; of them, the
//!   first video track we can carry (H.264, H.265) and the first audio track (AAC
//!   `mpeg4-generic` or `MP4A-LATM` with `cpresent=0`, as GStreamer's `rtspclientsink`
//!   sends it; G.711, Opus) make frames. The others (a second video, a format we do not
//!   read) may still be set up, so that the publisher goes on, and their packets
//!   are dropped; they are named in [`Recording::skipped`]. An SDP without a track we carry
//!   is refused. A track's control is the last path segment of its `a=control`
//!   (`streamid=0` from ffmpeg, `stream=0` from GStreamer), `trackID=N` when the SDP has
//!   none.
//! * Times: each track starts at the time its first packet came after the first packet of
//!   any track (publishers send no `RTP-Info`), so RTP timestamps may start anywhere and wrap.
//! * Order: over TCP packets are taken as they come. Over UDP ([`Recording::handle_udp`])
//!   each track puts them back in sequence order through a reorder window of
//!   [`REORDER_WINDOW`] packets (the pulled camera's); a gap is waited for until the window
//!   fills or, on a quiet track, [`REORDER_FLUSH_MS`] after the last packet
//!   ([`Recording::poll_timeout`]). A loss drops the access unit it hits, counted by the
//!   depacketizer.
//! * Receiver reports (RFC 3550 §6.4.2): every [`REPORT_INTERVAL_MS`] after the first
//!   packet, each track that received something gets an RR + SDES about the publisher's
//!   SSRC (fraction and cumulative lost, highest sequence, jitter, LSR/DLSR from the
//!   publisher's sender reports, which come on the RTCP channel or port);
//!   [`Recording::poll_report`] hands their blocks to the session, which sends them from
//!   the track's SSRC where the track's RTCP goes.
//! * Memory: one access unit being assembled per track (video: at most `max_access_unit`;
//!   audio: at most [`MAX_AUDIO_ACCESS_UNIT`]), over UDP a reorder window per track of
//!   datagrams (at most [`REORDER_WINDOW`] × the driver's datagram cap), and at most
//!   [`MAX_FRAMES`] frames the glue has not taken.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{TrackDesc, MAX_TRACKS};
use crate::media::Frame;
use crate::session::rtsp::report::Reception;
pub use crate::session::rtsp::report::REPORT_INTERVAL_MS;
use crate::session::rtsp::Track;
pub use crate::session::rtsp::{REORDER_FLUSH_MS, REORDER_WINDOW};
use crate::wire::rtcp::{self, ReportBlock};
use crate::wire::rtp::{Popped, Reorder, ReorderStats, RtpPacket};
use crate::wire::sdp::Sdp;

/// Frames waiting for the glue at most; the glue drains them after every call, so this only
/// bounds a bug (the oldest are dropped and counted). One read of a few KiB makes a few.
pub const MAX_FRAMES: usize = 256;

/// The largest audio access unit a publisher's track assembles. Why: an AAC frame is at most
/// 768 bytes per channel (6144 bits, ISO 14496-3 §4.5.3), G.711 and Opus packets carry one
/// frame each; 64 KiB leaves room for aggregated frames and keeps a publisher's pending
/// bytes near one video frame.
pub const MAX_AUDIO_ACCESS_UNIT: usize = 64 * 1024;

/// Why an ANNOUNCE is refused (400 or 415).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnounceError {
    #[error("no SDP in the ANNOUNCE")]
    NoSdp,
    #[error("SDP: {0}")]
    Sdp(String),
    #[error("no track we can carry ({0})")]
    NoTracks(String),
}

#[derive(Debug)]
struct RecordTrack {
    /// `None`: a track we do not carry (its packets are dropped).
    track: Option<Track>,
    /// Interleaved RTP channel, once SETUP chose TCP.
    channel: Option<u8>,
    /// Over UDP: the window that puts datagrams back in order (made by the first one).
    reorder: Option<Reorder>,
    /// What arrived, for receiver reports.
    reception: Reception,
}

/// The tracks a publisher announced and what they made.
#[derive(Debug)]
pub struct Recording {
    tracks: Vec<RecordTrack>,
    controls: Vec<TrackDesc>,
    skipped: Vec<String>,
    frames: VecDeque<Frame>,
    made: Vec<Frame>,
    first_packet_ms: Option<u64>,
    dropped_frames: u64,
    /// When the last UDP datagram came (the reorder flush counts from it).
    last_udp_ms: u64,
    /// When the next receiver reports are due; `None` before the first packet.
    next_report_ms: Option<u64>,
    /// Receiver report blocks due: (track, block), at most one per track.
    reports: VecDeque<(usize, ReportBlock)>,
}

impl Recording {
    /// The tracks of an ANNOUNCE's SDP `body`; access units up to `max_access_unit` bytes.
    pub fn announce(body: &[u8], max_access_unit: usize) -> Result<Recording, AnnounceError> {
        if body.is_empty() {
            return Err(AnnounceError::NoSdp);
        }
        let text = String::from_utf8_lossy(body);
        let sdp = Sdp::parse(&text).map_err(|e| AnnounceError::Sdp(e.to_string()))?;
        let mut recording = Recording {
            tracks: Vec::new(),
            controls: Vec::new(),
            skipped: Vec::new(),
            frames: VecDeque::new(),
            made: Vec::new(),
            first_packet_ms: None,
            dropped_frames: 0,
            last_udp_ms: 0,
            next_report_ms: None,
            reports: VecDeque::new(),
        };
        let (mut video, mut audio) = (false, false);
        for (i, media) in sdp.media.iter().enumerate() {
            if i >= MAX_TRACKS {
                recording.skipped.push(format!("{} track {i}", media.kind));
                continue;
            }
            let control = media
                .control
                .as_deref()
                .map(|c| c.trim_end_matches('/').rsplit('/').next().unwrap_or(c))
                .filter(|c| !c.is_empty() && c.len() <= 256)
                .map_or_else(|| format!("trackID={i}"), str::to_owned);
            recording.controls.push(TrackDesc { control });
            let taken = match media.kind.as_str() {
                "video" => Some(&mut video),
                "audio" => Some(&mut audio),
                _ => None,
            };
            let track = match (taken, media.payload_format()) {
                (Some(taken), Ok((_, format))) if !*taken && format.kind() == media.kind => {
                    *taken = true;
                    let cap = match media.kind.as_str() {
                        "video" => max_access_unit,
                        _ => max_access_unit.min(MAX_AUDIO_ACCESS_UNIT),
                    };
                    Some(Track::new(format, cap))
                }
                (_, Err(e)) => {
                    recording.skipped.push(format!("{}: {e}", media.kind));
                    None
                }
                _ => {
                    recording.skipped.push(format!("{} track {i}", media.kind));
                    None
                }
            };
            recording.tracks.push(RecordTrack {
                track,
                channel: None,
                reorder: None,
                reception: Reception::default(),
            });
        }
        if recording.tracks.iter().all(|t| t.track.is_none()) {
            let why = match recording.skipped.is_empty() {
                true => "no m= line".to_owned(),
                false => recording.skipped.join("; "),
            };
            return Err(AnnounceError::NoTracks(why));
        }
        Ok(recording)
    }

    /// The announced tracks' controls, in order.
    pub fn controls(&self) -> &[TrackDesc] {
        &self.controls
    }

    /// `m=` sections left out, with why.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The codecs of the tracks (`H264`, `AAC`...; `-` for one we drop), for the log.
    pub fn codecs(&self) -> Vec<&'static str> {
        self.tracks
            .iter()
            .map(|t| match t.track.as_ref().map(Track::format) {
                None => "-",
                Some(f) => match f {
                    crate::wire::sdp::fmtp::PayloadFormat::H264(_) => "H264",
                    crate::wire::sdp::fmtp::PayloadFormat::H265(_) => "H265",
                    crate::wire::sdp::fmtp::PayloadFormat::Aac(_) => "AAC",
                    crate::wire::sdp::fmtp::PayloadFormat::Latm(_) => "AAC-LATM",
                    crate::wire::sdp::fmtp::PayloadFormat::Pcma { .. } => "PCMA",
                    crate::wire::sdp::fmtp::PayloadFormat::Pcmu { .. } => "PCMU",
                    crate::wire::sdp::fmtp::PayloadFormat::Opus(_) => "Opus",
                    crate::wire::sdp::fmtp::PayloadFormat::Av1 => "AV1",
                },
            })
            .collect()
    }

    /// SETUP chose TCP for `track`: its RTP comes on `channel`.
    pub fn set_channel(&mut self, track: usize, channel: u8) {
        if let Some(t) = self.tracks.get_mut(track) {
            t.channel = Some(channel);
        }
    }

    /// The channels taken by other tracks than `track`.
    pub fn channel_taken(&self, track: usize, channel: u8) -> bool {
        self.tracks.iter().enumerate().any(|(i, t)| {
            i != track
                && t.channel
                    .is_some_and(|c| c == channel || c.wrapping_add(1) == channel)
        })
    }

    /// An interleaved frame: RTP of a track set up on `channel`, or RTCP on the channel
    /// after it (its sender reports are kept for our receiver reports); unknown channels are
    /// dropped (signs of life only).
    pub fn handle_interleaved(&mut self, now_ms: u64, channel: u8, payload: Bytes) {
        if let Some(index) = self.tracks.iter().position(|t| t.channel == Some(channel)) {
            self.handle_rtp(now_ms, index, payload);
        } else if let Some(index) = self
            .tracks
            .iter()
            .position(|t| t.channel.is_some_and(|c| c.wrapping_add(1) == channel))
        {
            self.handle_rtcp(now_ms, index, &payload);
        }
    }

    /// RTCP from the publisher on track `index` (an interleaved frame or a datagram on the
    /// RTCP port): its sender reports' times, for our receiver reports.
    pub fn handle_rtcp(&mut self, now_ms: u64, index: usize, payload: &[u8]) {
        let Some(t) = self.tracks.get_mut(index) else {
            return;
        };
        for packet in rtcp::packets(payload) {
            match packet {
                Ok(rtcp::Packet::SenderReport(sr)) => {
                    t.reception
                        .sender_report(sr.ssrc, sr.ntp.middle32(), now_ms)
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// The next receiver report block due: (track, block about the publisher's SSRC); the
    /// session sends it in an RR from the track's SSRC.
    pub fn poll_report(&mut self) -> Option<(usize, ReportBlock)> {
        self.reports.pop_front()
    }

    /// Counts `packet` for the receiver reports of track `index`.
    fn receive(&mut self, now_ms: u64, index: usize, packet: &RtpPacket) {
        let Some(t) = self.tracks.get_mut(index) else {
            return;
        };
        let rate = t.track.as_ref().map_or(90_000, |t| t.format().clock_rate());
        t.reception
            .packet(packet.ssrc, packet.sequence, packet.timestamp, rate, now_ms);
        self.next_report_ms
            .get_or_insert(now_ms.saturating_add(REPORT_INTERVAL_MS));
    }

    /// An RTP packet of track `index` over TCP (an interleaved frame's payload).
    pub fn handle_rtp(&mut self, now_ms: u64, index: usize, payload: Bytes) {
        if self.tracks.get(index).is_none_or(|t| t.track.is_none()) {
            return;
        }
        let Ok(packet) = RtpPacket::decode(payload) else {
            return;
        };
        self.receive(now_ms, index, &packet);
        self.depacketize(now_ms, index, &packet);
    }

    /// An RTP datagram of track `index`: through the track's reorder window.
    pub fn handle_udp(&mut self, now_ms: u64, index: usize, payload: Bytes) {
        if self.tracks.get(index).is_none_or(|t| t.track.is_none()) {
            return;
        }
        let Ok(packet) = RtpPacket::decode(payload) else {
            return;
        };
        self.receive(now_ms, index, &packet);
        self.last_udp_ms = now_ms;
        self.tracks[index]
            .reorder
            .get_or_insert_with(|| Reorder::new(REORDER_WINDOW))
            .push(packet);
        self.drain(now_ms, index);
    }

    /// When a UDP track's gap is given up or receiver reports are due
    /// ([`Recording::handle_timeout`]); `None` before the first packet.
    pub fn poll_timeout(&self) -> Option<u64> {
        let holds = self
            .tracks
            .iter()
            .any(|t| t.reorder.as_ref().is_some_and(|r| r.held() > 0));
        let flush = holds.then(|| self.last_udp_ms.saturating_add(REORDER_FLUSH_MS));
        match (flush, self.next_report_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Gives up the gaps of quiet UDP tracks (what their windows hold becomes frames) and
    /// makes the receiver reports when due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.next_report_ms.is_some_and(|t| now_ms >= t) {
            self.next_report_ms = Some(now_ms.saturating_add(REPORT_INTERVAL_MS));
            self.reports.clear();
            for (index, t) in self.tracks.iter_mut().enumerate() {
                if let Some(block) = t.reception.block(now_ms) {
                    self.reports.push_back((index, block));
                }
            }
        }
        if now_ms < self.last_udp_ms.saturating_add(REORDER_FLUSH_MS) {
            return;
        }
        for index in 0..self.tracks.len() {
            if let Some(r) = self.tracks[index].reorder.as_mut() {
                r.flush();
            }
            self.drain(now_ms, index);
        }
    }

    /// The reorder windows' counters, summed over the tracks (zero over TCP).
    pub fn reorder_stats(&self) -> ReorderStats {
        let mut sum = ReorderStats::default();
        for r in self.tracks.iter().filter_map(|t| t.reorder.as_ref()) {
            let s = r.stats();
            sum.duplicates += s.duplicates;
            sum.lost += s.lost;
            sum.reordered += s.reordered;
            sum.resets += s.resets;
            sum.late += s.late;
        }
        sum
    }

    fn drain(&mut self, now_ms: u64, index: usize) {
        while let Some(popped) = self.tracks[index].reorder.as_mut().and_then(Reorder::pop) {
            // A loss shows as a sequence gap to the depacketizer, which drops the broken
            // access unit.
            if let Popped::Packet(packet) = popped {
                self.depacketize(now_ms, index, &packet);
            }
        }
    }

    fn depacketize(&mut self, now_ms: u64, index: usize, packet: &RtpPacket) {
        let Some(t) = self.tracks.get_mut(index).and_then(|t| t.track.as_mut()) else {
            return;
        };
        let start = *self.first_packet_ms.get_or_insert(now_ms);
        if let Err(e) = t.push(packet, now_ms.saturating_sub(start), &mut self.made) {
            log::debug!("RTSP publish: track {index}: {e}");
        }
        for frame in self.made.drain(..) {
            if self.frames.len() >= MAX_FRAMES {
                self.frames.pop_front();
                self.dropped_frames += 1;
            }
            self.frames.push_back(frame);
        }
    }

    /// The next frame for the hub.
    pub fn poll_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// Frames dropped because the glue did not take them.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames
    }
}
