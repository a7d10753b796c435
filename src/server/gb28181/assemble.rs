//! From elementary streams (what the PS demuxer gives: Annex B video, ADTS AAC, raw G.711) to
//! hub frames with FLV/RTMP payloads, so a GB28181 camera is watchable over RTMP, HTTP-FLV,
//! HLS and the API at once, straight from the hub (no RTMP loopback).
//!
//! Video: PES payloads with the same PTS are one access unit (cameras split a frame over
//! several PES); an access unit ends when the PTS changes. Its NAL units are re-framed with
//! 4-byte lengths (AVCC/HVCC); parameter sets are taken out of the frames and announced as a
//! sequence header whenever they change (H.264: AVCDecoderConfigurationRecord, FLV codec 7;
//! H.265: HEVCDecoderConfigurationRecord, as Enhanced RTMP `hvc1`).
//! Audio: AAC ADTS frames → raw AAC with an AudioSpecificConfig sequence header; G.711 A/µ-law
//! → FLV sound formats 7/8 as is.
//! Times: the 33-bit 90 kHz PTS/DTS are unwrapped and turned into milliseconds.

use bytes::{BufMut, Bytes, BytesMut};

use crate::media::{AudioCodec, Frame, VideoCodec};
use crate::wire::codec::aac::decode_adts_frame;
use crate::wire::codec::annexb;
use crate::wire::codec::h264::AvcConfig;
use crate::wire::codec::h265::HevcConfig;

/// PCM samples in one AAC frame (ISO/IEC 14496-3 §4.5.1.1: 1024 per raw_data_block; one
/// block per ADTS frame is assumed for the timeline).
const AAC_FRAME_SAMPLES: i64 = 1024;

/// Bytes one access unit may gather at most before it is dropped, unless
/// [`Assembler::with_max_access_unit`] sets another cap (`gb28181.max_frame_bytes`, of which
/// this is the default; a 20 Mbit/s keyframe is about 1.5 MiB). RAM: one such buffer per
/// camera stream.
pub const MAX_ACCESS_UNIT: usize = 4 * 1024 * 1024;

/// Video elementary stream codecs a camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoEs {
    H264,
    H265,
}

/// Audio elementary stream codecs a camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioEs {
    Aac,
    G711A,
    G711U,
}

/// Unwraps a 33-bit 90 kHz clock onto a 64-bit timeline in milliseconds.
#[derive(Debug, Default, Clone)]
struct Clock90k {
    last: Option<(u64, i64)>,
}

impl Clock90k {
    fn ms(&mut self, t90: u64) -> i64 {
        const WRAP: i64 = 1 << 33;
        let t = (t90 & (WRAP as u64 - 1)) as i64;
        let unwrapped = match self.last {
            None => t,
            Some((raw, prev)) => {
                let mut step = t - raw as i64;
                if step > WRAP / 2 {
                    step -= WRAP;
                } else if step < -WRAP / 2 {
                    step += WRAP;
                }
                prev + step
            }
        };
        self.last = Some((t as u64, unwrapped));
        unwrapped.div_euclid(90)
    }
}

/// The parameter sets a video stream carries in band.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ParameterSets {
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
}

#[derive(Debug)]
struct VideoState {
    codec: VideoEs,
    pts: Option<u64>,
    dts: Option<u64>,
    /// The access unit being gathered: at most the cap, its capacity too.
    au: Vec<u8>,
    /// The access unit went over the cap: the rest of it is dropped too, until the next PTS.
    discarding: bool,
    params: ParameterSets,
    announced: Option<ParameterSets>,
    clock: Clock90k,
}

/// Builds hub frames from one camera stream's elementary streams.
#[derive(Debug)]
pub struct Assembler {
    video: Option<VideoState>,
    audio_clock: Clock90k,
    aac_config: Option<[u8; 2]>,
    /// The access unit cap ([`MAX_ACCESS_UNIT`] unless set).
    max_access_unit: usize,
    /// Frames dropped: oversized access units, unusable NALs, broken ADTS.
    pub dropped: u64,
    /// Of those, access units over the cap (`gb28181.max_frame_bytes`).
    pub oversized: u64,
}

impl Default for Assembler {
    fn default() -> Assembler {
        Assembler::new()
    }
}

impl Assembler {
    /// An assembler whose access units may reach [`MAX_ACCESS_UNIT`].
    pub fn new() -> Assembler {
        Assembler::with_max_access_unit(MAX_ACCESS_UNIT)
    }

    /// An assembler whose access units may reach `max` bytes; a larger one is dropped whole
    /// (counted in `dropped` and `oversized`), the next one starts clean. RAM: `max`.
    pub fn with_max_access_unit(max: usize) -> Assembler {
        Assembler {
            video: None,
            audio_clock: Clock90k::default(),
            aac_config: None,
            max_access_unit: max,
            dropped: 0,
            oversized: 0,
        }
    }

    /// One video PES payload. Returns the frames completed by it (the previous access unit,
    /// and its sequence header first when the parameter sets changed).
    pub fn push_video(
        &mut self,
        codec: VideoEs,
        pts: Option<u64>,
        dts: Option<u64>,
        data: &[u8],
        out: &mut Vec<Frame>,
    ) {
        let state = self.video.get_or_insert_with(|| VideoState {
            codec,
            pts: None,
            dts: None,
            au: Vec::new(),
            discarding: false,
            params: ParameterSets::default(),
            announced: None,
            clock: Clock90k::default(),
        });
        if state.codec != codec {
            // Codec change: the old access unit is dropped, the new one starts clean.
            *state = VideoState {
                codec,
                pts: None,
                dts: None,
                au: Vec::new(),
                discarding: false,
                params: ParameterSets::default(),
                announced: None,
                clock: std::mem::take(&mut state.clock),
            };
        }
        let new_au = pts.is_some() && pts != state.pts;
        if new_au && !state.au.is_empty() {
            if let Some(f) = finish_video(state, out) {
                out.push(f);
            } else {
                self.dropped += 1;
            }
        }
        if new_au {
            state.pts = pts;
            state.dts = dts;
            state.discarding = false;
        }
        if state.discarding {
            return;
        }
        let need = state.au.len() + data.len();
        if need > self.max_access_unit {
            // Dropped whole: the rest of this access unit (until the PTS changes) too.
            state.au = Vec::new();
            state.discarding = true;
            self.dropped += 1;
            self.oversized += 1;
            return;
        }
        if need > state.au.capacity() {
            // Grow by doubling, but never past the cap: the capacity is what the cap counts.
            let target = need
                .max(state.au.capacity().saturating_mul(2))
                .min(self.max_access_unit);
            state.au.reserve_exact(target - state.au.len());
        }
        state.au.extend_from_slice(data);
    }

    /// Ends the access unit in progress (the stream stopped).
    pub fn flush(&mut self, out: &mut Vec<Frame>) {
        if let Some(state) = &mut self.video {
            if !state.au.is_empty() {
                if let Some(f) = finish_video(state, out) {
                    out.push(f);
                }
            }
        }
    }

    /// One audio PES payload.
    pub fn push_audio(
        &mut self,
        codec: AudioEs,
        pts: Option<u64>,
        data: &[u8],
        out: &mut Vec<Frame>,
    ) {
        let Some(pts) = pts else {
            self.dropped += 1;
            return;
        };
        let mut ms = self.audio_clock.ms(pts);
        match codec {
            AudioEs::G711A | AudioEs::G711U => {
                // FLV SoundFormat 7/8, 16-bit, mono (the rate field is ignored for G.711).
                let header = if codec == AudioEs::G711A { 0x72 } else { 0x82 };
                let mut body = BytesMut::with_capacity(1 + data.len());
                body.put_u8(header);
                body.put_slice(data);
                let c = if codec == AudioEs::G711A {
                    AudioCodec::G711A
                } else {
                    AudioCodec::G711U
                };
                out.push(Frame::audio(c, ms, false, body.freeze(), 1));
            }
            AudioEs::Aac => {
                let mut rest = data;
                while !rest.is_empty() {
                    let Ok(Some((frame, frame_len))) = decode_adts_frame(rest) else {
                        self.dropped += 1;
                        return;
                    };
                    let asc = frame.header.audio_specific_config();
                    let samples_ms =
                        AAC_FRAME_SAMPLES * 1000 / i64::from(frame.header.sample_rate());
                    let raw = frame.raw;
                    if self.aac_config != Some(asc) {
                        self.aac_config = Some(asc);
                        let sh = Bytes::from(vec![0xAF, 0x00, asc[0], asc[1]]);
                        out.push(Frame::audio(AudioCodec::Aac, ms, true, sh, 2));
                    }
                    let mut body = BytesMut::with_capacity(2 + raw.len());
                    body.put_slice(&[0xAF, 0x01]);
                    body.put_slice(raw);
                    out.push(Frame::audio(AudioCodec::Aac, ms, false, body.freeze(), 2));
                    ms += samples_ms;
                    rest = &rest[frame_len..];
                }
            }
        }
    }
}

/// Turns the gathered access unit into a frame (and a sequence header into `out` first when
/// the parameter sets changed). None when nothing usable is in it.
fn finish_video(state: &mut VideoState, out: &mut Vec<Frame>) -> Option<Frame> {
    let au = std::mem::take(&mut state.au);
    // H.264: legacy FLV (codec id 7, AVCPacketType, CTS): 5 bytes before the NAL units.
    // H.265: Enhanced RTMP (ExHeader, FourCC "hvc1", CodedFrames with CTS): 8 bytes.
    let (codec, prefix) = match state.codec {
        VideoEs::H264 => (VideoCodec::Avc, 5usize),
        VideoEs::H265 => (VideoCodec::Hevc, 8usize),
    };
    let mut keyframe = false;
    let mut body = BytesMut::with_capacity(au.len() + 16);
    body.put_bytes(0, prefix);
    for nal in annexb::split(&au) {
        let Some(&first) = nal.first() else { continue };
        let kind = match state.codec {
            VideoEs::H264 => first & 0x1F,
            VideoEs::H265 => (first >> 1) & 0x3F,
        };
        let slot = match (state.codec, kind) {
            (VideoEs::H264, 7) | (VideoEs::H265, 33) => Some(&mut state.params.sps),
            (VideoEs::H264, 8) | (VideoEs::H265, 34) => Some(&mut state.params.pps),
            (VideoEs::H265, 32) => Some(&mut state.params.vps),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.as_deref() != Some(nal) {
                *slot = Some(Bytes::copy_from_slice(nal));
            }
            continue;
        }
        match (state.codec, kind) {
            // Access unit delimiters are not carried in FLV.
            (VideoEs::H264, 9) | (VideoEs::H265, 35) => continue,
            (VideoEs::H264, 5) | (VideoEs::H265, 16..=21) => keyframe = true,
            _ => {}
        }
        body.put_u32(nal.len() as u32);
        body.put_slice(nal);
    }
    if body.len() == prefix {
        return None;
    }
    let pts = state.pts.unwrap_or(0);
    let dts = state.dts.unwrap_or(pts);
    let dts_ms = state.clock.ms(dts);
    let cts = ((pts as i64 - dts as i64).rem_euclid(1 << 33) / 90).clamp(0, 0x7F_FFFF) as i32;
    if state.announced.as_ref() != Some(&state.params) {
        if let Some(record) = config_record(state.codec, &state.params) {
            let mut sh = BytesMut::with_capacity(5 + record.len());
            match state.codec {
                VideoEs::H264 => sh.put_slice(&[0x17, 0, 0, 0, 0]),
                // ExHeader | key frame | SequenceStart, then the FourCC.
                VideoEs::H265 => sh.put_slice(&[0x90, b'h', b'v', b'c', b'1']),
            }
            sh.put_slice(&record);
            out.push(Frame::video(codec, dts_ms, 0, false, true, sh.freeze(), 5));
            state.announced = Some(state.params.clone());
        }
    }
    // No decoder configuration yet: players could not decode this frame.
    state.announced.as_ref()?;
    let frame_type = if keyframe { 0x10 } else { 0x20 };
    match state.codec {
        VideoEs::H264 => {
            body[0] = frame_type | 7;
            body[1] = 1;
            body[2..5].copy_from_slice(&cts.to_be_bytes()[1..]);
        }
        VideoEs::H265 => {
            // ExHeader | frame type | CodedFrames (1), FourCC, SI24 composition time.
            body[0] = 0x80 | frame_type | 1;
            body[1..5].copy_from_slice(b"hvc1");
            body[5..8].copy_from_slice(&cts.to_be_bytes()[1..]);
        }
    }
    Some(Frame::video(
        codec,
        dts_ms,
        cts,
        keyframe,
        false,
        body.freeze(),
        prefix,
    ))
}

/// The decoder configuration record for the parameter sets, once all are known.
fn config_record(codec: VideoEs, p: &ParameterSets) -> Option<Bytes> {
    let sps = p.sps.as_ref()?;
    let pps = p.pps.as_ref()?;
    let mut out = BytesMut::new();
    match codec {
        VideoEs::H264 => {
            let config = AvcConfig {
                profile: *sps.get(1)?,
                compatibility: *sps.get(2)?,
                level: *sps.get(3)?,
                nal_length_size: 4,
                sps: vec![sps.clone()],
                pps: vec![pps.clone()],
            };
            config.encode(&mut out).ok()?;
        }
        VideoEs::H265 => {
            let vps = p.vps.as_ref()?;
            let config =
                HevcConfig::from_parameter_sets(vps.clone(), sps.clone(), pps.clone(), 4).ok()?;
            config.encode(&mut out).ok()?;
        }
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FrameKind;

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x1F, 0xAC, 0xD9];
    const PPS: &[u8] = &[0x68, 0xEE, 0x3C, 0x80];
    // H.265 VPS/SPS/PPS NAL headers (types 32/33/34) with short fake payloads; the SPS
    // carries a profile_tier_level (Main, level 3.0 = 90) after its first byte.
    const HEVC_VPS: [u8; 4] = [0x40, 0x01, 0x0C, 0x01];
    const HEVC_SPS: [u8; 16] = [
        0x42, 0x01, 0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90, 0xA0,
    ];
    const HEVC_PPS: [u8; 4] = [0x44, 0x01, 0xC1, 0x73];

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn h264_access_units_become_avcc_frames_after_a_sequence_header() {
        let mut a = Assembler::new();
        let mut out = Vec::new();
        let idr = annexb(&[&[0x09, 0xF0], SPS, PPS, &[0x65, 0x88, 0x84]]);
        // One access unit over two PES with the same PTS.
        a.push_video(VideoEs::H264, Some(9000), None, &idr[..10], &mut out);
        a.push_video(VideoEs::H264, Some(9000), None, &idr[10..], &mut out);
        assert!(out.is_empty(), "the access unit ends at the next PTS");
        a.push_video(
            VideoEs::H264,
            Some(12600),
            None,
            &annexb(&[&[0x41, 0x9A]]),
            &mut out,
        );
        a.flush(&mut out);
        assert_eq!(out.len(), 3);
        let sh = &out[0];
        assert!(sh.sequence_header && sh.kind == FrameKind::Video && sh.dts == 100);
        assert_eq!(&sh.data[..5], &[0x17, 0, 0, 0, 0]);
        let record = AvcConfig::parse(&sh.data[5..]).unwrap();
        assert_eq!(record.sps, vec![Bytes::from_static(SPS)]);
        assert_eq!(record.pps, vec![Bytes::from_static(PPS)]);
        let key = &out[1];
        assert!(key.keyframe && key.is_video_keyframe());
        assert_eq!(
            &key.data[..],
            &[0x17, 1, 0, 0, 0, 0, 0, 0, 3, 0x65, 0x88, 0x84],
            "no AUD, no SPS/PPS"
        );
        assert_eq!((out[2].dts, out[2].keyframe), (140, false));
        assert_eq!(out[2].data[0], 0x27);
    }

    /// `gb28181.max_frame_bytes` lowered to 100 KB: a keyframe of 150 KB sent over three PES
    /// with one PTS is dropped whole (no partial frame from its tail) and counted; the frames
    /// before and after it, and a keyframe of 90 KB, come out.
    #[test]
    fn an_access_unit_over_a_lowered_cap_is_dropped_whole_and_counted() {
        const CAP: usize = 100_000;
        let mut a = Assembler::with_max_access_unit(CAP);
        let mut out = Vec::new();
        let idr = |len: usize| {
            let mut nal = vec![0x65];
            nal.resize(len, 0x88);
            annexb(&[SPS, PPS, &nal])
        };
        let push = |a: &mut Assembler, pts: u64, au: &[u8], out: &mut Vec<Frame>| {
            for part in au.chunks(50_000) {
                a.push_video(VideoEs::H264, Some(pts), None, part, out);
            }
        };
        push(&mut a, 3_600, &idr(90_000), &mut out);
        push(&mut a, 7_200, &idr(150_000), &mut out);
        push(&mut a, 10_800, &annexb(&[&[0x41, 0x9A]]), &mut out);
        push(&mut a, 14_400, &idr(90_000), &mut out);
        a.flush(&mut out);
        assert_eq!((a.dropped, a.oversized), (1, 1));
        let pictures: Vec<(i64, bool, usize)> = out
            .iter()
            .filter(|f| !f.sequence_header)
            .map(|f| (f.dts, f.keyframe, f.data.len()))
            .collect();
        // 5 bytes of FLV header and 4 of NAL length before each NAL unit.
        assert_eq!(
            pictures,
            vec![(40, true, 90_009), (120, false, 11), (160, true, 90_009)],
            "the 150 KB keyframe at 80 ms is gone, and no piece of it came out"
        );
        assert!(out.iter().all(|f| f.data.len() <= CAP + 16));
    }

    #[test]
    fn frames_before_parameter_sets_are_dropped_and_pts_wraps() {
        let mut a = Assembler::new();
        let mut out = Vec::new();
        a.push_video(
            VideoEs::H264,
            Some(100),
            None,
            &annexb(&[&[0x41, 1]]),
            &mut out,
        );
        a.push_video(
            VideoEs::H264,
            Some((1 << 33) - 3600),
            None,
            &annexb(&[SPS, PPS, &[0x65, 1]]),
            &mut out,
        );
        a.push_video(
            VideoEs::H264,
            Some(0),
            None,
            &annexb(&[&[0x41, 2]]),
            &mut out,
        );
        a.flush(&mut out);
        assert_eq!(a.dropped, 1);
        let dts: Vec<i64> = out
            .iter()
            .filter(|f| !f.sequence_header)
            .map(|f| f.dts)
            .collect();
        // Across the 33-bit wrap the step is +40 ms, not a jump back.
        assert_eq!(dts[1] - dts[0], 40);
    }

    #[test]
    fn hevc_record_parses_back_with_its_parameter_sets() {
        let (vps, sps, pps) = (HEVC_VPS, HEVC_SPS, HEVC_PPS);
        let out = config_record(
            VideoEs::H265,
            &ParameterSets {
                vps: Some(Bytes::copy_from_slice(&vps)),
                sps: Some(Bytes::copy_from_slice(&sps)),
                pps: Some(Bytes::copy_from_slice(&pps)),
            },
        )
        .unwrap();
        let c = HevcConfig::parse(&out).unwrap();
        assert_eq!(
            (
                c.general_profile_idc,
                c.general_level_idc,
                c.nal_length_size
            ),
            (1, 90, 4)
        );
        assert_eq!(c.vps[0][..], vps);
        assert_eq!(c.sps[0][..], sps);
        assert_eq!(c.pps[0][..], pps);
    }

    #[test]
    fn hevc_access_units_are_enhanced_rtmp_hvc1() {
        let (vps, sps, pps) = (HEVC_VPS, HEVC_SPS, HEVC_PPS);
        let idr = [0x26, 0x01, 0xAF];
        let mut a = Assembler::new();
        let mut out = Vec::new();
        a.push_video(
            VideoEs::H265,
            Some(0),
            None,
            &annexb(&[&vps, &sps, &pps, &idr]),
            &mut out,
        );
        a.push_video(
            VideoEs::H265,
            Some(3600),
            None,
            &annexb(&[&[0x02, 0x01, 0x55]]),
            &mut out,
        );
        a.flush(&mut out);
        assert_eq!(out.len(), 3);
        let tags: Vec<_> = out
            .iter()
            .map(|f| crate::wire::flv::parse_video(&f.data).unwrap())
            .collect();
        assert!(tags
            .iter()
            .all(|t| t.enhanced && t.codec == VideoCodec::Hevc));
        assert!(tags[0].sequence_header);
        assert!(tags[1].keyframe && !tags[1].sequence_header);
        assert_eq!(tags[1].payload_offset, out[1].payload_offset);
        assert_eq!(
            &out[1].data[out[1].payload_offset..],
            &[0, 0, 0, 3, 0x26, 0x01, 0xAF]
        );
        assert!(HevcConfig::parse(&out[0].data[out[0].payload_offset..]).is_ok());
    }

    #[test]
    fn adts_frames_become_raw_aac_with_one_config() {
        // Two ADTS frames, AAC LC (profile 1), 44.1 kHz (index 4), stereo; 7-byte headers.
        let frame = |payload: &[u8]| {
            let len = 7 + payload.len();
            let mut h = vec![
                0xFF,
                0xF1,
                0x50,
                0x80,
                (len >> 3) as u8,
                ((len & 7) << 5) as u8 | 0x1F,
                0xFC,
            ];
            h.extend_from_slice(payload);
            h
        };
        let mut data = frame(&[1, 2, 3]);
        data.extend(frame(&[4, 5]));
        let mut a = Assembler::new();
        let mut out = Vec::new();
        a.push_audio(AudioEs::Aac, Some(90_000), &data, &mut out);
        a.push_audio(
            AudioEs::Aac,
            Some(90_000 + 2 * 2090),
            &frame(&[6]),
            &mut out,
        );
        let bodies: Vec<&[u8]> = out.iter().map(|f| &f.data[..]).collect();
        assert_eq!(
            bodies,
            vec![
                &[0xAF, 0, 0x12, 0x10][..],
                &[0xAF, 1, 1, 2, 3],
                &[0xAF, 1, 4, 5],
                &[0xAF, 1, 6]
            ]
        );
        assert_eq!(out[1].dts, 1000);
        assert_eq!(out[2].dts, 1023, "the second frame is 1024 samples later");
        // Garbage is counted, not a panic.
        a.push_audio(AudioEs::Aac, Some(0), &[0xFF, 0xF1, 0x50], &mut out);
        assert_eq!(a.dropped, 1);
    }

    #[test]
    fn g711_passes_through_as_flv_sound_format_7_and_8() {
        let mut a = Assembler::new();
        let mut out = Vec::new();
        a.push_audio(AudioEs::G711A, Some(1800), &[0xD5; 160], &mut out);
        a.push_audio(AudioEs::G711U, Some(3240), &[0xFF; 160], &mut out);
        assert_eq!(
            (out[0].data[0], out[0].data.len(), out[0].dts),
            (0x72, 161, 20)
        );
        assert_eq!(out[0].codec, crate::media::Codec::Audio(AudioCodec::G711A));
        assert_eq!(out[1].data[0], 0x82);
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::testutil::XorShift(0x5eed);
        let mut a = Assembler::new();
        let mut out = Vec::new();
        for _ in 0..5000 {
            // Random bytes with what the parsers look for mixed in: start codes, ADTS syncs,
            // parameter set NAL headers.
            const PIECES: [&[u8]; 5] = [
                &[0, 0, 1],
                &[0, 0, 0, 1],
                &[0xff, 0xf1],
                &[0x67, 0x64, 0x00, 0x1f],
                &[0x42, 0x01],
            ];
            let len = rng.below(64);
            let mut data = Vec::with_capacity(len + 4);
            while data.len() < len {
                match rng.below(4) {
                    0 => data.extend_from_slice(PIECES[rng.below(PIECES.len())]),
                    _ => data.push(rng.next() as u8),
                }
            }
            let pts = Some(rng.next() & ((1 << 33) - 1));
            match rng.below(4) {
                0 => a.push_video(VideoEs::H264, pts, None, &data, &mut out),
                1 => a.push_video(VideoEs::H265, pts, pts, &data, &mut out),
                2 => a.push_audio(AudioEs::Aac, pts, &data, &mut out),
                _ => a.push_audio(AudioEs::G711U, pts, &data, &mut out),
            }
            out.clear();
        }
    }
}
