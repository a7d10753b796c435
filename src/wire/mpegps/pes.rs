//! PES packet headers of audio and video streams: MPEG-2 (2.4.3.6, 2.4.3.7) and the MPEG-1
//! packet header of ISO/IEC 11172-1 2.4.3.3 (what ffmpeg's `-f mpeg` writes).
//!
//! The two are told apart by the byte after PES_packet_length: MPEG-2 starts its optional
//! header with '10'; an MPEG-1 header starts with stuffing (0xFF), STD_buffer ('01'), a
//! timestamp ('0010', '0011') or 0x0F, none of which begins with '10'.

use bytes::BufMut;

use super::pack::{LENGTH_PREFIXED_LEN, START_CODE_PREFIX};
use crate::wire::cursor::u16_at;
use crate::wire::pes::{
    decode_timestamp, encode_timestamp, PREFIX_DTS, PREFIX_PTS_ONLY, PREFIX_PTS_WITH_DTS,
    TIMESTAMP_LEN, TIMESTAMP_MASK,
};

/// Offset of PES_packet_length.
const LENGTH_AT: usize = 4;
/// Offset of the first byte after PES_packet_length.
const AFTER_LENGTH: usize = LENGTH_PREFIXED_LEN;
/// MPEG-2: the two flag bytes and PES_header_data_length follow PES_packet_length.
const MPEG2_FLAGS_LEN: usize = 3;
/// MPEG-2: offset of the optional fields (after PES_header_data_length).
const MPEG2_OPTIONAL_AT: usize = AFTER_LENGTH + MPEG2_FLAGS_LEN;
/// MPEG-1: at most 16 stuffing bytes (ISO/IEC 11172-1 2.4.3.3).
const MPEG1_MAX_STUFFING: usize = 16;
const MPEG1_STUFFING: u8 = 0xFF;
/// MPEG-1: '01', STD_buffer_scale, STD_buffer_size (2 bytes).
const MPEG1_STD_BUFFER_LEN: usize = 2;
/// MPEG-1: the byte that says "no timestamps".
const MPEG1_NO_TIMESTAMPS: u8 = 0x0F;
/// Longest header [`decode`] may need: the MPEG-2 header with a 255-byte
/// PES_header_data_length (the MPEG-1 one is at most 6 + 16 + 2 + 10).
pub(super) const MAX_HEADER_LEN: usize = MPEG2_OPTIONAL_AT + u8::MAX as usize;

/// First flag byte: '10' marker, not scrambled, no priority, data_alignment_indicator
/// (set on the PES that starts a frame), not copyrighted, copy.
const FLAGS1: u8 = 0x80;
const DATA_ALIGNMENT: u8 = 0x04;
/// PTS_DTS_flags, in the second flag byte.
const PTS_ONLY: u8 = 0x80;
const PTS_AND_DTS: u8 = 0xC0;

/// What the demuxer needs from a PES header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PesHeader {
    pub stream_id: u8,
    /// PES_packet_length: bytes after this field; 0 means unbounded (video only).
    pub packet_length: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Bytes from the start code to the first payload byte.
    pub header_len: usize,
}

impl PesHeader {
    /// Payload bytes after the header, `None` for an unbounded PES. [`decode`] checked that
    /// the header fits in the declared length.
    pub(super) fn payload_len(&self) -> Option<usize> {
        match self.packet_length {
            0 => None,
            n => Some((usize::from(n) + AFTER_LENGTH).saturating_sub(self.header_len)),
        }
    }
}

/// PES_packet_length of the length-prefixed unit at the start of `buf`, if present.
pub(super) fn packet_length(buf: &[u8]) -> Option<u16> {
    u16_at(buf, LENGTH_AT).ok()
}

/// Reads the header of an audio/video PES at the start of `buf` (which begins with the
/// start code): `Ok(None)` when more bytes are needed. Marker bits are not checked;
/// PTS_DTS_flags '01' (forbidden) reads as no timestamps.
pub(super) fn decode(buf: &[u8]) -> Result<Option<PesHeader>, &'static str> {
    let (Some(&stream_id), Some(packet_length), Some(&first)) = (
        buf.get(START_CODE_PREFIX.len()),
        packet_length(buf),
        buf.get(AFTER_LENGTH),
    ) else {
        return Ok(None);
    };
    let timestamp = |at: usize| -> Option<u64> {
        buf.get(at..at + TIMESTAMP_LEN)
            .and_then(|b| b.try_into().ok())
            .map(decode_timestamp)
    };
    let (pts, dts, header_len) = if first & 0xC0 == 0x80 {
        let Some(flags) = buf.get(AFTER_LENGTH..MPEG2_OPTIONAL_AT) else {
            return Ok(None);
        };
        let data_len = usize::from(flags[2]);
        if packet_length != 0 && MPEG2_FLAGS_LEN + data_len > usize::from(packet_length) {
            return Err("PES_header_data_length past PES_packet_length");
        }
        let header_len = MPEG2_OPTIONAL_AT + data_len;
        if buf.len() < header_len {
            return Ok(None);
        }
        let count = match flags[1] & PTS_AND_DTS {
            PTS_AND_DTS => 2,
            PTS_ONLY => 1,
            _ => 0,
        };
        if count * TIMESTAMP_LEN > data_len {
            return Err("PES_header_data_length too short for PTS/DTS");
        }
        let pts = (count >= 1).then(|| timestamp(MPEG2_OPTIONAL_AT)).flatten();
        let dts = (count == 2)
            .then(|| timestamp(MPEG2_OPTIONAL_AT + TIMESTAMP_LEN))
            .flatten();
        (pts, dts, header_len)
    } else {
        let mut at = AFTER_LENGTH;
        loop {
            match buf.get(at) {
                None => return Ok(None),
                Some(&MPEG1_STUFFING) if at - AFTER_LENGTH < MPEG1_MAX_STUFFING => at += 1,
                Some(&MPEG1_STUFFING) => return Err("over 16 MPEG-1 stuffing bytes"),
                Some(_) => break,
            }
        }
        if buf[at] & 0xC0 == 0x40 {
            at += MPEG1_STD_BUFFER_LEN;
        }
        let Some(&kind) = buf.get(at) else {
            return Ok(None);
        };
        let count = match kind >> 4 {
            PREFIX_PTS_ONLY => 1,
            PREFIX_PTS_WITH_DTS => 2,
            _ if kind == MPEG1_NO_TIMESTAMPS => 0,
            _ => return Err("bad MPEG-1 packet header"),
        };
        let header_len = at + (count * TIMESTAMP_LEN).max(1);
        if packet_length != 0 && header_len - AFTER_LENGTH > usize::from(packet_length) {
            return Err("MPEG-1 packet header past packet_length");
        }
        if buf.len() < header_len {
            return Ok(None);
        }
        let pts = (count >= 1).then(|| timestamp(at)).flatten();
        let dts = (count == 2)
            .then(|| timestamp(at + TIMESTAMP_LEN))
            .flatten();
        (pts, dts, header_len)
    };
    Ok(Some(PesHeader {
        stream_id,
        packet_length,
        pts,
        dts,
        header_len,
    }))
}

/// Length of the header [`encode`] writes.
pub(super) fn header_len(pts: Option<u64>, dts: Option<u64>) -> usize {
    MPEG2_OPTIONAL_AT + timestamps_len(pts, dts)
}

/// Bytes of PTS and DTS written: DTS only with a PTS and only when it differs from it.
fn timestamps_len(pts: Option<u64>, dts: Option<u64>) -> usize {
    match (pts, dts) {
        (None, _) => 0,
        (Some(p), Some(d)) if (p ^ d) & TIMESTAMP_MASK != 0 => 2 * TIMESTAMP_LEN,
        (Some(_), _) => TIMESTAMP_LEN,
    }
}

/// Writes an MPEG-2 PES header for `payload_len` bytes, which must keep PES_packet_length
/// within 16 bits (the muxer's [`super::MAX_PES_PAYLOAD`] does). `aligned` sets
/// data_alignment_indicator. Timestamps are taken mod 2^33.
pub(super) fn encode(
    stream_id: u8,
    pts: Option<u64>,
    dts: Option<u64>,
    aligned: bool,
    payload_len: usize,
    out: &mut impl BufMut,
) {
    let ts_len = timestamps_len(pts, dts);
    let packet_length = MPEG2_FLAGS_LEN + ts_len + payload_len;
    out.put_slice(&START_CODE_PREFIX);
    out.put_u8(stream_id);
    out.put_u16(u16::try_from(packet_length).unwrap_or(u16::MAX));
    out.put_u8(if aligned {
        FLAGS1 | DATA_ALIGNMENT
    } else {
        FLAGS1
    });
    match (pts, ts_len) {
        (Some(pts), TIMESTAMP_LEN) => {
            out.put_u8(PTS_ONLY);
            out.put_u8(ts_len as u8);
            out.put_slice(&encode_timestamp(PREFIX_PTS_ONLY, pts));
        }
        (Some(pts), _) => {
            out.put_u8(PTS_AND_DTS);
            out.put_u8(ts_len as u8);
            out.put_slice(&encode_timestamp(PREFIX_PTS_WITH_DTS, pts));
            out.put_slice(&encode_timestamp(PREFIX_DTS, dts.unwrap_or(pts)));
        }
        (None, _) => {
            out.put_u8(0);
            out.put_u8(0);
        }
    }
}
