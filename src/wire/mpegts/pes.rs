//! PES packet header (2.4.3.6, 2.4.3.7): the part the muxer writes and the demuxer reads.

use crate::wire::pes::{
    decode_timestamp, encode_timestamp, PREFIX_DTS, PREFIX_PTS_ONLY, PREFIX_PTS_WITH_DTS,
    TIMESTAMP_LEN, TIMESTAMP_MASK,
};

/// stream_id of the first video stream (table 2-22: 1110 xxxx).
pub(super) const STREAM_ID_VIDEO: u8 = 0xE0;
/// stream_id of the first audio stream (table 2-22: 110x xxxx).
pub(super) const STREAM_ID_AUDIO: u8 = 0xC0;

/// packet_start_code_prefix.
const START_CODE: [u8; 3] = [0x00, 0x00, 0x01];
/// Offset of PES_packet_length, which counts the bytes after itself.
const LENGTH_AT: usize = 4;
/// Bytes up to and including PES_packet_length.
const FIXED_LEN: usize = 6;
/// Offset of PES_header_data_length; the optional fields follow it.
const HEADER_DATA_LENGTH_AT: usize = 8;
/// Bytes up to and including PES_header_data_length.
const OPTIONAL_START: usize = 9;
/// Longest header the muxer writes: fixed part, flags, PTS and DTS.
pub(super) const MAX_HEADER_LEN: usize = OPTIONAL_START + 2 * TIMESTAMP_LEN;

/// First flag byte: '10' marker, not scrambled, no priority, data_alignment_indicator = 1
/// (each PES starts with an access unit or audio frame), not copyrighted, copy.
const FLAGS1: u8 = 0x84;
/// PTS_DTS_flags in the second flag byte.
const PTS_ONLY: u8 = 0x80;
const PTS_AND_DTS: u8 = 0xC0;

/// A PES header ready to be written, on the stack.
pub(super) struct Header {
    buf: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl Header {
    /// Header of a PES carrying `payload_len` bytes. With `bounded`, PES_packet_length is the
    /// real length when it fits 16 bits; otherwise it is 0 ("unbounded", allowed for video
    /// only by the spec; also used for audio too long for the field). `dts` is written only
    /// when it differs from `pts`. Timestamps are taken mod 2^33.
    pub(super) fn new(
        stream_id: u8,
        pts: u64,
        dts: u64,
        payload_len: usize,
        bounded: bool,
    ) -> Header {
        let pts = pts & TIMESTAMP_MASK;
        let dts = dts & TIMESTAMP_MASK;
        let with_dts = pts != dts;
        let header_data_len = if with_dts {
            2 * TIMESTAMP_LEN
        } else {
            TIMESTAMP_LEN
        };
        let len = OPTIONAL_START + header_data_len;
        let after_length = len - FIXED_LEN + payload_len;
        let packet_length = match u16::try_from(after_length) {
            Ok(n) if bounded => n,
            _ => 0,
        };
        let mut buf = [0u8; MAX_HEADER_LEN];
        buf[..3].copy_from_slice(&START_CODE);
        buf[3] = stream_id;
        buf[LENGTH_AT..FIXED_LEN].copy_from_slice(&packet_length.to_be_bytes());
        buf[6] = FLAGS1;
        buf[7] = if with_dts { PTS_AND_DTS } else { PTS_ONLY };
        buf[HEADER_DATA_LENGTH_AT] = header_data_len as u8;
        let (pts_prefix, rest) = if with_dts {
            (PREFIX_PTS_WITH_DTS, Some(dts))
        } else {
            (PREFIX_PTS_ONLY, None)
        };
        let pts_at = OPTIONAL_START..OPTIONAL_START + TIMESTAMP_LEN;
        buf[pts_at].copy_from_slice(&encode_timestamp(pts_prefix, pts));
        if let Some(dts) = rest {
            let dts_at = OPTIONAL_START + TIMESTAMP_LEN..OPTIONAL_START + 2 * TIMESTAMP_LEN;
            buf[dts_at].copy_from_slice(&encode_timestamp(PREFIX_DTS, dts));
        }
        Header { buf, len }
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Length of the header [`Header::new`] writes.
pub(super) fn header_len(pts: u64, dts: u64) -> usize {
    if (pts ^ dts) & TIMESTAMP_MASK != 0 {
        OPTIONAL_START + 2 * TIMESTAMP_LEN
    } else {
        OPTIONAL_START + TIMESTAMP_LEN
    }
}

/// What the demuxer needs from a complete PES packet.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Parsed {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Where the elementary stream data lies in the packet.
    pub data: core::ops::Range<usize>,
}

/// Parses a complete PES packet (2.4.3.6). With PES_packet_length 0 the packet runs to the
/// end of `buf`; otherwise bytes past the declared length are ignored.
pub(super) fn decode(buf: &[u8]) -> Result<Parsed, &'static str> {
    let fixed: &[u8; FIXED_LEN] = buf
        .get(..FIXED_LEN)
        .and_then(|b| b.try_into().ok())
        .ok_or("shorter than its 6-byte start")?;
    if fixed[..3] != START_CODE {
        return Err("no packet_start_code_prefix");
    }
    let stream_id = fixed[3];
    let declared = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
    let end = if declared == 0 {
        buf.len()
    } else {
        let end = FIXED_LEN + declared;
        if end > buf.len() {
            return Err("shorter than its PES_packet_length");
        }
        end
    };
    if !has_optional_header(stream_id) {
        return Ok(Parsed {
            pts: None,
            dts: None,
            data: FIXED_LEN..end,
        });
    }
    let opt: &[u8; 3] = buf
        .get(FIXED_LEN..OPTIONAL_START)
        .and_then(|b| b.try_into().ok())
        .ok_or("header cut before PES_header_data_length")?;
    if opt[0] & 0xC0 != 0x80 {
        return Err("missing '10' marker bits");
    }
    let header_data_len = usize::from(opt[2]);
    let start = OPTIONAL_START + header_data_len;
    if start > end {
        return Err("PES_header_data_length past the end of the packet");
    }
    let fields = &buf[OPTIONAL_START..start];
    let timestamp = |at: usize| -> Result<u64, &'static str> {
        fields
            .get(at..at + TIMESTAMP_LEN)
            .and_then(|b| b.try_into().ok())
            .map(decode_timestamp)
            .ok_or("PES_header_data_length too short for PTS/DTS")
    };
    let (pts, dts) = match opt[1] & PTS_AND_DTS {
        PTS_AND_DTS => (Some(timestamp(0)?), Some(timestamp(TIMESTAMP_LEN)?)),
        PTS_ONLY => (Some(timestamp(0)?), None),
        0 => (None, None),
        _ => return Err("forbidden PTS_DTS_flags '01'"),
    };
    Ok(Parsed {
        pts,
        dts,
        data: start..end,
    })
}

/// Stream ids whose PES packets have no optional header (2.4.3.7): program_stream_map,
/// padding, private_stream_2, ECM, EMM, program_stream_directory, DSMCC, H.222.1 type E.
fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xFF | 0xF2 | 0xF8
    )
}
