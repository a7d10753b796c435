//! The protocol-neutral frame model shared by every ingest and every output.
//!
//! A [`Frame`] is stored once (`Rc<Frame>`, payload `Bytes`) and shared by every player. Its
//! payload is the FLV/RTMP tag body, the de-facto neutral packaging every RTMP, FLV and
//! GB28181-to-FLV path already speaks; `payload_offset` says where the raw codec data starts
//! so that other muxers (MPEG-TS, fMP4) can reach the elementary stream without re-parsing.
//! Derived encodings (RTMP chunks, FLV tags, ...) are built once per frame on first use and
//! cached on the frame itself, see [`Frame::encoded`].

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::Bytes;

pub use crate::wire::flv::{AudioCodec, VideoCodec};

/// The vhost used when a client names none or names one that is not configured (SRS's name).
/// It names streams in every protocol, so it lives with the protocol-neutral model.
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Audio,
    Video,
    /// Script data (`onMetaData`), encoded as AMF0 `["onMetaData", {...}]`.
    Metadata,
}

/// The codec of a frame, as far as the hub needs to know it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Video(VideoCodec),
    Audio(AudioCodec),
    None,
}

/// `Debug` by hand: the router builds' `-Zfmt-debug=shallow` (targets/mips*.toml) would print
/// a derived one without the codec, and logs and errors show it.
impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Codec::Video(c) => write!(f, "Video({c:?})"),
            Codec::Audio(c) => write!(f, "Audio({c:?})"),
            Codec::None => f.write_str("None"),
        }
    }
}

/// The output formats that cache a derived encoding on a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The RTMP chunk headers of the frame for a message stream id (type 0, then the type 3
    /// header of every later chunk, then the type 0 header's length in one byte): players
    /// send them around slices of the payload, whatever their chunk size.
    RtmpHeaders { stream_id: u32 },
    /// FLV tag header + PreviousTagSize (15 bytes) around the payload, inside the HTTP/1.1
    /// chunk framing (size line, CRLF) of the whole tag.
    FlvFraming,
    /// MPEG-TS packets of the frame (PES), with PAT/PMT before keyframes.
    TsPackets,
    /// The HTTP/1.1 chunk size line of `TsPackets`, for chunked HTTP-TS players.
    TsChunkLine,
    /// The RTP packets of the frame for RTSP players (`server::rtsp_server`), each after its
    /// 16-bit length, with sequence number 0 and SSRC 0: each player writes its own RTP
    /// header in front of the shared payloads.
    RtpPackets,
}

/// How many derived encodings one frame keeps. Four covers RTMP, HTTP-FLV and HTTP-TS (its
/// packets, which HLS shares, and their chunk line); a fifth (RTMP players of a second message
/// stream id) is built per use instead of cached.
/// RAM: each slot is a `Bytes` handle (32 bytes) plus the encoded bytes, shared by all players.
pub const MAX_ENCODINGS_PER_FRAME: usize = 4;

#[derive(Debug)]
pub struct Frame {
    pub kind: FrameKind,
    pub codec: Codec,
    /// Decode timestamp in milliseconds on the Source's timeline (after `time_jitter`);
    /// players receive it truncated to 32 bits, which is RTMP's and FLV's wrap-around.
    pub dts: i64,
    /// Composition time offset (pts - dts) in milliseconds.
    pub cts: i32,
    /// A video random access point (not set on sequence headers).
    pub keyframe: bool,
    /// Codec configuration (AVC/HEVC decoder configuration record, AudioSpecificConfig, ...).
    pub sequence_header: bool,
    /// The FLV tag body.
    pub data: Bytes,
    /// Offset in `data` of the codec data (NAL units, raw AAC, ...).
    pub payload_offset: usize,
    encodings: RefCell<heapless::Vec<(Encoding, Bytes), MAX_ENCODINGS_PER_FRAME>>,
    /// Length of the `TsPackets` encoding once built, for [`Frame::cost`], which every queue
    /// and the GOP cache ask several times per frame.
    ts_len: Cell<u32>,
}

pub type SharedFrame = Rc<Frame>;

/// Bytes of bookkeeping per frame beyond its payload, counted by [`Frame::cost`]: the `Frame`
/// itself with its `Rc` counts, the shared buffer's header and allocator rounding (about
/// 64 bytes), one queue slot per queue or cache that holds it (16 bytes, counted once:
/// each queue and the cache count the cost separately anyway), and the small encodings
/// players share (RTMP chunk headers, FLV tag framing: under 64 bytes each with their
/// allocation).
pub const FRAME_OVERHEAD: usize = std::mem::size_of::<Frame>() + 2 * 8 + 64 + 16 + 2 * 64;

impl Frame {
    /// A video frame (`keyframe`: a random access point; `sequence_header`: the decoder
    /// configuration record).
    pub fn video(
        codec: VideoCodec,
        dts: i64,
        cts: i32,
        keyframe: bool,
        sequence_header: bool,
        data: Bytes,
        payload_offset: usize,
    ) -> Frame {
        Frame {
            kind: FrameKind::Video,
            codec: Codec::Video(codec),
            dts,
            cts,
            keyframe,
            sequence_header,
            data,
            payload_offset,
            encodings: RefCell::new(heapless::Vec::new()),
            ts_len: Cell::new(0),
        }
    }

    pub fn audio(
        codec: AudioCodec,
        dts: i64,
        sequence_header: bool,
        data: Bytes,
        payload_offset: usize,
    ) -> Frame {
        Frame {
            kind: FrameKind::Audio,
            codec: Codec::Audio(codec),
            sequence_header,
            keyframe: false,
            ..Frame::video(VideoCodec::Avc, dts, 0, false, false, data, payload_offset)
        }
    }

    /// Script data (`["onMetaData", {...}]` in AMF0).
    pub fn metadata(dts: i64, data: Bytes) -> Frame {
        Frame {
            kind: FrameKind::Metadata,
            codec: Codec::None,
            ..Frame::video(VideoCodec::Avc, dts, 0, false, false, data, 0)
        }
    }

    /// The frame's timestamp as players see it: 32 bits, wrapping every 49.7 days.
    pub fn timestamp32(&self) -> u32 {
        self.dts as u32
    }

    /// Bytes the frame counts for in queue and cache limits: its payload, plus the MPEG-TS
    /// packets when a TS output (HTTP-TS, HLS) built them (a second copy of the payload, made
    /// by the Source's outputs before any queue or cache counts the frame, so the figure does
    /// not change while the frame is held), plus [`FRAME_OVERHEAD`] for the bookkeeping and
    /// the small shared encodings. RTMP and FLV players send slices of the payload itself.
    /// This keeps the declared RAM a true upper bound, also when a publisher sends a flood of
    /// tiny frames.
    pub fn cost(&self) -> usize {
        self.data
            .len()
            .saturating_add(self.ts_len.get() as usize)
            .saturating_add(FRAME_OVERHEAD)
    }

    /// True for a frame a decoder can start from: a video keyframe or any non-video frame.
    pub fn is_video_keyframe(&self) -> bool {
        self.kind == FrameKind::Video && self.keyframe && !self.sequence_header
    }

    /// The derived encoding `key`, if something built it (for outputs built by a Source output,
    /// such as TS packets, which readers must not build themselves).
    pub fn encoding(&self, key: Encoding) -> Option<Bytes> {
        self.encodings
            .borrow()
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, b)| b.clone())
    }

    /// The derived encoding `key` of this frame, built by `build` on first use and shared by
    /// every later caller.
    pub fn encoded(&self, key: Encoding, build: impl FnOnce(&Frame) -> Bytes) -> Bytes {
        if let Some((_, bytes)) = self.encodings.borrow().iter().find(|(k, _)| *k == key) {
            return bytes.clone();
        }
        let bytes = build(self);
        // A full cache means an unusual mix of outputs: the caller still gets its bytes.
        if self
            .encodings
            .borrow_mut()
            .push((key, bytes.clone()))
            .is_ok()
            && key == Encoding::TsPackets
        {
            self.ts_len
                .set(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame::video(
            VideoCodec::Avc,
            (1i64 << 32) + 5,
            0,
            true,
            false,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 0xAA]),
            5,
        )
    }

    #[test]
    fn encoding_is_built_once_and_shared() {
        let f = frame();
        let key = Encoding::RtmpHeaders { stream_id: 1 };
        let mut builds = 0;
        let a = f.encoded(key, |_| {
            builds += 1;
            Bytes::from_static(b"abc")
        });
        let b = f.encoded(key, |_| {
            builds += 1;
            Bytes::from_static(b"xyz")
        });
        assert_eq!(builds, 1);
        assert_eq!(a, b);
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same bytes, not a copy");
    }

    #[test]
    fn full_cache_still_answers() {
        let f = frame();
        for cs in 0..(MAX_ENCODINGS_PER_FRAME as u32 + 2) {
            let key = Encoding::RtmpHeaders { stream_id: cs };
            let got = f.encoded(key, |_| Bytes::from(vec![cs as u8]));
            assert_eq!(got[..], [cs as u8]);
        }
    }

    #[test]
    fn cost_counts_the_ts_packets_once_built() {
        assert!(
            std::mem::size_of::<Frame>() <= 248,
            "{}",
            std::mem::size_of::<Frame>()
        );
        let f = frame();
        assert_eq!(f.cost(), 6 + FRAME_OVERHEAD);
        f.encoded(Encoding::RtmpHeaders { stream_id: 1 }, |_| {
            Bytes::from(vec![0; 20])
        });
        assert_eq!(
            f.cost(),
            6 + FRAME_OVERHEAD,
            "small encodings are in the overhead"
        );
        f.encoded(Encoding::TsPackets, |_| Bytes::from(vec![0; 188 * 2]));
        assert_eq!(f.cost(), 6 + 376 + FRAME_OVERHEAD);
        f.encoded(Encoding::TsPackets, |_| unreachable!("built once"));
        assert_eq!(f.cost(), 6 + 376 + FRAME_OVERHEAD);
    }

    #[test]
    fn timestamp_wraps_to_32_bits() {
        assert_eq!(frame().timestamp32(), 5);
        assert!(frame().is_video_keyframe());
    }
}
