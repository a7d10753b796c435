//! Where the complete tags of an FLV file end: what a recording cut short by a power failure,
//! a full disk or a `SIGKILL` keeps once truncated there (DVR repair).
//!
//! A tag counts as complete when its header is plausible (TagType audio, video or script, no
//! Filter bit, StreamID 0, DataSize within the cap), its whole body is there and the
//! PreviousTagSize after it (E.3) equals 11 + DataSize. Anything else ends the scan: a tail
//! cut inside a tag, or the zeros or stale blocks a file system leaves after a power cut
//! (TagType 0 fails the first check, a stale PreviousTagSize the last).
//!
//! # What a caller must know
//! * [`TagScan`] is sans-IO and reads the file in pieces of the caller's choosing: it asks for
//!   bytes at [`TagScan::want`] and never needs a body, only the 11-byte tag header and the
//!   4-byte PreviousTagSize behind it, so a recording of any size is checked with one small
//!   buffer (a keyframe's body is skipped, not read).
//! * [`TagScan::feed`] takes bytes starting at `want()`; it returns `Ok(true)` after it
//!   consumed at least one unit, `Ok(false)` when `input` is too short for the next one (the
//!   end of the file if the caller gave all it had), and the error that ended the scan.
//!   [`TagScan::complete_len`] is the answer in every case.
//! * [`complete_len`] runs the scan over one slice.
//!
//! Not checked: tag bodies (a complete tag whose body a decoder refuses is kept), timestamps.

use super::{
    FileHeader, FlvError, TagHeader, TagType, FILE_HEADER_LEN, MAX_BODY_LEN, PREV_TAG_SIZE_LEN,
    TAG_HEADER_LEN,
};
use crate::wire::cursor::{u24_at, u32_at};

/// StreamID (UI24) of the tag header, always 0 (E.4.1).
const TAG_STREAM_ID_AT: usize = 8;

/// Why a scan stopped before the end of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The file header or a tag is not valid FLV (the error says where and why).
    Invalid(FlvError),
}

/// The state of a scan. Transitions: `Header` → `Tags` once the 13 bytes of file header and
/// PreviousTagSize0 are valid; `Tags` ⇄ `Trailer` for each tag (its header read, then its
/// PreviousTagSize); any check that fails → `Stopped`, for good.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Header,
    Tags,
    /// A tag's header was read: its type, timestamp and body length; its PreviousTagSize is
    /// wanted at `start + 11 + body_len`.
    Trailer {
        start: u64,
        tag_type: TagType,
        timestamp: u32,
        body_len: u32,
    },
    Stopped(Stop),
}

/// An incremental scan of an FLV file; see the module doc.
#[derive(Debug, Clone)]
pub struct TagScan {
    max_tag_len: u32,
    state: State,
    /// Where the next file header or tag starts: the end of the complete prefix.
    complete: u64,
    media_tags: u64,
    /// The first and last timestamps of the complete audio and video tags.
    first_timestamp: Option<u32>,
    last_timestamp: Option<u32>,
}

impl Default for TagScan {
    fn default() -> Self {
        TagScan::new(MAX_BODY_LEN)
    }
}

impl TagScan {
    /// A scan from offset 0 that stops at a tag body over `max_tag_len` bytes.
    pub fn new(max_tag_len: u32) -> TagScan {
        TagScan {
            max_tag_len,
            state: State::Header,
            complete: 0,
            media_tags: 0,
            first_timestamp: None,
            last_timestamp: None,
        }
    }

    /// The file offset at which the next bytes are wanted; `None` once the scan stopped.
    pub fn want(&self) -> Option<u64> {
        match &self.state {
            State::Header | State::Tags => Some(self.complete),
            State::Trailer {
                start, body_len, ..
            } => Some(start + (TAG_HEADER_LEN as u64) + u64::from(*body_len)),
            State::Stopped(_) => None,
        }
    }

    /// Bytes of the file that are a file header and complete tags.
    pub fn complete_len(&self) -> u64 {
        self.complete
    }

    /// Complete audio and video tags (sequence headers included).
    pub fn media_tags(&self) -> u64 {
        self.media_tags
    }

    /// The span of the complete audio and video tags' timestamps, in ms.
    pub fn duration_ms(&self) -> u32 {
        match (self.first_timestamp, self.last_timestamp) {
            (Some(first), Some(last)) => last.wrapping_sub(first),
            _ => 0,
        }
    }

    /// Why the scan stopped, if it did.
    pub fn stopped(&self) -> Option<&Stop> {
        match &self.state {
            State::Stopped(stop) => Some(stop),
            _ => None,
        }
    }

    /// Takes bytes of the file starting at [`Self::want`]: `Ok(true)` once at least one unit
    /// was consumed, `Ok(false)` if `input` is too short for the next one, `Err` when the scan
    /// stops (and has stopped before).
    pub fn feed(&mut self, input: &[u8]) -> Result<bool, FlvError> {
        let mut progress = false;
        let base = self.want();
        while let (Some(base), Some(at)) = (base, self.want()) {
            // Offsets within `input`; a unit behind the end of `input` needs another read.
            let Some(rest) = usize::try_from(at - base)
                .ok()
                .and_then(|skip| input.get(skip..))
            else {
                return Ok(progress);
            };
            match self.step(at, rest) {
                Ok(true) => progress = true,
                Ok(false) => return Ok(progress),
                Err(e) => self.state = State::Stopped(Stop::Invalid(e)),
            }
        }
        match &self.state {
            State::Stopped(Stop::Invalid(e)) => Err(e.clone()),
            _ => Ok(progress),
        }
    }

    /// One unit at file offset `at`, whose bytes start `rest`.
    fn step(&mut self, at: u64, rest: &[u8]) -> Result<bool, FlvError> {
        match self.state {
            State::Header => {
                let Some((_, used)) = FileHeader::decode(rest)? else {
                    return Ok(false);
                };
                self.complete = used as u64;
                self.state = State::Tags;
                Ok(true)
            }
            State::Tags => {
                let Some((head, _)) = TagHeader::decode(rest).map_err(|e| match e {
                    FlvError::EncryptedTag { .. } => FlvError::EncryptedTag { offset: at },
                    other => other,
                })?
                else {
                    return Ok(false);
                };
                if !matches!(
                    head.tag_type,
                    TagType::Audio | TagType::Video | TagType::Script
                ) {
                    return Err(FlvError::Unsupported {
                        what: "tag type",
                        value: u32::from(u8::from(head.tag_type)),
                    });
                }
                let stream_id = u24_at(rest, TAG_STREAM_ID_AT)?;
                if stream_id != 0 {
                    return Err(FlvError::Unsupported {
                        what: "StreamID",
                        value: stream_id,
                    });
                }
                if head.body_len > self.max_tag_len {
                    return Err(FlvError::TagTooLong {
                        offset: at,
                        len: head.body_len,
                        max: self.max_tag_len,
                    });
                }
                self.state = State::Trailer {
                    start: at,
                    tag_type: head.tag_type,
                    timestamp: head.timestamp,
                    body_len: head.body_len,
                };
                Ok(true)
            }
            State::Trailer {
                start,
                tag_type,
                timestamp,
                body_len,
            } => {
                if rest.len() < PREV_TAG_SIZE_LEN {
                    return Ok(false);
                }
                let found = u32_at(rest, 0)?;
                let expected = body_len + TAG_HEADER_LEN as u32;
                if found != expected {
                    return Err(FlvError::BadPrevTagSize {
                        offset: at,
                        expected,
                        found,
                    });
                }
                if tag_type != TagType::Script {
                    self.media_tags += 1;
                    self.first_timestamp.get_or_insert(timestamp);
                    self.last_timestamp = Some(timestamp);
                }
                self.complete = start + u64::from(expected) + PREV_TAG_SIZE_LEN as u64;
                self.state = State::Tags;
                Ok(true)
            }
            State::Stopped(_) => Ok(false),
        }
    }
}

/// The length of the longest prefix of `input` that is a file header and complete tags (0 if
/// not even the file header is there).
pub fn complete_len(input: &[u8]) -> u64 {
    scan(input).complete_len()
}

/// The whole scan of one slice.
pub fn scan(input: &[u8]) -> TagScan {
    let mut s = TagScan::default();
    while let Some(at) = s.want() {
        let Some(rest) = usize::try_from(at).ok().and_then(|at| input.get(at..)) else {
            break;
        };
        if !matches!(s.feed(rest), Ok(true)) {
            break;
        }
    }
    s
}

/// The offset of a unit after the file header, for tests and callers that check a cut point.
pub const FIRST_TAG_AT: u64 = (FILE_HEADER_LEN + PREV_TAG_SIZE_LEN) as u64;

#[cfg(test)]
mod tests {
    use super::super::{encode_file_header, Tag};
    use super::*;
    use bytes::Bytes;

    /// Metadata, sequence headers and frames, one of them a 70 KB keyframe (longer than a
    /// read window), as a DVR writes them.
    fn recording() -> (Vec<u8>, Vec<u64>) {
        let tag = |tag_type, timestamp, body: Vec<u8>| Tag {
            tag_type,
            timestamp,
            body: Bytes::from(body),
        };
        let mut key = vec![0x17, 1, 0, 0, 0];
        key.resize(70_000, 0xAB);
        let tags = [
            tag(
                TagType::Script,
                0,
                b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09".to_vec(),
            ),
            tag(TagType::Video, 0, vec![0x17, 0, 0, 0, 0, 1, 0x64]),
            tag(TagType::Audio, 0, vec![0xaf, 0, 0x12, 0x10]),
            tag(TagType::Video, 0, key),
            tag(TagType::Audio, 23, vec![0xaf, 1, 0x21]),
            tag(TagType::Video, 40, vec![0x27, 1, 0, 0, 0, 0x41]),
            tag(TagType::Audio, 46, vec![]),
        ];
        let mut file = Vec::new();
        encode_file_header(true, true, &mut file);
        let mut ends = vec![file.len() as u64];
        for t in &tags {
            t.encode(&mut file);
            ends.push(file.len() as u64);
        }
        (file, ends)
    }

    /// The largest tag boundary at or before `cut`; 0 before the file header is whole.
    fn expected(ends: &[u64], cut: usize) -> u64 {
        ends.iter()
            .copied()
            .filter(|&e| e <= cut as u64)
            .max()
            .unwrap_or(0)
    }

    /// The way the disk thread reads: `window` bytes at `want()` until the scan has all it
    /// can get.
    fn scan_windows(file: &[u8], window: usize) -> TagScan {
        let mut s = TagScan::default();
        while let Some(at) = s.want() {
            let at = at as usize;
            if at >= file.len() {
                break;
            }
            let end = (at + window).min(file.len());
            if !matches!(s.feed(&file[at..end]), Ok(true)) {
                break;
            }
        }
        s
    }

    #[test]
    fn a_file_cut_at_every_byte_keeps_its_complete_tags() {
        let (file, ends) = recording();
        for cut in 0..=file.len() {
            let s = scan(&file[..cut]);
            assert_eq!(s.complete_len(), expected(&ends, cut), "cut at {cut}");
            assert!(s.stopped().is_none(), "a cut is not an error: {cut}");
            for window in [13, 64, 65_536] {
                let w = scan_windows(&file[..cut], window);
                assert_eq!(
                    w.complete_len(),
                    s.complete_len(),
                    "cut {cut} window {window}"
                );
            }
        }
        let whole = scan(&file);
        assert_eq!(whole.complete_len(), file.len() as u64);
        assert_eq!(whole.media_tags(), 6);
        assert_eq!(whole.duration_ms(), 46);
    }

    #[test]
    fn the_keyframe_body_is_skipped_not_read() {
        let (file, ends) = recording();
        let mut s = TagScan::default();
        let mut read = 0;
        while let Some(at) = s.want() {
            let at = at as usize;
            if at >= file.len() {
                break;
            }
            // 32-byte reads: the 70 KB body is never in a window.
            let end = (at + 32).min(file.len());
            read += end - at;
            s.feed(&file[at..end]).unwrap();
        }
        assert_eq!(s.complete_len(), *ends.last().unwrap());
        assert!(read < 2_000, "read {read} bytes");
    }

    #[test]
    fn garbage_after_a_power_cut_ends_the_scan_at_the_last_good_tag() {
        let (file, ends) = recording();
        let good = ends[4] as usize;
        // Zeros where the file system allocated blocks that were never written.
        let mut zeros = file[..good].to_vec();
        zeros.extend_from_slice(&[0; 4096]);
        let s = scan(&zeros);
        assert_eq!(s.complete_len(), good as u64);
        assert!(matches!(
            s.stopped(),
            Some(Stop::Invalid(FlvError::Unsupported {
                what: "tag type",
                ..
            }))
        ));
        // A tag whose PreviousTagSize is stale (its body cut, old data behind it).
        let mut stale = file[..ends[5] as usize].to_vec();
        let len = stale.len();
        stale[len - 1] ^= 0x40;
        assert_eq!(complete_len(&stale), ends[4]);
        // A non-zero StreamID, a Filter bit, an over-long body.
        for (at, value) in [(8, 1u8), (0, 0x29), (1, 0xff)] {
            let mut bad = file.clone();
            bad[ends[2] as usize + at] = value;
            assert_eq!(complete_len(&bad), ends[2], "byte {at} = {value:#x}");
        }
        // Not FLV at all.
        assert_eq!(complete_len(b"<html>"), 0);
        let mut s = TagScan::default();
        assert!(s.feed(b"<html>").is_err());
        assert!(s.feed(b"FLV").is_err(), "stopped for good");
        assert_eq!(s.want(), None);
        assert_eq!(FIRST_TAG_AT, ends[0]);
    }
}
