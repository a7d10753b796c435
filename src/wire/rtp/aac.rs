//! AAC over RTP in `mpeg4-generic` (RFC 3640), modes `AAC-hbr` and `AAC-lbr`: a 16-bit
//! AU-headers-length in bits, the AU-headers (§3.2.1: AU-size, AU-Index / AU-Index-delta,
//! optional CTS/DTS deltas, RAP flag, stream state), an optional auxiliary section (§3.2.2,
//! skipped), then the access units: several whole ones in a packet, or one fragmented over
//! packets whose AU-size gives the whole unit's size (§3.2.3, §3.3.6).
//!
//! What a caller must know (beyond [`super::payload`]):
//! * Access unit `i` of a packet has the packet's timestamp plus `i` times the unit duration
//!   ([`AacParams::frame_duration`]: `constantDuration`, else 1024 samples).
//! * Interleaving (an AU-Index-delta other than 0) is refused as unsupported.
//! * After a loss, fragments are dropped until a packet with the marker bit (the last
//!   fragment of a unit) has passed, since nothing in a fragment says whether it is the
//!   first; whole units are used at once.
//! * Our packetizer writes AAC-hbr with one unit per packet, fragmented over packets when
//!   larger than the MTU.

use bytes::{BufMut, Bytes, BytesMut};

use super::payload::{
    clamp_cap, clamp_mtu, AccessUnit, DepacketizeError, DepacketizeStats, PacketizeError, Ready,
    RtpWriter, SequenceCheck, DEFAULT_MAX_ACCESS_UNIT,
};
use super::RtpPacket;
use crate::wire::codec::bits::BitReader;
use crate::wire::sdp::fmtp::AacParams;

/// Most AU-headers read from one packet. Why: each whole unit is at least a few bytes, so a
/// 1400-byte packet carries at most a few dozen real ones; 64 bounds the units one packet can
/// queue (the header section itself could claim 4095).
pub const MAX_AUS_PER_PACKET: usize = 64;
/// The AU-headers-length field.
const HEADERS_LENGTH_LEN: usize = 2;
/// AAC-hbr's AU-size is 13 bits: the largest unit our packetizer can describe.
pub const MAX_HBR_ACCESS_UNIT: usize = (1 << 13) - 1;
/// Bytes of the AU-headers section our packetizer writes: the 16-bit length (16) and one
/// AU-header (13-bit size, 3-bit index 0).
const HBR_HEADER: usize = 4;

/// The AU-header section, read field by field, counting bits.
struct HeaderBits<'a> {
    reader: BitReader<'a>,
    bits: usize,
}

impl HeaderBits<'_> {
    /// A field of `n` bits (0 to 32); `None` past the end.
    fn read(&mut self, n: u8) -> Option<u32> {
        self.bits += usize::from(n);
        self.reader.read_bits(u32::from(n)).ok()
    }
}

/// A unit arriving in fragments.
#[derive(Debug)]
struct Fragment {
    timestamp: u32,
    size: usize,
    data: BytesMut,
}

/// AAC access units from RTP packets.
#[derive(Debug)]
pub struct Depacketizer {
    params: AacParams,
    max_access_unit: usize,
    fragment: Option<Fragment>,
    /// After a loss: fragments are dropped until a marker bit.
    resync: bool,
    sequence: SequenceCheck,
    discontinuity: bool,
    ready: Ready,
    stats: DepacketizeStats,
}

impl Depacketizer {
    pub fn new(params: &AacParams) -> Depacketizer {
        Depacketizer {
            params: params.clone(),
            max_access_unit: DEFAULT_MAX_ACCESS_UNIT,
            fragment: None,
            resync: false,
            sequence: SequenceCheck::default(),
            discontinuity: false,
            ready: Ready::new(MAX_AUS_PER_PACKET + 1),
            stats: DepacketizeStats::default(),
        }
    }

    /// Another cap on the access unit size (at least [`super::MIN_MAX_ACCESS_UNIT`]).
    pub fn with_max_access_unit(mut self, max: usize) -> Depacketizer {
        self.max_access_unit = clamp_cap(max);
        self
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    pub fn stats(&self) -> DepacketizeStats {
        self.stats
    }

    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        self.stats.packets += 1;
        let sequence = packet.sequence;
        if self.sequence.is_gap(sequence, &mut self.stats) {
            self.discontinuity = true;
            self.resync = true;
            if self.fragment.take().is_some() {
                self.stats.dropped_access_units += 1;
            }
        }
        let result = self.units(packet);
        // `Incomplete` reports an earlier unit; this packet was used.
        if result
            .as_ref()
            .is_err_and(|e| !matches!(e, DepacketizeError::Incomplete { .. }))
        {
            self.stats.dropped_packets += 1;
            if self.fragment.take().is_some() {
                self.stats.dropped_access_units += 1;
            }
            self.discontinuity = true;
            self.resync = !packet.marker;
        }
        result
    }

    fn units(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        let sequence = packet.sequence;
        let malformed = |what| DepacketizeError::Malformed { sequence, what };
        let payload = &packet.payload;
        let Some(length) = payload.get(..HEADERS_LENGTH_LEN) else {
            return Err(malformed("no AU-headers-length"));
        };
        let header_bits = usize::from(u16::from_be_bytes([length[0], length[1]]));
        let data_at = HEADERS_LENGTH_LEN + header_bits.div_ceil(8);
        let Some(headers) = payload.get(HEADERS_LENGTH_LEN..data_at) else {
            return Err(malformed("AU-headers run past the packet"));
        };
        let mut sizes = heapless::Vec::<usize, MAX_AUS_PER_PACKET>::new();
        let mut fields = HeaderBits {
            reader: BitReader::raw(headers, "AU-header"),
            bits: 0,
        };
        let cut = || malformed("AU-header cut");
        let p = &self.params;
        while fields.bits < header_bits {
            let size = fields.read(p.size_length).ok_or_else(cut)?;
            let index_length = if sizes.is_empty() {
                p.index_length
            } else {
                p.index_delta_length
            };
            let index = fields.read(index_length).ok_or_else(cut)?;
            if !sizes.is_empty() && index != 0 {
                return Err(DepacketizeError::Unsupported {
                    sequence,
                    what: "interleaving (AU-Index-delta)",
                });
            }
            for delta in [p.cts_delta_length, p.dts_delta_length] {
                if delta > 0 && fields.read(1).ok_or_else(cut)? == 1 {
                    fields.read(delta).ok_or_else(cut)?;
                }
            }
            fields
                .read(u8::from(p.random_access_indication))
                .ok_or_else(cut)?;
            fields.read(p.stream_state_indication).ok_or_else(cut)?;
            if fields.bits > header_bits {
                return Err(cut());
            }
            sizes
                .push(size as usize)
                .map_err(|_| malformed("too many AU-headers"))?;
        }
        let mut data = payload.slice(data_at..);
        if p.auxiliary_data_size_length > 0 {
            let mut aux = BitReader::raw(&data, "auxiliary section");
            let aux_bits =
                aux.read_bits(u32::from(p.auxiliary_data_size_length))
                    .map_err(|_| malformed("auxiliary section cut"))? as usize;
            let skip = (usize::from(p.auxiliary_data_size_length) + aux_bits).div_ceil(8);
            if skip > data.len() {
                return Err(malformed("auxiliary section runs past the packet"));
            }
            data = data.slice(skip..);
        }
        match sizes[..] {
            [] => Err(malformed("no AU-header")),
            [size] if size > data.len() => self.add_fragment(packet, size, &data),
            _ => {
                if let Some(fragment) = self.fragment.take() {
                    // The unit in fragments never ended: a fault of the sender (no gap).
                    drop(fragment);
                    self.stats.dropped_access_units += 1;
                    self.discontinuity = true;
                    self.emit_whole(packet, &sizes, &data)?;
                    return Err(DepacketizeError::Incomplete { sequence });
                }
                self.emit_whole(packet, &sizes, &data)
            }
        }
    }

    /// Whole units: slices of the payload, no copy.
    fn emit_whole(
        &mut self,
        packet: &RtpPacket,
        sizes: &[usize],
        data: &Bytes,
    ) -> Result<(), DepacketizeError> {
        let total = sizes.iter().try_fold(0usize, |sum, &s| sum.checked_add(s));
        if total.is_none_or(|t| t > data.len()) {
            return Err(DepacketizeError::Malformed {
                sequence: packet.sequence,
                what: "AU sizes exceed the payload",
            });
        }
        self.resync = false;
        let duration = self.params.frame_duration();
        let mut at = 0;
        for (i, &size) in sizes.iter().enumerate() {
            let unit = data.slice(at..at + size);
            at += size;
            if unit.is_empty() {
                continue;
            }
            let offset = duration.wrapping_mul(i as u32);
            self.emit(packet.timestamp.wrapping_add(offset), unit);
        }
        Ok(())
    }

    fn add_fragment(
        &mut self,
        packet: &RtpPacket,
        size: usize,
        data: &Bytes,
    ) -> Result<(), DepacketizeError> {
        let sequence = packet.sequence;
        let mut incomplete = None;
        let continues = self
            .fragment
            .as_ref()
            .is_some_and(|f| f.timestamp == packet.timestamp && f.size == size);
        if !continues && self.fragment.take().is_some() {
            self.stats.dropped_access_units += 1;
            self.discontinuity = true;
            incomplete = Some(DepacketizeError::Incomplete { sequence });
        }
        if !continues {
            if self.resync {
                self.stats.dropped_packets += 1;
                self.resync = !packet.marker;
                return incomplete.map_or(Ok(()), Err);
            }
            if size > self.max_access_unit {
                self.stats.too_large += 1;
                return Err(DepacketizeError::TooLarge {
                    sequence,
                    limit: self.max_access_unit,
                });
            }
            self.fragment = Some(Fragment {
                timestamp: packet.timestamp,
                size,
                data: BytesMut::new(),
            });
        }
        let Some(fragment) = self.fragment.as_mut() else {
            return incomplete.map_or(Ok(()), Err);
        };
        if fragment.data.len() + data.len() > fragment.size {
            return Err(DepacketizeError::Malformed {
                sequence,
                what: "fragments longer than their AU-size",
            });
        }
        fragment.data.put_slice(data);
        if fragment.data.len() == fragment.size {
            if let Some(done) = self.fragment.take() {
                self.emit(done.timestamp, done.data.freeze());
            }
        }
        incomplete.map_or(Ok(()), Err)
    }

    fn emit(&mut self, timestamp: u32, data: Bytes) {
        let unit = AccessUnit {
            timestamp,
            data,
            keyframe: false,
            new_parameters: false,
            discontinuity: std::mem::take(&mut self.discontinuity),
        };
        self.ready.push(unit, &mut self.stats);
    }
}

/// RTP packets (AAC-hbr) from AAC access units.
#[derive(Debug)]
pub struct Packetizer {
    writer: RtpWriter,
    mtu: usize,
}

impl Packetizer {
    pub fn new(writer: RtpWriter, mtu: usize) -> Packetizer {
        Packetizer {
            writer,
            mtu: clamp_mtu(mtu),
        }
    }

    pub fn next_sequence(&self) -> u16 {
        self.writer.sequence
    }

    /// One raw AAC access unit (no ADTS) in one packet, or in fragments of at most the MTU
    /// with the marker bit on the last (RFC 3640 §3.2.3). Units over 8191 bytes do not fit
    /// AAC-hbr's 13-bit AU-size.
    pub fn packetize(
        &mut self,
        timestamp: u32,
        access_unit: &[u8],
        out: &mut Vec<Bytes>,
    ) -> Result<(), PacketizeError> {
        if access_unit.is_empty() {
            return Err(PacketizeError::Malformed {
                what: "empty AAC access unit",
            });
        }
        if access_unit.len() > MAX_HBR_ACCESS_UNIT {
            return Err(PacketizeError::TooLarge {
                len: access_unit.len(),
                limit: MAX_HBR_ACCESS_UNIT,
            });
        }
        // AU-headers-length 16 bits, then AU-size (13 bits) and AU-Index 0 (3 bits).
        let size = access_unit.len() as u16;
        let header = [0x00, 0x10, (size >> 5) as u8, ((size & 0x1f) << 3) as u8];
        let chunk = self.mtu - HBR_HEADER;
        let pieces = access_unit.len().div_ceil(chunk);
        let mut buf = BytesMut::with_capacity(
            access_unit.len() + pieces * (super::FIXED_HEADER_LEN + HBR_HEADER),
        );
        for (i, piece) in access_unit.chunks(chunk).enumerate() {
            let last = i + 1 == pieces;
            out.push(
                self.writer
                    .packet(&mut buf, last, timestamp, &[&header, piece]),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
