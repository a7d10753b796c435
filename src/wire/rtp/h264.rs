//! H.264 over RTP (RFC 6184), packetization modes 0 and 1: single NAL unit packets (types
//! 1–23), STAP-A (24, §5.7.1) and FU-A (28, §5.8). STAP-B, MTAP16/24 and FU-B (25, 26, 27, 29:
//! interleaved mode) are refused as unsupported. This module has the numbers; the machinery,
//! the quirks tolerated and the depacketizer and packetizer types are in [`super::nal`], the
//! contract in [`super::payload`].

use super::nal::{Depacketizer, Layout, Packetizer, PPS, SPS};
use super::payload::RtpWriter;
use crate::wire::codec::h264::{NAL_PPS, NAL_SPS};
use crate::wire::codec::NalFormat;
use crate::wire::sdp::fmtp::H264Params;

/// Packet types (RFC 6184 Table 1).
pub const STAP_A: u8 = 24;
pub const FU_A: u8 = 28;
/// NAL unit type of an IDR picture's slice (H.264 Table 7-1).
pub const NAL_IDR: u8 = 5;

static LAYOUT: Layout = Layout {
    format: NalFormat::Avc,
    header_len: 1,
    aggregation: STAP_A,
    fragmentation: FU_A,
    fu_type_mask: 0x1f,
    unsupported: &[
        (25, "STAP-B (interleaved mode)"),
        (26, "MTAP16 (interleaved mode)"),
        (27, "MTAP24 (interleaved mode)"),
        (29, "FU-B (interleaved mode)"),
        (0, "NAL unit type 0"),
        (30, "NAL unit type 30"),
        (31, "NAL unit type 31"),
    ],
    is_vcl: |t| (1..=5).contains(&t),
    is_keyframe: |t| t == NAL_IDR,
    parameter_slot: |t| match t {
        NAL_SPS => Some(SPS),
        NAL_PPS => Some(PPS),
        _ => None,
    },
};

/// An H.264 depacketizer that knows the SDP's parameter sets from the start.
pub fn depacketizer(params: &H264Params) -> Depacketizer {
    Depacketizer::new(&LAYOUT, params.sps.iter().chain(&params.pps))
}

/// An H.264 packetizer: packets of at most `mtu` payload bytes (clamped to
/// `MIN_MTU..=MAX_PAYLOAD`) from access units whose NAL lengths take `nal_length_size`
/// bytes; STAP-A on (see [`Packetizer::with_aggregation`]).
pub fn packetizer(writer: RtpWriter, mtu: usize, nal_length_size: u8) -> Packetizer {
    Packetizer::new(&LAYOUT, writer, mtu, nal_length_size)
}

#[cfg(test)]
mod tests;
