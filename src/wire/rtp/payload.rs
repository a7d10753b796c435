//! What every RTP payload format shares: the [`AccessUnit`] a depacketizer gives, its errors and
//! counters, the RTP header writer of the packetizers, and [`Depacketizer`] / [`Packetizer`],
//! which pick the format's own from a [`PayloadFormat`].
//!
//! The contract of every depacketizer (`h264`, `h265`, `aac`, `latm`, `audio`, and
//! `av1_depacketizer` through its [`av1_depacketizer::Queued`]):
//!
//! * [`Depacketizer::push`] one RTP packet at a time, in sequence order (after
//!   [`super::Reorder`] on UDP), then [`Depacketizer::pop`] until `None`. Nothing is read
//!   from a clock: an access unit is complete when its last packet says so (marker bit,
//!   declared size) or the next one begins (timestamp change).
//! * A sequence gap is a loss: the access unit it touched is dropped, packets of that unit
//!   that still arrive are dropped, and assembly resumes with the next unit; the next access
//!   unit given out has [`AccessUnit::discontinuity`] set. Losses are counted, not errors.
//! * An `Err` from `push` concerns one packet and the access unit it belonged to (dropped,
//!   counted); the depacketizer stays usable. None is worth more than a debug log line: the
//!   peer controls them.
//! * Memory: one access unit being assembled, at most the depacketizer's cap
//!   ([`DEFAULT_MAX_ACCESS_UNIT`] unless set), grown as bytes arrive (never sized from a
//!   length in a packet), plus the units ready and not yet popped.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::{
    aac, audio, av1, av1_depacketizer, h264, h265, latm, nal, RtpPacket, FIXED_HEADER_LEN, VERSION,
};
use crate::wire::sdp::fmtp::PayloadFormat;

/// The largest access unit a depacketizer assembles unless given another cap: a 4K H.265
/// keyframe from a camera is at most about 1 MiB, so 2 MiB is twice that. RAM: one such
/// buffer per track being assembled. An access unit that grows past it is dropped
/// ([`DepacketizeError::TooLarge`]), which bounds a fragmented NAL unit that never ends.
pub const DEFAULT_MAX_ACCESS_UNIT: usize = 2 * 1024 * 1024;
/// The smallest cap [`Depacketizer::with_max_access_unit`] takes: anything below would drop
/// ordinary pictures.
pub const MIN_MAX_ACCESS_UNIT: usize = 64 * 1024;
/// Payload bytes per packet of our packetizers unless told otherwise: 1500-byte Ethernet
/// less IPv4 (20), UDP (8), RTP (12) and room for a tunnel or PPPoE header; as interleaved
/// frames over TCP it keeps packets the same.
pub const DEFAULT_MTU: usize = 1400;
/// Smallest payload size a packetizer takes: room for fragment headers and some data.
pub const MIN_MTU: usize = 64;
/// Largest RTP payload a packetizer writes whatever the MTU (an Opus packet is never
/// fragmented): what fits an interleaved frame or a UDP datagram with the RTP header.
pub const MAX_PAYLOAD: usize = u16::MAX as usize - FIXED_HEADER_LEN;

/// A video picture or an audio frame, reassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// RTP timestamp (the presentation time, in the track's clock); see
    /// [`super::timestamp::Unwrapper`] for a 64-bit timeline.
    pub timestamp: u32,
    /// H.264/H.265: the NAL units with 4-byte big-endian lengths (AVCC/HVCC, what FLV and MP4
    /// carry), in order, parameter sets included when the stream sends them. AV1: the temporal
    /// unit's OBUs with obu_has_size_field, sequence headers included. AAC: one raw
    /// access unit (no ADTS). G.711, Opus: the payload as sent.
    pub data: Bytes,
    /// Video: an IDR (H.264) or IRAP (H.265) picture, an AV1 temporal unit that starts a coded
    /// video sequence with its sequence header. Audio: false.
    pub keyframe: bool,
    /// Video: this unit carried a parameter set that differs from the one known before (from
    /// the SDP or earlier in the stream): read the new ones from the depacketizer
    /// (`avc_config`, `hevc_config`) and announce a new sequence header.
    pub new_parameters: bool,
    /// Packets were lost, or a unit was dropped, between the previous unit given out and this
    /// one (or this is the first after a loss). A decoder may need the next keyframe.
    pub discontinuity: bool,
}

/// Why a packet was not used. Each concerns that packet and the access unit it belonged to,
/// which is dropped; `sequence` is the packet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepacketizeError {
    /// The payload breaks its format.
    #[error("RTP packet {sequence}: malformed payload: {what}")]
    Malformed { sequence: u16, what: &'static str },
    /// A packet type or option the format allows but we do not handle.
    #[error("RTP packet {sequence}: unsupported payload: {what}")]
    Unsupported { sequence: u16, what: &'static str },
    /// The access unit grew past the cap (a fragmented unit that never ends, say).
    #[error("RTP packet {sequence}: access unit over {limit} bytes dropped")]
    TooLarge { sequence: u16, limit: usize },
    /// The next access unit began before a fragmented NAL unit or AU ended, with no sequence
    /// gap (the sender's fault); the incomplete unit was dropped, this packet was used.
    #[error("RTP packet {sequence}: access unit ended inside a fragment; dropped")]
    Incomplete { sequence: u16 },
}

/// Counters of a depacketizer; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DepacketizeStats {
    /// Packets pushed.
    pub packets: u64,
    /// Access units given out.
    pub access_units: u64,
    /// Sequence numbers missing between packets (the sum of the gaps).
    pub lost_packets: u64,
    /// Packets not used: malformed, unsupported, or part of a unit already dropped.
    pub dropped_packets: u64,
    /// Access units dropped, for any reason (loss, error, size, overflow of the ready queue).
    pub dropped_access_units: u64,
    /// Of those, dropped for growing past the cap.
    pub too_large: u64,
}

/// Sequence numbers seen, to find gaps.
#[derive(Debug, Default, Clone)]
pub(super) struct SequenceCheck {
    last: Option<u16>,
}

impl SequenceCheck {
    /// `true` when `sequence` does not follow the previous one (a gap, a duplicate, a jump
    /// back); a gap forward is added to `stats.lost_packets`.
    pub(super) fn is_gap(&mut self, sequence: u16, stats: &mut DepacketizeStats) -> bool {
        let Some(last) = self.last.replace(sequence) else {
            return false;
        };
        let gap = sequence.wrapping_sub(last.wrapping_add(1));
        if gap == 0 {
            return false;
        }
        if gap < 0x8000 {
            stats.lost_packets += u64::from(gap);
        }
        true
    }
}

/// Units ready for `pop`, at most `cap`: beyond it the oldest is dropped (a caller that does
/// not drain after each push).
#[derive(Debug)]
pub(super) struct Ready {
    units: VecDeque<AccessUnit>,
    cap: usize,
}

impl Ready {
    pub(super) fn new(cap: usize) -> Ready {
        Ready {
            units: VecDeque::new(),
            cap,
        }
    }

    pub(super) fn push(&mut self, unit: AccessUnit, stats: &mut DepacketizeStats) {
        if self.units.len() == self.cap {
            self.units.pop_front();
            stats.dropped_access_units += 1;
        }
        stats.access_units += 1;
        self.units.push_back(unit);
    }

    pub(super) fn pop(&mut self) -> Option<AccessUnit> {
        self.units.pop_front()
    }
}

/// Clamps a cap given to `with_max_access_unit`.
pub(super) fn clamp_cap(max: usize) -> usize {
    max.max(MIN_MAX_ACCESS_UNIT)
}

/// Any depacketizer, chosen by the track's payload format.
#[derive(Debug)]
pub enum Depacketizer {
    /// H.264 or H.265.
    Nal(nal::Depacketizer),
    Aac(aac::Depacketizer),
    Latm(latm::Depacketizer),
    Audio(audio::Depacketizer),
    Av1(av1_depacketizer::Queued),
}

impl Depacketizer {
    pub fn new(format: &PayloadFormat) -> Depacketizer {
        match format {
            PayloadFormat::H264(p) => Depacketizer::Nal(h264::depacketizer(p)),
            PayloadFormat::H265(p) => Depacketizer::Nal(h265::depacketizer(p)),
            PayloadFormat::Aac(p) => Depacketizer::Aac(aac::Depacketizer::new(p)),
            PayloadFormat::Latm(p) => Depacketizer::Latm(latm::Depacketizer::new(p)),
            PayloadFormat::Pcmu { .. } | PayloadFormat::Pcma { .. } | PayloadFormat::Opus(_) => {
                Depacketizer::Audio(audio::Depacketizer::new())
            }
            PayloadFormat::Av1 => {
                Depacketizer::Av1(av1_depacketizer::Queued::new(DEFAULT_MAX_ACCESS_UNIT))
            }
        }
    }

    /// Another cap on the access unit size (clamped to at least [`MIN_MAX_ACCESS_UNIT`]).
    pub fn with_max_access_unit(self, max: usize) -> Depacketizer {
        match self {
            Depacketizer::Nal(d) => Depacketizer::Nal(d.with_max_access_unit(max)),
            Depacketizer::Aac(d) => Depacketizer::Aac(d.with_max_access_unit(max)),
            // Its own cap, MAX_ELEMENT: an AAC frame.
            Depacketizer::Latm(d) => Depacketizer::Latm(d),
            Depacketizer::Audio(d) => Depacketizer::Audio(d),
            Depacketizer::Av1(_) => {
                Depacketizer::Av1(av1_depacketizer::Queued::new(clamp_cap(max)))
            }
        }
    }

    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        match self {
            Depacketizer::Nal(d) => d.push(packet),
            Depacketizer::Aac(d) => d.push(packet),
            Depacketizer::Latm(d) => d.push(packet),
            Depacketizer::Audio(d) => d.push(packet),
            Depacketizer::Av1(d) => d.push(packet),
        }
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        match self {
            Depacketizer::Nal(d) => d.pop(),
            Depacketizer::Aac(d) => d.pop(),
            Depacketizer::Latm(d) => d.pop(),
            Depacketizer::Audio(d) => d.pop(),
            Depacketizer::Av1(d) => d.pop(),
        }
    }

    pub fn stats(&self) -> DepacketizeStats {
        match self {
            Depacketizer::Nal(d) => d.stats(),
            Depacketizer::Aac(d) => d.stats(),
            Depacketizer::Latm(d) => d.stats(),
            Depacketizer::Audio(d) => d.stats(),
            Depacketizer::Av1(d) => d.stats(),
        }
    }
}

/// Why an access unit could not be packetized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketizeError {
    /// The access unit is not what the format takes (a NAL length running past the end,
    /// a NAL unit shorter than its header, an empty unit).
    #[error("cannot packetize: {what}")]
    Malformed { what: &'static str },
    /// Longer than the format can carry (an AAC unit over 8191 bytes with 13-bit sizes).
    #[error("access unit of {len} bytes too large for the payload format (max {limit})")]
    TooLarge { len: usize, limit: usize },
}

/// Writes RTP headers for one track: payload type, SSRC and the next sequence number.
#[derive(Debug, Clone)]
pub struct RtpWriter {
    pub payload_type: u8,
    pub ssrc: u32,
    /// The sequence number of the next packet.
    pub sequence: u16,
}

impl RtpWriter {
    /// Appends one packet to `buf` (V=2, no padding, extension or CSRC) and returns it,
    /// split off `buf` (so one allocation can hold every packet of an access unit).
    pub(super) fn packet(
        &mut self,
        buf: &mut BytesMut,
        marker: bool,
        timestamp: u32,
        parts: &[&[u8]],
    ) -> Bytes {
        buf.put_u8(VERSION << 6);
        buf.put_u8((u8::from(marker) << 7) | (self.payload_type & 0x7f));
        buf.put_u16(self.sequence);
        buf.put_u32(timestamp);
        buf.put_u32(self.ssrc);
        for part in parts {
            buf.put_slice(part);
        }
        self.sequence = self.sequence.wrapping_add(1);
        buf.split().freeze()
    }
}

/// Any packetizer, chosen by the track's payload format.
#[derive(Debug)]
pub enum Packetizer {
    /// H.264 or H.265.
    Nal(nal::Packetizer),
    Aac(aac::Packetizer),
    Latm(latm::Packetizer),
    Audio(audio::Packetizer),
    /// AV1 ([`av1::Packetizer`]); N is set on a temporal unit that carries a sequence header.
    Av1 {
        packetizer: av1::Packetizer,
        writer: RtpWriter,
    },
}

impl Packetizer {
    /// A packetizer writing `writer`'s payload type, SSRC and sequence numbers, with at most
    /// `mtu` payload bytes per packet (clamped to [`MIN_MTU`]..=[`MAX_PAYLOAD`]). Video
    /// access units come with NAL lengths of `nal_length_size` bytes (their decoder
    /// configuration's); audio ignores it.
    pub fn new(
        format: &PayloadFormat,
        writer: RtpWriter,
        mtu: usize,
        nal_length_size: u8,
    ) -> Packetizer {
        match format {
            PayloadFormat::H264(_) => {
                Packetizer::Nal(h264::packetizer(writer, mtu, nal_length_size))
            }
            PayloadFormat::H265(_) => {
                Packetizer::Nal(h265::packetizer(writer, mtu, nal_length_size))
            }
            PayloadFormat::Aac(_) => Packetizer::Aac(aac::Packetizer::new(writer, mtu)),
            PayloadFormat::Latm(_) => Packetizer::Latm(latm::Packetizer::new(writer, mtu)),
            PayloadFormat::Pcmu { channels } | PayloadFormat::Pcma { channels } => {
                Packetizer::Audio(audio::Packetizer::g711(writer, mtu, *channels))
            }
            PayloadFormat::Opus(_) => Packetizer::Audio(audio::Packetizer::opus(writer)),
            PayloadFormat::Av1 => Packetizer::Av1 {
                packetizer: av1::Packetizer::new(mtu),
                writer,
            },
        }
    }

    /// The packets of one access unit (see each format's `packetize`), appended to `out`.
    /// On error nothing is appended and no sequence number is used.
    pub fn packetize(
        &mut self,
        timestamp: u32,
        access_unit: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), PacketizeError> {
        match self {
            Packetizer::Nal(p) => p.packetize(timestamp, access_unit, out),
            Packetizer::Aac(p) => p.packetize(timestamp, access_unit, out),
            Packetizer::Latm(p) => p.packetize(timestamp, access_unit, out),
            Packetizer::Audio(p) => p.packetize(timestamp, access_unit, out),
            Packetizer::Av1 { packetizer, writer } => {
                let mut payloads = Vec::new();
                packetizer.packetize(access_unit, true, None, &mut payloads)?;
                let last = payloads.len().saturating_sub(1);
                let mut buf = BytesMut::new();
                for (i, p) in payloads.iter().enumerate() {
                    out.push(writer.packet(&mut buf, i == last, timestamp, &[p]));
                }
                Ok(())
            }
        }
    }

    /// The sequence number the next packet will carry (for `RTP-Info`).
    pub fn next_sequence(&self) -> u16 {
        match self {
            Packetizer::Nal(p) => p.next_sequence(),
            Packetizer::Aac(p) => p.next_sequence(),
            Packetizer::Latm(p) => p.next_sequence(),
            Packetizer::Audio(p) => p.next_sequence(),
            Packetizer::Av1 { writer, .. } => writer.sequence,
        }
    }
}

/// The MTU a packetizer uses for `mtu`.
pub(super) fn clamp_mtu(mtu: usize) -> usize {
    mtu.clamp(MIN_MTU, MAX_PAYLOAD)
}
