//! The initialization segment: `ftyp` (§4.3) and `moov` (§8.2) with one `trak` per track and
//! `mvex` (§8.8.1) announcing movie fragments. The sample tables are empty: every sample is
//! in a fragment.

use bytes::BufMut;

use super::track::Track;
use super::{
    fourcc, put_box, put_full_box, Mp4Error, BOX_HEADER_LEN, FULL_BOX_HEADER_LEN,
    SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC,
};

/// Tracks of one recording: the hub carries at most one video and one audio track.
pub const MAX_TRACKS: usize = 2;

/// `ftyp`: major brand `iso5`, the ISOBMFF structural brand whose readers must understand
/// `default-base-is-moof`, which every `tfhd` here sets; minor version 0; compatible brands
/// `isom` (the base), `iso5`, `iso6` (the structural brand AV1-ISOBMFF §2.1 names) and
/// `mp41`, for players that look for an MP4 brand. AV1-ISOBMFF §2.1 requires `av01` among
/// them when a track is AV1.
const MAJOR_BRAND: [u8; 4] = *b"iso5";
const MINOR_VERSION: u32 = 0;
const COMPATIBLE_BRANDS: [[u8; 4]; 4] = [*b"isom", *b"iso5", *b"iso6", *b"mp41"];
const AV1_BRAND: [u8; 4] = *b"av01";

/// The movie timescale (`mvhd`): durations there are all 0 (unknown in a fragmented file),
/// so any value would do; milliseconds.
const MOVIE_TIMESCALE: u32 = 1000;
/// Unity matrix (§8.2.2.3): { 1, 0, 0, 0, 1, 0, 0, 0, 1 } in 16.16 and 2.30 fixed point.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// rate 1.0 (16.16), volume 1.0 (8.8).
const RATE_1: u32 = 0x0001_0000;
const VOLUME_1: u16 = 0x0100;
/// Version 0 `mvhd`: FullBox, 4 times, rate, volume, reserved (2 + 8), matrix, pre_defined
/// (24), next_track_ID.
const MVHD_LEN: usize = FULL_BOX_HEADER_LEN + 16 + 4 + 2 + 10 + 36 + 24 + 4;
/// Version 0 `tkhd`: FullBox, creation, modification, track_ID, reserved, duration,
/// reserved (8), layer, alternate_group, volume, reserved, matrix, width, height.
const TKHD_LEN: usize = FULL_BOX_HEADER_LEN + 20 + 8 + 8 + 36 + 8;
/// tkhd flags: track_enabled | track_in_movie.
const TKHD_FLAGS: u32 = 0x0000_0003;
/// Version 0 `mdhd`: FullBox, creation, modification, timescale, duration, language,
/// pre_defined.
const MDHD_LEN: usize = FULL_BOX_HEADER_LEN + 16 + 4;
/// ISO-639-2/T "und" packed in three 5-bit letters (each minus 0x60).
const LANGUAGE_UND: u16 = 0x55c4;
/// `hdlr` without its name: FullBox, pre_defined, handler_type, reserved[3]; the name ends
/// with a NUL.
const HDLR_FIXED_LEN: usize = FULL_BOX_HEADER_LEN + 20;
/// `vmhd` (flags 1: §12.1.2.2 says so): graphicsmode, opcolor[3].
const VMHD_LEN: usize = FULL_BOX_HEADER_LEN + 8;
const VMHD_FLAGS: u32 = 1;
/// `smhd`: balance, reserved.
const SMHD_LEN: usize = FULL_BOX_HEADER_LEN + 4;
/// `url ` with flags 1: the media is in this file.
const URL_LEN: usize = FULL_BOX_HEADER_LEN;
const URL_SELF_CONTAINED: u32 = 1;
const DREF_LEN: usize = FULL_BOX_HEADER_LEN + 4 + URL_LEN;
const DINF_LEN: usize = BOX_HEADER_LEN + DREF_LEN;
/// Empty `stts`, `stsc`, `stco` (entry_count 0) and `stsz` (sample_size 0, count 0).
const EMPTY_TABLE_LEN: usize = FULL_BOX_HEADER_LEN + 4;
const STSZ_LEN: usize = FULL_BOX_HEADER_LEN + 8;
/// `stsd` without its entry: FullBox, entry_count.
const STSD_FIXED_LEN: usize = FULL_BOX_HEADER_LEN + 4;
/// `trex`: FullBox, track_ID, default_sample_description_index, default_sample_duration,
/// default_sample_size, default_sample_flags.
const TREX_LEN: usize = FULL_BOX_HEADER_LEN + 20;
const SAMPLE_DESCRIPTION_INDEX: u32 = 1;

/// `ftyp` + `moov` of a recording. Its tracks are numbered 1, 2 in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    tracks: heapless::Vec<Track, MAX_TRACKS>,
}

impl InitSegment {
    /// An init segment for 1 to [`MAX_TRACKS`] tracks.
    pub fn new(tracks: impl IntoIterator<Item = Track>) -> Result<InitSegment, Mp4Error> {
        let mut list = heapless::Vec::new();
        let mut count = 0;
        for mut track in tracks {
            count += 1;
            track.id = count as u32;
            // A full list is reported below, with the count.
            let _ = list.push(track);
        }
        if count == 0 || count > MAX_TRACKS {
            return Err(Mp4Error::TrackCount {
                count,
                max: MAX_TRACKS,
            });
        }
        Ok(InitSegment { tracks: list })
    }

    /// The tracks, with their IDs.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The track with ID `track_id`.
    pub fn track(&self, track_id: u32) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == track_id)
    }

    fn has_av1(&self) -> bool {
        self.tracks.iter().any(|t| t.sample_entry() == fourcc::AV01)
    }

    fn ftyp_len(&self) -> usize {
        let brands = COMPATIBLE_BRANDS.len() + usize::from(self.has_av1());
        BOX_HEADER_LEN + 8 + 4 * brands
    }

    fn moov_len(&self) -> usize {
        let traks: usize = self.tracks.iter().map(trak_len).sum();
        BOX_HEADER_LEN + MVHD_LEN + traks + BOX_HEADER_LEN + TREX_LEN * self.tracks.len()
    }

    /// Bytes [`InitSegment::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        self.ftyp_len() + self.moov_len()
    }

    /// Writes `ftyp` and `moov`. A fixed-size `out` must have room for
    /// [`InitSegment::encoded_len`] bytes.
    pub fn encode(&self, out: &mut impl BufMut) {
        put_box(out, self.ftyp_len(), fourcc::FTYP);
        out.put_slice(&MAJOR_BRAND);
        out.put_u32(MINOR_VERSION);
        for brand in COMPATIBLE_BRANDS {
            out.put_slice(&brand);
        }
        if self.has_av1() {
            out.put_slice(&AV1_BRAND);
        }

        put_box(out, self.moov_len(), fourcc::MOOV);
        put_full_box(out, MVHD_LEN, fourcc::MVHD, 0, 0);
        out.put_u32(0); // creation_time: no clock here, and nothing needs it
        out.put_u32(0); // modification_time
        out.put_u32(MOVIE_TIMESCALE);
        out.put_u32(0); // duration: unknown
        out.put_u32(RATE_1);
        out.put_u16(VOLUME_1);
        out.put_slice(&[0; 10]); // reserved
        put_matrix(out);
        out.put_slice(&[0; 24]); // pre_defined
        out.put_u32(self.tracks.len() as u32 + 1); // next_track_ID
        for track in &self.tracks {
            encode_trak(track, out);
        }
        put_box(
            out,
            BOX_HEADER_LEN + TREX_LEN * self.tracks.len(),
            fourcc::MVEX,
        );
        for track in &self.tracks {
            put_full_box(out, TREX_LEN, fourcc::TREX, 0, 0);
            out.put_u32(track.id);
            out.put_u32(SAMPLE_DESCRIPTION_INDEX);
            out.put_u32(0); // default_sample_duration: every trun says
            out.put_u32(0); // default_sample_size: likewise
                            // Audio runs write no sample flags: every audio frame is a sync sample.
            out.put_u32(if track.is_video() {
                SAMPLE_FLAGS_NON_SYNC
            } else {
                SAMPLE_FLAGS_SYNC
            });
        }
    }
}

fn put_matrix(out: &mut impl BufMut) {
    for value in UNITY_MATRIX {
        out.put_u32(value);
    }
}

fn hdlr_len(track: &Track) -> usize {
    HDLR_FIXED_LEN + track.handler().1.len() + 1
}

fn stbl_len(track: &Track) -> usize {
    BOX_HEADER_LEN + STSD_FIXED_LEN + track.sample_entry_len() + 3 * EMPTY_TABLE_LEN + STSZ_LEN
}

fn minf_len(track: &Track) -> usize {
    let media_header = if track.is_video() { VMHD_LEN } else { SMHD_LEN };
    BOX_HEADER_LEN + media_header + DINF_LEN + stbl_len(track)
}

fn mdia_len(track: &Track) -> usize {
    BOX_HEADER_LEN + MDHD_LEN + hdlr_len(track) + minf_len(track)
}

fn trak_len(track: &Track) -> usize {
    BOX_HEADER_LEN + TKHD_LEN + mdia_len(track)
}

fn encode_trak(track: &Track, out: &mut impl BufMut) {
    put_box(out, trak_len(track), fourcc::TRAK);
    put_full_box(out, TKHD_LEN, fourcc::TKHD, 0, TKHD_FLAGS);
    out.put_u32(0); // creation_time
    out.put_u32(0); // modification_time
    out.put_u32(track.id);
    out.put_u32(0); // reserved
    out.put_u32(0); // duration
    out.put_u64(0); // reserved
    out.put_u16(0); // layer
    out.put_u16(0); // alternate_group
    out.put_u16(if track.is_video() { 0 } else { VOLUME_1 });
    out.put_u16(0); // reserved
    put_matrix(out);
    let (width, height) = track.picture_size().unwrap_or((0, 0));
    out.put_u32(u32::from(width) << 16);
    out.put_u32(u32::from(height) << 16);

    put_box(out, mdia_len(track), fourcc::MDIA);
    put_full_box(out, MDHD_LEN, fourcc::MDHD, 0, 0);
    out.put_u32(0); // creation_time
    out.put_u32(0); // modification_time
    out.put_u32(track.timescale());
    out.put_u32(0); // duration
    out.put_u16(LANGUAGE_UND);
    out.put_u16(0); // pre_defined
    let (handler_type, name) = track.handler();
    put_full_box(out, hdlr_len(track), fourcc::HDLR, 0, 0);
    out.put_u32(0); // pre_defined
    out.put_slice(&handler_type);
    out.put_slice(&[0; 12]); // reserved
    out.put_slice(name);
    out.put_u8(0);

    put_box(out, minf_len(track), fourcc::MINF);
    if track.is_video() {
        put_full_box(out, VMHD_LEN, fourcc::VMHD, 0, VMHD_FLAGS);
        out.put_u64(0); // graphicsmode copy, opcolor 0
    } else {
        put_full_box(out, SMHD_LEN, fourcc::SMHD, 0, 0);
        out.put_u32(0); // balance, reserved
    }
    put_box(out, DINF_LEN, fourcc::DINF);
    put_full_box(out, DREF_LEN, fourcc::DREF, 0, 0);
    out.put_u32(1); // entry_count
    put_full_box(out, URL_LEN, fourcc::URL, 0, URL_SELF_CONTAINED);

    put_box(out, stbl_len(track), fourcc::STBL);
    put_full_box(
        out,
        STSD_FIXED_LEN + track.sample_entry_len(),
        fourcc::STSD,
        0,
        0,
    );
    out.put_u32(1); // entry_count
    track.encode_sample_entry(out);
    for table in [fourcc::STTS, fourcc::STSC] {
        put_full_box(out, EMPTY_TABLE_LEN, table, 0, 0);
        out.put_u32(0);
    }
    put_full_box(out, STSZ_LEN, fourcc::STSZ, 0, 0);
    out.put_u32(0); // sample_size
    out.put_u32(0); // sample_count
    put_full_box(out, EMPTY_TABLE_LEN, fourcc::STCO, 0, 0);
    out.put_u32(0);
}
