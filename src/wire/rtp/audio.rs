//! Audio payload formats where a packet is a frame: G.711 µ-law and A-law (RFC 3551 §4.5.14,
//! PCMU and PCMA: one byte per sample and channel, 8 kHz) and Opus (RFC 7587 §4.2: one Opus
//! packet per RTP packet). The payload is the access unit, given out without a copy.
//!
//! Beyond [`super::payload`]: an empty payload is skipped without an error (Opus DTX, RFC
//! 7587 §4.1; a G.711 sender has no reason for one).

use bytes::{Bytes, BytesMut};

use super::payload::{
    clamp_mtu, AccessUnit, DepacketizeError, DepacketizeStats, PacketizeError, Ready, RtpWriter,
    SequenceCheck, MAX_PAYLOAD,
};
use super::RtpPacket;

/// Units waiting for `pop`: a push gives one.
const READY_CAP: usize = 4;

/// G.711 or Opus access units from RTP packets.
#[derive(Debug)]
pub struct Depacketizer {
    sequence: SequenceCheck,
    discontinuity: bool,
    ready: Ready,
    stats: DepacketizeStats,
}

impl Default for Depacketizer {
    fn default() -> Self {
        Depacketizer::new()
    }
}

impl Depacketizer {
    pub fn new() -> Depacketizer {
        Depacketizer {
            sequence: SequenceCheck::default(),
            discontinuity: false,
            ready: Ready::new(READY_CAP),
            stats: DepacketizeStats::default(),
        }
    }

    /// Never fails; the `Result` matches the other depacketizers.
    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        self.stats.packets += 1;
        if self.sequence.is_gap(packet.sequence, &mut self.stats) {
            self.discontinuity = true;
        }
        if packet.payload.is_empty() {
            self.stats.dropped_packets += 1;
            return Ok(());
        }
        let unit = AccessUnit {
            timestamp: packet.timestamp,
            data: packet.payload.clone(),
            keyframe: false,
            new_parameters: false,
            discontinuity: std::mem::take(&mut self.discontinuity),
        };
        self.ready.push(unit, &mut self.stats);
        Ok(())
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    pub fn stats(&self) -> DepacketizeStats {
        self.stats
    }
}

/// RTP packets from G.711 samples or Opus packets.
#[derive(Debug)]
pub struct Packetizer {
    writer: RtpWriter,
    /// G.711: at most this many bytes per packet (whole sample frames); `None` for Opus.
    g711_chunk: Option<usize>,
    channels: usize,
}

impl Packetizer {
    /// G.711 with `channels` interleaved channels: samples split over packets of at most
    /// `mtu` bytes, each packet's timestamp advanced by the samples before it.
    pub fn g711(writer: RtpWriter, mtu: usize, channels: u16) -> Packetizer {
        let channels = usize::from(channels.max(1));
        let mtu = clamp_mtu(mtu);
        Packetizer {
            writer,
            g711_chunk: Some((mtu / channels).max(1) * channels),
            channels,
        }
    }

    /// Opus: each access unit (one Opus packet) in one RTP packet, never fragmented.
    pub fn opus(writer: RtpWriter) -> Packetizer {
        Packetizer {
            writer,
            g711_chunk: None,
            channels: 1,
        }
    }

    pub fn next_sequence(&self) -> u16 {
        self.writer.sequence
    }

    /// Appends the packets of one access unit to `out` (marker bits clear: RFC 3551 §4.1
    /// sets it only after silence, which we do not detect).
    pub fn packetize(
        &mut self,
        timestamp: u32,
        access_unit: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), PacketizeError> {
        if access_unit.is_empty() {
            return Err(PacketizeError::Malformed {
                what: "empty audio access unit",
            });
        }
        let chunk = match self.g711_chunk {
            Some(chunk) => chunk,
            None if access_unit.len() > MAX_PAYLOAD => {
                return Err(PacketizeError::TooLarge {
                    len: access_unit.len(),
                    limit: MAX_PAYLOAD,
                })
            }
            None => access_unit.len(),
        };
        let pieces = access_unit.len().div_ceil(chunk);
        let mut buf = BytesMut::with_capacity(access_unit.len() + pieces * super::FIXED_HEADER_LEN);
        for (i, piece) in access_unit.chunks(chunk).enumerate() {
            // i * chunk is below the unit's length, which a slice holds; samples per channel.
            let offset = (i * chunk / self.channels) as u32;
            out.push(
                self.writer
                    .packet(&mut buf, false, timestamp.wrapping_add(offset), &[piece]),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(sequence: u16, timestamp: u32, payload: &'static [u8]) -> RtpPacket {
        RtpPacket {
            marker: false,
            payload_type: 8,
            sequence,
            timestamp,
            ssrc: 1,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn each_packet_is_a_unit_and_gaps_are_flagged() {
        let mut d = Depacketizer::new();
        for (seq, ts, payload) in [(1, 0, &b"ab"[..]), (2, 160, b""), (5, 480, b"cd")] {
            d.push(&packet(seq, ts, payload)).unwrap();
        }
        let first = d.pop().unwrap();
        assert_eq!((first.timestamp, &first.data[..]), (0, &b"ab"[..]));
        assert!(!first.discontinuity);
        let second = d.pop().unwrap();
        assert_eq!((second.timestamp, &second.data[..]), (480, &b"cd"[..]));
        assert!(second.discontinuity);
        assert_eq!(d.pop(), None);
        let stats = d.stats();
        assert_eq!(
            (
                stats.packets,
                stats.access_units,
                stats.lost_packets,
                stats.dropped_packets
            ),
            (3, 2, 2, 1)
        );
    }

    /// 400 A-law samples of stereo in 64-byte packets: whole sample pairs per packet,
    /// timestamps advance by samples per channel; round trip through the depacketizer.
    #[test]
    fn g711_split_and_round_trip() {
        let writer = RtpWriter {
            payload_type: 8,
            ssrc: 0x1234_5678,
            sequence: 65535,
        };
        let mut p = Packetizer::g711(writer, 10, 2); // clamped to MIN_MTU
        let samples: Vec<u8> = (0..400u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        p.packetize(1000, &samples, &mut out).unwrap();
        assert_eq!(out.len(), 7); // 64 * 6 + 16
        let mut d = Depacketizer::new();
        let mut joined = Vec::new();
        for (i, bytes) in out.iter().enumerate() {
            let packet = RtpPacket::decode(bytes.clone()).unwrap();
            assert_eq!(packet.sequence, 65535u16.wrapping_add(i as u16));
            assert_eq!(packet.timestamp, 1000 + 32 * i as u32);
            assert_eq!(
                (packet.payload_type, packet.ssrc, packet.marker),
                (8, 0x1234_5678, false)
            );
            d.push(&packet).unwrap();
            joined.extend_from_slice(&d.pop().unwrap().data);
        }
        assert_eq!(joined, samples);
        assert_eq!(p.next_sequence(), 6);
    }

    #[test]
    fn opus_is_one_packet() {
        let writer = RtpWriter {
            payload_type: 111,
            ssrc: 7,
            sequence: 0,
        };
        let mut p = Packetizer::opus(writer);
        let frame = vec![0xfc; 3000]; // larger than any MTU: still one packet
        let mut out = Vec::new();
        p.packetize(960, &frame, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(
            &out[0][..12],
            &[0x80, 111, 0, 0, 0, 0, 0x03, 0xc0, 0, 0, 0, 7]
        );
        assert_eq!(&out[0][12..], &frame[..]);
        assert!(p.packetize(0, &[], &mut out).is_err());
        assert!(p.packetize(0, &vec![0; MAX_PAYLOAD + 1], &mut out).is_err());
        assert_eq!(out.len(), 1);
    }
}
