//! What MPEG-TS and MPEG-PS share of the PES syntax (ISO/IEC 13818-1 §2.4.3.6, §2.4.3.7):
//! the 33-bit 90 kHz timestamps and their 5-byte PTS/DTS form. The MPEG-1 system layer
//! (ISO/IEC 11172-1 §2.4.3.2, §2.4.3.3) lays out its SCR, PTS and DTS the same way.

/// PTS, DTS, SCR base and PCR base are 33-bit counters of a 90 kHz clock.
pub const TIMESTAMP_MASK: u64 = (1 << 33) - 1;

/// Bytes of one encoded PTS or DTS.
pub const TIMESTAMP_LEN: usize = 5;

/// 4-bit prefixes of the timestamp fields (§2.4.3.6): PTS alone, PTS followed by a DTS,
/// and that DTS.
pub const PREFIX_PTS_ONLY: u8 = 0b0010;
pub const PREFIX_PTS_WITH_DTS: u8 = 0b0011;
pub const PREFIX_DTS: u8 = 0b0001;

/// `prefix`(4), ts[32..30], marker, ts[29..15], marker, ts[14..0], marker. `ts` is taken
/// mod 2^33; `prefix` keeps its low 4 bits.
pub fn encode_timestamp(prefix: u8, ts: u64) -> [u8; TIMESTAMP_LEN] {
    let ts = ts & TIMESTAMP_MASK;
    [
        (prefix & 0x0f) << 4 | ((ts >> 30) as u8 & 0x07) << 1 | 0x01,
        (ts >> 22) as u8,
        ((ts >> 15) as u8 & 0x7f) << 1 | 0x01,
        (ts >> 7) as u8,
        (ts as u8 & 0x7f) << 1 | 0x01,
    ]
}

/// The 33-bit timestamp of a 5-byte field; the prefix and the marker bits are not checked.
pub fn decode_timestamp(b: &[u8; TIMESTAMP_LEN]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;

    #[test]
    fn golden() {
        // PTS 90000 (1 s) alone: 21 00 05 bf 21.
        assert_eq!(
            encode_timestamp(PREFIX_PTS_ONLY, 90_000),
            [0x21, 0x00, 0x05, 0xbf, 0x21]
        );
        assert_eq!(decode_timestamp(&[0x21, 0x00, 0x05, 0xbf, 0x21]), 90_000);
        assert_eq!(
            encode_timestamp(PREFIX_DTS, TIMESTAMP_MASK),
            [0x1f, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(encode_timestamp(PREFIX_PTS_WITH_DTS, 0), [0x31, 0, 1, 0, 1]);
        // Taken mod 2^33.
        assert_eq!(
            encode_timestamp(PREFIX_PTS_ONLY, 1 << 33),
            encode_timestamp(PREFIX_PTS_ONLY, 0)
        );
    }

    #[test]
    fn round_trip() {
        let mut rng = XorShift(0x9e5);
        for _ in 0..10_000 {
            let ts = rng.next() & TIMESTAMP_MASK;
            let prefix = (rng.next() & 0x0f) as u8;
            let b = encode_timestamp(prefix, ts);
            assert_eq!(b[0] >> 4, prefix);
            assert_eq!(b[0] & b[2] & b[4] & 1, 1, "markers");
            assert_eq!(decode_timestamp(&b), ts);
        }
    }
}
