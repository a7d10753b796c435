//! AV1 over RTP, the depacketizer: the AOM "RTP Payload Format For AV1" (v1.0.0, §4), for AV1
//! from WebRTC publishers. In: RTP packets of one stream. Out: temporal units as Enhanced RTMP
//! `av01` carries them (the low-overhead bitstream format, AV1 §5.2: every OBU with
//! obu_has_size_field set, no temporal delimiters).
//!
//! What a caller must know:
//! - Each payload is the aggregation header (§4.4: Z, Y, W, N) and OBU elements: with W = 0
//!   each after its leb128 length, else W elements, the last without one. An element is an
//!   OBU whose obu_size is usually left out (§4.3); an obu_size present is read and rewritten.
//! - An OBU fragmented across packets (Y on one, Z on the next) is put back together.
//! - A temporal unit ends at the marker bit (§4.2) or when the timestamp changes. It is given
//!   out only whole: a sequence gap, a fragment without its start or end, or a malformed
//!   element drops the unit it is in (counted by the caller from the error).
//! - Temporal delimiters, tile lists and padding OBUs are dropped (§5).
//! - [`TemporalUnit::keyframe`]: the unit starts a new coded video sequence (N = 1) and holds a
//!   sequence header OBU.
//! - Memory: one temporal unit being assembled and one OBU fragment, together at most the
//!   `max_access_unit` given to [`Depacketizer::new`] (checked before either grows; the
//!   fragment joins the unit anyway), so a publisher holds one cap's worth as with H.264.
//!
//! Not supported: scalability structures (OBU extension headers pass through as they are).

use bytes::Bytes;

use super::payload::{AccessUnit, DepacketizeError, DepacketizeStats, Ready, SequenceCheck};
use super::RtpPacket;
use crate::wire::codec::av1::{
    leb128, leb128_len, put_leb128, OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER,
};

/// Aggregation header bits (§4.4): Z (first element continues an OBU), Y (last element
/// continues in the next packet), W (element count, 2 bits), N (new coded video sequence).
const AGG_Z: u8 = 0x80;
const AGG_Y: u8 = 0x40;
const AGG_W_SHIFT: u8 = 4;
const AGG_W_MASK: u8 = 0x03;
const AGG_N: u8 = 0x08;
/// OBU header bits (AV1 §5.3.2).
const OBU_FORBIDDEN_BIT: u8 = 0x80;
const OBU_TYPE_SHIFT: u8 = 3;
const OBU_TYPE_MASK: u8 = 0x0f;
const OBU_EXTENSION_BIT: u8 = 0x04;
const OBU_HAS_SIZE_BIT: u8 = 0x02;
/// obu_type values dropped beside the temporal delimiter (§5: tile lists MUST NOT be sent;
/// padding is of no use).
const OBU_TILE_LIST: u8 = 8;
const OBU_PADDING: u8 = 15;

/// A whole temporal unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemporalUnit {
    pub timestamp: u32,
    /// OBUs with obu_has_size_field set, temporal delimiters left out.
    pub data: Bytes,
    /// N = 1 on its first packet and a sequence header OBU in it.
    pub keyframe: bool,
}

/// Puts temporal units back together (see the module's contract).
#[derive(Debug)]
pub struct Depacketizer {
    max_access_unit: usize,
    /// The unit being assembled, as it will be given out.
    unit: Vec<u8>,
    timestamp: Option<u32>,
    new_sequence: bool,
    has_sequence_header: bool,
    /// The unit lost a part: the rest of it is skipped.
    broken: bool,
    /// An OBU element whose end is in a later packet.
    fragment: Vec<u8>,
    fragment_open: bool,
    last_sequence: Option<u16>,
}

impl Depacketizer {
    /// Temporal units (and OBU fragments) of at most `max_access_unit` bytes.
    pub fn new(max_access_unit: usize) -> Depacketizer {
        Depacketizer {
            max_access_unit,
            unit: Vec::new(),
            timestamp: None,
            new_sequence: false,
            has_sequence_header: false,
            broken: false,
            fragment: Vec::new(),
            fragment_open: false,
            last_sequence: None,
        }
    }

    /// One packet; the temporal units it completes go to `out`. An error drops the unit the
    /// packet belongs to; the next one starts clean.
    pub fn push(
        &mut self,
        packet: &RtpPacket,
        out: &mut Vec<TemporalUnit>,
    ) -> Result<(), DepacketizeError> {
        let sequence = packet.sequence;
        let gap = self
            .last_sequence
            .is_some_and(|last| last.wrapping_add(1) != sequence);
        self.last_sequence = Some(sequence);
        if self.timestamp.is_some_and(|t| t != packet.timestamp) {
            // The marker of the last unit was lost, or never sent.
            self.finish(out);
        }
        if gap {
            self.drop_unit();
        }
        self.timestamp = Some(packet.timestamp);
        let result = self.payload(sequence, &packet.payload);
        if result.is_err() {
            self.drop_unit();
        }
        if packet.marker {
            self.finish(out);
        }
        result
    }

    fn payload(&mut self, sequence: u16, payload: &[u8]) -> Result<(), DepacketizeError> {
        let malformed = |what| DepacketizeError::Malformed { sequence, what };
        let (&agg, mut rest) = payload
            .split_first()
            .ok_or(malformed("AV1 payload without its aggregation header"))?;
        if agg & AGG_N != 0 && self.unit.is_empty() {
            self.new_sequence = true;
        }
        let continues = agg & AGG_Z != 0;
        if !continues && self.fragment_open {
            // The fragment's end was lost.
            self.drop_unit();
        }
        let count = usize::from((agg >> AGG_W_SHIFT) & AGG_W_MASK);
        let mut index = 0;
        while !rest.is_empty() {
            let element = if count != 0 && index + 1 == count {
                std::mem::take(&mut rest)
            } else {
                let (len, len_bytes) = leb128(rest).map_err(|_| malformed("AV1 element length"))?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|l| len_bytes.checked_add(l))
                    .filter(|&end| end <= rest.len())
                    .ok_or(malformed("AV1 element past the end of the packet"))?;
                let e = &rest[len_bytes..end];
                rest = &rest[end..];
                e
            };
            let first = index == 0;
            index += 1;
            let last = rest.is_empty() || (count != 0 && index == count);
            let open = last && agg & AGG_Y != 0;
            if first && continues {
                if !self.fragment_open {
                    // Its start was lost (or is the last unit's): skipped.
                    self.broken = true;
                    continue;
                }
                self.grow_fragment(sequence, element)?;
                if !open {
                    self.fragment_open = false;
                    let obu = std::mem::take(&mut self.fragment);
                    self.obu(sequence, &obu)?;
                }
            } else if open {
                self.fragment.clear();
                self.grow_fragment(sequence, element)?;
                self.fragment_open = true;
            } else {
                self.obu(sequence, element)?;
            }
            if count != 0 && index == count {
                break;
            }
        }
        Ok(())
    }

    fn grow_fragment(&mut self, sequence: u16, bytes: &[u8]) -> Result<(), DepacketizeError> {
        if self.unit.len() + self.fragment.len() + bytes.len() > self.max_access_unit {
            return Err(DepacketizeError::TooLarge {
                sequence,
                limit: self.max_access_unit,
            });
        }
        self.fragment.extend_from_slice(bytes);
        Ok(())
    }

    /// One whole OBU element into the unit, with its obu_size.
    fn obu(&mut self, sequence: u16, element: &[u8]) -> Result<(), DepacketizeError> {
        let malformed = |what| DepacketizeError::Malformed { sequence, what };
        let &first = element.first().ok_or(malformed("AV1 empty OBU element"))?;
        if first & OBU_FORBIDDEN_BIT != 0 {
            return Err(malformed("AV1 OBU header with obu_forbidden_bit set"));
        }
        let header_len = if first & OBU_EXTENSION_BIT != 0 { 2 } else { 1 };
        let header = element
            .get(..header_len)
            .ok_or(malformed("AV1 OBU extension header cut"))?;
        let mut payload = &element[header_len..];
        if first & OBU_HAS_SIZE_BIT != 0 {
            let (size, size_len) = leb128(payload).map_err(|_| malformed("AV1 obu_size"))?;
            payload = usize::try_from(size)
                .ok()
                .and_then(|s| payload.get(size_len..size_len.checked_add(s)?))
                .ok_or(malformed("AV1 obu_size past the end of its element"))?;
        }
        let obu_type = (first >> OBU_TYPE_SHIFT) & OBU_TYPE_MASK;
        if matches!(
            obu_type,
            OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING
        ) || self.broken
        {
            return Ok(());
        }
        let grown = header_len + leb128_len(payload.len()) + payload.len();
        if self.unit.len() + grown > self.max_access_unit {
            return Err(DepacketizeError::TooLarge {
                sequence,
                limit: self.max_access_unit,
            });
        }
        self.unit.push(first | OBU_HAS_SIZE_BIT);
        self.unit.extend_from_slice(&header[1..]);
        put_leb128(&mut self.unit, payload.len());
        self.unit.extend_from_slice(payload);
        self.has_sequence_header |= obu_type == OBU_SEQUENCE_HEADER;
        Ok(())
    }

    /// The unit ends: given out when whole.
    fn finish(&mut self, out: &mut Vec<TemporalUnit>) {
        if !self.broken && !self.fragment_open && !self.unit.is_empty() {
            out.push(TemporalUnit {
                timestamp: self.timestamp.unwrap_or(0),
                data: Bytes::copy_from_slice(&self.unit),
                keyframe: self.new_sequence && self.has_sequence_header,
            });
        }
        self.unit.clear();
        self.fragment.clear();
        self.fragment_open = false;
        self.broken = false;
        self.new_sequence = false;
        self.has_sequence_header = false;
        self.timestamp = None;
    }

    /// The unit lost a part: what it has is dropped and the rest of it skipped.
    fn drop_unit(&mut self) {
        self.unit.clear();
        self.fragment.clear();
        self.fragment_open = false;
        self.broken = true;
    }
}

/// Temporal units ready for `pop` (a caller drains after each push).
const READY_CAP: usize = 4;

/// [`Depacketizer`] behind the contract of [`super::Depacketizer`]: temporal units as
/// [`AccessUnit`]s (`new_parameters` is never set: the caller finds sequence headers in the
/// units), counted.
#[derive(Debug)]
pub struct Queued {
    inner: Depacketizer,
    sequence: SequenceCheck,
    units: Vec<TemporalUnit>,
    ready: Ready,
    stats: DepacketizeStats,
    discontinuity: bool,
}

impl Queued {
    pub fn new(max_access_unit: usize) -> Queued {
        Queued {
            inner: Depacketizer::new(max_access_unit),
            sequence: SequenceCheck::default(),
            units: Vec::new(),
            ready: Ready::new(READY_CAP),
            stats: DepacketizeStats::default(),
            discontinuity: false,
        }
    }

    pub fn push(&mut self, packet: &RtpPacket) -> Result<(), DepacketizeError> {
        self.stats.packets += 1;
        if self.sequence.is_gap(packet.sequence, &mut self.stats) {
            self.discontinuity = true;
            self.stats.dropped_access_units += 1;
        }
        let result = self.inner.push(packet, &mut self.units);
        if let Err(e) = &result {
            self.discontinuity = true;
            self.stats.dropped_packets += 1;
            self.stats.dropped_access_units += 1;
            if matches!(e, DepacketizeError::TooLarge { .. }) {
                self.stats.too_large += 1;
            }
        }
        for unit in self.units.drain(..) {
            let unit = AccessUnit {
                timestamp: unit.timestamp,
                data: unit.data,
                keyframe: unit.keyframe,
                new_parameters: false,
                discontinuity: std::mem::take(&mut self.discontinuity),
            };
            self.ready.push(unit, &mut self.stats);
        }
        result
    }

    pub fn pop(&mut self) -> Option<AccessUnit> {
        self.ready.pop()
    }

    pub fn stats(&self) -> DepacketizeStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::rtp::av1::Packetizer;

    /// An OBU with obu_has_size_field: `obu_type`, `len` bytes of payload.
    fn obu(obu_type: u8, len: usize, fill: u8) -> Vec<u8> {
        let mut o = vec![(obu_type << OBU_TYPE_SHIFT) | OBU_HAS_SIZE_BIT];
        put_leb128(&mut o, len);
        o.extend(std::iter::repeat_n(fill, len));
        o
    }

    /// A keyframe's temporal unit (temporal delimiter, sequence header, a `frame`-byte frame
    /// OBU) and an inter one.
    fn units(frame: usize) -> (Vec<u8>, Vec<u8>) {
        let key = [obu(2, 0, 0), obu(1, 12, 0x11), obu(6, frame, 0x66)].concat();
        let inter = [obu(2, 0, 0), obu(6, frame / 3, 0x77)].concat();
        (key, inter)
    }

    /// The RTP packets of `units` (timestamp 3000 apart), payloads at most `mtu` bytes.
    fn packets(units: &[(&[u8], bool)], mtu: usize) -> Vec<RtpPacket> {
        let p = Packetizer::new(mtu);
        let mut out = Vec::new();
        let mut sequence = 65530u16;
        for (i, (unit, key)) in units.iter().enumerate() {
            let mut payloads = Vec::new();
            p.packetize(unit, *key, None, &mut payloads).unwrap();
            let n = payloads.len();
            for (j, payload) in payloads.into_iter().enumerate() {
                out.push(RtpPacket {
                    marker: j + 1 == n,
                    payload_type: 45,
                    sequence,
                    timestamp: 3000 * i as u32,
                    ssrc: 7,
                    payload: Bytes::from(payload),
                });
                sequence = sequence.wrapping_add(1);
            }
        }
        out
    }

    /// `unit` as given out: without its temporal delimiter.
    fn expected(unit: &[u8]) -> &[u8] {
        &unit[2..]
    }

    #[test]
    fn round_trip_through_the_packetizer_with_fragments() {
        for (frame, mtu) in [(100, 1200), (5000, 1200), (3000, 300), (20_000, 1100)] {
            let (key, inter) = units(frame);
            let list = packets(&[(&key, true), (&inter, false), (&inter, false)], mtu);
            let mut d = Depacketizer::new(1 << 20);
            let mut out = Vec::new();
            for p in &list {
                d.push(p, &mut out).unwrap();
            }
            assert_eq!(out.len(), 3, "{frame} {mtu}");
            assert_eq!(&out[0].data[..], expected(&key));
            assert!(out[0].keyframe);
            assert_eq!(&out[1].data[..], expected(&inter));
            assert!(!out[1].keyframe);
            assert_eq!(out[2].timestamp, 6000);
        }
    }

    #[test]
    fn a_lost_packet_drops_its_unit_only() {
        let (key, inter) = units(5000);
        let mut list = packets(&[(&key, true), (&inter, false), (&inter, false)], 1200);
        // The keyframe's second packet (a fragment's middle) is lost.
        list.remove(1);
        let mut d = Depacketizer::new(1 << 20);
        let mut out = Vec::new();
        for p in &list {
            let _ = d.push(p, &mut out);
        }
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].timestamp, 3000);
        assert_eq!(&out[0].data[..], expected(&inter));
    }

    #[test]
    fn units_over_the_cap_are_refused() {
        let (key, inter) = units(5000);
        let list = packets(&[(&key, true), (&inter, false)], 1200);
        let mut d = Depacketizer::new(4000);
        let mut out = Vec::new();
        let errors = list.iter().filter(|p| d.push(p, &mut out).is_err()).count();
        assert!(errors > 0);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(&out[0].data[..], expected(&inter));
    }

    #[test]
    fn a_unit_and_its_open_fragment_share_the_cap() {
        // Two 2500-byte frame OBUs: each alone under the 4000-byte cap, not together.
        let big = [obu(6, 2500, 0x55), obu(6, 2500, 0x66)].concat();
        let small = obu(6, 100, 0x77);
        let list = packets(&[(&big, false), (&small, false)], 1200);
        let mut d = Depacketizer::new(4000);
        let mut out = Vec::new();
        let mut errors = 0;
        for p in &list {
            errors += usize::from(d.push(p, &mut out).is_err());
            assert!(d.unit.len() + d.fragment.len() <= 4000);
        }
        assert!(errors > 0);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(&out[0].data[..], &small[..]);
    }

    #[test]
    fn w_counts_and_obu_sizes_in_elements() {
        // W = 2: a sequence header element with its length, then a frame OBU that keeps its
        // obu_size, without a length. N = 1.
        let seq = [0x08u8, 1, 2, 3];
        let frame = obu(6, 5, 0x66);
        let mut payload = vec![(2 << AGG_W_SHIFT) | AGG_N, seq.len() as u8];
        payload.extend_from_slice(&seq);
        payload.extend_from_slice(&frame);
        let packet = RtpPacket {
            marker: true,
            payload_type: 45,
            sequence: 1,
            timestamp: 9,
            ssrc: 7,
            payload: Bytes::from(payload),
        };
        let mut d = Depacketizer::new(1 << 16);
        let mut out = Vec::new();
        d.push(&packet, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].keyframe);
        assert_eq!(
            &out[0].data[..],
            &[&[0x0a, 3, 1, 2, 3][..], &frame].concat()[..]
        );
    }

    #[test]
    fn packets_cut_anywhere_never_panic() {
        let (key, inter) = units(3000);
        let list = packets(&[(&key, true), (&inter, false)], 500);
        for p in &list {
            for cut in 0..=p.payload.len() {
                let mut q = p.clone();
                q.payload = p.payload.slice(..cut);
                let mut d = Depacketizer::new(1 << 16);
                let mut out = Vec::new();
                let _ = d.push(&q, &mut out);
                assert!(out.iter().all(|u| u.data.len() <= 1 << 16));
            }
        }
    }
}
