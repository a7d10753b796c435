//! H.265: the HEVCDecoderConfigurationRecord an RTMP HEVC sequence header carries
//! (ISO/IEC 14496-15 §8.3.3.1) and the sequence parameter set inside it (ITU-T H.265
//! §7.3.2.2.1), read as far as the picture size and bit depth.

use std::ops::Range;

use bytes::{BufMut, Bytes};

use super::bits::BitReader;
use super::{check_record_encode, chroma_subsampling, CodecError, Crop, NalFormat};
use crate::wire::cursor::{u16_at, u32_at, u8_at};

pub use super::SpsInfo;

/// nal_unit_type values of the parameter sets (H.265 Table 7-1).
pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;

/// Record layout (§8.3.3.1.1): 23 fixed bytes, then numOfArrays arrays.
const RECORD_VERSION: u8 = 1;
/// general_profile_space(2) | general_tier_flag(1) | general_profile_idc(5).
const RECORD_PROFILE_AT: usize = 1;
/// general_profile_compatibility_flags (32 bits), then general_constraint_indicator_flags (48).
const RECORD_COMPATIBILITY_AT: usize = 2;
const RECORD_CONSTRAINT_AT: usize = 6;
const RECORD_LEVEL_AT: usize = 12;
/// constantFrameRate(2) | numTemporalLayers(3) | temporalIdNested(1) | lengthSizeMinusOne(2).
const RECORD_LENGTH_SIZE_AT: usize = 21;
const RECORD_ARRAY_COUNT_AT: usize = 22;
const RECORD_ARRAYS_AT: usize = 23;
const HEVC_NAL_HEADER_LEN: usize = 2;
/// What [`HevcConfig::encode`] writes between the level and lengthSizeMinusOne (§8.3.3.1.1,
/// reserved bits set): min_spatial_segmentation_idc 0, parallelismType 0 (unknown),
/// chromaFormat 1 (4:2:0), bitDepthLumaMinus8 0, bitDepthChromaMinus8 0, avgFrameRate 0
/// (unspecified). SRS writes the same; decoders take these facts from the SPS.
const RECORD_MIN_SPATIAL_SEGMENTATION: u16 = 0xf000;
const RECORD_PARALLELISM_TYPE: u8 = 0xfc;
const RECORD_CHROMA_FORMAT_420: u8 = 0xfd;
const RECORD_BIT_DEPTH_8: u8 = 0xf8;
const RECORD_AVG_FRAME_RATE: u16 = 0;
/// constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1; lengthSizeMinusOne is
/// or-ed into the low 2 bits.
const RECORD_TEMPORAL: u8 = 0x0c;
/// An array entry: array_completeness 1 (all sets of the type are in the array), reserved 0.
const ARRAY_COMPLETE: u8 = 0x80;
/// Bytes of an array header (completeness/type, numNalus) and of a NAL length.
const ARRAY_HEADER_LEN: usize = 3;
const NAL_LENGTH_LEN: usize = 2;

/// An HEVCDecoderConfigurationRecord. Parsing keeps the VPS, SPS and PPS arrays (at least
/// one of each is required, each a NAL unit of its array's type with a 2-byte header) and
/// skips the others (SEI); bytes after the last array are not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    pub general_profile_space: u8,
    pub general_profile_idc: u8,
    pub general_tier_flag: bool,
    pub general_profile_compatibility_flags: u32,
    /// The 48 general constraint flags (progressive_source_flag ...), in the low bits.
    pub general_constraint_indicator_flags: u64,
    pub general_level_idc: u8,
    /// Bytes in each NAL length prefix of the frames: 1, 2, 3 or 4.
    pub nal_length_size: u8,
    /// Parameter sets, each a NAL unit with its 2-byte header, escaped as sent.
    pub vps: Vec<Bytes>,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
}

struct RecordLayout {
    profile_tier: u8,
    compatibility: u32,
    constraint: u64,
    level: u8,
    nal_length_size: u8,
    vps: Vec<Range<usize>>,
    sps: Vec<Range<usize>>,
    pps: Vec<Range<usize>>,
}

impl HevcConfig {
    /// Parses a record, copying the parameter sets out of it.
    pub fn parse(record: &[u8]) -> Result<HevcConfig, CodecError> {
        let layout = parse_layout(record)?;
        Ok(layout.into_config(|r| Bytes::copy_from_slice(&record[r.clone()])))
    }

    /// Parses a record held in a shared buffer; the parameter sets are slices of it.
    pub fn parse_shared(record: &Bytes) -> Result<HevcConfig, CodecError> {
        let layout = parse_layout(record)?;
        Ok(layout.into_config(|r| record.slice(r.clone())))
    }

    /// The parameter sets in the order an Annex B keyframe needs them: VPS, SPS, PPS.
    pub fn parameter_sets(&self) -> Vec<Bytes> {
        self.vps
            .iter()
            .chain(self.sps.iter())
            .chain(self.pps.iter())
            .cloned()
            .collect()
    }

    /// Parses the first SPS.
    pub fn sps_info(&self) -> Result<SpsInfo, CodecError> {
        let sps = self.sps.first().ok_or(CodecError::Invalid {
            what: "HEVC record without SPS",
        })?;
        parse_hevc_sps(sps)
    }

    /// A record for one VPS, SPS and PPS (NAL units with their 2-byte headers, escaped as
    /// sent), with the general profile, tier and level copied from the SPS's
    /// profile_tier_level (H.265 §7.3.3) and `nal_length_size`-byte NAL lengths.
    pub fn from_parameter_sets(
        vps: Bytes,
        sps: Bytes,
        pps: Bytes,
        nal_length_size: u8,
    ) -> Result<HevcConfig, CodecError> {
        let payload = sps
            .get(HEVC_NAL_HEADER_LEN..)
            .ok_or(CodecError::Truncated { what: "H.265 SPS" })?;
        let mut r = BitReader::new(payload, "H.265 SPS");
        r.skip_bits(8)?; // vps id, max_sub_layers_minus1, temporal_id_nesting_flag
        let general_profile_space = r.read_bits(2)?.to_be_bytes()[3];
        let general_tier_flag = r.read_bit()?;
        let general_profile_idc = r.read_bits(5)?.to_be_bytes()[3];
        let general_profile_compatibility_flags = r.read_bits(32)?;
        let high = u64::from(r.read_bits(24)?);
        let general_constraint_indicator_flags = (high << 24) | u64::from(r.read_bits(24)?);
        let general_level_idc = r.read_u8()?;
        Ok(HevcConfig {
            general_profile_space,
            general_profile_idc,
            general_tier_flag,
            general_profile_compatibility_flags,
            general_constraint_indicator_flags,
            general_level_idc,
            nal_length_size,
            vps: vec![vps],
            sps: vec![sps],
            pps: vec![pps],
        })
    }

    /// Bytes [`HevcConfig::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let arrays = [&self.vps, &self.sps, &self.pps];
        let sets: usize = arrays
            .iter()
            .flat_map(|a| a.iter())
            .map(|s| NAL_LENGTH_LEN + s.len())
            .sum();
        RECORD_ARRAYS_AT + arrays.len() * ARRAY_HEADER_LEN + sets
    }

    /// Writes the record (§8.3.3.1.1) with three arrays, VPS, SPS and PPS, each marked
    /// complete; the fields the record repeats from the SPS beyond profile, tier and level
    /// are written as the constants above (4:2:0, 8 bits). Errors if a set is longer than
    /// 65535 bytes, an array holds more than 65535 sets, `nal_length_size` is not 1..=4 or
    /// `general_profile_space` does not fit 2 bits; `NoSpace` if `out` cannot hold
    /// [`HevcConfig::encoded_len`] bytes. On error nothing is written.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<(), CodecError> {
        if self.general_profile_space > 3 || self.general_profile_idc > 0x1f {
            return Err(CodecError::Invalid {
                what: "HEVC general_profile_space or general_profile_idc out of range",
            });
        }
        let arrays = [
            (NAL_VPS, &self.vps),
            (NAL_SPS, &self.sps),
            (NAL_PPS, &self.pps),
        ];
        if arrays.iter().any(|(_, a)| a.len() > usize::from(u16::MAX)) {
            return Err(CodecError::Unsupported {
                what: "more than 65535 parameter sets in an HEVC record array",
            });
        }
        check_record_encode(
            self.nal_length_size,
            arrays.iter().flat_map(|(_, a)| a.iter()),
            self.encoded_len(),
            out,
        )?;
        out.put_u8(RECORD_VERSION);
        out.put_u8(
            (self.general_profile_space << 6)
                | (u8::from(self.general_tier_flag) << 5)
                | self.general_profile_idc,
        );
        out.put_u32(self.general_profile_compatibility_flags);
        out.put_slice(&self.general_constraint_indicator_flags.to_be_bytes()[2..]);
        out.put_u8(self.general_level_idc);
        out.put_u16(RECORD_MIN_SPATIAL_SEGMENTATION);
        out.put_u8(RECORD_PARALLELISM_TYPE);
        out.put_u8(RECORD_CHROMA_FORMAT_420);
        out.put_u8(RECORD_BIT_DEPTH_8);
        out.put_u8(RECORD_BIT_DEPTH_8);
        out.put_u16(RECORD_AVG_FRAME_RATE);
        out.put_u8(RECORD_TEMPORAL | (self.nal_length_size - 1));
        out.put_u8(arrays.len() as u8);
        for (nal_type, sets) in arrays {
            out.put_u8(ARRAY_COMPLETE | nal_type);
            out.put_u16(sets.len() as u16);
            for set in sets {
                out.put_u16(set.len() as u16);
                out.put_slice(set);
            }
        }
        Ok(())
    }
}

impl RecordLayout {
    fn into_config(self, to_bytes: impl Fn(&Range<usize>) -> Bytes) -> HevcConfig {
        HevcConfig {
            general_profile_space: self.profile_tier >> 6,
            general_profile_idc: self.profile_tier & 0x1f,
            general_tier_flag: self.profile_tier & 0x20 != 0,
            general_profile_compatibility_flags: self.compatibility,
            general_constraint_indicator_flags: self.constraint,
            general_level_idc: self.level,
            nal_length_size: self.nal_length_size,
            vps: self.vps.iter().map(&to_bytes).collect(),
            sps: self.sps.iter().map(&to_bytes).collect(),
            pps: self.pps.iter().map(&to_bytes).collect(),
        }
    }
}

/// The error of a read past the end of the record.
fn truncated_record() -> impl Fn(crate::wire::cursor::Short) -> CodecError {
    CodecError::truncated("HEVCDecoderConfigurationRecord")
}

/// ISO/IEC 14496-15 §8.3.3.1.2. Each kept entry takes at least 4 bytes of input, so the
/// vectors are bounded by the record length.
fn parse_layout(record: &[u8]) -> Result<RecordLayout, CodecError> {
    if u8_at(record, 0).map_err(truncated_record())? != RECORD_VERSION {
        return Err(CodecError::Unsupported {
            what: "HEVCDecoderConfigurationRecord version (not 1)",
        });
    }
    let profile_tier = u8_at(record, RECORD_PROFILE_AT).map_err(truncated_record())?;
    let compatibility = u32_at(record, RECORD_COMPATIBILITY_AT).map_err(truncated_record())?;
    // 48 bits: a u32 and a u16.
    let constraint = u64::from(u32_at(record, RECORD_CONSTRAINT_AT).map_err(truncated_record())?)
        << 16
        | u64::from(u16_at(record, RECORD_CONSTRAINT_AT + 4).map_err(truncated_record())?);
    let level = u8_at(record, RECORD_LEVEL_AT).map_err(truncated_record())?;
    let nal_length_size =
        (u8_at(record, RECORD_LENGTH_SIZE_AT).map_err(truncated_record())? & 0x03) + 1;
    let array_count = u8_at(record, RECORD_ARRAY_COUNT_AT).map_err(truncated_record())?;
    let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
    let mut at = RECORD_ARRAYS_AT;
    for _ in 0..array_count {
        // array_completeness(1) | reserved(1) | NAL_unit_type(6), numNalus(16).
        let array_type = u8_at(record, at).map_err(truncated_record())? & 0x3f;
        let nal_count = u16_at(record, at + 1).map_err(truncated_record())?;
        at += 3;
        let mut kept = match array_type {
            NAL_VPS => Some(&mut vps),
            NAL_SPS => Some(&mut sps),
            NAL_PPS => Some(&mut pps),
            _ => None,
        };
        for _ in 0..nal_count {
            let len = usize::from(u16_at(record, at).map_err(truncated_record())?);
            at += 2;
            let end = at + len;
            if end > record.len() {
                return Err(CodecError::Truncated {
                    what: "HEVCDecoderConfigurationRecord NAL unit",
                });
            }
            if let Some(list) = kept.as_mut() {
                let nal = &record[at..end];
                if nal.len() < HEVC_NAL_HEADER_LEN {
                    return Err(CodecError::Invalid {
                        what: "HEVC record parameter set shorter than its NAL header",
                    });
                }
                if NalFormat::Hevc.nal_type(nal[0]) != array_type {
                    return Err(CodecError::Invalid {
                        what: "HEVC record NAL type differs from its array's",
                    });
                }
                list.push(at..end);
            }
            at = end;
        }
    }
    for (list, what) in [
        (&vps, "HEVC record without VPS"),
        (&sps, "HEVC record without SPS"),
        (&pps, "HEVC record without PPS"),
    ] {
        if list.is_empty() {
            return Err(CodecError::Invalid { what });
        }
    }
    Ok(RecordLayout {
        profile_tier,
        compatibility,
        constraint,
        level,
        nal_length_size,
        vps,
        sps,
        pps,
    })
}

/// general_profile_space .. general_inbld/reserved flag: everything of a profile_tier_level
/// profile before the level (H.265 §7.3.3).
const PTL_PROFILE_BITS: u32 = 88;

/// Parses an H.265 SPS NAL unit (2-byte header included, escaped as sent) up to the bit
/// depths: profile, level, chroma format, bit depth and the displayed size
/// (§7.4.3.2.1: pic_width_in_luma_samples − SubWidthC × (conf_win_left + conf_win_right),
/// and the height likewise). Only nuh_layer_id 0 is supported.
pub fn parse_hevc_sps(nal: &[u8]) -> Result<SpsInfo, CodecError> {
    let (header, payload) = nal
        .split_at_checked(HEVC_NAL_HEADER_LEN)
        .ok_or(CodecError::Truncated { what: "H.265 SPS" })?;
    if NalFormat::Hevc.nal_type(header[0]) != NAL_SPS {
        return Err(CodecError::Invalid {
            what: "H.265 SPS NAL type (not 33)",
        });
    }
    let nuh_layer_id = ((header[0] & 0x01) << 5) | (header[1] >> 3);
    if nuh_layer_id != 0 {
        return Err(CodecError::Unsupported {
            what: "H.265 SPS of a layer other than 0",
        });
    }
    let mut r = BitReader::new(payload, "H.265 SPS");
    r.skip_bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.read_bits(3)?;
    if max_sub_layers_minus1 > 6 {
        return Err(CodecError::Invalid {
            what: "H.265 SPS sps_max_sub_layers_minus1",
        });
    }
    r.skip_bits(1)?; // sps_temporal_id_nesting_flag

    // profile_tier_level(1, sps_max_sub_layers_minus1), §7.3.3.
    r.skip_bits(3)?; // general_profile_space, general_tier_flag
    let profile_idc = r.read_bits(5)?.to_be_bytes()[3];
    r.skip_bits(PTL_PROFILE_BITS - 8)?;
    let level_idc = r.read_u8()?;
    let mut sub_layer_present = [(false, false); 6];
    for present in sub_layer_present
        .iter_mut()
        .take(max_sub_layers_minus1 as usize)
    {
        *present = (r.read_bit()?, r.read_bit()?);
    }
    if max_sub_layers_minus1 > 0 {
        r.skip_bits(2 * (8 - max_sub_layers_minus1))?; // reserved_zero_2bits
    }
    for &(profile_present, level_present) in sub_layer_present
        .iter()
        .take(max_sub_layers_minus1 as usize)
    {
        if profile_present {
            r.skip_bits(PTL_PROFILE_BITS)?;
        }
        if level_present {
            r.skip_bits(8)?; // sub_layer_level_idc
        }
    }

    r.read_ue_max(15, "H.265 SPS sps_seq_parameter_set_id")?;
    let chroma_format_idc = r.read_ue_max(3, "H.265 SPS chroma_format_idc")?;
    let separate_colour_plane = chroma_format_idc == 3 && r.read_bit()?;
    let width = r.read_ue()?;
    let height = r.read_ue()?;
    let crop = Crop::read(&mut r)?;
    let bit_depth_luma_minus8 = r.read_ue_max(8, "H.265 SPS bit_depth_luma_minus8")?;
    r.read_ue_max(8, "H.265 SPS bit_depth_chroma_minus8")?;

    let (sub_width, sub_height) = chroma_subsampling(chroma_format_idc, separate_colour_plane);
    let size = crop.apply(
        (u64::from(width), u64::from(height)),
        (u64::from(sub_width), u64::from(sub_height)),
        [
            "H.265 SPS pic_width_in_luma_samples",
            "H.265 SPS horizontal conformance window",
            "H.265 SPS pic_height_in_luma_samples",
            "H.265 SPS vertical conformance window",
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

/// The profile name SRS reports for a general_profile_idc (`srs_hevc_profile2str`).
pub fn profile_name(general_profile_idc: u8) -> &'static str {
    match general_profile_idc {
        1 => "Main",
        2 => "Main10",
        3 => "Main Still Picture",
        4 => "Rext",
        _ => "Other",
    }
}

/// The level name SRS reports for a general_level_idc (`srs_hevc_level2str`; the value is
/// 30 × the level).
pub fn level_name(general_level_idc: u8) -> &'static str {
    match general_level_idc {
        30 => "1",
        60 => "2",
        63 => "2.1",
        90 => "3",
        93 => "3.1",
        120 => "4",
        123 => "4.1",
        150 => "5",
        153 => "5.1",
        156 => "5.2",
        180 => "6",
        183 => "6.1",
        186 => "6.2",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use crate::wire::codec::fuzz::{self, info};

    // Goldens from Debian's ffmpeg 5.1 / x265 3.5:
    //   ffmpeg -f lavfi -i testsrc=size=WxH:rate=25 -t 0.2 -c:v libx265 -pix_fmt P -f hevc x.hevc
    // and the first VPS/SPS/PPS NAL units of the Annex B output.

    /// 320x240 yuv420p: Main, level 2.
    const VPS_320X240: &[u8] = &[
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09,
    ];
    const SPS_320X240: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];
    const PPS_320X240: &[u8] = &[0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40];
    /// 322x242 yuv420p: coded 328x248, conformance window right 3, bottom 3 (× 2).
    const SPS_322X242: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x48, 0x0f, 0x9c, 0x92, 0x65, 0x95, 0x9a, 0x49, 0x32, 0xbc,
        0x05, 0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0x21,
    ];
    /// 322x242 yuv420p10le: Main 10.
    const SPS_MAIN10_322X242: &[u8] = &[
        0x42, 0x01, 0x01, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x48, 0x0f, 0x9c, 0x92, 0x36, 0x59, 0x59, 0xa4, 0x93, 0x2b,
        0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10,
    ];
    /// 640x360 yuv422p with `-x265-params temporal-layers=1`: Rext, level 2.1,
    /// sps_max_sub_layers_minus1 1 (sub-layer flags and reserved bits in the PTL), and
    /// emulation-prevention bytes inside the profile_tier_level.
    const SPS_REXT422_640X360_2_SUBLAYERS: &[u8] = &[
        0x42, 0x01, 0x02, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9d, 0x08, 0x00, 0x00, 0x03, 0x00,
        0x00, 0x3f, 0x00, 0x00, 0xb0, 0x05, 0x02, 0x01, 0x69, 0x65, 0x95, 0x98, 0xac, 0xd2, 0x49,
        0x95, 0xe0, 0x2d, 0x01, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x19, 0x08,
    ];

    /// The hvcC box of `ffmpeg ... -c:v libx265 -pix_fmt yuv420p -tag:v hvc1 -f mp4` at
    /// 320x240, with its fourth array (a 2.3 kB x265 version SEI) dropped and numOfArrays
    /// patched from 4 to 3.
    const HVCC_320X240: &[u8] = &[
        0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0, 0x00,
        0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, // 23-byte header
        0xa0, 0x00, 0x01, 0x00, 0x18, // VPS array, 1 NAL of 24 bytes
        0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
        0x03, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x95, 0x98, 0x09, //
        0xa1, 0x00, 0x01, 0x00, 0x2a, // SPS array, 1 NAL of 42 bytes
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x3c, 0xa0, 0x0a, 0x08, 0x0f, 0x16, 0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a,
        0x02, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10, //
        0xa2, 0x00, 0x01, 0x00, 0x07, // PPS array, 1 NAL of 7 bytes
        0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
    ];

    /// Builds a record by hand: header fields as x265 writes them for Main level 2, the
    /// given length size and arrays of (type byte, NAL units).
    fn hvcc(length_size: u8, arrays: &[(u8, &[&[u8]])]) -> Vec<u8> {
        let mut v = vec![
            0x01, // configurationVersion
            0x01, // profile_space 0, tier 0, profile_idc 1 (Main)
            0x60,
            0x00,
            0x00,
            0x00, // general_profile_compatibility_flags
            0x90,
            0x00,
            0x00,
            0x00,
            0x00,
            0x00, // general_constraint_indicator_flags
            60,   // general_level_idc (level 2)
            0xf0,
            0x00, // reserved, min_spatial_segmentation_idc 0
            0xfc, // reserved, parallelismType 0
            0xfd, // reserved, chromaFormat 1
            0xf8, // reserved, bitDepthLumaMinus8 0
            0xf8, // reserved, bitDepthChromaMinus8 0
            0x00,
            0x00,                     // avgFrameRate
            0x0c | (length_size - 1), // numTemporalLayers 1, temporalIdNested 1
            arrays.len() as u8,
        ];
        for (type_byte, nals) in arrays {
            v.push(*type_byte);
            v.extend_from_slice(&(nals.len() as u16).to_be_bytes());
            for nal in *nals {
                v.extend_from_slice(&(nal.len() as u16).to_be_bytes());
                v.extend_from_slice(nal);
            }
        }
        v
    }

    #[test]
    fn ffmpeg_hvcc_record() {
        let c = HevcConfig::parse(HVCC_320X240).unwrap();
        assert_eq!(c.general_profile_idc, 1);
        assert!(!c.general_tier_flag);
        assert_eq!(c.general_level_idc, 60);
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.vps, [Bytes::from_static(VPS_320X240)]);
        assert_eq!(c.sps, [Bytes::from_static(SPS_320X240)]);
        assert_eq!(c.pps, [Bytes::from_static(PPS_320X240)]);
        assert_eq!(c.sps_info().unwrap(), info(1, 60, 320, 240));
        assert_eq!(profile_name(c.general_profile_idc), "Main");
        assert_eq!(level_name(c.general_level_idc), "2");
        assert_eq!(
            c.parameter_sets(),
            [c.vps[0].clone(), c.sps[0].clone(), c.pps[0].clone()]
        );
        let shared = HevcConfig::parse_shared(&Bytes::from_static(HVCC_320X240)).unwrap();
        assert_eq!(shared, c);
    }

    #[test]
    fn hand_built_record_skips_sei_and_keeps_order() {
        let sei: &[u8] = &[0x4e, 0x01, 0x05, 0x80];
        let record = hvcc(
            2,
            &[
                (0x27, &[sei, sei]), // prefix SEI array: skipped
                (0xa2, &[PPS_320X240]),
                (0xa1, &[SPS_322X242, SPS_MAIN10_322X242]),
                (0x20, &[VPS_320X240]),
                (0x28, &[]), // an empty array
            ],
        );
        let c = HevcConfig::parse(&record).unwrap();
        assert_eq!(c.nal_length_size, 2);
        assert_eq!(c.vps.len(), 1);
        assert_eq!(c.sps.len(), 2);
        assert_eq!(c.pps.len(), 1);
        assert_eq!(c.sps_info().unwrap(), info(1, 60, 322, 242));
        assert_eq!(c.parameter_sets().len(), 4);
        // Every proper prefix fails.
        for cut in 0..record.len() {
            assert!(HevcConfig::parse(&record[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn every_record_truncation_errors() {
        for cut in 0..HVCC_320X240.len() {
            assert!(
                HevcConfig::parse(&HVCC_320X240[..cut]).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn record_errors() {
        let all = |vps: &'static [u8]| {
            hvcc(
                4,
                &[
                    (0xa0, &[vps]),
                    (0xa1, &[SPS_320X240]),
                    (0xa2, &[PPS_320X240]),
                ],
            )
        };
        assert!(HevcConfig::parse(&all(VPS_320X240)).is_ok());
        // A PPS in the VPS array.
        assert_eq!(
            HevcConfig::parse(&all(PPS_320X240)),
            Err(CodecError::Invalid {
                what: "HEVC record NAL type differs from its array's"
            })
        );
        // A one-byte "VPS".
        assert!(matches!(
            HevcConfig::parse(&all(&[0x40])),
            Err(CodecError::Invalid { .. })
        ));
        // Missing arrays.
        let no_vps = hvcc(4, &[(0xa1, &[SPS_320X240]), (0xa2, &[PPS_320X240])]);
        assert_eq!(
            HevcConfig::parse(&no_vps),
            Err(CodecError::Invalid {
                what: "HEVC record without VPS"
            })
        );
        let no_pps = hvcc(4, &[(0xa0, &[VPS_320X240]), (0xa1, &[SPS_320X240])]);
        assert!(HevcConfig::parse(&no_pps).is_err());
        // Version 0.
        let mut bad = HVCC_320X240.to_vec();
        bad[0] = 0;
        assert!(matches!(
            HevcConfig::parse(&bad),
            Err(CodecError::Unsupported { .. })
        ));
        // numNalus claims 65535 entries: runs out of input, no big allocation.
        let mut bad = HVCC_320X240.to_vec();
        bad[24] = 0xff;
        bad[25] = 0xff;
        assert!(matches!(
            HevcConfig::parse(&bad),
            Err(CodecError::Truncated { .. })
        ));
    }

    #[test]
    fn sps_goldens() {
        let cases: &[(&[u8], SpsInfo)] = &[
            (SPS_320X240, info(1, 60, 320, 240)),
            (SPS_322X242, info(1, 60, 322, 242)),
            (
                SPS_MAIN10_322X242,
                SpsInfo {
                    bit_depth_luma: 10,
                    ..info(2, 60, 322, 242)
                },
            ),
            (
                SPS_REXT422_640X360_2_SUBLAYERS,
                SpsInfo {
                    chroma_format_idc: 2,
                    ..info(4, 63, 640, 360)
                },
            ),
        ];
        for (i, (sps, want)) in cases.iter().enumerate() {
            assert_eq!(parse_hevc_sps(sps).as_ref(), Ok(want), "case {i}");
        }
        assert_eq!(profile_name(2), "Main10");
        assert_eq!(profile_name(4), "Rext");
        assert_eq!(level_name(63), "2.1");
        assert_eq!(level_name(61), "Other");
    }

    #[test]
    fn every_sps_truncation_errors_or_agrees() {
        for sps in [
            SPS_320X240,
            SPS_322X242,
            SPS_MAIN10_322X242,
            SPS_REXT422_640X360_2_SUBLAYERS,
        ] {
            let full = parse_hevc_sps(sps).unwrap();
            let mut first_ok = None;
            for cut in 0..sps.len() {
                match parse_hevc_sps(&sps[..cut]) {
                    Ok(got) => {
                        assert_eq!(got, full);
                        first_ok.get_or_insert(cut);
                    }
                    Err(_) => assert!(first_ok.is_none(), "cut {cut} fails after a shorter cut"),
                }
            }
            // The profile_tier_level alone is 12 bytes after the 3 header-ish bytes.
            assert!(first_ok.is_none_or(|c| c > 15));
        }
    }

    #[test]
    fn sps_errors() {
        assert_eq!(
            parse_hevc_sps(&[0x42]),
            Err(CodecError::Truncated { what: "H.265 SPS" })
        );
        assert!(matches!(
            parse_hevc_sps(PPS_320X240),
            Err(CodecError::Invalid { .. })
        ));
        // nuh_layer_id 1.
        let mut layered = SPS_320X240.to_vec();
        layered[1] = 0x09;
        assert!(matches!(
            parse_hevc_sps(&layered),
            Err(CodecError::Unsupported { .. })
        ));
        // sps_max_sub_layers_minus1 = 7.
        let mut bad = SPS_320X240.to_vec();
        bad[2] = 0x0f;
        assert!(matches!(
            parse_hevc_sps(&bad),
            Err(CodecError::Invalid { .. })
        ));
    }

    #[test]
    fn fuzz_never_panics() {
        let mut rng = XorShift(0x265_265_265);
        let seeds: &[&[u8]] = &[
            HVCC_320X240,
            SPS_320X240,
            SPS_322X242,
            SPS_MAIN10_322X242,
            SPS_REXT422_640X360_2_SUBLAYERS,
        ];
        for i in 0..30_000 {
            let mut input = fuzz::mutated(&mut rng, i, seeds, 64);
            if let Ok(c) = HevcConfig::parse(&input) {
                assert!(!c.vps.is_empty() && !c.sps.is_empty() && !c.pps.is_empty());
                let _ = c.sps_info();
            }
            if let Ok(info) = parse_hevc_sps(&input) {
                fuzz::check_sps(&info);
            }
            input.splice(0..0, [0x42, 0x01]);
            let _ = parse_hevc_sps(&input);
        }
    }

    /// The record of the 320x240 parameter sets, built from them.
    fn config_320x240() -> HevcConfig {
        HevcConfig::from_parameter_sets(
            Bytes::from_static(VPS_320X240),
            Bytes::from_static(SPS_320X240),
            Bytes::from_static(PPS_320X240),
            4,
        )
        .unwrap()
    }

    #[test]
    fn encode_round_trips_and_matches_the_ffmpeg_record_start() {
        let config = config_320x240();
        assert_eq!(
            (
                config.general_profile_space,
                config.general_profile_idc,
                config.general_tier_flag,
                config.general_profile_compatibility_flags,
                config.general_constraint_indicator_flags,
                config.general_level_idc
            ),
            (0, 1, false, 0x6000_0000, 0x9000_0000_0000, 60)
        );
        let mut out = Vec::new();
        config.encode(&mut out).unwrap();
        assert_eq!(out.len(), config.encoded_len());
        // The 23 fixed bytes: profile_tier_level unescaped from the SPS, then the constants.
        assert_eq!(
            out[..RECORD_ARRAYS_AT],
            [
                0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3c, 0xf0,
                0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03
            ]
        );
        assert_eq!(
            out[RECORD_ARRAYS_AT..RECORD_ARRAYS_AT + 5],
            [0xa0, 0, 1, 0, 24]
        );
        assert_eq!(HevcConfig::parse(&out), Ok(config.clone()));
        // Other length sizes, tier and several sets per array survive the trip too.
        let mut more = config.clone();
        more.nal_length_size = 2;
        more.general_tier_flag = true;
        more.general_profile_space = 3;
        more.pps.push(Bytes::from_static(&[0x44, 0x01, 0xc0]));
        let mut out = Vec::new();
        more.encode(&mut out).unwrap();
        assert_eq!(HevcConfig::parse(&out), Ok(more));
    }

    #[test]
    fn encode_errors_write_nothing() {
        let config = config_320x240();
        for size in [0, 5] {
            let mut bad = config.clone();
            bad.nal_length_size = size;
            let mut out = Vec::new();
            assert!(bad.encode(&mut out).is_err());
            assert!(out.is_empty());
        }
        let mut bad = config.clone();
        bad.sps = vec![Bytes::from(vec![0x42; 65_536])];
        assert!(bad.encode(&mut Vec::new()).is_err());
        let mut buf = [0u8; 10];
        assert!(matches!(
            config.encode(&mut &mut buf[..]),
            Err(CodecError::NoSpace { .. })
        ));
        // An SPS too short for its profile_tier_level.
        for cut in 0..15 {
            assert!(HevcConfig::from_parameter_sets(
                Bytes::from_static(VPS_320X240),
                Bytes::copy_from_slice(&SPS_320X240[..cut]),
                Bytes::from_static(PPS_320X240),
                4
            )
            .is_err());
        }
    }
}
