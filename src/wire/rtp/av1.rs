//! AV1 over RTP, the packetizer: the AOM "RTP Payload Format For AV1" (v1.0.0, §4), for the
//! WebRTC players of an AV1 stream. In: a temporal unit as Enhanced RTMP `av01` and
//! AV1-ISOBMFF samples carry it (the low-overhead bitstream format, AV1 §5.2: OBUs with
//! obu_has_size_field, the last one possibly without). Out: RTP payloads.
//!
//! What a caller must know:
//! - Every packet is the aggregation header (§4.4: Z, Y, W, N) and OBU elements, each after
//!   its leb128 length (W = 0 always: the receiver's depacketizer takes every W, §4.4).
//! - An OBU element is the OBU with obu_has_size_field cleared and its obu_size left out
//!   (§4.3: "the obu_size field ... SHOULD be omitted"), its extension header kept.
//! - Temporal delimiters, tile lists and padding OBUs are dropped (§5: "MUST NOT" for
//!   temporal delimiters and tile lists; padding is optional and useless here).
//! - A keyframe whose temporal unit has no sequence header gets the stream's
//!   (`sequence_header`, from the `av1C` record's configOBUs) first, so a player can start at
//!   any keyframe; the first packet of such a keyframe has N = 1 (§4.4: the first packet of a
//!   coded video sequence).
//! - An OBU larger than what is left of a packet is fragmented (Y on that packet, Z on the
//!   next). Payloads are at most `mtu` bytes (clamped to `MIN_MTU..=MAX_PAYLOAD`); the caller
//!   sets the marker bit on the last (§4.2: the end of a temporal unit).
//! - Errors concern the frame (the publisher's bytes): an OBU header with its forbidden bit,
//!   a leb128 size longer than 8 bytes or past the end. The frame is not sent.
//!
//! The depacketizer is [`super::av1_depacketizer`]. Not supported: scalability structures (each
//! temporal unit goes whole to every player; OBU extension headers pass through).

use super::payload::{PacketizeError, MAX_PAYLOAD, MIN_MTU};
use crate::wire::codec::av1::{
    leb128, leb128_len, put_leb128, OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER,
};

/// obu_type values (AV1 §6.2.2) beside the sequence header's and the temporal delimiter's.
pub const OBU_TILE_LIST: u8 = 8;
pub const OBU_PADDING: u8 = 15;
/// OBU header bits (AV1 §5.3.2): forbidden (1), obu_type (4), extension flag (1), has size
/// field (1), reserved (1).
const OBU_FORBIDDEN_BIT: u8 = 0x80;
const OBU_TYPE_SHIFT: u8 = 3;
const OBU_TYPE_MASK: u8 = 0x0f;
const OBU_EXTENSION_BIT: u8 = 0x04;
const OBU_HAS_SIZE_BIT: u8 = 0x02;
/// Aggregation header bits (§4.4).
const AGG_Z: u8 = 0x80;
const AGG_Y: u8 = 0x40;
const AGG_N: u8 = 0x08;
/// Bytes of the aggregation header.
const AGG_HEADER_LEN: usize = 1;

/// One OBU of a temporal unit: its header byte(s) as read and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    /// The OBU header and its extension header, if any (1 or 2 bytes), as in the input.
    pub header: &'a [u8],
    pub payload: &'a [u8],
}

impl Obu<'_> {
    pub fn obu_type(&self) -> u8 {
        (self.header[0] >> OBU_TYPE_SHIFT) & OBU_TYPE_MASK
    }

    /// The OBU element's length: header without obu_size, and the payload.
    fn element_len(&self) -> usize {
        self.header.len() + self.payload.len()
    }
}

/// The OBUs of a low-overhead bitstream (AV1 §5.2, §5.3): an OBU without obu_has_size_field
/// runs to the end of `data`.
pub struct Obus<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Obus<'a> {
    pub fn new(data: &'a [u8]) -> Obus<'a> {
        Obus { data, offset: 0 }
    }
}

impl<'a> Iterator for Obus<'a> {
    type Item = Result<Obu<'a>, PacketizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.offset..).filter(|r| !r.is_empty())?;
        let result = obu(rest);
        match &result {
            Ok((_, len)) => self.offset += len,
            Err(_) => self.offset = self.data.len(),
        }
        Some(result.map(|(o, _)| o))
    }
}

/// The OBU at the start of `data` and the bytes it takes.
fn obu(data: &[u8]) -> Result<(Obu<'_>, usize), PacketizeError> {
    let first = data[0];
    if first & OBU_FORBIDDEN_BIT != 0 {
        return Err(PacketizeError::Malformed {
            what: "AV1 OBU header with obu_forbidden_bit set",
        });
    }
    let header_len = if first & OBU_EXTENSION_BIT != 0 { 2 } else { 1 };
    let header = data.get(..header_len).ok_or(PacketizeError::Malformed {
        what: "AV1 OBU extension header truncated",
    })?;
    let rest = &data[header_len..];
    if first & OBU_HAS_SIZE_BIT == 0 {
        return Ok((
            Obu {
                header,
                payload: rest,
            },
            data.len(),
        ));
    }
    let (size, size_len) = leb128(rest).map_err(|_| PacketizeError::Malformed {
        what: "AV1 obu_size: leb128 cut, longer than 8 bytes or above 2^32 - 1",
    })?;
    let payload = usize::try_from(size)
        .ok()
        .and_then(|size| rest.get(size_len..size_len.checked_add(size)?))
        .ok_or(PacketizeError::Malformed {
            what: "AV1 obu_size past the end of the frame",
        })?;
    Ok((
        Obu { header, payload },
        header_len + size_len + payload.len(),
    ))
}

/// The sequence header OBU of an `av1C` record's configOBUs (AV1-ISOBMFF §2.3.3), if any.
pub fn sequence_header(config_obus: &[u8]) -> Option<Obu<'_>> {
    Obus::new(config_obus)
        .map_while(Result::ok)
        .find(|o| o.obu_type() == OBU_SEQUENCE_HEADER)
}

/// Builds the payloads of one temporal unit, at most `mtu` bytes each (see the module's
/// contract). `sequence_header` goes first on a keyframe whose unit lacks one.
#[derive(Debug)]
pub struct Packetizer {
    mtu: usize,
}

impl Packetizer {
    pub fn new(mtu: usize) -> Packetizer {
        Packetizer {
            mtu: mtu.clamp(MIN_MTU, MAX_PAYLOAD),
        }
    }

    /// The payloads of `temporal_unit`, appended to `out` (none for a unit of dropped OBUs
    /// only). On an error nothing is appended.
    pub fn packetize(
        &self,
        temporal_unit: &[u8],
        keyframe: bool,
        sequence_header: Option<Obu<'_>>,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), PacketizeError> {
        let mut obus = Vec::new();
        for o in Obus::new(temporal_unit) {
            let o = o?;
            if !matches!(
                o.obu_type(),
                OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST | OBU_PADDING
            ) {
                obus.push(o);
            }
        }
        let has_sequence_header = obus.iter().any(|o| o.obu_type() == OBU_SEQUENCE_HEADER);
        let added = match sequence_header {
            Some(s) if keyframe && !has_sequence_header => Some(s),
            _ => None,
        };
        let new_sequence = keyframe && (has_sequence_header || added.is_some());
        let first = out.len();
        let mut packet = self.start(false);
        for o in added.iter().chain(&obus) {
            // The element: the header with obu_has_size_field cleared, then the payload.
            let mut header = [0u8; 2];
            header[..o.header.len()].copy_from_slice(o.header);
            header[0] &= !OBU_HAS_SIZE_BIT;
            let header = &header[..o.header.len()];
            let mut done = 0;
            let len = o.element_len();
            while done < len {
                let room = self.mtu - packet.len();
                let left = len - done;
                let take = if leb128_len(left) + left <= room {
                    left
                } else {
                    // The most that fits with its length: room minus the length's bytes.
                    let mut n = room.saturating_sub(leb128_len(room));
                    while n > 0 && leb128_len(n) + n > room {
                        n -= 1;
                    }
                    n
                };
                if take == 0 {
                    // Not even one byte fits: the packet ends between elements.
                    out.push(std::mem::replace(&mut packet, self.start(false)));
                    continue;
                }
                put_leb128(&mut packet, take);
                // Bytes done..done + take of the element: of its header, then of its payload.
                let end = done + take;
                let h = header.len();
                packet.extend_from_slice(&header[done.min(h)..end.min(h)]);
                packet.extend_from_slice(&o.payload[done.saturating_sub(h)..end.saturating_sub(h)]);
                done = end;
                if done < len {
                    // Fragmented: Y here, Z on the next packet.
                    packet[0] |= AGG_Y;
                    out.push(std::mem::replace(&mut packet, self.start(true)));
                }
            }
        }
        if packet.len() > AGG_HEADER_LEN {
            out.push(packet);
        }
        if new_sequence {
            if let Some(p) = out.get_mut(first) {
                p[0] |= AGG_N;
            }
        }
        Ok(())
    }

    fn start(&self, continuation: bool) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.mtu);
        p.push(if continuation { AGG_Z } else { 0 });
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OBU with obu_has_size_field (header byte for `obu_type`, leb128 size, payload).
    fn obu(obu_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![obu_type << 3 | OBU_HAS_SIZE_BIT];
        put_leb128(&mut v, payload.len());
        v.extend_from_slice(payload);
        v
    }

    const TD: u8 = OBU_TEMPORAL_DELIMITER;
    const FRAME: u8 = 6;

    /// The OBU elements of a temporal unit's payloads, fragments joined (a depacketizer as
    /// the receiver has, §4.4), and the aggregation headers.
    fn depacketize(payloads: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut elements: Vec<Vec<u8>> = Vec::new();
        let mut headers = Vec::new();
        let mut open = false;
        for p in payloads {
            headers.push(p[0]);
            assert_eq!(p[0] & 0x30, 0, "W = 0");
            assert_eq!(p[0] & AGG_Z != 0, open, "Z continues the open element");
            let mut rest = &p[1..];
            let mut first = true;
            while !rest.is_empty() {
                let (len, n) = leb128(rest).unwrap();
                let e = &rest[n..n + len as usize];
                if first && open {
                    elements.last_mut().unwrap().extend_from_slice(e);
                } else {
                    elements.push(e.to_vec());
                }
                first = false;
                rest = &rest[n + len as usize..];
            }
            open = p[0] & AGG_Y != 0;
        }
        assert!(!open);
        (elements, headers)
    }

    #[test]
    fn a_small_unit_is_one_packet_without_delimiter_or_size_fields() {
        let tu = [obu(TD, &[]), obu(FRAME, &[1, 2, 3])].concat();
        let mut out = Vec::new();
        Packetizer::new(1200)
            .packetize(&tu, false, None, &mut out)
            .unwrap();
        // Aggregation header 0, element of 4 bytes: header 0x30 (type 6, no size field).
        assert_eq!(out, vec![vec![0x00, 4, 0x30, 1, 2, 3]]);
    }

    #[test]
    fn a_keyframe_gets_the_sequence_header_and_n() {
        let record_obus = obu(OBU_SEQUENCE_HEADER, &[0xAA; 10]);
        let seq = sequence_header(&record_obus).unwrap();
        assert_eq!(seq.payload, &[0xAA; 10]);
        let tu = [obu(TD, &[]), obu(FRAME, &[7; 20])].concat();
        let p = Packetizer::new(1200);
        let mut out = Vec::new();
        p.packetize(&tu, true, Some(seq), &mut out).unwrap();
        let (elements, headers) = depacketize(&out);
        assert_eq!(headers, vec![AGG_N]);
        assert_eq!(elements[0], [&[0x08][..], &[0xAA; 10]].concat());
        assert_eq!(elements[1], [&[0x30][..], &[7; 20]].concat());
        // A keyframe that carries its own: not twice.
        let tu = [obu(OBU_SEQUENCE_HEADER, &[0xBB; 3]), obu(FRAME, &[7; 20])].concat();
        let mut out = Vec::new();
        p.packetize(&tu, true, Some(seq), &mut out).unwrap();
        let (elements, headers) = depacketize(&out);
        assert_eq!(headers, vec![AGG_N]);
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0], [0x08, 0xBB, 0xBB, 0xBB]);
        // Not a keyframe: no sequence header added, no N.
        let mut out = Vec::new();
        p.packetize(&tu[5..], false, Some(seq), &mut out).unwrap();
        assert_eq!(out[0][0], 0);
    }

    #[test]
    fn large_obus_are_fragmented_within_the_mtu() {
        let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let tu = [
            obu(TD, &[]),
            obu(3, &[9; 30]),
            obu(FRAME, &big),
            obu(FRAME, &[5; 70]),
        ]
        .concat();
        for mtu in [64, 100, 127, 128, 129, 1200, 1400] {
            let mut out = Vec::new();
            Packetizer::new(mtu)
                .packetize(&tu, false, None, &mut out)
                .unwrap();
            assert!(out.iter().all(|p| p.len() <= mtu && p.len() > 1), "{mtu}");
            let (elements, headers) = depacketize(&out);
            assert_eq!(elements.len(), 3, "{mtu}");
            assert_eq!(elements[0], [&[0x18][..], &[9; 30]].concat());
            assert_eq!(elements[1], [&[0x30][..], &big].concat(), "{mtu}");
            assert_eq!(elements[2], [&[0x30][..], &[5; 70]].concat());
            assert!(headers.iter().all(|h| h & AGG_N == 0));
            // Full packets but the last: nothing wasted beyond a length byte's worth.
            let n = out.len();
            assert!(out[..n - 1].iter().all(|p| p.len() + 2 >= mtu), "{mtu}");
        }
    }

    #[test]
    fn extension_headers_and_a_last_obu_without_size_pass() {
        // Extension flag: two header bytes; the last OBU has no size field.
        let mut tu = vec![
            FRAME << 3 | OBU_EXTENSION_BIT | OBU_HAS_SIZE_BIT,
            0x28,
            2,
            1,
            2,
        ];
        tu.extend_from_slice(&[FRAME << 3, 3, 4, 5]);
        let mut out = Vec::new();
        Packetizer::new(1200)
            .packetize(&tu, false, None, &mut out)
            .unwrap();
        let (elements, _) = depacketize(&out);
        assert_eq!(elements, vec![vec![0x34, 0x28, 1, 2], vec![0x30, 3, 4, 5]]);
    }

    #[test]
    fn bad_obus_are_refused_and_empty_units_make_nothing() {
        let p = Packetizer::new(1200);
        let mut out = Vec::new();
        for bad in [
            &[0x80 | FRAME << 3, 0][..],                   // forbidden bit
            &[FRAME << 3 | OBU_HAS_SIZE_BIT, 5, 1, 2][..], // size past the end
            &[FRAME << 3 | OBU_HAS_SIZE_BIT, 0x80][..],    // leb128 cut
            &[
                FRAME << 3 | OBU_HAS_SIZE_BIT,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                1,
            ][..],
            &[FRAME << 3 | OBU_EXTENSION_BIT][..], // extension header cut
        ] {
            assert!(p.packetize(bad, true, None, &mut out).is_err(), "{bad:?}");
        }
        assert!(out.is_empty());
        p.packetize(&obu(TD, &[]), false, None, &mut out).unwrap();
        p.packetize(&[], true, None, &mut out).unwrap();
        assert!(out.is_empty());
    }
}
