//! The latency stamp the publisher puts in every H.264 video frame and the players look for.
//!
//! It is an H.264 SEI NAL unit (ITU-T H.264 §7.3.2.3) holding one `user_data_unregistered`
//! message (payload type 5, §D.1.7): a 16-byte UUID of ours, then the frame's send sequence
//! number and send time. Decoders skip SEI messages they do not know, so the stream stays
//! decodable. Layout of the NAL unit (`SEI_NAL_LEN` = 40 bytes):
//!
//! ```text
//! 0x06                 nal_unit_type 6 (SEI), nal_ref_idc 0
//! 0x05                 last_payload_type_byte: 5 = user_data_unregistered
//! 0x24                 last_payload_size_byte: 36
//! UUID (16 bytes)      uuid_iso_iec_11578 = "tinysrs-bench-v1" (ASCII)
//! seq  (10 bytes)      send sequence number, see below
//! time (10 bytes)      send time, µs of CLOCK_MONOTONIC (system-wide on Linux, so the
//!                      publisher and the players may be different processes on one host)
//! 0x80                 rbsp_trailing_bits
//! ```
//!
//! Each number is written as 10 groups of 7 bits, most significant first, each byte with its
//! high bit set (0x80..=0xFF). No byte is zero, so the payload never holds `00 00 0x` and needs
//! no emulation prevention bytes (§7.4.1): what the players read is what was sent.
//!
//! The publisher puts the SEI first in the frame's NAL list (length-prefixed, as in the AVC
//! NALU packets of FLV/RTMP); the players look for it in the first [`SCAN_LEN`] bytes of each
//! video message, so a server that reorders nothing finds it in O(1).

/// Bytes of the stamp's NAL unit.
pub const SEI_NAL_LEN: usize = 3 + PAYLOAD_LEN + 1;

/// Our `uuid_iso_iec_11578`. Printable ASCII: no zero byte.
pub const UUID: [u8; 16] = *b"tinysrs-bench-v1";

const NAL_TYPE_SEI: u8 = 0x06;
const PAYLOAD_TYPE_USER_DATA_UNREGISTERED: u8 = 5;
const NUMBER_LEN: usize = 10;
const PAYLOAD_LEN: usize = UUID.len() + 2 * NUMBER_LEN;
const RBSP_TRAILING: u8 = 0x80;
/// The bytes before the numbers: NAL header, payload type and size, UUID.
const PREFIX_LEN: usize = 3 + UUID.len();

/// How far into a video message body the players look for the stamp: the FLV video header
/// (5 bytes, or 8 for Enhanced RTMP), a NAL length of up to 4 bytes, and room for one small NAL
/// (an access unit delimiter) that some sources put first.
pub const SCAN_LEN: usize = 64;

/// What a stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub time_us: u64,
}

impl Stamp {
    /// The SEI NAL unit (without a length prefix).
    pub fn encode(&self) -> [u8; SEI_NAL_LEN] {
        let mut nal = [0u8; SEI_NAL_LEN];
        nal[0] = NAL_TYPE_SEI;
        nal[1] = PAYLOAD_TYPE_USER_DATA_UNREGISTERED;
        nal[2] = PAYLOAD_LEN as u8;
        nal[3..PREFIX_LEN].copy_from_slice(&UUID);
        put_number(self.seq, &mut nal[PREFIX_LEN..PREFIX_LEN + NUMBER_LEN]);
        put_number(
            self.time_us,
            &mut nal[PREFIX_LEN + NUMBER_LEN..PREFIX_LEN + 2 * NUMBER_LEN],
        );
        nal[SEI_NAL_LEN - 1] = RBSP_TRAILING;
        nal
    }

    /// Finds a stamp in the first [`SCAN_LEN`] bytes of a video message body. Any bytes may
    /// come in; `None` when there is no well-formed stamp.
    pub fn find(body: &[u8]) -> Option<Stamp> {
        let window = body.get(..SCAN_LEN.min(body.len()))?;
        let at = window
            .windows(PREFIX_LEN)
            .position(|w| w[0] == NAL_TYPE_SEI && w[3..] == UUID && w[1..3] == [5, 36])?;
        let numbers = body.get(at + PREFIX_LEN..at + PREFIX_LEN + 2 * NUMBER_LEN)?;
        Some(Stamp {
            seq: get_number(&numbers[..NUMBER_LEN])?,
            time_us: get_number(&numbers[NUMBER_LEN..])?,
        })
    }
}

fn put_number(mut value: u64, out: &mut [u8]) {
    for b in out.iter_mut().rev() {
        *b = 0x80 | (value & 0x7F) as u8;
        value >>= 7;
    }
}

fn get_number(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0u64, |acc, &b| {
        (b & 0x80 != 0).then_some((acc << 7) | u64::from(b & 0x7F))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_has_no_zero_byte() {
        for (seq, time_us) in [(0, 0), (1, 2), (u64::MAX, u64::MAX), (0x0100, 1 << 40)] {
            let stamp = Stamp { seq, time_us };
            let nal = stamp.encode();
            assert!(nal.iter().all(|&b| b != 0), "{nal:02x?}");
            let mut body = vec![0x17, 1, 0, 0, 0, 0, 0, 0, SEI_NAL_LEN as u8];
            body.extend_from_slice(&nal);
            body.extend_from_slice(&[0, 0, 0, 2, 0x65, 0x88]);
            assert_eq!(Stamp::find(&body), Some(stamp));
        }
    }

    #[test]
    fn golden_bytes() {
        let nal = Stamp {
            seq: 1,
            time_us: 0x81,
        }
        .encode();
        let mut expected = vec![0x06, 0x05, 0x24];
        expected.extend_from_slice(b"tinysrs-bench-v1");
        expected.extend_from_slice(&[0x80; 9]);
        expected.push(0x81);
        expected.extend_from_slice(&[0x80; 8]);
        expected.extend_from_slice(&[0x81, 0x81, 0x80]);
        assert_eq!(nal.to_vec(), expected);
    }

    #[test]
    fn cut_or_damaged_input_finds_nothing() {
        let mut body = vec![0x17, 1, 0, 0, 0, 0, 0, 0, 40];
        body.extend_from_slice(&Stamp { seq: 7, time_us: 9 }.encode());
        for cut in 0..body.len() - 1 {
            assert_eq!(Stamp::find(&body[..cut]), None, "cut at {cut}");
        }
        let mut damaged = body.clone();
        damaged[30] = 0x05;
        assert_eq!(Stamp::find(&damaged), None);
        assert_eq!(Stamp::find(&[]), None);
    }
}
