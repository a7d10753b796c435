//! MPEG-2 transport stream (ISO/IEC 13818-1): a muxer for HTTP-TS and HLS, and a demuxer.
//!
//! Pure code over byte slices: no I/O, no clock, no allocation in the muxer.
//!
//! * [`Muxer`] writes one program with at most one video and one audio elementary stream on
//!   the PIDs SRS uses ([`PMT_PID`], [`VIDEO_PID`], [`AUDIO_PID`]). The caller hands it one
//!   access unit per call, already in its TS form: Annex B for H.264/H.265 (with AUD, SPS,
//!   PPS as wanted), ADTS for AAC, raw frames for MP3. Output is deterministic: the same calls
//!   give the same bytes, so one encoding of a frame can be shared by every player.
//! * [`Demuxer`] reads a single-program stream back into [`Pes`] units. It checks section
//!   CRCs and continuity counters, resyncs on the sync byte, bounds every buffer
//!   ([`MAX_PES_SIZE`], [`MAX_STREAMS`], section size) and never panics.
//!
//! What a caller of the muxer must know:
//!
//! * Times are 90 kHz ticks; the muxer keeps the low 33 bits (the spec's wrap-around), so the
//!   caller may pass an ever-growing `u64`.
//! * PCR is carried on the video PID when there is video, else on the audio PID, in the first
//!   packet of every PES of that PID, and equals that PES's DTS (PTS for audio), extension 0,
//!   as SRS does. There is no mux delay: the PCR never runs ahead of the decode times, and
//!   players that buffer (all live players do) are content. The caller must keep the DTS of
//!   the PCR stream non-decreasing.
//! * Send [`Muxer::write_tables`] before the first PES and before every keyframe (HLS: at the
//!   start of every segment) so a player can join there.
//! * A `write_video` on a muxer without video (or `write_audio` without audio) writes nothing.
//! * Output goes to any [`bytes::BufMut`]; a fixed-size one (`&mut [u8]`) must have room for
//!   [`Muxer::video_encoded_len`] / [`Muxer::audio_encoded_len`] / [`TABLES_LEN`] bytes, or
//!   `bytes` panics. `BytesMut::with_capacity(len)` gives one exact allocation.
//!
//! Not supported: more than one program, PSI sections longer than one packet in the muxer,
//! descriptors (registration, language), SDT/NIT/EIT, PES_packet_length for video (always 0,
//! unbounded, as ffmpeg writes it), scrambling, multi-section PATs in the demuxer beyond
//! taking the first program found.

mod crc;
mod demux;
mod mux;
mod pes;
mod psi;

#[cfg(test)]
mod interop;
#[cfg(test)]
mod tests;

pub use crc::crc32_mpeg2;
pub use demux::{DemuxStats, Demuxer, Pes, TsError, TsErrorKind, MAX_PES_SIZE, MAX_STREAMS};
pub use mux::{Muxer, TABLES_LEN};

/// Size of a transport packet (2.4.3.2).
pub const PACKET_LEN: usize = 188;
/// PID of the program map table; SRS and ffmpeg use 0x1000.
pub const PMT_PID: u16 = 0x1000;
/// PID of the video elementary stream (SRS, ffmpeg).
pub const VIDEO_PID: u16 = 0x100;
/// PID of the audio elementary stream (SRS, ffmpeg).
pub const AUDIO_PID: u16 = 0x101;
/// PID of the program association table (2.4.4.4, table 2-3).
pub const PAT_PID: u16 = 0x0000;
/// PID of null packets, and the PCR_PID of a program without PCR (2.4.4.9).
pub const NULL_PID: u16 = 0x1FFF;
/// First byte of every transport packet.
pub const SYNC_BYTE: u8 = 0x47;

/// Bytes of the transport packet header (2.4.3.2).
const HEADER_LEN: usize = 4;
/// Bytes after the header: adaptation field plus payload.
const BODY_LEN: usize = PACKET_LEN - HEADER_LEN;
/// Timestamps (PTS, DTS, PCR base) are 33-bit counters of a 90 kHz clock.
pub use crate::wire::pes::TIMESTAMP_MASK;

/// The PID of the transport packet at the start of `packet` (2.4.3.2), or None when it does
/// not start with the sync byte or is shorter than a header.
pub fn packet_pid(packet: &[u8]) -> Option<u16> {
    match packet {
        [SYNC_BYTE, b1, b2, _, ..] => Some(u16::from(b1 & 0x1F) << 8 | u16::from(*b2)),
        _ => None,
    }
}

/// The continuity_counter of the transport packet at the start of `packet` (2.4.3.3), or
/// None as for [`packet_pid`].
pub fn continuity_counter(packet: &[u8]) -> Option<u8> {
    match packet {
        [SYNC_BYTE, _, _, b3, ..] => Some(b3 & 0x0F),
        _ => None,
    }
}

/// Sets the continuity_counter (the low 4 bits of the fourth header byte, 2.4.3.3) of the
/// transport packet at the start of `packet` to `cc` mod 16. Nothing else changes: a PSI
/// section's CRC does not cover the packet header. A slice that does not start with a packet
/// header is left as it is.
pub fn set_continuity_counter(packet: &mut [u8], cc: u8) {
    if let [SYNC_BYTE, _, _, b3, ..] = packet {
        *b3 = (*b3 & 0xF0) | (cc & 0x0F);
    }
}

/// Elementary stream types the muxer writes (2.4.4.9, table 2-34, and ITU-T H.222.0 amendments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    /// 0x1B, AVC video (Annex B byte stream).
    H264,
    /// 0x24, HEVC video (Annex B byte stream).
    H265,
    /// 0x0F, AAC with ADTS framing (ISO/IEC 13818-7).
    Aac,
    /// 0x03 (ISO/IEC 11172-3 audio) when muxed, as ffmpeg does for MP3 at 32 kHz and more;
    /// 0x04 (ISO/IEC 13818-3) is read as `Mp3` too.
    Mp3,
}

impl StreamType {
    /// The `stream_type` byte written in the PMT.
    pub const fn code(self) -> u8 {
        match self {
            StreamType::H264 => 0x1B,
            StreamType::H265 => 0x24,
            StreamType::Aac => 0x0F,
            StreamType::Mp3 => 0x03,
        }
    }

    /// The stream type a PMT `stream_type` byte names, if it is one of ours.
    pub const fn from_code(code: u8) -> Option<StreamType> {
        match code {
            0x1B => Some(StreamType::H264),
            0x24 => Some(StreamType::H265),
            0x0F => Some(StreamType::Aac),
            0x03 | 0x04 => Some(StreamType::Mp3),
            _ => None,
        }
    }

    /// True for H.264 and H.265.
    pub const fn is_video(self) -> bool {
        matches!(self, StreamType::H264 | StreamType::H265)
    }
}
