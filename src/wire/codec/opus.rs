//! Opus: the identification header ("OpusHead", RFC 7845 §5.1) an Enhanced RTMP `Opus`
//! SequenceStart carries, and Matroska and Ogg carry as the codec's setup.
//!
//! The same facts go into an MP4 `dOps` box (Opus in ISOBMFF §4.3.2), big-endian there where
//! OpusHead is little-endian.

use bytes::Bytes;

use super::CodecError;

/// The magic signature OpusHead starts with.
const MAGIC: &[u8; 8] = b"OpusHead";
/// Field offsets after the magic (RFC 7845 §5.1, Figure 2).
const VERSION_AT: usize = 8;
const CHANNELS_AT: usize = 9;
const PRE_SKIP_AT: usize = 10;
const INPUT_RATE_AT: usize = 12;
const OUTPUT_GAIN_AT: usize = 16;
const MAPPING_FAMILY_AT: usize = 18;
/// Bytes of the header with channel mapping family 0 (no mapping table).
const FAMILY_0_LEN: usize = 19;
const STREAM_COUNT_AT: usize = 19;
const COUPLED_COUNT_AT: usize = 20;
const MAPPING_AT: usize = 21;
/// The upper nibble of the version is the major version; readers take any minor version of
/// major 0 (§5.1: "MUST NOT reject ... versions 0 to 15").
const VERSION_MAJOR_MASK: u8 = 0xf0;
/// A mapping table entry that means "silence" (§5.1.1).
const SILENT_CHANNEL: u8 = 255;

/// The fields of an OpusHead. Opus always decodes at 48 kHz; `input_sample_rate` is the
/// original rate, informational only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count, 1 to 255.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder output at the start.
    pub pre_skip: u16,
    pub input_sample_rate: u32,
    /// Q7.8 dB.
    pub output_gain: i16,
    /// 0: mono or stereo, no table; 1: Vorbis channel order; 255: undefined order.
    pub mapping_family: u8,
    /// With a mapping table: the number of Opus streams and of coupled (stereo) ones.
    pub stream_count: u8,
    pub coupled_count: u8,
    /// With a mapping table: one entry per output channel.
    pub mapping: Bytes,
}

impl OpusHead {
    /// Parses an identification header, checking what §5.1 and §5.1.1 require: version
    /// major 0, at least one channel, family 0 with 1 or 2 channels, otherwise a table with
    /// streams ≥ 1, coupled ≤ streams, streams + coupled ≤ 255 and every entry naming a
    /// decoded channel or 255. Bytes after the header are ignored.
    pub fn parse(head: &[u8]) -> Result<OpusHead, CodecError> {
        let truncated = CodecError::Truncated { what: "OpusHead" };
        let fixed = head.get(..FAMILY_0_LEN).ok_or(truncated)?;
        if &fixed[..VERSION_AT] != MAGIC {
            return Err(CodecError::Invalid {
                what: "OpusHead magic signature",
            });
        }
        if fixed[VERSION_AT] & VERSION_MAJOR_MASK != 0 {
            return Err(CodecError::Unsupported {
                what: "OpusHead major version (not 0)",
            });
        }
        let le16 = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let channels = fixed[CHANNELS_AT];
        let mapping_family = fixed[MAPPING_FAMILY_AT];
        let mut head_out = OpusHead {
            channels,
            pre_skip: le16(PRE_SKIP_AT),
            input_sample_rate: u32::from_le_bytes([
                fixed[INPUT_RATE_AT],
                fixed[INPUT_RATE_AT + 1],
                fixed[INPUT_RATE_AT + 2],
                fixed[INPUT_RATE_AT + 3],
            ]),
            output_gain: le16(OUTPUT_GAIN_AT) as i16,
            mapping_family,
            stream_count: 0,
            coupled_count: 0,
            mapping: Bytes::new(),
        };
        if channels == 0 {
            return Err(CodecError::Invalid {
                what: "OpusHead channel count 0",
            });
        }
        if mapping_family == 0 {
            if channels > 2 {
                return Err(CodecError::Invalid {
                    what: "OpusHead family 0 with more than 2 channels",
                });
            }
            return Ok(head_out);
        }
        let streams = *head.get(STREAM_COUNT_AT).ok_or(truncated)?;
        let coupled = *head.get(COUPLED_COUNT_AT).ok_or(truncated)?;
        let table = head
            .get(MAPPING_AT..MAPPING_AT + usize::from(channels))
            .ok_or(truncated)?;
        let decoded = u16::from(streams) + u16::from(coupled);
        if streams == 0 || coupled > streams || decoded > 255 {
            return Err(CodecError::Invalid {
                what: "OpusHead stream or coupled count",
            });
        }
        if table
            .iter()
            .any(|&c| c != SILENT_CHANNEL && u16::from(c) >= decoded)
        {
            return Err(CodecError::Invalid {
                what: "OpusHead channel mapping names a missing channel",
            });
        }
        head_out.stream_count = streams;
        head_out.coupled_count = coupled;
        head_out.mapping = Bytes::copy_from_slice(table);
        Ok(head_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // CodecPrivate of `ffmpeg -f lavfi -i sine=sample_rate=48000 [-ac 2 | -af pan=5.1...]
    // -c:a libopus x.mkv` (Debian ffmpeg 5.1).
    const OPUS_HEAD_STEREO: &[u8] = &[
        0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 0x01, 0x02, 0x38, 0x01, 0x80, 0xbb, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];
    const OPUS_HEAD_5_1: &[u8] = &[
        0x4f, 0x70, 0x75, 0x73, 0x48, 0x65, 0x61, 0x64, 0x01, 0x06, 0x38, 0x01, 0x80, 0xbb, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x04, 0x02, 0x00, 0x04, 0x01, 0x02, 0x03, 0x05,
    ];

    #[test]
    fn golden_heads() {
        assert_eq!(
            OpusHead::parse(OPUS_HEAD_STEREO),
            Ok(OpusHead {
                channels: 2,
                pre_skip: 312,
                input_sample_rate: 48_000,
                output_gain: 0,
                mapping_family: 0,
                stream_count: 0,
                coupled_count: 0,
                mapping: Bytes::new(),
            })
        );
        let surround = OpusHead::parse(OPUS_HEAD_5_1).unwrap();
        assert_eq!(
            (
                surround.channels,
                surround.mapping_family,
                surround.stream_count,
                surround.coupled_count
            ),
            (6, 1, 4, 2)
        );
        assert_eq!(surround.mapping[..], [0, 4, 1, 2, 3, 5]);
    }

    #[test]
    fn errors() {
        let with = |at: usize, value: u8, base: &[u8]| {
            let mut v = base.to_vec();
            v[at] = value;
            OpusHead::parse(&v)
        };
        assert!(matches!(
            with(0, b'o', OPUS_HEAD_STEREO),
            Err(CodecError::Invalid { .. })
        ));
        assert!(matches!(
            with(VERSION_AT, 0x10, OPUS_HEAD_STEREO),
            Err(CodecError::Unsupported { .. })
        ));
        assert!(with(VERSION_AT, 0x0f, OPUS_HEAD_STEREO).is_ok());
        assert!(with(CHANNELS_AT, 0, OPUS_HEAD_STEREO).is_err());
        assert!(with(CHANNELS_AT, 3, OPUS_HEAD_STEREO).is_err());
        assert!(with(STREAM_COUNT_AT, 0, OPUS_HEAD_5_1).is_err());
        assert!(with(COUPLED_COUNT_AT, 5, OPUS_HEAD_5_1).is_err());
        assert!(with(MAPPING_AT, 6, OPUS_HEAD_5_1).is_err());
        assert!(with(MAPPING_AT, SILENT_CHANNEL, OPUS_HEAD_5_1).is_ok());
        for head in [OPUS_HEAD_STEREO, OPUS_HEAD_5_1] {
            for cut in 0..head.len() {
                assert!(OpusHead::parse(&head[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
}
