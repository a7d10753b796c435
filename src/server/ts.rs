//! The MPEG-TS output of a Source: each frame is muxed once into TS packets, stored on the
//! frame as `Encoding::TsPackets` and shared by every HTTP-TS player and the HLS segmenter.
//!
//! Video: H.264 and H.265, AVCC → Annex B with an AUD and the parameter sets before each
//! keyframe; PAT/PMT before each keyframe, so a player or a segment starting at a keyframe
//! has them. Audio: AAC (raw → ADTS from the AudioSpecificConfig) and MP3 (as is).
//! Other codecs (G.711, Opus, AV1) have no TS mapping here: their frames get no packets, so a
//! G.711 camera's stream is served as video without audio (logged once per publish).
//! Audio-only streams (no video track in the TS: none, or one with no TS mapping) get PAT/PMT
//! once a second, and the HLS segmenter cuts there. With video, audio never gets the tables:
//! the PCR is on the video PID, so a TS stream or segment starts at a keyframe, not at audio.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use crate::live::{Output, OutputKind, Source};
use crate::media::{AudioCodec, Codec, Encoding, FrameKind, SharedFrame, VideoCodec};
use crate::wire::codec::aac::AacConfig;
use crate::wire::codec::h264::AvcConfig;
use crate::wire::codec::h265::HevcConfig;
use crate::wire::codec::{avcc_to_annexb, NalFormat};
use crate::wire::mpegts::{
    packet_pid, Muxer, StreamType, PACKET_LEN, PAT_PID, PMT_PID, TABLES_LEN,
};

/// PAT/PMT interval for audio-only streams (ms of stream time).
pub const AUDIO_ONLY_TABLES_MS: i64 = 1_000;

#[derive(Debug, Clone)]
struct VideoConfig {
    format: NalFormat,
    nal_length_size: u8,
    parameter_sets: Vec<Bytes>,
}

#[derive(Debug, Clone, Copy)]
enum AudioConfig {
    Aac(AacConfig),
    Mp3,
}

#[derive(Debug)]
pub struct TsOutput {
    name: String,
    video: Option<VideoConfig>,
    audio: Option<AudioConfig>,
    /// The streams the muxer's PMT announces; a new codec recreates the muxer.
    muxer: Option<(Option<StreamType>, Option<StreamType>, Muxer)>,
    last_tables_dts: Option<i64>,
    warned_codec: bool,
    /// Annex B / ADTS scratch space, reused for every frame.
    scratch: BytesMut,
    /// Frames that could not be converted (bad NAL lengths, no sequence header yet, ...).
    pub skipped: u64,
}

impl TsOutput {
    pub fn new(name: String) -> TsOutput {
        TsOutput {
            name,
            video: None,
            audio: None,
            muxer: None,
            last_tables_dts: None,
            warned_codec: false,
            scratch: BytesMut::new(),
            skipped: 0,
        }
    }

    fn stream_types(&self) -> (Option<StreamType>, Option<StreamType>) {
        let video = self.video.as_ref().map(|v| match v.format {
            NalFormat::Avc => StreamType::H264,
            NalFormat::Hevc => StreamType::H265,
        });
        let audio = self.audio.map(|a| match a {
            AudioConfig::Aac(_) => StreamType::Aac,
            AudioConfig::Mp3 => StreamType::Mp3,
        });
        (video, audio)
    }

    fn muxer(&mut self) -> &mut Muxer {
        let (video, audio) = self.stream_types();
        if !matches!(&self.muxer, Some((v, a, _)) if *v == video && *a == audio) {
            // A new codec: a new PMT, so a new muxer.
            self.muxer = None;
        }
        &mut self
            .muxer
            .get_or_insert_with(|| (video, audio, Muxer::new(video, audio)))
            .2
    }

    fn on_video_header(&mut self, frame: &SharedFrame) {
        let record = frame.data.get(frame.payload_offset..).unwrap_or_default();
        let parsed = match frame.codec {
            Codec::Video(VideoCodec::Avc) => AvcConfig::parse(record).map(|c| VideoConfig {
                format: NalFormat::Avc,
                nal_length_size: c.nal_length_size,
                parameter_sets: c.sps.into_iter().chain(c.pps).collect(),
            }),
            Codec::Video(VideoCodec::Hevc) => HevcConfig::parse(record).map(|c| VideoConfig {
                format: NalFormat::Hevc,
                nal_length_size: c.nal_length_size,
                parameter_sets: c.vps.into_iter().chain(c.sps).chain(c.pps).collect(),
            }),
            other => {
                self.warn_codec(other);
                return;
            }
        };
        match parsed {
            Ok(v) => self.video = Some(v),
            Err(e) => log::warn!(
                "{}: video sequence header not usable for TS: {e}",
                self.name
            ),
        }
    }

    fn on_audio_header(&mut self, frame: &SharedFrame) {
        if frame.codec != Codec::Audio(AudioCodec::Aac) {
            return;
        }
        let asc = frame.data.get(frame.payload_offset..).unwrap_or_default();
        match AacConfig::parse(asc) {
            Ok(c) => self.audio = Some(AudioConfig::Aac(c)),
            Err(e) => log::warn!("{}: AAC config not usable for TS: {e}", self.name),
        }
    }

    fn warn_codec(&mut self, codec: Codec) {
        if !self.warned_codec {
            self.warned_codec = true;
            log::warn!(
                "{}: {codec:?} has no MPEG-TS mapping here; its frames are left out of TS/HLS",
                self.name
            );
        }
    }

    fn video_frame(&mut self, frame: &SharedFrame) -> Option<Bytes> {
        let Some(v) = &self.video else {
            self.skipped += 1;
            return None;
        };
        let payload = frame.data.get(frame.payload_offset..).unwrap_or_default();
        let mut annexb = std::mem::take(&mut self.scratch);
        annexb.clear();
        let converted = avcc_to_annexb(
            v.format,
            v.nal_length_size,
            &v.parameter_sets,
            frame.keyframe,
            payload,
            &mut annexb,
        );
        if converted.is_err() {
            self.skipped += 1;
            self.scratch = annexb;
            return None;
        }
        let dts = ts90(frame.dts);
        let pts = ts90(frame.dts + i64::from(frame.cts));
        let mut out = BytesMut::with_capacity(packets_len(annexb.len() + 20) + 2 * PACKET_LEN);
        let keyframe = frame.keyframe;
        let muxer = self.muxer();
        if keyframe {
            muxer.write_tables(&mut out);
        }
        muxer.write_video(pts, dts, keyframe, &annexb, &mut out);
        self.scratch = annexb;
        Some(out.freeze())
    }

    fn audio_frame(&mut self, frame: &SharedFrame) -> Option<Bytes> {
        let payload = frame.data.get(frame.payload_offset..).unwrap_or_default();
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        match (frame.codec, self.audio) {
            (Codec::Audio(AudioCodec::Aac), Some(AudioConfig::Aac(c))) => {
                match c.adts_header(payload.len()) {
                    Ok(h) => {
                        data.extend_from_slice(&h);
                        data.extend_from_slice(payload);
                    }
                    Err(_) => {
                        self.skipped += 1;
                        self.scratch = data;
                        return None;
                    }
                }
            }
            (Codec::Audio(AudioCodec::Mp3), _) => {
                self.audio = Some(AudioConfig::Mp3);
                data.extend_from_slice(payload);
            }
            (Codec::Audio(AudioCodec::Aac), _) => {
                self.skipped += 1;
                self.scratch = data;
                return None;
            }
            (other, _) => {
                self.warn_codec(other);
                self.scratch = data;
                return None;
            }
        }
        let pts = ts90(frame.dts);
        // PAT/PMT go before audio only when audio carries the PCR, i.e. the program has no
        // video track. Once a video sequence header is known, the PMT puts the PCR on the
        // video PID: tables before audio would let a player or the first HLS segment start
        // on audio with no PCR yet (GStreamer's tsdemux: "THIS SHOULD NOT HAPPEN", VLC:
        // "Broken stream ... later than pcr"); they start at the first keyframe instead.
        let tables = self.video.is_none()
            && self
                .last_tables_dts
                .is_none_or(|t| frame.dts - t >= AUDIO_ONLY_TABLES_MS || frame.dts < t);
        if tables {
            self.last_tables_dts = Some(frame.dts);
        }
        let mut out = BytesMut::with_capacity(packets_len(data.len() + 20) + 2 * PACKET_LEN);
        let muxer = self.muxer();
        if tables {
            muxer.write_tables(&mut out);
        }
        muxer.write_audio(pts, &data, &mut out);
        self.scratch = data;
        Some(out.freeze())
    }
}

/// Milliseconds to the 90 kHz clock, wrapped to 33 bits (negative times wrap too).
fn ts90(ms: i64) -> u64 {
    (ms.wrapping_mul(90)).rem_euclid(1 << 33) as u64
}

/// Bytes of TS packets for a PES of `len` bytes (an upper bound).
fn packets_len(len: usize) -> usize {
    len.div_ceil(PACKET_LEN - 4 - 8) * PACKET_LEN
}

/// The PAT and PMT packets a frame's TS packets start with (a video keyframe's, or an
/// audio-only stream's once a second): a segment or a player can start there.
pub fn tables(packets: &[u8]) -> Option<&[u8; TABLES_LEN]> {
    let tables = packets.first_chunk::<TABLES_LEN>()?;
    let (pat, pmt) = tables.split_at(PACKET_LEN);
    (packet_pid(pat) == Some(PAT_PID) && packet_pid(pmt) == Some(PMT_PID)).then_some(tables)
}

impl Output for TsOutput {
    fn kind(&self) -> OutputKind {
        OutputKind::Ts
    }

    fn on_publish(&mut self) {
        self.video = None;
        self.audio = None;
        self.last_tables_dts = None;
        self.warned_codec = false;
    }

    fn on_frame(&mut self, frame: &SharedFrame) {
        let packets = match frame.kind {
            FrameKind::Metadata => None,
            FrameKind::Video if frame.sequence_header => {
                self.on_video_header(frame);
                None
            }
            FrameKind::Audio if frame.sequence_header => {
                self.on_audio_header(frame);
                None
            }
            FrameKind::Video => self.video_frame(frame),
            FrameKind::Audio => self.audio_frame(frame),
        };
        if let Some(p) = packets {
            frame.encoded(Encoding::TsPackets, |_| p);
        }
    }

    fn on_unpublish(&mut self) {}
}

/// The TS packets of a frame, if the TS output muxed it.
pub fn packets(frame: &SharedFrame) -> Option<Bytes> {
    frame.encoding(Encoding::TsPackets)
}
/// Attaches the MPEG-TS output to a Source (if not there), for HTTP-TS players and HLS.
pub fn attach(source: &mut Source) {
    if source.output(OutputKind::Ts).is_none() {
        let name = source.key.to_string();
        source.add_output(Rc::new(RefCell::new(TsOutput::new(name))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Frame;
    use crate::wire::mpegts::{PAT_PID, PMT_PID, VIDEO_PID};

    fn starts_with_tables(packets: &[u8]) -> bool {
        tables(packets).is_some()
    }

    /// AVCDecoderConfigurationRecord: High 3.1, 4-byte NAL lengths, one SPS, one PPS.
    const AVC_RECORD: [u8; 19] = [
        0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00, 0x04,
        0x68, 0xee, 0x3c, 0x80,
    ];
    /// AudioSpecificConfig: AAC LC, 44.1 kHz, mono.
    const AAC_ASC: [u8; 2] = [0x12, 0x08];

    fn feed(out: &mut TsOutput, frame: Frame) -> Option<Bytes> {
        let frame: SharedFrame = Rc::new(frame);
        out.on_frame(&frame);
        packets(&frame)
    }

    fn video(out: &mut TsOutput, codec: VideoCodec, dts: i64, key: bool) -> Option<Bytes> {
        let nal = Bytes::from_static(&[0, 0, 0, 2, 0x65, 0x88]);
        feed(out, Frame::video(codec, dts, 0, key, false, nal, 0))
    }

    fn audio(out: &mut TsOutput, dts: i64) -> Option<Bytes> {
        let data = Bytes::from_static(&[0x21, 0x10, 0x04, 0x60]);
        feed(out, Frame::audio(AudioCodec::Aac, dts, false, data, 0))
    }

    fn headers(out: &mut TsOutput, video: Option<(VideoCodec, &'static [u8])>) {
        if let Some((codec, record)) = video {
            let record = Bytes::from_static(record);
            feed(out, Frame::video(codec, 0, 0, true, true, record, 0));
        }
        let asc = Bytes::from_static(&AAC_ASC);
        feed(out, Frame::audio(AudioCodec::Aac, 0, true, asc, 0));
    }

    fn pid(packet: &[u8]) -> u16 {
        u16::from(packet[1] & 0x1F) << 8 | u16::from(packet[2])
    }

    /// ffmpeg sends the AAC frame at 0 before the keyframe at 23 ms. That frame must not
    /// start the TS (nor the first HLS segment) with PAT/PMT: the PMT names the video PID as
    /// PCR_PID, and the audio would come before any PCR.
    #[test]
    fn with_video_audio_gets_no_tables_and_the_keyframe_brings_them_with_the_pcr() {
        let mut out = TsOutput::new("t".into());
        headers(&mut out, Some((VideoCodec::Avc, &AVC_RECORD)));
        let first = audio(&mut out, 0).expect("audio is muxed");
        assert!(!starts_with_tables(&first));
        let key = video(&mut out, VideoCodec::Avc, 23, true).expect("keyframe");
        let pids: Vec<u16> = key.chunks(PACKET_LEN).map(pid).collect();
        assert_eq!(pids[..3], [PAT_PID, PMT_PID, VIDEO_PID]);
        let pes = &key[2 * PACKET_LEN..];
        assert!(
            pes[3] & 0x20 != 0 && pes[5] & 0x10 != 0,
            "PCR on the keyframe"
        );
        for dts in [46, 1_100, 2_300] {
            assert!(!starts_with_tables(&audio(&mut out, dts).unwrap()), "{dts}");
        }
        let inter = video(&mut out, VideoCodec::Avc, 63, false).unwrap();
        assert!(!starts_with_tables(&inter));
    }

    #[test]
    fn audio_only_gets_tables_once_a_second() {
        let mut out = TsOutput::new("t".into());
        headers(&mut out, None);
        let tables: Vec<bool> = [0, 500, 999, 1_000, 1_500, 2_100]
            .into_iter()
            .map(|dts| starts_with_tables(&audio(&mut out, dts).unwrap()))
            .collect();
        assert_eq!(tables, [true, false, false, true, false, true]);
    }

    /// AV1 has no TS mapping: the TS is audio-only, with the PCR and the tables on audio,
    /// even while AV1 frames come.
    #[test]
    fn video_without_ts_mapping_leaves_an_audio_only_ts() {
        let mut out = TsOutput::new("t".into());
        headers(&mut out, Some((VideoCodec::Av1, &[0x81, 0x08, 0x0c, 0x00])));
        assert!(video(&mut out, VideoCodec::Av1, 0, true).is_none());
        assert!(starts_with_tables(&audio(&mut out, 0).unwrap()));
        assert!(video(&mut out, VideoCodec::Av1, 40, false).is_none());
        assert!(!starts_with_tables(&audio(&mut out, 500).unwrap()));
        assert!(starts_with_tables(&audio(&mut out, 1_000).unwrap()));
    }
}
