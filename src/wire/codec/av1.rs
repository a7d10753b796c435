//! AV1: the AV1CodecConfigurationRecord an Enhanced RTMP `av01` SequenceStart carries
//! (AV1-ISOBMFF §2.3.3, the `av1C` box body) and the sequence header OBU in its configOBUs
//! (AV1 bitstream specification §5.3 OBU syntax, §5.5.1 sequence header), read as far as the
//! largest frame size; and the other way, the record of a sequence header OBU met in a
//! stream ([`SequenceHeader::encode_record`], for AV1 from WebRTC publishers), read as far as
//! color_config() (§5.5.2).
//!
//! Not supported: a record whose configOBUs hold no sequence header (allowed by the binding
//! when the samples carry it; the picture size is then unknown here), OBUs without
//! obu_has_size_field in configOBUs (the binding requires the field there).

use bytes::BufMut;

use super::bits::BitReader;
use super::{CodecError, MAX_PICTURE_DIMENSION};

/// Record byte 0: marker (1) = 1, version (7) = 1.
const RECORD_MARKER_VERSION: u8 = 0x81;
/// Bytes of the record before configOBUs.
pub const RECORD_FIXED_LEN: usize = 4;
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

/// Bytes leb128 takes for `value`.
pub fn leb128_len(value: usize) -> usize {
    let mut len = 1;
    let mut v = value >> 7;
    while v != 0 {
        len += 1;
        v >>= 7;
    }
    len
}

/// Appends `value` as leb128 in as few bytes as it takes.
pub fn put_leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// sequence_header_obu() (§5.5.1) up to max_frame_height_minus_1: the largest frame size.
pub fn parse_sequence_header(payload: &[u8]) -> Result<(u32, u32), CodecError> {
    let mut r = BitReader::raw(payload, "AV1 sequence header OBU");
    let h = read_to_frame_size(&mut r)?;
    Ok((h.header.max_width, h.header.max_height))
}

/// What an AV1CodecConfigurationRecord says of a sequence header OBU (AV1-ISOBMFF §2.3.3),
/// read from its payload (§5.5.1, §5.5.2 color_config()).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceHeader {
    pub seq_profile: u8,
    /// Of the first operating point.
    pub seq_level_idx_0: u8,
    pub seq_tier_0: bool,
    pub high_bitdepth: bool,
    pub twelve_bit: bool,
    pub monochrome: bool,
    pub chroma_subsampling_x: bool,
    pub chroma_subsampling_y: bool,
    /// chroma_sample_position (2 bits; 0, CSP_UNKNOWN, unless 4:2:0 says otherwise).
    pub chroma_sample_position: u8,
    pub max_width: u32,
    pub max_height: u32,
}

/// color_config()'s CP_BT_709, TC_SRGB and MC_IDENTITY (§6.4.2): 4:4:4 RGB.
const CP_BT_709: u32 = 1;
const TC_SRGB: u32 = 13;
const MC_IDENTITY: u32 = 0;

impl SequenceHeader {
    /// Reads a sequence header OBU's payload (its header and obu_size left out) as far as
    /// color_config(); the bits after it are not read.
    pub fn parse(payload: &[u8]) -> Result<SequenceHeader, CodecError> {
        let mut r = BitReader::raw(payload, "AV1 sequence header OBU");
        let mut h = read_to_frame_size(&mut r)?;
        let reduced = h.reduced_still_picture_header;
        let frame_id_numbers_present = !reduced && r.read_bit()?;
        if frame_id_numbers_present {
            r.skip_bits(4 + 3)?; // delta_frame_id_length_minus_2, additional_..._minus_1
        }
        // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter.
        r.skip_bits(3)?;
        if !reduced {
            // enable_interintra_compound, enable_masked_compound, enable_warped_motion,
            // enable_dual_filter.
            r.skip_bits(4)?;
            let enable_order_hint = r.read_bit()?;
            if enable_order_hint {
                r.skip_bits(2)?; // enable_jnt_comp, enable_ref_frame_mvs
            }
            let seq_choose_screen_content_tools = r.read_bit()?;
            let force_screen_content_tools = seq_choose_screen_content_tools || r.read_bit()?;
            if force_screen_content_tools {
                let seq_choose_integer_mv = r.read_bit()?;
                if !seq_choose_integer_mv {
                    r.skip_bits(1)?; // seq_force_integer_mv
                }
            }
            if enable_order_hint {
                r.skip_bits(3)?; // order_hint_bits_minus_1
            }
        }
        r.skip_bits(3)?; // enable_superres, enable_cdef, enable_restoration
                         // color_config() (§5.5.2).
        let profile = h.header.seq_profile;
        let high_bitdepth = r.read_bit()?;
        let twelve_bit = profile == 2 && high_bitdepth && r.read_bit()?;
        let monochrome = profile != 1 && r.read_bit()?;
        let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
        if r.read_bit()? {
            primaries = r.read_bits(8)?;
            transfer = r.read_bits(8)?;
            matrix = r.read_bits(8)?;
        }
        let (mut x, mut y, mut position) = (true, true, 0);
        if monochrome {
            // color_range only; 4:0:0 counts as subsampled both ways.
        } else if primaries == CP_BT_709 && transfer == TC_SRGB && matrix == MC_IDENTITY {
            (x, y) = (false, false);
        } else {
            r.skip_bits(1)?; // color_range
            match profile {
                0 => {}
                1 => (x, y) = (false, false),
                _ if twelve_bit => {
                    x = r.read_bit()?;
                    y = x && r.read_bit()?;
                }
                _ => (x, y) = (true, false),
            }
            if x && y {
                position = r.read_bits(2)? as u8;
            }
        }
        h.header.high_bitdepth = high_bitdepth;
        h.header.twelve_bit = twelve_bit;
        h.header.monochrome = monochrome;
        h.header.chroma_subsampling_x = x;
        h.header.chroma_subsampling_y = y;
        h.header.chroma_sample_position = position;
        Ok(h.header)
    }

    /// The AV1CodecConfigurationRecord (AV1-ISOBMFF §2.3.3) of this header, with `obu` (the
    /// whole sequence header OBU, obu_has_size_field set) as its configOBUs:
    /// marker/version, profile and level, tier/bit depth/monochrome/subsampling/position,
    /// no initial_presentation_delay.
    pub fn encode_record(&self, obu: &[u8], out: &mut impl BufMut) {
        out.put_u8(RECORD_MARKER_VERSION);
        out.put_u8((self.seq_profile << 5) | (self.seq_level_idx_0 & 0x1f));
        out.put_u8(
            u8::from(self.seq_tier_0) << 7
                | u8::from(self.high_bitdepth) << 6
                | u8::from(self.twelve_bit) << 5
                | u8::from(self.monochrome) << 4
                | u8::from(self.chroma_subsampling_x) << 3
                | u8::from(self.chroma_subsampling_y) << 2
                | (self.chroma_sample_position & 0x03),
        );
        out.put_u8(0);
        out.put_slice(obu);
    }
}

/// The first sequence header OBU of `obus` (OBUs with obu_has_size_field, as Enhanced RTMP
/// `av01` frames carry them), whole, and its payload. `None` when there is none or an OBU
/// before it is malformed.
pub fn find_sequence_header(obus: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut rest = obus;
    while let Some(&header) = rest.first() {
        if header & OBU_FORBIDDEN_BIT != 0 || header & OBU_HAS_SIZE_BIT == 0 {
            return None;
        }
        let at = 1 + usize::from(header & OBU_EXTENSION_BIT != 0);
        let (size, size_len) = leb128(rest.get(at..)?).ok()?;
        let start = at + size_len;
        let end = start.checked_add(usize::try_from(size).ok()?)?;
        let payload = rest.get(start..end)?;
        if (header >> 3) & 0x0f == OBU_SEQUENCE_HEADER {
            return Some((&rest[..end], payload));
        }
        rest = &rest[end..];
    }
    None
}

/// A sequence header read up to its frame size.
struct Partial {
    header: SequenceHeader,
    reduced_still_picture_header: bool,
}

/// sequence_header_obu() (§5.5.1) up to max_frame_height_minus_1.
fn read_to_frame_size(r: &mut BitReader<'_>) -> Result<Partial, CodecError> {
    let seq_profile = r.read_bits(3)? as u8;
    r.skip_bits(1)?; // still_picture
    let reduced_still_picture_header = r.read_bit()?;
    let mut seq_level_idx_0 = 0;
    let mut seq_tier_0 = false;
    if reduced_still_picture_header {
        seq_level_idx_0 = r.read_bits(5)? as u8;
    } else {
        let timing_info_present = r.read_bit()?;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0;
        if timing_info_present {
            // timing_info() (§5.5.3): two 32-bit fields, equal_picture_interval, uvlc.
            r.skip_bits(64)?;
            if r.read_bit()? {
                skip_uvlc(r)?;
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
        for i in 0..operating_points {
            r.skip_bits(12)?; // operating_point_idc
            let seq_level_idx = r.read_bits(5)? as u8;
            let seq_tier = seq_level_idx > 7 && r.read_bit()?;
            if i == 0 {
                (seq_level_idx_0, seq_tier_0) = (seq_level_idx, seq_tier);
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
    Ok(Partial {
        header: SequenceHeader {
            seq_profile,
            seq_level_idx_0,
            seq_tier_0,
            high_bitdepth: false,
            twelve_bit: false,
            monochrome: false,
            chroma_subsampling_x: false,
            chroma_subsampling_y: false,
            chroma_sample_position: 0,
            // Both are at most MAX_PICTURE_DIMENSION.
            max_width: width as u32,
            max_height: height as u32,
        },
        reduced_still_picture_header,
    })
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
    fn records_rebuilt_from_their_sequence_headers() {
        for golden in [AV1C_SVT_320X240, AV1C_AOM_642X362] {
            let (obu, payload) = find_sequence_header(&golden[4..]).expect("sequence header");
            assert_eq!(obu, &golden[4..]);
            let header = SequenceHeader::parse(payload).unwrap();
            let mut record = Vec::new();
            header.encode_record(obu, &mut record);
            assert_eq!(record, golden);
            let config = Av1Config::parse(&record).unwrap();
            assert_eq!(
                (config.max_width, config.max_height),
                (header.max_width, header.max_height)
            );
        }
    }

    /// Profile 2, 12-bit 4:2:0 with chroma_sample_position 2 (colocated), level 9 tier 1,
    /// after order hints and screen content tools: each color_config() branch's bits.
    #[test]
    fn color_config_of_a_hand_packed_header() {
        let mut bits = String::new();
        bits += "010 0 0"; // seq_profile 2, still_picture, reduced_still_picture_header
        bits += "0 0"; // timing_info_present_flag, initial_display_delay_present_flag
        bits += "00000"; // operating_points_cnt_minus_1
        bits += &"0".repeat(12);
        bits += "01001 1"; // seq_level_idx 9, seq_tier 1
        bits += "0011 0011 1111 1001"; // 4 + 4 bits of size: 16 x 10
        bits += "1 0010 011"; // frame_id_numbers_present_flag and its lengths
        bits += "000"; // use_128x128_superblock, filter intra, intra edge filter
        bits += "0000 1 11"; // compound/warp/dual filter, enable_order_hint, jnt, ref mvs
        bits += "1 0"; // seq_choose_screen_content_tools, seq_choose_integer_mv = 0
        bits += "0"; // seq_force_integer_mv
        bits += "110"; // order_hint_bits_minus_1
        bits += "000"; // superres, cdef, restoration
        bits += "1 1 0"; // high_bitdepth, twelve_bit, mono_chrome
        bits += "1 00000001 00000001 00000001"; // color description: BT.709 everywhere
        bits += "0 1 1 10"; // color_range, subsampling_x, subsampling_y, position 2
        let header = SequenceHeader::parse(&pack(&bits)).unwrap();
        assert_eq!(
            header,
            SequenceHeader {
                seq_profile: 2,
                seq_level_idx_0: 9,
                seq_tier_0: true,
                high_bitdepth: true,
                twelve_bit: true,
                monochrome: false,
                chroma_subsampling_x: true,
                chroma_subsampling_y: true,
                chroma_sample_position: 2,
                max_width: 16,
                max_height: 10,
            }
        );
        let mut record = Vec::new();
        header.encode_record(&[0x0a, 0], &mut record);
        assert_eq!(record, [0x81, 0x49, 0xee, 0x00, 0x0a, 0]);
        // A reduced still picture header, monochrome profile 0: 4:0:0, position unknown.
        let mono = pack("000 1 1 00001 0011 0011 1111 1001 000 000 0 1 0 0");
        let mono = SequenceHeader::parse(&mono).unwrap();
        assert!(mono.monochrome && mono.chroma_subsampling_x && mono.chroma_subsampling_y);
        assert_eq!((mono.seq_level_idx_0, mono.chroma_sample_position), (1, 0));
    }

    #[test]
    fn sequence_header_found_among_obus() {
        // A temporal delimiter, a metadata OBU with an extension header, the sequence header.
        let mut obus = vec![0x12, 0, 0x2e, 0x00, 2, 0xaa, 0xbb];
        obus.extend_from_slice(&AV1C_SVT_320X240[4..]);
        obus.extend_from_slice(&[0x32, 1, 0x10]);
        let (obu, payload) = find_sequence_header(&obus).unwrap();
        assert_eq!(obu, &AV1C_SVT_320X240[4..]);
        assert_eq!(payload, &AV1C_SVT_320X240[6..]);
        assert_eq!(find_sequence_header(&[0x32, 1, 0x10]), None);
        // Cut anywhere before its end: not found, no panic.
        for cut in 0..obus.len() - 3 {
            assert_eq!(find_sequence_header(&obus[..cut]), None, "cut at {cut}");
        }
        // A payload cut before color_config() ends is an error; its last bytes (film grain,
        // trailing bits) are not read.
        let payload = &AV1C_SVT_320X240[6..];
        let whole = SequenceHeader::parse(payload).unwrap();
        let parsed: Vec<bool> = (0..payload.len())
            .map(|cut| match SequenceHeader::parse(&payload[..cut]) {
                Ok(h) => {
                    assert_eq!(h, whole, "cut at {cut}");
                    true
                }
                Err(_) => false,
            })
            .collect();
        // Errors until color_config()'s last bit (in byte 10 of 11), then the whole header.
        let first_ok = parsed.iter().position(|&ok| ok).unwrap();
        assert!(parsed[first_ok..].iter().all(|&ok| ok));
        assert_eq!(first_ok, 10);
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
