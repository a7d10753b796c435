//! FLV: the audio/video tag bodies that RTMP and FLV share, and the FLV file container.
//!
//! Two halves, both pure code over byte slices:
//!
//! * **Tag bodies.** The payload of an RTMP audio (type 8) or video (type 9) message is byte
//!   for byte an FLV tag body. [`parse_video`] and [`parse_audio`] classify one: codec,
//!   keyframe, sequence header, composition time, and where the codec data starts. They
//!   understand legacy FLV (Adobe FLV spec v10.1, E.4.2.1 AUDIODATA and E.4.3.1 VIDEODATA,
//!   plus the de-facto legacy HEVC id 12 of Chinese CDNs) and Enhanced RTMP (veovera
//!   enhanced-rtmp v1/v2, "Enhanced Audio" and "Enhanced Video": ExHeader bit, PacketType,
//!   FourCC, ModEx).
//! * **Container.** [`encode_file_header`], [`encode_tag_header`], [`encode_prev_tag_size`]
//!   and [`Tag::encode`] write an FLV stream (HTTP-FLV, DVR); [`FlvReader`] reads one
//!   incrementally (`Ok(None)` = need more bytes); [`scan`] finds where the complete tags of a
//!   file cut short end (DVR repair after a power cut).
//!
//! What a caller must know:
//!
//! * `Ok` from the body parsers means "a frame or a codec configuration a muxer can use", with
//!   `payload_offset <= body.len()` and a non-empty payload unless `end_of_sequence`.
//! * Messages that are well formed but carry no frame (video command frames, Enhanced video
//!   Metadata, audio silence, Enhanced audio SequenceEnd and MultichannelConfig) come back as
//!   [`FlvError::NotMedia`]. A relay may forward such a message unchanged; it must not feed
//!   it to a muxer or a decoder.
//! * Every body error is message-level: drop the message (log at debug), keep the connection.
//!   Enhanced Multitrack and MPEG2TSSequenceStart are [`FlvError::Unsupported`]; ModEx
//!   prefixes (e.g. TimestampOffsetNano) are skipped and their value ignored.
//! * `keyframe` is the FrameType as sent (1 = key frame only; 4 "generated key frame" is
//!   reserved for servers and not treated as one). Sequence headers usually carry
//!   `keyframe == true`: test `sequence_header` first.
//!
//! Not supported: encrypted FLV (tag header Filter bit), FLV versions other than 1, Enhanced
//! RTMP multitrack, the legacy SoundFormat 13 that SRS uses internally for Opus.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::cursor::{array_at, i24_at, put_u24, u16_at, u24_at, u32_at, u8_at, Short};

pub mod scan;
pub mod seek;

/// FourCC codes of Enhanced RTMP, as big-endian `u32` ('av01' == 0x61763031).
pub mod fourcc {
    /// Builds a FourCC from its four ASCII characters.
    pub const fn from_bytes(code: &[u8; 4]) -> u32 {
        u32::from_be_bytes(*code)
    }

    pub const AVC1: u32 = from_bytes(b"avc1");
    pub const HVC1: u32 = from_bytes(b"hvc1");
    pub const AV01: u32 = from_bytes(b"av01");
    pub const VP09: u32 = from_bytes(b"vp09");
    pub const VP08: u32 = from_bytes(b"vp08");
    pub const VVC1: u32 = from_bytes(b"vvc1");
    pub const OPUS: u32 = from_bytes(b"Opus");
    pub const MP3: u32 = from_bytes(b".mp3");
    pub const MP4A: u32 = from_bytes(b"mp4a");
    pub const FLAC: u32 = from_bytes(b"fLaC");
    pub const AC3: u32 = from_bytes(b"ac-3");
    pub const EAC3: u32 = from_bytes(b"ec-3");
}

/// Video codec of a tag. `Other` keeps the legacy CodecID (when `VideoTag::enhanced` is false)
/// or the FourCC (when it is true).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Avc,
    Hevc,
    Av1,
    Vp9,
    Other(u32),
}

/// `Debug` by hand: the router builds' `-Zfmt-debug=shallow` (targets/mips*.toml) would print
/// a derived one without the number, and logs and errors show it.
impl std::fmt::Debug for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VideoCodec::Avc => "Avc",
            VideoCodec::Hevc => "Hevc",
            VideoCodec::Av1 => "Av1",
            VideoCodec::Vp9 => "Vp9",
            VideoCodec::Other(id) => return write!(f, "Other({id})"),
        })
    }
}

impl VideoCodec {
    /// Legacy VideoTagHeader CodecID (FLV spec E.4.3.1): 7 AVC; 12 HEVC is the Chinese-CDN
    /// extension, not in the Adobe spec.
    pub fn from_legacy_id(id: u8) -> VideoCodec {
        match id {
            LEGACY_VIDEO_AVC => VideoCodec::Avc,
            LEGACY_VIDEO_HEVC => VideoCodec::Hevc,
            other => VideoCodec::Other(u32::from(other)),
        }
    }

    /// Enhanced RTMP VideoFourCc.
    pub fn from_fourcc(code: u32) -> VideoCodec {
        match code {
            fourcc::AVC1 => VideoCodec::Avc,
            fourcc::HVC1 => VideoCodec::Hevc,
            fourcc::AV01 => VideoCodec::Av1,
            fourcc::VP09 => VideoCodec::Vp9,
            other => VideoCodec::Other(other),
        }
    }
}

/// Audio codec of a tag. `Other` keeps the legacy SoundFormat (when `AudioTag::enhanced` is
/// false) or the FourCC (when it is true).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Aac,
    Mp3,
    G711A,
    G711U,
    Opus,
    Other(u32),
}

/// `Debug` by hand: the router builds' `-Zfmt-debug=shallow` (targets/mips*.toml) would print
/// a derived one without the number, and logs and errors show it.
impl std::fmt::Debug for AudioCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AudioCodec::Aac => "Aac",
            AudioCodec::Mp3 => "Mp3",
            AudioCodec::G711A => "G711A",
            AudioCodec::G711U => "G711U",
            AudioCodec::Opus => "Opus",
            AudioCodec::Other(id) => return write!(f, "Other({id})"),
        })
    }
}

impl AudioCodec {
    /// Legacy AudioTagHeader SoundFormat (FLV spec E.4.2.1): 2 MP3, 7 G.711 A-law,
    /// 8 G.711 mu-law, 10 AAC, 14 MP3 8 kHz.
    pub fn from_sound_format(format: u8) -> AudioCodec {
        match format {
            SOUND_FORMAT_MP3 | SOUND_FORMAT_MP3_8K => AudioCodec::Mp3,
            SOUND_FORMAT_G711A => AudioCodec::G711A,
            SOUND_FORMAT_G711U => AudioCodec::G711U,
            SOUND_FORMAT_AAC => AudioCodec::Aac,
            other => AudioCodec::Other(u32::from(other)),
        }
    }

    /// Enhanced RTMP AudioFourCc.
    pub fn from_fourcc(code: u32) -> AudioCodec {
        match code {
            fourcc::MP4A => AudioCodec::Aac,
            fourcc::MP3 => AudioCodec::Mp3,
            fourcc::OPUS => AudioCodec::Opus,
            other => AudioCodec::Other(other),
        }
    }
}

/// A classified video tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTag {
    pub codec: VideoCodec,
    /// Enhanced RTMP (IsExHeader set): `codec` came from a FourCC.
    pub enhanced: bool,
    /// FrameType 1 (key frame) as sent; also set on most sequence headers.
    pub keyframe: bool,
    /// AVCPacketType 0 / PacketType SequenceStart: the payload is the codec configuration
    /// record (AVCDecoderConfigurationRecord, HEVCDecoderConfigurationRecord, ...).
    pub sequence_header: bool,
    /// AVCPacketType 2 / PacketType SequenceEnd. The payload may be empty.
    pub end_of_sequence: bool,
    /// Composition time offset (pts - dts) in milliseconds; 0 where the format has none.
    pub composition_time: i32,
    /// Where codec data (AVCC NALUs or config record) starts in the body.
    pub payload_offset: usize,
}

/// A classified audio tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTag {
    pub codec: AudioCodec,
    /// Enhanced RTMP (SoundFormat 9, ExHeader): `codec` came from a FourCC.
    pub enhanced: bool,
    /// AACPacketType 0 / AudioPacketType SequenceStart: the payload is the codec
    /// configuration (AudioSpecificConfig, OpusHead, ...).
    pub sequence_header: bool,
    /// Legacy SoundRate (0 5.5 kHz, 1 11 kHz, 2 22 kHz, 3 44 kHz); 0 for enhanced tags,
    /// which do not signal it (read the codec configuration instead).
    pub sound_rate: u8,
    /// Legacy SoundSize (0 8-bit, 1 16-bit); 0 for enhanced tags.
    pub sound_size: u8,
    /// Legacy SoundType (0 mono, 1 stereo); 0 for enhanced tags.
    pub sound_type: u8,
    /// Where codec data (raw AAC frame, AudioSpecificConfig, ...) starts in the body.
    pub payload_offset: usize,
}

/// A well-formed audio/video message that carries no frame. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMedia {
    /// Video FrameType 5 (video info / command frame) with its VideoCommand byte
    /// (0 start of client-side seeking, 1 end).
    VideoCommand(u8),
    /// Enhanced VideoPacketType 4: AMF-encoded metadata such as HDR `colorInfo`.
    VideoMetadata,
    /// An empty audio message, RTMP's "silence" signal.
    AudioSilence,
    /// Enhanced AudioPacketType 2 (SequenceEnd).
    AudioSequenceEnd,
    /// Enhanced AudioPacketType 4 (MultichannelConfig): a channel layout, no frame.
    AudioMultichannelConfig,
}

/// Errors of this module. Body errors (`Truncated`, `Unsupported`, `NotMedia`) concern one
/// message: drop it, keep the connection. [`FlvReader`] errors end the FLV stream: the reader
/// consumes nothing on error and returns the same error again.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FlvError {
    #[error("FLV tag body truncated: need {needed} bytes, have {len}")]
    Truncated { needed: usize, len: usize },
    #[error("unsupported FLV {what} {value:#x}")]
    Unsupported { what: &'static str, value: u32 },
    #[error("FLV message carries no media frame: {0:?}")]
    NotMedia(NotMedia),
    #[error("bad FLV file header: {what}")]
    BadFileHeader { what: &'static str },
    #[error("FLV tag at offset {offset}: body of {len} bytes exceeds the limit of {max}")]
    TagTooLong { offset: u64, len: u32, max: u32 },
    #[error("encrypted FLV tag (Filter bit) at offset {offset}")]
    EncryptedTag { offset: u64 },
    #[error("PreviousTagSize at offset {offset} is {found}, expected {expected}")]
    BadPrevTagSize {
        offset: u64,
        expected: u32,
        found: u32,
    },
}

impl From<Short> for FlvError {
    fn from(Short { needed, len }: Short) -> FlvError {
        FlvError::Truncated { needed, len }
    }
}

// ---------------------------------------------------------------------------------------------
// Tag bodies
// ---------------------------------------------------------------------------------------------

/// Byte 0 of a video body: IsExHeader (Enhanced RTMP), then FrameType UB[3].
const VIDEO_EX_HEADER_BIT: u8 = 0x80;
const VIDEO_FRAME_KEY: u8 = 1;
const VIDEO_FRAME_COMMAND: u8 = 5;
const LEGACY_VIDEO_AVC: u8 = 7;
const LEGACY_VIDEO_HEVC: u8 = 12;
/// Legacy AVC/HEVC: FrameType|CodecID, AVCPacketType, SI24 CompositionTime.
const LEGACY_AVC_HEADER_LEN: usize = 5;
const LEGACY_AVC_PACKET_TYPE_AT: usize = 1;
const LEGACY_AVC_CTS_AT: usize = 2;
const AVC_SEQUENCE_HEADER: u8 = 0;
const AVC_NALU: u8 = 1;
const AVC_END_OF_SEQUENCE: u8 = 2;

/// Enhanced VideoPacketType (low nibble of byte 0 when IsExHeader is set).
const VIDEO_SEQUENCE_START: u8 = 0;
const VIDEO_CODED_FRAMES: u8 = 1;
const VIDEO_SEQUENCE_END: u8 = 2;
const VIDEO_CODED_FRAMES_X: u8 = 3;
const VIDEO_METADATA: u8 = 4;
const VIDEO_MPEG2TS_SEQUENCE_START: u8 = 5;
const VIDEO_MULTITRACK: u8 = 6;
/// ModEx has the same value for audio and video packet types.
const PACKET_MOD_EX: u8 = 7;

const SOUND_FORMAT_MP3: u8 = 2;
const SOUND_FORMAT_G711A: u8 = 7;
const SOUND_FORMAT_G711U: u8 = 8;
/// SoundFormat 9 switches the low nibble to AudioPacketType and a FourCC follows.
const SOUND_FORMAT_EX_HEADER: u8 = 9;
const SOUND_FORMAT_AAC: u8 = 10;
const SOUND_FORMAT_MP3_8K: u8 = 14;
/// Legacy AAC: SoundFormat|rate|size|type, AACPacketType.
const LEGACY_AAC_HEADER_LEN: usize = 2;
const AAC_SEQUENCE_HEADER: u8 = 0;
const AAC_RAW: u8 = 1;

/// Enhanced AudioPacketType.
const AUDIO_SEQUENCE_START: u8 = 0;
const AUDIO_CODED_FRAMES: u8 = 1;
const AUDIO_SEQUENCE_END: u8 = 2;
const AUDIO_MULTICHANNEL_CONFIG: u8 = 4;
const AUDIO_MULTITRACK: u8 = 5;

const FOURCC_LEN: usize = 4;
const SI24_LEN: usize = 3;

/// Classifies a video tag body (RTMP video message payload).
///
/// Legacy (FLV spec E.4.3.1): FrameType UB[4] | CodecID UB[4]; for AVC (7) and HEVC (12)
/// AVCPacketType UI8 and CompositionTime SI24 follow, payload at 5; other codecs' payload
/// starts at 1. Enhanced (IsExHeader): FrameType UB[3] | PacketType UB[4], ModEx prefixes,
/// FourCC, then for CodedFrames of avc1/hvc1/vvc1 an SI24 CompositionTime.
pub fn parse_video(body: &[u8]) -> Result<VideoTag, FlvError> {
    let b0 = u8_at(body, 0)?;
    let tag = if b0 & VIDEO_EX_HEADER_BIT != 0 {
        parse_ex_video(body, b0)?
    } else {
        parse_legacy_video(body, b0)?
    };
    check_payload(body, tag.payload_offset, tag.end_of_sequence)?;
    Ok(tag)
}

fn parse_legacy_video(body: &[u8], b0: u8) -> Result<VideoTag, FlvError> {
    let frame_type = b0 >> 4;
    let codec_id = b0 & 0x0f;
    let codec = VideoCodec::from_legacy_id(codec_id);
    let has_avc_header = matches!(codec, VideoCodec::Avc | VideoCodec::Hevc);
    let header_len = if has_avc_header {
        LEGACY_AVC_HEADER_LEN
    } else {
        1
    };
    // E.4.3.1: the AVC header is present whatever the FrameType; a command frame's body
    // is then a single UI8.
    need(body, header_len)?;
    if frame_type == VIDEO_FRAME_COMMAND {
        let command = u8_at(body, header_len)?;
        return Err(FlvError::NotMedia(NotMedia::VideoCommand(command)));
    }
    let mut tag = VideoTag {
        codec,
        enhanced: false,
        keyframe: frame_type == VIDEO_FRAME_KEY,
        sequence_header: false,
        end_of_sequence: false,
        composition_time: 0,
        payload_offset: header_len,
    };
    if has_avc_header {
        match u8_at(body, LEGACY_AVC_PACKET_TYPE_AT)? {
            AVC_SEQUENCE_HEADER => tag.sequence_header = true,
            AVC_NALU => {}
            AVC_END_OF_SEQUENCE => tag.end_of_sequence = true,
            other => {
                return Err(FlvError::Unsupported {
                    what: "AVCPacketType",
                    value: u32::from(other),
                })
            }
        }
        tag.composition_time = i24_at(body, LEGACY_AVC_CTS_AT)?;
    }
    Ok(tag)
}

fn parse_ex_video(body: &[u8], b0: u8) -> Result<VideoTag, FlvError> {
    let frame_type = (b0 >> 4) & 0x07;
    let (mut pos, packet_type) = skip_mod_ex(body, 1, b0 & 0x0f)?;
    // Enhanced Video: a command frame (unless Metadata, whose FrameType is ignored) has a
    // VideoCommand byte instead of a FourCC and no body.
    if frame_type == VIDEO_FRAME_COMMAND && packet_type != VIDEO_METADATA {
        let command = u8_at(body, pos)?;
        return Err(FlvError::NotMedia(NotMedia::VideoCommand(command)));
    }
    if packet_type == VIDEO_MULTITRACK {
        return Err(FlvError::Unsupported {
            what: "video Multitrack",
            value: u32::from(packet_type),
        });
    }
    let code = u32_at(body, pos)?;
    pos += FOURCC_LEN;
    let mut tag = VideoTag {
        codec: VideoCodec::from_fourcc(code),
        enhanced: true,
        keyframe: frame_type == VIDEO_FRAME_KEY,
        sequence_header: false,
        end_of_sequence: false,
        composition_time: 0,
        payload_offset: pos,
    };
    match packet_type {
        VIDEO_SEQUENCE_START => tag.sequence_header = true,
        VIDEO_CODED_FRAMES => {
            // Only the codecs with B-frames in the spec carry CompositionTime here.
            if matches!(code, fourcc::AVC1 | fourcc::HVC1 | fourcc::VVC1) {
                tag.composition_time = i24_at(body, pos)?;
                tag.payload_offset = pos + SI24_LEN;
            }
        }
        VIDEO_SEQUENCE_END => tag.end_of_sequence = true,
        VIDEO_CODED_FRAMES_X => {}
        VIDEO_METADATA => return Err(FlvError::NotMedia(NotMedia::VideoMetadata)),
        VIDEO_MPEG2TS_SEQUENCE_START => {
            return Err(FlvError::Unsupported {
                what: "VideoPacketType MPEG2TSSequenceStart",
                value: u32::from(packet_type),
            })
        }
        other => {
            return Err(FlvError::Unsupported {
                what: "VideoPacketType",
                value: u32::from(other),
            })
        }
    }
    Ok(tag)
}

/// Classifies an audio tag body (RTMP audio message payload).
///
/// Legacy (FLV spec E.4.2.1): SoundFormat UB[4] | SoundRate UB[2] | SoundSize UB[1] |
/// SoundType UB[1]; AAC (10) adds AACPacketType, payload at 2; other formats' payload starts
/// at 1. Enhanced (SoundFormat 9): AudioPacketType UB[4], ModEx prefixes, FourCC, payload.
pub fn parse_audio(body: &[u8]) -> Result<AudioTag, FlvError> {
    let Some(&b0) = body.first() else {
        return Err(FlvError::NotMedia(NotMedia::AudioSilence));
    };
    let format = b0 >> 4;
    let tag = if format == SOUND_FORMAT_EX_HEADER {
        parse_ex_audio(body, b0)?
    } else {
        parse_legacy_audio(body, b0, format)?
    };
    check_payload(body, tag.payload_offset, false)?;
    Ok(tag)
}

fn parse_legacy_audio(body: &[u8], b0: u8, format: u8) -> Result<AudioTag, FlvError> {
    let mut tag = AudioTag {
        codec: AudioCodec::from_sound_format(format),
        enhanced: false,
        sequence_header: false,
        sound_rate: (b0 >> 2) & 0x03,
        sound_size: (b0 >> 1) & 0x01,
        sound_type: b0 & 0x01,
        payload_offset: 1,
    };
    if format == SOUND_FORMAT_AAC {
        match u8_at(body, 1)? {
            AAC_SEQUENCE_HEADER => tag.sequence_header = true,
            AAC_RAW => {}
            other => {
                return Err(FlvError::Unsupported {
                    what: "AACPacketType",
                    value: u32::from(other),
                })
            }
        }
        tag.payload_offset = LEGACY_AAC_HEADER_LEN;
    }
    Ok(tag)
}

fn parse_ex_audio(body: &[u8], b0: u8) -> Result<AudioTag, FlvError> {
    let (pos, packet_type) = skip_mod_ex(body, 1, b0 & 0x0f)?;
    if packet_type == AUDIO_MULTITRACK {
        return Err(FlvError::Unsupported {
            what: "audio Multitrack",
            value: u32::from(packet_type),
        });
    }
    let code = u32_at(body, pos)?;
    let mut tag = AudioTag {
        codec: AudioCodec::from_fourcc(code),
        enhanced: true,
        sequence_header: false,
        sound_rate: 0,
        sound_size: 0,
        sound_type: 0,
        payload_offset: pos + FOURCC_LEN,
    };
    match packet_type {
        AUDIO_SEQUENCE_START => tag.sequence_header = true,
        AUDIO_CODED_FRAMES => {}
        AUDIO_SEQUENCE_END => return Err(FlvError::NotMedia(NotMedia::AudioSequenceEnd)),
        AUDIO_MULTICHANNEL_CONFIG => {
            return Err(FlvError::NotMedia(NotMedia::AudioMultichannelConfig))
        }
        other => {
            return Err(FlvError::Unsupported {
                what: "AudioPacketType",
                value: u32::from(other),
            })
        }
    }
    Ok(tag)
}

/// Skips Enhanced RTMP ModEx prefixes (v2, identical for audio and video):
/// `while packetType == ModEx { size = UI8 + 1; if size == 256 { size = UI16 + 1 };
/// data[size]; ModExType UB[4] | PacketType UB[4] }`. Returns the position after the last
/// prefix and the final packet type. Each round consumes at least 3 bytes, so the loop ends
/// within the body.
fn skip_mod_ex(body: &[u8], mut pos: usize, mut packet_type: u8) -> Result<(usize, u8), FlvError> {
    while packet_type == PACKET_MOD_EX {
        let mut size = usize::from(u8_at(body, pos)?) + 1;
        pos += 1;
        if size == 256 {
            size = usize::from(u16_at(body, pos)?) + 1;
            pos += 2;
        }
        pos += size;
        packet_type = u8_at(body, pos)? & 0x0f;
        pos += 1;
    }
    Ok((pos, packet_type))
}

/// Every frame and configuration has at least one byte of codec data; only an end of
/// sequence may be empty.
fn check_payload(body: &[u8], payload_offset: usize, may_be_empty: bool) -> Result<(), FlvError> {
    need(body, payload_offset + usize::from(!may_be_empty))
}

fn need(body: &[u8], needed: usize) -> Result<(), FlvError> {
    if body.len() < needed {
        Err(FlvError::Truncated {
            needed,
            len: body.len(),
        })
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Container
// ---------------------------------------------------------------------------------------------

/// FLV file header (E.2): 'F' 'L' 'V', Version, TypeFlags, DataOffset UI32.
pub const FILE_HEADER_LEN: usize = 9;
/// FLV tag header (E.4.1): TagType, DataSize UI24, Timestamp UI24, TimestampExtended UI8,
/// StreamID UI24.
pub const TAG_HEADER_LEN: usize = 11;
/// PreviousTagSize UI32 (E.3), after the file header and after every tag.
pub const PREV_TAG_SIZE_LEN: usize = 4;
/// Largest tag body DataSize (UI24) can describe.
pub const MAX_BODY_LEN: u32 = 0x00ff_ffff;

const SIGNATURE: &[u8; 3] = b"FLV";
const VERSION: u8 = 1;
const FLAG_AUDIO: u8 = 0x04;
const FLAG_VIDEO: u8 = 0x01;
const VERSION_AT: usize = 3;
const FLAGS_AT: usize = 4;
const DATA_OFFSET_AT: usize = 5;
/// Tag header byte 0: Reserved UB[2], Filter UB[1] (encrypted), TagType UB[5].
const TAG_FILTER_BIT: u8 = 0x20;
const TAG_TYPE_MASK: u8 = 0x1f;
const TAG_TYPE_AT: usize = 0;
const TAG_DATA_SIZE_AT: usize = 1;
const TAG_TIMESTAMP_AT: usize = 4;
const TAG_TIMESTAMP_EXTENDED_AT: usize = 7;

/// FLV TagType (E.4.1), the same numbers as RTMP message types 8, 9 and 18.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagType {
    Audio,
    Video,
    Script,
    Unknown(u8),
}

impl From<u8> for TagType {
    fn from(value: u8) -> TagType {
        match value {
            8 => TagType::Audio,
            9 => TagType::Video,
            18 => TagType::Script,
            other => TagType::Unknown(other),
        }
    }
}

impl From<TagType> for u8 {
    fn from(value: TagType) -> u8 {
        match value {
            TagType::Audio => 8,
            TagType::Video => 9,
            TagType::Script => 18,
            TagType::Unknown(other) => other,
        }
    }
}

/// The FLV file header's TypeFlags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    pub has_audio: bool,
    pub has_video: bool,
}

impl FileHeader {
    /// Decodes the 9-byte file header and PreviousTagSize0: `Ok(Some((header, 13)))`, or
    /// `Ok(None)` until 13 bytes are there. A wrong signature is reported as soon as its
    /// first bytes are in, so a stream that is not FLV (an HTML error page) fails fast.
    pub fn decode(input: &[u8]) -> Result<Option<(FileHeader, usize)>, FlvError> {
        let seen = input.len().min(SIGNATURE.len());
        if input.get(..seen) != SIGNATURE.get(..seen) {
            return Err(FlvError::BadFileHeader {
                what: "signature is not 'FLV'",
            });
        }
        let total = FILE_HEADER_LEN + PREV_TAG_SIZE_LEN;
        if input.len() < total {
            return Ok(None);
        }
        if u8_at(input, VERSION_AT)? != VERSION {
            return Err(FlvError::BadFileHeader {
                what: "version is not 1",
            });
        }
        // DataOffset is 9 for version 1; a larger header would be a later version.
        if u32_at(input, DATA_OFFSET_AT)? != FILE_HEADER_LEN as u32 {
            return Err(FlvError::BadFileHeader {
                what: "DataOffset is not 9",
            });
        }
        let found = u32_at(input, FILE_HEADER_LEN)?;
        if found != 0 {
            return Err(FlvError::BadPrevTagSize {
                offset: FILE_HEADER_LEN as u64,
                expected: 0,
                found,
            });
        }
        let flags = u8_at(input, FLAGS_AT)?;
        let header = FileHeader {
            has_audio: flags & FLAG_AUDIO != 0,
            has_video: flags & FLAG_VIDEO != 0,
        };
        Ok(Some((header, total)))
    }
}

/// Writes the FLV file header followed by PreviousTagSize0, so **13 bytes** in all
/// (`FILE_HEADER_LEN + PREV_TAG_SIZE_LEN`): `'F' 'L' 'V' 01 flags 00 00 00 09 00 00 00 00`.
/// After it, each tag is a tag header, the body and [`encode_prev_tag_size`].
pub fn encode_file_header(has_audio: bool, has_video: bool, out: &mut impl BufMut) {
    let mut flags = 0;
    if has_audio {
        flags |= FLAG_AUDIO;
    }
    if has_video {
        flags |= FLAG_VIDEO;
    }
    out.put_slice(SIGNATURE);
    out.put_u8(VERSION);
    out.put_u8(flags);
    out.put_u32(FILE_HEADER_LEN as u32);
    out.put_u32(0);
}

/// Writes the 11-byte tag header: TagType, DataSize UI24, Timestamp (low 24 bits, then the
/// high 8 bits in TimestampExtended), StreamID 0.
///
/// `body_len` must be at most [`MAX_BODY_LEN`] (callers cap bodies long before that; a larger
/// value is a bug, checked in debug builds and masked to 24 bits otherwise). A
/// `TagType::Unknown` value is masked to its 5 bits.
pub fn encode_tag_header(tag_type: TagType, timestamp: u32, body_len: u32, out: &mut impl BufMut) {
    debug_assert!(
        body_len <= MAX_BODY_LEN,
        "FLV tag body too long: {body_len}"
    );
    out.put_u8(u8::from(tag_type) & TAG_TYPE_MASK);
    put_u24(out, body_len);
    put_u24(out, timestamp);
    out.put_u8((timestamp >> 24) as u8);
    put_u24(out, 0);
}

/// Writes the PreviousTagSize that follows a tag: `TAG_HEADER_LEN + body_len`.
pub fn encode_prev_tag_size(body_len: u32, out: &mut impl BufMut) {
    out.put_u32(body_len.wrapping_add(TAG_HEADER_LEN as u32));
}

/// The header of one FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHeader {
    pub tag_type: TagType,
    /// Milliseconds, with TimestampExtended as the high 8 bits.
    pub timestamp: u32,
    pub body_len: u32,
}

impl TagHeader {
    /// Decodes an 11-byte tag header: `Ok(Some((header, 11)))`, or `Ok(None)` if fewer bytes
    /// are there. The Filter (encryption) bit is refused (`EncryptedTag` with offset 0, relative
    /// to `input`); StreamID is ignored.
    pub fn decode(input: &[u8]) -> Result<Option<(TagHeader, usize)>, FlvError> {
        let Some(head) = input.get(..TAG_HEADER_LEN) else {
            return Ok(None);
        };
        let b0 = u8_at(head, TAG_TYPE_AT)?;
        if b0 & TAG_FILTER_BIT != 0 {
            return Err(FlvError::EncryptedTag { offset: 0 });
        }
        let body_len = u24_at(head, TAG_DATA_SIZE_AT)?;
        let [a, b, c] = array_at(head, TAG_TIMESTAMP_AT)?;
        let high = u8_at(head, TAG_TIMESTAMP_EXTENDED_AT)?;
        let header = TagHeader {
            tag_type: TagType::from(b0 & TAG_TYPE_MASK),
            timestamp: u32::from_be_bytes([high, a, b, c]),
            body_len,
        };
        Ok(Some((header, TAG_HEADER_LEN)))
    }
}

/// One FLV tag: its type, timestamp (ms) and body (for audio and video, the RTMP message
/// payload, see [`parse_audio`] and [`parse_video`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub tag_type: TagType,
    pub timestamp: u32,
    pub body: Bytes,
}

impl Tag {
    /// Writes tag header, body and PreviousTagSize. The body must be at most
    /// [`MAX_BODY_LEN`] bytes (see [`encode_tag_header`]).
    pub fn encode(&self, out: &mut impl BufMut) {
        let body_len = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        encode_tag_header(self.tag_type, self.timestamp, body_len, out);
        out.put_slice(&self.body);
        encode_prev_tag_size(body_len, out);
    }

    /// Bytes [`Tag::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        TAG_HEADER_LEN + self.body.len() + PREV_TAG_SIZE_LEN
    }
}

/// Incremental FLV stream decoder.
///
/// States: expecting the file header (9 bytes + PreviousTagSize0) → expecting tags (header,
/// body, PreviousTagSize) until the input ends. [`FlvReader::decode`] takes bytes from the
/// front of the caller's buffer only when a whole unit is there; `Ok(None)` means "read more
/// and call again". The body is split off the buffer without copying.
#[derive(Debug)]
pub struct FlvReader {
    max_tag_len: u32,
    file_header: Option<FileHeader>,
    offset: u64,
}

impl FlvReader {
    /// `max_tag_len` caps a tag body. The peer chooses DataSize (up to 16 MiB); the cap is
    /// checked as soon as the tag header is in, before the caller buffers the body, so the
    /// caller's buffer never needs more than `max_tag_len + 15` bytes.
    pub fn new(max_tag_len: u32) -> FlvReader {
        FlvReader {
            max_tag_len,
            file_header: None,
            offset: 0,
        }
    }

    /// The file header, once decoded.
    pub fn file_header(&self) -> Option<FileHeader> {
        self.file_header
    }

    /// Bytes consumed so far: the offset in the stream of the next unit.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Decodes the next tag from the front of `input`, consuming the file header first.
    /// `Ok(None)`: need more bytes (nothing of an incomplete tag is consumed). On error
    /// nothing is consumed and the stream cannot continue.
    pub fn decode(&mut self, input: &mut BytesMut) -> Result<Option<Tag>, FlvError> {
        if self.file_header.is_none() {
            let Some((header, used)) = FileHeader::decode(input)? else {
                return Ok(None);
            };
            input.advance(used);
            self.offset += used as u64;
            self.file_header = Some(header);
        }
        let head = match TagHeader::decode(input) {
            Ok(Some((head, _))) => head,
            Ok(None) => return Ok(None),
            Err(FlvError::EncryptedTag { .. }) => {
                return Err(FlvError::EncryptedTag {
                    offset: self.offset,
                })
            }
            Err(e) => return Err(e),
        };
        if head.body_len > self.max_tag_len {
            return Err(FlvError::TagTooLong {
                offset: self.offset,
                len: head.body_len,
                max: self.max_tag_len,
            });
        }
        // body_len <= max_tag_len <= u32::MAX fits usize on every supported target.
        let body_len = head.body_len as usize;
        let prev_at = TAG_HEADER_LEN + body_len;
        let total = prev_at + PREV_TAG_SIZE_LEN;
        if input.len() < total {
            return Ok(None);
        }
        let found = u32_at(input, prev_at)?;
        let expected = head.body_len + TAG_HEADER_LEN as u32;
        if found != expected {
            return Err(FlvError::BadPrevTagSize {
                offset: self.offset + prev_at as u64,
                expected,
                found,
            });
        }
        input.advance(TAG_HEADER_LEN);
        let body = input.split_to(body_len).freeze();
        input.advance(PREV_TAG_SIZE_LEN);
        self.offset += total as u64;
        Ok(Some(Tag {
            tag_type: head.tag_type,
            timestamp: head.timestamp,
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    // -----------------------------------------------------------------------------------------
    // Golden bodies. The tables double as fuzz seeds.
    // -----------------------------------------------------------------------------------------

    /// AVCDecoderConfigurationRecord start of an x264 High profile stream.
    const AVC_SEQ: &[u8] = &[
        0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64,
        0x00, 0x1f,
    ];
    const AVC_KEY_CTS_50: &[u8] = &[
        0x17, 0x01, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x02, 0x65, 0x88,
    ];
    const AVC_INTER: &[u8] = &[
        0x27, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x41, 0x9a,
    ];
    const AVC_NEG_CTS: &[u8] = &[
        0x27, 0x01, 0xff, 0xff, 0xf6, 0x00, 0x00, 0x00, 0x02, 0x41, 0x9a,
    ];
    const AVC_EOS: &[u8] = &[0x17, 0x02, 0x00, 0x00, 0x00];
    const HEVC_LEGACY_SEQ: &[u8] = &[0x1c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x60, 0x00];
    const HEVC_LEGACY_INTER: &[u8] = &[0x2c, 0x01, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x02];
    const HVC1_SEQ: &[u8] = &[0x90, b'h', b'v', b'c', b'1', 0x01, 0x01, 0x60, 0x00];
    const HVC1_CODED_CTS: &[u8] = &[
        0x91, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x26,
    ];
    const HVC1_CODED_NEG_CTS: &[u8] = &[
        0xa1, b'h', b'v', b'c', b'1', 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x02,
    ];
    const HVC1_CODED_X: &[u8] = &[0x93, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x00, 0x01, 0x26];
    const HVC1_END: &[u8] = &[0x92, b'h', b'v', b'c', b'1'];
    const AVC1_CODED_CTS: &[u8] = &[
        0xa1, b'a', b'v', b'c', b'1', 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x41,
    ];
    const AV01_SEQ: &[u8] = &[0x90, b'a', b'v', b'0', b'1', 0x81, 0x00, 0x0c, 0x00];
    const AV01_CODED: &[u8] = &[0xa1, b'a', b'v', b'0', b'1', 0x12, 0x00, 0x0a];
    const VP09_CODED: &[u8] = &[0x91, b'v', b'p', b'0', b'9', 0x82, 0x49, 0x83];
    const VP08_CODED: &[u8] = &[0x91, b'v', b'p', b'0', b'8', 0x10];
    /// ModEx TimestampOffsetNano (size byte 2 = 3 bytes of data), then CodedFrames hvc1.
    const HVC1_MOD_EX: &[u8] = &[
        0x97, 0x02, 0x00, 0x00, 0x64, 0x01, b'h', b'v', b'c', b'1', 0x00, 0x00, 0x0a, 0x26,
    ];
    /// Legacy Sorenson H.263 (CodecID 2): payload right after byte 0.
    const H263: &[u8] = &[0x22, 0x00, 0x00, 0x84];

    const AAC_SEQ: &[u8] = &[0xaf, 0x00, 0x12, 0x10];
    const AAC_RAW: &[u8] = &[0xaf, 0x01, 0x21, 0x10, 0x04, 0x60];
    const MP3: &[u8] = &[0x2f, 0xff, 0xfb, 0x90, 0x64];
    const MP3_8K: &[u8] = &[0xe2, 0xff, 0xf3];
    const G711A_BODY: &[u8] = &[0x72, 0xd5, 0xd5, 0x54];
    const G711U_BODY: &[u8] = &[0x82, 0xff, 0x7f, 0xfe];
    const SPEEX: &[u8] = &[0xb6, 0x01];
    const OPUS_SEQ: &[u8] = &[
        0x90, b'O', b'p', b'u', b's', b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 0x01, 0x02,
    ];
    const OPUS_CODED: &[u8] = &[0x91, b'O', b'p', b'u', b's', 0xfc, 0xff, 0xfe];
    const MP4A_SEQ: &[u8] = &[0x90, b'm', b'p', b'4', b'a', 0x12, 0x10];
    const DOT_MP3_CODED: &[u8] = &[0x91, b'.', b'm', b'p', b'3', 0xff, 0xfb];
    const FLAC_SEQ: &[u8] = &[0x90, b'f', b'L', b'a', b'C', 0x66];
    /// ModEx with a 16-bit size: UI8 0xff means UI16 + 1 follows (here 0x0100 + 1 = 257).
    fn opus_mod_ex_long() -> Vec<u8> {
        let mut body = vec![0x97, 0xff, 0x01, 0x00];
        body.extend_from_slice(&[0u8; 257]);
        body.push(0x01); // ModExType 0, AudioPacketType CodedFrames
        body.extend_from_slice(b"Opus");
        body.push(0xfc);
        body
    }

    struct VideoCase {
        name: &'static str,
        body: &'static [u8],
        want: VideoTag,
    }

    fn video(
        codec: VideoCodec,
        enhanced: bool,
        keyframe: bool,
        seq: bool,
        eos: bool,
        cts: i32,
        at: usize,
    ) -> VideoTag {
        VideoTag {
            codec,
            enhanced,
            keyframe,
            sequence_header: seq,
            end_of_sequence: eos,
            composition_time: cts,
            payload_offset: at,
        }
    }

    fn video_cases() -> Vec<VideoCase> {
        use VideoCodec::*;
        let f = fourcc::from_bytes;
        vec![
            VideoCase {
                name: "legacy AVC sequence header",
                body: AVC_SEQ,
                want: video(Avc, false, true, true, false, 0, 5),
            },
            VideoCase {
                name: "legacy AVC keyframe, CTS 0x50",
                body: AVC_KEY_CTS_50,
                want: video(Avc, false, true, false, false, 0x50, 5),
            },
            VideoCase {
                name: "legacy AVC inter frame",
                body: AVC_INTER,
                want: video(Avc, false, false, false, false, 0, 5),
            },
            VideoCase {
                name: "legacy AVC negative CTS",
                body: AVC_NEG_CTS,
                want: video(Avc, false, false, false, false, -10, 5),
            },
            VideoCase {
                name: "legacy AVC end of sequence",
                body: AVC_EOS,
                want: video(Avc, false, true, false, true, 0, 5),
            },
            VideoCase {
                name: "legacy HEVC (id 12) sequence header",
                body: HEVC_LEGACY_SEQ,
                want: video(Hevc, false, true, true, false, 0, 5),
            },
            VideoCase {
                name: "legacy HEVC (id 12) inter frame",
                body: HEVC_LEGACY_INTER,
                want: video(Hevc, false, false, false, false, 40, 5),
            },
            VideoCase {
                name: "enhanced hvc1 SequenceStart",
                body: HVC1_SEQ,
                want: video(Hevc, true, true, true, false, 0, 5),
            },
            VideoCase {
                name: "enhanced hvc1 CodedFrames with CTS",
                body: HVC1_CODED_CTS,
                want: video(Hevc, true, true, false, false, 40, 8),
            },
            VideoCase {
                name: "enhanced hvc1 CodedFrames negative CTS",
                body: HVC1_CODED_NEG_CTS,
                want: video(Hevc, true, false, false, false, -1, 8),
            },
            VideoCase {
                name: "enhanced hvc1 CodedFramesX",
                body: HVC1_CODED_X,
                want: video(Hevc, true, true, false, false, 0, 5),
            },
            VideoCase {
                name: "enhanced hvc1 SequenceEnd",
                body: HVC1_END,
                want: video(Hevc, true, true, false, true, 0, 5),
            },
            VideoCase {
                name: "enhanced avc1 CodedFrames with CTS",
                body: AVC1_CODED_CTS,
                want: video(Avc, true, false, false, false, 0x50, 8),
            },
            VideoCase {
                name: "enhanced av01 SequenceStart",
                body: AV01_SEQ,
                want: video(Av1, true, true, true, false, 0, 5),
            },
            VideoCase {
                name: "enhanced av01 CodedFrames (no CTS)",
                body: AV01_CODED,
                want: video(Av1, true, false, false, false, 0, 5),
            },
            VideoCase {
                name: "enhanced vp09 CodedFrames (no CTS)",
                body: VP09_CODED,
                want: video(Vp9, true, true, false, false, 0, 5),
            },
            VideoCase {
                name: "enhanced vp08 keeps its FourCC",
                body: VP08_CODED,
                want: video(Other(f(b"vp08")), true, true, false, false, 0, 5),
            },
            VideoCase {
                name: "enhanced ModEx TimestampOffsetNano then hvc1 CodedFrames",
                body: HVC1_MOD_EX,
                want: video(Hevc, true, true, false, false, 10, 13),
            },
            VideoCase {
                name: "legacy H.263 keeps its CodecID",
                body: H263,
                want: video(Other(2), false, false, false, false, 0, 1),
            },
        ]
    }

    struct AudioCase {
        name: &'static str,
        body: Vec<u8>,
        want: AudioTag,
    }

    fn audio(
        codec: AudioCodec,
        enhanced: bool,
        seq: bool,
        rate_size_type: (u8, u8, u8),
        at: usize,
    ) -> AudioTag {
        AudioTag {
            codec,
            enhanced,
            sequence_header: seq,
            sound_rate: rate_size_type.0,
            sound_size: rate_size_type.1,
            sound_type: rate_size_type.2,
            payload_offset: at,
        }
    }

    fn audio_cases() -> Vec<AudioCase> {
        use AudioCodec::*;
        let case = |name, body: &[u8], want| AudioCase {
            name,
            body: body.to_vec(),
            want,
        };
        let ex = (0, 0, 0);
        vec![
            case(
                "legacy AAC sequence header",
                AAC_SEQ,
                audio(Aac, false, true, (3, 1, 1), 2),
            ),
            case(
                "legacy AAC raw",
                AAC_RAW,
                audio(Aac, false, false, (3, 1, 1), 2),
            ),
            case("legacy MP3", MP3, audio(Mp3, false, false, (3, 1, 1), 1)),
            case(
                "legacy MP3 8 kHz",
                MP3_8K,
                audio(Mp3, false, false, (0, 1, 0), 1),
            ),
            case(
                "legacy G.711 A-law",
                G711A_BODY,
                audio(G711A, false, false, (0, 1, 0), 1),
            ),
            case(
                "legacy G.711 mu-law",
                G711U_BODY,
                audio(G711U, false, false, (0, 1, 0), 1),
            ),
            case(
                "legacy Speex",
                SPEEX,
                audio(Other(11), false, false, (1, 1, 0), 1),
            ),
            case(
                "enhanced Opus SequenceStart",
                OPUS_SEQ,
                audio(Opus, true, true, ex, 5),
            ),
            case(
                "enhanced Opus CodedFrames",
                OPUS_CODED,
                audio(Opus, true, false, ex, 5),
            ),
            case(
                "enhanced mp4a SequenceStart",
                MP4A_SEQ,
                audio(Aac, true, true, ex, 5),
            ),
            case(
                "enhanced .mp3 CodedFrames",
                DOT_MP3_CODED,
                audio(Mp3, true, false, ex, 5),
            ),
            case(
                "enhanced fLaC keeps its FourCC",
                FLAC_SEQ,
                audio(Other(fourcc::FLAC), true, true, ex, 5),
            ),
            AudioCase {
                name: "enhanced ModEx with a 16-bit size",
                body: opus_mod_ex_long(),
                want: audio(Opus, true, false, ex, 1 + 3 + 257 + 1 + 4),
            },
        ]
    }

    #[test]
    fn video_golden_bodies() {
        for case in video_cases() {
            assert_eq!(parse_video(case.body), Ok(case.want), "{}", case.name);
        }
    }

    #[test]
    fn audio_golden_bodies() {
        for case in audio_cases() {
            assert_eq!(parse_audio(&case.body), Ok(case.want), "{}", case.name);
        }
    }

    /// Every prefix that cuts into the header or leaves no payload is an error; longer
    /// prefixes (a shortened payload) cannot be told apart from a short frame and still
    /// classify the same way.
    #[test]
    fn every_truncation_of_golden_bodies() {
        for case in video_cases() {
            let min = case.want.payload_offset + usize::from(!case.want.end_of_sequence);
            for cut in 0..case.body.len() {
                let got = parse_video(&case.body[..cut]);
                if cut < min {
                    match got {
                        Err(FlvError::Truncated { needed, len }) => {
                            assert!(needed > len && len == cut, "{} at {cut}", case.name)
                        }
                        other => panic!("{} cut at {cut}: {other:?}", case.name),
                    }
                } else {
                    assert_eq!(got, Ok(case.want), "{} cut at {cut}", case.name);
                }
            }
        }
        for case in audio_cases() {
            let min = case.want.payload_offset + 1;
            for cut in 0..case.body.len() {
                let got = parse_audio(&case.body[..cut]);
                if cut == 0 {
                    assert_eq!(got, Err(FlvError::NotMedia(NotMedia::AudioSilence)));
                } else if cut < min {
                    match got {
                        Err(FlvError::Truncated { needed, len }) => {
                            assert!(needed > len && len == cut, "{} at {cut}", case.name)
                        }
                        other => panic!("{} cut at {cut}: {other:?}", case.name),
                    }
                } else {
                    assert_eq!(got, Ok(case.want), "{} cut at {cut}", case.name);
                }
            }
        }
    }

    #[test]
    fn video_messages_without_frames() {
        let cmd = |c| Err(FlvError::NotMedia(NotMedia::VideoCommand(c)));
        // Legacy AVC command frame: the AVC header is still there, then the command.
        assert_eq!(parse_video(&[0x57, 0x00, 0x00, 0x00, 0x00, 0x01]), cmd(1));
        // Legacy non-AVC command frame: the command right after byte 0.
        assert_eq!(parse_video(&[0x52, 0x00]), cmd(0));
        // Enhanced command frame (FrameType 5, CodedFrames): command byte, no FourCC.
        assert_eq!(parse_video(&[0xd1, 0x00]), cmd(0));
        // ... but FrameType is ignored for Metadata, which has a FourCC and an AMF body.
        let mut meta = vec![0xd4];
        meta.extend_from_slice(b"hvc1\x02\x00\x09colorInfo");
        assert_eq!(
            parse_video(&meta),
            Err(FlvError::NotMedia(NotMedia::VideoMetadata))
        );
        assert_eq!(
            parse_video(b"\x84hvc1\x02"),
            Err(FlvError::NotMedia(NotMedia::VideoMetadata))
        );
    }

    #[test]
    fn unsupported_video() {
        let unsupported =
            |body: &[u8]| matches!(parse_video(body), Err(FlvError::Unsupported { .. }));
        assert!(
            unsupported(b"\x96\x00hvc1\x00\x00\x00\x00\x01\x26"),
            "Multitrack"
        );
        assert!(unsupported(b"\x95av01\x80"), "MPEG2TSSequenceStart");
        assert!(unsupported(b"\x98hvc1\x00"), "reserved VideoPacketType 8");
        assert!(unsupported(b"\x9fhvc1\x00"), "reserved VideoPacketType 15");
        assert!(unsupported(&[0x17, 0x03, 0, 0, 0, 0]), "AVCPacketType 3");
        assert!(
            unsupported(b"\x97\x00\x00\x06hvc1\x00"),
            "Multitrack after ModEx"
        );
    }

    #[test]
    fn audio_messages_without_frames_and_unsupported() {
        assert_eq!(
            parse_audio(&[]),
            Err(FlvError::NotMedia(NotMedia::AudioSilence))
        );
        assert_eq!(
            parse_audio(b"\x92Opus"),
            Err(FlvError::NotMedia(NotMedia::AudioSequenceEnd))
        );
        assert_eq!(
            parse_audio(b"\x94Opus\x01\x02"),
            Err(FlvError::NotMedia(NotMedia::AudioMultichannelConfig))
        );
        let unsupported =
            |body: &[u8]| matches!(parse_audio(body), Err(FlvError::Unsupported { .. }));
        assert!(unsupported(b"\x95\x00Opus\x00\x01"), "Multitrack");
        assert!(unsupported(b"\x93Opus\x00"), "reserved AudioPacketType 3");
        assert!(unsupported(b"\x96Opus\x00"), "reserved AudioPacketType 6");
        assert!(unsupported(&[0xaf, 0x02, 0x00]), "AACPacketType 2");
    }

    #[test]
    fn codec_ids() {
        assert_eq!(VideoCodec::from_legacy_id(7), VideoCodec::Avc);
        assert_eq!(VideoCodec::from_legacy_id(12), VideoCodec::Hevc);
        assert_eq!(VideoCodec::from_legacy_id(4), VideoCodec::Other(4));
        assert_eq!(fourcc::AV01, 0x6176_3031);
        assert_eq!(
            VideoCodec::from_fourcc(fourcc::VVC1),
            VideoCodec::Other(fourcc::VVC1)
        );
        assert_eq!(AudioCodec::from_sound_format(14), AudioCodec::Mp3);
        assert_eq!(AudioCodec::from_sound_format(13), AudioCodec::Other(13));
        assert_eq!(
            AudioCodec::from_fourcc(fourcc::AC3),
            AudioCodec::Other(fourcc::AC3)
        );
    }

    // -----------------------------------------------------------------------------------------
    // Container
    // -----------------------------------------------------------------------------------------

    #[test]
    fn file_header_golden() {
        let mut out = Vec::new();
        encode_file_header(true, true, &mut out);
        assert_eq!(out, b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00");
        assert_eq!(out.len(), FILE_HEADER_LEN + PREV_TAG_SIZE_LEN);
        out.clear();
        encode_file_header(true, false, &mut out);
        assert_eq!(out[4], 0x04);
        out.clear();
        encode_file_header(false, true, &mut out);
        assert_eq!(out[4], 0x01);
        let (header, used) = FileHeader::decode(&out).unwrap().unwrap();
        assert_eq!(used, 13);
        assert_eq!(
            header,
            FileHeader {
                has_audio: false,
                has_video: true
            }
        );
    }

    #[test]
    fn tag_header_golden() {
        let mut out = Vec::new();
        encode_tag_header(TagType::Video, 0x1234_5678, 0x0102, &mut out);
        assert_eq!(
            out,
            [0x09, 0x00, 0x01, 0x02, 0x34, 0x56, 0x78, 0x12, 0x00, 0x00, 0x00]
        );
        assert_eq!(out.len(), TAG_HEADER_LEN);
        let (head, used) = TagHeader::decode(&out).unwrap().unwrap();
        assert_eq!(used, TAG_HEADER_LEN);
        assert_eq!(
            head,
            TagHeader {
                tag_type: TagType::Video,
                timestamp: 0x1234_5678,
                body_len: 0x0102
            }
        );
        assert_eq!(TagHeader::decode(&out[..10]), Ok(None));
        out.clear();
        encode_prev_tag_size(5, &mut out);
        assert_eq!(out, [0, 0, 0, 16]);
        assert_eq!(TagType::from(8), TagType::Audio);
        assert_eq!(TagType::from(18), TagType::Script);
        assert_eq!(TagType::from(7), TagType::Unknown(7));
        assert_eq!(u8::from(TagType::Script), 18);
    }

    fn sample_tags() -> Vec<Tag> {
        let tag = |tag_type, timestamp, body: &'static [u8]| Tag {
            tag_type,
            timestamp,
            body: Bytes::from_static(body),
        };
        vec![
            tag(
                TagType::Script,
                0,
                b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09",
            ),
            tag(TagType::Video, 0, AVC_SEQ),
            tag(TagType::Audio, 0, AAC_SEQ),
            tag(TagType::Video, 40, AVC_KEY_CTS_50),
            tag(TagType::Audio, 23, AAC_RAW),
            // Past 2^24 ms (4.6 h): the high byte goes to TimestampExtended.
            tag(TagType::Video, 0x0100_0000 + 80, AVC_INTER),
            tag(TagType::Unknown(0x1f), 0xffff_ffff, b""),
            tag(TagType::Video, 0xffff_ffff, AVC_EOS),
        ]
    }

    fn sample_stream() -> Vec<u8> {
        let mut out = Vec::new();
        encode_file_header(true, true, &mut out);
        for tag in sample_tags() {
            let before = out.len();
            tag.encode(&mut out);
            assert_eq!(out.len() - before, tag.encoded_len());
        }
        out
    }

    fn drain(reader: &mut FlvReader, buf: &mut BytesMut, tags: &mut Vec<Tag>) {
        while let Some(tag) = reader.decode(buf).expect("valid stream") {
            tags.push(tag);
        }
    }

    #[test]
    fn reader_round_trip_at_every_split() {
        let stream = sample_stream();
        for split in 0..=stream.len() {
            let mut reader = FlvReader::new(1024);
            let mut buf = BytesMut::from(&stream[..split]);
            let mut tags = Vec::new();
            drain(&mut reader, &mut buf, &mut tags);
            buf.extend_from_slice(&stream[split..]);
            drain(&mut reader, &mut buf, &mut tags);
            assert_eq!(tags, sample_tags(), "split at {split}");
            assert!(buf.is_empty());
            assert_eq!(reader.offset(), stream.len() as u64);
        }
    }

    #[test]
    fn reader_byte_by_byte() {
        let stream = sample_stream();
        let mut reader = FlvReader::new(1024);
        let mut buf = BytesMut::new();
        let mut tags = Vec::new();
        for &b in &stream {
            buf.extend_from_slice(&[b]);
            drain(&mut reader, &mut buf, &mut tags);
        }
        assert_eq!(tags, sample_tags());
        assert_eq!(
            reader.file_header(),
            Some(FileHeader {
                has_audio: true,
                has_video: true
            })
        );
    }

    #[test]
    fn reader_refuses_long_tag_before_its_body_arrives() {
        let mut stream = Vec::new();
        encode_file_header(false, true, &mut stream);
        encode_tag_header(TagType::Video, 0, 100_000, &mut stream);
        let mut reader = FlvReader::new(65_536);
        let mut buf = BytesMut::from(&stream[..]);
        let err = FlvError::TagTooLong {
            offset: 13,
            len: 100_000,
            max: 65_536,
        };
        assert_eq!(reader.decode(&mut buf), Err(err.clone()));
        assert_eq!(buf.len(), TAG_HEADER_LEN, "nothing of the tag consumed");
        assert_eq!(reader.decode(&mut buf), Err(err), "the error repeats");
    }

    #[test]
    fn reader_rejects_bad_streams() {
        let mut reader = FlvReader::new(1024);
        assert_eq!(reader.decode(&mut BytesMut::from(&b"FL"[..])), Ok(None));
        assert!(matches!(
            reader.decode(&mut BytesMut::from(&b"<"[..])),
            Err(FlvError::BadFileHeader { .. })
        ));
        assert!(matches!(
            reader.decode(&mut BytesMut::from(&b"HTTP/1.1 404"[..])),
            Err(FlvError::BadFileHeader { .. })
        ));
        let bad_version = b"FLV\x02\x05\x00\x00\x00\x09\x00\x00\x00\x00";
        assert!(matches!(
            FileHeader::decode(bad_version),
            Err(FlvError::BadFileHeader { .. })
        ));
        let bad_offset = b"FLV\x01\x05\x00\x00\x00\x0a\x00\x00\x00\x00";
        assert!(matches!(
            FileHeader::decode(bad_offset),
            Err(FlvError::BadFileHeader { .. })
        ));

        let mut stream = sample_stream();
        // PreviousTagSize after the first tag: corrupt it.
        let first = &sample_tags()[0];
        let at = 13 + TAG_HEADER_LEN + first.body.len();
        stream[at + 3] ^= 1;
        let mut reader = FlvReader::new(1024);
        let mut buf = BytesMut::from(&stream[..]);
        assert_eq!(
            reader.decode(&mut buf),
            Err(FlvError::BadPrevTagSize {
                offset: at as u64,
                expected: first.body.len() as u32 + 11,
                found: (first.body.len() as u32 + 11) ^ 1,
            })
        );

        let mut stream = Vec::new();
        encode_file_header(true, false, &mut stream);
        stream.extend_from_slice(&[0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xaf, 0, 0, 0, 12]);
        let mut reader = FlvReader::new(1024);
        assert_eq!(
            reader.decode(&mut BytesMut::from(&stream[..])),
            Err(FlvError::EncryptedTag { offset: 13 })
        );
    }

    /// A real file: ffmpeg 5.1.9 (Debian 12), 64x48 testsrc at 10 fps, 440 Hz sine, 1 s:
    /// `ffmpeg -f lavfi -i testsrc=size=64x48:rate=10 -f lavfi -i sine=frequency=440:sample_rate=44100
    ///  -t 1 -c:v libx264 -g 5 -sc_threshold 0 -c:a aac -b:a 32k -fflags +bitexact
    ///  -flags:v +bitexact -flags:a +bitexact ffmpeg-5.1-h264-aac-1s.flv`.
    /// ffprobe counts 10 video and 45 audio packets; ffmpeg adds onMetaData, both sequence
    /// headers and an AVC end of sequence.
    #[test]
    fn reads_ffmpeg_capture() {
        let file: &[u8] = include_bytes!("../../tests/data/ffmpeg-5.1-h264-aac-1s.flv");
        let mut reader = FlvReader::new(1 << 20);
        // Fed in uneven pieces, as a socket would.
        let mut buf = BytesMut::new();
        let mut tags = Vec::new();
        for piece in file.chunks(97) {
            buf.extend_from_slice(piece);
            drain(&mut reader, &mut buf, &mut tags);
        }
        assert!(buf.is_empty());
        assert_eq!(
            reader.file_header(),
            Some(FileHeader {
                has_audio: true,
                has_video: true
            })
        );
        assert_eq!(tags[0].tag_type, TagType::Script);
        assert!(tags[0].body.starts_with(b"\x02\x00\x0aonMetaData"));

        let videos: Vec<(u32, VideoTag)> = tags
            .iter()
            .filter(|t| t.tag_type == TagType::Video)
            .map(|t| (t.timestamp, parse_video(&t.body).expect("ffmpeg video tag")))
            .collect();
        let audios: Vec<AudioTag> = tags
            .iter()
            .filter(|t| t.tag_type == TagType::Audio)
            .map(|t| parse_audio(&t.body).expect("ffmpeg audio tag"))
            .collect();
        assert_eq!(tags.len(), 1 + videos.len() + audios.len());

        let (_, first) = videos[0];
        assert!(first.sequence_header && first.codec == VideoCodec::Avc && !first.enhanced);
        assert!(videos.last().unwrap().1.end_of_sequence);
        let frames: Vec<&(u32, VideoTag)> = videos
            .iter()
            .filter(|(_, v)| !v.sequence_header && !v.end_of_sequence)
            .collect();
        assert_eq!(frames.len(), 10);
        // -g 5 over 10 frames: IDR at frame 0 and frame 5 (t = 0 and 500 ms).
        let keys: Vec<u32> = frames
            .iter()
            .filter(|(_, v)| v.keyframe)
            .map(|(ts, _)| *ts)
            .collect();
        assert_eq!(keys, [0, 500]);
        // B-frames: the first frame is shown at 200 ms, decoded at 0 (as ffprobe says).
        assert_eq!(frames[0].1.composition_time, 200);
        assert!(frames.iter().all(|(_, v)| v.composition_time >= 0));

        assert!(audios[0].sequence_header && audios[0].codec == AudioCodec::Aac);
        assert_eq!(audios.iter().filter(|a| a.sequence_header).count(), 1);
        assert_eq!(audios.len(), 1 + 45);
        assert!(audios
            .iter()
            .all(|a| a.codec == AudioCodec::Aac && a.payload_offset == 2));
    }

    // -----------------------------------------------------------------------------------------
    // No panic on any input
    // -----------------------------------------------------------------------------------------

    fn check_video(body: &[u8]) {
        if let Ok(tag) = parse_video(body) {
            assert!(tag.payload_offset <= body.len(), "{body:02x?}");
        }
    }

    fn check_audio(body: &[u8]) {
        if let Ok(tag) = parse_audio(body) {
            assert!(tag.payload_offset < body.len(), "{body:02x?}");
        }
    }

    /// Legacy AVC/HEVC/AAC/MP3/G.711, every enhanced packet type, command frames, ModEx.
    const INTERESTING_FIRST_BYTES: &[u8] = &[
        0x17, 0x27, 0x1c, 0x2c, 0x57, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0xa1, 0xd1,
        0xd4, 0xaf, 0x2f, 0x72, 0x82, 0x00, 0xff,
    ];

    #[test]
    fn fuzz_bodies_never_panic() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut seeds: Vec<Vec<u8>> = video_cases().iter().map(|c| c.body.to_vec()).collect();
        seeds.extend(audio_cases().into_iter().map(|c| c.body));
        for i in 0..10_000 {
            let body: Vec<u8> = if i % 2 == 0 {
                // Random bytes, biased to the interesting first-byte values.
                let len = rng.below(24);
                let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if let Some(first) = b.first_mut() {
                    if rng.below(2) == 0 {
                        *first = INTERESTING_FIRST_BYTES[rng.below(INTERESTING_FIRST_BYTES.len())];
                    }
                }
                b
            } else {
                // A golden body with a few bytes flipped and a random cut.
                let mut b = seeds[rng.below(seeds.len())].clone();
                for _ in 0..rng.below(4) {
                    let at = rng.below(b.len());
                    b[at] = rng.next() as u8;
                }
                b.truncate(rng.below(b.len() + 1));
                b
            };
            check_video(&body);
            check_audio(&body);
        }
    }

    #[test]
    fn fuzz_reader_never_panics() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let stream = sample_stream();
        for _ in 0..2_000 {
            let mut bytes = stream.clone();
            for _ in 0..rng.below(6) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            bytes.truncate(rng.below(bytes.len() + 1));
            let mut reader = FlvReader::new(64);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(tag)) = reader.decode(&mut buf) {
                assert!(tag.body.len() <= 64);
            }
        }
    }
}
