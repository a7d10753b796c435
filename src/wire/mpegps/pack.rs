//! Start codes, the pack header (2.5.3.3, and ISO/IEC 11172-1 2.4.3.2 for MPEG-1) and the
//! system header (2.5.3.5).

use bytes::BufMut;

use super::TIMESTAMP_MASK;
use crate::wire::pes::decode_timestamp;

/// packet_start_code_prefix / start code prefix of every system-layer unit.
pub(super) const START_CODE_PREFIX: [u8; 3] = [0x00, 0x00, 0x01];
/// Bytes of a start code: prefix and the stream_id (or pack/end code) byte.
pub(super) const START_CODE_LEN: usize = 4;
/// MPEG_program_end_code (2.5.3.2).
pub(super) const PROGRAM_END: u8 = 0xB9;
/// pack_start_code (2.5.3.3).
pub(super) const PACK_START: u8 = 0xBA;
/// system_header_start_code (2.5.3.5).
pub(super) const SYSTEM_HEADER: u8 = 0xBB;
/// stream_id values of table 2-22 the demuxer treats specially.
pub(super) const PROGRAM_STREAM_MAP: u8 = 0xBC;
pub(super) const PRIVATE_STREAM_1: u8 = 0xBD;
pub(super) const PADDING_STREAM: u8 = 0xBE;
pub(super) const PRIVATE_STREAM_2: u8 = 0xBF;

/// Bytes of an MPEG-2 pack header without stuffing, and of an MPEG-1 pack header.
pub(super) const MPEG2_PACK_LEN: usize = 14;
pub(super) const MPEG1_PACK_LEN: usize = 12;
/// Offset of the first byte after pack_start_code: '01' (MPEG-2) or '0010' (MPEG-1) there.
const PACK_MARKER_AT: usize = 4;
/// Offset of the byte whose low 3 bits are pack_stuffing_length (MPEG-2).
const STUFFING_LENGTH_AT: usize = 13;
/// Five reserved '1' bits before pack_stuffing_length, which the muxer sets to 0.
const NO_STUFFING: u8 = 0xF8;

/// Bytes of a length-prefixed unit before its body: start code and a 16-bit length
/// (header_length, program_stream_map_length, PES_packet_length).
pub(super) const LENGTH_PREFIXED_LEN: usize = 6;

/// system_header fields after header_length, before the per-stream entries.
const SYSTEM_HEADER_FIXED: usize = 6;
/// Bytes of one stream entry in the system header.
const SYSTEM_HEADER_ENTRY: usize = 3;
/// P-STD_buffer_size_bound of the video stream: 1024 × 1 KiB units (scale 1).
const VIDEO_BUFFER_BOUND_KIB: u16 = 1024;
/// P-STD_buffer_size_bound of the audio stream: 32 × 128-byte units (scale 0), 4 KiB.
const AUDIO_BUFFER_BOUND_128: u16 = 32;

/// The fields of a pack header the demuxer reads and the muxer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PackHeader {
    /// system_clock_reference_base, 90 kHz, 33 bits.
    pub scr: u64,
    /// system_clock_reference_extension, 27 MHz remainder (0..300); 0 for MPEG-1.
    pub scr_ext: u16,
    /// program_mux_rate in units of 50 bytes/s, 22 bits.
    pub mux_rate: u32,
}

impl PackHeader {
    /// Reads a pack header at the start of `buf` (which begins with `00 00 01 BA`):
    /// `Ok(None)` when more bytes are needed, else the header and its length including
    /// pack stuffing. Only the '01' / '0010' layout bits are checked, not the marker bits.
    pub(super) fn decode(buf: &[u8]) -> Result<Option<(PackHeader, usize)>, &'static str> {
        let Some(&first) = buf.get(PACK_MARKER_AT) else {
            return Ok(None);
        };
        if first & 0xC0 == 0x40 {
            let Some(b) = buf.first_chunk::<MPEG2_PACK_LEN>() else {
                return Ok(None);
            };
            let len = MPEG2_PACK_LEN + usize::from(b[STUFFING_LENGTH_AT] & 0x07);
            if buf.len() < len {
                return Ok(None);
            }
            let scr = u64::from(b[4] >> 3 & 0x07) << 30
                | u64::from(b[4] & 0x03) << 28
                | u64::from(b[5]) << 20
                | u64::from(b[6] >> 3) << 15
                | u64::from(b[6] & 0x03) << 13
                | u64::from(b[7]) << 5
                | u64::from(b[8] >> 3);
            let scr_ext = u16::from(b[8] & 0x03) << 7 | u16::from(b[9] >> 1);
            let mux_rate = u32::from(b[10]) << 14 | u32::from(b[11]) << 6 | u32::from(b[12] >> 2);
            return Ok(Some((
                PackHeader {
                    scr,
                    scr_ext,
                    mux_rate,
                },
                len,
            )));
        }
        if first & 0xF0 == 0x20 {
            let Some(b) = buf.first_chunk::<MPEG1_PACK_LEN>() else {
                return Ok(None);
            };
            // ISO/IEC 11172-1 2.4.3.2: SCR laid out as a PTS, then marker, mux_rate, marker.
            let scr = decode_timestamp(&[b[4], b[5], b[6], b[7], b[8]]);
            let mux_rate =
                u32::from(b[9] & 0x7F) << 15 | u32::from(b[10]) << 7 | u32::from(b[11] >> 1);
            return Ok(Some((
                PackHeader {
                    scr,
                    scr_ext: 0,
                    mux_rate,
                },
                MPEG1_PACK_LEN,
            )));
        }
        Err("neither MPEG-2 '01' nor MPEG-1 '0010' after pack_start_code")
    }

    /// Writes an MPEG-2 pack header without stuffing ([`MPEG2_PACK_LEN`] bytes). The SCR
    /// base is taken mod 2^33, the extension mod 512, the mux rate mod 2^22.
    pub(super) fn encode(&self, out: &mut impl BufMut) {
        let scr = self.scr & TIMESTAMP_MASK;
        let ext = self.scr_ext & 0x1FF;
        let rate = self.mux_rate & 0x3F_FFFF;
        out.put_slice(&START_CODE_PREFIX);
        out.put_u8(PACK_START);
        out.put_slice(&[
            0x40 | ((scr >> 30) as u8 & 0x07) << 3 | 0x04 | (scr >> 28) as u8 & 0x03,
            (scr >> 20) as u8,
            ((scr >> 15) as u8 & 0x1F) << 3 | 0x04 | (scr >> 13) as u8 & 0x03,
            (scr >> 5) as u8,
            (scr as u8 & 0x1F) << 3 | 0x04 | (ext >> 7) as u8 & 0x03,
            (ext as u8 & 0x7F) << 1 | 0x01,
            (rate >> 14) as u8,
            (rate >> 6) as u8,
            (rate as u8 & 0x3F) << 2 | 0x03,
            NO_STUFFING,
        ]);
    }
}

/// Length of the system header [`encode_system_header`] writes for `streams` entries.
pub(super) const fn system_header_len(streams: usize) -> usize {
    LENGTH_PREFIXED_LEN + SYSTEM_HEADER_FIXED + SYSTEM_HEADER_ENTRY * streams
}

/// Writes a system header (2.5.3.5) for at most one video and one audio stream: rate_bound
/// = `mux_rate`, audio/video bounds = stream counts, locked clocks, no fixed rate, no
/// packet rate restriction, and each stream's P-STD buffer bound.
pub(super) fn encode_system_header(
    mux_rate: u32,
    video_id: Option<u8>,
    audio_id: Option<u8>,
    out: &mut impl BufMut,
) {
    let streams = usize::from(video_id.is_some()) + usize::from(audio_id.is_some());
    let header_length = (system_header_len(streams) - LENGTH_PREFIXED_LEN) as u16;
    let rate = mux_rate & 0x3F_FFFF;
    out.put_slice(&START_CODE_PREFIX);
    out.put_u8(SYSTEM_HEADER);
    out.put_u16(header_length);
    out.put_slice(&[
        0x80 | (rate >> 15) as u8,
        (rate >> 7) as u8,
        (rate as u8 & 0x7F) << 1 | 0x01,
        // audio_bound (6 bits), fixed_flag 0, CSPS_flag 0.
        (u8::from(audio_id.is_some())) << 2,
        // system_audio_lock_flag, system_video_lock_flag, marker, video_bound (5 bits).
        0xE0 | u8::from(video_id.is_some()),
        // packet_rate_restriction_flag 0, reserved.
        0x7F,
    ]);
    if let Some(id) = video_id {
        // '11', P-STD_buffer_bound_scale 1 (1024-byte units), P-STD_buffer_size_bound.
        out.put_u8(id);
        out.put_u16(0xE000 | VIDEO_BUFFER_BOUND_KIB);
    }
    if let Some(id) = audio_id {
        // '11', scale 0 (128-byte units).
        out.put_u8(id);
        out.put_u16(0xC000 | AUDIO_BUFFER_BOUND_128);
    }
}
