//! Codec data inside RTMP/FLV frames: pure parsers and converters, no I/O.
//!
//! * [`h264`]: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) and the H.264
//!   sequence parameter set (ITU-T H.264 §7.3.2.1.1): profile, level, cropped width/height.
//! * [`h265`]: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) and the H.265
//!   sequence parameter set (ITU-T H.265 §7.3.2.2): the same facts, conformance window applied.
//! * [`av1`]: AV1CodecConfigurationRecord (AV1-ISOBMFF §2.3.3) and the largest frame size
//!   from its sequence header OBU (AV1 §5.5.1).
//! * [`opus`]: the Opus identification header, OpusHead (RFC 7845 §5.1).
//! * [`mp3`]: the MPEG audio frame header (ISO/IEC 11172-3 §2.4.1.3): sampling rate and
//!   channels, which RTMP's MP3 carries in no sequence header.
//! * [`aac`]: AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) and the ADTS header
//!   (§1.A.2): written for MPEG-TS/HLS in front of every raw AAC frame, decoded from what
//!   GB28181 cameras send ([`AdtsHeader`], [`decode_adts_frame`]).
//! * [`avcc_to_annexb`]: a length-prefixed (AVCC/HVCC) access unit, as RTMP carries it, to
//!   Annex B with an access unit delimiter and, on keyframes, the parameter sets.
//! * [`annexb::split`]: the NAL units of an Annex B byte stream (what cameras send).
//! * [`bits`]: the bit reader underneath (emulation prevention, exp-Golomb).
//!
//! What a caller must know:
//!
//! * Every input byte is treated as hostile: any input gives `Ok` or `Err`, never a panic, and
//!   nothing is allocated by a length read from the input before that length is checked
//!   against the bytes actually present. Every error concerns one message (a sequence header
//!   or a frame): drop it and log at debug; the connection can go on.
//! * The configuration records' parameter sets are copied into owned [`Bytes`] by
//!   `parse`; `parse_shared` slices them out of a shared `Bytes` instead (no copy).
//! * Profile/level names are the strings SRS prints in its HTTP API (`srs_avc_profile2str`,
//!   `srs_hevc_profile2str`, `srs_aac_object2str`), so "High(10)", not "High 10".
//! * Widths and heights are the displayed size: H.264 frame cropping and the H.265
//!   conformance window are applied. Coded sizes above [`MAX_PICTURE_DIMENSION`] are refused.
//!
//! Not supported: H.264 SVC/MVC subset SPS (NAL type 15), HEVC multi-layer SPS
//! (nuh_layer_id > 0), VUI parsing (frame rate, aspect ratio, colour), AAC implicit SBR/PS
//! signalling (the sync extension after GASpecificConfig is ignored; such a stream reads as
//! plain AAC-LC at the core rate, which is what its ADTS header must say anyway).

pub mod aac;
pub mod annexb;
pub mod av1;
pub mod bits;
pub mod h264;
pub mod h265;
pub mod mp3;
pub mod opus;

use bytes::{BufMut, Bytes};

use bits::BitReader;

pub use aac::{decode_adts_frame, AacConfig, AdtsFrame, AdtsHeader};
pub use annexb::{avcc_to_annexb, NalUnits};
pub use av1::Av1Config;
pub use h264::{parse_sps, AvcConfig};
pub use h265::{parse_hevc_sps, HevcConfig};
pub use mp3::Mp3Header;
pub use opus::OpusHead;

/// The largest coded picture width or height accepted, in luma samples. H.264 level 6.2
/// allows 1056 macroblocks (16896 samples) on a side and H.265 level 6.2 allows 16888; a
/// larger SPS is corrupt or hostile, and this bound keeps every size computation small.
pub const MAX_PICTURE_DIMENSION: u32 = 16_896;

/// Errors of this module. All of them concern one message (a sequence header or a frame):
/// drop it, keep the stream and the connection.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The input ends inside the structure `what`.
    #[error("codec data truncated: {what}")]
    Truncated { what: &'static str },
    /// A field breaks the spec: `what` names it.
    #[error("invalid codec data: {what}")]
    Invalid { what: &'static str },
    /// Well formed, but not something this module (or the output format) handles.
    #[error("unsupported codec data: {what}")]
    Unsupported { what: &'static str },
    /// The caller's output buffer cannot hold the result; nothing was written.
    #[error("output buffer too small: need {needed} bytes, room for {available}")]
    NoSpace { needed: usize, available: usize },
}

impl CodecError {
    /// Maps a [`crate::wire::cursor::Short`] read to `Truncated { what }`.
    pub(crate) fn truncated(
        what: &'static str,
    ) -> impl Fn(crate::wire::cursor::Short) -> CodecError {
        move |_| CodecError::Truncated { what }
    }
}

/// What both decoder configuration record writers check before writing a byte:
/// `nal_length_size` is 1..=4, no parameter set is longer than its 16-bit length field, and
/// `out` has room for the `needed` bytes of the record.
pub(crate) fn check_record_encode<'a>(
    nal_length_size: u8,
    mut sets: impl Iterator<Item = &'a Bytes>,
    needed: usize,
    out: &impl BufMut,
) -> Result<(), CodecError> {
    if !(1..=4).contains(&nal_length_size) {
        return Err(CodecError::Invalid {
            what: "NAL length size (must be 1 to 4 bytes)",
        });
    }
    if sets.any(|s| s.len() > usize::from(u16::MAX)) {
        return Err(CodecError::Unsupported {
            what: "parameter set longer than 65535 bytes",
        });
    }
    if out.remaining_mut() < needed {
        return Err(CodecError::NoSpace {
            needed,
            available: out.remaining_mut(),
        });
    }
    Ok(())
}

/// Which NAL unit syntax a length-prefixed frame uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalFormat {
    /// H.264: 1-byte NAL header, nal_unit_type in the low 5 bits.
    Avc,
    /// H.265: 2-byte NAL header, nal_unit_type in bits 1..=6 of the first byte.
    Hevc,
}

impl NalFormat {
    /// nal_unit_type from the first byte of a NAL unit (H.264 §7.3.1, H.265 §7.3.1.2).
    pub fn nal_type(self, first_byte: u8) -> u8 {
        match self {
            NalFormat::Avc => first_byte & 0x1f,
            NalFormat::Hevc => (first_byte >> 1) & 0x3f,
        }
    }
}

/// What the HTTP API reports about a video stream, read from its SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// H.264 profile_idc, or H.265 general_profile_idc.
    pub profile_idc: u8,
    /// H.264 level_idc (10 × level), or H.265 general_level_idc (30 × level).
    pub level_idc: u8,
    /// Displayed width in luma samples, cropping / conformance window applied.
    pub width: u32,
    /// Displayed height in luma samples (frame height for interlaced H.264).
    pub height: u32,
    /// chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format_idc: u8,
    /// BitDepthY (8 + bit_depth_luma_minus8).
    pub bit_depth_luma: u8,
}

impl SpsInfo {
    /// The facts of a parsed SPS; `chroma_format_idc` (0..=3) and `bit_depth_luma_minus8`
    /// (0..=8) are range-checked by the parsers.
    pub(crate) fn new(
        profile_idc: u8,
        level_idc: u8,
        (width, height): (u32, u32),
        chroma_format_idc: u32,
        bit_depth_luma_minus8: u32,
    ) -> SpsInfo {
        SpsInfo {
            profile_idc,
            level_idc,
            width,
            height,
            chroma_format_idc: chroma_format_idc as u8,
            bit_depth_luma: 8 + bit_depth_luma_minus8 as u8,
        }
    }
}

/// The offsets an SPS codes after its cropping flag (H.264 frame_crop_*_offset, H.265
/// conf_win_*_offset), all 0 when the flag is 0.
#[derive(Debug, Default)]
pub(crate) struct Crop {
    left: u32,
    right: u32,
    top: u32,
    bottom: u32,
}

impl Crop {
    /// Reads the flag and, when set, left, right, top and bottom (ue(v) each).
    pub(crate) fn read(r: &mut BitReader<'_>) -> Result<Crop, CodecError> {
        if !r.read_bit()? {
            return Ok(Crop::default());
        }
        Ok(Crop {
            left: r.read_ue()?,
            right: r.read_ue()?,
            top: r.read_ue()?,
            bottom: r.read_ue()?,
        })
    }

    /// The displayed (width, height): each coded dimension less its offsets times its crop
    /// unit, through [`cropped_dimension`]. `what` names, for the errors, the coded width,
    /// the horizontal crop, the coded height and the vertical crop.
    pub(crate) fn apply(
        &self,
        (coded_width, coded_height): (u64, u64),
        (unit_x, unit_y): (u64, u64),
        what: [&'static str; 4],
    ) -> Result<(u32, u32), CodecError> {
        let width =
            cropped_dimension(coded_width, unit_x, self.left, self.right, what[0], what[1])?;
        let height = cropped_dimension(
            coded_height,
            unit_y,
            self.top,
            self.bottom,
            what[2],
            what[3],
        )?;
        Ok((width, height))
    }
}

/// Checks a coded dimension against [`MAX_PICTURE_DIMENSION`] and subtracts the crop, all in
/// `u64` so no field value can overflow.
pub(crate) fn cropped_dimension(
    coded: u64,
    crop_unit: u64,
    crop_a: u32,
    crop_b: u32,
    what_coded: &'static str,
    what_crop: &'static str,
) -> Result<u32, CodecError> {
    if coded == 0 || coded > u64::from(MAX_PICTURE_DIMENSION) {
        return Err(CodecError::Invalid { what: what_coded });
    }
    let crop = (u64::from(crop_a) + u64::from(crop_b)) * crop_unit;
    if crop >= coded {
        return Err(CodecError::Invalid { what: what_crop });
    }
    u32::try_from(coded - crop).map_err(|_| CodecError::Invalid { what: what_coded })
}

/// SubWidthC and SubHeightC (H.264 Table 6-1, H.265 Table 6-1): the chroma subsampling
/// factors that scale the cropping / conformance window offsets. With a separate colour plane
/// (or monochrome) both are 1.
pub(crate) fn chroma_subsampling(
    chroma_format_idc: u32,
    separate_colour_plane: bool,
) -> (u32, u32) {
    match (chroma_format_idc, separate_colour_plane) {
        (1, _) => (2, 2),
        (2, _) => (2, 1),
        _ => (1, 1),
    }
}

/// What the H.264 and H.265 fuzz tests share: inputs made from golden seeds, and the bounds
/// every parsed SPS must respect.
#[cfg(test)]
pub(crate) mod fuzz {
    use super::{SpsInfo, MAX_PICTURE_DIMENSION};
    use crate::testutil::XorShift;

    /// Every 4th input is `random_len` random bytes at most; the others are a seed. Then
    /// one to four bytes are set to 0, 0xff or a random value.
    pub(crate) fn mutated(
        rng: &mut XorShift,
        round: usize,
        seeds: &[&[u8]],
        random_len: usize,
    ) -> Vec<u8> {
        let mut input = if round % 4 == 0 {
            (0..rng.below(random_len))
                .map(|_| rng.next() as u8)
                .collect()
        } else {
            seeds[rng.below(seeds.len())].to_vec()
        };
        for _ in 0..=rng.below(4) {
            if !input.is_empty() {
                let at = rng.below(input.len());
                input[at] = match rng.below(3) {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.next() as u8,
                };
            }
        }
        input
    }

    /// The SpsInfo of a 4:2:0, 8-bit stream.
    pub(crate) fn info(profile_idc: u8, level_idc: u8, width: u32, height: u32) -> SpsInfo {
        SpsInfo::new(profile_idc, level_idc, (width, height), 1, 0)
    }

    /// A parsed SPS has a displayable size within [`MAX_PICTURE_DIMENSION`].
    pub(crate) fn check_sps(info: &SpsInfo) {
        assert!(info.width > 0 && info.width <= MAX_PICTURE_DIMENSION);
        assert!(info.height > 0 && info.height <= MAX_PICTURE_DIMENSION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroma_subsampling_table() {
        assert_eq!(chroma_subsampling(0, false), (1, 1));
        assert_eq!(chroma_subsampling(1, false), (2, 2));
        assert_eq!(chroma_subsampling(2, false), (2, 1));
        assert_eq!(chroma_subsampling(3, false), (1, 1));
        assert_eq!(chroma_subsampling(3, true), (1, 1));
    }

    #[test]
    fn cropping_bounds() {
        assert_eq!(cropped_dimension(336, 2, 0, 7, "w", "crop"), Ok(322));
        assert_eq!(cropped_dimension(16_896, 1, 0, 0, "w", "crop"), Ok(16_896));
        assert_eq!(
            cropped_dimension(16_897, 1, 0, 0, "w", "crop"),
            Err(CodecError::Invalid { what: "w" })
        );
        assert_eq!(
            cropped_dimension(0, 1, 0, 0, "w", "crop"),
            Err(CodecError::Invalid { what: "w" })
        );
        assert_eq!(
            cropped_dimension(16, 2, 4, 4, "w", "crop"),
            Err(CodecError::Invalid { what: "crop" })
        );
        assert_eq!(
            cropped_dimension(16, 2, u32::MAX, u32::MAX, "w", "crop"),
            Err(CodecError::Invalid { what: "crop" })
        );
    }
}
