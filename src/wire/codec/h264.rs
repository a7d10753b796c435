//! H.264: the AVCDecoderConfigurationRecord an RTMP AVC sequence header carries
//! (ISO/IEC 14496-15 §5.3.3.1) and the sequence parameter set inside it (ITU-T H.264
//! §7.3.2.1.1), read as far as the picture size.

use std::ops::Range;

use bytes::{BufMut, Bytes};

use super::bits::BitReader;
use super::{check_record_encode, chroma_subsampling, CodecError, Crop};
use crate::wire::cursor::{u16_at, u8_at};

pub use super::SpsInfo;

/// nal_unit_type of a sequence / picture parameter set (H.264 Table 7-1).
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;

/// Record layout: configurationVersion, AVCProfileIndication, profile_compatibility,
/// AVCLevelIndication, reserved(6)|lengthSizeMinusOne(2), reserved(3)|numOfSPS(5).
const RECORD_VERSION: u8 = 1;
const RECORD_PROFILE_AT: usize = 1;
const RECORD_COMPATIBILITY_AT: usize = 2;
const RECORD_LEVEL_AT: usize = 3;
const RECORD_LENGTH_SIZE_AT: usize = 4;
const RECORD_SPS_COUNT_AT: usize = 5;
const RECORD_SETS_AT: usize = 6;
const RECORD_SPS_COUNT_MASK: u8 = 0x1f;
/// Both arrays of the record prefix each set with a 16-bit length.
const SET_LENGTH_LEN: usize = 2;

/// The error of a read past the end of the record.
fn truncated_record() -> impl Fn(crate::wire::cursor::Short) -> CodecError {
    CodecError::truncated("AVCDecoderConfigurationRecord")
}

/// An AVCDecoderConfigurationRecord. Parsing checks that there is at least one SPS and one
/// PPS and that each is a non-empty NAL unit of the right type. What follows the PPS array
/// (the High profile chroma/bit-depth extension, SPS extensions) is not read, so a record
/// without it, or cut inside it, parses: many encoders leave it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// AVCProfileIndication (profile_idc of the SPS).
    pub profile: u8,
    /// profile_compatibility (the SPS constraint_set flags byte).
    pub compatibility: u8,
    /// AVCLevelIndication (level_idc of the SPS).
    pub level: u8,
    /// Bytes in each NAL length prefix of the frames: 1, 2, 3 or 4.
    pub nal_length_size: u8,
    /// Sequence parameter sets, each a NAL unit with its 1-byte header, escaped as sent.
    pub sps: Vec<Bytes>,
    /// Picture parameter sets, likewise.
    pub pps: Vec<Bytes>,
}

/// Where the parts of a record are, before they are turned into `Bytes`.
struct RecordLayout {
    profile: u8,
    compatibility: u8,
    level: u8,
    nal_length_size: u8,
    sps: Vec<Range<usize>>,
    pps: Vec<Range<usize>>,
}

impl AvcConfig {
    /// Parses a record, copying the parameter sets out of it.
    pub fn parse(record: &[u8]) -> Result<AvcConfig, CodecError> {
        let layout = parse_layout(record)?;
        let copy = |r: &Range<usize>| Bytes::copy_from_slice(&record[r.clone()]);
        Ok(layout.into_config(copy))
    }

    /// Parses a record held in a shared buffer; the parameter sets are slices of it.
    pub fn parse_shared(record: &Bytes) -> Result<AvcConfig, CodecError> {
        let layout = parse_layout(record)?;
        let slice = |r: &Range<usize>| record.slice(r.clone());
        Ok(layout.into_config(slice))
    }

    /// The parameter sets in the order an Annex B keyframe needs them: SPS, then PPS.
    pub fn parameter_sets(&self) -> Vec<Bytes> {
        self.sps.iter().chain(self.pps.iter()).cloned().collect()
    }

    /// Parses the first SPS.
    pub fn sps_info(&self) -> Result<SpsInfo, CodecError> {
        let sps = self.sps.first().ok_or(CodecError::Invalid {
            what: "AVC record without SPS",
        })?;
        parse_sps(sps)
    }

    /// Bytes [`AvcConfig::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let sets: usize = self
            .sps
            .iter()
            .chain(self.pps.iter())
            .map(|s| SET_LENGTH_LEN + s.len())
            .sum();
        RECORD_SETS_AT + 1 + sets
    }

    /// Writes the record without the High profile extension (chroma_format, bit depths),
    /// which ffmpeg and SRS do not read. Errors if a set is longer
    /// than 65535 bytes, there are more than 31 SPS or 255 PPS, or `nal_length_size` is not
    /// 1..=4; `NoSpace` if `out` cannot hold [`AvcConfig::encoded_len`] bytes.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), CodecError> {
        let sps_count = u8::try_from(self.sps.len())
            .ok()
            .filter(|&n| n <= RECORD_SPS_COUNT_MASK)
            .ok_or(CodecError::Unsupported {
                what: "more than 31 SPS in an AVC record",
            })?;
        let pps_count = u8::try_from(self.pps.len()).map_err(|_| CodecError::Unsupported {
            what: "more than 255 PPS in an AVC record",
        })?;
        check_record_encode(
            self.nal_length_size,
            self.sps.iter().chain(self.pps.iter()),
            self.encoded_len(),
            out,
        )?;
        out.put_u8(RECORD_VERSION);
        out.put_u8(self.profile);
        out.put_u8(self.compatibility);
        out.put_u8(self.level);
        out.put_u8(0xfc | (self.nal_length_size - 1));
        out.put_u8(0xe0 | sps_count);
        for sps in &self.sps {
            out.put_u16(sps.len() as u16);
            out.put_slice(sps);
        }
        out.put_u8(pps_count);
        for pps in &self.pps {
            out.put_u16(pps.len() as u16);
            out.put_slice(pps);
        }
        Ok(())
    }
}

impl RecordLayout {
    fn into_config(self, to_bytes: impl Fn(&Range<usize>) -> Bytes) -> AvcConfig {
        AvcConfig {
            profile: self.profile,
            compatibility: self.compatibility,
            level: self.level,
            nal_length_size: self.nal_length_size,
            sps: self.sps.iter().map(&to_bytes).collect(),
            pps: self.pps.iter().map(&to_bytes).collect(),
        }
    }
}

/// Reads `count` length-prefixed NAL units of type `nal_type` from `at`; returns their
/// ranges and the offset after them. Each entry takes at least 3 bytes of input, so the
/// vector is bounded by the record length.
fn read_sets(
    record: &[u8],
    mut at: usize,
    count: u8,
    nal_type: u8,
    what_type: &'static str,
) -> Result<(Vec<Range<usize>>, usize), CodecError> {
    let mut sets = Vec::new();
    for _ in 0..count {
        let len = usize::from(u16_at(record, at).map_err(truncated_record())?);
        at += SET_LENGTH_LEN;
        let end = at + len;
        if end > record.len() {
            return Err(CodecError::Truncated {
                what: "AVCDecoderConfigurationRecord parameter set",
            });
        }
        // The NAL header is the set's own first byte: an empty set must not borrow the next
        // field's byte as its header.
        match record.get(at..end).and_then(<[u8]>::first) {
            None => {
                return Err(CodecError::Invalid {
                    what: "empty parameter set in AVC record",
                })
            }
            Some(&header) if header & 0x1f != nal_type => {
                return Err(CodecError::Invalid { what: what_type })
            }
            Some(_) => {}
        }
        sets.push(at..end);
        at = end;
    }
    Ok((sets, at))
}

/// ISO/IEC 14496-15 §5.3.3.1.2.
fn parse_layout(record: &[u8]) -> Result<RecordLayout, CodecError> {
    let version = u8_at(record, 0).map_err(truncated_record())?;
    if version != RECORD_VERSION {
        return Err(CodecError::Unsupported {
            what: "AVCDecoderConfigurationRecord version (not 1)",
        });
    }
    let profile = u8_at(record, RECORD_PROFILE_AT).map_err(truncated_record())?;
    let compatibility = u8_at(record, RECORD_COMPATIBILITY_AT).map_err(truncated_record())?;
    let level = u8_at(record, RECORD_LEVEL_AT).map_err(truncated_record())?;
    let nal_length_size =
        (u8_at(record, RECORD_LENGTH_SIZE_AT).map_err(truncated_record())? & 0x03) + 1;
    let sps_count =
        u8_at(record, RECORD_SPS_COUNT_AT).map_err(truncated_record())? & RECORD_SPS_COUNT_MASK;
    let (sps, at) = read_sets(
        record,
        RECORD_SETS_AT,
        sps_count,
        NAL_SPS,
        "AVC record SPS entry is not NAL type 7",
    )?;
    let pps_count = u8_at(record, at).map_err(truncated_record())?;
    let (pps, _) = read_sets(
        record,
        at + 1,
        pps_count,
        NAL_PPS,
        "AVC record PPS entry is not NAL type 8",
    )?;
    if sps.is_empty() {
        return Err(CodecError::Invalid {
            what: "AVC record without SPS",
        });
    }
    if pps.is_empty() {
        return Err(CodecError::Invalid {
            what: "AVC record without PPS",
        });
    }
    Ok(RecordLayout {
        profile,
        compatibility,
        level,
        nal_length_size,
        sps,
        pps,
    })
}

/// profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists
/// (H.264 §7.3.2.1.1).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// scaling_list() (H.264 §7.3.2.1.1.1): only walked, the values are not kept.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), CodecError> {
    let mut last_scale: i32 = 8;
    let mut next_scale: i32 = 8;
    for _ in 0..size {
        if next_scale != 0 {
            let delta = r.read_se()?;
            if !(-128..=127).contains(&delta) {
                return Err(CodecError::Invalid {
                    what: "H.264 SPS delta_scale",
                });
            }
            next_scale = (last_scale + delta + 256).rem_euclid(256);
        }
        if next_scale != 0 {
            last_scale = next_scale;
        }
    }
    Ok(())
}

/// Parses an H.264 SPS NAL unit (1-byte header included, escaped as sent) up to the frame
/// cropping fields: profile, level, chroma format, bit depth and the displayed size
/// (H.264 §7.4.2.1.1: PicWidthInMbs × 16 − CropUnitX × (left + right), and the frame height
/// likewise with FrameHeightInMbs and CropUnitY). The VUI is not read.
pub fn parse_sps(nal: &[u8]) -> Result<SpsInfo, CodecError> {
    let (&header, payload) = nal
        .split_first()
        .ok_or(CodecError::Truncated { what: "H.264 SPS" })?;
    if header & 0x1f != NAL_SPS {
        return Err(CodecError::Invalid {
            what: "H.264 SPS NAL type (not 7)",
        });
    }
    let mut r = BitReader::new(payload, "H.264 SPS");
    let profile_idc = r.read_u8()?;
    r.skip_bits(8)?; // constraint_set0..5_flag, reserved_zero_2bits
    let level_idc = r.read_u8()?;
    r.read_ue_max(31, "H.264 SPS seq_parameter_set_id")?;

    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma_minus8 = 0;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = r.read_ue_max(3, "H.264 SPS chroma_format_idc")?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.read_bit()?;
        }
        bit_depth_luma_minus8 = r.read_ue_max(6, "H.264 SPS bit_depth_luma_minus8")?;
        r.read_ue_max(6, "H.264 SPS bit_depth_chroma_minus8")?;
        r.skip_bits(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.read_bit()? {
            // seq_scaling_matrix_present_flag: six 4x4 lists, then two (or six) 8x8 lists.
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.read_bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.read_ue_max(12, "H.264 SPS log2_max_frame_num_minus4")?;
    match r.read_ue_max(2, "H.264 SPS pic_order_cnt_type")? {
        0 => {
            r.read_ue_max(12, "H.264 SPS log2_max_pic_order_cnt_lsb_minus4")?;
        }
        1 => {
            r.skip_bits(1)?; // delta_pic_order_always_zero_flag
            r.read_se()?; // offset_for_non_ref_pic
            r.read_se()?; // offset_for_top_to_bottom_field
            let cycle = r.read_ue_max(255, "H.264 SPS num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..cycle {
                r.read_se()?; // offset_for_ref_frame[i]
            }
        }
        _ => {}
    }
    r.read_ue()?; // max_num_ref_frames
    r.skip_bits(1)?; // gaps_in_frame_num_value_allowed_flag
    let width_in_mbs = u64::from(r.read_ue()?) + 1;
    let height_in_map_units = u64::from(r.read_ue()?) + 1;
    let frame_mbs_only = r.read_bit()?;
    if !frame_mbs_only {
        r.skip_bits(1)?; // mb_adaptive_frame_field_flag
    }
    r.skip_bits(1)?; // direct_8x8_inference_flag
    let crop = Crop::read(&mut r)?;

    // §7.4.2.1.1: ChromaArrayType 0 crops in luma samples (frame rows doubled for fields).
    let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
    let (crop_unit_x, crop_unit_y) = if separate_colour_plane || chroma_format_idc == 0 {
        (1, field_factor)
    } else {
        let (sub_width, sub_height) = chroma_subsampling(chroma_format_idc, false);
        (u64::from(sub_width), u64::from(sub_height) * field_factor)
    };
    let size = crop.apply(
        (width_in_mbs * 16, height_in_map_units * 16 * field_factor),
        (crop_unit_x, crop_unit_y),
        [
            "H.264 SPS picture width",
            "H.264 SPS horizontal cropping",
            "H.264 SPS picture height",
            "H.264 SPS vertical cropping",
        ],
    )?;
    Ok(SpsInfo::new(
        profile_idc,
        level_idc,
        size,
        chroma_format_idc,
        bit_depth_luma_minus8,
    ))
}

/// The profile name SRS reports for a profile_idc (`srs_avc_profile2str`), "Other" when
/// SRS has none. SRS keys on the record's profile byte alone, so the constrained and intra
/// variants it also names ("Baseline(Constrained)", "High(10+Intra)") never come out.
pub fn profile_name(profile_idc: u8) -> &'static str {
    match profile_idc {
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High(10)",
        122 => "High(422)",
        144 => "High(444)",
        244 => "High(444+Predictive)",
        _ => "Other",
    }
}

/// The level name SRS reports for a level_idc (`srs_avc_level2str`), "Other" when SRS has
/// none (1b, 4.2, 5.2 and above).
pub fn level_name(level_idc: u8) -> &'static str {
    match level_idc {
        10 => "1",
        11 => "1.1",
        12 => "1.2",
        13 => "1.3",
        20 => "2",
        21 => "2.1",
        22 => "2.2",
        30 => "3",
        31 => "3.1",
        32 => "3.2",
        40 => "4",
        41 => "4.1",
        50 => "5",
        51 => "5.1",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use crate::wire::codec::fuzz::{self, info};

    // Golden records: the AVCDecoderConfigurationRecord of the first FLV video tag
    // (AVCPacketType 0, after its 5-byte header) written by Debian's ffmpeg 5.1 / x264 164:
    //   ffmpeg -f lavfi -i testsrc=size=WxH:rate=25 -t 0.2 -c:v libx264 -pix_fmt P [-profile:v baseline] -f flv x.flv
    // The SPS-only goldens are the SPS NAL of such a record.

    /// 320x240, yuv420p, High, level 1.3.
    const HIGH_320X240: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
        0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1,
        0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8,
        0x00,
    ];
    /// 320x240, yuv420p, `-profile:v baseline` (Constrained Baseline), level 1.3.
    const BASELINE_320X240: &[u8] = &[
        0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41,
        0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42,
        0xa4, 0x80, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83, 0xcb, 0x20,
    ];
    /// 322x242, yuv420p, High: coded 336x256, cropped right 7 and bottom 7 (×2).
    const HIGH_322X242: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
        0x50, 0x87, 0x88, 0x88, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00,
        0xc8, 0x3c, 0x50, 0xa6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
        0xf8, 0xf8, 0x00,
    ];
    /// SPS, 322x242, yuv422p, High 4:2:2 (CropUnitY 1).
    const SPS_HIGH422_322X242: &[u8] = &[
        0x67, 0x7a, 0x00, 0x0d, 0xbc, 0xd9, 0x41, 0x50, 0x87, 0x88, 0x8f, 0xc0, 0x44, 0x00, 0x00,
        0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x50, 0xa6, 0x58,
    ];
    /// SPS, 320x240 from testsrc's rgb24 without -pix_fmt: High 4:4:4 Predictive, yuv444p.
    const SPS_HIGH444_320X240: &[u8] = &[
        0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x28, 0x3f, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x1e, 0x28, 0x53, 0x2c,
    ];
    /// SPS, 320x240, yuv420p10le: High 10.
    const SPS_HIGH10_320X240: &[u8] = &[
        0x67, 0x6e, 0x00, 0x0d, 0xa6, 0xcd, 0x94, 0x14, 0x1f, 0xb0, 0x11, 0x00, 0x00, 0x03, 0x00,
        0x01, 0x00, 0x00, 0x03, 0x00, 0x32, 0x0f, 0x14, 0x29, 0x96,
    ];
    /// SPS, 320x240 interlaced (`-flags +ildct+ilme -x264opts interlaced=1`): level 2.1,
    /// frame_mbs_only_flag 0, 8 map units of 32 rows, cropped to 240.
    const SPS_INTERLACED_320X240: &[u8] = &[
        0x67, 0x64, 0x00, 0x15, 0xac, 0xd9, 0x41, 0x41, 0x0f, 0xcb, 0x80, 0x88, 0x00, 0x00, 0x03,
        0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0x90, 0xf8, 0xa1, 0x4c, 0xb0,
    ];

    // Hand-built SPSs (a Python bit writer), each checked field by field against
    // `ffmpeg -i x.h264 -c copy -bsf:v trace_headers -f null -`.

    /// High, level 3.1: scaling lists 0 (ends early, nextScale 0), 3 (use-default) and 6 (all
    /// 64 deltas), pic_order_cnt_type 1 with three offsets, 1280x736 cropped to 1280x720.
    const SPS_SCALING_POC1_1280X720: &[u8] = &[
        0x67, 0x64, 0x00, 0x1f, 0xad, 0x84, 0x01, 0x09, 0x08, 0x94, 0xd3, 0x4d, 0x34, 0xd3, 0x4d,
        0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d,
        0x34, 0xd3, 0x4d, 0x35, 0x0e, 0x28, 0x88, 0xa0, 0x32, 0x0a, 0x02, 0x80, 0x2e, 0xfc, 0x4a,
    ];
    /// High 4:4:4 Predictive, level 4: separate_colour_plane_flag (ChromaArrayType 0), 10-bit,
    /// all 12 scaling-list flags with lists 2 and 9 present, MBAFF, 1920x1088 cropped left 1,
    /// right 2, bottom 4 × CropUnitY 2 → 1917x1080.
    const SPS_444_SEPARATE_PLANES_1917X1080: &[u8] = &[
        0x67, 0xf4, 0x00, 0x28, 0x21, 0x2d, 0xa7, 0xff, 0xfc, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xf8, 0x36, 0x35, 0xc0, 0xf0, 0x08, 0x9d, 0x39, 0x50,
    ];
    /// Constrained Baseline 320x240, level 3, pic_order_cnt_type 1 with
    /// offset_for_non_ref_pic = -8388608: its 23 zero bits need two emulation-prevention bytes.
    const SPS_ESCAPED_320X240: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1e, 0xd0, 0x00, 0x00, 0x03, 0x02, 0x00, 0x00, 0x03, 0x03, 0xa0, 0x50,
        0x7c, 0x40,
    ];

    #[test]
    fn record_high_320x240() {
        let c = AvcConfig::parse(HIGH_320X240).unwrap();
        assert_eq!((c.profile, c.compatibility, c.level), (100, 0, 13));
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps, [Bytes::copy_from_slice(&HIGH_320X240[8..33])]);
        assert_eq!(c.pps, [Bytes::copy_from_slice(&HIGH_320X240[36..42])]);
        // The last 4 bytes are the High profile extension: 4:2:0, 8-bit, no SPS extension.
        assert_eq!(HIGH_320X240[42..], [0xfd, 0xf8, 0xf8, 0x00]);
        assert_eq!(c.sps_info().unwrap(), info(100, 13, 320, 240));
        assert_eq!(profile_name(c.profile), "High");
        assert_eq!(level_name(c.level), "1.3");
        assert_eq!(c.parameter_sets(), [c.sps[0].clone(), c.pps[0].clone()]);
    }

    #[test]
    fn record_baseline_320x240() {
        let c = AvcConfig::parse(BASELINE_320X240).unwrap();
        assert_eq!((c.profile, c.compatibility, c.level), (66, 0xc0, 13));
        assert_eq!((c.sps[0].len(), c.pps[0].len()), (24, 5));
        assert_eq!(c.sps_info().unwrap(), info(66, 13, 320, 240));
        assert_eq!(profile_name(c.profile), "Baseline");
    }

    #[test]
    fn record_odd_size_is_cropped() {
        let c = AvcConfig::parse(HIGH_322X242).unwrap();
        assert_eq!(c.sps_info().unwrap(), info(100, 13, 322, 242));
    }

    /// Found by the `h264` fuzz target: a PPS entry of length 0 followed by a byte of NAL
    /// type 8 was accepted as a PPS (the check read the byte after the empty set), and the
    /// config then failed to re-encode.
    #[test]
    fn empty_parameter_set_is_refused() {
        let record = [
            0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01,
            0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0xd3, 0x4d, 0xd3,
            0x34, 0x3a, 0xa4, 0x80, 0x01, 0x00, 0x00, 0x68, 0xcb, 0x83, 0xcb, 0x20,
        ];
        assert_eq!(
            AvcConfig::parse(&record),
            Err(CodecError::Invalid {
                what: "empty parameter set in AVC record"
            })
        );
        // The same with an empty SPS in front of a byte of NAL type 7.
        let record = [
            0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x00, 0x67, 0x01, 0x00, 0x01, 0x68,
        ];
        assert!(AvcConfig::parse(&record).is_err());
    }

    #[test]
    fn parse_shared_slices_the_input() {
        let record = Bytes::from_static(HIGH_322X242);
        let shared = AvcConfig::parse_shared(&record).unwrap();
        assert_eq!(shared, AvcConfig::parse(HIGH_322X242).unwrap());
        assert_eq!(shared.sps[0].as_ptr(), HIGH_322X242[8..].as_ptr());
    }

    #[test]
    fn sps_goldens() {
        let cases: &[(&[u8], SpsInfo)] = &[
            (
                SPS_HIGH422_322X242,
                SpsInfo {
                    chroma_format_idc: 2,
                    ..info(122, 13, 322, 242)
                },
            ),
            (
                SPS_HIGH444_320X240,
                SpsInfo {
                    chroma_format_idc: 3,
                    ..info(244, 13, 320, 240)
                },
            ),
            (
                SPS_HIGH10_320X240,
                SpsInfo {
                    bit_depth_luma: 10,
                    ..info(110, 13, 320, 240)
                },
            ),
            (SPS_INTERLACED_320X240, info(100, 21, 320, 240)),
            (SPS_SCALING_POC1_1280X720, info(100, 31, 1280, 720)),
            (
                SPS_444_SEPARATE_PLANES_1917X1080,
                SpsInfo {
                    chroma_format_idc: 3,
                    bit_depth_luma: 10,
                    ..info(244, 40, 1917, 1080)
                },
            ),
            (SPS_ESCAPED_320X240, info(66, 30, 320, 240)),
        ];
        for (i, (sps, want)) in cases.iter().enumerate() {
            assert_eq!(parse_sps(sps).as_ref(), Ok(want), "case {i}");
        }
    }

    #[test]
    fn profile_and_level_names_match_srs() {
        let names: Vec<_> = [66, 77, 88, 100, 110, 122, 144, 244, 83]
            .iter()
            .map(|&p| profile_name(p))
            .collect();
        assert_eq!(
            names,
            [
                "Baseline",
                "Main",
                "Extended",
                "High",
                "High(10)",
                "High(422)",
                "High(444)",
                "High(444+Predictive)",
                "Other"
            ]
        );
        assert_eq!(level_name(9), "Other");
        assert_eq!(level_name(31), "3.1");
        assert_eq!(level_name(51), "5.1");
        assert_eq!(level_name(52), "Other");
    }

    #[test]
    fn record_errors() {
        let mut bad = HIGH_320X240.to_vec();
        bad[0] = 0;
        assert!(matches!(
            AvcConfig::parse(&bad),
            Err(CodecError::Unsupported { .. })
        ));
        // No SPS.
        assert_eq!(
            AvcConfig::parse(&[0x01, 0x64, 0x00, 0x0d, 0xff, 0xe0, 0x01, 0x00, 0x01, 0x68]),
            Err(CodecError::Invalid {
                what: "AVC record without SPS"
            })
        );
        // No PPS.
        let mut bad = HIGH_320X240[..34].to_vec();
        bad[33] = 0;
        assert_eq!(
            AvcConfig::parse(&bad),
            Err(CodecError::Invalid {
                what: "AVC record without PPS"
            })
        );
        // PPS where the SPS should be.
        let mut bad = HIGH_320X240.to_vec();
        bad[8] = 0x68;
        assert!(matches!(
            AvcConfig::parse(&bad),
            Err(CodecError::Invalid { .. })
        ));
        // Zero-length SPS.
        assert!(matches!(
            AvcConfig::parse(&[0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x00, 0x01]),
            Err(CodecError::Invalid { .. })
        ));
        // SPS length past the end.
        let mut bad = HIGH_320X240.to_vec();
        bad[6] = 0xff;
        assert!(matches!(
            AvcConfig::parse(&bad),
            Err(CodecError::Truncated { .. })
        ));
        assert!(AvcConfig::parse(&[]).is_err());
    }

    /// Every cut before the end of the PPS array fails. The High profile extension after it
    /// is not read (many encoders leave it out), so cuts inside it parse the same.
    #[test]
    fn every_record_truncation_errors() {
        for record in [HIGH_320X240, BASELINE_320X240, HIGH_322X242] {
            let full = AvcConfig::parse(record).unwrap();
            let arrays_end = full.encoded_len();
            for cut in 0..record.len() {
                let got = AvcConfig::parse(&record[..cut]);
                if cut < arrays_end {
                    assert!(got.is_err(), "cut at {cut}");
                } else {
                    assert_eq!(got.as_ref(), Ok(&full), "cut at {cut}");
                }
            }
        }
    }

    /// The SPS parser stops at the cropping fields, so a cut after them still parses; every
    /// shorter cut must fail, and the parse must never depend on where the VUI was cut.
    #[test]
    fn every_sps_truncation_errors_or_agrees() {
        let all: &[&[u8]] = &[
            &HIGH_320X240[8..33],
            &BASELINE_320X240[8..32],
            &HIGH_322X242[8..35],
            SPS_HIGH422_322X242,
            SPS_HIGH444_320X240,
            SPS_HIGH10_320X240,
            SPS_INTERLACED_320X240,
            SPS_SCALING_POC1_1280X720,
            SPS_444_SEPARATE_PLANES_1917X1080,
            SPS_ESCAPED_320X240,
        ];
        for sps in all {
            let full = parse_sps(sps).unwrap();
            let mut first_ok = None;
            for cut in 0..sps.len() {
                match parse_sps(&sps[..cut]) {
                    Ok(got) => {
                        assert_eq!(got, full);
                        first_ok.get_or_insert(cut);
                    }
                    Err(_) => assert!(
                        first_ok.is_none(),
                        "cut {cut} fails after a shorter cut parsed"
                    ),
                }
            }
            // The SPS needs its first four bytes at the very least.
            assert!(first_ok.is_none_or(|c| c > 4));
        }
    }

    #[test]
    fn sps_errors() {
        assert_eq!(
            parse_sps(&[]),
            Err(CodecError::Truncated { what: "H.264 SPS" })
        );
        assert_eq!(
            parse_sps(&[0x68, 0x64]),
            Err(CodecError::Invalid {
                what: "H.264 SPS NAL type (not 7)"
            })
        );
        // chroma_format_idc 4.
        assert_eq!(
            parse_sps(&[0x67, 0x64, 0x00, 0x0d, 0b1001_0100]),
            Err(CodecError::Invalid {
                what: "H.264 SPS chroma_format_idc"
            })
        );
        // Baseline, ids 0, log2 0, poc type 2, refs 0, gaps 0, then width_in_mbs_minus1 =
        // 1056 (1057 MBs, 16912 samples): one macroblock over the limit.
        let mut w = Writer::default();
        for bit in [1, 1, 0, 1, 1, 1, 0] {
            w.bit(bit);
        }
        w.ue(1056);
        w.ue(0);
        for bit in [1, 1, 0, 1] {
            w.bit(bit);
        }
        let mut sps = vec![0x67, 0x42, 0xc0, 0x1e];
        sps.extend(w.finish());
        assert_eq!(
            parse_sps(&sps),
            Err(CodecError::Invalid {
                what: "H.264 SPS picture width"
            })
        );
        // Cropping that eats the whole picture: 320 wide, crop left+right 160 × 2.
        let mut w = Writer::default();
        for bit in [1, 1, 0, 1, 1, 1, 0] {
            w.bit(bit);
        }
        w.ue(19);
        w.ue(14);
        for bit in [1, 1, 1] {
            w.bit(bit);
        }
        for crop in [80, 80, 0, 0] {
            w.ue(crop);
        }
        w.bit(0);
        let mut sps = vec![0x67, 0x42, 0xc0, 0x1e];
        sps.extend(w.finish());
        assert_eq!(
            parse_sps(&sps),
            Err(CodecError::Invalid {
                what: "H.264 SPS horizontal cropping"
            })
        );
        // One less and it is a 2-sample-wide picture.
        let mut w = Writer::default();
        for bit in [1, 1, 0, 1, 1, 1, 0] {
            w.bit(bit);
        }
        w.ue(19);
        w.ue(14);
        for bit in [1, 1, 1] {
            w.bit(bit);
        }
        for crop in [80, 79, 0, 0] {
            w.ue(crop);
        }
        w.bit(0);
        let mut sps = vec![0x67, 0x42, 0xc0, 0x1e];
        sps.extend(w.finish());
        assert_eq!(parse_sps(&sps).unwrap().width, 2);
    }

    /// A minimal bit writer for hand-made SPS tails (no emulation prevention needed: the
    /// values used never produce `00 00 0x`).
    #[derive(Default)]
    struct Writer {
        bits: Vec<u8>,
    }

    impl Writer {
        fn bit(&mut self, b: u8) {
            self.bits.push(b);
        }

        fn ue(&mut self, v: u32) {
            let v = u64::from(v) + 1;
            let n = 64 - v.leading_zeros();
            for _ in 1..n {
                self.bit(0);
            }
            for i in (0..n).rev() {
                self.bit(((v >> i) & 1) as u8);
            }
        }

        fn finish(mut self) -> Vec<u8> {
            self.bit(1);
            while self.bits.len() % 8 != 0 {
                self.bit(0);
            }
            self.bits
                .chunks(8)
                .map(|c| c.iter().fold(0, |acc, &b| (acc << 1) | b))
                .collect()
        }
    }

    #[test]
    fn encode_round_trips() {
        for record in [HIGH_320X240, BASELINE_320X240, HIGH_322X242] {
            let c = AvcConfig::parse(record).unwrap();
            let mut out = Vec::new();
            c.encode(&mut out).unwrap();
            assert_eq!(out, record[..c.encoded_len()]);
            assert_eq!(AvcConfig::parse(&out).unwrap(), c);
        }
        let mut c = AvcConfig::parse(HIGH_320X240).unwrap();
        let mut small = [0u8; 10];
        assert!(matches!(
            c.encode(&mut &mut small[..]),
            Err(CodecError::NoSpace { .. })
        ));
        c.nal_length_size = 0;
        assert!(c.encode(&mut Vec::new()).is_err());
        c.nal_length_size = 4;
        c.sps = vec![Bytes::from_static(&[0x67]); 32];
        assert!(c.encode(&mut Vec::new()).is_err());
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0x264_264_264);
        let seeds: &[&[u8]] = &[
            HIGH_320X240,
            BASELINE_320X240,
            HIGH_322X242,
            SPS_HIGH422_322X242,
            SPS_SCALING_POC1_1280X720,
            SPS_444_SEPARATE_PLANES_1917X1080,
            SPS_ESCAPED_320X240,
        ];
        for i in 0..30_000 {
            let mut input = fuzz::mutated(&mut rng, i, seeds, 48);
            if let Ok(c) = AvcConfig::parse(&input) {
                assert!(!c.sps.is_empty() && !c.pps.is_empty());
                let _ = c.sps_info();
            }
            if let Ok(info) = parse_sps(&input) {
                fuzz::check_sps(&info);
            }
            // The same bytes as an SPS NAL whatever the first byte said.
            input.insert(0, 0x67);
            let _ = parse_sps(&input);
        }
    }
}
