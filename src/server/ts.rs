//! The MPEG-TS output of a Source: each frame is muxed once into TS packets, stored on the
//! frame as `Encoding::TsPackets` and shared by every HTTP-TS player and the HLS segmenter.
//!
//! Video: H.264 and H.265, AVCC → Annex B with an AUD and the parameter sets before each
//! keyframe; PAT/PMT before each keyframe, so a player or a segment starting at a keyframe
//! has them. Audio: AAC (raw → ADTS from the AudioSpecificConfig) and MP3 (as is).
//! Other codecs (G.711, Opus, AV1) have no TS mapping here: their frames get no packets, so a
//! G.711 camera's stream is served as video without audio (logged once per publish).
//! Audio-only streams get PAT/PMT once a second, and the HLS segmenter cuts there.

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
    /// The stream has video (frames seen since publish), so tables go before keyframes.
    has_video: bool,
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
            has_video: false,
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
        let tables = !self.has_video
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
        self.has_video = false;
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
            FrameKind::Video => {
                self.has_video = true;
                self.video_frame(frame)
            }
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
