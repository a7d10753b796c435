//! Time-based playback of MP4 recordings (`/api/v1/dvr/playback`, `/api/v1/dvr/spans`): finds
//! a stream's recordings under its vhost's DVR root by their names (the `dvr_path` template
//! read backwards, [`DvrPath::locate`]), reads their fragments' times, and plans one
//! fragmented MP4 stitched from them: the first recording's init segment, then each chosen
//! fragment's `moof` renumbered and moved onto one timeline, followed by its `mdat` sent
//! from the file as it is (never read into RAM).
//!
//! Runs on the disk thread (blocking file calls); the event loop gets the plan and sends it.
//!
//! # What a caller must know
//! * Only `.mp4` recordings play (FLV recordings are not remuxed) and only when the template
//!   places them in time: `[timestamp]`, or the date down to the second. Recordings of an
//!   earlier template (before a reload) are not found.
//! * A recording's start is the time in its name; its fragments are placed by their decode
//!   times from its first fragment on. Playback starts at the keyframe fragment at or before
//!   the requested start (or the first one after it when the span begins in a gap) and
//!   ends with the fragment that reaches the end of the span: its length is the span's ±
//!   one fragment. It continues across recordings of the same stream while their init
//!   segments are byte for byte the same (same codecs and configuration) and stops at the
//!   first that differs; a gap between recordings is kept as a gap in the timeline.
//! * Bounded: [`MAX_SCAN_ENTRIES`] directory entries walked, [`MAX_INIT_BYTES`] of `moov`,
//!   [`MAX_MOOF_BYTES`] per `moof`, and [`MAX_PLAN_BYTES`] of rewritten `moof`s held per
//!   request (about 13 minutes of 1 s fragments of 25 fps video with AAC); a longer span is
//!   refused, saying so.
//! * Files are untrusted: a recording that does not read as this muxer's fragmented MP4
//!   (or is cut short) is used up to its last whole fragment, or skipped.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::config::{DvrFormat, DvrPath};
use crate::wire::mp4::{fourcc, read_moof, read_moov, rewrite_moof, MoofInfo, TrackInfo};

/// Directory entries looked at per request, over every root.
pub const MAX_SCAN_ENTRIES: usize = 20_000;
/// Directory levels below a root.
pub const MAX_DEPTH: usize = 8;
/// The largest `ftyp` + `moov` read (a recording's codec configuration is a few hundred bytes).
pub const MAX_INIT_BYTES: u64 = 64 * 1024;
/// The largest `moof` read (this muxer's are under 66 KB, `wire::mp4::MAX_FRAGMENT_SAMPLES`).
pub const MAX_MOOF_BYTES: u64 = 128 * 1024;
/// Rewritten `moof`s (and the init segment) one plan holds, from its planning until its
/// response is sent.
pub const MAX_PLAN_BYTES: usize = 1024 * 1024;
/// Playbacks planned or sent at once (`Dvr::playback_slot`); one more gets a 503. RAM:
/// `MAX_PLAYBACKS x MAX_PLAN_BYTES` (`tinysrs -t`'s "disk" line).
pub const MAX_PLAYBACKS: usize = 2;
/// A fragment index entry, for [`MAX_PLAN_BYTES`]'s budget of a recording's index.
const FRAGMENT_ENTRY_BYTES: usize = 48;

/// Which stream, under which templates.
#[derive(Debug, Clone)]
pub struct Query {
    /// The `dvr_path` of the stream's vhost (one today; a list for several roots).
    pub templates: Vec<DvrPath>,
    pub vhost: String,
    pub app: String,
    pub stream: String,
    /// The time zone the names were written in (date parts are local time).
    pub utc_offset_s: i32,
}

/// A recording found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    pub start_ms: u64,
}

/// A stretch of time covered by recordings, `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ms: u64,
    pub end_ms: u64,
}

/// One piece of the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Bytes(Bytes),
    File { path: PathBuf, start: u64, len: u64 },
}

/// The planned response.
#[derive(Debug)]
pub struct Stitched {
    pub parts: Vec<Part>,
    pub len: u64,
    /// Wall-clock time of the first frame, and how long it plays.
    pub start_ms: u64,
    pub duration_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("dvr_path {0:?} does not place recordings in time: it needs [timestamp] or the date down to [05]")]
    Untimed(String),
    #[error("the stream is recorded as FLV; playback reads MP4 recordings")]
    NotMp4,
    #[error("no MP4 recording of this stream covers that span")]
    NothingThere,
    #[error("the span is too long for one request (over {0} bytes of fragment headers); ask for a shorter duration")]
    TooLong(usize),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Recordings of the stream, oldest first, and whether the walk stopped at
/// [`MAX_SCAN_ENTRIES`].
pub fn find(query: &Query) -> Result<(Vec<Found>, bool), PlaybackError> {
    let mut found = Vec::new();
    let mut budget = MAX_SCAN_ENTRIES;
    for t in &query.templates {
        if t.format != DvrFormat::Mp4 {
            continue;
        }
        if !t.is_timed() {
            return Err(PlaybackError::Untimed(t.written.clone()));
        }
        walk(&t.root, 0, &mut budget, &mut |path| {
            let Some(text) = path.to_str() else { return };
            if let Some(start_ms) = t.locate(
                text,
                &query.vhost,
                &query.app,
                &query.stream,
                query.utc_offset_s,
            ) {
                found.push(Found {
                    path: path.to_path_buf(),
                    start_ms,
                });
            }
        });
    }
    if query.templates.iter().all(|t| t.format != DvrFormat::Mp4) {
        return Err(PlaybackError::NotMp4);
    }
    found.sort_by(|a, b| (a.start_ms, &a.path).cmp(&(b.start_ms, &b.path)));
    Ok((found, budget == 0))
}

/// Every regular file under `dir`, not following symlinks, skipping hidden names.
fn walk(dir: &Path, depth: usize, budget: &mut usize, each: &mut dyn FnMut(&Path)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        if entry.file_name().as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, budget, each);
        } else if kind.is_file() {
            each(&path);
        }
    }
}

/// A fragment of a recording: where its boxes are and its time relative to the
/// recording's first fragment.
#[derive(Debug, Clone, Copy)]
struct Frag {
    moof_at: u64,
    moof_len: u64,
    /// The `mdat` after it, header included.
    mdat_at: u64,
    mdat_len: u64,
    start_ms: u64,
    end_ms: u64,
    keyframe: bool,
}

/// What a recording holds.
struct Index {
    init: Bytes,
    tracks: heapless::Vec<TrackInfo, { crate::wire::mp4::MAX_TRACKS }>,
    /// The first fragment's decode time, in ms (the recording's zero).
    zero_ms: u64,
    frags: Vec<Frag>,
}

fn to_ms(ticks: u64, timescale: u32) -> u64 {
    (u128::from(ticks) * 1000 / u128::from(timescale.max(1))) as u64
}

fn to_ticks(ms: i128, timescale: u32) -> i128 {
    ms * i128::from(timescale) / 1000
}

fn read_at(file: &File, at: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

/// The box at `at`: (type, header length, total length); `None` at the end or for a header
/// that does not fit the file.
fn box_at(file: &File, at: u64, file_len: u64) -> io::Result<Option<([u8; 4], u64, u64)>> {
    if file_len.saturating_sub(at) < 8 {
        return Ok(None);
    }
    let head = read_at(file, at, 8)?;
    let kind = [head[4], head[5], head[6], head[7]];
    let (header, len) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
        0 => (8, file_len - at),
        1 => {
            if file_len - at < 16 {
                return Ok(None);
            }
            let large = read_at(file, at + 8, 8)?;
            let mut b = [0; 8];
            b.copy_from_slice(&large);
            (16, u64::from_be_bytes(b))
        }
        n => (8, u64::from(n)),
    };
    if len < header || len > file_len - at {
        return Ok(None);
    }
    Ok(Some((kind, header, len)))
}

/// A moof's start and end in ms, and whether its clock track's first sample is a keyframe.
fn times(info: &MoofInfo, tracks: &[TrackInfo]) -> Option<(u64, u64, bool)> {
    let clock = tracks.iter().find(|t| t.video).unwrap_or(&tracks[0]);
    let mut start = u64::MAX;
    let mut end = 0;
    let mut key = false;
    for traf in &info.trafs {
        let t = tracks.iter().find(|t| t.track_id == traf.track_id)?;
        if traf.samples == 0 {
            continue;
        }
        start = start.min(to_ms(traf.decode_time, t.timescale));
        end = end.max(to_ms(
            traf.decode_time.saturating_add(traf.duration),
            t.timescale,
        ));
        if t.track_id == clock.track_id {
            key = traf.first_sync == Some(true);
        }
    }
    (start != u64::MAX).then_some((start, end, key))
}

/// Reads a recording's init segment and fragments (every `moof` when `all`, else the first
/// and the last only: enough for its span).
fn index(path: &Path, all: bool) -> io::Result<Index> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut at = 0;
    let mut init_end = None;
    let mut tracks = heapless::Vec::new();
    let mut boxes = Vec::new();
    while let Some((kind, header, len)) = box_at(&file, at, file_len)? {
        if init_end.is_none() {
            if kind == fourcc::MOOV {
                if at + len > MAX_INIT_BYTES {
                    return Err(bad("moov too large"));
                }
                let body = read_at(&file, at + header, len - header)?;
                tracks = read_moov(&body).map_err(|e| bad(&e.to_string()))?;
                init_end = Some(at + len);
            } else if kind == fourcc::MOOF {
                return Err(bad("moof before moov"));
            }
        } else if kind == fourcc::MOOF || kind == fourcc::MDAT {
            if boxes.len() * FRAGMENT_ENTRY_BYTES >= MAX_PLAN_BYTES * 4 {
                break;
            }
            boxes.push((kind, at, len));
        }
        at += len;
    }
    let init_end = init_end.ok_or_else(|| bad("no moov"))?;
    let init = Bytes::from(read_at(&file, 0, init_end)?);
    // moof + mdat pairs.
    let pairs: Vec<(u64, u64, u64, u64)> = boxes
        .windows(2)
        .filter(|w| w[0].0 == fourcc::MOOF && w[1].0 == fourcc::MDAT && w[0].1 + w[0].2 == w[1].1)
        .map(|w| (w[0].1, w[0].2, w[1].1, w[1].2))
        .collect();
    let mut frags = Vec::new();
    let last = pairs.len().saturating_sub(1);
    for (i, &(moof_at, moof_len, mdat_at, mdat_len)) in pairs.iter().enumerate() {
        if !all && i != 0 && i != last {
            continue;
        }
        if moof_len > MAX_MOOF_BYTES {
            break;
        }
        let moof = read_at(&file, moof_at, moof_len)?;
        let Ok(info) = read_moof(&moof, &tracks) else {
            break;
        };
        let Some((start_ms, end_ms, keyframe)) = times(&info, &tracks) else {
            continue;
        };
        frags.push(Frag {
            moof_at,
            moof_len,
            mdat_at,
            mdat_len,
            start_ms,
            end_ms,
            keyframe,
        });
    }
    let zero_ms = frags.first().map_or(0, |f| f.start_ms);
    for f in &mut frags {
        f.start_ms -= zero_ms.min(f.start_ms);
        f.end_ms -= zero_ms.min(f.end_ms);
    }
    Ok(Index {
        init,
        tracks,
        zero_ms,
        frags,
    })
}

/// The time spans the stream's MP4 recordings cover, recordings less than `join_ms` apart
/// joined into one span.
pub fn spans(query: &Query, join_ms: u64) -> Result<(Vec<Span>, bool), PlaybackError> {
    let (found, cut) = find(query)?;
    let mut spans: Vec<Span> = Vec::new();
    for f in &found {
        let Ok(ix) = index(&f.path, false) else {
            continue;
        };
        let Some(last) = ix.frags.last() else {
            continue;
        };
        let span = Span {
            start_ms: f.start_ms,
            end_ms: f.start_ms.saturating_add(last.end_ms),
        };
        match spans.last_mut() {
            Some(prev) if span.start_ms <= prev.end_ms.saturating_add(join_ms) => {
                prev.end_ms = prev.end_ms.max(span.end_ms);
            }
            _ => spans.push(span),
        }
    }
    Ok((spans, cut))
}

/// Plans the fragmented MP4 of `[start_ms, start_ms + duration_ms)`; see the module doc.
pub fn plan(query: &Query, start_ms: u64, duration_ms: u64) -> Result<Stitched, PlaybackError> {
    let (found, _) = find(query)?;
    let end_ms = start_ms.saturating_add(duration_ms);
    // The last recording starting at or before the span, and every one starting within it.
    let first = found
        .partition_point(|f| f.start_ms <= start_ms)
        .saturating_sub(1);
    let mut parts = Vec::new();
    let mut held = 0usize;
    let mut len = 0u64;
    let mut init: Option<Bytes> = None;
    let mut origin_ms = None::<u64>;
    let mut last_end_ms = 0u64;
    let mut sequence = 0u32;
    // Per track: where its previous fragment ended on the output timeline, in ticks.
    let mut track_end: Vec<(u32, i128)> = Vec::new();
    for f in found.iter().skip(first) {
        if f.start_ms >= end_ms {
            break;
        }
        let Ok(ix) = index(&f.path, true) else {
            continue;
        };
        match &init {
            Some(i) if *i != ix.init => break,
            Some(_) => {}
            None => {
                // Continue only with frames that reach into the span.
                if !ix
                    .frags
                    .iter()
                    .any(|fr| f.start_ms.saturating_add(fr.end_ms) > start_ms)
                {
                    continue;
                }
            }
        }
        // The first recording starts at the keyframe fragment at or before the span's
        // start, else at its first keyframe; the next ones from their first fragment.
        let from = if origin_ms.is_none() {
            let before = ix
                .frags
                .iter()
                .rposition(|fr| fr.keyframe && f.start_ms.saturating_add(fr.start_ms) <= start_ms);
            match before.or_else(|| ix.frags.iter().position(|fr| fr.keyframe)) {
                Some(i) => i,
                None => continue,
            }
        } else {
            0
        };
        let file = File::open(&f.path)?;
        for fr in &ix.frags[from..] {
            let abs_start = f.start_ms.saturating_add(fr.start_ms);
            if abs_start >= end_ms {
                break;
            }
            if origin_ms.is_none() {
                origin_ms = Some(abs_start);
                init = Some(ix.init.clone());
                held += ix.init.len();
                len += ix.init.len() as u64;
                parts.push(Part::Bytes(ix.init.clone()));
            }
            let origin = origin_ms.unwrap_or(abs_start);
            let mut moof = read_at(&file, fr.moof_at, fr.moof_len)?;
            let Ok(info) = read_moof(&moof, &ix.tracks) else {
                break;
            };
            held += moof.len();
            if held > MAX_PLAN_BYTES {
                return Err(PlaybackError::TooLong(MAX_PLAN_BYTES));
            }
            sequence += 1;
            // Each track's new decode time: its time in the recording, moved by where the
            // recording starts on the output timeline, never before the track's last end.
            let shift_ms = i128::from(f.start_ms) - i128::from(origin) - i128::from(ix.zero_ms);
            let mut new_times: heapless::Vec<(u32, u64), { crate::wire::mp4::MAX_TRAFS }> =
                heapless::Vec::new();
            for traf in &info.trafs {
                let Some(t) = ix.tracks.iter().find(|t| t.track_id == traf.track_id) else {
                    continue;
                };
                let moved = i128::from(traf.decode_time) + to_ticks(shift_ms, t.timescale);
                let slot = match track_end.iter().position(|(id, _)| *id == t.track_id) {
                    Some(p) => p,
                    None => {
                        track_end.push((t.track_id, 0));
                        track_end.len() - 1
                    }
                };
                let at = moved.max(track_end[slot].1).max(0);
                track_end[slot].1 = at + i128::from(traf.duration);
                let _ = new_times.push((t.track_id, u64::try_from(at).unwrap_or(u64::MAX)));
            }
            rewrite_moof(&mut moof, &info, sequence, |id| {
                new_times
                    .iter()
                    .find(|(t, _)| *t == id)
                    .map_or(0, |(_, v)| *v)
            });
            len += fr.moof_len + fr.mdat_len;
            parts.push(Part::Bytes(Bytes::from(moof)));
            parts.push(Part::File {
                path: f.path.clone(),
                start: fr.mdat_at,
                len: fr.mdat_len,
            });
            last_end_ms = f.start_ms.saturating_add(fr.end_ms);
            if last_end_ms >= end_ms {
                break;
            }
        }
        if last_end_ms >= end_ms {
            break;
        }
    }
    let Some(origin) = origin_ms else {
        return Err(PlaybackError::NothingThere);
    };
    Ok(Stitched {
        parts,
        len,
        start_ms: origin,
        duration_ms: last_end_ms.saturating_sub(origin),
    })
}
