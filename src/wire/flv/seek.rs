//! Seeking in an FLV file by byte offset (SRS's `?start=` on a recording): the file's leading
//! tags that carry no frame, and the tag boundaries of a window that starts anywhere.
//!
//! # What a caller must know
//! * [`head_len`] takes the first bytes of a file and says where its leading run of tags
//!   without a frame ends (the 13 bytes of file header and PreviousTagSize0, then the
//!   `onMetaData` script tag and the sequence headers, as `server::dvr` writes them): these
//!   bytes, then the tags from a keyframe on, make a playable file. A tag cut off by the end
//!   of `input` ends the run there; `None` when `input` does not start with a valid header.
//! * [`resync`] finds the first tag that starts in a window read at any offset (the offset a
//!   client asked for may fall inside a tag body). A candidate counts when its header is
//!   plausible (TagType 8, 9 or 18 with the reserved and Filter bits clear, StreamID 0) and a
//!   PreviousTagSize inside the window confirms it: the one after its body (E.3), or the one
//!   before it together with the header of the tag it names. Random body bytes pass both
//!   checks with odds of about 2^-60 per position. [`candidate`] classifies one position and
//!   says where to look when the confirming bytes lie past the window (a keyframe's body is
//!   often longer than a window).
//! * [`keyframe`] classifies a tag from its header and first body byte.
//!
//! Pure: no I/O; the caller reads the windows.

use super::{TagHeader, TagType, FILE_HEADER_LEN, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};
use crate::wire::cursor::{u24_at, u32_at};

/// StreamID (UI24) of the tag header, always 0 (E.4.1).
const TAG_STREAM_ID_AT: usize = 8;

/// Bytes a caller reads at a tag to classify it with [`keyframe`]: the header and the first
/// body byte (FrameType and CodecID / IsExHeader, E.4.3.1).
pub const CLASSIFY_LEN: usize = TAG_HEADER_LEN + 1;

/// The FrameType of a key frame (E.4.3.1).
const VIDEO_FRAME_KEY: u8 = 1;

/// The length of the file's leading run of tags without a frame (see the module doc): at
/// least 13 when the header is valid.
pub fn head_len(input: &[u8]) -> Option<u64> {
    let (_, mut at) = super::FileHeader::decode(input).ok().flatten()?;
    while let Some((head, _)) = input
        .get(at..)
        .and_then(|r| TagHeader::decode(r).ok().flatten())
    {
        let body_at = at + TAG_HEADER_LEN;
        let end = body_at + head.body_len as usize;
        let Some(body) = input.get(body_at..end) else {
            break;
        };
        if input.get(end..end + PREV_TAG_SIZE_LEN).is_none() {
            break;
        }
        let no_frame = match head.tag_type {
            TagType::Script => true,
            TagType::Video => super::parse_video(body).is_ok_and(|v| v.sequence_header),
            TagType::Audio => super::parse_audio(body).is_ok_and(|a| a.sequence_header),
            TagType::Unknown(_) => false,
        };
        if !no_frame {
            break;
        }
        at = end + PREV_TAG_SIZE_LEN;
    }
    Some(at as u64)
}

/// The body length of a plausible tag header at `at` in `window`.
fn plausible(window: &[u8], at: usize) -> Option<usize> {
    let head = window.get(at..at.checked_add(TAG_HEADER_LEN)?)?;
    if !matches!(head[0], 8 | 9 | 18) || u24_at(head, TAG_STREAM_ID_AT).ok()? != 0 {
        return None;
    }
    Some(u24_at(head, 1).ok()? as usize)
}

/// What a position of a window is (see [`candidate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// Not a tag start, or one a PreviousTagSize in the window refutes.
    No,
    /// A tag start a PreviousTagSize in the window confirms.
    Yes,
    /// A plausible header whose confirming PreviousTagSize lies past the window: it is a tag
    /// start if the 4 bytes at `trailer_at` (relative to the window) hold `size`.
    Check { trailer_at: usize, size: u32 },
}

/// Whether a tag starts at `at` in `window` (see the module doc).
pub fn candidate(window: &[u8], at: usize) -> Candidate {
    let Some(body_len) = plausible(window, at) else {
        return Candidate::No;
    };
    let size = TAG_HEADER_LEN + body_len;
    if let Ok(after) = u32_at(window, at + size) {
        return if after as usize == size {
            Candidate::Yes
        } else {
            Candidate::No
        };
    }
    let before = at
        .checked_sub(PREV_TAG_SIZE_LEN)
        .and_then(|b| Some((b, u32_at(window, b).ok()? as usize)));
    if let Some((before_at, before)) = before {
        if let Some(prev) = before_at.checked_sub(before) {
            if before >= TAG_HEADER_LEN && plausible(window, prev) == Some(before - TAG_HEADER_LEN)
            {
                return Candidate::Yes;
            }
        }
    }
    Candidate::Check {
        trailer_at: at + size,
        size: size as u32,
    }
}

/// The offset in `window` of the first tag a PreviousTagSize in the window confirms (see
/// the module doc); a caller that can read past the window also checks
/// [`Candidate::Check`]s with [`candidate`].
pub fn resync(window: &[u8]) -> Option<usize> {
    (0..window.len()).find(|&at| candidate(window, at) == Candidate::Yes)
}

/// What a tag is, from [`CLASSIFY_LEN`] bytes at its start: `Some((is_video_keyframe,
/// offset of the next tag))`, `None` when the header is not plausible (or too short).
pub fn keyframe(at: u64, bytes: &[u8]) -> Option<(bool, u64)> {
    let body_len = plausible(bytes, 0)?;
    let key = bytes[0] == 9 && body_len > 0 && {
        let b0 = *bytes.get(TAG_HEADER_LEN)?;
        (b0 >> 4) & 0x07 == VIDEO_FRAME_KEY
    };
    let next = at + (TAG_HEADER_LEN + body_len + PREV_TAG_SIZE_LEN) as u64;
    Some((key, next))
}

/// The offset of the first tag of a file (after the header and PreviousTagSize0).
pub const FIRST_TAG_AT: u64 = (FILE_HEADER_LEN + PREV_TAG_SIZE_LEN) as u64;

#[cfg(test)]
mod tests {
    use super::super::{encode_file_header, Tag};
    use super::*;

    /// A recording as `server::dvr` writes one: header, metadata, AVC and AAC sequence
    /// headers, then GOPs of a keyframe and inter frames with audio between; returns the
    /// bytes, the end of the leading run, and the keyframe tags' offsets.
    fn recording() -> (Vec<u8>, u64, Vec<u64>) {
        let mut out = Vec::new();
        encode_file_header(true, true, &mut out);
        let tag = |out: &mut Vec<u8>, t: TagType, ts: u32, body: Vec<u8>| {
            let at = out.len() as u64;
            Tag {
                tag_type: t,
                timestamp: ts,
                body: body.into(),
            }
            .encode(out);
            at
        };
        tag(
            &mut out,
            TagType::Script,
            0,
            b"\x02\x00\x0aonMetaData\x08".to_vec(),
        );
        tag(&mut out, TagType::Video, 0, vec![0x17, 0, 0, 0, 0, 1, 0x64]);
        tag(&mut out, TagType::Audio, 0, vec![0xaf, 0, 0x12, 0x10]);
        let head = out.len() as u64;
        let mut keys = Vec::new();
        for gop in 0..4u32 {
            for n in 0..10u32 {
                let ts = gop * 1000 + n * 100;
                let (b0, len) = if n == 0 { (0x17, 3000) } else { (0x27, 200) };
                let mut body = vec![b0, 1, 0, 0, 0];
                // Body bytes that look like tag starts, to mislead a resync.
                body.extend((0..len).map(|i| [9u8, 0, 0, 8][i % 4]));
                let at = tag(&mut out, TagType::Video, ts, body);
                if n == 0 {
                    keys.push(at);
                }
                tag(&mut out, TagType::Audio, ts, vec![0xaf, 1, 0x21, 0x42]);
            }
        }
        (out, head, keys)
    }

    /// The first keyframe at or after `start`, as a caller walks the file.
    fn seek(file: &[u8], start: usize) -> Option<u64> {
        let window = &file[start..file.len().min(start + 4096)];
        let mut at = (start + resync(window)?) as u64;
        loop {
            let bytes = file.get(at as usize..)?;
            let (key, next) = keyframe(at, bytes.get(..CLASSIFY_LEN)?)?;
            if key {
                return Some(at);
            }
            at = next;
        }
    }

    #[test]
    fn the_head_is_metadata_and_sequence_headers() {
        let (file, head, keys) = recording();
        assert_eq!(head_len(&file), Some(head));
        assert_eq!(keys[0], head);
        // Cut inside the run: what is complete.
        assert!(head_len(&file[..head as usize - 1]).unwrap() < head);
        assert_eq!(head_len(&file[..13]), Some(FIRST_TAG_AT));
        assert_eq!(head_len(&file[..12]), None);
        assert_eq!(head_len(b"GIF89a-not-flv"), None);
    }

    #[test]
    fn every_offset_resyncs_to_the_next_keyframe() {
        let (file, head, keys) = recording();
        for start in head as usize..file.len() {
            let want = keys.iter().copied().find(|&k| k >= start as u64);
            assert_eq!(seek(&file, start), want, "start {start}");
        }
    }

    #[test]
    fn resync_needs_a_confirming_size() {
        // A plausible header whose PreviousTagSize is wrong, then a real tag.
        let mut w = vec![9, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x55, 0, 0, 0, 99];
        let real = w.len();
        Tag {
            tag_type: TagType::Audio,
            timestamp: 5,
            body: vec![0xaf, 1].into(),
        }
        .encode(&mut w);
        assert_eq!(resync(&w), Some(real));
        assert_eq!(resync(&[]), None);
        assert_eq!(resync(&[9; 40]), None);
        // A header whose trailer is past the window, with nothing before it.
        assert_eq!(
            candidate(&w[real..real + 12], 0),
            Candidate::Check {
                trailer_at: 13,
                size: 13
            }
        );
        assert_eq!(keyframe(0, &w[..5]), None);
        assert_eq!(
            keyframe(100, &w[real..real + CLASSIFY_LEN]),
            Some((false, 100 + 17))
        );
    }
}
