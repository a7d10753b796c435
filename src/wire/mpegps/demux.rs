//! The demuxer: program stream bytes in, one [`EsFrame`] per audio/video PES out.
//!
//! A state machine ([`State`] documents each transition): `Hunt` for a pack header, then
//! `Unit` at each start code, which either reads a small unit whole (pack header, PSM,
//! program end), or moves to `Payload` (audio/video PES) or `Skip` (system header, padding,
//! private, ECM/EMM, directory, and a PES with a bad header but a usable length), both of
//! which return to `Unit`. Garbage, a bad pack header, an oversized packet or
//! [`Demuxer::reset`] send it back to `Hunt`.
//!
//! Bytes are read straight from the caller's slice; only a unit header cut by the end of a
//! push (at most [`MAX_PENDING`] bytes, the longest being a PSM) and up to 3 bytes that may
//! begin a start code are kept between pushes. PES payload is copied once, into the frame.

use std::collections::VecDeque;

use bytes::Bytes;

use super::pack::{
    PackHeader, LENGTH_PREFIXED_LEN, PACK_START, PADDING_STREAM, PRIVATE_STREAM_1,
    PRIVATE_STREAM_2, PROGRAM_END, PROGRAM_STREAM_MAP, START_CODE_LEN, START_CODE_PREFIX,
    SYSTEM_HEADER,
};
use super::pes::{self, PesHeader};
use super::psm;
use super::{EsFrame, PsStats, StreamType, MAX_PES_LEN, MAX_PSM_LEN, MIN_PES_CAP};

/// Longest unit header the demuxer buffers: a whole PSM (the PES header, at most
/// [`pes::MAX_HEADER_LEN`], and the pack header, at most 21 bytes, are shorter).
pub(super) const MAX_PENDING: usize = LENGTH_PREFIXED_LEN + MAX_PSM_LEN;
const _: () = assert!(pes::MAX_HEADER_LEN < MAX_PENDING);

/// Audio and video stream ids, 0xC0..=0xEF: the ones with a type.
const FIRST_ES_ID: u8 = 0xC0;
const LAST_AUDIO_ID: u8 = 0xDF;
const LAST_ES_ID: u8 = 0xEF;
const ES_IDS: usize = (LAST_ES_ID - FIRST_ES_ID) as usize + 1;

/// A fault in the input at byte `offset` (counted from the first byte ever pushed) of the
/// unit it concerns. The demuxer has already recovered from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MPEG-PS at byte {offset}: {kind}")]
pub struct PsError {
    pub offset: u64,
    pub kind: PsErrorKind,
}

/// What went wrong, from the smallest damage (one PES skipped) to the largest (bytes lost
/// until the next pack header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PsErrorKind {
    #[error("stream {stream_id:#04x}: bad PES header ({reason}), skipped by its length")]
    BadPes { stream_id: u8, reason: &'static str },
    #[error("bad program stream map ({0}), skipped")]
    BadPsm(&'static str),
    #[error("stream {stream_id:#04x}: bad unbounded PES header ({reason}); resyncing")]
    BadUnboundedPes { stream_id: u8, reason: &'static str },
    #[error("bad pack header ({0}); resyncing")]
    BadPack(&'static str),
    #[error("no start code where a packet was due; resyncing")]
    NoStartCode,
    #[error("stream {stream_id:#04x}: PES over {max} bytes dropped; resyncing")]
    PesTooLarge { stream_id: u8, max: usize },
    #[error("program_stream_map_length {len} over {MAX_PSM_LEN}; resyncing")]
    PsmTooLong { len: u16 },
    #[error("reset by the caller (loss); resyncing")]
    Reset,
}

/// Where the demuxer is in the stream.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Looking for `00 00 01 BA`; bytes before it are skipped. Entered at start, on any
    /// fault that loses the place, and on [`Demuxer::reset`]; left for `Unit` at a pack
    /// start code.
    Hunt,
    /// At a unit boundary: a start code is due (zero bytes before it are tolerated).
    /// Goes to `Payload` after an audio/video PES header, to `Skip` for packets we do not
    /// read, stays here after pack headers and PSMs, goes to `Hunt` on garbage.
    Unit,
    /// Skipping the rest of a packet we do not read; back to `Unit` when `left` is 0.
    Skip { left: usize },
    /// Collecting a PES payload: `left` bytes more, or up to the next start code when
    /// `None` (unbounded video PES). Then the frame is queued and the state is `Unit`.
    Payload {
        stream_id: u8,
        pts: Option<u64>,
        dts: Option<u64>,
        left: Option<usize>,
    },
}

/// What one step did with the bytes it was shown.
enum Step {
    /// Used this many bytes (maybe 0 when the state changed without using any).
    Consumed(usize),
    /// Cannot go on without more bytes after these.
    NeedMore,
}

/// A guess of a stream's type, made without a PSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guess {
    None,
    /// A video stream seen, but no NAL unit yet that tells H.264 from H.265.
    Tentative(StreamType),
    Sure(StreamType),
}

impl Guess {
    fn get(self) -> Option<StreamType> {
        match self {
            Guess::None => None,
            Guess::Tentative(t) | Guess::Sure(t) => Some(t),
        }
    }
}

/// A streaming program stream demuxer; see the module documentation.
pub struct Demuxer {
    state: State,
    /// Bytes kept between pushes: a cut unit header or a possible start code prefix; at
    /// most [`MAX_PENDING`].
    pending: Vec<u8>,
    /// The PES payload being collected; at most `max_pes_len`, its capacity too.
    payload: Vec<u8>,
    /// The PES cap ([`MAX_PES_LEN`] unless [`Demuxer::with_max_pes_len`] set another).
    max_pes_len: usize,
    queue: VecDeque<EsFrame>,
    /// Types from the last PSM, by stream id - 0xC0.
    psm_types: [Option<StreamType>; ES_IDS],
    /// Types guessed from payloads, by stream id - 0xC0.
    guesses: [Guess; ES_IDS],
    /// The first video and audio stream ids seen (in a PSM or a PES).
    video_id: Option<u8>,
    audio_id: Option<u8>,
    /// Hunting since a fault, and whether this hunt was counted in `resyncs` yet.
    lost: bool,
    lost_counted: bool,
    /// Stream offset of the first byte of `pending` (or of the next byte pushed).
    offset: u64,
    stats: PsStats,
    fault: Option<PsError>,
}

impl Default for Demuxer {
    fn default() -> Self {
        Demuxer::new()
    }
}

impl Demuxer {
    /// A demuxer that collects PES payloads up to [`MAX_PES_LEN`].
    pub fn new() -> Demuxer {
        Demuxer::with_max_pes_len(MAX_PES_LEN)
    }

    /// A demuxer that collects PES payloads up to `max` bytes (at least [`MIN_PES_CAP`]);
    /// a longer unbounded PES is dropped, counted in [`PsStats::oversized`]. RAM: `max`.
    pub fn with_max_pes_len(max: usize) -> Demuxer {
        Demuxer {
            state: State::Hunt,
            pending: Vec::new(),
            payload: Vec::new(),
            max_pes_len: max.max(MIN_PES_CAP),
            queue: VecDeque::new(),
            psm_types: [None; ES_IDS],
            guesses: [Guess::None; ES_IDS],
            video_id: None,
            audio_id: None,
            lost: true,
            lost_counted: false,
            offset: 0,
            stats: PsStats::default(),
            fault: None,
        }
    }

    /// Feeds bytes (any split: a TCP read, an RTP payload). Complete PES payloads come out
    /// via [`Demuxer::poll`].
    pub fn push(&mut self, mut data: &[u8]) {
        loop {
            if self.pending.is_empty() {
                if data.is_empty() {
                    return;
                }
                match self.step(data) {
                    Step::Consumed(n) => {
                        data = &data[n..];
                        self.offset += n as u64;
                    }
                    Step::NeedMore => {
                        // `step` says NeedMore only for fewer than MAX_PENDING bytes.
                        self.pending.extend_from_slice(data);
                        return;
                    }
                }
            } else {
                let pending = std::mem::take(&mut self.pending);
                let step = self.step(&pending);
                self.pending = pending;
                match step {
                    Step::Consumed(n) => {
                        self.pending.drain(..n);
                        self.offset += n as u64;
                    }
                    Step::NeedMore => {
                        if data.is_empty() {
                            return;
                        }
                        let take = (MAX_PENDING - self.pending.len()).min(data.len());
                        self.pending.extend_from_slice(&data[..take]);
                        data = &data[take..];
                    }
                }
            }
        }
    }

    /// The next complete frame, in stream order.
    pub fn poll(&mut self) -> Option<EsFrame> {
        self.queue.pop_front()
    }

    /// Called by the caller after detected loss (RTP sequence gap): drops the partial PES
    /// and resyncs on the next pack header.
    pub fn reset(&mut self) {
        self.stats.skipped_bytes += self.pending.len() as u64;
        self.offset += self.pending.len() as u64;
        self.pending.clear();
        self.payload = Vec::new();
        if !matches!(self.state, State::Hunt) {
            self.fault(PsErrorKind::Reset);
            self.lose_sync();
        }
    }

    /// Ends an unbounded video PES being collected (PES_packet_length 0), which otherwise
    /// ends only at the next start code: call it when the transport says a frame is
    /// complete (RTP marker bit) or at the end of input. Does nothing in other states.
    pub fn flush(&mut self) {
        if let State::Payload {
            stream_id,
            pts,
            dts,
            left: None,
        } = self.state
        {
            self.finish_pes(stream_id, pts, dts);
            self.state = State::Unit;
        }
    }

    pub fn stats(&self) -> PsStats {
        self.stats
    }

    /// The PES cap in force.
    pub fn max_pes_len(&self) -> usize {
        self.max_pes_len
    }

    /// Types of the first video and audio streams, as known from the PSM or guessed.
    pub fn stream_types(&self) -> (Option<StreamType>, Option<StreamType>) {
        (
            self.video_id.and_then(|id| self.type_of(id)),
            self.audio_id.and_then(|id| self.type_of(id)),
        )
    }

    /// The first fault since the last call, for a debug log; faults are also counted in
    /// [`Demuxer::stats`].
    pub fn take_fault(&mut self) -> Option<PsError> {
        self.fault.take()
    }

    /// Bytes held between calls (pending header bytes and the PES being collected), not
    /// counting frames waiting in the queue.
    pub fn buffered(&self) -> usize {
        self.pending.len() + self.payload.len()
    }

    /// One state's worth of work on `buf` (never empty). NeedMore only when `buf` is
    /// shorter than [`MAX_PENDING`], so the caller's buffering stays bounded.
    fn step(&mut self, buf: &[u8]) -> Step {
        let step = match self.state {
            State::Hunt => self.hunt(buf),
            State::Unit => self.unit(buf),
            State::Skip { left } => {
                let n = left.min(buf.len());
                self.state = match left - n {
                    0 => State::Unit,
                    left => State::Skip { left },
                };
                Step::Consumed(n)
            }
            State::Payload {
                stream_id,
                pts,
                dts,
                left: Some(left),
            } => {
                let n = left.min(buf.len());
                self.payload.extend_from_slice(&buf[..n]);
                if n == left {
                    self.finish_pes(stream_id, pts, dts);
                    self.state = State::Unit;
                } else {
                    self.state = State::Payload {
                        stream_id,
                        pts,
                        dts,
                        left: Some(left - n),
                    };
                }
                Step::Consumed(n)
            }
            State::Payload {
                stream_id,
                pts,
                dts,
                left: None,
            } => self.unbounded(buf, stream_id, pts, dts),
        };
        match step {
            Step::NeedMore if buf.len() >= MAX_PENDING => {
                // Unreachable by construction (every header fits); lose the place rather
                // than buffer without bound.
                self.fault(PsErrorKind::NoStartCode);
                self.lose_sync_and_skip(1)
            }
            step => step,
        }
    }

    fn hunt(&mut self, buf: &[u8]) -> Step {
        if let Some(at) = buf
            .windows(START_CODE_LEN)
            .position(|w| w[..3] == START_CODE_PREFIX && w[3] == PACK_START)
        {
            self.skip_bytes(at);
            self.state = State::Unit;
            return Step::Consumed(at);
        }
        let keep = start_code_tail(buf);
        if keep == buf.len() {
            return Step::NeedMore;
        }
        self.skip_bytes(buf.len() - keep);
        Step::Consumed(buf.len() - keep)
    }

    fn unit(&mut self, buf: &[u8]) -> Step {
        let Some(head) = buf.first_chunk::<START_CODE_LEN>() else {
            // Too short to tell, unless it already cannot be a start code.
            if buf.len() == start_code_tail(buf) || buf.iter().all(|&b| b == 0) {
                return Step::NeedMore;
            }
            self.fault(PsErrorKind::NoStartCode);
            return self.lose_sync_and_skip(1);
        };
        if head[..3] != START_CODE_PREFIX {
            if head[..3] == [0, 0, 0] {
                // Zero stuffing before a start code: tolerated, not a resync.
                self.stats.skipped_bytes += 1;
                return Step::Consumed(1);
            }
            self.fault(PsErrorKind::NoStartCode);
            return self.lose_sync_and_skip(1);
        }
        match head[3] {
            PACK_START => match PackHeader::decode(buf) {
                Ok(Some((_, len))) => {
                    self.stats.packs += 1;
                    self.lost = false;
                    Step::Consumed(len)
                }
                Ok(None) => Step::NeedMore,
                Err(reason) => {
                    self.fault(PsErrorKind::BadPack(reason));
                    self.lose_sync_and_skip(1)
                }
            },
            PROGRAM_END => Step::Consumed(START_CODE_LEN),
            PROGRAM_STREAM_MAP => self.psm(buf),
            FIRST_ES_ID..=LAST_ES_ID => self.pes_header(buf),
            // System header, private streams 1 and 2, padding, ECM, EMM, DSM-CC, the
            // directory and the rest of 0xF0-0xFF: all length-prefixed, skipped.
            SYSTEM_HEADER | PRIVATE_STREAM_1 | PADDING_STREAM | PRIVATE_STREAM_2 | 0xF0..=0xFF => {
                match pes::packet_length(buf) {
                    Some(len) => {
                        self.state = State::Skip {
                            left: LENGTH_PREFIXED_LEN + usize::from(len),
                        };
                        Step::Consumed(0)
                    }
                    None => Step::NeedMore,
                }
            }
            // 00 00 01 00..B8 is not a system-layer start code: we are inside something.
            _ => {
                self.fault(PsErrorKind::NoStartCode);
                self.lose_sync_and_skip(1)
            }
        }
    }

    fn psm(&mut self, buf: &[u8]) -> Step {
        let Some(len) = pes::packet_length(buf) else {
            return Step::NeedMore;
        };
        if usize::from(len) > MAX_PSM_LEN {
            self.stats.oversized += 1;
            self.fault(PsErrorKind::PsmTooLong { len });
            return self.lose_sync_and_skip(1);
        }
        let total = LENGTH_PREFIXED_LEN + usize::from(len);
        let Some(map) = buf.get(..total) else {
            return Step::NeedMore;
        };
        let mut types = [None; ES_IDS];
        let (mut video, mut audio) = (None, None);
        let result = psm::decode(map, |stream_type, id| {
            if let Some(slot) = es_slot(id) {
                types[slot] = Some(StreamType::from_code(stream_type));
                let first = if is_video(id) { &mut video } else { &mut audio };
                first.get_or_insert(id);
            }
        });
        match result {
            Ok(()) => {
                self.stats.psm += 1;
                self.psm_types = types;
                // The first stream of each kind is the one stream_types() reports, unless
                // PES packets named one already.
                self.video_id = self.video_id.or(video);
                self.audio_id = self.audio_id.or(audio);
            }
            Err(reason) => {
                self.stats.malformed += 1;
                self.fault(PsErrorKind::BadPsm(reason));
            }
        }
        Step::Consumed(total)
    }

    fn pes_header(&mut self, buf: &[u8]) -> Step {
        let header = match pes::decode(buf) {
            Ok(Some(header)) => header,
            Ok(None) => return Step::NeedMore,
            Err(reason) => {
                let stream_id = buf[3];
                return match pes::packet_length(buf) {
                    Some(len) if len > 0 => {
                        self.stats.malformed += 1;
                        self.fault(PsErrorKind::BadPes { stream_id, reason });
                        self.state = State::Skip {
                            left: LENGTH_PREFIXED_LEN + usize::from(len),
                        };
                        Step::Consumed(0)
                    }
                    _ => {
                        self.stats.malformed += 1;
                        self.fault(PsErrorKind::BadUnboundedPes { stream_id, reason });
                        self.lose_sync_and_skip(1)
                    }
                };
            }
        };
        let PesHeader {
            stream_id,
            pts,
            dts,
            header_len,
            ..
        } = header;
        self.stats.pes += 1;
        let left = match header.payload_len() {
            // Unbounded is allowed for video only (2.4.3.7); an audio PES with length 0
            // carries nothing.
            None if !is_video(stream_id) => Some(0),
            // At most 64 KiB (a 16-bit length), not over the cap (MIN_PES_CAP): reserve it
            // whole so the frame is one exact allocation.
            Some(n) => {
                self.payload.reserve_exact(n);
                Some(n)
            }
            None => None,
        };
        if is_video(stream_id) {
            self.video_id.get_or_insert(stream_id);
        } else {
            self.audio_id.get_or_insert(stream_id);
        }
        self.state = State::Payload {
            stream_id,
            pts,
            dts,
            left,
        };
        if left == Some(0) {
            self.finish_pes(stream_id, pts, dts);
            self.state = State::Unit;
        }
        Step::Consumed(header_len)
    }

    /// An unbounded video PES: the payload runs up to the next `00 00 01` followed by a
    /// system-layer stream id (0xB9 and up). H.264 and H.265 NAL unit headers are below
    /// 0x80, so such a start code is never part of the video itself.
    fn unbounded(&mut self, buf: &[u8], stream_id: u8, pts: Option<u64>, dts: Option<u64>) -> Step {
        let end = buf
            .windows(START_CODE_LEN)
            .position(|w| w[..3] == START_CODE_PREFIX && w[3] >= PROGRAM_END);
        let (take, done) = match end {
            Some(at) => (at, true),
            None => {
                let keep = start_code_tail(buf);
                if keep == buf.len() {
                    return Step::NeedMore;
                }
                (buf.len() - keep, false)
            }
        };
        let need = self.payload.len() + take;
        if need > self.max_pes_len {
            self.stats.oversized += 1;
            self.payload = Vec::new();
            self.fault(PsErrorKind::PesTooLarge {
                stream_id,
                max: self.max_pes_len,
            });
            self.lose_sync();
            // The bytes already looked at are part of the dropped PES.
            return Step::Consumed(take);
        }
        if need > self.payload.capacity() {
            // Grow by doubling, but never past the cap: the capacity is what the cap counts.
            let target = need
                .max(self.payload.capacity().saturating_mul(2))
                .min(self.max_pes_len);
            self.payload.reserve_exact(target - self.payload.len());
        }
        self.payload.extend_from_slice(&buf[..take]);
        if done {
            self.finish_pes(stream_id, pts, dts);
            self.state = State::Unit;
        }
        Step::Consumed(take)
    }

    /// Queues the collected payload as a frame (nothing for an empty PES).
    fn finish_pes(&mut self, stream_id: u8, pts: Option<u64>, dts: Option<u64>) {
        let mut payload = std::mem::take(&mut self.payload);
        if payload.is_empty() {
            return;
        }
        // Unbounded PES grow by doubling; give the frame an exact allocation.
        payload.shrink_to_fit();
        let data = Bytes::from(payload);
        let stream_type = self.resolve_type(stream_id, &data);
        if let StreamType::Unknown(_) = stream_type {
            self.stats.unknown_streams += 1;
        }
        self.queue.push_back(EsFrame {
            stream_id,
            stream_type,
            pts,
            dts,
            data,
        });
    }

    /// The type of `stream_id` for a frame with this payload: the PSM's, else the guess,
    /// made or refined from `data`.
    fn resolve_type(&mut self, stream_id: u8, data: &[u8]) -> StreamType {
        let Some(slot) = es_slot(stream_id) else {
            return StreamType::Unknown(0);
        };
        if let Some(t) = self.psm_types[slot] {
            return t;
        }
        let guess = &mut self.guesses[slot];
        match *guess {
            Guess::Sure(t) => t,
            _ if is_video(stream_id) => {
                *guess = match guess_video(data) {
                    Some(t) => Guess::Sure(t),
                    None => Guess::Tentative(StreamType::H264),
                };
                guess.get().unwrap_or(StreamType::H264)
            }
            _ => {
                let t = guess_audio(data);
                *guess = Guess::Sure(t);
                t
            }
        }
    }

    fn type_of(&self, stream_id: u8) -> Option<StreamType> {
        let slot = es_slot(stream_id)?;
        self.psm_types[slot].or(self.guesses[slot].get())
    }

    /// Counts bytes skipped while hunting; the first of a hunt counts a resync.
    fn skip_bytes(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.stats.skipped_bytes += n as u64;
        if !self.lost_counted {
            self.lost_counted = true;
            self.stats.resyncs += 1;
        }
    }

    /// Drops any partial PES and hunts for the next pack header. A fault while already
    /// lost (a false pack start code found by the hunt) belongs to the same resync.
    fn lose_sync(&mut self) {
        self.payload = Vec::new();
        if !self.lost {
            self.lost = true;
            self.lost_counted = false;
        }
        self.state = State::Hunt;
    }

    fn lose_sync_and_skip(&mut self, n: usize) -> Step {
        self.lose_sync();
        self.skip_bytes(n);
        Step::Consumed(n)
    }

    fn fault(&mut self, kind: PsErrorKind) {
        if self.fault.is_none() {
            self.fault = Some(PsError {
                offset: self.offset,
                kind,
            });
        }
    }
}

fn is_video(stream_id: u8) -> bool {
    stream_id > LAST_AUDIO_ID
}

/// Index of an audio/video stream id in the per-stream tables.
fn es_slot(stream_id: u8) -> Option<usize> {
    (FIRST_ES_ID..=LAST_ES_ID)
        .contains(&stream_id)
        .then(|| usize::from(stream_id - FIRST_ES_ID))
}

/// Length of the longest end of `buf` that may begin a start code: `00`, `00 00` or
/// `00 00 01`.
fn start_code_tail(buf: &[u8]) -> usize {
    match buf {
        [.., 0, 0, 1] => 3,
        [.., 0, 0] => 2,
        [.., 0] => 1,
        _ => 0,
    }
}

/// H.265 or H.264 from the first NAL unit header in `data` that tells them apart; see
/// [`StreamType`].
fn guess_video(data: &[u8]) -> Option<StreamType> {
    let mut at = 0;
    while let Some(pos) = data[at..].windows(3).position(|w| w == START_CODE_PREFIX) {
        let nal = at + pos + 3;
        let (Some(&b0), b1) = (data.get(nal), data.get(nal + 1)) else {
            return None;
        };
        if b0 & 0x80 == 0 {
            // HEVC VPS, SPS, PPS, AUD of the base layer with TemporalId 0: 0x40..0x46, 0x01.
            if matches!(b0, 0x40 | 0x42 | 0x44 | 0x46) && b1 == Some(&0x01) {
                return Some(StreamType::H265);
            }
            // H.264 IDR slice, SPS, AUD: odd first byte, never an HEVC base-layer header.
            if matches!(b0 & 0x1F, 5 | 7 | 9) {
                return Some(StreamType::H264);
            }
        }
        at = nal;
    }
    None
}

/// AAC (ADTS), MPEG audio, or G.711 A-law by default; see [`StreamType`].
fn guess_audio(data: &[u8]) -> StreamType {
    match data {
        // syncword 0xFFF, ID, layer '00'.
        [0xFF, b1, ..] if b1 & 0xF6 == 0xF0 => StreamType::Aac,
        // MPEG audio: 11-bit sync, version, layer != '00'.
        [0xFF, b1, ..] if b1 & 0xE0 == 0xE0 && b1 & 0x06 != 0 => {
            StreamType::Unknown(if b1 & 0x18 == 0x18 { 0x03 } else { 0x04 })
        }
        _ => StreamType::G711A,
    }
}
