//! Playback of recordings (VOD): what to send for a request below a vhost's `dvr.http_mount`.
//! Runs on the disk thread (`net::disk::Disk::plan`): it resolves paths and reads a few KB of
//! an FLV to seek in it, so it must never run on the event loop.
//!
//! # What a caller must know
//! * The path below the mount is resolved under the DVR root with the static web root's rules
//!   (`server::static_files`, [`WebRoot::recordings`]): no `..`, no hidden files, symlinks
//!   only within the root, regular files only, no `.part` file (a recording being written).
//!   Only `.mp4` and `.flv` files are served; anything else is 404.
//! * An `.mp4`, and an `.flv` without `start`, is a static file: Range, HEAD, `If-Modified-
//!   Since` and `Last-Modified` as there ([`Vod::File`]).
//! * An `.flv` with `start` (SRS's `?start=<byte offset>`) is [`Vod::FlvFrom`]: the file's
//!   leading tags without a frame (header, `onMetaData`, sequence headers, see
//!   `wire::flv::seek::head_len`), then the file from the first video keyframe tag at or
//!   after `start` to its end. The tags keep their timestamps (a player starts at that
//!   time). No keyframe there: the leading tags alone. Range is ignored with `start`. A file
//!   that does not start as FLV is sent whole.
//! * Bounded: [`HEAD_WINDOW`] for the leading tags, windows of [`SEEK_WINDOW`] up to
//!   [`MAX_RESYNC_BYTES`] to find a tag boundary, then at most [`MAX_SEEK_TAGS`] tag headers
//!   to find the keyframe.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::disk::read_full_at as read_at;
use crate::server::static_files::{Plan, WebRoot};
use crate::wire::flv::seek::{self, Candidate, CLASSIFY_LEN};
use crate::wire::flv::TAG_HEADER_LEN;
use crate::wire::http::RequestHead;

/// Bytes read from the start of an FLV for its leading tags: the metadata (a few hundred
/// bytes) and the sequence headers (an SPS/PPS or VPS/SPS/PPS record and an
/// AudioSpecificConfig, under 1 KB each). A run longer than this is cut at a tag boundary.
/// RAM: one such buffer on the disk thread, while it plans.
pub const HEAD_WINDOW: usize = 64 * 1024;

/// Bytes read at once while looking for a tag boundary after `start`. RAM: one such buffer
/// on the disk thread, while it plans.
pub const SEEK_WINDOW: usize = 64 * 1024;

/// How far past `start` a tag boundary is looked for: longer than any tag a recording
/// holds in practice (a 4K keyframe is about 1 MB). Past it the request gets the head only.
pub const MAX_RESYNC_BYTES: u64 = 8 * 1024 * 1024;

/// Tag headers read (12 bytes each) looking for the keyframe: a 10 s GOP at 60 fps with
/// audio is about 1,100 tags.
pub const MAX_SEEK_TAGS: usize = 20_000;

/// What to send for a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vod {
    /// As a static file (also every error).
    File(Plan),
    /// An FLV from a keyframe: `[0, head_len)` of `path`, then `[key_at, total)`.
    FlvFrom {
        path: PathBuf,
        head_len: u64,
        key_at: u64,
        total: u64,
        last_modified: Option<String>,
    },
}

const NOT_FOUND: Plan = Plan::Error {
    status: 404,
    message: "not found",
};

/// Plans the answer to `head` for `rest` (the raw path below the mount) under `root`;
/// `start` is the `?start=` byte offset. See the module doc.
pub fn plan(root: &Path, head: &RequestHead, rest: &str, start: Option<u64>) -> Vod {
    let plan = match WebRoot::recordings(root) {
        Ok(web) => web.plan_target(head, rest),
        Err(_) => NOT_FOUND,
    };
    let (path, total, last_modified) = match &plan {
        Plan::File {
            path,
            total,
            last_modified,
            ..
        } => (path, *total, last_modified),
        _ => return Vod::File(plan),
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let ext = ext.to_ascii_lowercase();
    match (ext.as_str(), start) {
        ("flv", Some(start)) => match flv_from(path, start, total) {
            Ok(Some((head_len, key_at))) => Vod::FlvFrom {
                path: path.clone(),
                head_len,
                key_at,
                total,
                last_modified: last_modified.clone(),
            },
            Ok(None) => Vod::File(plan),
            Err(_) => Vod::File(NOT_FOUND),
        },
        ("flv" | "mp4", _) => Vod::File(plan),
        _ => Vod::File(NOT_FOUND),
    }
}

/// The end of the leading tags and where to go on (`total` when no keyframe is found);
/// `None` when the file does not start as FLV.
fn flv_from(path: &Path, start: u64, total: u64) -> io::Result<Option<(u64, u64)>> {
    let file = File::open(path)?;
    let mut buf = vec![0u8; HEAD_WINDOW.max(SEEK_WINDOW)];
    let n = read_at(&file, &mut buf[..HEAD_WINDOW], 0)?;
    let Some(head_len) = seek::head_len(&buf[..n]) else {
        return Ok(None);
    };
    let key_at = match boundary(&file, &mut buf, start.max(head_len), total)? {
        Some(at) => keyframe_from(&file, at, total)?.unwrap_or(total),
        None => total,
    };
    Ok(Some((head_len, key_at)))
}

/// The first tag start at or after `from`, within [`MAX_RESYNC_BYTES`].
fn boundary(file: &File, buf: &mut [u8], from: u64, total: u64) -> io::Result<Option<u64>> {
    let mut base = from;
    while base < total && base - from < MAX_RESYNC_BYTES {
        let n = read_at(file, &mut buf[..SEEK_WINDOW], base)?;
        let window = &buf[..n];
        for at in 0..n {
            match seek::candidate(window, at) {
                Candidate::No => {}
                Candidate::Yes => return Ok(Some(base + at as u64)),
                Candidate::Check { trailer_at, size } => {
                    let mut trailer = [0u8; 4];
                    let got = read_at(file, &mut trailer, base + trailer_at as u64)?;
                    if got == 4 && u32::from_be_bytes(trailer) == size {
                        return Ok(Some(base + at as u64));
                    }
                }
            }
        }
        if n < SEEK_WINDOW {
            break;
        }
        // Headers cut by the window's end are looked at again in the next one.
        base += (n - (TAG_HEADER_LEN - 1)) as u64;
    }
    Ok(None)
}

/// The first video keyframe tag from the tag at `at` on, within [`MAX_SEEK_TAGS`].
fn keyframe_from(file: &File, mut at: u64, total: u64) -> io::Result<Option<u64>> {
    let mut bytes = [0u8; CLASSIFY_LEN];
    for _ in 0..MAX_SEEK_TAGS {
        if at >= total || read_at(file, &mut bytes, at)? < CLASSIFY_LEN {
            return Ok(None);
        }
        match seek::keyframe(at, &bytes) {
            Some((true, _)) => return Ok(Some(at)),
            Some((false, next)) => at = next,
            None => return Ok(None),
        }
    }
    Ok(None)
}
