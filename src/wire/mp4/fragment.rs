//! One movie fragment: `moof` (§8.8.4) with `mfhd`, and per track a `traf` with `tfhd`,
//! `tfdt` and one `trun`; then the `mdat` (§8.1.1) that holds the samples, in the order of
//! the runs.

use bytes::{BufMut, Bytes};

use super::init::InitSegment;
use super::track::Track;
use super::{
    fourcc, put_box, put_full_box, Mp4Error, BOX_HEADER_LEN, FULL_BOX_HEADER_LEN,
    SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC,
};

/// The most samples one fragment may hold, all tracks together. The `moof` costs up to 16
/// bytes per sample, so its header stays under 66 KB; 4096 samples is 10 s of 60 fps video
/// with 48 kHz AAC (about 470 frames in 10 s) with room to spare. Cut fragments before.
pub const MAX_FRAGMENT_SAMPLES: usize = 4096;
/// The largest fragment, `moof` + `mdat`, in bytes: `trun`'s data_offset is a signed 32-bit
/// offset from the start of the `moof`, so every sample must start within 2 GiB of it;
/// holding the whole fragment to that also keeps the `mdat` size in 32 bits.
pub const MAX_FRAGMENT_LEN: u64 = i32::MAX as u64;

/// `mfhd`: FullBox, sequence_number.
const MFHD_LEN: usize = FULL_BOX_HEADER_LEN + 4;
/// `tfhd` with only track_ID after the FullBox header.
const TFHD_LEN: usize = FULL_BOX_HEADER_LEN + 4;
/// tf_flags: default-base-is-moof (§8.8.7.1): data offsets count from the `moof`'s start.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// Version 1 `tfdt`: a 64-bit baseMediaDecodeTime.
const TFDT_LEN: usize = FULL_BOX_HEADER_LEN + 8;
const TFDT_VERSION_64: u8 = 1;
/// `trun` before its samples: FullBox, sample_count, data_offset.
const TRUN_FIXED_LEN: usize = FULL_BOX_HEADER_LEN + 8;
/// tr_flags (§8.8.8.1).
const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_SAMPLE_DURATION: u32 = 0x00_0100;
const TRUN_SAMPLE_SIZE: u32 = 0x00_0200;
const TRUN_SAMPLE_FLAGS: u32 = 0x00_0400;
const TRUN_SAMPLE_COMPOSITION_OFFSET: u32 = 0x00_0800;
/// trun version 1: sample_composition_time_offset is signed.
const TRUN_SIGNED_OFFSETS: u8 = 1;
/// Bytes per sample field in a trun.
const TRUN_FIELD_LEN: usize = 4;

/// One sample: an access unit of video, or an audio frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Decode time in the track's timescale.
    pub dts: u64,
    /// Composition time offset, pts − dts, in the track's timescale; 0 for audio and AV1.
    pub cts: i32,
    /// A sync sample (random access point). Ignored for audio, where every frame is one.
    pub keyframe: bool,
    /// The sample's bytes, written to the `mdat` as they are.
    pub data: Bytes,
}

/// The samples of one track in one fragment, in decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run<'a> {
    pub track_id: u32,
    pub samples: &'a [Sample],
    /// Decode time at which the last sample ends (the next sample's `dts`, when known).
    /// `None`: the last sample lasts as long as the one before it (0 if it is alone).
    pub end_dts: Option<u64>,
}

/// A checked fragment, ready to write. See the module documentation for the zero-copy
/// protocol: [`Fragment::encode`], then the bytes of [`Fragment::chunks`] in order.
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    init: &'a InitSegment,
    sequence_number: u32,
    runs: &'a [Run<'a>],
    moof_len: usize,
    data_len: u64,
}

/// The layout of one `trun`, from its track.
#[derive(Debug, Clone, Copy)]
struct TrunShape {
    flags: u32,
    version: u8,
    per_sample: usize,
}

impl TrunShape {
    /// Video: duration, size, flags and (H.264/H.265) composition offsets; audio: duration
    /// and size, the flags coming from `trex` (sync).
    fn of(track: &Track, samples: &[Sample]) -> TrunShape {
        let mut flags = TRUN_DATA_OFFSET | TRUN_SAMPLE_DURATION | TRUN_SAMPLE_SIZE;
        let mut version = 0;
        if track.is_video() {
            flags |= TRUN_SAMPLE_FLAGS;
        }
        if track.has_composition_offsets() {
            flags |= TRUN_SAMPLE_COMPOSITION_OFFSET;
            if samples.iter().any(|s| s.cts < 0) {
                version = TRUN_SIGNED_OFFSETS;
            }
        }
        let per_sample = TRUN_FIELD_LEN * (flags & 0x0f00).count_ones() as usize;
        TrunShape {
            flags,
            version,
            per_sample,
        }
    }
}

fn traf_len(shape: TrunShape, samples: usize) -> usize {
    BOX_HEADER_LEN + TFHD_LEN + TFDT_LEN + TRUN_FIXED_LEN + shape.per_sample * samples
}

/// Checks one run against its track: each sample's end (the next sample's decode time, or
/// `end_dts` for the last) is not before its start and not more than 2^32 − 1 after it;
/// every sample has data; composition offsets only where the track has them.
fn check_run(track: &Track, run: &Run<'_>) -> Result<(), Mp4Error> {
    let track_id = run.track_id;
    let nexts = run.samples.iter().skip(1).map(|s| Some(s.dts));
    for (index, (sample, next)) in run
        .samples
        .iter()
        .zip(nexts.chain([run.end_dts]))
        .enumerate()
    {
        if let Some(next) = next {
            let duration = next.checked_sub(sample.dts).ok_or(Mp4Error::DtsBackwards {
                track_id,
                index: index + 1,
                dts: next,
                previous: sample.dts,
            })?;
            if duration > u64::from(u32::MAX) {
                return Err(Mp4Error::DurationTooLong {
                    track_id,
                    index,
                    duration,
                });
            }
        }
        // A zero-length sample is legal ISOBMFF, but ffmpeg 5.1 refuses the whole file
        // with one ("error reading header"). What has no bytes (an RTMP end of sequence)
        // is no sample.
        if sample.data.is_empty() {
            return Err(Mp4Error::EmptySample { track_id, index });
        }
        if sample.cts != 0 && !track.has_composition_offsets() {
            return Err(Mp4Error::CompositionOffset { track_id, index });
        }
    }
    Ok(())
}

impl<'a> Fragment<'a> {
    /// Checks `runs` against `init` and lays the fragment out. `sequence_number` is the
    /// fragment's number in the file (`mfhd`): start at 1 and add one per fragment; the
    /// [`Scanner`](super::Scanner) requires it to grow. Runs without samples are left out;
    /// at least one must have some. Errors: a track unknown or named twice, more than
    /// [`MAX_FRAGMENT_SAMPLES`] samples, decode times going backwards or more than 2^32 − 1
    /// apart, a sample without data, a composition offset on a track without them, more
    /// than [`MAX_FRAGMENT_LEN`] bytes.
    pub fn new(
        init: &'a InitSegment,
        sequence_number: u32,
        runs: &'a [Run<'a>],
    ) -> Result<Fragment<'a>, Mp4Error> {
        let count: usize = runs.iter().map(|r| r.samples.len()).sum();
        if count == 0 {
            return Err(Mp4Error::EmptyFragment);
        }
        if count > MAX_FRAGMENT_SAMPLES {
            return Err(Mp4Error::TooManySamples {
                count,
                max: MAX_FRAGMENT_SAMPLES,
            });
        }
        let mut moof_len = BOX_HEADER_LEN + MFHD_LEN;
        let mut data_len = 0u64;
        for (i, run) in runs.iter().enumerate() {
            if run.samples.is_empty() {
                continue;
            }
            let named_before = runs[..i]
                .iter()
                .any(|r| r.track_id == run.track_id && !r.samples.is_empty());
            let track = init.track(run.track_id).filter(|_| !named_before).ok_or(
                Mp4Error::UnknownTrack {
                    track_id: run.track_id,
                },
            )?;
            check_run(track, run)?;
            moof_len += traf_len(TrunShape::of(track, run.samples), run.samples.len());
            data_len += run.samples.iter().map(|s| s.data.len() as u64).sum::<u64>();
        }
        let len = (moof_len + BOX_HEADER_LEN) as u64 + data_len;
        if len > MAX_FRAGMENT_LEN {
            return Err(Mp4Error::FragmentTooLarge {
                len,
                max: MAX_FRAGMENT_LEN,
            });
        }
        Ok(Fragment {
            init,
            sequence_number,
            runs,
            moof_len,
            data_len,
        })
    }

    /// Bytes [`Fragment::encode`] writes: the `moof` and the 8-byte `mdat` header.
    pub fn encoded_len(&self) -> usize {
        self.moof_len + BOX_HEADER_LEN
    }

    /// Bytes of sample data after the header: the sum of [`Fragment::chunks`].
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// Bytes of the whole fragment in the file.
    pub fn len(&self) -> u64 {
        self.encoded_len() as u64 + self.data_len
    }

    /// Always false: a fragment has at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes `moof` and the `mdat` header; the sample data must follow, as
    /// [`Fragment::chunks`] gives it. A fixed-size `out` must have room for
    /// [`Fragment::encoded_len`] bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        put_box(out, self.moof_len, fourcc::MOOF);
        put_full_box(out, MFHD_LEN, fourcc::MFHD, 0, 0);
        out.put_u32(self.sequence_number);
        // Data offsets count from the moof's first byte (default-base-is-moof).
        let mut data_offset = (self.moof_len + BOX_HEADER_LEN) as u64;
        for (track, run) in self.tracks() {
            let shape = TrunShape::of(track, run.samples);
            let count = run.samples.len();
            put_box(out, traf_len(shape, count), fourcc::TRAF);
            put_full_box(out, TFHD_LEN, fourcc::TFHD, 0, TFHD_DEFAULT_BASE_IS_MOOF);
            out.put_u32(run.track_id);
            put_full_box(out, TFDT_LEN, fourcc::TFDT, TFDT_VERSION_64, 0);
            out.put_u64(run.samples.first().map_or(0, |s| s.dts));
            let trun_len = TRUN_FIXED_LEN + shape.per_sample * count;
            put_full_box(out, trun_len, fourcc::TRUN, shape.version, shape.flags);
            out.put_u32(count as u32); // at most MAX_FRAGMENT_SAMPLES
            out.put_i32(data_offset as i32); // at most MAX_FRAGMENT_LEN
            let mut previous_duration = 0;
            for (i, sample) in run.samples.iter().enumerate() {
                let next = run.samples.get(i + 1).map(|s| s.dts).or(run.end_dts);
                // Checked by `new`: no decode time goes back, every gap fits 32 bits.
                let duration = next.map_or(previous_duration, |next| {
                    next.saturating_sub(sample.dts) as u32
                });
                previous_duration = duration;
                out.put_u32(duration);
                out.put_u32(sample.data.len() as u32);
                if shape.flags & TRUN_SAMPLE_FLAGS != 0 {
                    out.put_u32(if sample.keyframe {
                        SAMPLE_FLAGS_SYNC
                    } else {
                        SAMPLE_FLAGS_NON_SYNC
                    });
                }
                if shape.flags & TRUN_SAMPLE_COMPOSITION_OFFSET != 0 {
                    // Version 0 reads the bits as unsigned; then no offset is negative.
                    out.put_i32(sample.cts);
                }
                data_offset += sample.data.len() as u64;
            }
        }
        put_box(out, BOX_HEADER_LEN + self.data_len as usize, fourcc::MDAT);
    }

    /// The sample data in `mdat` order: runs as given, samples in decode order.
    pub fn chunks(&self) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.runs
            .iter()
            .flat_map(|run| run.samples.iter().map(|s| &s.data))
    }

    /// Writes the whole fragment, header and copied sample data (for small callers and
    /// tests; a recorder writes [`Fragment::chunks`] without copying).
    pub fn encode_with_data(&self, out: &mut impl BufMut) {
        self.encode(out);
        for chunk in self.chunks() {
            out.put_slice(chunk);
        }
    }

    /// The non-empty runs with their tracks (all known: checked by `new`).
    fn tracks(&self) -> impl Iterator<Item = (&'a Track, &'a Run<'a>)> + 'a {
        let init = self.init;
        self.runs
            .iter()
            .filter(|run| !run.samples.is_empty())
            .filter_map(move |run| Some((init.track(run.track_id)?, run)))
    }
}
