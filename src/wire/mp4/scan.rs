//! The repair scanner: walks the top-level boxes of a fragmented MP4 file (§4.2: size,
//! type, 64-bit `largesize` when size is 1, size 0 = to the end of the file) and finds where
//! the last complete `moof` + `mdat` pair ends. A recorder cut by a power failure truncates
//! the file there and has every fragment written before.
//!
//! The scanner reads box headers only, never a box body except the `mfhd` at the start of
//! each `moof`, so a file of any size is checked with a few reads of [`SCAN_READ_LEN`] bytes:
//!
//! ```text
//! let mut scanner = Scanner::new(file_len);
//! let scan = loop {
//!     let bytes = read_at(scanner.position(), SCAN_READ_LEN)?;
//!     if let Some(scan) = scanner.feed(&bytes)? { break scan; }
//! };
//! if scan.end < file_len { truncate(scan.end) }
//! ```
//!
//! What the file must look like: `ftyp` first; `moov` before any `moof` (other boxes such as
//! `free` may come between); then `moof` + `mdat` pairs, a `moof` immediately followed by its
//! `mdat`, with other boxes allowed between pairs. Each `moof` must start with an `mfhd`
//! whose sequence_number is greater than the previous fragment's. Box types must be four
//! printable ASCII characters: a run of zeros (what a file system leaves in blocks that were
//! allocated but never written) is garbage, not a box. Where the walk stops, `end` is the
//! end of the last complete pair (the end of `moov` when there is none).
//!
//! Not checked: the inside of a `moof` beyond its `mfhd`, and the sample bytes. A power cut
//! that leaves a hole of zeros inside an `mdat` whose header and size are intact is not seen.

use super::{fourcc, BOX_HEADER_LEN, LARGE_BOX_HEADER_LEN};
use crate::wire::cursor::{u32_at, Short};

/// `mfhd`: size 16, type, version and flags, sequence_number.
const MFHD_LEN: usize = 16;
const MFHD_SEQUENCE_AT: usize = 12;
/// The most bytes one step of the walk reads: a `largesize` box header and, for a `moof`,
/// its `mfhd`. A caller that feeds at least this much (or up to the end of the file) at
/// [`Scanner::position`] always makes progress.
pub const SCAN_READ_LEN: usize = LARGE_BOX_HEADER_LEN + MFHD_LEN;
/// Size field value meaning "a 64-bit largesize follows the type".
const SIZE_LARGE: u32 = 1;
/// Size field value meaning "the box extends to the end of the file".
const SIZE_TO_END: u32 = 0;

/// Where the walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The last box ends exactly at the end of the file.
    EndOfFile,
    /// The box, or the `moof` + `mdat` pair, starting at `offset` runs past the end of the
    /// file (or its header does).
    Truncated { offset: u64 },
    /// The bytes at `offset` are not a box that may stand there.
    Garbage { offset: u64, what: &'static str },
}

/// The result of a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scan {
    /// Keep the file up to this offset: the end of the last complete `moof` + `mdat` pair,
    /// or of the `moov` when no fragment is complete.
    pub end: u64,
    /// Complete fragments before `end`.
    pub fragments: u64,
    /// The `mfhd` sequence_number of the last complete fragment: a recorder that appends
    /// continues after it.
    pub last_sequence_number: Option<u32>,
    pub stop: Stop,
}

/// The file has no usable init segment: it cannot be repaired, only removed.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    #[error("not a fragmented MP4 file: {what} at offset {offset}")]
    NotFragmented { offset: u64, what: &'static str },
}

/// The walk's place in the file's grammar.
///
/// `Start` --ftyp--> `BeforeMoov` --moov--> `Fragments` --moof--> `AfterMoof` --mdat-->
/// `Fragments`. Other boxes keep the state, except in `Start` and `AfterMoof`, where only the
/// named box may come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    BeforeMoov,
    Fragments,
    AfterMoof { moof_at: u64, sequence: u32 },
}

/// What one step of the walk found.
enum Step {
    /// Feed more bytes at `position()`.
    Need,
    /// The walk is over.
    Stop(Stop),
    /// The next box starts at this offset.
    Next(u64),
}

/// Incremental top-level box walker; see the module documentation.
#[derive(Debug, Clone)]
pub struct Scanner {
    file_len: u64,
    pos: u64,
    state: State,
    end: u64,
    fragments: u64,
    last_sequence_number: Option<u32>,
    done: Option<Result<Scan, ScanError>>,
}

impl Scanner {
    /// A scanner for a file of `file_len` bytes.
    pub fn new(file_len: u64) -> Scanner {
        Scanner {
            file_len,
            pos: 0,
            state: State::Start,
            end: 0,
            fragments: 0,
            last_sequence_number: None,
            done: None,
        }
    }

    /// The file offset the next [`Scanner::feed`] input must start at.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Walks on with `input`, the file's bytes from [`Scanner::position`] on (bytes past the
    /// file length are ignored). `Ok(None)`: read more at the new `position()` and call again
    /// (feed at least [`SCAN_READ_LEN`] bytes, or up to the end of the file, to be sure of
    /// progress). `Ok(Some(scan))` and `Err` are final: later calls return them again.
    pub fn feed(&mut self, input: &[u8]) -> Result<Option<Scan>, ScanError> {
        if let Some(done) = self.done {
            return done.map(Some);
        }
        let start = self.pos;
        loop {
            if self.pos >= self.file_len {
                return self.finish(Stop::EndOfFile).map(Some);
            }
            let left = self.file_len - self.pos;
            let avail = usize::try_from(self.pos - start)
                .ok()
                .and_then(|at| input.get(at..))
                .unwrap_or_default();
            let avail = match usize::try_from(left) {
                Ok(left) if left < avail.len() => &avail[..left],
                _ => avail,
            };
            match self.step(avail, left)? {
                Step::Need => return Ok(None),
                Step::Stop(stop) => return self.finish(stop).map(Some),
                Step::Next(next) => self.pos = next,
            }
        }
    }

    /// Where an incomplete unit starts: the pending `moof` if there is one, else this box.
    fn unit_start(&self) -> u64 {
        match self.state {
            State::AfterMoof { moof_at, .. } => moof_at,
            _ => self.pos,
        }
    }

    /// One box at `self.pos`: `avail` holds the bytes fed from there, `left` the bytes the
    /// file has from there.
    fn step(&mut self, avail: &[u8], left: u64) -> Result<Step, ScanError> {
        let truncated = Step::Stop(Stop::Truncated {
            offset: self.unit_start(),
        });
        if left < BOX_HEADER_LEN as u64 {
            return Ok(truncated);
        }
        let (Ok(size32), Some(kind)) = (u32_at(avail, 0), avail.get(4..8)) else {
            return Ok(Step::Need);
        };
        let kind: [u8; 4] = [kind[0], kind[1], kind[2], kind[3]];
        let garbage = |what| {
            Step::Stop(Stop::Garbage {
                offset: self.pos,
                what,
            })
        };
        if !kind.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Ok(garbage("box type is not printable"));
        }
        let (size, header_len) = match size32 {
            SIZE_LARGE => {
                if left < LARGE_BOX_HEADER_LEN as u64 {
                    return Ok(truncated);
                }
                let Ok(high) = u32_at(avail, 8) else {
                    return Ok(Step::Need);
                };
                let Ok(low) = u32_at(avail, 12) else {
                    return Ok(Step::Need);
                };
                (
                    (u64::from(high) << 32) | u64::from(low),
                    LARGE_BOX_HEADER_LEN,
                )
            }
            SIZE_TO_END => (left, BOX_HEADER_LEN),
            n => (u64::from(n), BOX_HEADER_LEN),
        };
        if size < header_len as u64 {
            return Ok(garbage("box size smaller than its header"));
        }
        if size > left {
            return Ok(truncated);
        }
        let box_end = self.pos + size;
        match (self.state, kind) {
            (State::Start, fourcc::FTYP) => self.state = State::BeforeMoov,
            (State::Start, _) => {
                return Err(ScanError::NotFragmented {
                    offset: 0,
                    what: "file does not start with ftyp",
                })
            }
            (State::BeforeMoov, fourcc::MOOV) => {
                self.state = State::Fragments;
                self.end = box_end;
            }
            (State::BeforeMoov, fourcc::MOOF | fourcc::MDAT | fourcc::FTYP) => {
                return Err(ScanError::NotFragmented {
                    offset: self.pos,
                    what: "media or a second ftyp before moov",
                })
            }
            (State::Fragments, fourcc::MOOF) => {
                let sequence = match self.moof_sequence(avail, header_len, size) {
                    Ok(Some(sequence)) => sequence,
                    Ok(None) => return Ok(Step::Need),
                    Err(what) => return Ok(garbage(what)),
                };
                self.state = State::AfterMoof {
                    moof_at: self.pos,
                    sequence,
                };
            }
            (State::Fragments, fourcc::MDAT) => return Ok(garbage("mdat without a moof")),
            (State::Fragments, fourcc::FTYP | fourcc::MOOV) => {
                return Ok(garbage("a second init segment box"))
            }
            (State::AfterMoof { sequence, .. }, fourcc::MDAT) => {
                self.state = State::Fragments;
                self.end = box_end;
                self.fragments += 1;
                self.last_sequence_number = Some(sequence);
            }
            (State::AfterMoof { .. }, _) => return Ok(garbage("moof not followed by mdat")),
            // Any other box (free, skip, styp, sidx, ...) between units is kept and skipped.
            (State::BeforeMoov | State::Fragments, _) => {}
        }
        Ok(Step::Next(box_end))
    }

    /// The `mfhd` sequence_number at the start of the `moof` body: `Ok(None)` until its bytes
    /// are in, `Err(what)` when it is missing or does not grow.
    fn moof_sequence(
        &self,
        avail: &[u8],
        header_len: usize,
        size: u64,
    ) -> Result<Option<u32>, &'static str> {
        if size < (header_len + MFHD_LEN) as u64 {
            return Err("moof too small for its mfhd");
        }
        let mfhd = match avail.get(header_len..header_len + MFHD_LEN) {
            Some(mfhd) => mfhd,
            None => return Ok(None),
        };
        let child = |at| u32_at(mfhd, at).map_err(|_: Short| "moof too small for its mfhd");
        if child(0)? != MFHD_LEN as u32 || mfhd.get(4..8) != Some(&fourcc::MFHD[..]) {
            return Err("moof does not start with an mfhd");
        }
        let sequence = child(MFHD_SEQUENCE_AT)?;
        if self
            .last_sequence_number
            .is_some_and(|last| sequence <= last)
        {
            return Err("mfhd sequence_number does not grow");
        }
        Ok(Some(sequence))
    }

    /// Ends the walk with `stop`; an init segment that never completed is an error.
    fn finish(&mut self, stop: Stop) -> Result<Scan, ScanError> {
        let result = match self.state {
            State::Start | State::BeforeMoov => {
                let (offset, what) = match stop {
                    Stop::EndOfFile => (self.pos, "file ends before its moov"),
                    Stop::Truncated { offset } => (offset, "file ends inside its init segment"),
                    Stop::Garbage { offset, what } => (offset, what),
                };
                Err(ScanError::NotFragmented { offset, what })
            }
            State::Fragments | State::AfterMoof { .. } => {
                let stop = match (self.state, stop) {
                    // A moof at the very end, without its mdat.
                    (State::AfterMoof { moof_at, .. }, Stop::EndOfFile) => {
                        Stop::Truncated { offset: moof_at }
                    }
                    (_, stop) => stop,
                };
                Ok(Scan {
                    end: self.end,
                    fragments: self.fragments,
                    last_sequence_number: self.last_sequence_number,
                    stop,
                })
            }
        };
        self.done = Some(result);
        result
    }
}

/// Walks a whole file held in memory.
pub fn scan(file: &[u8]) -> Result<Scan, ScanError> {
    let mut scanner = Scanner::new(file.len() as u64);
    match scanner.feed(file)? {
        Some(scan) => Ok(scan),
        // Every byte of the file is in the input, so the walk always ends in that call.
        None => scanner.finish(Stop::Truncated {
            offset: scanner.unit_start(),
        }),
    }
}
