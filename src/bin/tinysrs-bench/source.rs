//! The stream the publisher sends: read from an FLV file, or synthetic (H.264-shaped frames of
//! a given bitrate, frame rate and GOP). Either way it is held in memory as whole RTMP message
//! bodies and sent in a loop.

use std::io;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use tinysrs::wire::amf0::{self, Value};
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
            m.type_id == MessageType::Video && m.body.first().is_some_and(|b| b >> 4 == 1)
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
