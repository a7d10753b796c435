//! H.264 over RTP (RFC 6184), packetization modes 0 and 1: single NAL unit packets (types
//! 1–23), STAP-A (24, §5.7.1) and FU-A (28, §5.8). STAP-B, MTAP16/24 and FU-B (25, 26, 27, 29:
//! interleaved mode) are refused as unsupported. The machinery and the quirks tolerated are in
//! [`super::nal`]; the contract in [`super::payload`].

use bytes::Bytes;

use super::nal::{self, Layout, PPS, SPS};
use super::payload::{AccessUnit, DepacketizeError, DepacketizeStats, PacketizeError, RtpWriter};
use super::RtpPacket;
use crate::wire::codec::h264::AvcConfig;
use crate::wire::codec::h264::{NAL_PPS, NAL_SPS};
use crate::wire::codec::NalFormat;
use crate::wire::sdp::fmtp::{self, H264Params};

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

/// H.264 access units from RTP packets.
#[derive(Debug)]
pub struct Depacketizer(nal::Depacketizer);

impl Depacketizer {
    /// Knows the SDP's parameter sets from the start.
    pub fn new(params: &H264Params) -> Depacketizer {
        Depacketizer(nal::Depacketizer::new(
            &LAYOUT,
            params.sps.iter().chain(&params.pps),
        ))
    }

    /// Another cap on the access unit size (at least [`super::MIN_MAX_ACCESS_UNIT`]).
    pub fn with_max_access_unit(self, max: usize) -> Depacketizer {
        Depacketizer(self.0.with_max_access_unit(max))
    }

    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        self.0.push(packet)
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.0.pop()
    }

    pub fn stats(&self) -> DepacketizeStats {
        self.0.stats()
    }

    /// The latest SPS and PPS (from the SDP or in band).
    pub fn sps(&self) -> Option<&Bytes> {
        self.0.parameter_sets()[SPS].as_ref()
    }

    pub fn pps(&self) -> Option<&Bytes> {
        self.0.parameter_sets()[PPS].as_ref()
    }

    /// The decoder configuration of the latest SPS and PPS (4-byte NAL lengths, as the access
    /// units have), once both are known.
    pub fn avc_config(&self) -> Option<AvcConfig> {
        fmtp::avc_config(self.sps()?.clone(), self.pps()?.clone())
    }
}

/// RTP packets from H.264 access units.
#[derive(Debug)]
pub struct Packetizer(nal::Packetizer);

impl Packetizer {
    /// Packets of at most `mtu` payload bytes (clamped to `MIN_MTU..=MAX_PAYLOAD`) from access
    /// units whose NAL lengths take `nal_length_size` bytes; STAP-A on.
    pub fn new(writer: RtpWriter, mtu: usize, nal_length_size: u8) -> Packetizer {
        Packetizer(nal::Packetizer::new(&LAYOUT, writer, mtu, nal_length_size))
    }

    /// STAP-A for consecutive small NAL units (on by default; off is single NAL units and
    /// FU-A only, which any mode-1 receiver takes as well).
    pub fn with_aggregation(self, aggregate: bool) -> Packetizer {
        Packetizer(self.0.with_aggregation(aggregate))
    }

    pub fn packetize(
        &mut self,
        timestamp: u32,
        access_unit: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), PacketizeError> {
        self.0.packetize(timestamp, access_unit, out)
    }

    pub fn next_sequence(&self) -> u16 {
        self.0.next_sequence()
    }
}

#[cfg(test)]
mod tests;
