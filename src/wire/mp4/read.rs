//! Reading fragmented MP4 back: the tracks of a `moov` (ID, timescale, video or not, `trex`
//! defaults) and, per `moof`, each track fragment's decode time (`tfdt`), total duration and
//! whether its first sample is a sync sample, with the offsets of the fields that a player
//! stitching several files together rewrites (`mfhd` sequence_number, `tfdt`).
//!
//! Pure code over byte slices, for files that came from anywhere: every size is checked
//! against the slice, nothing is allocated from a size in the file beyond one entry per
//! track ([`MAX_TRACKS`](super::MAX_TRACKS)) and per `traf` (at most [`MAX_TRAFS`]).
//!
//! What it reads, as ISO/IEC 14496-12 §8.8 says: `tfhd` (default-base-is-moof or not, the
//! optional default_sample_duration and default_sample_flags), `tfdt` version 0 or 1, every
//! `trun` of a `traf` (sample_duration and sample_flags per sample or from the defaults,
//! first_sample_flags). Sample sizes and data offsets are not needed: the `mdat` is copied
//! whole, and data offsets are relative to the `moof` (default-base-is-moof) so a `moof`
//! keeps its size when rewritten. A `moof` whose `tfhd` says otherwise (base data offsets
//! relative to the file) is refused with [`ReadError::AbsoluteOffsets`].

use super::fourcc;
use crate::wire::cursor::{u32_at, u8_at};

/// Track fragments read from one `moof` at most.
pub const MAX_TRAFS: usize = 8;

/// A track of the `moov`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackInfo {
    pub track_id: u32,
    pub timescale: u32,
    /// The handler is `vide`.
    pub video: bool,
    /// `trex` default_sample_duration and default_sample_flags.
    pub default_duration: u32,
    pub default_flags: u32,
}

/// One `traf` of a `moof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafInfo {
    pub track_id: u32,
    /// baseMediaDecodeTime, in the track's timescale.
    pub decode_time: u64,
    /// Where the `tfdt`'s value starts in the `moof`, and whether it is 64 bits wide.
    pub tfdt_at: usize,
    pub tfdt_wide: bool,
    /// Sum of the sample durations of every `trun`.
    pub duration: u64,
    pub samples: u32,
    /// The first sample is a sync sample (a keyframe); `None` without samples.
    pub first_sync: Option<bool>,
}

/// One `moof`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoofInfo {
    pub sequence_number: u32,
    /// Where the `mfhd`'s sequence_number starts in the `moof`.
    pub sequence_at: usize,
    pub trafs: heapless::Vec<TrafInfo, MAX_TRAFS>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("box {0:?} runs past its parent")]
    Truncated(&'static str),
    #[error("a {0} box is missing")]
    Missing(&'static str),
    #[error("more than {0} tracks or track fragments")]
    TooMany(usize),
    #[error("a track fragment of an unknown track {0}")]
    UnknownTrack(u32),
    #[error("data offsets relative to the file (no default-base-is-moof)")]
    AbsoluteOffsets,
}

/// `sample_is_non_sync_sample` in sample flags (§8.8.3.1).
const NON_SYNC: u32 = 0x0001_0000;
const TFHD_BASE_DATA_OFFSET: u32 = 0x00_0001;
const TFHD_SAMPLE_DESCRIPTION: u32 = 0x00_0002;
const TFHD_DEFAULT_DURATION: u32 = 0x00_0008;
const TFHD_DEFAULT_SIZE: u32 = 0x00_0010;
const TFHD_DEFAULT_FLAGS: u32 = 0x00_0020;
const TFHD_BASE_IS_MOOF: u32 = 0x02_0000;
const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_FIRST_FLAGS: u32 = 0x00_0004;
const TRUN_DURATION: u32 = 0x00_0100;
const TRUN_SIZE: u32 = 0x00_0200;
const TRUN_FLAGS: u32 = 0x00_0400;
const TRUN_CTO: u32 = 0x00_0800;

/// The child boxes of a box body: `(type, offset of the body in `data`, body)`. Stops at
/// the first header that does not fit (reported by the caller through what is missing);
/// `largesize` and size 0 are not used inside a `moov` or `moof` by this muxer and end
/// the walk with [`ReadError::Truncated`].
fn children(
    data: &[u8],
    base: usize,
) -> impl Iterator<Item = Result<([u8; 4], usize, &[u8]), ReadError>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= data.len() {
            return None;
        }
        let size = match u32_at(data, at) {
            Ok(s) => s as usize,
            Err(_) => {
                at = data.len();
                return Some(Err(ReadError::Truncated("box header")));
            }
        };
        let kind: [u8; 4] = match data.get(at + 4..at + 8) {
            Some(k) => [k[0], k[1], k[2], k[3]],
            None => {
                at = data.len();
                return Some(Err(ReadError::Truncated("box header")));
            }
        };
        if size < 8 || data.len() - at < size {
            at = data.len();
            return Some(Err(ReadError::Truncated("child box")));
        }
        let body = &data[at + 8..at + size];
        let body_at = base + at + 8;
        at += size;
        Some(Ok((kind, body_at, body)))
    })
}

/// The first child of type `kind`: (offset of its body, body).
fn find(data: &[u8], base: usize, kind: [u8; 4]) -> Result<Option<(usize, &[u8])>, ReadError> {
    for child in children(data, base) {
        let (k, at, body) = child?;
        if k == kind {
            return Ok(Some((at, body)));
        }
    }
    Ok(None)
}

fn short(_: crate::wire::cursor::Short) -> ReadError {
    ReadError::Truncated("full box")
}

/// The tracks of a `moov` body (the bytes after its 8-byte header).
pub fn read_moov(
    moov: &[u8],
) -> Result<heapless::Vec<TrackInfo, { super::MAX_TRACKS }>, ReadError> {
    let mut tracks = heapless::Vec::new();
    for child in children(moov, 0) {
        let (kind, _, trak) = child?;
        if kind != fourcc::TRAK {
            continue;
        }
        let (_, tkhd) = find(trak, 0, fourcc::TKHD)?.ok_or(ReadError::Missing("tkhd"))?;
        // tkhd: version, flags, then creation and modification (4 or 8 bytes each), track_ID.
        let wide = u8_at(tkhd, 0).map_err(short)? == 1;
        let track_id = u32_at(tkhd, if wide { 20 } else { 12 }).map_err(short)?;
        let (_, mdia) = find(trak, 0, fourcc::MDIA)?.ok_or(ReadError::Missing("mdia"))?;
        let (_, mdhd) = find(mdia, 0, fourcc::MDHD)?.ok_or(ReadError::Missing("mdhd"))?;
        let wide = u8_at(mdhd, 0).map_err(short)? == 1;
        let timescale = u32_at(mdhd, if wide { 20 } else { 12 }).map_err(short)?;
        let (_, hdlr) = find(mdia, 0, fourcc::HDLR)?.ok_or(ReadError::Missing("hdlr"))?;
        // hdlr: version, flags, pre_defined, handler_type.
        let video = hdlr.get(8..12) == Some(b"vide");
        if timescale == 0 {
            return Err(ReadError::Missing("timescale"));
        }
        let info = TrackInfo {
            track_id,
            timescale,
            video,
            default_duration: 0,
            default_flags: 0,
        };
        tracks
            .push(info)
            .map_err(|_| ReadError::TooMany(super::MAX_TRACKS))?;
    }
    if let Some((_, mvex)) = find(moov, 0, fourcc::MVEX)? {
        for child in children(mvex, 0) {
            let (kind, _, trex) = child?;
            if kind != fourcc::TREX {
                continue;
            }
            // trex: version, flags, track_ID, description index, duration, size, flags.
            let id = u32_at(trex, 4).map_err(short)?;
            if let Some(t) = tracks.iter_mut().find(|t| t.track_id == id) {
                t.default_duration = u32_at(trex, 12).map_err(short)?;
                t.default_flags = u32_at(trex, 20).map_err(short)?;
            }
        }
    }
    if tracks.is_empty() {
        return Err(ReadError::Missing("trak"));
    }
    Ok(tracks)
}

/// Reads a whole `moof` box (its 8-byte header included: offsets count from the `moof`'s
/// first byte, as data offsets do) against the `moov`'s tracks.
pub fn read_moof(moof: &[u8], tracks: &[TrackInfo]) -> Result<MoofInfo, ReadError> {
    let body = moof.get(8..).ok_or(ReadError::Truncated("moof"))?;
    let (mfhd_at, mfhd) = find(body, 8, fourcc::MFHD)?.ok_or(ReadError::Missing("mfhd"))?;
    let sequence_number = u32_at(mfhd, 4).map_err(short)?;
    let mut trafs = heapless::Vec::new();
    for child in children(body, 8) {
        let (kind, traf_at, traf) = child?;
        if kind != fourcc::TRAF {
            continue;
        }
        let (_, tfhd) = find(traf, traf_at, fourcc::TFHD)?.ok_or(ReadError::Missing("tfhd"))?;
        let tf_flags = u32_at(tfhd, 0).map_err(short)? & 0x00ff_ffff;
        let track_id = u32_at(tfhd, 4).map_err(short)?;
        let track = tracks
            .iter()
            .find(|t| t.track_id == track_id)
            .ok_or(ReadError::UnknownTrack(track_id))?;
        if tf_flags & TFHD_BASE_DATA_OFFSET != 0 || tf_flags & TFHD_BASE_IS_MOOF == 0 {
            return Err(ReadError::AbsoluteOffsets);
        }
        let mut at = 8;
        if tf_flags & TFHD_SAMPLE_DESCRIPTION != 0 {
            at += 4;
        }
        let mut default_duration = track.default_duration;
        if tf_flags & TFHD_DEFAULT_DURATION != 0 {
            default_duration = u32_at(tfhd, at).map_err(short)?;
            at += 4;
        }
        if tf_flags & TFHD_DEFAULT_SIZE != 0 {
            at += 4;
        }
        let mut default_flags = track.default_flags;
        if tf_flags & TFHD_DEFAULT_FLAGS != 0 {
            default_flags = u32_at(tfhd, at).map_err(short)?;
        }
        let (tfdt_body_at, tfdt) =
            find(traf, traf_at, fourcc::TFDT)?.ok_or(ReadError::Missing("tfdt"))?;
        let tfdt_wide = u8_at(tfdt, 0).map_err(short)? == 1;
        let decode_time = if tfdt_wide {
            let hi = u32_at(tfdt, 4).map_err(short)?;
            let lo = u32_at(tfdt, 8).map_err(short)?;
            u64::from(hi) << 32 | u64::from(lo)
        } else {
            u64::from(u32_at(tfdt, 4).map_err(short)?)
        };
        let (mut duration, mut samples, mut first_sync) = (0u64, 0u32, None);
        for child in children(traf, traf_at) {
            let (kind, _, trun) = child?;
            if kind != fourcc::TRUN {
                continue;
            }
            let flags = u32_at(trun, 0).map_err(short)? & 0x00ff_ffff;
            let count = u32_at(trun, 4).map_err(short)?;
            let mut at = 8;
            if flags & TRUN_DATA_OFFSET != 0 {
                at += 4;
            }
            let mut first_flags = None;
            if flags & TRUN_FIRST_FLAGS != 0 {
                first_flags = Some(u32_at(trun, at).map_err(short)?);
                at += 4;
            }
            let per_sample = 4
                * (flags & (TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_CTO)).count_ones()
                    as usize;
            // The sample table must be in the box: checked before walking it.
            let table = (count as usize)
                .checked_mul(per_sample)
                .and_then(|n| n.checked_add(at))
                .ok_or(ReadError::Truncated("trun"))?;
            if table > trun.len() {
                return Err(ReadError::Truncated("trun"));
            }
            if per_sample == 0 {
                // No per-sample fields: every sample has the defaults (the first may have
                // flags of its own), so the run is summed at once; `count` is the file's and
                // may be 4 billion (walking it took a fuzz input 10 s).
                if count > 0 && samples == 0 {
                    first_sync = Some(first_flags.unwrap_or(default_flags) & NON_SYNC == 0);
                }
                duration = duration.saturating_add(u64::from(count) * u64::from(default_duration));
                samples = samples.saturating_add(count);
                continue;
            }
            for i in 0..count as usize {
                let mut field = at + i * per_sample;
                let sample_duration = if flags & TRUN_DURATION != 0 {
                    let d = u32_at(trun, field).map_err(short)?;
                    field += 4;
                    d
                } else {
                    default_duration
                };
                if flags & TRUN_SIZE != 0 {
                    field += 4;
                }
                let sample_flags = if i == 0 && first_flags.is_some() {
                    first_flags.unwrap_or(default_flags)
                } else if flags & TRUN_FLAGS != 0 {
                    u32_at(trun, field).map_err(short)?
                } else {
                    default_flags
                };
                if samples == 0 {
                    first_sync = Some(sample_flags & NON_SYNC == 0);
                }
                duration = duration.saturating_add(u64::from(sample_duration));
                samples = samples.saturating_add(1);
            }
        }
        let info = TrafInfo {
            track_id,
            decode_time,
            tfdt_at: tfdt_body_at + 4,
            tfdt_wide,
            duration,
            samples,
            first_sync,
        };
        trafs
            .push(info)
            .map_err(|_| ReadError::TooMany(MAX_TRAFS))?;
    }
    Ok(MoofInfo {
        sequence_number,
        sequence_at: mfhd_at + 4,
        trafs,
    })
}

/// Rewrites a `moof` read by [`read_moof`]: its sequence number and each track's decode
/// time (`decode_time(track_id)`); a value that does not fit a 32-bit `tfdt` is clamped.
pub fn rewrite_moof(
    moof: &mut [u8],
    info: &MoofInfo,
    sequence: u32,
    decode_time: impl Fn(u32) -> u64,
) {
    if let Some(s) = moof.get_mut(info.sequence_at..info.sequence_at + 4) {
        s.copy_from_slice(&sequence.to_be_bytes());
    }
    for traf in &info.trafs {
        let t = decode_time(traf.track_id);
        if traf.tfdt_wide {
            if let Some(s) = moof.get_mut(traf.tfdt_at..traf.tfdt_at + 8) {
                s.copy_from_slice(&t.to_be_bytes());
            }
        } else if let Some(s) = moof.get_mut(traf.tfdt_at..traf.tfdt_at + 4) {
            let t = u32::try_from(t).unwrap_or(u32::MAX);
            s.copy_from_slice(&t.to_be_bytes());
        }
    }
}
