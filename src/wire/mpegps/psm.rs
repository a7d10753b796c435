//! Program stream map (2.5.4.1, 2.5.4.2).
//!
//! ```text
//! 00 00 01 BC  program_stream_map_length(16)
//! current_next_indicator(1) single_extension_stream_flag(1) reserved(1) version(5)
//! reserved(7) marker(1)
//! program_stream_info_length(16)  descriptors
//! elementary_stream_map_length(16)
//!   { stream_type(8) elementary_stream_id(8) elementary_stream_info_length(16) descriptors }
//! CRC_32
//! ```

use bytes::BufMut;

use super::pack::{LENGTH_PREFIXED_LEN, PROGRAM_STREAM_MAP, START_CODE_PREFIX};
use super::StreamType;
use crate::wire::cursor::u16_at;

/// Bytes of program_stream_map_length that are not entries: two flag bytes, two 16-bit
/// lengths, CRC_32.
const FIXED_BODY_LEN: usize = 2 + 2 + 2 + CRC_LEN;
const CRC_LEN: usize = 4;
/// stream_type, elementary_stream_id, elementary_stream_info_length.
const ENTRY_LEN: usize = 4;
/// current_next_indicator = 1, single_extension_stream_flag = 0, reserved '1', then the
/// 5-bit program_stream_map_version.
const CURRENT_VERSION_FLAGS: u8 = 0xA0;
/// Reserved bits and marker_bit.
const RESERVED_MARKER: u8 = 0xFF;

/// Reads a complete PSM (`buf` holds the start code and program_stream_map_length bytes)
/// and calls `entry(stream_type, elementary_stream_id)` for each elementary stream entry.
/// Descriptors are skipped; CRC_32 is not checked. An entry that runs past the map ends the
/// parse with an error, after the entries before it were reported.
pub(super) fn decode(buf: &[u8], mut entry: impl FnMut(u8, u8)) -> Result<(), &'static str> {
    let body = buf
        .get(LENGTH_PREFIXED_LEN..)
        .ok_or("cut before its body")?;
    if body.len() < FIXED_BODY_LEN {
        return Err("program_stream_map_length below 10");
    }
    // The last CRC_LEN bytes are CRC_32; everything else must fit before it.
    let body = &body[..body.len() - CRC_LEN];
    let info_len = u16_at(body, 2).map_err(|_| "cut in program_stream_info_length")?;
    let map_len_at = 4 + usize::from(info_len);
    let map_len =
        u16_at(body, map_len_at).map_err(|_| "program_stream_info_length past the map")?;
    let map_start = map_len_at + 2;
    let map = body
        .get(map_start..map_start + usize::from(map_len))
        .ok_or("elementary_stream_map_length past the map")?;
    let mut at = 0;
    while at < map.len() {
        let fixed = map
            .get(at..at + ENTRY_LEN)
            .ok_or("entry cut by elementary_stream_map_length")?;
        let es_info_len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        at += ENTRY_LEN + es_info_len;
        if at > map.len() {
            return Err("elementary_stream_info_length past the map");
        }
        entry(fixed[0], fixed[1]);
    }
    Ok(())
}

/// Bytes [`encode`] writes for `entries` streams.
pub(super) const fn encoded_len(entries: usize) -> usize {
    LENGTH_PREFIXED_LEN + FIXED_BODY_LEN + ENTRY_LEN * entries
}

/// Writes a PSM listing `entries` (stream type, elementary_stream_id), without descriptors,
/// with its CRC_32. At most two entries (one video, one audio); more are ignored.
pub(super) fn encode(entries: &[(StreamType, u8)], version: u8, out: &mut impl BufMut) {
    let mut buf = [0u8; encoded_len(2)];
    let entries = &entries[..entries.len().min(2)];
    let len = encoded_len(entries.len());
    let map_len = ENTRY_LEN * entries.len();
    buf[..3].copy_from_slice(&START_CODE_PREFIX);
    buf[3] = PROGRAM_STREAM_MAP;
    buf[4..6].copy_from_slice(&((len - LENGTH_PREFIXED_LEN) as u16).to_be_bytes());
    buf[6] = CURRENT_VERSION_FLAGS | (version & 0x1F);
    buf[7] = RESERVED_MARKER;
    // program_stream_info_length 0 (buf[8..10]), elementary_stream_map_length.
    buf[10..12].copy_from_slice(&(map_len as u16).to_be_bytes());
    for (i, &(stream_type, id)) in entries.iter().enumerate() {
        let at = 12 + i * ENTRY_LEN;
        // elementary_stream_info_length 0.
        buf[at..at + ENTRY_LEN].copy_from_slice(&[stream_type.code(), id, 0, 0]);
    }
    let crc_at = len - CRC_LEN;
    // CRC-32/MPEG-2 (Annex A), shared with the TS muxer.
    let crc = crate::wire::mpegts::crc32_mpeg2(&buf[..crc_at]);
    buf[crc_at..len].copy_from_slice(&crc.to_be_bytes());
    out.put_slice(&buf[..len]);
}

#[cfg(test)]
mod tests {
    use crate::wire::mpegts::crc32_mpeg2;

    #[test]
    fn crc_check_value() {
        // The catalogue check value of CRC-32/MPEG-2.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }
}
