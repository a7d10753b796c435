//! AV1: the AV1CodecConfigurationRecord an Enhanced RTMP `av01` SequenceStart carries
//! (AV1-ISOBMFF §2.3.3, the `av1C` box body) and the sequence header OBU in its configOBUs
//! (AV1 bitstream specification §5.3 OBU syntax, §5.5.1 sequence header), read as far as the
//! largest frame size.
//!
//! Not supported: a record whose configOBUs hold no sequence header (allowed by the binding
//! when the samples carry it; the picture size is then unknown here), OBUs without
//! obu_has_size_field in configOBUs (the binding requires the field there).

use super::bits::BitReader;
use super::{CodecError, MAX_PICTURE_DIMENSION};

/// Record byte 0: marker (1) = 1, version (7) = 1.
const RECORD_MARKER_VERSION: u8 = 0x81;
/// Bytes of the record before configOBUs.
const RECORD_FIXED_LEN: usize = 4;
/// obu_type of a sequence header (AV1 §6.2.2, Table "OBU types").
pub const OBU_SEQUENCE_HEADER: u8 = 1;
/// obu_type of a temporal delimiter: AV1-ISOBMFF §2.4 says samples should not carry it.
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
/// OBU header bits (§5.3.2): forbidden (1), obu_type (4), extension flag (1), has size (1),
/// reserved (1).
const OBU_FORBIDDEN_BIT: u8 = 0x80;
const OBU_EXTENSION_BIT: u8 = 0x04;
const OBU_HAS_SIZE_BIT: u8 = 0x02;
/// leb128() reads at most 8 bytes (§4.10.5).
const LEB128_MAX_BYTES: usize = 8;

/// The facts of an AV1CodecConfigurationRecord, and the picture size from its sequence
/// header OBU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Config {
    pub seq_profile: u8,
    pub seq_level_idx_0: u8,
    pub seq_tier_0: bool,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    /// max_frame_width_minus_1 + 1 of the sequence header: what the `av01` sample entry's
    /// width must be (AV1-ISOBMFF §2.2.3).
    pub max_width: u32,
    /// max_frame_height_minus_1 + 1.
    pub max_height: u32,
}

impl Av1Config {
    /// Parses a record (marker and version must be 1) and the sequence header OBU, which
    /// must be the first of configOBUs (§2.3.3: at most one, and first). Bytes after the
    /// sequence header's frame size fields are not read.
    pub fn parse(record: &[u8]) -> Result<Av1Config, CodecError> {
        let Some((fixed, obus)) = record.split_at_checked(RECORD_FIXED_LEN) else {
            return Err(CodecError::Truncated {
                what: "AV1CodecConfigurationRecord",
            });
        };
        if fixed[0] != RECORD_MARKER_VERSION {
            return Err(CodecError::Unsupported {
                what: "AV1CodecConfigurationRecord marker or version (not 1)",
            });
        }
        let (max_width, max_height) = parse_config_obus(obus)?;
        Ok(Av1Config {
            seq_profile: fixed[1] >> 5,
            seq_level_idx_0: fixed[1] & 0x1f,
            seq_tier_0: fixed[2] & 0x80 != 0,
            high_bitdepth: fixed[2] & 0x40 != 0,
            twelve_bit: fixed[2] & 0x20 != 0,
            monochrome: fixed[2] & 0x10 != 0,
            max_width,
            max_height,
        })
    }
}

/// The first OBU of configOBUs must be a sequence header with its size field (§2.3.3).
fn parse_config_obus(obus: &[u8]) -> Result<(u32, u32), CodecError> {
    let truncated = CodecError::Truncated {
        what: "AV1 configOBUs",
    };
    let &header = obus.first().ok_or(CodecError::Unsupported {
        what: "AV1 record without a sequence header OBU",
    })?;
    if header & OBU_FORBIDDEN_BIT != 0 {
        return Err(CodecError::Invalid {
            what: "AV1 OBU forbidden bit set",
        });
    }
    if (header >> 3) & 0x0f != OBU_SEQUENCE_HEADER {
        return Err(CodecError::Unsupported {
            what: "AV1 record whose first OBU is not a sequence header",
        });
    }
    if header & OBU_HAS_SIZE_BIT == 0 {
        return Err(CodecError::Invalid {
            what: "AV1 configOBUs OBU without obu_has_size_field",
        });
    }
    let mut at = 1 + usize::from(header & OBU_EXTENSION_BIT != 0);
    let (size, size_len) = leb128(obus.get(at..).ok_or(truncated)?)?;
    at += size_len;
    let payload = usize::try_from(size)
        .ok()
        .and_then(|size| obus.get(at..at.checked_add(size)?))
        .ok_or(truncated)?;
    parse_sequence_header(payload)
}

/// leb128() (§4.10.5): the value and the bytes it took. More than 8 bytes, or a value over
/// 2^32 - 1, is invalid.
pub fn leb128(input: &[u8]) -> Result<(u64, usize), CodecError> {
    let mut value = 0u64;
    for (i, &byte) in input.iter().take(LEB128_MAX_BYTES).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if value > u64::from(u32::MAX) {
                return Err(CodecError::Invalid {
                    what: "AV1 leb128 value above 2^32 - 1",
                });
            }
            return Ok((value, i + 1));
        }
    }
    if input.len() < LEB128_MAX_BYTES {
        Err(CodecError::Truncated { what: "AV1 leb128" })
    } else {
        Err(CodecError::Invalid {
            what: "AV1 leb128 longer than 8 bytes",
        })
    }
}

/// sequence_header_obu() (§5.5.1) up to max_frame_height_minus_1: the largest frame size.
pub fn parse_sequence_header(payload: &[u8]) -> Result<(u32, u32), CodecError> {
    let mut r = BitReader::raw(payload, "AV1 sequence header OBU");
    r.skip_bits(4)?; // seq_profile, still_picture
    let reduced_still_picture_header = r.read_bit()?;
    if reduced_still_picture_header {
        r.skip_bits(5)?; // seq_level_idx[0]
    } else {
        let timing_info_present = r.read_bit()?;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0;
        if timing_info_present {
            // timing_info() (§5.5.3): two 32-bit fields, equal_picture_interval, uvlc.
            r.skip_bits(64)?;
            if r.read_bit()? {
                skip_uvlc(&mut r)?;
            }
            decoder_model_info_present = r.read_bit()?;
            if decoder_model_info_present {
                // decoder_model_info() (§5.5.4).
                buffer_delay_length = r.read_bits(5)? + 1;
                r.skip_bits(32 + 5 + 5)?;
            }
        }
        let initial_display_delay_present = r.read_bit()?;
        let operating_points = r.read_bits(5)? + 1;
        for _ in 0..operating_points {
            r.skip_bits(12)?; // operating_point_idc
            let seq_level_idx = r.read_bits(5)?;
            if seq_level_idx > 7 {
                r.skip_bits(1)?; // seq_tier
            }
            if decoder_model_info_present && r.read_bit()? {
                // operating_parameters_info() (§5.5.5).
                r.skip_bits(2 * buffer_delay_length + 1)?;
            }
            if initial_display_delay_present && r.read_bit()? {
                r.skip_bits(4)?;
            }
        }
    }
    let width_bits = r.read_bits(4)? + 1;
    let height_bits = r.read_bits(4)? + 1;
    let width = u64::from(r.read_bits(width_bits)?) + 1;
    let height = u64::from(r.read_bits(height_bits)?) + 1;
    let max = u64::from(MAX_PICTURE_DIMENSION);
    if width > max || height > max {
        return Err(CodecError::Unsupported {
            what: "AV1 frame size above the largest supported picture",
        });
    }
    // Both are at most MAX_PICTURE_DIMENSION.
    Ok((width as u32, height as u32))
}

/// uvlc() (§4.10.3): leading zeros, then that many bits; 32 or more zeros stand for
/// 2^32 - 1 without further bits.
fn skip_uvlc(r: &mut BitReader<'_>) -> Result<(), CodecError> {
    let mut leading_zeros = 0u32;
    while !r.read_bit()? {
        leading_zeros += 1;
        if leading_zeros >= 32 {
            return Ok(());
        }
    }
    r.skip_bits(leading_zeros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    // Goldens from Debian's ffmpeg 5.1, the Matroska CodecPrivate (= av1C record) of
    //   ffmpeg -f lavfi -i testsrc=size=WxH:rate=25 -c:v ENCODER -g 25 x.mkv

    /// libsvtav1, 320x240: Main, level 0 (2.0), sequence header OBU of 11 bytes.
    const AV1C_SVT_320X240: &[u8] = &[
        0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x3c, 0xff, 0xbc, 0x02, 0xf8,
        0x00, 0x40,
    ];
    /// libaom-av1 (-cpu-used 8), 642x362: Main, level 1 (2.1).
    const AV1C_AOM_642X362: &[u8] = &[
        0x81, 0x21, 0x00, 0x00, 0x0a, 0x0d, 0x20, 0x00, 0x00, 0x0c, 0xc5, 0x03, 0x69, 0x36, 0xbe,
        0x48, 0x08, 0x68, 0x01,
    ];
    /// Packs a string of '0' and '1' (other characters ignored) into bytes, zero-padded.
    fn pack(bits: &str) -> Vec<u8> {
        let mut bits: String = bits.chars().filter(|c| *c == '0' || *c == '1').collect();
        while bits.len() % 8 != 0 {
            bits.push('0');
        }
        bits.as_bytes()
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |acc, b| (acc << 1) | (b - b'0')))
            .collect()
    }

    /// A reduced still picture header: profile 0, still, reduced, level 1, 4 + 4 bits of
    /// size fields, 16 x 10 (stored minus one).
    fn seq_reduced_16x10() -> Vec<u8> {
        pack("000 1 1 00001 0011 0011 1111 1001")
    }

    /// timing_info with equal_picture_interval and decoder_model_info, one operating point
    /// with level 9 (so a seq_tier bit) and operating parameters: 64 x 48.
    fn seq_timing_64x48() -> Vec<u8> {
        let mut bits = String::new();
        bits += "000 0 0"; // seq_profile, still_picture, reduced_still_picture_header
        bits += "1"; // timing_info_present_flag
        bits += &format!("{:032b}", 1); // num_units_in_display_tick
        bits += &format!("{:032b}", 25); // time_scale
        bits += "1"; // equal_picture_interval
        bits += "00100"; // uvlc: 2 leading zeros, then 00 → 3
        bits += "1"; // decoder_model_info_present_flag
        bits += "00011"; // buffer_delay_length_minus_1 = 3 → 4 bits each
        bits += &"0".repeat(32); // num_units_in_decoding_tick
        bits += "00000 00000"; // buffer_removal_time_length_minus_1, frame_presentation_...
        bits += "0"; // initial_display_delay_present_flag
        bits += "00000"; // operating_points_cnt_minus_1
        bits += &"0".repeat(12); // operating_point_idc
        bits += "01001 1"; // seq_level_idx 9, seq_tier
        bits += "1 1010 0101 0"; // decoder_model_present_for_this_op, delays, low_delay_mode
        bits += "0110 0101"; // frame_width_bits_minus_1 = 6, frame_height_bits_minus_1 = 5
        bits += &format!("{:07b}{:06b}", 63, 47);
        pack(&bits)
    }

    #[test]
    fn golden_records() {
        let svt = Av1Config::parse(AV1C_SVT_320X240).unwrap();
        assert_eq!(
            svt,
            Av1Config {
                seq_profile: 0,
                seq_level_idx_0: 0,
                seq_tier_0: false,
                high_bitdepth: false,
                twelve_bit: false,
                monochrome: false,
                max_width: 320,
                max_height: 240,
            }
        );
        let aom = Av1Config::parse(AV1C_AOM_642X362).unwrap();
        assert_eq!(
            (aom.seq_level_idx_0, aom.max_width, aom.max_height),
            (1, 642, 362)
        );
    }

    #[test]
    fn hand_packed_sequence_headers() {
        assert_eq!(parse_sequence_header(&seq_reduced_16x10()), Ok((16, 10)));
        assert_eq!(parse_sequence_header(&seq_timing_64x48()), Ok((64, 48)));
    }

    #[test]
    fn leb128_values_and_limits() {
        assert_eq!(leb128(&[0x0b]), Ok((11, 1)));
        assert_eq!(leb128(&[0x80, 0x01]), Ok((128, 2)));
        assert_eq!(
            leb128(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Ok((u64::from(u32::MAX), 5))
        );
        assert!(matches!(
            leb128(&[0xff, 0xff, 0xff, 0xff, 0x1f]),
            Err(CodecError::Invalid { .. })
        ));
        assert!(matches!(
            leb128(&[0x80; 8]),
            Err(CodecError::Invalid { .. })
        ));
        assert!(matches!(leb128(&[0x80]), Err(CodecError::Truncated { .. })));
        assert!(matches!(leb128(&[]), Err(CodecError::Truncated { .. })));
    }

    #[test]
    fn record_errors() {
        let mut bad = AV1C_SVT_320X240.to_vec();
        bad[0] = 0x01;
        assert!(matches!(
            Av1Config::parse(&bad),
            Err(CodecError::Unsupported { .. })
        ));
        // No configOBUs at all.
        assert!(matches!(
            Av1Config::parse(&AV1C_SVT_320X240[..4]),
            Err(CodecError::Unsupported { .. })
        ));
        // A metadata OBU (type 5) first.
        let mut meta = AV1C_SVT_320X240.to_vec();
        meta[4] = 0x2a;
        assert!(matches!(
            Av1Config::parse(&meta),
            Err(CodecError::Unsupported { .. })
        ));
        // No size field.
        let mut sizeless = AV1C_SVT_320X240.to_vec();
        sizeless[4] = 0x08;
        assert!(matches!(
            Av1Config::parse(&sizeless),
            Err(CodecError::Invalid { .. })
        ));
        // A frame size over the limit: 16 bits of width and height, all ones (65536).
        let huge = pack(&format!(
            "000 0 0 0 0 00000 {} 00000 1111 1111 {}",
            "0".repeat(12),
            "1".repeat(32)
        ));
        assert!(matches!(
            parse_sequence_header(&huge),
            Err(CodecError::Unsupported { .. })
        ));
    }

    #[test]
    fn every_truncation_errors() {
        for record in [AV1C_SVT_320X240, AV1C_AOM_642X362] {
            for cut in 0..record.len() {
                assert!(Av1Config::parse(&record[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0xa71);
        for round in 0..20_000 {
            let mut input = match round % 3 {
                0 => AV1C_SVT_320X240.to_vec(),
                1 => AV1C_AOM_642X362.to_vec(),
                _ => (0..rng.below(40)).map(|_| rng.next() as u8).collect(),
            };
            for _ in 0..=rng.below(3) {
                if !input.is_empty() {
                    let at = rng.below(input.len());
                    input[at] = rng.next() as u8;
                }
            }
            if let Ok(config) = Av1Config::parse(&input) {
                assert!(config.max_width >= 1 && config.max_width <= MAX_PICTURE_DIMENSION);
                assert!(config.max_height >= 1 && config.max_height <= MAX_PICTURE_DIMENSION);
            }
        }
    }
}
