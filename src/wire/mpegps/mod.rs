//! MPEG-2 program stream (ISO/IEC 13818-1 §2.5), as GB/T 28181 cameras send it over RTP.
//!
//! Pure code over byte slices: no I/O, no clock.
//!
//! * [`Demuxer`] is a streaming, forgiving reader: bytes go in cut anywhere (a TCP read, an
//!   RTP payload), one [`EsFrame`] per PES packet comes out. It skips pack headers (MPEG-2
//!   and MPEG-1), system headers, padding, private and ECM/EMM/directory packets, reads the
//!   program stream map, and on garbage or loss hunts for the next pack header
//!   (`00 00 01 BA`). Faults go to [`PsStats`] counters and to [`Demuxer::take_fault`];
//!   memory is bounded (its PES cap, [`MAX_PES_LEN`] unless [`Demuxer::with_max_pes_len`]
//!   sets another, plus a 1 KiB header buffer) and it never panics.
//! * [`Muxer`] writes one pack per frame (pack header, optionally system header and PSM,
//!   then PES packets) for the device simulator and cascading.
//!
//! What a caller of the demuxer must know:
//!
//! * One [`EsFrame`] per PES, not per access unit. Cameras often split one video access unit
//!   over several PES packets, either each with the same PTS or with a PTS on the first only
//!   (our [`Muxer`] does the latter). Group consecutive video frames into an access unit
//!   until the PTS changes; a frame with `pts: None` continues the one before it.
//! * Timestamps are the raw 33-bit 90 kHz values from the PES header; the caller unwraps
//!   them. `dts` is `None` when the header carries a PTS only (then DTS = PTS).
//! * A video PES with PES_packet_length 0 (unbounded) ends only at the next start code of
//!   the system layer, normally the next frame's pack header, so it comes out one frame
//!   late. A caller that knows a frame ended (RTP marker bit) calls [`Demuxer::flush`].
//! * After loss the caller calls [`Demuxer::reset`]: the partial PES is dropped and
//!   nothing comes out until the next pack header. One pack per frame is usual, so loss
//!   costs the rest of the damaged frame.
//! * Stream types come from the last PSM; a later PSM with other types changes the
//!   `stream_type` of the frames after it (codec change). Without a PSM (ffmpeg's
//!   `-f mpeg`, many cameras) they are guessed once per stream id, see [`StreamType`].
//! * Frames of streams whose type is not ours still come out, as [`StreamType::Unknown`]
//!   (counted in [`PsStats::unknown_streams`]); the caller drops them.
//! * Complete frames wait in a queue until [`Demuxer::poll`]; it holds only bytes the caller
//!   pushed, so poll after every push.
//!
//! Not supported: PES scrambling (read as plain data), the program stream directory,
//! private stream 1 sub-streams (AC-3, LPCM, subtitles: skipped), the PSM CRC_32 (not
//! checked: the length bounds the parse, and some cameras write it wrong), and
//! current_next_indicator (every PSM applies at once).

mod demux;
mod mux;
mod pack;
mod pes;
mod psm;

#[cfg(test)]
mod interop;
#[cfg(test)]
mod tests;

pub use demux::{Demuxer, PsError, PsErrorKind};
pub use mux::{Muxer, MAX_PES_PAYLOAD, MUX_RATE};

/// Largest PES payload [`Demuxer::new`] collects (the default of `gb28181.max_pes_bytes`;
/// [`Demuxer::with_max_pes_len`] takes another). PES_packet_length is 16 bits, so a declared
/// length can never reach this; it bounds the unbounded video PES (length 0), which runs to
/// the next start code and would otherwise grow with garbage without end. A 4K H.265
/// keyframe from a camera is at most about 1 MiB; 2 MiB is twice that, and is the RAM one
/// GB28181 stream may hold in the demuxer. A bigger PES is dropped (counted in
/// [`PsStats::oversized`]) and the demuxer resyncs.
pub const MAX_PES_LEN: usize = 2 * 1024 * 1024;

/// Smallest PES cap: a PES with a length field carries up to 64 KiB, always collected.
pub const MIN_PES_CAP: usize = 65_536;

/// Longest program_stream_map_length (2.5.4.2: "maximum value 0x3FA"). A PSM declaring more
/// is taken as corruption: counted in [`PsStats::oversized`], and the demuxer resyncs.
pub const MAX_PSM_LEN: usize = 0x3FA;

/// PTS, DTS and SCR base are 33-bit counters of a 90 kHz clock.
pub use crate::wire::pes::TIMESTAMP_MASK;

/// First stream_id of video streams (table 2-22: 1110 xxxx) and of audio streams
/// (110x xxxx); the muxer writes these.
pub const VIDEO_STREAM_ID: u8 = 0xE0;
pub const AUDIO_STREAM_ID: u8 = 0xC0;

/// Elementary stream types (the PSM's stream_type, 2.5.4.2 and table 2-34; GB/T 28181
/// appendix C adds the G.711 codes).
///
/// Without a PSM the demuxer guesses, once per stream id, from the first payload that tells:
/// * video (stream_id 0xE0-0xEF): [`StreamType::H265`] when a NAL unit header after a start
///   code is an HEVC VPS, SPS, PPS or AUD of the base layer (`(b0 >> 1) & 0x3F` in 32..=35,
///   second byte 0x01); [`StreamType::H264`] when it is an H.264 IDR, SPS or AUD (types 5,
///   7, 9: an odd first byte, which no HEVC base-layer NAL has). Until one is seen, frames
///   are reported as H.264, and the guess is tried again on the next PES.
/// * audio (stream_id 0xC0-0xDF): [`StreamType::Aac`] when the payload starts with an ADTS
///   sync word (0xFFF, layer 00); `Unknown(0x03)` / `Unknown(0x04)` for MPEG-1 / MPEG-2
///   audio (what ffmpeg writes); else [`StreamType::G711A`], the GB28181 camera default
///   (G.711 has no sync word, so μ-law cannot be told apart without a PSM). Decided on the
///   first non-empty PES and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    /// 0x1B, AVC video (Annex B byte stream).
    H264,
    /// 0x24, HEVC video (Annex B byte stream).
    H265,
    /// 0x0F, AAC with ADTS framing.
    Aac,
    /// 0x90, G.711 A-law.
    G711A,
    /// 0x91, G.711 μ-law.
    G711U,
    /// Any other stream_type byte.
    Unknown(u8),
}

impl StreamType {
    /// The stream_type byte written in the PSM.
    pub const fn code(self) -> u8 {
        match self {
            StreamType::H264 => 0x1B,
            StreamType::H265 => 0x24,
            StreamType::Aac => 0x0F,
            StreamType::G711A => 0x90,
            StreamType::G711U => 0x91,
            StreamType::Unknown(code) => code,
        }
    }

    /// The type a stream_type byte names; `Unknown` for the ones we do not handle.
    pub const fn from_code(code: u8) -> StreamType {
        match code {
            0x1B => StreamType::H264,
            0x24 => StreamType::H265,
            0x0F => StreamType::Aac,
            0x90 => StreamType::G711A,
            0x91 => StreamType::G711U,
            other => StreamType::Unknown(other),
        }
    }
}

/// The payload of one PES packet of an audio or video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct EsFrame {
    /// 0xE0-0xEF video, 0xC0-0xDF audio.
    pub stream_id: u8,
    pub stream_type: StreamType,
    /// 90 kHz, 33 bits, as in the PES header.
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// One PES payload: for video an Annex B chunk (maybe part of an access unit), for AAC
    /// ADTS frames, for G.711 raw samples.
    pub data: bytes::Bytes,
}

/// Counters of what the demuxer saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PsStats {
    /// Pack headers read (MPEG-2 and MPEG-1).
    pub packs: u64,
    /// Audio and video PES headers read.
    pub pes: u64,
    /// Times the demuxer skipped bytes to find a pack header: garbage where a start code
    /// was due, loss, a malformed or oversized packet, bytes before the first pack header.
    pub resyncs: u64,
    /// Bytes skipped while resyncing, plus zero bytes stuffed between packets.
    pub skipped_bytes: u64,
    /// PES packets over the PES cap ([`MAX_PES_LEN`] by default) and PSMs over
    /// [`MAX_PSM_LEN`], dropped.
    pub oversized: u64,
    /// Program stream maps read.
    pub psm: u64,
    /// Frames emitted with [`StreamType::Unknown`].
    pub unknown_streams: u64,
    /// Audio/video PES packets with an unreadable header, or PSMs with an inconsistent
    /// layout, skipped by their length.
    pub malformed: u64,
}
