//! H.265 over RTP (RFC 7798) without decoding order numbers (`sprop-max-don-diff` 0): single
//! NAL unit packets (types 0–47), aggregation packets (AP, 48, §4.4.2) and fragmentation units
//! (FU, 49, §4.4.3). PACI (50) is refused as unsupported. This module has the numbers; the
//! machinery, the quirks tolerated and the depacketizer and packetizer types are in
//! [`super::nal`], the contract in [`super::payload`].

use super::nal::{Depacketizer, Layout, Packetizer, PPS, SPS, VPS};
use super::payload::RtpWriter;
use crate::wire::codec::h265::{NAL_PPS, NAL_SPS, NAL_VPS};
use crate::wire::codec::NalFormat;
use crate::wire::sdp::fmtp::H265Params;

/// Packet types (RFC 7798 §4.4).
pub const AP: u8 = 48;
pub const FU: u8 = 49;
/// NAL unit types of IRAP pictures (H.265 Table 7-1: BLA, IDR, CRA and the reserved IRAP
/// types 22 and 23).
pub const IRAP: std::ops::RangeInclusive<u8> = 16..=23;

static LAYOUT: Layout = Layout {
    format: NalFormat::Hevc,
    header_len: 2,
    aggregation: AP,
    fragmentation: FU,
    fu_type_mask: 0x3f,
    unsupported: &[
        (50, "PACI"),
        (51, "NAL unit type 51"),
        (52, "NAL unit type 52"),
        (53, "NAL unit type 53"),
        (54, "NAL unit type 54"),
        (55, "NAL unit type 55"),
        (56, "NAL unit type 56"),
        (57, "NAL unit type 57"),
        (58, "NAL unit type 58"),
        (59, "NAL unit type 59"),
        (60, "NAL unit type 60"),
        (61, "NAL unit type 61"),
        (62, "NAL unit type 62"),
        (63, "NAL unit type 63"),
    ],
    is_vcl: |t| t < 32,
    is_keyframe: |t| IRAP.contains(&t),
    parameter_slot: |t| match t {
        NAL_VPS => Some(VPS),
        NAL_SPS => Some(SPS),
        NAL_PPS => Some(PPS),
        _ => None,
    },
};

/// An H.265 depacketizer that knows the SDP's parameter sets from the start.
pub fn depacketizer(params: &H265Params) -> Depacketizer {
    Depacketizer::new(
        &LAYOUT,
        params.vps.iter().chain(&params.sps).chain(&params.pps),
    )
}

/// An H.265 packetizer: packets of at most `mtu` payload bytes (clamped to
/// `MIN_MTU..=MAX_PAYLOAD`) from access units whose NAL lengths take `nal_length_size`
/// bytes; aggregation packets on (see [`Packetizer::with_aggregation`]).
pub fn packetizer(writer: RtpWriter, mtu: usize, nal_length_size: u8) -> Packetizer {
    Packetizer::new(&LAYOUT, writer, mtu, nal_length_size)
}

#[cfg(test)]
mod tests;
