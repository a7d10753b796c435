//! The stream the publisher sends: read from an FLV file, or synthetic (H.264-shaped frames of
//! a given bitrate, frame rate and GOP). Either way it is held in memory as whole RTMP message
//! bodies and sent in a loop.

use std::io;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use tinysrs::wire::amf0::{self, Value};
use tinysrs::wire::codec::av1;
use tinysrs::wire::codec::h264::AvcConfig;
use tinysrs::wire::flv::{self, FlvReader, TagType, VideoCodec};
use tinysrs::wire::rtmp::message::MessageType;

use crate::stamp::SEI_NAL_LEN;

/// Largest FLV file read (it is held in memory).
const MAX_FILE_LEN: u64 = 256 * 1024 * 1024;
/// Largest tag accepted from the file.
const MAX_TAG_LEN: u32 = 4 * 1024 * 1024;

/// One message to send.
#[derive(Debug, Clone)]
pub struct Message {
    pub type_id: MessageType,
    /// Milliseconds from the start of the loop.
    pub timestamp: u32,
    pub body: Bytes,
    /// An H.264 NALU packet (FLV AVCPacketType 1): the stamp goes in front of its NAL units.
    pub stampable: bool,
}

#[derive(Debug)]
pub struct Stream {
    /// Metadata and sequence headers, sent once after `publish`.
    pub headers: Vec<Message>,
    /// The media, sent in a loop.
    pub frames: Vec<Message>,
    /// Length of one loop in ms (the next loop's timestamps start here).
    pub period_ms: u32,
    /// Bytes of the NAL unit length prefix (from the AVC sequence header; 4 when synthetic).
    pub nal_len_size: usize,
}

impl Stream {
    /// Payload bits per second of one loop, stamps included.
    pub fn kbps(&self) -> f64 {
        let stamp = SEI_NAL_LEN + self.nal_len_size;
        let bytes: usize = self
            .frames
            .iter()
            .map(|m| m.body.len() + if m.stampable { stamp } else { 0 })
            .sum();
        bytes as f64 * 8.0 / f64::from(self.period_ms.max(1))
    }

    /// Payload bytes of the longest GOP of the loop (a video keyframe and the frames up to the
    /// next one, audio included): what a server caching the last GOP holds per stream at most,
    /// before its own overhead. The whole loop when there is no video keyframe.
    pub fn max_gop_bytes(&self) -> usize {
        let keyframe = |m: &Message| {
            // FrameType 1 (key), legacy or Enhanced RTMP (bit 7 is IsExHeader there).
            m.type_id == MessageType::Video && m.body.first().is_some_and(|b| (b >> 4) & 7 == 1)
        };
        let (mut max, mut gop) = (0, 0);
        for m in &self.frames {
            if keyframe(m) {
                max = max.max(gop);
                gop = 0;
            }
            gop += m.body.len();
        }
        max.max(gop)
    }

    /// H.264-shaped video only: one GOP of `fps × gop_s` frames, the keyframe five times the
    /// size of a P frame, sized so that the stream (stamps included) runs at `kbps`. The
    /// sequence header is plausible (baseline profile SPS/PPS) but the slices are filler: good
    /// enough for servers, which do not decode pictures.
    pub fn synthetic(kbps: u32, fps: u32, gop_s: u32) -> Stream {
        let fps = fps.max(1);
        let frames_per_gop = (fps * gop_s.max(1)) as usize;
        let gop_bytes = u64::from(kbps) * 1000 / 8 * u64::from(gop_s.max(1));
        const KEY_WEIGHT: usize = 5;
        let unit = gop_bytes as usize / (frames_per_gop - 1 + KEY_WEIGHT);
        // FLV video header (5), NAL length (4), NAL header (1), and the stamp with its length.
        let overhead = 5 + 4 + 1 + 4 + SEI_NAL_LEN;
        let mut frames = Vec::with_capacity(frames_per_gop);
        for i in 0..frames_per_gop {
            let key = i == 0;
            let size = if key { unit * KEY_WEIGHT } else { unit };
            let nal_len = size.saturating_sub(overhead).max(1) + 1;
            let mut body = BytesMut::with_capacity(9 + nal_len);
            body.extend_from_slice(&[if key { 0x17 } else { 0x27 }, 1, 0, 0, 0]);
            body.extend_from_slice(&(nal_len as u32).to_be_bytes());
            // IDR slice (type 5, nal_ref_idc 3) or non-IDR slice (type 1, nal_ref_idc 2).
            body.extend_from_slice(&[if key { 0x65 } else { 0x41 }]);
            body.resize(9 + nal_len, 0xAA);
            frames.push(Message {
                type_id: MessageType::Video,
                timestamp: (i as u64 * 1000 / u64::from(fps)) as u32,
                body: body.freeze(),
                stampable: true,
            });
        }
        let mut metadata = BytesMut::new();
        amf0::encode_all(
            &[
                Value::String("@setDataFrame".into()),
                Value::String("onMetaData".into()),
                Value::ecma_array([
                    ("width", Value::Number(1280.0)),
                    ("height", Value::Number(720.0)),
                    ("framerate", Value::Number(f64::from(fps))),
                    ("videocodecid", Value::Number(7.0)),
                    ("videodatarate", Value::Number(f64::from(kbps))),
                    ("encoder", Value::String("tinysrs-bench".into())),
                ]),
            ],
            &mut metadata,
        );
        // avcC (ISO/IEC 14496-15 §5.2.4.1): version 1, baseline profile 66, level 3.1,
        // 4-byte NAL lengths, one SPS (1280x720) and one PPS.
        const SPS: [u8; 11] = [
            0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16, 0xE8, 0x40, 0x04,
        ];
        const PPS: [u8; 4] = [0x68, 0xCE, 0x3C, 0x80];
        let mut avc = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1];
        avc.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
        avc.extend_from_slice(&SPS);
        avc.push(1);
        avc.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
        avc.extend_from_slice(&PPS);
        Stream {
            headers: vec![
                Message {
                    type_id: MessageType::DataAmf0,
                    timestamp: 0,
                    body: metadata.freeze(),
                    stampable: false,
                },
                Message {
                    type_id: MessageType::Video,
                    timestamp: 0,
                    body: Bytes::from(avc),
                    stampable: false,
                },
            ],
            frames,
            period_ms: (frames_per_gop as u64 * 1000 / u64::from(fps)) as u32,
            nal_len_size: 4,
        }
    }

    /// Every tag of an FLV file: the first metadata and sequence headers become `headers`,
    /// the rest `frames` (timestamps from 0).
    pub fn from_flv(path: &Path) -> io::Result<Stream> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_FILE_LEN {
            return Err(io::Error::other(format!(
                "{}: {len} bytes, over the {MAX_FILE_LEN} bytes this reads",
                path.display()
            )));
        }
        let mut input = BytesMut::from(&std::fs::read(path)?[..]);
        let mut reader = FlvReader::new(MAX_TAG_LEN);
        let bad = |e: flv::FlvError| io::Error::other(format!("{}: {e}", path.display()));
        let mut headers = Vec::new();
        let mut frames: Vec<Message> = Vec::new();
        let (mut have_meta, mut have_video_sh, mut have_audio_sh) = (false, false, false);
        let mut nal_len_size = 4;
        let mut first_ts = None;
        while let Some(tag) = reader.decode(&mut input).map_err(bad)? {
            let (type_id, header) = match tag.tag_type {
                TagType::Script => {
                    let is_meta = amf0::decode(&tag.body)
                        .map(|(v, _)| v.as_str() == Some("onMetaData"))
                        .unwrap_or(false);
                    if is_meta && !have_meta {
                        have_meta = true;
                        let mut body = BytesMut::new();
                        Value::String("@setDataFrame".into()).encode(&mut body);
                        body.extend_from_slice(&tag.body);
                        headers.push(Message {
                            type_id: MessageType::DataAmf0,
                            timestamp: 0,
                            body: body.freeze(),
                            stampable: false,
                        });
                    }
                    continue;
                }
                TagType::Video => match flv::parse_video(&tag.body) {
                    Ok(v) if v.sequence_header => {
                        if !have_video_sh && v.codec == VideoCodec::Avc {
                            let record = tag.body.get(v.payload_offset..).unwrap_or_default();
                            if let Ok(config) = AvcConfig::parse(record) {
                                nal_len_size = usize::from(config.nal_length_size);
                            }
                        }
                        if have_video_sh {
                            continue;
                        }
                        have_video_sh = true;
                        (MessageType::Video, true)
                    }
                    Ok(_) => (MessageType::Video, false),
                    Err(_) => continue,
                },
                TagType::Audio => match flv::parse_audio(&tag.body) {
                    Ok(a) if a.sequence_header => {
                        if have_audio_sh {
                            continue;
                        }
                        have_audio_sh = true;
                        (MessageType::Audio, true)
                    }
                    Ok(_) => (MessageType::Audio, false),
                    Err(_) => continue,
                },
                _ => continue,
            };
            if header {
                headers.push(Message {
                    type_id,
                    timestamp: 0,
                    body: tag.body,
                    stampable: false,
                });
                continue;
            }
            let first = *first_ts.get_or_insert(tag.timestamp);
            let stampable = type_id == MessageType::Video
                && tag.body.len() >= 5
                && tag.body.first().map(|b| b & 0x0F) == Some(7)
                && tag.body.get(1) == Some(&1);
            frames.push(Message {
                type_id,
                timestamp: tag.timestamp.wrapping_sub(first),
                body: tag.body,
                stampable,
            });
        }
        let last = frames.last().map_or(0, |m| m.timestamp);
        // One more video frame interval, so that the next loop does not repeat a timestamp.
        let mut video_ts = frames
            .iter()
            .rev()
            .filter(|m| m.type_id == MessageType::Video)
            .map(|m| m.timestamp);
        let step = match (video_ts.next(), video_ts.next()) {
            (Some(a), Some(b)) if a > b => a - b,
            _ => 40,
        };
        if frames.is_empty() {
            return Err(io::Error::other(format!(
                "{}: no audio or video frames",
                path.display()
            )));
        }
        Ok(Stream {
            headers,
            frames,
            period_ms: last + step,
            nal_len_size,
        })
    }
}

/// Enhanced RTMP (E-RTMP v1): IsExHeader, VideoPacketType SequenceStart and CodedFrames, the
/// FrameType (key or inter) in bits 4-6, and the AV1 FourCC.
const EX_HEADER: u8 = 0x80;
const EX_SEQUENCE_START: u8 = 0;
const EX_CODED_FRAMES: u8 = 1;
const FRAME_KEY: u8 = 1;
const FRAME_INTER: u8 = 2;
const AV01: &[u8; 4] = b"av01";
/// OBU types (AV1 §6.2.2) and header bits (§5.3.2).
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;
const OBU_EXTENSION_BIT: u8 = 0x04;
const OBU_HAS_SIZE_BIT: u8 = 0x02;

/// One OBU of a low-overhead bitstream (AV1 §5.2; every OBU with its size field, as ffmpeg's
/// `-f obu` writes): (obu_type, the whole OBU, its payload).
fn next_obu(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let first = *data.first()?;
    let header_len = if first & OBU_EXTENSION_BIT != 0 { 2 } else { 1 };
    if first & OBU_HAS_SIZE_BIT == 0 {
        return None;
    }
    let (size, size_len) = av1::leb128(data.get(header_len..)?).ok()?;
    let start = header_len + size_len;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    Some(((first >> 3) & 0x0f, data.get(..end)?, data.get(start..end)?))
}

impl Stream {
    /// An AV1 low-overhead OBU stream (ffmpeg `-f obu`: a temporal delimiter before each
    /// temporal unit) at `fps`, as Enhanced RTMP `av01`: the first sequence header in an
    /// `av1C` record, each temporal unit (its delimiter left out, AV1-ISOBMFF §2.4) a
    /// CodedFrames message, a key frame when its frame header says KEY_FRAME (§5.9.2).
    pub fn from_obu(path: &Path, fps: u32) -> io::Result<Stream> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_FILE_LEN {
            return Err(io::Error::other(format!(
                "{}: {len} bytes, over the {MAX_FILE_LEN} bytes this reads",
                path.display()
            )));
        }
        let data = std::fs::read(path)?;
        let bad = |what: &str| io::Error::other(format!("{}: {what}", path.display()));
        let mut units: Vec<(bool, Vec<u8>)> = Vec::new();
        let mut sequence_header: Option<Vec<u8>> = None;
        let mut rest = &data[..];
        while !rest.is_empty() {
            let (obu_type, obu, payload) =
                next_obu(rest).ok_or_else(|| bad("an OBU without its size or cut"))?;
            rest = &rest[obu.len()..];
            if obu_type == OBU_TEMPORAL_DELIMITER || units.is_empty() {
                units.push((false, Vec::new()));
                if obu_type == OBU_TEMPORAL_DELIMITER {
                    continue;
                }
            }
            let Some(unit) = units.last_mut() else {
                continue;
            };
            if obu_type == OBU_SEQUENCE_HEADER && sequence_header.is_none() {
                sequence_header = Some(obu.to_vec());
            }
            // frame_header_obu: show_existing_frame (1), frame_type (2): KEY_FRAME is 0.
            if matches!(obu_type, OBU_FRAME_HEADER | OBU_FRAME)
                && payload.first().is_some_and(|b| b & 0xE0 == 0)
            {
                unit.0 = true;
            }
            unit.1.extend_from_slice(obu);
        }
        let sequence_header = sequence_header.ok_or_else(|| bad("no sequence header OBU"))?;
        units.retain(|(_, u)| !u.is_empty());
        if units.is_empty() {
            return Err(bad("no temporal unit"));
        }
        // av1C (AV1-ISOBMFF §2.3.3): marker and version 1, seq_profile (the sequence header's
        // first 3 bits) and a level; 8-bit 4:2:0 flags (chroma_subsampling_x and _y); no
        // initial presentation delay; the sequence header as configOBUs.
        let profile = next_obu(&sequence_header)
            .and_then(|(_, _, p)| p.first().copied())
            .unwrap_or(0)
            >> 5;
        let mut av1c = vec![EX_HEADER | FRAME_KEY << 4 | EX_SEQUENCE_START];
        av1c.extend_from_slice(AV01);
        av1c.extend_from_slice(&[0x81, profile << 5 | 8, 0x0C, 0]);
        av1c.extend_from_slice(&sequence_header);
        let fps = fps.max(1);
        let frames: Vec<Message> = units
            .into_iter()
            .enumerate()
            .map(|(i, (key, unit))| {
                let frame_type = if key { FRAME_KEY } else { FRAME_INTER };
                let mut body = vec![EX_HEADER | frame_type << 4 | EX_CODED_FRAMES];
                body.extend_from_slice(AV01);
                body.extend_from_slice(&unit);
                Message {
                    type_id: MessageType::Video,
                    timestamp: (i as u64 * 1000 / u64::from(fps)) as u32,
                    body: Bytes::from(body),
                    stampable: false,
                }
            })
            .collect();
        let period_ms = (frames.len() as u64 * 1000 / u64::from(fps)) as u32;
        Ok(Stream {
            headers: vec![Message {
                type_id: MessageType::Video,
                timestamp: 0,
                body: Bytes::from(av1c),
                stampable: false,
            }],
            frames,
            period_ms,
            nal_len_size: 4,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_stream_has_the_asked_bitrate_and_parses() {
        let s = Stream::synthetic(1000, 25, 2);
        assert_eq!(s.frames.len(), 50);
        assert_eq!(s.period_ms, 2000);
        assert!((s.kbps() - 1000.0).abs() < 20.0, "{}", s.kbps());
        for m in &s.frames {
            let v = flv::parse_video(&m.body).unwrap();
            assert_eq!(v.codec, VideoCodec::Avc);
            assert!(!v.sequence_header);
        }
        let loop_bytes: usize = s.frames.iter().map(|m| m.body.len()).sum();
        assert_eq!(s.max_gop_bytes(), loop_bytes, "one GOP a loop");
        assert!(
            flv::parse_video(&s.headers[1].body)
                .unwrap()
                .sequence_header
        );
    }

    #[test]
    fn an_obu_stream_becomes_av01_messages() {
        // Temporal delimiter, sequence header (profile 0), a key frame; delimiter, inter frame.
        let seq = [0x0A, 3, 0x00, 0x00, 0x00];
        let mut obus = vec![0x12, 0];
        obus.extend_from_slice(&seq);
        obus.extend_from_slice(&[0x32, 2, 0x10, 0xAA, 0x12, 0, 0x32, 2, 0x30, 0xBB]);
        let dir = std::env::temp_dir().join(format!("bench-obu-{}", std::process::id()));
        std::fs::write(&dir, &obus).unwrap();
        let s = Stream::from_obu(&dir, 25).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(s.frames.len(), 2);
        assert_eq!(s.period_ms, 80);
        let header = flv::parse_video(&s.headers[0].body).unwrap();
        assert!(header.sequence_header && header.codec == VideoCodec::Av1);
        let record = &s.headers[0].body[header.payload_offset..];
        assert_eq!(&record[4..], &seq);
        assert_eq!(&record[..4], &[0x81, 8, 0x0C, 0]);
        let key = flv::parse_video(&s.frames[0].body).unwrap();
        assert!(key.keyframe && key.codec == VideoCodec::Av1);
        assert_eq!(&s.frames[0].body[key.payload_offset..], &obus[2..11]);
        let inter = flv::parse_video(&s.frames[1].body).unwrap();
        assert!(!inter.keyframe);
        assert_eq!(
            &s.frames[1].body[inter.payload_offset..],
            &[0x32, 2, 0x30, 0xBB]
        );
        assert_eq!(s.frames[1].timestamp, 40);
    }

    #[test]
    fn longest_gop_counts_from_keyframe_to_keyframe() {
        let frame = |key: bool, len: usize| {
            let mut body = vec![0xAA; len];
            body[0] = if key { 0x17 } else { 0x27 };
            Message {
                type_id: MessageType::Video,
                timestamp: 0,
                body: Bytes::from(body),
                stampable: false,
            }
        };
        let mut s = Stream::synthetic(100, 1, 1);
        s.frames = vec![
            frame(false, 7),
            frame(true, 10),
            frame(false, 5),
            frame(false, 5),
            frame(true, 20),
            frame(false, 1),
        ];
        assert_eq!(s.max_gop_bytes(), 21);
        s.frames.truncate(4);
        assert_eq!(s.max_gop_bytes(), 20);
    }
}
