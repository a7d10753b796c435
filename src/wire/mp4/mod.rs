//! Fragmented MP4 (ISO/IEC 14496-12 ISOBMFF, movie fragments §8.8): the muxer a recording
//! writes so that a file cut by a power failure keeps every fragment written before it, and
//! the scanner that finds where the good part ends.
//!
//! Pure code over byte slices: no I/O, no clock.
//!
//! * [`Track`] describes one track from the hub's codec configuration: H.264 (`avc1` +
//!   `avcC`), H.265 (`hvc1` + `hvcC`), AV1 (`av01` + `av1C`), AAC (`mp4a` + `esds`), MP3
//!   (`mp4a` + `esds`, objectTypeIndication 0x6B / 0x69) and Opus (`Opus` + `dOps`). Other
//!   codecs (G.711, VP9, ...) are refused with [`Mp4Error::UnsupportedVideo`] /
//!   [`Mp4Error::UnsupportedAudio`]: leave that track out of the recording.
//! * [`InitSegment`] writes `ftyp` + `moov` (with `mvex`/`trex`, empty sample tables) for one
//!   or two tracks; it gives the tracks their IDs, 1 and 2, in the order given.
//! * [`Fragment`] writes one `moof` + the `mdat` header for the samples of each track in one
//!   fragment (a GOP, or N seconds: the caller decides). The sample bytes are not copied: the
//!   caller writes [`Fragment::encode`]'s output, then every `Bytes` of [`Fragment::chunks`]
//!   in order (a `writev`).
//! * [`read_moov`] and [`read_moof`] read a file back (tracks, and per fragment each track's
//!   decode time, duration and first sync sample) and [`rewrite_moof`] renumbers a fragment
//!   and moves it in time, for playback stitched from several recordings.
//! * [`Scanner`] walks the top-level boxes of a file after a crash and says where the last
//!   complete `moof` + `mdat` pair ends; everything after it is to be cut off.
//!
//! What a caller of the muxer must know:
//!
//! * Sample times are in the track's timescale ([`Track::timescale`]): 1000 for video (the
//!   hub's clock is in milliseconds; a finer scale would only multiply them, and 90 kHz would
//!   say nothing the milliseconds do not), the sampling rate for AAC and MP3, 48000 for Opus
//!   (Opus in ISOBMFF §4.1 recommends it). [`Track::ticks`] converts milliseconds.
//! * Each sample's duration is the next sample's decode time minus its own; the last one of a
//!   run lasts until [`Run::end_dts`] when given, else as long as the one before it. Decode
//!   times must not go backwards within a run. Each `traf` carries its first sample's decode
//!   time in `tfdt` (64 bits), so a gap between fragments is kept as a gap.
//! * Video sample data is what RTMP carries after the tag header: length-prefixed NAL units
//!   (AVCC/HVCC, with the record's NAL length size) or AV1 OBUs (AV1-ISOBMFF §2.4 asks for
//!   no temporal delimiters; they are passed through as given). Audio samples are raw frames
//!   (AAC without ADTS, one MP3 frame, one Opus packet). A sample without bytes (an RTMP
//!   end of sequence) is no sample: [`Mp4Error::EmptySample`].
//! * Composition offsets (pts − dts) go into `trun` for H.264 and H.265: version 0 when none
//!   is negative, version 1 (signed) when one is. AV1 forbids them (AV1-ISOBMFF §2.4) and
//!   audio has none: a non-zero offset there is [`Mp4Error::CompositionOffset`].
//! * The configuration records are written as received (the hub keeps the publisher's
//!   bytes); they are parsed only to check them and to read the picture size or the
//!   sampling rate and channels.
//!
//! Not supported: edit lists (a stream whose first B-frame presentation starts after 0 plays
//! from its first presentation time; Opus pre-skip is in `dOps` only), more than one sample
//! description per track (a codec change mid-recording needs a new file), `sidx`/`mfra`
//! indexes, encryption, AAC with a sampling rate above 65535 Hz in the sample entry (written
//! as 0 there; decoders read the AudioSpecificConfig).

mod fragment;
mod init;
mod read;
mod scan;
mod track;

#[cfg(test)]
mod tests;

use bytes::BufMut;

pub use fragment::{Fragment, Run, Sample, MAX_FRAGMENT_LEN, MAX_FRAGMENT_SAMPLES};
pub use init::{InitSegment, MAX_TRACKS};
pub use read::{
    read_moof, read_moov, rewrite_moof, MoofInfo, ReadError, TrackInfo, TrafInfo, MAX_TRAFS,
};
pub use scan::{scan, Scan, ScanError, Scanner, Stop, SCAN_READ_LEN};
pub use track::{Track, MAX_CONFIG_LEN, VIDEO_TIMESCALE};

use crate::wire::codec::CodecError;
use crate::wire::flv::{AudioCodec, VideoCodec};

/// Bytes of a box header with a 32-bit size (§4.2).
pub const BOX_HEADER_LEN: usize = 8;
/// Bytes of a box header with `largesize` (size field 1, then 64 bits).
pub const LARGE_BOX_HEADER_LEN: usize = 16;
/// Bytes of a FullBox header: box header, version (8), flags (24).
const FULL_BOX_HEADER_LEN: usize = 12;

/// Box types (four-character codes) of this module.
pub mod fourcc {
    pub const FTYP: [u8; 4] = *b"ftyp";
    pub const MOOV: [u8; 4] = *b"moov";
    pub const MOOF: [u8; 4] = *b"moof";
    pub const MDAT: [u8; 4] = *b"mdat";
    pub const MFHD: [u8; 4] = *b"mfhd";
    pub const MVHD: [u8; 4] = *b"mvhd";
    pub const TRAK: [u8; 4] = *b"trak";
    pub const TKHD: [u8; 4] = *b"tkhd";
    pub const MDIA: [u8; 4] = *b"mdia";
    pub const MDHD: [u8; 4] = *b"mdhd";
    pub const HDLR: [u8; 4] = *b"hdlr";
    pub const MINF: [u8; 4] = *b"minf";
    pub const VMHD: [u8; 4] = *b"vmhd";
    pub const SMHD: [u8; 4] = *b"smhd";
    pub const DINF: [u8; 4] = *b"dinf";
    pub const DREF: [u8; 4] = *b"dref";
    pub const URL: [u8; 4] = *b"url ";
    pub const STBL: [u8; 4] = *b"stbl";
    pub const STSD: [u8; 4] = *b"stsd";
    pub const STTS: [u8; 4] = *b"stts";
    pub const STSC: [u8; 4] = *b"stsc";
    pub const STSZ: [u8; 4] = *b"stsz";
    pub const STCO: [u8; 4] = *b"stco";
    pub const MVEX: [u8; 4] = *b"mvex";
    pub const TREX: [u8; 4] = *b"trex";
    pub const TRAF: [u8; 4] = *b"traf";
    pub const TFHD: [u8; 4] = *b"tfhd";
    pub const TFDT: [u8; 4] = *b"tfdt";
    pub const TRUN: [u8; 4] = *b"trun";
    pub const AVC1: [u8; 4] = *b"avc1";
    pub const AVCC: [u8; 4] = *b"avcC";
    pub const HVC1: [u8; 4] = *b"hvc1";
    pub const HVCC: [u8; 4] = *b"hvcC";
    pub const AV01: [u8; 4] = *b"av01";
    pub const AV1C: [u8; 4] = *b"av1C";
    pub const MP4A: [u8; 4] = *b"mp4a";
    pub const ESDS: [u8; 4] = *b"esds";
    pub const OPUS: [u8; 4] = *b"Opus";
    pub const DOPS: [u8; 4] = *b"dOps";
    pub const FREE: [u8; 4] = *b"free";
}

/// Errors of the muxer. Track errors concern one track: leave it out of the recording (log
/// once). Fragment errors concern the samples handed over: a caller bug, or a publisher whose
/// timestamps the hub let through going backwards; drop those samples.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Mp4Error {
    #[error("MP4 recording does not support video codec {0:?}")]
    UnsupportedVideo(VideoCodec),
    #[error("MP4 recording does not support audio codec {0:?}")]
    UnsupportedAudio(AudioCodec),
    #[error("bad {codec} configuration: {error}")]
    Config {
        codec: &'static str,
        error: CodecError,
    },
    #[error("{codec} configuration of {len} bytes exceeds the limit of {max}")]
    ConfigTooLong {
        codec: &'static str,
        len: usize,
        max: usize,
    },
    #[error("an init segment has 1 to {max} tracks, not {count}")]
    TrackCount { count: usize, max: usize },
    #[error("fragment run names track {track_id}, unknown to the init segment or named twice")]
    UnknownTrack { track_id: u32 },
    #[error("fragment without samples")]
    EmptyFragment,
    #[error("fragment of {count} samples exceeds the limit of {max}")]
    TooManySamples { count: usize, max: usize },
    #[error("track {track_id} sample {index}: decode time {dts} is before {previous}")]
    DtsBackwards {
        track_id: u32,
        index: usize,
        dts: u64,
        previous: u64,
    },
    #[error("track {track_id} sample {index}: duration {duration} does not fit 32 bits")]
    DurationTooLong {
        track_id: u32,
        index: usize,
        duration: u64,
    },
    #[error("track {track_id} sample {index}: no data")]
    EmptySample { track_id: u32, index: usize },
    #[error("track {track_id} sample {index}: composition offset on a track without them")]
    CompositionOffset { track_id: u32, index: usize },
    #[error("fragment of {len} bytes exceeds the limit of {max}")]
    FragmentTooLarge { len: u64, max: u64 },
}

/// Box sizes here are bounded far below 4 GiB (configurations by [`MAX_CONFIG_LEN`],
/// fragments by [`MAX_FRAGMENT_LEN`]), so the 32-bit size field always holds them.
fn size32(len: usize) -> u32 {
    debug_assert!(u32::try_from(len).is_ok(), "box of {len} bytes");
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Writes a box header (§4.2): size (32 bits), type.
fn put_box(out: &mut impl BufMut, len: usize, kind: [u8; 4]) {
    out.put_u32(size32(len));
    out.put_slice(&kind);
}

/// Writes a FullBox header (§4.2): box header, version, flags (24 bits).
fn put_full_box(out: &mut impl BufMut, len: usize, kind: [u8; 4], version: u8, flags: u32) {
    put_box(out, len, kind);
    out.put_u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
}

/// sample_flags (§8.8.3.1): sample_depends_on 2 (depends on no other sample), a sync sample.
const SAMPLE_FLAGS_SYNC: u32 = 0x0200_0000;
/// sample_depends_on 1 (depends on others), sample_is_non_sync_sample 1.
const SAMPLE_FLAGS_NON_SYNC: u32 = 0x0101_0000;
