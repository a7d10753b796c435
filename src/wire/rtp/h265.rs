//! H.265 over RTP (RFC 7798) without decoding order numbers (`sprop-max-don-diff` 0): single
//! NAL unit packets (types 0–47), aggregation packets (AP, 48, §4.4.2) and fragmentation units
//! (FU, 49, §4.4.3). PACI (50) is refused as unsupported. The machinery and the quirks
//! tolerated are in [`super::nal`]; the contract in [`super::payload`].

use bytes::Bytes;

use super::nal::{self, Layout, PPS, SPS, VPS};
use super::payload::{AccessUnit, DepacketizeError, DepacketizeStats, PacketizeError, RtpWriter};
use super::RtpPacket;
use crate::wire::codec::h265::{HevcConfig, NAL_PPS, NAL_SPS, NAL_VPS};
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

/// H.265 access units from RTP packets.
#[derive(Debug)]
pub struct Depacketizer(nal::Depacketizer);

impl Depacketizer {
    /// Knows the SDP's parameter sets from the start.
    pub fn new(params: &H265Params) -> Depacketizer {
        Depacketizer(nal::Depacketizer::new(
            &LAYOUT,
            params.vps.iter().chain(&params.sps).chain(&params.pps),
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

    /// The latest VPS, SPS and PPS (from the SDP or in band).
    pub fn vps(&self) -> Option<&Bytes> {
        self.0.parameter_sets()[VPS].as_ref()
    }

    pub fn sps(&self) -> Option<&Bytes> {
        self.0.parameter_sets()[SPS].as_ref()
    }

    pub fn pps(&self) -> Option<&Bytes> {
        self.0.parameter_sets()[PPS].as_ref()
    }

    /// The decoder configuration of the latest VPS, SPS and PPS (4-byte NAL lengths, as the
    /// access units have), once all three are known and the SPS's profile_tier_level parses.
    pub fn hevc_config(&self) -> Option<HevcConfig> {
        HevcConfig::from_parameter_sets(
            self.vps()?.clone(),
            self.sps()?.clone(),
            self.pps()?.clone(),
            4,
        )
        .ok()
    }
}

/// RTP packets from H.265 access units.
#[derive(Debug)]
pub struct Packetizer(nal::Packetizer);

impl Packetizer {
    /// Packets of at most `mtu` payload bytes (clamped to `MIN_MTU..=MAX_PAYLOAD`) from access
    /// units whose NAL lengths take `nal_length_size` bytes; aggregation packets on.
    pub fn new(writer: RtpWriter, mtu: usize, nal_length_size: u8) -> Packetizer {
        Packetizer(nal::Packetizer::new(&LAYOUT, writer, mtu, nal_length_size))
    }

    /// APs for consecutive small NAL units (on by default; off is single NAL units and FUs
    /// only).
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
