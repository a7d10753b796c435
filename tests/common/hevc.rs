//! The HEVC test clip and its RTMP packaging: ffmpeg (libx265) makes an elementary stream
//! (Debian's ffmpeg 5.1 cannot put HEVC into FLV), cut here into access units with a decoder
//! configuration record made from its parameter sets, as a publisher sends them in legacy FLV
//! (codec id 12) or Enhanced RTMP `hvc1` tags.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{require, Proc, TempDir};
use tinysrs::wire::codec::annexb;

/// Frames of the test clip ([`Clip::encode`]): 2 s at 25 fps.
pub const FRAMES: usize = 50;
/// Keyframe interval of the clip: five GOPs, so a late joiner has something to skip.
pub const KEYINT: usize = 10;
/// The clip's frame duration (25 fps).
pub const FRAME_MS: u32 = 40;

/// HEVC NAL unit types (ITU-T H.265 Table 7-1).
pub const NAL_BLA_W_LP: u8 = 16;
pub const NAL_RSV_IRAP_23: u8 = 23;
pub const NAL_VPS: u8 = 32;
pub const NAL_SPS: u8 = 33;
pub const NAL_PPS: u8 = 34;
pub const NAL_AUD: u8 = 35;
pub const NAL_PREFIX_SEI: u8 = 39;
pub const NAL_VCL_MAX: u8 = 31;

/// Legacy FLV VideoTagHeader: CodecID 12 (HEVC), AVCPacketType 0 (sequence header) / 1 (NALUs).
pub const LEGACY_HEVC: u8 = 12;
/// Enhanced RTMP: IsExHeader bit, VideoPacketType SequenceStart / CodedFrames / CodedFramesX.
pub const EX_HEADER: u8 = 0x80;
pub const SEQUENCE_START: u8 = 0;
pub const CODED_FRAMES: u8 = 1;
pub const CODED_FRAMES_X: u8 = 3;
pub const FRAME_KEY: u8 = 1;
pub const FRAME_INTER: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// FrameType|CodecID 12, AVCPacketType, SI24 CompositionTime.
    Legacy,
    /// ExHeader|FrameType|PacketType, FourCC "hvc1" (CodedFrames with CTS for keyframes,
    /// CodedFramesX for the others, so both packet types are covered).
    Enhanced,
}

/// The HEVC test clip as ffmpeg/x265 made it, cut into access units.
pub struct Clip {
    pub config_record: Vec<u8>,
    pub access_units: Vec<AccessUnit>,
}

pub struct AccessUnit {
    /// NAL units without start codes; parameter sets and AUDs left out (they live in the
    /// configuration record, as `hvc1` requires).
    pub nals: Vec<Vec<u8>>,
    /// Holds an IRAP picture (NAL types 16..=23).
    pub keyframe: bool,
}

impl Clip {
    pub fn encode(dir: &TempDir) -> Clip {
        require("ffmpeg");
        let path: PathBuf = dir.path("clip.hevc");
        let mut ffmpeg = Proc::spawn(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-nostats", "-loglevel", "error"])
                .args([
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc=size=160x120:rate=25",
                    "-t",
                    "2",
                ])
                .args(["-pix_fmt", "yuv420p", "-c:v", "libx265"])
                // No B-frames: decode order is display order, so CompositionTime 0 is exact.
                .args(["-x265-params"])
                .arg(format!("keyint={KEYINT}:bframes=0:log-level=error"))
                .args(["-f", "hevc", "-y"])
                .arg(&path)
                .stdout(Stdio::null()),
            &dir.path("ffmpeg-x265.err"),
        );
        let status = ffmpeg.wait(Duration::from_secs(60));
        assert!(status.success(), "ffmpeg x265: {}", ffmpeg.stderr());
        let data = std::fs::read(&path).unwrap();
        let nals: Vec<&[u8]> = annexb::split(&data).collect();
        let find = |t: u8| {
            nals.iter()
                .find(|n| nal_type(n) == t)
                .unwrap_or_else(|| panic!("no NAL of type {t} in the clip"))
                .to_vec()
        };
        let config_record = hvcc(&find(NAL_VPS), &find(NAL_SPS), &find(NAL_PPS));
        let access_units = access_units(&nals)
            .into_iter()
            .map(|au| AccessUnit {
                keyframe: au
                    .iter()
                    .any(|n| (NAL_BLA_W_LP..=NAL_RSV_IRAP_23).contains(&nal_type(n))),
                nals: au
                    .into_iter()
                    .filter(|n| !(NAL_VPS..=NAL_AUD).contains(&nal_type(n)))
                    .map(<[u8]>::to_vec)
                    .collect(),
            })
            .collect();
        Clip {
            config_record,
            access_units,
        }
    }
}

pub fn nal_type(nal: &[u8]) -> u8 {
    (nal[0] >> 1) & 0x3f
}

/// Groups NAL units into access units (H.265 §7.4.2.4.4): a new one starts at a VCL NAL with
/// first_slice_segment_in_pic_flag set, or at an AUD, VPS, SPS, PPS or prefix SEI that
/// precedes such a NAL, once the current unit holds a picture.
pub fn access_units<'a>(nals: &[&'a [u8]]) -> Vec<Vec<&'a [u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let mut has_picture = false;
    for &nal in nals {
        let t = nal_type(nal);
        let starts_unit = if t <= NAL_VCL_MAX {
            nal.len() > 2 && nal[2] & 0x80 != 0
        } else {
            matches!(t, NAL_VPS..=NAL_AUD | NAL_PREFIX_SEI | 41..=44 | 48..=55)
        };
        if starts_unit && has_picture {
            units.push(std::mem::take(&mut current));
            has_picture = false;
        }
        has_picture |= t <= NAL_VCL_MAX;
        current.push(nal);
    }
    if has_picture {
        units.push(current);
    }
    units
}

/// The RBSP of a NAL unit payload: emulation prevention bytes (00 00 03) removed (§7.4.2).
fn unescape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads the bits of an RBSP, MSB first.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> u32 {
        let byte = self.data[self.pos / 8];
        self.pos += 1;
        u32::from(byte >> (7 - (self.pos - 1) % 8) & 1)
    }

    fn bits(&mut self, n: usize) -> u32 {
        (0..n).fold(0, |v, _| v << 1 | self.bit())
    }

    /// ue(v), §9.2.
    fn ue(&mut self) -> u32 {
        let mut zeros = 0;
        while self.bit() == 0 {
            zeros += 1;
        }
        (1 << zeros) - 1 + self.bits(zeros)
    }
}

/// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) with one VPS, SPS and PPS.
/// Profile, tier, level and constraint flags are copied from the SPS's profile_tier_level;
/// chroma format and bit depths are read from the SPS (§7.3.2.2).
pub fn hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let rbsp = unescape(&sps[2..]);
    // sps_video_parameter_set_id u(4), sps_max_sub_layers_minus1 u(3), temporal_id_nesting u(1)
    let max_sub_layers_minus1 = (rbsp[0] >> 1) & 0x07;
    let temporal_id_nested = rbsp[0] & 1;
    assert_eq!(
        max_sub_layers_minus1, 0,
        "one temporal layer (x265's default)"
    );
    // profile_tier_level(1, 0) (§7.3.3) is then 12 bytes: profile space/tier/idc, 32
    // compatibility flags, 48 constraint flags, general_level_idc.
    let profile_tier_level = &rbsp[1..13];
    let mut bits = Bits {
        data: &rbsp,
        pos: 13 * 8,
    };
    let _sps_id = bits.ue();
    let chroma_format_idc = bits.ue();
    if chroma_format_idc == 3 {
        let _separate_colour_plane = bits.bit();
    }
    let _width = bits.ue();
    let _height = bits.ue();
    if bits.bit() == 1 {
        // conformance window offsets
        for _ in 0..4 {
            bits.ue();
        }
    }
    let bit_depth_luma_minus8 = bits.ue();
    let bit_depth_chroma_minus8 = bits.ue();

    let mut out = vec![1]; // configurationVersion
    out.extend_from_slice(profile_tier_level);
    out.extend_from_slice(&[0xF0, 0x00]); // reserved 1111, min_spatial_segmentation_idc 0
    out.push(0xFC); // reserved 111111, parallelismType 0 (unknown)
    out.push(0xFC | chroma_format_idc as u8);
    out.push(0xF8 | bit_depth_luma_minus8 as u8);
    out.push(0xF8 | bit_depth_chroma_minus8 as u8);
    out.extend_from_slice(&[0, 0]); // avgFrameRate unspecified
                                    // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
    out.push(((max_sub_layers_minus1 + 1) << 3) | (temporal_id_nested << 2) | 3);
    out.push(3); // numOfArrays
    for (t, nal) in [(NAL_VPS, vps), (NAL_SPS, sps), (NAL_PPS, pps)] {
        out.push(0x80 | t); // array_completeness 1, NAL_unit_type
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

/// The NAL units of a configuration record, in array order.
pub fn hvcc_nals(record: &[u8]) -> Vec<&[u8]> {
    let mut nals = Vec::new();
    let arrays = record[22];
    let mut pos = 23;
    for _ in 0..arrays {
        let count = u16::from_be_bytes([record[pos + 1], record[pos + 2]]);
        pos += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([record[pos], record[pos + 1]]));
            nals.push(&record[pos + 2..pos + 2 + len]);
            pos += 2 + len;
        }
    }
    nals
}

pub fn sequence_header(packaging: Packaging, record: &[u8]) -> Vec<u8> {
    let mut body = match packaging {
        Packaging::Legacy => vec![FRAME_KEY << 4 | LEGACY_HEVC, 0, 0, 0, 0],
        Packaging::Enhanced => {
            let mut b = vec![EX_HEADER | FRAME_KEY << 4 | SEQUENCE_START];
            b.extend_from_slice(b"hvc1");
            b
        }
    };
    body.extend_from_slice(record);
    body
}

pub fn frame_body(packaging: Packaging, au: &AccessUnit) -> Vec<u8> {
    let frame_type = if au.keyframe { FRAME_KEY } else { FRAME_INTER };
    let mut body = match packaging {
        // AVCPacketType 1 (NALUs), CompositionTime 0.
        Packaging::Legacy => vec![frame_type << 4 | LEGACY_HEVC, 1, 0, 0, 0],
        Packaging::Enhanced => {
            let packet_type = if au.keyframe {
                CODED_FRAMES
            } else {
                CODED_FRAMES_X
            };
            let mut b = vec![EX_HEADER | frame_type << 4 | packet_type];
            b.extend_from_slice(b"hvc1");
            if packet_type == CODED_FRAMES {
                b.extend_from_slice(&[0, 0, 0]); // SI24 CompositionTime
            }
            b
        }
    };
    for nal in &au.nals {
        body.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        body.extend_from_slice(nal);
    }
    body
}
