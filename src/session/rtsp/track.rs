//! One track a camera sends: RTP packets → access units ([`crate::wire::rtp`]'s
//! depacketizers) → hub frames with FLV/RTMP bodies, as the hub stores every frame.
//!
//! What a caller must know:
//!
//! * Times: each track's 32-bit RTP timestamps are unwrapped ([`Unwrapper`]) and counted from
//!   the track's zero: the `rtptime` of the PLAY reply's `RTP-Info` when the camera sent one
//!   (every track then shares the same instant, so audio and video stay in sync), else the
//!   track's first packet, placed at the time it arrived after the first packet of any track.
//!   RTP carries presentation times: video DTS = PTS (composition offset 0) while the
//!   pictures' PTS grow (cameras send no B-frames); once a PTS goes backwards (B-frames),
//!   pictures get decode times from [`super::decode_time`], a few pictures later, with their
//!   composition offsets in the FLV/Enhanced RTMP bodies.
//! * Video: sequence headers (AVCDecoderConfigurationRecord, Enhanced RTMP `hvc1`
//!   HEVCDecoderConfigurationRecord) are made from the parameter sets of the SDP or, when the
//!   SDP has none (`sprop-parameter-sets` missing), from the stream, and sent again whenever
//!   they change. Parameter sets and access unit delimiters are taken out of the frames.
//!   Pictures before the first keyframe (and before the parameter sets are known) are
//!   dropped, so a player's first picture is one it can decode.
//! * AV1 (from WebRTC publishers): an Enhanced RTMP `av01` SequenceStart whose body is the
//!   AV1CodecConfigurationRecord built from the first sequence header OBU of the stream
//!   ([`crate::wire::codec::av1::SequenceHeader`]), again whenever the sequence header
//!   changes; then CodedFrames of each temporal unit as it came (sequence headers left in,
//!   as AV1-ISOBMFF samples may carry them), keyframes where a coded video sequence starts
//!   with a sequence header. DTS = PTS: a temporal unit's RTP time is its decode time.
//!   Units before the first keyframe are dropped.
//! * Audio: AAC gets its AudioSpecificConfig (SDP `config=`) as sequence header before its
//!   first frame; G.711 goes out as FLV sound formats 7/8; Opus as Enhanced RTMP `Opus` with
//!   an `OpusHead` made from the SDP.
//! * Memory: one access unit being assembled, at most the cap given to [`Track::new`]; once
//!   B-frames were seen, up to [`super::decode_time::HOLD_BYTES`] of video frames held.

use bytes::{BufMut, Bytes, BytesMut};

use super::decode_time::DecodeTimes;
use crate::media::{AudioCodec, Frame, VideoCodec};
use crate::wire::codec::av1;
use crate::wire::codec::NalFormat;
use crate::wire::rtp::timestamp::Unwrapper;
use crate::wire::rtp::{AccessUnit, DepacketizeError, DepacketizeStats, Depacketizer, RtpPacket};
use crate::wire::sdp::fmtp::{AacParams, LatmParams, PayloadFormat};

/// Bytes before the NAL units of an H.264 FLV video body: frame type/codec, AVCPacketType,
/// composition time (FLV spec E.4.3.1).
const AVC_PREFIX: usize = 5;
/// Bytes before the NAL units of an Enhanced RTMP `hvc1` CodedFrames body: ExHeader byte,
/// FourCC, composition time.
const HVC1_PREFIX: usize = 8;
/// Bytes before the OBUs of an Enhanced RTMP `av01` body (SequenceStart or CodedFrames):
/// ExHeader byte, FourCC; no composition time (Enhanced RTMP: `av01` has none).
const AV01_PREFIX: usize = 5;
/// Enhanced VideoPacketType CodedFrames (low nibble of byte 0; SequenceStart is 0).
const VIDEO_EX_CODED_FRAMES: u8 = 1;
/// FLV frame types (high nibble of the first byte).
const FRAME_KEY: u8 = 0x10;
const FRAME_INTER: u8 = 0x20;
/// The Enhanced RTMP ExHeader bit of a video body's first byte.
const VIDEO_EX_HEADER: u8 = 0x80;
/// Enhanced RTMP audio: SoundFormat 9 (ExHeader), AudioPacketType SequenceStart / CodedFrames.
const AUDIO_EX_SEQUENCE_START: u8 = 0x90;
const AUDIO_EX_CODED_FRAMES: u8 = 0x91;
/// FLV AudioTagHeader of AAC (SoundFormat 10, 44 kHz, 16-bit, stereo: the fields FLV readers
/// ignore for AAC) and its AACPacketType.
const AAC_HEADER: u8 = 0xAF;
const AAC_SEQUENCE_HEADER: u8 = 0;
const AAC_RAW: u8 = 1;
/// FLV AudioTagHeader of G.711 A-law (7) and µ-law (8), 16-bit, mono.
const PCMA_HEADER: u8 = 0x72;
const PCMU_HEADER: u8 = 0x82;
/// H.264 NAL unit types taken out of frames: SPS, PPS, access unit delimiter.
const AVC_OUT_OF_BAND: [u8; 3] = [7, 8, 9];
/// H.265 NAL unit types taken out of frames: VPS, SPS, PPS, access unit delimiter.
const HEVC_OUT_OF_BAND: [u8; 4] = [32, 33, 34, 35];

/// Counters of one track; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackStats {
    pub depacketizer: DepacketizeStats,
    /// Frames given out (sequence headers not counted).
    pub frames: u64,
    /// Video pictures dropped: before the first keyframe or the parameter sets.
    pub before_keyframe: u64,
    /// Packets the depacketizer refused (each also counted in its stats).
    pub bad_packets: u64,
}

/// A track being received.
#[derive(Debug)]
pub struct Track {
    format: PayloadFormat,
    depacketizer: Depacketizer,
    clock: Unwrapper,
    /// The unwrapped RTP time of dts `origin_ms`.
    zero: Option<i64>,
    origin_ms: i64,
    /// The body of the last sequence header given out.
    announced: Option<Bytes>,
    keyframe_seen: bool,
    /// Video frames waiting for their decode times, and those given out (reused).
    decode: DecodeTimes<Pending>,
    released: Vec<(i64, i64, Pending)>,
    stats: TrackStats,
}

/// A video frame (or sequence header) waiting for its decode time.
#[derive(Debug)]
struct Pending {
    codec: VideoCodec,
    keyframe: bool,
    sequence_header: bool,
    body: BytesMut,
    prefix: usize,
    /// Where the body's SI24 composition time goes (pictures).
    cts_at: Option<usize>,
}

impl Track {
    /// A track of `format` whose access units may reach `max_access_unit` bytes.
    pub fn new(format: PayloadFormat, max_access_unit: usize) -> Track {
        let depacketizer = Depacketizer::new(&format).with_max_access_unit(max_access_unit);
        Track {
            format,
            depacketizer,
            clock: Unwrapper::new(),
            zero: None,
            origin_ms: 0,
            announced: None,
            keyframe_seen: false,
            decode: DecodeTimes::default(),
            released: Vec::new(),
            stats: TrackStats::default(),
        }
    }

    pub fn format(&self) -> &PayloadFormat {
        &self.format
    }

    pub fn stats(&self) -> TrackStats {
        TrackStats {
            depacketizer: self.depacketizer.stats(),
            ..self.stats
        }
    }

    /// The PLAY reply's `RTP-Info` says which RTP time the stream starts at: dts 0.
    pub fn set_start(&mut self, rtptime: u32) {
        if self.zero.is_none() {
            self.zero = Some(self.clock.unwrap(rtptime));
            self.origin_ms = 0;
        }
    }

    /// One RTP packet; `since_start_ms`: how long after the first packet of any track of the
    /// session it arrived (places a track without `RTP-Info`). Frames go to `out`.
    pub fn push(
        &mut self,
        packet: &RtpPacket,
        since_start_ms: u64,
        out: &mut Vec<Frame>,
    ) -> Result<(), DepacketizeError> {
        let result = self.depacketizer.push(packet);
        if result.is_err() {
            self.stats.bad_packets += 1;
        }
        if self.zero.is_none() {
            self.zero = Some(self.clock.unwrap(packet.timestamp));
            self.origin_ms = i64::try_from(since_start_ms).unwrap_or(i64::MAX / 2);
        }
        while let Some(unit) = self.depacketizer.pop() {
            self.frame(unit, out);
        }
        result
    }

    /// Milliseconds of an RTP timestamp on the session's timeline (never below 0).
    fn dts_ms(&mut self, timestamp: u32) -> i64 {
        let t = self.clock.unwrap(timestamp);
        let zero = self.zero.unwrap_or(t);
        let rate = i64::from(self.format.clock_rate().max(1));
        (self.origin_ms + (t - zero) * 1000 / rate).max(0)
    }

    fn frame(&mut self, unit: AccessUnit, out: &mut Vec<Frame>) {
        let dts = self.dts_ms(unit.timestamp);
        match self.format {
            PayloadFormat::H264(_) | PayloadFormat::H265(_) => self.video(unit, dts, out),
            PayloadFormat::Av1 => self.av1(unit, dts, out),
            PayloadFormat::Aac(AacParams { ref config, .. })
            | PayloadFormat::Latm(LatmParams { ref config, .. }) => {
                if self.announced.is_none() {
                    let mut sh = BytesMut::with_capacity(2 + config.len());
                    sh.put_slice(&[AAC_HEADER, AAC_SEQUENCE_HEADER]);
                    sh.put_slice(config);
                    let sh = sh.freeze();
                    self.announced = Some(sh.clone());
                    out.push(Frame::audio(AudioCodec::Aac, dts, true, sh, 2));
                }
                let body = prefixed(&[AAC_HEADER, AAC_RAW], &unit.data);
                self.push_audio(AudioCodec::Aac, dts, body, 2, out);
            }
            PayloadFormat::Pcma { .. } => {
                let body = prefixed(&[PCMA_HEADER], &unit.data);
                self.push_audio(AudioCodec::G711A, dts, body, 1, out);
            }
            PayloadFormat::Pcmu { .. } => {
                let body = prefixed(&[PCMU_HEADER], &unit.data);
                self.push_audio(AudioCodec::G711U, dts, body, 1, out);
            }
            PayloadFormat::Opus(ref p) => {
                if self.announced.is_none() {
                    let sh = opus_sequence_start(if p.stereo { 2 } else { 1 });
                    self.announced = Some(sh.clone());
                    out.push(Frame::audio(AudioCodec::Opus, dts, true, sh, 5));
                }
                let mut head = [AUDIO_EX_CODED_FRAMES, 0, 0, 0, 0];
                head[1..].copy_from_slice(b"Opus");
                let body = prefixed(&head, &unit.data);
                self.push_audio(AudioCodec::Opus, dts, body, 5, out);
            }
        }
    }

    fn push_audio(
        &mut self,
        codec: AudioCodec,
        dts: i64,
        body: Bytes,
        offset: usize,
        out: &mut Vec<Frame>,
    ) {
        self.stats.frames += 1;
        out.push(Frame::audio(codec, dts, false, body, offset));
    }

    fn video(&mut self, unit: AccessUnit, dts: i64, out: &mut Vec<Frame>) {
        let Depacketizer::Nal(d) = &self.depacketizer else {
            return;
        };
        let (codec, format, prefix, record) = match self.format {
            PayloadFormat::H264(_) => (
                VideoCodec::Avc,
                NalFormat::Avc,
                AVC_PREFIX,
                d.avc_config().and_then(|c| {
                    let mut b = BytesMut::with_capacity(c.encoded_len());
                    c.encode(&mut b).ok().map(|()| b.freeze())
                }),
            ),
            _ => (
                VideoCodec::Hevc,
                NalFormat::Hevc,
                HVC1_PREFIX,
                d.hevc_config().and_then(|c| {
                    let mut b = BytesMut::new();
                    c.encode(&mut b).ok().map(|()| b.freeze())
                }),
            ),
        };
        // A new sequence header when the parameter sets are known and differ from the last.
        if let Some(record) = record {
            let mut sh = BytesMut::with_capacity(5 + record.len());
            match codec {
                VideoCodec::Avc => sh.put_slice(&[FRAME_KEY | 7, 0, 0, 0, 0]),
                // ExHeader | key frame | SequenceStart, then the FourCC.
                _ => sh.put_slice(&[VIDEO_EX_HEADER | FRAME_KEY, b'h', b'v', b'c', b'1']),
            }
            sh.put_slice(&record);
            if self.announced.as_deref() != Some(&sh[..]) {
                self.announced = Some(Bytes::copy_from_slice(&sh));
                let header = Pending {
                    codec,
                    keyframe: false,
                    sequence_header: true,
                    body: sh,
                    prefix: 5,
                    cts_at: None,
                };
                self.hold(dts, header, out);
            }
        }
        if self.announced.is_none() || !(self.keyframe_seen || unit.keyframe) {
            self.stats.before_keyframe += 1;
            return;
        }
        self.keyframe_seen = true;
        let mut body = BytesMut::with_capacity(prefix + unit.data.len());
        body.put_bytes(0, prefix);
        let mut rest = &unit.data[..];
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let Some(nal) = rest.get(4..4 + len) else {
                break;
            };
            rest = &rest[4 + len..];
            let Some(&first) = nal.first() else { continue };
            let kind = format.nal_type(first);
            let out_of_band = match format {
                NalFormat::Avc => AVC_OUT_OF_BAND.contains(&kind),
                NalFormat::Hevc => HEVC_OUT_OF_BAND.contains(&kind),
            };
            if !out_of_band {
                body.put_u32(len as u32);
                body.put_slice(nal);
            }
        }
        if body.len() == prefix {
            return;
        }
        let frame_type = if unit.keyframe {
            FRAME_KEY
        } else {
            FRAME_INTER
        };
        let cts_at = match codec {
            // AVCPacketType 1 (NALU), then the composition time.
            VideoCodec::Avc => {
                body[..2].copy_from_slice(&[frame_type | 7, 1]);
                2
            }
            // ExHeader | frame type | CodedFrames, FourCC, then the composition time.
            _ => {
                body[0] = VIDEO_EX_HEADER | frame_type | 1;
                body[1..5].copy_from_slice(b"hvc1");
                5
            }
        };
        self.stats.frames += 1;
        let picture = Pending {
            codec,
            keyframe: unit.keyframe,
            sequence_header: false,
            body,
            prefix,
            cts_at: Some(cts_at),
        };
        self.hold(dts, picture, out);
    }

    /// An AV1 temporal unit: a new `av01` SequenceStart when it carries a sequence header
    /// that differs from the last announced, then the unit as CodedFrames.
    fn av1(&mut self, unit: AccessUnit, dts: i64, out: &mut Vec<Frame>) {
        if let Some((obu, payload)) = av1::find_sequence_header(&unit.data) {
            // Compared as OBU bytes first: a sequence header resent unchanged costs no parse.
            let same = self
                .announced
                .as_deref()
                .and_then(|sh| sh.get(AV01_PREFIX + av1::RECORD_FIXED_LEN..))
                .is_some_and(|old| old == obu);
            if !same {
                match av1::SequenceHeader::parse(payload) {
                    Ok(header) => {
                        let mut sh = BytesMut::with_capacity(
                            AV01_PREFIX + av1::RECORD_FIXED_LEN + obu.len(),
                        );
                        sh.put_u8(VIDEO_EX_HEADER | FRAME_KEY);
                        sh.put_slice(b"av01");
                        header.encode_record(obu, &mut sh);
                        let sh = sh.freeze();
                        self.announced = Some(sh.clone());
                        out.push(Frame::video(
                            VideoCodec::Av1,
                            dts,
                            0,
                            false,
                            true,
                            sh,
                            AV01_PREFIX,
                        ));
                    }
                    // The peer's bytes: counted with the pictures dropped until a good one.
                    Err(_) if self.announced.is_none() => {
                        self.stats.before_keyframe += 1;
                        return;
                    }
                    Err(_) => {}
                }
            }
        }
        if self.announced.is_none() || !(self.keyframe_seen || unit.keyframe) {
            self.stats.before_keyframe += 1;
            return;
        }
        self.keyframe_seen = true;
        let frame_type = if unit.keyframe {
            FRAME_KEY
        } else {
            FRAME_INTER
        };
        let mut head = [
            VIDEO_EX_HEADER | frame_type | VIDEO_EX_CODED_FRAMES,
            0,
            0,
            0,
            0,
        ];
        head[1..].copy_from_slice(b"av01");
        let body = prefixed(&head, &unit.data);
        self.stats.frames += 1;
        out.push(Frame::video(
            VideoCodec::Av1,
            dts,
            0,
            unit.keyframe,
            false,
            body,
            AV01_PREFIX,
        ));
    }

    /// A video item with its presentation time `pts`: out when its decode time is known.
    fn hold(&mut self, pts: i64, item: Pending, out: &mut Vec<Frame>) {
        self.decode
            .push(pts, item.body.len(), item, &mut self.released);
        for (dts, pts, mut p) in self.released.drain(..) {
            // SI24 (FLV spec E.4.3.1); far outside only with a broken clock.
            let cts = (pts - dts).clamp(-(1 << 23), (1 << 23) - 1) as i32;
            if let Some(at) = p.cts_at {
                p.body[at..at + 3].copy_from_slice(&cts.to_be_bytes()[1..]);
            }
            let cts = if p.sequence_header { 0 } else { cts };
            out.push(Frame::video(
                p.codec,
                dts,
                cts,
                p.keyframe,
                p.sequence_header,
                p.body.freeze(),
                p.prefix,
            ));
        }
    }
}

/// `head` then `data`, in one buffer.
fn prefixed(head: &[u8], data: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(head.len() + data.len());
    body.put_slice(head);
    body.put_slice(data);
    body.freeze()
}

/// Enhanced RTMP Opus SequenceStart: the FourCC and an `OpusHead` (RFC 7845 §5.1): version 1,
/// channels, pre-skip 0, input rate 48 kHz, gain 0, mapping family 0.
fn opus_sequence_start(channels: u8) -> Bytes {
    let mut body = BytesMut::with_capacity(5 + 19);
    body.put_u8(AUDIO_EX_SEQUENCE_START);
    body.put_slice(b"Opus");
    body.put_slice(b"OpusHead");
    body.put_u8(1);
    body.put_u8(channels);
    body.put_u16_le(0);
    body.put_u32_le(48_000);
    body.put_i16_le(0);
    body.put_u8(0);
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{Codec, FrameKind};
    use crate::wire::codec::h265::HevcConfig;
    use crate::wire::sdp::fmtp::{H265Params, OpusParams};

    // H.265 VPS/SPS/PPS NAL units (types 32/33/34) with short payloads; the SPS carries a
    // profile_tier_level (Main, level 3.0) after its header.
    const VPS: [u8; 4] = [0x40, 0x01, 0x0C, 0x01];
    const SPS: [u8; 16] = [
        0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90, 0xA0,
    ];
    const PPS: [u8; 4] = [0x44, 0x01, 0xC1, 0x73];

    fn packet(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> RtpPacket {
        RtpPacket {
            marker,
            payload_type: 96,
            sequence: seq,
            timestamp: ts,
            ssrc: 1,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn h265_in_band_parameter_sets_make_an_hvc1_sequence_header() {
        let params = H265Params::parse("");
        let mut track = Track::new(PayloadFormat::H265(params), 1 << 20);
        let mut out = Vec::new();
        let ts = 0x8000_0000;
        for (i, nal) in [&VPS[..], &SPS, &PPS].iter().enumerate() {
            track
                .push(&packet(i as u16, ts, false, nal), 0, &mut out)
                .unwrap();
        }
        // An IDR_W_RADL picture (type 19), then a TRAIL_R (type 1) 40 ms later.
        track
            .push(&packet(3, ts, true, &[0x26, 0x01, 0xAF, 0x01]), 0, &mut out)
            .unwrap();
        track
            .push(
                &packet(4, ts + 3600, true, &[0x02, 0x01, 0xD0]),
                0,
                &mut out,
            )
            .unwrap();
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].sequence_header);
        assert_eq!(&out[0].data[..5], &[0x90, b'h', b'v', b'c', b'1']);
        let record = HevcConfig::parse(&out[0].data[5..]).expect("HEVCDecoderConfigurationRecord");
        assert_eq!(record.parameter_sets().len(), 3);
        assert!(out[1].keyframe);
        assert_eq!(
            &out[1].data[..5],
            &[0x80 | 0x10 | 1, b'h', b'v', b'c', b'1']
        );
        assert_eq!(&out[1].data[8..], &[0, 0, 0, 4, 0x26, 0x01, 0xAF, 0x01]);
        assert_eq!((out[2].keyframe, out[2].dts), (false, 40));
        assert_eq!(out[2].data[0], 0x80 | 0x20 | 1);
    }

    /// x265 ultrafast's B-pyramid (I P B B B P B B B ... in decode order, 25 fps) as ffmpeg
    /// publishes it: RTP timestamps are presentation times.
    #[test]
    fn h265_b_frames_get_growing_decode_times_and_composition_offsets() {
        let mut track = Track::new(PayloadFormat::H265(H265Params::parse("")), 1 << 20);
        let mut out = Vec::new();
        let base: u32 = 0x1234_5678;
        let mut pts_ms = vec![0, 160, 80, 40, 120];
        for gop in 1..8 {
            pts_ms.extend([160, 80, 40, 120].map(|p| 160 * gop + p));
        }
        let mut seq = 0;
        let mut send = |nal: &[u8], ms: i64, track: &mut Track, out: &mut Vec<Frame>| {
            let ts = base.wrapping_add(ms as u32 * 90);
            seq += 1;
            track.push(&packet(seq, ts, true, nal), 0, out).unwrap();
        };
        for nal in [&VPS[..], &SPS, &PPS] {
            send(nal, 0, &mut track, &mut out);
        }
        for (i, &ms) in pts_ms.iter().enumerate() {
            let nal: &[u8] = if i == 0 {
                &[0x26, 0x01, 0xAF]
            } else {
                &[0x02, 0x01, 0xD0]
            };
            send(nal, ms, &mut track, &mut out);
        }
        let pictures: Vec<&Frame> = out.iter().filter(|f| !f.sequence_header).collect();
        assert!(out[0].sequence_header);
        // The last `DEPTH` pictures wait for more.
        let depth = crate::session::rtsp::decode_time::DEPTH;
        assert_eq!(pictures.len(), pts_ms.len() - depth);
        for (f, &pts) in pictures.iter().zip(&pts_ms) {
            assert_eq!(f.dts + i64::from(f.cts), pts, "{f:?}");
            let cts = i32::from_be_bytes([0, f.data[5], f.data[6], f.data[7]]) << 8 >> 8;
            assert_eq!(cts, f.cts, "the body's composition time");
        }
        for w in pictures.windows(2) {
            assert!(w[1].dts > w[0].dts, "DTS {} after {}", w[1].dts, w[0].dts);
        }
        // Past the first mini-GOP, decode times are at or before presentation times.
        assert!(pictures[5..].iter().all(|f| f.cts >= 0));
    }

    /// AV1 temporal units as single RTP packets (aggregation header W = 1: one OBU element
    /// without its length; N on a new coded video sequence).
    fn av1_packet(seq: u16, ts: u32, n: bool, obu: &[u8]) -> RtpPacket {
        let agg = 0x10 | if n { 0x08 } else { 0 };
        packet(seq, ts, true, &[&[agg][..], obu].concat())
    }

    #[test]
    fn av1_sequence_headers_make_av01_sequence_starts() {
        // Sequence header OBU payloads (obu_size left out, as RTP carries them): libsvtav1's
        // 320x240, then the same with a 480x240 frame size (profile 0, level 0).
        let seq_320: &[u8] = &[
            0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8, 0x00, 0x40,
        ];
        let seq_480: &[u8] = &[
            0x00, 0x00, 0x00, 0x04, 0x3f, 0x7f, 0xbc, 0x02, 0xf8, 0x00, 0x40,
        ];
        let with_header = |seq: &[u8]| [&[0x08][..], seq].concat();
        let mut track = Track::new(PayloadFormat::Av1, 1 << 20);
        let mut out = Vec::new();
        // An inter frame before any keyframe: dropped.
        track
            .push(&av1_packet(1, 0, false, &[0x30, 0xaa]), 0, &mut out)
            .unwrap();
        assert!(out.is_empty());
        assert_eq!(track.stats().before_keyframe, 1);
        // A 2-element unit (W = 2: the sequence header with its length, then a frame OBU).
        let key = |seq: &[u8]| {
            let h = with_header(seq);
            [&[0x28, h.len() as u8][..], &h, &[0x30, 0xbb]].concat()
        };
        track
            .push(&packet(2, 9000, true, &key(seq_320)), 0, &mut out)
            .unwrap();
        track
            .push(&av1_packet(3, 12000, false, &[0x30, 0xcc]), 0, &mut out)
            .unwrap();
        // The same sequence header again on a keyframe: no new sequence start.
        track
            .push(&packet(4, 15000, true, &key(seq_320)), 0, &mut out)
            .unwrap();
        // Another one: a new sequence start before its keyframe.
        track
            .push(&packet(5, 18000, true, &key(seq_480)), 0, &mut out)
            .unwrap();
        let kinds: Vec<(bool, bool, i64)> = out
            .iter()
            .map(|f| (f.sequence_header, f.keyframe, f.dts))
            .collect();
        assert_eq!(
            kinds,
            [
                (true, false, 100),
                (false, true, 100),
                (false, false, 133),
                (false, true, 166),
                (true, false, 200),
                (false, true, 200),
            ]
        );
        assert!(out.iter().all(|f| f.codec == Codec::Video(VideoCodec::Av1)));
        let record = |f: &Frame| crate::wire::codec::Av1Config::parse(&f.data[5..]).unwrap();
        assert_eq!(&out[0].data[..5], &[0x90, b'a', b'v', b'0', b'1']);
        assert_eq!(record(&out[0]).max_width, 320);
        assert_eq!(record(&out[4]).max_width, 480);
        assert_eq!(&out[0].data[9..11], &[0x0a, 11]);
        // CodedFrames: the OBUs with their sizes, the sequence header left in.
        assert_eq!(out[1].data[0], 0x91);
        assert_eq!(&out[1].data[5..7], &[0x0a, 11]);
        assert_eq!(&out[2].data[..], b"\xa1av01\x32\x01\xcc");
        assert_eq!(track.stats().frames, 4);
    }

    #[test]
    fn g711_and_opus_frames() {
        let mut out = Vec::new();
        let mut pcma = Track::new(PayloadFormat::Pcma { channels: 1 }, 1 << 16);
        pcma.push(&packet(1, 8_000, true, &[0xD5; 160]), 0, &mut out)
            .unwrap();
        pcma.push(&packet(2, 8_160, true, &[0xD5; 160]), 0, &mut out)
            .unwrap();
        let mut pcmu = Track::new(PayloadFormat::Pcmu { channels: 1 }, 1 << 16);
        pcmu.push(&packet(1, 0, true, &[0xFF; 160]), 0, &mut out)
            .unwrap();
        let opus = OpusParams::parse("sprop-stereo=1");
        let mut opus = Track::new(PayloadFormat::Opus(opus), 1 << 16);
        opus.push(&packet(1, 0, true, &[0xFC, 0xFF, 0xFE]), 0, &mut out)
            .unwrap();
        let kinds: Vec<(FrameKind, bool, i64, u8)> = out
            .iter()
            .map(|f| (f.kind, f.sequence_header, f.dts, f.data[0]))
            .collect();
        assert_eq!(
            kinds,
            [
                (FrameKind::Audio, false, 0, 0x72),
                (FrameKind::Audio, false, 20, 0x72),
                (FrameKind::Audio, false, 0, 0x82),
                (FrameKind::Audio, true, 0, 0x90),
                (FrameKind::Audio, false, 0, 0x91),
            ]
        );
        assert_eq!(&out[3].data[1..13], b"OpusOpusHead");
        // Version 1, two channels (sprop-stereo), 48 kHz.
        assert_eq!(&out[3].data[13..15], &[1, 2]);
        assert_eq!(&out[4].data[1..], b"Opus\xFC\xFF\xFE");
        assert_eq!(out[0].payload_offset, 1);
    }
}
